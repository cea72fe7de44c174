//! The real `qdrant-client` Python package, unchanged, against our node.

use std::process::Command;
use tests::{python, repo_root, Node};

#[test]
fn qdrant_client_runs_unchanged() {
    let py = python();
    let n = Node::start().unwrap();
    let out = Command::new(py)
        .arg(repo_root().join("tests/python/compat.py"))
        .arg(&n.url)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "compat.py failed:\n{stdout}\n{stderr}\nnode log:\n{}",
        n.log()
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");
}
