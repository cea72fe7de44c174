//! Collections: config, routing of point operations to shards, fan-out of reads and merging
//! of results. No HTTP here; the API layer calls in and maps `CollectionError`.

pub mod clocks;
pub mod config;
pub mod error;
pub mod fusion;
pub mod instance;
pub mod local_read;
pub mod oplog;
pub mod ops;
pub mod quantization;
pub mod query;
pub mod registry;
pub mod replicas;
pub mod resharding;
pub mod sample;
pub mod shard;
pub mod shard_key;
pub mod vector_config;

pub use error::{CollectionError, CollectionResult};
pub use instance::Collection;
pub use registry::Registry;
