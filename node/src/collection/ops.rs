//! Point operations: the request bodies of the points API, validated against the
//! collection's vectors and turned into per-shard operations.

use super::error::{CollectionError, CollectionResult};
use super::resharding::Slot;
use super::shard_key::ShardKeySelector;
use crate::segment::filter::Filter;
use crate::segment::payload::Payload;
use crate::segment::point_id::PointId;
use crate::segment::record::{NamedVectors, VectorData};
use crate::segment::sparse_vector::SparseVector;
use crate::segment::vectors::VectorSpec;
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Reads one vector of any kind from its JSON: an array of numbers (dense), an array of
/// arrays (multi), or `{"indices", "values"}` (sparse).
pub fn parse_vector(v: Value) -> Result<VectorData, String> {
    match v {
        v @ Value::Array(_) => v.deserialize_seq(DenseOrMulti).map_err(|e| e.to_string()),
        Value::Object(m) if m.contains_key("indices") || m.contains_key("values") => {
            serde_json::from_value::<SparseVector>(Value::Object(m))
                .map(VectorData::Sparse)
                .map_err(|e| {
                    format!(
                        "a sparse vector is {{\"indices\": [integers 0..=4294967295], \"values\": [numbers]}}: {e}"
                    )
                })
        }
        Value::Object(m) if m.contains_key("text") || m.contains_key("image") || m.contains_key("object") => {
            Err("inference of vectors from documents, images or objects is not supported: send the vector itself".into())
        }
        other => Err(format!(
            "a vector must be an array of numbers, an array of arrays, or a sparse vector, got {other}"
        )),
    }
}

/// A vector as a request gives it: one unnamed vector, or vectors by name (as JSON from
/// REST, already read from gRPC).
#[derive(Clone, Debug)]
pub enum VectorInput {
    Single(VectorData),
    Named(BTreeMap<String, Value>),
    Parsed(BTreeMap<String, VectorData>),
}

/// Read straight from the parser: numbers go into the vector without a JSON tree between.
impl<'de> Deserialize<'de> for VectorInput {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(VectorInputVisitor)
    }
}

struct VectorInputVisitor;

impl<'de> Visitor<'de> for VectorInputVisitor {
    type Value = VectorInput;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("vector must be an array or an object of named vectors")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<VectorInput, A::Error> {
        DenseOrMulti.visit_seq(seq).map(VectorInput::Single)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<VectorInput, A::Error> {
        let named = BTreeMap::deserialize(MapAccessDeserializer::new(map))?;
        Ok(VectorInput::Named(named))
    }
}

/// An array of numbers (dense) or of arrays of numbers (multi), read element by element.
struct DenseOrMulti;

impl<'de> Visitor<'de> for DenseOrMulti {
    type Value = VectorData;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of numbers or an array of arrays of numbers")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<VectorData, A::Error> {
        let mut dense = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        let mut multi = Vec::new();
        while let Some(item) = seq.next_element::<NumberOrRow>()? {
            match item {
                NumberOrRow::Number(x) if multi.is_empty() => dense.push(x),
                NumberOrRow::Row(r) if dense.is_empty() => multi.push(r),
                _ => {
                    return Err(A::Error::custom(
                        "vector must be an array of numbers or an array of arrays of numbers",
                    ))
                }
            }
        }
        Ok(if multi.is_empty() {
            VectorData::Dense(dense)
        } else {
            VectorData::Multi(multi)
        })
    }
}

/// One element of a vector array: a number (dense) or an array of numbers (multi).
enum NumberOrRow {
    Number(f32),
    Row(Vec<f32>),
}

