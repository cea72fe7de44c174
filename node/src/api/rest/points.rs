//! Point writes and point reads by id.

use super::error::{ApiError, ApiResult};
use super::extract::{ok, JsonBody, Timer, P, Q};
use super::AppState;
use crate::api::deadline::within;
use crate::cluster::consistency::Consistency;
use crate::cluster::ordering::WriteOrdering;
use crate::collection::ops::{selector, PayloadChange, ShardOp, UpsertRequest, VectorInput};
use crate::collection::query::PointRequest;
use crate::collection::CollectionError;
use crate::segment::filter::Filter;
use crate::segment::payload::Payload;
use crate::segment::point_id::PointId;
use crate::segment::record::{WithPayload, WithVector};
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Debug, Default, Deserialize)]
pub struct WriteParams {
    pub wait: Option<bool>,
    #[serde(default)]
    pub ordering: WriteOrdering,
    pub timeout: Option<u64>,
}

#[derive(Debug, Deserialize)]
pub struct SelectorBody {
    points: Option<Vec<PointId>>,
    filter: Option<Filter>,
}

#[derive(Debug, Deserialize)]
pub struct SetPayloadBody {
    payload: Payload,
    points: Option<Vec<PointId>>,
    filter: Option<Filter>,
    key: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct DeletePayloadBody {
    keys: Vec<String>,
    points: Option<Vec<PointId>>,
    filter: Option<Filter>,
}

#[derive(Debug, Deserialize)]
pub struct UpdateVectorsBody {
    points: Vec<PointVectors>,
}

#[derive(Debug, Deserialize)]
pub struct PointVectors {
    id: PointId,
    vector: VectorInput,
}

#[derive(Debug, Deserialize)]
pub struct DeleteVectorsBody {
    points: Option<Vec<PointId>>,
    filter: Option<Filter>,
    vector: Vec<String>,
}

/// One entry of `POST /points/batch`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchOp {
    Upsert(Value),
    Delete(SelectorBody),
    SetPayload(SetPayloadBody),
    OverwritePayload(SetPayloadBody),
    DeletePayload(DeletePayloadBody),
    ClearPayload(SelectorBody),
    UpdateVectors(UpdateVectorsBody),
    DeleteVectors(DeleteVectorsBody),
}

#[derive(Debug, Deserialize)]
pub struct BatchBody {
    operations: Vec<BatchOp>,
}

fn sel(
    points: Option<Vec<PointId>>,
    filter: Option<Filter>,
) -> ApiResult<crate::collection::ops::Selector> {
    Ok(selector(points, filter)?)
}

/// Applies shard operations in order on every replica; returns the last operation number.
async fn apply(
    s: &AppState,
    name: &str,
    ops: Vec<ShardOp>,
    ordering: WriteOrdering,
) -> ApiResult<u64> {
    let c = s.registry.get(name)?;
    Ok(s.router.write(&c, ops, ordering).await?)
}

/// `?consistency=` of reads.
#[derive(Debug, Default, Deserialize)]
pub struct ReadParams {
    #[serde(default)]
    pub consistency: Consistency,
    pub timeout: Option<u64>,
}

/// Qdrant's `UpdateResult`.
fn update_result(op_id: u64, params: &WriteParams) -> Value {
    let status = if params.wait.unwrap_or(false) {
        "completed"
    } else {
        "acknowledged"
    };
    json!({"operation_id": op_id, "status": status})
}

/// Runs shard operations in order and answers with one `UpdateResult`.
async fn run(
    t: Timer,
    s: &AppState,
    name: &str,
    params: &WriteParams,
    ops: Vec<ShardOp>,
) -> ApiResult<Response> {
    let op_id = apply(s, name, ops, params.ordering).await?;
    Ok(ok(t, update_result(op_id, params)))
}

fn upsert_op(s: &AppState, name: &str, req: UpsertRequest) -> ApiResult<ShardOp> {
    let specs = s.registry.get(name)?.specs();
    Ok(ShardOp::Upsert(req.into_points(&specs)?))
}

pub async fn upsert(
    t: Timer,
    State(s): State<AppState>,
    P(name): P<String>,
    Q(params): Q<WriteParams>,
    JsonBody(req): JsonBody<UpsertRequest>,
) -> ApiResult<Response> {
    let op = upsert_op(&s, &name, req)?;
    run(t, &s, &name, &params, vec![op]).await
}

pub async fn delete(
    t: Timer,
    State(s): State<AppState>,
    P(name): P<String>,
    Q(params): Q<WriteParams>,
    JsonBody(b): JsonBody<SelectorBody>,
) -> ApiResult<Response> {
    let op = ShardOp::Delete(sel(b.points, b.filter)?);
    run(t, &s, &name, &params, vec![op]).await
}

pub async fn set_payload(
    t: Timer,
    State(s): State<AppState>,
    P(name): P<String>,
    Q(params): Q<WriteParams>,
    JsonBody(b): JsonBody<SetPayloadBody>,
) -> ApiResult<Response> {
    let op = ShardOp::Payload(
        sel(b.points, b.filter)?,
        PayloadChange::Set {
            payload: b.payload,
            key: b.key,
        },
    );
    run(t, &s, &name, &params, vec![op]).await
}

pub async fn overwrite_payload(
    t: Timer,
    State(s): State<AppState>,
    P(name): P<String>,
    Q(params): Q<WriteParams>,
    JsonBody(b): JsonBody<SetPayloadBody>,
) -> ApiResult<Response> {
    let op = ShardOp::Payload(
        sel(b.points, b.filter)?,
        PayloadChange::Overwrite(b.payload),
    );
    run(t, &s, &name, &params, vec![op]).await
}

