//! Reads: query (nearest, by id, order_by), batches, groups, scroll and count.

use super::error::ApiResult;
use super::extract::{blocking, ok, JsonBody, Timer, P};
use super::AppState;
use crate::collection::instance::Search;
use crate::collection::query::{
    check_limit, CountRequest, QueryBatchRequest, QueryGroupsRequest, QueryKind, QueryRequest,
    ScoredPoint, ScrollRequest, ScrollResult,
};
use crate::collection::{Collection, CollectionError, CollectionResult};
use crate::segment::payload::values_at;
use crate::segment::record::{WithPayload, WithVector};
use axum::extract::State;
use axum::response::Response;
use serde_json::{json, Value};
use std::sync::Arc;

/// Runs one query request against a collection (blocking).
fn run_query(c: &Collection, req: &QueryRequest) -> CollectionResult<Vec<ScoredPoint>> {
    if req.prefetch.is_some() {
        return Err(CollectionError::Unsupported(
            "`prefetch` is not supported yet".into(),
        ));
    }
    let limit = check_limit(req.limit, 10)?;
    let offset = req.offset.unwrap_or(0);
    let using = req.using.clone().unwrap_or_default();
    let wp = req.with_payload.clone().unwrap_or_default();
    let wv = req.with_vector.clone().unwrap_or_default();
    let params = req.params.clone().unwrap_or_default();
    let kind = QueryKind::parse(req.query.as_ref())?;
    let search = |vector: Vec<f32>, exclude| {
        c.search(&Search {
            using: &using,
            vector,
            filter: req.filter.as_ref(),
            limit,
            offset,
            ef: params.hnsw_ef,
            exact: params.exact,
            score_threshold: req.score_threshold,
            exclude,
            with_payload: &wp,
            with_vector: &wv,
        })
    };
    match kind {
        QueryKind::Vector(v) => search(v, None),
        QueryKind::ById(id) => search(c.vector_of(id, &using)?, Some(id)),
        QueryKind::None => {
            let (records, _) = c.scroll(
                None,
                offset.saturating_add(limit),
                req.filter.as_ref(),
                &wp,
                &wv,
            );
            Ok(records
                .into_iter()
                .skip(offset)
                .map(ScoredPoint::from)
                .collect())
        }
        QueryKind::OrderBy(ob) => {
            let records = c.scroll_ordered(
                &ob,
                offset.saturating_add(limit),
                req.filter.as_ref(),
                &wp,
                &wv,
            );
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
    JsonBody(req): JsonBody<QueryRequest>,
) -> ApiResult<Response> {
    let c = s.registry.get(&name)?;
    let points = blocking(move || Ok(run_query(&c, &req)?)).await?;
    Ok(ok(t, json!({"points": points})))
}

pub async fn query_batch(
    t: Timer,
    State(s): State<AppState>,
    P(name): P<String>,
    JsonBody(req): JsonBody<QueryBatchRequest>,
) -> ApiResult<Response> {
    let c = s.registry.get(&name)?;
    let out = blocking(move || {
        req.searches
            .iter()
            .map(|q| run_query(&c, q).map(|points| json!({"points": points})))
            .collect::<CollectionResult<Vec<_>>>()
            .map_err(Into::into)
    })
    .await?;
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
    JsonBody(req): JsonBody<QueryGroupsRequest>,
) -> ApiResult<Response> {
    let c: Arc<Collection> = s.registry.get(&name)?;
    let groups = blocking(move || {
        let groups_limit = check_limit(req.query.limit, 10)?;
        let group_size = check_limit(req.group_size, 3)?;
        let mut q = req.query.clone();
        // Ask for enough hits to fill the groups, with the payload needed to group them.
        let user_wp = q.with_payload.clone().unwrap_or_default();
        q.limit = Some(
            groups_limit
                .saturating_mul(group_size)
                .saturating_mul(8)
                .max(100)
                .min(c.points_count().max(1)),
        );
        q.offset = None;
        q.with_payload = Some(WithPayload::Bool(true));
        let hits = run_query(&c, &q)?;
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
            .map(|(id, hits)| json!({"id": id, "hits": hits}))
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(ok(t, json!({"groups": groups})))
}

pub async fn scroll(
    t: Timer,
    State(s): State<AppState>,
    P(name): P<String>,
    JsonBody(req): JsonBody<ScrollRequest>,
) -> ApiResult<Response> {
    let c = s.registry.get(&name)?;
    let res = blocking(move || {
        let limit = check_limit(req.limit, 10)?;
        let wp = req.with_payload.clone().unwrap_or(WithPayload::Bool(true));
        let wv = req.with_vector.clone().unwrap_or(WithVector::Bool(false));
        Ok(match &req.order_by {
            Some(ob) => ScrollResult {
                points: c.scroll_ordered(ob, limit, req.filter.as_ref(), &wp, &wv),
                next_page_offset: None,
            },
            None => {
                let (points, next) = c.scroll(req.offset, limit, req.filter.as_ref(), &wp, &wv);
                ScrollResult {
                    points,
                    next_page_offset: next,
                }
            }
        })
    })
    .await?;
    Ok(ok(t, res))
}

pub async fn count(
    t: Timer,
    State(s): State<AppState>,
    P(name): P<String>,
    JsonBody(req): JsonBody<CountRequest>,
) -> ApiResult<Response> {
    let c = s.registry.get(&name)?;
    let n = blocking(move || Ok(c.count(req.filter.as_ref()))).await?;
    Ok(ok(t, json!({"count": n})))
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
    JsonBody(req): JsonBody<SearchRequestBody>,
) -> ApiResult<Response> {
    let c = s.registry.get(&name)?;
    let q = req.into_query();
    let points = blocking(move || Ok(run_query(&c, &q)?)).await?;
    Ok(ok(t, points))
}
