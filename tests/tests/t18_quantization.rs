//! Quantization as Qdrant configures it: int8 and binary codes walked by graph searches,
//! `params.quantization` (`ignore`, `rescore`, `oversampling`), a PATCH to another kind or
//! `"Disabled"`, codes made again after kill -9, and bad configs refused with Qdrant's
//! messages. Then the real `qdrant-client` sets and queries it over REST and gRPC.

use anyhow::Result;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::process::Command;
use std::time::Duration;
use tests::{python, repo_root, wait_for, Http, Node};

const DIM: usize = 32;

fn ok(r: (u16, Value)) -> Value {
    assert_eq!(r.0, 200, "unexpected reply: {}", r.1);
    r.1["result"].clone()
}

/// Embedding-like: 8 latent dimensions spread over `DIM`, plus noise.
fn vectors(n: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut mixing = rand::rngs::StdRng::seed_from_u64(1);
    let mix: Vec<Vec<f32>> = (0..8)
        .map(|_| (0..DIM).map(|_| mixing.gen_range(-1.0..1.0)).collect())
        .collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let latent: Vec<f32> = (0..8).map(|_| rng.gen_range(-1.0..1.0)).collect();
            (0..DIM)
                .map(|d| {
                    (0..8).map(|l| latent[l] * mix[l][d]).sum::<f32>() + rng.gen_range(-0.2..0.2)
                })
                .collect()
        })
        .collect()
}

fn green(h: &Http) -> Result<()> {
    wait_for("green", Duration::from_secs(120), || {
        let (code, v) = h.get("/collections/q").ok()?;
        (code == 200 && v["result"]["status"] == "green").then_some(())
    })
}

fn search(h: &Http, q: &[f32], params: Value) -> Vec<(u64, f64)> {
    let body = json!({"query": q, "limit": 10, "params": params});
    let r = ok(h.post("/collections/q/points/query", &body).unwrap());
    (r["points"].as_array().cloned().unwrap_or_default().iter())
        .map(|p| {
            (
                p["id"].as_u64().unwrap_or(u64::MAX),
                p["score"].as_f64().unwrap_or(0.0),
            )
        })
        .collect()
}

/// Over 30 queries: the share of the exact top 10 found, and how many returned scores
/// differ from the exact score of their point.
fn measure(h: &Http, params: Value) -> (f64, usize) {
    let (mut found, mut off) = (0, 0);
    for q in vectors(30, 9) {
        let exact = search(h, &q, json!({"exact": true}));
        let got = search(h, &q, params.clone());
        found += got
            .iter()
            .filter(|g| exact.iter().any(|e| e.0 == g.0))
            .count();
        for (id, score) in &got {
            let body = json!({"query": q, "limit": 1, "filter": {"must": [{"has_id": [id]}]},
                              "params": {"exact": true}});
            let r = ok(h.post("/collections/q/points/query", &body).unwrap());
            let want = r["points"][0]["score"].as_f64().unwrap_or(f64::NAN);
            if (want - score).abs() > 1e-6 {
                off += 1;
            }
        }
    }
    (found as f64 / 300.0, off)
}

