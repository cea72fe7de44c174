//! A column of multivectors (`multivector_config: {"comparator": "max_sim"}`): each point
//! holds one or more sub-vectors of the column's dimension, stored back to back. Points are
//! compared by MaxSim: for every query sub-vector its best match among the point's
//! sub-vectors, summed (Qdrant's definition, also for Euclid and Manhattan).

use super::dense::with_f32;
use super::distance::Distance;
use super::element::{Datatype, Elements};
use std::path::Path;

#[derive(Debug)]
pub struct MultiColumn {
    pub dim: usize,
    pub distance: Distance,
    data: Elements,
    /// First sub-vector of each offset, and how many it has (0: absent).
    start: Vec<u64>,
    count: Vec<u32>,
    vectors: u64,
}

impl MultiColumn {
    pub fn new(dim: usize, distance: Distance, datatype: Datatype) -> MultiColumn {
        Self::new_in(dim, distance, datatype, None)
    }

    /// With the sub-vectors in a mapped file in `disk` when given.
    pub fn new_in(dim: usize, distance: Distance, datatype: Datatype, disk: Option<&Path>) -> Self {
        MultiColumn {
            dim,
            distance,
            data: Elements::new_in(datatype, disk),
            start: Vec::new(),
            count: Vec::new(),
            vectors: 0,
        }
    }

    /// Bytes of sub-vectors in a mapped file.
    pub fn mapped_bytes(&self) -> usize {
        self.data.mapped_bytes()
    }

    fn normalised(&self) -> bool {
        self.data.datatype() != Datatype::Uint8
    }

    /// Appends the next offset's sub-vectors (preprocessed), or an absent entry.
    pub fn push(&mut self, v: Option<&[Vec<f32>]>) {
        self.start.push(self.vectors);
        match v {
            Some(subs) if !subs.is_empty() => {
                for s in subs {
                    self.data.push(s);
                }
                self.count.push(subs.len() as u32);
                self.vectors += subs.len() as u64;
            }
            _ => self.count.push(0),
        }
    }

    pub fn has(&self, o: u32) -> bool {
        self.count.get(o as usize).is_some_and(|&c| c > 0)
    }

    pub fn len(&self) -> usize {
        self.count.len()
    }

    pub fn is_empty(&self) -> bool {
        self.count.is_empty()
    }

    /// Sub-vectors stored, over all offsets.
    pub fn sub_vectors(&self) -> u64 {
        self.vectors
    }

    pub fn get(&self, o: u32) -> Vec<Vec<f32>> {
        let (s, c) = (
            self.start[o as usize] as usize,
            self.count[o as usize] as usize,
        );
        (0..c)
            .map(|i| {
                let mut v = Vec::with_capacity(self.dim);
                self.data.read_into((s + i) * self.dim, self.dim, &mut v);
                v
            })
            .collect()
    }

    /// Calls `f` with offset `o`'s sub-vectors as one flat f32 slice.
    fn with<R>(&self, o: u32, f: impl FnOnce(&[f32]) -> R) -> R {
        let (s, c) = (
            self.start[o as usize] as usize,
            self.count[o as usize] as usize,
        );
        with_f32(&self.data, s * self.dim, c * self.dim, f)
    }

    /// MaxSim of a prepared flat query (sub-vectors back to back) to offset `o`, as an
    /// order (smaller is closer).
    pub fn order(&self, q: &[f32], o: u32) -> f32 {
        self.with(o, |v| {
            max_sim_order(self.distance, self.dim, q, v, self.normalised())
        })
    }

    pub fn pair_order(&self, a: u32, b: u32) -> f32 {
        let norm = self.normalised();
        self.with(a, |x| {
            self.with(b, |y| max_sim_order(self.distance, self.dim, x, y, norm))
        })
    }

    pub fn bytes(&self) -> usize {
        self.data.bytes() + self.start.capacity() * 8 + self.count.capacity() * 4
    }
}

/// Sum over the sub-vectors of `q` of the closest sub-vector of `doc` (as orders).
pub fn max_sim_order(d: Distance, dim: usize, q: &[f32], doc: &[f32], normalised: bool) -> f32 {
    if dim == 0 {
        return 0.0;
    }
    if d == Distance::Dot || (d == Distance::Cosine && normalised) {
        return super::simd::max_sim_dot(q, doc, dim);
    }
    q.chunks_exact(dim)
        .map(|qi| {
            doc.chunks_exact(dim)
                .map(|dj| d.order_of(qi, dj, normalised))
                .fold(f32::INFINITY, f32::min)
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(d: Distance, t: Datatype) -> MultiColumn {
        let mut c = MultiColumn::new(2, d, t);
        c.push(Some(&[vec![0.0, 0.0], vec![3.0, 4.0]]));
        c.push(None);
        c.push(Some(&[vec![1.0, 1.0]]));
        c
    }

    /// The scores Qdrant 1.18 gives for query [[0,1],[3,3]] against these points.
    #[test]
    fn max_sim_equals_qdrant_for_every_distance() {
        let q = [0.0, 1.0, 3.0, 3.0];
        for (d, want1, want2) in [
            (Distance::Euclid, std::f32::consts::SQRT_2, 3.0),
            (Distance::Manhattan, 2.0, 5.0),
        ] {
            let c = col(d, Datatype::Float32);
            assert!(
                (d.score_of_order(c.order(&q, 0)) - want1).abs() < 1e-5,
                "{d:?}"
            );
            assert!(
                (d.score_of_order(c.order(&q, 2)) - want2).abs() < 1e-5,
                "{d:?}"
            );
            assert!(!c.has(1) && c.has(2));
        }
        let mut c = MultiColumn::new(2, Distance::Dot, Datatype::Uint8);
        c.push(Some(&[vec![1.0, 2.0], vec![3.0, 4.0]]));
        c.push(Some(&[vec![10.0, 0.0]]));
        assert_eq!(Distance::Dot.score_of_order(c.order(&q, 0)), 25.0);
        assert_eq!(Distance::Dot.score_of_order(c.order(&q, 1)), 30.0);
        assert_eq!(c.get(0), vec![vec![1.0, 2.0], vec![3.0, 4.0]]);
        assert_eq!(c.sub_vectors(), 3);
    }

    #[test]
    fn pair_order_is_max_sim_of_stored_points() {
        let c = col(Distance::Dot, Datatype::Float16);
        // Each sub-vector of point 0 takes its best in point 2: [0,0]·[1,1] + [3,4]·[1,1].
        assert_eq!(Distance::Dot.score_of_order(c.pair_order(0, 2)), 7.0);
        // The one sub-vector of point 2 takes the better of 0 and 7.
        assert_eq!(Distance::Dot.score_of_order(c.pair_order(2, 0)), 7.0);
    }

    /// The one-call SIMD MaxSim equals the sum of per-pair scalar dot products.
    #[test]
    fn simd_max_sim_equals_plain_loops() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        for dim in [1, 7, 16, 33, 128] {
            let q: Vec<f32> = (0..dim * 3).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let doc: Vec<f32> = (0..dim * 5).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let plain: f32 = q
                .chunks(dim)
                .map(|qi| {
                    let best = doc
                        .chunks(dim)
                        .map(|dj| qi.iter().zip(dj).map(|(a, b)| a * b).sum::<f32>())
                        .fold(f32::NEG_INFINITY, f32::max);
                    -best
                })
                .sum();
            let got = max_sim_order(Distance::Dot, dim, &q, &doc, true);
            assert!((got - plain).abs() < 1e-4, "dim {dim}: {got} vs {plain}");
        }
    }
}
