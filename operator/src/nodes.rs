//! Where each pod's REST API is: `http://<pod>.<headless>.<namespace>.svc:6333` by default,
//! or a URL template / per-pod URLs given on the command line (tests run nodes on loopback
//! and map pods to them). `chores::client::NodeClient` does the talking.

use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub struct Nodes {
    /// `{pod}`, `{headless}`, `{namespace}`, `{ordinal}` are replaced.
    template: String,
    /// Per-pod addresses that replace the template (`pod -> url`).
    overrides: BTreeMap<String, String>,
}

pub const DEFAULT_TEMPLATE: &str = "http://{pod}.{headless}.{namespace}.svc:6333";

impl Nodes {
    pub fn new(template: Option<String>, overrides: BTreeMap<String, String>) -> Nodes {
        Nodes {
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
}
