//! `replicate_points`: copies the points of one shard key that match a filter into another
//! key, page by page through the router (each page read from one replica of the source
//! key's shards, written to every replica of the target key's shards).

use super::consistency::{Consistency, ReadScope};
use super::ordering::WriteOrdering;
use super::router::Router;
use crate::collection::local_read::Scroll;
use crate::collection::ops::{KeyedOp, NewPoint, ShardOp, UpsertRequest};
use crate::collection::query::Record;
use crate::collection::shard_key::{ShardKey, ShardKeySelector};
use crate::collection::{Collection, CollectionError, CollectionResult};
use crate::segment::filter::Filter;
use crate::segment::record::{WithPayload, WithVector};
use serde_json::json;
use std::sync::Arc;

const PAGE: usize = 256;

/// Copies the points of key `from` matching `filter` into key `to`; returns how many.
pub async fn copy_points(
    r: &Router,
    c: &Arc<Collection>,
    from: &ShardKey,
    to: &ShardKey,
    filter: Option<Filter>,
) -> CollectionResult<usize> {
    let scope = ReadScope::new(Consistency::One, Some(ShardKeySelector::One(from.clone())));
    let (mut next, mut copied) = (None, 0);
    loop {
        let page = Scroll {
            from: next,
            limit: PAGE,
            filter: filter.clone(),
            order_by: None,
            with_payload: WithPayload::Bool(true),
            with_vector: WithVector::Bool(true),
        };
        let (records, after) = r.scroll(c, page, &scope).await?;
        if records.is_empty() {
            return Ok(copied);
        }
        copied += records.len();
        let op = KeyedOp {
            op: ShardOp::Upsert(as_new_points(records, c)?),
            shard_key: Some(ShardKeySelector::One(to.clone())),
        };
        r.write(c, vec![op], WriteOrdering::Weak).await?;
        match after {
            Some(id) => next = Some(id),
            None => return Ok(copied),
        }
    }
}

/// Records read back as points to write: through their public JSON shape, so each vector
/// is checked and prepared as an upsert would.
fn as_new_points(records: Vec<Record>, c: &Collection) -> CollectionResult<Vec<NewPoint>> {
    let points: Vec<serde_json::Value> = records
        .into_iter()
        .map(|r| {
            let vector = r.vector.map_or(json!({}), |v| json!(v));
            json!({"id": r.id, "vector": vector, "payload": r.payload})
        })
        .collect();
    let req: UpsertRequest = serde_json::from_value(json!({ "points": points }))
        .map_err(|e| CollectionError::Task(format!("cannot copy points: {e}")))?;
    req.into_points(&c.specs())
}
