//! Pure planning of the chores: which replicas to move so peers hold equal shares, which to
//! move off leaving peers, and which shards lack replicas. Deterministic for the same input,
//! so an interrupted chore that runs again plans the rest of the same work.

use std::collections::BTreeMap;

/// One replica transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Move {
    pub shard: u32,
    pub from: u64,
    pub to: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("shard {shard} of `{collection}` has no other peer to go to: the remaining peers cannot hold every shard at its replication factor")]
    NoRoom { collection: String, shard: u32 },
}

/// Replicas per peer among `peers` (peers without any count as 0).
fn loads(replicas: &[(u32, u64)], peers: &[u64]) -> BTreeMap<u64, usize> {
    let mut load: BTreeMap<u64, usize> = peers.iter().map(|p| (*p, 0)).collect();
    for (_, p) in replicas {
        if let Some(n) = load.get_mut(p) {
            *n += 1;
        }
    }
    load
}

fn holds(replicas: &[(u32, u64)], shard: u32, peer: u64) -> bool {
    replicas.contains(&(shard, peer))
}

/// Zone of each peer, where the topology is known (Kubernetes node label
/// `topology.kubernetes.io/zone`); peers without one count as zones of their own.
pub type Zones = BTreeMap<u64, String>;

/// Whether another replica of `shard` (not on `except`) is in `peer`'s zone.
fn zone_taken(replicas: &[(u32, u64)], zones: &Zones, shard: u32, peer: u64, except: u64) -> bool {
    let Some(z) = zones.get(&peer) else {
        return false;
    };
    replicas
        .iter()
        .any(|(s, p)| *s == shard && *p != except && *p != peer && zones.get(p) == Some(z))
}

/// The peer of `peers` that should get a replica of `shard` leaving `except`: not holding
/// it, in a zone without another replica of it if possible, least loaded (ties: lowest id).
fn target(
    replicas: &[(u32, u64)],
    peers: &[u64],
    shard: u32,
    zones: &Zones,
    except: u64,
) -> Option<u64> {
    let load = loads(replicas, peers);
    peers
        .iter()
        .filter(|p| !holds(replicas, shard, **p))
        .min_by_key(|p| {
            (
                zone_taken(replicas, zones, shard, **p, except),
                load[p],
                **p,
            )
        })
        .copied()
}

fn apply(state: &mut Vec<(u32, u64)>, m: &Move) {
    state.retain(|r| *r != (m.shard, m.from));
    state.push((m.shard, m.to));
}

/// Moves that put a replica sharing a zone with another replica of its shard into a zone
/// that has none, onto a peer no more loaded than its current one.
fn spread(state: &mut Vec<(u32, u64)>, peers: &[u64], zones: &Zones, out: &mut Vec<Move>) {
    for _ in 0..state.len() {
        let load = loads(state, peers);
        let step = state.iter().find_map(|&(shard, from)| {
            if !zone_taken(state, zones, shard, from, from) {
                return None;
            }
            let to = target(state, peers, shard, zones, from)?;
            let better = !zone_taken(state, zones, shard, to, from)
                && load[&to] <= load.get(&from).copied().unwrap_or(0);
            better.then_some(Move { shard, from, to })
        });
        let Some(m) = step else { return };
        apply(state, &m);
        out.push(m);
    }
}

/// Moves that leave every peer of `peers` holding the same number of replicas, give or
/// take one, never two replicas of a shard on one peer.
pub fn rebalance(replicas: &[(u32, u64)], peers: &[u64], zones: &Zones) -> Vec<Move> {
    let mut state = replicas.to_vec();
    let mut out = Vec::new();
    loop {
        let load = loads(&state, peers);
        let Some((&hi, &max)) = load
            .iter()
            .max_by_key(|(p, n)| (**n, std::cmp::Reverse(**p)))
        else {
            return out;
        };
        let mut by_load: Vec<(usize, u64)> = load.iter().map(|(p, n)| (*n, *p)).collect();
        by_load.sort();
        let step = by_load
            .iter()
            .take_while(|(n, _)| n + 1 < max)
            .find_map(|(_, lo)| {
                let mut shards: Vec<u32> = state
                    .iter()
                    .filter(|(_, p)| *p == hi)
                    .map(|(s, _)| *s)
                    .collect();
                shards.sort_by_key(|s| (zone_taken(&state, zones, *s, *lo, hi), *s));
                shards
                    .into_iter()
                    .find(|s| !holds(&state, *s, *lo))
                    .map(|shard| Move {
                        shard,
                        from: hi,
                        to: *lo,
                    })
            });
        let Some(m) = step else {
            spread(&mut state, peers, zones, &mut out);
            return out;
        };
        apply(&mut state, &m);
        out.push(m);
    }
}

/// Moves that empty `leaving`, onto the least loaded of `remaining`.
pub fn drain(
    collection: &str,
    replicas: &[(u32, u64)],
    leaving: u64,
    remaining: &[u64],
    zones: &Zones,
) -> Result<Vec<Move>, PlanError> {
    let mut state = replicas.to_vec();
    let mut shards: Vec<u32> = state
        .iter()
        .filter(|(_, p)| *p == leaving)
        .map(|(s, _)| *s)
        .collect();
    shards.sort();
    let mut out = Vec::new();
    for shard in shards {
        let to =
            target(&state, remaining, shard, zones, leaving).ok_or_else(|| PlanError::NoRoom {
                collection: collection.to_string(),
                shard,
            })?;
        state.retain(|r| *r != (shard, leaving));
        state.push((shard, to));
        out.push(Move {
            shard,
            from: leaving,
            to,
        });
    }
    Ok(out)
}

