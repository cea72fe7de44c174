//! Collection configuration between the gRPC messages and the collection layer. Requests
//! (create, update) become the REST JSON shape and are parsed by the same request types,
//! so both APIs validate and default alike; answers (`CollectionInfo`) are built from the
//! stored config.

use super::conv_common::bad;
use super::conv_quantization;
use super::json_value::{map_from_json, map_to_json};
use super::GrpcResult;
use crate::api::rest::collections::CollectionInfo;
use crate::collection::config::{CollectionConfig, CreateCollection, HnswConfig, UpdateCollection};
use crate::collection::shard_key::ShardingMethod;
use crate::collection::vector_config::{
    SparseVectorParams, StorageDatatype, VectorParams, VectorsConfig,
};
use crate::segment::distance::Distance;
use crate::segment::payload_index::FieldType;
use crate::segment::vectors::Modifier;
use proto::qdrant as g;
use serde_json::{json, Map, Value};

/// Inserts `k: v` when `v` is set.
fn put<T: serde::Serialize>(m: &mut Map<String, Value>, k: &str, v: Option<T>) {
    if let Some(v) = v {
        m.insert(k.into(), serde_json::to_value(v).unwrap_or(Value::Null));
    }
}

fn distance_name(d: i32) -> GrpcResult<&'static str> {
    Ok(match g::Distance::try_from(d) {
        Ok(g::Distance::Cosine) => "Cosine",
        Ok(g::Distance::Euclid) => "Euclid",
        Ok(g::Distance::Dot) => "Dot",
        Ok(g::Distance::Manhattan) => "Manhattan",
        _ => return Err(bad(format!("unknown distance {d}"))),
    })
}

fn datatype_name(d: i32) -> Option<&'static str> {
    match g::Datatype::try_from(d) {
        Ok(g::Datatype::Float32) => Some("float32"),
        Ok(g::Datatype::Uint8) => Some("uint8"),
        Ok(g::Datatype::Float16) => Some("float16"),
        Ok(g::Datatype::Turbo4) => Some("turbo4"),
        _ => None,
    }
}

fn memory_name(m: i32) -> Option<&'static str> {
    match g::Memory::try_from(m) {
        Ok(g::Memory::Cold) => Some("cold"),
        Ok(g::Memory::Cached) => Some("cached"),
        Ok(g::Memory::Pinned) => Some("pinned"),
        _ => None,
    }
}

fn hnsw_json(h: g::HnswConfigDiff) -> Value {
    let mut m = Map::new();
    put(&mut m, "m", h.m);
    put(&mut m, "ef_construct", h.ef_construct);
    put(&mut m, "full_scan_threshold", h.full_scan_threshold);
    put(&mut m, "max_indexing_threads", h.max_indexing_threads);
    put(&mut m, "on_disk", h.on_disk);
    put(&mut m, "payload_m", h.payload_m);
    Value::Object(m)
}

fn vector_params_json(p: g::VectorParams) -> GrpcResult<Value> {
    let mut m = Map::new();
    m.insert("size".into(), json!(p.size));
    m.insert("distance".into(), json!(distance_name(p.distance)?));
    put(&mut m, "hnsw_config", p.hnsw_config.map(hnsw_json));
    put(
        &mut m,
        "quantization_config",
        p.quantization_config.map(conv_quantization::to_json),
    );
    put(&mut m, "on_disk", p.on_disk);
    put(&mut m, "datatype", p.datatype.and_then(datatype_name));
    put(&mut m, "memory", p.memory.and_then(memory_name));
    if p.multivector_config.is_some() {
        m.insert(
            "multivector_config".into(),
            json!({"comparator": "max_sim"}),
        );
    }
    Ok(Value::Object(m))
}

