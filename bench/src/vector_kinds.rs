//! `bench vectors`: the vector kinds in-process: sparse search over an inverted index (Zipf
//! vocabulary), multivector MaxSim through the HNSW graph, and memory per point of every
//! kind and datatype. `--dump DIR` writes the same data for `bench/edge_kinds.py`.

use crate::stats;
use node::segment::distance::Distance;
use node::segment::element::Datatype;
use node::segment::point_id::PointId;
use node::segment::record::{PointRecord, VectorData};
use node::segment::sparse_vector::SparseVector;
use node::segment::vectors::{QueryVector, VectorKind, VectorSpec};
use node::segment::{HnswParams, SearchRequest, Segment};
use rand::distributions::Distribution;
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Options {
    pub sparse_n: usize,
    pub nnz: usize,
    pub vocab: usize,
    pub multi_n: usize,
    pub multi_k: usize,
    pub multi_dim: usize,
    pub queries: usize,
    pub threads: usize,
    pub dump: Option<std::path::PathBuf>,
}

/// Draws from a Zipf distribution over `0..n` (rank 0 most frequent), exponent 1.1.
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: usize) -> Zipf {
        let mut acc = 0.0;
        let mut cdf: Vec<f64> = (1..=n)
            .map(|r| {
                acc += 1.0 / (r as f64).powf(1.1);
                acc
            })
            .collect();
        cdf.iter_mut().for_each(|c| *c /= acc);
        Zipf { cdf }
    }
}

impl Distribution<u32> for Zipf {
    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> u32 {
        let u: f64 = rng.gen();
        self.cdf.partition_point(|c| *c < u) as u32
    }
}

fn sparse_doc(rng: &mut impl Rng, zipf: &Zipf, nnz: usize) -> SparseVector {
    let mut idx = std::collections::BTreeSet::new();
    while idx.len() < nnz {
        idx.insert(zipf.sample(rng));
    }
    let indices: Vec<u32> = idx.into_iter().collect();
    let values = indices.iter().map(|_| rng.gen_range(0.1..2.0)).collect();
    SparseVector { indices, values }
}

/// Multivectors around a per-point topic: `k` sub-vectors of `dim`.
fn multi_doc(rng: &mut impl Rng, topics: &[Vec<f32>], k: usize, dim: usize) -> Vec<Vec<f32>> {
    let t = &topics[rng.gen_range(0..topics.len())];
    (0..k)
        .map(|_| (0..dim).map(|d| t[d] + rng.gen_range(-0.6..0.6)).collect())
        .collect()
}

fn params(threads: usize) -> HnswParams {
    HnswParams {
        m: 16,
        ef_construct: 100,
        full_scan_threshold_kb: 10_000,
        indexing_threads: threads,
    }
}

fn record(i: usize, name: &str, v: VectorData) -> PointRecord {
    PointRecord {
        id: PointId::Num(i as u64),
        version: 0,
        vectors: [(name.to_string(), v)].into(),
        payload: Default::default(),
    }
}

fn fill(
    spec: &VectorSpec,
    docs: impl Iterator<Item = VectorData>,
    threads: usize,
) -> (Segment, Duration) {
    let mut seg = Segment::new(vec![spec.clone()], params(threads));
    let t = Instant::now();
    for (i, mut v) in docs.enumerate() {
        spec.preprocess(&mut v);
        seg.upsert(record(i, &spec.name, v));
    }
    (seg, t.elapsed())
}

fn search(
    seg: &Segment,
    name: &str,
    q: &QueryVector,
    ef: Option<usize>,
    exact: bool,
) -> Vec<(u32, f32)> {
    seg.search(&SearchRequest {
        vector_name: name,
        vector: q,
        filter: None,
        top: 10,
        ef,
        exact,
        quantization: Default::default(),
        score_threshold: None,
        examples: None,
    })
}

fn per_point(seg: &Segment) -> f64 {
    let m = &seg.column_memory()[0];
    m.bytes as f64 / m.vectors.max(1) as f64
}

