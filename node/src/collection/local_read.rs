//! Reads of the shards held on this peer. Each returns a partial answer (a shard's top hits,
//! a page of ids) that the cluster router merges with the answers of other peers.

use super::clocks::{self, Tag};
use super::error::{CollectionError, CollectionResult};
use super::instance::Collection;
use super::ops::spec_of;
use super::query::{Direction, OrderBy, Record, ScoredPoint};
use super::replicas::ReplicaState;
use super::sample::Sampled;
use super::shard::LocalShard;
use super::shard_key::ShardKey;
use crate::segment::distance::Distance;
use crate::segment::examples::Examples;
use crate::segment::facet::{add_counts, FacetValue};
use crate::segment::filter::{Condition, Filter};
use crate::segment::payload_index::FieldType;
use crate::segment::point_id::PointId;
use crate::segment::quantized::QuantSearch;
use crate::segment::record::{VectorData, VectorOutput, WithPayload, WithVector};
use crate::segment::vectors::{QueryVector, VectorSpec};
use crate::segment::SearchRequest;
use crate::segment::Segment;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

/// A nearest-neighbour search; also its wire form between peers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Search {
    pub using: String,
    /// As the request gave it (sparse values already weighted by IDF when the vector has
    /// that modifier); each peer prepares it for its segments.
    pub vector: VectorData,
    pub filter: Option<Filter>,
    pub limit: usize,
    pub offset: usize,
    pub ef: Option<usize>,
    pub exact: bool,
    #[serde(default)]
    pub quantization: QuantSearch,
    pub score_threshold: Option<f32>,
    pub exclude: Option<PointId>,
    pub with_payload: WithPayload,
    pub with_vector: WithVector,
    /// IDF statistics over the points matching this filter instead of all points.
    #[serde(default)]
    pub idf_corpus: Option<Filter>,
    /// Scored against these instead of `vector` (one of them, for the kind checks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub examples: Option<Box<Examples<VectorData>>>,
}

impl Search {
    /// The metric hits are ordered by: the vector's, or higher-is-better for examples.
    pub fn ranking(&self, spec: &VectorSpec) -> Distance {
        match self.examples {
            Some(_) => Distance::Dot,
            None => spec.distance,
        }
    }
}

/// A scroll page request (id order, or by a payload field); the wire form too.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scroll {
    pub from: Option<PointId>,
    pub limit: usize,
    pub filter: Option<Filter>,
    pub order_by: Option<OrderBy>,
    pub with_payload: WithPayload,
    pub with_vector: WithVector,
}

fn vector_output(seg: &Segment, o: u32, with: &WithVector, unnamed: bool) -> Option<VectorOutput> {
    if !with.any() {
        return None;
    }
    let names: Vec<String> = seg
        .specs()
        .map(|s| s.name.clone())
        .filter(|name| with.wants(name))
        .collect();
    let rec = names
        .into_iter()
        .filter_map(|n| Some((n.clone(), seg.vector(o, &n)?)))
        .collect();
    Some(VectorOutput::from_named(rec, unnamed))
}

/// What a read returns of a point: its id, payload and vectors as asked, and the shard key
/// of its shard (`key`).
struct Out<'a> {
    wp: &'a WithPayload,
    wv: &'a WithVector,
    unnamed: bool,
    key: Option<ShardKey>,
}

impl Out<'_> {
    fn record(&self, seg: &Segment, o: u32) -> Record {
        Record {
            id: seg.id_of(o),
            payload: self.wp.select(seg.payload(o)),
            vector: vector_output(seg, o, self.wv, self.unnamed),
            shard_key: self.key.clone(),
            order_value: None,
        }
    }
}

/// Sort key of a search hit: smaller is better, ties broken by id.
pub fn hit_order(distance: Distance, p: &ScoredPoint) -> (f32, PointId) {
    (distance.to_order(p.score), p.id)
}

/// Sorts hits best first.
pub fn sort_hits(distance: Distance, hits: &mut [ScoredPoint]) {
    hits.sort_by(|a, b| {
        let (sa, ia) = hit_order(distance, a);
        let (sb, ib) = hit_order(distance, b);
        sa.total_cmp(&sb).then(ia.cmp(&ib))
    });
}

pub fn sort_by_value<T>(v: &mut [T], dir: Direction, key: impl Fn(&T) -> f64) {
    v.sort_by(|a, b| {
        let o = key(a).total_cmp(&key(b));
        if dir == Direction::Desc {
            o.reverse()
        } else {
            o
        }
    });
}

impl Collection {
    pub(crate) fn pick(&self, shards: &[u32]) -> CollectionResult<Vec<Arc<LocalShard>>> {
        shards.iter().map(|s| self.local_shard(*s)).collect()
    }

    /// The vector `using` of the collection, of any kind (a 400 when there is none).
    pub fn vector_spec(&self, using: &str) -> CollectionResult<VectorSpec> {
        spec_of(&self.specs(), using).cloned()
    }

