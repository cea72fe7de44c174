//! Points between the gRPC messages and the collection layer: point structs of writes,
//! selectors, and the points of answers (scored, retrieved, grouped).

use super::conv_common::{bad, grpc_id, grpc_shard_key, ids};
use super::conv_vectors::{vectors, vectors_output};
use super::json_value::{map_from_json, map_to_json};
use super::GrpcResult;
use crate::api::grpc::status::status;
use crate::collection::ops::{NewPoint, Selector};
use crate::collection::query::{PointGroup, Record, ScoredPoint};
use crate::segment::vectors::VectorSpec;
use proto::qdrant as g;
use serde_json::Value;

pub fn point_struct(p: g::PointStruct, specs: &[VectorSpec]) -> GrpcResult<NewPoint> {
    let id = super::conv_common::point_id_opt(p.id)?;
    let vectors = vectors(p.vectors)?.resolve(specs).map_err(status)?;
    Ok(NewPoint {
        id,
        vectors,
        payload: map_to_json(p.payload),
    })
}

pub fn selector(s: Option<g::PointsSelector>) -> GrpcResult<Selector> {
    use g::points_selector::PointsSelectorOneOf as S;
    match s.and_then(|s| s.points_selector_one_of) {
        Some(S::Points(list)) => Ok(Selector::Ids(ids(list.ids)?)),
        Some(S::Filter(f)) => Ok(Selector::Filter(
            super::conv_common::filter(Some(f))?.unwrap_or_default(),
        )),
        None => Err(bad("either `points` or `filter` is required")),
    }
}

fn order_value(v: Option<f64>) -> Option<g::OrderValue> {
    use g::order_value::Variant as V;
    let v = v?;
    let variant = if v.fract() == 0.0 && v.abs() < 9.0e15 {
        V::Int(v as i64)
    } else {
        V::Float(v)
    };
    Some(g::OrderValue {
        variant: Some(variant),
    })
}

pub fn scored(p: ScoredPoint) -> g::ScoredPoint {
    g::ScoredPoint {
        id: Some(grpc_id(p.id)),
        payload: p.payload.map(map_from_json).unwrap_or_default(),
        score: p.score,
        version: p.version,
        vectors: p.vector.map(vectors_output),
        shard_key: p.shard_key.map(grpc_shard_key),
        order_value: order_value(p.order_value),
    }
}

pub fn retrieved(r: Record) -> g::RetrievedPoint {
    g::RetrievedPoint {
        id: Some(grpc_id(r.id)),
        payload: r.payload.map(map_from_json).unwrap_or_default(),
        vectors: r.vector.map(vectors_output),
        shard_key: r.shard_key.map(grpc_shard_key),
        order_value: order_value(r.order_value),
    }
}

pub fn group(p: PointGroup) -> g::PointGroup {
    use g::group_id::Kind as K;
    let kind = match &p.id {
        Value::String(s) => Some(K::StringValue(s.clone())),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Some(K::UnsignedValue(u)),
            (None, Some(i)) => Some(K::IntegerValue(i)),
            _ => None,
        },
        _ => None,
    };
    g::PointGroup {
        id: Some(g::GroupId { kind }),
        hits: p.hits.into_iter().map(scored).collect(),
        lookup: None,
    }
}

pub fn update_result(operation_id: u64, wait: bool) -> g::UpdateResult {
    let status = if wait {
        g::UpdateStatus::Completed
    } else {
        g::UpdateStatus::Acknowledged
    };
    g::UpdateResult {
        operation_id: Some(operation_id),
        status: status as i32,
    }
}
