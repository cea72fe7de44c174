//! The real `qdrant-client` Python package, unchanged, against our node.

use std::path::PathBuf;
use std::process::Command;
use tests::{repo_root, Node};

/// The virtualenv's python (`QDRANT_TEST_PYTHON`, or `.venv/` at the repo root, made on demand).
fn python() -> PathBuf {
    if let Ok(p) = std::env::var("QDRANT_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = repo_root().join(".venv");
    let py = venv.join("bin/python");
    if !py.exists() {
        let st = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 -m venv");
        assert!(st.success(), "cannot create virtualenv");
    }
    let req = repo_root().join("tests/python/requirements.txt");
    let st = Command::new(&py)
        .args(["-m", "pip", "install", "-q", "-r"])
        .arg(&req)
        .status()
        .expect("pip");
    assert!(st.success(), "pip install -r {} failed", req.display());
    py
}

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
