//! The chores the controller runs for a QdrantCluster, through the same `chores` code as the
//! CLI: drain the highest ordinals before the StatefulSet shrinks, rebalance onto new peers,
//! and recover once a peer stayed dead past `deadPeerTimeoutSeconds`. The progress that
//! matters lives in the cluster itself (layouts, membership), so a restarted operator plans
//! the rest of the same job.

use crate::chores::{self, client::NodeClient, plan::Zones, ChoreError, Options};
use crate::controller::Context;
use crate::progress::StatusProgress;
use crds::QdrantCluster;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::ResourceExt;
use std::collections::BTreeMap;
use std::time::Duration;

/// The node label that names a node's zone.
const ZONE_LABEL: &str = "topology.kubernetes.io/zone";

/// How long one transfer may take inside a reconcile.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(1800);

/// What the chores did this round, for status and Events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// The StatefulSet's replica count to apply.
    pub replicas: i32,
    pub last_operation: Option<String>,
    /// `(reason, message)` when a chore could not run or finish; None when all is well.
    pub blocked: Option<(String, String)>,
}

fn say(m: &str) {
    tracing::info!("{m}");
}

/// How a chore runs, with the failure domains of pods `0..pods` (looked up only for a
/// chore that runs: a few API and REST calls per pod).
async fn options<'a>(
    qc: &QdrantCluster,
    ctx: &Context,
    ns: &str,
    pods: i32,
    key: Option<String>,
    progress: &'a (dyn Fn(&str) + Send + Sync),
) -> Options<'a> {
    Options {
        zones: zones(qc, ctx, ns, pods, key).await,
        snapshot_location: qc.spec.automation.snapshot_location.clone(),
        parallel: 2,
        transfer_timeout: TRANSFER_TIMEOUT,
        say: &say,
        progress,
    }
}

/// Shows a chore's progress in the QdrantCluster's status while it runs.
fn shown(qc: &QdrantCluster, ctx: &Context, ns: &str) -> StatusProgress {
    StatusProgress::start(Api::namespaced(ctx.client.clone(), ns), qc.name_any())
}

/// Failure domain of each pod's peer: its Kubernetes node's `topology.kubernetes.io/zone`
/// label, or the node itself when the node has no zone label (or may not be read), so the
/// replicas of a shard land on different nodes at least. Pods not scheduled yet have none.
pub async fn zones(
    qc: &QdrantCluster,
    ctx: &Context,
    ns: &str,
    pods: i32,
    key: Option<String>,
) -> Zones {
    let pod_api: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
    let node_api: Api<Node> = Api::all(ctx.client.clone());
    let mut out = Zones::new();
    for ordinal in 0..pods {
        let name = format!("{}-{ordinal}", qc.name_any());
        let Ok(Some(pod)) = pod_api.get_opt(&name).await else {
            continue;
        };
        let Some(node) = pod.spec.and_then(|s| s.node_name) else {
            continue;
        };
        let zone = match node_api.get_opt(&node).await {
            Ok(n) => n.and_then(|n| n.labels().get(ZONE_LABEL).cloned()),
            Err(e) => {
                tracing::debug!(error = %e, "cannot read nodes; spreading over node names");
                None
            }
        };
        let domain = zone.unwrap_or_else(|| format!("node/{node}"));
        if let Ok((peer, _)) = client(qc, ctx, ns, ordinal, key.clone()).cluster().await {
            out.insert(peer, domain);
        }
    }
    out
}

/// The REST client of pod `ordinal`.
pub fn client(
    qc: &QdrantCluster,
    ctx: &Context,
    ns: &str,
    ordinal: i32,
    key: Option<String>,
) -> NodeClient {
    let pod = format!("{}-{ordinal}", qc.name_any());
    let url = ctx.nodes.url(&pod, &crate::builders::headless_name(qc), ns);
    NodeClient::new(&url, key)
}

