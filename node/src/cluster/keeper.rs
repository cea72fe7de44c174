//! Keeps replicas healthy without a human: every peer pings the others; the Raft leader
//! marks the replicas of a peer that stopped answering `Dead` and aborts its transfers; the
//! first active replica of a shard starts a recovery transfer to each dead replica whose
//! peer answers again; each peer runs the transfers it is the source of (again from the
//! start after a restart).

use super::router::Router;
use super::transfer;
use crate::collection::replicas::{LayoutChange, ReplicaState, Transfer};
use crate::collection::Collection;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// Failed health checks in a row before a peer's replicas are marked dead (writes that fail
/// mark a replica dead at once; this catches peers that get no writes).
const FAILURES_TO_DEAD: u32 = 5;
/// Generous: a busy peer (index rebuilds on two cores) must not look dead.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Default)]
struct State {
    /// Consecutive failed health checks per peer.
    failures: HashMap<u64, u32>,
}

/// Runs until the process stops, one pass per `period`.
pub async fn run(router: Router, period: Duration) {
    let mut state = State::default();
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(cs) = router.consensus() else { return };
        if !cs.is_ready() {
            continue;
        }
        let down = check_health(&router, &mut state).await;
        router.set_unreachable(down.clone());
        for c in router.registry().all() {
            pass(&router, &c, &down).await;
            transfer::start_mine(&router, &c);
        }
    }
}

/// Pings every other member; returns those that failed enough checks in a row.
async fn check_health(router: &Router, state: &mut State) -> BTreeSet<u64> {
    let Some(cs) = router.consensus() else {
        return BTreeSet::new();
    };
    let me = router.local_peer();
    let peers: Vec<(u64, String)> = cs.peers().into_iter().filter(|(p, _)| *p != me).collect();
    let pings = peers
        .iter()
        .map(|(p, uri)| router.remote().report(*p, uri, PING_TIMEOUT));
    let results = futures::future::join_all(pings).await;
    let over = peers
        .iter()
        .zip(&results)
        .filter_map(|((p, _), r)| match r {
            Ok(r) if r.quota.as_ref().is_some_and(|u| u.exceeded) => Some(*p),
            _ => None,
        });
    router.set_over_quota(over.collect());
    for ((p, _), r) in peers.iter().zip(&results) {
        let transfers = r.as_ref().map(|r| r.transfers.clone()).unwrap_or_default();
        router.progress().set_theirs(*p, transfers);
    }
    state
        .failures
        .retain(|p, _| peers.iter().any(|(q, _)| q == p));
    let mut down = BTreeSet::new();
    for ((peer, _), r) in peers.iter().zip(results) {
        let n = state.failures.entry(*peer).or_default();
        *n = if r.is_ok() { 0 } else { *n + 1 };
        if *n >= FAILURES_TO_DEAD {
            down.insert(*peer);
        }
    }
    down
}

async fn pass(router: &Router, c: &Arc<Collection>, down: &BTreeSet<u64>) {
    let me = router.local_peer();
    let layout = c.layout();
    let leader = router.consensus().is_some_and(|cs| cs.is_leader());
    for t in layout.transfers.iter().filter(|_| leader) {
        if down.contains(&t.from) || down.contains(&t.to) {
            tracing::warn!(collection = %c.name, shard = t.shard_id, "aborting a transfer whose peer is down");
            let change = LayoutChange::FinishTransfer {
                shard_id: t.shard_id,
                from: t.from,
                to: t.to,
                to_shard_id: t.to_shard_id,
                success: false,
            };
            if let Err(e) = transfer::commit(router, &c.name, change).await {
                tracing::warn!(error = %e, "could not abort the transfer");
            }
        }
    }
    for (shard, replicas) in &layout.replicas {
        if leader {
            for (peer, state) in replicas {
                if down.contains(peer) && *state == ReplicaState::Active {
                    router
                        .mark_dead(&c.name, *shard, *peer, "missed health checks")
                        .await;
                }
            }
        }
        let source = layout
            .peers_in(*shard, ReplicaState::Active)
            .first()
            .copied();
        if source != Some(me) || layout.transfer_of(*shard).is_some() {
            continue;
        }
        let dead = layout.peers_in(*shard, ReplicaState::Dead);
        if let Some(target) = dead.into_iter().find(|p| !down.contains(p)) {
            recover(router, c, *shard, target).await;
        }
    }
}

