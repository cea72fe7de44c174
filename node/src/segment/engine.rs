//! `Segment`: all points of one shard in memory, with payload indexes and one HNSW graph per
//! named vector. Updates append a new offset and retire the old one, so the graph never sees
//! a vector change under it. The graph is filled by `index_step`, called from a background
//! thread; offsets past the graph are searched exactly, so new points are found at once.

use super::distance::Distance;
use super::filter::{Condition, Filter};
use super::filter_eval;
use super::hnsw::{Hnsw, Scored};
use super::payload::{raw_values_at, Payload};
use super::payload_index::{FieldType, PayloadIndex};
use super::point_id::PointId;
use super::record::{NamedVectors, PointRecord};
use super::vectors::{VectorColumn, VectorSpec};
use parking_lot::RwLock;
use std::collections::{BTreeMap, BinaryHeap};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HnswParams {
    pub m: usize,
    pub ef_construct: usize,
    /// Below this many kilobytes of vectors, search is an exact scan.
    pub full_scan_threshold_kb: usize,
    /// Threads that build the graph.
    pub indexing_threads: usize,
}

/// One nearest-neighbour request against a segment.
#[derive(Debug)]
pub struct SearchRequest<'a> {
    pub vector_name: &'a str,
    /// Already preprocessed (normalised for Cosine).
    pub vector: &'a [f32],
    pub filter: Option<&'a Filter>,
    pub top: usize,
    pub ef: Option<usize>,
    pub exact: bool,
    pub score_threshold: Option<f32>,
}

#[derive(Debug)]
pub struct Segment {
    columns: Vec<VectorColumn>,
    graphs: Vec<RwLock<Hnsw>>,
    params: HnswParams,
    ids: Vec<PointId>,
    versions: Vec<u64>,
    live: Vec<bool>,
    payloads: Vec<Payload>,
    id_map: BTreeMap<PointId, u32>,
    index: PayloadIndex,
}

impl Segment {
    pub fn new(specs: Vec<VectorSpec>, params: HnswParams) -> Segment {
        let graphs = specs
            .iter()
            .map(|_| RwLock::new(Hnsw::new(params.m, params.ef_construct)))
            .collect();
        Segment {
            columns: specs.into_iter().map(VectorColumn::new).collect(),
            graphs,
            params,
            ids: Vec::new(),
            versions: Vec::new(),
            live: Vec::new(),
            payloads: Vec::new(),
            id_map: BTreeMap::new(),
            index: PayloadIndex::default(),
        }
    }

    pub fn specs(&self) -> impl Iterator<Item = &VectorSpec> {
        self.columns.iter().map(|c| &c.spec)
    }

    pub fn len(&self) -> usize {
        self.id_map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.id_map.is_empty()
    }

    /// Replaces the index parameters; graphs are rebuilt from scratch in the background.
    pub fn set_hnsw_params(&mut self, params: HnswParams) {
        if params != self.params {
            self.params = params;
            self.graphs = self
                .columns
                .iter()
                .map(|_| RwLock::new(Hnsw::new(params.m, params.ef_construct)))
                .collect();
        }
    }

    pub fn upsert(&mut self, rec: PointRecord) {
        if let Some(old) = self.id_map.get(&rec.id).copied() {
            self.retire(old);
        }
        let offset = self.ids.len() as u32;
        for col in &mut self.columns {
            col.push(rec.vectors.get(&col.spec.name).map(Vec::as_slice));
        }
        self.index.index_point(offset, &rec.payload);
        self.ids.push(rec.id);
        self.versions.push(rec.version);
        self.live.push(true);
        self.payloads.push(rec.payload);
        self.id_map.insert(rec.id, offset);
    }

    fn retire(&mut self, offset: u32) {
        self.live[offset as usize] = false;
        self.payloads[offset as usize] = Payload::new();
    }

    pub fn delete(&mut self, id: PointId) -> bool {
        match self.id_map.remove(&id) {
            Some(offset) => {
                self.retire(offset);
                true
            }
            None => false,
        }
    }

    pub fn get(&self, id: PointId) -> Option<PointRecord> {
        self.id_map.get(&id).map(|&o| self.record(o))
    }