    /// Checks a query vector against the vector `using` and prepares it for the segments.
    pub fn prepare_query(
        &self,
        using: &str,
        v: &VectorData,
    ) -> CollectionResult<(VectorSpec, QueryVector)> {
        let spec = self.vector_spec(using)?;
        let q = spec
            .prepare(v.clone())
            .map_err(|e| CollectionError::wrong(e.to_string()))?;
        Ok((spec, q))
    }

    /// The best `offset + limit` hits of the given local shards, best first.
    pub fn search_local(&self, shards: &[u32], s: &Search) -> CollectionResult<Vec<ScoredPoint>> {
        let (spec, q) = self.prepare_query(&s.using, &s.vector)?;
        let distance = s.ranking(&spec);
        let examples = match &s.examples {
            None => None,
            Some(ex) => Some((**ex).clone().try_map(|v| {
                spec.prepare(v)
                    .map_err(|e| CollectionError::wrong(e.to_string()))
            })?),
        };
        let top = s
            .offset
            .saturating_add(s.limit)
            .saturating_add(usize::from(s.exclude.is_some()));
        let mut all = Vec::new();
        for shard in self.pick(shards)? {
            let out = self.out(&shard, &s.with_payload, &s.with_vector);
            let seg = shard.segment();
            let filter = self.shard_filter(shard.id, s.filter.as_ref());
            let req = SearchRequest {
                vector_name: &s.using,
                vector: &q,
                filter: filter.as_deref(),
                top: top.min(seg.len()),
                ef: s.ef,
                exact: s.exact,
                quantization: s.quantization,
                score_threshold: s.score_threshold,
                examples: examples.as_ref(),
            };
            for (o, score) in seg.search(&req) {
                if Some(seg.id_of(o)) == s.exclude {
                    continue;
                }
                all.push(ScoredPoint {
                    version: seg.version_of(o),
                    score,
                    ..ScoredPoint::from(out.record(&seg, o))
                });
            }
        }
        sort_hits(distance, &mut all);
        all.truncate(top);
        Ok(all)
    }

    /// Up to `limit` records of the given local shards, in id order or by `order_by`.
    pub fn scroll_local(&self, shards: &[u32], r: &Scroll) -> CollectionResult<Vec<Record>> {
        let mut page: Vec<Record> = Vec::new();
        for shard in self.pick(shards)? {
            let out = self.out(&shard, &r.with_payload, &r.with_vector);
            let seg = shard.segment();
            let filter = self.shard_filter(shard.id, r.filter.as_ref());
            let offsets = match &r.order_by {
                None => seg.scroll(r.from, r.limit, filter.as_deref()),
                Some(ob) => ordered(&seg, ob, r.limit, filter.as_deref()),
            };
            for o in offsets {
                let mut rec = out.record(&seg, o);
                if let Some(ob) = &r.order_by {
                    rec.order_value = seg.order_value(o, &ob.key);
                }
                page.push(rec);
            }
        }
        match &r.order_by {
            None => page.sort_by_key(|r| r.id),
            Some(ob) => sort_by_value(&mut page, ob.direction, |r| {
                r.order_value.unwrap_or_default()
            }),
        }
        page.truncate(r.limit);
        Ok(page)
    }

    pub fn count_local(&self, shards: &[u32], filter: Option<&Filter>) -> CollectionResult<usize> {
        Ok(self
            .pick(shards)?
            .iter()
            .map(|s| {
                s.segment()
                    .count(self.shard_filter(s.id, filter).as_deref())
            })
            .sum())
    }

    /// Records of the given ids held in the given local shards.
    pub fn retrieve_local(
        &self,
        shards: &[u32],
        ids: &[PointId],
        wp: &WithPayload,
        wv: &WithVector,
    ) -> CollectionResult<Vec<Record>> {
        let mut found = Vec::new();
        for shard in self.pick(shards)? {
            let out = self.out(&shard, wp, wv);
            let seg = shard.segment();
            let hidden = self.hidden(shard.id);
            for &id in ids
                .iter()
                .filter(|id| !hidden.is_some_and(|h| h.holds(**id)))
            {
                if let Some(o) = seg.offset_of(id) {
                    found.push(out.record(&seg, o));
                }
            }
        }
        Ok(found)
    }

    fn out<'a>(&self, shard: &LocalShard, wp: &'a WithPayload, wv: &'a WithVector) -> Out<'a> {
        Out {
            wp,
            wv,
            unnamed: self.unnamed(),
            key: self.key_of(shard.id),
        }
    }
}

/// Offsets of points with a numeric `ob.key`, best `limit` in the asked direction.
fn ordered(seg: &Segment, ob: &OrderBy, limit: usize, filter: Option<&Filter>) -> Vec<u32> {
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
    local.into_iter().map(|x| x.1).collect()
}

