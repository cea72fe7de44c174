//! The Helm charts: lint, render and validate (kubernetes-validate, checkov), then install
//! them on a real kube-apiserver and run the operator with the chart's ServiceAccount token
//! (not as admin): its RBAC must be enough, and no more than it needs.

use anyhow::Result;
use serde_json::Value;
use std::process::Command;
use std::time::Duration;
use tests::kube::{helm_bin, venv_tool, ControlPlane, Operator};
use tests::{repo_root, wait_for};

const CHARTS: [&str; 2] = ["qdrant-operator", "qdrant-cluster"];

fn helm(args: &[&str]) -> Result<String> {
    let out = Command::new(helm_bin())
        .args(args)
        .current_dir(repo_root())
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "helm {args:?}: {}{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(text)
}

/// (chart, extra args) for the default values and for every switch flipped.
fn variants() -> Vec<(&'static str, Vec<String>)> {
    CHARTS
        .iter()
        .flat_map(|c| {
            let all = format!("helm/{c}/ci/all-switches-values.yaml");
            [(*c, vec![]), (*c, vec!["-f".to_string(), all])]
        })
        .collect()
}

#[test]
fn charts_lint_render_and_validate() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut rendered = Vec::new();
    for (i, (chart, extra)) in variants().into_iter().enumerate() {
        let path = format!("helm/{chart}");
        let mut args = vec!["lint", "--strict", path.as_str()];
        args.extend(extra.iter().map(String::as_str));
        helm(&args)?;
        let mut args = vec![
            "template",
            "demo",
            path.as_str(),
            "--namespace",
            "qdrant-system",
        ];
        args.extend(extra.iter().map(String::as_str));
        let file = dir.path().join(format!("{i}-{chart}.yaml"));
        std::fs::write(&file, helm(&args)?)?;
        rendered.push(file);
    }
    // Strict schema validation against the API server version the tests run (1.34).
    for f in &rendered {
        let out = Command::new(venv_tool("kubernetes-validate"))
            .args(["--strict", "--quiet", "-k", "1.34.0"])
            .arg(f)
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && !text.contains("ERROR") && !text.contains("FAIL"),
            "{}: {text}",
            f.display()
        );
    }
    // Policy checks: every failure is fixed or skipped with a written reason in the template.
    let mut cmd = Command::new(venv_tool("checkov"));
    cmd.args([
        "--framework",
        "kubernetes",
        "--compact",
        "--quiet",
        "--skip-download",
    ]);
    for f in &rendered {
        cmd.arg("-f").arg(f);
    }
    let out = cmd.output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("Failed checks: 0"),
        "{text}"
    );
    // The chart carries the generated CRD.
    let chart_crd =
        std::fs::read_to_string(repo_root().join("helm/qdrant-operator/crds/qdrantcluster.yaml"))?;
    assert_eq!(
        chart_crd,
        crds::crd_yaml()?,
        "helm/qdrant-operator/crds is stale: copy crds/qdrantcluster.yaml"
    );
    Ok(())
}

fn can_i(cp: &ControlPlane, sa: &str, verb: &str, what: &str, ns: &str) -> Result<bool> {
    let (_, out, _) =
        cp.kubectl(&["auth", "can-i", verb, what, "-n", ns, &format!("--as={sa}")])?;
    Ok(out.trim() == "yes")
}

