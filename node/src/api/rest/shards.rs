//! `GET /collections/{name}/cluster`: where the collection's shards live, seen from this peer.

use super::error::ApiResult;
use super::extract::{blocking, ok, Timer, P};
use super::AppState;
use axum::extract::State;
use axum::response::Response;
use serde_json::{json, Value};

pub async fn collection_cluster(
    t: Timer,
    State(s): State<AppState>,
    P(name): P<String>,
) -> ApiResult<Response> {
    let c = s.registry.get(&name)?;
    let me = c.local_peer;
    let layout = c.layout();
    let progress = s.router.progress().clone();
    let name = c.name.clone();
    let info = blocking(move || {
        let mut local = Vec::new();
        let mut remote = Vec::new();
        for (shard, replicas) in &layout.replicas {
            for (peer, state) in replicas {
                if *peer == me {
                    let points = c
                        .local_shard(*shard)
                        .map(|s| s.segment().len())
                        .unwrap_or(0);
                    local.push(json!({"shard_id": shard, "points_count": points, "state": state}));
                } else {
                    remote.push(json!({"shard_id": shard, "peer_id": peer, "state": state}));
                }
            }
        }
        let transfers: Vec<Value> = layout
            .transfers
            .iter()
            .map(|tr| {
                let mut v = json!({
                    "shard_id": tr.shard_id, "from": tr.from, "to": tr.to,
                    "sync": tr.sync, "method": tr.method,
                });
                if let Some((done, total)) = progress.get(&(name.clone(), tr.shard_id)) {
                    v["comment"] = json!(format!("transferred {done}/{total} points"));
                }
                v
            })
            .collect();
        Ok(json!({
            "peer_id": me,
            "shard_count": c.shard_number(),
            "local_shards": local,
            "remote_shards": remote,
            "shard_transfers": transfers,
        }))
    })
    .await?;
    Ok(ok(t, info))
}
