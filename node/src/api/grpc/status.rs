//! gRPC's side of the error vocabulary (`api/error.rs`): the status code of each kind, with
//! the same message REST puts in its error body.

use crate::api::error::{ApiError, ErrorKind};
use tonic::{Code, Status};

fn code(kind: ErrorKind) -> Code {
    match kind {
        ErrorKind::BadRequest => Code::InvalidArgument,
        ErrorKind::NotFound => Code::NotFound,
        ErrorKind::Conflict => Code::AlreadyExists,
        ErrorKind::Unauthorized => Code::Unauthenticated,
        ErrorKind::Forbidden => Code::PermissionDenied,
        ErrorKind::TooLarge => Code::ResourceExhausted,
        ErrorKind::Unavailable => Code::Unavailable,
        ErrorKind::Timeout => Code::DeadlineExceeded,
        ErrorKind::Internal => Code::Internal,
    }
}

impl From<ApiError> for Status {
    fn from(e: ApiError) -> Self {
        status(e)
    }
}

/// The status of any error the collection, consensus or snapshot layers return.
pub fn status(e: impl Into<ApiError>) -> Status {
    let (kind, msg) = e.into().kind_and_message();
    if kind == ErrorKind::Internal {
        tracing::error!(error = %msg, "grpc request failed");
    }
    Status::new(code(kind), msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collection::CollectionError;

    #[test]
    fn codes_follow_the_kind_and_messages_are_rest_ones() {
        let s = status(CollectionError::NotFound("c".into()));
        assert_eq!(s.code(), Code::NotFound);
        assert_eq!(s.message(), "Not found: Collection `c` doesn't exist!");
        assert_eq!(
            status(CollectionError::wrong("x")).code(),
            Code::InvalidArgument
        );
        assert_eq!(
            status(CollectionError::Unavailable("u".into())).code(),
            Code::Unavailable
        );
        assert_eq!(
            status(ApiError::PayloadTooLarge("big".into())).code(),
            Code::ResourceExhausted
        );
    }
}
