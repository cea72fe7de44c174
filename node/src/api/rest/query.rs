//! Reads: query (nearest, by id, order_by), batches, groups, scroll and count, over all
//! shards of a collection through the cluster router.

use super::error::ApiResult;
use super::extract::{ok, JsonBody, Points, Timer, P, Q};
use super::points::ReadParams;
use super::prefetch::{self, Stage};
use super::recommend;
use super::AppState;
use crate::cluster::consistency::Consistency;
use crate::cluster::router::Router;
use crate::collection::local_read::{ReadRequest, Scroll, Search};
use crate::collection::query::{
    check_limit, CountRequest, FacetRequest, QueryBatchRequest, QueryGroupsRequest, QueryKind,
    QueryRequest, ScoredPoint, ScrollRequest, ScrollResult,
};
use crate::collection::{Collection, CollectionError, CollectionResult};
use crate::segment::facet::facetable;
use crate::segment::payload::values_at;
use crate::segment::record::{VectorData, WithPayload, WithVector};
use axum::extract::State;
use axum::response::Response;
use serde_json::{json, Value};
use std::sync::Arc;

/// Runs one query request against a collection, over all its shards.
async fn run_query(
    r: &Router,
    c: &Arc<Collection>,
    req: &QueryRequest,
    consistency: Consistency,
) -> CollectionResult<Vec<ScoredPoint>> {
    let stage = Stage::of_request(req)?;
    let wp = req.with_payload.clone().unwrap_or_default();
    let wv = req.with_vector.clone().unwrap_or_default();
    if stage.prefetch.is_empty() {
        return plain(r, c, &stage, &wp, &wv, consistency).await;
    }
    let points = prefetch::run(r, c, stage, consistency).await?.points;
    prefetch::attach(r, c, points, &wp, &wv, consistency).await
}

/// A stage without prefetches: nearest points, by id or a payload order.
pub(super) async fn plain(
    r: &Router,
    c: &Arc<Collection>,
    stage: &Stage,
    wp: &WithPayload,
    wv: &WithVector,
    consistency: Consistency,
) -> CollectionResult<Vec<ScoredPoint>> {
    let (limit, offset) = (stage.limit, stage.offset);
    let kind = QueryKind::parse(stage.query.as_ref())?;
    let search = |vector: VectorData, exclude| Search {
        using: stage.using.clone(),
        vector,
        filter: stage.filter.clone(),
        limit,
        offset,
        ef: stage.params.hnsw_ef,
        exact: stage.params.exact,
        score_threshold: stage.score_threshold,
        exclude,
        with_payload: wp.clone(),
        with_vector: wv.clone(),
        idf_corpus: stage.params.idf.as_ref().and_then(|i| i.corpus().cloned()),
    };
    let scroll = |order_by| Scroll {
        from: None,
        limit: offset.saturating_add(limit),
        filter: stage.filter.clone(),
        order_by,
        with_payload: wp.clone(),
        with_vector: wv.clone(),
    };
    match kind {
        QueryKind::Vector(v) => r.search(c, search(v, None), consistency).await,
        QueryKind::ById(id) => {
            let v = r.vector_of(c, id, &stage.using).await?;
            r.search(c, search(v, Some(id)), consistency).await
        }
        QueryKind::Recommend { positive, negative } => {
            let (v, ids) =
                recommend::query_vector(r, c, &stage.using, &positive, &negative).await?;
            let mut s = search(v, None);
            s.filter = recommend::without(s.filter, ids);
            r.search(c, s, consistency).await
        }
        QueryKind::Fusion(_) => Err(CollectionError::bad(
            "Bad request: a fusion query needs `prefetch` (the answers it fuses)",
        )),
        QueryKind::None | QueryKind::OrderBy(_) => {
            let order_by = match kind {
                QueryKind::OrderBy(ob) => Some(ob),
                _ => None,
            };
            let (records, _) = r.scroll(c, scroll(order_by), consistency).await?;
            Ok(records
                .into_iter()
                .skip(offset)
                .map(ScoredPoint::from)
                .collect())
        }
    }
}

pub async fn query(
    t: Timer,
    State(s): State<AppState>,
    P(name): P<String>,
    Q(q): Q<ReadParams>,
    JsonBody(req): JsonBody<QueryRequest>,
) -> ApiResult<Response> {
    let c = s.registry.get(&name)?;
    s.issues.check(&c, req.filter.as_ref());
    let points = run_query(&s.router, &c, &req, q.consistency).await?;
    Ok(ok(t, Points { points }))
}

pub async fn query_batch(
    t: Timer,
    State(s): State<AppState>,
    P(name): P<String>,
    Q(q): Q<ReadParams>,
    JsonBody(req): JsonBody<QueryBatchRequest>,
) -> ApiResult<Response> {
    let c = s.registry.get(&name)?;
    for one in &req.searches {
        s.issues.check(&c, one.filter.as_ref());
    }
    let runs = req
        .searches
        .iter()
        .map(|one| run_query(&s.router, &c, one, q.consistency));
    let mut out = Vec::with_capacity(req.searches.len());
    for points in futures::future::join_all(runs).await {
        out.push(Points { points: points? });
    }
    Ok(ok(t, out))
}