/// Latency and recall of `queries` against `truth` (offset lists).
fn measure(
    queries: &[QueryVector],
    truth: &[Vec<u32>],
    f: impl Fn(&QueryVector) -> Vec<(u32, f32)>,
) -> stats::Run {
    let mut lat = Vec::with_capacity(queries.len());
    let mut hits = 0usize;
    let wall = Instant::now();
    for (q, t) in queries.iter().zip(truth) {
        let s = Instant::now();
        let got = f(q);
        lat.push(s.elapsed());
        hits += got.iter().filter(|g| t.contains(&g.0)).count();
    }
    let recall = hits as f64 / (10 * queries.len().max(1)) as f64;
    stats::summarize(0, recall, lat, wall.elapsed())
}

fn print_run(what: &str, r: &stats::Run) {
    println!(
        "  {what:<28} recall@10 {:.4}  qps {:>8.1}  p50 {:.3} ms  p99 {:.3} ms",
        r.recall,
        r.qps,
        r.p50.as_secs_f64() * 1e3,
        r.p99.as_secs_f64() * 1e3
    );
}

pub fn run(o: &Options) -> anyhow::Result<()> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(16);
    let zipf = Zipf::new(o.vocab);
    let lo = o.nnz / 2;
    let docs: Vec<SparseVector> = (0..o.sparse_n)
        .map(|_| {
            let n = rng.gen_range(lo..=o.nnz + lo);
            sparse_doc(&mut rng, &zipf, n)
        })
        .collect();
    let queries: Vec<SparseVector> = (0..o.queries)
        .map(|_| {
            let n = rng.gen_range(10..=30);
            sparse_doc(&mut rng, &zipf, n)
        })
        .collect();
    let topics: Vec<Vec<f32>> = (0..64)
        .map(|_| (0..o.multi_dim).map(|_| rng.gen_range(-1.0..1.0)).collect())
        .collect();
    let multi: Vec<Vec<Vec<f32>>> = (0..o.multi_n)
        .map(|_| multi_doc(&mut rng, &topics, o.multi_k, o.multi_dim))
        .collect();
    let multi_q: Vec<Vec<Vec<f32>>> = (0..o.queries.min(100))
        .map(|_| multi_doc(&mut rng, &topics, 8, o.multi_dim))
        .collect();
    if let Some(dir) = &o.dump {
        dump(dir, &docs, &queries, &multi, &multi_q)?;
    }
    sparse(o, &docs, &queries);
    multivector(o, &multi, &multi_q);
    dense_memory(o, &mut rng);
    Ok(())
}

fn sparse(o: &Options, docs: &[SparseVector], queries: &[SparseVector]) {
    let nnz: usize = docs.iter().map(SparseVector::len).sum();
    println!(
        "sparse: {} documents, {:.1} non-zeros each on average, vocabulary {} (Zipf 1.1), {} queries of 10-30 terms",
        docs.len(),
        nnz as f64 / docs.len().max(1) as f64,
        o.vocab,
        queries.len()
    );
    let mut truth: Vec<Vec<u32>> = Vec::new();
    for dt in [Datatype::Float32, Datatype::Float16, Datatype::Uint8] {
        let spec = VectorSpec {
            kind: VectorKind::Sparse,
            dim: 0,
            datatype: dt,
            ..VectorSpec::dense("text", 0, Distance::Dot)
        };
        let (seg, took) = fill(
            &spec,
            docs.iter().cloned().map(VectorData::Sparse),
            o.threads,
        );
        let qs: Vec<QueryVector> = queries
            .iter()
            .map(|q| QueryVector::Sparse(q.clone()))
            .collect();
        if truth.is_empty() {
            // Brute force: every document's dot product with the query.
            truth = queries
                .iter()
                .map(|q| {
                    let mut s: Vec<(f32, u32)> = docs
                        .iter()
                        .enumerate()
                        .filter_map(|(i, d)| Some((q.dot(d)?, i as u32)))
                        .collect();
                    s.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
                    s.into_iter().take(10).map(|x| x.1).collect()
                })
                .collect();
        }
        let r = measure(&qs, &truth, |q| search(&seg, "text", q, None, false));
        println!(
            "  index {dt:?}: insert {:.2}s ({:.0} docs/s), {:.0} bytes/point",
            took.as_secs_f64(),
            docs.len() as f64 / took.as_secs_f64(),
            per_point(&seg)
        );
        print_run("    top-10, 1 thread", &r);
    }
}

