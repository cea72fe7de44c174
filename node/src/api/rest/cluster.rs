//! Cluster endpoints (`GET /cluster`, `DELETE /cluster/peer/{id}`, `POST /cluster/recover`) and the one path every
//! metadata change takes: through consensus in cluster mode, applied directly otherwise.

use super::error::{ApiError, ApiResult};
use super::extract::{ok, Timer, P, Q};
use super::AppState;
use crate::collection::CollectionError;
use crate::consensus::Command;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;

/// `?timeout=` (seconds) of metadata operations: how long to wait for the commit.
#[derive(Debug, Default, Deserialize)]
pub struct CommitTimeout {
    pub timeout: Option<u64>,
}

impl CommitTimeout {
    pub fn duration(&self) -> Duration {
        Duration::from_secs(self.timeout.unwrap_or(10).clamp(1, 3600))
    }
}

/// Applies a metadata command: committed through Raft in cluster mode (any peer forwards it
/// to the leader), applied to the local registry otherwise.
///
/// Like Qdrant, the answer waits until every reachable peer applied the change too, so a
/// request through any peer right after it sees it.
pub async fn commit(s: &AppState, cmd: Command, timeout: Duration) -> ApiResult<Value> {
    let done = s.router.commit(cmd, timeout).await?;
    if let Some(c) = &s.consensus {
        s.router
            .wait_peers_applied(c.applied_index(), timeout)
            .await;
    }
    Ok(done)
}

pub async fn status(t: Timer, State(s): State<AppState>) -> Response {
    match &s.consensus {
        Some(c) => ok(t, c.status()),
        None => ok(t, json!({"status": "disabled"})),
    }
}

/// `GET /cluster/unreachable` (not in Qdrant's API): peers this node's health checks have
/// seen down for several checks in a row. Operators use it to tell a dead peer from a slow one.
pub async fn unreachable(t: Timer, State(s): State<AppState>) -> Response {
    ok(t, json!({"peers": s.router.unreachable()}))
}

/// `POST /cluster/recover`: re-syncs this peer with the leader (Raft log, then its dead
/// replicas); `true` once the log caught up and the recoveries are started.
pub async fn recover(
    t: Timer,
    State(s): State<AppState>,
    Q(q): Q<CommitTimeout>,
) -> ApiResult<Response> {
    if s.consensus.is_none() {
        return Err(ApiError::BadRequest(
            "Bad request: Qdrant is running in standalone mode".into(),
        ));
    }
    let started = crate::cluster::keeper::recover_peer(&s.router, q.duration())
        .await
        .map_err(|e| CollectionError::Unavailable(format!("Service unavailable: {e}")))?;
    tracing::info!(started, "peer recovery requested");
    Ok(ok(t, true))
}

#[derive(Debug, Deserialize)]
pub struct RemovePeer {
    #[serde(default)]
    force: bool,
    timeout: Option<u64>,
}

pub async fn remove_peer(
    t: Timer,
    State(s): State<AppState>,
    P(peer_id): P<u64>,
    Q(q): Q<RemovePeer>,
) -> ApiResult<Response> {
    let Some(c) = &s.consensus else {
        return Err(ApiError::BadRequest(
            "Bad request: cluster mode is disabled on this node".into(),
        ));
    };
    let timeout = CommitTimeout { timeout: q.timeout }.duration();
    c.remove_peer(peer_id, q.force, timeout).await?;
    Ok(ok(t, true))
}
