//! Reads across the cluster: fan out through the router, then merge the partial answers
//! (top hits by score, pages by id, counts summed) and resolve replicas' differences when a
//! `consistency` asked more than one replica per shard.

use super::consistency::{Consistency, ReadScope};
use super::router::Router;
use crate::collection::local_read::{
    sort_by_value, sort_hits, ReadReply, ReadRequest, Scroll, Search,
};
use crate::collection::query::{Record, ScoredPoint};
use crate::collection::replicas::ReplicaState;
use crate::collection::sample::{smallest, Sampled};
use crate::collection::shard_key::{ShardKey, ShardKeySelector};
use crate::collection::{Collection, CollectionError, CollectionResult};
use crate::segment::facet::{add_counts, sort_hits as sort_facets, FacetValue};
use crate::segment::filter::Filter;
use crate::segment::point_id::PointId;
use crate::segment::record::{VectorData, VectorOutput, WithPayload, WithVector};
use crate::segment::sparse_vector::idf;
use crate::segment::vectors::{Modifier, VectorKind};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// The dimensions of a sparse vector (none for other kinds).
fn sparse_indices(v: &VectorData) -> &[u32] {
    match v {
        VectorData::Sparse(q) => &q.indices,
        _ => &[],
    }
}

/// Multiplies each value of a sparse vector by its dimension's weight.
fn weigh(v: &mut VectorData, weights: &HashMap<u32, f32>) {
    if let VectorData::Sparse(q) = v {
        for (i, x) in q.indices.iter().zip(q.values.iter_mut()) {
            *x *= weights.get(i).copied().unwrap_or(1.0);
        }
    }
}

/// A point of an answer: its id and the shard key it was found under (a point may be
/// stored under several keys).
type PointCopy = (PointId, Option<ShardKey>);

/// Keeps the items found in enough rounds (first copy wins); one round keeps everything.
fn resolve<T>(
    c: &Collection,
    rounds: Vec<Vec<T>>,
    consistency: Consistency,
    id: impl Fn(&T) -> PointCopy,
) -> Vec<T> {
    if rounds.len() == 1 {
        return rounds.into_iter().next().unwrap_or_default();
    }
    let layout = c.layout();
    let mut seen: HashMap<PointCopy, usize> = HashMap::new();
    for r in &rounds {
        for item in r {
            *seen.entry(id(item)).or_default() += 1;
        }
    }
    // The shards of each key (None: all shards of an automatically sharded collection).
    let mut groups: HashMap<Option<ShardKey>, Vec<u32>> = HashMap::new();
    let mut kept = HashMap::new();
    for item in rounds.into_iter().flatten() {
        let copy = id(&item);
        let group = groups
            .entry(copy.1.clone())
            .or_insert_with(|| match &copy.1 {
                Some(k) => layout.group(Some(k)),
                None => layout.group(None),
            });
        let active = layout
            .route(copy.0, group)
            .map_or(0, |s| layout.peers_in(s, ReplicaState::Active).len());
        let need = consistency.needed(consistency.replicas(active));
        if seen[&copy] >= need {
            kept.entry(copy).or_insert(item);
        }
    }
    kept.into_values().collect()
}

fn hit_copy(h: &ScoredPoint) -> PointCopy {
    (h.id, h.shard_key.clone())
}

fn record_copy(r: &Record) -> PointCopy {
    (r.id, r.shard_key.clone())
}

