//! A shard transfer, run by the source peer. `stream_records`: the target replica (already
//! `Partial` through consensus) is cleared, then filled with the source's points in
//! id-ordered batches while every write the source applies is forwarded to it too.
//! `wal_delta` (`delta`) sends only the points the target missed. Batches and forwarded
//! writes are sent under the source shard's write lock, so the target sees them in the
//! order the source applied them. The switch to `Active` goes through consensus.

use super::delta;
use super::remote::{Peer, Remote, Routing};
use super::reshard;
use super::router::{Router, LAYOUT_TIMEOUT};
use crate::collection::clocks::{self, Tag};
use crate::collection::local_read::{ReadReply, ReadRequest};
use crate::collection::ops::{NewPoint, ShardOp};
use crate::collection::replicas::{LayoutChange, Transfer};
use crate::collection::resharding::Slot;
use crate::collection::shard::{Forward, LocalShard};
use crate::collection::Collection;
use crate::segment::point_id::PointId;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
        let key = t.key(&c.name);
        if !router.running().insert(key.clone()) {
            continue;
        }
        let (router, c) = (router.clone(), c.clone());
        tokio::spawn(async move {
            let result = match t.done {
                // Copied by this peer before it restarted: writes since were not forwarded.
                true => reshard::abort_after_restart(&router, &c).await,
                false => run(router.clone(), c, t).await.map(|_| ()),
            };
            if let Err(e) = result {
                tracing::warn!(error = %e, "shard transfer failed");
            }
            router.running().remove(&key);
        });
    }
    reshard::clean_up_mine(router, c);
}

/// Copies the shard to the target and commits the outcome; returns what it copied.
pub async fn run(router: Router, c: Arc<Collection>, t: Transfer) -> Result<Copied, String> {
    let started = Instant::now();
    let r = router.clone();
    let (c2, t2) = (c.clone(), t.clone());
    let copied = tokio::task::spawn_blocking(move || copy(&r, &c2, &t2))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r);
    let success = copied.is_ok();
    let key = t.key(&c.name);
    if still_listed(&c, &t).is_err() {
        // Aborted meanwhile (abort_transfer, or the leader saw a peer die): nothing to commit.
        stop_forwarding(&c, &t).await;
        router.progress().remove(&key);
        return Err("transfer aborted".into());
    }
    let change = LayoutChange::FinishTransfer {
        shard_id: t.shard_id,
        from: t.from,
        to: t.to,
        to_shard_id: t.to_shard_id,
        success,
    };
    let finish = match t.to_shard_id {
        // A resharding transfer forwards until all of them are done and routing switched.
        Some(_) => reshard::finish(&router, &c, &t, change).await,
        None => commit(&router, &c.name, change).await,
    };
    // Forward until this peer applied the end too: a write routed with the older layout
    // is then either forwarded here or refused as stale (checked under the same lock).
    let deadline = Instant::now() + LAYOUT_TIMEOUT;
    while still_listed(&c, &t).is_ok() && finish.is_ok() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop_forwarding(&c, &t).await;
    router.progress().remove(&key);
    let done = copied?;
    finish?;
    tracing::info!(
        collection = %c.name, shard = t.shard_id, to = t.to, method = done.method,
        points = done.points, bytes = done.bytes,
        secs = started.elapsed().as_secs_f64(), "shard transfer finished"
    );
    Ok(done)
}

/// Removes the forward hook, on the blocking pool: taking the shard's write lock may wait
/// for a write that is itself waiting on the network, which needs the async workers free.
async fn stop_forwarding(c: &Arc<Collection>, t: &Transfer) {
    let (c, t) = (c.clone(), t.clone());
    let _ = tokio::task::spawn_blocking(move || {
        if let Ok(s) = c.local_shard(t.shard_id) {
            s.with_writes_paused(|s| s.set_forward(&name(&t), None));
        }
    })
    .await;
}

