//! Where a collection's shards live: the replicas of each shard with their state, and the
//! shard transfers in progress. Kept in consensus, so it is the same on every peer.

use super::resharding::{legacy_hash, Direction, HashKind, Resharding};
use super::shard_key::{key_pairs, ShardKey};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A replica's state, with Qdrant's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReplicaState {
    /// Up to date; serves reads and writes.
    Active,
    /// Missed writes or failed a health check: no traffic until it is synced again.
    Dead,
    /// Being filled by a transfer: receives writes, serves no reads.
    Partial,
}

/// A shard transfer as `GET /collections/{name}/cluster` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    pub shard_id: u32,
    pub from: u64,
    pub to: u64,
    /// True when the source keeps its replica (replication, recovery), false for a move.
    pub sync: bool,
    pub method: String,
    /// The target was a `Dead` replica being re-synced: if the transfer fails it stays a
    /// (dead) replica; the target of any other failed transfer is dropped. Set on start.
    #[serde(default)]
    pub recovery: bool,
    /// A resharding transfer's target shard (the source's points move into another shard).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_shard_id: Option<u32>,
    /// A resharding transfer that copied everything; it forwards writes until the switch.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub done: bool,
}

/// A transfer's identity on its source peer: collection, source shard, target peer and
/// target shard (resharding).
pub type TransferKey = (String, u32, u64, Option<u32>);

impl Transfer {
    pub fn key(&self, collection: &str) -> TransferKey {
        (
            collection.to_string(),
            self.shard_id,
            self.to,
            self.to_shard_id,
        )
    }

    /// The same transfer (source, target and shards), whatever its progress.
    pub fn same(&self, other: &Transfer) -> bool {
        (self.shard_id, self.from, self.to, self.to_shard_id)
            == (other.shard_id, other.from, other.to, other.to_shard_id)
    }
}

/// Replicas per shard (shard id -> peer id -> state) and running transfers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Layout {
    #[serde(with = "as_pairs")]
    pub replicas: BTreeMap<u32, BTreeMap<u64, ReplicaState>>,
    #[serde(default)]
    pub transfers: Vec<Transfer>,
    /// Changes applied so far: the same on every peer that applied the same log. A write
    /// routed with an older version is refused by a replica (the router retries).
    #[serde(default)]
    pub version: u64,
    /// The shard key of each shard of a custom-sharded collection.
    #[serde(
        default,
        with = "key_pairs",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub keys: BTreeMap<u32, ShardKey>,
    /// How point ids map to a group's shards.
    #[serde(default = "legacy_hash")]
    pub hash: HashKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resharding: Option<Resharding>,
    /// Bumped when the shard a point id routes to changes (a resharding switched): a write
    /// split under another epoch must be split again.
    #[serde(default)]
    pub epoch: u64,
}

impl Layout {
    /// All replicas `Active` where a placement (peers of each shard) puts them.
    pub fn from_placement(placement: &[Vec<u64>]) -> Layout {
        let replicas = placement
            .iter()
            .enumerate()
            .map(|(shard, peers)| {
                let set = peers.iter().map(|p| (*p, ReplicaState::Active)).collect();
                (shard as u32, set)
            })
            .collect();
        Layout {
            replicas,
            ..Layout::default()
        }
    }

    /// All shards on one peer: a single-node collection.
    pub fn single(peer: u64, shard_number: u32) -> Layout {
        let placement: Vec<Vec<u64>> = (0..shard_number).map(|_| vec![peer]).collect();
        Layout::from_placement(&placement)
    }

    pub fn state(&self, shard: u32, peer: u64) -> Option<ReplicaState> {
        self.replicas.get(&shard)?.get(&peer).copied()
    }