    /// Ids of all live points, in id order.
    pub fn ids(&self) -> Vec<PointId> {
        self.id_map.keys().copied().collect()
    }

    pub fn contains(&self, id: PointId) -> bool {
        self.id_map.contains_key(&id)
    }

    pub fn record(&self, offset: u32) -> PointRecord {
        let vectors: NamedVectors = self
            .columns
            .iter()
            .filter(|c| c.has(offset))
            .map(|c| (c.spec.name.clone(), c.get(offset).to_vec()))
            .collect();
        PointRecord {
            id: self.ids[offset as usize],
            version: self.versions[offset as usize],
            vectors,
            payload: self.payloads[offset as usize].clone(),
        }
    }

    pub fn payload(&self, offset: u32) -> &Payload {
        &self.payloads[offset as usize]
    }

    pub fn id_of(&self, offset: u32) -> PointId {
        self.ids[offset as usize]
    }

    pub fn version_of(&self, offset: u32) -> u64 {
        self.versions[offset as usize]
    }

    pub fn offset_of(&self, id: PointId) -> Option<u32> {
        self.id_map.get(&id).copied()
    }

    /// Replaces a point's payload in place (payload changes do not touch vectors).
    pub fn set_payload(&mut self, id: PointId, payload: Payload, version: u64) {
        if let Some(&o) = self.id_map.get(&id) {
            self.index.index_point(o, &payload);
            self.payloads[o as usize] = payload;
            self.versions[o as usize] = version;
        }
    }

    pub fn create_field_index(&mut self, key: &str, t: FieldType) {
        let payloads = &self.payloads;
        let mut it = self.id_map.values().map(|&o| (o, &payloads[o as usize]));
        self.index.create(key, t, &mut it);
    }

    pub fn drop_field_index(&mut self, key: &str) {
        self.index.fields.remove(key);
    }

    pub fn field_index_points(&self, key: &str) -> usize {
        self.index.fields.get(key).map(|f| f.points()).unwrap_or(0)
    }

    pub fn matches(&self, offset: u32, filter: Option<&Filter>) -> bool {
        self.live[offset as usize]
            && filter.is_none_or(|f| {
                filter_eval::matches(
                    f,
                    self.ids[offset as usize],
                    &self.payloads[offset as usize],
                )
            })
    }

    /// Offsets that may match `filter` (a superset), when it narrows them: by a top-level
    /// `has_id` through the id map, else by a payload index.
    fn candidates(&self, filter: &Filter) -> Option<Vec<u32>> {
        let by_id = filter.must.iter().flatten().find_map(|c| match c {
            Condition::HasId { has_id } => {
                let mut v: Vec<u32> = has_id
                    .iter()
                    .filter_map(|id| self.id_map.get(id).copied())
                    .collect();
                v.sort_unstable();
                v.dedup();
                Some(v)
            }
            _ => None,
        });
        by_id.or_else(|| self.index.candidates(filter))
    }

    /// Live offsets matching the filter, in id order.
    pub fn filtered(&self, filter: Option<&Filter>) -> Vec<u32> {
        if let Some(c) = filter.and_then(|f| self.candidates(f)) {
            let mut v: Vec<u32> = c.into_iter().filter(|&o| self.matches(o, filter)).collect();
            v.sort_by_key(|&o| self.ids[o as usize]);
            return v;
        }
        self.id_map
            .values()
            .copied()
            .filter(|&o| self.matches(o, filter))
            .collect()
    }

    pub fn count(&self, filter: Option<&Filter>) -> usize {
        match filter {
            None => self.id_map.len(),
            Some(_) => self.filtered(filter).len(),
        }
    }

