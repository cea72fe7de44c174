//! Deterministic points and the REST calls the sharding and transfer tests share: upsert,
//! count, scroll every page, retrieve, and a collection's replicas as one peer sees them.

use crate::{Cluster, Http, Node};
use anyhow::Result;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub const DIM: usize = 8;

/// What the helpers send requests to: a test node, or any node's client.
pub trait Target {
    fn http(&self) -> Http;
}

impl Target for Node {
    fn http(&self) -> Http {
        Node::http(self)
    }
}

impl Target for Http {
    fn http(&self) -> Http {
        self.clone()
    }
}

/// Point id `i`: numeric below 9500, a UUID above (both kinds are routed).
pub fn pid(i: u64) -> Value {
    if i < 9500 {
        json!(i)
    } else {
        json!(format!("00000000-0000-4000-8000-{i:012x}"))
    }
}

pub fn vector(i: u64) -> Vec<f32> {
    let mut x = i
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..DIM)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((x >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        })
        .collect()
}

pub fn points(ids: std::ops::Range<u64>) -> Value {
    let pts: Vec<Value> = ids
        .map(|i| json!({"id": pid(i), "vector": vector(i), "payload": {"i": i, "g": i % 7}}))
        .collect();
    json!({ "points": pts })
}

pub fn create(node: &impl Target, name: &str, body: Value) -> Result<()> {
    let (code, reply) = node.http().put(&format!("/collections/{name}"), &body)?;
    assert_eq!(code, 200, "{reply}");
    Ok(())
}

pub fn sharded(shards: u32, rf: u32, wcf: u32) -> Value {
    json!({
        "vectors": {"size": DIM, "distance": "Cosine"},
        "shard_number": shards, "replication_factor": rf, "write_consistency_factor": wcf,
    })
}

pub fn upsert(node: &impl Target, name: &str, ids: std::ops::Range<u64>) -> Result<(u16, Value)> {
    node.http().put(
        &format!("/collections/{name}/points?wait=true"),
        &points(ids),
    )
}

pub fn post(node: &impl Target, path: &str, body: Value) -> Value {
    let (code, reply) = node.http().post(path, &body).expect("request");
    assert_eq!(code, 200, "{path}: {reply}");
    reply["result"].clone()
}

pub fn count(node: &impl Target, name: &str) -> u64 {
    post(
        node,
        &format!("/collections/{name}/points/count"),
        json!({"exact": true}),
    )["count"]
        .as_u64()
        .expect("count")
}

pub fn cluster_info(node: &impl Target, name: &str) -> Value {
    let (code, reply) = node
        .http()
        .get(&format!("/collections/{name}/cluster"))
        .expect("cluster info");
    assert_eq!(code, 200, "{reply}");
    reply["result"].clone()
}

/// (shard, peer) -> state, from one peer's view.
pub fn replicas(info: &Value) -> BTreeMap<(u64, u64), String> {
    let me = info["peer_id"].as_u64().unwrap_or(0);
    let mut out = BTreeMap::new();
    for s in info["local_shards"].as_array().into_iter().flatten() {
        let state = s["state"].as_str().unwrap_or("").to_string();
        out.insert((s["shard_id"].as_u64().unwrap_or(0), me), state);
    }
    for s in info["remote_shards"].as_array().into_iter().flatten() {
        let key = (
            s["shard_id"].as_u64().unwrap_or(0),
            s["peer_id"].as_u64().unwrap_or(0),
        );
        out.insert(key, s["state"].as_str().unwrap_or("").to_string());
    }
    out
}

/// Every id in the collection, paging through scroll.
pub fn scroll_ids(node: &impl Target, name: &str) -> Vec<Value> {
    let mut ids = Vec::new();
    let mut offset = Value::Null;
    loop {
        let page = post(
            node,
            &format!("/collections/{name}/points/scroll"),
            json!({"limit": 1000, "offset": offset, "with_payload": false}),
        );
        ids.extend(
            page["points"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["id"].clone()),
        );
        offset = page["next_page_offset"].clone();
        if offset.is_null() {
            return ids;
        }
    }
}

pub fn all_ids(n: u64) -> Vec<Value> {
    (0..n).map(pid).collect()
}