    /// Peers holding `shard` in `state`, in peer id order.
    pub fn peers_in(&self, shard: u32, state: ReplicaState) -> Vec<u64> {
        self.replicas
            .get(&shard)
            .map(|m| {
                m.iter()
                    .filter(|(_, s)| **s == state)
                    .map(|(p, _)| *p)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Shards with a replica on `peer`.
    pub fn shards_on(&self, peer: u64) -> Vec<u32> {
        self.replicas
            .iter()
            .filter(|(_, m)| m.contains_key(&peer))
            .map(|(s, _)| *s)
            .collect()
    }

    /// Drops a peer's replicas (a shard may be left with none) and its transfers, whose
    /// other side goes back to what it was (a partial target is dropped, or dead when it
    /// was being recovered). Returns whether anything changed.
    pub fn forget(&mut self, peer: u64) -> bool {
        let before = self.clone();
        let gone: Vec<Transfer> = self
            .transfers
            .iter()
            .filter(|t| t.from == peer || t.to == peer)
            .cloned()
            .collect();
        for t in gone {
            let _ = self.apply(&LayoutChange::FinishTransfer {
                shard_id: t.shard_id,
                from: t.from,
                to: t.to,
                to_shard_id: t.to_shard_id,
                success: false,
            });
        }
        for replicas in self.replicas.values_mut() {
            replicas.remove(&peer);
        }
        self.forget_in_resharding(peer);
        let changed = *self != before;
        if changed {
            self.version = before.version + 1;
        }
        changed
    }

    pub fn transfer_of(&self, shard: u32) -> Option<&Transfer> {
        self.transfers.iter().find(|t| t.shard_id == shard)
    }
}

/// Maps with integer keys as lists of pairs: JSON object keys are strings, which serde
/// cannot turn back into integers inside the internally tagged `Command`.
mod as_pairs {
    use super::ReplicaState;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    type Pairs = Vec<(u32, Vec<(u64, ReplicaState)>)>;

    pub fn serialize<S: Serializer>(
        m: &BTreeMap<u32, BTreeMap<u64, ReplicaState>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let v: Pairs = m
            .iter()
            .map(|(k, r)| (*k, r.iter().map(|(p, st)| (*p, *st)).collect()))
            .collect();
        v.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<u32, BTreeMap<u64, ReplicaState>>, D::Error> {
        let v = Pairs::deserialize(d)?;
        Ok(v.into_iter()
            .map(|(k, r)| (k, r.into_iter().collect()))
            .collect())
    }
}

/// A change of the layout, applied in log order on every peer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum LayoutChange {
    /// Sets a replica's state if it currently is `from` (any state when `from` is empty).
    /// Refused when it would leave the shard without an active replica.
    SetState {
        shard_id: u32,
        peer_id: u64,
        state: ReplicaState,
        from: Option<ReplicaState>,
    },
    /// Starts a transfer: the target replica becomes `Partial` (added when missing).
    StartTransfer {
        transfer: Transfer,
    },
    /// Adds `peer_id` as a `Partial` replica of a shard that has no active replica left, to
    /// be filled from a snapshot.
    Restore {
        shard_id: u32,
        peer_id: u64,
    },
    /// Removes a replica (never the last active one, nor one in a running transfer).
    DropReplica {
        shard_id: u32,
        peer_id: u64,
    },
    /// Ends a transfer. Success: the target is `Active`, and for a move the source replica is
    /// dropped. Failure: a target that existed before is `Dead`, a new one is dropped.
    FinishTransfer {
        shard_id: u32,
        from: u64,
        to: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to_shard_id: Option<u32>,
        success: bool,
    },
    /// Adds a shard key with one new shard per entry of `placement` (its replicas' peers).
    CreateKey {
        key: ShardKey,
        placement: Vec<Vec<u64>>,
    },
    /// Removes a shard key, its shards and their data.
    DropKey {
        key: ShardKey,
    },
    /// Adds a shard to a group or removes its last one (`resharding.rs`).
    StartResharding {
        direction: Direction,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<ShardKey>,
        peers: Vec<u64>,
    },
    AbortResharding,
    /// A peer deleted the points a resharding moved away from its shards.
    ReshardingCleaned {
        peer_id: u64,
    },
}

/// Why a layout change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    #[error("Wrong input: shard {0} does not exist")]
    NoShard(u32),
    #[error("Wrong input: peer {1} holds no replica of shard {0}")]
    NoReplica(u32, u64),
    #[error("replica of shard {0} on peer {1} is {2:?}, not {3:?}")]
    StateChanged(u32, u64, ReplicaState, ReplicaState),
    #[error(
        "Wrong input: a collection must contain at least one active replica of a shard (shard {0})"
    )]
    LastActive(u32),
    #[error("Wrong input: shard {0} is already being transferred")]
    Busy(u32),
    #[error("Wrong input: no transfer of shard {0} from {1} to {2}")]
    NoTransfer(u32, u64, u64),
    #[error("Wrong input: shard {0} still has an active replica: replicate it instead")]
    StillActive(u32),
    #[error("Wrong input: peer {1} already holds a replica of shard {0}")]
    AlreadyHeld(u32, u64),
    #[error("Bad request: Sharding key {0} already exists")]
    KeyExists(String),
    #[error("Bad request: Sharding key {0} does not exist")]
    NoKey(String),
    #[error("Bad request: resharding is already in progress")]
    Resharding,
    #[error("Bad request: resharding is not in progress")]
    NoResharding,
    #[error(
        "Bad request: resharding already switched to the new shards; only its cleanup remains"
    )]
    Switched,
    #[error("Bad request: this collection was created before resharding existed and routes points by a hash that cannot be resharded; recreate it from a snapshot to reshard")]
    LegacyHash,
    #[error("Bad request: every replica of shard {0} must be active to reshard")]
    NotAllActive(u32),
    #[error("Bad request: cannot remove the last shard")]
    LastShard,
    #[error("Bad request: no peer to place the new shard on")]
    NoPeer,
}

