//! Pure builders: from a `QdrantCluster` to the Kubernetes objects that run it. No client,
//! no I/O; unit-tested without a server.

mod config;
mod pdb;
mod secrets;
mod services;
mod statefulset;

pub use config::{config_map, node_config, ConfigError};
pub use pdb::pdb;
pub use secrets::{
    api_key_secret_name, generated_secret, p2p_secret_name, API_KEY_FIELD, P2P_KEY_FIELD,
};
pub use services::{client_service, headless_service};
pub use statefulset::statefulset;

use crds::QdrantCluster;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::{Resource, ResourceExt};
use std::collections::BTreeMap;

pub const HTTP_PORT: i32 = 6333;
pub const GRPC_PORT: i32 = 6334;
pub const P2P_PORT: i32 = 6335;

/// Labels every object of the cluster carries; the pod selector is a subset of them.
pub fn labels(qc: &QdrantCluster) -> BTreeMap<String, String> {
    let mut l = selector_labels(qc);
    l.insert(
        "app.kubernetes.io/managed-by".into(),
        "qdrant-operator".into(),
    );
    l
}

/// The labels that select the cluster's pods (and its PVCs).
pub fn selector_labels(qc: &QdrantCluster) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".into(), "qdrant-node".into()),
        ("app.kubernetes.io/instance".into(), qc.name_any()),
    ])
}

/// `key=value,…` form of the pod selector (for the scale subresource).
pub fn selector_string(qc: &QdrantCluster) -> String {
    selector_labels(qc)
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

pub fn headless_name(qc: &QdrantCluster) -> String {
    format!("{}-headless", qc.name_any())
}

pub fn config_map_name(qc: &QdrantCluster) -> String {
    format!("{}-config", qc.name_any())
}

/// Metadata for an owned object: name, namespace, labels and the controller reference.
pub fn owned_meta(qc: &QdrantCluster, name: String) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: qc.namespace(),
        labels: Some(labels(qc)),
        owner_references: owner(qc).map(|o| vec![o]),
        ..Default::default()
    }
}

fn owner(qc: &QdrantCluster) -> Option<OwnerReference> {
    qc.controller_owner_ref(&())
}

/// FNV-1a, 64 bit: a stable hash (config changes roll the pods; the same config never does).
pub fn stable_hash(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
pub(crate) mod testing {
    use crds::QdrantCluster;

    /// A QdrantCluster as the API server would hand it over (with a uid), from YAML spec.
    pub fn qc(spec_yaml: &str) -> QdrantCluster {
        let spec = serde_yaml::from_str(spec_yaml).expect("spec yaml");
        let mut qc = QdrantCluster::new("demo", spec);
        qc.metadata.namespace = Some("ns".into());
        qc.metadata.uid = Some("uid-1".into());
        qc
    }
}
