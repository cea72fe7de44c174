//! Routing of point ids to the shards of a group, and live resharding: adding a shard to a
//! group (`up`) or removing its last one (`down`) while reads and writes go on.
//!
//! Points are placed by jump consistent hashing (Lamping and Veach) over the group's shards
//! in id order, so a new last shard takes points only from the others, and removing the last
//! shard moves only its own points. Resharding runs in two stages, both in the layout:
//! - migrating: one transfer per (source shard, target replica), method
//!   `resharding_stream_records`, copies the moving points and forwards writes to them.
//!   Writes still route by the old group. Up: the new shard serves no reads. Down: the other
//!   shards hide the points they receive.
//! - cleanup: once every transfer is done, up switches routing to the grown group; the old
//!   shards hide the points that moved until each peer deleted them and said so. Down drops
//!   the removed shard at once. An aborted down also cleans up what the targets got.

use super::replicas::{Layout, LayoutError, ReplicaState, Transfer};
use super::shard_key::ShardKey;
use crate::segment::point_id::PointId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

pub const METHOD: &str = "resharding_stream_records";

/// How ids map to a group's shards. Layouts stored before resharding existed used `Mod`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HashKind {
    Mod,
    #[default]
    Jump,
}

pub fn legacy_hash() -> HashKind {
    HashKind::Mod
}

/// The position in `0..n` of a point hashed to `h` (n > 0).
pub fn position(kind: HashKind, h: u64, n: u32) -> u32 {
    match kind {
        HashKind::Mod => (h % n as u64) as u32,
        HashKind::Jump => jump(h, n),
    }
}

