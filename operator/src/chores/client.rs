//! The one client of a data node's REST API that every chore uses: cluster membership,
//! collection layouts, cluster operations and peer removal.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("{url}: {source}")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{url}: HTTP {status}: {message}")]
    Refused {
        url: String,
        status: u16,
        message: String,
    },
}

/// One replica of a shard as a node reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replica {
    pub shard: u32,
    pub peer: u64,
    pub state: String,
}

/// A collection's shards as one node sees them.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// Every shard id: `0..shard_count`, or with custom sharding those the replicas name.
    pub shards: Vec<u32>,
    pub replicas: Vec<Replica>,
    pub transfers: usize,
    /// `(shard, to)` of each running transfer.
    pub moving: Vec<(u32, u64)>,
    /// `(shard, to, points copied, points to copy)` of the running transfers whose progress
    /// the node reports (the transfer's source peer does, in the transfer's `comment`).
    pub copied: Vec<(u32, u64, u64, u64)>,
}

/// Points copied and to copy, from a transfer comment "transferred 400/1000 points".
fn copied(comment: &str) -> Option<(u64, u64)> {
    let counts = comment
        .strip_prefix("transferred ")?
        .split_whitespace()
        .next()?;
    let (done, total) = counts.split_once('/')?;
    Some((done.parse().ok()?, total.parse().ok()?))
}

/// A peer as the node sees it: uri and consecutive failed sends to it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Peer {
    pub uri: String,
    pub send_failures: u64,
}

#[derive(Debug, Clone)]
pub struct NodeClient {
    base: String,
    api_key: Option<String>,
    http: reqwest::Client,
}

/// What one node says about the Raft cluster (`GET /cluster`).
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterView {
    pub peer_id: u64,
    pub leader: Option<u64>,
    pub role: Option<String>,
    pub peers: BTreeMap<u64, Peer>,
}

impl NodeClient {
    /// A client whose calls may take up to a minute (cluster operations).
    pub fn new(url: &str, api_key: Option<String>) -> NodeClient {
        NodeClient::with_timeout(url, api_key, Duration::from_secs(60))
    }

