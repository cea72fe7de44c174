//! Cluster API completeness on 3 real peers: the legacy search / recommend / discover
//! endpoints answer as their `points/query` forms, the example-scored queries (recommend
//! `best_score` / `sum_scores`, `discover`, `context`) score as Qdrant defines them and
//! equal a single node's answers, and a read `consistency` above the replica count is
//! clamped to all replicas.

use anyhow::Result;
use serde_json::{json, Value};
use std::time::Duration;
use tests::points::*;
use tests::{wait_for, Cluster, Node};

const N: u64 = 600;

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn dot_collection(shards: u32, rf: u32) -> Value {
    json!({
        "vectors": {"size": DIM, "distance": "Dot"},
        "shard_number": shards, "replication_factor": rf,
    })
}

/// `(id, score)` of each hit, scores rounded so shard merges compare equal.
fn hits(v: &Value) -> Vec<(u64, i64)> {
    let list = v.get("points").unwrap_or(v);
    list.as_array()
        .expect("hit list")
        .iter()
        .map(|p| {
            let s = p["score"].as_f64().unwrap();
            (p["id"].as_u64().unwrap(), (s * 1e4).round() as i64)
        })
        .collect()
}

fn loaded_cluster() -> Result<(Cluster, Node)> {
    let c = Cluster::start(3)?;
    create(&c.nodes[0], "l", dot_collection(3, 2))?;
    let single = Node::start()?;
    create(&single, "l", dot_collection(1, 1))?;
    for start in (0..N).step_by(200) {
        let (code, body) = upsert(&c.nodes[1], "l", start..start + 200)?;
        assert_eq!(code, 200, "{body}");
        let (code, body) = upsert(&single, "l", start..start + 200)?;
        assert_eq!(code, 200, "{body}");
    }
    Ok((c, single))
}

