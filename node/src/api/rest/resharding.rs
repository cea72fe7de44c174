//! `start_resharding` and `abort_resharding` of `POST /collections/{name}/cluster`: the
//! layout change to commit (peers chosen here), run by `cluster/reshard.rs`.

use super::error::{ApiError, ApiResult};
use super::AppState;
use crate::collection::replicas::{Layout, LayoutChange, ReplicaState};
use crate::collection::resharding::Direction;
use crate::collection::shard_key::ShardKey;
use crate::collection::Collection;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartResharding {
    pub direction: Direction,
    #[serde(default)]
    pub peer_id: Option<u64>,
    #[serde(default)]
    pub shard_key: Option<ShardKey>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AbortResharding {}

/// The start of a resharding. Up: the new shard gets the collection's replication factor
/// of replicas, on `peer_id` first, then on the peers holding the fewest replicas. Down:
/// the removed (last) shard's points are copied from `peer_id`, or its first active replica.
pub fn start(s: &AppState, c: &Collection, r: StartResharding) -> ApiResult<LayoutChange> {
    let members: Vec<u64> = s
        .consensus
        .as_ref()
        .map(|cs| cs.peers().into_keys().collect())
        .unwrap_or_default();
    if let Some(p) = r.peer_id.filter(|p| !members.contains(p)) {
        return Err(ApiError::wrong(format!(
            "peer {p} is not a member of the cluster"
        )));
    }
    let layout = c.layout();
    if let Some(k) = &r.shard_key {
        if layout.shards_of_key(k).is_empty() {
            return Err(ApiError::BadRequest(format!(
                "Bad request: Shard key {k} not found"
            )));
        }
    } else if c.custom_sharding() {
        return Err(ApiError::BadRequest(
            "Bad request: this collection is sharded by key: give `shard_key`".into(),
        ));
    }
    let peers = match r.direction {
        Direction::Up => {
            let rf = c.config().params.replication_factor.max(1) as usize;
            let mut by_load = least_loaded(&layout, &members);
            if let Some(p) = r.peer_id {
                by_load.retain(|q| *q != p);
                by_load.insert(0, p);
            }
            by_load.truncate(rf);
            by_load
        }
        Direction::Down => {
            let group = layout.full_group(r.shard_key.as_ref());
            let last = group.last().copied().unwrap_or_default();
            match r.peer_id {
                Some(p) => vec![p],
                None => layout
                    .peers_in(last, ReplicaState::Active)
                    .into_iter()
                    .take(1)
                    .collect(),
            }
        }
    };
    Ok(LayoutChange::StartResharding {
        direction: r.direction,
        key: r.shard_key,
        peers,
    })
}

/// Members by the number of replicas of this collection they hold, fewest first.
fn least_loaded(layout: &Layout, members: &[u64]) -> Vec<u64> {
    let mut load: BTreeMap<u64, usize> = members.iter().map(|p| (*p, 0)).collect();
    for replicas in layout.replicas.values() {
        for p in replicas.keys() {
            if let Some(n) = load.get_mut(p) {
                *n += 1;
            }
        }
    }
    let mut peers: Vec<(usize, u64)> = load.into_iter().map(|(p, n)| (n, p)).collect();
    peers.sort_unstable();
    peers.into_iter().map(|(_, p)| p).collect()
}