impl<'de> Deserialize<'de> for NumberOrRow {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = NumberOrRow;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number or an array of numbers")
            }
            fn visit_f64<E: serde::de::Error>(self, x: f64) -> Result<NumberOrRow, E> {
                Ok(NumberOrRow::Number(x as f32))
            }
            fn visit_i64<E: serde::de::Error>(self, x: i64) -> Result<NumberOrRow, E> {
                Ok(NumberOrRow::Number(x as f32))
            }
            fn visit_u64<E: serde::de::Error>(self, x: u64) -> Result<NumberOrRow, E> {
                Ok(NumberOrRow::Number(x as f32))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<NumberOrRow, A::Error> {
                Vec::deserialize(SeqAccessDeserializer::new(seq)).map(NumberOrRow::Row)
            }
        }
        d.deserialize_any(V)
    }
}

fn wrong(msg: impl std::fmt::Display) -> CollectionError {
    CollectionError::wrong(format!("{msg}"))
}

/// The spec of vector `name`, or Qdrant's error for a name the collection lacks.
pub fn spec_of<'a>(specs: &'a [VectorSpec], name: &str) -> CollectionResult<&'a VectorSpec> {
    specs.iter().find(|s| s.name == name).ok_or_else(|| {
        wrong(if name.is_empty() {
            "Not existing vector name error: collection has only named vectors".to_string()
        } else {
            format!("Not existing vector name error: {name}")
        })
    })
}

impl VectorInput {
    /// Checks names, kinds and sizes against the collection and returns vectors by name.
    pub fn resolve(self, specs: &[VectorSpec]) -> CollectionResult<NamedVectors> {
        let raw: Vec<(String, Result<VectorData, String>)> = match self {
            VectorInput::Single(v) => vec![(String::new(), Ok(v))],
            VectorInput::Named(m) => m.into_iter().map(|(n, v)| (n, parse_vector(v))).collect(),
            VectorInput::Parsed(m) => m.into_iter().map(|(n, v)| (n, Ok(v))).collect(),
        };
        let mut out = NamedVectors::new();
        for (name, v) in raw {
            let spec = spec_of(specs, &name)?;
            let v = v.map_err(|e| wrong(format!("vector `{name}`: {e}")))?;
            out.insert(name, spec.check(v).map_err(wrong)?);
        }
        Ok(out)
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct PointStruct {
    pub id: PointId,
    pub vector: VectorInput,
    #[serde(default)]
    pub payload: Option<Payload>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct BatchInput {
    pub ids: Vec<PointId>,
    pub vectors: Value,
    #[serde(default)]
    pub payloads: Option<Vec<Option<Payload>>>,
}

/// `PUT /points` body: `{"points": [...]}` or `{"batch": {...}}`.
#[derive(Clone, Debug)]
pub enum UpsertRequest {
    List(Vec<PointStruct>),
    Batch(BatchInput),
}

impl<'de> Deserialize<'de> for UpsertRequest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        UpsertBody::deserialize(d).map(|b| b.request)
    }
}

/// The upsert body with its `shard_key`, read in one pass (other keys are ignored).
#[derive(Clone, Debug)]
pub struct UpsertBody {
    pub request: UpsertRequest,
    pub shard_key: Option<ShardKeySelector>,
}

impl<'de> Deserialize<'de> for UpsertBody {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = UpsertBody;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object with `points` or `batch`")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UpsertBody, A::Error> {
                let (mut request, mut shard_key) = (None, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "points" if request.is_none() => {
                            request = Some(UpsertRequest::List(map.next_value()?))
                        }
                        "batch" if request.is_none() => {
                            request = Some(UpsertRequest::Batch(map.next_value()?))
                        }
                        "shard_key" => shard_key = map.next_value()?,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                let request =
                    request.ok_or_else(|| A::Error::custom("expected `points` or `batch`"))?;
                Ok(UpsertBody { request, shard_key })
            }
        }
        d.deserialize_map(V)
    }
}

/// A point ready to store.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NewPoint {
    pub id: PointId,
    pub vectors: NamedVectors,
    pub payload: Payload,
}