/// Jump consistent hash: the bucket in `0..n` of `key`.
fn jump(mut key: u64, n: u32) -> u32 {
    let (mut b, mut j) = (0i64, 0i64);
    while j < n as i64 {
        b = j;
        key = key.wrapping_mul(2862933555777941757).wrapping_add(1);
        j = ((b + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    b as u32
}

/// Points whose position among `count` shards is `index`: what a shard hides, a transfer
/// sends or a cleanup deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    pub count: u32,
    pub index: u32,
}

impl Slot {
    pub fn holds(&self, id: PointId) -> bool {
        jump(id.route_hash(), self.count) == self.index
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Up,
    Down,
}

/// A resharding in progress (one per collection).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resharding {
    pub direction: Direction,
    /// The new shard (up) or the one being removed (down).
    pub shard_id: u32,
    /// The new shard's first replica (up) or the source of the removed one (down).
    pub peer_id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<ShardKey>,
    /// Set in the cleanup stage: peers that still hold points their shards no longer own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleanup: Option<BTreeSet<u64>>,
}

impl Layout {
    /// Every shard of a group in id order, including one being added or removed: the shards
    /// of `key`, or those without a key.
    pub fn full_group(&self, key: Option<&ShardKey>) -> Vec<u32> {
        match key {
            Some(k) => self.shards_of_key(k),
            None => self
                .replicas
                .keys()
                .filter(|s| !self.keys.contains_key(s))
                .copied()
                .collect(),
        }
    }

    /// The shard being added while its points are still copied: no traffic routes to it.
    pub fn migrating_new_shard(&self) -> Option<u32> {
        match &self.resharding {
            Some(r) if r.direction == Direction::Up && r.cleanup.is_none() => Some(r.shard_id),
            _ => None,
        }
    }

    /// The shards a group's points route over.
    pub fn group(&self, key: Option<&ShardKey>) -> Vec<u32> {
        let mut g = self.full_group(key);
        if let Some(new) = self.migrating_new_shard() {
            g.retain(|s| *s != new);
        }
        g
    }

    /// Every shard that serves traffic, in id order.
    pub fn serving(&self) -> Vec<u32> {
        let new = self.migrating_new_shard();
        self.replicas
            .keys()
            .filter(|s| Some(**s) != new)
            .copied()
            .collect()
    }

    /// The shard of `group` that holds point `id`.
    pub fn route(&self, id: PointId, group: &[u32]) -> Option<u32> {
        let n = group.len() as u32;
        (n > 0).then(|| group[position(self.hash, id.route_hash(), n) as usize])
    }

    /// Points of `shard` that reads must not see: those a resharding moves away from it, or
    /// that it got but does not own yet.
    pub fn hidden(&self, shard: u32) -> Option<Slot> {
        let r = self.resharding.as_ref()?;
        if shard == r.shard_id || (r.direction == Direction::Up && r.cleanup.is_none()) {
            return None;
        }
        let g = self.full_group(r.key.as_ref());
        g.contains(&shard).then(|| last_slot(&g))
    }

    /// The points a resharding transfer sends (and forwards) to its target.
    pub fn sends(&self, t: &Transfer) -> Option<Slot> {
        let r = self.resharding.as_ref()?;
        let target = t.to_shard_id?;
        let g = self.full_group(r.key.as_ref());
        match r.direction {
            Direction::Up => Some(last_slot(&g)),
            Direction::Down => Some(Slot {
                count: g.len() as u32 - 1,
                index: g.iter().position(|s| *s == target)? as u32,
            }),
        }
    }

    /// The points a resharding transfer's target holds from an earlier attempt, dropped
    /// before it starts.
    pub fn earlier_copy(&self, t: &Transfer) -> Option<Slot> {
        let r = self.resharding.as_ref()?;
        let g = self.full_group(r.key.as_ref());
        match r.direction {
            Direction::Up => Some(Slot {
                count: g.len() as u32 - 1,
                index: g.iter().position(|s| *s == t.shard_id)? as u32,
            }),
            Direction::Down => Some(last_slot(&g)),
        }
    }

    fn is_resharding(t: &Transfer) -> bool {
        t.to_shard_id.is_some()
    }

    /// Starts resharding `key`'s group. Up: `peers` hold the new shard's replicas (the first
    /// is reported). Down: `peers[0]` is the source of the removed shard's points.
    pub(super) fn start_resharding(
        &mut self,
        direction: Direction,
        key: Option<&ShardKey>,
        peers: &[u64],
    ) -> Result<(), LayoutError> {
        if self.resharding.is_some() {
            return Err(LayoutError::Resharding);
        }
        if let Some(t) = self.transfers.first() {
            return Err(LayoutError::Busy(t.shard_id));
        }
        let g = self.full_group(key);
        if let Some(k) = key.filter(|_| g.is_empty()) {
            return Err(LayoutError::NoKey(k.to_string()));
        }
        if self.hash == HashKind::Mod {
            let keys = self.shard_keys();
            let mut groups = keys.iter().map(|k| self.shards_of_key(k));
            if self.full_group(None).len() > 1 || groups.any(|g| g.len() > 1) {
                return Err(LayoutError::LegacyHash);
            }
            self.hash = HashKind::Jump;
        }
        for s in &g {
            if self.replicas[s]
                .values()
                .any(|st| *st != ReplicaState::Active)
            {
                return Err(LayoutError::NotAllActive(*s));
            }
        }
        let Some(&first) = peers.first() else {
            return Err(LayoutError::NoPeer);
        };
        let transfer = |shard_id, from, to, to_shard| Transfer {
            shard_id,
            from,
            to,
            sync: true,
            method: METHOD.into(),
            recovery: false,
            to_shard_id: Some(to_shard),
            done: false,
        };
        let shard_id = match direction {
            Direction::Up => {
                let new = self.replicas.keys().max().map_or(0, |m| m + 1);
                for s in &g {
                    let from = self.peers_in(*s, ReplicaState::Active)[0];
                    for p in peers {
                        self.transfers.push(transfer(*s, from, *p, new));
                    }
                }
                let set = peers.iter().map(|p| (*p, ReplicaState::Partial)).collect();
                self.replicas.insert(new, set);
                if let Some(k) = key {
                    self.keys.insert(new, k.clone());
                }
                new
            }
            Direction::Down => {
                let [rest @ .., removed] = g.as_slice() else {
                    return Err(LayoutError::LastShard);
                };
                if rest.is_empty() {
                    return Err(LayoutError::LastShard);
                }
                if self.state(*removed, first) != Some(ReplicaState::Active) {
                    return Err(LayoutError::NoReplica(*removed, first));
                }
                for t in rest {
                    for p in self.peers_in(*t, ReplicaState::Active) {
                        self.transfers.push(transfer(*removed, first, p, *t));
                    }
                }
                *removed
            }
        };
        self.resharding = Some(Resharding {
            direction,
            shard_id,
            peer_id: first,
            key: key.cloned(),
            cleanup: None,
        });
        Ok(())
    }

    /// Ends one resharding transfer: done (routing switches once all are), or failed (the
    /// resharding is aborted).
    pub(super) fn finish_resharding_transfer(
        &mut self,
        pos: usize,
        success: bool,
    ) -> Result<(), LayoutError> {
        if !success {
            return self.abort_resharding();
        }
        self.transfers[pos].done = true;
        if self
            .transfers
            .iter()
            .filter(|t| Self::is_resharding(t))
            .all(|t| t.done)
        {
            self.switch();
        }
        Ok(())
    }

    fn switch(&mut self) {
        let Some(r) = self.resharding.clone() else {
            return;
        };
        self.transfers.retain(|t| !Self::is_resharding(t));
        self.epoch += 1;
        match r.direction {
            Direction::Up => {
                if let Some(m) = self.replicas.get_mut(&r.shard_id) {
                    m.values_mut().for_each(|s| *s = ReplicaState::Active);
                }
                self.enter_cleanup(&r);
            }
            Direction::Down => {
                self.replicas.remove(&r.shard_id);
                self.keys.remove(&r.shard_id);
                self.resharding = None;
            }
        }
    }

    /// Every peer holding a shard of the group (but the resharding one) must clean up.
    fn enter_cleanup(&mut self, r: &Resharding) {
        let peers: BTreeSet<u64> = self
            .full_group(r.key.as_ref())
            .iter()
            .filter(|s| **s != r.shard_id)
            .flat_map(|s| self.replicas[s].keys().copied())
            .collect();
        self.resharding = match peers.is_empty() {
            true => None,
            false => Some(Resharding {
                cleanup: Some(peers),
                ..r.clone()
            }),
        };
    }

    /// Stops a resharding that has not switched yet. Up: the new shard is dropped. Down: the
    /// other shards drop the points they got (cleanup stage).
    pub(super) fn abort_resharding(&mut self) -> Result<(), LayoutError> {
        let r = match &self.resharding {
            None => return Err(LayoutError::NoResharding),
            Some(r) if r.cleanup.is_some() => return Err(LayoutError::Switched),
            Some(r) => r.clone(),
        };
        self.transfers.retain(|t| !Self::is_resharding(t));
        match r.direction {
            Direction::Up => {
                self.replicas.remove(&r.shard_id);
                self.keys.remove(&r.shard_id);
                self.resharding = None;
            }
            Direction::Down => self.enter_cleanup(&r),
        }
        Ok(())
    }

    /// `peer` deleted the points its shards no longer own.
    pub(super) fn resharding_cleaned(&mut self, peer: u64) -> Result<(), LayoutError> {
        let Some(r) = &mut self.resharding else {
            return Err(LayoutError::NoResharding);
        };
        let Some(pending) = &mut r.cleanup else {
            return Err(LayoutError::NoResharding);
        };
        pending.remove(&peer);
        if pending.is_empty() {
            self.resharding = None;
        }
        Ok(())
    }

    /// A replica of `shard` on `peer` stopped taking writes: a resharding that copies from or
    /// into it cannot finish.
    pub(super) fn replica_lost(&mut self, shard: u32, peer: u64) {
        let involved = self.transfers.iter().any(|t| {
            Self::is_resharding(t)
                && ((t.shard_id == shard && t.from == peer)
                    || (t.to_shard_id == Some(shard) && t.to == peer))
        });
        if involved {
            let _ = self.abort_resharding();
        }
    }

    /// `peer` left the cluster: it has nothing left to clean up.
    pub(super) fn forget_in_resharding(&mut self, peer: u64) {
        let _ = self.resharding_cleaned(peer);
    }
}

/// The last position of a group (its new or removed shard).
fn last_slot(g: &[u32]) -> Slot {
    let count = g.len() as u32;
    Slot {
        count,
        index: count.saturating_sub(1),
    }
}

#[cfg(test)]
mod tests;