#[test]
fn quantized_searches_follow_the_config_and_the_search_params() -> Result<()> {
    let mut n = Node::start()?;
    let mut h = n.http();
    for (body, want) in [
        (json!({"scalar": {"type": "int4"}}), "Format error in JSON body: data did not match any variant of untagged enum QuantizationConfig"),
        (json!({"scalar": {"type": "int8", "quantile": 0.3}}), "Validation error in JSON body: [quantization_config.scalar.quantile: value 0.30000001192092896 invalid, must be from 0.5 to 1.0]"),
        (json!("Disabled"), "Format error in JSON body: data did not match any variant of untagged enum QuantizationConfig"),
    ] {
        let create = json!({"vectors": {"size": DIM, "distance": "Cosine"}, "quantization_config": body});
        let (code, v) = h.put("/collections/bad", &create)?;
        assert_eq!((code, v["status"]["error"].as_str()), (400, Some(want)), "{v}");
    }
    assert_eq!(h.get("/collections/bad")?.0, 404);

    let create = json!({"vectors": {"size": DIM, "distance": "Cosine"},
                        "hnsw_config": {"full_scan_threshold": 10},
                        "quantization_config": {"scalar": {"type": "int8", "quantile": 0.99, "always_ram": true}}});
    ok(h.put("/collections/q", &create)?);
    for (c, chunk) in vectors(6000, 5).chunks(1000).enumerate() {
        let points: Vec<Value> = (chunk.iter().enumerate())
            .map(|(i, v)| json!({"id": c * 1000 + i, "vector": v}))
            .collect();
        ok(h.put(
            "/collections/q/points?wait=true",
            &json!({ "points": points }),
        )?);
    }
    green(&h)?;
    let cfg = ok(h.get("/collections/q")?);
    assert_eq!(
        cfg["config"]["quantization_config"]["scalar"]["quantile"],
        0.99
    );

    // int8 codes: scores from the codes unless rescored, as Qdrant does.
    let (recall, off) = measure(&h, json!({"hnsw_ef": 64}));
    eprintln!("int8: recall@10 {recall}, {off}/300 scores from codes");
    assert!(
        recall >= 0.85 && off > 150,
        "recall {recall}, {off} scores off"
    );
    let (recall, off) = measure(
        &h,
        json!({"hnsw_ef": 64, "quantization": {"rescore": true, "oversampling": 2.0}}),
    );
    eprintln!("int8 rescored x2: recall@10 {recall}");
    assert!(
        recall >= 0.9 && off == 0,
        "recall {recall}, {off} scores off"
    );
    let (_, off) = measure(&h, json!({"hnsw_ef": 64, "quantization": {"ignore": true}}));
    assert_eq!(off, 0, "ignore walks the original vectors");
    let bad = json!({"query": vectors(1, 1)[0], "params": {"quantization": {"oversampling": 0.5}}});
    let (code, v) = h.post("/collections/q/points/query", &bad)?;
    assert_eq!(code, 400, "{v}");
    assert_eq!(v["status"]["error"], "Validation error in JSON body: [internal.params.quantization.oversampling: value 0.5 invalid, must be 1.0 or larger]");

    // Binary codes are rescored by default; after kill -9 they are made again.
    let patch = json!({"quantization_config": {"binary": {"encoding": "two_bits"}}});
    ok(h.patch("/collections/q", &patch)?);
    green(&h)?;
    n.restart()?;
    h = n.http();
    green(&h)?;
    let cfg = ok(h.get("/collections/q")?);
    assert_eq!(
        cfg["config"]["quantization_config"],
        patch["quantization_config"]
    );
    let (recall, off) = measure(
        &h,
        json!({"hnsw_ef": 64, "quantization": {"oversampling": 3.0}}),
    );
    eprintln!("two-bit binary, rescored x3: recall@10 {recall}");
    assert!(
        recall >= 0.65 && off == 0,
        "recall {recall}, {off} scores off"
    );
    let raw = search(
        &h,
        &vectors(1, 3)[0],
        json!({"quantization": {"rescore": false}}),
    );
    assert!(
        raw.iter().all(|(_, s)| s.fract() == 0.0 && *s <= 64.0),
        "bit counts: {raw:?}"
    );

    // A vector's own config wins; "Disabled" drops it, then the collection's applies.
    let own = json!({"vectors": {"": {"quantization_config": {"scalar": {"type": "int8"}}}}});
    ok(h.patch("/collections/q", &own)?);
    green(&h)?;
    let (_, off) = measure(&h, json!({"hnsw_ef": 64}));
    assert!(off > 150, "int8 scores again: {off}");
    ok(h.patch(
        "/collections/q",
        &json!({"quantization_config": "Disabled",
        "vectors": {"": {"quantization_config": "Disabled"}}}),
    )?);
    green(&h)?;
    let cfg = ok(h.get("/collections/q")?);
    assert_eq!(cfg["config"]["quantization_config"], Value::Null);
    assert_eq!(
        cfg["config"]["params"]["vectors"].get("quantization_config"),
        None
    );
    let (recall, off) = measure(&h, json!({"hnsw_ef": 64}));
    assert!(
        recall >= 0.9 && off == 0,
        "recall {recall}, {off} scores off"
    );
    Ok(())
}

#[test]
fn qdrant_client_sets_and_queries_quantization_over_rest_and_grpc() {
    let n = Node::start().unwrap();
    let port = n.grpc.rsplit(':').next().unwrap_or_default().to_string();
    for grpc in ["-", port.as_str()] {
        let out = Command::new(python())
            .arg(repo_root().join("tests/python/quantization.py"))
            .arg(&n.url)
            .arg(grpc)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("all checks passed"),
            "quantization.py (grpc {grpc}):\n{stdout}\n{}\nnode log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            n.log()
        );
    }
}