fn vectors_json(v: g::VectorsConfig) -> GrpcResult<Value> {
    use g::vectors_config::Config as C;
    match v.config {
        Some(C::Params(p)) => vector_params_json(p),
        Some(C::ParamsMap(m)) => m
            .map
            .into_iter()
            .map(|(k, p)| Ok((k, vector_params_json(p)?)))
            .collect::<GrpcResult<Map<_, _>>>()
            .map(Value::Object),
        None => Ok(json!({})),
    }
}

fn sparse_json(s: g::SparseVectorConfig) -> Value {
    let m: Map<String, Value> = s
        .map
        .into_iter()
        .map(|(k, p)| {
            let mut o = Map::new();
            if let Some(i) = p.index {
                let mut idx = Map::new();
                put(&mut idx, "full_scan_threshold", i.full_scan_threshold);
                put(&mut idx, "on_disk", i.on_disk);
                put(&mut idx, "datatype", i.datatype.and_then(datatype_name));
                put(&mut idx, "memory", i.memory.and_then(memory_name));
                o.insert("index".into(), Value::Object(idx));
            }
            let modifier = p.modifier.map(|m| match g::Modifier::try_from(m) {
                Ok(g::Modifier::Idf) => "idf",
                _ => "none",
            });
            put(&mut o, "modifier", modifier);
            (k, Value::Object(o))
        })
        .collect();
    Value::Object(m)
}

fn optimizers_json(o: g::OptimizersConfigDiff) -> Value {
    use g::max_optimization_threads::Variant as V;
    let mut m = Map::new();
    put(&mut m, "deleted_threshold", o.deleted_threshold);
    put(
        &mut m,
        "vacuum_min_vector_number",
        o.vacuum_min_vector_number,
    );
    put(&mut m, "default_segment_number", o.default_segment_number);
    put(&mut m, "max_segment_size", o.max_segment_size);
    put(&mut m, "memmap_threshold", o.memmap_threshold);
    put(&mut m, "indexing_threshold", o.indexing_threshold);
    put(&mut m, "flush_interval_sec", o.flush_interval_sec);
    put(&mut m, "prevent_unoptimized", o.prevent_unoptimized);
    match o.max_optimization_threads.and_then(|t| t.variant) {
        Some(V::Value(n)) => put(&mut m, "max_optimization_threads", Some(n)),
        Some(V::Setting(_)) => put(&mut m, "max_optimization_threads", Some("auto")),
        None => put(
            &mut m,
            "max_optimization_threads",
            o.deprecated_max_optimization_threads,
        ),
    }
    Value::Object(m)
}

fn wal_json(w: g::WalConfigDiff) -> Value {
    let mut m = Map::new();
    put(&mut m, "wal_capacity_mb", w.wal_capacity_mb);
    put(&mut m, "wal_segments_ahead", w.wal_segments_ahead);
    put(&mut m, "wal_retain_closed", w.wal_retain_closed);
    Value::Object(m)
}

fn strict_json(s: g::StrictModeConfig) -> Value {
    let mut m = Map::new();
    put(&mut m, "enabled", s.enabled);
    put(&mut m, "max_query_limit", s.max_query_limit);
    put(&mut m, "max_timeout", s.max_timeout);
    put(
        &mut m,
        "unindexed_filtering_retrieve",
        s.unindexed_filtering_retrieve,
    );
    put(
        &mut m,
        "unindexed_filtering_update",
        s.unindexed_filtering_update,
    );
    put(&mut m, "search_max_hnsw_ef", s.search_max_hnsw_ef);
    put(&mut m, "search_allow_exact", s.search_allow_exact);
    put(&mut m, "search_max_oversampling", s.search_max_oversampling);
    put(&mut m, "upsert_max_batchsize", s.upsert_max_batchsize);
    put(
        &mut m,
        "max_collection_vector_size_bytes",
        s.max_collection_vector_size_bytes,
    );
    put(&mut m, "read_rate_limit", s.read_rate_limit);
    put(&mut m, "write_rate_limit", s.write_rate_limit);
    put(&mut m, "max_points_count", s.max_points_count);
    Value::Object(m)
}

