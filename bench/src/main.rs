//! `bench index` measures the HNSW index in-process; `bench rest --url` measures any
//! Qdrant-compatible server over REST with the same data and queries; `bench vectors`
//! measures the sparse and multivector kinds and every datatype's memory in-process.

mod data;
mod kinds;
mod rest;
mod stats;
mod vector_kinds;

use clap::{Parser, Subcommand};
use node::collection::quantization;
use node::segment::distance::Distance;
use node::segment::point_id::PointId;
use node::segment::quantized::{QuantSearch, Quantization};
use node::segment::record::{PointRecord, VectorData};
use node::segment::vectors::{QueryVector, VectorSpec};
use node::segment::{HnswParams, SearchRequest, Segment};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, Parser)]
#[command(about = "vector search benchmark")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
    /// Number of points.
    #[arg(long, default_value_t = 100_000, global = true)]
    n: usize,
    /// Number of queries.
    #[arg(long, default_value_t = 500, global = true)]
    queries: usize,
    #[arg(long, default_value_t = 128, global = true)]
    dim: usize,
    /// Load vectors from an .fvecs file instead of generating clustered data.
    #[arg(long, global = true)]
    fvecs: Option<PathBuf>,
    /// hnsw_ef values to sweep.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "16,32,64,128,256",
        global = true
    )]
    ef: Vec<usize>,
    /// Concurrent query threads for the second pass.
    #[arg(long, default_value_t = 2, global = true)]
    threads: usize,
    /// A `quantization_config` as Qdrant takes it, e.g. '{"scalar":{"type":"int8"}}'.
    #[arg(long, global = true)]
    quantization: Option<String>,
    /// `params.quantization` of the searches, e.g. '{"rescore":true,"oversampling":2}'.
    #[arg(long, global = true)]
    quantization_search: Option<String>,
    /// Vectors `on_disk` (REST: in the collection's config).
    #[arg(long, global = true)]
    on_disk: bool,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// The index alone, in this process.
    Index {
        #[arg(long, default_value_t = 16)]
        m: usize,
        #[arg(long, default_value_t = 100)]
        ef_construct: usize,
    },
    /// Writes the data, queries and ground truth (base.fvecs, queries.fvecs, truth.ivecs)
    /// so another engine (bench/edge_baseline.py) runs on exactly the same input.
    Dump {
        #[arg(long)]
        out: PathBuf,
    },
    /// Sparse and multivector search and memory per kind, in this process.
    Vectors {
        #[arg(long, default_value_t = 100_000)]
        sparse_n: usize,
        /// Average non-zeros per sparse document.
        #[arg(long, default_value_t = 100)]
        nnz: usize,
        #[arg(long, default_value_t = 30_000)]
        vocab: usize,
        #[arg(long, default_value_t = 20_000)]
        multi_n: usize,
        /// Sub-vectors per multivector point.
        #[arg(long, default_value_t = 32)]
        multi_k: usize,
        #[arg(long, default_value_t = 128)]
        multi_dim: usize,
        /// Also write the data for bench/edge_kinds.py.
        #[arg(long)]
        dump: Option<PathBuf>,
    },
    /// A running server over REST.
    Rest {
        #[arg(long, default_value = "http://127.0.0.1:6333")]
        url: String,
        #[arg(long, default_value = "bench")]
        collection: String,
        #[arg(long, default_value_t = 1000)]
        batch: usize,
        /// Server pid, to report its RSS.
        #[arg(long)]
        pid: Option<u32>,
        /// `shard_number` of the collection (server default when absent).
        #[arg(long)]
        shards: Option<u32>,
        #[arg(long, default_value_t = 1)]
        replication_factor: u32,
    },
}

/// Data points and queries.
type Dataset = (Vec<Vec<f32>>, Vec<Vec<f32>>);

fn load(cli: &Cli) -> anyhow::Result<Dataset> {
    match &cli.fvecs {
        Some(p) => {
            let mut all = data::read_fvecs(p, cli.n + cli.queries)?;
            anyhow::ensure!(all.len() > cli.queries, "file has too few vectors");
            let queries = all.split_off(all.len() - cli.queries);
            Ok((all, queries))
        }
        None => Ok(data::clustered(cli.n, cli.queries, cli.dim, 64, 42)),
    }
}

fn json_arg(s: Option<&str>) -> anyhow::Result<Option<serde_json::Value>> {
    Ok(s.map(serde_json::from_str).transpose()?)
}

/// Quantization of the in-process index and of its searches.
struct Quant {
    config: Option<Quantization>,
    search: QuantSearch,
}

impl Quant {
    fn parse(config: Option<&str>, search: Option<&str>) -> anyhow::Result<Quant> {
        let config = match config {
            None => None,
            Some(c) => {
                let v: serde_json::Value = serde_json::from_str(c)?;
                quantization::check("quantization_config", &v, false)
                    .map_err(anyhow::Error::msg)?;
                quantization::parse(&v)
            }
        };
        let search = match search {
            None => QuantSearch::default(),
            Some(s) => quantization::search_params(Some(&serde_json::from_str(s)?))
                .map_err(anyhow::Error::msg)?,
        };
        Ok(Quant { config, search })
    }
}

