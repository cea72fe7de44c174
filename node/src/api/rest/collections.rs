//! Collections, aliases and payload indexes.

use super::cluster::{commit, CommitTimeout};
use super::error::{ApiError, ApiResult};
use super::extract::{blocking, ok, JsonBody, Timer, P, Q};
use super::AppState;
use crate::cluster::placement::place;
use crate::collection::config::{CollectionConfig, CreateCollection, UpdateCollection};
use crate::collection::instance::PayloadIndexInfo;
use crate::collection::registry::AliasActions;
use crate::collection::replicas::Layout;
use crate::collection::vector_config::VectorNameConfig;
use crate::consensus::{Command, ConsensusError};
use crate::segment::payload_index::FieldType;
use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub async fn list(t: Timer, State(s): State<AppState>) -> Response {
    let cols: Vec<Value> = s
        .registry
        .names()
        .into_iter()
        .map(|n| json!({"name": n}))
        .collect();
    ok(t, json!({"collections": cols}))
}

/// What `GET /collections/{name}` answers (and gRPC `Collections/Get`).
#[derive(Debug, Serialize)]
pub struct CollectionInfo {
    pub status: &'static str,
    pub optimizer_status: &'static str,
    pub indexed_vectors_count: usize,
    pub points_count: usize,
    pub segments_count: usize,
    pub config: CollectionConfig,
    pub payload_schema: BTreeMap<String, PayloadIndexInfo>,
}

pub async fn info(s: &AppState, name: &str) -> ApiResult<CollectionInfo> {
    let c = s.registry.get(name)?;
    // All shards' points; this peer's own when some shard has no reachable replica.
    let points = match s.router.count(&c, None, &Default::default()).await {
        Ok(n) => n,
        Err(_) => c.points_count(),
    };
    blocking(move || {
        let pending = c.pending_index();
        Ok(CollectionInfo {
            status: if pending > 0 { "yellow" } else { "green" },
            optimizer_status: "ok",
            indexed_vectors_count: c.indexed_vectors(),
            points_count: points,
            segments_count: c.local_shards().len(),
            config: c.config(),
            payload_schema: c.payload_index_info(),
        })
    })
    .await
}

pub async fn get(t: Timer, State(s): State<AppState>, P(name): P<String>) -> ApiResult<Response> {
    Ok(ok(t, info(&s, &name).await?))
}

pub async fn exists(t: Timer, State(s): State<AppState>, P(name): P<String>) -> Response {
    ok(t, json!({"exists": s.registry.get(&name).is_ok()}))
}

pub async fn create(
    t: Timer,
    State(s): State<AppState>,
    P(name): P<String>,
    Q(q): Q<CommitTimeout>,
    JsonBody(req): JsonBody<CreateCollection>,
) -> ApiResult<Response> {
    Ok(ok(t, create_collection(&s, name, req, q.duration()).await?))
}

/// Creates a collection with the node's defaults for what the request leaves out, its
/// shards placed over the cluster's peers.
pub async fn create_collection(
    s: &AppState,
    name: String,
    mut req: CreateCollection,
    timeout: std::time::Duration,
) -> ApiResult<Value> {
    let d = &s.collection_defaults;
    let shards = match (&s.consensus, d.shard_number) {
        (_, Some(n)) => n,
        (Some(c), None) => c.peers().len().max(1) as u32,
        (None, None) => 1,
    };
    req.replication_factor = req.replication_factor.or(d.replication_factor);
    req.write_consistency_factor = req.write_consistency_factor.or(d.write_consistency_factor);
    let config = s.registry.prepare_create(&name, req, shards)?;
    let layout = Box::new(initial_layout(s, &config)?);
    let dir = uuid::Uuid::new_v4().to_string();
    let cmd = Command::CreateCollection {
        name,
        dir,
        config,
        layout,
    };
    // `commit` answers once every reachable peer knows the new collection.
    commit(s, cmd, timeout).await
}

/// Spreads `shard_number × replication_factor` replicas evenly over the cluster's peers (a
/// replication factor above the number of peers gives every peer one replica of each shard).
fn initial_layout(s: &AppState, config: &CollectionConfig) -> ApiResult<Layout> {
    let p = &config.params;
    if p.custom_sharding() {
        // Shards come with their keys (`PUT /collections/{name}/shards`).
        return Ok(Layout::default());
    }
    let Some(c) = &s.consensus else {
        return Ok(Layout::single(s.registry.local_peer(), p.shard_number));
    };
    let peers: Vec<u64> = c.peers().into_keys().collect();
    if peers.is_empty() {
        return Err(ConsensusError::Unavailable(
            "Service unavailable: this peer has not joined a cluster yet".into(),
        )
        .into());
    }
    let rf = p.replication_factor.min(peers.len().max(1) as u32);
    let placement =
        place(&peers, p.shard_number, rf).map_err(|e| ApiError::wrong(e.to_string()))?;
    Ok(Layout::from_placement(&placement))
}

pub async fn update(
    t: Timer,
    State(s): State<AppState>,
    P(name): P<String>,
    Q(q): Q<CommitTimeout>,
    JsonBody(update): JsonBody<UpdateCollection>,
) -> ApiResult<Response> {
    Ok(ok(
        t,
        update_collection(&s, &name, update, q.duration()).await?,
    ))
}

pub async fn update_collection(
    s: &AppState,
    name: &str,
    update: UpdateCollection,
    timeout: std::time::Duration,
) -> ApiResult<Value> {
    let c = s.registry.get(name)?;
    update.check_quantization().map_err(ApiError::BadRequest)?;
    // Validate on a copy here, so a bad update is refused before it is proposed.
    c.config()
        .apply_update(&update)
        .map_err(|e| ApiError::wrong(e.to_string()))?;
    let cmd = Command::UpdateCollection {
        name: c.name.clone(),
        update,
    };
    commit(s, cmd, timeout).await
}

