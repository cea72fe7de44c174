//! A local shard: its RocksDB store, its in-memory segment, and the background thread that
//! builds the segment's HNSW graph. Writes are persisted first, then applied in memory (one
//! writer at a time), so readers never see a write the disk does not have.

use super::clocks::{self, Clocks, Tag};
use super::error::CollectionResult;
use super::oplog::OpLog;
use super::ops::{PayloadChange, Selector, ShardOp};
use crate::segment::image::SegmentImage;
use crate::segment::payload::{delete_key, set_payload};
use crate::segment::point_id::PointId;
use crate::segment::record::PointRecord;
use crate::segment::vectors::VectorSpec;
use crate::segment::{HnswParams, Segment};
use crate::storage::shard_store::ShardBatch;
use crate::storage::{index_file, ShardStore};
use parking_lot::{Condvar, Mutex, RwLock};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// The graphs are saved once the indexer caught up and they grew since the last save: by a
/// quarter, or by anything when nothing was indexed for `QUIET` or saved for `SAVE_AFTER`.
const SAVE_AFTER: Duration = Duration::from_secs(30);
const QUIET: Duration = Duration::from_secs(1);

/// What a shard's graphs hold, by where it came from.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct IndexCounts {
    /// Vectors whose graph nodes were opened from the saved graphs at start.
    pub loaded: usize,
    /// Vectors the indexer inserted since start.
    pub built: usize,
    /// Offsets the graphs covered as last saved (at start: as opened).
    pub saved: usize,
}

impl std::iter::Sum for IndexCounts {
    fn sum<I: Iterator<Item = IndexCounts>>(it: I) -> IndexCounts {
        it.fold(IndexCounts::default(), |a, b| IndexCounts {
            loaded: a.loaded + b.loaded,
            built: a.built + b.built,
            saved: a.saved + b.saved,
        })
    }
}

/// Called with every operation the shard applied (and its clock tag) while a transfer copies
/// it elsewhere; an error does not fail the local write (the transfer notices and aborts).
pub type Forward = Arc<dyn Fn(&ShardOp, Option<Tag>) + Send + Sync>;

pub struct LocalShard {
    pub id: u32,
    dir: PathBuf,
    store: ShardStore,
    loaded: usize,
    built: AtomicUsize,
    saved: AtomicUsize,
    segment: RwLock<Segment>,
    /// Writers waiting for `segment`: the indexer ends its step early for them.
    writers_waiting: AtomicUsize,
    seq: Mutex<u64>,
    /// Taken after `seq`, by writers and by transfers while writes are paused.
    log: Mutex<OpLog>,
    wake: (Mutex<bool>, Condvar),
    /// Hooks of the transfers copying this shard, by transfer name.
    forward: Mutex<Vec<(String, Forward)>>,
}

impl std::fmt::Debug for LocalShard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalShard").field("id", &self.id).finish()
    }
}

impl LocalShard {
    /// Opens (or creates) the shard and loads its points; starts the indexer thread. The
    /// operation log keeps writes of `log_budget` bytes in all.
    pub fn open(
        id: u32,
        path: &Path,
        specs: Vec<VectorSpec>,
        params: HnswParams,
        log_budget: u64,
    ) -> CollectionResult<Arc<LocalShard>> {
        let store = ShardStore::open(path)?;
        let mut segment = Segment::new_in(specs, params, Some(path.to_path_buf()));
        let image = index_file::load(path).and_then(|b| SegmentImage::decode(&b));
        let loaded = match image.filter(|i| i.signature == segment.signature()) {
            Some(img) => {
                let mut each = |f: &mut dyn FnMut(PointRecord)| store.for_each(f);
                let mut get = |id| store.get(id);
                segment.restore(img, &mut each, &mut get)?
            }
            None => {
                store.for_each(|rec| segment.upsert(rec))?;
                0
            }
        };
        let indexed = segment.indexed_vectors();
        let seq = store.last_seq()?;
        let log = OpLog::open(&store, seq == 0, log_budget)?;
        let shard = Arc::new(LocalShard {
            id,
            dir: path.to_path_buf(),
            store,
            loaded,
            built: AtomicUsize::new(0),
            saved: AtomicUsize::new(indexed),
            segment: RwLock::new(segment),
            writers_waiting: AtomicUsize::new(0),
            seq: Mutex::new(seq),
            log: Mutex::new(log),
            wake: (Mutex::new(true), Condvar::new()),
            forward: Mutex::new(Vec::new()),
        });
        let weak = Arc::downgrade(&shard);
        std::thread::Builder::new()
            .name(format!("indexer-{id}"))
            .spawn(move || index_loop(weak))
            .map_err(|e| super::error::CollectionError::Task(e.to_string()))?;
        Ok(shard)
    }

