//! Vectors between the gRPC messages and `VectorData`: the `dense`/`sparse`/`multi_dense`
//! variants, the deprecated flat form older clients still send (`data` with `indices` for
//! sparse, with `vectors_count` for multivectors), query inputs, and answers.

use super::conv_common::{bad, point_id};
use super::GrpcResult;
use crate::collection::ops::VectorInput;
use crate::segment::record::{VectorData, VectorOutput};
use crate::segment::sparse_vector::SparseVector;
use proto::qdrant as g;
use serde_json::{json, Value};
use tonic::Status;

fn inference() -> Status {
    Status::invalid_argument(
        "Bad request: inference of vectors from documents, images or objects is not supported: send the vector itself",
    )
}

fn multi(data: Vec<f32>, count: u32) -> GrpcResult<VectorData> {
    let n = count as usize;
    if n == 0 || !data.len().is_multiple_of(n) {
        return Err(bad(format!(
            "a multivector of {} values cannot be {n} vectors of equal size",
            data.len()
        )));
    }
    let dim = data.len() / n;
    Ok(VectorData::Multi(
        data.chunks(dim).map(<[f32]>::to_vec).collect(),
    ))
}

/// One vector of a write (`Vector`).
pub fn vector(v: g::Vector) -> GrpcResult<VectorData> {
    use g::vector::Vector as V;
    match v.vector {
        Some(V::Dense(d)) => Ok(VectorData::Dense(d.data)),
        Some(V::Sparse(s)) => Ok(VectorData::Sparse(SparseVector {
            indices: s.indices,
            values: s.values,
        })),
        Some(V::MultiDense(m)) => Ok(VectorData::Multi(
            m.vectors.into_iter().map(|d| d.data).collect(),
        )),
        Some(V::Document(_) | V::Image(_) | V::Object(_)) => Err(inference()),
        None => match (v.indices, v.vectors_count) {
            (Some(ix), _) => Ok(VectorData::Sparse(SparseVector {
                indices: ix.data,
                values: v.data,
            })),
            (None, Some(n)) => multi(v.data, n),
            (None, None) => Ok(VectorData::Dense(v.data)),
        },
    }
}

/// A point's vectors (`Vectors`): one unnamed vector or vectors by name.
pub fn vectors(v: Option<g::Vectors>) -> GrpcResult<VectorInput> {
    use g::vectors::VectorsOptions as O;
    match v.and_then(|v| v.vectors_options) {
        Some(O::Vector(v)) => Ok(VectorInput::Single(vector(v)?)),
        Some(O::Vectors(named)) => named
            .vectors
            .into_iter()
            .map(|(k, v)| Ok((k, vector(v)?)))
            .collect::<GrpcResult<_>>()
            .map(VectorInput::Parsed),
        None => Ok(VectorInput::Parsed(Default::default())),
    }
}

/// The JSON the REST API takes for a vector, as query parsing expects it.
pub fn data_json(v: VectorData) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// A query input (`VectorInput`) as the REST query JSON: a vector or a point id.
pub fn input_json(v: Option<g::VectorInput>) -> GrpcResult<Value> {
    use g::vector_input::Variant as V;
    Ok(match v.and_then(|v| v.variant) {
        Some(V::Id(id)) => serde_json::to_value(point_id(id)?).unwrap_or(Value::Null),
        Some(V::Dense(d)) => json!(d.data),
        Some(V::Sparse(s)) => json!({"indices": s.indices, "values": s.values}),
        Some(V::MultiDense(m)) => {
            Value::Array(m.vectors.into_iter().map(|d| json!(d.data)).collect())
        }
        Some(V::Document(_) | V::Image(_) | V::Object(_)) => return Err(inference()),
        None => return Err(bad("a query vector is empty")),
    })
}

/// A legacy request's vector (`vector` with optional `sparse_indices`) as query JSON.
pub fn legacy_json(data: Vec<f32>, sparse: Option<g::SparseIndices>) -> Value {
    match sparse {
        Some(ix) => json!({"indices": ix.data, "values": data}),
        None => json!(data),
    }
}

/// An example of the legacy recommend and discover requests.
pub fn example_json(e: Option<g::VectorExample>) -> GrpcResult<Value> {
    use g::vector_example::Example as E;
    match e.and_then(|e| e.example) {
        Some(E::Id(id)) => Ok(serde_json::to_value(point_id(id)?).unwrap_or(Value::Null)),
        Some(E::Vector(v)) => Ok(data_json(vector(v)?)),
        None => Err(bad("an example is empty")),
    }
}

fn output(v: VectorData) -> g::VectorOutput {
    use g::vector_output::Vector as V;
    let variant = match v {
        VectorData::Dense(data) => V::Dense(g::DenseVector { data }),
        VectorData::Sparse(s) => V::Sparse(g::SparseVector {
            values: s.values,
            indices: s.indices,
        }),
        VectorData::Multi(m) => V::MultiDense(g::MultiDenseVector {
            vectors: m.into_iter().map(|data| g::DenseVector { data }).collect(),
        }),
    };
    g::VectorOutput {
        vector: Some(variant),
        ..Default::default()
    }
}

/// Stored vectors in an answer, in the variants Qdrant fills.
pub fn vectors_output(v: VectorOutput) -> g::VectorsOutput {
    use g::vectors_output::VectorsOptions as O;
    let options = match v {
        VectorOutput::Single(d) => O::Vector(output(d)),
        VectorOutput::Named(m) => O::Vectors(g::NamedVectorsOutput {
            vectors: m.into_iter().map(|(k, v)| (k, output(v))).collect(),
        }),
    };
    g::VectorsOutput {
        vectors_options: Some(options),
    }
}

pub fn ids_json(ids: Vec<g::PointId>) -> GrpcResult<Vec<Value>> {
    ids.into_iter()
        .map(|id| Ok(serde_json::to_value(point_id(id)?).unwrap_or(Value::Null)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deprecated_flat_vectors_are_read_as_their_kind() {
        let sparse = g::Vector {
            data: vec![0.5, 2.0],
            indices: Some(g::SparseIndices { data: vec![1, 5] }),
            ..Default::default()
        };
        assert_eq!(
            vector(sparse).unwrap(),
            VectorData::Sparse(SparseVector {
                indices: vec![1, 5],
                values: vec![0.5, 2.0]
            })
        );
        let m = g::Vector {
            data: vec![1.0, 2.0, 3.0, 4.0],
            vectors_count: Some(2),
            ..Default::default()
        };
        assert_eq!(
            vector(m).unwrap(),
            VectorData::Multi(vec![vec![1.0, 2.0], vec![3.0, 4.0]])
        );
        let odd = g::Vector {
            data: vec![1.0, 2.0, 3.0],
            vectors_count: Some(2),
            ..Default::default()
        };
        assert!(vector(odd).is_err());
        let dense = g::Vector {
            data: vec![1.0],
            ..Default::default()
        };
        assert_eq!(vector(dense).unwrap(), VectorData::Dense(vec![1.0]));
    }
}
