//! Raft consensus (openraft) over the p2p gRPC port: cluster membership and collection
//! metadata. Owns the log store, the state machine (which applies metadata commands to the
//! collection registry) and the Raft network client. Point data never goes through here.

pub mod command;
pub mod handle;
pub mod log_store;
pub mod network;
pub mod state_machine;

use std::io::Cursor;

pub use command::{Command, CommandError, CommandResult, Proposal};
pub use handle::{Consensus, ConsensusError};

openraft::declare_raft_types!(
    /// openraft's type configuration for this node.
    pub TypeConfig:
        D = Command,
        R = CommandResult,
);

/// A peer's id: random, chosen on first start, stable across restarts.
pub type PeerId = u64;
pub type Raft = openraft::Raft<TypeConfig>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type LogId = openraft::LogId<PeerId>;
pub type Vote = openraft::Vote<PeerId>;
pub type Membership = openraft::StoredMembership<PeerId, openraft::BasicNode>;
pub type StorageError = openraft::StorageError<PeerId>;
