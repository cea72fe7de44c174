//! Points as they enter and leave a segment, and the selectors for what a read returns.

use super::payload::Payload;
use super::point_id::PointId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Vectors of one point by name; "" is the unnamed default vector.
pub type NamedVectors = BTreeMap<String, Vec<f32>>;

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

/// Vector output: a bare array for an unnamed-vector collection, else an object by name.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum VectorOutput {
    Single(Vec<f32>),
    Named(NamedVectors),
}

impl VectorOutput {
    pub fn from_named(mut v: NamedVectors, unnamed: bool) -> VectorOutput {
        match (unnamed, v.remove("")) {
            (true, Some(single)) => VectorOutput::Single(single),
            (_, _) => VectorOutput::Named(v),
        }
    }
}
