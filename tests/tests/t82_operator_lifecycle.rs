//! The controller's chores with the pods made by kube-controller-manager's StatefulSet
//! controller and run by a stand-in kubelet as real node processes (`tests/src/kubelet.rs`):
//! the cluster forms through the pods' start rule; a scale-up is rebalanced across failure
//! domains read from the pods' Nodes (a zone label on one, the node name on the other); a
//! rolling restart goes one pod at a time under writes and searches and stops at a pod that
//! does not come back; a peer lost for good is removed after the dead-peer timeout (a timer
//! that survives an operator restart), its pod starts over on a fresh volume and gets
//! shards again. No acknowledged write is lost.

use anyhow::Result;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tests::kube::{ControlPlane, Operator};
use tests::kubelet::Kubelet;
use tests::points::*;
use tests::{wait_for, Http};

const QC: &str = "apiVersion: qdrantnode.io/v1alpha1
kind: QdrantCluster
metadata: {name: demo, namespace: db}
spec:
  replicas: 3
  image: qdrant-node:1
  automation: {deadPeerTimeoutSeconds: 10}
";

const NODES: &str = "apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Node, metadata: {name: node-a, labels: {topology.kubernetes.io/zone: zone-a}}}
- {apiVersion: v1, kind: Node, metadata: {name: node-b}}
";

