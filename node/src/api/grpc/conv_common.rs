//! Conversions of the types every gRPC service shares: point ids, filters (built as the REST
//! JSON shape and parsed by the same `Filter` type, so both APIs validate alike), what a
//! read returns, read consistency, search parameters and `order_by`.

use super::GrpcResult;
use crate::cluster::consistency::Consistency;
use crate::cluster::ordering::WriteOrdering;
use crate::collection::query::{Direction, IdfParams, OrderBy, SearchParams};
use crate::collection::shard_key::{ShardKey, ShardKeySelector};
use crate::segment::filter::Filter;
use crate::segment::point_id::PointId;
use crate::segment::record::{WithPayload, WithVector};
use proto::qdrant as g;
use serde_json::{json, Map, Value};
use tonic::Status;

pub fn bad(msg: impl std::fmt::Display) -> Status {
    super::status::status(crate::collection::CollectionError::wrong(msg.to_string()))
}

pub fn point_id(id: g::PointId) -> GrpcResult<PointId> {
    use g::point_id::PointIdOptions as O;
    match id.point_id_options {
        Some(O::Num(n)) => Ok(PointId::Num(n)),
        Some(O::Uuid(u)) => PointId::parse(&u).map_err(bad),
        None => Err(bad("a point id needs `num` or `uuid`")),
    }
}

pub fn point_id_opt(id: Option<g::PointId>) -> GrpcResult<PointId> {
    point_id(id.ok_or_else(|| bad("point id is missing"))?)
}

pub fn grpc_id(id: PointId) -> g::PointId {
    use g::point_id::PointIdOptions as O;
    g::PointId {
        point_id_options: Some(match id {
            PointId::Num(n) => O::Num(n),
            PointId::Uuid(u) => O::Uuid(u.to_string()),
        }),
    }
}

pub fn ids(list: Vec<g::PointId>) -> GrpcResult<Vec<PointId>> {
    list.into_iter().map(point_id).collect()
}

fn id_json(id: g::PointId) -> GrpcResult<Value> {
    Ok(serde_json::to_value(point_id(id)?).unwrap_or(Value::Null))
}

/// A filter as the REST API would have received it, checked by the same parser.
pub fn filter(f: Option<g::Filter>) -> GrpcResult<Option<Filter>> {
    let Some(f) = f else { return Ok(None) };
    let json = filter_json(f)?;
    serde_json::from_value(json)
        .map(Some)
        .map_err(|e| bad(format!("invalid filter: {e}")))
}

fn conditions(list: Vec<g::Condition>) -> GrpcResult<Value> {
    list.into_iter()
        .map(condition_json)
        .collect::<GrpcResult<Vec<_>>>()
        .map(Value::Array)
}

fn filter_json(f: g::Filter) -> GrpcResult<Value> {
    let mut m = Map::new();
    if !f.must.is_empty() {
        m.insert("must".into(), conditions(f.must)?);
    }
    if !f.should.is_empty() {
        m.insert("should".into(), conditions(f.should)?);
    }
    if !f.must_not.is_empty() {
        m.insert("must_not".into(), conditions(f.must_not)?);
    }
    if let Some(ms) = f.min_should {
        m.insert(
            "min_should".into(),
            json!({"conditions": conditions(ms.conditions)?, "min_count": ms.min_count}),
        );
    }
    Ok(Value::Object(m))
}

fn condition_json(c: g::Condition) -> GrpcResult<Value> {
    use g::condition::ConditionOneOf as C;
    Ok(match c.condition_one_of {
        Some(C::Field(f)) => field_json(f)?,
        Some(C::IsEmpty(e)) => json!({"is_empty": {"key": e.key}}),
        Some(C::IsNull(e)) => json!({"is_null": {"key": e.key}}),
        Some(C::HasId(h)) => {
            let ids = h
                .has_id
                .into_iter()
                .map(id_json)
                .collect::<GrpcResult<Vec<_>>>()?;
            json!({ "has_id": ids })
        }
        Some(C::Filter(f)) => filter_json(f)?,
        Some(C::Nested(n)) => {
            let inner = filter_json(n.filter.unwrap_or_default())?;
            json!({"nested": {"key": n.key, "filter": inner}})
        }
        Some(C::HasVector(h)) => json!({"has_vector": h.has_vector}),
        Some(C::Slice(_)) => {
            return Err(Status::invalid_argument(
                "Bad request: the `slice` condition is not supported yet",
            ))
        }
        None => return Err(bad("a condition is empty")),
    })
}

fn range_json(lt: Option<f64>, gt: Option<f64>, gte: Option<f64>, lte: Option<f64>) -> Value {
    let mut m = Map::new();
    for (k, v) in [("lt", lt), ("gt", gt), ("gte", gte), ("lte", lte)] {
        if let Some(v) = v {
            m.insert(k.into(), json!(v));
        }
    }
    Value::Object(m)
}

fn timestamp(t: Option<prost_types::Timestamp>) -> Option<Value> {
    let t = t?;
    let dt = chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32)?;
    Some(Value::String(dt.to_rfc3339()))
}

