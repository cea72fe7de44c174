//! The REST side of the benchmark: upload, wait for indexing, query, report.

use crate::{data, stats};
use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Options<'a> {
    pub url: &'a str,
    pub collection: &'a str,
    pub batch: usize,
    pub pid: Option<u32>,
    pub shards: Option<u32>,
    pub replication_factor: u32,
    pub efs: &'a [usize],
    pub threads: usize,
    pub quantization: Option<Value>,
    pub quantization_search: Option<Value>,
    pub on_disk: bool,
}

fn call(
    c: &reqwest::blocking::Client,
    m: reqwest::Method,
    url: String,
    body: Option<Value>,
) -> Result<Value> {
    let mut rb = c.request(m, &url);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let resp = rb.send().with_context(|| url.clone())?;
    let status = resp.status();
    let v: Value = resp.json()?;
    ensure!(status.is_success(), "{url}: {status} {v}");
    Ok(v)
}

pub fn run(
    o: &Options<'_>,
    data: &[Vec<f32>],
    queries: &[Vec<f32>],
    truth: &[Vec<usize>],
) -> Result<()> {
    let c = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;
    let base = format!(
        "{}/collections/{}",
        o.url.trim_end_matches('/'),
        o.collection
    );
    let _ = c.delete(&base).send();
    call(
        &c,
        reqwest::Method::PUT,
        base.clone(),
        Some(json!({
            "vectors": {"size": data[0].len(), "distance": "Cosine", "on_disk": o.on_disk},
            "shard_number": o.shards,
            "replication_factor": o.replication_factor,
            "quantization_config": o.quantization,
        })),
    )?;
    let t = Instant::now();
    for (bi, chunk) in data.chunks(o.batch).enumerate() {
        let ids: Vec<usize> = (bi * o.batch..bi * o.batch + chunk.len()).collect();
        call(
            &c,
            reqwest::Method::PUT,
            format!("{base}/points?wait=true"),
            Some(json!({"batch": {"ids": ids, "vectors": chunk}})),
        )?;
    }
    let upload = t.elapsed();
    println!(
        "upload: {} points in {:.2}s = {:.0} points/s",
        data.len(),
        upload.as_secs_f64(),
        data.len() as f64 / upload.as_secs_f64()
    );
    let t = Instant::now();
    loop {
        let info = call(&c, reqwest::Method::GET, base.clone(), None)?;
        if info["result"]["status"] == "green" {
            break;
        }
        std::thread::park_timeout(Duration::from_millis(200));
    }
    println!(
        "indexing finished {:.2}s after upload (upload + index {:.2}s)",
        t.elapsed().as_secs_f64(),
        (upload + t.elapsed()).as_secs_f64()
    );
    if let Some(rss) = stats::rss_bytes(o.pid) {
        if o.pid.is_some() {
            println!(
                "server RSS {:.1} MB ({:.0} bytes/point)",
                rss as f64 / 1e6,
                rss as f64 / data.len() as f64
            );
        }
    }
    let query = |q: &Vec<f32>, ef: usize| -> Result<Vec<usize>> {
        let v = call(
            &c,
            reqwest::Method::POST,
            format!("{base}/points/query"),
            Some(json!({"query": q, "limit": 10,
                        "params": {"hnsw_ef": ef, "quantization": o.quantization_search}})),
        )?;
        Ok(v["result"]["points"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| p["id"].as_u64())
                    .map(|x| x as usize)
                    .collect()
            })
            .unwrap_or_default())
    };
    for threads in [1, o.threads] {
        let mut runs = Vec::new();
        for &ef in o.efs {
            let wall = Instant::now();
            let per = queries.len().div_ceil(threads);
            let parts: Vec<Result<(Vec<Duration>, f64)>> = std::thread::scope(|s| {
                let hs: Vec<_> = queries
                    .chunks(per)
                    .zip(truth.chunks(per))
                    .map(|(qs, ts)| {
                        let query = &query;
                        s.spawn(move || -> Result<(Vec<Duration>, f64)> {
                            let (mut lat, mut rec) = (Vec::new(), 0.0);
                            for (q, tr) in qs.iter().zip(ts) {
                                let t = Instant::now();
                                let got = query(q, ef)?;
                                lat.push(t.elapsed());
                                rec += data::recall(&got, tr);
                            }
                            Ok((lat, rec))
                        })
                    })
                    .collect();
                hs.into_iter()
                    .map(|h| {
                        h.join()
                            .unwrap_or_else(|_| Err(anyhow::anyhow!("query thread panicked")))
                    })
                    .collect()
            });
            let mut lat = Vec::new();
            let mut rec = 0.0;
            for p in parts {
                let (l, r) = p?;
                lat.extend(l);
                rec += r;
            }
            runs.push(stats::summarize(
                ef,
                rec / queries.len() as f64,
                lat,
                wall.elapsed(),
            ));
        }
        stats::print_runs(&format!("REST, {threads} client thread(s):"), &runs);
    }
    crate::kinds::run(&c, &base, queries, data.len())
}
