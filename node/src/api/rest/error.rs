//! The one mapping from errors to HTTP status and Qdrant's error body
//! `{"status":{"error":"…"},"time":…}`.

use crate::collection::CollectionError;
use crate::consensus::ConsensusError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

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
    Internal(String),
}

impl ApiError {
    pub fn status_and_message(&self) -> (StatusCode, String) {
        match self {
            ApiError::Collection(e) => collection_status(e),
            ApiError::Consensus(e) => match e {
                ConsensusError::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, m.clone()),
                ConsensusError::NotLeader => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Service unavailable: leader changed, retry".into(),
                ),
                ConsensusError::Rejected(c) => collection_status(&c.clone().into()),
                ConsensusError::BadInput(m) => (StatusCode::BAD_REQUEST, m.clone()),
                ConsensusError::NotFound(m) => (StatusCode::NOT_FOUND, m.clone()),
                ConsensusError::Internal(m) => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("Service internal error: {m}"),
                ),
            },
            ApiError::Snapshot(e) => match e {
                crate::snapshot::format::SnapshotError::Io(_) => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("Service internal error: {e}"),
                ),
                _ => (StatusCode::BAD_REQUEST, e.to_string()),
            },
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m.clone()),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, m.clone()),
            ApiError::Unauthorized(m) => (StatusCode::UNAUTHORIZED, m.clone()),
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, m.clone()),
            ApiError::PayloadTooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, m.clone()),
            ApiError::Internal(m) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("Service internal error: {m}"),
            ),
        }
    }
}

fn collection_status(e: &CollectionError) -> (StatusCode, String) {
    use CollectionError as C;
    match e {
        C::NotFound(_) | C::PointNotFound(_) => (StatusCode::NOT_FOUND, format!("Not found: {e}")),
        C::AlreadyExists(_) => (StatusCode::CONFLICT, format!("Wrong input: {e}")),
        C::BadInput(m) => (StatusCode::BAD_REQUEST, m.clone()),
        C::Unsupported(m) => (StatusCode::BAD_REQUEST, format!("Bad request: {m}")),
        C::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, m.clone()),
        C::StaleLayout(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("Service unavailable: {e}; retry"),
        ),
        C::Storage(_) | C::Task(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("Service internal error: {e}"),
        ),
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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, msg) = self.status_and_message();
        if status.is_server_error() {
            tracing::error!(error = %msg, "request failed");
        }
        (
            status,
            axum::Json(json!({"status": {"error": msg}, "time": 0.0})),
        )
            .into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
