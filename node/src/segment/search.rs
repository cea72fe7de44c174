//! Reads of a `Segment` by filter and by vector. The plan of a vector search: sparse
//! columns through their inverted index (or a direct scoring of few filtered candidates);
//! dense and multi columns exactly when the segment is below `full_scan_threshold`,
//! `exact=true`, or a filter leaves few points, otherwise through the HNSW graph (filter
//! checked on each visited node) plus an exact scan of the offsets not yet in the graph.

use super::engine::Segment;
use super::examples::Examples;
use super::filter::{Condition, Filter};
use super::hnsw::{Hnsw, Probe, Scored};
use super::point_id::PointId;
use super::quantized::{QuantSearch, Quantized};
use super::sparse_index::top_k;
use super::vectors::{Column, QueryVector, VectorColumn};
use std::collections::BinaryHeap;

/// One nearest-neighbour request against a segment.
#[derive(Debug)]
pub struct SearchRequest<'a> {
    pub vector_name: &'a str,
    /// Prepared for the column (`VectorSpec::prepare`).
    pub vector: &'a QueryVector,
    pub filter: Option<&'a Filter>,
    pub top: usize,
    pub ef: Option<usize>,
    pub exact: bool,
    pub quantization: QuantSearch,
    pub score_threshold: Option<f32>,
    /// Score against these examples instead of `vector` (which is then one of them).
    pub examples: Option<&'a Examples<QueryVector>>,
}

impl<'a> SearchRequest<'a> {
    /// The `top` nearest points to `vector`: no filter, the graph's own `ef`, no threshold.
    pub fn nearest(vector_name: &'a str, vector: &'a QueryVector, top: usize) -> Self {
        SearchRequest {
            vector_name,
            vector,
            filter: None,
            top,
            ef: None,
            exact: false,
            quantization: QuantSearch::default(),
            score_threshold: None,
            examples: None,
        }
    }
}

impl Segment {
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

    /// Nearest points as (offset, score), best first. A query of another kind than the
    /// column finds nothing (callers check kinds before).
    pub fn search(&self, req: &SearchRequest<'_>) -> Vec<(u32, f32)> {
        let Some(ci) = self.column(req.vector_name) else {
            return Vec::new();
        };
        let col = &self.columns[ci];
        if let Some(ex) = req.examples {
            return self.examples_search(ci, ex, req);
        }
        if let (Column::Sparse(_), QueryVector::Sparse(_)) = (&col.data, req.vector) {
            return self.sparse_search(ci, req);
        }
        let order = |o: u32| col.order(req.vector, o).unwrap_or(f32::INFINITY);
        let mut hits = self.planned(ci, req, &order);
        let dist = col.spec.distance;
        if let Some(t) = req.score_threshold {
            hits.retain(|s| dist.passes(col.score_of_order(s.dist), t));
        }
        hits.into_iter()
            .map(|s| (s.id, col.score_of_order(s.dist)))
            .collect()
    }

    /// The best `req.top` points of column `ci` by `order` (smaller is better, infinite
    /// left out) that have the vector and pass the filter: an exact scan when the column is
    /// small, `exact` is asked, the column has no graph, or the filter leaves few points;
    /// otherwise the HNSW graph plus an exact scan of the points not yet in it.
    fn planned(
        &self,
        ci: usize,
        req: &SearchRequest<'_>,
        order: &dyn Fn(u32) -> f32,
    ) -> Vec<Scored> {
        let col = &self.columns[ci];
        let accept = |o: u32| col.has(o) && self.matches(o, req.filter);
        let threshold = self.full_scan_points(ci);
        let graph = self.graphs[ci].read();
        // A walk that keeps a quarter of the points in its queue costs more than a scan.
        let use_graph = col.spec.in_graph()
            && !req.exact
            && self.len() > threshold
            && self.graph_ef(ci, req).saturating_mul(4) < self.len()
            && !graph.is_empty();
        let mut hits = match req.filter.and_then(|f| self.candidates(f)) {
            Some(c) if !use_graph || c.len() <= threshold => {
                exact_top(c.into_iter(), req.top, order, &accept)
            }
            None if !use_graph || self.filter_is_selective(req.filter, threshold) => {
                exact_top(0..self.ids.len() as u32, req.top, order, &accept)
            }
            _ => self.graph_then_tail(ci, &graph, req, order, &accept),
        };
        hits.retain(|s| s.dist.is_finite());
        hits
    }

