//! Reads: query (nearest, by id, order_by), batches, groups, scroll and count, over all
//! shards of a collection through the cluster router.

use super::error::ApiResult;
use super::extract::{ok, JsonBody, Points, Timer, P, Q};
use super::points::ReadParams;
use super::AppState;
use crate::api::deadline::within;
use crate::cluster::consistency::Consistency;
use crate::cluster::query::{run_groups, run_query};
use crate::collection::local_read::{ReadRequest, Scroll};
use crate::collection::query::{
    check_limit, CountRequest, FacetRequest, PointGroup, QueryBatchRequest, QueryGroupsRequest,
    QueryRequest, ScrollRequest, ScrollResult,
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
    let c = s.registry.get(&name)?;
    s.issues.check(&c, req.filter.as_ref());
    let points = within(
        q.timeout,
        "Query",
        run_query(&s.router, &c, &req, q.consistency),
    )
    .await?;
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
    let all = within(q.timeout, "Query batch", async {
        Ok::<_, super::error::ApiError>(futures::future::join_all(runs).await)
    });
    for points in all.await? {
        out.push(Points { points: points? });
    }
    Ok(ok(t, out))
}

pub async fn query_groups(
    t: Timer,
    State(s): State<AppState>,
    P(name): P<String>,
    Q(q): Q<ReadParams>,
    JsonBody(req): JsonBody<QueryGroupsRequest>,
) -> ApiResult<Response> {
    let c = s.registry.get(&name)?;
    s.issues.check(&c, req.query.filter.as_ref());
    let groups = within(
        q.timeout,
        "Query groups",
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
    let page = Scroll {
        from: if ordered { None } else { req.offset },
        limit,
        filter: req.filter,
        order_by: req.order_by,
        with_payload: req.with_payload.unwrap_or(WithPayload::Bool(true)),
        with_vector: req.with_vector.unwrap_or(WithVector::Bool(false)),
    };
    let (points, next_page_offset) = within(
        q.timeout,
        "Scroll",
        s.router.scroll(&c, page, q.consistency),
    )
    .await?;
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
    let n = within(
        q.timeout,
        "Count",
        s.router.count(&c, req.filter, q.consistency),
    )
    .await?;
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
    let read = ReadRequest::Facet {
        key: req.key,
        kind,
        filter: req.filter,
    };
    Ok(s.router.facet(&c, read, limit, consistency).await?)
}