    /// Points with id >= `from`, in id order, at most `limit`.
    pub fn scroll(&self, from: Option<PointId>, limit: usize, filter: Option<&Filter>) -> Vec<u32> {
        let start = from
            .map(std::ops::Bound::Included)
            .unwrap_or(std::ops::Bound::Unbounded);
        if let Some(c) = filter.and_then(|f| self.candidates(f)) {
            let mut v: Vec<u32> = c
                .into_iter()
                .filter(|&o| {
                    self.matches(o, filter) && from.is_none_or(|f| self.ids[o as usize] >= f)
                })
                .collect();
            v.sort_by_key(|&o| self.ids[o as usize]);
            v.truncate(limit);
            return v;
        }
        self.id_map
            .range((start, std::ops::Bound::Unbounded))
            .map(|(_, &o)| o)
            .filter(|&o| self.matches(o, filter))
            .take(limit)
            .collect()
    }

    /// Numeric value of `key` for ordering, if the point has one.
    pub fn order_value(&self, offset: u32, key: &str) -> Option<f64> {
        raw_values_at(&self.payloads[offset as usize], key)
            .into_iter()
            .find_map(|v| match v {
                serde_json::Value::Array(a) => a.iter().find_map(|x| x.as_f64()),
                other => other.as_f64(),
            })
    }

    /// The vector `name` of a point, if it has one.
    pub fn vector(&self, offset: u32, name: &str) -> Option<&[f32]> {
        let c = &self.columns[self.column(name)?];
        c.has(offset).then(|| c.get(offset))
    }

    fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.spec.name == name)
    }

    fn full_scan_points(&self, col: usize) -> usize {
        let dim = self.columns[col].spec.dim.max(1);
        self.params.full_scan_threshold_kb * 1024 / (dim * 4)
    }

    /// Nearest points as (offset, score), best first.
    pub fn search(&self, req: &SearchRequest<'_>) -> Vec<(u32, f32)> {
        let Some(ci) = self.column(req.vector_name) else {
            return Vec::new();
        };
        let col = &self.columns[ci];
        let dist = col.spec.distance;
        let order = |o: u32| dist.to_order(dist.score(req.vector, col.get(o)));
        let accept = |o: u32| col.has(o) && self.matches(o, req.filter);
        let threshold = self.full_scan_points(ci);
        let graph = self.graphs[ci].read();
        let use_graph = !req.exact && self.len() > threshold && !graph.is_empty();

        let mut hits: Vec<Scored> = if let Some(cands) = req.filter.and_then(|f| self.candidates(f))
        {
            if !use_graph || cands.len() <= threshold {
                exact_top(cands.into_iter(), req.top, &order, &accept)
            } else {
                self.graph_then_tail(&graph, req, &order, &accept)
            }
        } else if !use_graph || self.filter_is_selective(req.filter, threshold) {
            exact_top(0..self.ids.len() as u32, req.top, &order, &accept)
        } else {
            self.graph_then_tail(&graph, req, &order, &accept)
        };
        if let Some(t) = req.score_threshold {
            hits.retain(|s| dist.passes(dist.score(req.vector, col.get(s.id)), t));
        }
        hits.into_iter()
            .map(|s| (s.id, dist.score(req.vector, col.get(s.id))))
            .collect()
    }

    fn graph_then_tail(
        &self,
        graph: &Hnsw,
        req: &SearchRequest<'_>,
        order: &dyn Fn(u32) -> f32,
        accept: &dyn Fn(u32) -> bool,
    ) -> Vec<Scored> {
        let ef = req.ef.unwrap_or(self.params.ef_construct).max(req.top);
        let mut hits = graph.search(req.top, ef, order, accept);
        let tail = exact_top(
            graph.len() as u32..self.ids.len() as u32,
            req.top,
            order,
            accept,
        );
        hits.extend(tail);
        hits.sort();
        hits.dedup_by_key(|s| s.id);
        hits.truncate(req.top);
        hits
    }

    /// Estimates from a sample whether few enough points pass the filter for an exact scan.
    fn filter_is_selective(&self, filter: Option<&Filter>, threshold: usize) -> bool {
        let Some(f) = filter else { return false };
        let n = self.ids.len();
        let sample = 512.min(n);
        if sample == 0 {
            return true;
        }
        let step = (n / sample).max(1);
        let hits = (0..n)
            .step_by(step)
            .take(sample)
            .filter(|&o| self.matches(o as u32, Some(f)))
            .count();
        let estimate = hits * n / sample;
        estimate <= threshold
    }

    /// Adds up to `budget` pending offsets to the graphs with `indexing_threads` workers;
    /// returns how many were added. Searches run meanwhile: the graph is only locked
    /// exclusively to make room.
    pub fn index_step(&self, budget: usize) -> usize {
        let threads = self.params.indexing_threads;
        let mut added = 0;
        for (ci, col) in self.columns.iter().enumerate() {
            if self.params.m == 0 || self.len() <= self.full_scan_points(ci) {
                continue;
            }
            let from = self.graphs[ci].read().len();
            let to = col.len().min(from + budget.saturating_sub(added));
            if to <= from {
                continue;
            }
            self.graphs[ci].write().reserve(to);
            let dist = col.spec.distance;
            let d = |a: u32, b: u32| dist.to_order(dist.score(col.get(a), col.get(b)));
            let present = |o: u32| col.has(o) && self.live[o as usize];
            self.graphs[ci]
                .read()
                .insert_range(from, to, threads, &present, &d);
            added += to - from;
        }
        added
    }

    /// Indexes everything pending before returning.
    pub fn build_index(&self) {
        while self.index_step(4096) > 0 {}
    }

    /// Offsets not yet in a graph (0 when the segment is small enough for exact search).
    pub fn pending_index(&self) -> usize {
        self.columns
            .iter()
            .enumerate()
            .filter(|(ci, _)| self.params.m > 0 && self.len() > self.full_scan_points(*ci))
            .map(|(ci, c)| c.len() - self.graphs[ci].read().len())
            .sum()
    }

    pub fn indexed_vectors(&self) -> usize {
        self.graphs.iter().map(|g| g.read().len()).sum()
    }

    /// Heap bytes held by vectors, graphs and ids (payloads not counted).
    pub fn memory_bytes(&self) -> usize {
        self.columns.iter().map(VectorColumn::bytes).sum::<usize>()
            + self.graphs.iter().map(|g| g.read().bytes()).sum::<usize>()
            + self.ids.capacity() * 17
            + self.versions.capacity() * 8
    }

    pub fn distance_of(&self, name: &str) -> Option<Distance> {
        self.column(name).map(|c| self.columns[c].spec.distance)
    }

    /// Every live record, in id order (for snapshots and transfers).
    pub fn iter_live(&self) -> impl Iterator<Item = u32> + '_ {
        self.id_map.values().copied()
    }
}