    /// Points scored against several examples, best first, planned like a nearest search.
    fn examples_search(
        &self,
        ci: usize,
        ex: &Examples<QueryVector>,
        req: &SearchRequest<'_>,
    ) -> Vec<(u32, f32)> {
        let col = &self.columns[ci];
        // Sparse points sharing no dimension with an example have similarity 0 to it.
        let missing = if col.spec.in_graph() {
            f32::NEG_INFINITY
        } else {
            0.0
        };
        let order = |o: u32| -ex.score(|q| col.order(q, o).map_or(missing, |d| -d));
        let mut hits = self.planned(ci, req, &order);
        // Qdrant applies the threshold in the metric's direction here too.
        if let Some(t) = req.score_threshold {
            hits.retain(|s| col.spec.distance.passes(-s.dist, t));
        }
        hits.into_iter().map(|s| (s.id, -s.dist)).collect()
    }

    /// Sparse search: the inverted index, or direct scores of few filtered candidates.
    fn sparse_search(&self, ci: usize, req: &SearchRequest<'_>) -> Vec<(u32, f32)> {
        let col: &VectorColumn = &self.columns[ci];
        let (Column::Sparse(sc), QueryVector::Sparse(q)) = (&col.data, req.vector) else {
            return Vec::new();
        };
        let accept = |o: u32| self.matches(o, req.filter);
        let cands = req.filter.and_then(|f| self.candidates(f));
        let mut hits = match cands {
            Some(c) if c.len() < self.full_scan_points(ci) => top_k(
                c.into_iter().filter_map(|o| Some((o, sc.score(q, o)?))),
                req.top,
                &accept,
            ),
            _ => sc.search(q, req.top, &accept),
        };
        if let Some(t) = req.score_threshold {
            hits.retain(|h| h.1 >= t);
        }
        hits
    }

    fn graph_then_tail(
        &self,
        ci: usize,
        graph: &Hnsw,
        req: &SearchRequest<'_>,
        order: &dyn Fn(u32) -> f32,
        accept: &dyn Fn(u32) -> bool,
    ) -> Vec<Scored> {
        let ef = self.graph_ef(ci, req);
        let col = &self.columns[ci];
        let quant = self.quants[ci].read();
        let mut hits = match (quant.as_ref(), req.vector) {
            (Some(q), QueryVector::Dense(v))
                if !req.quantization.ignore && req.examples.is_none() && q.len() >= graph.len() =>
            {
                quantized_walk(graph, q, v, ef, req, order, accept)
            }
            _ => {
                let probe = Probe {
                    dist: order,
                    prefetch: &|o| col.prefetch(o),
                };
                graph.search(req.top, ef, probe, accept)
            }
        };
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

    /// The queue size of a graph walk: `hnsw_ef`, else `ef_construct`, at least `top`.
    fn graph_ef(&self, ci: usize, req: &SearchRequest<'_>) -> usize {
        req.ef
            .unwrap_or(self.col_params(ci).ef_construct)
            .max(req.top)
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
}

/// A graph walk over the codes: the best `top * oversampling` by their codes, rescored with
/// the original vectors when asked (or by default for the kind), then the best `top`.
fn quantized_walk(
    graph: &Hnsw,
    q: &Quantized,
    query: &[f32],
    ef: usize,
    req: &SearchRequest<'_>,
    order: &dyn Fn(u32) -> f32,
    accept: &dyn Fn(u32) -> bool,
) -> Vec<Scored> {
    let p = req.quantization;
    let k = (req.top as f64 * p.oversampling.unwrap_or(1.0)).ceil() as usize;
    let qq = q.prepare(query);
    let probe = Probe {
        dist: &|o| q.order(&qq, o),
        prefetch: &|o| q.prefetch(o),
    };
    let mut hits = graph.search(k, ef.max(k), probe, accept);
    if p.rescore.unwrap_or(q.kind.rescores_by_default()) {
        hits.iter_mut().for_each(|h| h.dist = order(h.id));
        hits.sort();
    }
    hits.truncate(req.top);
    hits
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
#[path = "search_tests.rs"]
mod tests;
