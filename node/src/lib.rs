//! The data node: a Qdrant-compatible vector database. `run` wires storage, collections and
//! the REST API together; `main.rs` only parses configuration and calls it.

pub mod api;
pub mod collection;
pub mod config;
pub mod segment;
pub mod storage;

use api::rest::{auth::Keys, metrics::Metrics, router, AppState};
use collection::Registry;
use config::Settings;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("cannot open storage: {0}")]
    Storage(#[from] collection::CollectionError),
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// Serves the node on `listener` until `shutdown` resolves, then flushes storage.
pub async fn run(
    settings: Settings,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), NodeError> {
    if settings.cluster.enabled {
        tracing::warn!("cluster.enabled=true: cluster mode is not available in this build yet; serving as a single node");
    }
    let storage = settings.storage.storage_path.clone();
    std::fs::create_dir_all(&settings.storage.snapshots_path)?;
    let opened = Instant::now();
    let registry = tokio::task::spawn_blocking(move || Registry::open(&storage, 1))
        .await
        .map_err(|e| NodeError::Io(std::io::Error::other(e)))??;
    let registry = Arc::new(registry);
    tracing::info!(
        collections = registry.names().len(),
        secs = opened.elapsed().as_secs_f64(),
        "storage opened"
    );
    let state = AppState {
        registry: registry.clone(),
        metrics: Arc::new(Metrics::default()),
        started: Instant::now(),
        node_id: uuid::Uuid::new_v4().to_string(),
    };
    let keys = Keys {
        full: settings.service.api_key.clone(),
        read_only: settings.service.read_only_api_key.clone(),
    };
    let app = router(
        state,
        keys,
        settings.service.max_request_size_mb * 1024 * 1024,
    );
    let addr = listener.local_addr()?;
    tracing::info!("rest listening on http://{addr}");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    let reg = registry.clone();
    let _ = tokio::task::spawn_blocking(move || reg.flush_all()).await;
    tracing::info!("node stopped");
    Ok(())
}
