//! Request extractors whose rejections are Qdrant-style 4xx errors, and the response envelope.

use super::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::time::Instant;

/// A JSON body, accepted whatever the content type (curl users often omit it).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge(format!("Payload too large: {e}"))
            } else {
                ApiError::BadRequest(format!("Failed to read request body: {e}"))
            }
        })?;
        let body: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        // Parsed once without tracking paths; only a body that fails is read again for the
        // path to name in the error.
        if let Ok(v) = serde_json::from_slice(body) {
            return Ok(JsonBody(v));
        }
        let de = &mut serde_json::Deserializer::from_slice(body);
        serde_path_to_error::deserialize(de)
            .map(JsonBody)
            .map_err(|e| {
                let path = e.path().to_string();
                let inner = e.into_inner();
                if path == "." || path.is_empty() {
                    ApiError::BadRequest(format!("Format error in JSON body: {inner}"))
                } else {
                    ApiError::BadRequest(format!("Format error in JSON body: {path}: {inner}"))
                }
            })
    }
}

/// Query-string parameters.
#[derive(Debug)]
pub struct Q<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Q<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Q(q.0))
            .map_err(|e| {
                ApiError::BadRequest(format!("Query deserialize error: {}", e.body_text()))
            })
    }
}

/// Path parameters.
#[derive(Debug)]
pub struct P<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for P<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| P(p.0))
            .map_err(|e| ApiError::BadRequest(format!("Path error: {}", e.body_text())))
    }
}

/// When the request started, for the envelope's `time`.
#[derive(Debug, Clone, Copy)]
pub struct Timer(pub Instant);

impl<S: Send + Sync> FromRequestParts<S> for Timer {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(_: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Timer(Instant::now()))
    }
}

/// Qdrant's answer envelope. Serialised as it is (not through `serde_json::Value`), so f32
/// scores and vectors keep their shortest form and fields keep Qdrant's order.
#[derive(Serialize)]
struct Envelope<T> {
    result: T,
    status: &'static str,
    time: f64,
}

/// `{"result": …, "status": "ok", "time": seconds}`
pub fn ok<T: Serialize>(t: Timer, result: T) -> Response {
    axum::Json(Envelope {
        result,
        status: "ok",
        time: t.0.elapsed().as_secs_f64(),
    })
    .into_response()
}

/// `{"points": […]}` of a query answer.
#[derive(Serialize)]
pub struct Points<T> {
    pub points: T,
}

/// Runs blocking collection work off the async threads.
pub async fn blocking<R: Send + 'static>(
    f: impl FnOnce() -> Result<R, ApiError> + Send + 'static,
) -> Result<R, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(format!("task failed: {e}")))?
}
