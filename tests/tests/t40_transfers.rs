//! Shard transfers on a cluster of real processes: moving shards to a new peer and off a
//! peer that leaves, replicating and dropping replicas, replacing a dead peer, aborting a
//! transfer, and the validation of every cluster operation. Writers keep writing throughout
//! and every acknowledged write must be found afterwards.

use anyhow::Result;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tests::points::*;
use tests::{wait_for, Node};

fn operate(node: &Node, name: &str, op: Value) -> (u16, Value) {
    node.http()
        .post(&format!("/collections/{name}/cluster"), &op)
        .expect("cluster operation")
}

fn transfer(kind: &str, shard: u64, from: u64, to: u64) -> Value {
    json!({ kind: {"shard_id": shard, "from_peer_id": from, "to_peer_id": to} })
}

/// Waits until no transfer runs and every replica is active; returns the layout.
fn settled(node: &Node, name: &str) -> Result<std::collections::BTreeMap<(u64, u64), String>> {
    wait_for("transfers to finish", Duration::from_secs(120), || {
        let info = cluster_info(node, name);
        let view = replicas(&info);
        let idle = info["shard_transfers"]
            .as_array()
            .is_some_and(|t| t.is_empty());
        (idle && view.values().all(|s| s == "Active")).then_some(view)
    })
}

/// Shards held by `peer` in a layout.
fn shards_of(view: &std::collections::BTreeMap<(u64, u64), String>, peer: u64) -> Vec<u64> {
    view.keys()
        .filter(|(_, p)| *p == peer)
        .map(|(s, _)| *s)
        .collect()
}

/// Transfer rate, for the issue note (`--nocapture`).
fn report_rate(what: &str, points: u64, took: Duration) {
    let secs = took.as_secs_f64();
    let mb = points as f64 * (DIM * 4 + 40) as f64 / 1e6;
    eprintln!(
        "{what}: {points} points in {secs:.2}s = {:.0} points/s, ~{:.1} MB/s",
        points as f64 / secs,
        mb / secs
    );
}

#[test]
fn scale_up_moves_shards_to_a_new_peer_under_writes() -> Result<()> {
    let mut c = sharded_cluster(2, 4, 1, 1, 20_000)?;
    let added = c.add_peer(&[])?;
    c.wait_converged(Duration::from_secs(60))?;
    let new_peer = c.peer_id(added);
    let writer = Writer::start(
        vec![c.nodes[0].url.clone(), c.nodes[1].url.clone()],
        "c",
        100_000,
    );

    let view = replicas(&cluster_info(&c.nodes[0], "c"));
    let (p0, p1) = (c.peer_id(0), c.peer_id(1));
    let moves = [(shards_of(&view, p0)[0], p0), (shards_of(&view, p1)[0], p1)];
    let started = Instant::now();
    for (shard, from) in moves {
        let (code, body) = operate(
            &c.nodes[1],
            "c",
            transfer("move_shard", shard, from, new_peer),
        );
        assert_eq!(code, 200, "{body}");
    }
    let view = settled(&c.nodes[0], "c")?;
    report_rate("two moves", 10_000, started.elapsed());
    let (end, retries) = writer.finish();
    eprintln!(
        "writer: {} acknowledged points, {retries} retried batches",
        end - 100_000
    );
    assert_eq!(shards_of(&view, new_peer).len(), 2, "{view:?}");
    assert_eq!(shards_of(&view, p0).len(), 1);
    assert_eq!(shards_of(&view, p1).len(), 1);
    check_all(&c, "c", 20_000, 100_000, end)
}

#[test]
fn scale_down_moves_everything_off_a_peer_then_removes_it() -> Result<()> {
    let c = sharded_cluster(3, 3, 1, 1, 6000)?;
    let leaving = c.peer_id(2);
    let (code, body) = c.nodes[0]
        .http()
        .delete(&format!("/cluster/peer/{leaving}"))?;
    assert_eq!(code, 400, "a peer holding shards is not removed: {body}");

    let view = replicas(&cluster_info(&c.nodes[0], "c"));
    for shard in shards_of(&view, leaving) {
        let op = transfer("move_shard", shard, leaving, c.peer_id(0));
        let (code, body) = operate(&c.nodes[0], "c", op);
        assert_eq!(code, 200, "{body}");
    }
    let view = settled(&c.nodes[0], "c")?;
    assert!(shards_of(&view, leaving).is_empty(), "{view:?}");
    let (code, body) = c.nodes[0]
        .http()
        .delete(&format!("/cluster/peer/{leaving}"))?;
    assert_eq!(code, 200, "{body}");
    for i in 0..2 {
        assert_eq!(count(&c.nodes[i], "c"), 6000);
        let peers = c.status(i).expect("status")["peers"]
            .as_object()
            .map(|p| p.len());
        assert_eq!(peers, Some(2));
    }
    Ok(())
}

