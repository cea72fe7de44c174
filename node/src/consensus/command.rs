//! The metadata commands that go through Raft, and their results. A command is validated by
//! the peer that proposes it; applying it is deterministic, so every peer ends in the same
//! state.

use crate::collection::config::{CollectionConfig, UpdateCollection};
use crate::collection::registry::AliasAction;
use crate::collection::replicas::{Layout, LayoutChange};
use crate::collection::vector_config::VectorNameConfig;
use crate::collection::CollectionError;
use crate::segment::payload_index::FieldType;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Command {
    CreateCollection {
        name: String,
        dir: String,
        config: CollectionConfig,
        /// Replicas of each shard, placed by the proposer.
        #[serde(default)]
        layout: Box<Layout>,
    },
    /// Drops every replica and transfer of a peer that leaves the cluster.
    ForgetPeer {
        peer_id: u64,
    },
    /// A replica state change or a shard transfer step.
    ChangeLayout {
        collection: String,
        change: LayoutChange,
    },
    UpdateCollection {
        name: String,
        update: UpdateCollection,
    },
    DeleteCollection {
        name: String,
    },
    ChangeAliases {
        actions: Vec<AliasAction>,
    },
    SetPayloadIndex {
        collection: String,
        field: String,
        schema: Option<FieldType>,
    },
    /// Adds a named vector (dense, multi or sparse) to a collection.
    CreateVector {
        collection: String,
        name: String,
        config: VectorNameConfig,
    },
    /// Removes a named vector and its data.
    DeleteVector {
        collection: String,
        name: String,
    },
    /// Replaces the cluster-wide resource quotas.
    SetQuotas {
        config: crate::quota::QuotaConfig,
    },
}

impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::CreateCollection { name, .. } => write!(f, "create collection {name}"),
            Command::UpdateCollection { name, .. } => write!(f, "update collection {name}"),
            Command::DeleteCollection { name } => write!(f, "delete collection {name}"),
            Command::ForgetPeer { peer_id } => write!(f, "forget peer {peer_id}"),
            Command::ChangeLayout { collection, change } => {
                write!(f, "layout of {collection}: {change:?}")
            }
            Command::ChangeAliases { actions } => write!(f, "{} alias actions", actions.len()),
            Command::SetPayloadIndex {
                collection, field, ..
            } => write!(f, "payload index {collection}.{field}"),
            Command::CreateVector {
                collection, name, ..
            } => write!(f, "create vector {collection}.{name}"),
            Command::DeleteVector { collection, name } => {
                write!(f, "delete vector {collection}.{name}")
            }
            Command::SetQuotas { .. } => write!(f, "set quotas"),
        }
    }
}

/// Why an applied command had no effect; carried back to the proposer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum CommandError {
    #[error("collection `{0}` not found")]
    NotFound(String),
    #[error("collection `{0}` already exists")]
    AlreadyExists(String),
    #[error("{0}")]
    BadInput(String),
    #[error("{0}")]
    Failed(String),
}

pub type CommandResult = Result<Value, CommandError>;

impl From<CollectionError> for CommandError {
    fn from(e: CollectionError) -> Self {
        match e {
            CollectionError::NotFound(n) => CommandError::NotFound(n),
            CollectionError::AlreadyExists(n) => CommandError::AlreadyExists(n),
            CollectionError::BadInput(m) | CollectionError::Unsupported(m) => {
                CommandError::BadInput(m)
            }
            e @ CollectionError::WrongInput(_) => CommandError::BadInput(e.to_string()),
            other => CommandError::Failed(other.to_string()),
        }
    }
}

impl From<CommandError> for CollectionError {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::NotFound(n) => CollectionError::NotFound(n),
            CommandError::AlreadyExists(n) => CollectionError::AlreadyExists(n),
            CommandError::BadInput(m) => CollectionError::BadInput(m),
            CommandError::Failed(m) => CollectionError::Task(m),
        }
    }
}

/// What a peer asks the leader to do: commit a command, or change the membership.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Proposal {
    Command { command: Box<Command> },
    AddPeer { peer_id: u64, uri: String },
    RemovePeer { peer_id: u64 },
}