impl Layout {
    /// Applies `change` and counts it in `version`, or refuses it and changes nothing.
    pub fn apply(&mut self, change: &LayoutChange) -> Result<(), LayoutError> {
        self.apply_change(change)?;
        self.version += 1;
        Ok(())
    }

    fn apply_change(&mut self, change: &LayoutChange) -> Result<(), LayoutError> {
        let blocked = matches!(
            change,
            LayoutChange::StartTransfer { .. }
                | LayoutChange::Restore { .. }
                | LayoutChange::DropReplica { .. }
                | LayoutChange::CreateKey { .. }
                | LayoutChange::DropKey { .. }
        );
        if blocked && self.resharding.is_some() {
            return Err(LayoutError::Resharding);
        }
        match change {
            LayoutChange::SetState {
                shard_id,
                peer_id,
                state,
                from,
            } => {
                let shard = *shard_id;
                let current = self.existing(shard, *peer_id)?;
                if let Some(f) = from {
                    if *f != current {
                        return Err(LayoutError::StateChanged(shard, *peer_id, current, *f));
                    }
                }
                let active = self.peers_in(shard, ReplicaState::Active);
                if current == ReplicaState::Active
                    && *state != ReplicaState::Active
                    && active.len() <= 1
                {
                    return Err(LayoutError::LastActive(shard));
                }
                self.set(shard, *peer_id, *state);
                if *state == ReplicaState::Dead {
                    self.replica_lost(shard, *peer_id);
                }
                Ok(())
            }
            LayoutChange::StartTransfer { transfer } => {
                let shard = transfer.shard_id;
                let source = self.existing(shard, transfer.from)?;
                if source != ReplicaState::Active {
                    return Err(LayoutError::StateChanged(
                        shard,
                        transfer.from,
                        source,
                        ReplicaState::Active,
                    ));
                }
                if self.transfer_of(shard).is_some() {
                    return Err(LayoutError::Busy(shard));
                }
                match self.state(shard, transfer.to) {
                    Some(ReplicaState::Dead) | None => {}
                    Some(_) => return Err(LayoutError::AlreadyHeld(shard, transfer.to)),
                }
                let recovery = self.state(shard, transfer.to) == Some(ReplicaState::Dead);
                self.set(shard, transfer.to, ReplicaState::Partial);
                self.transfers.push(Transfer {
                    recovery,
                    ..transfer.clone()
                });
                Ok(())
            }
            LayoutChange::Restore { shard_id, peer_id } => {
                let shard = *shard_id;
                if !self.replicas.contains_key(&shard) {
                    return Err(LayoutError::NoShard(shard));
                }
                if !self.peers_in(shard, ReplicaState::Active).is_empty() {
                    return Err(LayoutError::StillActive(shard));
                }
                self.set(shard, *peer_id, ReplicaState::Partial);
                Ok(())
            }
            LayoutChange::DropReplica { shard_id, peer_id } => {
                let shard = *shard_id;
                let state = self.existing(shard, *peer_id)?;
                if self.transfer_of(shard).is_some() {
                    return Err(LayoutError::Busy(shard));
                }
                let active = self.peers_in(shard, ReplicaState::Active);
                if state == ReplicaState::Active && active.len() <= 1 {
                    return Err(LayoutError::LastActive(shard));
                }
                self.remove(shard, *peer_id);
                Ok(())
            }
            LayoutChange::FinishTransfer {
                shard_id,
                from,
                to,
                to_shard_id,
                success,
            } => {
                let pos = self
                    .transfers
                    .iter()
                    .position(|t| {
                        t.shard_id == *shard_id
                            && t.from == *from
                            && t.to == *to
                            && t.to_shard_id == *to_shard_id
                    })
                    .ok_or(LayoutError::NoTransfer(*shard_id, *from, *to))?;
                if to_shard_id.is_some() {
                    return self.finish_resharding_transfer(pos, *success);
                }
                let t = self.transfers.remove(pos);
                if *success {
                    self.set(t.shard_id, t.to, ReplicaState::Active);
                    if !t.sync {
                        self.remove(t.shard_id, t.from);
                    }
                } else if t.recovery {
                    self.set(t.shard_id, t.to, ReplicaState::Dead);
                } else {
                    self.remove(t.shard_id, t.to);
                }
                Ok(())
            }
            LayoutChange::CreateKey { key, placement } => self.create_key(key, placement),
            LayoutChange::DropKey { key } => self.drop_key(key),
            LayoutChange::StartResharding {
                direction,
                key,
                peers,
            } => self.start_resharding(*direction, key.as_ref(), peers),
            LayoutChange::AbortResharding => self.abort_resharding(),
            LayoutChange::ReshardingCleaned { peer_id } => self.resharding_cleaned(*peer_id),
        }
    }

