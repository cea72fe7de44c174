//! One RocksDB per shard: points keyed by id, plus the shard's last operation number and its
//! operation log (`collection::clocks`) under keys starting with 0xff, after every point.
//! Writes go through the WAL before they return, so an acknowledged write survives a crash
//! of the process.

use super::{codec, db_options, StorageError};
use crate::segment::point_id::PointId;
use crate::segment::record::PointRecord;
use rocksdb::{WriteBatch, DB};
use std::path::Path;

const SEQ_KEY: &[u8] = b"\xffseq";
/// First byte of every key that is not a point.
const META: u8 = 0xff;

#[derive(Debug)]
pub struct ShardStore {
    db: DB,
}

/// A write to apply atomically.
#[derive(Default)]
pub struct ShardBatch {
    batch: WriteBatch,
}

impl std::fmt::Debug for ShardBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardBatch")
            .field("len", &self.batch.len())
            .finish()
    }
}

impl ShardBatch {
    pub fn put(&mut self, rec: &PointRecord) {
        self.batch.put(rec.id.to_key(), codec::encode(rec));
    }
    pub fn delete(&mut self, id: PointId) {
        self.batch.delete(id.to_key());
    }
    /// A key outside the points' range (its first byte is 0xff).
    pub fn put_meta(&mut self, key: &[u8], value: &[u8]) {
        debug_assert_eq!(key.first(), Some(&META));
        self.batch.put(key, value);
    }
    pub fn delete_meta(&mut self, key: &[u8]) {
        self.batch.delete(key);
    }
    /// Deletes the meta keys from `from` (included) to `to` (excluded).
    pub fn delete_range(&mut self, from: &[u8], to: &[u8]) {
        debug_assert_eq!(from.first(), Some(&META));
        self.batch.delete_range(from, to);
    }
    /// Deletes every key that starts with `prefix` (a meta key prefix).
    pub fn delete_prefix(&mut self, prefix: &[u8]) {
        let mut end = prefix.to_vec();
        end.push(0xff);
        end.push(0xff);
        self.batch.delete_range(prefix, &end);
    }
    /// Bytes the batch holds so far.
    pub fn size(&self) -> usize {
        self.batch.size_in_bytes()
    }
}

impl ShardStore {
    pub fn open(path: &Path) -> Result<ShardStore, StorageError> {
        std::fs::create_dir_all(path)?;
        Ok(ShardStore {
            db: DB::open(&db_options(), path)?,
        })
    }

    pub fn write(&self, mut batch: ShardBatch, seq: u64) -> Result<(), StorageError> {
        batch.batch.put(SEQ_KEY, seq.to_le_bytes());
        self.db.write(batch.batch)?;
        Ok(())
    }

    pub fn last_seq(&self) -> Result<u64, StorageError> {
        Ok(self
            .db
            .get(SEQ_KEY)?
            .and_then(|b| b.try_into().ok().map(u64::from_le_bytes))
            .unwrap_or(0))
    }

    /// Calls `f` for every stored point.
    pub fn for_each(&self, mut f: impl FnMut(PointRecord)) -> Result<(), StorageError> {
        for item in self.db.iterator(rocksdb::IteratorMode::Start) {
            let (k, v) = item?;
            if k.first() == Some(&META) {
                break;
            }
            f(codec::decode(&k, &v)?);
        }
        Ok(())
    }

    /// The point with `id`, if stored.
    pub fn get(&self, id: PointId) -> Result<Option<PointRecord>, StorageError> {
        let key = id.to_key();
        match self.db.get(&key)? {
            Some(v) => Ok(Some(codec::decode(&key, &v)?)),
            None => Ok(None),
        }
    }

    pub fn get_meta(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.db.get(key)?)
    }

    /// Calls `f` with every key under `prefix` and its value, in key order, until it
    /// returns false.
    pub fn scan_meta(
        &self,
        prefix: &[u8],
        mut f: impl FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StorageError> {
        let from = rocksdb::IteratorMode::From(prefix, rocksdb::Direction::Forward);
        for item in self.db.iterator(from) {
            let (k, v) = item?;
            if !k.starts_with(prefix) || !f(&k, &v) {
                break;
            }
        }
        Ok(())
    }

    pub fn flush(&self) -> Result<(), StorageError> {
        self.db.flush_wal(true)?;
        Ok(())
    }
}
