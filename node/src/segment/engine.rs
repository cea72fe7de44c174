//! `Segment`: all points of one shard in memory, with payload indexes, one vector column per
//! name (dense, multi or sparse) and one HNSW graph per dense or multi column. Updates append
//! a new offset and retire the old one, so the graph never sees a vector change under it.
//! The graph is filled by `index_step`, called from a background thread; offsets past the
//! graph are searched exactly, so new points are found at once. Searches are in `search.rs`.

use super::distance::Distance;
use super::filter::Filter;
use super::filter_eval::{self, Point};
use super::hnsw::{Hnsw, Inserting};
use super::payload::{raw_values_at, Payload};
use super::payload_index::{FieldType, PayloadIndex};
use super::point_id::PointId;
use super::quantized::Quantized;
use super::record::{NamedVectors, PointRecord, VectorData};
use super::vectors::{VectorColumn, VectorKind, VectorSpec};
use parking_lot::RwLock;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HnswParams {
    pub m: usize,
    pub ef_construct: usize,
    /// Below this many kilobytes of vectors, search is an exact scan.
    pub full_scan_threshold_kb: usize,
    /// Threads that build the graph.
    pub indexing_threads: usize,
}

/// Sparse vectors: below this many candidates a filtered search scores them directly.
pub const DEFAULT_SPARSE_FULL_SCAN: usize = 5000;

/// Memory held by one named vector's column (and graph).
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnMemory {
    pub name: String,
    pub kind: VectorKind,
    pub vectors: usize,
    pub bytes: usize,
    /// Bytes of vectors in mapped files (`on_disk`), not in `bytes`.
    pub mapped: usize,
}

#[derive(Debug)]
pub struct Segment {
    pub(super) columns: Vec<VectorColumn>,
    pub(super) graphs: Vec<RwLock<Hnsw>>,
    /// Quantized copies of each column's vectors, covering at least its graph's offsets.
    pub(super) quants: Vec<RwLock<Option<Quantized>>>,
    pub(super) params: HnswParams,
    pub(super) ids: Vec<PointId>,
    pub(super) versions: Vec<u64>,
    pub(super) live: Vec<bool>,
    pub(super) payloads: Vec<Payload>,
    pub(super) id_map: BTreeMap<PointId, u32>,
    pub(super) index: PayloadIndex,
    /// Where `on_disk` vectors get their mapped files (in RAM without it).
    disk: Option<PathBuf>,
}

impl Segment {
    pub fn new(specs: Vec<VectorSpec>, params: HnswParams) -> Segment {
        Self::new_in(specs, params, None)
    }

    /// A segment whose `on_disk` vectors are in mapped files in `disk`.
    pub fn new_in(specs: Vec<VectorSpec>, params: HnswParams, disk: Option<PathBuf>) -> Segment {
        let graphs = specs
            .iter()
            .map(|_| RwLock::new(Self::graph(params)))
            .collect();
        Segment {
            quants: specs.iter().map(|_| RwLock::new(None)).collect(),
            columns: (specs.into_iter())
                .map(|s| VectorColumn::new_in(s, disk.as_deref()))
                .collect(),
            graphs,
            params,
            ids: Vec::new(),
            versions: Vec::new(),
            live: Vec::new(),
            payloads: Vec::new(),
            id_map: BTreeMap::new(),
            index: PayloadIndex::default(),
            disk,
        }
    }

    fn graph(params: HnswParams) -> Hnsw {
        Hnsw::new(params.m, params.ef_construct)
    }

