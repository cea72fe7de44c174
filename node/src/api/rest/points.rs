//! Point writes and point reads by id.

use super::error::{ApiError, ApiResult};
use super::extract::{ok, JsonBody, Timer, P, Q};
use super::AppState;
use crate::api::deadline::within;
use crate::cluster::consistency::{Consistency, ReadScope};
use crate::cluster::ordering::WriteOrdering;
use crate::collection::ops::{
    selector, KeyedOp, PayloadChange, ShardOp, UpsertBody, UpsertRequest, VectorInput,
};
use crate::collection::query::PointRequest;
use crate::collection::shard_key::ShardKeySelector;
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

/// A write body with the shard keys it goes to (`shard_key`, custom sharding).
#[derive(Debug, Deserialize)]
pub struct Keyed<T> {
    #[serde(flatten)]
    body: T,
    shard_key: Option<ShardKeySelector>,
}

impl<T> Keyed<T> {
    fn op(self, make: impl FnOnce(T) -> ApiResult<ShardOp>) -> ApiResult<KeyedOp> {
        Ok(KeyedOp {
            op: make(self.body)?,
            shard_key: self.shard_key,
        })
    }
}

/// One entry of `POST /points/batch`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchOp {
    Upsert(Value),
    Delete(Keyed<SelectorBody>),
    SetPayload(Keyed<SetPayloadBody>),
    OverwritePayload(Keyed<SetPayloadBody>),
    DeletePayload(Keyed<DeletePayloadBody>),
    ClearPayload(Keyed<SelectorBody>),
    UpdateVectors(Keyed<UpdateVectorsBody>),
    DeleteVectors(Keyed<DeleteVectorsBody>),
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
    ops: Vec<KeyedOp>,
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
    ops: Vec<KeyedOp>,
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
    JsonBody(req): JsonBody<UpsertBody>,
) -> ApiResult<Response> {
    let op = KeyedOp {
        op: upsert_op(&s, &name, req.request)?,
        shard_key: req.shard_key,
    };
    run(t, &s, &name, &params, vec![op]).await
}

fn delete_op(b: SelectorBody) -> ApiResult<ShardOp> {
    Ok(ShardOp::Delete(sel(b.points, b.filter)?))
}

fn set_payload_op(b: SetPayloadBody) -> ApiResult<ShardOp> {
    let change = PayloadChange::Set {
        payload: b.payload,
        key: b.key,
    };
    Ok(ShardOp::Payload(sel(b.points, b.filter)?, change))
}

fn overwrite_payload_op(b: SetPayloadBody) -> ApiResult<ShardOp> {
    let change = PayloadChange::Overwrite(b.payload);
    Ok(ShardOp::Payload(sel(b.points, b.filter)?, change))
}

fn delete_payload_op(b: DeletePayloadBody) -> ApiResult<ShardOp> {
    let change = PayloadChange::DeleteKeys(b.keys);
    Ok(ShardOp::Payload(sel(b.points, b.filter)?, change))
}

fn clear_payload_op(b: SelectorBody) -> ApiResult<ShardOp> {
    Ok(ShardOp::Payload(
        sel(b.points, b.filter)?,
        PayloadChange::Clear,
    ))
}

pub async fn delete(
    t: Timer,
    State(s): State<AppState>,
    P(name): P<String>,
    Q(params): Q<WriteParams>,
    JsonBody(b): JsonBody<Keyed<SelectorBody>>,
) -> ApiResult<Response> {
    run(t, &s, &name, &params, vec![b.op(delete_op)?]).await
}

pub async fn set_payload(
    t: Timer,
    State(s): State<AppState>,
    P(name): P<String>,
    Q(params): Q<WriteParams>,
    JsonBody(b): JsonBody<Keyed<SetPayloadBody>>,
) -> ApiResult<Response> {
    run(t, &s, &name, &params, vec![b.op(set_payload_op)?]).await
}

pub async fn overwrite_payload(
    t: Timer,
    State(s): State<AppState>,
    P(name): P<String>,
    Q(params): Q<WriteParams>,
    JsonBody(b): JsonBody<Keyed<SetPayloadBody>>,
) -> ApiResult<Response> {
    run(t, &s, &name, &params, vec![b.op(overwrite_payload_op)?]).await
}

pub async fn delete_payload(
    t: Timer,
    State(s): State<AppState>,
    P(name): P<String>,
    Q(params): Q<WriteParams>,
    JsonBody(b): JsonBody<Keyed<DeletePayloadBody>>,
) -> ApiResult<Response> {
    run(t, &s, &name, &params, vec![b.op(delete_payload_op)?]).await
}

pub async fn clear_payload(
    t: Timer,
    State(s): State<AppState>,
    P(name): P<String>,
    Q(params): Q<WriteParams>,
    JsonBody(b): JsonBody<Keyed<SelectorBody>>,
) -> ApiResult<Response> {
    run(t, &s, &name, &params, vec![b.op(clear_payload_op)?]).await
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
    JsonBody(b): JsonBody<Keyed<UpdateVectorsBody>>,
) -> ApiResult<Response> {
    let op = b.op(|b| update_vectors_op(&s, &name, b))?;
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
    JsonBody(b): JsonBody<Keyed<DeleteVectorsBody>>,
) -> ApiResult<Response> {
    let op = b.op(|b| delete_vectors_op(&s, &name, b))?;
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
                let req: UpsertBody = serde_json::from_value(v)
                    .map_err(|e| ApiError::BadRequest(format!("Format error in JSON body: {e}")))?;
                KeyedOp {
                    op: upsert_op(&s, &name, req.request)?,
                    shard_key: req.shard_key,
                }
            }
            BatchOp::Delete(b) => b.op(delete_op)?,
            BatchOp::SetPayload(b) => b.op(set_payload_op)?,
            BatchOp::OverwritePayload(b) => b.op(overwrite_payload_op)?,
            BatchOp::DeletePayload(b) => b.op(delete_payload_op)?,
            BatchOp::ClearPayload(b) => b.op(clear_payload_op)?,
            BatchOp::UpdateVectors(b) => b.op(|b| update_vectors_op(&s, &name, b))?,
            BatchOp::DeleteVectors(b) => b.op(|b| delete_vectors_op(&s, &name, b))?,
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
    let scope = q.consistency.into();
    let read = s.router.retrieve(&c, &ids, &wp, &wv, &scope);
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
    let scope = ReadScope::new(q.consistency, req.shard_key);
    let read = s.router.retrieve(&c, &req.ids, &wp, &wv, &scope);
    let recs = within(q.timeout, "Retrieve", read).await?;
    Ok(ok(t, recs))
}
