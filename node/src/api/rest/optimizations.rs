//! `GET /collections/{name}/optimizations`: this node's background work on the collection.
//! A shard here is one segment; its only optimization is adding points to the HNSW graph,
//! reported as running while points wait for it, the segment idle otherwise.

use super::error::ApiResult;
use super::extract::{blocking, ok, Timer, P, Q};
use super::AppState;
use crate::collection::Collection;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};
use std::hash::{Hash, Hasher};

#[derive(Debug, Default, Deserialize)]
pub struct Params {
    /// Comma-separated: queued, completed, idle_segments.
    with: Option<String>,
}

/// A stable id for the segment of `shard` of `collection`.
fn segment_uuid(collection: &str, shard: u32) -> String {
    let half = |salt: u8| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (salt, collection, shard).hash(&mut h);
        h.finish()
    };
    let bits = (u128::from(half(0)) << 64) | u128::from(half(1));
    uuid::Builder::from_random_bytes(bits.to_be_bytes())
        .into_uuid()
        .to_string()
}

fn report(c: &Collection, with: &[&str]) -> Value {
    let mut running = Vec::new();
    let mut idle = Vec::new();
    let mut shards = c.local_shards();
    shards.sort_by_key(|s| s.id);
    for s in shards {
        let seg = s.segment();
        let info = json!({"uuid": segment_uuid(&c.name, s.id), "points_count": seg.len()});
        let pending = seg.pending_index();
        if pending == 0 {
            idle.push(info);
            continue;
        }
        let indexed = seg.indexed_vectors();
        running.push(json!({
            "uuid": segment_uuid(&c.name, s.id),
            "optimizer": "indexing",
            "status": "optimizing",
            "segments": [info],
            "progress": {"name": "hnsw_index", "done": indexed, "total": indexed + pending},
        }));
    }
    let mut out = json!({
        "summary": {
            "queued_optimizations": 0,
            "queued_segments": 0,
            "queued_points": 0,
            "idle_segments": idle.len(),
        },
        "running": running,
    });
    if with.contains(&"queued") {
        out["queued"] = json!([]);
    }
    if with.contains(&"completed") {
        out["completed"] = json!([]);
    }
    if with.contains(&"idle_segments") {
        out["idle_segments"] = Value::Array(idle);
    }
    out
}

pub async fn get(
    t: Timer,
    State(s): State<AppState>,
    P(name): P<String>,
    Q(q): Q<Params>,
) -> ApiResult<Response> {
    let c = s.registry.get(&name)?;
    let with = q.with.unwrap_or_default();
    let body = blocking(move || {
        let with: Vec<&str> = with.split(',').map(str::trim).collect();
        Ok(report(&c, &with))
    })
    .await?;
    Ok(ok(t, body))
}
