//! Collection configuration in Qdrant's JSON shape: what create/update accept, what is
//! stored, and what `GET /collections/{name}` reports.

use super::quantization;
use super::shard_key::ShardingMethod;
use super::vector_config::{SparseVectorsConfig, VectorNameConfig, VectorParamsDiff};
pub use super::vector_config::{VectorParams, VectorsConfig};
use crate::segment::vectors::{VectorKind, VectorSpec};
use crate::segment::HnswParams;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct HnswConfig {
    pub m: usize,
    pub ef_construct: usize,
    pub full_scan_threshold: usize,
    pub max_indexing_threads: usize,
    pub on_disk: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload_m: Option<usize>,
}

impl Default for HnswConfig {
    fn default() -> Self {
        HnswConfig {
            m: 16,
            ef_construct: 100,
            full_scan_threshold: 10000,
            max_indexing_threads: 0,
            on_disk: false,
            payload_m: None,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct HnswConfigDiff {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub m: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ef_construct: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_scan_threshold: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_indexing_threads: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload_m: Option<usize>,
}

impl HnswConfig {
    pub fn apply(&mut self, d: &HnswConfigDiff) -> Result<(), String> {
        if d.ef_construct == Some(0) {
            return Err("hnsw_config.ef_construct must be at least 4".into());
        }
        self.m = d.m.unwrap_or(self.m);
        self.ef_construct = d.ef_construct.unwrap_or(self.ef_construct).max(4);
        self.full_scan_threshold = d.full_scan_threshold.unwrap_or(self.full_scan_threshold);
        self.max_indexing_threads = d.max_indexing_threads.unwrap_or(self.max_indexing_threads);
        self.on_disk = d.on_disk.unwrap_or(self.on_disk);
        self.payload_m = d.payload_m.or(self.payload_m);
        Ok(())
    }

    pub fn params(&self) -> HnswParams {
        let threads = match self.max_indexing_threads {
            0 => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            n => n,
        };
        HnswParams {
            m: self.m,
            ef_construct: self.ef_construct,
            full_scan_threshold_kb: self.full_scan_threshold,
            indexing_threads: threads,
        }
    }
}

/// `PUT /collections/{name}` body.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct CreateCollection {
    pub vectors: Option<VectorsConfig>,
    pub shard_number: Option<u32>,
    pub sharding_method: Option<ShardingMethod>,
    pub replication_factor: Option<u32>,
    /// `write_concern_factor` is the seed document's older name for the same setting.
    #[serde(alias = "write_concern_factor")]
    pub write_consistency_factor: Option<u32>,
    pub on_disk_payload: Option<bool>,
    pub hnsw_config: Option<HnswConfigDiff>,
    pub wal_config: Option<Map<String, Value>>,
    pub optimizers_config: Option<Map<String, Value>>,
    pub quantization_config: Option<Value>,
    pub sparse_vectors: Option<SparseVectorsConfig>,
    pub strict_mode_config: Option<Value>,
    pub metadata: Option<Map<String, Value>>,
    pub init_from: Option<Value>,
}

impl CreateCollection {
    /// Checks the quantization configs, with Qdrant's whole messages.
    pub fn check_quantization(&self) -> Result<(), String> {
        if let Some(q) = &self.quantization_config {
            quantization::check("quantization_config", q, false)?;
        }
        let (path, vectors) = match &self.vectors {
            Some(VectorsConfig::Single(p)) => ("vectors.quantization_config", vec![p]),
            Some(VectorsConfig::Named(m)) => {
                ("vectors.?.quantization_config", m.values().collect())
            }
            None => ("", Vec::new()),
        };
        for q in vectors
            .iter()
            .filter_map(|p| p.quantization_config.as_ref())
        {
            quantization::check(path, q, false)?;
        }
        Ok(())
    }
}

impl UpdateCollection {
    /// Checks the quantization configs, with Qdrant's whole messages.
    pub fn check_quantization(&self) -> Result<(), String> {
        if let Some(q) = &self.quantization_config {
            quantization::check("quantization_config", q, true)?;
        }
        for d in self.vectors.iter().flat_map(|m| m.values()) {
            if let Some(q) = &d.quantization_config {
                quantization::check("vectors.?.quantization_config", q, true)?;
            }
        }
        Ok(())
    }
}

/// `PATCH /collections/{name}` body.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct UpdateCollection {
    pub vectors: Option<BTreeMap<String, VectorParamsDiff>>,
    pub optimizers_config: Option<Map<String, Value>>,
    pub params: Option<ParamsDiff>,
    pub hnsw_config: Option<HnswConfigDiff>,
    pub quantization_config: Option<Value>,
    pub sparse_vectors: Option<SparseVectorsConfig>,
    pub strict_mode_config: Option<Value>,
    pub metadata: Option<Map<String, Value>>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ParamsDiff {
    pub replication_factor: Option<u32>,
    #[serde(alias = "write_concern_factor")]
    pub write_consistency_factor: Option<u32>,
    pub read_fan_out_factor: Option<u32>,
    pub on_disk_payload: Option<bool>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CollectionParams {
    pub vectors: VectorsConfig,
    pub shard_number: u32,
    /// Shown as given on create (Qdrant omits it when it was not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sharding_method: Option<ShardingMethod>,
    pub replication_factor: u32,
    pub write_consistency_factor: u32,
    pub on_disk_payload: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_fan_out_factor: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sparse_vectors: Option<SparseVectorsConfig>,
}

impl CollectionParams {
    /// Whether shards belong to user-defined shard keys.
    pub fn custom_sharding(&self) -> bool {
        self.sharding_method == Some(ShardingMethod::Custom)
    }

    /// Every named vector: dense and multi ones, then sparse ones.
    pub fn specs(&self) -> Vec<VectorSpec> {
        let mut specs = self.vectors.specs();
        for (name, p) in self.sparse_vectors.iter().flatten() {
            specs.push(p.spec(name));
        }
        specs
    }

    /// Whether `name` is taken by a dense or a sparse vector.
    pub fn has_vector(&self, name: &str) -> bool {
        self.vectors.get(name).is_some()
            || self
                .sparse_vectors
                .as_ref()
                .is_some_and(|s| s.contains_key(name))
    }

    pub fn validate(&self) -> Result<(), String> {
        self.vectors.validate()?;
        for (name, p) in self.sparse_vectors.iter().flatten() {
            if self.vectors.get(name).is_some() {
                return Err(format!(
                    "Dense and sparse vector names must be unique - duplicate found with '{name}'"
                ));
            }
            p.validate()?;
        }
        Ok(())
    }
}

/// What is stored and reported as `config`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CollectionConfig {
    pub params: CollectionParams,
    pub hnsw_config: HnswConfig,
    pub optimizer_config: Value,
    pub wal_config: Value,
    pub quantization_config: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict_mode_config: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
}

fn default_optimizers() -> Value {
    json!({"deleted_threshold": 0.2, "vacuum_min_vector_number": 1000, "default_segment_number": 0,
           "max_segment_size": null, "memmap_threshold": null, "indexing_threshold": 10000,
           "flush_interval_sec": 5, "max_optimization_threads": null})
}

fn default_wal() -> Value {
    json!({"wal_capacity_mb": 32, "wal_segments_ahead": 0, "wal_retain_closed": 1})
}

fn merge(base: &mut Value, diff: &Map<String, Value>) {
    if let Value::Object(b) = base {
        for (k, v) in diff {
            b.insert(k.clone(), v.clone());
        }
    }
}

fn at_least_one(name: &str, v: Option<u32>, default: u32) -> Result<u32, String> {
    match v {
        Some(0) => Err(format!("{name} must be at least 1")),
        Some(n) => Ok(n),
        None => Ok(default),
    }
}

impl CollectionConfig {
    /// Builds the stored config from a create request; `default_shards` depends on the mode.
    pub fn from_create(
        req: CreateCollection,
        default_shards: u32,
    ) -> Result<CollectionConfig, String> {
        let vectors = req.vectors.unwrap_or(VectorsConfig::Named(BTreeMap::new()));
        let mut hnsw = HnswConfig::default();
        if let Some(d) = &req.hnsw_config {
            hnsw.apply(d)?;
        }
        let shard_number = at_least_one("shard_number", req.shard_number, default_shards)?;
        if shard_number > 1024 {
            return Err(format!(
                "shard_number must be at most 1024, got {shard_number}"
            ));
        }
        let mut optimizer_config = default_optimizers();
        merge(
            &mut optimizer_config,
            &req.optimizers_config.unwrap_or_default(),
        );
        let mut wal_config = default_wal();
        merge(&mut wal_config, &req.wal_config.unwrap_or_default());
        let params = CollectionParams {
            vectors,
            shard_number,
            sharding_method: req.sharding_method,
            replication_factor: at_least_one("replication_factor", req.replication_factor, 1)?,
            write_consistency_factor: at_least_one(
                "write_consistency_factor",
                req.write_consistency_factor,
                1,
            )?,
            on_disk_payload: req.on_disk_payload.unwrap_or(true),
            read_fan_out_factor: None,
            sparse_vectors: req.sparse_vectors,
        };
        params.validate()?;
        Ok(CollectionConfig {
            params,
            hnsw_config: hnsw,
            optimizer_config,
            wal_config,
            quantization_config: req.quantization_config,
            strict_mode_config: req.strict_mode_config,
            metadata: req.metadata,
        })
    }

    /// Write sizes a shard's operation log keeps for `wal_delta` transfers: as much as
    /// Qdrant's WAL holds, `wal_capacity_mb` per segment, the open one and
    /// `wal_retain_closed` closed ones.
    pub fn log_budget(&self) -> u64 {
        let num = |k: &str, d: u64| self.wal_config.get(k).and_then(Value::as_u64).unwrap_or(d);
        let segments = 1 + num("wal_retain_closed", 1);
        (num("wal_capacity_mb", 32).max(1) * segments) << 20
    }

    /// Every named vector, with the index parameters of those that set their own
    /// `hnsw_config` (merged over the collection's).
    pub fn specs(&self) -> Vec<VectorSpec> {
        let mut specs = self.params.specs();
        for s in &mut specs {
            let params = self.params.vectors.get(&s.name);
            if s.kind == VectorKind::Dense {
                let q = params.and_then(|p| p.quantization_config.as_ref());
                s.quantization = q
                    .or(self.quantization_config.as_ref())
                    .and_then(quantization::parse);
            }
            let own = params.and_then(|p| p.hnsw_config.as_ref());
            if let Some(diff) = own {
                let mut h = self.hnsw_config.clone();
                if h.apply(diff).is_ok() {
                    s.hnsw = Some(h.params());
                }
            }
        }
        specs
    }

    /// Adds a named vector (`PUT …/vectors/{name}`). Creating one that exists with the same
    /// settings changes nothing (false); with other settings it is an error, as in Qdrant.
    pub fn add_vector(&mut self, name: &str, cfg: &VectorNameConfig) -> Result<bool, String> {
        let p = &mut self.params;
        match cfg {
            VectorNameConfig::Dense(d) => {
                let new = d.params();
                if p.sparse_vectors
                    .as_ref()
                    .is_some_and(|s| s.contains_key(name))
                {
                    return Err(format!("Vector `{name}` already exists as a sparse vector"));
                }
                match p.vectors.get(name) {
                    Some(old)
                        if old.size == new.size
                            && old.distance == new.distance
                            && old.datatype == new.datatype
                            && old.multivector_config == new.multivector_config =>
                    {
                        return Ok(false)
                    }
                    Some(_) => {
                        return Err(format!(
                            "Dense vector `{name}` already exists with a different configuration"
                        ))
                    }
                    None => {}
                }
                let single = VectorsConfig::Single(new.clone());
                single.validate()?;
                p.vectors.insert(name, new);
            }
            VectorNameConfig::Sparse(sc) => {
                let new = sc.params();
                if p.vectors.get(name).is_some() {
                    return Err(format!("Vector `{name}` already exists as a dense vector"));
                }
                let sparse = p.sparse_vectors.get_or_insert_with(BTreeMap::new);
                match sparse.get(name) {
                    Some(old) if *old == new => return Ok(false),
                    Some(_) => {
                        return Err(format!(
                            "Sparse vector `{name}` already exists with a different configuration"
                        ))
                    }
                    None => {}
                }
                new.validate()?;
                sparse.insert(name.to_string(), new);
            }
        }
        Ok(true)
    }

    /// Removes a named vector of any kind; false when there was none.
    pub fn remove_vector(&mut self, name: &str) -> bool {
        let p = &mut self.params;
        let sparse = p
            .sparse_vectors
            .as_mut()
            .is_some_and(|s| s.remove(name).is_some());
        sparse || p.vectors.remove(name)
    }

    pub fn apply_update(&mut self, req: &UpdateCollection) -> Result<(), String> {
        if let Some(d) = &req.hnsw_config {
            self.hnsw_config.apply(d)?;
        }
        if let Some(o) = &req.optimizers_config {
            merge(&mut self.optimizer_config, o);
        }
        if let Some(p) = &req.params {
            let params = &mut self.params;
            params.replication_factor = at_least_one(
                "replication_factor",
                p.replication_factor,
                params.replication_factor,
            )?;
            params.write_consistency_factor = at_least_one(
                "write_consistency_factor",
                p.write_consistency_factor,
                params.write_consistency_factor,
            )?;
            params.read_fan_out_factor = p.read_fan_out_factor.or(params.read_fan_out_factor);
            params.on_disk_payload = p.on_disk_payload.unwrap_or(params.on_disk_payload);
        }
        for (name, diff) in req.vectors.iter().flatten() {
            let Some(p) = self.params.vectors.get_mut(name) else {
                return Err(format!("Not existing vector name error: {name}"));
            };
            diff.apply(p);
        }
        for (name, diff) in req.sparse_vectors.iter().flatten() {
            let Some(p) = self
                .params
                .sparse_vectors
                .as_mut()
                .and_then(|s| s.get_mut(name))
            else {
                return Err(format!("Not existing vector name error: {name}"));
            };
            p.merge(diff);
            p.validate()?;
        }
        match &req.quantization_config {
            Some(q) if quantization::is_disabled(q) => self.quantization_config = None,
            Some(q) => self.quantization_config = Some(q.clone()),
            None => {}
        }
        if let Some(m) = &req.metadata {
            let meta = self.metadata.get_or_insert_with(Map::new);
            for (k, v) in m {
                meta.insert(k.clone(), v.clone());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_defaults_and_validation() {
        let req: CreateCollection =
            serde_json::from_value(json!({"vectors": {"size": 4, "distance": "Dot"},
            "write_concern_factor": 2, "hnsw_config": {"m": 8}}))
            .unwrap();
        let cfg = CollectionConfig::from_create(req, 1).unwrap();
        assert_eq!(cfg.params.write_consistency_factor, 2);
        assert_eq!(cfg.hnsw_config.m, 8);
        assert_eq!(cfg.hnsw_config.ef_construct, 100);
        assert!(cfg.params.vectors.is_unnamed());

        let named: CreateCollection =
            serde_json::from_value(json!({"vectors": {"a": {"size": 2, "distance": "Euclid"}, "b": {"size": 3, "distance": "Manhattan"}}})).unwrap();
        let cfg = CollectionConfig::from_create(named, 1).unwrap();
        assert_eq!(cfg.params.vectors.specs().len(), 2);

        assert!(serde_json::from_value::<CreateCollection>(
            json!({"vectors": {"size": 4, "distance": "Cosin"}})
        )
        .is_err());
        let zero: CreateCollection =
            serde_json::from_value(json!({"vectors": {"size": 0, "distance": "Dot"}})).unwrap();
        assert!(CollectionConfig::from_create(zero, 1).is_err());
        let rf0: CreateCollection = serde_json::from_value(
            json!({"vectors": {"size": 1, "distance": "Dot"}, "replication_factor": 0}),
        )
        .unwrap();
        assert!(CollectionConfig::from_create(rf0, 1).is_err());
    }
}
