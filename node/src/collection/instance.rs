//! `Collection`: its config, where its shards live (`Layout`) and the shards held on this
//! peer. Splits point operations by shard (hash of the point id); the cluster router sends
//! each part to the shard's replicas. Reads of local shards are in `local_read.rs`.

use super::clocks::Tag;
use super::config::CollectionConfig;
use super::error::{CollectionError, CollectionResult};
use super::ops::{Selector, ShardOp};
use super::replicas::{Layout, LayoutChange, LayoutError, ReplicaState};
use super::shard::{IndexCounts, LocalShard};
use super::shard_key::ShardKey;
use crate::segment::payload_index::FieldType;
use crate::segment::point_id::PointId;
use parking_lot::RwLock;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug)]
pub struct Collection {
    pub name: String,
    pub dir: PathBuf,
    /// This peer's id: the replicas under it in `layout` are held here.
    pub local_peer: u64,
    config: RwLock<CollectionConfig>,
    payload_schema: RwLock<BTreeMap<String, FieldType>>,
    layout: RwLock<Layout>,
    shards: RwLock<BTreeMap<u32, Arc<LocalShard>>>,
}

#[derive(Debug, Serialize)]
pub struct PayloadIndexInfo {
    pub data_type: FieldType,
    pub params: Option<serde_json::Value>,
    pub points: usize,
}

impl Collection {
    /// Opens the shards `layout` puts on `local_peer` (all shards when `layout` is empty: a
    /// collection stored before layouts existed, or a single node).
    pub fn open(
        name: &str,
        dir: &Path,
        config: CollectionConfig,
        payload_schema: BTreeMap<String, FieldType>,
        layout: Layout,
        local_peer: u64,
    ) -> CollectionResult<Collection> {
        let layout = if layout.replicas.is_empty() && !config.params.custom_sharding() {
            Layout {
                hash: crate::collection::resharding::legacy_hash(),
                ..Layout::single(local_peer, config.params.shard_number)
            }
        } else {
            layout
        };
        let c = Collection {
            name: name.to_string(),
            dir: dir.to_path_buf(),
            local_peer,
            config: RwLock::new(config),
            payload_schema: RwLock::new(payload_schema),
            layout: RwLock::new(layout),
            shards: RwLock::new(BTreeMap::new()),
        };
        c.sync_local_shards()?;
        Ok(c)
    }

    fn shard_dir(&self, id: u32) -> PathBuf {
        self.dir.join(format!("shard-{id}"))
    }

