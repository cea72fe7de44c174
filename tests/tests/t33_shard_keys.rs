//! User-defined sharding on 3 real peers: shard keys created with their shards, writes and
//! reads by key (and Qdrant's errors without one), a keyed shard moved while a writer
//! writes to another key, a key dropped with its data; then the real `qdrant-client` over
//! REST and gRPC.

use anyhow::Result;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tests::points::*;
use tests::{wait_for, Cluster, Http};

fn keyed_points(ids: std::ops::Range<u64>, key: Value, tag: &str) -> Value {
    let pts: Vec<Value> = ids
        .map(|i| json!({"id": i, "vector": vector(i), "payload": {"i": i, "tag": tag}}))
        .collect();
    json!({"points": pts, "shard_key": key})
}

fn count_in(node: &impl Target, key: Value) -> u64 {
    post(
        node,
        "/collections/k/points/count",
        json!({"exact": true, "shard_key": key}),
    )["count"]
        .as_u64()
        .unwrap()
}

fn error_of(reply: &(u16, Value)) -> String {
    reply.1["status"]["error"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// (shard id, peer id, shard key) of every replica, from one peer's view.
fn keyed_replicas(info: &Value) -> Vec<(u64, u64, Value)> {
    let me = info["peer_id"].as_u64().unwrap();
    let mut out = Vec::new();
    for (list, local) in [("local_shards", true), ("remote_shards", false)] {
        for s in info[list].as_array().unwrap() {
            let peer = if local {
                me
            } else {
                s["peer_id"].as_u64().unwrap()
            };
            out.push((
                s["shard_id"].as_u64().unwrap(),
                peer,
                s["shard_key"].clone(),
            ));
        }
    }
    out.sort_by_key(|r| (r.0, r.1));
    out
}

/// Writes batches of 20 new points to key "eu" through the peers in turn until stopped;
/// returns the end of the acknowledged ids.
fn keyed_writer(urls: Vec<String>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let (client, mut next, mut turn) = (Http::new(""), 10_000u64, 0);
        while !stop.load(Ordering::Relaxed) {
            let http = client.rebase(&urls[turn % urls.len()]);
            turn += 1;
            let body = keyed_points(next..next + 20, json!("eu"), "w");
            if let Ok((200, _)) = http.put("/collections/k/points?wait=true", &body) {
                next += 20;
            }
        }
        next
    })
}

