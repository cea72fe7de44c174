//! A stand-in for the kubelet and the scheduler, for tests that run kube-controller-manager's
//! StatefulSet controller: every pod it creates for the StatefulSet runs as a real
//! `qdrant-node` process on loopback (fixed ports per ordinal, a volume folder per claim
//! uid, the start script's bootstrap rule), is bound to a Node, and reports `Ready` from the
//! node's `/readyz`. A pod being deleted gets SIGTERM, then is removed. Talks to the API
//! server through `kubectl proxy`.

use crate::kube::{kubectl_bin, ControlPlane};
use crate::{node_binary, wait_for};
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One pod ordinal: its ports, process and what it runs for.
#[derive(Debug, Default)]
pub struct Slot {
    pub http_port: u16,
    pub p2p_port: u16,
    child: Option<Child>,
    pod_uid: Option<String>,
    ready: bool,
    runs: usize,
}

impl Slot {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }
}

/// What the kubelet runs and saw.
#[derive(Debug, Default)]
pub struct State {
    pub slots: Vec<Slot>,
    /// Ordinals whose container fails to start (a bad image, say).
    pub broken: BTreeSet<usize>,
    /// Log of starts and stops: `start demo-1`, `stop demo-2`.
    pub events: Vec<String>,
    /// Most pods down at once (of those that ran at least once) since the last reset.
    pub most_down: usize,
}

pub struct Kubelet {
    sts: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    pub state: Arc<Mutex<State>>,
    proxy: Child,
    pub root: tempfile::TempDir,
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// RFC 3339 UTC time of now.
fn now_rfc3339() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The pieces the loop needs, cloned into its thread.
struct Env {
    api: String,
    http: reqwest::blocking::Client,
    ns: String,
    sts: String,
    nodes: Vec<String>,
    root: PathBuf,
}

impl Kubelet {
    /// Runs pods `{sts}-0 … {sts}-{max-1}` of namespace `ns`, binding ordinal `i` to
    /// `nodes[i % nodes.len()]`.
    pub fn start(
        cp: &ControlPlane,
        ns: &str,
        sts: &str,
        max: usize,
        nodes: &[&str],
    ) -> Result<Kubelet> {
        let root = tempfile::tempdir()?;
        let log = root.path().join("proxy.log");
        let mut cmd = Command::new(kubectl_bin());
        cmd.env("KUBECONFIG", &cp.kubeconfig)
            .args(["proxy", "--port=0"])
            .stdout(std::fs::File::create(&log)?)
            .stderr(Stdio::null());
        crate::die_with_parent(&mut cmd);
        let proxy = cmd.spawn().context("kubectl proxy")?;
        let addr = wait_for("kubectl proxy", Duration::from_secs(30), || {
            let t = std::fs::read_to_string(&log).ok()?;
            let at = t.find("Starting to serve on ")?;
            Some(t[at + 21..].split_whitespace().next()?.to_string())
        })?;
        let mut slots = Vec::new();
        for _ in 0..max {
            slots.push(Slot {
                http_port: free_port()?,
                p2p_port: free_port()?,
                ..Default::default()
            });
        }
        let state = Arc::new(Mutex::new(State {
            slots,
            ..Default::default()
        }));
        let env = Env {
            api: format!("http://{addr}"),
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()?,
            ns: ns.into(),
            sts: sts.into(),
            nodes: nodes.iter().map(|s| s.to_string()).collect(),
            root: root.path().to_path_buf(),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (stop.clone(), state.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Err(e) = env.tick(&st) {
                    eprintln!("kubelet: {e:#}");
                }
                std::thread::park_timeout(Duration::from_millis(100));
            }
            for slot in st
                .lock()
                .map(|mut s| std::mem::take(&mut s.slots))
                .unwrap_or_default()
            {
                if let Some(mut c) = slot.child {
                    let _ = c.kill();
                    let _ = c.wait();
                }
            }
        });
        Ok(Kubelet {
            sts: sts.into(),
            stop,
            thread: Some(thread),
            state,
            proxy,
            root,
        })
    }

