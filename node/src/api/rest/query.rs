//! Reads: query (nearest, by id, order_by), batches, groups, scroll and count, over all
//! shards of a collection through the cluster router.

use super::error::ApiResult;
use super::extract::{ok, JsonBody, Points, Timer, P, Q};
use super::points::ReadParams;
use super::AppState;
use crate::api::deadline::within;
use crate::cluster::consistency::{Consistency, ReadScope};
use crate::cluster::query::{run_groups, run_query};
use crate::collection::local_read::{ReadRequest, Scroll};
use crate::collection::query::{
    check_limit, CountRequest, FacetRequest, PointGroup, QueryBatchRequest, QueryGroupsRequest,
    QueryRequest, ScoredPoint, ScrollRequest, ScrollResult,
};
use crate::collection::CollectionError;
use crate::segment::facet::{facetable, FacetValue};
use crate::segment::record::{WithPayload, WithVector};
use axum::extract::State;
use axum::response::Response;
use serde_json::{json, Value};

pub async fn query(
    t: Timer,
    State(s): State<AppState>,
    P(name): P<String>,
    Q(q): Q<ReadParams>,
    JsonBody(req): JsonBody<QueryRequest>,
) -> ApiResult<Response> {
    let points = answer(&s, &name, &q, "Query", req).await?;
    Ok(ok(t, Points { points }))
}

/// The points of one query (also the legacy search, recommend and discover forms), within
/// the request's `timeout`; `op` names it in a timeout error.
pub async fn answer(
    s: &AppState,
    name: &str,
    q: &ReadParams,
    op: &'static str,
    req: QueryRequest,
) -> ApiResult<Vec<ScoredPoint>> {
    let c = s.registry.get(name)?;
    s.issues.check(&c, req.filter.as_ref());
    within(q.timeout, op, run_query(&s.router, &c, &req, q.consistency)).await
}

pub async fn query_batch(
    t: Timer,
    State(s): State<AppState>,
    P(name): P<String>,
    Q(q): Q<ReadParams>,
    JsonBody(req): JsonBody<QueryBatchRequest>,
) -> ApiResult<Response> {
    let lists = batch_answer(&s, &name, &q, "Query batch", req.searches).await?;
    let out: Vec<_> = lists.into_iter().map(|points| Points { points }).collect();
    Ok(ok(t, out))
}

/// The points of each query of a batch, in order, all within the request's `timeout`.
pub async fn batch_answer(
    s: &AppState,
    name: &str,
    q: &ReadParams,
    op: &'static str,
    reqs: Vec<QueryRequest>,
) -> ApiResult<Vec<Vec<ScoredPoint>>> {
    let c = s.registry.get(name)?;
    for one in &reqs {
        s.issues.check(&c, one.filter.as_ref());
    }
    let runs = reqs
        .iter()
        .map(|one| run_query(&s.router, &c, one, q.consistency));
    let all = within(q.timeout, op, async {
        Ok::<_, super::error::ApiError>(futures::future::join_all(runs).await)
    });
    let mut out = Vec::with_capacity(reqs.len());
    for points in all.await? {
        out.push(points?);
    }
    Ok(out)
}

pub async fn query_groups(
    t: Timer,
    State(s): State<AppState>,
    P(name): P<String>,
    Q(q): Q<ReadParams>,
    JsonBody(req): JsonBody<QueryGroupsRequest>,
) -> ApiResult<Response> {
    groups_answer(t, &s, &name, &q, "Query groups", req).await
}

/// `{"groups": [...]}` of a grouped query (also the legacy groups forms).
pub async fn groups_answer(
    t: Timer,
    s: &AppState,
    name: &str,
    q: &ReadParams,
    op: &'static str,
    req: QueryGroupsRequest,
) -> ApiResult<Response> {
    let c = s.registry.get(name)?;
    s.issues.check(&c, req.query.filter.as_ref());
    let groups = within(
        q.timeout,
        op,
        run_groups(&s.router, &c, &req, q.consistency),
    )
    .await?;
    #[derive(serde::Serialize)]
    struct Groups {
        groups: Vec<PointGroup>,
    }
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
    let scope = ReadScope::new(q.consistency, req.shard_key);
    let page = Scroll {
        from: if ordered { None } else { req.offset },
        limit,
        filter: req.filter,
        order_by: req.order_by,
        with_payload: req.with_payload.unwrap_or(WithPayload::Bool(true)),
        with_vector: req.with_vector.unwrap_or(WithVector::Bool(false)),
    };
    let (points, next_page_offset) =
        within(q.timeout, "Scroll", s.router.scroll(&c, page, &scope)).await?;
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
    let scope = ReadScope::new(q.consistency, req.shard_key);
    let n = within(q.timeout, "Count", s.router.count(&c, req.filter, &scope)).await?;
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
    let hits = within(
        q.timeout,
        "Facet",
        facet_hits(&s, &name, req, q.consistency),
    )
    .await?;
    let hits: Vec<Value> = hits
        .into_iter()
        .map(|(value, count)| json!({"value": value, "count": count}))
        .collect();
    Ok(ok(t, json!({ "hits": hits })))
}

/// The counts of a facet request over the collection, most first.
pub async fn facet_hits(
    s: &AppState,
    name: &str,
    req: FacetRequest,
    consistency: Consistency,
) -> ApiResult<Vec<(FacetValue, usize)>> {
    let c = s.registry.get(name)?;
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
    let scope = ReadScope::new(consistency, req.shard_key);
    let read = ReadRequest::Facet {
        key: req.key,
        kind,
        filter: req.filter,
    };
    Ok(s.router.facet(&c, read, limit, &scope).await?)
}
