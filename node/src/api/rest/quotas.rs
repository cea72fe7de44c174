//! `GET /quotas` and `PUT /quotas`: the cluster-wide resource quotas (`crate::quota`), set
//! through consensus, with this node's readings and those of every peer that answers.

use super::cluster::{commit, CommitTimeout};
use super::error::{ApiError, ApiResult};
use super::extract::{ok, JsonBody, Timer, Q};
use super::AppState;
use crate::consensus::Command;
use crate::quota::QuotaConfig;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::time::Duration;

/// A peer's readings must come within this long to be listed.
const PEER_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn get(t: Timer, State(s): State<AppState>) -> ApiResult<Response> {
    let quota = s.registry.quota();
    let mut out = json!({"config": quota.config(), "usage": quota.usage()});
    if let Some(cs) = &s.consensus {
        let me = cs.id();
        let mut peers = Map::new();
        peers.insert(me.to_string(), json!(quota.peer_usage()));
        let others: Vec<(u64, String)> = cs.peers().into_iter().filter(|(p, _)| *p != me).collect();
        let asks = others
            .iter()
            .map(|(p, uri)| s.router.remote().quota(*p, uri, PEER_TIMEOUT));
        for ((p, _), r) in others.iter().zip(futures::future::join_all(asks).await) {
            if let Ok(Some(u)) = r {
                peers.insert(p.to_string(), json!(u));
            }
        }
        out["peers"] = Value::Object(peers);
    }
    Ok(ok(t, out))
}

/// `?wait` is accepted; the answer always comes once the change is committed (quick).
#[derive(Debug, Deserialize)]
pub struct SetQuery {
    #[serde(default)]
    pub wait: Option<bool>,
    pub timeout: Option<u64>,
}

pub async fn put(
    t: Timer,
    State(s): State<AppState>,
    Q(q): Q<SetQuery>,
    JsonBody(config): JsonBody<QuotaConfig>,
) -> ApiResult<Response> {
    config
        .validate()
        .map_err(|m| ApiError::BadRequest(format!("Validation error in JSON body: [{m}]")))?;
    let timeout = CommitTimeout { timeout: q.timeout }.duration();
    commit(&s, Command::SetQuotas { config }, timeout).await?;
    Ok(ok(t, true))
}
