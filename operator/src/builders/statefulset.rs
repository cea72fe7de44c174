//! The StatefulSet of data nodes. Each pod advertises `http://<pod>.<headless>.<ns>.svc:6335`;
//! the start script decides whether it founds the cluster (ordinal 0, before the cluster has
//! formed), rejoins with its stored state, or bootstraps through a neighbour that is already
//! a member (ordinal-1, or ordinal 1 for a pod 0 that lost its volume).

use super::{
    config_map_name, headless_name, owned_meta, p2p_secret_name, selector_labels, GRPC_PORT,
    HTTP_PORT, P2P_PORT,
};
use crds::{PullPolicy, QdrantCluster};
use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec, StatefulSetUpdateStrategy};
use k8s_openapi::api::core::v1::{
    Affinity, Capabilities, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource,
    EnvVar, EnvVarSource, HTTPGetAction, LocalObjectReference, ObjectFieldSelector,
    PersistentVolumeClaim, PersistentVolumeClaimSpec, PodAffinityTerm, PodAntiAffinity,
    PodSecurityContext, PodSpec, PodTemplateSpec, Probe, SecretKeySelector, SecurityContext,
    Volume, VolumeMount, VolumeResourceRequirements, WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;
use std::collections::BTreeMap;

const START: &str = r#"set -e
ord="${POD_NAME##*-}"
dns=".${HEADLESS}.${POD_NAMESPACE}.svc"
uri="http://${POD_NAME}${dns}:6335"
set -- --config-path /qdrant/config/config.yaml --uri "$uri"
if [ -d /qdrant/storage/raft ]; then
  exec qdrant-node "$@"
elif [ "$ord" != 0 ]; then
  exec qdrant-node "$@" --bootstrap "http://${STS_NAME}-$((ord - 1))${dns}:6335"
elif [ "$(cat /qdrant/config/formed 2>/dev/null)" = true ]; then
  exec qdrant-node "$@" --bootstrap "http://${STS_NAME}-1${dns}:6335"
else
  exec qdrant-node "$@"
fi
"#;

fn env(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        ..Default::default()
    }
}

fn field_env(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: path.into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn secret_env(name: &str, secret: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.into(),
                key: key.into(),
                optional: Some(false),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn probe(path: &str, period: i32, failures: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::Int(HTTP_PORT),
            ..Default::default()
        }),
        period_seconds: Some(period),
        failure_threshold: Some(failures),
        ..Default::default()
    }
}

fn mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        ..Default::default()
    }
}

