//! Test harness: starts real `qdrant-node` processes on free ports in temp dirs, captures
//! their logs, and can SIGTERM, kill -9 and restart them. Readiness is polled with a
//! deadline, never slept for.

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub mod cluster;
pub mod http;
pub mod kube;
pub mod kubelet;
pub mod points;
pub use cluster::Cluster;
pub use http::Http;

/// Repository root (the workspace).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Path to the node binary: `QDRANT_NODE_BIN`, or built once with cargo (with the same
/// `--workspace` feature set as `cargo test --workspace`, so RocksDB is not rebuilt).
pub fn node_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(p) = std::env::var("QDRANT_NODE_BIN") {
            return PathBuf::from(p);
        }
        let status = Command::new(env!("CARGO"))
            .args(["build", "-q", "--workspace", "--bins"])
            .current_dir(repo_root())
            .status()
            .expect("cargo build of qdrant-node could not start");
        assert!(status.success(), "cargo build of qdrant-node failed");
        let target = std::env::var("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| repo_root().join("target"));
        target.join("debug").join("qdrant-node")
    })
    .clone()
}

/// The virtualenv's python (`QDRANT_TEST_PYTHON`, or `.venv/` at the repo root, made on
/// demand) with `tests/python/requirements.txt` installed.
pub fn python() -> PathBuf {
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

/// Makes a child process get SIGKILL when the test process ends, so none outlives a run.
pub fn die_with_parent(cmd: &mut Command) {
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

/// Polls `f` until it returns Some or the deadline passes.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Result<T> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(5);
    loop {
        if let Some(v) = f() {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::park_timeout(pause);
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

/// A running (or stopped) node with its own storage folder.
#[derive(Debug)]
pub struct Node {
    pub dir: tempfile::TempDir,
    child: Option<Child>,
    pub url: String,
    /// The p2p address (`host:port`) in cluster mode; kept across restarts.
    pub p2p: Option<String>,
    /// The public gRPC API's url (`http://host:port`).
    pub grpc: String,
    env: Vec<(String, String)>,
    args: Vec<String>,
    runs: usize,
}

impl Node {
    pub fn start() -> Result<Node> {
        Node::start_with(&[], &[])
    }

    /// Starts a node with extra environment variables and flags.
    pub fn start_with(env: &[(&str, &str)], args: &[&str]) -> Result<Node> {
        let mut n = Node {
            dir: tempfile::tempdir()?,
            child: None,
            url: String::new(),
            p2p: None,
            grpc: String::new(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            args: args.iter().map(|s| s.to_string()).collect(),
            runs: 0,
        };
        n.launch()?;
        Ok(n)
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join(format!("node-{}.log", self.runs))
    }

    /// The running process's id.
    pub fn process_id(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Spawns the binary without waiting; returns the child.
    pub fn spawn_raw(
        dir: &Path,
        log: &Path,
        env: &[(String, String)],
        args: &[String],
    ) -> Result<Child> {
        let out = std::fs::File::create(log)?;
        let err = out.try_clone()?;
        let mut cmd = Command::new(node_binary());
        cmd.current_dir(dir)
            .env("QDRANT__SERVICE__HOST", "127.0.0.1")
            .env("QDRANT__SERVICE__HTTP_PORT", "0")
            .env("QDRANT__SERVICE__GRPC_PORT", "0")
            .env("QDRANT__STORAGE__STORAGE_PATH", dir.join("storage"))
            .env("QDRANT__STORAGE__SNAPSHOTS_PATH", dir.join("snapshots"))
            .env("QDRANT__LOG_LEVEL", "info")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        // The node dies with the test process, so no server outlives a test run.
        die_with_parent(&mut cmd);
        cmd.spawn().context("spawn qdrant-node")
    }

    fn launch(&mut self) -> Result<()> {
        self.runs += 1;
        let log = self.log_path();
        let mut child = Self::spawn_raw(self.dir.path(), &log, &self.env, &self.args)?;
        let url = wait_for("node to listen", Duration::from_secs(60), || {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(Err(anyhow!(
                    "node exited early with {status}: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )));
            }
            let text = std::fs::read_to_string(&log).ok()?;
            let at = text.find("rest listening on ")?;
            let rest = &text[at + "rest listening on ".len()..];
            Some(Ok(rest.split_whitespace().next()?.to_string()))
        })??;
        self.url = url;
        self.child = Some(child);
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(at) = text.find("grpc listening on ") {
            let addr = text[at + "grpc listening on ".len()..]
                .split_whitespace()
                .next()
                .unwrap_or_default();
            self.grpc = format!("http://{addr}");
        }
        if let Some(at) = text.find("p2p listening on ") {
            let addr = text[at + "p2p listening on ".len()..]
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
            if self.p2p.is_none() {
                // Keep the port on restarts: peers know this node by it.
                let port = addr.rsplit(':').next().unwrap_or_default().to_string();
                self.set_env("QDRANT__CLUSTER__P2P__PORT", &port);
            }
            self.p2p = Some(addr);
        }
        Ok(())
    }

    /// Sets (or replaces) an environment variable for the next launch.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_string(), value.to_string()));
    }

    /// Replaces the flags for the next launch.
    pub fn set_args(&mut self, args: &[&str]) {
        self.args = args.iter().map(|s| s.to_string()).collect();
    }

    /// Starts the process again after `kill9` or `stop`.
    pub fn start_again(&mut self) -> Result<()> {
        self.launch()
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    pub fn http(&self) -> Http {
        Http::new(&self.url)
    }

    /// kill -9: no flush, no goodbye.
    pub fn kill9(&mut self) -> Result<()> {
        if let Some(mut c) = self.child.take() {
            c.kill()?;
            c.wait()?;
        }
        Ok(())
    }

    /// SIGSTOP: the process stays, holding its sockets, and answers nothing until `resume`.
    pub fn pause(&self) {
        self.signal(libc::SIGSTOP);
    }

    /// SIGCONT after `pause`.
    pub fn resume(&self) {
        self.signal(libc::SIGCONT);
    }

    fn signal(&self, sig: i32) {
        if let Some(c) = &self.child {
            unsafe {
                libc::kill(c.id() as i32, sig);
            }
        }
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self) -> Result<()> {
        if let Some(mut c) = self.child.take() {
            unsafe {
                libc::kill(c.id() as i32, libc::SIGTERM);
            }
            let exited = wait_for("node to exit", Duration::from_secs(30), || {
                c.try_wait().ok().flatten()
            });
            if exited.is_err() {
                c.kill()?;
                c.wait()?;
                bail!("node did not exit on SIGTERM");
            }
        }
        Ok(())
    }

    pub fn restart(&mut self) -> Result<()> {
        self.kill9()?;
        self.launch()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// Pulls `result` out of a Qdrant envelope.
pub fn result(v: &Value) -> &Value {
    &v["result"]
}