    /// Opens local shards the layout added and deletes those it removed from this peer.
    fn sync_local_shards(&self) -> CollectionResult<()> {
        let want = self.layout.read().shards_on(self.local_peer);
        let specs = self.config.read().specs();
        let params = self.config.read().hnsw_config.params();
        let log_budget = self.config.read().log_budget();
        let mut shards = self.shards.write();
        for id in &want {
            if shards.contains_key(id) {
                continue;
            }
            let dir = self.shard_dir(*id);
            let shard = LocalShard::open(*id, &dir, specs.clone(), params, log_budget)?;
            shard.with_segment_mut(|seg| {
                for (key, t) in self.payload_schema.read().iter() {
                    seg.create_field_index(key, *t);
                }
            });
            shards.insert(*id, shard);
        }
        let gone: Vec<u32> = shards
            .keys()
            .filter(|id| !want.contains(id))
            .copied()
            .collect();
        for id in gone {
            shards.remove(&id);
            let dir = self.shard_dir(id);
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                tracing::warn!(path = %dir.display(), error = %e, "could not remove shard folder");
            }
        }
        Ok(())
    }

    /// The config, with the shard number the layout has now (resharding changes it).
    pub fn config(&self) -> CollectionConfig {
        let mut c = self.config.read().clone();
        if !c.params.custom_sharding() {
            c.params.shard_number = self.shard_number();
        }
        c
    }

    pub fn payload_schema(&self) -> BTreeMap<String, FieldType> {
        self.payload_schema.read().clone()
    }

    pub fn layout(&self) -> Layout {
        self.layout.read().clone()
    }

    /// Runs `f` on the layout under its read lock, without copying it (request paths).
    pub fn with_layout<R>(&self, f: impl FnOnce(&Layout) -> R) -> R {
        f(&self.layout.read())
    }

    /// State of `peer`'s replica of `shard` (None: it holds none), without copying the layout.
    pub fn replica_state(&self, shard: u32, peer: u64) -> Option<ReplicaState> {
        self.layout
            .read()
            .replicas
            .get(&shard)
            .and_then(|r| r.get(&peer))
            .copied()
    }

    /// The shard key of `shard` (custom sharding), without copying the layout.
    pub fn key_of(&self, shard: u32) -> Option<ShardKey> {
        self.layout.read().key_of(shard).cloned()
    }

    /// Applies a layout change decided through consensus and opens or drops local shards.
    pub fn change_layout(&self, change: &LayoutChange) -> Result<(), LayoutError> {
        self.layout.write().apply(change)?;
        if let Err(e) = self.sync_local_shards() {
            tracing::error!(collection = %self.name, error = %e, "cannot open a local shard");
        }
        Ok(())
    }

    /// Replaces the layout (installing a Raft snapshot).
    pub fn set_layout(&self, layout: Layout) -> CollectionResult<()> {
        *self.layout.write() = layout;
        self.sync_local_shards()
    }

    /// Replaces the config; local shards follow: new HNSW parameters, named vectors added,
    /// changed or removed.
    pub fn set_config(&self, cfg: CollectionConfig) -> CollectionResult<()> {
        let params = cfg.hnsw_config.params();
        let old = self.config.read().specs();
        let new = cfg.specs();
        *self.config.write() = cfg;
        for s in self.local_shards() {
            s.set_hnsw_params(params);
            for spec in &new {
                match old.iter().find(|o| o.name == spec.name) {
                    None => s.add_vector(spec.clone()),
                    Some(o) if o != spec => s.update_vector(spec),
                    Some(_) => {}
                }
            }
            for o in old.iter().filter(|o| !new.iter().any(|n| n.name == o.name)) {
                s.remove_vector(&o.name)?;
            }
        }
        Ok(())
    }

    /// The shards held on this peer, in shard id order.
    pub fn local_shards(&self) -> Vec<Arc<LocalShard>> {
        self.shards.read().values().cloned().collect()
    }

    pub fn local_shard(&self, id: u32) -> CollectionResult<Arc<LocalShard>> {
        self.shards.read().get(&id).cloned().ok_or_else(|| {
            CollectionError::Unavailable(format!(
                "shard {id} of collection `{}` is not held by peer {}",
                self.name, self.local_peer
            ))
        })
    }

    pub fn shard_number(&self) -> u32 {
        let n = self.layout.read().group(None).len() as u32;
        if n == 0 {
            return self.config.read().params.shard_number;
        }
        n
    }

    pub fn custom_sharding(&self) -> bool {
        self.config.read().params.custom_sharding()
    }

    pub fn unnamed(&self) -> bool {
        self.config.read().params.vectors.is_unnamed()
    }

    /// Every named vector of the collection, of every kind.
    pub fn specs(&self) -> Vec<crate::segment::vectors::VectorSpec> {
        self.config.read().specs()
    }

    /// Splits an operation into one operation per shard that it touches: each point goes
    /// to one shard of every group (`write_groups`), a filter to all their shards.
    pub fn split(&self, op: ShardOp, groups: &[Vec<u32>]) -> Vec<(u32, ShardOp)> {
        let layout = self.layout.read();
        if let [group] = groups {
            return split_in(&layout, op, group);
        }
        let mut out: BTreeMap<u32, ShardOp> = BTreeMap::new();
        for g in groups {
            out.extend(split_in(&layout, op.clone(), g));
        }
        out.into_iter().collect()
    }
    /// Applies an operation to a shard held here; returns its operation number. `routed`:
    /// the layout version the sender routed the write with; a newer one here refuses it,
    /// checked under the shard's write lock (a transfer's forwarding ends only after the
    /// layout that ends it applied here, so a write either is forwarded or refused).
    /// `tag`: the clock tag of a replicated write (it advances the replica's clocks only
    /// while the replica is `Active` here).
    pub fn apply_local(
        &self,
        shard: u32,
        op: &ShardOp,
        routed: Option<u64>,
        tag: Option<Tag>,
    ) -> CollectionResult<u64> {
        let check = || {
            let layout = self.layout.read();
            match routed {
                Some(v) if layout.version > v => Err(CollectionError::StaleLayout(layout.version)),
                _ => Ok(layout.state(shard, self.local_peer) == Some(ReplicaState::Active)),
            }
        };
        check()?;
        self.local_shard(shard)?.apply_checked(op, tag, check)
    }

    /// Points held on this peer (each local replica counted once).
    pub fn points_count(&self) -> usize {
        self.local_shards()
            .iter()
            .map(|s| s.segment().count(self.shard_filter(s.id, None).as_deref()))
            .sum()
    }

    /// Points stored in this peer's replica of `shard` (None: no replica here).
    pub fn local_points(&self, shard: u32) -> Option<usize> {
        self.local_shard(shard).ok().map(|s| s.segment().len())
    }

    /// Points of local `shard` that reads must not see (a resharding moves them).
    pub fn hidden(&self, shard: u32) -> Option<super::resharding::Slot> {
        self.layout.read().hidden(shard)
    }

    pub fn indexed_vectors(&self) -> usize {
        self.local_shards()
            .iter()
            .map(|s| s.segment().indexed_vectors())
            .sum()
    }

    pub fn pending_index(&self) -> usize {
        self.local_shards()
            .iter()
            .map(|s| s.segment().pending_index())
            .sum()
    }

    /// The local shards' `IndexCounts`, summed.
    pub fn index_counts(&self) -> IndexCounts {
        self.local_shards().iter().map(|s| s.index_counts()).sum()
    }

    pub fn memory_bytes(&self) -> usize {
        self.local_shards()
            .iter()
            .map(|s| s.segment().memory_bytes())
            .sum()
    }

    /// Memory and vectors per named vector over the local shards.
    pub fn column_memory(&self) -> Vec<crate::segment::engine::ColumnMemory> {
        let mut out: Vec<crate::segment::engine::ColumnMemory> = Vec::new();
        for s in self.local_shards() {
            for m in s.segment().column_memory() {
                match out.iter_mut().find(|o| o.name == m.name) {
                    Some(o) => {
                        o.bytes += m.bytes;
                        o.mapped += m.mapped;
                        o.vectors += m.vectors;
                    }
                    None => out.push(m),
                }
            }
        }
        out
    }

    pub fn create_index(&self, key: &str, t: FieldType) {
        self.payload_schema.write().insert(key.to_string(), t);
        for s in self.local_shards() {
            s.with_segment_mut(|seg| seg.create_field_index(key, t));
        }
    }

    pub fn drop_index(&self, key: &str) {
        self.payload_schema.write().remove(key);
        for s in self.local_shards() {
            s.with_segment_mut(|seg| seg.drop_field_index(key));
        }
    }

    pub fn payload_index_info(&self) -> BTreeMap<String, PayloadIndexInfo> {
        self.payload_schema
            .read()
            .iter()
            .map(|(k, t)| {
                let points = self
                    .local_shards()
                    .iter()
                    .map(|s| s.segment().field_index_points(k))
                    .sum();
                let info = PayloadIndexInfo {
                    data_type: *t,
                    params: None,
                    points,
                };
                (k.clone(), info)
            })
            .collect()
    }

    pub fn flush(&self) -> CollectionResult<()> {
        self.local_shards().iter().try_for_each(|s| s.flush())
    }
}

