//! The operator against a real kube-apiserver (etcd + kube-apiserver on loopback): the CRD is
//! accepted, a QdrantCluster becomes its objects, spec changes reach them, status comes from
//! the StatefulSet and real nodes, bad input is refused or reported, delete runs the finalizer.
//! There is no kubelet or controller-manager: the tests write the StatefulSet's status.

use anyhow::Result;
use serde_json::{json, Value};
use std::time::Duration;
use tests::kube::{ControlPlane, Operator};
use tests::{repo_root, wait_for, Cluster};

fn crd_installed() -> Result<ControlPlane> {
    let cp = ControlPlane::start()?;
    let crd = repo_root().join("crds/qdrantcluster.yaml");
    cp.ok(&["apply", "-f", crd.to_str().unwrap_or_default()])?;
    cp.wait_crd()?;
    Ok(cp)
}

fn owned_by_qc(v: &Value, name: &str) -> bool {
    v["metadata"]["ownerReferences"]
        .as_array()
        .is_some_and(|o| {
            o.iter().any(|r| {
                r["kind"] == "QdrantCluster" && r["name"] == name && r["controller"] == true
            })
        })
}

#[test]
fn a_qdrant_cluster_becomes_its_objects_and_follows_its_spec() -> Result<()> {
    let cp = crd_installed()?;
    cp.ok(&["create", "namespace", "db"])?;
    let nodes = Cluster::start(3)?;
    let mut args = vec!["--namespace".to_string(), "db".to_string()];
    for i in 0..3 {
        args.push("--node-url".into());
        args.push(format!("demo-{i}={}", nodes.nodes[i].url));
    }
    let _op = Operator::start(&cp.kubeconfig, cp.dir.path(), &args)?;
    let example = repo_root().join("examples/minimal.yaml");
    cp.ok(&[
        "apply",
        "-n",
        "db",
        "-f",
        example.to_str().unwrap_or_default(),
    ])?;

    let sts = cp.wait_get("statefulset", &["-n", "db", "sts", "demo"], |_| true)?;
    assert!(owned_by_qc(&sts, "demo"), "{sts}");
    assert_eq!(sts["spec"]["replicas"], 3);
    assert_eq!(sts["spec"]["serviceName"], "demo-headless");
    let pod = &sts["spec"]["template"]["spec"];
    assert_eq!(pod["containers"][0]["image"], "qdrant-node:latest");
    assert_eq!(
        pod["containers"][0]["readinessProbe"]["httpGet"]["path"],
        "/readyz"
    );
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    for (kind, name) in [
        ("svc", "demo"),
        ("svc", "demo-headless"),
        ("cm", "demo-config"),
        ("pdb", "demo"),
        ("secret", "demo-api-key"),
        ("secret", "demo-p2p"),
    ] {
        let obj = cp.wait_get(name, &["-n", "db", kind, name], |_| true)?;
        assert!(owned_by_qc(&obj, "demo"), "{kind}/{name}: {obj}");
    }
    let headless = cp
        .get(&["-n", "db", "svc", "demo-headless"])
        .unwrap_or_default();
    assert_eq!(headless["spec"]["clusterIP"], "None");
    assert_eq!(headless["spec"]["publishNotReadyAddresses"], true);

    // Pods "become ready" (no kubelet here): status comes from the real nodes' /cluster.
    cp.ok(&["patch", "-n", "db", "sts", "demo", "--subresource=status", "--type=merge", "-p",
        r#"{"status":{"replicas":3,"readyReplicas":3,"availableReplicas":3,"currentReplicas":3,"updatedReplicas":3}}"#])?;
    let leader = nodes.leader()?;
    let qc = cp.wait_get("Healthy status", &["-n", "db", "qc", "demo"], |v| {
        v["status"]["phase"] == "Healthy"
    })?;
    let st = &qc["status"];
    assert_eq!(st["leader"], format!("demo-{leader}"), "{st}");
    assert_eq!(st["formed"], true);
    assert_eq!(st["readyReplicas"], 3);
    assert_eq!(st["peers"].as_array().map(|p| p.len()), Some(3));
    assert!(st["conditions"].as_array().is_some_and(|c| c
        .iter()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")));
    cp.wait_get(
        "formed in the config map",
        &["-n", "db", "cm", "demo-config"],
        |v| v["data"]["formed"] == "true",
    )?;

    // Spec changes reach the objects.
    let hash = |v: &Value| {
        v["spec"]["template"]["metadata"]["annotations"]["qdrantnode.io/config-hash"].clone()
    };
    let old_hash = hash(&sts);
    cp.ok(&["patch", "-n", "db", "qc", "demo", "--type=merge", "-p",
        r#"{"spec":{"image":"qdrant-node:v2","config":{"log_level":"DEBUG"},"resources":{"limits":{"memory":"3Gi"}}}}"#])?;
    let sts = cp.wait_get("sts follows spec", &["-n", "db", "sts", "demo"], |v| {
        v["spec"]["template"]["spec"]["containers"][0]["image"] == "qdrant-node:v2"
    })?;
    assert_ne!(hash(&sts), old_hash, "a config change must roll the pods");
    assert_eq!(
        sts["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"],
        "3Gi"
    );
    let cm = cp
        .get(&["-n", "db", "cm", "demo-config"])
        .unwrap_or_default();
    assert!(
        cm["data"]["config.yaml"]
            .as_str()
            .unwrap_or("")
            .contains("DEBUG"),
        "{cm}"
    );

    // kubectl scale goes through the scale subresource.
    cp.ok(&["scale", "-n", "db", "qc/demo", "--replicas=5"])?;
    cp.wait_get("sts scaled", &["-n", "db", "sts", "demo"], |v| {
        v["spec"]["replicas"] == 5
    })?;
    let qc = cp.wait_get("Scaling", &["-n", "db", "qc", "demo"], |v| {
        v["status"]["phase"] == "Scaling"
    })?;
    assert!(
        qc["status"]["lastOperation"]
            .as_str()
            .unwrap_or("")
            .contains("to 5"),
        "{qc}"
    );
    let (_, table, _) = cp.kubectl(&["get", "-n", "db", "qc"])?;
    assert!(
        table.contains("PHASE") && table.contains("Scaling"),
        "{table}"
    );

    // Delete with reclaimPolicy Delete: the finalizer removes the volumes, then the object goes.
    cp.merge_patch(
        &["-n", "db", "qc", "demo"],
        r#"{"spec":{"storage":{"reclaimPolicy":"Delete"}}}"#,
    )?;
    let pvc = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "storage-demo-0", "labels": {"app.kubernetes.io/name": "qdrant-node", "app.kubernetes.io/instance": "demo"}},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}}});
    let (ok, _, err) =
        cp.kubectl_stdin(&["apply", "-n", "db", "-f", "-"], Some(&pvc.to_string()))?;
    assert!(ok, "{err}");
    let qc = cp.get(&["-n", "db", "qc", "demo"]).unwrap_or_default();
    assert!(
        qc["metadata"]["finalizers"]
            .to_string()
            .contains("qdrantnode.io/volumes"),
        "{qc}"
    );
    cp.ok(&["delete", "-n", "db", "qc", "demo", "--wait=false"])?;
    wait_for("qc gone", Duration::from_secs(60), || {
        cp.get(&["-n", "db", "qc", "demo"]).is_none().then_some(())
    })?;
    // Without a controller-manager the pvc-protection finalizer keeps it Terminating.
    let pvc = cp.get(&["-n", "db", "pvc", "storage-demo-0"]);
    assert!(pvc.is_none_or(|p| p["metadata"]["deletionTimestamp"].is_string()));
    Ok(())
}

#[test]
fn bad_input_is_refused_by_the_server_or_reported_in_status() -> Result<()> {
    let cp = crd_installed()?;
    let op = Operator::start(&cp.kubeconfig, cp.dir.path(), &[])?;
    let apply = |doc: Value| cp.kubectl_stdin(&["apply", "-f", "-"], Some(&doc.to_string()));
    let qc = |spec: Value| json!({"apiVersion": "qdrantnode.io/v1alpha1", "kind": "QdrantCluster", "metadata": {"name": "bad"}, "spec": spec});

    // Both examples are valid against the schema, every field they name included.
    for example in ["examples/minimal.yaml", "examples/production.yaml"] {
        let path = repo_root().join(example);
        let path = path.to_str().unwrap_or_default();
        let (ok, _, err) =
            cp.kubectl(&["apply", "--dry-run=server", "--validate=strict", "-f", path])?;
        assert!(ok, "{example}: {err}");
    }

    for (spec, needle) in [
        (json!({"replicas": 0}), "greater than or equal to 1"),
        (json!({"replicas": -2}), "greater than or equal to 1"),
        (
            json!({"replicas": 3, "storage": {"reclaimPolicy": "Maybe"}}),
            "Unsupported value",
        ),
        (
            json!({"replicas": 3, "config": "garbage"}),
            "must be of type object",
        ),
        (
            json!({"replicas": 3, "storage": {"size": "lots"}}),
            "must be a quantity",
        ),
        (
            json!({"replicas": 3, "service": {"type": "Magic"}}),
            "Unsupported value",
        ),
    ] {
        let (ok, _, err) = apply(qc(spec.clone()))?;
        assert!(!ok && err.contains(needle), "{spec} -> {err}");
    }
    let (ok, _, err) = apply(qc(json!({"replicas": 3, "storage": {"size": "20Gi"}})))?;
    assert!(ok, "{err}");
    let (ok, _, err) = cp.kubectl(&[
        "patch",
        "qc",
        "bad",
        "--type=merge",
        "-p",
        r#"{"spec":{"storage":{"size":"10Gi"}}}"#,
    ])?;
    assert!(!ok && err.contains("cannot be reduced"), "{err}");

    // What the schema cannot know is reported: Ready=False, InvalidSpec, an Event, no loop.
    cp.merge_patch(&["qc", "bad"], r#"{"spec":{"apiKey":{"name":"nope"}}}"#)?;
    let v = cp.wait_get("InvalidSpec", &["qc", "bad"], |v| {
        v["status"]["phase"] == "Failed"
    })?;
    let ready = v["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready").cloned())
        .unwrap_or_default();
    assert_eq!(
        (ready["status"].as_str(), ready["reason"].as_str()),
        (Some("False"), Some("InvalidSpec"))
    );
    assert!(
        ready["message"].as_str().unwrap_or("").contains("nope"),
        "{ready}"
    );
    wait_for("InvalidSpec event", Duration::from_secs(30), || {
        let (_, out, _) = cp.kubectl(&["get", "events", "-o", "json"]).ok()?;
        out.contains("InvalidSpec").then_some(())
    })?;
    cp.ok(&["patch", "qc", "bad", "--type=json", "-p", r#"[{"op":"remove","path":"/spec/apiKey"},{"op":"add","path":"/spec/config","value":{"cluster":{"p2p":{"port":7000}}}}]"#])?;
    let v = cp.wait_get("managed key refused", &["qc", "bad"], |v| {
        v["status"]["conditions"]
            .to_string()
            .contains("cluster.p2p.port")
    })?;
    assert_eq!(v["status"]["phase"], "Failed");
    // Fixing the spec recovers.
    cp.ok(&[
        "patch",
        "qc",
        "bad",
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/spec/config"}]"#,
    ])?;
    cp.wait_get("recovered", &["qc", "bad"], |v| {
        v["status"]["phase"] == "Pending"
    })?;
    cp.wait_get("sts", &["sts", "bad"], |_| true)?;
    // An invalid spec is not retried in a loop: only a handful of reconciles happened.
    let metrics = op.metrics_url().expect("metrics address");
    let body = reqwest::blocking::get(format!("{metrics}/metrics"))?.text()?;
    let reconciles: f64 = body
        .lines()
        .find_map(|l| l.strip_prefix("qdrant_operator_reconciles_total "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(f64::MAX);
    assert!(reconciles < 60.0, "{body}");
    Ok(())
}

#[test]
fn only_the_lease_holder_reconciles_and_another_takes_over() -> Result<()> {
    let cp = crd_installed()?;
    let args: Vec<String> = ["--leader-election", "--lease-namespace", "default"]
        .map(String::from)
        .to_vec();
    let mut a = Operator::spawn(&cp.kubeconfig, cp.dir.path(), "op-a", &args)?;
    a.wait_log("controller starting", Duration::from_secs(30))?;
    let b = Operator::spawn(&cp.kubeconfig, cp.dir.path(), "op-b", &args)?;
    b.wait_log("metrics listening", Duration::from_secs(30))?;
    let holder = |cp: &ControlPlane| {
        cp.get(&["lease", "qdrant-operator"])
            .map(|l| l["spec"]["holderIdentity"].clone())
    };
    assert_eq!(holder(&cp), Some(json!("op-a")));
    assert!(
        !b.log_text().contains("controller starting"),
        "{}",
        b.log_text()
    );

    a.kill()?;
    b.wait_log("controller starting", Duration::from_secs(60))?;
    assert_eq!(holder(&cp), Some(json!("op-b")));
    let example = repo_root().join("examples/minimal.yaml");
    cp.ok(&["apply", "-f", example.to_str().unwrap_or_default()])?;
    cp.wait_get("the new leader reconciles", &["sts", "demo"], |_| true)?;
    Ok(())
}
