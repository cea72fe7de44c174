//! Distance matrix of sampled points (`points/search/matrix/pairs` and `/offsets`).

use super::error::ApiResult;
use super::extract::{ok, JsonBody, Timer, P, Q};
use super::points::ReadParams;
use super::AppState;
use crate::api::deadline::within;
use crate::collection::query::check_limit;
use crate::collection::sample::{nearest_pairs, Sampled};
use crate::collection::shard_key::ShardKeySelector;
use crate::collection::CollectionError;
use crate::segment::filter::Filter;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

/// Largest `sample`: 10,000² distances take seconds on one core.
const MAX_SAMPLE: usize = 10_000;

#[derive(Debug, Default, Deserialize)]
pub struct MatrixRequest {
    pub filter: Option<Filter>,
    pub sample: Option<usize>,
    pub limit: Option<usize>,
    pub using: Option<String>,
    pub shard_key: Option<ShardKeySelector>,
}

/// The sampled points and, for each, its nearest other sampled points: (row, column, score).
pub async fn matrix(
    s: &AppState,
    name: &str,
    req: MatrixRequest,
) -> ApiResult<(Vec<Sampled>, Vec<(usize, usize, f32)>)> {
    let c = s.registry.get(name)?;
    let sample = req.sample.unwrap_or(10);
    if sample < 2 {
        return Err(CollectionError::bad(format!(
            "Validation error in JSON body: [sample: value {sample} invalid, must be 2 or larger]"
        ))
        .into());
    }
    // The matrix costs sample² distances on the peer asked: bound it rather than stall.
    if sample > MAX_SAMPLE {
        return Err(CollectionError::bad(format!(
            "Bad request: sample {sample} is too large: at most {MAX_SAMPLE} points"
        ))
        .into());
    }
    let limit = check_limit(req.limit, 3)?;
    let using = req.using.unwrap_or_default();
    let spec = c.vector_spec(&using)?;
    let points = s
        .router
        .sample(&c, req.filter, &using, sample, req.shard_key.as_ref())
        .await?;
    let pairs = nearest_pairs(&points, &spec, limit);
    Ok((points, pairs))
}

pub async fn pairs(
    t: Timer,
    State(s): State<AppState>,
    P(name): P<String>,
    Q(q): Q<ReadParams>,
    JsonBody(req): JsonBody<MatrixRequest>,
) -> ApiResult<Response> {
    let (points, pairs) = within(q.timeout, "Search matrix", matrix(&s, &name, req)).await?;
    let pairs: Vec<Value> = pairs
        .into_iter()
        .map(|(a, b, score)| json!({"a": points[a].id, "b": points[b].id, "score": score}))
        .collect();
    Ok(ok(t, json!({ "pairs": pairs })))
}

pub async fn offsets(
    t: Timer,
    State(s): State<AppState>,
    P(name): P<String>,
    Q(q): Q<ReadParams>,
    JsonBody(req): JsonBody<MatrixRequest>,
) -> ApiResult<Response> {
    let (points, pairs) = within(q.timeout, "Search matrix", matrix(&s, &name, req)).await?;
    let ids: Vec<_> = points.iter().map(|p| p.id).collect();
    Ok(ok(
        t,
        json!({
            "offsets_row": pairs.iter().map(|p| p.0).collect::<Vec<_>>(),
            "offsets_col": pairs.iter().map(|p| p.1).collect::<Vec<_>>(),
            "scores": pairs.iter().map(|p| p.2).collect::<Vec<_>>(),
            "ids": ids,
        }),
    ))
}
