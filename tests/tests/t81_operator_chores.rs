//! The controller's chores against a real kube-apiserver and real node processes (pods are
//! mapped to them with `--node-url`): a scale-down drains the leaving pod's peer and removes
//! it before the StatefulSet shrinks, even when the operator is killed half-way; a
//! scale-down the replication factor cannot survive is refused with a condition.

use anyhow::Result;
use serde_json::Value;
use std::time::Duration;
use tests::kube::{ControlPlane, Operator};
use tests::points::*;
use tests::{repo_root, wait_for, Cluster};

fn condition(qc: &Value, type_: &str) -> Value {
    qc["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == type_).cloned())
        .unwrap_or_default()
}

fn ready(cp: &ControlPlane, n: i32) -> Result<()> {
    let status = format!(
        r#"{{"status":{{"replicas":{n},"readyReplicas":{n},"availableReplicas":{n},"currentReplicas":{n},"updatedReplicas":{n}}}}}"#
    );
    cp.ok(&[
        "patch",
        "-n",
        "db",
        "sts",
        "demo",
        "--subresource=status",
        "--type=merge",
        "-p",
        &status,
    ])?;
    Ok(())
}

#[test]
fn scale_down_drains_first_survives_an_operator_restart_and_refuses_what_cannot_fit() -> Result<()>
{
    let cp = ControlPlane::start()?;
    cp.ok(&[
        "apply",
        "-f",
        repo_root()
            .join("crds/qdrantcluster.yaml")
            .to_str()
            .unwrap_or_default(),
    ])?;
    cp.wait_crd()?;
    cp.ok(&["create", "namespace", "db"])?;
    let mut c = Cluster::start(3)?;
    let mut args = vec!["--namespace".to_string(), "db".to_string()];
    for i in 0..3 {
        args.push("--node-url".into());
        args.push(format!("demo-{i}={}", c.nodes[i].url));
    }
    let mut op = Operator::start(&cp.kubeconfig, cp.dir.path(), &args)?;
    cp.ok(&[
        "apply",
        "-n",
        "db",
        "-f",
        repo_root()
            .join("examples/minimal.yaml")
            .to_str()
            .unwrap_or_default(),
    ])?;
    cp.wait_get("statefulset", &["-n", "db", "sts", "demo"], |_| true)?;
    ready(&cp, 3)?;
    cp.wait_get("Healthy", &["-n", "db", "qc", "demo"], |v| {
        v["status"]["phase"] == "Healthy"
    })?;

    create(&c.nodes[0], "c", sharded(3, 2, 1))?;
    load(&c.nodes[0], "c", 6000)?;
    let writer = Writer::start(
        vec![c.nodes[0].url.clone(), c.nodes[1].url.clone()],
        "c",
        100_000,
    );
    let leaving = c.peer_id(2);

    // 3 -> 2: kill the operator once its transfers show in the status, then start it again.
    let watch = cp.watch(&["-n", "db", "qc", "demo"])?;
    cp.ok(&["scale", "-n", "db", "qc/demo", "--replicas=2"])?;
    let shown = wait_for(
        "transfer progress in the status",
        Duration::from_secs(60),
        || {
            watch
                .seen()
                .iter()
                .filter_map(|v| v["status"]["progress"].as_str().map(String::from))
                .find(|p| p.starts_with("c shard ") && p.contains(" → "))
        },
    )?;
    eprintln!("progress in the status: {shown}");
    op.kill()?;
    // Shrunk already only if the peer had left first.
    let sts = cp.get(&["-n", "db", "sts", "demo"]).unwrap_or_default();
    if sts["spec"]["replicas"] != 3 {
        let peers = c.status(0).expect("status")["peers"].clone();
        assert!(
            peers.get(leaving.to_string()).is_none(),
            "shrunk before the drain: {peers}"
        );
    }
    let op = Operator::spawn(&cp.kubeconfig, cp.dir.path(), "operator-2", &args)?;
    cp.wait_get("StatefulSet at 2", &["-n", "db", "sts", "demo"], |v| {
        v["spec"]["replicas"] == 2
    })?;
    let peers = c.status(0).expect("status")["peers"].clone();
    assert!(
        peers.get(leaving.to_string()).is_none(),
        "shrunk before the peer left: {peers}"
    );
    c.nodes[2].stop()?; // the pod goes away
    ready(&cp, 2)?;
    cp.wait_get("Healthy at 2", &["-n", "db", "qc", "demo"], |v| {
        v["status"]["phase"] == "Healthy"
    })?;
    // The drain's progress is gone from the status once it is over.
    drop(watch);
    let qc = cp.get(&["-n", "db", "qc", "demo"]).unwrap_or_default();
    assert!(qc["status"].get("progress").is_none(), "{}", qc["status"]);
    // Whichever operator finished the drain said so (the first may have, before it died).
    cp.wait_get("a Drained event", &["-n", "db", "events"], |v| {
        v["items"]
            .as_array()
            .is_some_and(|e| e.iter().any(|e| e["reason"] == "Drained"))
    })?;
    let (end, retries) = writer.finish();
    eprintln!(
        "scale-down under writes: {} acked, {retries} retries; {}",
        end - 100_000,
        op.log_text()
            .lines()
            .filter(|l| l.contains("move_shard"))
            .count()
    );
    check_all(&c, "c", 6000, 100_000, end)?;

    // 2 -> 1 with replication factor 2: refused, nothing changes.
    cp.ok(&["scale", "-n", "db", "qc/demo", "--replicas=1"])?;
    let qc = cp.wait_get("refusal", &["-n", "db", "qc", "demo"], |v| {
        condition(v, "ChoresSucceeded")["reason"] == "ScaleDownRefused"
    })?;
    let cond = condition(&qc, "ChoresSucceeded");
    assert_eq!(cond["status"], "False");
    assert!(
        cond["message"]
            .as_str()
            .unwrap_or("")
            .contains("cannot hold every shard"),
        "{cond}"
    );
    let sts = cp.get(&["-n", "db", "sts", "demo"]).unwrap_or_default();
    assert_eq!(sts["spec"]["replicas"], 2);
    wait_for("both peers still members", Duration::from_secs(5), || {
        (c.status(0)?["peers"].as_object()?.len() == 2).then_some(())
    })?;
    assert_eq!(count(&c.nodes[0], "c"), 6000 + (end - 100_000));
    Ok(())
}