#[test]
fn charts_install_and_the_operator_runs_with_its_own_rbac() -> Result<()> {
    let cp = ControlPlane::start()?;
    cp.ok(&["create", "namespace", "qdrant-system"])?;
    cp.ok(&["create", "namespace", "db"])?;
    let out = cp.install_operator_chart(&["watchNamespace=db"])?;
    assert!(out.contains("watches namespace db"), "NOTES: {out}");
    for (kind, name, ns) in [
        ("deployment", "op-qdrant-operator", "qdrant-system"),
        ("serviceaccount", "op-qdrant-operator", "qdrant-system"),
        ("service", "op-qdrant-operator-metrics", "qdrant-system"),
        ("networkpolicy", "op-qdrant-operator", "qdrant-system"),
        ("role", "op-qdrant-operator", "db"),
        ("rolebinding", "op-qdrant-operator", "db"),
    ] {
        assert!(
            cp.get(&["-n", ns, kind, name]).is_some(),
            "{kind}/{name} missing"
        );
    }

    let sa = "system:serviceaccount:qdrant-system:op-qdrant-operator";
    assert!(can_i(&cp, sa, "patch", "statefulsets", "db")?);
    assert!(can_i(&cp, sa, "get", "secrets", "db")?);
    assert!(
        !can_i(&cp, sa, "get", "secrets", "default")?,
        "secrets outside the watched namespace"
    );
    assert!(
        !can_i(&cp, sa, "list", "secrets", "db")?,
        "it never lists secrets"
    );
    assert!(!can_i(&cp, sa, "delete", "statefulsets", "db")?);
    assert!(!can_i(&cp, sa, "create", "pods", "db")?);
    assert!(!can_i(&cp, sa, "patch", "statefulsets", "default")?);

    // Run the operator binary as the chart's ServiceAccount.
    let kubeconfig = cp.operator_kubeconfig()?;
    let op = Operator::start(
        &kubeconfig,
        cp.dir.path(),
        &["--namespace".into(), "db".into()],
    )?;
    let (ok, out, err) = cp.helm(&[
        "install",
        "demo",
        "helm/qdrant-cluster",
        "-n",
        "db",
        "--set",
        "replicas=3",
        "--set",
        "service.type=NodePort",
        "--set",
        "service.httpNodePort=30333",
        "--set",
        "service.grpcNodePort=30334",
    ])?;
    assert!(ok, "{out}{err}");
    cp.wait_get(
        "statefulset by the SA-token operator",
        &["-n", "db", "sts", "demo"],
        |v: &Value| v["spec"]["replicas"] == 3,
    )?;
    cp.wait_get(
        "status written",
        &["-n", "db", "qc", "demo"],
        |v: &Value| v["status"]["phase"].is_string(),
    )?;
    // The README's walkthrough reaches REST through kind-config.yaml's mapping of node port 30333.
    let svc = cp.wait_get(
        "client service",
        &["-n", "db", "svc", "demo"],
        |v: &Value| v["spec"]["type"] == "NodePort",
    )?;
    assert_eq!(svc["spec"]["ports"][0]["nodePort"], 30333, "{svc}");
    assert_grpc_routed(&cp, &svc)?;
    for obj in [
        "svc/demo",
        "svc/demo-headless",
        "cm/demo-config",
        "pdb/demo",
        "secret/demo-api-key",
        "secret/demo-p2p",
    ] {
        assert!(cp.get(&["-n", "db", obj]).is_some(), "{obj} missing");
    }

    let (ok, out, err) = cp.helm(&[
        "upgrade",
        "demo",
        "helm/qdrant-cluster",
        "-n",
        "db",
        "--set",
        "replicas=5",
        "--set",
        "config.log_level=DEBUG",
    ])?;
    assert!(ok, "{out}{err}");
    cp.wait_get(
        "upgrade reaches the statefulset",
        &["-n", "db", "sts", "demo"],
        |v: &Value| v["spec"]["replicas"] == 5,
    )?;
    cp.wait_get(
        "and the config",
        &["-n", "db", "cm", "demo-config"],
        |v: &Value| {
            v["data"]["config.yaml"]
                .as_str()
                .is_some_and(|c| c.contains("DEBUG"))
        },
    )?;

    let (ok, out, err) = cp.helm(&["uninstall", "demo", "-n", "db"])?;
    assert!(ok, "{out}{err}");
    wait_for(
        "cluster gone (finalizer ran)",
        Duration::from_secs(60),
        || cp.get(&["-n", "db", "qc", "demo"]).is_none().then_some(()),
    )?;
    let log = op.log_text();
    assert!(
        !log.contains("forbidden"),
        "the operator hit RBAC limits:\n{log}"
    );
    drop(op);

    let (ok, out, err) = cp.helm(&["uninstall", "op", "-n", "qdrant-system"])?;
    assert!(ok, "{out}{err}");
    for (ns, kinds) in [
        (
            "qdrant-system",
            "deployment,serviceaccount,service,networkpolicy,role,rolebinding,secret",
        ),
        ("db", "role,rolebinding"),
    ] {
        // Deletion is asynchronous: poll until nothing the chart owns is left.
        let gone = wait_for("no orphans", Duration::from_secs(60), || {
            let left = cp
                .ok(&[
                    "get",
                    kinds,
                    "-n",
                    ns,
                    "-l",
                    "app.kubernetes.io/instance=op",
                    "-o",
                    "name",
                ])
                .ok()?;
            left.trim().is_empty().then_some(())
        });
        assert!(
            gone.is_ok(),
            "left behind in {ns}: {}",
            cp.ok(&[
                "get",
                kinds,
                "-n",
                ns,
                "-l",
                "app.kubernetes.io/instance=op",
                "-o",
                "name"
            ])?
        );
    }
    let left = cp.ok(&[
        "get",
        "clusterrole,clusterrolebinding",
        "-l",
        "app.kubernetes.io/instance=op",
        "-o",
        "name",
    ])?;
    assert!(left.trim().is_empty(), "{left}");
    Ok(())
}

/// gRPC clients reach the nodes: the client Service's `grpc` port (6334, node port 30334 as
/// kind-config.yaml maps it) targets the container port named `grpc`, which is the port the
/// node's config has it listen on.
fn assert_grpc_routed(cp: &ControlPlane, svc: &Value) -> Result<()> {
    let ports = svc["spec"]["ports"].as_array().cloned().unwrap_or_default();
    let grpc = ports
        .iter()
        .find(|p| p["name"] == "grpc")
        .unwrap_or_else(|| panic!("no grpc port on the client service: {svc}"));
    assert_eq!(grpc["port"], 6334, "{svc}");
    assert_eq!(grpc["nodePort"], 30334, "{svc}");
    let sts = cp
        .get(&["-n", "db", "sts", "demo"])
        .expect("statefulset exists");
    let container = &sts["spec"]["template"]["spec"]["containers"][0];
    let cports = container["ports"].as_array().cloned().unwrap_or_default();
    let target = match &grpc["targetPort"] {
        Value::String(name) => cports
            .iter()
            .find(|p| p["name"] == name.as_str())
            .map(|p| p["containerPort"].clone())
            .unwrap_or_else(|| panic!("targetPort {name} is no container port: {container}")),
        number => number.clone(),
    };
    assert!(
        cports
            .iter()
            .any(|p| p["name"] == "grpc" && p["containerPort"] == target),
        "service grpc targets {target}, container ports {cports:?}"
    );
    let cm = cp
        .get(&["-n", "db", "cm", "demo-config"])
        .expect("config map exists");
    let config = cm["data"]["config.yaml"].as_str().unwrap_or_default();
    assert!(
        config
            .lines()
            .any(|l| l.trim() == format!("grpc_port: {target}")),
        "the node listens for gRPC where the Service sends it:\n{config}"
    );
    Ok(())
}
