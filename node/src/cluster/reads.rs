//! Reads across the cluster: fan out through the router, then merge the partial answers
//! (top hits by score, pages by id, counts summed) and resolve replicas' differences when a
//! `consistency` asked more than one replica per shard.

use super::consistency::Consistency;
use super::router::Router;
use crate::collection::local_read::{
    sort_by_value, sort_hits, ReadReply, ReadRequest, Scroll, Search,
};
use crate::collection::query::{Record, ScoredPoint};
use crate::collection::sample::{smallest, Sampled};
use crate::collection::{Collection, CollectionError, CollectionResult};
use crate::segment::facet::{add_counts, sort_hits as sort_facets, FacetValue};
use crate::segment::filter::Filter;
use crate::segment::point_id::PointId;
use crate::segment::record::{VectorData, VectorOutput, WithPayload, WithVector};
use crate::segment::sparse_vector::idf;
use crate::segment::vectors::{Modifier, VectorKind};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

fn all_shards(c: &Collection) -> Vec<u32> {
    (0..c.shard_number()).collect()
}

/// Keeps the items found in enough rounds (first copy wins); one round keeps everything.
fn resolve<T>(
    c: &Collection,
    rounds: Vec<Vec<T>>,
    consistency: Consistency,
    id: impl Fn(&T) -> PointId,
) -> Vec<T> {
    if rounds.len() == 1 {
        return rounds.into_iter().next().unwrap_or_default();
    }
    let layout = c.layout();
    let mut seen: HashMap<PointId, usize> = HashMap::new();
    for r in &rounds {
        for item in r {
            *seen.entry(id(item)).or_default() += 1;
        }
    }
    let mut kept = HashMap::new();
    for item in rounds.into_iter().flatten() {
        let pid = id(&item);
        let active = layout
            .peers_in(
                c.shard_of(pid),
                crate::collection::replicas::ReplicaState::Active,
            )
            .len();
        let need = consistency.needed(consistency.replicas(active));
        if seen[&pid] >= need {
            kept.entry(pid).or_insert(item);
        }
    }
    kept.into_values().collect()
}

fn hits(replies: Vec<ReadReply>) -> Vec<ScoredPoint> {
    replies
        .into_iter()
        .flat_map(|r| match r {
            ReadReply::Hits(h) => h,
            _ => Vec::new(),
        })
        .collect()
}

fn records(replies: Vec<ReadReply>) -> Vec<Record> {
    replies
        .into_iter()
        .flat_map(|r| match r {
            ReadReply::Records(h) => h,
            _ => Vec::new(),
        })
        .collect()
}

impl Router {
    /// Nearest neighbours over all shards: `offset` skipped, `limit` kept.
    pub async fn search(
        &self,
        c: &Arc<Collection>,
        mut s: Search,
        consistency: Consistency,
    ) -> CollectionResult<Vec<ScoredPoint>> {
        let (spec, _) = c.prepare_query(&s.using, &s.vector)?;
        let distance = s.ranking(&spec);
        if spec.kind == VectorKind::Sparse && spec.modifier == Modifier::Idf {
            let corpus = s.idf_corpus.clone();
            s.vector = self
                .weigh_by_idf(c, &s.using, s.vector, corpus.clone())
                .await?;
            if let Some(ex) = s.examples.take() {
                let mut weighed = Vec::new();
                for v in ex.vectors() {
                    let v = v.clone();
                    weighed.push(self.weigh_by_idf(c, &s.using, v, corpus.clone()).await?);
                }
                let mut it = weighed.into_iter();
                let ex =
                    ex.try_map(|_| it.next().ok_or(CollectionError::Task("examples".into())))?;
                s.examples = Some(Box::new(ex));
            }
        }
        let (offset, limit) = (s.offset, s.limit);
        let rounds = self
            .read(c, &all_shards(c), consistency, |_| {
                ReadRequest::Search(s.clone())
            })
            .await?;
        let rounds = rounds.into_iter().map(hits).collect();
        let mut all = resolve(c, rounds, consistency, |h: &ScoredPoint| h.id);
        sort_hits(distance, &mut all);
        Ok(all.into_iter().skip(offset).take(limit).collect())
    }

    /// Multiplies each value of a sparse query by its dimension's IDF over the whole
    /// collection (every shard once, so scores equal a single node's), or over the points
    /// matching `corpus`.
    async fn weigh_by_idf(
        &self,
        c: &Arc<Collection>,
        using: &str,
        v: VectorData,
        corpus: Option<Filter>,
    ) -> CollectionResult<VectorData> {
        let VectorData::Sparse(mut q) = v else {
            return Ok(v);
        };
        let make = |_: &[u32]| ReadRequest::SparseStats {
            using: using.to_string(),
            indices: q.indices.clone(),
            corpus: corpus.clone(),
        };
        let rounds = self.read(c, &all_shards(c), Consistency::One, make).await?;
        let (mut points, mut df) = (0, vec![0usize; q.indices.len()]);
        for r in rounds.into_iter().next().unwrap_or_default() {
            if let ReadReply::SparseStats { points: n, df: d } = r {
                points += n;
                df.iter_mut().zip(d).for_each(|(a, b)| *a += b);
            }
        }
        for (v, d) in q.values.iter_mut().zip(df) {
            *v *= idf(points, d);
        }
        Ok(VectorData::Sparse(q))
    }

