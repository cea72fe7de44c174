//! Live resharding on a cluster of real processes: `start_resharding` up and down (through
//! `qdrant-operator reshard` and the REST API) while writers keep writing, abort, and the
//! refusals. Every acknowledged write must be found afterwards, and searches must equal a
//! single node's holding the same points.

use anyhow::Result;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tests::kube::run_chore;
use tests::points::*;
use tests::{wait_for, Node};

/// A cluster operation; the answer waits at most 1 s for peers to apply it (one is paused).
fn operate(node: &Node, name: &str, op: Value) -> (u16, Value) {
    node.http()
        .post(&format!("/collections/{name}/cluster?timeout=1"), &op)
        .expect("cluster operation")
}

fn shard_number(node: &Node, name: &str) -> u64 {
    let (code, body) = node
        .http()
        .get(&format!("/collections/{name}"))
        .expect("collection info");
    assert_eq!(code, 200, "{body}");
    body["result"]["config"]["params"]["shard_number"]
        .as_u64()
        .unwrap_or(0)
}

/// Waits until no resharding runs; returns the shards of the layout.
fn idle(node: &Node, name: &str) -> Result<Vec<u64>> {
    wait_for("resharding to end", Duration::from_secs(300), || {
        let info = cluster_info(node, name);
        let ops = info["resharding_operations"]
            .as_array()
            .is_some_and(|a| !a.is_empty());
        let moving = info["shard_transfers"]
            .as_array()
            .is_some_and(|a| !a.is_empty());
        let mut shards: Vec<u64> = replicas(&info).keys().map(|(s, _)| *s).collect();
        shards.dedup();
        (!ops && !moving).then_some(shards)
    })
}

fn reshard(url: &str, shards: u32) -> String {
    let n = shards.to_string();
    let args = ["reshard", "--url", url, "--collection", "c", "--shards", &n];
    let (ok, text) = run_chore(&[&args[..], &["--transfer-timeout", "5m"]].concat());
    assert!(ok, "reshard to {shards}: {text}");
    text
}

#[test]
fn reshard_three_to_six_to_four_under_writes() -> Result<()> {
    let c = sharded_cluster(3, 3, 2, 1, 10_000)?;
    let urls: Vec<String> = c.nodes.iter().map(|n| n.url.clone()).collect();
    let writer = Writer::start(urls.clone(), "c", 100_000);

    let started = Instant::now();
    let out = reshard(&urls[1], 6);
    eprintln!("3 -> 6 shards in {:.1}s", started.elapsed().as_secs_f64());
    assert!(out.contains("3 resharding steps"), "{out}");
    assert_eq!(idle(&c.nodes[0], "c")?, vec![0, 1, 2, 3, 4, 5]);
    assert_eq!(shard_number(&c.nodes[2], "c"), 6);

    let started = Instant::now();
    let out = reshard(&urls[0], 4);
    eprintln!("6 -> 4 shards in {:.1}s", started.elapsed().as_secs_f64());
    assert!(out.contains("2 resharding steps"), "{out}");
    assert_eq!(idle(&c.nodes[1], "c")?, vec![0, 1, 2, 3]);

    let (end, retries) = writer.finish();
    eprintln!(
        "writer: {} acknowledged points, {retries} retried batches",
        end - 100_000
    );
    assert!(end > 100_000, "the writer got writes through");
    let view = replicas(&cluster_info(&c.nodes[2], "c"));
    assert_eq!(view.len(), 8, "4 shards x 2 replicas: {view:?}");
    assert!(view.values().all(|s| s == "Active"), "{view:?}");
    // Every acknowledged point is found through every peer; searches equal a single node's.
    check_all(&c, "c", 10_000, 100_000, end)
}

