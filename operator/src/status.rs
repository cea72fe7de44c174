//! Computes `QdrantCluster.status` from what was observed: the StatefulSet's counts and each
//! pod's view of the Raft cluster. Pure; the controller writes the result.

use crate::chores::client::ClusterView;
use crds::{PeerStatus, Phase, QdrantCluster, QdrantClusterStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

/// What the controller saw this round.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Pods the StatefulSet has (`status.replicas`).
    pub pods: i32,
    pub ready: i32,
    /// `(pod name, its view)`, for ordinals below `spec.replicas`.
    pub views: Vec<(String, Option<ClusterView>)>,
    /// Why the spec cannot be carried out, if it cannot.
    pub invalid: Option<String>,
    pub paused: bool,
    pub selector: String,
    pub last_operation: Option<String>,
    pub api_key_secret: Option<String>,
    /// `(reason, message)` of a chore that could not run or finish this round.
    pub chore_blocked: Option<(String, String)>,
    /// The recovery timer when upkeep ran this round (None: keep the old one).
    pub dead_peers: Option<std::collections::BTreeMap<String, String>>,
    /// Progress of a rolling restart under way.
    pub rollout: Option<String>,
    /// Pods whose volume was replaced this round: their old peer id is not kept.
    pub forgotten: Vec<String>,
}

fn condition(
    type_: &str,
    ok: bool,
    reason: &str,
    message: String,
    generation: Option<i64>,
) -> Condition {
    Condition {
        type_: type_.into(),
        status: if ok { "True" } else { "False" }.into(),
        reason: reason.into(),
        message,
        observed_generation: generation,
        last_transition_time: Time(Timestamp::now()),
    }
}

/// Keeps the old transition time of conditions whose status did not change.
fn carry_times(new: &mut [Condition], old: &[Condition]) {
    for c in new.iter_mut() {
        if let Some(o) = old
            .iter()
            .find(|o| o.type_ == c.type_ && o.status == c.status)
        {
            c.last_transition_time = o.last_transition_time.clone();
        }
    }
}