/// What recovery must do for one collection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Repair {
    /// Replications (`from` an active replica) that restore the replication factor.
    pub replicate: Vec<Move>,
    /// Shards with no active replica on a live peer.
    pub lost: Vec<u32>,
}

/// `replicas` are (shard, peer, active?) on live peers only; `alive` are the live peers.
pub fn repair(
    shards: &[u32],
    replicas: &[(u32, u64, bool)],
    factor: u32,
    alive: &[u64],
    zones: &Zones,
) -> Repair {
    let mut state: Vec<(u32, u64)> = replicas.iter().map(|(s, p, _)| (*s, *p)).collect();
    let mut out = Repair::default();
    for &shard in shards {
        let Some(from) = replicas
            .iter()
            .find(|(s, _, a)| *s == shard && *a)
            .map(|r| r.1)
        else {
            out.lost.push(shard);
            continue;
        };
        let have = state.iter().filter(|(s, _)| *s == shard).count();
        for _ in have..(factor as usize).min(alive.len()) {
            let Some(to) = target(&state, alive, shard, zones, 0) else {
                break;
            };
            state.push((shard, to));
            out.replicate.push(Move { shard, from, to });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn per_peer(replicas: &[(u32, u64)], moves: &[Move]) -> BTreeMap<u64, usize> {
        let mut state = replicas.to_vec();
        for m in moves {
            state.retain(|r| *r != (m.shard, m.from));
            assert!(
                !holds(&state, m.shard, m.to),
                "two replicas of {} on {}",
                m.shard,
                m.to
            );
            state.push((m.shard, m.to));
        }
        let mut out = BTreeMap::new();
        for (_, p) in state {
            *out.entry(p).or_default() += 1;
        }
        out
    }

    #[test]
    fn rebalance_spreads_onto_a_new_peer() {
        // 4 shards x RF 2 on peers 1 and 2; peer 3 joins.
        let replicas: Vec<(u32, u64)> = (0..4).flat_map(|s| [(s, 1), (s, 2)]).collect();
        let moves = rebalance(&replicas, &[1, 2, 3], &Zones::new());
        let counts = per_peer(&replicas, &moves);
        assert!(counts.values().all(|n| (2..=3).contains(n)), "{counts:?}");
        assert_eq!(moves.len(), 2);
        assert!(
            rebalance(&replicas, &[1, 2], &Zones::new()).is_empty(),
            "already balanced"
        );
    }

    #[test]
    fn drain_refuses_when_the_rest_cannot_hold_the_factor() {
        let replicas = vec![(0, 1), (0, 2), (1, 2), (1, 3)];
        let moves = drain("c", &replicas, 3, &[1, 2], &Zones::new()).unwrap();
        assert_eq!(
            moves,
            vec![Move {
                shard: 1,
                from: 3,
                to: 1
            }]
        );
        let err = drain("c", &replicas, 2, &[1], &Zones::new()).unwrap_err();
        assert_eq!(
            err,
            PlanError::NoRoom {
                collection: "c".into(),
                shard: 0
            }
        );
    }

    #[test]
    fn repair_restores_the_factor_and_reports_lost_shards() {
        // Shard 0 lost its replica on a dead peer, shard 1 lost both, shard 2 is fine.
        let live = vec![(0, 1, true), (2, 1, true), (2, 2, true)];
        let r = repair(&[0, 1, 2], &live, 2, &[1, 2, 4], &Zones::new());
        assert_eq!(r.lost, vec![1]);
        assert_eq!(
            r.replicate,
            vec![Move {
                shard: 0,
                from: 1,
                to: 4
            }]
        );
    }

    fn zones(z: &[(u64, &str)]) -> Zones {
        z.iter().map(|(p, z)| (*p, z.to_string())).collect()
    }

    #[test]
    fn zones_keep_replicas_of_a_shard_apart() {
        // Peers 1, 2 in zone a, 3, 4 in zone b. Shard 0 on 1 and 2 (both in a).
        let z = zones(&[(1, "a"), (2, "a"), (3, "b"), (4, "b")]);
        let replicas = vec![(0, 1), (0, 2), (1, 3), (1, 4)];
        let moves = rebalance(&replicas, &[1, 2, 3, 4], &z);
        let mut state = replicas.clone();
        moves.iter().for_each(|m| apply(&mut state, m));
        for shard in 0..2 {
            let zs: Vec<&String> = state
                .iter()
                .filter(|(s, _)| *s == shard)
                .map(|(_, p)| &z[p])
                .collect();
            assert_ne!(zs[0], zs[1], "shard {shard} in one zone after {moves:?}");
        }
        // Drain and repair prefer the zone that lacks the shard, even when more loaded.
        let replicas = vec![(0, 1), (0, 3), (1, 3), (2, 3)];
        assert_eq!(
            drain("c", &replicas, 1, &[2, 3, 4], &z).unwrap(),
            vec![Move {
                shard: 0,
                from: 1,
                to: 2
            }]
        );
        let live = vec![(0, 3, true)];
        let r = repair(&[0], &live, 2, &[1, 2, 3, 4], &z);
        assert_eq!(
            r.replicate,
            vec![Move {
                shard: 0,
                from: 3,
                to: 1
            }]
        );
    }
}