/// Before the StatefulSet shrinks from `current` to `spec.replicas` pods: moves every shard
/// off the pods that go and removes their peers. Until that is done the StatefulSet keeps
/// `current` pods; a drain the remaining peers cannot hold is refused.
pub async fn scale_down(
    qc: &QdrantCluster,
    ctx: &Context,
    ns: &str,
    current: i32,
    key: Option<String>,
) -> Outcome {
    let want = qc.spec.replicas;
    let hold = |reason: &str, message: String| Outcome {
        replicas: current,
        last_operation: None,
        blocked: Some((reason.into(), message)),
    };
    let mut leaving = Vec::new();
    for ordinal in want..current {
        match client(qc, ctx, ns, ordinal, key.clone()).cluster().await {
            Ok((peer, _)) => leaving.push(peer),
            // A pod already removed from the cluster may still answer with its own id; a pod
            // that does not answer at all cannot be drained safely.
            Err(e) => {
                return hold(
                    "ScaleDownBlocked",
                    format!("pod {ordinal} does not answer: {e}"),
                )
            }
        }
    }
    let c = client(qc, ctx, ns, 0, key.clone());
    let shown = shown(qc, ctx, ns);
    let show = |m: &str| shown.set(m);
    let o = options(qc, ctx, ns, want, key, &show).await;
    let drained = chores::drain(&c, &leaving, &o).await;
    shown.finish().await;
    match drained {
        Ok(r) => Outcome {
            replicas: want,
            last_operation: Some(format!(
                "drained {} peers ({} replicas moved), scaling from {current} to {want} pods",
                r.removed.len(),
                r.moved
            )),
            blocked: None,
        },
        Err(e @ ChoreError::Plan(_)) => hold("ScaleDownRefused", e.to_string()),
        Err(e) => hold("ScaleDownFailed", e.to_string()),
    }
}

/// What upkeep did this round.
#[derive(Debug, Clone, Default)]
pub struct Upkeep {
    pub note: Option<String>,
    /// `(reason, message)` when a chore could not run or finish.
    pub blocked: Option<(String, String)>,
}

fn blocked(reason: &str, e: impl std::fmt::Display) -> Upkeep {
    Upkeep {
        blocked: Some((reason.into(), e.to_string())),
        ..Default::default()
    }
}

/// Recovers peers dead longer than the timeout; when all pods are ready (`healthy`), also
/// rebalances onto peers that hold nothing. `dead` (peer id -> first seen dead, RFC 3339) is
/// the timer from the status, updated in place.
pub async fn upkeep(
    qc: &QdrantCluster,
    ctx: &Context,
    ns: &str,
    key: Option<String>,
    dead: &mut BTreeMap<String, String>,
    healthy: bool,
) -> Upkeep {
    let a = &qc.spec.automation;
    let c = client(qc, ctx, ns, 0, key.clone());
    let pods = qc.spec.replicas;
    if a.recovery {
        let now = match chores::dead_candidates(&c).await {
            Ok(n) => n,
            Err(e) => return blocked("RecoveryFailed", e),
        };
        dead.retain(|p, _| p.parse().is_ok_and(|p| now.contains(&p)));
        let timeout = Duration::from_secs(u64::from(a.dead_peer_timeout_seconds));
        for p in &now {
            dead.entry(p.to_string()).or_insert_with(|| {
                say(&format!("peer {p} seen dead; recovery after {timeout:?}"));
                Timestamp::now().to_string()
            });
        }
        let expired = dead.values().any(|t| {
            t.parse::<Timestamp>().map_or(true, |t| {
                Duration::try_from(Timestamp::now().duration_since(t)).unwrap_or_default()
                    >= timeout
            })
        });
        if expired {
            let shown = shown(qc, ctx, ns);
            let show = |m: &str| shown.set(m);
            let o = options(qc, ctx, ns, pods, key, &show).await;
            let recovered = chores::recover(&c, Duration::ZERO, &o).await;
            shown.finish().await;
            return match recovered {
                Ok(r) => {
                    dead.clear();
                    Upkeep {
                        note: Some(format!(
                            "recovered: removed peers {:?}, {} replicas added",
                            r.removed, r.replicated
                        )),
                        blocked: None,
                    }
                }
                Err(e @ ChoreError::Lost(_)) => blocked("ShardLost", e),
                Err(e) => blocked("RecoveryFailed", e),
            };
        }
    }
    if a.rebalance_on_scale_up && healthy {
        match chores::empty_peers(&c).await {
            Ok(empty) if !empty.is_empty() => {
                let shown = shown(qc, ctx, ns);
                let show = |m: &str| shown.set(m);
                let o = options(qc, ctx, ns, pods, key, &show).await;
                let rebalanced = chores::rebalance(&c, &o).await;
                shown.finish().await;
                match rebalanced {
                    Ok(r) => {
                        return Upkeep {
                            note: Some(format!(
                                "rebalanced onto peers {empty:?}: {} replicas moved",
                                r.moved
                            )),
                            ..Default::default()
                        }
                    }
                    Err(e) => return blocked("RebalanceFailed", e),
                }
            }
            Ok(_) => {}
            Err(e) => return blocked("RebalanceFailed", e),
        }
    }
    Upkeep::default()
}
