//! The HNSW graphs are saved and opened again at start: after kill -9 a collection is green
//! at once and searched through its graph without indexing anew; points changed or deleted
//! before the crash are never returned stale, and points written just before a kill are
//! all there after it.

use anyhow::{Context, Result};
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tests::{wait_for, Http, Node};

const DIM: usize = 32;
const N: u64 = 20_000;

fn ok(r: (u16, Value)) -> Value {
    assert_eq!(r.0, 200, "unexpected reply: {}", r.1);
    r.1["result"].clone()
}

fn vectors(n: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let centers: Vec<Vec<f32>> = (0..8)
        .map(|_| (0..DIM).map(|_| rng.gen_range(-1.0..1.0)).collect())
        .collect();
    (0..n)
        .map(|i| {
            (centers[i % 8].iter())
                .map(|c| c + rng.gen_range(-0.3f32..0.3))
                .collect()
        })
        .collect()
}

fn upsert(h: &Http, first: usize, data: &[Vec<f32>]) {
    for (c, chunk) in data.chunks(1000).enumerate() {
        let points: Vec<Value> = (chunk.iter().enumerate())
            .map(|(i, v)| json!({"id": first + c * 1000 + i, "vector": v}))
            .collect();
        ok(h.put(
            "/collections/g/points?wait=true",
            &json!({ "points": points }),
        )
        .unwrap());
    }
}

/// A gauge of `/metrics` without labels.
fn metric(h: &Http, name: &str) -> Option<u64> {
    let (_, text) = h.text("/metrics").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<f64>().ok())
        .map(|v| v as u64)
}

fn wait_metric(h: &Http, name: &str, want: u64) -> Result<()> {
    wait_for(
        &format!("{name} = {want}"),
        Duration::from_secs(120),
        || (metric(h, name)? == want).then_some(()),
    )
}

fn green(h: &Http) -> Result<Duration> {
    let started = Instant::now();
    wait_for("green", Duration::from_secs(300), || {
        let (code, v) = h.get("/collections/g").ok()?;
        (code == 200 && v["result"]["status"] == "green").then_some(())
    })?;
    Ok(started.elapsed())
}

fn search(h: &Http, q: &[f32], exact: bool) -> Vec<(u64, f64)> {
    let body = json!({"query": q, "limit": 10, "params": {"exact": exact, "hnsw_ef": 64}});
    let r = ok(h.post("/collections/g/points/query", &body).unwrap());
    (r["points"].as_array().cloned().unwrap_or_default().iter())
        .map(|p| {
            (
                p["id"].as_u64().unwrap_or(u64::MAX),
                p["score"].as_f64().unwrap_or(0.0),
            )
        })
        .collect()
}

/// Recall@10 of graph searches against exact ones; none returns a deleted point, and
/// scores are the exact ones (no stale vector).
fn recall(h: &Http) -> f64 {
    let (mut hits, mut total) = (0, 0);
    for q in vectors(50, 9) {
        let (approx, exact) = (search(h, &q, false), search(h, &q, true));
        assert!(
            approx.iter().all(|(id, _)| !(500..1000).contains(id)),
            "{approx:?}"
        );
        for (id, score) in &approx {
            if let Some((_, s)) = exact.iter().find(|e| e.0 == *id) {
                assert!((s - score).abs() < 1e-5, "{id}: {score} vs exact {s}");
            }
        }
        hits += approx
            .iter()
            .filter(|a| exact.iter().any(|e| e.0 == a.0))
            .count();
        total += exact.len();
    }
    hits as f64 / total as f64
}

#[test]
fn a_restart_opens_the_saved_graphs_instead_of_building_them() -> Result<()> {
    let mut n = Node::start()?;
    let mut h = n.http();
    // 10 kB: 50k points of 32 dims go through the graph.
    let body = json!({"vectors": {"size": DIM, "distance": "Cosine"},
                      "hnsw_config": {"full_scan_threshold": 10}});
    ok(h.put("/collections/g", &body)?);
    upsert(&h, 0, &vectors(N as usize, 5));
    eprintln!("built in {:?}", green(&h)?);
    // Changed and deleted before the graphs were saved: their old nodes are holes at start.
    upsert(&h, 0, &vectors(500, 6));
    let del = json!({"points": (500..1000).collect::<Vec<_>>()});
    ok(h.post("/collections/g/points/delete?wait=true", &del)?);
    wait_metric(&h, "index_saved_vectors", N + 500)?;
    let before = recall(&h);

    n.restart()?; // kill -9, and a new port
    h = n.http();
    let took = green(&h)?;
    eprintln!("green {took:?} after the restart");
    assert_eq!(metric(&h, "index_loaded_vectors"), Some(N - 500));
    assert_eq!(metric(&h, "index_built_vectors"), Some(0));
    let count = ok(h.post("/collections/g/points/count", &json!({"exact": true}))?);
    assert_eq!(count["count"], N - 500);
    let after = recall(&h);
    eprintln!("recall@10 with ef 64: {before} before the kill, {after} after the restart");
    assert!(after >= before - 0.02, "recall {after}, {before} before");

    // Killed right after acknowledged writes, whether or not a save was running.
    for round in 0..3u64 {
        let first = 100_000 + round as usize * 2000;
        upsert(&h, first, &vectors(2000, 10 + round));
        n.restart()?;
        h = n.http();
        green(&h)?;
        let count = ok(h.post("/collections/g/points/count", &json!({"exact": true}))?);
        assert_eq!(
            count["count"],
            N - 500 + (round + 1) * 2000,
            "round {round}"
        );
        let got = ok(h.post(
            "/collections/g/points",
            &json!({"ids": (first..first + 2000).collect::<Vec<_>>()}),
        )?);
        let got = got.as_array().context("points")?.len();
        assert_eq!(got, 2000, "round {round}");
        let graph = metric(&h, "index_loaded_vectors").unwrap_or(0)
            + metric(&h, "index_built_vectors").unwrap_or(0);
        assert!(
            graph >= N - 500 + (round + 1) * 2000,
            "round {round}: {graph}"
        );
    }
    Ok(())
}