fn parse<T: serde::de::DeserializeOwned>(v: Value) -> GrpcResult<T> {
    serde_json::from_value(v)
        .map_err(|e| tonic::Status::invalid_argument(format!("Validation error in body: {e}")))
}

/// `Collections/Create`.
pub fn create(c: g::CreateCollection) -> GrpcResult<CreateCollection> {
    let mut m = Map::new();
    if let Some(v) = c.vectors_config {
        m.insert("vectors".into(), vectors_json(v)?);
    }
    put(&mut m, "shard_number", c.shard_number);
    put(&mut m, "replication_factor", c.replication_factor);
    put(
        &mut m,
        "write_consistency_factor",
        c.write_consistency_factor,
    );
    put(&mut m, "on_disk_payload", c.on_disk_payload);
    put(&mut m, "hnsw_config", c.hnsw_config.map(hnsw_json));
    put(&mut m, "wal_config", c.wal_config.map(wal_json));
    put(
        &mut m,
        "optimizers_config",
        c.optimizers_config.map(optimizers_json),
    );
    put(
        &mut m,
        "quantization_config",
        c.quantization_config.map(conv_quantization::to_json),
    );
    put(
        &mut m,
        "sparse_vectors",
        c.sparse_vectors_config.map(sparse_json),
    );
    put(
        &mut m,
        "strict_mode_config",
        c.strict_mode_config.map(strict_json),
    );
    if let Some(method) = c.sharding_method {
        let name = if method == g::ShardingMethod::Custom as i32 {
            "custom"
        } else {
            "auto"
        };
        m.insert("sharding_method".into(), json!(name));
    }
    if !c.metadata.is_empty() {
        m.insert("metadata".into(), Value::Object(map_to_json(c.metadata)));
    }
    parse(Value::Object(m))
}

/// `Collections/Update`.
pub fn update(u: g::UpdateCollection) -> GrpcResult<UpdateCollection> {
    use g::vectors_config_diff::Config as C;
    let mut m = Map::new();
    put(
        &mut m,
        "optimizers_config",
        u.optimizers_config.map(optimizers_json),
    );
    put(&mut m, "hnsw_config", u.hnsw_config.map(hnsw_json));
    if let Some(p) = u.params {
        let mut o = Map::new();
        put(&mut o, "replication_factor", p.replication_factor);
        put(
            &mut o,
            "write_consistency_factor",
            p.write_consistency_factor,
        );
        put(&mut o, "read_fan_out_factor", p.read_fan_out_factor);
        put(&mut o, "on_disk_payload", p.on_disk_payload);
        m.insert("params".into(), Value::Object(o));
    }
    let diff = |d: g::VectorParamsDiff| {
        let mut o = Map::new();
        put(&mut o, "hnsw_config", d.hnsw_config.map(hnsw_json));
        put(
            &mut o,
            "quantization_config",
            d.quantization_config.map(conv_quantization::diff_to_json),
        );
        put(&mut o, "on_disk", d.on_disk);
        put(&mut o, "memory", d.memory.and_then(memory_name));
        Value::Object(o)
    };
    match u.vectors_config.and_then(|v| v.config) {
        Some(C::Params(p)) => {
            m.insert("vectors".into(), json!({ "": diff(p) }));
        }
        Some(C::ParamsMap(pm)) => {
            let o: Map<String, Value> = pm.map.into_iter().map(|(k, d)| (k, diff(d))).collect();
            m.insert("vectors".into(), Value::Object(o));
        }
        None => {}
    }
    put(
        &mut m,
        "quantization_config",
        u.quantization_config.map(conv_quantization::diff_to_json),
    );
    put(
        &mut m,
        "sparse_vectors",
        u.sparse_vectors_config.map(sparse_json),
    );
    put(
        &mut m,
        "strict_mode_config",
        u.strict_mode_config.map(strict_json),
    );
    if !u.metadata.is_empty() {
        m.insert("metadata".into(), Value::Object(map_to_json(u.metadata)));
    }
    parse(Value::Object(m))
}