#[test]
fn abort_and_refusals() -> Result<()> {
    let c = sharded_cluster(4, 2, 1, 1, 3000)?;
    // The new shard goes to a paused follower that holds no shard: its copy cannot finish
    // before the abort (the health checks take seconds to call the peer down), reads go on.
    let view = replicas(&cluster_info(&c.nodes[0], "c"));
    let leader = c.leader()?;
    let target = (0..4)
        .find(|i| *i != leader && !view.keys().any(|(_, p)| *p == c.peer_id(*i)))
        .expect("an empty follower");
    let others: Vec<usize> = (0..4).filter(|i| *i != target).collect();
    let (a, b) = (&c.nodes[others[0]], &c.nodes[others[1]]);
    let target_peer = c.peer_id(target);
    let (pa, pb) = (c.peer_id(others[0]), c.peer_id(others[1]));
    c.nodes[target].pause();
    let up = json!({"start_resharding": {"direction": "up", "peer_id": target_peer}});
    let (code, body) = operate(a, "c", up.clone());
    assert_eq!(code, 200, "{body}");
    let (code, body) = operate(b, "c", up.clone());
    assert_eq!(code, 400, "a second resharding is refused: {body}");
    assert!(body["status"]["error"]
        .as_str()
        .is_some_and(|e| e.contains("already in progress")));
    let info = cluster_info(a, "c");
    let op = &info["resharding_operations"][0];
    assert_eq!(op["direction"], "up", "{info}");
    assert_eq!(op["shard_id"], 2);
    assert_eq!(op["peer_id"], target_peer);
    let transfers = info["shard_transfers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(transfers.len(), 2, "one per source shard: {info}");
    for t in &transfers {
        assert_eq!(t["method"], "resharding_stream_records");
        assert_eq!(t["to_shard_id"], 2);
    }
    // A move that is valid but for the resharding (peer ids read before the pause).
    let holder = |s: u64| view.keys().find(|(x, _)| *x == s).map(|(_, p)| *p);
    let to = if holder(0) == Some(pa) { pb } else { pa };
    let mv = json!({"move_shard": {"shard_id": 0, "from_peer_id": holder(0), "to_peer_id": to}});
    let (code, body) = operate(a, "c", mv);
    assert_eq!(code, 400, "no other transfer while resharding: {body}");
    assert_eq!(count(b, "c"), 3000, "reads go on");

    let (code, body) = operate(b, "c", json!({"abort_resharding": {}}));
    assert_eq!(code, 200, "{body}");
    c.nodes[target].resume();
    // The resumed peer may call an election: wait for a settled leader.
    c.wait_converged(Duration::from_secs(60))?;
    assert_eq!(idle(&c.nodes[target], "c")?, vec![0, 1]);
    assert_eq!(shard_number(&c.nodes[0], "c"), 2);
    let (code, body) = operate(a, "c", json!({"abort_resharding": {}}));
    assert_eq!(code, 400, "nothing to abort: {body}");

    for (op, why) in [
        (
            json!({"start_resharding": {"direction": "sideways"}}),
            "bad direction",
        ),
        (
            json!({"start_resharding": {"direction": "up", "peer_id": 12345}}),
            "unknown peer",
        ),
        (
            json!({"start_resharding": {"direction": "up", "shard_key": "k"}}),
            "unknown key",
        ),
    ] {
        let (code, body) = operate(&c.nodes[0], "c", op);
        assert_eq!(code, 400, "{why}: {body}");
        assert!(body["status"]["error"].is_string(), "{body}");
    }
    // Down to one shard, then no further.
    let down = json!({"start_resharding": {"direction": "down"}});
    let (code, body) = operate(&c.nodes[0], "c", down.clone());
    assert_eq!(code, 200, "{body}");
    assert_eq!(idle(&c.nodes[0], "c")?, vec![0]);
    let (code, body) = operate(&c.nodes[0], "c", down);
    assert_eq!(code, 400, "the last shard stays: {body}");
    check_all(&c, "c", 3000, 0, 0)
}

#[test]
fn single_node_refuses_resharding() -> Result<()> {
    let n = Node::start()?;
    create(&n, "c", sharded(2, 1, 1))?;
    let (code, body) = operate(&n, "c", json!({"start_resharding": {"direction": "up"}}));
    assert_eq!(code, 400, "{body}");
    Ok(())
}