/// Soft anti-affinity: prefer one pod per Kubernetes node.
fn default_affinity(qc: &QdrantCluster) -> Affinity {
    Affinity {
        pod_anti_affinity: Some(PodAntiAffinity {
            preferred_during_scheduling_ignored_during_execution: Some(vec![
                WeightedPodAffinityTerm {
                    weight: 100,
                    pod_affinity_term: PodAffinityTerm {
                        label_selector: Some(LabelSelector {
                            match_labels: Some(selector_labels(qc)),
                            ..Default::default()
                        }),
                        topology_key: "kubernetes.io/hostname".into(),
                        ..Default::default()
                    },
                },
            ]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn container(qc: &QdrantCluster, api_key_secret: &str, api_key_key: &str) -> Container {
    let s = &qc.spec;
    let ports = [("http", HTTP_PORT), ("grpc", GRPC_PORT), ("p2p", P2P_PORT)]
        .iter()
        .map(|(n, p)| ContainerPort {
            name: Some((*n).into()),
            container_port: *p,
            ..Default::default()
        })
        .collect();
    Container {
        name: "qdrant".into(),
        image: Some(s.image.clone()),
        image_pull_policy: s.image_pull_policy.map(|p| {
            match p {
                PullPolicy::Always => "Always",
                PullPolicy::IfNotPresent => "IfNotPresent",
                PullPolicy::Never => "Never",
            }
            .into()
        }),
        command: Some(vec!["/bin/sh".into(), "-c".into(), START.into()]),
        env: Some(vec![
            field_env("POD_NAME", "metadata.name"),
            field_env("POD_NAMESPACE", "metadata.namespace"),
            env("HEADLESS", &headless_name(qc)),
            env("STS_NAME", &qc.name_any()),
            secret_env("QDRANT__SERVICE__API_KEY", api_key_secret, api_key_key),
            secret_env(
                "QDRANT__CLUSTER__P2P__API_KEY",
                &p2p_secret_name(qc),
                super::P2P_KEY_FIELD,
            ),
        ]),
        ports: Some(ports),
        resources: s.resources.clone(),
        liveness_probe: Some(probe("/livez", 10, 6)),
        readiness_probe: Some(probe("/readyz", 5, 3)),
        volume_mounts: Some(vec![
            mount("storage", "/qdrant/storage"),
            mount("config", "/qdrant/config"),
            mount("tmp", "/tmp"),
        ]),
        security_context: Some(SecurityContext {
            run_as_non_root: Some(true),
            read_only_root_filesystem: Some(true),
            allow_privilege_escalation: Some(false),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn claim(qc: &QdrantCluster) -> PersistentVolumeClaim {
    let st = &qc.spec.storage;
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some("storage".into()),
            labels: Some(selector_labels(qc)),
            ..Default::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            storage_class_name: st.storage_class_name.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".into(),
                    Quantity(st.size.clone()),
                )])),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The StatefulSet; `config_hash` goes into a pod annotation so config changes roll the pods.
pub fn statefulset(
    qc: &QdrantCluster,
    config_hash: &str,
    api_key_secret: &str,
    api_key_key: &str,
) -> StatefulSet {
    let sched = &qc.spec.scheduling;
    let affinity = match (
        &sched.affinity,
        sched.topology_spread_constraints.is_empty(),
    ) {
        (Some(a), _) => Some(a.clone()),
        (None, true) => Some(default_affinity(qc)),
        (None, false) => None,
    };
    let mut pod_labels = selector_labels(qc);
    pod_labels.extend(super::labels(qc));
    let pod = PodSpec {
        containers: vec![container(qc, api_key_secret, api_key_key)],
        volumes: Some(vec![
            Volume {
                name: "config".into(),
                config_map: Some(ConfigMapVolumeSource {
                    name: config_map_name(qc),
                    ..Default::default()
                }),
                ..Default::default()
            },
            Volume {
                name: "tmp".into(),
                empty_dir: Some(EmptyDirVolumeSource::default()),
                ..Default::default()
            },
        ]),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(1000),
            run_as_group: Some(1000),
            fs_group: Some(1000),
            ..Default::default()
        }),
        node_selector: (!sched.node_selector.is_empty()).then(|| sched.node_selector.clone()),
        tolerations: (!sched.tolerations.is_empty()).then(|| sched.tolerations.clone()),
        topology_spread_constraints: (!sched.topology_spread_constraints.is_empty())
            .then(|| sched.topology_spread_constraints.clone()),
        affinity,
        image_pull_secrets: (!qc.spec.image_pull_secrets.is_empty()).then(|| {
            qc.spec
                .image_pull_secrets
                .iter()
                .map(|n| LocalObjectReference { name: n.clone() })
                .collect()
        }),
        termination_grace_period_seconds: Some(60),
        ..Default::default()
    };
    StatefulSet {
        metadata: owned_meta(qc, qc.name_any()),
        spec: Some(StatefulSetSpec {
            replicas: Some(qc.spec.replicas),
            service_name: Some(headless_name(qc)),
            pod_management_policy: Some("Parallel".into()),
            selector: LabelSelector {
                match_labels: Some(selector_labels(qc)),
                ..Default::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    annotations: Some(BTreeMap::from([(
                        "qdrantnode.io/config-hash".into(),
                        config_hash.into(),
                    )])),
                    ..Default::default()
                }),
                spec: Some(pod),
            },
            volume_claim_templates: Some(vec![claim(qc)]),
            update_strategy: Some(StatefulSetUpdateStrategy {
                type_: Some(
                    if qc.spec.automation.rolling_restart {
                        "OnDelete"
                    } else {
                        "RollingUpdate"
                    }
                    .into(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builders::testing::qc;

    #[test]
    fn pod_template_follows_the_spec() {
        let q = qc("replicas: 5\nimage: reg/qdrant-node:1.2\nstorage: {size: 20Gi, storageClassName: fast}\nresources: {limits: {memory: 2Gi}}");
        let s = statefulset(&q, "abc", "demo-api-key", "api-key");
        let spec = s.spec.as_ref().unwrap();
        assert_eq!(spec.replicas, Some(5));
        assert_eq!(spec.service_name.as_deref(), Some("demo-headless"));
        let pod = spec.template.spec.as_ref().unwrap();
        let c = &pod.containers[0];
        assert_eq!(c.image.as_deref(), Some("reg/qdrant-node:1.2"));
        assert!(c.command.as_ref().unwrap()[2].contains("--bootstrap"));
        let sc = c.security_context.as_ref().unwrap();
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert!(pod.affinity.as_ref().unwrap().pod_anti_affinity.is_some());
        let vct = &spec.volume_claim_templates.as_ref().unwrap()[0];
        let req = vct.spec.as_ref().unwrap().resources.as_ref().unwrap();
        assert_eq!(req.requests.as_ref().unwrap()["storage"].0, "20Gi");
        let owner = &s.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.controller),
            ("QdrantCluster", Some(true))
        );
        let ann = spec
            .template
            .metadata
            .as_ref()
            .unwrap()
            .annotations
            .as_ref()
            .unwrap();
        assert_eq!(ann["qdrantnode.io/config-hash"], "abc");
    }

    #[test]
    fn explicit_spread_constraints_replace_the_default_anti_affinity() {
        let q = qc("replicas: 3\nscheduling: {topologySpreadConstraints: [{maxSkew: 1, topologyKey: zone, whenUnsatisfiable: DoNotSchedule}]}");
        let s = statefulset(&q, "h", "k", "api-key");
        let pod = s.spec.unwrap().template.spec.unwrap();
        assert!(pod.affinity.is_none());
        assert_eq!(pod.topology_spread_constraints.unwrap().len(), 1);
    }
}