pub async fn delete(
    t: Timer,
    State(s): State<AppState>,
    P(name): P<String>,
    Q(q): Q<CommitTimeout>,
) -> ApiResult<Response> {
    let cmd = Command::DeleteCollection { name };
    Ok(ok(t, commit(&s, cmd, q.duration()).await?))
}

pub async fn change_aliases(
    t: Timer,
    State(s): State<AppState>,
    Q(q): Q<CommitTimeout>,
    JsonBody(req): JsonBody<AliasActions>,
) -> ApiResult<Response> {
    let cmd = Command::ChangeAliases {
        actions: req.actions,
    };
    Ok(ok(t, commit(&s, cmd, q.duration()).await?))
}

fn alias_list(pairs: impl Iterator<Item = (String, String)>) -> Value {
    let v: Vec<Value> = pairs
        .map(|(a, c)| json!({"alias_name": a, "collection_name": c}))
        .collect();
    json!({"aliases": v})
}

pub async fn all_aliases(t: Timer, State(s): State<AppState>) -> Response {
    ok(t, alias_list(s.registry.aliases().into_iter()))
}

pub async fn collection_aliases(
    t: Timer,
    State(s): State<AppState>,
    P(name): P<String>,
) -> ApiResult<Response> {
    let c = s.registry.get(&name)?;
    Ok(ok(
        t,
        alias_list(
            s.registry
                .aliases()
                .into_iter()
                .filter(|(_, col)| *col == c.name),
        ),
    ))
}

/// `PUT /collections/{name}/vectors/{vector_name}`: adds a named vector, through Raft in
/// cluster mode; points that exist do not have it until they are updated.
pub async fn create_vector(
    t: Timer,
    State(s): State<AppState>,
    P((name, vector)): P<(String, String)>,
    Q(q): Q<CommitTimeout>,
    JsonBody(config): JsonBody<VectorNameConfig>,
) -> ApiResult<Response> {
    create_vector_op(&s, &name, vector, config, q.duration()).await?;
    Ok(ok(t, json!({"operation_id": 0, "status": "completed"})))
}

pub async fn create_vector_op(
    s: &AppState,
    name: &str,
    vector: String,
    config: VectorNameConfig,
    timeout: std::time::Duration,
) -> ApiResult<()> {
    let c = s.registry.get(name)?;
    // Validate on a copy here, so a bad request is refused before it is proposed.
    c.config()
        .add_vector(&vector, &config)
        .map_err(|e| ApiError::wrong(e.to_string()))?;
    let cmd = Command::CreateVector {
        collection: c.name.clone(),
        name: vector,
        config,
    };
    commit(s, cmd, timeout).await?;
    Ok(())
}

/// `DELETE /collections/{name}/vectors/{vector_name}`: removes a named vector and its data
/// (a name the collection does not have is no error, as in Qdrant).
pub async fn delete_vector(
    t: Timer,
    State(s): State<AppState>,
    P((name, vector)): P<(String, String)>,
    Q(q): Q<CommitTimeout>,
) -> ApiResult<Response> {
    delete_vector_op(&s, &name, vector, q.duration()).await?;
    Ok(ok(t, json!({"operation_id": 0, "status": "completed"})))
}

pub async fn delete_vector_op(
    s: &AppState,
    name: &str,
    vector: String,
    timeout: std::time::Duration,
) -> ApiResult<()> {
    let c = s.registry.get(name)?;
    let cmd = Command::DeleteVector {
        collection: c.name.clone(),
        name: vector,
    };
    commit(s, cmd, timeout).await?;
    Ok(())
}

#[derive(Debug, Deserialize)]
pub struct CreateFieldIndex {
    field_name: String,
    field_schema: Option<Value>,
}

pub fn parse_schema(v: Option<Value>) -> ApiResult<FieldType> {
    let v = v.ok_or_else(|| ApiError::wrong("`field_schema` is required"))?;
    let ty = match &v {
        Value::Object(m) => m.get("type").cloned().unwrap_or(Value::Null),
        other => other.clone(),
    };
    serde_json::from_value(ty)
        .map_err(|e| ApiError::wrong(format!("invalid field_schema {v}: {e}")))
}

pub async fn create_index(
    t: Timer,
    State(s): State<AppState>,
    P(name): P<String>,
    Q(q): Q<CommitTimeout>,
    JsonBody(req): JsonBody<CreateFieldIndex>,
) -> ApiResult<Response> {
    let ty = parse_schema(req.field_schema)?;
    set_index(&s, &name, req.field_name, Some(ty), q.duration()).await?;
    Ok(ok(t, json!({"operation_id": 0, "status": "completed"})))
}

/// Creates (`Some`) or drops (`None`) a payload index.
pub async fn set_index(
    s: &AppState,
    name: &str,
    field: String,
    schema: Option<FieldType>,
    timeout: std::time::Duration,
) -> ApiResult<()> {
    if field.is_empty() {
        return Err(ApiError::wrong("`field_name` must not be empty"));
    }
    let c = s.registry.get(name)?;
    let cmd = Command::SetPayloadIndex {
        collection: c.name.clone(),
        field,
        schema,
    };
    commit(s, cmd, timeout).await?;
    Ok(())
}

pub async fn delete_index(
    t: Timer,
    State(s): State<AppState>,
    P((name, field)): P<(String, String)>,
    Q(q): Q<CommitTimeout>,
) -> ApiResult<Response> {
    set_index(&s, &name, field, None, q.duration()).await?;
    Ok(ok(t, json!({"operation_id": 0, "status": "completed"})))
}
