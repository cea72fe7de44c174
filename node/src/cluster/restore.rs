//! Restoring a collection (or one shard) from a verified snapshot file. The collection is
//! created from the snapshot's config when missing; each shard in the file is loaded into
//! this peer's replica when the `priority` says the snapshot wins, or when no replica is
//! active anywhere (a lost shard: this peer becomes its replica through consensus).

use super::router::{CommitError, Router};
use crate::collection::ops::ShardOp;
use crate::collection::registry::AliasAction;
use crate::collection::replicas::{Layout, LayoutChange, ReplicaState};
use crate::collection::{Collection, CollectionError};
use crate::consensus::Command;
use crate::snapshot::format::{self, Manifest, SnapshotError};
use crate::snapshot::full;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(30);
const BATCH: usize = 1000;

/// Which copy wins when a shard already has replicas.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Existing active replicas win; the snapshot only fills shards with none.
    #[default]
    Replica,
    /// The snapshot wins; other replicas are re-synced from this peer.
    Snapshot,
    /// The snapshot is loaded here; other replicas are left as they are.
    NoSync,
}

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error(transparent)]
    Commit(#[from] CommitError),
    #[error("Wrong input: {0}")]
    Incompatible(String),
}

impl From<CollectionError> for RestoreError {
    fn from(e: CollectionError) -> Self {
        RestoreError::Commit(CommitError::Collection(e))
    }
}

/// Restores `name` from `file` (all its shards, or only `shard`); returns shards loaded.
pub async fn restore(
    router: &Router,
    name: &str,
    file: PathBuf,
    priority: Priority,
    shard: Option<u32>,
) -> Result<Vec<u32>, RestoreError> {
    let f = file.clone();
    let manifest = tokio::task::spawn_blocking(move || format::verify(&f))
        .await
        .map_err(|e| CollectionError::Task(e.to_string()))??;
    let c = collection(router, name, &manifest).await?;
    let me = router.local_peer();
    let mut loaded = Vec::new();
    let ids: Vec<u32> = match shard {
        Some(s) if manifest.shards.contains_key(&s) => vec![s],
        Some(s) => {
            return Err(RestoreError::Incompatible(format!(
                "the snapshot has no shard {s}"
            )))
        }
        None => manifest.shards.keys().copied().collect(),
    };
    for id in ids {
        if !c.layout().replicas.contains_key(&id) {
            return Err(RestoreError::Incompatible(format!(
                "shard {id} does not exist in `{name}`"
            )));
        }
        let layout = c.layout();
        let others = layout
            .peers_in(id, ReplicaState::Active)
            .into_iter()
            .any(|p| p != me);
        match layout.state(id, me) {
            Some(_) if priority == Priority::Replica && others => continue,
            Some(_) => {}
            None if others => continue,
            None => {
                change(
                    router,
                    name,
                    LayoutChange::Restore {
                        shard_id: id,
                        peer_id: me,
                    },
                )
                .await?
            }
        }
        load(&c, &file, id).await?;
        set_state(router, name, id, me, ReplicaState::Active).await?;
        if priority == Priority::Snapshot {
            for p in c.layout().peers_in(id, ReplicaState::Active) {
                if p != me {
                    set_state(router, name, id, p, ReplicaState::Dead).await?;
                }
            }
        }
        tracing::info!(
            collection = name,
            shard = id,
            "shard restored from snapshot"
        );
        loaded.push(id);
    }
    Ok(loaded)
}

/// The collection, created from the manifest (all shards on this peer) when missing.
async fn collection(
    router: &Router,
    name: &str,
    m: &Manifest,
) -> Result<Arc<Collection>, RestoreError> {
    if let Ok(c) = router.registry().get(name) {
        if c.config().params.vectors != m.config.params.vectors {
            return Err(RestoreError::Incompatible(format!(
                "the snapshot's vectors differ from those of collection `{name}`"
            )));
        }
        return Ok(c);
    }
    let me = router.local_peer();
    let layout = if m.shard_keys.is_empty() {
        Layout::single(me, m.config.params.shard_number)
    } else {
        // A custom-sharded collection: the snapshot's shards with their keys.
        let mut l = Layout::default();
        for (id, key) in &m.shard_keys {
            l.replicas.insert(*id, [(me, ReplicaState::Active)].into());
            l.keys.insert(*id, key.clone());
        }
        l
    };
    let create = Command::CreateCollection {
        name: name.to_string(),
        dir: uuid::Uuid::new_v4().to_string(),
        config: m.config.clone(),
        layout: Box::new(layout),
    };
    router.commit(create, TIMEOUT).await?;
    for (field, t) in &m.payload_schema {
        let index = Command::SetPayloadIndex {
            collection: name.to_string(),
            field: field.clone(),
            schema: Some(*t),
        };
        router.commit(index, TIMEOUT).await?;
    }
    Ok(router.registry().get(name)?)
}