fn field_json(f: g::FieldCondition) -> GrpcResult<Value> {
    use g::r#match::MatchValue as M;
    let mut m = Map::new();
    m.insert("key".into(), Value::String(f.key));
    if let Some(mv) = f.r#match.and_then(|m| m.match_value) {
        let v = match mv {
            M::Keyword(s) => json!({ "value": s }),
            M::Integer(i) => json!({ "value": i }),
            M::Boolean(b) => json!({ "value": b }),
            M::Text(s) => json!({ "text": s }),
            M::Keywords(k) => json!({"any": k.strings}),
            M::Integers(i) => json!({"any": i.integers}),
            M::ExceptIntegers(i) => json!({"except": i.integers}),
            M::ExceptKeywords(k) => json!({"except": k.strings}),
            M::Phrase(s) => json!({ "phrase": s }),
            M::TextAny(s) => json!({ "text_any": s }),
            M::Prefix(s) => json!({ "prefix": s }),
        };
        m.insert("match".into(), v);
    }
    if let Some(r) = f.range {
        m.insert("range".into(), range_json(r.lt, r.gt, r.gte, r.lte));
    }
    if let Some(r) = f.datetime_range {
        let mut o = Map::new();
        for (k, v) in [("lt", r.lt), ("gt", r.gt), ("gte", r.gte), ("lte", r.lte)] {
            if let Some(v) = timestamp(v) {
                o.insert(k.into(), v);
            }
        }
        m.insert("range".into(), Value::Object(o));
    }
    if let Some(v) = f.values_count {
        let f = |x: Option<u64>| x.map(|n| n as f64);
        m.insert(
            "values_count".into(),
            range_json(f(v.lt), f(v.gt), f(v.gte), f(v.lte)),
        );
    }
    let point = |p: Option<g::GeoPoint>| p.map(|p| json!({"lon": p.lon, "lat": p.lat}));
    if let Some(b) = f.geo_bounding_box {
        m.insert(
            "geo_bounding_box".into(),
            json!({"top_left": point(b.top_left), "bottom_right": point(b.bottom_right)}),
        );
    }
    if let Some(r) = f.geo_radius {
        m.insert(
            "geo_radius".into(),
            json!({"center": point(r.center), "radius": r.radius}),
        );
    }
    if let Some(p) = f.geo_polygon {
        let line = |l: g::GeoLineString| -> Value {
            Value::Array(
                l.points
                    .into_iter()
                    .map(|p| point(Some(p)).unwrap_or_default())
                    .collect(),
            )
        };
        let ext = p.exterior.map(|l| json!({"points": line(l)}));
        let ints: Vec<Value> = p
            .interiors
            .into_iter()
            .map(|l| json!({"points": line(l)}))
            .collect();
        m.insert(
            "geo_polygon".into(),
            json!({"exterior": ext, "interiors": ints}),
        );
    }
    if let Some(b) = f.is_empty {
        m.insert("is_empty".into(), Value::Bool(b));
    }
    if let Some(b) = f.is_null {
        m.insert("is_null".into(), Value::Bool(b));
    }
    Ok(Value::Object(m))
}

/// `with_payload`; `default` when the request leaves it out.
pub fn with_payload(w: Option<g::WithPayloadSelector>, default: bool) -> WithPayload {
    use g::with_payload_selector::SelectorOptions as S;
    match w.and_then(|w| w.selector_options) {
        None => WithPayload::Bool(default),
        Some(S::Enable(b)) => WithPayload::Bool(b),
        Some(S::Include(i)) => WithPayload::Include { include: i.fields },
        Some(S::Exclude(e)) => WithPayload::Exclude { exclude: e.fields },
    }
}

pub fn with_vectors(w: Option<g::WithVectorsSelector>) -> WithVector {
    use g::with_vectors_selector::SelectorOptions as S;
    match w.and_then(|w| w.selector_options) {
        None => WithVector::Bool(false),
        Some(S::Enable(b)) => WithVector::Bool(b),
        Some(S::Include(v)) => WithVector::Names(v.names),
    }
}

pub fn consistency(c: Option<g::ReadConsistency>) -> GrpcResult<Consistency> {
    use g::read_consistency::Value as V;
    Ok(match c.and_then(|c| c.value) {
        None => Consistency::One,
        Some(V::Factor(0)) => return Err(bad("read consistency factor must be at least 1")),
        Some(V::Factor(n)) => Consistency::Factor(n as usize),
        Some(V::Type(t)) => match g::ReadConsistencyType::try_from(t) {
            Ok(g::ReadConsistencyType::All) => Consistency::All,
            Ok(g::ReadConsistencyType::Majority) => Consistency::Majority,
            Ok(g::ReadConsistencyType::Quorum) => Consistency::Quorum,
            Err(_) => return Err(bad(format!("unknown read consistency type {t}"))),
        },
    })
}