fn run_index(
    cli: &Cli,
    (m, ef_construct): (usize, usize),
    quant: Quant,
    data: &[Vec<f32>],
    queries: &[Vec<f32>],
    truth: &[Vec<usize>],
) {
    let dim = data[0].len();
    let spec = VectorSpec {
        quantization: quant.config,
        ..VectorSpec::dense("", dim, Distance::Cosine)
    };
    let mut seg = Segment::new(
        vec![spec],
        HnswParams {
            m,
            ef_construct,
            full_scan_threshold_kb: 10_000,
            indexing_threads: cli.threads,
        },
    );
    let rss0 = stats::rss_bytes(None).unwrap_or(0);
    let t = Instant::now();
    for (i, v) in data.iter().enumerate() {
        let mut v = v.clone();
        Distance::Cosine.preprocess(&mut v);
        seg.upsert(PointRecord {
            id: PointId::Num(i as u64),
            version: 0,
            vectors: [(String::new(), VectorData::Dense(v))].into(),
            payload: Default::default(),
        });
    }
    let insert = t.elapsed();
    let t = Instant::now();
    seg.build_index();
    let build = t.elapsed();
    let mem = seg.memory_bytes();
    println!(
        "in-process: {} points x {dim} dims, m={m} ef_construct={ef_construct}\n  insert {:.2}s, index build {:.2}s, segment memory {:.1} MB ({:.0} bytes/point), process RSS {:.1} MB (+{:.1} MB)",
        data.len(),
        insert.as_secs_f64(),
        build.as_secs_f64(),
        mem as f64 / 1e6,
        mem as f64 / data.len() as f64,
        stats::rss_bytes(None).unwrap_or(0) as f64 / 1e6,
        (stats::rss_bytes(None).unwrap_or(0).saturating_sub(rss0)) as f64 / 1e6,
    );
    println!(
        "  points no graph search reaches: {}",
        seg.unreachable_points()
    );
    let search = |q: &Vec<f32>, ef: usize| -> Vec<usize> {
        let mut q = q.clone();
        Distance::Cosine.preprocess(&mut q);
        let q = QueryVector::Dense(q);
        let req = SearchRequest {
            vector_name: "",
            vector: &q,
            filter: None,
            top: 10,
            ef: Some(ef),
            exact: false,
            quantization: quant.search,
            score_threshold: None,
            examples: None,
        };
        seg.search(&req)
            .into_iter()
            .map(|(o, _)| o as usize)
            .collect()
    };
    let mut single = Vec::new();
    for &ef in &cli.ef {
        let mut lat = Vec::with_capacity(queries.len());
        let mut rec = 0.0;
        let wall = Instant::now();
        for (q, tr) in queries.iter().zip(truth) {
            let t = Instant::now();
            let got = search(q, ef);
            lat.push(t.elapsed());
            rec += data::recall(&got, tr);
        }
        single.push(stats::summarize(
            ef,
            rec / queries.len() as f64,
            lat,
            wall.elapsed(),
        ));
    }
    stats::print_runs("  single thread:", &single);
    let mut multi = Vec::new();
    for &ef in &cli.ef {
        let wall = Instant::now();
        let chunks: Vec<(Vec<Duration>, f64)> = std::thread::scope(|s| {
            let per = queries.len().div_ceil(cli.threads.max(1));
            let handles: Vec<_> = queries
                .chunks(per)
                .zip(truth.chunks(per))
                .map(|(qs, ts)| {
                    let search = &search;
                    s.spawn(move || {
                        let mut lat = Vec::new();
                        let mut rec = 0.0;
                        for (q, tr) in qs.iter().zip(ts) {
                            let t = Instant::now();
                            let got = search(q, ef);
                            lat.push(t.elapsed());
                            rec += data::recall(&got, tr);
                        }
                        (lat, rec)
                    })
                })
                .collect();
            handles.into_iter().filter_map(|h| h.join().ok()).collect()
        });
        let rec: f64 = chunks.iter().map(|c| c.1).sum();
        let lat: Vec<Duration> = chunks.into_iter().flat_map(|c| c.0).collect();
        multi.push(stats::summarize(
            ef,
            rec / queries.len() as f64,
            lat,
            wall.elapsed(),
        ));
    }
    stats::print_runs(&format!("  {} threads:", cli.threads), &multi);
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Cmd::Vectors {
        sparse_n,
        nnz,
        vocab,
        multi_n,
        multi_k,
        multi_dim,
        dump,
    } = &cli.cmd
    {
        return vector_kinds::run(&vector_kinds::Options {
            sparse_n: *sparse_n,
            nnz: *nnz,
            vocab: *vocab,
            multi_n: *multi_n,
            multi_k: *multi_k,
            multi_dim: *multi_dim,
            queries: cli.queries,
            threads: cli.threads,
            dump: dump.clone(),
        });
    }
    let (data, queries) = load(&cli)?;
    let t = Instant::now();
    let truth = data::ground_truth(&data, &queries, 10);
    println!(
        "ground truth for {} queries in {:.2}s",
        queries.len(),
        t.elapsed().as_secs_f64()
    );
    match &cli.cmd {
        Cmd::Dump { out } => data::dump(out, &data, &queries, &truth)?,
        Cmd::Vectors { .. } => {}
        Cmd::Index { m, ef_construct } => {
            let quant = Quant::parse(
                cli.quantization.as_deref(),
                cli.quantization_search.as_deref(),
            )?;
            run_index(&cli, (*m, *ef_construct), quant, &data, &queries, &truth)
        }
        Cmd::Rest {
            url,
            collection,
            batch,
            pid,
            shards,
            replication_factor,
        } => {
            let opts = rest::Options {
                url,
                collection,
                batch: *batch,
                pid: *pid,
                shards: *shards,
                replication_factor: *replication_factor,
                efs: &cli.ef,
                threads: cli.threads,
                quantization: json_arg(cli.quantization.as_deref())?,
                quantization_search: json_arg(cli.quantization_search.as_deref())?,
                on_disk: cli.on_disk,
            };
            rest::run(&opts, &data, &queries, &truth)?
        }
    }
    Ok(())
}