fn condition(qc: &Value, type_: &str) -> Value {
    qc["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == type_).cloned())
        .unwrap_or_default()
}

/// Polls `kubectl get` until `ok` holds.
fn wait_get(
    cp: &ControlPlane,
    what: &str,
    secs: u64,
    args: &[&str],
    ok: impl Fn(&Value) -> bool,
) -> Result<Value> {
    wait_for(what, Duration::from_secs(secs), || {
        cp.get(args).filter(|v| ok(v))
    })
}

fn qc_until(
    cp: &ControlPlane,
    what: &str,
    secs: u64,
    ok: impl Fn(&Value) -> bool,
) -> Result<Value> {
    wait_get(cp, what, secs, &["-n", "db", "qc", "demo"], ok)
}

fn last_operation(qc: &Value) -> String {
    qc["status"]["lastOperation"].as_str().unwrap_or("").into()
}

/// Peer id of each pod that answers.
fn peer_ids(k: &Kubelet, pods: usize) -> BTreeMap<u64, usize> {
    (0..pods)
        .filter_map(|i| {
            let (code, v) = Http::new(&k.url(i)).get("/cluster").ok()?;
            (code == 200).then(|| (v["result"]["peer_id"].as_u64().unwrap_or(0), i))
        })
        .collect()
}

/// Every pod runs the StatefulSet's update revision, which is not `old`, and is ready.
fn rolled(cp: &ControlPlane, old: &str, pods: usize) -> Option<()> {
    let sts = cp.get(&["-n", "db", "sts", "demo"])?;
    let rev = sts["status"]["updateRevision"].as_str()?;
    if rev == old {
        return None;
    }
    let list = cp.get(&["-n", "db", "pods"])?;
    let items = list["items"].as_array()?;
    let ready = |p: &Value| {
        p["status"]["conditions"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
    };
    let current = items
        .iter()
        .filter(|p| p["metadata"]["labels"]["controller-revision-hash"] == rev && ready(p))
        .count();
    (current == pods && items.len() == pods).then_some(())
}

/// A new pod template: the StatefulSet gets a new update revision.
fn set_image(cp: &ControlPlane, image: &str) -> Result<()> {
    let patch = json!({"spec": {"image": image}}).to_string();
    cp.merge_patch(&["-n", "db", "qc", "demo"], &patch)?;
    Ok(())
}

fn update_revision(cp: &ControlPlane) -> String {
    cp.get(&["-n", "db", "sts", "demo"]).unwrap_or_default()["status"]["updateRevision"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// Searches through the pods in turn; a failed search is retried once on the next pod.
struct Searcher {
    stop: Arc<AtomicBool>,
    failed: Arc<AtomicUsize>,
    handle: std::thread::JoinHandle<usize>,
}

impl Searcher {
    fn start(urls: Vec<String>) -> Searcher {
        let stop = Arc::new(AtomicBool::new(false));
        let failed = Arc::new(AtomicUsize::new(0));
        let (s, f) = (stop.clone(), failed.clone());
        let handle = std::thread::spawn(move || {
            let client = Http::new("");
            let (mut turn, mut done) = (0usize, 0usize);
            let body = json!({"query": vector(7), "limit": 5});
            while !s.load(Ordering::Relaxed) {
                let mut errors = Vec::new();
                let ok = (0..2).any(|_| {
                    turn += 1;
                    let url = &urls[turn % urls.len()];
                    match client
                        .rebase(url)
                        .post("/collections/c/points/query", &body)
                    {
                        Ok((200, _)) => true,
                        Ok((code, body)) => {
                            errors.push(format!("{url}: {code} {body}"));
                            false
                        }
                        Err(e) => {
                            errors.push(format!("{url}: {e:#}"));
                            false
                        }
                    }
                });
                if !ok {
                    eprintln!("search failed twice: {errors:?}");
                    f.fetch_add(1, Ordering::Relaxed);
                }
                done += 1;
                std::thread::park_timeout(Duration::from_millis(20));
            }
            done
        });
        Searcher {
            stop,
            failed,
            handle,
        }
    }

    /// (searches, failures after one retry)
    fn finish(self) -> (usize, usize) {
        self.stop.store(true, Ordering::Relaxed);
        let done = self.handle.join().unwrap_or(0);
        (done, self.failed.load(Ordering::Relaxed))
    }
}

/// shard -> (peer, state) of every replica, as pod 0 sees it.
fn layout(k: &Kubelet) -> BTreeMap<u64, Vec<(u64, String)>> {
    let mut out: BTreeMap<u64, Vec<(u64, String)>> = BTreeMap::new();
    for ((shard, peer), state) in replicas(&cluster_info(&Http::new(&k.url(0)), "c")) {
        out.entry(shard).or_default().push((peer, state));
    }
    out
}

fn stops_and_starts(events: &[String]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.starts_with("stop") || e.starts_with("start"))
        .cloned()
        .collect()
}

#[test]
fn pods_of_a_real_statefulset_form_scale_roll_and_recover() -> Result<()> {
    let cp = ControlPlane::start_with_controllers("statefulset,pvc-protection")?;
    cp.ok(&["create", "namespace", "db"])?;
    // The operator runs with the chart's RBAC (namespaced Role), so every verb a chore
    // needs must be granted there.
    cp.install_operator_chart(&["watchNamespace=db"])?;
    let kubeconfig = cp.operator_kubeconfig()?;
    cp.kubectl_stdin(&["apply", "-f", "-"], Some(NODES))?;
    let k = Kubelet::start(&cp, "db", "demo", 4, &["node-a", "node-b"])?;
    let mut args = vec!["--namespace".to_string(), "db".to_string()];
    args.extend(k.node_url_args());
    let mut ops = vec![Operator::start(&kubeconfig, cp.dir.path(), &args)?];
    let r = scenario(&cp, &k, &kubeconfig, &args, &mut ops);
    if r.is_err() {
        for op in &ops {
            let log = op.log_text();
            let lines: Vec<&str> = log.lines().collect();
            eprintln!(
                "operator log tail:\n{}",
                lines[lines.len().saturating_sub(40)..].join("\n")
            );
        }
        eprintln!("kubelet: {:?}", k.events());
        eprintln!(
            "status: {}",
            cp.get(&["-n", "db", "qc", "demo"]).unwrap_or_default()["status"]
        );
    }
    r
}

fn scenario(
    cp: &ControlPlane,
    k: &Kubelet,
    kubeconfig: &std::path::Path,
    args: &[String],
    ops: &mut Vec<Operator>,
) -> Result<()> {
    let zone = |ordinal: usize| ordinal % 2;
    let (ok, _, err) = cp.kubectl_stdin(&["apply", "-f", "-"], Some(QC))?;
    assert!(ok, "{err}");

    // Formation: pod 0 founds the cluster, the others join through their neighbour.
    qc_until(cp, "Healthy with 3 pods", 120, |v| {
        v["status"]["phase"] == "Healthy" && v["status"]["formed"] == true
    })?;
    assert_eq!(peer_ids(k, 3).len(), 3);
    let h0 = Http::new(&k.url(0));
    create(&h0, "c", sharded(4, 2, 1))?;
    load(&h0, "c", 3000)?;
    let urls: Vec<String> = (0..3).map(|i| k.url(i)).collect();
    let writer = Writer::start(urls.clone(), "c", 100_000);
    let searcher = Searcher::start(urls);

    // Scale-up 3 -> 4: the new pod's peer gets shards; every shard spans both domains.
    let t = Instant::now();
    cp.ok(&["scale", "-n", "db", "qc/demo", "--replicas=4"])?;
    let qc = qc_until(cp, "rebalance onto the 4th peer", 120, |v| {
        last_operation(v).starts_with("rebalanced") && v["status"]["phase"] == "Healthy"
    })?;
    eprintln!(
        "scale-up: {} ({:?} from kubectl scale)",
        last_operation(&qc),
        t.elapsed()
    );
    let ids = peer_ids(k, 4);
    let l = layout(k);
    for (shard, reps) in &l {
        assert_eq!(reps.len(), 2, "shard {shard}: {reps:?}");
        let zones: Vec<usize> = reps.iter().map(|(p, _)| zone(ids[p])).collect();
        assert_ne!(zones[0], zones[1], "shard {shard} in one zone: {reps:?}");
    }
    for p in ids.keys() {
        assert!(
            l.values().flatten().any(|(q, _)| q == p),
            "peer {p} holds nothing: {l:?}"
        );
    }

    // Rolling restart on a new image: one pod at a time, highest ordinal first.
    let before = k.events().len();
    let rev = update_revision(cp);
    k.take_most_down();
    let t = Instant::now();
    set_image(cp, "qdrant-node:2")?;
    wait_for("rolling restart", Duration::from_secs(240), || {
        rolled(cp, &rev, 4)
    })?;
    qc_until(cp, "Healthy after the rollout", 60, |v| {
        v["status"]["phase"] == "Healthy"
    })?;
    eprintln!("rolling restart of 4 pods: {:?}", t.elapsed());
    let seq = stops_and_starts(&k.events()[before..]);
    let want: Vec<String> = (0..4)
        .rev()
        .flat_map(|i| [format!("stop demo-{i}"), format!("start demo-{i}")])
        .collect();
    assert_eq!(seq, want, "pods restarted out of turn");
    assert!(
        k.take_most_down() <= 1,
        "two pods were down at once: {:?}",
        &k.events()[before..]
    );

    // A pod that does not come back stops the rollout, and it says so.
    k.set_broken(3, true);
    let before = k.events().len();
    let rev = update_revision(cp);
    set_image(cp, "qdrant-node:3")?;
    let qc = qc_until(cp, "stalled rollout", 120, |v| {
        condition(v, "ChoresSucceeded")["reason"] == "RolloutStalled"
    })?;
    assert_eq!(qc["status"]["phase"], "Degraded");
    let msg = condition(&qc, "ChoresSucceeded")["message"].clone();
    assert!(msg.as_str().unwrap_or("").contains("demo-3"), "{msg}");
    assert_eq!(
        stops_and_starts(&k.events()[before..]),
        vec!["stop demo-3".to_string()],
        "the rollout went on past a pod that did not come back"
    );
    k.set_broken(3, false);
    wait_for("rollout after the fix", Duration::from_secs(240), || {
        rolled(cp, &rev, 4)
    })?;
    qc_until(cp, "Healthy again", 60, |v| {
        v["status"]["phase"] == "Healthy"
    })?;

    // A peer lost for good: its timer is in the status and outlives the operator.
    let lost = *peer_ids(k, 4)
        .iter()
        .find(|(_, i)| **i == 2)
        .map(|(p, _)| p)
        .expect("peer of demo-2");
    k.set_broken(2, true);
    k.kill9(2);
    let t = Instant::now();
    let qc = qc_until(cp, "the dead peer's timer", 60, |v| {
        v["status"]["deadPeers"][lost.to_string()].is_string()
    })?;
    let since = qc["status"]["deadPeers"][lost.to_string()].clone();
    ops[0].kill()?;
    assert!(ops[0]
        .log_text()
        .contains(&format!("peer {lost} seen dead")));
    ops.push(Operator::spawn(
        kubeconfig,
        cp.dir.path(),
        "operator-2",
        args,
    )?);
    let qc = qc_until(cp, "recovery", 120, |v| {
        last_operation(v).starts_with("recovered")
    })?;
    eprintln!(
        "recovery (peer {lost} dead since {since}): {} ({:?} after kill -9)",
        last_operation(&qc),
        t.elapsed()
    );
    assert!(
        !ops[1]
            .log_text()
            .contains(&format!("peer {lost} seen dead")),
        "the restarted operator started the timer again"
    );
    wait_get(
        cp,
        "the VolumeReplaced event",
        60,
        &["-n", "db", "events"],
        |v| {
            v["items"]
                .as_array()
                .is_some_and(|e| e.iter().any(|e| e["reason"] == "VolumeReplaced"))
        },
    )?;
    k.set_broken(2, false);
    let qc = qc_until(cp, "the fresh peer gets shards", 120, |v| {
        v["status"]["phase"] == "Healthy" && last_operation(v).starts_with("rebalanced")
    })?;
    eprintln!(
        "after recovery: {} ({:?} after kill -9)",
        last_operation(&qc),
        t.elapsed()
    );
    let ids = peer_ids(k, 4);
    assert!(!ids.contains_key(&lost), "the lost peer is back: {ids:?}");
    let fresh = ids.iter().find(|(_, i)| **i == 2).map(|(p, _)| *p);
    let l = layout(k);
    assert!(
        l.values()
            .flatten()
            .all(|(p, s)| s == "Active" && *p != lost),
        "{l:?}"
    );
    assert!(l.values().all(|r| r.len() == 2), "{l:?}");
    assert!(
        l.values().flatten().any(|(p, _)| Some(*p) == fresh),
        "{l:?}"
    );

    let (end, retries) = writer.finish();
    let (searches, failed) = searcher.finish();
    eprintln!(
        "writes acked: {}, retried batches: {retries}; searches: {searches}, failed twice: {failed}",
        end - 100_000
    );
    assert_eq!(failed, 0, "searches failed after a retry");
    // Replicas of a shard hold the same points (a read may go to either).
    let mut counts: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for i in 0..4 {
        let info = cluster_info(&Http::new(&k.url(i)), "c");
        for s in info["local_shards"].as_array().into_iter().flatten() {
            let shard = s["shard_id"].as_u64().unwrap_or(0);
            counts
                .entry(shard)
                .or_default()
                .push(s["points_count"].as_u64().unwrap_or(0));
        }
    }
    for (shard, n) in &counts {
        assert!(
            n.len() == 2 && n[0] == n[1],
            "replicas of shard {shard} differ: {n:?}"
        );
    }
    let peers: Vec<Http> = (0..4).map(|i| Http::new(&k.url(i))).collect();
    let refs: Vec<&Http> = peers.iter().collect();
    check_peers(&refs, "c", 3000, 100_000, end)
}