#[test]
fn legacy_endpoints_answer_as_query_and_example_scores_follow_qdrant() -> Result<()> {
    let (c, single) = loaded_cluster()?;
    let node = &c.nodes[2];
    let q = [0.3, -0.1, 0.2, 0.5, -0.4, 0.1, 0.0, 0.2];
    let filter = json!({"must": [{"key": "g", "match": {"value": 3}}]});
    let cases = [
        (
            "search",
            json!({"vector": q, "limit": 5, "offset": 1, "filter": filter}),
            json!({"query": q, "limit": 5, "offset": 1, "filter": filter}),
        ),
        (
            "search",
            json!({"vector": {"name": "", "vector": q}, "limit": 3}),
            json!({"query": q, "using": "", "limit": 3}),
        ),
        (
            "recommend",
            json!({"positive": [1, 2], "negative": [3], "limit": 6}),
            json!({"query": {"recommend": {"positive": [1, 2], "negative": [3]}}, "limit": 6}),
        ),
        (
            "recommend",
            json!({"positive": [1, q], "negative": [7], "strategy": "best_score", "limit": 6}),
            json!({"query": {"recommend": {"positive": [1, q], "negative": [7], "strategy": "best_score"}}, "limit": 6}),
        ),
        (
            "recommend",
            json!({"positive": [4, 5], "negative": [9], "strategy": "sum_scores", "limit": 6}),
            json!({"query": {"recommend": {"positive": [4, 5], "negative": [9], "strategy": "sum_scores"}}, "limit": 6}),
        ),
        (
            "discover",
            json!({"target": 10, "context": [{"positive": 11, "negative": 12}], "limit": 6}),
            json!({"query": {"discover": {"target": 10, "context": [{"positive": 11, "negative": 12}]}}, "limit": 6}),
        ),
    ];
    for (path, legacy, query) in &cases {
        let got = post(
            node,
            &format!("/collections/l/points/{path}"),
            legacy.clone(),
        );
        let want = post(node, "/collections/l/points/query", query.clone());
        assert!(!hits(&got).is_empty(), "{path}: {got}");
        assert_eq!(hits(&got), hits(&want), "{path} {legacy}");
        // And the cluster answers as one node holding everything.
        let one = post(&single, "/collections/l/points/query", query.clone());
        assert_eq!(hits(&want), hits(&one), "{query}");
        // The batch form: one answer per request, in order.
        if *path != "search" || legacy["offset"].is_null() {
            let batch = json!({"searches": [legacy, legacy]});
            let got = post(node, &format!("/collections/l/points/{path}/batch"), batch);
            assert_eq!(got.as_array().map(Vec::len), Some(2), "{got}");
            assert_eq!(hits(&got[1]), hits(&want), "{path}/batch");
        }
    }

    // Groups forms against query/groups.
    for (path, legacy, query) in [
        (
            "search",
            json!({"vector": q, "limit": 3, "group_by": "g", "group_size": 2}),
            json!({"query": q, "limit": 3, "group_by": "g", "group_size": 2}),
        ),
        (
            "recommend",
            json!({"positive": [1], "limit": 3, "group_by": "g", "group_size": 2}),
            json!({"query": {"recommend": {"positive": [1]}}, "limit": 3, "group_by": "g", "group_size": 2}),
        ),
    ] {
        let got = post(
            node,
            &format!("/collections/l/points/{path}/groups"),
            legacy,
        );
        let want = post(node, "/collections/l/points/query/groups", query);
        assert_eq!(got["groups"].as_array().map(Vec::len), Some(3), "{got}");
        assert_eq!(got, want, "{path}/groups");
    }

    // Scores by Qdrant's formulas, from the test's own vectors (Dot: similarity = dot).
    let sigmoid = |x: f32| 0.5 * (x / (1.0 + x.abs()) + 1.0);
    let top = post(
        node,
        "/collections/l/points/query",
        json!({"query": {"recommend": {"positive": [4, 5], "negative": [9], "strategy": "sum_scores"}}, "limit": 1}),
    );
    let id = top["points"][0]["id"].as_u64().unwrap();
    let x = vector(id);
    let want = dot(&vector(4), &x) + dot(&vector(5), &x) - dot(&vector(9), &x);
    let got = top["points"][0]["score"].as_f64().unwrap() as f32;
    assert!((got - want).abs() < 1e-4, "sum_scores {got} vs {want}");
    assert!(![4, 5, 9].contains(&id), "an example point was returned");
    let top = post(
        node,
        "/collections/l/points/query",
        json!({"query": {"discover": {"target": 10, "context": {"positive": 11, "negative": 12}}}, "limit": 1}),
    );
    let x = vector(top["points"][0]["id"].as_u64().unwrap());
    let rank = if dot(&vector(11), &x) > dot(&vector(12), &x) {
        1.0
    } else {
        -1.0
    };
    let want = rank + sigmoid(dot(&vector(10), &x));
    let got = top["points"][0]["score"].as_f64().unwrap() as f32;
    assert!((got - want).abs() < 1e-4, "discover {got} vs {want}");
    // Context: points on the positive side of the pair score 0, the best possible.
    let ctx = post(
        node,
        "/collections/l/points/query",
        json!({"query": {"context": {"positive": 11, "negative": 12}}, "limit": 10}),
    );
    for p in ctx["points"].as_array().unwrap() {
        let x = vector(p["id"].as_u64().unwrap());
        assert!(dot(&vector(11), &x) >= dot(&vector(12), &x), "{p}");
        assert_eq!(p["score"].as_f64(), Some(0.0), "{p}");
    }

    // Bad input is a 400 with Qdrant's body.
    for (path, body) in [
        ("search", json!({"vector": q})),
        ("recommend", json!({"positive": [], "limit": 3})),
        (
            "recommend",
            json!({"positive": [1], "strategy": "worst", "limit": 3}),
        ),
        ("discover", json!({"context": [], "limit": 3})),
    ] {
        let (code, reply) = node
            .http()
            .post(&format!("/collections/l/points/{path}"), &body)?;
        assert_eq!(code, 400, "{path} {body}: {reply}");
        assert!(reply["status"]["error"].is_string(), "{reply}");
    }
    Ok(())
}

#[test]
fn consistency_above_the_replica_count_reads_all_replicas() -> Result<()> {
    let (c, _single) = loaded_cluster()?;
    let node = &c.nodes[0];
    for consistency in ["5", "3", "all", "quorum"] {
        let path = format!("/collections/l/points/count?consistency={consistency}");
        let n = post(node, &path, json!({"exact": true}));
        assert_eq!(n["count"], json!(N), "count with consistency={consistency}");
        let path = format!("/collections/l/points/scroll?consistency={consistency}");
        let page = post(node, &path, json!({"limit": 1000}));
        assert_eq!(page["points"].as_array().map(Vec::len), Some(N as usize));
        let path = format!("/collections/l/points/query?consistency={consistency}");
        let found = post(node, &path, json!({"query": 5, "limit": 4}));
        assert_eq!(found["points"].as_array().map(Vec::len), Some(4), "{found}");
        assert_eq!(retrieve_all(node, "l", N, consistency), N as usize);
    }
    Ok(())
}

