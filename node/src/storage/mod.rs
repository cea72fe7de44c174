//! RocksDB: the node's metadata database, the Raft log and one database per shard. Knows byte layouts and
//! write batches, nothing about search or HTTP.

pub mod codec;
pub mod index_file;
pub mod meta_store;
pub mod raft_store;
pub mod shard_store;

pub use meta_store::MetaStore;
pub use raft_store::RaftStore;
pub use shard_store::ShardStore;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("rocksdb: {0}")]
    Rocks(#[from] rocksdb::Error),
    #[error(transparent)]
    Decode(#[from] codec::DecodeError),
    #[error("corrupt metadata: {0}")]
    Json(#[from] serde_json::Error),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

fn db_options() -> rocksdb::Options {
    let mut o = rocksdb::Options::default();
    o.create_if_missing(true);
    o.create_missing_column_families(true);
    o.set_max_open_files(256);
    o.set_keep_log_file_num(2);
    o.set_max_total_wal_size(64 << 20);
    o
}
