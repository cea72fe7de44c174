//! Latency of the query kinds beyond plain nearest-neighbour search (prefetch with fusion,
//! re-scoring, recommend, distance matrix), one client thread, over the uploaded data.

use crate::stats;
use anyhow::{ensure, Result};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// A request of one kind for query number `i`: path under the collection and body.
type Make<'a> = Box<dyn Fn(usize) -> (&'static str, Value) + 'a>;

pub fn run(
    c: &reqwest::blocking::Client,
    base: &str,
    queries: &[Vec<f32>],
    points: usize,
) -> Result<()> {
    let q = |i: usize| &queries[i % queries.len()];
    let kinds: Vec<(&str, Make<'_>)> = vec![
        (
            "prefetch 2x100 + rrf",
            Box::new(move |i| {
                let body = json!({"prefetch": [{"query": q(i), "limit": 100}, {"query": q(i + 1), "limit": 100}],
                                  "query": {"fusion": "rrf"}, "limit": 10});
                ("points/query", body)
            }),
        ),
        (
            "prefetch 100 + re-score",
            Box::new(move |i| {
                let body = json!({"prefetch": {"query": q(i), "limit": 100}, "query": q(i + 1), "limit": 10});
                ("points/query", body)
            }),
        ),
        (
            "recommend 2 pos, 1 neg",
            Box::new(move |i| {
                let id = |k: usize| (i * 3 + k) % points;
                let body = json!({"query": {"recommend": {"positive": [id(0), id(1)], "negative": [id(2)]}}, "limit": 10});
                ("points/query", body)
            }),
        ),
        (
            "matrix sample 100, limit 5",
            Box::new(|_| {
                (
                    "points/search/matrix/offsets",
                    json!({"sample": 100, "limit": 5}),
                )
            }),
        ),
    ];
    let n = queries.len().min(200);
    println!("other query kinds, 1 client thread, {n} requests each:");
    println!(
        "  {:<28} {:>8} {:>10} {:>10}",
        "kind", "qps", "p50_ms", "p99_ms"
    );
    for (name, make) in kinds {
        let mut lat = Vec::with_capacity(n);
        let wall = Instant::now();
        for i in 0..n {
            let (path, body) = make(i);
            let t = Instant::now();
            let resp = c.post(format!("{base}/{path}")).json(&body).send()?;
            ensure!(resp.status().is_success(), "{name}: {}", resp.status());
            let _: Value = resp.json()?;
            lat.push(t.elapsed());
        }
        let r = stats::summarize(0, f64::NAN, lat, wall.elapsed());
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "  {:<28} {:>8.1} {:>10.3} {:>10.3}",
            name,
            r.qps,
            ms(r.p50),
            ms(r.p99)
        );
    }
    Ok(())
}