/// One record per id: a point stored under several keys shows under the first key asked.
fn once_per_id(
    records: Vec<Record>,
    c: &Collection,
    sel: Option<&ShardKeySelector>,
) -> Vec<Record> {
    if !c.custom_sharding() {
        return records;
    }
    let order = c.layout().shard_keys();
    let rank = |r: &Record| {
        let pos = r
            .shard_key
            .as_ref()
            .and_then(|k| order.iter().position(|o| o == k));
        let asked = match (sel, &r.shard_key) {
            (Some(ShardKeySelector::Many(keys)), Some(k)) => keys.iter().position(|x| x == k),
            _ => None,
        };
        (asked.unwrap_or(usize::MAX), pos.unwrap_or(usize::MAX))
    };
    let mut best: HashMap<PointId, Record> = HashMap::new();
    for r in records {
        match best.get(&r.id) {
            Some(b) if rank(b) <= rank(&r) => {}
            _ => {
                best.insert(r.id, r);
            }
        }
    }
    best.into_values().collect()
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
        scope: &ReadScope,
    ) -> CollectionResult<Vec<ScoredPoint>> {
        let (spec, _) = c.prepare_query(&s.using, &s.vector)?;
        let shards = c.read_shards(scope.shard_key.as_ref())?;
        let distance = s.ranking(&spec);
        if spec.kind == VectorKind::Sparse && spec.modifier == Modifier::Idf {
            // One statistics round for the query and every example's dimensions.
            let mut dims: Vec<u32> = sparse_indices(&s.vector).to_vec();
            for v in s.examples.iter().flat_map(|ex| ex.vectors()) {
                dims.extend_from_slice(sparse_indices(v));
            }
            dims.sort_unstable();
            dims.dedup();
            let corpus = s.idf_corpus.clone();
            let weights = self.idf_of(c, &shards, &s.using, dims, corpus).await?;
            weigh(&mut s.vector, &weights);
            if let Some(ex) = s.examples.take() {
                let ex = ex.try_map(|mut v| {
                    weigh(&mut v, &weights);
                    Ok::<_, std::convert::Infallible>(v)
                });
                s.examples = ex.ok().map(Box::new);
            }
        }
        let (offset, limit) = (s.offset, s.limit);
        let consistency = scope.consistency;
        let rounds = self
            .read(c, &shards, consistency, |_| ReadRequest::Search(s.clone()))
            .await?;
        let rounds = rounds.into_iter().map(hits).collect();
        let mut all = resolve(c, rounds, consistency, hit_copy);
        sort_hits(distance, &mut all);
        Ok(all.into_iter().skip(offset).take(limit).collect())
    }

    /// The IDF of each of `dims` over the whole collection (every shard once, so scores
    /// equal a single node's), or over the points matching `corpus`.
    async fn idf_of(
        &self,
        c: &Arc<Collection>,
        shards: &[u32],
        using: &str,
        dims: Vec<u32>,
        corpus: Option<Filter>,
    ) -> CollectionResult<HashMap<u32, f32>> {
        let make = |_: &[u32]| ReadRequest::SparseStats {
            using: using.to_string(),
            indices: dims.clone(),
            corpus: corpus.clone(),
        };
        let rounds = self.read(c, shards, Consistency::One, make).await?;
        let (mut points, mut df) = (0, vec![0usize; dims.len()]);
        for r in rounds.into_iter().next().unwrap_or_default() {
            if let ReadReply::SparseStats { points: n, df: d } = r {
                points += n;
                df.iter_mut().zip(d).for_each(|(a, b)| *a += b);
            }
        }
        Ok(dims
            .into_iter()
            .zip(df)
            .map(|(i, d)| (i, idf(points, d)))
            .collect())
    }

    /// A page of records (id order, or by `order_by`); returns the next page's first id.
    pub async fn scroll(
        &self,
        c: &Arc<Collection>,
        s: Scroll,
        scope: &ReadScope,
    ) -> CollectionResult<(Vec<Record>, Option<PointId>)> {
        let shards = c.read_shards(scope.shard_key.as_ref())?;
        let consistency = scope.consistency;
        let limit = s.limit;
        let mut ask = s.clone();
        if ask.order_by.is_none() {
            ask.limit = limit.saturating_add(1);
        }
        let rounds = self
            .read(c, &shards, consistency, |_| {
                ReadRequest::Scroll(ask.clone())
            })
            .await?;
        let rounds = rounds.into_iter().map(records).collect();
        let page = resolve(c, rounds, consistency, record_copy);
        let mut page = once_per_id(page, c, scope.shard_key.as_ref());
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
        scope: &ReadScope,
    ) -> CollectionResult<usize> {
        let shards = c.read_shards(scope.shard_key.as_ref())?;
        let rounds = self
            .read(c, &shards, scope.consistency, |_| ReadRequest::Count {
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
        scope: &ReadScope,
    ) -> CollectionResult<Vec<(FacetValue, usize)>> {
        let shards = c.read_shards(scope.shard_key.as_ref())?;
        let rounds = self
            .read(c, &shards, scope.consistency, |_| req.clone())
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
        shard_key: Option<&ShardKeySelector>,
    ) -> CollectionResult<Vec<Sampled>> {
        let shards = c.read_shards(shard_key)?;
        let make = |_: &[u32]| ReadRequest::Sample {
            filter: filter.clone(),
            using: using.to_string(),
            count,
        };
        let rounds = self.read(c, &shards, Consistency::One, make).await?;
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
        scope: &ReadScope,
    ) -> CollectionResult<Vec<Record>> {
        let groups = c.key_groups(scope.shard_key.as_ref(), false)?;
        let mut by_shard: BTreeMap<u32, Vec<PointId>> = BTreeMap::new();
        c.with_layout(|layout| {
            for id in ids {
                for s in groups.iter().filter_map(|g| layout.route(*id, g)) {
                    let list = by_shard.entry(s).or_default();
                    if !list.contains(id) {
                        list.push(*id);
                    }
                }
            }
        });
        let shards: Vec<u32> = by_shard.keys().copied().collect();
        let make = |shards: &[u32]| {
            let mut ids: Vec<PointId> = shards.iter().flat_map(|s| by_shard[s].clone()).collect();
            ids.sort_unstable();
            ids.dedup();
            ReadRequest::Retrieve {
                ids,
                with_payload: wp.clone(),
                with_vector: wv.clone(),
            }
        };
        let consistency = scope.consistency;
        let rounds = self.read(c, &shards, consistency, make).await?;
        let rounds = rounds.into_iter().map(records).collect();
        let found = resolve(c, rounds, consistency, record_copy);
        let found: HashMap<PointId, Record> = once_per_id(found, c, scope.shard_key.as_ref())
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
        shard_key: Option<&ShardKeySelector>,
    ) -> CollectionResult<VectorData> {
        let wv = WithVector::Names(vec![using.to_string()]);
        let scope = ReadScope::new(Consistency::One, shard_key.cloned());
        let rec = self
            .retrieve(c, &[id], &WithPayload::Bool(false), &wv, &scope)
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
