//! `qdrant-operator reshard`: changes a collection's shard number one shard at a time with
//! the node's live resharding (`start_resharding`), waiting for each step to finish.

use super::client::NodeClient;
use super::{ChoreError, Options};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Reshards `name` until it has `shards` shards; returns the steps taken.
pub async fn reshard(
    c: &NodeClient,
    name: &str,
    shards: u32,
    o: &Options<'_>,
) -> Result<u32, ChoreError> {
    if shards == 0 {
        return Err(ChoreError::Refused("--shards must be at least 1".into()));
    }
    let mut steps = 0;
    loop {
        wait_idle(c, name, o).await?;
        let n = c.shard_number(name).await?;
        if n == shards {
            return Ok(steps);
        }
        let direction = if n < shards { "up" } else { "down" };
        (o.say)(&format!(
            "resharding {name} {direction}: {n} shards now, {shards} wanted"
        ));
        let op = json!({"start_resharding": {"direction": direction}});
        c.operate(name, op).await?;
        wait_idle(c, name, o).await?;
        let now = c.shard_number(name).await?;
        if now == n {
            return Err(ChoreError::Refused(format!(
                "the cluster aborted the resharding of `{name}` at {n} shards (a peer failed \
                 or it was aborted); run the chore again"
            )));
        }
        steps += 1;
    }
}

/// Waits until `name` has no resharding in progress.
async fn wait_idle(c: &NodeClient, name: &str, o: &Options<'_>) -> Result<(), ChoreError> {
    let deadline = Instant::now() + o.transfer_timeout;
    let mut said = String::new();
    loop {
        let info = c.cluster_info(name).await?;
        let ops = info["resharding_operations"].as_array().cloned();
        if ops.as_ref().is_none_or(Vec::is_empty) {
            return Ok(());
        }
        let line = progress(&info);
        if line != said {
            (o.say)(&line);
            said = line;
        }
        if Instant::now() > deadline {
            return Err(ChoreError::Timeout(
                o.transfer_timeout,
                format!("resharding of `{name}`"),
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One line on a resharding's progress: its transfers still copying, or its cleanup.
fn progress(info: &Value) -> String {
    let transfers = info["shard_transfers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let copying = transfers
        .iter()
        .filter(|t| t.get("to_shard_id").is_some())
        .filter(|t| !t["comment"].as_str().unwrap_or("").starts_with("copied"))
        .count();
    match copying {
        0 => "  waiting for the switch and cleanup".to_string(),
        n => format!("  {n} resharding transfers copying"),
    }
}
