//! REST's side of the error vocabulary (`api/error.rs`): the HTTP status of each kind and
//! Qdrant's error body `{"status":{"error":"…"},"time":…}`.

use crate::api::error::ErrorKind;
pub use crate::api::error::{ApiError, ApiResult};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

fn http(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Timeout => StatusCode::REQUEST_TIMEOUT,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl ApiError {
    pub fn status_and_message(&self) -> (StatusCode, String) {
        let (kind, msg) = self.kind_and_message();
        (http(kind), msg)
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