fn exact_top(
    offsets: impl Iterator<Item = u32>,
    k: usize,
    order: &dyn Fn(u32) -> f32,
    accept: &dyn Fn(u32) -> bool,
) -> Vec<Scored> {
    let mut heap: BinaryHeap<Scored> = BinaryHeap::with_capacity(k + 1);
    if k == 0 {
        return Vec::new();
    }
    for o in offsets {
        if !accept(o) {
            continue;
        }
        let s = Scored {
            dist: order(o),
            id: o,
        };
        if heap.len() < k {
            heap.push(s);
        } else if heap.peek().is_some_and(|w| s < *w) {
            heap.pop();
            heap.push(s);
        }
    }
    heap.into_sorted_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;
    use serde_json::json;

    fn seg(threshold_kb: usize) -> Segment {
        Segment::new(
            vec![VectorSpec {
                name: String::new(),
                dim: 8,
                distance: Distance::Cosine,
            }],
            HnswParams {
                m: 16,
                ef_construct: 100,
                full_scan_threshold_kb: threshold_kb,
                indexing_threads: 2,
            },
        )
    }

    fn rec(i: u64, mut v: Vec<f32>) -> PointRecord {
        Distance::Cosine.preprocess(&mut v);
        let payload = json!({"g": i % 100})
            .as_object()
            .cloned()
            .unwrap_or_default();
        PointRecord {
            id: PointId::Num(i),
            version: i,
            vectors: [(String::new(), v)].into(),
            payload,
        }
    }

    #[test]
    fn upsert_delete_and_search_exact() {
        let mut s = seg(10_000);
        s.upsert(rec(1, vec![1.0; 8]));
        s.upsert(rec(2, vec![-1.0; 8]));
        s.upsert(rec(1, vec![0.5; 8]));
        assert_eq!(s.len(), 2);
        let q = vec![1.0 / 8f32.sqrt(); 8];
        let req = SearchRequest {
            vector_name: "",
            vector: &q,
            filter: None,
            top: 5,
            ef: None,
            exact: false,
            score_threshold: None,
        };
        let hits = s.search(&req);
        assert_eq!(hits.len(), 2);
        assert_eq!(s.id_of(hits[0].0), PointId::Num(1));
        assert!((hits[0].1 - 1.0).abs() < 1e-5);
        assert!(s.delete(PointId::Num(1)));
        let hits = s.search(&req);
        assert_eq!(hits.len(), 1);
        assert_eq!(s.id_of(hits[0].0), PointId::Num(2));
    }

    #[test]
    fn points_not_yet_indexed_are_found() {
        let mut s = seg(1);
        let mut rng = rand::thread_rng();
        for i in 0..500 {
            s.upsert(rec(i, (0..8).map(|_| rng.gen::<f32>() - 0.5).collect()));
        }
        s.build_index();
        assert_eq!(s.pending_index(), 0);
        // Added after the graph was built and not indexed yet: found by the exact tail scan.
        let v = vec![3.0, -1.0, 2.0, 0.5, -2.0, 1.0, 0.0, 4.0];
        s.upsert(rec(10_000, v.clone()));
        assert!(s.pending_index() > 0);
        let mut q = v;
        Distance::Cosine.preprocess(&mut q);
        let req = SearchRequest {
            vector_name: "",
            vector: &q,
            filter: None,
            top: 1,
            ef: Some(16),
            exact: false,
            score_threshold: None,
        };
        let hits = s.search(&req);
        assert_eq!(s.id_of(hits[0].0), PointId::Num(10_000));
    }

    #[test]
    fn graph_search_matches_exact_and_honours_filters() {
        let mut s = seg(1); // 1 kB: the graph is used above 32 points of 8 dims
        let mut rng = rand::thread_rng();
        for i in 0..2000 {
            s.upsert(rec(i, (0..8).map(|_| rng.gen::<f32>() - 0.5).collect()));
        }
        for i in 0..100 {
            s.delete(PointId::Num(i * 3));
        }
        while s.index_step(500) > 0 {}
        assert_eq!(s.pending_index(), 0);
        let filter: Filter =
            serde_json::from_value(json!({"must": [{"key": "g", "range": {"lt": 50}}]})).unwrap();
        let mut overlap = 0;
        for _ in 0..20 {
            let mut q: Vec<f32> = (0..8).map(|_| rng.gen::<f32>() - 0.5).collect();
            Distance::Cosine.preprocess(&mut q);
            let base = SearchRequest {
                vector_name: "",
                vector: &q,
                filter: Some(&filter),
                top: 10,
                ef: Some(64),
                exact: false,
                score_threshold: None,
            };
            let approx = s.search(&base);
            let exact = s.search(&SearchRequest {
                exact: true,
                ..base
            });
            assert!(approx.iter().all(|(o, _)| s.matches(*o, Some(&filter))));
            overlap += approx
                .iter()
                .filter(|a| exact.iter().any(|e| e.0 == a.0))
                .count();
        }
        assert!(overlap >= 180, "recall {overlap}/200");
    }

    #[test]
    fn has_id_narrows_by_the_id_map_and_counts_each_point_once() {
        let mut s = seg(10_000);
        for i in 0..50 {
            s.upsert(rec(i, vec![1.0; 8]));
        }
        s.delete(PointId::Num(3));
        let f: Filter = serde_json::from_value(
            json!({"must": [{"has_id": [1, 1, 3, 2, 999]}, {"key": "g", "range": {"gte": 2}}]}),
        )
        .unwrap();
        assert_eq!(s.count(Some(&f)), 1);
        let ids: Vec<PointId> = s.filtered(Some(&f)).iter().map(|&o| s.id_of(o)).collect();
        assert_eq!(ids, vec![PointId::Num(2)]);
    }
}
