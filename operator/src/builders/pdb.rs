//! The PodDisruptionBudget: at most `maxUnavailable` (default 1) pods down by eviction.

use super::{owned_meta, selector_labels};
use crds::QdrantCluster;
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;

pub fn pdb(qc: &QdrantCluster) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: owned_meta(qc, qc.name_any()),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(
                qc.spec.pod_disruption_budget.max_unavailable,
            )),
            selector: Some(LabelSelector {
                match_labels: Some(selector_labels(qc)),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}