pub fn search_params(p: Option<g::SearchParams>) -> GrpcResult<Option<SearchParams>> {
    let Some(p) = p else { return Ok(None) };
    let quantization = p.quantization.map(|q| {
        json!({"ignore": q.ignore.unwrap_or(false), "rescore": q.rescore, "oversampling": q.oversampling})
    });
    let idf = match p.idf {
        None => None,
        Some(i) => Some(match filter(i.corpus)? {
            Some(corpus) => IdfParams::Corpus { corpus },
            None => IdfParams::Scope(crate::collection::query::IdfScope::Global),
        }),
    };
    Ok(Some(SearchParams {
        hnsw_ef: p.hnsw_ef.map(|e| e as usize),
        exact: p.exact.unwrap_or(false),
        quantization,
        indexed_only: p.indexed_only.unwrap_or(false),
        acorn: p
            .acorn
            .map(|a| json!({"enable": a.enable, "max_selectivity": a.max_selectivity})),
        idf,
    }))
}

pub fn order_by(o: g::OrderBy) -> GrpcResult<OrderBy> {
    use g::start_from::Value as V;
    let direction = match o.direction.map(g::Direction::try_from) {
        None | Some(Ok(g::Direction::Asc)) => Direction::Asc,
        Some(Ok(g::Direction::Desc)) => Direction::Desc,
        Some(Err(_)) => return Err(bad("unknown order direction")),
    };
    let start_from = match o.start_from.and_then(|s| s.value) {
        None => None,
        Some(V::Float(f)) => Some(f),
        Some(V::Integer(i)) => Some(i as f64),
        Some(V::Timestamp(_) | V::Datetime(_)) => {
            return Err(Status::invalid_argument(
                "Bad request: datetime `start_from` is not supported yet",
            ))
        }
    };
    Ok(OrderBy {
        key: o.key,
        direction,
        start_from,
    })
}

/// A write's `ordering` (weak when not given).
pub fn ordering(o: &Option<g::WriteOrdering>) -> GrpcResult<WriteOrdering> {
    let code = o.as_ref().map_or(0, |o| o.r#type);
    u32::try_from(code)
        .ok()
        .and_then(WriteOrdering::from_code)
        .ok_or_else(|| bad(format!("unknown write ordering {code}")))
}

/// A gRPC shard key.
pub fn shard_key_of(k: g::ShardKey) -> GrpcResult<ShardKey> {
    use g::shard_key::Key;
    match k.key {
        Some(Key::Keyword(s)) => Ok(ShardKey::Keyword(s)),
        Some(Key::Number(n)) => Ok(ShardKey::Number(n)),
        None => Err(bad("a shard key needs `keyword` or `number`")),
    }
}

pub fn grpc_shard_key(k: ShardKey) -> g::ShardKey {
    use g::shard_key::Key;
    g::ShardKey {
        key: Some(match k {
            ShardKey::Keyword(s) => Key::Keyword(s),
            ShardKey::Number(n) => Key::Number(n),
        }),
    }
}

/// A request's shard key selector: one key (with a fallback when given), several, or none.
pub fn shard_key(s: &Option<g::ShardKeySelector>) -> GrpcResult<Option<ShardKeySelector>> {
    let Some(sel) = s else { return Ok(None) };
    let mut keys = sel
        .shard_keys
        .iter()
        .cloned()
        .map(shard_key_of)
        .collect::<GrpcResult<Vec<_>>>()?;
    let fallback = sel.fallback.clone().map(shard_key_of).transpose()?;
    Ok(match (keys.len(), fallback) {
        (0, None) => None,
        (1, Some(fallback)) => Some(ShardKeySelector::Fallback {
            target: keys.remove(0),
            fallback,
        }),
        (_, Some(_)) => return Err(bad("a fallback shard key needs exactly one target key")),
        (1, None) => Some(ShardKeySelector::One(keys.remove(0))),
        (_, None) => Some(ShardKeySelector::Many(keys)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use g::condition::ConditionOneOf as C;

    fn field(key: &str, m: g::r#match::MatchValue) -> g::Condition {
        g::Condition {
            condition_one_of: Some(C::Field(g::FieldCondition {
                key: key.into(),
                r#match: Some(g::Match {
                    match_value: Some(m),
                }),
                ..Default::default()
            })),
        }
    }

    #[test]
    fn filters_become_the_rest_shape() {
        use g::r#match::MatchValue as M;
        let f = g::Filter {
            must: vec![
                field("city", M::Keyword("London".into())),
                g::Condition {
                    condition_one_of: Some(C::HasId(g::HasIdCondition {
                        has_id: vec![grpc_id(PointId::Num(4))],
                    })),
                },
            ],
            must_not: vec![field(
                "n",
                M::Integers(g::RepeatedIntegers {
                    integers: vec![1, 2],
                }),
            )],
            ..Default::default()
        };
        let json = filter_json(f.clone()).unwrap();
        assert_eq!(
            json,
            json!({"must": [{"key": "city", "match": {"value": "London"}}, {"has_id": [4]}],
                   "must_not": [{"key": "n", "match": {"any": [1, 2]}}]})
        );
        assert!(filter(Some(f)).unwrap().is_some());
        let empty = g::Filter {
            must: vec![g::Condition::default()],
            ..Default::default()
        };
        assert_eq!(
            filter(Some(empty)).unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
    }
}
