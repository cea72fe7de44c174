//! `Collection`: its config and its shards. Routes point operations to shards by the hash of
//! the point id, fans reads out to every shard and merges their results.

use super::config::CollectionConfig;
use super::error::{CollectionError, CollectionResult};
use super::ops::{check_dim, Selector, ShardOp};
use super::query::{Direction, OrderBy, Record, ScoredPoint};
use super::shard::LocalShard;
use crate::segment::distance::Distance;
use crate::segment::engine::SearchRequest;
use crate::segment::filter::Filter;
use crate::segment::payload_index::FieldType;
use crate::segment::point_id::PointId;
use crate::segment::record::{VectorOutput, WithPayload, WithVector};
use crate::segment::Segment;
use parking_lot::RwLock;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug)]
pub struct Collection {
    pub name: String,
    pub dir: PathBuf,
    config: RwLock<CollectionConfig>,
    payload_schema: RwLock<BTreeMap<String, FieldType>>,
    shards: Vec<Arc<LocalShard>>,
}

/// A nearest-neighbour search across the collection.
#[derive(Debug)]
pub struct Search<'a> {
    pub using: &'a str,
    pub vector: Vec<f32>,
    pub filter: Option<&'a Filter>,
    pub limit: usize,
    pub offset: usize,
    pub ef: Option<usize>,
    pub exact: bool,
    pub score_threshold: Option<f32>,
    pub exclude: Option<PointId>,
    pub with_payload: &'a WithPayload,
    pub with_vector: &'a WithVector,
}

#[derive(Debug, Serialize)]
pub struct PayloadIndexInfo {
    pub data_type: FieldType,
    pub params: Option<serde_json::Value>,
    pub points: usize,
}

impl Collection {
    pub fn open(
        name: &str,
        dir: &Path,
        config: CollectionConfig,
        payload_schema: BTreeMap<String, FieldType>,
    ) -> CollectionResult<Collection> {
        let specs = config.params.vectors.specs();
        let params = config.hnsw_config.params();
        let shards = (0..config.params.shard_number)
            .map(|id| LocalShard::open(id, &dir.join(format!("shard-{id}")), specs.clone(), params))
            .collect::<CollectionResult<Vec<_>>>()?;
        for shard in &shards {
            shard.with_segment_mut(|seg| {
                for (key, t) in &payload_schema {
                    seg.create_field_index(key, *t);
                }
            });
        }
        Ok(Collection {
            name: name.to_string(),
            dir: dir.to_path_buf(),
            config: RwLock::new(config),
            payload_schema: RwLock::new(payload_schema),
            shards,
        })
    }

    pub fn config(&self) -> CollectionConfig {
        self.config.read().clone()
    }

    pub fn payload_schema(&self) -> BTreeMap<String, FieldType> {
        self.payload_schema.read().clone()
    }

    pub fn set_config(&self, cfg: CollectionConfig) {
        let params = cfg.hnsw_config.params();
        *self.config.write() = cfg;
        for s in &self.shards {
            s.set_hnsw_params(params);
        }
    }

    pub fn shards(&self) -> &[Arc<LocalShard>] {
        &self.shards
    }

    fn shard_of(&self, id: PointId) -> usize {
        (id.route_hash() % self.shards.len() as u64) as usize
    }

    fn unnamed(&self) -> bool {
        self.config.read().params.vectors.is_unnamed()
    }

    /// Applies an operation to the shards that own its points; returns the last operation number.
    pub fn apply(&self, op: ShardOp) -> CollectionResult<u64> {
        let n = self.shards.len();
        let mut per_shard: Vec<Option<ShardOp>> = vec![None; n];
        match op {
            ShardOp::Upsert(points) => {
                let mut groups = vec![Vec::new(); n];
                for p in points {
                    groups[self.shard_of(p.id)].push(p);
                }
                for (i, g) in groups
                    .into_iter()
                    .enumerate()
                    .filter(|(_, g)| !g.is_empty())
                {
                    per_shard[i] = Some(ShardOp::Upsert(g));
                }
            }
            ShardOp::UpdateVectors(list) => {
                let mut groups = vec![Vec::new(); n];
                for p in list {
                    groups[self.shard_of(p.0)].push(p);
                }
                for (i, g) in groups
                    .into_iter()
                    .enumerate()
                    .filter(|(_, g)| !g.is_empty())
                {
                    per_shard[i] = Some(ShardOp::UpdateVectors(g));
                }
            }
            ShardOp::Delete(sel) => self.split_selector(sel, &mut per_shard, ShardOp::Delete),
            ShardOp::Payload(sel, change) => {
                self.split_selector(sel, &mut per_shard, |s| ShardOp::Payload(s, change.clone()))
            }
            ShardOp::DeleteVectors(sel, names) => self.split_selector(sel, &mut per_shard, |s| {
                ShardOp::DeleteVectors(s, names.clone())
            }),
        }
        let mut last = 0;
        for (shard, op) in self.shards.iter().zip(per_shard) {
            if let Some(op) = op {
                last = last.max(shard.apply(&op)?);
            }
        }
        Ok(last)
    }