    pub fn segment(&self) -> parking_lot::RwLockReadGuard<'_, Segment> {
        self.segment.read()
    }

    /// The segment for writing; the indexer yields it within one point.
    fn segment_mut(&self) -> parking_lot::RwLockWriteGuard<'_, Segment> {
        self.writers_waiting.fetch_add(1, Ordering::AcqRel);
        let seg = self.segment.write();
        self.writers_waiting.fetch_sub(1, Ordering::AcqRel);
        seg
    }

    pub fn set_hnsw_params(&self, params: HnswParams) {
        self.segment_mut().set_hnsw_params(params);
        self.notify();
    }

    pub fn with_segment_mut<R>(&self, f: impl FnOnce(&mut Segment) -> R) -> R {
        let r = f(&mut self.segment_mut());
        self.notify();
        r
    }

    fn notify(&self) {
        *self.wake.0.lock() = true;
        self.wake.1.notify_one();
    }

    fn resolve(seg: &Segment, sel: &Selector) -> Vec<PointId> {
        match sel {
            Selector::Ids(ids) => ids.iter().copied().filter(|id| seg.contains(*id)).collect(),
            Selector::Filter(f) => seg
                .filtered(Some(f))
                .into_iter()
                .map(|o| seg.id_of(o))
                .collect(),
        }
    }

    /// Runs `f` while no write can start, e.g. to copy a batch of points in a consistent
    /// order with the writes forwarded by a transfer. `f` must not write to this shard.
    pub fn with_writes_paused<R>(&self, f: impl FnOnce(&LocalShard) -> R) -> R {
        let _seq = self.seq.lock();
        f(self)
    }

    /// Installs (or removes) transfer `name`'s hook that sees every applied operation.
    /// Call it inside `with_writes_paused` so no write falls between the copy and the hook.
    pub fn set_forward(&self, name: &str, hook: Option<Forward>) {
        let mut hooks = self.forward.lock();
        hooks.retain(|(n, _)| n != name);
        if let Some(h) = hook {
            hooks.push((name.to_string(), h));
        }
    }

    /// Persists and applies one untagged operation; returns its operation number.
    pub fn apply(&self, op: &ShardOp) -> CollectionResult<u64> {
        self.apply_checked(op, None, || Ok(false))
    }

    /// `apply` once `check` passes, both under the write lock. `check` answers whether this
    /// replica is `Active`: only then does a `tag` advance its clocks.
    pub fn apply_checked(
        &self,
        op: &ShardOp,
        tag: Option<Tag>,
        check: impl FnOnce() -> CollectionResult<bool>,
    ) -> CollectionResult<u64> {
        let mut seq = self.seq.lock();
        let active = check()?;
        let version = self.apply_locked(&mut seq, op, tag, active)?;
        let hooks = self.forward.lock().clone();
        for (_, hook) in hooks {
            hook(op, tag);
        }
        Ok(version)
    }

    /// The newest write of each clock this replica applied.
    pub fn clocks(&self) -> Clocks {
        self.log.lock().clocks().clone()
    }

    /// Points touched by logged writes that a replica with `other` clocks lacks (sorted), or
    /// why the log cannot tell. Call it inside `with_writes_paused` to fix the point.
    pub fn touched_since(&self, other: &Clocks) -> Result<Vec<PointId>, String> {
        self.log.lock().touched_since(&self.store, other)
    }

    fn apply_locked(
        &self,
        seq: &mut u64,
        op: &ShardOp,
        tag: Option<Tag>,
        active: bool,
    ) -> CollectionResult<u64> {
        let version = *seq + 1;
        // Read while the records are prepared and persisted (`seq` keeps other writers out,
        // searches and the indexer go on); the write lock only to apply them in memory.
        let seg = self.segment.read();
        let mut batch = ShardBatch::default();
        let mut puts: Vec<PointRecord> = Vec::new();
        let mut deletes: Vec<PointId> = Vec::new();
        match op {
            ShardOp::Upsert(points) | ShardOp::Import(points) => {
                let import = matches!(op, ShardOp::Import(_));
                for p in points {
                    let mut vectors = p.vectors.clone();
                    for spec in seg.specs().filter(|_| !import) {
                        if let Some(v) = vectors.get_mut(&spec.name) {
                            spec.preprocess(v);
                        }
                    }
                    puts.push(PointRecord {
                        id: p.id,
                        version,
                        vectors,
                        payload: p.payload.clone(),
                    });
                }
            }
            ShardOp::Delete(sel) => deletes = Self::resolve(&seg, sel),
            ShardOp::Clear => deletes = seg.ids(),
            ShardOp::DropSlot(slot) => {
                deletes = seg.ids().into_iter().filter(|id| slot.holds(*id)).collect()
            }
            ShardOp::SetClocks(_) => {}
            ShardOp::Payload(sel, change) => {
                for id in Self::resolve(&seg, sel) {
                    let Some(mut rec) = seg.get(id) else { continue };
                    match change {
                        PayloadChange::Set { payload, key } => {
                            set_payload(&mut rec.payload, payload, key.as_deref())
                        }
                        PayloadChange::Overwrite(p) => rec.payload = p.clone(),
                        PayloadChange::DeleteKeys(keys) => {
                            keys.iter().for_each(|k| delete_key(&mut rec.payload, k))
                        }
                        PayloadChange::Clear => rec.payload.clear(),
                    }
                    rec.version = version;
                    puts.push(rec);
                }
            }
            ShardOp::UpdateVectors(list) => {
                for (id, vectors) in list {
                    let Some(mut rec) = seg.get(*id) else {
                        continue;
                    };
                    for spec in seg.specs() {
                        if let Some(v) = vectors.get(&spec.name) {
                            let mut v = v.clone();
                            spec.preprocess(&mut v);
                            rec.vectors.insert(spec.name.clone(), v);
                        }
                    }
                    rec.version = version;
                    puts.push(rec);
                }
            }
            ShardOp::DeleteVectors(sel, names) => {
                for id in Self::resolve(&seg, sel) {
                    let Some(mut rec) = seg.get(id) else { continue };
                    names.iter().for_each(|n| {
                        rec.vectors.remove(n);
                    });
                    rec.version = version;
                    puts.push(rec);
                }
            }
        }
        for r in &puts {
            batch.put(r);
        }
        for id in &deletes {
            batch.delete(*id);
        }
        let mut log = self.log.lock();
        let staged = match (op, tag) {
            (ShardOp::Clear, _) => Some(log.stage_reset(&mut batch, None)),
            (ShardOp::SetClocks(list), _) => {
                Some(log.stage_reset(&mut batch, Some(clocks::from_list(list))))
            }
            (_, Some(tag)) => {
                let ids = puts.iter().map(|r| r.id).chain(deletes.iter().copied());
                Some(log.stage(&self.store, &mut batch, version, tag, ids.collect(), active)?)
            }
            // Not a transfer's copy into a partial replica: a write the log misses.
            (_, None) if active => log.stage_untagged(&mut batch),
            (_, None) => None,
        };
        drop(seg);
        self.store.write(batch, version)?;
        if let Some(staged) = staged {
            log.commit(staged);
        }
        drop(log);
        let mut seg = self.segment_mut();
        let payload_only = matches!(op, ShardOp::Payload(..));
        for r in puts {
            if payload_only {
                seg.set_payload(r.id, r.payload, version);
            } else {
                seg.upsert(r);
            }
        }
        if matches!(op, ShardOp::Clear) {
            *seg = seg.emptied();
        }
        for id in deletes {
            seg.delete(id);
        }
        *seq = version;
        drop(seg);
        self.notify();
        Ok(version)
    }

    /// Adds a column for a new named vector; existing points do not have it.
    pub fn add_vector(&self, spec: VectorSpec) {
        self.with_segment_mut(|seg| seg.add_column(spec));
    }

    /// Removes a named vector: every stored point that has it is written again without it
    /// (so a vector created later under the same name starts empty), then its column goes.
    /// Writes wait meanwhile.
    pub fn remove_vector(&self, name: &str) -> CollectionResult<()> {
        let seq = self.seq.lock();
        let mut seg = self.segment_mut();
        let holders: Vec<u32> = seg
            .iter_live()
            .filter(|&o| seg.vector(o, name).is_some())
            .collect();
        for chunk in holders.chunks(512) {
            let mut batch = ShardBatch::default();
            for &o in chunk {
                let mut rec = seg.record(o);
                rec.vectors.remove(name);
                batch.put(&rec);
            }
            self.store.write(batch, *seq)?;
        }
        seg.remove_column(name);
        Ok(())
    }

    /// Applies settings of a named vector that leave its data as it is.
    pub fn update_vector(&self, spec: &VectorSpec) {
        self.with_segment_mut(|seg| seg.update_spec(spec));
    }

    pub fn index_counts(&self) -> IndexCounts {
        IndexCounts {
            loaded: self.loaded,
            built: self.built.load(Ordering::Relaxed),
            saved: self.saved.load(Ordering::Relaxed),
        }
    }

    /// Writes the graphs to disk (only the indexer's thread calls it: no insertion runs).
    fn save_index(&self) {
        let started = Instant::now();
        let Some(image) = self.segment().image() else {
            return;
        };
        let held = started.elapsed();
        let bytes = image.encode();
        match index_file::save(&self.dir, &bytes) {
            Ok(()) => {
                let saved = image.graphs.iter().map(|g| g.covered as usize).sum();
                self.saved.store(saved, Ordering::Relaxed);
                tracing::debug!(
                    shard = self.id,
                    points = image.ids.len(),
                    bytes = bytes.len(),
                    locked_ms = held.as_millis() as u64,
                    total_ms = started.elapsed().as_millis() as u64,
                    "graphs saved"
                )
            }
            Err(e) => tracing::warn!(shard = self.id, error = %e, "graphs not saved"),
        }
    }

    pub fn flush(&self) -> CollectionResult<()> {
        Ok(self.store.flush()?)
    }
}

