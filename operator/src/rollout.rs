//! Rolling restarts driven by the operator. The StatefulSet updates `OnDelete`; the operator
//! deletes one outdated pod at a time, highest ordinal first, and only while every pod is
//! ready (its peer caught up, its replicas `Active`: the node's `/readyz`) and every replica
//! in the cluster is `Active`. A restarted pod that stays unready past the dead-peer timeout
//! stops the rollout and is reported. All state is in the pods' revision labels.

use crate::chores::{self, client::NodeClient};
use crds::QdrantCluster;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, ListParams};
use kube::ResourceExt;
use std::time::Duration;

/// The label the StatefulSet controller puts on each pod: the revision it was made from.
const REVISION_LABEL: &str = "controller-revision-hash";

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Every pod runs the StatefulSet's update revision.
    Done,
    /// An update is under way and waits (a pod restarting, replicas re-syncing).
    Waiting(String),
    /// This pod was deleted now, to be recreated from the new template.
    Restarted(String),
    /// A restarted pod did not come back in time; the rollout stops here.
    Stalled(String),
}

/// Ready condition of a pod: `(ready, since)`.
fn readiness(pod: &Pod) -> (bool, Option<Timestamp>) {
    let c = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"));
    match c {
        Some(c) => (
            c.status == "True",
            c.last_transition_time.as_ref().map(|t| t.0),
        ),
        None => (false, pod.creation_timestamp().map(|t| t.0)),
    }
}

fn ordinal(pod: &Pod) -> i32 {
    pod.name_any()
        .rsplit('-')
        .next()
        .and_then(|o| o.parse().ok())
        .unwrap_or(-1)
}

/// One step of the rollout of `sts` (pods `0..spec.replicas`); `node` is any pod's client.
pub async fn step(
    qc: &QdrantCluster,
    pods: &Api<Pod>,
    sts: &StatefulSet,
    node: &NodeClient,
) -> Result<Step, kube::Error> {
    let Some(revision) = sts.status.as_ref().and_then(|s| s.update_revision.clone()) else {
        return Ok(Step::Done);
    };
    let lp = ListParams::default().labels(&crate::builders::selector_string(qc));
    let mut list: Vec<Pod> = pods
        .list(&lp)
        .await?
        .items
        .into_iter()
        .filter(|p| (0..qc.spec.replicas).contains(&ordinal(p)))
        .collect();
    list.sort_by_key(ordinal);
    let current = |p: &Pod| p.labels().get(REVISION_LABEL) == Some(&revision);
    let outdated: Vec<&Pod> = list.iter().filter(|p| !current(p)).collect();
    // The last restarted pod may still be coming up: from here on it is an ordinary pod
    // (not ready: `Degraded`; gone past the dead-peer timeout: recovery).
    if outdated.is_empty() && list.len() as i32 == qc.spec.replicas {
        return Ok(Step::Done);
    }
    let updated = list.iter().filter(|p| current(p)).count();
    let progress = format!("{updated} of {} pods updated", qc.spec.replicas);
    if outdated.is_empty() {
        return Ok(Step::Waiting(format!("rolling update: {progress}")));
    }
    let timeout = Duration::from_secs(u64::from(qc.spec.automation.dead_peer_timeout_seconds));
    let missing = (0..qc.spec.replicas).find(|o| !list.iter().any(|p| ordinal(p) == *o));
    if let Some(o) = missing {
        let pod = format!("{}-{o}", qc.name_any());
        return Ok(Step::Waiting(format!(
            "rolling update: {progress}; waiting for pod {pod} to be created"
        )));
    }
    for p in &list {
        let (ready, since) = readiness(p);
        if ready && p.metadata.deletion_timestamp.is_none() {
            continue;
        }
        let waited = since
            .map(|t| Duration::try_from(Timestamp::now().duration_since(t)).unwrap_or_default())
            .unwrap_or_default();
        let name = p.name_any();
        if current(p) && waited >= timeout {
            return Ok(Step::Stalled(format!(
                "rolling update stopped: pod {name} has not been ready for {} s since its \
                 restart ({progress})",
                waited.as_secs()
            )));
        }
        return Ok(Step::Waiting(format!(
            "rolling update: {progress}; waiting for pod {name} to be ready"
        )));
    }
    match chores::unsettled(node).await {
        Ok(u) if u.is_empty() => {}
        Ok(u) => {
            return Ok(Step::Waiting(format!(
                "rolling update: {progress}; waiting for replicas: {}",
                u.join(", ")
            )))
        }
        Err(e) => {
            return Ok(Step::Waiting(format!(
                "rolling update: {progress}; cannot read the cluster: {e}"
            )))
        }
    }
    let next = outdated[outdated.len() - 1].name_any();
    pods.delete(&next, &DeleteParams::default()).await?;
    Ok(Step::Restarted(format!(
        "rolling update: restarting pod {next} ({progress})"
    )))
}