// ---- Answers ----

fn distance(d: Distance) -> i32 {
    match d {
        Distance::Cosine => g::Distance::Cosine as i32,
        Distance::Euclid => g::Distance::Euclid as i32,
        Distance::Dot => g::Distance::Dot as i32,
        Distance::Manhattan => g::Distance::Manhattan as i32,
    }
}

fn datatype(d: Option<StorageDatatype>) -> Option<i32> {
    d.map(|d| match d {
        StorageDatatype::Float32 => g::Datatype::Float32 as i32,
        StorageDatatype::Float16 => g::Datatype::Float16 as i32,
        StorageDatatype::Uint8 => g::Datatype::Uint8 as i32,
        StorageDatatype::Turbo4 => g::Datatype::Turbo4 as i32,
    })
}

fn hnsw_diff(h: &crate::collection::config::HnswConfigDiff) -> g::HnswConfigDiff {
    let u = |x: Option<usize>| x.map(|v| v as u64);
    g::HnswConfigDiff {
        m: u(h.m),
        ef_construct: u(h.ef_construct),
        full_scan_threshold: u(h.full_scan_threshold),
        max_indexing_threads: u(h.max_indexing_threads),
        on_disk: h.on_disk,
        payload_m: u(h.payload_m),
        ..Default::default()
    }
}

fn vector_params(p: &VectorParams) -> g::VectorParams {
    g::VectorParams {
        size: p.size,
        distance: distance(p.distance),
        hnsw_config: p.hnsw_config.as_ref().map(hnsw_diff),
        quantization_config: p
            .quantization_config
            .as_ref()
            .and_then(conv_quantization::from_json),
        on_disk: p.on_disk,
        datatype: datatype(p.datatype),
        multivector_config: p.multivector_config.as_ref().map(|_| g::MultiVectorConfig {
            comparator: g::MultiVectorComparator::MaxSim as i32,
        }),
        memory: None,
    }
}

fn vectors_config(v: &VectorsConfig) -> g::VectorsConfig {
    use g::vectors_config::Config as C;
    let config = match v {
        VectorsConfig::Single(p) => C::Params(vector_params(p)),
        VectorsConfig::Named(m) => C::ParamsMap(g::VectorParamsMap {
            map: m
                .iter()
                .map(|(k, p)| (k.clone(), vector_params(p)))
                .collect(),
        }),
    };
    g::VectorsConfig {
        config: Some(config),
    }
}

fn sparse_params(p: &SparseVectorParams) -> g::SparseVectorParams {
    g::SparseVectorParams {
        index: p.index.as_ref().map(|i| g::SparseIndexConfig {
            full_scan_threshold: i.full_scan_threshold.map(|t| t as u64),
            on_disk: i.on_disk,
            datatype: datatype(i.datatype),
            memory: None,
        }),
        modifier: p.modifier.map(|m| match m {
            Modifier::None => g::Modifier::None as i32,
            Modifier::Idf => g::Modifier::Idf as i32,
        }),
    }
}

fn hnsw_config(h: &HnswConfig) -> g::HnswConfigDiff {
    g::HnswConfigDiff {
        m: Some(h.m as u64),
        ef_construct: Some(h.ef_construct as u64),
        full_scan_threshold: Some(h.full_scan_threshold as u64),
        max_indexing_threads: Some(h.max_indexing_threads as u64),
        on_disk: Some(h.on_disk),
        payload_m: h.payload_m.map(|m| m as u64),
        ..Default::default()
    }
}

