//! The operation log of a local shard, kept in its RocksDB beside the points: the clock map
//! and, per tagged write, the ids it touched (`clocks` says why). Changes are staged into
//! the write's batch and take effect here once the batch is written.

use super::clocks::{self, Clocks, Entry, Tag};
use crate::segment::point_id::PointId;
use crate::storage::shard_store::ShardBatch;
use crate::storage::{ShardStore, StorageError};

const LOG: &[u8] = b"\xfflog";
const CLOCK: &[u8] = b"\xffclk";
const BASE: &[u8] = b"\xffbase";

/// A change of the log staged into a write's batch (`OpLog::commit` once it is written).
#[derive(Debug)]
pub enum Staged {
    /// One more entry; the tag it advances the clocks by (on an active replica); the log's
    /// size; and the base and size after dropping the oldest entries, when it did.
    Entry {
        advance: Option<Tag>,
        bytes: u64,
        rebased: Option<(Option<Clocks>, u64)>,
    },
    /// The log no longer holds every write.
    Incomplete,
    Reset(OpLog),
}

#[derive(Debug)]
pub struct OpLog {
    map: Clocks,
    /// Newest ticks of the entries dropped from the log; `None`: the log is not complete
    /// (data restored, refilled by a stream, or written before logs existed).
    base: Option<Clocks>,
    /// Sum of the entries' write sizes.
    bytes: u64,
    /// Write sizes the log keeps before it drops its oldest entries.
    budget: u64,
}

fn clock_key(peer: u64, clock: u64) -> Vec<u8> {
    let mut k = CLOCK.to_vec();
    k.extend_from_slice(&peer.to_be_bytes());
    k.extend_from_slice(&clock.to_be_bytes());
    k
}

fn log_key(seq: u64) -> Vec<u8> {
    let mut k = LOG.to_vec();
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

fn corrupt(what: &str) -> StorageError {
    StorageError::Io(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("corrupt operation log: {what}"),
    ))
}

impl OpLog {
    /// Loads the log; a `fresh` shard (never written) starts with a complete, empty one.
    pub fn open(store: &ShardStore, fresh: bool, budget: u64) -> Result<OpLog, StorageError> {
        let mut map = Clocks::new();
        let mut bad = false;
        store.scan_meta(CLOCK, |k, v| {
            let word = |b: &[u8]| b.try_into().ok().map(u64::from_be_bytes);
            match (word(&k[4..12]), word(&k[12..]), v.try_into().ok()) {
                (Some(p), Some(c), Some(t)) => {
                    map.insert((p, c), u64::from_le_bytes(t));
                }
                _ => bad = true,
            }
            !bad
        })?;
        let base = match store.get_meta(BASE)? {
            Some(b) => Some(clocks::decode_clocks(&b).ok_or_else(|| corrupt("base"))?),
            None if fresh => Some(Clocks::new()),
            None => None,
        };
        let mut bytes = 0;
        store.scan_meta(LOG, |_, v| {
            match Entry::decode(v) {
                Some(e) => bytes += e.bytes,
                None => bad = true,
            }
            !bad
        })?;
        if bad {
            return Err(corrupt("entry"));
        }
        Ok(OpLog {
            map,
            base,
            bytes,
            budget,
        })
    }

    pub fn clocks(&self) -> &Clocks {
        &self.map
    }

    /// Stages the log entry of write `seq` (tagged `tag`, touching `ids`) into `batch`, whose
    /// size so far is the write's size; the clock advances only on an `active` replica.
    pub fn stage(
        &self,
        store: &ShardStore,
        batch: &mut ShardBatch,
        seq: u64,
        tag: Tag,
        ids: Vec<PointId>,
        active: bool,
    ) -> Result<Staged, StorageError> {
        let entry = Entry {
            tag,
            bytes: batch.size() as u64,
            ids,
        };
        let bytes = self.bytes + entry.bytes;
        batch.put_meta(&log_key(seq), &entry.encode());
        if active {
            let tick = self
                .map
                .get(&(tag.peer, tag.clock))
                .map_or(tag.tick, |t| (*t).max(tag.tick));
            batch.put_meta(&clock_key(tag.peer, tag.clock), &tick.to_le_bytes());
        }
        if self.base.as_ref().is_some_and(|b| b.is_empty()) && self.bytes == 0 {
            // A fresh shard's first entry: its (empty) base is stored from now on.
            batch.put_meta(BASE, &[]);
        }
        let rebased = match bytes > self.budget {
            true => Some(self.drop_oldest(store, batch, bytes)?),
            false => None,
        };
        Ok(Staged::Entry {
            advance: active.then_some(tag),
            bytes,
            rebased,
        })
    }

