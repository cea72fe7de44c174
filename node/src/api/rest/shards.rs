//! `GET /collections/{name}/cluster` (where the collection's shards live, seen from this
//! peer) and `POST` (move, replicate or drop a replica, abort a transfer). Transfers are
//! committed here and run by their source peer (`cluster/transfer.rs`).

use super::cluster::{commit, CommitTimeout};
use super::error::{ApiError, ApiResult};
use super::extract::{blocking, ok, JsonBody, Timer, P, Q};
use super::AppState;
use crate::cluster::transfer;
use crate::collection::replicas::{LayoutChange, ReplicaState, Transfer};
use crate::collection::Collection;
use crate::consensus::Command;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

pub async fn collection_cluster(
    t: Timer,
    State(s): State<AppState>,
    P(name): P<String>,
) -> ApiResult<Response> {
    Ok(ok(t, cluster_info(&s, &name).await?))
}

/// Where the collection's shards live, seen from this peer, in Qdrant's JSON shape.
pub async fn cluster_info(s: &AppState, name: &str) -> ApiResult<Value> {
    let c = s.registry.get(name)?;
    let me = c.local_peer;
    let layout = c.layout();
    let progress = s.router.progress().clone();
    let name = c.name.clone();
    blocking(move || {
        let mut local = Vec::new();
        let mut remote = Vec::new();
        for (shard, replicas) in &layout.replicas {
            for (peer, state) in replicas {
                if *peer == me {
                    let points = c
                        .local_shard(*shard)
                        .map(|s| s.segment().len())
                        .unwrap_or(0);
                    local.push(json!({"shard_id": shard, "points_count": points, "state": state}));
                } else {
                    remote.push(json!({"shard_id": shard, "peer_id": peer, "state": state}));
                }
            }
        }
        let transfers: Vec<Value> = layout
            .transfers
            .iter()
            .map(|tr| {
                let mut v = json!({
                    "shard_id": tr.shard_id, "from": tr.from, "to": tr.to,
                    "sync": tr.sync, "method": tr.method,
                });
                if let Some((done, total)) = progress.get(&(name.clone(), tr.shard_id)) {
                    v["comment"] = json!(format!("transferred {done}/{total} points"));
                }
                v
            })
            .collect();
        Ok(json!({
            "peer_id": me,
            "shard_count": c.shard_number(),
            "local_shards": local,
            "remote_shards": remote,
            "shard_transfers": transfers,
        }))
    })
    .await
}

/// `POST /collections/{name}/cluster` body: one operation.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClusterOperation {
    MoveShard(MoveShard),
    ReplicateShard(MoveShard),
    AbortTransfer(MoveShard),
    DropReplica(Replica),
}

#[derive(Debug, Deserialize)]
pub struct MoveShard {
    pub shard_id: u32,
    pub from_peer_id: u64,
    pub to_peer_id: u64,
    #[serde(default)]
    pub method: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Replica {
    pub shard_id: u32,
    pub peer_id: u64,
}

/// Checks a transfer request against the layout and membership; returns the transfer.
fn transfer(s: &AppState, c: &Collection, m: &MoveShard, sync: bool) -> ApiResult<Transfer> {
    let method = match m.method.as_deref() {
        None | Some("stream_records") => "stream_records",
        // Both fall back to streaming records, as Qdrant does when a delta is not possible.
        Some("snapshot") | Some("wal_delta") => "stream_records",
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "Bad request: transfer method `{other}` is not supported"
            )))
        }
    };
    let peers = s.consensus.as_ref().map(|c| c.peers()).unwrap_or_default();
    for p in [m.from_peer_id, m.to_peer_id] {
        if !peers.contains_key(&p) {
            return Err(ApiError::wrong(format!(
                "peer {p} is not a member of the cluster"
            )));
        }
    }
    if m.from_peer_id == m.to_peer_id {
        return Err(ApiError::wrong("source and target peer are the same"));
    }
    let layout = c.layout();
    if m.shard_id >= c.shard_number() {
        return Err(ApiError::wrong(format!(
            "shard {} does not exist",
            m.shard_id
        )));
    }
    if layout.state(m.shard_id, m.from_peer_id) != Some(ReplicaState::Active) {
        return Err(ApiError::wrong(format!(
            "peer {} holds no active replica of shard {}",
            m.from_peer_id, m.shard_id
        )));
    }
    Ok(Transfer {
        shard_id: m.shard_id,
        from: m.from_peer_id,
        to: m.to_peer_id,
        sync,
        method: method.into(),
        recovery: false,
    })
}

pub async fn update_collection_cluster(
    t: Timer,
    State(s): State<AppState>,
    P(name): P<String>,
    Q(q): Q<CommitTimeout>,
    JsonBody(op): JsonBody<ClusterOperation>,
) -> ApiResult<Response> {
    Ok(ok(t, operate(&s, &name, op, q.duration()).await?))
}

/// Commits one cluster operation of a collection; the transfers this peer is the source of
/// start at once.
pub async fn operate(
    s: &AppState,
    name: &str,
    op: ClusterOperation,
    timeout: std::time::Duration,
) -> ApiResult<Value> {
    if s.consensus.is_none() {
        return Err(ApiError::BadRequest(
            "Bad request: cluster mode is disabled on this node".into(),
        ));
    }
    let c = s.registry.get(name)?;
    let change = match &op {
        ClusterOperation::MoveShard(m) => LayoutChange::StartTransfer {
            transfer: transfer(s, &c, m, false)?,
        },
        ClusterOperation::ReplicateShard(m) => LayoutChange::StartTransfer {
            transfer: transfer(s, &c, m, true)?,
        },
        ClusterOperation::AbortTransfer(m) => LayoutChange::FinishTransfer {
            shard_id: m.shard_id,
            from: m.from_peer_id,
            to: m.to_peer_id,
            success: false,
        },
        ClusterOperation::DropReplica(r) => LayoutChange::DropReplica {
            shard_id: r.shard_id,
            peer_id: r.peer_id,
        },
    };
    let cmd = Command::ChangeLayout {
        collection: c.name.clone(),
        change,
    };
    let done = commit(s, cmd, timeout).await?;
    transfer::start_mine(&s.router, &c);
    Ok(done)
}