/// `POST /cluster/recover`: this peer catches up with the leader's Raft log (waits until it
/// applied what the leader applied), then asks for a recovery transfer to each of its dead
/// replicas from the shard's first active replica, without waiting for the next health
/// pass. Returns the transfers started.
pub async fn recover_peer(router: &Router, timeout: Duration) -> Result<usize, String> {
    let me = router.local_peer();
    catch_up(router, timeout).await?;
    let mut started = 0;
    for c in router.registry().all() {
        let layout = c.layout();
        for (shard, replicas) in &layout.replicas {
            let dead = replicas.get(&me) == Some(&ReplicaState::Dead);
            let source = layout
                .peers_in(*shard, ReplicaState::Active)
                .first()
                .copied();
            let (Some(from), true, None) = (source, dead, layout.transfer_of(*shard)) else {
                continue;
            };
            let t = recovery(*shard, from, me);
            let start = LayoutChange::StartTransfer { transfer: t };
            if let Err(e) = transfer::commit(router, &c.name, start).await {
                // The leader's health pass may have started the same recovery a moment ago.
                catch_up(router, timeout).await?;
                let now = c.layout();
                let racing = now.transfer_of(*shard).is_some_and(|t| t.to == me)
                    || now.replicas.get(shard).and_then(|r| r.get(&me))
                        != Some(&ReplicaState::Dead);
                if !racing {
                    return Err(e);
                }
            }
            started += 1;
        }
    }
    Ok(started)
}

/// Waits until this peer applied what the Raft leader applied.
async fn catch_up(router: &Router, timeout: Duration) -> Result<(), String> {
    let Some(cs) = router.consensus() else {
        return Err("cluster mode is disabled on this node".into());
    };
    let leader = cs.leader().ok_or("no Raft leader is known; retry")?;
    if leader == router.local_peer() {
        return Ok(());
    }
    let uri = router.uri(leader).map_err(|e| e.to_string())?;
    let applied = router
        .remote()
        .health(leader, &uri, PING_TIMEOUT)
        .await
        .map_err(|e| format!("the leader does not answer: {e}"))?;
    cs.wait_applied_for(applied, timeout).await;
    if cs.applied_index() < applied {
        return Err(format!(
            "applied {} of the leader's {applied} Raft entries within {timeout:?}",
            cs.applied_index()
        ));
    }
    Ok(())
}

fn recovery(shard: u32, from: u64, to: u64) -> Transfer {
    Transfer {
        shard_id: shard,
        from,
        to,
        sync: true,
        // Only what the replica missed, if the logs still tell; else every point.
        method: "wal_delta".into(),
        recovery: true,
        to_shard_id: None,
        done: false,
    }
}

/// Starts a recovery transfer of `shard` to `target` if its peer answers.
async fn recover(router: &Router, c: &Arc<Collection>, shard: u32, target: u64) {
    let Ok(uri) = router.uri(target) else { return };
    if router
        .remote()
        .health(target, &uri, PING_TIMEOUT)
        .await
        .is_err()
    {
        return;
    }
    let t = recovery(shard, router.local_peer(), target);
    let start = LayoutChange::StartTransfer { transfer: t };
    match transfer::commit(router, &c.name, start).await {
        Ok(()) => {
            tracing::info!(collection = %c.name, shard, to = target, "recovering a dead replica")
        }
        Err(e) => {
            tracing::warn!(collection = %c.name, shard, error = %e, "could not start recovery")
        }
    }
}