    /// `--node-url` flags mapping every pod to its process.
    pub fn node_url_args(&self) -> Vec<String> {
        let st = self.state.lock().expect("kubelet state");
        let mut out = Vec::new();
        for (i, s) in st.slots.iter().enumerate() {
            out.push("--node-url".into());
            out.push(format!("{}-{i}={}", self.sts, s.url()));
        }
        out
    }

    pub fn url(&self, ordinal: usize) -> String {
        self.state.lock().expect("kubelet state").slots[ordinal].url()
    }

    /// kill -9 of a pod's process (the pod stays; it is restarted unless `broken`).
    pub fn kill9(&self, ordinal: usize) {
        let mut st = self.state.lock().expect("kubelet state");
        if let Some(mut c) = st.slots[ordinal].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        st.events.push(format!("kill {}-{ordinal}", self.sts));
    }

    pub fn set_broken(&self, ordinal: usize, broken: bool) {
        let mut st = self.state.lock().expect("kubelet state");
        if broken {
            st.broken.insert(ordinal);
        } else {
            st.broken.remove(&ordinal);
        }
    }

    pub fn events(&self) -> Vec<String> {
        self.state.lock().expect("kubelet state").events.clone()
    }

    /// Returns the most pods down at once since the last call, and resets it.
    pub fn take_most_down(&self) -> usize {
        std::mem::take(&mut self.state.lock().expect("kubelet state").most_down)
    }

    /// Log of ordinal `i`'s current run.
    pub fn log(&self, i: usize) -> String {
        let runs = self.state.lock().expect("kubelet state").slots[i].runs;
        std::fs::read_to_string(
            self.root
                .path()
                .join(format!("{}-{i}-{runs}.log", self.sts)),
        )
        .unwrap_or_default()
    }
}

impl Drop for Kubelet {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
        // For a look after a failure: `QDRANT_TEST_KEEP_LOGS=<dir>` keeps the nodes' logs.
        if let Ok(dest) = std::env::var("QDRANT_TEST_KEEP_LOGS") {
            let _ = std::fs::create_dir_all(&dest);
            for e in std::fs::read_dir(self.root.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                if e.path().extension().is_some_and(|x| x == "log") {
                    let _ =
                        std::fs::copy(e.path(), std::path::Path::new(&dest).join(e.file_name()));
                }
            }
        }
        let _ = self.proxy.kill();
        let _ = self.proxy.wait();
    }
}

impl Env {
    fn url(&self, path: &str) -> String {
        format!("{}/api/v1/namespaces/{}/{path}", self.api, self.ns)
    }

    fn get(&self, path: &str) -> Result<Option<Value>> {
        let r = self.http.get(self.url(path)).send()?;
        if r.status().as_u16() == 404 {
            return Ok(None);
        }
        if !r.status().is_success() {
            bail!("GET {path}: {}", r.status());
        }
        Ok(Some(r.json()?))
    }

    fn send(&self, rb: reqwest::blocking::RequestBuilder, what: &str) -> Result<()> {
        let r = rb.send()?;
        let code = r.status().as_u16();
        if !(200..300).contains(&code) && code != 404 && code != 409 {
            bail!("{what}: {code} {}", r.text().unwrap_or_default());
        }
        Ok(())
    }

    fn patch_status(&self, pod: &str, status: Value) -> Result<()> {
        let rb = self
            .http
            .patch(self.url(&format!("pods/{pod}/status")))
            .header("Content-Type", "application/merge-patch+json")
            .body(json!({ "status": status }).to_string());
        self.send(rb, "patch pod status")
    }

