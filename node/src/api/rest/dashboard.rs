//! `/dashboard`: a web page built into the binary (`node/dashboard/`), and the one call it
//! needs beyond Qdrant's API, `GET /dashboard/api/cluster`: every replica of every shard with
//! its state and points (each peer asked for its own), peers, the leader, transfers.

use super::error::ApiResult;
use super::extract::{ok, Timer};
use super::AppState;
use crate::cluster::remote::Peer;
use crate::collection::local_read::{ReadReply, ReadRequest};
use crate::collection::Collection;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::future::join_all;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// How long a peer may take to count its replicas.
const COUNT_TIMEOUT: Duration = Duration::from_secs(2);

const FILES: [(&str, &str, &str); 3] = [
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../../../dashboard/index.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../dashboard/app.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../../../dashboard/app.css"),
    ),
];

fn file(name: &str) -> Response {
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, mime, body)) => (
            [
                (header::CONTENT_TYPE, *mime),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such dashboard file").into_response(),
    }
}

pub async fn index() -> Response {
    file("index.html")
}

pub async fn asset(Path(name): Path<String>) -> Response {
    file(&name)
}

/// Points in one replica: counted here for local replicas, asked of the peer otherwise;
/// None when the peer does not answer.
async fn count(s: &AppState, c: &Collection, shard: u32, peer: u64) -> Option<usize> {
    if peer == c.local_peer {
        return c.local_points(shard);
    }
    let uri = s.router.uri(peer).ok()?;
    let req = ReadRequest::Count { filter: None };
    let to = Peer {
        id: peer,
        uri: &uri,
    };
    let remote = s.router.remote();
    match remote
        .read(to, &c.name, &[shard], &req, 0, COUNT_TIMEOUT)
        .await
    {
        Ok(ReadReply::Count(n)) => Some(n),
        _ => None,
    }
}

async fn collection(s: &AppState, c: Arc<Collection>) -> Value {
    let layout = c.layout();
    let asks: Vec<(u32, u64)> = layout
        .replicas
        .iter()
        .flat_map(|(shard, replicas)| replicas.keys().map(move |peer| (*shard, *peer)))
        .collect();
    let found = join_all(asks.iter().map(|(sh, p)| count(s, &c, *sh, *p))).await;
    let counts: BTreeMap<(u32, u64), Option<usize>> = asks.into_iter().zip(found).collect();
    let shards: Vec<Value> = layout
        .replicas
        .iter()
        .map(|(shard, replicas)| {
            let replicas: Vec<Value> = replicas
                .iter()
                .map(|(peer, state)| {
                    json!({"peer_id": peer, "state": state,
                           "points_count": counts.get(&(*shard, *peer)).copied().flatten()})
                })
                .collect();
            json!({"shard_id": shard, "shard_key": layout.key_of(*shard), "replicas": replicas})
        })
        .collect();
    let (progress, me) = (s.router.progress(), s.router.local_peer());
    let transfers: Vec<Value> = layout
        .transfers
        .iter()
        .map(|t| {
            // The source's count (reported to every peer about once a second); without it
            // the target's points over the source's tell it approximately.
            let exact = progress.get(&t.key(&c.name), t.from, me);
            let target_shard = t.to_shard_id.unwrap_or(t.shard_id);
            let of = |sh, p| counts.get(&(sh, p)).copied().flatten();
            let (done, total) = match exact {
                Some((d, n)) => (Some(d), Some(n)),
                None => (of(target_shard, t.to), of(t.shard_id, t.from)),
            };
            json!({"shard_id": t.shard_id, "to_shard_id": t.to_shard_id, "from": t.from,
                   "to": t.to, "method": t.method, "copied": t.done, "exact": exact.is_some(),
                   "done": done, "total": total})
        })
        .collect();
    let resharding = layout.resharding.as_ref().map(|r| {
        json!({"direction": r.direction, "shard_id": r.shard_id, "peer_id": r.peer_id,
               "shard_key": r.key})
    });
    json!({"name": c.name, "shards": shards, "transfers": transfers, "resharding": resharding})
}

pub async fn cluster(t: Timer, State(s): State<AppState>) -> ApiResult<Response> {
    let mut all = s.registry.all();
    all.sort_by(|a, b| a.name.cmp(&b.name));
    let collections = join_all(all.into_iter().map(|c| collection(&s, c))).await;
    let me = s.router.local_peer();
    let (peers, leader) = match &s.consensus {
        Some(cs) => {
            let peers: Vec<Value> = cs
                .peers()
                .into_iter()
                .map(|(id, uri)| json!({"id": id, "uri": uri}))
                .collect();
            (peers, cs.leader())
        }
        None => (vec![json!({"id": me, "uri": null})], None),
    };
    let body = json!({
        "peer_id": me,
        "cluster_enabled": s.consensus.is_some(),
        "leader": leader,
        "peers": peers,
        "collections": collections,
    });
    Ok(ok(t, body))
}