#[test]
fn replicate_then_drop_under_writes() -> Result<()> {
    let c = sharded_cluster(2, 2, 1, 1, 4000)?;
    let writer = Writer::start(vec![c.nodes[1].url.clone()], "c", 200_000);
    let (p0, p1) = (c.peer_id(0), c.peer_id(1));
    let view = replicas(&cluster_info(&c.nodes[0], "c"));
    for (shard, from) in view.keys() {
        let to = if *from == p0 { p1 } else { p0 };
        let (code, body) = operate(
            &c.nodes[0],
            "c",
            transfer("replicate_shard", *shard, *from, to),
        );
        assert_eq!(code, 200, "{body}");
    }
    let doubled = settled(&c.nodes[1], "c")?;
    assert_eq!(doubled.len(), 4, "{doubled:?}");
    // Every point written so far is on both replicas of its shard.
    let (end, _) = writer.finish();
    let n = 4000 + (end - 200_000);
    let body = json!({"ids": (0..4000).chain(200_000..end).map(pid).collect::<Vec<_>>()});
    let got = post(&c.nodes[0], "/collections/c/points?consistency=all", body);
    assert_eq!(got.as_array().map(Vec::len), Some(n as usize));

    let writer = Writer::start(vec![c.nodes[0].url.clone()], "c", 300_000);
    for (shard, peer) in view.keys() {
        let op = json!({"drop_replica": {"shard_id": shard, "peer_id": peer}});
        let (code, body) = operate(&c.nodes[1], "c", op);
        assert_eq!(code, 200, "{body}");
    }
    let (end2, _) = writer.finish();
    let single = settled(&c.nodes[0], "c")?;
    assert_eq!(single.len(), 2, "{single:?}");
    assert!(
        single.keys().all(|k| !view.contains_key(k)),
        "the originals were dropped"
    );
    for i in 0..2 {
        assert_eq!(count(&c.nodes[i], "c"), n + (end2 - 300_000));
    }
    Ok(())
}

#[test]
fn a_dead_peer_is_replaced_by_an_empty_one() -> Result<()> {
    let mut c = sharded_cluster(3, 3, 2, 1, 3000)?;
    let dead = c.peer_id(2);
    c.nodes[2].kill9()?;
    let (code, body) = c.nodes[0]
        .http()
        .delete(&format!("/cluster/peer/{dead}?force=true"))?;
    assert_eq!(code, 200, "{body}");
    let fresh = c.add_peer(&[])?;
    c.wait_converged(Duration::from_secs(60))?;
    let fresh_id = c.peer_id(fresh);
    let view = replicas(&cluster_info(&c.nodes[0], "c"));
    assert!(
        view.keys().all(|(_, p)| *p != dead),
        "the removed peer's replicas are gone"
    );
    for shard in 0..3 {
        let holders: Vec<u64> = view
            .keys()
            .filter(|(s, _)| *s == shard)
            .map(|(_, p)| *p)
            .collect();
        if holders.len() < 2 {
            let op = transfer("replicate_shard", shard, holders[0], fresh_id);
            let (code, body) = operate(&c.nodes[fresh], "c", op);
            assert_eq!(code, 200, "{body}");
        }
    }
    let view = settled(&c.nodes[0], "c")?;
    assert_eq!(view.len(), 6, "{view:?}");
    for i in [0, 1, fresh] {
        assert_eq!(retrieve_all(&c.nodes[i], "c", 3000, "all"), 3000);
    }
    Ok(())
}

#[test]
fn cluster_operations_are_validated_and_a_transfer_can_be_aborted() -> Result<()> {
    let c = sharded_cluster(3, 3, 1, 1, 6000)?;
    let view = replicas(&cluster_info(&c.nodes[0], "c"));
    let (shard, owner) = *view.keys().next().expect("a replica");
    let other = (0..3)
        .map(|i| c.peer_id(i))
        .find(|p| *p != owner)
        .expect("peer");
    let bad = [
        (transfer("move_shard", shard, owner, 12345), "not a member"),
        (transfer("move_shard", 99, owner, other), "does not exist"),
        (
            transfer("move_shard", shard, other, owner),
            "holds no active replica",
        ),
        (
            json!({"drop_replica": {"shard_id": shard, "peer_id": owner}}),
            "at least one active replica",
        ),
        (
            json!({"replicate_shard": {"shard_id": shard, "from_peer_id": owner, "to_peer_id": other, "method": "resharding_stream_records"}}),
            "not supported",
        ),
        (
            json!({"abort_transfer": {"shard_id": shard, "from_peer_id": owner, "to_peer_id": other}}),
            "no transfer",
        ),
    ];
    for (op, why) in bad {
        let (code, body) = operate(&c.nodes[1], "c", op.clone());
        let msg = body["status"]["error"].as_str().unwrap_or("");
        assert!(code == 400 && msg.contains(why), "{op}: {code} {body}");
    }
    // Abort: sent through a peer that is not the source, right after the move was accepted.
    let via = c.index_of(other).expect("index");
    let mut aborted = false;
    for _ in 0..5 {
        let (code, body) = operate(
            &c.nodes[via],
            "c",
            transfer("move_shard", shard, owner, other),
        );
        assert_eq!(code, 200, "{body}");
        let abort = json!({"abort_transfer": {"shard_id": shard, "from_peer_id": owner, "to_peer_id": other}});
        if operate(&c.nodes[via], "c", abort).0 == 200 {
            aborted = true;
            break;
        }
        // The move finished first: move it back and try again.
        settled(&c.nodes[0], "c")?;
        let back = transfer("move_shard", shard, other, owner);
        assert_eq!(operate(&c.nodes[via], "c", back).0, 200);
        settled(&c.nodes[0], "c")?;
    }
    assert!(aborted, "no abort landed before its transfer finished");
    let after = settled(&c.nodes[0], "c")?;
    assert_eq!(after, view, "an aborted move leaves the layout as it was");
    for i in 0..3 {
        assert_eq!(count(&c.nodes[i], "c"), 6000);
        let local = cluster_info(&c.nodes[i], "c")["local_shards"]
            .as_array()
            .map(Vec::len);
        assert_eq!(local, Some(1), "peer {i} kept a half-filled replica");
    }
    Ok(())
}
