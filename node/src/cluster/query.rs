//! Query planning over all shards of a collection, below the REST and gRPC edges: a query
//! with its prefetches (`prefetch.rs`), recommendations (`recommend.rs`), plain nearest,
//! by-id and order-by stages, and groups. Each search goes through the router's fan-out.

use super::consistency::{Consistency, ReadScope};
use super::prefetch::{self, Stage};
use super::recommend::{self, Lookup};
use super::router::Router;
use crate::collection::local_read::{Scroll, Search};
use crate::collection::query::{
    check_limit, PointGroup, QueryGroupsRequest, QueryKind, QueryRequest, ScoredPoint, Strategy,
};
use crate::collection::{Collection, CollectionError, CollectionResult};
use crate::segment::payload::values_at;
use crate::segment::record::{VectorData, WithPayload, WithVector};
use serde_json::Value;
use std::sync::Arc;

/// Runs one query request against a collection, over all its shards.
pub async fn run_query(
    r: &Router,
    c: &Arc<Collection>,
    req: &QueryRequest,
    consistency: Consistency,
) -> CollectionResult<Vec<ScoredPoint>> {
    let scope = &ReadScope::new(consistency, req.shard_key.clone());
    let stage = Stage::of_request(req)?;
    let wp = req.with_payload.clone().unwrap_or_default();
    let wv = req.with_vector.clone().unwrap_or_default();
    if stage.prefetch.is_empty() {
        return plain(r, c, &stage, &wp, &wv, scope).await;
    }
    let points = prefetch::run(r, c, stage, scope).await?.points;
    prefetch::attach(r, c, points, &wp, &wv, scope).await
}

/// A stage without prefetches: nearest points, by id or a payload order.
pub async fn plain(
    r: &Router,
    c: &Arc<Collection>,
    stage: &Stage,
    wp: &WithPayload,
    wv: &WithVector,
    scope: &ReadScope,
) -> CollectionResult<Vec<ScoredPoint>> {
    let (limit, offset) = (stage.limit, stage.offset);
    let kind = match QueryKind::parse(stage.query.as_ref())? {
        // No pair constrains anything: every point scores 0, as in Qdrant.
        QueryKind::Context { pairs } if pairs.is_empty() => QueryKind::None,
        k => k,
    };
    let quantization =
        crate::collection::quantization::search_params(stage.params.quantization.as_ref())
            .map_err(CollectionError::bad)?;
    let search = |vector: VectorData, exclude| Search {
        using: stage.using.clone(),
        vector,
        filter: stage.filter.clone(),
        limit,
        offset,
        ef: stage.params.hnsw_ef,
        exact: stage.params.exact,
        quantization,
        score_threshold: stage.score_threshold,
        exclude,
        with_payload: wp.clone(),
        with_vector: wv.clone(),
        idf_corpus: stage.params.idf.as_ref().and_then(|i| i.corpus().cloned()),
        examples: None,
    };
    let scroll = |order_by| Scroll {
        from: None,
        limit: offset.saturating_add(limit),
        filter: stage.filter.clone(),
        order_by,
        with_payload: wp.clone(),
        with_vector: wv.clone(),
    };
    let lookup = Lookup {
        r,
        c,
        using: &stage.using,
        shard_key: scope.shard_key.as_ref(),
    };
    match kind {
        QueryKind::Vector(v) => r.search(c, search(v, None), scope).await,
        QueryKind::ById(id) => {
            let v = r.vector_of(c, id, &stage.using, lookup.shard_key).await?;
            r.search(c, search(v, Some(id)), scope).await
        }
        QueryKind::Recommend {
            positive,
            negative,
            strategy: Strategy::AverageVector,
        } => {
            let (v, ids) = lookup.query_vector(&positive, &negative).await?;
            let mut s = search(v, None);
            s.filter = recommend::without(s.filter, ids);
            r.search(c, s, scope).await
        }
        QueryKind::Recommend { .. } | QueryKind::Discover { .. } | QueryKind::Context { .. } => {
            let (examples, ids) = lookup.examples(kind).await?;
            let first = examples.vectors().first().map(|v| (*v).clone());
            let first = first.ok_or_else(|| CollectionError::bad("Bad request: no examples"))?;
            let mut s = search(first, None);
            s.examples = Some(Box::new(examples));
            s.filter = recommend::without(s.filter, ids);
            r.search(c, s, scope).await
        }
        QueryKind::Fusion(_) => Err(CollectionError::bad(
            "Bad request: a fusion query needs `prefetch` (the answers it fuses)",
        )),
        QueryKind::None | QueryKind::OrderBy(_) => {
            let order_by = match kind {
                QueryKind::OrderBy(ob) => Some(ob),
                _ => None,
            };
            let (records, _) = r.scroll(c, scroll(order_by), scope).await?;
            Ok(records
                .into_iter()
                .skip(offset)
                .map(ScoredPoint::from)
                .collect())
        }
    }
}

/// Group key of a payload value: strings and integers, as Qdrant allows.
fn group_key(v: &Value) -> Option<Value> {
    match v {
        Value::String(_) => Some(v.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(v.clone()),
        _ => None,
    }
}

/// A query whose hits are grouped by a payload key: at most `limit` groups of at most
/// `group_size` hits each, in the order of their best hit.
pub async fn run_groups(
    r: &Router,
    c: &Arc<Collection>,
    req: &QueryGroupsRequest,
    consistency: Consistency,
) -> CollectionResult<Vec<PointGroup>> {
    prefetch::no_lookup(req.with_lookup.as_ref())?;
    let groups_limit = check_limit(req.query.limit, 10)?;
    let group_size = check_limit(req.group_size, 3)?;
    let mut query = req.query.clone();
    // Ask for enough hits to fill the groups, with the payload needed to group them.
    let user_wp = query.with_payload.clone().unwrap_or_default();
    query.limit = Some(
        groups_limit
            .saturating_mul(group_size)
            .saturating_mul(8)
            .max(100),
    );
    query.offset = None;
    query.with_payload = Some(WithPayload::Bool(true));
    let hits = run_query(r, c, &query, consistency).await?;
    let mut groups: Vec<(Value, Vec<ScoredPoint>)> = Vec::new();
    for mut hit in hits {
        let keys: Vec<Value> = hit
            .payload
            .as_ref()
            .map(|p| {
                values_at(p, &req.group_by)
                    .into_iter()
                    .filter_map(group_key)
                    .collect()
            })
            .unwrap_or_default();
        hit.payload = hit.payload.as_ref().and_then(|p| user_wp.select(p));
        for k in keys {
            match groups.iter().position(|(g, _)| *g == k) {
                Some(i) if groups[i].1.len() < group_size => groups[i].1.push(hit.clone()),
                Some(_) => {}
                None if groups.len() < groups_limit => groups.push((k, vec![hit.clone()])),
                None => {}
            }
        }
    }
    Ok(groups
        .into_iter()
        .map(|(id, hits)| PointGroup { id, hits })
        .collect())
}
