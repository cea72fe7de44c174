//! The one error vocabulary of both public APIs: `ApiError` wraps each layer's typed error;
//! `kind_and_message` is the one exhaustive match that gives its class and Qdrant's
//! message. REST turns the class into an HTTP status (`rest/error.rs`), gRPC into a status
//! code (`grpc/status.rs`).

use crate::collection::CollectionError;
use crate::consensus::ConsensusError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Collection(#[from] CollectionError),
    #[error(transparent)]
    Consensus(#[from] ConsensusError),
    #[error(transparent)]
    Snapshot(#[from] crate::snapshot::format::SnapshotError),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    Timeout(String),
    #[error("{0}")]
    Internal(String),
}

/// What kind of failure an error is, whatever the API that reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    BadRequest,
    NotFound,
    Conflict,
    Unauthorized,
    Forbidden,
    TooLarge,
    Unavailable,
    Timeout,
    Internal,
}

impl ApiError {
    /// "Wrong input: `msg`", as the collection layer says it.
    pub fn wrong(msg: impl Into<String>) -> Self {
        ApiError::Collection(CollectionError::wrong(msg))
    }

    pub fn kind_and_message(&self) -> (ErrorKind, String) {
        use ErrorKind as K;
        match self {
            ApiError::Collection(e) => collection_kind(e),
            ApiError::Consensus(e) => match e {
                ConsensusError::Unavailable(m) => (K::Unavailable, m.clone()),
                ConsensusError::NotLeader => (
                    K::Unavailable,
                    "Service unavailable: leader changed, retry".into(),
                ),
                ConsensusError::Rejected(c) => collection_kind(&c.clone().into()),
                ConsensusError::BadInput(m) => (K::BadRequest, m.clone()),
                ConsensusError::NotFound(m) => (K::NotFound, m.clone()),
                ConsensusError::Internal(m) => {
                    (K::Internal, format!("Service internal error: {m}"))
                }
            },
            ApiError::Snapshot(e) => match e {
                crate::snapshot::format::SnapshotError::Io(_) => {
                    (K::Internal, format!("Service internal error: {e}"))
                }
                _ => (K::BadRequest, e.to_string()),
            },
            ApiError::BadRequest(m) => (K::BadRequest, m.clone()),
            ApiError::NotFound(m) => (K::NotFound, m.clone()),
            ApiError::Unauthorized(m) => (K::Unauthorized, m.clone()),
            ApiError::Forbidden(m) => (K::Forbidden, m.clone()),
            ApiError::PayloadTooLarge(m) => (K::TooLarge, m.clone()),
            ApiError::Timeout(m) => (K::Timeout, m.clone()),
            ApiError::Internal(m) => (K::Internal, format!("Service internal error: {m}")),
        }
    }
}

fn collection_kind(e: &CollectionError) -> (ErrorKind, String) {
    use CollectionError as C;
    use ErrorKind as K;
    match e {
        C::NotFound(_) | C::PointNotFound(_) => (K::NotFound, format!("Not found: {e}")),
        C::AlreadyExists(_) => (K::Conflict, format!("Wrong input: {e}")),
        C::BadInput(m) => (K::BadRequest, m.clone()),
        C::WrongInput(_) => (K::BadRequest, e.to_string()),
        C::Unsupported(m) => (K::BadRequest, format!("Bad request: {m}")),
        C::Unavailable(m) => (K::Unavailable, m.clone()),
        C::StaleLayout(_) | C::Rerouted => {
            (K::Unavailable, format!("Service unavailable: {e}; retry"))
        }
        C::Storage(_) | C::Task(_) => (K::Internal, format!("Service internal error: {e}")),
    }
}

impl From<crate::cluster::router::CommitError> for ApiError {
    fn from(e: crate::cluster::router::CommitError) -> Self {
        match e {
            crate::cluster::router::CommitError::Collection(c) => ApiError::Collection(c),
            crate::cluster::router::CommitError::Consensus(c) => ApiError::Consensus(c),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
