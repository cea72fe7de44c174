//! Errors of the collection layer; the REST and gRPC edges map them to status codes.

use crate::storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum CollectionError {
    #[error("Collection `{0}` doesn't exist!")]
    NotFound(String),
    #[error("Collection `{0}` already exists!")]
    AlreadyExists(String),
    #[error("No point with id {0} found")]
    PointNotFound(String),
    /// Input the request got wrong (Qdrant's "Wrong input: …").
    #[error("Wrong input: {0}")]
    WrongInput(String),
    /// Other invalid input, the message complete as it is.
    #[error("{0}")]
    BadInput(String),
    #[error("{0}")]
    Unsupported(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Replicas needed for the request are not reachable (HTTP 503).
    #[error("{0}")]
    Unavailable(String),
    #[error("task failed: {0}")]
    Task(String),
    /// A write was routed with an older layout than this peer's (its version here).
    #[error("the write was routed with an outdated shard layout (now version {0})")]
    StaleLayout(u64),
    /// The shards points route to changed (resharding) after a write was split.
    #[error("the collection was resharded while the write was routed")]
    Rerouted,
}

impl CollectionError {
    pub fn bad(msg: impl Into<String>) -> Self {
        CollectionError::BadInput(msg.into())
    }

    /// "Wrong input: `msg`".
    pub fn wrong(msg: impl Into<String>) -> Self {
        CollectionError::WrongInput(msg.into())
    }
}

pub type CollectionResult<T> = Result<T, CollectionError>;