    fn split_selector(
        &self,
        sel: Selector,
        out: &mut [Option<ShardOp>],
        make: impl Fn(Selector) -> ShardOp,
    ) {
        match sel {
            Selector::Ids(ids) => {
                let mut groups = vec![Vec::new(); out.len()];
                for id in ids {
                    groups[self.shard_of(id)].push(id);
                }
                for (i, g) in groups
                    .into_iter()
                    .enumerate()
                    .filter(|(_, g)| !g.is_empty())
                {
                    out[i] = Some(make(Selector::Ids(g)));
                }
            }
            Selector::Filter(f) => out
                .iter_mut()
                .for_each(|o| *o = Some(make(Selector::Filter(f.clone())))),
        }
    }

    fn vector_output(
        &self,
        seg: &Segment,
        offset: u32,
        with: &WithVector,
        unnamed: bool,
    ) -> Option<VectorOutput> {
        if !with.any() {
            return None;
        }
        let mut rec = seg.record(offset).vectors;
        rec.retain(|name, _| {
            with.wants(name) || (name.is_empty() && matches!(with, WithVector::Bool(true)))
        });
        Some(VectorOutput::from_named(rec, unnamed))
    }

    fn to_record(
        &self,
        seg: &Segment,
        o: u32,
        wp: &WithPayload,
        wv: &WithVector,
        unnamed: bool,
    ) -> Record {
        Record {
            id: seg.id_of(o),
            payload: wp.select(seg.payload(o)),
            vector: self.vector_output(seg, o, wv, unnamed),
            order_value: None,
        }
    }

    /// Stored vector of a point, for queries by id.
    pub fn vector_of(&self, id: PointId, using: &str) -> CollectionResult<Vec<f32>> {
        let seg = self.shards[self.shard_of(id)].segment();
        let rec = seg
            .get(id)
            .ok_or_else(|| CollectionError::PointNotFound(id.to_string()))?;
        rec.vectors.get(using).cloned().ok_or_else(|| {
            CollectionError::bad(format!("Wrong input: point {id} has no vector `{using}`"))
        })
    }

    /// Checks a query vector against the collection; returns its distance.
    pub fn check_vector(&self, using: &str, v: &[f32]) -> CollectionResult<Distance> {
        let specs = self.config.read().params.vectors.specs();
        let spec = specs.iter().find(|s| s.name == using).ok_or_else(|| {
            CollectionError::bad(format!(
                "Wrong input: Not existing vector name error: {using}"
            ))
        })?;
        check_dim(spec, v)?;
        Ok(spec.distance)
    }

