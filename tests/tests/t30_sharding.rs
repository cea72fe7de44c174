//! Sharded, replicated collections on a cluster of real processes: placement, routing by
//! point id, fan-out reads equal to a single node, write consistency, dead replicas and
//! their automatic recovery, and the seed's Python examples with qdrant-client.

use anyhow::Result;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tests::points::*;
use tests::{python, repo_root, wait_for, Cluster, Node};

#[test]
fn points_are_spread_over_shards_and_found_through_every_peer() -> Result<()> {
    let c = Cluster::start(3)?;
    create(&c.nodes[0], "c", sharded(6, 2, 1))?;
    let reference = Node::start()?;
    create(&reference, "c", sharded(1, 1, 1))?;

    // Placement: 12 replicas, 4 per peer, never two of a shard on one peer, all active.
    let view = replicas(&cluster_info(&c.nodes[1], "c"));
    assert_eq!(view.len(), 12, "{view:?}");
    let mut per_peer: BTreeMap<u64, usize> = BTreeMap::new();
    for ((_, peer), state) in &view {
        *per_peer.entry(*peer).or_default() += 1;
        assert_eq!(state, "Active");
    }
    assert_eq!(
        per_peer.values().copied().collect::<Vec<_>>(),
        vec![4, 4, 4]
    );
    for i in 0..3 {
        assert_eq!(
            replicas(&cluster_info(&c.nodes[i], "c")),
            view,
            "peer {i} sees another layout"
        );
    }

    const N: u64 = 10_000;
    for (k, start) in (0..N).step_by(500).enumerate() {
        let (code, body) = upsert(&c.nodes[k % 3], "c", start..start + 500)?;
        assert_eq!(code, 200, "{body}");
        let (code, body) = upsert(&reference, "c", start..start + 500)?;
        assert_eq!(code, 200, "{body}");
    }

    // Shards hold disjoint parts: local points over all peers = N × replication factor.
    let mut held = 0;
    for i in 0..3 {
        let info = cluster_info(&c.nodes[i], "c");
        for s in info["local_shards"].as_array().unwrap() {
            let n = s["points_count"].as_u64().unwrap();
            assert!(n > 0, "shard {s} is empty");
            held += n;
        }
    }
    assert_eq!(held, 2 * N);

    let want_ids = scroll_ids(&reference, "c");
    assert_eq!(want_ids.len(), N as usize);
    let filter = json!({"filter": {"must": [{"key": "g", "match": {"value": 3}}]}, "exact": true});
    let want_filtered = post(&reference, "/collections/c/points/count", filter.clone());
    let index = json!({"field_name": "g", "field_schema": "integer"});
    for n in [&c.nodes[0], &reference] {
        let (code, body) = n.http().put("/collections/c/index?wait=true", &index)?;
        assert_eq!(code, 200, "{body}");
    }
    for n in &c.nodes {
        wait_for("index on every peer", Duration::from_secs(20), || {
            let (_, info) = n.http().get("/collections/c").ok()?;
            info["result"]["payload_schema"]["g"]
                .is_object()
                .then_some(())
        })?;
    }
    // g = i % 7: values 0-3 hold 1429 points, 4-6 hold 1428; ties in value order.
    let facet = json!({"key": "g", "limit": 5});
    let want_facet = post(&reference, "/collections/c/facet", facet.clone());
    let want_hits: Vec<(u64, u64)> = (0..5)
        .map(|g| (g, if g < 4 { 1429 } else { 1428 }))
        .collect();
    let got_hits: Vec<(u64, u64)> = want_facet["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["value"].as_u64().unwrap(), h["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(got_hits, want_hits, "{want_facet}");
    let facet_filtered =
        json!({"key": "g", "filter": {"must": [{"key": "i", "range": {"lt": 100}}]}});
    let want_facet_filtered = post(&reference, "/collections/c/facet", facet_filtered.clone());
    // A sample larger than the matching points takes them all: the matrix is then the same
    // through any peer as on one node (rows in random order, so compared by row id).
    let matrix =
        json!({"filter": {"must": [{"key": "i", "range": {"lt": 40}}]}, "sample": 100, "limit": 3});
    let want_matrix = matrix_rows(&post(
        &reference,
        "/collections/c/points/search/matrix/offsets",
        matrix.clone(),
    ));
    assert_eq!(want_matrix.len(), 40);
    let mut queries: Vec<Value> = (0..10)
        .map(|q| json!({"query": vector(N + q), "limit": 10, "offset": 3, "with_payload": true}))
        .collect();
    queries.push(json!({"prefetch": [{"query": vector(N), "limit": 30}, {"query": vector(N + 1), "limit": 30}],
                        "query": {"fusion": "rrf"}, "limit": 10, "with_payload": true}));
    queries.push(
        json!({"prefetch": {"query": vector(N + 2), "limit": 40}, "query": vector(N + 3),
                        "filter": {"must": [{"key": "g", "match": {"value": 2}}]}, "limit": 5}),
    );
    for i in 0..3 {
        let n = &c.nodes[i];
        assert_eq!(count(n, "c"), N, "count through peer {i}");
        assert_eq!(
            post(n, "/collections/c/points/count", filter.clone()),
            want_filtered
        );
        assert_eq!(scroll_ids(n, "c"), want_ids, "scroll through peer {i}");
        assert_eq!(post(n, "/collections/c/facet", facet.clone()), want_facet);
        let got = post(
            n,
            "/collections/c/points/search/matrix/offsets",
            matrix.clone(),
        );
        assert_eq!(matrix_rows(&got), want_matrix, "matrix through peer {i}");
        assert_eq!(
            post(n, "/collections/c/facet", facet_filtered.clone()),
            want_facet_filtered
        );
        assert_eq!(retrieve_all(n, "c", N, "1"), N as usize);
        for q in &queries {
            let got = post(n, "/collections/c/points/query", q.clone());
            let want = post(&reference, "/collections/c/points/query", q.clone());
            assert_eq!(got, want, "search through peer {i}");
        }
        let by_id = json!({"query": pid(9600), "limit": 5});
        assert_eq!(
            post(n, "/collections/c/points/query", by_id.clone()),
            post(&reference, "/collections/c/points/query", by_id)
        );
    }
    Ok(())
}

/// An offsets matrix as row id -> [(column id, score)].
fn matrix_rows(m: &Value) -> BTreeMap<String, Vec<(String, String)>> {
    let ids = m["ids"].as_array().unwrap();
    let mut rows: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for k in 0..m["scores"].as_array().unwrap().len() {
        let at = |key: &str| ids[m[key][k].as_u64().unwrap() as usize].to_string();
        let score = format!("{:.5}", m["scores"][k].as_f64().unwrap());
        rows.entry(at("offsets_row"))
            .or_default()
            .push((at("offsets_col"), score));
    }
    rows
}

#[test]
fn a_dead_peer_is_marked_dead_and_recovers_every_missed_write() -> Result<()> {
    let mut c = Cluster::start(3)?;
    create(&c.nodes[0], "c", sharded(6, 2, 1))?;
    let (code, body) = upsert(&c.nodes[0], "c", 0..2000)?;
    assert_eq!(code, 200, "{body}");
    let dead = c.peer_id(2);
    c.nodes[2].kill9()?;

    // Writes and reads keep working through the survivors.
    for start in (2000..3000).step_by(100) {
        let (code, body) = upsert(
            &c.nodes[(start as usize / 100) % 2],
            "c",
            start..start + 100,
        )?;
        assert_eq!(code, 200, "{body}");
    }
    for i in 0..2 {
        assert_eq!(count(&c.nodes[i], "c"), 3000);
        assert_eq!(retrieve_all(&c.nodes[i], "c", 3000, "1"), 3000);
    }
    wait_for(
        "the dead peer's replicas to show Dead",
        Duration::from_secs(30),
        || {
            let of_dead = states_of(&c.nodes[0], "c", dead);
            (of_dead.len() == 4 && of_dead.iter().all(|s| s == "Dead")).then_some(())
        },
    )?;

    c.nodes[2].start_again()?;
    wait_for(
        "every replica active again",
        Duration::from_secs(60),
        || {
            let info = cluster_info(&c.nodes[0], "c");
            let view = replicas(&info);
            let quiet = info["shard_transfers"]
                .as_array()
                .is_some_and(|t| t.is_empty());
            (quiet && view.len() == 12 && view.values().all(|s| s == "Active")).then_some(())
        },
    )?;
    let logs = format!("{}{}", c.nodes[0].log(), c.nodes[1].log());
    assert!(
        logs.contains("recovering a dead replica"),
        "no recovery transfer ran"
    );
    // With consistency=all each shard's two replicas must both hold a point for it to count.
    for i in 0..3 {
        assert_eq!(
            retrieve_all(&c.nodes[i], "c", 3000, "all"),
            3000,
            "through peer {i}"
        );
    }
    let info = cluster_info(&c.nodes[2], "c");
    assert_eq!(info["local_shards"].as_array().map(Vec::len), Some(4));
    Ok(())
}

#[test]
fn write_consistency_factor_two_needs_both_replicas() -> Result<()> {
    let mut c = Cluster::start(3)?;
    create(&c.nodes[0], "c", sharded(6, 2, 2))?;
    let (code, body) = upsert(&c.nodes[1], "c", 0..600)?;
    assert_eq!(code, 200, "{body}");
    assert_eq!(retrieve_all(&c.nodes[0], "c", 600, "all"), 600);

    c.nodes[2].kill9()?;
    let mut acked = Vec::new();
    let mut refused = 0;
    for i in 1000..1060 {
        let (code, body) = upsert(&c.nodes[0], "c", i..i + 1)?;
        match code {
            200 => acked.push(pid(i)),
            503 => {
                let msg = body["status"]["error"].as_str().unwrap_or("");
                assert!(
                    msg.contains("write_consistency_factor 2 not reached"),
                    "{msg}"
                );
                refused += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    // Two of the six shards have no replica on the dead peer.
    assert!(
        refused > 0 && !acked.is_empty(),
        "refused {refused}, acked {}",
        acked.len()
    );
    let got = post(
        &c.nodes[1],
        "/collections/c/points?consistency=all",
        json!({"ids": acked, "with_payload": false}),
    );
    let got: BTreeSet<String> = got
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].to_string())
        .collect();
    assert_eq!(
        got.len(),
        acked.len(),
        "an acknowledged write is missing a replica"
    );
    Ok(())
}

#[test]
fn seed_python_examples_run_with_qdrant_client() -> Result<()> {
    let c = Cluster::start(3)?;
    let urls: Vec<String> = c.nodes.iter().map(|n| n.url.clone()).collect();
    let out = std::process::Command::new(python())
        .arg(repo_root().join("tests/python/seed_cluster.py"))
        .args(&urls)
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{stdout}\n{stderr}\n{}",
        c.nodes[0].log()
    );
    assert!(stdout.contains("seed examples passed"), "{stdout}");
    Ok(())
}

#[test]
fn cluster_telemetry_shows_every_peer_and_replica() -> Result<()> {
    let mut c = Cluster::start(3)?;
    create(&c.nodes[0], "c", sharded(3, 2, 1))?;
    let (code, body) = upsert(&c.nodes[0], "c", 0..300)?;
    assert_eq!(code, 200, "{body}");
    let telemetry = |n: &Node| -> Value {
        let (code, body) = n.http().get("/cluster/telemetry").expect("telemetry");
        assert_eq!(code, 200, "{body}");
        body["result"].clone()
    };
    let t = telemetry(&c.nodes[1]);
    let peers = t["cluster"]["peers"].as_object().expect("peers");
    assert_eq!(peers.len(), 3, "{t}");
    assert!(peers.values().all(|p| p["responsive"] == true), "{t}");
    let leaders = peers
        .values()
        .filter(|p| p["details"]["role"] == "Leader")
        .count();
    assert_eq!(leaders, 1, "{t}");
    let terms: BTreeSet<String> = peers
        .values()
        .map(|p| p["details"]["term"].to_string())
        .collect();
    assert_eq!(terms.len(), 1, "{t}");
    let shards = t["collections"]["c"]["shards"].as_array().expect("shards");
    assert_eq!(shards.len(), 3, "{t}");
    for s in shards {
        let replicas = s["replicas"].as_array().unwrap();
        assert_eq!(replicas.len(), 2, "{s}");
        assert!(replicas.iter().all(|r| r["state"] == "Active"), "{s}");
    }
    // Points are counted for the replicas held by the peer asked.
    let me = c.nodes[1].http().get("/cluster")?.1["result"]["peer_id"].clone();
    let local: u64 = shards
        .iter()
        .flat_map(|s| s["replicas"].as_array().unwrap().iter())
        .filter(|r| r["peer_id"] == me)
        .map(|r| r["num_points"].as_u64().expect("local replica counted"))
        .sum();
    let held: u64 = cluster_info(&c.nodes[1], "c")["local_shards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["points_count"].as_u64().unwrap())
        .sum();
    assert_eq!(local, held);
    assert!(held > 0);

    // A killed peer is reported unresponsive, without details.
    let gone = c.nodes[2].http().get("/cluster")?.1["result"]["peer_id"].to_string();
    c.nodes[2].kill9()?;
    let t = telemetry(&c.nodes[0]);
    assert_eq!(t["cluster"]["peers"][&gone]["responsive"], false, "{t}");
    assert!(t["cluster"]["peers"][&gone]["details"].is_null(), "{t}");
    Ok(())
}