/// Group key of a payload value: strings and integers, as Qdrant allows.
fn group_key(v: &Value) -> Option<Value> {
    match v {
        Value::String(_) => Some(v.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(v.clone()),
        _ => None,
    }
}

pub async fn query_groups(
    t: Timer,
    State(s): State<AppState>,
    P(name): P<String>,
    Q(q): Q<ReadParams>,
    JsonBody(req): JsonBody<QueryGroupsRequest>,
) -> ApiResult<Response> {
    let c: Arc<Collection> = s.registry.get(&name)?;
    s.issues.check(&c, req.query.filter.as_ref());
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
    let hits = run_query(&s.router, &c, &query, q.consistency).await?;
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
    #[derive(serde::Serialize)]
    struct Group {
        id: Value,
        hits: Vec<ScoredPoint>,
    }
    #[derive(serde::Serialize)]
    struct Groups {
        groups: Vec<Group>,
    }
    let groups = groups
        .into_iter()
        .map(|(id, hits)| Group { id, hits })
        .collect();
    Ok(ok(t, Groups { groups }))
}

pub async fn scroll(
    t: Timer,
    State(s): State<AppState>,
    P(name): P<String>,
    Q(q): Q<ReadParams>,
    JsonBody(req): JsonBody<ScrollRequest>,
) -> ApiResult<Response> {
    let c = s.registry.get(&name)?;
    s.issues.check(&c, req.filter.as_ref());
    let limit = check_limit(req.limit, 10)?;
    let ordered = req.order_by.is_some();
    let page = Scroll {
        from: if ordered { None } else { req.offset },
        limit,
        filter: req.filter,
        order_by: req.order_by,
        with_payload: req.with_payload.unwrap_or(WithPayload::Bool(true)),
        with_vector: req.with_vector.unwrap_or(WithVector::Bool(false)),
    };
    let (points, next_page_offset) = s.router.scroll(&c, page, q.consistency).await?;
    Ok(ok(
        t,
        ScrollResult {
            points,
            next_page_offset,
        },
    ))
}

pub async fn count(
    t: Timer,
    State(s): State<AppState>,
    P(name): P<String>,
    Q(q): Q<ReadParams>,
    JsonBody(req): JsonBody<CountRequest>,
) -> ApiResult<Response> {
    let c = s.registry.get(&name)?;
    s.issues.check(&c, req.filter.as_ref());
    let n = s.router.count(&c, req.filter, q.consistency).await?;
    Ok(ok(t, json!({"count": n})))
}

/// Points per value of an indexed payload key (`POST /facet`).
pub async fn facet(
    t: Timer,
    State(s): State<AppState>,
    P(name): P<String>,
    Q(q): Q<ReadParams>,
    JsonBody(req): JsonBody<FacetRequest>,
) -> ApiResult<Response> {
    let c = s.registry.get(&name)?;
    s.issues.check(&c, req.filter.as_ref());
    let limit = check_limit(req.limit, 10)?;
    let kind = c
        .payload_schema()
        .get(&req.key)
        .copied()
        .filter(|k| facetable(*k));
    let kind = kind.ok_or_else(|| {
        CollectionError::bad(format!(
            "Bad request: Index required but not found for \"{}\" of one of the following types: [keyword, integer, bool, uuid]. Help: Create an index for this key.",
            req.key
        ))
    })?;
    let read = ReadRequest::Facet {
        key: req.key,
        kind,
        filter: req.filter,
    };
    let hits = s.router.facet(&c, read, limit, q.consistency).await?;
    let hits: Vec<Value> = hits
        .into_iter()
        .map(|(value, count)| json!({"value": value, "count": count}))
        .collect();
    Ok(ok(t, json!({ "hits": hits })))
}

/// Legacy `POST /points/search` body (still sent by older clients).
#[derive(Debug, serde::Deserialize)]
pub struct SearchRequestBody {
    vector: Value,
    filter: Option<crate::segment::filter::Filter>,
    params: Option<crate::collection::query::SearchParams>,
    limit: Option<usize>,
    offset: Option<usize>,
    with_payload: Option<WithPayload>,
    with_vector: Option<WithVector>,
    score_threshold: Option<f32>,
}

impl SearchRequestBody {
    /// `vector` is an array or `{"name": …, "vector": […]}`.
    fn into_query(self) -> QueryRequest {
        let (using, query) = match self.vector {
            Value::Object(mut m) => (
                m.remove("name")
                    .and_then(|n| n.as_str().map(str::to_string)),
                m.remove("vector"),
            ),
            other => (None, Some(other)),
        };
        QueryRequest {
            query,
            using,
            filter: self.filter,
            params: self.params,
            score_threshold: self.score_threshold,
            limit: self.limit,
            offset: self.offset,
            with_vector: self.with_vector,
            with_payload: self.with_payload,
            ..QueryRequest::default()
        }
    }
}

pub async fn search(
    t: Timer,
    State(s): State<AppState>,
    P(name): P<String>,
    Q(q): Q<ReadParams>,
    JsonBody(req): JsonBody<SearchRequestBody>,
) -> ApiResult<Response> {
    let c = s.registry.get(&name)?;
    let query = req.into_query();
    let points = run_query(&s.router, &c, &query, q.consistency).await?;
    Ok(ok(t, points))
}