/// One group's share of an operation: points by the hash of their id over the group's
/// shards, a filter or `clear` to each of them.
fn split_in(layout: &Layout, op: ShardOp, group: &[u32]) -> Vec<(u32, ShardOp)> {
    let by_id = |ids: Vec<PointId>| -> BTreeMap<u32, Vec<PointId>> {
        let mut m: BTreeMap<u32, Vec<PointId>> = BTreeMap::new();
        for id in ids {
            if let Some(s) = layout.route(id, group) {
                m.entry(s).or_default().push(id);
            }
        }
        m
    };
    let every = |make: &dyn Fn() -> ShardOp| group.iter().map(|s| (*s, make())).collect();
    let by_sel = |sel: Selector, make: &dyn Fn(Selector) -> ShardOp| -> Vec<(u32, ShardOp)> {
        match sel {
            Selector::Ids(ids) => by_id(ids)
                .into_iter()
                .map(|(s, ids)| (s, make(Selector::Ids(ids))))
                .collect(),
            Selector::Filter(f) => group
                .iter()
                .map(|s| (*s, make(Selector::Filter(f.clone()))))
                .collect(),
        }
    };
    match op {
        ShardOp::Upsert(points) => grouped(layout, points, group, |p| p.id, ShardOp::Upsert),
        ShardOp::Import(points) => grouped(layout, points, group, |p| p.id, ShardOp::Import),
        ShardOp::UpdateVectors(list) => {
            grouped(layout, list, group, |p| p.0, ShardOp::UpdateVectors)
        }
        ShardOp::DropSlot(slot) => every(&|| ShardOp::DropSlot(slot)),
        ShardOp::Clear => every(&|| ShardOp::Clear),
        ShardOp::SetClocks(list) => every(&|| ShardOp::SetClocks(list.clone())),
        ShardOp::Delete(sel) => by_sel(sel, &ShardOp::Delete),
        ShardOp::Payload(sel, change) => by_sel(sel, &|s| ShardOp::Payload(s, change.clone())),
        ShardOp::DeleteVectors(sel, names) => {
            by_sel(sel, &|s| ShardOp::DeleteVectors(s, names.clone()))
        }
    }
}

/// Items by the shard of `group` their id routes to.
fn grouped<T>(
    layout: &Layout,
    items: Vec<T>,
    group: &[u32],
    id: impl Fn(&T) -> PointId,
    make: impl Fn(Vec<T>) -> ShardOp,
) -> Vec<(u32, ShardOp)> {
    let mut m: BTreeMap<u32, Vec<T>> = BTreeMap::new();
    for item in items {
        if let Some(s) = layout.route(id(&item), group) {
            m.entry(s).or_default().push(item);
        }
    }
    m.into_iter().map(|(s, v)| (s, make(v))).collect()
}
