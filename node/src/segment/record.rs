//! Points as they enter and leave a segment, and the selectors for what a read returns.

use super::payload::Payload;
use super::point_id::PointId;
use super::sparse_vector::SparseVector;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One vector of a point, of any kind; its JSON is Qdrant's (an array, an array of arrays,
/// or `{"indices", "values"}`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum VectorData {
    Dense(Vec<f32>),
    Multi(Vec<Vec<f32>>),
    Sparse(SparseVector),
}

impl VectorData {
    pub fn kind_name(&self) -> &'static str {
        match self {
            VectorData::Dense(_) => "dense",
            VectorData::Multi(_) => "multi",
            VectorData::Sparse(_) => "sparse",
        }
    }
}

/// Vectors of one point by name; "" is the unnamed default vector.
pub type NamedVectors = BTreeMap<String, VectorData>;

#[derive(Clone, Debug, PartialEq)]
pub struct PointRecord {
    pub id: PointId,
    pub version: u64,
    pub vectors: NamedVectors,
    pub payload: Payload,
}

/// `with_payload`: true/false, a list of keys, or include/exclude.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum WithPayload {
    Bool(bool),
    Keys(Vec<String>),
    Include { include: Vec<String> },
    Exclude { exclude: Vec<String> },
}

impl Default for WithPayload {
    fn default() -> Self {
        WithPayload::Bool(false)
    }
}

impl WithPayload {
    pub fn select(&self, p: &Payload) -> Option<Payload> {
        match self {
            WithPayload::Bool(false) => None,
            WithPayload::Bool(true) => Some(p.clone()),
            WithPayload::Keys(keys) | WithPayload::Include { include: keys } => Some(
                p.iter()
                    .filter(|(k, _)| {
                        keys.iter()
                            .any(|want| want == *k || want.split('.').next() == Some(k))
                    })
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
            WithPayload::Exclude { exclude } => Some(
                p.iter()
                    .filter(|(k, _)| !exclude.contains(k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
        }
    }
}

/// `with_vector`: true/false or a list of vector names.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum WithVector {
    Bool(bool),
    Names(Vec<String>),
}

impl Default for WithVector {
    fn default() -> Self {
        WithVector::Bool(false)
    }
}

impl WithVector {
    pub fn wants(&self, name: &str) -> bool {
        match self {
            WithVector::Bool(b) => *b,
            WithVector::Names(n) => n.iter().any(|x| x == name),
        }
    }

    pub fn any(&self) -> bool {
        !matches!(self, WithVector::Bool(false))
    }
}

/// Vector output: a bare vector for an unnamed-vector collection, else an object by name.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum VectorOutput {
    Single(VectorData),
    Named(NamedVectors),
}

impl VectorOutput {
    /// A collection with one unnamed vector answers it bare, as does one whose only vector
    /// on this point is the unnamed one (Qdrant, after named vectors were added to it).
    pub fn from_named(mut v: NamedVectors, unnamed: bool) -> VectorOutput {
        if unnamed || (v.len() == 1 && v.contains_key("")) {
            if let Some(single) = v.remove("") {
                return VectorOutput::Single(single);
            }
        }
        VectorOutput::Named(v)
    }
}