#[test]
fn shard_keys_end_to_end_on_three_peers() -> Result<()> {
    let c = Cluster::start(3)?;
    let (a, b) = (&c.nodes[0], &c.nodes[1]);
    let body = json!({
        "vectors": {"size": DIM, "distance": "Dot"},
        "sharding_method": "custom", "shard_number": 2, "replication_factor": 2,
    });
    create(a, "k", body)?;
    let (_, got) = a.http().get("/collections/k")?;
    assert_eq!(
        got["result"]["config"]["params"]["sharding_method"],
        json!("custom")
    );
    assert_eq!(cluster_info(a, "k")["shard_count"], json!(0));

    // Writes need a key that exists.
    let plain = a
        .http()
        .put("/collections/k/points?wait=true", &points(0..5))?;
    assert_eq!(plain.0, 400, "{}", plain.1);
    assert_eq!(error_of(&plain), "Wrong input: Shard key not specified");
    let unknown = keyed_points(0..5, json!("nowhere"), "x");
    let r = a.http().put("/collections/k/points?wait=true", &unknown)?;
    assert_eq!(
        (r.0, error_of(&r).as_str()),
        (400, "Wrong input: Shard key \"nowhere\" not found")
    );

    // Key "eu": the collection's 2 shards × 2 replicas; key 7: 1 shard on peer 3 only.
    let peer3 = c.peer_id(2);
    let (code, r) = b
        .http()
        .put("/collections/k/shards", &json!({"shard_key": "eu"}))?;
    assert_eq!(code, 200, "{r}");
    let again = b
        .http()
        .put("/collections/k/shards", &json!({"shard_key": "eu"}))?;
    assert_eq!(again.0, 400);
    assert!(error_of(&again).contains("already exists"), "{}", again.1);
    let seven =
        json!({"shard_key": 7, "shards_number": 1, "replication_factor": 1, "placement": [peer3]});
    let (code, r) = b.http().put("/collections/k/shards", &seven)?;
    assert_eq!(code, 200, "{r}");
    let (_, keys) = c.nodes[2].http().get("/collections/k/shards")?;
    assert_eq!(
        keys["result"]["shard_keys"],
        json!([{"key": "eu"}, {"key": 7}])
    );
    let layout = keyed_replicas(&cluster_info(&c.nodes[2], "k"));
    assert_eq!(layout.len(), 5, "{layout:?}");
    let (eu, sev): (Vec<_>, Vec<_>) = layout.iter().partition(|r| r.2 == json!("eu"));
    assert_eq!(eu.len(), 4);
    assert_eq!(sev.len(), 1);
    assert_eq!(sev[0].1, peer3, "key 7 placed where asked");
    let seven_shard = sev[0].0;

    // The same ids under both keys, with different payloads.
    let (code, r) = a.http().put(
        "/collections/k/points?wait=true",
        &keyed_points(0..300, json!("eu"), "eu"),
    )?;
    assert_eq!(code, 200, "{r}");
    let (code, r) = b.http().put(
        "/collections/k/points?wait=true",
        &keyed_points(0..100, json!(7), "seven"),
    )?;
    assert_eq!(code, 200, "{r}");
    assert_eq!(count_in(a, json!("eu")), 300);
    assert_eq!(count_in(b, json!(7)), 100);
    assert_eq!(
        count(&c.nodes[2], "k"),
        400,
        "a count without key covers every key"
    );
    let page = post(
        b,
        "/collections/k/points/scroll",
        json!({"shard_key": 7, "limit": 500}),
    );
    let recs = page["points"].as_array().unwrap();
    assert_eq!(recs.len(), 100);
    assert!(recs
        .iter()
        .all(|p| p["shard_key"] == json!(7) && p["payload"]["tag"] == json!("seven")));
    let hits = post(
        a,
        "/collections/k/points/query",
        json!({"query": vector(5), "limit": 3, "shard_key": 7, "with_payload": true}),
    );
    let hits = hits["points"].as_array().unwrap();
    assert_eq!(hits.len(), 3);
    assert!(hits.iter().all(|h| h["shard_key"] == json!(7)), "{hits:?}");
    let got = post(
        &c.nodes[2],
        "/collections/k/points",
        json!({"ids": [5, 250], "shard_key": 7}),
    );
    assert_eq!(
        got.as_array().unwrap().len(),
        1,
        "id 250 is only under eu: {got}"
    );
    assert_eq!(got[0]["payload"]["tag"], json!("seven"));
    let fb = post(
        a,
        "/collections/k/points/count",
        json!({"shard_key": {"target": "asia", "fallback": 7}}),
    );
    assert_eq!(fb["count"], json!(100), "a missing target falls back");
    let r = a
        .http()
        .post("/collections/k/points/count", &json!({"shard_key": "asia"}))?;
    assert_eq!(
        (r.0, error_of(&r).as_str()),
        (400, "Bad request: Shard key \"asia\" not found")
    );
    // A delete by filter within one key leaves the other key's copies.
    let del = json!({"filter": {"must": [{"key": "i", "range": {"lt": 50}}]}, "shard_key": "eu"});
    let (code, r) = a
        .http()
        .post("/collections/k/points/delete?wait=true", &del)?;
    assert_eq!(code, 200, "{r}");
    assert_eq!(count_in(b, json!("eu")), 250);
    assert_eq!(count_in(b, json!(7)), 100);

    // Move key 7's shard to peer 1 while a writer writes to "eu".
    let stop = Arc::new(AtomicBool::new(false));
    let urls = c.nodes.iter().map(|n| n.url.clone()).collect();
    let writer = keyed_writer(urls, stop.clone());
    let peer1 = c.peer_id(0);
    let mv = json!({"move_shard": {"shard_id": seven_shard, "from_peer_id": peer3, "to_peer_id": peer1}});
    let (code, r) = a.http().post("/collections/k/cluster", &mv)?;
    assert_eq!(code, 200, "{r}");
    wait_for(
        "key 7's shard moved to peer 1",
        Duration::from_secs(60),
        || {
            let info = cluster_info(&c.nodes[2], "k");
            let moved = keyed_replicas(&info)
                .into_iter()
                .any(|r| r.0 == seven_shard && r.1 == peer1 && r.2 == json!(7));
            let idle = info["shard_transfers"]
                .as_array()
                .is_some_and(Vec::is_empty);
            (moved && idle).then_some(())
        },
    )?;
    stop.store(true, Ordering::Relaxed);
    let end = writer.join().expect("writer");
    assert!(end > 10_000, "the writer got writes through");
    assert_eq!(
        count_in(&c.nodes[2], json!(7)),
        100,
        "the moved shard kept its points"
    );
    assert_eq!(count_in(&c.nodes[2], json!("eu")), 250 + (end - 10_000));

    // replicate_points copies a key's points matching a filter into another key.
    let range = json!({"must": [{"key": "i", "range": {"gte": 250, "lt": 300}}]});
    let rp =
        json!({"replicate_points": {"from_shard_key": "eu", "to_shard_key": 7, "filter": range}});
    let (code, r) = b.http().post("/collections/k/cluster", &rp)?;
    assert_eq!(code, 200, "{r}");
    wait_for(
        "50 points copied into key 7",
        Duration::from_secs(30),
        || (count_in(&c.nodes[2], json!(7)) == 150).then_some(()),
    )?;
    let got = post(
        a,
        "/collections/k/points",
        json!({"ids": [260], "shard_key": 7}),
    );
    assert_eq!(got[0]["payload"]["tag"], json!("eu"), "{got}");
    let restart = json!({"restart_transfer": {"shard_id": seven_shard, "from_peer_id": peer1, "to_peer_id": peer3, "method": "stream_records"}});
    let r = a.http().post("/collections/k/cluster", &restart)?;
    assert_eq!(r.0, 400, "no such transfer is running: {}", r.1);

    // Dropping key 7 removes its shard and points.
    let (code, r) = b
        .http()
        .post("/collections/k/shards/delete", &json!({"shard_key": 7}))?;
    assert_eq!(code, 200, "{r}");
    let (_, keys) = a.http().get("/collections/k/shards")?;
    assert_eq!(keys["result"]["shard_keys"], json!([{"key": "eu"}]));
    assert_eq!(keyed_replicas(&cluster_info(a, "k")).len(), 4);
    assert_eq!(count(a, "k"), 250 + (end - 10_000));
    let r = a.http().put(
        "/collections/k/points?wait=true",
        &keyed_points(0..1, json!(7), "x"),
    )?;
    assert_eq!(r.0, 400, "{}", r.1);
    let gone = b
        .http()
        .post("/collections/k/shards/delete", &json!({"shard_key": 7}))?;
    assert_eq!(gone.0, 400);

    // Automatic sharding has no keys to create.
    create(a, "auto", sharded(2, 1, 1))?;
    let r = a
        .http()
        .put("/collections/auto/shards", &json!({"shard_key": "x"}))?;
    assert_eq!(
        (r.0, error_of(&r).as_str()),
        (
            400,
            "Bad request: Shard Key cannot be created with Auto sharding method"
        )
    );
    let (_, keys) = a.http().get("/collections/auto/shards")?;
    assert_eq!(keys["result"], json!({}));

    // The real client, over REST and gRPC.
    let grpc: Vec<String> = c.nodes.iter().map(|n| n.grpc.clone()).collect();
    let out = std::process::Command::new(tests::python())
        .arg(tests::repo_root().join("tests/python/shard_keys.py"))
        .arg(&a.url)
        .arg(grpc[1].rsplit(':').next().unwrap_or_default())
        .output()?;
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "shard_keys.py failed:\n{printed}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(printed.contains("all checks passed"), "{printed}");
    Ok(())
}