fn optimizers(v: &Value) -> g::OptimizersConfigDiff {
    use g::max_optimization_threads::{Setting, Variant as V};
    let f = |k: &str| v.get(k).and_then(Value::as_f64);
    let u = |k: &str| v.get(k).and_then(Value::as_u64);
    g::OptimizersConfigDiff {
        deleted_threshold: f("deleted_threshold"),
        vacuum_min_vector_number: u("vacuum_min_vector_number"),
        default_segment_number: u("default_segment_number"),
        max_segment_size: u("max_segment_size"),
        memmap_threshold: u("memmap_threshold"),
        indexing_threshold: u("indexing_threshold"),
        flush_interval_sec: u("flush_interval_sec"),
        max_optimization_threads: Some(g::MaxOptimizationThreads {
            variant: Some(match u("max_optimization_threads") {
                Some(n) => V::Value(n),
                None => V::Setting(Setting::Auto as i32),
            }),
        }),
        ..Default::default()
    }
}

fn wal(v: &Value) -> g::WalConfigDiff {
    let u = |k: &str| v.get(k).and_then(Value::as_u64);
    g::WalConfigDiff {
        wal_capacity_mb: u("wal_capacity_mb"),
        wal_segments_ahead: u("wal_segments_ahead"),
        wal_retain_closed: u("wal_retain_closed"),
    }
}

fn config(c: &CollectionConfig) -> g::CollectionConfig {
    let p = &c.params;
    g::CollectionConfig {
        params: Some(g::CollectionParams {
            shard_number: p.shard_number,
            on_disk_payload: p.on_disk_payload,
            vectors_config: Some(vectors_config(&p.vectors)),
            replication_factor: Some(p.replication_factor),
            write_consistency_factor: Some(p.write_consistency_factor),
            read_fan_out_factor: p.read_fan_out_factor,
            sharding_method: p.sharding_method.map(|m| match m {
                ShardingMethod::Auto => g::ShardingMethod::Auto as i32,
                ShardingMethod::Custom => g::ShardingMethod::Custom as i32,
            }),
            sparse_vectors_config: p.sparse_vectors.as_ref().map(|s| g::SparseVectorConfig {
                map: s
                    .iter()
                    .map(|(k, v)| (k.clone(), sparse_params(v)))
                    .collect(),
            }),
            read_fan_out_delay_ms: None,
            payload: None,
        }),
        hnsw_config: Some(hnsw_config(&c.hnsw_config)),
        optimizer_config: Some(optimizers(&c.optimizer_config)),
        wal_config: Some(wal(&c.wal_config)),
        quantization_config: c
            .quantization_config
            .as_ref()
            .and_then(conv_quantization::from_json),
        strict_mode_config: None,
        metadata: c.metadata.clone().map(map_from_json).unwrap_or_default(),
    }
}

fn schema_type(t: FieldType) -> i32 {
    (match t {
        FieldType::Keyword => g::PayloadSchemaType::Keyword,
        FieldType::Integer => g::PayloadSchemaType::Integer,
        FieldType::Float => g::PayloadSchemaType::Float,
        FieldType::Geo => g::PayloadSchemaType::Geo,
        FieldType::Text => g::PayloadSchemaType::Text,
        FieldType::Bool => g::PayloadSchemaType::Bool,
        FieldType::Datetime => g::PayloadSchemaType::Datetime,
        FieldType::Uuid => g::PayloadSchemaType::Uuid,
    }) as i32
}

