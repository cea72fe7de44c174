//! The node's metadata database: collection configs and aliases as JSON documents.

use super::{db_options, StorageError};
use rocksdb::DB;
use serde::{de::DeserializeOwned, Serialize};
use std::path::Path;

const COLLECTION: &str = "collection/";
const ALIAS: &str = "alias/";
const PEER_ID: &str = "peer_id";
const QUOTAS: &str = "quotas";

#[derive(Debug)]
pub struct MetaStore {
    db: DB,
}

impl MetaStore {
    pub fn open(path: &Path) -> Result<MetaStore, StorageError> {
        std::fs::create_dir_all(path)?;
        Ok(MetaStore {
            db: DB::open(&db_options(), path)?,
        })
    }

    fn put<T: Serialize>(&self, key: String, v: &T) -> Result<(), StorageError> {
        let mut wo = rocksdb::WriteOptions::default();
        wo.set_sync(true);
        self.db.put_opt(key, serde_json::to_vec(v)?, &wo)?;
        Ok(())
    }

    fn delete(&self, key: String) -> Result<(), StorageError> {
        let mut wo = rocksdb::WriteOptions::default();
        wo.set_sync(true);
        self.db.delete_opt(key, &wo)?;
        Ok(())
    }

    fn list<T: DeserializeOwned>(&self, prefix: &str) -> Result<Vec<(String, T)>, StorageError> {
        let mut out = Vec::new();
        for item in self.db.prefix_iterator(prefix) {
            let (k, v) = item?;
            let Some(name) = std::str::from_utf8(&k)
                .ok()
                .and_then(|k| k.strip_prefix(prefix))
            else {
                break;
            };
            out.push((name.to_string(), serde_json::from_slice(&v)?));
        }
        Ok(out)
    }

    pub fn put_collection<T: Serialize>(&self, name: &str, cfg: &T) -> Result<(), StorageError> {
        self.put(format!("{COLLECTION}{name}"), cfg)
    }
    pub fn delete_collection(&self, name: &str) -> Result<(), StorageError> {
        self.delete(format!("{COLLECTION}{name}"))
    }
    pub fn collections<T: DeserializeOwned>(&self) -> Result<Vec<(String, T)>, StorageError> {
        self.list(COLLECTION)
    }
    pub fn put_alias(&self, alias: &str, collection: &str) -> Result<(), StorageError> {
        self.put(format!("{ALIAS}{alias}"), &collection)
    }
    pub fn delete_alias(&self, alias: &str) -> Result<(), StorageError> {
        self.delete(format!("{ALIAS}{alias}"))
    }
    pub fn aliases(&self) -> Result<Vec<(String, String)>, StorageError> {
        self.list(ALIAS)
    }

    pub fn put_quotas<T: Serialize>(&self, q: &T) -> Result<(), StorageError> {
        self.put(QUOTAS.to_string(), q)
    }
    pub fn quotas<T: DeserializeOwned>(&self) -> Result<Option<T>, StorageError> {
        match self.db.get(QUOTAS)? {
            Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
            None => Ok(None),
        }
    }

    /// The peer id of a single node: random on first start, then kept.
    pub fn peer_id(&self) -> Result<u64, StorageError> {
        if let Some(v) = self.db.get(PEER_ID)? {
            return Ok(serde_json::from_slice(&v)?);
        }
        let id = (rand::random::<u64>() >> 1).max(1);
        self.put(PEER_ID.to_string(), &id)?;
        Ok(id)
    }
}