/// The name of a transfer's forward hook on its source shard.
pub(super) fn name(t: &Transfer) -> String {
    format!("{}->{}/{:?}", t.shard_id, t.to, t.to_shard_id)
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

/// Sends a transfer's operations to its target, counting their bytes; the first failure of a
/// forwarded write is remembered and fails the transfer.
pub(super) struct Sender {
    router: Router,
    uri: String,
    collection: String,
    pub(super) t: Transfer,
    /// A resharding transfer sends only the points of this slot.
    pub(super) slot: Option<Slot>,
    failed: AtomicBool,
    bytes: AtomicU64,
}

impl Sender {
    fn new(router: &Router, c: &Collection, t: &Transfer) -> Result<Arc<Sender>, String> {
        Ok(Arc::new(Sender {
            router: router.clone(),
            uri: router.uri(t.to).map_err(|e| e.to_string())?,
            collection: c.name.clone(),
            t: t.clone(),
            slot: c.layout().sends(t),
            failed: AtomicBool::new(false),
            bytes: AtomicU64::new(0),
        }))
    }

    /// The shard the target writes into.
    fn target_shard(&self) -> u32 {
        self.t.to_shard_id.unwrap_or(self.t.shard_id)
    }

    fn peer(&self) -> Peer<'_> {
        Peer {
            id: self.t.to,
            uri: &self.uri,
        }
    }

    /// Applies `op` on the target (on a blocking thread: it blocks on the call).
    pub(super) fn send(&self, op: &ShardOp, tag: Option<Tag>) -> Result<(), String> {
        let at = Routing {
            min_applied: self.router.applied(),
            layout_version: None,
            tag,
        };
        let shard = self.target_shard();
        let msg = Remote::shard_update(self.t.to, &self.collection, shard, op, at)
            .map_err(|e| e.to_string())?;
        self.bytes
            .fetch_add(msg.op_json.len() as u64, Ordering::Relaxed);
        let call = self
            .router
            .remote()
            .send_update(self.peer(), msg, SEND_TIMEOUT);
        let handle = tokio::runtime::Handle::current();
        handle.block_on(call).map(|_| ()).map_err(|e| e.to_string())
    }

    /// Runs a read on the target's replica.
    pub(super) fn read(&self, req: &ReadRequest) -> Result<ReadReply, String> {
        let shards = [self.target_shard()];
        let ask = self.router.remote().read(
            self.peer(),
            &self.collection,
            &shards,
            req,
            self.router.applied(),
            SEND_TIMEOUT,
        );
        let handle = tokio::runtime::Handle::current();
        handle.block_on(ask).map_err(|e| e.to_string())
    }

    /// The hook that forwards every write the source applies from now on.
    pub(super) fn hook(self: &Arc<Self>) -> Forward {
        let me = self.clone();
        Arc::new(move |op: &ShardOp, tag: Option<Tag>| {
            if me.failed.load(Ordering::Relaxed) {
                return;
            }
            // Resharding: only the moving points, untagged (the clocks are another shard's).
            let (op, tag) = match me.slot {
                None => (std::borrow::Cow::Borrowed(op), tag),
                Some(slot) => match op.restricted(slot) {
                    Some(op) => (std::borrow::Cow::Owned(op), None),
                    None => return,
                },
            };
            if let Err(e) = me.send(&op, tag) {
                tracing::warn!(error = %e, "forwarding a write to the transfer target failed");
                me.failed.store(true, Ordering::Relaxed);
            }
        })
    }

    /// Fails once a forwarded write failed or the transfer was aborted.
    pub(super) fn check(&self, c: &Collection) -> Result<(), String> {
        if self.failed.load(Ordering::Relaxed) {
            return Err("the target missed a forwarded write".into());
        }
        still_listed(c, &self.t)
    }

    pub(super) fn progress(&self, done: usize, total: usize) {
        let key = self.t.key(&self.collection);
        self.router.progress().set(key, done, total);
    }

    /// Ends the copy under paused writes: the target now holds every write the source's
    /// clocks name, so a later `wal_delta` can start from there. A target of an earlier
    /// version does not know the operation: it only cannot be a `wal_delta` target later
    /// (if it is gone, the reads that follow fail the transfer).
    pub(super) fn finish(&self, shard: &LocalShard) {
        let set = |s: &LocalShard| ShardOp::SetClocks(clocks::to_list(&s.clocks()));
        if let Err(e) = shard.with_writes_paused(|s| self.send(&set(s), None)) {
            tracing::warn!(error = %e, "the transfer target did not take the source's clocks");
        }
    }
}

