//! The Raft database: openraft's log entries, vote and bookkeeping keys, and this peer's
//! identity. Values are JSON; log keys are big-endian indexes so iteration is in log order.
//! Every write is synced before it returns.

use super::{db_options, StorageError};
use rocksdb::{WriteBatch, WriteOptions, DB};
use serde::{de::DeserializeOwned, Serialize};
use std::path::Path;

const LOG: u8 = b'l';
const META: u8 = b'm';

#[derive(Debug)]
pub struct RaftStore {
    db: DB,
}

fn log_key(index: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = LOG;
    k[1..].copy_from_slice(&index.to_be_bytes());
    k
}

fn meta_key(name: &str) -> Vec<u8> {
    let mut k = vec![META];
    k.extend_from_slice(name.as_bytes());
    k
}

fn synced() -> WriteOptions {
    let mut wo = WriteOptions::default();
    wo.set_sync(true);
    wo
}

impl RaftStore {
    pub fn open(path: &Path) -> Result<RaftStore, StorageError> {
        std::fs::create_dir_all(path)?;
        Ok(RaftStore {
            db: DB::open(&db_options(), path)?,
        })
    }

    pub fn get_meta<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, StorageError> {
        match self.db.get(meta_key(name))? {
            Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
            None => Ok(None),
        }
    }

    pub fn put_meta<T: Serialize>(&self, name: &str, v: &T) -> Result<(), StorageError> {
        self.db
            .put_opt(meta_key(name), serde_json::to_vec(v)?, &synced())?;
        Ok(())
    }

    /// Appends (or overwrites) entries given as `(index, value)` in one synced batch.
    pub fn put_logs<T: Serialize>(
        &self,
        entries: impl IntoIterator<Item = (u64, T)>,
    ) -> Result<(), StorageError> {
        let mut batch = WriteBatch::default();
        for (i, e) in entries {
            batch.put(log_key(i), serde_json::to_vec(&e)?);
        }
        self.db.write_opt(batch, &synced())?;
        Ok(())
    }

    /// Entries with `from <= index < to`, in order.
    pub fn logs<T: DeserializeOwned>(&self, from: u64, to: u64) -> Result<Vec<T>, StorageError> {
        let mut out = Vec::new();
        if from >= to {
            return Ok(out);
        }
        let mode = rocksdb::IteratorMode::From(&log_key(from), rocksdb::Direction::Forward);
        for item in self.db.iterator(mode) {
            let (k, v) = item?;
            if k.len() != 9 || k[0] != LOG || index_of(&k) >= to {
                break;
            }
            out.push(serde_json::from_slice(&v)?);
        }
        Ok(out)
    }

    /// The entry with the highest index, if any.
    pub fn last_log<T: DeserializeOwned>(&self) -> Result<Option<T>, StorageError> {
        let mode = rocksdb::IteratorMode::From(&log_key(u64::MAX), rocksdb::Direction::Reverse);
        if let Some(item) = self.db.iterator(mode).next() {
            let (k, v) = item?;
            if k.len() == 9 && k[0] == LOG {
                return Ok(Some(serde_json::from_slice(&v)?));
            }
        }
        Ok(None)
    }

    /// Deletes entries with `from <= index < to`, optionally writing a meta key in the same batch.
    pub fn delete_logs<T: Serialize>(
        &self,
        from: u64,
        to: u64,
        meta: Option<(&str, &T)>,
    ) -> Result<(), StorageError> {
        let mut batch = WriteBatch::default();
        if let Some((name, v)) = meta {
            batch.put(meta_key(name), serde_json::to_vec(v)?);
        }
        if to == u64::MAX {
            batch.delete_range(log_key(from), [LOG + 1, 0, 0, 0, 0, 0, 0, 0, 0]);
        } else {
            batch.delete_range(log_key(from), log_key(to));
        }
        self.db.write_opt(batch, &synced())?;
        Ok(())
    }
}

fn index_of(k: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&k[1..9]);
    u64::from_be_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_round_trip_truncate_and_purge() {
        let dir = tempfile::tempdir().unwrap();
        let s = RaftStore::open(dir.path()).unwrap();
        s.put_logs((1..=10u64).map(|i| (i, i * 10))).unwrap();
        assert_eq!(s.logs::<u64>(3, 6).unwrap(), vec![30, 40, 50]);
        assert_eq!(s.last_log::<u64>().unwrap(), Some(100));
        s.delete_logs::<u64>(8, u64::MAX, None).unwrap();
        assert_eq!(s.last_log::<u64>().unwrap(), Some(70));
        s.delete_logs(0, 3, Some(("purged", &2u64))).unwrap();
        assert_eq!(s.logs::<u64>(0, 100).unwrap(), vec![30, 40, 50, 60, 70]);
        assert_eq!(s.get_meta::<u64>("purged").unwrap(), Some(2));
        s.put_meta("vote", &"x").unwrap();
        drop(s);
        let s = RaftStore::open(dir.path()).unwrap();
        assert_eq!(s.get_meta::<String>("vote").unwrap().as_deref(), Some("x"));
        assert_eq!(s.logs::<u64>(0, u64::MAX).unwrap().len(), 5);
    }
}
