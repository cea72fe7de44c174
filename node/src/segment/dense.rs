//! A column of dense vectors of one name: contiguous elements (f32, f16 or u8) addressed by
//! offset, with a presence flag per offset. Also holds multivectors' sub-vector kernels.

use super::distance::Distance;
use super::element::{Datatype, Elements};
use std::cell::RefCell;
use std::path::Path;

thread_local! {
    /// Buffers for decoding f16/u8 vectors to f32; a stack so nested reads work.
    static POOL: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
}

/// Calls `f` with elements `start..start + len` as f32: borrowed when stored as f32,
/// decoded into a pooled buffer otherwise.
pub fn with_f32<R>(e: &Elements, start: usize, len: usize, f: impl FnOnce(&[f32]) -> R) -> R {
    if let Some(s) = e.as_f32(start, len) {
        return f(s);
    }
    let mut buf = POOL.with(|p| p.borrow_mut().pop()).unwrap_or_default();
    buf.clear();
    e.read_into(start, len, &mut buf);
    let r = f(&buf);
    POOL.with(|p| p.borrow_mut().push(buf));
    r
}

#[derive(Debug)]
pub struct DenseColumn {
    pub dim: usize,
    pub distance: Distance,
    data: Elements,
    present: Vec<bool>,
}

impl DenseColumn {
    pub fn new(dim: usize, distance: Distance, datatype: Datatype) -> DenseColumn {
        Self::new_in(dim, distance, datatype, None)
    }

    /// With the vectors in a mapped file in `disk` when given.
    pub fn new_in(dim: usize, distance: Distance, datatype: Datatype, disk: Option<&Path>) -> Self {
        DenseColumn {
            dim,
            distance,
            data: Elements::new_in(datatype, disk),
            present: Vec::new(),
        }
    }

    /// Bytes of vectors in a mapped file.
    pub fn mapped_bytes(&self) -> usize {
        self.data.mapped_bytes()
    }

    /// Whether stored vectors are unit length (Cosine, except for uint8).
    pub fn normalised(&self) -> bool {
        self.data.datatype() != Datatype::Uint8
    }

    /// Appends the vector of the next offset (zeros and absent when `None`); the vector is
    /// already preprocessed, so a copy between segments stays bit for bit the same.
    pub fn push(&mut self, v: Option<&[f32]>) {
        match v {
            Some(v) => {
                self.data.push(v);
                self.present.push(true);
            }
            None => {
                self.data.push_zeros(self.dim);
                self.present.push(false);
            }
        }
    }

    pub fn has(&self, o: u32) -> bool {
        self.present.get(o as usize).copied().unwrap_or(false)
    }

    pub fn len(&self) -> usize {
        self.present.len()
    }

    pub fn is_empty(&self) -> bool {
        self.present.is_empty()
    }

    pub fn get(&self, o: u32) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.dim);
        self.data
            .read_into(o as usize * self.dim, self.dim, &mut out);
        out
    }

    pub fn with<R>(&self, o: u32, f: impl FnOnce(&[f32]) -> R) -> R {
        with_f32(&self.data, o as usize * self.dim, self.dim, f)
    }

    /// Closeness of a prepared query to offset `o` (smaller is closer).
    pub fn order(&self, q: &[f32], o: u32) -> f32 {
        let norm = self.normalised();
        self.with(o, |v| self.distance.order_of(q, v, norm))
    }

    pub fn prefetch(&self, o: u32) {
        self.data.prefetch(o as usize * self.dim, self.dim);
    }

    pub fn pair_order(&self, a: u32, b: u32) -> f32 {
        let norm = self.normalised();
        self.with(a, |x| self.with(b, |y| self.distance.order_of(x, y, norm)))
    }

    pub fn bytes(&self) -> usize {
        self.data.bytes() + self.present.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_in_its_width_and_scores_as_stored() {
        for t in [Datatype::Float32, Datatype::Float16, Datatype::Uint8] {
            let mut c = DenseColumn::new(3, Distance::Dot, t);
            let mut v = vec![1.5f32, 2.25, 3.0];
            t.round_all(&mut v);
            c.push(Some(&v));
            c.push(None);
            assert!(c.has(0) && !c.has(1));
            assert_eq!(c.get(0), v);
            let q = [1.0f32, 1.0, 1.0];
            let plain: f32 = v.iter().sum();
            assert!((c.order(&q, 0) + plain).abs() < 1e-5);
            assert!(c.bytes() >= 6 * t.bytes());
        }
        let mut c = DenseColumn::new(3, Distance::Cosine, Datatype::Uint8);
        c.push(Some(&[10.0, 20.0, 30.0]));
        c.push(Some(&[1.0, 255.0, 0.0]));
        // uint8 is not normalised: a real cosine (Qdrant 1.18 answers 0.53556645 here).
        let cos = -c.order(&[1.0, 2.0, 3.0], 1);
        assert!((cos - 0.53556645).abs() < 1e-6);
        assert!((-c.pair_order(0, 0) - 1.0).abs() < 1e-6);
    }
}
