//! Query requests of the gRPC API as the collection layer's `QueryRequest`: the universal
//! `Query` (with prefetches) and the deprecated search, recommend and discover requests,
//! each as the `points/query` it is equivalent to. The `query` itself becomes the REST
//! JSON shape, so both APIs parse and validate queries with the same code.

use super::conv_common::{
    bad, consistency, filter, order_by, search_params, with_payload, with_vectors,
};
use super::conv_vectors::{example_json, input_json, legacy_json, vector};
use super::GrpcResult;
use crate::cluster::consistency::Consistency;
use crate::collection::query::{Prefetch, Prefetches, QueryGroupsRequest, QueryRequest};
use crate::collection::shard_key::ShardKeySelector;
use proto::qdrant as g;
use serde_json::{json, Map, Value};

fn strategy(s: Option<i32>) -> GrpcResult<Option<&'static str>> {
    Ok(match s.map(g::RecommendStrategy::try_from) {
        None => None,
        Some(Ok(g::RecommendStrategy::AverageVector)) => Some("average_vector"),
        Some(Ok(g::RecommendStrategy::BestScore)) => Some("best_score"),
        Some(Ok(g::RecommendStrategy::SumScores)) => Some("sum_scores"),
        Some(Err(_)) => return Err(bad("unknown recommend strategy")),
    })
}

fn inputs(list: Vec<g::VectorInput>) -> GrpcResult<Vec<Value>> {
    list.into_iter().map(|v| input_json(Some(v))).collect()
}

fn pairs(list: Vec<g::ContextInputPair>) -> GrpcResult<Value> {
    list.into_iter()
        .map(|p| {
            Ok(json!({"positive": input_json(p.positive)?, "negative": input_json(p.negative)?}))
        })
        .collect::<GrpcResult<Vec<_>>>()
        .map(Value::Array)
}

/// The `query` of a request as REST's JSON.
pub fn query_json(q: Option<g::Query>) -> GrpcResult<Option<Value>> {
    use g::query::Variant as V;
    let Some(variant) = q.and_then(|q| q.variant) else {
        return Ok(None);
    };
    Ok(Some(match variant {
        V::Nearest(v) => input_json(Some(v))?,
        V::NearestWithMmr(n) => {
            let mmr = n.mmr.unwrap_or_default();
            json!({"nearest": input_json(n.nearest)?,
                   "mmr": {"diversity": mmr.diversity, "candidates_limit": mmr.candidates_limit}})
        }
        V::Recommend(r) => {
            let mut m = Map::new();
            m.insert("positive".into(), Value::Array(inputs(r.positive)?));
            m.insert("negative".into(), Value::Array(inputs(r.negative)?));
            if let Some(s) = strategy(r.strategy)? {
                m.insert("strategy".into(), json!(s));
            }
            json!({ "recommend": m })
        }
        V::Discover(d) => json!({"discover": {
            "target": input_json(d.target)?,
            "context": pairs(d.context.map(|c| c.pairs).unwrap_or_default())?,
        }}),
        V::Context(c) => json!({ "context": pairs(c.pairs)? }),
        V::OrderBy(o) => {
            json!({"order_by": serde_json::to_value(order_by(o)?).unwrap_or(Value::Null)})
        }
        V::Fusion(f) => match g::Fusion::try_from(f) {
            Ok(g::Fusion::Rrf) => json!({"fusion": "rrf"}),
            Ok(g::Fusion::Dbsf) => json!({"fusion": "dbsf"}),
            Err(_) => return Err(bad(format!("unknown fusion {f}"))),
        },
        V::Rrf(r) => {
            let mut m = Map::new();
            if let Some(k) = r.k {
                m.insert("k".into(), json!(k));
            }
            if !r.weights.is_empty() {
                m.insert("weights".into(), json!(r.weights));
            }
            json!({ "rrf": m })
        }
        V::Sample(_) => json!({"sample": "random"}),
        V::Formula(_) => json!({"formula": {}}),
        V::RelevanceFeedback(_) => json!({"relevance_feedback": {}}),
    }))
}

fn lookup(l: Option<g::LookupLocation>) -> Option<Value> {
    l.map(|l| json!({"collection": l.collection_name, "vector": l.vector_name}))
}

fn prefetch(p: g::PrefetchQuery) -> GrpcResult<Prefetch> {
    Ok(Prefetch {
        prefetch: prefetches(p.prefetch)?,
        query: query_json(p.query)?,
        using: p.using,
        filter: filter(p.filter)?,
        params: search_params(p.params)?,
        score_threshold: p.score_threshold,
        limit: p.limit.map(|l| l as usize),
        lookup_from: lookup(p.lookup_from),
    })
}