    /// An empty segment with the same vectors, parameters and payload indexes: what a
    /// replica that is cleared for a refill starts again from (the old graphs would keep
    /// every retired point as a dead end for searches).
    pub fn emptied(&self) -> Segment {
        let specs = self.specs().cloned().collect();
        let mut s = Segment::new_in(specs, self.params, self.disk.clone());
        for (key, f) in &self.index.fields {
            s.create_field_index(key, f.field_type);
        }
        s
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

    /// Index parameters of column `ci`: its own, else the segment's.
    pub(super) fn col_params(&self, ci: usize) -> HnswParams {
        self.columns[ci].spec.hnsw.unwrap_or(self.params)
    }

    /// Replaces the index parameters; graphs of columns without their own are rebuilt from
    /// scratch in the background.
    pub fn set_hnsw_params(&mut self, params: HnswParams) {
        if params != self.params {
            self.params = params;
            for ci in 0..self.columns.len() {
                if self.columns[ci].spec.hnsw.is_none() {
                    self.graphs[ci] = RwLock::new(Self::graph(params));
                }
            }
        }
    }

    /// Adds an empty column for a new named vector (existing points do not have it).
    pub fn add_column(&mut self, spec: VectorSpec) {
        if self.column(&spec.name).is_some() {
            return;
        }
        let params = spec.hnsw.unwrap_or(self.params);
        let mut col = VectorColumn::new_in(spec, self.disk.as_deref());
        for _ in 0..self.ids.len() {
            col.push(None);
        }
        self.columns.push(col);
        self.graphs.push(RwLock::new(Self::graph(params)));
        self.quants.push(RwLock::new(None));
    }

    /// Drops a named vector's column and graph.
    pub fn remove_column(&mut self, name: &str) {
        if let Some(i) = self.column(name) {
            self.columns.remove(i);
            self.graphs.remove(i);
            self.quants.remove(i);
        }
    }

    /// Applies changed settings of a named vector: the sparse modifier and full scan
    /// threshold take effect at once; another quantization is encoded anew by the indexer;
    /// other index parameters rebuild its graph; another index datatype rebuilds the column
    /// from its stored vectors.
    pub fn update_spec(&mut self, spec: &VectorSpec) {
        let Some(i) = self.column(&spec.name) else {
            return;
        };
        if self.columns[i].spec.quantization != spec.quantization {
            self.columns[i].spec.quantization = spec.quantization;
            *self.quants[i].write() = None;
        }
        let old = &mut self.columns[i];
        let same_data = old.spec.datatype == spec.datatype && old.spec.on_disk == spec.on_disk;
        if old.spec.kind != spec.kind || same_data {
            old.spec.modifier = spec.modifier;
            old.spec.full_scan_threshold = spec.full_scan_threshold;
            if old.spec.hnsw != spec.hnsw {
                old.spec.hnsw = spec.hnsw;
                self.graphs[i] = RwLock::new(Self::graph(spec.hnsw.unwrap_or(self.params)));
            }
            return;
        }
        let regraph = old.spec.datatype != spec.datatype || old.spec.hnsw != spec.hnsw;
        let mut col = VectorColumn::new_in(spec.clone(), self.disk.as_deref());
        for o in 0..old.len() as u32 {
            col.push(old.get(o).as_ref());
            if !self.live[o as usize] {
                col.retire(o);
            }
        }
        self.columns[i] = col;
        // Moved to or from disk, the vectors are the same: the graph and codes still fit,
        // unless the index parameters changed too.
        if regraph {
            self.graphs[i] = RwLock::new(Self::graph(spec.hnsw.unwrap_or(self.params)));
            *self.quants[i].write() = None;
        }
    }

    pub fn upsert(&mut self, rec: PointRecord) {
        if let Some(old) = self.id_map.get(&rec.id).copied() {
            self.retire(old);
        }
        let offset = self.ids.len() as u32;
        for col in &mut self.columns {
            col.push(rec.vectors.get(&col.spec.name));
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
        for col in &mut self.columns {
            col.retire(offset);
        }
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
            .filter_map(|c| Some((c.spec.name.clone(), c.get(offset)?)))
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
                let has = |name: &str| {
                    self.column(name)
                        .is_some_and(|c| self.columns[c].has(offset))
                };
                filter_eval::matches(
                    f,
                    Point {
                        id: self.ids[offset as usize],
                        payload: &self.payloads[offset as usize],
                        has_vector: &has,
                    },
                )
            })
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
    pub fn vector(&self, offset: u32, name: &str) -> Option<VectorData> {
        self.columns[self.column(name)?].get(offset)
    }

    pub(super) fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.spec.name == name)
    }

    /// The spec of a named vector held here.
    pub fn spec(&self, name: &str) -> Option<&VectorSpec> {
        self.column(name).map(|c| &self.columns[c].spec)
    }

    /// Live points with the sparse vector `name` (those matching `corpus`, when given), and
    /// how many of them set each index.
    pub fn sparse_stats(
        &self,
        name: &str,
        indices: &[u32],
        corpus: Option<&Filter>,
    ) -> (usize, Vec<usize>) {
        let Some(super::vectors::Column::Sparse(s)) =
            self.column(name).map(|c| &self.columns[c].data)
        else {
            return (0, vec![0; indices.len()]);
        };
        let Some(corpus) = corpus else {
            return (s.points(), indices.iter().map(|&i| s.df(i)).collect());
        };
        let (mut points, mut df) = (0, vec![0; indices.len()]);
        for o in self
            .filtered(Some(corpus))
            .into_iter()
            .filter(|&o| s.has(o))
        {
            points += 1;
            let v = s.get(o);
            for (d, i) in df.iter_mut().zip(indices) {
                *d += usize::from(v.get(*i).is_some());
            }
        }
        (points, df)
    }

    /// Points below which a search of column `col` is an exact scan.
    pub(super) fn full_scan_points(&self, col: usize) -> usize {
        let c = &self.columns[col];
        match c.spec.kind {
            VectorKind::Sparse => c
                .spec
                .full_scan_threshold
                .unwrap_or(DEFAULT_SPARSE_FULL_SCAN),
            _ => self.col_params(col).full_scan_threshold_kb * 1024 / c.bytes_per_point().max(1),
        }
    }

    /// Whether column `ci` should have a graph now.
    fn wants_graph(&self, ci: usize) -> bool {
        self.col_params(ci).m > 0
            && self.columns[ci].spec.in_graph()
            && self.len() > self.full_scan_points(ci)
    }

    /// Adds up to `budget` pending offsets to the graphs with `indexing_threads` workers;
    /// returns how many were added. Searches run meanwhile: the graph is only locked
    /// exclusively to make room. `stop` true ends the step early (a writer waits for it).
    pub fn index_step(&self, budget: usize, stop: &(dyn Fn() -> bool + Sync)) -> usize {
        let mut added = 0;
        for (ci, col) in self.columns.iter().enumerate() {
            if !self.wants_graph(ci) {
                continue;
            }
            let threads = self.col_params(ci).indexing_threads;
            let from = self.graphs[ci].read().len();
            let to = col.len().min(from + budget.saturating_sub(added));
            // Before the graph links an offset, a walk over codes may reach it.
            self.sync_codes(ci, to.max(from));
            if to <= from {
                continue;
            }
            self.graphs[ci].write().reserve(to);
            let d = |a: u32, b: u32| col.pair_order(a, b);
            let present = |o: u32| col.has(o) && self.live[o as usize];
            let how = Inserting {
                present: &present,
                dist: &d,
                prefetch: &|o| col.prefetch(o),
                stop,
            };
            let end = self.graphs[ci].read().insert_range(from, to, threads, how);
            added += end - from;
            if end < to {
                break;
            }
        }
        added
    }

    /// Column `ci`'s vectors when they are to have codes (a quantization and a dense column
    /// that can take it).
    fn codec(&self, ci: usize) -> Option<&super::dense::DenseColumn> {
        let col = &self.columns[ci];
        col.spec.quantization.and(col.quantizable())
    }

    /// Brings column `ci`'s codes to its quantization, covering offsets below `upto`:
    /// trained (again) off the lock when there are none, they are of another kind, or
    /// their sample was small for this many vectors; otherwise extended.
    fn sync_codes(&self, ci: usize, upto: usize) {
        let (Some(kind), Some(dense)) = (self.columns[ci].spec.quantization, self.codec(ci)) else {
            if self.quants[ci].read().is_some() {
                *self.quants[ci].write() = None;
            }
            return;
        };
        let fresh = match &*self.quants[ci].read() {
            Some(q) if q.kind == kind && !q.wants_training(upto) => {
                if q.len() >= upto {
                    return;
                }
                false
            }
            _ => true,
        };
        if fresh {
            let mut q = Quantized::train(kind, dense, upto);
            q.extend(dense, upto);
            *self.quants[ci].write() = Some(q);
        } else if let Some(q) = self.quants[ci].write().as_mut() {
            q.extend(dense, upto);
        }
    }

    /// Indexes everything pending before returning.
    pub fn build_index(&self) {
        while self.index_step(4096, &|| false) > 0 {}
    }

    /// Offsets not yet in a graph (0 when the segment is small enough for exact search).
    pub fn pending_index(&self) -> usize {
        (0..self.columns.len())
            .filter(|&ci| self.wants_graph(ci))
            .map(|ci| {
                let covered = self.graphs[ci].read().len();
                let coded = match self.codec(ci) {
                    Some(_) => {
                        (self.quants[ci].read().as_ref()).map_or(0, |q| q.len().min(covered))
                    }
                    None => covered,
                };
                self.columns[ci].len() - covered + (covered - coded)
            })
            .sum()
    }

    pub fn indexed_vectors(&self) -> usize {
        self.graphs.iter().map(|g| g.read().len()).sum()
    }

    /// Bytes of vectors in mapped files.
    pub fn mapped_bytes(&self) -> usize {
        self.columns.iter().map(VectorColumn::mapped_bytes).sum()
    }

    /// Heap bytes held by vectors, graphs and ids (payloads not counted).
    pub fn memory_bytes(&self) -> usize {
        self.column_memory().iter().map(|c| c.bytes).sum::<usize>()
            + self.ids.capacity() * 17
            + self.versions.capacity() * 8
    }

    /// Points in a graph that no graph search can reach, over all columns.
    pub fn unreachable_points(&self) -> usize {
        let present = |ci: usize, o: u32| self.columns[ci].has(o) && self.live[o as usize];
        (self.graphs.iter().enumerate())
            .map(|(ci, g)| g.read().unreached(&|o| present(ci, o)).len())
            .sum()
    }

    /// Memory per named vector: its column and graph.
    pub fn column_memory(&self) -> Vec<ColumnMemory> {
        (self.columns.iter().zip(&self.graphs).zip(&self.quants))
            .map(|((c, g), q)| ColumnMemory {
                name: c.spec.name.clone(),
                kind: c.spec.kind,
                vectors: self.id_map.values().filter(|&&o| c.has(o)).count(),
                bytes: c.bytes() + g.read().bytes() + q.read().as_ref().map_or(0, |q| q.bytes()),
                mapped: c.mapped_bytes(),
            })
            .collect()
    }

    pub fn distance_of(&self, name: &str) -> Option<Distance> {
        self.column(name).map(|c| self.columns[c].spec.distance)
    }

    /// Every live record, in id order (for snapshots and transfers).
    pub fn iter_live(&self) -> impl Iterator<Item = u32> + '_ {
        self.id_map.values().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::super::search::SearchRequest;
    use super::super::vectors::QueryVector;
    use super::*;
    use rand::Rng;
    use serde_json::json;

    fn seg(threshold_kb: usize) -> Segment {
        Segment::new(
            vec![VectorSpec::dense("", 8, Distance::Cosine)],
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
            vectors: [(String::new(), VectorData::Dense(v))].into(),
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
        let q = QueryVector::Dense(vec![1.0 / 8f32.sqrt(); 8]);
        let req = SearchRequest {
            vector_name: "",
            vector: &q,
            filter: None,
            top: 5,
            ef: None,
            exact: false,
            quantization: Default::default(),
            score_threshold: None,
            examples: None,
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
        let q = QueryVector::Dense(q);
        let req = SearchRequest {
            vector_name: "",
            vector: &q,
            filter: None,
            top: 1,
            ef: Some(16),
            exact: false,
            quantization: Default::default(),
            score_threshold: None,
            examples: None,
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
        while s.index_step(500, &|| false) > 0 {}
        assert_eq!(s.pending_index(), 0);
        let filter: Filter =
            serde_json::from_value(json!({"must": [{"key": "g", "range": {"lt": 50}}]})).unwrap();
        let mut overlap = 0;
        for _ in 0..20 {
            let mut q: Vec<f32> = (0..8).map(|_| rng.gen::<f32>() - 0.5).collect();
            Distance::Cosine.preprocess(&mut q);
            let q = QueryVector::Dense(q);
            let base = SearchRequest {
                vector_name: "",
                vector: &q,
                filter: Some(&filter),
                top: 10,
                ef: Some(64),
                exact: false,
                quantization: Default::default(),
                score_threshold: None,
                examples: None,
            };
            let approx = s.search(&base);
            let exact = s.search(&SearchRequest {
                exact: true,
                quantization: Default::default(),
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