/// Builds the graph in small steps so writers and searchers wait at most one step.
fn index_loop(shard: Weak<LocalShard>) {
    lower_priority();
    let mut saved = match shard.upgrade() {
        Some(s) => s.segment().indexed_vectors(),
        None => return,
    };
    let (mut saved_at, mut indexed_at) = (Instant::now(), Instant::now());
    loop {
        let Some(s) = shard.upgrade() else { return };
        let stop = || s.writers_waiting.load(Ordering::Acquire) > 0;
        let added = s.segment.read().index_step(256, &stop);
        s.built.fetch_add(added, Ordering::Relaxed);
        if added > 0 {
            indexed_at = Instant::now();
        } else if !stop() {
            let indexed = s.segment().indexed_vectors();
            let grown = indexed.abs_diff(saved);
            let due = grown >= saved / 4
                || indexed_at.elapsed() >= QUIET
                || saved_at.elapsed() >= SAVE_AFTER;
            if grown > 0 && due {
                s.save_index();
                (saved, saved_at) = (indexed, Instant::now());
            }
            let mut pending = s.wake.0.lock();
            if !*pending {
                s.wake.1.wait_for(&mut pending, Duration::from_millis(500));
            }
            *pending = false;
        }
    }
}

/// Indexing yields the CPU to requests: this thread, and the workers it starts, run at
/// nice 5 (a quarter of a request thread's share when both want the CPU).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain system calls on the calling thread; failure leaves the priority as is.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 5);
    }
}
