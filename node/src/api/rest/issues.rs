//! `GET/DELETE /issues`: problems this node noticed in how it is used, with the fix. The one
//! kind so far is Qdrant's "unindexed field": a filter on a payload key that has no index,
//! in a collection large enough for the full scan to cost.

use super::extract::{ok, Timer};
use super::AppState;
use crate::collection::Collection;
use crate::segment::filter::{Condition, FieldCondition, Filter, Match, MatchValue};
use axum::extract::State;
use axum::response::Response;
use parking_lot::Mutex;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Collections with fewer points are scanned cheaply: no issue.
pub const UNINDEXED_AFTER: usize = 1000;

/// Open issues by id.
#[derive(Debug, Default)]
pub struct Issues(Mutex<BTreeMap<String, Value>>);

impl Issues {
    /// Notes every unindexed key `filter` uses in `c`, and forgets those indexed since.
    pub fn check(&self, c: &Collection, filter: Option<&Filter>) {
        let prefix = format!("UNINDEXED_FIELD/{}/", c.name);
        let mut open = self.0.lock();
        if filter.is_none() && !open.keys().any(|id| id.starts_with(&prefix)) {
            return;
        }
        let schema = c.payload_schema();
        open.retain(|id, _| match id.strip_prefix(&prefix) {
            Some(key) => !schema.contains_key(key),
            None => true,
        });
        let Some(f) = filter else { return };
        let mut unindexed = BTreeMap::new();
        fields(f, &mut |fc| {
            if !schema.contains_key(&fc.key) {
                unindexed
                    .entry(fc.key.clone())
                    .or_insert_with(|| schema_for(fc));
            }
        });
        // Counting points is left for when a key lacks an index.
        if unindexed.is_empty() || c.points_count() < UNINDEXED_AFTER {
            return;
        }
        for (key, schema_type) in unindexed {
            let id = format!("{prefix}{key}");
            open.entry(id.clone())
                .or_insert_with(|| issue(&id, &c.name, &key, schema_type));
        }
    }

    pub fn clear(&self) {
        self.0.lock().clear();
    }

    fn list(&self) -> Vec<Value> {
        self.0.lock().values().cloned().collect()
    }
}

fn issue(id: &str, collection: &str, key: &str, schema_type: &str) -> Value {
    json!({
        "id": id,
        "description": format!("Unindexed field '{key}' might be slowing queries down in collection '{collection}'"),
        "solution": {"immediate_choice": {
            "message": format!("Create an index on field '{key}' of schema type '{schema_type}'"),
            "action": {
                "method": "PUT",
                "uri": format!("/collections/{collection}/index"),
                "headers": {},
                "body": {"field_name": key, "field_schema": schema_type},
            },
        }},
        "timestamp": chrono::Utc::now().to_rfc3339(),
    })
}

/// Calls `f` with every field condition of `filter`, nested ones too.
fn fields(filter: &Filter, f: &mut dyn FnMut(&FieldCondition)) {
    let lists = [&filter.must, &filter.should, &filter.must_not];
    let min = filter.min_should.as_ref().map(|m| &m.conditions);
    for c in lists.into_iter().flatten().chain(min).flatten() {
        match c {
            Condition::Field(fc) => f(fc),
            Condition::Filter(inner) => fields(inner, f),
            _ => {}
        }
    }
}

/// The index type that would serve a condition.
fn schema_for(fc: &FieldCondition) -> &'static str {
    let kind = |v: &MatchValue| match v {
        MatchValue::Bool(_) => "bool",
        MatchValue::Int(_) => "integer",
        MatchValue::Str(_) => "keyword",
    };
    match &fc.r#match {
        Some(Match::Value { value }) => kind(value),
        Some(Match::Any { any: v } | Match::Except { except: v }) => {
            v.first().map_or("keyword", kind)
        }
        Some(Match::Text { .. } | Match::TextAny { .. } | Match::Phrase { .. }) => "text",
        None if fc.range.is_some() => "float",
        None => "keyword",
    }
}

pub async fn get(t: Timer, State(s): State<AppState>) -> Response {
    ok(t, json!({"issues": s.issues.list()}))
}

pub async fn delete(t: Timer, State(s): State<AppState>) -> Response {
    s.issues.clear();
    ok(t, true)
}
