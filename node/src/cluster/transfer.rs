//! A shard transfer, run by the source peer: the target replica (already `Partial` through
//! consensus) is cleared, then filled with the source's points in id-ordered batches while
//! every write the source applies is forwarded to it too. Batches and forwarded writes are
//! sent under the source shard's write lock, so the target sees them in the order the
//! source applied them. The switch to `Active` goes through consensus.

use super::remote::{Peer, Routing};
use super::router::{Router, LAYOUT_TIMEOUT};
use crate::collection::local_read::{ReadReply, ReadRequest};
use crate::collection::ops::{NewPoint, ShardOp};
use crate::collection::replicas::{LayoutChange, Transfer};
use crate::collection::shard::{Forward, LocalShard};
use crate::collection::Collection;
use crate::segment::point_id::PointId;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Points per batch sent to the target.
const BATCH: usize = 512;
const SEND_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest wait for the target to finish indexing before the switch.
const INDEX_WAIT: Duration = Duration::from_secs(600);

/// Spawns every transfer of `c` whose source is this peer and that is not running here yet
/// (new ones, and those a restart interrupted: they start over).
pub fn start_mine(router: &Router, c: &Arc<Collection>) {
    let me = router.local_peer();
    for t in c.layout().transfers.into_iter().filter(|t| t.from == me) {
        let key = (c.name.clone(), t.shard_id);
        if !router.running().insert(key.clone()) {
            continue;
        }
        let (router, c) = (router.clone(), c.clone());
        tokio::spawn(async move {
            if let Err(e) = run(router.clone(), c, t).await {
                tracing::warn!(error = %e, "shard transfer failed");
            }
            router.running().remove(&key);
        });
    }
}

/// Copies the shard to the target and commits the outcome; returns points copied.
pub async fn run(router: Router, c: Arc<Collection>, t: Transfer) -> Result<usize, String> {
    let started = Instant::now();
    let r = router.clone();
    let (c2, t2) = (c.clone(), t.clone());
    let copied = tokio::task::spawn_blocking(move || copy(&r, &c2, &t2))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r);
    let success = copied.is_ok();
    if still_listed(&c, &t).is_err() {
        // Aborted meanwhile (abort_transfer, or the leader saw a peer die): nothing to commit.
        stop_forwarding(&c, t.shard_id).await;
        router.progress().remove(&(c.name.clone(), t.shard_id));
        return Err("transfer aborted".into());
    }
    let change = LayoutChange::FinishTransfer {
        shard_id: t.shard_id,
        from: t.from,
        to: t.to,
        success,
    };
    let finish = commit(&router, &c.name, change).await;
    // Forward until this peer applied the end too: a write routed with the older layout
    // is then either forwarded here or refused as stale (checked under the same lock).
    let deadline = Instant::now() + LAYOUT_TIMEOUT;
    while still_listed(&c, &t).is_ok() && finish.is_ok() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop_forwarding(&c, t.shard_id).await;
    router.progress().remove(&(c.name.clone(), t.shard_id));
    let n = copied?;
    finish?;
    tracing::info!(
        collection = %c.name, shard = t.shard_id, to = t.to, points = n,
        secs = started.elapsed().as_secs_f64(), "shard transfer finished"
    );
    Ok(n)
}

/// Removes the forward hook, on the blocking pool: taking the shard's write lock may wait
/// for a write that is itself waiting on the network, which needs the async workers free.
async fn stop_forwarding(c: &Arc<Collection>, shard: u32) {
    let c = c.clone();
    let _ = tokio::task::spawn_blocking(move || {
        if let Ok(s) = c.local_shard(shard) {
            s.with_writes_paused(|s| s.set_forward(None));
        }
    })
    .await;
}

/// Commits a layout change through consensus.
pub async fn commit(router: &Router, collection: &str, change: LayoutChange) -> Result<(), String> {
    if router.consensus().is_none() {
        return Err("cluster mode is off".into());
    }
    router
        .change_layout(collection, change, LAYOUT_TIMEOUT)
        .await
        .map_err(|e| e.to_string())
}

fn send(
    router: &Router,
    uri: &str,
    c: &Collection,
    t: &Transfer,
    op: &ShardOp,
) -> Result<(), String> {
    let handle = tokio::runtime::Handle::current();
    let applied = router.consensus().map(|c| c.applied_index()).unwrap_or(0);
    let call = router.remote().update(
        Peer { id: t.to, uri },
        &c.name,
        t.shard_id,
        op,
        Routing {
            min_applied: applied,
            layout_version: None,
        },
        SEND_TIMEOUT,
    );
    handle.block_on(call).map(|_| ()).map_err(|e| e.to_string())
}

