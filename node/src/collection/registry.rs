//! The node's table of collections and aliases: creates, opens, updates and drops them, and
//! keeps their metadata in the meta store. A config is stored (synced) before its shards
//! exist, and removed before they are deleted, so a crash leaves no half collection.

use super::config::{CollectionConfig, CreateCollection, UpdateCollection};
use super::error::{CollectionError, CollectionResult};
use super::instance::Collection;
use super::replicas::{Layout, LayoutChange};
use super::vector_config::VectorNameConfig;
use crate::quota::{Quota, QuotaConfig};
use crate::segment::payload_index::FieldType;
use crate::storage::MetaStore;
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod snapshot;

/// A collection's metadata as stored, and as carried in a Raft snapshot. `dir` names the
/// collection's folder; it is chosen by whoever proposed the creation, so a collection that
/// was deleted and created again under the same name is recognised as a different one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredCollection {
    pub dir: String,
    pub config: CollectionConfig,
    #[serde(default)]
    pub payload_schema: BTreeMap<String, FieldType>,
    /// Where the shards live; empty for collections stored before layouts existed.
    #[serde(default)]
    pub layout: Layout,
}

/// All collection metadata of a node: what a Raft snapshot carries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MetaSnapshot {
    pub collections: BTreeMap<String, StoredCollection>,
    pub aliases: BTreeMap<String, String>,
    /// Absent in snapshots of earlier versions: the quotas stay as they are.
    #[serde(default)]
    pub quotas: Option<QuotaConfig>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AliasAction {
    CreateAlias {
        collection_name: String,
        alias_name: String,
    },
    DeleteAlias {
        alias_name: String,
    },
    RenameAlias {
        old_alias_name: String,
        new_alias_name: String,
    },
}

#[derive(Debug, Deserialize)]
pub struct AliasActions {
    pub actions: Vec<AliasAction>,
}

#[derive(Debug)]
pub struct Registry {
    root: PathBuf,
    /// This peer's id: the Raft peer id in cluster mode, a stored one on a single node.
    local_peer: u64,
    meta: MetaStore,
    collections: RwLock<HashMap<String, Arc<Collection>>>,
    aliases: RwLock<BTreeMap<String, String>>,
    /// Serialises metadata changes so concurrent creates of one name cannot both win.
    change: Mutex<()>,
    quota: Quota,
}

pub fn validate_name(name: &str) -> CollectionResult<()> {
    const BAD: &[char] = &['<', '>', ':', '"', '/', '\\', '|', '?', '*', '\0'];
    if name.is_empty() || name.len() > 255 || name == "." || name == ".." || name.contains(BAD) {
        return Err(CollectionError::wrong(format!(
            "Collection name `{name}` is invalid: use 1 to 255 characters, none of <>:\"/\\|?*"
        )));
    }
    Ok(())
}