fn multivector(o: &Options, multi: &[Vec<Vec<f32>>], queries: &[Vec<Vec<f32>>]) {
    println!(
        "multivector: {} points x {} sub-vectors x {} dims (MaxSim, Cosine), {} queries of 8 sub-vectors",
        multi.len(),
        o.multi_k,
        o.multi_dim,
        queries.len()
    );
    for dt in [Datatype::Float32, Datatype::Float16] {
        let spec = VectorSpec {
            kind: VectorKind::Multi,
            datatype: dt,
            ..VectorSpec::dense("colbert", o.multi_dim, Distance::Cosine)
        };
        let (seg, took) = fill(
            &spec,
            multi.iter().cloned().map(VectorData::Multi),
            o.threads,
        );
        let t = Instant::now();
        seg.build_index();
        let build = t.elapsed();
        let qs: Vec<QueryVector> = queries
            .iter()
            .map(|q| {
                spec.prepare(VectorData::Multi(q.clone()))
                    .expect("valid query")
            })
            .collect();
        let truth: Vec<Vec<u32>> = qs
            .iter()
            .map(|q| {
                search(&seg, "colbert", q, None, true)
                    .iter()
                    .map(|h| h.0)
                    .collect()
            })
            .collect();
        println!(
            "  {dt:?}: insert {:.2}s, index build {:.1}s ({} threads), {:.0} bytes/point",
            took.as_secs_f64(),
            build.as_secs_f64(),
            o.threads,
            per_point(&seg)
        );
        print_run(
            "    exact",
            &measure(&qs, &truth, |q| search(&seg, "colbert", q, None, true)),
        );
        for ef in [None, Some(256)] {
            let r = measure(&qs, &truth, |q| search(&seg, "colbert", q, ef, false));
            print_run(
                &format!(
                    "    HNSW ef={}",
                    ef.map_or("default (100)".into(), |e| e.to_string())
                ),
                &r,
            );
        }
    }
}

fn dense_memory(o: &Options, rng: &mut impl Rng) {
    let n = 100_000;
    println!("dense memory: {n} points x 128 dims (vectors and HNSW graph)");
    let data: Vec<Vec<f32>> = (0..n)
        .map(|_| (0..128).map(|_| rng.gen_range(0.0..200.0)).collect())
        .collect();
    for dt in [Datatype::Float32, Datatype::Float16, Datatype::Uint8] {
        let spec = VectorSpec {
            datatype: dt,
            ..VectorSpec::dense("d", 128, Distance::Dot)
        };
        let (seg, _) = fill(
            &spec,
            data.iter().cloned().map(VectorData::Dense),
            o.threads,
        );
        let m = &seg.column_memory()[0];
        println!(
            "  {dt:?}: vectors {:.0} bytes/point (graph not built)",
            m.bytes as f64 / n as f64
        );
    }
}

/// Writes the sparse and multivector data: little-endian u32 counts, u32 indices, f32
/// values; read by `bench/edge_kinds.py`.
fn dump(
    dir: &Path,
    docs: &[SparseVector],
    queries: &[SparseVector],
    multi: &[Vec<Vec<f32>>],
    multi_q: &[Vec<Vec<f32>>],
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let sparse = |rows: &[SparseVector]| {
        let mut out = Vec::new();
        out.extend_from_slice(&(rows.len() as u32).to_le_bytes());
        for r in rows {
            out.extend_from_slice(&(r.len() as u32).to_le_bytes());
            r.indices
                .iter()
                .for_each(|i| out.extend_from_slice(&i.to_le_bytes()));
            r.values
                .iter()
                .for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
        }
        out
    };
    let multis = |rows: &[Vec<Vec<f32>>]| {
        let mut out = Vec::new();
        out.extend_from_slice(&(rows.len() as u32).to_le_bytes());
        for r in rows {
            out.extend_from_slice(&(r.len() as u32).to_le_bytes());
            out.extend_from_slice(&(r.first().map_or(0, Vec::len) as u32).to_le_bytes());
            r.iter()
                .flatten()
                .for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
        }
        out
    };
    std::fs::write(dir.join("sparse_docs.bin"), sparse(docs))?;
    std::fs::write(dir.join("sparse_queries.bin"), sparse(queries))?;
    std::fs::write(dir.join("multi_docs.bin"), multis(multi))?;
    std::fs::write(dir.join("multi_queries.bin"), multis(multi_q))?;
    println!("wrote sparse and multivector data to {}", dir.display());
    Ok(())
}
