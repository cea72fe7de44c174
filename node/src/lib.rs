//! The data node: a Qdrant-compatible vector database. `run` wires storage, collections,
//! consensus (in cluster mode) and the APIs together; `main.rs` only parses configuration,
//! binds the ports and calls it.

pub mod api;
pub mod cluster;
pub mod collection;
pub mod config;
pub mod consensus;
pub mod quota;
pub mod segment;
pub mod snapshot;
pub mod storage;

use api::responses::ResponseMetrics;
use api::rest::{auth::Keys, router, AppState};
use collection::Registry;
use config::Settings;
use consensus::handle::ConsensusSettings;
use consensus::Consensus;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("cannot open storage: {0}")]
    Storage(#[from] collection::CollectionError),
    #[error("cannot open raft storage: {0}")]
    RaftStorage(#[from] storage::StorageError),
    #[error("consensus: {0}")]
    Consensus(#[from] consensus::ConsensusError),
    #[error("cluster mode needs a p2p listener")]
    NoP2pListener,
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot recover --snapshot: {0}")]
    StartSnapshot(#[from] cluster::restore::RestoreError),
}

/// The node's bound sockets: REST always, p2p in cluster mode, Qdrant's gRPC API unless
/// `service.grpc_port` is null.
#[derive(Debug)]
pub struct Listeners {
    pub rest: TcpListener,
    pub p2p: Option<TcpListener>,
    pub grpc: Option<TcpListener>,
}

/// The uri this peer advertises: `--uri`, or (for a first peer started without one) the
/// bound p2p address. Empty for a joining peer without `--uri`: the bootstrap peer derives it.
fn own_uri(settings: &Settings, p2p: &TcpListener) -> Result<String, NodeError> {
    if let Some(u) = &settings.uri {
        return Ok(u.clone());
    }
    if settings.bootstrap.is_some() {
        return Ok(String::new());
    }
    let addr = p2p.local_addr()?;
    let host = match addr.ip() {
        ip if ip.is_unspecified() => std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "localhost".into()),
        ip => ip.to_string(),
    };
    let uri = format!("http://{host}:{}", addr.port());
    tracing::warn!(%uri, "no --uri given for the first peer; advertising the bound p2p address");
    Ok(uri)
}

/// Opens the Raft DB (cluster mode) and the registry, which needs the peer id stored there.
fn open_storage(
    settings: &Settings,
) -> Result<(Registry, Option<Arc<storage::RaftStore>>), NodeError> {
    let path = &settings.storage.storage_path;
    let raft = match settings.cluster.enabled {
        true => Some(Arc::new(storage::RaftStore::open(&path.join("raft"))?)),
        false => None,
    };
    let peer = match &raft {
        Some(db) => Some(consensus::handle::peer_id(db)?),
        None => None,
    };
    Ok((Registry::open(path, peer)?, raft))
}

async fn start_consensus(
    settings: &Settings,
    registry: Arc<Registry>,
    db: Arc<storage::RaftStore>,
    p2p: &TcpListener,
) -> Result<Consensus, NodeError> {
    let cs = ConsensusSettings {
        tick_period_ms: settings.cluster.consensus.tick_period_ms,
        compact_wal_entries: settings.cluster.consensus.compact_wal_entries,
        p2p_api_key: settings.cluster.p2p.api_key.clone(),
        uri: own_uri(settings, p2p)?,
        bootstrap: settings.bootstrap.clone(),
        p2p_port: p2p.local_addr()?.port(),
    };
    Ok(Consensus::start(db, registry, cs).await?)
}

/// Serves the node until `shutdown` resolves, then stops consensus and flushes storage.
pub async fn run(
    settings: Settings,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), NodeError> {
    std::fs::create_dir_all(&settings.storage.snapshots_path)?;
    let opened = Instant::now();
    let s = settings.clone();
    let (registry, raft_db) = tokio::task::spawn_blocking(move || open_storage(&s))
        .await
        .map_err(|e| NodeError::Io(std::io::Error::other(e)))??;
    let registry = Arc::new(registry);
    tracing::info!(
        collections = registry.names().len(),
        secs = opened.elapsed().as_secs_f64(),
        "storage opened"
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let mut consensus = None;
    let mut p2p_task = None;
    let mut shard_router = cluster::router::Router::new(registry.clone(), None);
    if let Some(db) = raft_db {
        let p2p = listeners.p2p.ok_or(NodeError::NoP2pListener)?;
        let c = start_consensus(&settings, registry.clone(), db, &p2p).await?;
        shard_router = cluster::router::Router::new(registry.clone(), Some(c.clone()));
        tracing::info!("p2p listening on {}", p2p.local_addr()?);
        let serve = api::grpc::serve(c.clone(), shard_router.clone(), p2p, stopped());
        p2p_task = Some(tokio::spawn(serve));
        c.bootstrap().await?;
        consensus = Some(c);
    }
    if consensus.is_some() {
        let period =
            std::time::Duration::from_millis(settings.cluster.consensus.tick_period_ms * 10);
        tokio::spawn(cluster::keeper::run(shard_router.clone(), period));
    }
    if let Some(file) = &settings.start_storage_snapshot {
        let work = settings
            .storage
            .snapshots_path
            .join(".storage-snapshot-recovery");
        cluster::restore::storage_at_start(&shard_router, file, &work, settings.force_snapshot)
            .await?;
    }
    cluster::restore::at_start(
        &shard_router,
        &settings.start_snapshots,
        settings.force_snapshot,
    )
    .await?;
    let state = AppState {
        registry: registry.clone(),
        metrics: Arc::new(ResponseMetrics::rest()),
        grpc_metrics: Arc::new(ResponseMetrics::grpc()),
        started: Instant::now(),
        caught_up: Default::default(),
        node_id: uuid::Uuid::new_v4().to_string(),
        consensus: consensus.clone(),
        router: shard_router,
        snapshots_path: settings.storage.snapshots_path.clone(),
        collection_defaults: settings.storage.collection.clone(),
        issues: Default::default(),
    };
    let keys = Keys {
        full: settings.service.api_key.clone(),
        read_only: settings.service.read_only_api_key.clone(),
    };
    let max_request = settings.service.max_request_size_mb * 1024 * 1024;
    let grpc_task = match listeners.grpc {
        Some(l) => {
            tracing::info!("grpc listening on {}", l.local_addr()?);
            let serve =
                api::grpc::serve_public(state.clone(), keys.clone(), max_request, l, stopped());
            Some(tokio::spawn(serve))
        }
        None => None,
    };
    let web = api::rest::Web {
        keys,
        max_body_bytes: max_request,
        cors: settings.service.enable_cors,
    };
    let app = router(state, web);
    let addr = listeners.rest.local_addr()?;
    tracing::info!("rest listening on http://{addr}");
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    axum::serve(listeners.rest, app)
        .with_graceful_shutdown(stopped())
        .await?;
    if let Some(c) = consensus {
        c.shutdown().await;
    }
    if let Some(t) = p2p_task {
        if let Ok(Err(e)) = t.await {
            tracing::warn!(error = %e, "p2p server stopped with an error");
        }
    }
    if let Some(t) = grpc_task {
        if let Ok(Err(e)) = t.await {
            tracing::warn!(error = %e, "grpc server stopped with an error");
        }
    }
    let reg = registry.clone();
    let _ = tokio::task::spawn_blocking(move || reg.flush_all()).await;
    tracing::info!("node stopped");
    Ok(())
}