    /// Stages dropping the oldest entries until a quarter of the budget is free again;
    /// returns the base and the log's size after that.
    fn drop_oldest(
        &self,
        store: &ShardStore,
        batch: &mut ShardBatch,
        mut bytes: u64,
    ) -> Result<(Option<Clocks>, u64), StorageError> {
        let keep = self.budget / 4 * 3;
        let mut last = None;
        let mut base = self.base.clone();
        store.scan_meta(LOG, |k, v| {
            if bytes <= keep {
                return false;
            }
            if let Some(e) = Entry::decode(v) {
                bytes -= e.bytes.min(bytes);
                if let Some(b) = base.as_mut() {
                    clocks::advance(b, &e.tag);
                }
            }
            last = Some(k.to_vec());
            true
        })?;
        if let Some(mut end) = last {
            // The oldest entries, in one range (keys sort by sequence number).
            end.push(0);
            batch.delete_range(LOG, &end);
        }
        match &base {
            Some(b) => batch.put_meta(BASE, &clocks::encode_clocks(b)),
            None => batch.delete_meta(BASE),
        }
        Ok((base, bytes))
    }

    /// Stages what an untagged write to an `Active` replica means: the log no longer holds
    /// every write (`None` when nothing changes).
    pub fn stage_untagged(&self, batch: &mut ShardBatch) -> Option<Staged> {
        self.base.as_ref()?;
        batch.delete_meta(BASE);
        Some(Staged::Incomplete)
    }

    /// Stages a new start: an empty log with clocks `to`, or (`None`) one that is not
    /// complete, for a replica that is about to be refilled from scratch.
    pub fn stage_reset(&self, batch: &mut ShardBatch, to: Option<Clocks>) -> Staged {
        batch.delete_prefix(LOG);
        batch.delete_prefix(CLOCK);
        let map = to.clone().unwrap_or_default();
        for (&(p, c), t) in &map {
            batch.put_meta(&clock_key(p, c), &t.to_le_bytes());
        }
        match &to {
            Some(b) => batch.put_meta(BASE, &clocks::encode_clocks(b)),
            None => batch.delete_meta(BASE),
        }
        Staged::Reset(OpLog {
            map,
            base: to,
            bytes: 0,
            budget: self.budget,
        })
    }

    /// Takes effect once the batch a change was staged into is written.
    pub fn commit(&mut self, staged: Staged) {
        match staged {
            Staged::Entry {
                advance,
                bytes,
                rebased,
            } => {
                if let Some(tag) = advance {
                    clocks::advance(&mut self.map, &tag);
                }
                self.bytes = bytes;
                if let Some((base, bytes)) = rebased {
                    self.base = base;
                    self.bytes = bytes;
                }
            }
            Staged::Incomplete => self.base = None,
            Staged::Reset(log) => *self = log,
        }
    }