    fn tick(&self, state: &Mutex<State>) -> Result<()> {
        let pods = self.get("pods")?.unwrap_or_default();
        let pods: Vec<Value> = pods["items"].as_array().cloned().unwrap_or_default();
        let max = state.lock().expect("kubelet state").slots.len();
        let mut seen = BTreeSet::new();
        for pod in &pods {
            let name = pod["metadata"]["name"].as_str().unwrap_or_default();
            let Some(i) = name
                .strip_prefix(&format!("{}-", self.sts))
                .and_then(|o| o.parse::<usize>().ok())
                .filter(|i| *i < max)
            else {
                continue;
            };
            seen.insert(i);
            self.pod(state, i, name, pod)?;
        }
        // Processes whose pod is gone altogether.
        let mut st = state.lock().expect("kubelet state");
        for i in 0..max {
            if !seen.contains(&i) && st.slots[i].pod_uid.is_some() {
                stop(&mut st.slots[i]);
                st.slots[i].pod_uid = None;
                st.events.push(format!("stop {}-{i}", self.sts));
            }
        }
        let down = st.slots.iter().filter(|s| s.runs > 0 && !s.ready).count();
        st.most_down = st.most_down.max(down);
        Ok(())
    }

    fn pod(&self, state: &Mutex<State>, i: usize, name: &str, pod: &Value) -> Result<()> {
        let uid = pod["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if pod["metadata"]["deletionTimestamp"].is_string() {
            return self.delete(state, i, name, &uid);
        }
        if pod["spec"]["nodeName"]
            .as_str()
            .unwrap_or_default()
            .is_empty()
        {
            return self.bind(i, name);
        }
        let claim = format!("storage-{name}");
        let claim_uid = match self.get(&format!("persistentvolumeclaims/{claim}"))? {
            Some(c) if !c["metadata"]["deletionTimestamp"].is_string() => c["metadata"]["uid"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            _ => return Ok(()), // the StatefulSet controller creates it
        };
        let url = self.run(state, i, name, uid, &claim_uid)?;
        self.report(state, i, name, pod, &url)
    }

    /// SIGTERM to the pod's process, then the pod is removed.
    fn delete(&self, state: &Mutex<State>, i: usize, name: &str, uid: &str) -> Result<()> {
        {
            let mut st = state.lock().expect("kubelet state");
            if st.slots[i].pod_uid.as_deref() == Some(uid) {
                stop(&mut st.slots[i]);
                st.slots[i].pod_uid = None;
                st.events.push(format!("stop {name}"));
            }
        }
        let rb = self
            .http
            .delete(self.url(&format!("pods/{name}")))
            .json(&json!({"gracePeriodSeconds": 0}));
        self.send(rb, "delete pod")
    }

    /// Schedules the pod: ordinal `i` goes to `nodes[i % len]`.
    fn bind(&self, i: usize, name: &str) -> Result<()> {
        let node = self.nodes[i % self.nodes.len()].clone();
        let binding = json!({"apiVersion": "v1", "kind": "Binding",
            "metadata": {"name": name}, "target": {"apiVersion": "v1", "kind": "Node", "name": node}});
        let rb = self
            .http
            .post(self.url(&format!("pods/{name}/binding")))
            .json(&binding);
        self.send(rb, "bind pod")
    }

    /// Keeps the pod's process running (unless `broken`); returns the node's URL.
    fn run(
        &self,
        state: &Mutex<State>,
        i: usize,
        name: &str,
        uid: String,
        claim_uid: &str,
    ) -> Result<String> {
        let mut st = state.lock().expect("kubelet state");
        let broken = st.broken.contains(&i);
        if st.slots[i].pod_uid.as_deref() != Some(uid.as_str()) {
            stop(&mut st.slots[i]);
            st.slots[i].pod_uid = Some(uid);
        }
        let slot_running = match st.slots[i].child.as_mut() {
            Some(c) => c.try_wait().ok().flatten().is_none(),
            None => false,
        };
        if !slot_running && !broken {
            let formed = self
                .get(&format!("configmaps/{}-config", self.sts))?
                .is_some_and(|c| c["data"]["formed"] == "true");
            let bootstrap = st
                .slots
                .get(if i == 0 { 1 } else { i - 1 })
                .map(|s| s.p2p_port);
            start(
                &self.root,
                &mut st.slots[i],
                (name, claim_uid),
                i == 0,
                formed,
                bootstrap,
            )?;
            st.events.push(format!("start {name}"));
        }
        Ok(st.slots[i].url())
    }

    /// Sets the pod's Ready condition from the node's `/readyz`.
    fn report(
        &self,
        state: &Mutex<State>,
        i: usize,
        name: &str,
        pod: &Value,
        url: &str,
    ) -> Result<()> {
        let running = state.lock().expect("kubelet state").slots[i]
            .child
            .is_some();
        let ready = running
            && self
                .http
                .get(format!("{url}/readyz"))
                .timeout(Duration::from_secs(2))
                .send()
                .is_ok_and(|r| r.status().is_success());
        let was_ready = pod["status"]["conditions"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        });
        {
            let mut st = state.lock().expect("kubelet state");
            if st.slots[i].ready != ready {
                let what = if ready { "ready" } else { "unready" };
                st.events.push(format!("{what} {name}"));
            }
            st.slots[i].ready = ready;
        }
        if ready != was_ready || pod["status"]["phase"] != "Running" {
            let s = if ready { "True" } else { "False" };
            let now = now_rfc3339();
            let cond =
                |t: &str, v: &str| json!({"type": t, "status": v, "lastTransitionTime": now});
            self.patch_status(
                name,
                json!({
                    "phase": "Running",
                    "podIP": "127.0.0.1",
                    "startTime": pod["status"]["startTime"].as_str().unwrap_or(&now),
                    "conditions": [cond("PodScheduled", "True"), cond("Initialized", "True"),
                                   cond("ContainersReady", s), cond("Ready", s)],
                }),
            )?;
        }
        Ok(())
    }
}

