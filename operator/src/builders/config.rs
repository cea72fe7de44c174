//! The node's config file: the operator's defaults, then `spec.config` merged over them, then
//! `spec.collectionDefaults`. Keys the operator manages (ports, paths, cluster mode) cannot be
//! overridden.

use super::{config_map_name, owned_meta, GRPC_PORT, HTTP_PORT, P2P_PORT};
use crds::QdrantCluster;
use k8s_openapi::api::core::v1::ConfigMap;
use serde_json::{json, Value};
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("spec.config must be an object")]
    NotAnObject,
    #[error("spec.config.{0} is managed by the operator and cannot be set")]
    Managed(String),
}

const MANAGED: &[&[&str]] = &[
    &["service", "host"],
    &["service", "http_port"],
    &["service", "grpc_port"],
    &["service", "api_key"],
    &["cluster", "enabled"],
    &["cluster", "p2p", "port"],
    &["cluster", "p2p", "api_key"],
    &["storage", "storage_path"],
    &["storage", "snapshots_path"],
];

fn defaults() -> Value {
    json!({
        "log_level": "INFO",
        "service": {"host": "0.0.0.0", "http_port": HTTP_PORT, "grpc_port": GRPC_PORT},
        "cluster": {"enabled": true, "p2p": {"port": P2P_PORT}, "consensus": {"tick_period_ms": 100}},
        "storage": {"storage_path": "/qdrant/storage", "snapshots_path": "/qdrant/storage/snapshots"},
    })
}

fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                merge(b.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// The node config as a JSON value, or why the spec's config cannot be used.
pub fn node_config(qc: &QdrantCluster) -> Result<Value, ConfigError> {
    let mut cfg = defaults();
    if let Some(user) = &qc.spec.config {
        if !user.is_object() {
            return Err(ConfigError::NotAnObject);
        }
        for path in MANAGED {
            let mut at = user;
            let found = path.iter().all(|k| match at.get(k) {
                Some(v) => {
                    at = v;
                    true
                }
                None => false,
            });
            if found {
                return Err(ConfigError::Managed(path.join(".")));
            }
        }
        merge(&mut cfg, user);
    }
    if let Some(d) = &qc.spec.collection_defaults {
        let mut c = serde_json::Map::new();
        if let Some(n) = d.shard_number {
            c.insert("shard_number".into(), json!(n));
        }
        if let Some(n) = d.replication_factor {
            c.insert("replication_factor".into(), json!(n));
        }
        if let Some(n) = d.write_consistency_factor {
            c.insert("write_consistency_factor".into(), json!(n));
        }
        merge(&mut cfg, &json!({"storage": {"collection": c}}));
    }
    Ok(cfg)
}

/// ConfigMap with `config.yaml` (the node config) and `formed` (read by the start script: once
/// the cluster exists, no pod may found a new one).
pub fn config_map(qc: &QdrantCluster, config_yaml: &str, formed: bool) -> ConfigMap {
    ConfigMap {
        metadata: owned_meta(qc, config_map_name(qc)),
        data: Some(BTreeMap::from([
            ("config.yaml".into(), config_yaml.to_string()),
            ("formed".into(), formed.to_string()),
        ])),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builders::testing::qc;

    #[test]
    fn user_config_merges_over_defaults() {
        let q = qc("replicas: 3\nconfig: {log_level: DEBUG, storage: {optimizers: {x: 1}}}\ncollectionDefaults: {replicationFactor: 2}");
        let c = node_config(&q).unwrap();
        assert_eq!(c["log_level"], "DEBUG");
        assert_eq!(c["storage"]["storage_path"], "/qdrant/storage");
        assert_eq!(c["storage"]["optimizers"]["x"], 1);
        assert_eq!(c["storage"]["collection"]["replication_factor"], 2);
        assert_eq!(c["cluster"]["enabled"], true);
    }

    #[test]
    fn managed_keys_are_refused() {
        let q = qc("replicas: 3\nconfig: {cluster: {p2p: {port: 7000}}}");
        assert_eq!(
            node_config(&q),
            Err(ConfigError::Managed("cluster.p2p.port".into()))
        );
    }
}