/// Waits (writes still forwarded) until the target has indexed every point it got, so it
/// serves searches at full speed from its first one.
fn wait_indexed(
    router: &Router,
    uri: &str,
    c: &Collection,
    t: &Transfer,
    failed: &AtomicBool,
) -> Result<(), String> {
    let handle = tokio::runtime::Handle::current();
    let deadline = Instant::now() + INDEX_WAIT;
    let shards = [t.shard_id];
    loop {
        if failed.load(Ordering::Relaxed) {
            return Err("the target missed a forwarded write".into());
        }
        still_listed(c, t)?;
        let applied = router.consensus().map(|c| c.applied_index()).unwrap_or(0);
        let ask = router.remote().read(
            Peer { id: t.to, uri },
            &c.name,
            &shards,
            &ReadRequest::PendingIndex,
            applied,
            SEND_TIMEOUT,
        );
        match handle.block_on(ask).map_err(|e| e.to_string())? {
            ReadReply::Count(0) => return Ok(()),
            _ if Instant::now() > deadline => {
                tracing::warn!(collection = %c.name, shard = t.shard_id, "target still indexing; switching anyway");
                return Ok(());
            }
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Fails once the transfer is no longer in the collection's layout (it was aborted).
fn still_listed(c: &Collection, t: &Transfer) -> Result<(), String> {
    match c.layout().transfer_of(t.shard_id) {
        Some(x) if x.from == t.from && x.to == t.to => Ok(()),
        _ => Err("transfer aborted".into()),
    }
}

fn batch(shard: &LocalShard, from: Option<PointId>) -> (Vec<NewPoint>, Option<PointId>) {
    let seg = shard.segment();
    let offsets = seg.scroll(from, BATCH + 1, None);
    let mut points: Vec<NewPoint> = offsets
        .iter()
        .map(|&o| {
            let r = seg.record(o);
            NewPoint {
                id: r.id,
                vectors: r.vectors,
                payload: r.payload,
            }
        })
        .collect();
    let next = (points.len() > BATCH)
        .then(|| points.pop().map(|p| p.id))
        .flatten();
    (points, next)
}

/// Runs on a blocking thread (it blocks on the sends).
fn copy(router: &Router, c: &Collection, t: &Transfer) -> Result<usize, String> {
    let shard = c.local_shard(t.shard_id).map_err(|e| e.to_string())?;
    let uri = router.uri(t.to).map_err(|e| e.to_string())?;
    let failed = Arc::new(AtomicBool::new(false));
    let hook: Forward = {
        let (router, uri, failed) = (router.clone(), uri.clone(), failed.clone());
        let (name, t) = (c.name.clone(), t.clone());
        Arc::new(move |op: &ShardOp| {
            if failed.load(Ordering::Relaxed) {
                return;
            }
            let Ok(c) = router.registry().get(&name) else {
                return;
            };
            if let Err(e) = send(&router, &uri, &c, &t, op) {
                tracing::warn!(error = %e, "forwarding a write to the transfer target failed");
                failed.store(true, Ordering::Relaxed);
            }
        })
    };
    let total = shard.segment().len();
    shard.with_writes_paused(|s| {
        send(router, &uri, c, t, &ShardOp::Clear)?;
        s.set_forward(Some(hook));
        Ok::<(), String>(())
    })?;
    let key = (c.name.clone(), t.shard_id);
    let mut from = None;
    let mut copied = 0;
    loop {
        if failed.load(Ordering::Relaxed) {
            return Err("the target missed a forwarded write".into());
        }
        still_listed(c, t)?;
        let next = shard.with_writes_paused(|s| {
            let (points, next) = batch(s, from);
            let n = points.len();
            if n > 0 {
                send(router, &uri, c, t, &ShardOp::Import(points))?;
            }
            Ok::<_, String>((n, next))
        })?;
        copied += next.0;
        router
            .progress()
            .insert(key.clone(), (copied, total.max(copied)));
        match next.1 {
            Some(id) => from = Some(id),
            None => break,
        }
    }
    wait_indexed(router, &uri, c, t, &failed)?;
    Ok(copied)
}