/// Waits (writes still forwarded) until the target has indexed every point it got, so it
/// serves searches at full speed from its first one.
fn wait_indexed(s: &Sender, c: &Collection) -> Result<(), String> {
    let deadline = Instant::now() + INDEX_WAIT;
    loop {
        s.check(c)?;
        match s.read(&ReadRequest::PendingIndex)? {
            ReadReply::Count(0) => return Ok(()),
            _ if Instant::now() > deadline => {
                tracing::warn!(collection = %c.name, shard = s.t.shard_id, "target still indexing; switching anyway");
                return Ok(());
            }
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Fails once the transfer is no longer in the collection's layout (it was aborted).
pub(super) fn still_listed(c: &Collection, t: &Transfer) -> Result<(), String> {
    match c.layout().transfers.iter().any(|x| x.same(t)) {
        true => Ok(()),
        false => Err("transfer aborted".into()),
    }
}

/// The next batch of points from `from` in id order (of `slot` only, when given): the
/// points, how many were scanned, and where the batch after starts.
fn batch(
    shard: &LocalShard,
    from: Option<PointId>,
    slot: Option<Slot>,
) -> (Vec<NewPoint>, usize, Option<PointId>) {
    let seg = shard.segment();
    let offsets = seg.scroll(from, BATCH + 1, None);
    let next = (offsets.len() > BATCH).then(|| seg.id_of(offsets[BATCH]));
    let scanned = &offsets[..offsets.len().min(BATCH)];
    let points: Vec<NewPoint> = scanned
        .iter()
        .filter(|&&o| slot.is_none_or(|s| s.holds(seg.id_of(o))))
        .map(|&o| {
            let r = seg.record(o);
            NewPoint {
                id: r.id,
                vectors: r.vectors,
                payload: r.payload,
            }
        })
        .collect();
    (points, scanned.len(), next)
}

/// What a copy did: points sent and bytes of operations sent, by the method that ran.
pub struct Copied {
    pub points: usize,
    pub bytes: u64,
    pub method: &'static str,
}

/// Runs on a blocking thread (it blocks on the sends). `wal_delta` falls back to streaming
/// every point when the logs cannot tell what the target lacks.
fn copy(router: &Router, c: &Collection, t: &Transfer) -> Result<Copied, String> {
    let shard = c.local_shard(t.shard_id).map_err(|e| e.to_string())?;
    let sender = Sender::new(router, c, t)?;
    let mut method = "stream_records";
    let mut points = None;
    if t.method == "wal_delta" {
        match delta::copy(&sender, c, &shard) {
            Ok(n) => {
                method = "wal_delta";
                points = Some(n);
            }
            Err(delta::DeltaError::Fallback(why)) => {
                tracing::info!(collection = %c.name, shard = t.shard_id, why, "wal_delta not possible; streaming every point")
            }
            Err(delta::DeltaError::Failed(e)) => return Err(e),
        }
    }
    let points = match points {
        Some(n) => n,
        None if t.to_shard_id.is_some() => reshard::copy(&sender, c, &shard)?,
        None => stream(&sender, c, &shard, ShardOp::Clear)?,
    };
    if t.to_shard_id.is_none() {
        sender.finish(&shard);
    }
    wait_indexed(&sender, c)?;
    Ok(Copied {
        points,
        bytes: sender.bytes.load(Ordering::Relaxed),
        method,
    })
}

/// Sends `first` (what empties the target: `Clear`, or the slot a resharding refills), then
/// every point in id order (of the sender's slot only, for a resharding) while forwarding
/// new writes. Returns the points sent; the progress counts the points scanned.
pub(super) fn stream(
    s: &Arc<Sender>,
    c: &Collection,
    shard: &LocalShard,
    first: ShardOp,
) -> Result<usize, String> {
    let total = shard.segment().len();
    s.progress(0, total);
    shard.with_writes_paused(|sh| {
        s.send(&first, None)?;
        sh.set_forward(&name(&s.t), Some(s.hook()));
        Ok::<(), String>(())
    })?;
    let (mut from, mut copied, mut scanned) = (None, 0, 0);
    loop {
        s.check(c)?;
        let (sent, seen, next) = shard.with_writes_paused(|sh| {
            let (points, seen, next) = batch(sh, from, s.slot);
            let n = points.len();
            if n > 0 {
                s.send(&ShardOp::Import(points), None)?;
            }
            Ok::<_, String>((n, seen, next))
        })?;
        copied += sent;
        scanned += seen;
        s.progress(scanned, total);
        match next {
            Some(id) => from = Some(id),
            None => return Ok(copied),
        }
    }
}
