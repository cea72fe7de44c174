//! `QdrantCluster.spec`: what the user asks for. Defaults are the operator's defaults; bounds
//! and enums are checked by the API server through the generated schema.

// kube's `printcolumn(...)` repeats `type_ = …` per column, which this lint mistakes for a
// duplicate.
#![allow(clippy::duplicated_attributes)]

use k8s_openapi::api::core::v1::{
    Affinity, ResourceRequirements, Toleration, TopologySpreadConstraint,
};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A Qdrant-compatible vector database cluster: a StatefulSet of data nodes that form one
/// Raft cluster, with their Services, config, secrets and disruption budget.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[kube(
    group = "qdrantnode.io",
    version = "v1alpha1",
    kind = "QdrantCluster",
    namespaced,
    shortname = "qc",
    status = "crate::QdrantClusterStatus",
    scale(
        spec_replicas_path = ".spec.replicas",
        status_replicas_path = ".status.replicas",
        label_selector_path = ".status.selector"
    ),
    printcolumn(name = "Replicas", type_ = "integer", json_path = ".spec.replicas"),
    printcolumn(name = "Ready", type_ = "integer", json_path = ".status.readyReplicas"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(
        name = "Leader",
        type_ = "string",
        json_path = ".status.leader",
        priority = 1
    ),
    printcolumn(
        name = "Progress",
        type_ = "string",
        json_path = ".status.progress",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    doc = "A cluster of Qdrant-compatible vector database nodes"
)]
#[serde(rename_all = "camelCase")]
pub struct QdrantClusterSpec {
    /// Number of data nodes (pods).
    #[schemars(range(min = 1, max = 1000))]
    pub replicas: i32,
    /// Container image of the data node.
    #[serde(default = "default_image")]
    pub image: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<PullPolicy>,
    /// Names of Secrets used to pull the image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_pull_secrets: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    #[serde(default)]
    pub storage: StorageSpec,
    /// Node configuration (Qdrant's config.yaml keys), merged over the operator's defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_object")]
    pub config: Option<serde_json::Value>,
    #[serde(default)]
    pub service: ServiceSpec,
    /// Secret holding the REST API key; the operator creates one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<SecretKeyRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collection_defaults: Option<CollectionDefaults>,
    #[serde(default)]
    pub scheduling: Scheduling,
    #[serde(default)]
    pub pod_disruption_budget: PdbSpec,
    #[serde(default)]
    pub automation: Automation,
    /// Stop reconciling (objects are left as they are).
    #[serde(default)]
    pub paused: bool,
}

pub fn default_image() -> String {
    "qdrant-node:latest".into()
}

fn free_form_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true
    })
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, JsonSchema)]
pub enum PullPolicy {
    Always,
    IfNotPresent,
    Never,
}

/// Persistent volume of each node.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageSpec {
    /// Volume size, e.g. `10Gi`. It can grow but never shrink.
    #[serde(default = "default_size")]
    #[x_kube(validation = Rule::new("isQuantity(self)").message("storage.size must be a quantity such as 10Gi"))]
    #[x_kube(validation = Rule::new("!isQuantity(self) || !isQuantity(oldSelf) || quantity(self).compareTo(quantity(oldSelf)) >= 0").message("storage.size cannot be reduced"))]
    pub size: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
    /// What happens to the volumes when the QdrantCluster is deleted.
    #[serde(default)]
    pub reclaim_policy: ReclaimPolicy,
}

fn default_size() -> String {
    "10Gi".into()
}

impl Default for StorageSpec {
    fn default() -> Self {
        StorageSpec {
            size: default_size(),
            storage_class_name: None,
            reclaim_policy: ReclaimPolicy::Retain,
        }
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default, JsonSchema)]
pub enum ReclaimPolicy {
    /// Keep the volumes (default).
    #[default]
    Retain,
    /// Delete the volumes with the cluster.
    Delete,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    #[serde(default, rename = "type")]
    pub type_: ServiceType,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_ports: Vec<ExtraPort>,
    /// Fixed node port for REST (type NodePort or LoadBalancer); allocated when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 30000, max = 32767))]
    pub http_node_port: Option<i32>,
    /// Fixed node port for gRPC (type NodePort or LoadBalancer); allocated when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 30000, max = 32767))]
    pub grpc_node_port: Option<i32>,
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default, JsonSchema)]
pub enum ServiceType {
    #[default]
    ClusterIP,
    NodePort,
    LoadBalancer,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExtraPort {
    pub name: String,
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    #[schemars(range(min = 1, max = 65535))]
    pub target_port: i32,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, JsonSchema)]
pub struct SecretKeyRef {
    pub name: String,
    #[serde(default = "default_key")]
    pub key: String,
}

fn default_key() -> String {
    "api-key".into()
}

/// Defaults for collections created without these settings.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CollectionDefaults {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub shard_number: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub replication_factor: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub write_consistency_factor: Option<u32>,
}

/// Where pods run. Without `affinity` and `topologySpreadConstraints` the operator spreads
/// pods across nodes (soft anti-affinity).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Scheduling {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topology_spread_constraints: Vec<TopologySpreadConstraint>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PdbSpec {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "one")]
    #[schemars(range(min = 0))]
    pub max_unavailable: i32,
}

impl Default for PdbSpec {
    fn default() -> Self {
        PdbSpec {
            enabled: true,
            max_unavailable: 1,
        }
    }
}

fn yes() -> bool {
    true
}

fn one() -> i32 {
    1
}

/// The cluster chores the operator carries out by itself.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Automation {
    #[serde(default = "yes")]
    pub rebalance_on_scale_up: bool,
    #[serde(default = "yes")]
    pub drain_on_scale_down: bool,
    #[serde(default = "yes")]
    pub recovery: bool,
    /// Seconds a peer may be unreachable before recovery replaces it.
    #[serde(default = "dead_peer_timeout")]
    #[schemars(range(min = 10))]
    pub dead_peer_timeout_seconds: u32,
    /// Snapshot URL (http:// or file:// as the nodes see it) with `{collection}` in it, to
    /// restore shards whose every replica was lost. Unset: such shards are only reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_location: Option<String>,
    /// Restart pods for a new template one at a time, each only while every pod is ready and
    /// every replica is `Active` (StatefulSet `OnDelete`, pods deleted by the operator).
    /// false: the StatefulSet's own `RollingUpdate`, gated by readiness only.
    #[serde(default = "yes")]
    pub rolling_restart: bool,
}

fn dead_peer_timeout() -> u32 {
    300
}

impl Default for Automation {
    fn default() -> Self {
        Automation {
            rebalance_on_scale_up: true,
            drain_on_scale_down: true,
            recovery: true,
            dead_peer_timeout_seconds: dead_peer_timeout(),
            snapshot_location: None,
            rolling_restart: true,
        }
    }
}
