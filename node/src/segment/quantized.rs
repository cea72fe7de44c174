//! Quantized copies of a dense column's vectors (Qdrant's `quantization_config`), walked by
//! graph searches instead of the originals: `scalar` int8 codes over one value range
//! (trained on a sample, the central `quantile` of values), or `binary` codes with 1, 1.5
//! or 2 bits per dimension (thermometer levels, so a Hamming distance counts level steps).
//! Codes are rebuilt from the column, never stored: a start quantizes again.

use super::dense::DenseColumn;
use super::distance::Distance;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Quantization {
    /// int8 over the central `quantile` of values (all of them when `None`).
    Scalar {
        quantile: Option<f32>,
    },
    Binary {
        encoding: BinaryEncoding,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryEncoding {
    OneBit,
    /// Two levels on every other dimension, one bit on the rest.
    OneAndHalfBits,
    TwoBits,
}

impl Quantization {
    /// Whether a search rescores with the original vectors unless told (as Qdrant: binary
    /// codes do, int8 codes are close enough).
    pub fn rescores_by_default(self) -> bool {
        matches!(self, Quantization::Binary { .. })
    }
}

/// How a search uses quantized vectors (Qdrant's `params.quantization`).
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct QuantSearch {
    pub ignore: bool,
    pub rescore: Option<bool>,
    pub oversampling: Option<f64>,
}

/// Below this many trained-on vectors, training again when the column doubled pays off.
const TRAIN_SAMPLE: usize = 20_000;

#[derive(Debug)]
pub struct Quantized {
    pub kind: Quantization,
    dim: usize,
    distance: Distance,
    /// Bytes per vector (binary: padded to whole u64 words).
    stride: usize,
    codes: Vec<u8>,
    /// Scalar: the value of code 0, the step between codes, each vector's sum of codes.
    lo: f32,
    step: f32,
    sums: Vec<u32>,
    /// Binary: each dimension's thresholds (one or two) and first bit.
    cuts: Vec<Vec<f32>>,
    first_bit: Vec<usize>,
    bits: usize,
    /// Vectors the parameters were learnt from.
    trained: usize,
}

/// A query encoded like the stored vectors.
pub struct QuantQuery {
    codes: Vec<u8>,
    sum: u32,
}

impl Quantized {
    /// Learns the parameters from the present vectors of offsets below `upto` (a sample).
    pub fn train(kind: Quantization, col: &DenseColumn, upto: usize) -> Quantized {
        let dim = col.dim;
        let step = (upto / TRAIN_SAMPLE).max(1);
        let sample: Vec<u32> = (0..upto as u32)
            .step_by(step)
            .filter(|&o| col.has(o))
            .collect();
        let mut q = Quantized {
            kind,
            dim,
            distance: col.distance,
            stride: dim,
            codes: Vec::new(),
            lo: 0.0,
            step: 1.0,
            sums: Vec::new(),
            cuts: Vec::new(),
            first_bit: Vec::new(),
            bits: 0,
            trained: sample.len(),
        };
        match kind {
            Quantization::Scalar { quantile } => {
                let mut vals: Vec<f32> = Vec::with_capacity(sample.len() * dim);
                sample.iter().for_each(|&o| col.with(o, |v| vals.extend(v)));
                let (lo, hi) = value_range(&mut vals, quantile);
                q.lo = lo;
                q.step = ((hi - lo) / 255.0).max(f32::MIN_POSITIVE);
            }
            Quantization::Binary { encoding } => {
                let (mean, sd) = moments(col, &sample, dim);
                q.cuts = (0..dim)
                    .map(|d| match (encoding, d % 2) {
                        (BinaryEncoding::OneBit, _) | (BinaryEncoding::OneAndHalfBits, 1) => {
                            vec![0.0]
                        }
                        // Equal thirds of a normal distribution.
                        _ => vec![mean[d] - 0.43 * sd[d], mean[d] + 0.43 * sd[d]],
                    })
                    .collect();
                let mut at = 0;
                for c in &q.cuts {
                    q.first_bit.push(at);
                    at += c.len();
                }
                q.bits = at;
                q.stride = at.div_ceil(64) * 8;
            }
        }
        q
    }

    /// Offsets encoded so far.
    pub fn len(&self) -> usize {
        self.codes.len() / self.stride
    }

    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// Whether the parameters came from a sample too small for a column of `n` vectors.
    pub fn wants_training(&self, n: usize) -> bool {
        self.trained < TRAIN_SAMPLE && n >= 2 * self.trained.max(256)
    }

    /// Encodes the offsets from `len()` up to `upto` (absent ones as zeros).
    pub fn extend(&mut self, col: &DenseColumn, upto: usize) {
        let mut buf = Vec::with_capacity(self.stride);
        for o in self.len() as u32..upto as u32 {
            buf.clear();
            if col.has(o) {
                col.with(o, |v| self.encode(v, &mut buf));
            } else {
                buf.resize(self.stride, 0);
            }
            self.sums.push(buf.iter().map(|&c| u32::from(c)).sum());
            self.codes.extend_from_slice(&buf);
        }
    }

    fn encode(&self, v: &[f32], out: &mut Vec<u8>) {
        match self.kind {
            Quantization::Scalar { .. } => out.extend(
                v.iter()
                    .map(|&x| ((x - self.lo) / self.step).round().clamp(0.0, 255.0) as u8),
            ),
            Quantization::Binary { .. } => {
                out.resize(self.stride, 0);
                for (d, &x) in v.iter().enumerate() {
                    let level = self.cuts[d].iter().filter(|&&c| x > c).count();
                    for b in self.first_bit[d]..self.first_bit[d] + level {
                        out[b / 8] |= 1 << (b % 8);
                    }
                }
            }
        }
    }

    pub fn prepare(&self, q: &[f32]) -> QuantQuery {
        let mut codes = Vec::with_capacity(self.stride);
        self.encode(q, &mut codes);
        let sum = codes.iter().map(|&c| u32::from(c)).sum();
        QuantQuery { codes, sum }
    }

    fn code(&self, o: u32) -> &[u8] {
        let at = o as usize * self.stride;
        &self.codes[at..at + self.stride]
    }

    pub fn prefetch(&self, o: u32) {
        if (o as usize) < self.len() {
            super::simd::prefetch(self.code(o));
        }
    }

    /// Closeness of a prepared query to offset `o` on the scale of the column's orders
    /// (binary: minus the agreeing bits less the differing ones, or the differing bits).
    pub fn order(&self, q: &QuantQuery, o: u32) -> f32 {
        let c = self.code(o);
        match self.kind {
            Quantization::Scalar { .. } => {
                let s = self.step;
                match self.distance {
                    Distance::Cosine | Distance::Dot => {
                        let both = (q.sum + self.sums[o as usize]) as f32;
                        let dot = self.dim as f32 * self.lo * self.lo
                            + self.lo * s * both
                            + s * s * kernels::dot_u8(&q.codes, c) as f32;
                        -dot
                    }
                    Distance::Euclid => s * s * kernels::l2_u8(&q.codes, c) as f32,
                    Distance::Manhattan => s * kernels::l1_u8(&q.codes, c) as f32,
                }
            }
            Quantization::Binary { .. } => {
                let h = kernels::hamming(&q.codes, c) as f32;
                match self.distance {
                    Distance::Cosine | Distance::Dot => -(self.bits as f32 - 2.0 * h),
                    Distance::Euclid | Distance::Manhattan => h,
                }
            }
        }
    }

    pub fn bytes(&self) -> usize {
        self.codes.capacity() + self.sums.capacity() * 4
    }
}

/// The range of the central `quantile` of `vals` (all of it when `None`).
fn value_range(vals: &mut [f32], quantile: Option<f32>) -> (f32, f32) {
    if vals.is_empty() {
        return (-1.0, 1.0);
    }
    let q = quantile.unwrap_or(1.0).clamp(0.5, 1.0) as f64;
    let last = vals.len() - 1;
    let lo_at = ((1.0 - q) / 2.0 * last as f64).round() as usize;
    let hi_at = (((1.0 + q) / 2.0) * last as f64).round() as usize;
    let (_, lo, _) = vals.select_nth_unstable_by(lo_at, f32::total_cmp);
    let lo = *lo;
    let (_, hi, _) = vals.select_nth_unstable_by(hi_at, f32::total_cmp);
    (lo, *hi)
}

/// Mean and standard deviation of each dimension over the sample.
fn moments(col: &DenseColumn, sample: &[u32], dim: usize) -> (Vec<f32>, Vec<f32>) {
    let mut sum = vec![0f64; dim];
    let mut sq = vec![0f64; dim];
    for &o in sample {
        col.with(o, |v| {
            for (d, &x) in v.iter().enumerate() {
                sum[d] += f64::from(x);
                sq[d] += f64::from(x) * f64::from(x);
            }
        });
    }
    let n = sample.len().max(1) as f64;
    let mean: Vec<f32> = sum.iter().map(|s| (s / n) as f32).collect();
    let sd = (0..dim)
        .map(|d| (sq[d] / n - (sum[d] / n).powi(2)).max(0.0).sqrt() as f32)
        .collect();
    (mean, sd)
}

/// Integer kernels; plain loops the compiler vectorises, built once more for AVX2.
mod kernels {
    macro_rules! kernel {
        ($name:ident, $body:expr) => {
            pub fn $name(a: &[u8], b: &[u8]) -> u32 {
                #[cfg(target_arch = "x86_64")]
                {
                    #[target_feature(enable = "avx2,popcnt")]
                    unsafe fn fast(a: &[u8], b: &[u8]) -> u32 {
                        ($body)(a, b)
                    }
                    if std::is_x86_feature_detected!("avx2")
                        && std::is_x86_feature_detected!("popcnt")
                    {
                        // SAFETY: the features were just detected.
                        return unsafe { fast(a, b) };
                    }
                }
                ($body)(a, b)
            }
        };
    }

    kernel!(dot_u8, |a: &[u8], b: &[u8]| -> u32 {
        a.iter()
            .zip(b)
            .map(|(&x, &y)| u32::from(x) * u32::from(y))
            .sum()
    });
    kernel!(l2_u8, |a: &[u8], b: &[u8]| -> u32 {
        a.iter()
            .zip(b)
            .map(|(&x, &y)| (i32::from(x) - i32::from(y)).pow(2) as u32)
            .sum()
    });
    kernel!(l1_u8, |a: &[u8], b: &[u8]| -> u32 {
        a.iter()
            .zip(b)
            .map(|(&x, &y)| (i32::from(x) - i32::from(y)).unsigned_abs())
            .sum()
    });
    kernel!(hamming, |a: &[u8], b: &[u8]| -> u32 {
        a.chunks_exact(8)
            .zip(b.chunks_exact(8))
            .map(|(x, y)| {
                let x = u64::from_le_bytes(x.try_into().unwrap_or_default());
                let y = u64::from_le_bytes(y.try_into().unwrap_or_default());
                (x ^ y).count_ones()
            })
            .sum()
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::element::Datatype;
    use rand::{Rng, SeedableRng};

    fn column(n: usize, dim: usize, distance: Distance) -> DenseColumn {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut c = DenseColumn::new(dim, distance, Datatype::Float32);
        for i in 0..n {
            if i % 10 == 3 {
                c.push(None);
                continue;
            }
            let mut v: Vec<f32> = (0..dim).map(|_| rng.gen::<f32>() - 0.5).collect();
            distance.preprocess(&mut v);
            c.push(Some(&v));
        }
        c
    }

    /// How many of the exact top 10 the codes' top 50 hold, over 20 queries.
    fn recall(col: &DenseColumn, q: &Quantized) -> usize {
        let mut found = 0;
        for o in (0..col.len() as u32).filter(|&o| col.has(o)).take(20) {
            let query = col.get(o);
            let qq = q.prepare(&query);
            let top = |f: &dyn Fn(u32) -> f32, k: usize| {
                let mut v: Vec<u32> = (0..col.len() as u32).filter(|&x| col.has(x)).collect();
                v.sort_by(|&a, &b| f(a).total_cmp(&f(b)).then(a.cmp(&b)));
                v.truncate(k);
                v
            };
            let exact = top(&|x| col.order(&query, x), 10);
            let approx = top(&|x| q.order(&qq, x), 50);
            found += exact.iter().filter(|e| approx.contains(e)).count();
        }
        found
    }

    #[test]
    fn scalar_codes_keep_the_order_and_the_scale_of_every_distance() {
        for d in [
            Distance::Cosine,
            Distance::Dot,
            Distance::Euclid,
            Distance::Manhattan,
        ] {
            let col = column(2000, 32, d);
            let mut q = Quantized::train(
                Quantization::Scalar {
                    quantile: Some(0.99),
                },
                &col,
                2000,
            );
            q.extend(&col, 2000);
            assert_eq!(q.len(), 2000);
            assert!(recall(&col, &q) >= 195, "{d:?}: {}", recall(&col, &q));
            let a = col.get(0);
            let qq = q.prepare(&a);
            let (exact, approx) = (col.order(&a, 1), q.order(&qq, 1));
            assert!(
                (exact - approx).abs() < 0.05 * exact.abs().max(1.0),
                "{d:?}"
            );
        }
    }

    #[test]
    fn binary_codes_rank_by_agreeing_bits_and_more_bits_rank_better() {
        let col = column(2000, 64, Distance::Cosine);
        let mut found = Vec::new();
        for encoding in [
            BinaryEncoding::OneBit,
            BinaryEncoding::OneAndHalfBits,
            BinaryEncoding::TwoBits,
        ] {
            let mut q = Quantized::train(Quantization::Binary { encoding }, &col, 2000);
            q.extend(&col, 2000);
            let a = col.get(0);
            // A vector agrees with itself on every bit.
            assert_eq!(q.order(&q.prepare(&a), 0), -(q.bits as f32));
            found.push(recall(&col, &q));
        }
        assert_eq!(found.len(), 3);
        assert!(found[0] >= 100, "{found:?}");
        assert!(found[2] > found[0], "{found:?}");
    }

    #[test]
    fn training_again_is_asked_when_the_column_doubled() {
        let col = column(600, 8, Distance::Dot);
        let q = Quantized::train(Quantization::Scalar { quantile: None }, &col, 300);
        assert!(!q.wants_training(400));
        assert!(q.wants_training(600));
    }
}
