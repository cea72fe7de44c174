//! Distance functions. Scores follow Qdrant: Cosine and Dot are "higher is better";
//! Euclid and Manhattan return the distance itself, "lower is better".

use super::simd::{dot, l1, l2_squared};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Distance {
    Cosine,
    Euclid,
    Dot,
    Manhattan,
}

impl Distance {
    /// Cosine vectors are stored normalised, so search uses a plain dot product.
    pub fn preprocess(self, v: &mut [f32]) {
        if self == Distance::Cosine {
            let norm = dot(v, v).sqrt();
            if norm > f32::EPSILON {
                v.iter_mut().for_each(|x| *x /= norm);
            }
        }
    }

    /// Similarity score as the API reports it.
    pub fn score(self, a: &[f32], b: &[f32]) -> f32 {
        match self {
            Distance::Cosine | Distance::Dot => dot(a, b),
            Distance::Euclid => l2_squared(a, b).sqrt(),
            Distance::Manhattan => l1(a, b),
        }
    }

    /// True when a larger score is a better match.
    pub fn higher_is_better(self) -> bool {
        matches!(self, Distance::Cosine | Distance::Dot)
    }

    /// Maps a score to "smaller is closer", for the index and for merging.
    pub fn to_order(self, score: f32) -> f32 {
        if self.higher_is_better() {
            -score
        } else {
            score
        }
    }

    /// Closeness of two stored (preprocessed) vectors, smaller is closer: the negated dot
    /// product for Cosine and Dot, the squared distance for Euclid, the L1 distance for
    /// Manhattan. `normalised` false computes a real cosine (uint8 vectors are not
    /// normalised). Sums of these are what MaxSim adds up, as in Qdrant.
    pub fn order_of(self, a: &[f32], b: &[f32], normalised: bool) -> f32 {
        match self {
            Distance::Cosine if !normalised => {
                let n = (dot(a, a) * dot(b, b)).sqrt();
                if n > f32::EPSILON {
                    -dot(a, b) / n
                } else {
                    0.0
                }
            }
            Distance::Cosine | Distance::Dot => -dot(a, b),
            Distance::Euclid => l2_squared(a, b),
            Distance::Manhattan => l1(a, b),
        }
    }

    /// The API score of an `order_of` value (or of a sum of them).
    pub fn score_of_order(self, order: f32) -> f32 {
        match self {
            Distance::Cosine | Distance::Dot => -order,
            Distance::Euclid => order.max(0.0).sqrt(),
            Distance::Manhattan => order,
        }
    }

    /// Whether `score` passes a `score_threshold` in this metric's direction.
    pub fn passes(self, score: f32, threshold: f32) -> bool {
        if self.higher_is_better() {
            score >= threshold
        } else {
            score <= threshold
        }
    }
}

/// Portable kernels: the fallback without SIMD and the reference the SIMD tests compare with.
pub mod scalar {
    /// 8 independent accumulators let the compiler vectorise the loop.
    pub fn dot(a: &[f32], b: &[f32]) -> f32 {
        let mut acc = [0f32; 8];
        let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
        let (ra, rb) = (ca.remainder(), cb.remainder());
        for (x, y) in ca.zip(cb) {
            for i in 0..8 {
                acc[i] += x[i] * y[i];
            }
        }
        let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
        acc.iter().sum::<f32>() + tail
    }

    pub fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
        let mut acc = [0f32; 8];
        let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
        let (ra, rb) = (ca.remainder(), cb.remainder());
        for (x, y) in ca.zip(cb) {
            for i in 0..8 {
                let d = x[i] - y[i];
                acc[i] += d * d;
            }
        }
        let tail: f32 = ra.iter().zip(rb).map(|(x, y)| (x - y) * (x - y)).sum();
        acc.iter().sum::<f32>() + tail
    }

    pub fn l1(a: &[f32], b: &[f32]) -> f32 {
        let mut acc = [0f32; 8];
        let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
        let (ra, rb) = (ca.remainder(), cb.remainder());
        for (x, y) in ca.zip(cb) {
            for i in 0..8 {
                acc[i] += (x[i] - y[i]).abs();
            }
        }
        let tail: f32 = ra.iter().zip(rb).map(|(x, y)| (x - y).abs()).sum();
        acc.iter().sum::<f32>() + tail
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(d: Distance, a: &[f32], b: &[f32]) -> f32 {
        match d {
            Distance::Cosine | Distance::Dot => a.iter().zip(b).map(|(x, y)| x * y).sum(),
            Distance::Euclid => a
                .iter()
                .zip(b)
                .map(|(x, y)| (x - y).powi(2))
                .sum::<f32>()
                .sqrt(),
            Distance::Manhattan => a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum(),
        }
    }

    #[test]
    fn kernels_match_plain_implementation() {
        for dim in [1usize, 3, 8, 13, 128, 1536] {
            let a: Vec<f32> = (0..dim)
                .map(|i| ((i * 7 % 11) as f32) * 0.1 - 0.5)
                .collect();
            let b: Vec<f32> = (0..dim)
                .map(|i| ((i * 5 % 13) as f32) * 0.07 - 0.3)
                .collect();
            for d in [Distance::Dot, Distance::Euclid, Distance::Manhattan] {
                let (x, y) = (d.score(&a, &b), plain(d, &a, &b));
                let s = match d {
                    Distance::Euclid => scalar::l2_squared(&a, &b).sqrt(),
                    Distance::Manhattan => scalar::l1(&a, &b),
                    _ => scalar::dot(&a, &b),
                };
                assert!(
                    (s - y).abs() <= 1e-3 * y.abs().max(1.0),
                    "scalar {d:?} dim {dim}: {s} vs {y}"
                );
                assert!(
                    (x - y).abs() <= 1e-3 * y.abs().max(1.0),
                    "{d:?} dim {dim}: {x} vs {y}"
                );
            }
        }
    }

    #[test]
    fn cosine_normalises() {
        let mut a = vec![3.0, 4.0];
        Distance::Cosine.preprocess(&mut a);
        assert!((a[0] - 0.6).abs() < 1e-6 && (a[1] - 0.8).abs() < 1e-6);
        let mut zero = vec![0.0, 0.0];
        Distance::Cosine.preprocess(&mut zero);
        assert_eq!(zero, vec![0.0, 0.0]);
    }

    #[test]
    fn order_and_score_agree() {
        let (a, b) = ([1.0f32, 2.0, 2.0], [0.0f32, 4.0, -1.0]);
        for d in [Distance::Dot, Distance::Euclid, Distance::Manhattan] {
            let s = d.score_of_order(d.order_of(&a, &b, true));
            assert!((s - d.score(&a, &b)).abs() < 1e-5, "{d:?}");
        }
        // A real cosine for vectors that were not normalised.
        let c = Distance::Cosine.score_of_order(Distance::Cosine.order_of(&a, &b, false));
        assert!((c - 6.0 / (3.0 * 17f32.sqrt())).abs() < 1e-5);
    }

    #[test]
    fn order_direction() {
        assert!(Distance::Dot.to_order(2.0) < Distance::Dot.to_order(1.0));
        assert!(Distance::Euclid.to_order(1.0) < Distance::Euclid.to_order(2.0));
        assert!(Distance::Euclid.passes(0.5, 1.0) && !Distance::Euclid.passes(1.5, 1.0));
        assert!(Distance::Cosine.passes(0.9, 0.5) && !Distance::Cosine.passes(0.1, 0.5));
    }
}
