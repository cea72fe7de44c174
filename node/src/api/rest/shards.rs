//! `GET /collections/{name}/cluster` (where the collection's shards live, seen from this
//! peer) and `POST` (move, replicate or drop a replica, abort a transfer). Transfers are
//! committed here and run by their source peer (`cluster/transfer.rs`).

use super::cluster::{commit, CommitTimeout};
use super::error::{ApiError, ApiResult};
use super::extract::{blocking, ok, JsonBody, Timer, P, Q};
use super::resharding::{self, AbortResharding, StartResharding};
use super::shard_keys::{create_key, drop_key, CreateShardKey, DropShardKey};
use super::AppState;
use crate::cluster::copy_points::copy_points;
use crate::cluster::transfer;
use crate::collection::replicas::{LayoutChange, ReplicaState, Transfer};
use crate::collection::shard_key::ShardKey;
use crate::collection::Collection;
use crate::consensus::Command;
use crate::segment::filter::Filter;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

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
    let router = s.router.clone();
    let name = c.name.clone();
    blocking(move || {
        let mut local = Vec::new();
        let mut remote = Vec::new();
        for (shard, replicas) in &layout.replicas {
            let key = layout.key_of(*shard);
            for (peer, state) in replicas {
                let mut v = json!({"shard_id": shard});
                if let Some(k) = key {
                    v["shard_key"] = json!(k);
                }
                if *peer == me {
                    v["points_count"] = json!(c.local_points(*shard).unwrap_or(0));
                    v["state"] = json!(state);
                    local.push(v);
                } else {
                    v["peer_id"] = json!(peer);
                    v["state"] = json!(state);
                    remote.push(v);
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
                if let Some(to) = tr.to_shard_id {
                    v["to_shard_id"] = json!(to);
                }
                if tr.done {
                    v["comment"] = json!("copied; forwarding writes until the switch");
                } else if let Some((done, total)) =
                    router.progress().get(&tr.key(&name), tr.from, me)
                {
                    v["comment"] = json!(format!("transferred {done}/{total} points"));
                }
                v
            })
            .collect();
        let mut out = json!({
            "peer_id": me,
            "shard_count": layout.replicas.len(),
            "local_shards": local,
            "remote_shards": remote,
            "shard_transfers": transfers,
        });
        if let Some(r) = &layout.resharding {
            let mut op = json!({
                "direction": r.direction, "shard_id": r.shard_id, "peer_id": r.peer_id,
            });
            if let Some(k) = &r.key {
                op["shard_key"] = json!(k);
            }
            if let Some(p) = &r.cleanup {
                op["comment"] = json!(format!("switched; {} peers still cleaning up", p.len()));
            }
            out["resharding_operations"] = json!([op]);
        }
        Ok(out)
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
    CreateShardingKey(CreateShardKey),
    DropShardingKey(DropShardKey),
    ReplicatePoints(ReplicatePoints),
    RestartTransfer(MoveShard),
    StartResharding(StartResharding),
    AbortResharding(AbortResharding),
}

/// Copy the points of one shard key that match `filter` into another key.
#[derive(Debug, Deserialize)]
pub struct ReplicatePoints {
    pub from_shard_key: ShardKey,
    pub to_shard_key: ShardKey,
    pub filter: Option<Filter>,
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

/// A running transfer started again from the start with the method asked: aborted (the
/// target goes back to what it was), then started anew; returns the start.
async fn restart(
    s: &AppState,
    c: &Collection,
    m: &MoveShard,
    timeout: std::time::Duration,
) -> ApiResult<LayoutChange> {
    let running = c
        .layout()
        .transfers
        .into_iter()
        .find(|t| t.shard_id == m.shard_id && t.from == m.from_peer_id && t.to == m.to_peer_id);
    let Some(t) = running else {
        return Err(ApiError::wrong(format!(
            "no transfer of shard {} from {} to {} is running",
            m.shard_id, m.from_peer_id, m.to_peer_id
        )));
    };
    let method = method_of(m.method.as_deref())?;
    let abort = LayoutChange::FinishTransfer {
        shard_id: t.shard_id,
        from: t.from,
        to: t.to,
        to_shard_id: None,
        success: false,
    };
    let cmd = Command::ChangeLayout {
        collection: c.name.clone(),
        change: abort,
    };
    commit(s, cmd, timeout).await?;
    Ok(LayoutChange::StartTransfer {
        transfer: Transfer {
            method: method.into(),
            recovery: false,
            ..t
        },
    })
}

/// The transfer method to run. `wal_delta` falls back to streaming records when the
/// operation logs cannot tell what the target lacks; `snapshot` streams records.
fn method_of(name: Option<&str>) -> ApiResult<&'static str> {
    match name {
        None | Some("stream_records") | Some("snapshot") => Ok("stream_records"),
        Some("wal_delta") => Ok("wal_delta"),
        Some(other) => Err(ApiError::BadRequest(format!(
            "Bad request: transfer method `{other}` is not supported"
        ))),
    }
}

/// Checks a transfer request against the layout and membership; returns the transfer.
fn transfer(s: &AppState, c: &Collection, m: &MoveShard, sync: bool) -> ApiResult<Transfer> {
    let method = method_of(m.method.as_deref())?;
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
    if !layout.replicas.contains_key(&m.shard_id) {
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
        to_shard_id: None,
        done: false,
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
    let keys = matches!(
        op,
        ClusterOperation::CreateShardingKey(_)
            | ClusterOperation::DropShardingKey(_)
            | ClusterOperation::ReplicatePoints(_)
    );
    if s.consensus.is_none() && !keys {
        return Err(ApiError::BadRequest(
            "Bad request: cluster mode is disabled on this node".into(),
        ));
    }
    let c = s.registry.get(name)?;
    let change = match op {
        ClusterOperation::CreateShardingKey(k) => return create_key(s, name, k, timeout).await,
        ClusterOperation::DropShardingKey(k) => return drop_key(s, name, k, timeout).await,
        ClusterOperation::ReplicatePoints(rp) => return replicate_points(s, c, rp),
        ClusterOperation::MoveShard(m) => LayoutChange::StartTransfer {
            transfer: transfer(s, &c, &m, false)?,
        },
        ClusterOperation::ReplicateShard(m) => LayoutChange::StartTransfer {
            transfer: transfer(s, &c, &m, true)?,
        },
        ClusterOperation::AbortTransfer(m) => LayoutChange::FinishTransfer {
            shard_id: m.shard_id,
            from: m.from_peer_id,
            to: m.to_peer_id,
            to_shard_id: None,
            success: false,
        },
        ClusterOperation::StartResharding(r) => resharding::start(s, &c, r)?,
        ClusterOperation::AbortResharding(AbortResharding {}) => LayoutChange::AbortResharding,
        ClusterOperation::DropReplica(r) => LayoutChange::DropReplica {
            shard_id: r.shard_id,
            peer_id: r.peer_id,
        },
        ClusterOperation::RestartTransfer(m) => restart(s, &c, &m, timeout).await?,
    };
    let cmd = Command::ChangeLayout {
        collection: c.name.clone(),
        change,
    };
    let done = commit(s, cmd, timeout).await?;
    transfer::start_mine(&s.router, &c);
    Ok(done)
}

/// Starts copying the points of one key into another in the background; `true` once both
/// keys are known to exist (as Qdrant answers once the operation is accepted).
fn replicate_points(s: &AppState, c: Arc<Collection>, rp: ReplicatePoints) -> ApiResult<Value> {
    let layout = c.layout();
    for key in [&rp.from_shard_key, &rp.to_shard_key] {
        if layout.shards_of_key(key).is_empty() {
            return Err(ApiError::BadRequest(format!(
                "Bad request: Shard key {key} not found"
            )));
        }
    }
    if rp.from_shard_key == rp.to_shard_key {
        return Err(ApiError::wrong("source and target shard keys are the same"));
    }
    let router = s.router.clone();
    tokio::spawn(async move {
        let (from, to) = (&rp.from_shard_key, &rp.to_shard_key);
        match copy_points(&router, &c, from, to, rp.filter).await {
            Ok(n) => {
                tracing::info!(collection = %c.name, %from, %to, points = n, "points replicated")
            }
            Err(e) => {
                tracing::warn!(collection = %c.name, %from, %to, error = %e, "replicate_points failed")
            }
        }
    });
    Ok(json!(true))
}
