//! The real `qdrant-client` Python package, unchanged, against our node: its compatibility
//! script over REST, then over gRPC (`prefer_grpc=True`), and both runs give the same
//! answers.

use std::process::Command;
use tests::{python, repo_root, Node};

fn compat(n: &Node, grpc_port: Option<&str>, answers: &std::path::Path) {
    let out = Command::new(python())
        .arg(repo_root().join("tests/python/compat.py"))
        .arg(&n.url)
        .arg(grpc_port.unwrap_or("-"))
        .arg(answers)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "compat.py ({}) failed:\n{stdout}\n{stderr}\nnode log:\n{}",
        if grpc_port.is_some() { "gRPC" } else { "REST" },
        n.log()
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");
}

#[test]
fn qdrant_client_runs_unchanged_over_rest_and_grpc() {
    let n = Node::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (rest, grpc) = (dir.path().join("rest.json"), dir.path().join("grpc.json"));
    compat(&n, None, &rest);
    let port = n.grpc.rsplit(':').next().unwrap_or_default().to_string();
    compat(&n, Some(&port), &grpc);
    let a = std::fs::read_to_string(&rest).unwrap();
    let b = std::fs::read_to_string(&grpc).unwrap();
    assert!(a.len() > 1000, "{a}");
    assert_eq!(a, b, "REST and gRPC answers differ");
}
