//! The cluster chores Qdrant leaves to humans, driven through a node's REST API: rebalance
//! shards over all peers, drain a peer and remove it, recover from dead peers. The CLI
//! subcommands and the controller call the same functions; every chore plans from the
//! cluster's current state, so running it again after an interruption finishes the job.

pub mod client;
pub mod plan;
pub mod reshard;

pub use reshard::reshard;

use client::{Layout, NodeClient, NodeError};
use plan::{Move, PlanError};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum ChoreError {
    #[error(transparent)]
    Node(#[from] NodeError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("peer {0} is not a member of the cluster")]
    UnknownPeer(u64),
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(Duration, String),
    #[error("shards with no live replica: {0}")]
    Lost(String),
    #[error("{0}")]
    Refused(String),
}

/// What a chore did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub moved: usize,
    pub replicated: usize,
    pub removed: Vec<u64>,
}

/// How a chore runs: transfers at a time, how long one may take, where progress goes.
pub struct Options<'a> {
    pub parallel: usize,
    /// Zones of the peers, when known: replicas of a shard are kept in different zones.
    pub zones: plan::Zones,
    pub transfer_timeout: Duration,
    /// Where to restore shards whose every replica is gone: a snapshot URL (http:// or
    /// file://) with `{collection}` in it. Without it such shards are reported, not restored.
    pub snapshot_location: Option<String>,
    pub say: &'a (dyn Fn(&str) + Send + Sync),
    /// One line on the running transfers, each time it changes (a terminal redraws it).
    pub progress: &'a (dyn Fn(&str) + Send + Sync),
}

impl std::fmt::Debug for Options<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("parallel", &self.parallel)
            .finish()
    }
}

fn pairs(l: &Layout) -> Vec<(u32, u64)> {
    l.replicas.iter().map(|r| (r.shard, r.peer)).collect()
}

/// The progress of a batch of transfers: a bar per transfer whose source reports it.
fn progress_line(name: &str, batch: &[Move], l: &Layout) -> String {
    const WIDTH: u64 = 20;
    let parts: Vec<String> = batch
        .iter()
        .map(|m| {
            let head = format!("{name} shard {} → {}", m.shard, m.to);
            let found = l.copied.iter().find(|p| p.0 == m.shard && p.1 == m.to);
            match found {
                Some(&(_, _, done, total)) if total > 0 => {
                    let filled = (done.min(total) * WIDTH / total) as usize;
                    let bar = format!(
                        "{}{}",
                        "#".repeat(filled),
                        ".".repeat(WIDTH as usize - filled)
                    );
                    format!(
                        "{head} [{bar}] {}% ({done}/{total} points)",
                        done * 100 / total
                    )
                }
                _ if l.moving.iter().any(|(s, _)| *s == m.shard) => format!("{head} copying"),
                _ => format!("{head} switching"),
            }
        })
        .collect();
    parts.join(" | ")
}