impl UpsertRequest {
    pub fn into_points(self, specs: &[VectorSpec]) -> CollectionResult<Vec<NewPoint>> {
        match self {
            UpsertRequest::List(list) => list
                .into_iter()
                .map(|p| {
                    Ok(NewPoint {
                        id: p.id,
                        vectors: p.vector.resolve(specs)?,
                        payload: p.payload.unwrap_or_default(),
                    })
                })
                .collect(),
            UpsertRequest::Batch(b) => {
                let n = b.ids.len();
                let per_point: Vec<VectorInput> = match b.vectors {
                    Value::Array(rows) => rows
                        .into_iter()
                        .map(|r| parse_vector(r).map(VectorInput::Single))
                        .collect::<Result<_, _>>()
                        .map_err(|e| wrong(format!("invalid batch vectors: {e}")))?,
                    Value::Object(by_name) => {
                        let mut rows: Vec<BTreeMap<String, Value>> = vec![BTreeMap::new(); n];
                        for (name, col) in by_name {
                            let Value::Array(col) = col else {
                                return Err(CollectionError::wrong(format!(
                                    "batch vectors `{name}` must be a list"
                                )));
                            };
                            if col.len() != n {
                                return Err(CollectionError::wrong(format!(
                                    "batch has {n} ids but {} vectors named `{name}`",
                                    col.len()
                                )));
                            }
                            for (row, v) in rows.iter_mut().zip(col) {
                                row.insert(name.clone(), v);
                            }
                        }
                        rows.into_iter().map(VectorInput::Named).collect()
                    }
                    _ => {
                        return Err(CollectionError::wrong(
                            "batch `vectors` must be a list or an object",
                        ))
                    }
                };
                if per_point.len() != n {
                    return Err(CollectionError::wrong(format!(
                        "batch has {n} ids but {} vectors",
                        per_point.len()
                    )));
                }
                let payloads = b.payloads.unwrap_or_default();
                if !payloads.is_empty() && payloads.len() != n {
                    return Err(CollectionError::wrong(format!(
                        "batch has {n} ids but {} payloads",
                        payloads.len()
                    )));
                }
                let mut payloads = payloads.into_iter();
                b.ids
                    .into_iter()
                    .zip(per_point)
                    .map(|(id, v)| {
                        let payload = payloads.next().flatten().unwrap_or_default();
                        Ok(NewPoint {
                            id,
                            vectors: v.resolve(specs)?,
                            payload,
                        })
                    })
                    .collect()
            }
        }
    }
}

/// Which points an operation touches: listed ids or a filter.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Selector {
    Ids(Vec<PointId>),
    Filter(Filter),
}

