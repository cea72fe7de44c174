//! The Raft state machine: applies committed metadata commands to the collection registry
//! and records how far it got. Snapshots are the registry's exported metadata; installing one
//! makes the registry equal to it.

use super::{Command, CommandResult, Entry, LogId, Membership, PeerId, StorageError, TypeConfig};
use crate::collection::registry::MetaSnapshot;
use crate::collection::Registry;
use crate::storage::RaftStore;
use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine, Snapshot};
use openraft::{BasicNode, EntryPayload, OptionalSend, SnapshotMeta, StorageIOError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::io::Cursor;
use std::sync::Arc;

const APPLIED: &str = "applied";
const MEMBERSHIP: &str = "membership";
const SNAPSHOT: &str = "snapshot";

#[derive(Debug, Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<PeerId, BasicNode>,
    data: Vec<u8>,
}

#[derive(Debug)]
pub struct StateMachine {
    registry: Arc<Registry>,
    db: Arc<RaftStore>,
    applied: Option<LogId>,
    membership: Membership,
}

fn sm_err(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::write_state_machine(&e).into()
}

/// Applies one command to the registry. Pure with respect to Raft: the result goes back to
/// the proposer; an error means the command changed nothing.
pub fn apply_command(registry: &Registry, cmd: Command) -> CommandResult {
    let r = match cmd {
        Command::CreateCollection {
            name,
            dir,
            config,
            layout,
        } => registry
            .create_with(&name, &dir, config, *layout)
            .map(|_| true),
        Command::ForgetPeer { peer_id } => registry.forget_peer(peer_id).map(|_| true),
        Command::ChangeLayout { collection, change } => {
            registry.change_layout(&collection, &change).map(|_| true)
        }
        Command::UpdateCollection { name, update } => registry.update(&name, &update).map(|_| true),
        Command::DeleteCollection { name } => registry.delete(&name),
        Command::ChangeAliases { actions } => registry.change_aliases(&actions).map(|_| true),
        Command::SetPayloadIndex {
            collection,
            field,
            schema,
        } => registry
            .set_index(&collection, &field, schema)
            .map(|_| true),
        Command::CreateVector {
            collection,
            name,
            config,
        } => registry.create_vector(&collection, &name, &config),
        Command::DeleteVector { collection, name } => registry.delete_vector(&collection, &name),
        Command::SetQuotas { config } => registry.set_quotas(config).map(|_| true),
    };
    r.map(Value::Bool).map_err(Into::into)
}

impl StateMachine {
    pub fn open(
        registry: Arc<Registry>,
        db: Arc<RaftStore>,
    ) -> Result<StateMachine, crate::storage::StorageError> {
        let applied = db.get_meta(APPLIED)?.flatten();
        let membership = db.get_meta(MEMBERSHIP)?.unwrap_or_default();
        Ok(StateMachine {
            registry,
            db,
            applied,
            membership,
        })
    }

    fn persist(&self) -> Result<(), crate::storage::StorageError> {
        self.db.put_meta(APPLIED, &self.applied)?;
        self.db.put_meta(MEMBERSHIP, &self.membership)
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, Membership), StorageError> {
        Ok((self.applied, self.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<CommandResult>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut out = Vec::new();
        for entry in entries {
            let result = match entry.payload {
                EntryPayload::Blank => Ok(Value::Null),
                EntryPayload::Normal(cmd) => {
                    tracing::info!(index = entry.log_id.index, command = %cmd, "applying");
                    let reg = self.registry.clone();
                    tokio::task::spawn_blocking(move || apply_command(&reg, cmd))
                        .await
                        .map_err(sm_err)?
                }
                EntryPayload::Membership(m) => {
                    self.membership = Membership::new(Some(entry.log_id), m);
                    Ok(Value::Null)
                }
            };
            self.applied = Some(entry.log_id);
            self.persist().map_err(sm_err)?;
            out.push(result);
        }
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> SnapshotBuilder {
        SnapshotBuilder {
            meta: self.registry.export_meta(),
            applied: self.applied,
            membership: self.membership.clone(),
            db: self.db.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<PeerId, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let data = snapshot.into_inner();
        let snap: MetaSnapshot = serde_json::from_slice(&data)
            .map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), &e))?;
        let reg = self.registry.clone();
        tokio::task::spawn_blocking(move || reg.import_meta(&snap))
            .await
            .map_err(sm_err)?
            .map_err(sm_err)?;
        tracing::info!(snapshot = %meta.snapshot_id, "installed raft snapshot");
        self.applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        self.persist().map_err(sm_err)?;
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data,
        };
        self.db.put_meta(SNAPSHOT, &stored).map_err(sm_err)
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let stored: Option<StoredSnapshot> = self.db.get_meta(SNAPSHOT).map_err(sm_err)?;
        Ok(stored.map(|s| Snapshot {
            meta: s.meta,
            snapshot: Box::new(Cursor::new(s.data)),
        }))
    }
}

/// The registry's metadata as of the moment the builder was made.
#[derive(Debug)]
pub struct SnapshotBuilder {
    meta: MetaSnapshot,
    applied: Option<LogId>,
    membership: Membership,
    db: Arc<RaftStore>,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let data = serde_json::to_vec(&self.meta).map_err(sm_err)?;
        let id = self
            .applied
            .map(|l| format!("{}-{}", l.leader_id.term, l.index))
            .unwrap_or_else(|| "0-0".into());
        let meta = SnapshotMeta {
            last_log_id: self.applied,
            last_membership: self.membership.clone(),
            snapshot_id: id,
        };
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data: data.clone(),
        };
        self.db.put_meta(SNAPSHOT, &stored).map_err(sm_err)?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}