fn prefetches(list: Vec<g::PrefetchQuery>) -> GrpcResult<Option<Prefetches>> {
    if list.is_empty() {
        return Ok(None);
    }
    list.into_iter()
        .map(prefetch)
        .collect::<GrpcResult<Vec<_>>>()
        .map(|v| Some(Prefetches::Many(v)))
}

/// `Points/Query`: the request and its read consistency.
pub fn query(q: g::QueryPoints) -> GrpcResult<(QueryRequest, Consistency)> {
    let shard_key = super::conv_common::shard_key(&q.shard_key_selector)?;
    let req = QueryRequest {
        query: query_json(q.query)?,
        using: q.using,
        filter: filter(q.filter)?,
        params: search_params(q.params)?,
        score_threshold: q.score_threshold,
        limit: q.limit.map(|l| l as usize),
        offset: q.offset.map(|o| o as usize),
        with_vector: Some(with_vectors(q.with_vectors)),
        with_payload: Some(with_payload(q.with_payload, false)),
        prefetch: prefetches(q.prefetch)?,
        lookup_from: lookup(q.lookup_from),
        shard_key,
    };
    Ok((req, consistency(q.read_consistency)?))
}

pub fn query_groups(q: g::QueryPointGroups) -> GrpcResult<(QueryGroupsRequest, Consistency)> {
    let shard_key = super::conv_common::shard_key(&q.shard_key_selector)?;
    let query = QueryRequest {
        query: query_json(q.query)?,
        using: q.using,
        filter: filter(q.filter)?,
        params: search_params(q.params)?,
        score_threshold: q.score_threshold,
        limit: q.limit.map(|l| l as usize),
        offset: None,
        with_vector: Some(with_vectors(q.with_vectors)),
        with_payload: Some(with_payload(q.with_payload, false)),
        prefetch: prefetches(q.prefetch)?,
        lookup_from: lookup(q.lookup_from),
        shard_key,
    };
    let req = QueryGroupsRequest {
        query,
        group_by: q.group_by,
        group_size: q.group_size.map(|g| g as usize),
        with_lookup: q.with_lookup.map(|w| json!({"collection": w.collection})),
    };
    Ok((req, consistency(q.read_consistency)?))
}

/// The `query` of a legacy search: a dense vector, or a sparse one with `sparse_indices`.
struct Legacy {
    query: Value,
    using: Option<String>,
    filter: Option<g::Filter>,
    params: Option<g::SearchParams>,
    score_threshold: Option<f32>,
    limit: u64,
    offset: Option<u64>,
    with_payload: Option<g::WithPayloadSelector>,
    with_vectors: Option<g::WithVectorsSelector>,
    lookup_from: Option<g::LookupLocation>,
    shard_key: Option<ShardKeySelector>,
}

impl Legacy {
    fn request(self) -> GrpcResult<QueryRequest> {
        Ok(QueryRequest {
            query: Some(self.query),
            using: self.using,
            filter: filter(self.filter)?,
            params: search_params(self.params)?,
            score_threshold: self.score_threshold,
            limit: Some(self.limit as usize),
            offset: self.offset.map(|o| o as usize),
            with_vector: Some(with_vectors(self.with_vectors)),
            with_payload: Some(with_payload(self.with_payload, false)),
            prefetch: None,
            lookup_from: lookup(self.lookup_from),
            shard_key: self.shard_key,
        })
    }
}

pub fn search(s: g::SearchPoints) -> GrpcResult<(QueryRequest, Consistency)> {
    let shard_key = super::conv_common::shard_key(&s.shard_key_selector)?;
    let c = consistency(s.read_consistency)?;
    let req = Legacy {
        query: legacy_json(s.vector, s.sparse_indices),
        using: s.vector_name,
        filter: s.filter,
        params: s.params,
        score_threshold: s.score_threshold,
        limit: s.limit,
        offset: s.offset,
        with_payload: s.with_payload,
        with_vectors: s.with_vectors,
        lookup_from: None,
        shard_key,
    }
    .request()?;
    Ok((req, c))
}