    fn existing(&self, shard: u32, peer: u64) -> Result<ReplicaState, LayoutError> {
        let replicas = self
            .replicas
            .get(&shard)
            .ok_or(LayoutError::NoShard(shard))?;
        replicas
            .get(&peer)
            .copied()
            .ok_or(LayoutError::NoReplica(shard, peer))
    }

    fn set(&mut self, shard: u32, peer: u64, state: ReplicaState) {
        self.replicas.entry(shard).or_default().insert(peer, state);
    }

    fn remove(&mut self, shard: u32, peer: u64) {
        if let Some(m) = self.replicas.get_mut(&shard) {
            m.remove(&peer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        Layout::from_placement(&[vec![1, 2], vec![2, 3]])
    }

    fn transfer(shard_id: u32, from: u64, to: u64, sync: bool) -> Transfer {
        Transfer {
            shard_id,
            from,
            to,
            sync,
            method: "stream_records".into(),
            recovery: false,
            to_shard_id: None,
            done: false,
        }
    }

    fn dead(shard_id: u32, peer_id: u64) -> LayoutChange {
        LayoutChange::SetState {
            shard_id,
            peer_id,
            state: ReplicaState::Dead,
            from: None,
        }
    }

    #[test]
    fn layout_survives_json_inside_a_tagged_enum() {
        #[derive(Serialize, Deserialize)]
        #[serde(tag = "op")]
        enum Wrap {
            L { layout: Layout },
        }
        let json = serde_json::to_string(&Wrap::L { layout: layout() }).unwrap();
        let Wrap::L { layout: back } = serde_json::from_str(&json).unwrap();
        assert_eq!(back, layout());
    }

    #[test]
    fn last_active_replica_is_never_marked_dead() {
        let mut l = layout();
        l.apply(&dead(0, 1)).unwrap();
        assert_eq!(l.state(0, 1), Some(ReplicaState::Dead));
        assert_eq!(l.apply(&dead(0, 2)), Err(LayoutError::LastActive(0)));
        assert_eq!(l.peers_in(0, ReplicaState::Active), vec![2]);
        assert_eq!(l.apply(&dead(5, 1)), Err(LayoutError::NoShard(5)));
        assert_eq!(l.apply(&dead(0, 3)), Err(LayoutError::NoReplica(0, 3)));
    }

    #[test]
    fn recovery_transfer_goes_partial_then_active_or_back_to_dead() {
        let mut l = layout();
        l.apply(&dead(1, 3)).unwrap();
        let t = transfer(1, 2, 3, true);
        l.apply(&LayoutChange::StartTransfer {
            transfer: t.clone(),
        })
        .unwrap();
        assert_eq!(l.state(1, 3), Some(ReplicaState::Partial));
        assert_eq!(
            l.apply(&LayoutChange::StartTransfer {
                transfer: t.clone()
            }),
            Err(LayoutError::Busy(1))
        );
        let finish = |success| LayoutChange::FinishTransfer {
            shard_id: 1,
            from: 2,
            to: 3,
            to_shard_id: None,
            success,
        };
        l.apply(&finish(false)).unwrap();
        assert_eq!(l.state(1, 3), Some(ReplicaState::Dead));
        l.apply(&LayoutChange::StartTransfer { transfer: t })
            .unwrap();
        l.apply(&finish(true)).unwrap();
        assert_eq!(l.state(1, 3), Some(ReplicaState::Active));
        assert_eq!(l.state(1, 2), Some(ReplicaState::Active));
        assert!(l.transfers.is_empty());
    }

    #[test]
    fn every_applied_change_and_only_those_bump_the_version() {
        let mut l = layout();
        assert_eq!(l.version, 0);
        l.apply(&LayoutChange::StartTransfer {
            transfer: transfer(0, 1, 3, false),
        })
        .unwrap();
        assert_eq!(l.version, 1);
        let refused = LayoutChange::DropReplica {
            shard_id: 0,
            peer_id: 2,
        };
        assert!(l.apply(&refused).is_err());
        assert_eq!(l.version, 1, "a refused change is not counted");
        assert!(l.forget(3));
        assert_eq!(
            l.version, 2,
            "a removal (with its aborted transfer) is one change"
        );
        assert!(!l.forget(9));
        assert_eq!(l.version, 2);
    }

    #[test]
    fn a_move_drops_the_source() {
        let mut l = layout();
        let t = transfer(0, 1, 3, false);
        l.apply(&LayoutChange::StartTransfer { transfer: t })
            .unwrap();
        l.apply(&LayoutChange::FinishTransfer {
            shard_id: 0,
            from: 1,
            to: 3,
            to_shard_id: None,
            success: true,
        })
        .unwrap();
        assert_eq!(l.shards_on(1), Vec::<u32>::new());
        assert_eq!(l.peers_in(0, ReplicaState::Active), vec![2, 3]);
    }

    #[test]
    fn a_failed_replication_drops_its_target_and_drop_replica_keeps_one_active() {
        let mut l = layout();
        let t = transfer(0, 1, 3, true);
        l.apply(&LayoutChange::StartTransfer {
            transfer: t.clone(),
        })
        .unwrap();
        let drop = |peer_id| LayoutChange::DropReplica {
            shard_id: 0,
            peer_id,
        };
        assert_eq!(l.apply(&drop(2)), Err(LayoutError::Busy(0)));
        l.apply(&LayoutChange::FinishTransfer {
            shard_id: 0,
            from: 1,
            to: 3,
            to_shard_id: None,
            success: false,
        })
        .unwrap();
        assert_eq!(l.state(0, 3), None);
        let held = LayoutChange::StartTransfer {
            transfer: Transfer { to: 2, ..t },
        };
        assert_eq!(l.apply(&held), Err(LayoutError::AlreadyHeld(0, 2)));
        l.apply(&drop(2)).unwrap();
        assert_eq!(l.apply(&drop(1)), Err(LayoutError::LastActive(0)));
    }
}