/// Starts a pod's node as its start script would: with stored Raft state it rejoins;
/// otherwise ordinal 0 founds the cluster unless it has formed, and any other bootstraps
/// through its neighbour.
fn start(
    root: &std::path::Path,
    slot: &mut Slot,
    (pod, claim_uid): (&str, &str),
    first: bool,
    formed: bool,
    neighbour: Option<u16>,
) -> Result<()> {
    let vol = root.join(format!("{pod}-{claim_uid}"));
    std::fs::create_dir_all(&vol)?;
    let mut args = vec![
        "--uri".to_string(),
        format!("http://127.0.0.1:{}", slot.p2p_port),
    ];
    let joins = !vol.join("storage/raft").exists() && (!first || formed);
    if let (true, Some(p)) = (joins, neighbour) {
        args.push("--bootstrap".into());
        args.push(format!("http://127.0.0.1:{p}"));
    }
    slot.runs += 1;
    let log = root.join(format!("{pod}-{}.log", slot.runs));
    let out = std::fs::File::create(&log)?;
    let mut cmd = Command::new(node_binary());
    cmd.current_dir(&vol)
        .env("QDRANT__SERVICE__HOST", "127.0.0.1")
        .env("QDRANT__SERVICE__HTTP_PORT", slot.http_port.to_string())
        .env("QDRANT__SERVICE__GRPC_PORT", "0")
        .env("QDRANT__CLUSTER__ENABLED", "true")
        .env("QDRANT__CLUSTER__P2P__PORT", slot.p2p_port.to_string())
        .env("QDRANT__STORAGE__STORAGE_PATH", vol.join("storage"))
        .env("QDRANT__STORAGE__SNAPSHOTS_PATH", vol.join("snapshots"))
        .args(&args)
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out);
    crate::die_with_parent(&mut cmd);
    slot.child = Some(cmd.spawn().context("spawn qdrant-node")?);
    Ok(())
}

/// SIGTERM and wait (30 s), as the kubelet stops a container; then SIGKILL.
fn stop(slot: &mut Slot) {
    slot.ready = false;
    let Some(mut c) = slot.child.take() else {
        return;
    };
    unsafe {
        libc::kill(c.id() as i32, libc::SIGTERM);
    }
    if wait_for("node to exit", Duration::from_secs(30), || {
        c.try_wait().ok().flatten()
    })
    .is_err()
    {
        let _ = c.kill();
        let _ = c.wait();
    }
}