/// Reads `points` / `filter` from a request body, requiring exactly one.
pub fn selector(
    points: Option<Vec<PointId>>,
    filter: Option<Filter>,
) -> CollectionResult<Selector> {
    match (points, filter) {
        (Some(p), None) => Ok(Selector::Ids(p)),
        (None, Some(f)) => Ok(Selector::Filter(f)),
        (Some(_), Some(_)) => Err(CollectionError::wrong(
            "give either `points` or `filter`, not both",
        )),
        (None, None) => Err(CollectionError::wrong(
            "either `points` or `filter` is required",
        )),
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum PayloadChange {
    /// Merge keys into the payload (optionally under `key`).
    Set {
        payload: Payload,
        key: Option<String>,
    },
    Overwrite(Payload),
    DeleteKeys(Vec<String>),
    Clear,
}

/// One operation as a shard applies it; also the wire form between peers.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ShardOp {
    Upsert(Vec<NewPoint>),
    /// Points copied from another replica: vectors are stored as given (already normalised).
    Import(Vec<NewPoint>),
    /// Removes every point: a replica about to be refilled by a transfer.
    Clear,
    /// Ends a transfer into this replica: it now holds every write of these clocks.
    SetClocks(Vec<crate::collection::clocks::Tag>),
    Delete(Selector),
    Payload(Selector, PayloadChange),
    UpdateVectors(Vec<(PointId, NamedVectors)>),
    DeleteVectors(Selector, Vec<String>),
    /// Deletes the points of a hash slot: those a resharding moved to another shard.
    DropSlot(Slot),
}

impl ShardOp {
    /// The part of the operation that touches points of `slot` (None: nothing): what a
    /// resharding transfer forwards. Filters pass whole; the target only holds its points.
    pub fn restricted(&self, slot: Slot) -> Option<ShardOp> {
        let keep = |ids: &[PointId]| -> Option<Vec<PointId>> {
            let v: Vec<PointId> = ids.iter().copied().filter(|id| slot.holds(*id)).collect();
            (!v.is_empty()).then_some(v)
        };
        let sel = |sel: &Selector| match sel {
            Selector::Ids(ids) => keep(ids).map(Selector::Ids),
            Selector::Filter(f) => Some(Selector::Filter(f.clone())),
        };
        let points = |p: &[NewPoint]| -> Option<Vec<NewPoint>> {
            let v: Vec<NewPoint> = p.iter().filter(|p| slot.holds(p.id)).cloned().collect();
            (!v.is_empty()).then_some(v)
        };
        match self {
            ShardOp::Upsert(p) => points(p).map(ShardOp::Upsert),
            ShardOp::Import(p) => points(p).map(ShardOp::Import),
            ShardOp::UpdateVectors(list) => {
                let v: Vec<_> = list
                    .iter()
                    .filter(|(id, _)| slot.holds(*id))
                    .cloned()
                    .collect();
                (!v.is_empty()).then_some(ShardOp::UpdateVectors(v))
            }
            ShardOp::Delete(s) => sel(s).map(ShardOp::Delete),
            ShardOp::Payload(s, change) => sel(s).map(|s| ShardOp::Payload(s, change.clone())),
            ShardOp::DeleteVectors(s, names) => {
                sel(s).map(|s| ShardOp::DeleteVectors(s, names.clone()))
            }
            ShardOp::Clear | ShardOp::SetClocks(_) | ShardOp::DropSlot(_) => None,
        }
    }

    /// Whether the operation may take memory or disk (refused over the resource quota).
    pub fn takes_space(&self) -> bool {
        match self {
            ShardOp::Upsert(_) | ShardOp::Import(_) | ShardOp::UpdateVectors(_) => true,
            ShardOp::Payload(_, change) => matches!(
                change,
                PayloadChange::Set { .. } | PayloadChange::Overwrite(_)
            ),
            _ => false,
        }
    }
}

/// A point operation with the shard keys it is written to (custom sharding).
#[derive(Clone, Debug)]
pub struct KeyedOp {
    pub op: ShardOp,
    pub shard_key: Option<ShardKeySelector>,
}

impl From<ShardOp> for KeyedOp {
    fn from(op: ShardOp) -> Self {
        KeyedOp {
            op,
            shard_key: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn streamed(text: &str) -> Result<VectorData, String> {
        match serde_json::from_str::<VectorInput>(text).map_err(|e| e.to_string())? {
            VectorInput::Single(v) => Ok(v),
            other => Err(format!("not a single vector: {other:?}")),
        }
    }

    #[test]
    fn a_vector_reads_the_same_from_a_json_tree_and_from_the_stream() {
        for text in ["[1, 2.5, -3]", "[]", "[[1, 2], [3]]", "[[]]"] {
            let tree = parse_vector(serde_json::from_str(text).unwrap()).unwrap();
            assert_eq!(tree, streamed(text).unwrap(), "{text}");
        }
        assert_eq!(
            streamed("[[1], [2]]").unwrap(),
            VectorData::Multi(vec![vec![1.0], vec![2.0]])
        );
        for bad in ["[1, [2]]", "[[1], 2]", "[1, \"a\"]", "[[1, \"a\"]]"] {
            assert!(
                parse_vector(serde_json::from_str(bad).unwrap()).is_err(),
                "{bad}"
            );
            assert!(streamed(bad).is_err(), "{bad}");
        }
    }
}
