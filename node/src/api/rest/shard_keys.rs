//! Shard keys of a custom-sharded collection: `PUT /collections/{name}/shards` creates one
//! with its shards, `POST .../shards/delete` drops one with its data, `GET .../shards` lists
//! them. Committed as layout changes, so every peer opens or drops the shards it holds.

use super::cluster::{commit, CommitTimeout};
use super::error::{ApiError, ApiResult};
use super::extract::{ok, JsonBody, Timer, P, Q};
use super::AppState;
use crate::cluster::placement::place_more;
use crate::collection::replicas::LayoutChange;
use crate::collection::shard_key::ShardKey;
use crate::consensus::Command;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::time::Duration;

/// `PUT /collections/{name}/shards` body (Qdrant's `CreateShardingKey`).
#[derive(Debug, Deserialize)]
pub struct CreateShardKey {
    pub shard_key: ShardKey,
    pub shards_number: Option<NonZeroU32>,
    pub replication_factor: Option<NonZeroU32>,
    pub placement: Option<Vec<u64>>,
    /// Accepted for compatibility; new shards start `Active` (they are empty).
    pub initial_state: Option<Value>,
}

/// `POST /collections/{name}/shards/delete` body.
#[derive(Debug, Deserialize)]
pub struct DropShardKey {
    pub shard_key: ShardKey,
}

pub async fn create(
    t: Timer,
    State(s): State<AppState>,
    P(name): P<String>,
    Q(q): Q<CommitTimeout>,
    JsonBody(req): JsonBody<CreateShardKey>,
) -> ApiResult<Response> {
    Ok(ok(t, create_key(&s, &name, req, q.duration()).await?))
}

/// Places the new key's shards (on `placement`'s peers, or on the least loaded ones) and
/// commits them.
pub async fn create_key(
    s: &AppState,
    name: &str,
    req: CreateShardKey,
    timeout: Duration,
) -> ApiResult<Value> {
    let c = s.registry.get(name)?;
    if !c.custom_sharding() {
        return Err(ApiError::BadRequest(
            "Bad request: Shard Key cannot be created with Auto sharding method".into(),
        ));
    }
    let layout = c.layout();
    let key = req.shard_key;
    if !layout.shards_of_key(&key).is_empty() {
        return Err(ApiError::BadRequest(format!(
            "Bad request: Sharding key {key} already exists for collection {}",
            c.name
        )));
    }
    let members: Vec<u64> = match &s.consensus {
        Some(cons) => cons.peers().into_keys().collect(),
        None => vec![c.local_peer],
    };
    let peers = match req.placement {
        None => members,
        Some(p) if p.is_empty() => {
            return Err(ApiError::BadRequest(format!(
                "Bad request: Sharding key {key} placement cannot be empty. If you want to use random placement, do not specify placement"
            )))
        }
        Some(p) => {
            if let Some(missing) = p.iter().find(|id| !members.contains(id)) {
                return Err(ApiError::BadRequest(format!(
                    "Bad request: Peer {missing} does not exist"
                )));
            }
            p
        }
    };
    let params = c.config().params;
    let shards = req
        .shards_number
        .map_or(params.shard_number, NonZeroU32::get);
    let rf = req
        .replication_factor
        .map_or(params.replication_factor, NonZeroU32::get)
        .min(peers.len().max(1) as u32);
    let mut load: BTreeMap<u64, usize> = BTreeMap::new();
    for p in layout.replicas.values().flat_map(|r| r.keys()) {
        *load.entry(*p).or_default() += 1;
    }
    let placement =
        place_more(&peers, &load, shards, rf).map_err(|e| ApiError::wrong(e.to_string()))?;
    let cmd = Command::ChangeLayout {
        collection: c.name.clone(),
        change: LayoutChange::CreateKey { key, placement },
    };
    commit(s, cmd, timeout).await?;
    Ok(json!(true))
}

pub async fn delete(
    t: Timer,
    State(s): State<AppState>,
    P(name): P<String>,
    Q(q): Q<CommitTimeout>,
    JsonBody(req): JsonBody<DropShardKey>,
) -> ApiResult<Response> {
    Ok(ok(t, drop_key(&s, &name, req, q.duration()).await?))
}

pub async fn drop_key(
    s: &AppState,
    name: &str,
    req: DropShardKey,
    timeout: Duration,
) -> ApiResult<Value> {
    let c = s.registry.get(name)?;
    let key = req.shard_key;
    if c.layout().shards_of_key(&key).is_empty() {
        return Err(ApiError::BadRequest(format!(
            "Bad request: Sharding key {key} does not exist for collection {}",
            c.name
        )));
    }
    let cmd = Command::ChangeLayout {
        collection: c.name.clone(),
        change: LayoutChange::DropKey { key },
    };
    commit(s, cmd, timeout).await?;
    Ok(json!(true))
}

/// Qdrant's `ShardKeysResponse`: `shard_keys` only for a custom-sharded collection.
pub async fn list(t: Timer, State(s): State<AppState>, P(name): P<String>) -> ApiResult<Response> {
    Ok(ok(
        t,
        match list_keys(&s, &name)? {
            None => json!({}),
            Some(keys) => {
                let keys: Vec<Value> = keys.into_iter().map(|k| json!({ "key": k })).collect();
                json!({ "shard_keys": keys })
            }
        },
    ))
}

/// The collection's shard keys in creation order (none with automatic sharding).
pub fn list_keys(s: &AppState, name: &str) -> ApiResult<Option<Vec<ShardKey>>> {
    let c = s.registry.get(name)?;
    Ok(c.custom_sharding().then(|| c.layout().shard_keys()))
}
