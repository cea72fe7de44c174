//! The chores' part of a reconcile: each step runs one chore (through `automation` and
//! `rollout`), publishes its Events and puts its outcome into the observed status.

use crate::automation;
use crate::chores::client::ClusterView;
use crate::controller::{event, namespace, Context, Error};
use crate::rollout::{self, Step};
use crate::status::Observed;
use crds::QdrantCluster;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::events::EventType;
use kube::ResourceExt;
use serde_json::json;

/// Before the StatefulSet shrinks from `current` pods: drains the leaving ones. A drain that
/// finished is written to the status before the StatefulSet shrinks: an operator that dies
/// in between finds nothing left to drain and would not say it again.
pub async fn drain_first(
    qc: &QdrantCluster,
    ctx: &Context,
    qcs: &Api<QdrantCluster>,
    current: i32,
    key: Option<String>,
) -> Result<automation::Outcome, Error> {
    let chore = automation::scale_down(qc, ctx, &namespace(qc), current, key).await;
    match (&chore.blocked, &chore.last_operation) {
        (Some((reason, m)), _) => event(ctx, qc, EventType::Warning, reason, m.clone()).await,
        (None, Some(note)) => {
            event(ctx, qc, EventType::Normal, "Drained", note.clone()).await;
            let patch = json!({"status": {"lastOperation": note}});
            qcs.patch_status(
                &qc.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await?;
        }
        _ => {}
    }
    Ok(chore)
}

/// Recovery and rebalance (`automation::upkeep`) with the timer from the status; a pod of a
/// removed peer that does not answer gets a fresh volume.
pub async fn upkeep(
    qc: &QdrantCluster,
    ctx: &Context,
    key: Option<String>,
    healthy: bool,
    o: &mut Observed,
) -> Result<(), Error> {
    let ns = namespace(qc);
    let mut dead = qc
        .status
        .as_ref()
        .map(|s| s.dead_peers.clone())
        .unwrap_or_default();
    let u = automation::upkeep(qc, ctx, &ns, key, &mut dead, healthy).await;
    o.dead_peers = Some(dead);
    if let Some(n) = &u.note {
        event(ctx, qc, EventType::Normal, "Chore", n.clone()).await;
        o.last_operation = Some(n.clone());
    }
    if let Some((reason, m)) = &u.blocked {
        event(ctx, qc, EventType::Warning, reason, m.clone()).await;
    }
    o.chore_blocked = u.blocked;
    o.forgotten = forget_orphans(qc, ctx, &ns, &o.views).await?;
    Ok(())
}

/// One step of an operator-driven rolling restart; true while one is under way.
pub async fn roll(
    qc: &QdrantCluster,
    ctx: &Context,
    sts: &StatefulSet,
    key: Option<String>,
    o: &mut Observed,
) -> Result<bool, Error> {
    let ns = namespace(qc);
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let node = automation::client(qc, ctx, &ns, 0, key);
    Ok(match rollout::step(qc, &pods, sts, &node).await? {
        Step::Done => false,
        Step::Waiting(m) => {
            o.rollout = Some(m);
            true
        }
        Step::Restarted(m) => {
            event(ctx, qc, EventType::Normal, "RollingRestart", m.clone()).await;
            o.last_operation = Some(m.clone());
            o.rollout = Some(m);
            true
        }
        Step::Stalled(m) => {
            let already = qc.status.as_ref().is_some_and(|s| {
                s.conditions
                    .iter()
                    .any(|c| c.reason == "RolloutStalled" && c.status == "False")
            });
            if !already {
                event(ctx, qc, EventType::Warning, "RolloutStalled", m.clone()).await;
            }
            o.chore_blocked = Some(("RolloutStalled".into(), m.clone()));
            o.rollout = Some(m);
            true
        }
    })
}

/// A pod that does not answer and whose peer (the last id the status saw for it) is no
/// longer a member, as the Raft leader says, comes back on a fresh volume: its old Raft
/// state would keep it out of the cluster. Deletes its claim and the pod, and returns those
/// pods (the status then forgets their old peer id, so the new pod is not replaced again
/// while it starts). Works from what the cluster and the status say, so it also finishes
/// after an operator restart.
async fn forget_orphans(
    qc: &QdrantCluster,
    ctx: &Context,
    ns: &str,
    views: &[(String, Option<ClusterView>)],
) -> Result<Vec<String>, Error> {
    let Some(members) = views
        .iter()
        .filter_map(|(_, v)| v.as_ref())
        .find(|v| v.role.as_deref() == Some("Leader"))
        .map(|v| &v.peers)
    else {
        return Ok(Vec::new());
    };
    let old = qc
        .status
        .as_ref()
        .map(|s| s.peers.clone())
        .unwrap_or_default();
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
    let mut forgotten = Vec::new();
    for p in &old {
        let silent = views.iter().any(|(pod, v)| *pod == p.pod && v.is_none());
        let gone = p.peer_id.is_some_and(|id| !members.contains_key(&id));
        let ordinal = p.pod.rsplit('-').next().and_then(|o| o.parse().ok());
        let (true, true, Some(ordinal)) = (silent, gone, ordinal) else {
            continue;
        };
        forget_claims(ctx, ns, qc, ordinal, ordinal + 1).await;
        match pods.delete(&p.pod, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
        event(
            ctx,
            qc,
            EventType::Normal,
            "VolumeReplaced",
            format!(
                "pod {} restarts on a fresh volume: its peer {} is no longer a member",
                p.pod,
                p.peer_id.unwrap_or_default()
            ),
        )
        .await;
        forgotten.push(p.pod.clone());
    }
    Ok(forgotten)
}

/// Deletes the volumes of drained pods (ordinals `from..to`): their peers left the cluster
/// for good, and a pod that came back on old Raft state would stay out of it.
pub async fn forget_claims(ctx: &Context, ns: &str, qc: &QdrantCluster, from: i32, to: i32) {
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), ns);
    for i in from..to {
        let name = format!("storage-{}-{i}", qc.name_any());
        match pvcs.delete(&name, &DeleteParams::default()).await {
            Ok(_) => tracing::info!(pvc = %name, "deleted the volume of a drained pod"),
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => {
                tracing::warn!(pvc = %name, error = %e, "could not delete a drained pod's volume")
            }
        }
    }
}
