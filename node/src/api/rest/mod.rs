//! Public REST API on the HTTP port (axum), Qdrant's paths and shapes. One file per area;
//! errors are mapped in `error.rs`.

pub mod auth;
pub mod cluster;
pub mod cluster_telemetry;
pub mod collections;
pub mod dashboard;
pub mod error;
pub mod extract;
pub mod full_snapshots;
pub mod issues;
pub mod legacy;
pub mod matrix;
pub mod metrics;
pub mod optimizations;
pub mod points;
pub mod query;
pub mod quotas;
pub mod resharding;
pub mod service;
pub mod shard_keys;
pub mod shards;
pub mod snapshots;
pub mod telemetry;

use crate::collection::Registry;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, put};
use axum::Router;
use legacy::{batch, groups, single, DiscoverBody, RecommendBody, SearchBody};
use std::sync::Arc;
use std::time::Instant;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowHeaders, AllowMethods, AllowOrigin, CorsLayer};

#[derive(Debug, Clone)]
pub struct AppState {
    pub registry: Arc<Registry>,
    pub metrics: Arc<crate::api::responses::ResponseMetrics>,
    /// Public gRPC calls by method path and status code (for `/telemetry`).
    pub grpc_metrics: Arc<crate::api::responses::ResponseMetrics>,
    pub started: Instant,
    /// Set once this peer has caught up with the cluster after it started (`/readyz`).
    pub caught_up: Arc<std::sync::atomic::AtomicBool>,
    pub node_id: String,
    /// Present in cluster mode.
    pub consensus: Option<crate::consensus::Consensus>,
    /// Routes point operations and reads to shard replicas.
    pub router: crate::cluster::router::Router,
    /// `storage.snapshots_path`.
    pub snapshots_path: std::path::PathBuf,
    /// `storage.collection` from the config.
    pub collection_defaults: crate::config::CollectionDefaults,
    /// What `GET /issues` reports.
    pub issues: Arc<issues::Issues>,
}

/// What the HTTP layers around the routes do, from `service.*` in the config.
#[derive(Debug, Clone)]
pub struct Web {
    pub keys: auth::Keys,
    pub max_body_bytes: usize,
    /// `service.enable_cors`: answer preflights and allow every origin, as Qdrant does.
    pub cors: bool,
}

