//! Service endpoints: version, health probes and metrics (telemetry: `telemetry.rs`).

use super::AppState;
use crate::collection::replicas::ReplicaState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::atomic::Ordering;

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

/// How long a peer in cluster mode stays not ready after it started.
const SETTLE: std::time::Duration = std::time::Duration::from_secs(3);

/// Ready for traffic: always in single-node mode. In cluster mode once this peer, after it
/// started, is a member of a cluster with a leader and has applied the leader's log (checked
/// until it first holds, so a leader change elsewhere does not make every peer unready), and
/// while every replica it holds is `Active` (a restarted peer whose replicas are being
/// re-synced is not ready yet, so a rolling restart waits for it).
pub async fn readyz(State(s): State<AppState>) -> Response {
    let unavailable = |why: String| {
        (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}"),
        )
            .into_response()
    };
    let Some(c) = &s.consensus else {
        return "all shards are ready".into_response();
    };
    let me = c.id();
    if !s.caught_up.load(Ordering::Relaxed) {
        if let Err(why) = caught_up(&s, c).await {
            return unavailable(why);
        }
        s.caught_up.store(true, Ordering::Relaxed);
    }
    for col in s.registry.all() {
        let layout = col.layout();
        for (shard, replicas) in &layout.replicas {
            match replicas.get(&me) {
                Some(ReplicaState::Active) | None => {}
                Some(state) => {
                    return unavailable(format!("shard {shard} of `{}` is {state:?}", col.name))
                }
            }
        }
    }
    "all shards are ready".into_response()
}

/// Whether this peer, after it started, has joined a cluster with a leader and applied the
/// leader's log (a restarted peer may not yet know its replicas were marked dead meanwhile).
async fn caught_up(s: &AppState, c: &crate::consensus::Consensus) -> Result<(), String> {
    if !c.is_ready() {
        return Err("this peer has not joined a cluster with a leader yet".into());
    }
    // Writes that failed on this peer while it was down mark its replicas dead through Raft
    // a moment later; a peer that just started waits for those to land.
    if s.started.elapsed() < SETTLE {
        return Err("just started; waiting for replica states to settle".into());
    }
    let Some(leader) = c.leader().filter(|l| *l != c.id()) else {
        return Ok(());
    };
    let uri = c.peer_uri(leader).unwrap_or_default();
    let probe = s
        .router
        .remote()
        .health(leader, &uri, std::time::Duration::from_secs(2));
    match probe.await {
        Ok(applied) if c.applied_index() >= applied => Ok(()),
        Ok(applied) => Err(format!(
            "applied {} of the leader's {applied} log entries",
            c.applied_index()
        )),
        Err(e) => Err(format!("leader unreachable: {e}")),
    }
}