    pub fn search(&self, s: &Search<'_>) -> CollectionResult<Vec<ScoredPoint>> {
        let distance = self.check_vector(s.using, &s.vector)?;
        let unnamed = self.unnamed();
        let mut q = s.vector.clone();
        distance.preprocess(&mut q);
        let top = s
            .offset
            .saturating_add(s.limit)
            .saturating_add(usize::from(s.exclude.is_some()));
        let mut all: Vec<(f32, ScoredPoint)> = Vec::new();
        for shard in &self.shards {
            let seg = shard.segment();
            let top = top.min(seg.len());
            let req = SearchRequest {
                vector_name: s.using,
                vector: &q,
                filter: s.filter,
                top,
                ef: s.ef,
                exact: s.exact,
                score_threshold: s.score_threshold,
            };
            for (o, score) in seg.search(&req) {
                if Some(seg.id_of(o)) == s.exclude {
                    continue;
                }
                let p = ScoredPoint {
                    id: seg.id_of(o),
                    version: seg.version_of(o),
                    score,
                    payload: s.with_payload.select(seg.payload(o)),
                    vector: self.vector_output(&seg, o, s.with_vector, unnamed),
                    order_value: None,
                };
                all.push((distance.to_order(score), p));
            }
        }
        all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.id.cmp(&b.1.id)));
        Ok(all
            .into_iter()
            .skip(s.offset)
            .take(s.limit)
            .map(|x| x.1)
            .collect())
    }

    pub fn retrieve(&self, ids: &[PointId], wp: &WithPayload, wv: &WithVector) -> Vec<Record> {
        let unnamed = self.unnamed();
        let mut seen = std::collections::HashSet::new();
        ids.iter()
            .filter(|id| seen.insert(**id))
            .filter_map(|&id| {
                let seg = self.shards[self.shard_of(id)].segment();
                let o = seg.offset_of(id)?;
                Some(self.to_record(&seg, o, wp, wv, unnamed))
            })
            .collect()
    }

    /// Points in id order from `from`; returns the page and the next page's first id.
    pub fn scroll(
        &self,
        from: Option<PointId>,
        limit: usize,
        filter: Option<&Filter>,
        wp: &WithPayload,
        wv: &WithVector,
    ) -> (Vec<Record>, Option<PointId>) {
        let unnamed = self.unnamed();
        let mut page: Vec<Record> = Vec::new();
        let want = limit.saturating_add(1);
        for shard in &self.shards {
            let seg = shard.segment();
            for o in seg.scroll(from, want, filter) {
                page.push(self.to_record(&seg, o, wp, wv, unnamed));
            }
        }
        page.sort_by_key(|r| r.id);
        let next = page.get(limit).map(|r| r.id);
        page.truncate(limit);
        (page, next)
    }

    /// Points ordered by a numeric payload field.
    pub fn scroll_ordered(
        &self,
        ob: &OrderBy,
        limit: usize,
        filter: Option<&Filter>,
        wp: &WithPayload,
        wv: &WithVector,
    ) -> Vec<Record> {
        let unnamed = self.unnamed();
        let mut rows: Vec<(f64, Record)> = Vec::new();
        for shard in &self.shards {
            let seg = shard.segment();
            let mut local: Vec<(f64, u32)> = seg
                .filtered(filter)
                .into_iter()
                .filter_map(|o| Some((seg.order_value(o, &ob.key)?, o)))
                .filter(|(v, _)| match (ob.start_from, ob.direction) {
                    (None, _) => true,
                    (Some(s), Direction::Asc) => *v >= s,
                    (Some(s), Direction::Desc) => *v <= s,
                })
                .collect();
            sort_by_value(&mut local, ob.direction, |x| x.0);
            local.truncate(limit);
            for (v, o) in local {
                let mut r = self.to_record(&seg, o, wp, wv, unnamed);
                r.order_value = Some(v);
                rows.push((v, r));
            }
        }
        sort_by_value(&mut rows, ob.direction, |x| x.0);
        rows.into_iter().take(limit).map(|x| x.1).collect()
    }

    pub fn count(&self, filter: Option<&Filter>) -> usize {
        self.shards.iter().map(|s| s.segment().count(filter)).sum()
    }

    pub fn points_count(&self) -> usize {
        self.count(None)
    }

    pub fn indexed_vectors(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.segment().indexed_vectors())
            .sum()
    }

    pub fn pending_index(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.segment().pending_index())
            .sum()
    }

    pub fn memory_bytes(&self) -> usize {
        self.shards.iter().map(|s| s.segment().memory_bytes()).sum()
    }

    pub fn create_index(&self, key: &str, t: FieldType) {
        self.payload_schema.write().insert(key.to_string(), t);
        for s in &self.shards {
            s.with_segment_mut(|seg| seg.create_field_index(key, t));
        }
    }

    pub fn drop_index(&self, key: &str) {
        self.payload_schema.write().remove(key);
        for s in &self.shards {
            s.with_segment_mut(|seg| seg.drop_field_index(key));
        }
    }

    pub fn payload_index_info(&self) -> BTreeMap<String, PayloadIndexInfo> {
        self.payload_schema
            .read()
            .iter()
            .map(|(k, t)| {
                let points = self
                    .shards
                    .iter()
                    .map(|s| s.segment().field_index_points(k))
                    .sum();
                (
                    k.clone(),
                    PayloadIndexInfo {
                        data_type: *t,
                        params: None,
                        points,
                    },
                )
            })
            .collect()
    }

    pub fn flush(&self) -> CollectionResult<()> {
        self.shards.iter().try_for_each(|s| s.flush())
    }
}

fn sort_by_value<T>(v: &mut [T], dir: Direction, key: impl Fn(&T) -> f64) {
    v.sort_by(|a, b| {
        let o = key(a).total_cmp(&key(b));
        if dir == Direction::Desc {
            o.reverse()
        } else {
            o
        }
    });
}
