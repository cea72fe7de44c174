//! Benchmark data: clustered synthetic vectors (a Gaussian mixture), or an `.fvecs` file.

use rand::{Rng, SeedableRng};
use std::path::Path;

/// `n` vectors around `clusters` random centres, with per-cluster spread, plus `q` queries
/// drawn from the same mixture.
pub fn clustered(
    n: usize,
    q: usize,
    dim: usize,
    clusters: usize,
    seed: u64,
) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let centers: Vec<Vec<f32>> = (0..clusters)
        .map(|_| (0..dim).map(|_| rng.gen_range(-1.0..1.0)).collect())
        .collect();
    let spreads: Vec<f32> = (0..clusters).map(|_| rng.gen_range(0.1..0.5)).collect();
    let draw = |rng: &mut rand::rngs::StdRng| {
        let c = rng.gen_range(0..clusters);
        centers[c]
            .iter()
            .map(|x| {
                // Box-Muller: a normal sample around the centre.
                let (u1, u2): (f32, f32) = (rng.gen_range(1e-6..1.0), rng.gen());
                x + spreads[c] * (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
            })
            .collect::<Vec<f32>>()
    };
    let data = (0..n).map(|_| draw(&mut rng)).collect();
    let queries = (0..q).map(|_| draw(&mut rng)).collect();
    (data, queries)
}

/// Reads the `.fvecs` format (little-endian u32 dim, then dim f32, per vector).
pub fn read_fvecs(path: &Path, limit: usize) -> anyhow::Result<Vec<Vec<f32>>> {
    let bytes = std::fs::read(path)?;
    let mut out = Vec::new();
    let mut at = 0;
    while at + 4 <= bytes.len() && out.len() < limit {
        let dim = u32::from_le_bytes(bytes[at..at + 4].try_into()?) as usize;
        at += 4;
        let end = at + dim * 4;
        anyhow::ensure!(end <= bytes.len(), "truncated fvecs file");
        out.push(
            bytes[at..end]
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        );
        at = end;
    }
    Ok(out)
}

/// Exact top-k ids by cosine similarity (the ground truth).
pub fn ground_truth(data: &[Vec<f32>], queries: &[Vec<f32>], k: usize) -> Vec<Vec<usize>> {
    let norm = |v: &[f32]| {
        let n = node::segment::simd::dot(v, v).sqrt().max(f32::EPSILON);
        v.iter().map(|x| x / n).collect::<Vec<f32>>()
    };
    let nd: Vec<Vec<f32>> = data.iter().map(|v| norm(v)).collect();
    queries
        .iter()
        .map(|q| {
            let q = norm(q);
            let mut s: Vec<(f32, usize)> = nd
                .iter()
                .enumerate()
                .map(|(i, v)| (node::segment::simd::dot(&q, v), i))
                .collect();
            s.select_nth_unstable_by(k, |a, b| b.0.total_cmp(&a.0));
            s.truncate(k);
            s.sort_by(|a, b| b.0.total_cmp(&a.0));
            s.into_iter().map(|x| x.1).collect()
        })
        .collect()
}

pub fn recall(got: &[usize], truth: &[usize]) -> f64 {
    got.iter().filter(|g| truth.contains(g)).count() as f64 / truth.len().max(1) as f64
}

/// Writes `base.fvecs`, `queries.fvecs` and `truth.ivecs` into `dir`.
pub fn dump(
    dir: &Path,
    data: &[Vec<f32>],
    queries: &[Vec<f32>],
    truth: &[Vec<usize>],
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let fvecs = |rows: &[Vec<f32>]| {
        let mut out = Vec::new();
        for r in rows {
            out.extend_from_slice(&(r.len() as u32).to_le_bytes());
            r.iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes()));
        }
        out
    };
    std::fs::write(dir.join("base.fvecs"), fvecs(data))?;
    std::fs::write(dir.join("queries.fvecs"), fvecs(queries))?;
    let mut out = Vec::new();
    for r in truth {
        out.extend_from_slice(&(r.len() as u32).to_le_bytes());
        r.iter()
            .for_each(|x| out.extend_from_slice(&(*x as u32).to_le_bytes()));
    }
    std::fs::write(dir.join("truth.ivecs"), out)?;
    println!(
        "wrote {} points, {} queries and ground truth to {}",
        data.len(),
        queries.len(),
        dir.display()
    );
    Ok(())
}
