//! Service endpoints: version, health probes, metrics and telemetry.

use super::extract::{ok, Timer};
use super::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::json;

pub const VERSION: &str = "1.19.0";

pub async fn root() -> Response {
    axum::Json(
        json!({"title": "qdrant - vector search engine", "version": VERSION, "commit": null}),
    )
    .into_response()
}

pub async fn healthz() -> &'static str {
    "healthz check passed"
}

pub async fn livez() -> &'static str {
    "healthz check passed"
}

/// Ready for traffic: always in single-node mode; in cluster mode once this peer is a member
/// of a cluster that has a leader (a peer still joining, or cut off, answers 503).
pub async fn readyz(State(s): State<AppState>) -> Response {
    match &s.consensus {
        Some(c) if !c.is_ready() => (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "not ready: this peer has not joined a cluster with a leader yet",
        )
            .into_response(),
        _ => "all shards are ready".into_response(),
    }
}

pub async fn metrics(State(s): State<AppState>) -> Response {
    let cols = s.registry.all();
    let points: usize = cols.iter().map(|c| c.points_count()).sum();
    let memory: usize = cols.iter().map(|c| c.memory_bytes()).sum();
    let pending: usize = cols.iter().map(|c| c.pending_index()).sum();
    let text = s.metrics.render(&[
        ("app_info", "information about the node", 1.0),
        (
            "collections_total",
            "number of collections",
            cols.len() as f64,
        ),
        (
            "collections_vector_total",
            "number of points in all collections",
            points as f64,
        ),
        (
            "index_pending_vectors",
            "vectors waiting to be indexed",
            pending as f64,
        ),
        (
            "segment_memory_bytes",
            "bytes held by vectors and graphs",
            memory as f64,
        ),
        (
            "uptime_seconds",
            "seconds since the node started",
            s.started.elapsed().as_secs_f64(),
        ),
    ]);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

pub async fn telemetry(t: Timer, State(s): State<AppState>) -> Response {
    let collections: Vec<_> = s
        .registry
        .all()
        .iter()
        .map(|c| json!({"id": c.name, "points": c.points_count()}))
        .collect();
    ok(
        t,
        json!({"id": s.node_id, "app": {"name": "qdrant-node", "version": VERSION},
                 "collections": {"number_of_collections": collections.len(), "collections": collections}}),
    )
}
