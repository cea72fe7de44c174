//! The point-read endpoints Qdrant deprecated in favour of `points/query` (gone from the
//! 1.19 spec, still called by older clients and scripts): `search`, `recommend` and
//! `discover`, single, batch and groups. Each body becomes the matching query request and
//! is answered by the same code, so results equal `points/query`'s.

use super::error::ApiResult;
use super::extract::{ok, JsonBody, Timer, P, Q};
use super::points::ReadParams;
use super::query::{answer, batch_answer, groups_answer};
use super::AppState;
use crate::collection::query::{QueryGroupsRequest, QueryRequest, SearchParams};
use crate::collection::shard_key::ShardKeySelector;
use crate::segment::filter::Filter;
use crate::segment::record::{WithPayload, WithVector};
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// Fields every legacy request shares with `points/query`.
#[derive(Debug, Deserialize)]
pub struct Common {
    filter: Option<Filter>,
    params: Option<SearchParams>,
    limit: usize,
    #[serde(default)]
    offset: Option<usize>,
    with_payload: Option<WithPayload>,
    #[serde(alias = "with_vectors")]
    with_vector: Option<WithVector>,
    score_threshold: Option<f32>,
    using: Option<String>,
    lookup_from: Option<Value>,
    shard_key: Option<ShardKeySelector>,
}

impl Common {
    fn query(self, query: Value, using: Option<String>) -> QueryRequest {
        QueryRequest {
            query: Some(query),
            using: using.or(self.using),
            filter: self.filter,
            params: self.params,
            score_threshold: self.score_threshold,
            limit: Some(self.limit),
            offset: self.offset,
            with_vector: self.with_vector,
            with_payload: self.with_payload,
            prefetch: None,
            lookup_from: self.lookup_from,
            shard_key: self.shard_key,
        }
    }
}

/// A legacy body that is one query.
pub trait Legacy {
    fn into_query(self) -> QueryRequest;
}

/// `points/search`: `vector` is an array, a sparse vector, or `{"name", "vector"}`.
#[derive(Debug, Deserialize)]
pub struct SearchBody {
    vector: Value,
    #[serde(flatten)]
    common: Common,
}

impl Legacy for SearchBody {
    fn into_query(self) -> QueryRequest {
        let (using, vector) = match self.vector {
            Value::Object(mut m) if m.contains_key("name") => (
                m.remove("name")
                    .and_then(|n| n.as_str().map(str::to_string)),
                m.remove("vector").unwrap_or(Value::Null),
            ),
            other => (None, other),
        };
        self.common.query(vector, using)
    }
}

/// `points/recommend`.
#[derive(Debug, Deserialize)]
pub struct RecommendBody {
    #[serde(default)]
    positive: Vec<Value>,
    #[serde(default)]
    negative: Vec<Value>,
    strategy: Option<Value>,
    #[serde(flatten)]
    common: Common,
}

impl Legacy for RecommendBody {
    fn into_query(self) -> QueryRequest {
        let mut m = Map::new();
        m.insert("positive".into(), Value::Array(self.positive));
        m.insert("negative".into(), Value::Array(self.negative));
        if let Some(s) = self.strategy {
            m.insert("strategy".into(), s);
        }
        self.common.query(json!({ "recommend": m }), None)
    }
}

/// `points/discover`.
#[derive(Debug, Deserialize)]
pub struct DiscoverBody {
    target: Option<Value>,
    #[serde(default)]
    context: Vec<Value>,
    #[serde(flatten)]
    common: Common,
}

impl Legacy for DiscoverBody {
    fn into_query(self) -> QueryRequest {
        let mut m = Map::new();
        if let Some(t) = self.target {
            m.insert("target".into(), t);
        }
        m.insert("context".into(), Value::Array(self.context));
        self.common.query(json!({ "discover": m }), None)
    }
}

/// `{"searches": [...]}` of the batch forms.
#[derive(Debug, Deserialize)]
pub struct Batch<T> {
    searches: Vec<T>,
}

/// The groups forms: a legacy body plus the grouping.
#[derive(Debug, Deserialize)]
pub struct Groups<T> {
    #[serde(flatten)]
    body: T,
    group_by: String,
    group_size: usize,
    with_lookup: Option<Value>,
}

/// The single form: a list of scored points.
pub async fn single<T: Legacy>(
    t: Timer,
    State(s): State<AppState>,
    P(name): P<String>,
    Q(q): Q<ReadParams>,
    JsonBody(req): JsonBody<T>,
) -> ApiResult<Response> {
    Ok(ok(
        t,
        answer(&s, &name, &q, "Search", req.into_query()).await?,
    ))
}

/// The batch form: one list per request, in order.
pub async fn batch<T: Legacy>(
    t: Timer,
    State(s): State<AppState>,
    P(name): P<String>,
    Q(q): Q<ReadParams>,
    JsonBody(req): JsonBody<Batch<T>>,
) -> ApiResult<Response> {
    let reqs = req.searches.into_iter().map(Legacy::into_query).collect();
    Ok(ok(
        t,
        batch_answer(&s, &name, &q, "Search batch", reqs).await?,
    ))
}

/// The groups form: `{"groups": [...]}`.
pub async fn groups<T: Legacy>(
    t: Timer,
    State(s): State<AppState>,
    P(name): P<String>,
    Q(q): Q<ReadParams>,
    JsonBody(req): JsonBody<Groups<T>>,
) -> ApiResult<Response> {
    let req = QueryGroupsRequest {
        query: req.body.into_query(),
        group_by: req.group_by,
        group_size: Some(req.group_size),
        with_lookup: req.with_lookup,
    };
    groups_answer(t, &s, &name, &q, "Search groups", req).await
}
