//! Secrets the operator generates: the REST API key (when the spec names none) and the p2p
//! shared secret. They are created once and never rewritten, so their values stay stable.

use super::owned_meta;
use crds::QdrantCluster;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use rand::Rng;
use std::collections::BTreeMap;

/// Key of the REST API key in a generated Secret.
pub const API_KEY_FIELD: &str = "api-key";
/// Key of the p2p shared secret in its Secret.
pub const P2P_KEY_FIELD: &str = "p2p-api-key";

pub fn api_key_secret_name(qc: &QdrantCluster) -> String {
    format!("{}-api-key", qc.name_any())
}

pub fn p2p_secret_name(qc: &QdrantCluster) -> String {
    format!("{}-p2p", qc.name_any())
}

/// A Secret named `name` holding one random 32-byte hex value under `key`.
pub fn generated_secret(qc: &QdrantCluster, name: String, key: &str) -> Secret {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill(&mut bytes);
    let value: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Secret {
        metadata: owned_meta(qc, name),
        string_data: Some(BTreeMap::from([(key.to_string(), value)])),
        type_: Some("Opaque".into()),
        ..Default::default()
    }
}
