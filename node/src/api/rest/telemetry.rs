//! `GET /telemetry` in Qdrant's shape: `details_level` 0 gives the app, the number of
//! collections, whether cluster mode is on and the REST responses per route; 1 adds the
//! system, memory and each collection's parameters; 2 the cluster's config and Raft status;
//! 3 each collection's config, shards, replica states and transfers. `anonymize` replaces
//! names by hashes. gRPC answers are counted by method path and status code.

use super::extract::{ok, Timer, Q};
use super::AppState;
use crate::api::responses::{ResponseMetrics as Metrics, Stat};
use crate::collection::Collection;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::time::{Duration, SystemTime};

#[derive(Debug, Default, Deserialize)]
pub struct TelemetryParams {
    details_level: Option<usize>,
    #[serde(default)]
    anonymize: bool,
    // `per_collection` and `timeout` are accepted and ignored (answers are immediate and
    // responses are not broken down per collection).
}

fn rfc3339(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A name, or its hash when anonymizing.
fn name(s: &str, anonymize: bool) -> String {
    if !anonymize {
        return s.to_string();
    }
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    s.hash(&mut h);
    format!("{:016x}", h.finish())
}

fn micros(secs: f64) -> f64 {
    (secs * 1e6).round()
}

/// `{"METHOD /route": {"status": statistics}}` (gRPC: `{"/qdrant.Points/Upsert": …}`).
fn responses(metrics: &Metrics) -> Value {
    let mut out: Map<String, Value> = Map::new();
    for ((method, route, status), st) in metrics.stats() {
        let Stat {
            count,
            total_secs,
            min_secs,
            max_secs,
            last,
        } = st;
        let entry = out
            .entry(format!("{method} {route}").trim_start().to_string())
            .or_insert_with(|| json!({}));
        entry[status.to_string()] = json!({
            "count": count,
            "avg_duration_micros": micros(total_secs / count.max(1) as f64),
            "min_duration_micros": micros(min_secs),
            "max_duration_micros": micros(max_secs),
            "total_duration_micros": micros(total_secs) as u64,
            "last_responded": rfc3339(last),
        });
    }
    Value::Object(out)
}

fn ram_size() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn system() -> Value {
    json!({
        "distribution": std::env::consts::OS,
        "is_docker": std::path::Path::new("/.dockerenv").exists(),
        "cores": std::thread::available_parallelism().map(|n| n.get()).ok(),
        "ram_size": ram_size(),
        "cpu_flags": "",
        "cpu_endian": if cfg!(target_endian = "little") { "little" } else { "big" },
    })
}

/// One collection: its parameters (level 1-2), or its config and shards (level 3).
fn collection(c: &Collection, level: usize, anonymize: bool) -> Value {
    let config = c.config();
    let vectors: usize = c
        .local_shards()
        .iter()
        .map(|s| s.segment().count(None))
        .sum();
    if level < 3 {
        return json!({"vectors": vectors, "optimizers_status": "ok", "params": config.params});
    }
    let layout = c.layout();
    let me = c.local_peer;
    let local: std::collections::BTreeMap<u32, usize> = c
        .local_shards()
        .iter()
        .map(|s| (s.id, s.segment().count(None)))
        .collect();
    let shards: Vec<Value> = layout
        .replicas
        .iter()
        .map(|(id, replicas)| {
            let states: Map<String, Value> = replicas
                .iter()
                .map(|(p, st)| (p.to_string(), json!(format!("{st:?}"))))
                .collect();
            let remote: Vec<Value> = replicas
                .iter()
                .filter(|(p, _)| **p != me)
                .map(|(p, st)| json!({"shard_id": id, "peer_id": p, "state": format!("{st:?}")}))
                .collect();
            let local = local.get(id).map(|n| {
                json!({"variant_name": "local shard", "status": "green", "num_points": n, "num_vectors": n})
            });
            json!({"id": id, "key": null, "local": local, "remote": remote, "replicate_states": states})
        })
        .collect();
    json!({
        "id": name(&c.name, anonymize),
        "config": config,
        "shards": shards,
        "transfers": layout.transfers,
        "resharding": [],
    })
}

fn cluster(s: &AppState, level: usize) -> Value {
    let mut out = json!({"enabled": s.consensus.is_some(), "resharding_enabled": false});
    let Some(cs) = &s.consensus else { return out };
    if level >= 2 {
        let st = cs.status();
        let raft = &st["raft_info"];
        out["status"] = json!({
            "number_of_peers": st["peers"].as_object().map_or(0, Map::len),
            "term": raft["term"],
            "commit": raft["commit"],
            "pending_operations": raft["pending_operations"],
            "role": raft["role"],
            "is_voter": raft["is_voter"],
            "peer_id": st["peer_id"],
            "consensus_thread_status": st["consensus_thread_status"],
        });
        let set = cs.settings();
        out["config"] = json!({
            "consensus": {"tick_period_ms": set.tick_period_ms},
        });
    }
    out
}

pub async fn get(t: Timer, State(s): State<AppState>, Q(q): Q<TelemetryParams>) -> Response {
    let level = q.details_level.unwrap_or(0);
    let anon = q.anonymize;
    let startup = SystemTime::now()
        .checked_sub(s.started.elapsed())
        .unwrap_or(SystemTime::UNIX_EPOCH + Duration::ZERO);
    let mut app = json!({
        "name": "qdrant-node",
        "version": super::service::VERSION,
        "startup": rfc3339(startup),
    });
    let all = s.registry.all();
    let mut collections = json!({"number_of_collections": all.len()});
    let mut out = json!({
        "id": name(&s.node_id, anon),
        "cluster": cluster(&s, level),
        "requests": {
            "rest": {"responses": responses(&s.metrics)},
            "grpc": {"responses": responses(&s.grpc_metrics)},
        },
    });
    if level >= 1 {
        app["features"] = json!({"debug": cfg!(debug_assertions), "rocksdb": true, "gpu": false});
        app["system"] = system();
        collections["collections"] = all.iter().map(|c| collection(c, level, anon)).collect();
        collections["snapshots"] = json!([]);
        let rss = crate::api::process::resident_bytes();
        out["memory"] = json!({
            "active_bytes": rss, "allocated_bytes": rss, "metadata_bytes": 0,
            "resident_bytes": rss, "retained_bytes": 0,
        });
    }
    out["app"] = app;
    out["collections"] = collections;
    let quota = s.registry.quota();
    out["quota"] = json!({"config": quota.config(), "exceeded": quota.exceeded()});
    ok(t, out)
}