impl Registry {
    /// Opens every stored collection and removes shard folders no collection owns.
    /// `peer` is the cluster peer id; a single node (None) uses its own stored id.
    pub fn open(storage_path: &Path, peer: Option<u64>) -> CollectionResult<Registry> {
        let root = storage_path.join("collections");
        std::fs::create_dir_all(&root).map_err(crate::storage::StorageError::from)?;
        let meta = MetaStore::open(&storage_path.join("meta"))?;
        let local_peer = match peer {
            Some(p) => p,
            None => meta.peer_id()?,
        };
        let mut collections = HashMap::new();
        for (name, stored) in meta.collections::<StoredCollection>()? {
            let dir = root.join(&stored.dir);
            let c = Collection::open(
                &name,
                &dir,
                stored.config,
                stored.payload_schema,
                stored.layout,
                local_peer,
            )?;
            tracing::info!(collection = %name, points = c.points_count(), "collection loaded");
            collections.insert(name, Arc::new(c));
        }
        let owned: Vec<PathBuf> = collections.values().map(|c| c.dir.clone()).collect();
        if let Ok(entries) = std::fs::read_dir(&root) {
            for e in entries.flatten() {
                if !owned.contains(&e.path()) {
                    tracing::warn!(path = %e.path().display(), "removing orphaned collection folder");
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let aliases = meta.aliases()?.into_iter().collect();
        let quota = Quota::new(meta.quotas()?.unwrap_or_default(), storage_path);
        Ok(Registry {
            root,
            local_peer,
            meta,
            collections: RwLock::new(collections),
            aliases: RwLock::new(aliases),
            change: Mutex::new(()),
            quota,
        })
    }

    /// The cluster-wide resource quotas, and this node's readings against them.
    pub fn quota(&self) -> &Quota {
        &self.quota
    }

    /// Replaces the quotas (a committed `SetQuotas`); kept across restarts.
    pub fn set_quotas(&self, config: QuotaConfig) -> CollectionResult<()> {
        let _guard = self.change.lock();
        self.meta.put_quotas(&config)?;
        self.quota.set(config);
        Ok(())
    }

    /// Resolves a collection name or alias.
    pub fn get(&self, name: &str) -> CollectionResult<Arc<Collection>> {
        let cols = self.collections.read();
        if let Some(c) = cols.get(name) {
            return Ok(c.clone());
        }
        self.aliases
            .read()
            .get(name)
            .and_then(|target| cols.get(target).cloned())
            .ok_or_else(|| CollectionError::NotFound(name.to_string()))
    }

    pub fn local_peer(&self) -> u64 {
        self.local_peer
    }

    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.collections.read().keys().cloned().collect();
        v.sort();
        v
    }

    pub fn all(&self) -> Vec<Arc<Collection>> {
        self.collections.read().values().cloned().collect()
    }

    fn stored(&self, c: &Collection) -> StoredCollection {
        let dir = c
            .dir
            .file_name()
            .map(|d| d.to_string_lossy().into_owned())
            .unwrap_or_default();
        StoredCollection {
            dir,
            config: c.config(),
            payload_schema: c.payload_schema(),
            layout: c.layout(),
        }
    }

    fn store(&self, c: &Collection) -> CollectionResult<()> {
        Ok(self.meta.put_collection(&c.name, &self.stored(c))?)
    }

    /// Validates a create request and turns it into the config to store; changes nothing.
    pub fn prepare_create(
        &self,
        name: &str,
        req: CreateCollection,
        default_shards: u32,
    ) -> CollectionResult<CollectionConfig> {
        validate_name(name)?;
        if req.init_from.is_some() {
            return Err(CollectionError::Unsupported(
                "`init_from` is not supported".into(),
            ));
        }
        req.check_quantization().map_err(CollectionError::bad)?;
        let config = CollectionConfig::from_create(req, default_shards)
            .map_err(|e| CollectionError::wrong(e.to_string()))?;
        if self.collections.read().contains_key(name) {
            return Err(CollectionError::AlreadyExists(name.to_string()));
        }
        Ok(config)
    }

    /// Creates a collection from a validated config, in the folder named `dir`, with its
    /// shards where `layout` says (all here when it is empty).
    pub fn create_with(
        &self,
        name: &str,
        dir: &str,
        config: CollectionConfig,
        layout: Layout,
    ) -> CollectionResult<()> {
        validate_name(name)?;
        if dir.is_empty() || dir.contains(['/', '\\', '.']) {
            return Err(CollectionError::bad(format!(
                "invalid collection folder `{dir}`"
            )));
        }
        let _guard = self.change.lock();
        if self.collections.read().contains_key(name) {
            return Err(CollectionError::AlreadyExists(name.to_string()));
        }
        if self.aliases.read().contains_key(name) {
            return Err(CollectionError::wrong(format!(
                "Alias with name `{name}` already exists"
            )));
        }
        let dir = self.root.join(dir);
        let c = Collection::open(name, &dir, config, BTreeMap::new(), layout, self.local_peer)?;
        self.store(&c)?;
        self.collections
            .write()
            .insert(name.to_string(), Arc::new(c));
        tracing::info!(collection = %name, "collection created");
        Ok(())
    }

    pub fn update(&self, name: &str, req: &UpdateCollection) -> CollectionResult<()> {
        self.change_config(name, |cfg| cfg.apply_update(req).map(|_| true))
            .map(|_| ())
    }

    /// Changes a collection's config through `f` (false: nothing to change), applies it to
    /// the local shards and stores it.
    fn change_config(
        &self,
        name: &str,
        f: impl FnOnce(&mut CollectionConfig) -> Result<bool, String>,
    ) -> CollectionResult<bool> {
        let _guard = self.change.lock();
        let c = self.get(name)?;
        let mut cfg = c.config();
        if !f(&mut cfg).map_err(|e| CollectionError::wrong(e.to_string()))? {
            return Ok(false);
        }
        c.set_config(cfg)?;
        self.store(&c)?;
        Ok(true)
    }

    /// Adds a named vector; true when it is new.
    pub fn create_vector(
        &self,
        collection: &str,
        name: &str,
        config: &VectorNameConfig,
    ) -> CollectionResult<bool> {
        self.change_config(collection, |cfg| cfg.add_vector(name, config))
    }

    /// Removes a named vector and its data; false when there was none.
    pub fn delete_vector(&self, collection: &str, name: &str) -> CollectionResult<bool> {
        self.change_config(collection, |cfg| Ok(cfg.remove_vector(name)))
    }

    pub fn delete(&self, name: &str) -> CollectionResult<bool> {
        let _guard = self.change.lock();
        let Some(c) = self.collections.write().remove(name) else {
            return Ok(false);
        };
        self.meta.delete_collection(name)?;
        let stale: Vec<String> = self
            .aliases
            .read()
            .iter()
            .filter(|(_, t)| *t == name)
            .map(|(a, _)| a.clone())
            .collect();
        for a in stale {
            self.meta.delete_alias(&a)?;
            self.aliases.write().remove(&a);
        }
        let dir = c.dir.clone();
        drop(c);
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            tracing::warn!(path = %dir.display(), error = %e, "could not remove collection folder");
        }
        tracing::info!(collection = %name, "collection deleted");
        Ok(true)
    }

    /// Applies a layout change to a collection and stores the result.
    pub fn change_layout(&self, name: &str, change: &LayoutChange) -> CollectionResult<()> {
        let _guard = self.change.lock();
        let c = self.get(name)?;
        c.change_layout(change)
            .map_err(|e| CollectionError::bad(e.to_string()))?;
        self.store(&c)
    }

    /// Removes a departed peer's replicas and transfers from every collection.
    pub fn forget_peer(&self, peer: u64) -> CollectionResult<()> {
        let _guard = self.change.lock();
        for c in self.all() {
            let mut layout = c.layout();
            if layout.forget(peer) {
                c.set_layout(layout)?;
                self.store(&c)?;
            }
        }
        Ok(())
    }

    pub fn set_index(&self, name: &str, key: &str, t: Option<FieldType>) -> CollectionResult<()> {
        let _guard = self.change.lock();
        let c = self.get(name)?;
        match t {
            Some(t) => c.create_index(key, t),
            None => c.drop_index(key),
        }
        self.store(&c)
    }

    pub fn aliases(&self) -> Vec<(String, String)> {
        self.aliases
            .read()
            .iter()
            .map(|(a, c)| (a.clone(), c.clone()))
            .collect()
    }

    /// Applies alias actions in order; validation happens before anything changes.
    pub fn change_aliases(&self, actions: &[AliasAction]) -> CollectionResult<()> {
        let _guard = self.change.lock();
        let mut next = self.aliases.read().clone();
        for a in actions {
            match a {
                AliasAction::CreateAlias {
                    collection_name,
                    alias_name,
                } => {
                    validate_name(alias_name)?;
                    if !self.collections.read().contains_key(collection_name) {
                        return Err(CollectionError::NotFound(collection_name.clone()));
                    }
                    if self.collections.read().contains_key(alias_name) {
                        return Err(CollectionError::wrong(format!(
                            "Collection with name `{alias_name}` already exists"
                        )));
                    }
                    next.insert(alias_name.clone(), collection_name.clone());
                }
                AliasAction::DeleteAlias { alias_name } => {
                    if next.remove(alias_name).is_none() {
                        return Err(CollectionError::wrong(format!(
                            "Alias `{alias_name}` does not exist"
                        )));
                    }
                }
                AliasAction::RenameAlias {
                    old_alias_name,
                    new_alias_name,
                } => {
                    validate_name(new_alias_name)?;
                    let target = next.remove(old_alias_name).ok_or_else(|| {
                        CollectionError::wrong(format!("Alias `{old_alias_name}` does not exist"))
                    })?;
                    next.insert(new_alias_name.clone(), target);
                }
            }
        }
        let old = self.aliases.read().clone();
        for a in old.keys().filter(|a| !next.contains_key(*a)) {
            self.meta.delete_alias(a)?;
        }
        for (a, c) in next.iter().filter(|(a, c)| old.get(*a) != Some(*c)) {
            self.meta.put_alias(a, c)?;
        }
        *self.aliases.write() = next;
        Ok(())
    }

    pub fn flush_all(&self) {
        for c in self.all() {
            if let Err(e) = c.flush() {
                tracing::warn!(collection = %c.name, error = %e, "flush failed");
            }
        }
    }
}

/// The alias actions that turn `have` into `want`: deletes first, then creates.
fn alias_diff(
    have: &BTreeMap<String, String>,
    want: &BTreeMap<String, String>,
) -> Vec<AliasAction> {
    let deletes = have
        .iter()
        .filter(|(a, c)| want.get(*a) != Some(*c))
        .map(|(a, _)| AliasAction::DeleteAlias {
            alias_name: a.clone(),
        });
    let creates = want
        .iter()
        .filter(|(a, c)| have.get(*a) != Some(*c))
        .map(|(a, c)| AliasAction::CreateAlias {
            collection_name: c.clone(),
            alias_name: a.clone(),
        });
    deletes.chain(creates).collect()
}