pub fn compute(qc: &QdrantCluster, o: &Observed) -> QdrantClusterStatus {
    let old = qc.status.clone().unwrap_or_default();
    let want = qc.spec.replicas;
    let generation = qc.metadata.generation;
    let leader_id = o
        .views
        .iter()
        .filter_map(|(_, v)| v.as_ref()?.leader)
        .next();
    let formed = old.formed || leader_id.is_some();
    let peers: Vec<PeerStatus> = o
        .views
        .iter()
        .map(|(pod, v)| PeerStatus {
            pod: pod.clone(),
            // A pod that does not answer keeps the peer id it had: recovery needs it.
            peer_id: v.as_ref().map(|v| v.peer_id).or_else(|| {
                old.peers
                    .iter()
                    .find(|p| p.pod == *pod && !o.forgotten.contains(pod))
                    .and_then(|p| p.peer_id)
            }),
            uri: v
                .as_ref()
                .and_then(|v| v.peers.get(&v.peer_id))
                .map(|p| p.uri.clone()),
            state: v
                .as_ref()
                .and_then(|v| v.role.clone())
                .unwrap_or_else(|| "Unreachable".into()),
        })
        .collect();
    let leader = leader_id.and_then(|l| {
        peers
            .iter()
            .find(|p| p.peer_id == Some(l))
            .map(|p| p.pod.clone())
    });
    let (phase, reason, message) = if let Some(why) = &o.invalid {
        (Phase::Failed, "InvalidSpec", why.clone())
    } else if o.paused {
        let p = old.phase.unwrap_or(Phase::Pending);
        (p, "Paused", "reconciliation is paused (spec.paused)".into())
    } else if o.pods == 0 && !formed {
        (
            Phase::Pending,
            "WaitingForPods",
            format!("0 of {want} pods exist yet"),
        )
    } else if !formed {
        (
            Phase::Creating,
            "Forming",
            format!(
                "{} of {want} pods ready; waiting for a Raft leader",
                o.ready
            ),
        )
    } else if o.pods != want {
        (
            Phase::Scaling,
            "Scaling",
            format!("{} pods, want {want}", o.pods),
        )
    } else if let Some(m) = &o.rollout {
        match &o.chore_blocked {
            Some((r, _)) if r == "RolloutStalled" => (Phase::Degraded, "RolloutStalled", m.clone()),
            _ => (Phase::Updating, "RollingUpdate", m.clone()),
        }
    } else if o.ready < want || leader.is_none() {
        let down: Vec<&str> = peers
            .iter()
            .filter(|p| p.state == "Unreachable")
            .map(|p| p.pod.as_str())
            .collect();
        (
            Phase::Degraded,
            "PodsNotReady",
            format!(
                "{} of {want} pods ready; unreachable: {}",
                o.ready,
                if down.is_empty() {
                    "none".into()
                } else {
                    down.join(", ")
                }
            ),
        )
    } else {
        (
            Phase::Healthy,
            "AllPeersReady",
            format!(
                "{want} peers, leader {}",
                leader.clone().unwrap_or_default()
            ),
        )
    };
    let healthy = phase == Phase::Healthy;
    let progressing = matches!(
        phase,
        Phase::Pending | Phase::Creating | Phase::Scaling | Phase::Updating
    );
    let degraded = matches!(phase, Phase::Degraded | Phase::Failed);
    let mut conditions = vec![
        condition("Ready", healthy, reason, message.clone(), generation),
        condition(
            "Progressing",
            progressing,
            reason,
            message.clone(),
            generation,
        ),
        condition("Degraded", degraded, reason, message, generation),
    ];
    let (ok, why, msg) = match &o.chore_blocked {
        Some((r, m)) => (false, r.as_str(), m.clone()),
        None => (true, "Idle", "no chore is blocked".to_string()),
    };
    conditions.push(condition("ChoresSucceeded", ok, why, msg, generation));
    carry_times(&mut conditions, &old.conditions);
    QdrantClusterStatus {
        phase: Some(phase),
        replicas: o.pods,
        ready_replicas: o.ready,
        selector: Some(o.selector.clone()),
        observed_generation: generation,
        conditions,
        peers,
        leader,
        last_operation: o.last_operation.clone().or(old.last_operation),
        // Written by the chore while it runs (`progress.rs`); none runs once this is computed.
        progress: None,
        api_key_secret: o.api_key_secret.clone().or(old.api_key_secret),
        formed,
        dead_peers: o.dead_peers.clone().unwrap_or(old.dead_peers),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builders::testing::qc;
    use std::collections::BTreeMap;

    fn view(id: u64, leader: u64) -> Option<ClusterView> {
        Some(ClusterView {
            peer_id: id,
            leader: Some(leader),
            role: Some(if id == leader { "Leader" } else { "Follower" }.into()),
            peers: BTreeMap::from([(
                id,
                crate::chores::client::Peer {
                    uri: format!("http://p{id}:6335"),
                    send_failures: 0,
                },
            )]),
        })
    }

    fn cond<'a>(s: &'a QdrantClusterStatus, t: &str) -> &'a Condition {
        s.conditions
            .iter()
            .find(|c| c.type_ == t)
            .expect("condition")
    }

    #[test]
    fn rollouts_and_the_recovery_timer_show_in_the_status() {
        let mut q = qc("replicas: 2");
        let mut o = Observed {
            pods: 2,
            ready: 2,
            views: vec![("demo-0".into(), view(1, 1)), ("demo-1".into(), view(2, 1))],
            ..Default::default()
        };
        o.rollout = Some("rolling update: 1 of 2 pods updated".into());
        let s = compute(&q, &o);
        assert_eq!(s.phase, Some(Phase::Updating));
        assert_eq!(cond(&s, "Progressing").status, "True");
        o.chore_blocked = Some(("RolloutStalled".into(), "pod demo-1 …".into()));
        let s = compute(&q, &o);
        assert_eq!(s.phase, Some(Phase::Degraded));
        assert_eq!(cond(&s, "ChoresSucceeded").reason, "RolloutStalled");

        // The timer is kept when upkeep did not run, replaced when it did.
        let timer = BTreeMap::from([("7".to_string(), "2026-01-01T00:00:00Z".to_string())]);
        o.rollout = None;
        o.chore_blocked = None;
        o.dead_peers = Some(timer.clone());
        q.status = Some(compute(&q, &o));
        o.dead_peers = None;
        assert_eq!(compute(&q, &o).dead_peers, timer);
        o.dead_peers = Some(BTreeMap::new());
        assert!(compute(&q, &o).dead_peers.is_empty());
    }

    #[test]
    fn phases_follow_what_was_observed() {
        let q = qc("replicas: 3");
        let mut o = Observed::default();
        assert_eq!(compute(&q, &o).phase, Some(Phase::Pending));
        o.pods = 3;
        o.ready = 1;
        o.views = vec![
            ("demo-0".into(), None),
            ("demo-1".into(), None),
            ("demo-2".into(), None),
        ];
        let s = compute(&q, &o);
        assert_eq!(s.phase, Some(Phase::Creating));
        assert!(!s.formed);
        o.ready = 3;
        o.views = vec![
            ("demo-0".into(), view(1, 1)),
            ("demo-1".into(), view(2, 1)),
            ("demo-2".into(), view(3, 1)),
        ];
        let s = compute(&q, &o);
        assert_eq!(s.phase, Some(Phase::Healthy));
        assert_eq!(s.leader.as_deref(), Some("demo-0"));
        assert!(s.formed);
        assert_eq!(cond(&s, "Ready").status, "True");
        let mut q2 = q.clone();
        q2.status = Some(s);
        o.ready = 2;
        o.views[2].1 = None;
        let s = compute(&q2, &o);
        assert_eq!(s.phase, Some(Phase::Degraded));
        assert!(cond(&s, "Ready").message.contains("demo-2"));
        assert!(s.formed, "formed never goes back");
        // A pod that stops answering keeps its peer id in the status (recovery needs it).
        assert_eq!(s.peers[2].peer_id, Some(3));
        assert_eq!(s.peers[2].state, "Unreachable");
        // Unless its volume was just replaced: the new pod is not that peer.
        o.forgotten = vec!["demo-2".into()];
        assert_eq!(compute(&q2, &o).peers[2].peer_id, None);
        o.forgotten.clear();
        o.invalid = Some("bad".into());
        let s = compute(&q2, &o);
        assert_eq!(
            (s.phase, cond(&s, "Ready").reason.as_str()),
            (Some(Phase::Failed), "InvalidSpec")
        );
    }
}