    /// A page of records (id order, or by `order_by`); returns the next page's first id.
    pub async fn scroll(
        &self,
        c: &Arc<Collection>,
        s: Scroll,
        consistency: Consistency,
    ) -> CollectionResult<(Vec<Record>, Option<PointId>)> {
        let limit = s.limit;
        let mut ask = s.clone();
        if ask.order_by.is_none() {
            ask.limit = limit.saturating_add(1);
        }
        let rounds = self
            .read(c, &all_shards(c), consistency, |_| {
                ReadRequest::Scroll(ask.clone())
            })
            .await?;
        let rounds = rounds.into_iter().map(records).collect();
        let mut page = resolve(c, rounds, consistency, |r: &Record| r.id);
        match &s.order_by {
            None => page.sort_by_key(|r| r.id),
            Some(ob) => sort_by_value(&mut page, ob.direction, |r| {
                r.order_value.unwrap_or_default()
            }),
        }
        let next = match s.order_by {
            None => page.get(limit).map(|r| r.id),
            Some(_) => None,
        };
        page.truncate(limit);
        Ok((page, next))
    }

    /// Exact count over all shards (with several replicas asked: the largest answer).
    pub async fn count(
        &self,
        c: &Arc<Collection>,
        filter: Option<Filter>,
        consistency: Consistency,
    ) -> CollectionResult<usize> {
        let rounds = self
            .read(c, &all_shards(c), consistency, |_| ReadRequest::Count {
                filter: filter.clone(),
            })
            .await?;
        let totals = rounds.into_iter().map(|r| {
            r.into_iter()
                .map(|x| match x {
                    ReadReply::Count(n) => n,
                    _ => 0,
                })
                .sum::<usize>()
        });
        Ok(totals.max().unwrap_or(0))
    }

    /// Points per value of `key` over all shards, most first, at most `limit` values (with
    /// several replicas asked: the largest count of each value).
    pub async fn facet(
        &self,
        c: &Arc<Collection>,
        req: ReadRequest,
        limit: usize,
        consistency: Consistency,
    ) -> CollectionResult<Vec<(FacetValue, usize)>> {
        let rounds = self
            .read(c, &all_shards(c), consistency, |_| req.clone())
            .await?;
        let mut best: HashMap<FacetValue, usize> = HashMap::new();
        for round in rounds {
            let mut sums: HashMap<FacetValue, usize> = HashMap::new();
            for r in round {
                if let ReadReply::Facets(f) = r {
                    add_counts(&mut sums, f);
                }
            }
            for (v, n) in sums {
                let slot = best.entry(v).or_default();
                *slot = (*slot).max(n);
            }
        }
        let mut hits: Vec<(FacetValue, usize)> = best.into_iter().collect();
        sort_facets(&mut hits);
        hits.truncate(limit);
        Ok(hits)
    }

    /// Up to `count` points drawn uniformly from those matching `filter` that have the
    /// vector `using` (one replica per shard is enough for a sample).
    pub async fn sample(
        &self,
        c: &Arc<Collection>,
        filter: Option<Filter>,
        using: &str,
        count: usize,
    ) -> CollectionResult<Vec<Sampled>> {
        let make = |_: &[u32]| ReadRequest::Sample {
            filter: filter.clone(),
            using: using.to_string(),
            count,
        };
        let rounds = self.read(c, &all_shards(c), Consistency::One, make).await?;
        let all = rounds
            .into_iter()
            .next()
            .unwrap_or_default()
            .into_iter()
            .flat_map(|r| match r {
                ReadReply::Sampled(s) => s,
                _ => Vec::new(),
            })
            .collect();
        Ok(smallest(all, count))
    }

    /// Records of `ids` (duplicates once), in the order asked.
    pub async fn retrieve(
        &self,
        c: &Arc<Collection>,
        ids: &[PointId],
        wp: &WithPayload,
        wv: &WithVector,
        consistency: Consistency,
    ) -> CollectionResult<Vec<Record>> {
        let mut by_shard: BTreeMap<u32, Vec<PointId>> = BTreeMap::new();
        for id in ids {
            let list = by_shard.entry(c.shard_of(*id)).or_default();
            if !list.contains(id) {
                list.push(*id);
            }
        }
        let shards: Vec<u32> = by_shard.keys().copied().collect();
        let make = |shards: &[u32]| ReadRequest::Retrieve {
            ids: shards.iter().flat_map(|s| by_shard[s].clone()).collect(),
            with_payload: wp.clone(),
            with_vector: wv.clone(),
        };
        let rounds = self.read(c, &shards, consistency, make).await?;
        let rounds = rounds.into_iter().map(records).collect();
        let found: HashMap<PointId, Record> = resolve(c, rounds, consistency, |r: &Record| r.id)
            .into_iter()
            .map(|r| (r.id, r))
            .collect();
        let mut seen = std::collections::HashSet::new();
        Ok(ids
            .iter()
            .filter(|id| seen.insert(**id))
            .filter_map(|id| found.get(id).cloned())
            .collect())
    }

    /// The stored vector `using` of a point, for queries by id.
    pub async fn vector_of(
        &self,
        c: &Arc<Collection>,
        id: PointId,
        using: &str,
    ) -> CollectionResult<VectorData> {
        let wv = WithVector::Names(vec![using.to_string()]);
        let rec = self
            .retrieve(c, &[id], &WithPayload::Bool(false), &wv, Consistency::One)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| CollectionError::PointNotFound(id.to_string()))?;
        let missing = || CollectionError::wrong(format!("point {id} has no vector `{using}`"));
        match rec.vector.ok_or_else(missing)? {
            VectorOutput::Single(v) => Ok(v),
            VectorOutput::Named(mut m) => m.remove(using).ok_or_else(missing),
        }
    }
}