    pub fn with_timeout(url: &str, api_key: Option<String>, timeout: Duration) -> NodeClient {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(3))
            .build()
            .unwrap_or_default();
        NodeClient {
            base: url.trim_end_matches('/').to_string(),
            api_key,
            http,
        }
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, NodeError> {
        let url = format!("{}{path}", self.base);
        let mut rb = self.http.request(method, &url);
        if let Some(k) = &self.api_key {
            rb = rb.header("api-key", k);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let unreachable = |source| NodeError::Unreachable {
            url: url.clone(),
            source,
        };
        let resp = rb.send().await.map_err(unreachable)?;
        let status = resp.status().as_u16();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        if !(200..300).contains(&status) {
            let message = v["status"]["error"]
                .as_str()
                .unwrap_or("no error message")
                .to_string();
            return Err(NodeError::Refused {
                url,
                status,
                message,
            });
        }
        Ok(v["result"].clone())
    }

    /// This node's peer id and every member with its send-failure count ((0, none) when
    /// cluster mode is off).
    pub async fn cluster(&self) -> Result<(u64, BTreeMap<u64, Peer>), NodeError> {
        Ok(self
            .view()
            .await?
            .map(|v| (v.peer_id, v.peers))
            .unwrap_or_default())
    }

    /// The node's view of the Raft cluster; `Ok(None)` when cluster mode is off.
    pub async fn view(&self) -> Result<Option<ClusterView>, NodeError> {
        let r = self.call(reqwest::Method::GET, "/cluster", None).await?;
        if r["status"] != "enabled" {
            return Ok(None);
        }
        let failures = &r["message_send_failures"];
        let peers = r["peers"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(id, p)| {
                let uri = p["uri"].as_str().unwrap_or("").to_string();
                let send_failures = failures[uri.as_str()]["count"].as_u64().unwrap_or(0);
                Some((id.parse().ok()?, Peer { uri, send_failures }))
            })
            .collect();
        Ok(r["peer_id"].as_u64().map(|peer_id| ClusterView {
            peer_id,
            leader: r["raft_info"]["leader"].as_u64(),
            role: r["raft_info"]["role"].as_str().map(String::from),
            peers,
        }))
    }

    /// Peers the node's health checks see down (`GET /cluster/unreachable`, ours).
    pub async fn unreachable(&self) -> Result<Vec<u64>, NodeError> {
        let r = self
            .call(reqwest::Method::GET, "/cluster/unreachable", None)
            .await?;
        Ok(r["peers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p.as_u64())
            .collect())
    }

    /// Restores a collection's lost shards from a snapshot at `location` (http:// or file://).
    pub async fn recover_snapshot(&self, name: &str, location: &str) -> Result<(), NodeError> {
        let path = format!("/collections/{name}/snapshots/recover");
        let body = json!({"location": location});
        self.call(reqwest::Method::PUT, &path, Some(body))
            .await
            .map(|_| ())
    }

    pub async fn collections(&self) -> Result<Vec<String>, NodeError> {
        let r = self
            .call(reqwest::Method::GET, "/collections", None)
            .await?;
        Ok(r["collections"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["name"].as_str().map(str::to_string))
            .collect())
    }

    /// `replication_factor` of a collection.
    pub async fn replication_factor(&self, name: &str) -> Result<u32, NodeError> {
        let r = self
            .call(reqwest::Method::GET, &format!("/collections/{name}"), None)
            .await?;
        Ok(r["config"]["params"]["replication_factor"]
            .as_u64()
            .unwrap_or(1) as u32)
    }

    /// `GET /collections/{name}/cluster` as the node answers it.
    pub async fn cluster_info(&self, name: &str) -> Result<Value, NodeError> {
        let path = format!("/collections/{name}/cluster");
        self.call(reqwest::Method::GET, &path, None).await
    }

    pub async fn shard_number(&self, name: &str) -> Result<u32, NodeError> {
        let r = self
            .call(reqwest::Method::GET, &format!("/collections/{name}"), None)
            .await?;
        Ok(r["config"]["params"]["shard_number"].as_u64().unwrap_or(1) as u32)
    }

    pub async fn layout(&self, name: &str) -> Result<Layout, NodeError> {
        let path = format!("/collections/{name}/cluster");
        let r = self.call(reqwest::Method::GET, &path, None).await?;
        let me = r["peer_id"].as_u64().unwrap_or(0);
        let mut replicas = Vec::new();
        let mut keyed = false;
        for s in r["local_shards"].as_array().into_iter().flatten() {
            keyed |= s.get("shard_key").is_some();
            replicas.push(replica(s, Some(me)));
        }
        for s in r["remote_shards"].as_array().into_iter().flatten() {
            keyed |= s.get("shard_key").is_some();
            replicas.push(replica(s, None));
        }
        let mut shards: Vec<u32> = if keyed {
            replicas.iter().map(|r| r.shard).collect()
        } else {
            (0..r["shard_count"].as_u64().unwrap_or(0) as u32).collect()
        };
        shards.sort_unstable();
        shards.dedup();
        let transfers = r["shard_transfers"].as_array().cloned().unwrap_or_default();
        let moving = transfers
            .iter()
            .map(|t| {
                (
                    t["shard_id"].as_u64().unwrap_or(0) as u32,
                    t["to"].as_u64().unwrap_or(0),
                )
            })
            .collect();
        let copied = transfers
            .iter()
            .filter_map(|t| {
                let (done, total) = copied(t["comment"].as_str()?)?;
                let shard = t["shard_id"].as_u64()? as u32;
                Some((shard, t["to"].as_u64()?, done, total))
            })
            .collect();
        Ok(Layout {
            shards,
            replicas,
            transfers: transfers.len(),
            moving,
            copied,
        })
    }

    /// `POST /collections/{name}/cluster` with one operation.
    pub async fn operate(&self, name: &str, op: Value) -> Result<(), NodeError> {
        let path = format!("/collections/{name}/cluster");
        self.call(reqwest::Method::POST, &path, Some(op))
            .await
            .map(|_| ())
    }

    pub async fn transfer(
        &self,
        name: &str,
        kind: &str,
        shard: u32,
        from: u64,
        to: u64,
    ) -> Result<(), NodeError> {
        let body = json!({ kind: {"shard_id": shard, "from_peer_id": from, "to_peer_id": to} });
        self.operate(name, body).await
    }

    pub async fn remove_peer(&self, peer: u64, force: bool) -> Result<(), NodeError> {
        let path = format!("/cluster/peer/{peer}?force={force}&timeout=30");
        self.call(reqwest::Method::DELETE, &path, None)
            .await
            .map(|_| ())
    }
}

fn replica(s: &Value, peer: Option<u64>) -> Replica {
    Replica {
        shard: s["shard_id"].as_u64().unwrap_or(0) as u32,
        peer: peer.or_else(|| s["peer_id"].as_u64()).unwrap_or(0),
        state: s["state"].as_str().unwrap_or("").to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn transfer_comment_counts() {
        assert_eq!(
            super::copied("transferred 400/1000 points"),
            Some((400, 1000))
        );
        assert_eq!(
            super::copied("copied; forwarding writes until the switch"),
            None
        );
        assert_eq!(super::copied("transferred x/1000 points"), None);
    }
}
