//! `GET /cluster/telemetry`: the whole cluster seen from this node: every collection's shards
//! and replicas (points counted for the replicas held here), transfers under way, and every
//! peer's consensus state as that peer reports it (asked over the p2p port).

use super::error::ApiResult;
use super::extract::{blocking, ok, Timer};
use super::service::VERSION;
use super::AppState;
use crate::collection::Collection;
use axum::extract::State;
use axum::response::Response;
use futures::future::join_all;
use serde_json::{json, Map, Value};
use std::time::Duration;

/// How long a peer may take to report before it counts as unresponsive.
const PEER_TIMEOUT: Duration = Duration::from_secs(2);

fn collection(c: &Collection) -> Value {
    let layout = c.layout();
    let shards: Vec<Value> = layout
        .replicas
        .iter()
        .map(|(id, replicas)| {
            let replicas: Vec<Value> = replicas
                .iter()
                .map(|(peer, state)| {
                    let mut r = json!({"peer_id": peer, "state": state});
                    if *peer == c.local_peer {
                        if let Some(n) = c.local_points(*id) {
                            r["num_points"] = json!(n);
                        }
                    }
                    r
                })
                .collect();
            json!({"id": id, "replicas": replicas})
        })
        .collect();
    let transfers: Vec<Value> = layout
        .transfers
        .iter()
        .map(|t| json!({"shard_id": t.shard_id, "from": t.from, "to": t.to, "sync": t.sync, "method": t.method}))
        .collect();
    json!({"id": c.name, "shards": shards, "shard_transfers": transfers})
}

/// `DistributedPeerDetails` from a peer's `GET /cluster` body.
fn details(status: &Value) -> Value {
    let raft = &status["raft_info"];
    json!({
        "version": VERSION,
        "role": raft["role"],
        "is_voter": raft["is_voter"],
        "term": raft["term"],
        "commit": raft["commit"],
        "num_pending_operations": raft["pending_operations"],
        "consensus_thread_status": status["consensus_thread_status"],
    })
}

pub async fn get(t: Timer, State(s): State<AppState>) -> ApiResult<Response> {
    let registry = s.registry.clone();
    let collections = blocking(move || {
        let mut all = registry.all();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all
            .iter()
            .map(|c| (c.name.clone(), collection(c)))
            .collect::<Map<String, Value>>())
    })
    .await?;
    let Some(consensus) = &s.consensus else {
        return Ok(ok(
            t,
            json!({"collections": collections, "cluster": {"enabled": false, "peers": {}}}),
        ));
    };
    let mine = consensus.status();
    let me = consensus.id();
    let peers: Vec<(u64, String)> = mine["peers"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(id, p)| Some((id.parse().ok()?, p["uri"].as_str()?.to_string())))
        .collect();
    let asks = peers.iter().map(|(id, uri)| {
        let (remote, mine) = (s.router.remote(), &mine);
        async move {
            let status = match *id == me {
                true => Some(mine.clone()),
                false => remote.status(*id, uri, PEER_TIMEOUT).await.ok(),
            };
            let mut info = json!({"uri": uri, "responsive": status.is_some()});
            if let Some(st) = status {
                info["details"] = details(&st);
            }
            (id.to_string(), info)
        }
    });
    let peers: Map<String, Value> = join_all(asks).await.into_iter().collect();
    let cluster = json!({"enabled": true, "number_of_peers": peers.len(), "peers": peers});
    Ok(ok(
        t,
        json!({"collections": collections, "cluster": cluster}),
    ))
}