/// `Collections/Get`.
pub fn info(i: CollectionInfo) -> g::CollectionInfo {
    let status = match i.status {
        "green" => g::CollectionStatus::Green,
        "yellow" => g::CollectionStatus::Yellow,
        "grey" => g::CollectionStatus::Grey,
        _ => g::CollectionStatus::Red,
    };
    g::CollectionInfo {
        status: status as i32,
        optimizer_status: Some(g::OptimizerStatus {
            ok: i.optimizer_status == "ok",
            error: String::new(),
        }),
        segments_count: i.segments_count as u64,
        config: Some(config(&i.config)),
        payload_schema: i
            .payload_schema
            .into_iter()
            .map(|(k, p)| {
                let info = g::PayloadSchemaInfo {
                    data_type: schema_type(p.data_type),
                    params: None,
                    points: Some(p.points as u64),
                };
                (k, info)
            })
            .collect(),
        points_count: Some(i.points_count as u64),
        indexed_vectors_count: Some(i.indexed_vectors_count as u64),
        warnings: Vec::new(),
        update_queue: Some(g::UpdateQueueInfo::default()),
    }
}

/// The payload index type of `CreateFieldIndex`: its `field_type`, or the kind of its
/// parameters.
pub fn field_type(t: Option<i32>, params: Option<g::PayloadIndexParams>) -> GrpcResult<FieldType> {
    use g::payload_index_params::IndexParams as P;
    if let Some(t) = t {
        return Ok(match g::FieldType::try_from(t) {
            Ok(g::FieldType::Keyword) => FieldType::Keyword,
            Ok(g::FieldType::Integer) => FieldType::Integer,
            Ok(g::FieldType::Float) => FieldType::Float,
            Ok(g::FieldType::Geo) => FieldType::Geo,
            Ok(g::FieldType::Text) => FieldType::Text,
            Ok(g::FieldType::Bool) => FieldType::Bool,
            Ok(g::FieldType::Datetime) => FieldType::Datetime,
            Ok(g::FieldType::Uuid) => FieldType::Uuid,
            Err(_) => return Err(bad(format!("unknown field type {t}"))),
        });
    }
    Ok(match params.and_then(|p| p.index_params) {
        Some(P::KeywordIndexParams(_)) => FieldType::Keyword,
        Some(P::IntegerIndexParams(_)) => FieldType::Integer,
        Some(P::FloatIndexParams(_)) => FieldType::Float,
        Some(P::GeoIndexParams(_)) => FieldType::Geo,
        Some(P::TextIndexParams(_)) => FieldType::Text,
        Some(P::BoolIndexParams(_)) => FieldType::Bool,
        Some(P::DatetimeIndexParams(_)) => FieldType::Datetime,
        Some(P::UuidIndexParams(_)) => FieldType::Uuid,
        None => return Err(bad("`field_type` is required")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_request_is_the_rest_one() {
        let req = g::CreateCollection {
            collection_name: "c".into(),
            vectors_config: Some(g::VectorsConfig {
                config: Some(g::vectors_config::Config::Params(g::VectorParams {
                    size: 4,
                    distance: g::Distance::Dot as i32,
                    datatype: Some(g::Datatype::Float16 as i32),
                    ..Default::default()
                })),
            }),
            sparse_vectors_config: Some(g::SparseVectorConfig {
                map: [(
                    "text".to_string(),
                    g::SparseVectorParams {
                        index: None,
                        modifier: Some(g::Modifier::Idf as i32),
                    },
                )]
                .into(),
            }),
            shard_number: Some(3),
            ..Default::default()
        };
        let c = create(req).unwrap();
        assert_eq!(c.shard_number, Some(3));
        let cfg = CollectionConfig::from_create(c, 1).unwrap();
        assert_eq!(cfg.params.vectors.specs()[0].dim, 4);
        assert_eq!(cfg.params.specs().len(), 2);
        let back = config(&cfg);
        let p = back.params.unwrap();
        assert_eq!(p.shard_number, 3);
        assert!(p.sparse_vectors_config.unwrap().map.contains_key("text"));
        let bad_distance = g::CreateCollection {
            vectors_config: Some(g::VectorsConfig {
                config: Some(g::vectors_config::Config::Params(g::VectorParams {
                    size: 4,
                    distance: 0,
                    ..Default::default()
                })),
            }),
            ..Default::default()
        };
        assert!(create(bad_distance).is_err());
    }
}
