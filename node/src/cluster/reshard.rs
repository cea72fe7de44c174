//! The peer side of a resharding (`collection/resharding.rs` holds its states): copying the
//! moving points of a source shard, waiting for the switch, and the cleanup afterwards.

use super::router::{Router, LAYOUT_TIMEOUT};
use super::transfer::{commit, still_listed, stream, Sender};
use crate::collection::ops::ShardOp;
use crate::collection::replicas::{LayoutChange, Transfer, TransferKey};
use crate::collection::shard::LocalShard;
use crate::collection::Collection;
use std::sync::Arc;
use std::time::Duration;

/// Copies the points of `s.slot` to the target, forwarding writes to them from the start.
/// Points the target got from an earlier attempt of this transfer are dropped first.
pub(super) fn copy(s: &Arc<Sender>, c: &Collection, shard: &LocalShard) -> Result<usize, String> {
    let earlier = c
        .layout()
        .earlier_copy(&s.t)
        .filter(|_| s.slot.is_some())
        .ok_or("the resharding ended")?;
    stream(s, c, shard, ShardOp::DropSlot(earlier))
}

/// Reports a resharding transfer's end, then waits (still forwarding) until routing switched
/// or the resharding was aborted: the transfer then leaves the layout.
pub(super) async fn finish(
    router: &Router,
    c: &Arc<Collection>,
    t: &Transfer,
    change: LayoutChange,
) -> Result<(), String> {
    let mut reported = false;
    while still_listed(c, t).is_ok() {
        if !reported {
            match commit(router, &c.name, change.clone()).await {
                Ok(()) => reported = true,
                Err(e) => {
                    tracing::warn!(error = %e, "reporting a resharding transfer failed; retrying")
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(if reported { 10 } else { 500 })).await;
    }
    Ok(())
}

/// A resharding transfer this peer had copied before it restarted cannot finish: writes
/// after the restart were not forwarded. It aborts the resharding (the user starts it again).
pub(super) async fn abort_after_restart(
    router: &Router,
    c: &Arc<Collection>,
) -> Result<(), String> {
    tracing::warn!(collection = %c.name, "a resharding source restarted after its copy; aborting the resharding");
    commit(router, &c.name, LayoutChange::AbortResharding).await
}

/// In a resharding's cleanup stage, deletes from this peer's shards the points they no longer
/// own, then reports it (once per process at a time).
pub fn clean_up_mine(router: &Router, c: &Arc<Collection>) {
    let me = router.local_peer();
    let layout = c.layout();
    let pending = layout.resharding.as_ref().and_then(|r| r.cleanup.as_ref());
    if !pending.is_some_and(|p| p.contains(&me)) {
        return;
    }
    let key: TransferKey = (c.name.clone(), u32::MAX, me, None);
    if !router.running().insert(key.clone()) {
        return;
    }
    let (router, c) = (router.clone(), c.clone());
    tokio::spawn(async move {
        let c2 = c.clone();
        let dropped = tokio::task::spawn_blocking(move || {
            let mut n = 0;
            for shard in c2.local_shards() {
                if let Some(slot) = c2.hidden(shard.id) {
                    let before = shard.segment().len();
                    shard
                        .apply(&ShardOp::DropSlot(slot))
                        .map_err(|e| e.to_string())?;
                    n += before.saturating_sub(shard.segment().len());
                }
            }
            Ok::<usize, String>(n)
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r);
        let result = match dropped {
            Ok(n) => {
                tracing::info!(collection = %c.name, points = n, "resharding cleanup done");
                let change = LayoutChange::ReshardingCleaned { peer_id: me };
                router
                    .change_layout(&c.name, change, LAYOUT_TIMEOUT)
                    .await
                    .map_err(|e| e.to_string())
            }
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            tracing::warn!(collection = %c.name, error = %e, "resharding cleanup failed; retrying");
        }
        router.running().remove(&key);
    });
}