    /// Ids touched by the logged writes that `other` lacks, if the log still holds all of
    /// them; else why not.
    pub fn touched_since(
        &self,
        store: &ShardStore,
        other: &Clocks,
    ) -> Result<Vec<PointId>, String> {
        clocks::covers(&self.map, self.base.as_ref(), other)?;
        let mut ids = Vec::new();
        store
            .scan_meta(LOG, |_, v| {
                if let Some(e) = Entry::decode(v) {
                    if clocks::newer_than(&e.tag, other) {
                        ids.extend(e.ids);
                    }
                }
                true
            })
            .map_err(|e| e.to_string())?;
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::super::ops::{NewPoint, Selector, ShardOp};
    use super::super::shard::LocalShard;
    use super::*;
    use crate::segment::distance::Distance;
    use crate::segment::record::VectorData;
    use crate::segment::vectors::VectorSpec;
    use crate::segment::HnswParams;
    use std::sync::Arc;

    fn open(dir: &std::path::Path, budget: u64) -> Arc<LocalShard> {
        let specs = vec![VectorSpec::dense("", 4, Distance::Dot)];
        let params = HnswParams {
            m: 16,
            ef_construct: 100,
            full_scan_threshold_kb: 10_000,
            indexing_threads: 1,
        };
        // A shard just dropped may still be held by its indexer thread for a moment.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match LocalShard::open(0, dir, specs.clone(), params, budget) {
                Ok(s) => return s,
                Err(e) if std::time::Instant::now() > deadline => panic!("{e}"),
                Err(_) => std::thread::yield_now(),
            }
        }
    }

    fn upsert(ids: std::ops::Range<u64>) -> ShardOp {
        ShardOp::Upsert(
            ids.map(|i| NewPoint {
                id: PointId::Num(i),
                vectors: [(String::new(), VectorData::Dense(vec![i as f32; 4]))].into(),
                payload: Default::default(),
            })
            .collect(),
        )
    }

    fn tag(tick: u64) -> Option<Tag> {
        Some(Tag {
            peer: 1,
            clock: 9,
            tick,
        })
    }

    fn nums(ids: &[u64]) -> Vec<PointId> {
        ids.iter().map(|&i| PointId::Num(i)).collect()
    }

    #[test]
    fn a_shard_logs_tagged_writes_and_knows_what_another_replica_lacks() {
        let dir = tempfile::tempdir().unwrap();
        let shard = open(dir.path(), 1 << 20);
        shard
            .apply_checked(&upsert(0..3), tag(1), || Ok(true))
            .unwrap();
        shard
            .apply_checked(&upsert(3..5), tag(2), || Ok(true))
            .unwrap();
        let del = ShardOp::Delete(Selector::Ids(nums(&[0, 7])));
        shard.apply_checked(&del, tag(3), || Ok(true)).unwrap();
        // Applied while not active: logged, but the clock stays.
        shard
            .apply_checked(&upsert(8..9), tag(4), || Ok(false))
            .unwrap();
        assert_eq!(shard.clocks(), [((1, 9), 3)].into());
        let after_one: Clocks = [((1, 9), 1)].into();
        // Point 7 did not exist: only 0 was deleted.
        assert_eq!(shard.touched_since(&after_one), Ok(nums(&[0, 3, 4, 8])));
        assert_eq!(
            shard.touched_since(&Clocks::new()),
            Ok(nums(&[0, 1, 2, 3, 4, 8]))
        );
        drop(shard);
        // Reopened: the clocks and the log are kept.
        let shard = open(dir.path(), 1 << 20);
        assert_eq!(shard.clocks(), [((1, 9), 3)].into());
        assert_eq!(shard.touched_since(&after_one), Ok(nums(&[0, 3, 4, 8])));
        // A refill from scratch leaves a log that cannot tell; its end makes it whole.
        shard.apply(&ShardOp::Clear).unwrap();
        assert!(shard.touched_since(&after_one).is_err());
        let set = ShardOp::SetClocks(vec![Tag {
            peer: 1,
            clock: 9,
            tick: 3,
        }]);
        shard.apply(&set).unwrap();
        assert_eq!(shard.clocks(), [((1, 9), 3)].into());
        assert_eq!(shard.touched_since(&shard.clocks()), Ok(vec![]));
        // What came before the refill is not in the log any more.
        assert!(shard.touched_since(&after_one).is_err());
    }

    #[test]
    fn old_entries_are_dropped_past_the_budget_and_then_a_delta_from_before_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let shard = open(dir.path(), 4096);
        for t in 1..=40 {
            shard
                .apply_checked(&upsert(t * 10..t * 10 + 10), tag(t), || Ok(true))
                .unwrap();
        }
        let recent: Clocks = [((1, 9), 39)].into();
        assert_eq!(
            shard.touched_since(&recent),
            Ok((400..410).map(PointId::Num).collect())
        );
        let err = shard.touched_since(&[((1, 9), 2)].into()).unwrap_err();
        assert!(err.contains("no longer in the operation log"), "{err}");
        drop(shard);
        let shard = open(dir.path(), 4096);
        assert!(
            shard.touched_since(&[((1, 9), 2)].into()).is_err(),
            "the base is kept"
        );
        assert!(shard.touched_since(&recent).is_ok());
    }

    #[test]
    fn a_shard_written_before_logs_existed_cannot_tell() {
        let dir = tempfile::tempdir().unwrap();
        let shard = open(dir.path(), 1 << 20);
        shard.apply(&upsert(0..2)).unwrap();
        drop(shard);
        let shard = open(dir.path(), 1 << 20);
        assert!(shard.touched_since(&Clocks::new()).is_err());
        // An untagged write to an active replica (a peer of an earlier version sent it).
        let dir = tempfile::tempdir().unwrap();
        let shard = open(dir.path(), 1 << 20);
        shard
            .apply_checked(&upsert(0..2), tag(1), || Ok(true))
            .unwrap();
        assert!(shard.touched_since(&Clocks::new()).is_ok());
        shard
            .apply_checked(&upsert(2..3), None, || Ok(true))
            .unwrap();
        assert!(shard.touched_since(&Clocks::new()).is_err());
    }
}
