//! A cluster of real nodes in cluster mode on loopback: the first peer forms the cluster,
//! the others join with `--bootstrap`. All ports are chosen by the OS (p2p port 0 on the
//! first start, then kept), and every wait polls `GET /cluster` with a deadline.

use crate::{wait_for, Node};
use anyhow::{bail, Result};
use serde_json::Value;
use std::time::Duration;

pub const CLUSTER_ENV: [(&str, &str); 2] = [
    ("QDRANT__CLUSTER__ENABLED", "true"),
    ("QDRANT__CLUSTER__P2P__PORT", "0"),
];

#[derive(Debug)]
pub struct Cluster {
    pub nodes: Vec<Node>,
    extra_env: Vec<(String, String)>,
}

impl Cluster {
    /// Starts `n` peers and waits until every one lists all `n` as voters with one leader.
    pub fn start(n: usize) -> Result<Cluster> {
        Cluster::start_with(n, &[])
    }

    pub fn start_with(n: usize, env: &[(&str, &str)]) -> Result<Cluster> {
        let mut c = Cluster {
            nodes: Vec::new(),
            extra_env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let first = c.env();
        let first: Vec<(&str, &str)> = first
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        c.nodes.push(Node::start_with(&first, &[])?);
        for _ in 1..n {
            c.add_peer(&[])?;
        }
        c.wait_converged(Duration::from_secs(60))?;
        Ok(c)
    }

    fn env(&self) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = CLUSTER_ENV
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        v.extend(self.extra_env.iter().cloned());
        v
    }

    /// The p2p uri of node `i`.
    pub fn p2p_uri(&self, i: usize) -> String {
        format!("http://{}", self.nodes[i].p2p.clone().unwrap_or_default())
    }

    /// Starts one more peer bootstrapping from the first running node; does not wait.
    pub fn add_peer(&mut self, extra_args: &[&str]) -> Result<usize> {
        let via = (0..self.nodes.len())
            .find(|i| self.nodes[*i].is_running())
            .map(|i| self.p2p_uri(i));
        let Some(via) = via else {
            bail!("no running node to bootstrap from")
        };
        let env = self.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut args = vec!["--bootstrap", via.as_str()];
        args.extend_from_slice(extra_args);
        self.nodes.push(Node::start_with(&env, &args)?);
        Ok(self.nodes.len() - 1)
    }

    /// `GET /cluster` result of node `i` (None when it does not answer).
    pub fn status(&self, i: usize) -> Option<Value> {
        let (code, body) = self.nodes[i].http().get("/cluster").ok()?;
        (code == 200).then(|| body["result"].clone())
    }

    pub fn peer_id(&self, i: usize) -> u64 {
        self.status(i)
            .and_then(|s| s["peer_id"].as_u64())
            .unwrap_or(0)
    }

    pub fn running(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|i| self.nodes[*i].is_running())
            .collect()
    }

    /// Waits until every running node lists the same voters (all running nodes), agrees on
    /// one leader and has applied the same log; returns the leader's peer id.
    pub fn wait_converged(&self, timeout: Duration) -> Result<u64> {
        let running = self.running();
        let r = self.converged(&running, timeout);
        if r.is_err() {
            for i in &running {
                eprintln!("node {i} /cluster: {:?}", self.status(*i));
                eprintln!("node {i} log tail:\n{}", tail(&self.nodes[*i].log(), 30));
            }
        }
        r
    }

    fn converged(&self, running: &[usize], timeout: Duration) -> Result<u64> {
        wait_for("cluster to converge", timeout, || {
            let statuses: Vec<Value> = running
                .iter()
                .map(|i| self.status(*i))
                .collect::<Option<_>>()?;
            let ids: Vec<u64> = statuses
                .iter()
                .map(|s| s["peer_id"].as_u64())
                .collect::<Option<_>>()?;
            let leader = statuses[0]["raft_info"]["leader"].as_u64()?;
            // Same applied index everywhere and nothing pending: no membership change is
            // half-way (a joint configuration), so any minority may now fail.
            let commit = statuses[0]["raft_info"]["commit"].as_u64()?;
            let settled = statuses.iter().all(|s| {
                s["raft_info"]["commit"].as_u64() == Some(commit)
                    && s["raft_info"]["pending_operations"].as_u64() == Some(0)
            });
            if !settled {
                return None;
            }
            let all_agree = statuses.iter().all(|s| {
                let peers = s["peers"].as_object().map(|p| p.len()).unwrap_or(0);
                s["raft_info"]["leader"].as_u64() == Some(leader)
                    && s["raft_info"]["is_voter"] == Value::Bool(true)
                    && peers == running.len()
                    && ids
                        .iter()
                        .all(|id| s["peers"].get(id.to_string()).is_some())
            });
            (all_agree && ids.contains(&leader)).then_some(leader)
        })
    }

    /// Index of the node whose peer id is `id`.
    pub fn index_of(&self, id: u64) -> Option<usize> {
        self.running().into_iter().find(|i| self.peer_id(*i) == id)
    }

    /// Index of the leader every running node agrees on (members may be down).
    pub fn leader(&self) -> Result<usize> {
        let running = self.running();
        wait_for("an agreed, running leader", Duration::from_secs(30), || {
            let leaders: Vec<u64> = running
                .iter()
                .map(|i| self.status(*i)?["raft_info"]["leader"].as_u64())
                .collect::<Option<_>>()?;
            let first = *leaders.first()?;
            if !leaders.iter().all(|l| *l == first) {
                return None;
            }
            self.index_of(first)
        })
    }

    /// Some running node that is not the leader.
    pub fn follower(&self) -> Result<usize> {
        let l = self.leader()?;
        self.running()
            .into_iter()
            .find(|i| *i != l)
            .ok_or_else(|| anyhow::anyhow!("no follower"))
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