pub fn search_groups(s: g::SearchPointGroups) -> GrpcResult<(QueryGroupsRequest, Consistency)> {
    let shard_key = super::conv_common::shard_key(&s.shard_key_selector)?;
    let c = consistency(s.read_consistency)?;
    let query = Legacy {
        query: legacy_json(s.vector, s.sparse_indices),
        using: s.vector_name,
        filter: s.filter,
        params: s.params,
        score_threshold: s.score_threshold,
        limit: u64::from(s.limit),
        offset: None,
        with_payload: s.with_payload,
        with_vectors: s.with_vectors,
        lookup_from: None,
        shard_key,
    }
    .request()?;
    Ok((groups(query, s.group_by, s.group_size, s.with_lookup), c))
}

fn groups(
    query: QueryRequest,
    by: String,
    size: u32,
    lookup: Option<g::WithLookup>,
) -> QueryGroupsRequest {
    QueryGroupsRequest {
        query,
        group_by: by,
        group_size: Some(size as usize),
        with_lookup: lookup.map(|w| json!({"collection": w.collection})),
    }
}

/// `{"recommend": …}` of a legacy recommend request.
fn recommend_json(
    positive: Vec<g::PointId>,
    negative: Vec<g::PointId>,
    positive_vectors: Vec<g::Vector>,
    negative_vectors: Vec<g::Vector>,
    s: Option<i32>,
) -> GrpcResult<Value> {
    let examples = |ids: Vec<g::PointId>, vecs: Vec<g::Vector>| -> GrpcResult<Vec<Value>> {
        let mut out = super::conv_vectors::ids_json(ids)?;
        for v in vecs {
            out.push(super::conv_vectors::data_json(vector(v)?));
        }
        Ok(out)
    };
    let mut m = Map::new();
    m.insert(
        "positive".into(),
        Value::Array(examples(positive, positive_vectors)?),
    );
    m.insert(
        "negative".into(),
        Value::Array(examples(negative, negative_vectors)?),
    );
    if let Some(s) = strategy(s)? {
        m.insert("strategy".into(), json!(s));
    }
    Ok(json!({ "recommend": m }))
}

pub fn recommend(r: g::RecommendPoints) -> GrpcResult<(QueryRequest, Consistency)> {
    let shard_key = super::conv_common::shard_key(&r.shard_key_selector)?;
    let c = consistency(r.read_consistency)?;
    let req = Legacy {
        query: recommend_json(
            r.positive,
            r.negative,
            r.positive_vectors,
            r.negative_vectors,
            r.strategy,
        )?,
        using: r.using,
        filter: r.filter,
        params: r.params,
        score_threshold: r.score_threshold,
        limit: r.limit,
        offset: r.offset,
        with_payload: r.with_payload,
        with_vectors: r.with_vectors,
        lookup_from: r.lookup_from,
        shard_key,
    }
    .request()?;
    Ok((req, c))
}

pub fn recommend_groups(
    r: g::RecommendPointGroups,
) -> GrpcResult<(QueryGroupsRequest, Consistency)> {
    let shard_key = super::conv_common::shard_key(&r.shard_key_selector)?;
    let c = consistency(r.read_consistency)?;
    let query = Legacy {
        query: recommend_json(
            r.positive,
            r.negative,
            r.positive_vectors,
            r.negative_vectors,
            r.strategy,
        )?,
        using: r.using,
        filter: r.filter,
        params: r.params,
        score_threshold: r.score_threshold,
        limit: u64::from(r.limit),
        offset: None,
        with_payload: r.with_payload,
        with_vectors: r.with_vectors,
        lookup_from: r.lookup_from,
        shard_key,
    }
    .request()?;
    Ok((groups(query, r.group_by, r.group_size, r.with_lookup), c))
}

pub fn discover(d: g::DiscoverPoints) -> GrpcResult<(QueryRequest, Consistency)> {
    let shard_key = super::conv_common::shard_key(&d.shard_key_selector)?;
    let c = consistency(d.read_consistency)?;
    let target = d
        .target
        .and_then(|t| t.target.map(|g::target_vector::Target::Single(e)| e));
    let context = d
        .context
        .into_iter()
        .map(|p| Ok(json!({"positive": example_json(p.positive)?, "negative": example_json(p.negative)?})))
        .collect::<GrpcResult<Vec<_>>>()?;
    let mut m = Map::new();
    if target.is_some() {
        m.insert("target".into(), example_json(target)?);
    }
    m.insert("context".into(), Value::Array(context));
    let req = Legacy {
        query: json!({ "discover": m }),
        using: d.using,
        filter: d.filter,
        params: d.params,
        score_threshold: None,
        limit: d.limit,
        offset: d.offset,
        with_payload: d.with_payload,
        with_vectors: d.with_vectors,
        lookup_from: d.lookup_from,
        shard_key,
    }
    .request()?;
    Ok((req, c))
}