#[test]
fn recover_resyncs_a_peer_with_the_leader() -> Result<()> {
    let standalone = Node::start()?;
    let (code, body) = standalone.http().post("/cluster/recover", &json!({}))?;
    assert_eq!(code, 400, "{body}");
    assert!(body["status"]["error"]
        .as_str()
        .unwrap()
        .contains("standalone"));

    let mut c = Cluster::start(3)?;
    create(&c.nodes[0], "r", dot_collection(3, 3))?;
    let (code, body) = upsert(&c.nodes[0], "r", 0..200)?;
    assert_eq!(code, 200, "{body}");
    // Peer 2 misses writes: its replicas are marked dead.
    c.nodes[2].kill9()?;
    let (code, body) = upsert(&c.nodes[0], "r", 200..N)?;
    assert_eq!(code, 200, "{body}");
    c.nodes[2].start_again()?;
    c.wait_converged(Duration::from_secs(60))?;
    let (code, body) = c.nodes[2].http().post("/cluster/recover", &json!({}))?;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["result"], json!(true));
    wait_for(
        "peer 2's replicas active again",
        Duration::from_secs(60),
        || {
            let info = cluster_info(&c.nodes[2], "r");
            let states = replicas(&info);
            (states.len() == 9 && states.values().all(|s| s == "Active")).then_some(())
        },
    )?;
    // Its own replicas hold every point (a read asks the local replica first).
    assert_eq!(count(&c.nodes[2], "r"), N);
    Ok(())
}

#[test]
fn telemetry_in_qdrants_shape_by_details_level() -> Result<()> {
    let (c, _single) = loaded_cluster()?;
    let get = |q: &str| -> Value {
        let (code, body) = c.nodes[1].http().get(&format!("/telemetry{q}")).unwrap();
        assert_eq!(code, 200, "{body}");
        body["result"].clone()
    };
    let t0 = get("");
    assert_eq!(t0["collections"]["number_of_collections"], json!(1));
    assert!(t0["collections"].get("collections").is_none(), "{t0}");
    assert_eq!(t0["cluster"]["enabled"], json!(true));
    assert!(t0["app"]["startup"].as_str().unwrap().ends_with('Z'));
    // This peer took the 3 upserts of loaded_cluster (the single node took the others).
    let upserts =
        &t0["requests"]["rest"]["responses"]["PUT /collections/{collection_name}/points"]["200"];
    assert_eq!(upserts["count"], json!(N / 200), "{t0}");
    assert!(upserts["max_duration_micros"].as_f64() >= upserts["min_duration_micros"].as_f64());

    let t1 = get("?details_level=1");
    let col = &t1["collections"]["collections"][0];
    assert_eq!(col["params"]["shard_number"], json!(3), "{col}");
    assert!(t1["memory"]["resident_bytes"].as_u64().unwrap() > 1 << 20);
    assert!(t1["app"]["system"]["cores"].as_u64().unwrap() >= 1);

    let t2 = get("?details_level=2");
    assert_eq!(t2["cluster"]["status"]["number_of_peers"], json!(3), "{t2}");
    assert!(t2["cluster"]["status"]["term"].as_u64().unwrap() >= 1);

    let t3 = get("?details_level=3");
    let col = &t3["collections"]["collections"][0];
    assert_eq!(col["id"], json!("l"));
    let shards = col["shards"].as_array().unwrap();
    assert_eq!(shards.len(), 3);
    let replicas: usize = shards
        .iter()
        .map(|s| s["replicate_states"].as_object().unwrap().len())
        .sum();
    assert_eq!(replicas, 6, "{col}");
    let held: u64 = shards
        .iter()
        .filter_map(|s| s["local"]["num_points"].as_u64())
        .sum();
    assert!(held > 0 && held < N, "peer 1 holds some shards: {held}");

    let anon = get("?details_level=3&anonymize=true");
    assert_ne!(anon["collections"]["collections"][0]["id"], json!("l"));
    let (code, _) = c.nodes[1].http().get("/telemetry?details_level=many")?;
    assert_eq!(code, 400);

    // The same figures in /metrics, under Qdrant's names.
    let (_, m) = c.nodes[1].http().text("/metrics")?;
    let value = |line: &str| -> f64 {
        m.lines()
            .find_map(|l| l.strip_prefix(line)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {line} in {m}"))
    };
    assert_eq!(value("cluster_enabled "), 1.0);
    assert_eq!(value("cluster_peers_total "), 3.0);
    assert!(value("cluster_term ") >= 1.0);
    let me = c.peer_id(1);
    assert!(value(&format!("cluster_commit{{peer_id=\"{me}\"}} ")) >= 1.0);
    assert_eq!(value("collection_active_replicas_min "), 2.0);
    assert_eq!(value("collection_dead_replicas "), 0.0);
    assert_eq!(value("collection_points{id=\"l\"} "), held as f64);
    let ep = "endpoint=\"/collections/{collection_name}/points\",method=\"PUT\",status=\"200\"";
    assert_eq!(
        value(&format!("rest_responses_total{{{ep}}} ")),
        (N / 200) as f64
    );
    let inf = value(&format!(
        "rest_responses_duration_seconds_bucket{{{ep},le=\"+Inf\"}} "
    ));
    assert_eq!(inf, (N / 200) as f64);
    Ok(())
}
