//! Deterministic points and the REST calls the sharding and transfer tests share: upsert,
//! count, scroll every page, retrieve, and a collection's replicas as one peer sees them.

use crate::Node;
use anyhow::Result;
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub const DIM: usize = 8;

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

pub fn create(node: &Node, name: &str, body: Value) -> Result<()> {
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

pub fn upsert(node: &Node, name: &str, ids: std::ops::Range<u64>) -> Result<(u16, Value)> {
    node.http().put(
        &format!("/collections/{name}/points?wait=true"),
        &points(ids),
    )
}

pub fn post(node: &Node, path: &str, body: Value) -> Value {
    let (code, reply) = node.http().post(path, &body).expect("request");
    assert_eq!(code, 200, "{path}: {reply}");
    reply["result"].clone()
}

pub fn count(node: &Node, name: &str) -> u64 {
    post(
        node,
        &format!("/collections/{name}/points/count"),
        json!({"exact": true}),
    )["count"]
        .as_u64()
        .expect("count")
}

pub fn cluster_info(node: &Node, name: &str) -> Value {
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
pub fn scroll_ids(node: &Node, name: &str) -> Vec<Value> {
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

pub fn retrieve_all(node: &Node, name: &str, n: u64, consistency: &str) -> usize {
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