pub async fn delete_payload(
    t: Timer,
    State(s): State<AppState>,
    P(name): P<String>,
    Q(params): Q<WriteParams>,
    JsonBody(b): JsonBody<DeletePayloadBody>,
) -> ApiResult<Response> {
    let op = ShardOp::Payload(sel(b.points, b.filter)?, PayloadChange::DeleteKeys(b.keys));
    run(t, &s, &name, &params, vec![op]).await
}

pub async fn clear_payload(
    t: Timer,
    State(s): State<AppState>,
    P(name): P<String>,
    Q(params): Q<WriteParams>,
    JsonBody(b): JsonBody<SelectorBody>,
) -> ApiResult<Response> {
    let op = ShardOp::Payload(sel(b.points, b.filter)?, PayloadChange::Clear);
    run(t, &s, &name, &params, vec![op]).await
}

fn update_vectors_op(s: &AppState, name: &str, b: UpdateVectorsBody) -> ApiResult<ShardOp> {
    let specs = s.registry.get(name)?.specs();
    let list = b
        .points
        .into_iter()
        .map(|p| Ok((p.id, p.vector.resolve(&specs)?)))
        .collect::<Result<Vec<_>, CollectionError>>()?;
    Ok(ShardOp::UpdateVectors(list))
}

pub async fn update_vectors(
    t: Timer,
    State(s): State<AppState>,
    P(name): P<String>,
    Q(params): Q<WriteParams>,
    JsonBody(b): JsonBody<UpdateVectorsBody>,
) -> ApiResult<Response> {
    let op = update_vectors_op(&s, &name, b)?;
    run(t, &s, &name, &params, vec![op]).await
}

fn delete_vectors_op(s: &AppState, name: &str, b: DeleteVectorsBody) -> ApiResult<ShardOp> {
    let specs = s.registry.get(name)?.specs();
    for v in &b.vector {
        if !specs.iter().any(|s| &s.name == v) {
            return Err(ApiError::wrong(format!(
                "Not existing vector name error: {v}"
            )));
        }
    }
    Ok(ShardOp::DeleteVectors(sel(b.points, b.filter)?, b.vector))
}

pub async fn delete_vectors(
    t: Timer,
    State(s): State<AppState>,
    P(name): P<String>,
    Q(params): Q<WriteParams>,
    JsonBody(b): JsonBody<DeleteVectorsBody>,
) -> ApiResult<Response> {
    let op = delete_vectors_op(&s, &name, b)?;
    run(t, &s, &name, &params, vec![op]).await
}

pub async fn batch(
    t: Timer,
    State(s): State<AppState>,
    P(name): P<String>,
    Q(params): Q<WriteParams>,
    JsonBody(b): JsonBody<BatchBody>,
) -> ApiResult<Response> {
    let mut ops = Vec::with_capacity(b.operations.len());
    for op in b.operations {
        ops.push(match op {
            BatchOp::Upsert(v) => {
                let req: UpsertRequest = serde_json::from_value(v)
                    .map_err(|e| ApiError::BadRequest(format!("Format error in JSON body: {e}")))?;
                upsert_op(&s, &name, req)?
            }
            BatchOp::Delete(b) => ShardOp::Delete(sel(b.points, b.filter)?),
            BatchOp::SetPayload(b) => ShardOp::Payload(
                sel(b.points, b.filter)?,
                PayloadChange::Set {
                    payload: b.payload,
                    key: b.key,
                },
            ),
            BatchOp::OverwritePayload(b) => ShardOp::Payload(
                sel(b.points, b.filter)?,
                PayloadChange::Overwrite(b.payload),
            ),
            BatchOp::DeletePayload(b) => {
                ShardOp::Payload(sel(b.points, b.filter)?, PayloadChange::DeleteKeys(b.keys))
            }
            BatchOp::ClearPayload(b) => {
                ShardOp::Payload(sel(b.points, b.filter)?, PayloadChange::Clear)
            }
            BatchOp::UpdateVectors(b) => update_vectors_op(&s, &name, b)?,
            BatchOp::DeleteVectors(b) => delete_vectors_op(&s, &name, b)?,
        });
    }
    let n = ops.len();
    let last = apply(&s, &name, ops, params.ordering).await?;
    let results: Vec<Value> = (0..n).map(|_| update_result(last, &params)).collect();
    Ok(ok(t, results))
}

pub async fn get_point(
    t: Timer,
    State(s): State<AppState>,
    P((name, id)): P<(String, String)>,
    Q(q): Q<ReadParams>,
) -> ApiResult<Response> {
    let id = PointId::parse(&id).map_err(|e| ApiError::wrong(e.to_string()))?;
    let c = s.registry.get(&name)?;
    let (wp, wv) = (WithPayload::Bool(true), WithVector::Bool(true));
    let ids = [id];
    let read = s.router.retrieve(&c, &ids, &wp, &wv, q.consistency);
    let rec = within(q.timeout, "Retrieve", read).await?;
    match rec.into_iter().next() {
        Some(r) => Ok(ok(t, r)),
        None => Err(CollectionError::PointNotFound(id.to_string()).into()),
    }
}

pub async fn retrieve(
    t: Timer,
    State(s): State<AppState>,
    P(name): P<String>,
    Q(q): Q<ReadParams>,
    JsonBody(req): JsonBody<PointRequest>,
) -> ApiResult<Response> {
    let c = s.registry.get(&name)?;
    let wp = req.with_payload.unwrap_or(WithPayload::Bool(true));
    let wv = req.with_vector.unwrap_or_default();
    let read = s.router.retrieve(&c, &req.ids, &wp, &wv, q.consistency);
    let recs = within(q.timeout, "Retrieve", read).await?;
    Ok(ok(t, recs))
}
