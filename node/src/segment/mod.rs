//! Points, payloads, filters and the vector index of one shard. Synchronous code:
//! no tokio, no HTTP, no Raft, no disk I/O (the storage layer persists what it is given)
//! but the memory-mapped files that hold `on_disk` vectors (`mapped.rs`).

pub mod dense;
pub mod distance;
pub mod element;
pub mod engine;
pub mod examples;
pub mod facet;
pub mod filter;
pub mod filter_eval;
pub mod hnsw;
mod hnsw_links;
pub mod image;
mod mapped;
pub mod multi;
pub mod payload;
pub mod payload_index;
pub mod point_id;
pub mod quantized;
pub mod record;
mod reopen;
pub mod search;
pub mod simd;
pub mod sparse_index;
pub mod sparse_vector;
pub mod vectors;

pub use engine::{HnswParams, Segment};
pub use search::SearchRequest;
