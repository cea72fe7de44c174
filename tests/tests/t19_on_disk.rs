//! `on_disk: true` vectors live in memory-mapped files in the shard's folder, not on the
//! heap: searches answer exactly as for the same points in RAM, also after kill -9, and a
//! PATCH moves them back to RAM (or out again) without indexing anew.

use anyhow::Result;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::time::Duration;
use tests::{wait_for, Http, Node};

const DIM: usize = 32;
const N: usize = 5000;

fn ok(r: (u16, Value)) -> Value {
    assert_eq!(r.0, 200, "unexpected reply: {}", r.1);
    r.1["result"].clone()
}

fn vectors(n: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| (0..DIM).map(|_| rng.gen_range(-1.0..1.0)).collect())
        .collect()
}

fn green(h: &Http, c: &str) -> Result<()> {
    wait_for("green", Duration::from_secs(120), || {
        let (code, v) = h.get(&format!("/collections/{c}")).ok()?;
        (code == 200 && v["result"]["status"] == "green").then_some(())
    })
}

/// A labelled gauge of `/metrics` for the collection's unnamed vector.
fn gauge(h: &Http, name: &str, c: &str) -> Option<f64> {
    let (_, text) = h.text("/metrics").ok()?;
    let want = format!("{name}{{collection=\"{c}\",");
    text.lines()
        .find(|l| l.starts_with(&want))?
        .rsplit(' ')
        .next()?
        .parse()
        .ok()
}

/// Ids and scores of exact searches, and ids of graph searches, for 20 queries.
fn answers(h: &Http, c: &str) -> (Vec<Value>, Vec<Value>) {
    let (mut exact, mut graph) = (Vec::new(), Vec::new());
    for q in vectors(20, 9) {
        for (out, params) in [
            (&mut exact, json!({"exact": true})),
            (&mut graph, json!({"hnsw_ef": 64})),
        ] {
            let body = json!({"query": q, "limit": 10, "params": params, "with_vector": true});
            let r = ok(h
                .post(&format!("/collections/{c}/points/query"), &body)
                .unwrap());
            out.push(r["points"].clone());
        }
    }
    (exact, graph)
}

/// Files of the node's storage mapped into it, deleted from their folder.
fn mapped_files(n: &Node) -> usize {
    let maps = std::fs::read_to_string(format!("/proc/{}/maps", n.process_id().unwrap_or(0)));
    let dir = n.dir.path().to_string_lossy().to_string();
    (maps.unwrap_or_default().lines())
        .filter(|l| l.contains(&dir) && l.ends_with("(deleted)"))
        .count()
}

#[test]
fn vectors_on_disk_answer_as_in_ram_and_move_back() -> Result<()> {
    let t0 = std::time::Instant::now();
    let mut n = Node::start()?;
    let mut h = n.http();
    for (c, on_disk) in [("ram", false), ("disk", true)] {
        let body = json!({"vectors": {"size": DIM, "distance": "Dot", "on_disk": on_disk},
                          "hnsw_config": {"full_scan_threshold": 10}});
        ok(h.put(&format!("/collections/{c}"), &body)?);
        for (b, chunk) in vectors(N, 5).chunks(1000).enumerate() {
            let points: Vec<Value> = (chunk.iter().enumerate())
                .map(|(i, v)| json!({"id": b * 1000 + i, "vector": v}))
                .collect();
            ok(h.put(
                &format!("/collections/{c}/points?wait=true"),
                &json!({ "points": points }),
            )?);
        }
        green(&h, c)?;
    }
    let bytes = (N * DIM * 4) as f64;
    assert_eq!(gauge(&h, "vector_disk_bytes", "disk"), Some(bytes));
    assert_eq!(gauge(&h, "vector_disk_bytes", "ram"), Some(0.0));
    let heap = |h: &Http, c| gauge(h, "vector_memory_bytes", c).unwrap_or(f64::NAN);
    assert!(
        heap(&h, "disk") + bytes * 0.9 < heap(&h, "ram"),
        "{} vs {}",
        heap(&h, "disk"),
        heap(&h, "ram")
    );
    assert!(mapped_files(&n) >= 1, "no mapped vector file");
    let (exact, _) = answers(&h, "ram");
    assert_eq!(answers(&h, "disk").0, exact);

    eprintln!("loaded {:?}", t0.elapsed());
    n.restart()?; // kill -9
    h = n.http();
    green(&h, "disk")?;
    assert_eq!(gauge(&h, "vector_disk_bytes", "disk"), Some(bytes));
    let (disk_exact, disk_graph) = answers(&h, "disk");
    assert_eq!(disk_exact, exact);
    let same = |a: &[Value], b: &[Value]| {
        let ids = |v: &Value| -> Vec<Value> {
            v.as_array()
                .into_iter()
                .flatten()
                .map(|p| p["id"].clone())
                .collect()
        };
        a.iter()
            .zip(b)
            .map(|(x, y)| ids(x).iter().filter(|i| ids(y).contains(i)).count())
            .sum::<usize>()
    };
    assert!(
        same(&disk_graph, &exact) >= 180,
        "graph recall {}/200",
        same(&disk_graph, &exact)
    );

    let built = |h: &Http| {
        let (_, t) = h.text("/metrics").unwrap_or_default();
        t.lines()
            .find_map(|l| l.strip_prefix("index_built_vectors ")?.parse::<f64>().ok())
    };
    eprintln!("restarted {:?}", t0.elapsed());
    let before = built(&h);
    ok(h.patch(
        "/collections/disk",
        &json!({"vectors": {"": {"on_disk": false}}}),
    )?);
    wait_for("vectors back in RAM", Duration::from_secs(60), || {
        (gauge(&h, "vector_disk_bytes", "disk")? == 0.0).then_some(())
    })?;
    green(&h, "disk")?;
    assert_eq!(built(&h), before, "moving the vectors built no graph");
    assert_eq!(answers(&h, "disk").0, exact);
    eprintln!("patched {:?}", t0.elapsed());
    let cfg = ok(h.get("/collections/disk")?);
    assert_eq!(cfg["config"]["params"]["vectors"]["on_disk"], false);
    ok(h.patch(
        "/collections/disk",
        &json!({"vectors": {"": {"memory": "cold"}}}),
    )?);
    wait_for("vectors in a file again", Duration::from_secs(60), || {
        (gauge(&h, "vector_disk_bytes", "disk")? == bytes).then_some(())
    })?;
    assert_eq!(answers(&h, "disk").0, exact);
    Ok(())
}
