//! API-key check: `api-key` header or `Authorization: Bearer`, as Qdrant clients send them.
//! Health endpoints and the dashboard's files stay open; the read-only key may only read.

use super::error::ApiError;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

#[derive(Debug, Clone, Default)]
pub struct Keys {
    pub full: Option<String>,
    pub read_only: Option<String>,
}

fn is_read(method: &Method, path: &str) -> bool {
    const READS: [&str; 6] = [
        "/points/search",
        "/points/query",
        "/points/scroll",
        "/points/count",
        "/points/recommend",
        "/facet",
    ];
    match *method {
        Method::GET => !path.contains("/snapshots"),
        Method::POST => path.ends_with("/points") || READS.iter().any(|s| path.contains(s)),
        _ => false,
    }
}

/// The dashboard's page and scripts are public (they hold no data); the page asks for the
/// key and sends it with every API call, `/dashboard/api/` included.
fn is_dashboard_file(path: &str) -> bool {
    path == "/dashboard"
        || (path.starts_with("/dashboard/") && !path.starts_with("/dashboard/api/"))
}

pub async fn check(State(keys): State<Arc<Keys>>, req: Request, next: Next) -> Response {
    if keys.full.is_none() && keys.read_only.is_none() {
        return next.run(req).await;
    }
    let path = req.uri().path();
    if matches!(path, "/healthz" | "/livez" | "/readyz") || is_dashboard_file(path) {
        return next.run(req).await;
    }
    let given = req
        .headers()
        .get("api-key")
        .or_else(|| req.headers().get("authorization"))
        .and_then(|v| v.to_str().ok())
        .map(|v| v.strip_prefix("Bearer ").unwrap_or(v).to_string());
    let Some(given) = given else {
        return ApiError::Unauthorized(
            "Must provide an API key or an Authorization bearer token".into(),
        )
        .into_response();
    };
    if keys.full.as_deref() == Some(given.as_str()) {
        return next.run(req).await;
    }
    if keys.read_only.as_deref() == Some(given.as_str()) {
        if is_read(req.method(), path) {
            return next.run(req).await;
        }
        return ApiError::Forbidden(
            "Forbidden: read-only API key cannot perform this operation".into(),
        )
        .into_response();
    }
    ApiError::Unauthorized("Invalid API key or JWT".into()).into_response()
}
