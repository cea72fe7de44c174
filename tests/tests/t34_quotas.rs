//! Resource quotas (`GET/PUT /quotas`): set through any peer, seen on every peer with each
//! peer's readings, kept across restarts; while a node is over a limit, writes that take
//! space are refused with 503 and deletes still work. The disk limit is set to 1 %, which the
//! test machine's filesystem is always over.

use anyhow::Result;
use serde_json::{json, Value};
use std::time::Duration;
use tests::points::*;
use tests::{Cluster, Node};

fn quotas(node: &Node) -> Value {
    let (code, body) = node.http().get("/quotas").expect("GET /quotas");
    assert_eq!(code, 200, "{body}");
    body["result"].clone()
}

fn set(node: &Node, config: Value) -> (u16, Value) {
    node.http()
        .put("/quotas?wait=true", &config)
        .expect("PUT /quotas")
}

fn upsert_one(node: &Node, name: &str, id: u64) -> (u16, Value) {
    let body = json!({"points": [{"id": id, "vector": vector(id)}]});
    node.http()
        .put(&format!("/collections/{name}/points?wait=true"), &body)
        .expect("upsert")
}

#[test]
fn a_single_node_refuses_writes_over_its_disk_quota_and_keeps_the_quota() -> Result<()> {
    let mut node = Node::start()?;
    let q = quotas(&node);
    assert_eq!(q["config"]["enabled"], json!(false));
    assert!(
        q["usage"]["disk_usage_percent"]
            .as_u64()
            .is_some_and(|p| p <= 100),
        "{q}"
    );
    assert!(
        q.get("peers").is_none(),
        "no peers outside distributed mode: {q}"
    );
    create(&node, "q", sharded(1, 1, 1))?;
    assert_eq!(upsert_one(&node, "q", 1).0, 200);

    let (code, body) = set(&node, json!({"enabled": true, "max_disk_usage_percent": 1}));
    assert_eq!((code, &body["result"]), (200, &json!(true)), "{body}");
    let (code, body) = upsert_one(&node, "q", 2);
    assert_eq!(code, 503, "{body}");
    let msg = body["status"]["error"].as_str().unwrap_or_default();
    assert!(msg.contains("disk usage over the quota"), "{msg}");
    let payload = json!({"payload": {"a": 1}, "points": [1]});
    let (code, _) = node
        .http()
        .post("/collections/q/points/payload?wait=true", &payload)?;
    assert_eq!(code, 503, "setting a payload takes space");
    let (code, body) = node.http().post(
        "/collections/q/points/delete?wait=true",
        &json!({"points": [1]}),
    )?;
    assert_eq!(code, 200, "deletes still work: {body}");

    for bad in [
        json!({"enabled": true, "max_disk_usage_percent": 0}),
        json!({"max_resident_memory_percent": 101}),
        json!({"release_margin_percent": 200}),
        json!({"enabled": "yes"}),
    ] {
        let (code, body) = set(&node, bad.clone());
        assert_eq!(code, 400, "{bad}: {body}");
    }

    // Telemetry carries the verdict per resource; memory has no limit, so it is null.
    let (code, tel) = node.http().get("/telemetry")?;
    assert_eq!(code, 200);
    let q = &tel["result"]["quota"];
    assert_eq!(q["config"]["max_disk_usage_percent"], json!(1), "{q}");
    assert_eq!(
        q["exceeded"],
        json!({"disk_usage": true, "resident_memory": null}),
        "{q}"
    );

    node.restart()?;
    let q = quotas(&node);
    assert_eq!(q["config"]["max_disk_usage_percent"], json!(1), "kept: {q}");
    assert_eq!(upsert_one(&node, "q", 3).0, 503);
    assert_eq!(set(&node, json!({"enabled": false})).0, 200);
    assert_eq!(upsert_one(&node, "q", 3).0, 200);
    Ok(())
}

#[test]
fn quotas_go_through_consensus_and_every_peer_reports_its_readings() -> Result<()> {
    let c = Cluster::start(3)?;
    create(&c.nodes[0], "q", sharded(3, 2, 1))?;
    let (code, body) = set(
        &c.nodes[1],
        json!({"enabled": true, "max_disk_usage_percent": 1}),
    );
    assert_eq!(code, 200, "{body}");
    for n in &c.nodes {
        let q = quotas(n);
        assert_eq!(q["config"]["max_disk_usage_percent"], json!(1), "{q}");
        let peers = q["peers"].as_object().expect("peers");
        assert_eq!(peers.len(), 3, "{q}");
        assert!(peers.values().all(|p| p["exceeded"] == json!(true)), "{q}");
    }
    // Every replica is on a peer over the quota; a peer learns the others' state from its
    // next health check of them.
    for n in &c.nodes {
        tests::wait_for(
            "writes to every shard refused",
            Duration::from_secs(30),
            || {
                (0..30)
                    .all(|id| upsert_one(n, "q", id).0 == 503)
                    .then_some(())
            },
        )?;
    }
    // A refused write is on no replica: the refusal comes before any replica is written.
    let body = json!({"ids": [100], "with_payload": false});
    let before = count(&c.nodes[0], "q");
    for n in &c.nodes {
        assert_eq!(upsert_one(n, "q", 100).0, 503);
    }
    assert_eq!(count(&c.nodes[0], "q"), before);
    let got = post(&c.nodes[0], "/collections/q/points?consistency=all", body);
    assert_eq!(got, json!([]), "point 100 is nowhere");
    assert_eq!(set(&c.nodes[2], json!({"enabled": false})).0, 200);
    for (i, n) in c.nodes.iter().enumerate() {
        let q = quotas(n);
        assert!(q["peers"]
            .as_object()
            .expect("peers")
            .values()
            .all(|p| p["exceeded"] == json!(false)));
        // Other peers' flags come with their next health check: retry until it passes.
        tests::wait_for("writes to pass again", Duration::from_secs(30), || {
            (upsert_one(n, "q", i as u64).0 == 200).then_some(())
        })?;
    }
    Ok(())
}
