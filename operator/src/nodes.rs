//! Talks to the data nodes' REST API: `GET /cluster` of each pod, reached by its DNS name
//! (`http://<pod>.<headless>.<namespace>.svc:6333`) or through a URL template given on the
//! command line (tests run nodes on loopback and map pods to them).

use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// What one node says about the cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterView {
    pub peer_id: u64,
    pub leader: Option<u64>,
    pub role: Option<String>,
    pub peers: BTreeMap<u64, String>,
}

#[derive(Debug, Clone)]
pub struct Nodes {
    http: reqwest::Client,
    /// `{pod}`, `{headless}`, `{namespace}`, `{ordinal}` are replaced.
    template: String,
    /// Per-pod addresses that replace the template (`pod -> url`).
    overrides: BTreeMap<String, String>,
}

pub const DEFAULT_TEMPLATE: &str = "http://{pod}.{headless}.{namespace}.svc:6333";

impl Nodes {
    pub fn new(template: Option<String>, overrides: BTreeMap<String, String>) -> Nodes {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(3))
            .connect_timeout(Duration::from_secs(2))
            .build()
            .unwrap_or_default();
        Nodes {
            http,
            template: template.unwrap_or_else(|| DEFAULT_TEMPLATE.into()),
            overrides,
        }
    }

    pub fn url(&self, pod: &str, headless: &str, namespace: &str) -> String {
        if let Some(u) = self.overrides.get(pod) {
            return u.clone();
        }
        let ordinal = pod.rsplit('-').next().unwrap_or("0");
        self.template
            .replace("{pod}", pod)
            .replace("{headless}", headless)
            .replace("{namespace}", namespace)
            .replace("{ordinal}", ordinal)
    }

    /// `GET {url}/cluster`; None when the node does not answer or is not in cluster mode.
    pub async fn cluster(&self, url: &str, api_key: Option<&str>) -> Option<ClusterView> {
        let mut req = self
            .http
            .get(format!("{}/cluster", url.trim_end_matches('/')));
        if let Some(k) = api_key {
            req = req.header("api-key", k);
        }
        let body: Value = req.send().await.ok()?.json().await.ok()?;
        parse_cluster(&body["result"])
    }
}

/// Reads the `result` of `GET /cluster`.
pub fn parse_cluster(r: &Value) -> Option<ClusterView> {
    if r["status"] != "enabled" {
        return None;
    }
    let peers = r["peers"]
        .as_object()?
        .iter()
        .filter_map(|(id, p)| Some((id.parse().ok()?, p["uri"].as_str()?.to_string())))
        .collect();
    Some(ClusterView {
        peer_id: r["peer_id"].as_u64()?,
        leader: r["raft_info"]["leader"].as_u64(),
        role: r["raft_info"]["role"].as_str().map(String::from),
        peers,
    })
}