/// Runs transfers of one collection, at most `parallel` at a time and never two of a shard
/// at once, waiting for each until its target holds an active replica.
async fn execute(
    c: &NodeClient,
    name: &str,
    kind: &str,
    moves: &[Move],
    o: &Options<'_>,
) -> Result<(), ChoreError> {
    let mut todo: Vec<Move> = moves.to_vec();
    while !todo.is_empty() {
        let mut batch: Vec<Move> = Vec::new();
        todo.retain(|m| {
            let free = batch.len() < o.parallel.max(1) && batch.iter().all(|b| b.shard != m.shard);
            if free {
                batch.push(*m);
            }
            !free
        });
        for m in &batch {
            (o.say)(&format!(
                "{kind} {name} shard {} from {} to {}",
                m.shard, m.from, m.to
            ));
            c.transfer(name, kind, m.shard, m.from, m.to).await?;
        }
        let deadline = Instant::now() + o.transfer_timeout;
        let mut shown = String::new();
        loop {
            let l = c.layout(name).await?;
            let line = progress_line(name, &batch, &l);
            if line != shown {
                (o.progress)(&line);
                shown = line;
            }
            let done = batch.iter().all(|m| {
                let active = l
                    .replicas
                    .iter()
                    .any(|r| r.shard == m.shard && r.peer == m.to && r.state == "Active");
                active && !l.moving.iter().any(|(s, _)| *s == m.shard)
            });
            if done {
                break;
            }
            let failed = batch.iter().find(|m| {
                !l.moving.iter().any(|(s, _)| *s == m.shard)
                    && !l
                        .replicas
                        .iter()
                        .any(|r| r.shard == m.shard && r.peer == m.to)
            });
            if let Some(m) = failed {
                // The node aborted it (a peer died, or someone aborted it): plan again later.
                return Err(ChoreError::Timeout(
                    Duration::ZERO,
                    format!(
                        "transfer of shard {} to {} (aborted by the cluster)",
                        m.shard, m.to
                    ),
                ));
            }
            if Instant::now() > deadline {
                return Err(ChoreError::Timeout(
                    o.transfer_timeout,
                    format!("transfers of `{name}`"),
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}

/// Moves replicas until every peer holds the same number, give or take one.
pub async fn rebalance(c: &NodeClient, o: &Options<'_>) -> Result<Report, ChoreError> {
    let (_, peers) = c.cluster().await?;
    let peers: Vec<u64> = peers.keys().copied().collect();
    let mut report = Report::default();
    for name in c.collections().await? {
        let moves = plan::rebalance(&pairs(&c.layout(&name).await?), &peers, &o.zones);
        execute(c, &name, "move_shard", &moves, o).await?;
        report.moved += moves.len();
    }
    (o.say)(&format!("rebalanced: {} replicas moved", report.moved));
    Ok(report)
}

/// Moves every replica off `leaving` onto the other peers (refusing before any move when
/// they cannot hold them), then removes those peers. Peers already gone are skipped, so an
/// interrupted drain resumes where it stopped.
pub async fn drain(c: &NodeClient, leaving: &[u64], o: &Options<'_>) -> Result<Report, ChoreError> {
    let (_, peers) = c.cluster().await?;
    let leaving: Vec<u64> = leaving
        .iter()
        .copied()
        .filter(|p| peers.contains_key(p))
        .collect();
    let remaining: Vec<u64> = peers
        .keys()
        .copied()
        .filter(|p| !leaving.contains(p))
        .collect();
    let mut plans = Vec::new();
    for name in c.collections().await? {
        let mut replicas = pairs(&c.layout(&name).await?);
        for peer in &leaving {
            let moves = plan::drain(&name, &replicas, *peer, &remaining, &o.zones)?;
            for m in &moves {
                replicas.retain(|r| *r != (m.shard, m.from));
                replicas.push((m.shard, m.to));
            }
            plans.push((name.clone(), moves));
        }
    }
    let mut report = Report::default();
    for (name, moves) in plans {
        execute(c, &name, "move_shard", &moves, o).await?;
        report.moved += moves.len();
    }
    for peer in leaving {
        (o.say)(&format!("peer {peer} holds no shards; removing it"));
        c.remove_peer(peer, false).await?;
        report.removed.push(peer);
    }
    Ok(report)
}

/// Peers that hold no replica of any collection while some collection exists: new peers.
pub async fn empty_peers(c: &NodeClient) -> Result<Vec<u64>, ChoreError> {
    let (_, peers) = c.cluster().await?;
    let names = c.collections().await?;
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let mut holding = BTreeSet::new();
    for name in &names {
        holding.extend(c.layout(name).await?.replicas.iter().map(|r| r.peer));
    }
    Ok(peers.into_keys().filter(|p| !holding.contains(p)).collect())
}

/// Replicas that are not `Active`, and running transfers, across all collections.
pub async fn unsettled(c: &NodeClient) -> Result<Vec<String>, ChoreError> {
    let mut out = Vec::new();
    for name in c.collections().await? {
        let l = c.layout(&name).await?;
        out.extend(
            l.replicas
                .iter()
                .filter(|r| r.state != "Active")
                .map(|r| format!("{name}/{} on peer {}: {}", r.shard, r.peer, r.state)),
        );
        if l.transfers > 0 {
            out.push(format!("{name}: {} transfers running", l.transfers));
        }
    }
    Ok(out)
}

/// Peers holding replicas that are all `Dead` (and not being re-synced), or that the node's
/// health checks see down.
pub async fn dead_candidates(c: &NodeClient) -> Result<BTreeSet<u64>, ChoreError> {
    let mut states: BTreeMap<u64, (usize, usize)> = BTreeMap::new();
    for name in c.collections().await? {
        let l = c.layout(&name).await?;
        for r in &l.replicas {
            let e = states.entry(r.peer).or_default();
            e.0 += 1;
            if r.state == "Dead"
                && !l
                    .moving
                    .iter()
                    .any(|(s, to)| *s == r.shard && *to == r.peer)
            {
                e.1 += 1;
            }
        }
    }
    // A peer holding the last copy of a shard keeps it `Active`: the node's health checks
    // tell whether it is gone too.
    let down = c.unreachable().await?;
    Ok(states
        .into_iter()
        .filter(|(p, (all, dead))| all == dead || down.contains(p))
        .map(|(p, _)| p)
        .collect())
}

/// Peers that stayed dead (every replica `Dead`) for `dead_after`.
pub async fn dead_peers(c: &NodeClient, dead_after: Duration) -> Result<BTreeSet<u64>, ChoreError> {
    let started = Instant::now();
    let mut dead = dead_candidates(c).await?;
    while !dead.is_empty() && started.elapsed() < dead_after {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = dead_candidates(c).await?;
        dead.retain(|p| now.contains(p));
    }
    Ok(dead)
}

/// Restores one collection's replication factor on `alive` peers; returns the replicas added
/// and the shards with no live replica.
async fn repair_collection(
    c: &NodeClient,
    name: &str,
    alive: &[u64],
    o: &Options<'_>,
) -> Result<(usize, Vec<u32>), ChoreError> {
    let l = c.layout(name).await?;
    let factor = c.replication_factor(name).await?;
    let live: Vec<(u32, u64, bool)> = l
        .replicas
        .iter()
        .filter(|r| alive.contains(&r.peer))
        .map(|r| (r.shard, r.peer, r.state == "Active"))
        .collect();
    let repair = plan::repair(&l.shards, &live, factor, alive, &o.zones);
    execute(c, name, "replicate_shard", &repair.replicate, o).await?;
    Ok((repair.replicate.len(), repair.lost))
}

/// Removes peers dead for `dead_after` (unless one holds the last copy of a shard and no
/// snapshot location is given), restores shards with no replica left from the snapshot
/// location, and every collection's replication factor on the live peers.
pub async fn recover(
    c: &NodeClient,
    dead_after: Duration,
    o: &Options<'_>,
) -> Result<Report, ChoreError> {
    let dead = dead_peers(c, dead_after).await?;
    let (_, peers) = c.cluster().await?;
    let alive: Vec<u64> = peers
        .keys()
        .copied()
        .filter(|p| !dead.contains(p))
        .collect();
    let mut report = Report::default();
    let mut lost = Vec::new();
    let names = c.collections().await?;
    let mut layouts = Vec::with_capacity(names.len());
    for name in &names {
        layouts.push(c.layout(name).await?);
    }
    for peer in &dead {
        // Removing dead peers changes no live replica, so one read of the layouts serves all.
        let last_copy = layouts.iter().any(|l| {
            let on_live = |shard: u32| {
                l.replicas
                    .iter()
                    .any(|r| r.shard == shard && alive.contains(&r.peer) && r.state == "Active")
            };
            l.replicas
                .iter()
                .any(|r| r.peer == *peer && !on_live(r.shard))
        });
        if last_copy && o.snapshot_location.is_none() {
            (o.say)(&format!(
                "peer {peer} is dead but holds the last copy of a shard: not removed"
            ));
            continue;
        }
        (o.say)(&format!("removing dead peer {peer}"));
        c.remove_peer(*peer, true).await?;
        report.removed.push(*peer);
    }
    for round in 0..2 {
        lost.clear();
        for name in &names {
            let (replicated, lost_here) = repair_collection(c, name, &alive, o).await?;
            report.replicated += replicated;
            lost.extend(lost_here.iter().map(|s| format!("{name}/{s}")));
            if let (false, Some(template), 0) = (lost_here.is_empty(), &o.snapshot_location, round)
            {
                let location = template.replace("{collection}", name);
                (o.say)(&format!(
                    "restoring `{name}` shards {lost_here:?} from {location}"
                ));
                c.recover_snapshot(name, &location).await?;
            }
        }
        if lost.is_empty() || o.snapshot_location.is_none() {
            break;
        }
    }
    (o.say)(&format!(
        "recovered: {} peers removed, {} replicas added",
        report.removed.len(),
        report.replicated
    ));
    if !lost.is_empty() {
        return Err(ChoreError::Lost(lost.join(", ")));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_line_shows_a_bar_where_the_source_reports_counts() {
        let batch = [
            Move {
                shard: 1,
                from: 10,
                to: 20,
            },
            Move {
                shard: 2,
                from: 10,
                to: 30,
            },
            Move {
                shard: 3,
                from: 10,
                to: 30,
            },
        ];
        let l = Layout {
            shards: vec![1, 2, 3],
            replicas: vec![],
            transfers: 2,
            moving: vec![(1, 20), (2, 30)],
            copied: vec![(1, 20, 250, 1000)],
        };
        assert_eq!(
            progress_line("c", &batch, &l),
            "c shard 1 → 20 [#####...............] 25% (250/1000 points) \
             | c shard 2 → 30 copying | c shard 3 → 30 switching"
        );
    }
}
