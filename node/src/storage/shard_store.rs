//! One RocksDB per shard: points keyed by id, plus the shard's last operation number.
//! Writes go through the WAL before they return, so an acknowledged write survives a crash
//! of the process.

use super::{codec, db_options, StorageError};
use crate::segment::point_id::PointId;
use crate::segment::record::PointRecord;
use rocksdb::{WriteBatch, DB};
use std::path::Path;

const SEQ_KEY: &[u8] = b"\xffseq";

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
            if k.as_ref() == SEQ_KEY {
                continue;
            }
            f(codec::decode(&k, &v)?);
        }
        Ok(())
    }

    pub fn flush(&self) -> Result<(), StorageError> {
        self.db.flush_wal(true)?;
        Ok(())
    }
}
