//! Even placement of `shard_number × replication_factor` replicas over peers: no peer holds
//! two replicas of one shard, and replica counts per peer differ by at most one.

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    #[error("no peers to place shards on")]
    NoPeers,
    #[error("replication_factor {factor} exceeds the number of peers ({peers})")]
    TooFewPeers { factor: u32, peers: usize },
}

/// Replicas of each shard (index = shard id), each a list of distinct peer ids. Deterministic
/// for the same input, so it can be computed once by the proposer and stored through Raft.
pub fn place(
    peers: &[u64],
    shard_number: u32,
    replication_factor: u32,
) -> Result<Vec<Vec<u64>>, PlacementError> {
    place_more(peers, &BTreeMap::new(), shard_number, replication_factor)
}

/// Like `place`, for shards added next to existing ones: `load` is how many replicas each
/// peer already holds, and the least loaded peers get the new ones.
pub fn place_more(
    peers: &[u64],
    load: &BTreeMap<u64, usize>,
    shard_number: u32,
    replication_factor: u32,
) -> Result<Vec<Vec<u64>>, PlacementError> {
    let mut peers = peers.to_vec();
    peers.sort_unstable();
    peers.dedup();
    if peers.is_empty() {
        return Err(PlacementError::NoPeers);
    }
    if replication_factor as usize > peers.len() {
        return Err(PlacementError::TooFewPeers {
            factor: replication_factor,
            peers: peers.len(),
        });
    }
    let mut load: BTreeMap<u64, usize> = peers
        .iter()
        .map(|p| (*p, load.get(p).copied().unwrap_or(0)))
        .collect();
    let mut out = Vec::with_capacity(shard_number as usize);
    for shard in 0..shard_number as usize {
        let mut replicas = Vec::with_capacity(replication_factor as usize);
        for _ in 0..replication_factor {
            // Least loaded peer not yet holding this shard; ties broken by rotating from the
            // shard's index so equal loads still spread.
            let n = peers.len();
            let pick = (0..n)
                .map(|k| peers[(shard + k) % n])
                .filter(|p| !replicas.contains(p))
                .min_by_key(|p| load[p])
                .ok_or(PlacementError::NoPeers)?;
            *load.entry(pick).or_default() += 1;
            replicas.push(pick);
        }
        out.push(replicas);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(p: &[Vec<u64>]) -> BTreeMap<u64, usize> {
        let mut c = BTreeMap::new();
        for r in p.iter().flatten() {
            *c.entry(*r).or_default() += 1;
        }
        c
    }

    #[test]
    fn even_and_distinct() {
        for (peers, shards, rf) in [(3, 6, 2), (3, 4, 1), (5, 12, 3), (2, 7, 2), (4, 1, 1)] {
            let ids: Vec<u64> = (1..=peers).map(|i| i * 1000 + 7).collect();
            let p = place(&ids, shards, rf).unwrap();
            assert_eq!(p.len(), shards as usize);
            for r in &p {
                assert_eq!(r.len(), rf as usize);
                let mut d = r.clone();
                d.sort_unstable();
                d.dedup();
                assert_eq!(
                    d.len(),
                    r.len(),
                    "two replicas of one shard on a peer: {r:?}"
                );
            }
            let c = counts(&p);
            let (lo, hi) = (
                c.values().min().copied().unwrap_or(0),
                c.values().max().copied().unwrap_or(0),
            );
            let total = (shards * rf) as usize;
            if total >= peers as usize {
                assert!(hi - lo <= 1, "{peers} peers, {shards}x{rf}: {c:?}");
            }
            assert_eq!(place(&ids, shards, rf).unwrap(), p, "deterministic");
        }
    }

    #[test]
    fn errors() {
        assert_eq!(place(&[], 1, 1), Err(PlacementError::NoPeers));
        assert_eq!(
            place(&[1, 2], 3, 3),
            Err(PlacementError::TooFewPeers {
                factor: 3,
                peers: 2
            })
        );
    }

    #[test]
    fn added_shards_go_to_the_least_loaded_peers() {
        let load: BTreeMap<u64, usize> = [(1, 2), (2, 2), (3, 0)].into_iter().collect();
        let p = place_more(&[1, 2, 3], &load, 2, 1).unwrap();
        assert_eq!(p, vec![vec![3], vec![3]]);
        let p = place_more(&[1, 2, 3], &load, 3, 2).unwrap();
        let mut total = load.clone();
        for r in p.iter().flatten() {
            *total.get_mut(r).unwrap() += 1;
        }
        let (lo, hi) = (total.values().min().unwrap(), total.values().max().unwrap());
        assert!(hi - lo <= 1, "uneven after adding: {total:?}");
    }
}
