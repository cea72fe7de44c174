//! The `wal_delta` transfer: the target reports its clocks (`collection::clocks`), the source
//! finds in its operation log the points touched by every write the target lacks, and sends
//! those points as they are now (or their deletion), plus the points the target changed by
//! writes the source never applied. A point written many times while the target was away
//! is sent once. Falls back to streaming every point when a log cannot tell.

use super::transfer::Sender;
use crate::collection::clocks;
use crate::collection::local_read::{ReadReply, ReadRequest};
use crate::collection::ops::{NewPoint, Selector, ShardOp};
use crate::collection::shard::LocalShard;
use crate::collection::Collection;
use crate::segment::point_id::PointId;
use std::sync::Arc;

/// Points per batch sent to the target.
const BATCH: usize = 512;

#[derive(Debug)]
pub(super) enum DeltaError {
    /// The delta cannot be known; nothing was changed on the target: stream instead.
    Fallback(String),
    /// The transfer failed.
    Failed(String),
}

/// Sends the target what it lacks; returns the points sent (written or deleted).
pub(super) fn copy(
    s: &Arc<Sender>,
    c: &Collection,
    shard: &LocalShard,
) -> Result<usize, DeltaError> {
    let mine = clocks::to_list(&shard.clocks());
    let (theirs, own) = match s.read(&ReadRequest::Clocks { source: mine }) {
        Ok(ReadReply::Clocks { clocks, touched }) => (clocks::from_list(&clocks), touched),
        Ok(_) => {
            return Err(DeltaError::Failed(
                "unexpected reply to a clocks request".into(),
            ))
        }
        // Also a peer of an earlier version, which does not know the request; if the peer is
        // gone, the stream fails at once too.
        Err(e) => return Err(DeltaError::Fallback(format!("the target's clocks: {e}"))),
    };
    let own = own.map_err(|why| DeltaError::Fallback(format!("the target's log: {why}")))?;
    let mut ids = shard.with_writes_paused(|sh| {
        let ids = sh.touched_since(&theirs).map_err(DeltaError::Fallback)?;
        sh.set_forward(&super::transfer::name(&s.t), Some(s.hook()));
        Ok(ids)
    })?;
    ids.extend(own);
    ids.sort_unstable();
    ids.dedup();
    let total = ids.len();
    let mut sent = 0;
    for chunk in ids.chunks(BATCH) {
        s.check(c).map_err(DeltaError::Failed)?;
        shard
            .with_writes_paused(|sh| send_current(s, sh, chunk))
            .map_err(DeltaError::Failed)?;
        sent += chunk.len();
        s.progress(sent, total);
    }
    Ok(sent)
}

/// Sends the points of `ids` as the shard holds them now, and the deletion of the others.
fn send_current(s: &Sender, shard: &LocalShard, ids: &[PointId]) -> Result<(), String> {
    let mut points = Vec::new();
    let mut gone = Vec::new();
    {
        let seg = shard.segment();
        for &id in ids {
            match seg.get(id) {
                Some(r) => points.push(NewPoint {
                    id: r.id,
                    vectors: r.vectors,
                    payload: r.payload,
                }),
                None => gone.push(id),
            }
        }
    }
    if !points.is_empty() {
        s.send(&ShardOp::Import(points), None)?;
    }
    if !gone.is_empty() {
        s.send(&ShardOp::Delete(Selector::Ids(gone)), None)?;
    }
    Ok(())
}