pub fn retrieve_all(node: &impl Target, name: &str, n: u64, consistency: &str) -> usize {
    let body = json!({"ids": all_ids(n), "with_payload": false});
    let path = format!("/collections/{name}/points?consistency={consistency}");
    post(node, &path, body)
        .as_array()
        .map(Vec::len)
        .unwrap_or(0)
}

/// A query result without the points' `version` (a replica's own operation number, which
/// differs between a replica filled by a transfer and one that saw each write).
pub fn without_versions(mut v: Value) -> Value {
    for p in v["points"].as_array_mut().into_iter().flatten() {
        if let Some(m) = p.as_object_mut() {
            m.remove("version");
        }
    }
    v
}

/// Upserts batches of 20 new points through the given nodes in turn until stopped,
/// retrying a batch until it is acknowledged; returns the acknowledged id range's end.
pub struct Writer {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<(u64, usize)>,
}

impl Writer {
    pub fn start(urls: Vec<String>, name: &str, first: u64) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, name) = (stop.clone(), name.to_string());
        let handle = std::thread::spawn(move || {
            let (mut next, mut retries) = (first, 0);
            let mut turn = 0;
            let client = Http::new("");
            while !flag.load(Ordering::Relaxed) {
                let http = client.rebase(&urls[turn % urls.len()]);
                turn += 1;
                let path = format!("/collections/{name}/points?wait=true");
                match http.put(&path, &points(next..next + 20)) {
                    Ok((200, _)) => next += 20,
                    _ => retries += 1,
                }
            }
            (next, retries)
        });
        Writer { stop, handle }
    }

    /// Stops the writer; returns the end of the acknowledged ids and the retries it needed.
    pub fn finish(self) -> (u64, usize) {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().expect("writer thread")
    }
}

/// Every id in `0..base` and `first..end` through every running peer, and searches equal a
/// single node holding the same points.
pub fn check_all(c: &Cluster, name: &str, base: u64, first: u64, end: u64) -> Result<()> {
    let peers: Vec<&Node> = c.running().into_iter().map(|i| &c.nodes[i]).collect();
    check_peers(&peers, name, base, first, end)
}

/// `check_all` through the given peers.
pub fn check_peers(
    peers: &[&impl Target],
    name: &str,
    base: u64,
    first: u64,
    end: u64,
) -> Result<()> {
    let want = base + (end - first);
    let reference = Node::start()?;
    create(&reference, name, sharded(1, 1, 1))?;
    for (lo, hi) in [(0, base), (first, end)] {
        for start in (lo..hi).step_by(1000) {
            let (code, body) = upsert(&reference, name, start..(start + 1000).min(hi))?;
            assert_eq!(code, 200, "{body}");
        }
    }
    for (i, n) in peers.iter().enumerate() {
        assert_eq!(count(*n, name), want, "count through peer {i}");
        assert_eq!(
            scroll_ids(*n, name).len() as u64,
            want,
            "scroll through peer {i}"
        );
        for q in 0..5 {
            let body = json!({"query": vector(900_000 + q), "limit": 10, "with_payload": true});
            let path = format!("/collections/{name}/points/query");
            let got = without_versions(post(*n, &path, body.clone()));
            assert_eq!(got, without_versions(post(&reference, &path, body)));
        }
    }
    Ok(())
}

pub fn load(node: &impl Target, name: &str, n: u64) -> Result<()> {
    for start in (0..n).step_by(1000) {
        let (code, body) = upsert(node, name, start..(start + 1000).min(n))?;
        assert_eq!(code, 200, "{body}");
    }
    Ok(())
}

/// States of `peer`'s replicas of `name`, as node `n` sees them.
pub fn states_of(n: &impl Target, name: &str, peer: u64) -> Vec<String> {
    replicas(&cluster_info(n, name))
        .into_iter()
        .filter(|((_, p), _)| *p == peer)
        .map(|(_, s)| s)
        .collect()
}

/// `peers` peers with collection `c` (`sharded(shards, rf, wcf)`) holding points `0..n`.
pub fn sharded_cluster(peers: usize, shards: u32, rf: u32, wcf: u32, n: u64) -> Result<Cluster> {
    let c = Cluster::start(peers)?;
    create(&c.nodes[0], "c", sharded(shards, rf, wcf))?;
    load(&c.nodes[0], "c", n)?;
    Ok(c)
}