async fn change(router: &Router, name: &str, change: LayoutChange) -> Result<(), RestoreError> {
    Ok(router.change_layout(name, change, TIMEOUT).await?)
}

async fn set_state(
    router: &Router,
    name: &str,
    shard: u32,
    peer: u64,
    state: ReplicaState,
) -> Result<(), RestoreError> {
    let c = router.registry().get(name)?;
    if c.layout().state(shard, peer) == Some(state) {
        return Ok(());
    }
    let set = LayoutChange::SetState {
        shard_id: shard,
        peer_id: peer,
        state,
        from: None,
    };
    change(router, name, set).await
}

/// Replaces the local replica's points with the snapshot's.
async fn load(c: &Arc<Collection>, file: &std::path::Path, id: u32) -> Result<(), RestoreError> {
    let (c, file) = (c.clone(), file.to_path_buf());
    tokio::task::spawn_blocking(move || {
        let shard = c
            .local_shard(id)
            .map_err(|e| SnapshotError::Io(std::io::Error::other(e.to_string())))?;
        let io = |e: CollectionError| SnapshotError::Io(std::io::Error::other(e.to_string()));
        shard.apply(&ShardOp::Clear).map_err(io)?;
        format::read_shard(&file, id, BATCH, |points| {
            shard
                .apply(&ShardOp::Import(points))
                .map(|_| ())
                .map_err(io)
        })
    })
    .await
    .map_err(|e| CollectionError::Task(e.to_string()))??;
    Ok(())
}

/// Recovers every collection (then the aliases) of a full storage snapshot before the node
/// serves, as `at_start` does for one collection; `work` holds the unpacked files meanwhile.
pub async fn storage_at_start(
    router: &Router,
    file: &Path,
    work: &Path,
    force: bool,
) -> Result<(), RestoreError> {
    std::fs::create_dir_all(work).map_err(SnapshotError::from)?;
    let (f, w) = (file.to_path_buf(), work.to_path_buf());
    let done = async {
        let (index, files) = tokio::task::spawn_blocking(move || full::unpack(&f, &w))
            .await
            .map_err(|e| CollectionError::Task(e.to_string()))??;
        let list: Vec<(PathBuf, String)> = files.into_iter().zip(index.collections).collect();
        at_start(router, &list, force).await?;
        restore_aliases(router, index.aliases).await
    }
    .await;
    let _ = std::fs::remove_dir_all(work);
    done
}

/// Creates the snapshot's aliases that do not exist here yet.
async fn restore_aliases(
    router: &Router,
    aliases: std::collections::BTreeMap<String, String>,
) -> Result<(), RestoreError> {
    let known: std::collections::BTreeSet<String> = router
        .registry()
        .aliases()
        .into_iter()
        .map(|(a, _)| a)
        .collect();
    let actions: Vec<AliasAction> = aliases
        .into_iter()
        .filter(|(alias, _)| !known.contains(alias))
        .map(|(alias_name, collection_name)| AliasAction::CreateAlias {
            collection_name,
            alias_name,
        })
        .collect();
    if !actions.is_empty() {
        router
            .commit(Command::ChangeAliases { actions }, TIMEOUT)
            .await?;
    }
    Ok(())
}

/// Recovers the `--snapshot` collections before the node serves. A collection that exists
/// is kept (with a warning) unless `force`, which deletes it first.
pub async fn at_start(
    router: &Router,
    snapshots: &[(PathBuf, String)],
    force: bool,
) -> Result<(), RestoreError> {
    for (path, name) in snapshots {
        if router.registry().get(name).is_ok() {
            if !force {
                tracing::warn!(collection = %name, path = %path.display(),
                    "collection exists; start snapshot skipped (--force-snapshot replaces it)");
                continue;
            }
            let cmd = Command::DeleteCollection { name: name.clone() };
            router.commit(cmd, TIMEOUT).await?;
        }
        let shards = restore(router, name, path.clone(), Priority::Snapshot, None).await?;
        tracing::info!(collection = %name, path = %path.display(), ?shards, "recovered from a snapshot at start");
    }
    Ok(())
}
