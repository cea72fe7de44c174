//! Collections, aliases and payload indexes.

use super::error::{ApiError, ApiResult};
use super::extract::{blocking, ok, JsonBody, Timer, P};
use super::AppState;
use crate::collection::config::{CreateCollection, UpdateCollection};
use crate::collection::registry::AliasActions;
use crate::segment::payload_index::FieldType;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

pub async fn list(t: Timer, State(s): State<AppState>) -> Response {
    let cols: Vec<Value> = s
        .registry
        .names()
        .into_iter()
        .map(|n| json!({"name": n}))
        .collect();
    ok(t, json!({"collections": cols}))
}

pub async fn get(t: Timer, State(s): State<AppState>, P(name): P<String>) -> ApiResult<Response> {
    let c = s.registry.get(&name)?;
    let info = blocking(move || {
        let pending = c.pending_index();
        let status = if pending > 0 { "yellow" } else { "green" };
        Ok(json!({
            "status": status,
            "optimizer_status": "ok",
            "indexed_vectors_count": c.indexed_vectors(),
            "points_count": c.points_count(),
            "segments_count": c.shards().len(),
            "config": c.config(),
            "payload_schema": c.payload_index_info(),
        }))
    })
    .await?;
    Ok(ok(t, info))
}

pub async fn exists(t: Timer, State(s): State<AppState>, P(name): P<String>) -> Response {
    ok(t, json!({"exists": s.registry.get(&name).is_ok()}))
}

pub async fn create(
    t: Timer,
    State(s): State<AppState>,
    P(name): P<String>,
    JsonBody(req): JsonBody<CreateCollection>,
) -> ApiResult<Response> {
    blocking(move || Ok(s.registry.create(&name, req)?)).await?;
    Ok(ok(t, true))
}

pub async fn update(
    t: Timer,
    State(s): State<AppState>,
    P(name): P<String>,
    JsonBody(req): JsonBody<UpdateCollection>,
) -> ApiResult<Response> {
    blocking(move || Ok(s.registry.update(&name, &req)?)).await?;
    Ok(ok(t, true))
}

pub async fn delete(
    t: Timer,
    State(s): State<AppState>,
    P(name): P<String>,
) -> ApiResult<Response> {
    let deleted = blocking(move || Ok(s.registry.delete(&name)?)).await?;
    Ok(ok(t, deleted))
}

pub async fn change_aliases(
    t: Timer,
    State(s): State<AppState>,
    JsonBody(req): JsonBody<AliasActions>,
) -> ApiResult<Response> {
    blocking(move || Ok(s.registry.change_aliases(&req.actions)?)).await?;
    Ok(ok(t, true))
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

#[derive(Debug, Deserialize)]
pub struct CreateFieldIndex {
    field_name: String,
    field_schema: Option<Value>,
}

fn parse_schema(v: Option<Value>) -> ApiResult<FieldType> {
    let v =
        v.ok_or_else(|| ApiError::BadRequest("Wrong input: `field_schema` is required".into()))?;
    let ty = match &v {
        Value::Object(m) => m.get("type").cloned().unwrap_or(Value::Null),
        other => other.clone(),
    };
    serde_json::from_value(ty)
        .map_err(|e| ApiError::BadRequest(format!("Wrong input: invalid field_schema {v}: {e}")))
}

pub async fn create_index(
    t: Timer,
    State(s): State<AppState>,
    P(name): P<String>,
    JsonBody(req): JsonBody<CreateFieldIndex>,
) -> ApiResult<Response> {
    let ty = parse_schema(req.field_schema)?;
    if req.field_name.is_empty() {
        return Err(ApiError::BadRequest(
            "Wrong input: `field_name` must not be empty".into(),
        ));
    }
    blocking(move || Ok(s.registry.set_index(&name, &req.field_name, Some(ty))?)).await?;
    Ok(ok(t, json!({"operation_id": 0, "status": "completed"})))
}

pub async fn delete_index(
    t: Timer,
    State(s): State<AppState>,
    P((name, field)): P<(String, String)>,
) -> ApiResult<Response> {
    blocking(move || Ok(s.registry.set_index(&name, &field, None)?)).await?;
    Ok(ok(t, json!({"operation_id": 0, "status": "completed"})))
}