pub fn router(state: AppState, web: Web) -> Router {
    let c = "/collections/{collection_name}";
    let metrics = state.metrics.clone();
    let app = Router::new()
        .route("/", get(service::root))
        .route("/dashboard", get(dashboard::index))
        .route("/dashboard/", get(dashboard::index))
        .route("/dashboard/api/cluster", get(dashboard::cluster))
        .route("/dashboard/{file}", get(dashboard::asset))
        .route("/healthz", get(service::healthz))
        .route("/livez", get(service::livez))
        .route("/readyz", get(service::readyz))
        .route("/metrics", get(metrics::get))
        .route("/telemetry", get(telemetry::get))
        .route("/quotas", get(quotas::get).put(quotas::put))
        .route("/issues", get(issues::get).delete(issues::delete))
        .route("/cluster", get(cluster::status))
        .route("/cluster/peer/{peer_id}", delete(cluster::remove_peer))
        .route("/cluster/unreachable", get(cluster::unreachable))
        .route("/cluster/recover", post(cluster::recover))
        .route("/cluster/telemetry", get(cluster_telemetry::get))
        .route("/collections", get(collections::list))
        .route("/collections/aliases", post(collections::change_aliases))
        .route("/aliases", get(collections::all_aliases))
        .route(
            "/snapshots",
            get(full_snapshots::list).post(full_snapshots::create),
        )
        .route(
            "/snapshots/{snapshot_name}",
            get(full_snapshots::download).delete(full_snapshots::delete),
        )
        .route(
            c,
            get(collections::get)
                .put(collections::create)
                .patch(collections::update)
                .delete(collections::delete),
        )
        .route(&format!("{c}/exists"), get(collections::exists))
        .route(&format!("{c}/optimizations"), get(optimizations::get))
        .route(
            &format!("{c}/cluster"),
            get(shards::collection_cluster).post(shards::update_collection_cluster),
        )
        .route(
            &format!("{c}/shards"),
            get(shard_keys::list).put(shard_keys::create),
        )
        .route(&format!("{c}/shards/delete"), post(shard_keys::delete))
        .route(
            &format!("{c}/aliases"),
            get(collections::collection_aliases),
        )
        .route(
            &format!("{c}/vectors/{{vector_name}}"),
            put(collections::create_vector).delete(collections::delete_vector),
        )
        .route(&format!("{c}/index"), put(collections::create_index))
        .route(
            &format!("{c}/index/{{field_name}}"),
            delete(collections::delete_index),
        )
        .route(
            &format!("{c}/points"),
            put(points::upsert).post(points::retrieve),
        )
        .route(&format!("{c}/points/{{id}}"), get(points::get_point))
        .route(&format!("{c}/points/delete"), post(points::delete))
        .route(&format!("{c}/points/batch"), post(points::batch))
        .route(&format!("{c}/points/vectors"), put(points::update_vectors))
        .route(
            &format!("{c}/points/vectors/delete"),
            post(points::delete_vectors),
        )
        .route(
            &format!("{c}/points/payload"),
            post(points::set_payload).put(points::overwrite_payload),
        )
        .route(
            &format!("{c}/points/payload/delete"),
            post(points::delete_payload),
        )
        .route(
            &format!("{c}/points/payload/clear"),
            post(points::clear_payload),
        )
        .route(&format!("{c}/points/scroll"), post(query::scroll))
        .route(&format!("{c}/points/count"), post(query::count))
        .route(&format!("{c}/points/query"), post(query::query))
        .route(&format!("{c}/points/query/batch"), post(query::query_batch))
        .route(
            &format!("{c}/points/query/groups"),
            post(query::query_groups),
        )
        .route(&format!("{c}/points/search"), post(single::<SearchBody>))
        .route(
            &format!("{c}/points/search/batch"),
            post(batch::<SearchBody>),
        )
        .route(
            &format!("{c}/points/search/groups"),
            post(groups::<SearchBody>),
        )
        .route(
            &format!("{c}/points/recommend"),
            post(single::<RecommendBody>),
        )
        .route(
            &format!("{c}/points/recommend/batch"),
            post(batch::<RecommendBody>),
        )
        .route(
            &format!("{c}/points/recommend/groups"),
            post(groups::<RecommendBody>),
        )
        .route(
            &format!("{c}/points/discover"),
            post(single::<DiscoverBody>),
        )
        .route(
            &format!("{c}/points/discover/batch"),
            post(batch::<DiscoverBody>),
        )
        .route(&format!("{c}/facet"), post(query::facet))
        .route(
            &format!("{c}/points/search/matrix/pairs"),
            post(matrix::pairs),
        )
        .route(
            &format!("{c}/points/search/matrix/offsets"),
            post(matrix::offsets),
        )
        .route(
            &format!("{c}/snapshots"),
            get(snapshots::list_snapshots).post(snapshots::create_snapshot),
        )
        .route(
            &format!("{c}/snapshots/recover"),
            put(snapshots::recover_snapshot),
        )
        .route(
            &format!("{c}/snapshots/upload"),
            post(snapshots::upload_snapshot).layer(DefaultBodyLimit::disable()),
        )
        .route(
            &format!("{c}/snapshots/{{snapshot_name}}"),
            get(snapshots::download_snapshot).delete(snapshots::delete_snapshot),
        )
        .route(
            &format!("{c}/shards/{{shard_id}}/snapshots"),
            get(snapshots::list_snapshots).post(snapshots::create_snapshot),
        )
        .route(
            &format!("{c}/shards/{{shard_id}}/snapshots/recover"),
            put(snapshots::recover_snapshot),
        )
        .route(
            &format!("{c}/shards/{{shard_id}}/snapshots/upload"),
            post(snapshots::upload_snapshot).layer(DefaultBodyLimit::disable()),
        )
        .route(
            &format!("{c}/shards/{{shard_id}}/snapshots/{{snapshot_name}}"),
            get(snapshots::download_snapshot).delete(snapshots::delete_snapshot),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(DefaultBodyLimit::max(web.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(web.keys),
            auth::check,
        ))
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            metrics::track,
        ))
        .layer(CompressionLayer::new().gzip(true));
    if !web.cors {
        return app;
    }
    // Outermost, so preflights (which carry no API key) are answered before the key check.
    app.layer(
        CorsLayer::new()
            .allow_origin(AllowOrigin::mirror_request())
            .allow_methods(AllowMethods::mirror_request())
            .allow_headers(AllowHeaders::mirror_request()),
    )
}

async fn not_found(uri: axum::http::Uri) -> error::ApiError {
    error::ApiError::NotFound(format!("Not found: no endpoint {}", uri.path()))
}

async fn method_not_allowed(
    method: axum::http::Method,
    uri: axum::http::Uri,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let body = serde_json::json!({"status": {"error": format!("Method {method} is not allowed for {}", uri.path())}, "time": 0.0});
    (axum::http::StatusCode::METHOD_NOT_ALLOWED, axum::Json(body)).into_response()
}
