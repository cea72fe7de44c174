//! The vector part of a collection's config in Qdrant's JSON shape: dense and multivector
//! params (`vectors`), sparse params (`sparse_vectors`), their changes (PATCH, and
//! `PUT /collections/{name}/vectors/{vector_name}`), and the `VectorSpec`s they give.

use super::config::HnswConfigDiff;
use crate::segment::distance::Distance;
use crate::segment::element::Datatype;
use crate::segment::vectors::{Modifier, VectorKind, VectorSpec};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// `datatype` as the API names it; `turbo4` is refused as not supported yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageDatatype {
    Float32,
    Float16,
    Uint8,
    Turbo4,
}

impl StorageDatatype {
    fn segment(self) -> Result<Datatype, String> {
        match self {
            StorageDatatype::Float32 => Ok(Datatype::Float32),
            StorageDatatype::Float16 => Ok(Datatype::Float16),
            StorageDatatype::Uint8 => Ok(Datatype::Uint8),
            StorageDatatype::Turbo4 => Err(
                "datatype `turbo4` is not supported yet (float32, float16 and uint8 are)".into(),
            ),
        }
    }
}

fn datatype(d: Option<StorageDatatype>) -> Datatype {
    d.and_then(|d| d.segment().ok()).unwrap_or_default()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MultiVectorComparator {
    MaxSim,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MultiVectorConfig {
    pub comparator: MultiVectorComparator,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct VectorParams {
    pub size: u64,
    pub distance: Distance,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hnsw_config: Option<HnswConfigDiff>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantization_config: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datatype: Option<StorageDatatype>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multivector_config: Option<MultiVectorConfig>,
}

impl VectorParams {
    fn spec(&self, name: &str) -> VectorSpec {
        VectorSpec {
            name: name.to_string(),
            kind: if self.multivector_config.is_some() {
                VectorKind::Multi
            } else {
                VectorKind::Dense
            },
            dim: self.size as usize,
            distance: self.distance,
            datatype: datatype(self.datatype),
            modifier: Modifier::None,
            full_scan_threshold: None,
            hnsw: None,
            quantization: None,
            on_disk: self.in_file(),
        }
    }

    /// Whether the vectors live in a mapped file: `on_disk`, unless `memory` says where.
    fn in_file(&self) -> bool {
        match self.memory.as_ref().and_then(Value::as_str) {
            Some("pinned") => false,
            Some("cold" | "cached") => true,
            _ => self.on_disk == Some(true),
        }
    }

    fn validate(&self) -> Result<(), String> {
        if self.size == 0 || self.size > 65536 {
            return Err(format!(
                "vector size must be between 1 and 65536, got {}",
                self.size
            ));
        }
        self.datatype.map(StorageDatatype::segment).transpose()?;
        Ok(())
    }
}

/// `vectors`: one unnamed vector (`{"size":4,"distance":"Dot"}`) or named ones.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(untagged)]
pub enum VectorsConfig {
    Single(VectorParams),
    Named(BTreeMap<String, VectorParams>),
}

impl<'de> Deserialize<'de> for VectorsConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        let Some(obj) = v.as_object() else {
            return Err(D::Error::custom("`vectors` must be an object"));
        };
        if obj.contains_key("size") || obj.contains_key("distance") {
            serde_json::from_value(v).map(VectorsConfig::Single)
        } else {
            serde_json::from_value(v).map(VectorsConfig::Named)
        }
        .map_err(|e| D::Error::custom(format!("invalid `vectors`: {e}")))
    }
}

impl VectorsConfig {
    /// The dense and multi vectors.
    pub fn specs(&self) -> Vec<VectorSpec> {
        match self {
            VectorsConfig::Single(p) => vec![p.spec("")],
            VectorsConfig::Named(m) => m.iter().map(|(n, p)| p.spec(n)).collect(),
        }
    }

    pub fn is_unnamed(&self) -> bool {
        matches!(self, VectorsConfig::Single(_))
    }

    pub fn validate(&self) -> Result<(), String> {
        match self {
            VectorsConfig::Single(p) => p.validate(),
            VectorsConfig::Named(m) => m.values().try_for_each(VectorParams::validate),
        }
    }

    pub fn get(&self, name: &str) -> Option<&VectorParams> {
        match self {
            VectorsConfig::Single(p) => name.is_empty().then_some(p),
            VectorsConfig::Named(m) => m.get(name),
        }
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut VectorParams> {
        match self {
            VectorsConfig::Single(p) => name.is_empty().then_some(p),
            VectorsConfig::Named(m) => m.get_mut(name),
        }
    }

    /// Adds a named vector; an unnamed collection becomes one with the vector "" beside it.
    pub fn insert(&mut self, name: &str, p: VectorParams) {
        if let VectorsConfig::Single(old) = self {
            *self = VectorsConfig::Named([(String::new(), old.clone())].into());
        }
        if let VectorsConfig::Named(m) = self {
            m.insert(name.to_string(), p);
        }
    }

    pub fn remove(&mut self, name: &str) -> bool {
        match self {
            VectorsConfig::Single(_) if name.is_empty() => {
                *self = VectorsConfig::Named(BTreeMap::new());
                true
            }
            VectorsConfig::Single(_) => false,
            VectorsConfig::Named(m) => m.remove(name).is_some(),
        }
    }
}

/// PATCH `vectors.{name}`: what may change of a dense vector after creation.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct VectorParamsDiff {
    pub hnsw_config: Option<HnswConfigDiff>,
    pub quantization_config: Option<Value>,
    pub on_disk: Option<bool>,
    pub memory: Option<Value>,
}

impl VectorParamsDiff {
    pub fn apply(&self, p: &mut VectorParams) {
        if let Some(h) = &self.hnsw_config {
            p.hnsw_config = Some(h.clone());
        }
        match &self.quantization_config {
            Some(q) if super::quantization::is_disabled(q) => p.quantization_config = None,
            Some(q) => p.quantization_config = Some(q.clone()),
            None => {}
        }
        p.on_disk = self.on_disk.or(p.on_disk);
        if self.memory.is_some() {
            p.memory = self.memory.clone();
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SparseIndexParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_scan_threshold: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datatype: Option<StorageDatatype>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SparseVectorParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<SparseIndexParams>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modifier: Option<Modifier>,
}

impl SparseVectorParams {
    pub fn spec(&self, name: &str) -> VectorSpec {
        let index = self.index.clone().unwrap_or_default();
        VectorSpec {
            name: name.to_string(),
            kind: VectorKind::Sparse,
            dim: 0,
            distance: Distance::Dot,
            datatype: datatype(index.datatype),
            modifier: self.modifier.unwrap_or_default(),
            full_scan_threshold: index.full_scan_threshold,
            hnsw: None,
            quantization: None,
            on_disk: false,
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        if let Some(d) = self.index.as_ref().and_then(|i| i.datatype) {
            d.segment()?;
        }
        Ok(())
    }

    /// PATCH: set fields replace, unset ones stay.
    pub fn merge(&mut self, d: &SparseVectorParams) {
        if let Some(di) = &d.index {
            let i = self.index.get_or_insert_with(Default::default);
            i.full_scan_threshold = di.full_scan_threshold.or(i.full_scan_threshold);
            i.on_disk = di.on_disk.or(i.on_disk);
            if di.memory.is_some() {
                i.memory = di.memory.clone();
            }
            i.datatype = di.datatype.or(i.datatype);
        }
        self.modifier = d.modifier.or(self.modifier);
    }
}

pub type SparseVectorsConfig = BTreeMap<String, SparseVectorParams>;

/// `PUT /collections/{name}/vectors/{vector_name}` body: `{"dense": …}` or `{"sparse": …}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum VectorNameConfig {
    Dense(DenseVectorConfig),
    Sparse(SparseVectorConfig),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenseVectorConfig {
    pub size: u64,
    pub distance: Distance,
    #[serde(default)]
    pub multivector_config: Option<MultiVectorConfig>,
    #[serde(default)]
    pub datatype: Option<StorageDatatype>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SparseVectorConfig {
    #[serde(default)]
    pub modifier: Option<Modifier>,
    #[serde(default)]
    pub datatype: Option<StorageDatatype>,
}

impl DenseVectorConfig {
    pub fn params(&self) -> VectorParams {
        VectorParams {
            size: self.size,
            distance: self.distance,
            hnsw_config: None,
            quantization_config: None,
            on_disk: None,
            memory: None,
            datatype: self.datatype,
            multivector_config: self.multivector_config.clone(),
        }
    }
}

impl SparseVectorConfig {
    pub fn params(&self) -> SparseVectorParams {
        SparseVectorParams {
            index: self.datatype.map(|d| SparseIndexParams {
                datatype: Some(d),
                ..Default::default()
            }),
            modifier: self.modifier,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_qdrant_shapes_and_gives_specs() {
        let v: VectorsConfig = serde_json::from_value(json!({
            "dense": {"size": 4, "distance": "Cosine", "datatype": "float16"},
            "colbert": {"size": 2, "distance": "Dot", "multivector_config": {"comparator": "max_sim"}}
        }))
        .unwrap();
        v.validate().unwrap();
        let specs = v.specs();
        assert_eq!(specs[0].name, "colbert");
        assert_eq!(specs[0].kind, VectorKind::Multi);
        assert_eq!(specs[1].datatype, Datatype::Float16);
        let s: SparseVectorsConfig = serde_json::from_value(
            json!({"text": {"modifier": "idf", "index": {"datatype": "uint8", "full_scan_threshold": 10}}}),
        )
        .unwrap();
        let spec = s["text"].spec("text");
        assert_eq!(
            (
                spec.kind,
                spec.modifier,
                spec.datatype,
                spec.full_scan_threshold
            ),
            (VectorKind::Sparse, Modifier::Idf, Datatype::Uint8, Some(10))
        );
        let bad: VectorsConfig =
            serde_json::from_value(json!({"size": 2, "distance": "Dot", "datatype": "turbo4"}))
                .unwrap();
        assert!(bad.validate().unwrap_err().contains("turbo4"));
        assert!(serde_json::from_value::<VectorsConfig>(
            json!({"size": 2, "distance": "Dot", "datatype": "float64"})
        )
        .is_err());
        let n: VectorNameConfig =
            serde_json::from_value(json!({"sparse": {"modifier": "idf"}})).unwrap();
        assert!(matches!(n, VectorNameConfig::Sparse(_)));
        assert!(serde_json::from_value::<VectorNameConfig>(json!({"bogus": {}})).is_err());
    }

    #[test]
    fn named_vectors_added_to_an_unnamed_collection() {
        let mut v: VectorsConfig =
            serde_json::from_value(json!({"size": 2, "distance": "Dot"})).unwrap();
        let extra: DenseVectorConfig =
            serde_json::from_value(json!({"size": 3, "distance": "Cosine"})).unwrap();
        v.insert("extra", extra.params());
        assert_eq!(
            serde_json::to_value(&v).unwrap(),
            json!({"": {"size": 2, "distance": "Dot"}, "extra": {"size": 3, "distance": "Cosine"}})
        );
        assert!(v.remove("extra") && !v.remove("extra"));
        assert_eq!(v.specs().len(), 1);
    }
}