/// A read of some local shards; the wire form between peers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadRequest {
    Search(Search),
    Scroll(Scroll),
    Count {
        filter: Option<Filter>,
    },
    Retrieve {
        ids: Vec<PointId>,
        with_payload: WithPayload,
        with_vector: WithVector,
    },
    /// Points of the shards not yet in their HNSW graph (answered as a count).
    PendingIndex,
    /// The clocks of one shard's replica, and the points it changed by writes newer than
    /// `source` (a `wal_delta` transfer's source asks its target).
    Clocks {
        source: Vec<Tag>,
    },
    /// Up to `count` random points with the vector `using`.
    Sample {
        filter: Option<Filter>,
        using: String,
        count: usize,
    },
    /// Points per value of a payload key indexed as `kind`.
    Facet {
        key: String,
        kind: FieldType,
        filter: Option<Filter>,
    },
    /// Points with the sparse vector `using` (among those matching `corpus`), and how many
    /// of them set each of `indices` (IDF).
    SparseStats {
        using: String,
        indices: Vec<u32>,
        #[serde(default)]
        corpus: Option<Filter>,
    },
}

/// The partial answer of one peer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadReply {
    Hits(Vec<ScoredPoint>),
    Records(Vec<Record>),
    Count(usize),
    Facets(Vec<(FacetValue, usize)>),
    Sampled(Vec<Sampled>),
    SparseStats {
        points: usize,
        df: Vec<usize>,
    },
    Clocks {
        clocks: Vec<Tag>,
        touched: Result<Vec<PointId>, String>,
    },
}

impl Collection {
    /// Runs a read on the given local shards (for `Retrieve`: the shards of its ids).
    /// Data reads need this peer's replicas `Active` in its own layout: a sender whose layout
    /// lags may still take a replica being re-filled for a readable one.
    pub fn read_local(&self, shards: &[u32], r: &ReadRequest) -> CollectionResult<ReadReply> {
        if !matches!(r, ReadRequest::PendingIndex | ReadRequest::Clocks { .. }) {
            self.check_active(shards)?;
        }
        Ok(match r {
            ReadRequest::Clocks { source } => {
                let [id] = shards else {
                    return Err(CollectionError::BadInput("clocks of one shard only".into()));
                };
                let shard = self.local_shard(*id)?;
                ReadReply::Clocks {
                    clocks: clocks::to_list(&shard.clocks()),
                    touched: shard.touched_since(&clocks::from_list(source)),
                }
            }
            ReadRequest::Search(s) => ReadReply::Hits(self.search_local(shards, s)?),
            ReadRequest::Scroll(s) => ReadReply::Records(self.scroll_local(shards, s)?),
            ReadRequest::Count { filter } => {
                ReadReply::Count(self.count_local(shards, filter.as_ref())?)
            }
            ReadRequest::Retrieve {
                ids,
                with_payload,
                with_vector,
            } => ReadReply::Records(self.retrieve_local(shards, ids, with_payload, with_vector)?),
            ReadRequest::Facet { key, kind, filter } => {
                let mut counts: HashMap<FacetValue, usize> = HashMap::new();
                for shard in self.pick(shards)? {
                    let filter = self.shard_filter(shard.id, filter.as_ref());
                    add_counts(
                        &mut counts,
                        shard.segment().facet(key, *kind, filter.as_deref()),
                    );
                }
                ReadReply::Facets(counts.into_iter().collect())
            }
            ReadRequest::Sample {
                filter,
                using,
                count,
            } => ReadReply::Sampled(self.sample_local(shards, filter.as_ref(), using, *count)?),
            ReadRequest::SparseStats {
                using,
                indices,
                corpus,
            } => {
                let (mut points, mut df) = (0, vec![0; indices.len()]);
                for shard in self.pick(shards)? {
                    let corpus = self.shard_filter(shard.id, corpus.as_ref());
                    let (n, d) = shard
                        .segment()
                        .sparse_stats(using, indices, corpus.as_deref());
                    points += n;
                    df.iter_mut().zip(d).for_each(|(a, b)| *a += b);
                }
                ReadReply::SparseStats { points, df }
            }
            ReadRequest::PendingIndex => ReadReply::Count(
                self.pick(shards)?
                    .iter()
                    .map(|s| s.segment().pending_index())
                    .sum(),
            ),
        })
    }

    /// The filter a read of local `shard` runs with: the request's, and without the points
    /// a resharding hides there.
    pub(crate) fn shard_filter<'a>(
        &self,
        shard: u32,
        filter: Option<&'a Filter>,
    ) -> Option<Cow<'a, Filter>> {
        let Some(slot) = self.hidden(shard) else {
            return filter.map(Cow::Borrowed);
        };
        let mut f = filter.cloned().unwrap_or_default();
        f.must_not
            .get_or_insert_with(Vec::new)
            .push(Condition::InSlot(slot));
        Some(Cow::Owned(f))
    }

    fn check_active(&self, shards: &[u32]) -> CollectionResult<()> {
        for s in shards {
            match self.replica_state(*s, self.local_peer) {
                Some(ReplicaState::Active) => {}
                state => {
                    return Err(CollectionError::Unavailable(format!(
                        "Service unavailable: the replica of shard {s} of `{}` on this peer is {}",
                        self.name,
                        state.map_or("gone".to_string(), |st| format!("{st:?}"))
                    )))
                }
            }
        }
        Ok(())
    }
}
