//! A column of sparse vectors with its inverted index: for every dimension, the offsets that
//! set it and their weights (in the index `datatype`: f32, f16, or uint8 scaled per posting
//! list between its smallest and largest weight, as Qdrant quantizes). A search adds up the
//! query's posting lists, so it is exact and touches only points sharing a dimension with
//! the query. Also counts, per dimension, the live points that set it (for IDF).

use super::element::Datatype;
use super::sparse_vector::{dot_sorted, SparseVector};
use half::f16;
use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

#[derive(Debug)]
enum Weights {
    F32(Vec<f32>),
    F16(Vec<f16>),
    /// `min + q * (max - min) / 255`.
    U8 {
        q: Vec<u8>,
        min: f32,
        max: f32,
    },
}

#[derive(Debug)]
struct Posting {
    offsets: Vec<u32>,
    weights: Weights,
}

impl Posting {
    fn new(t: Datatype) -> Posting {
        let weights = match t {
            Datatype::Float32 => Weights::F32(Vec::new()),
            Datatype::Float16 => Weights::F16(Vec::new()),
            Datatype::Uint8 => Weights::U8 {
                q: Vec::new(),
                min: f32::INFINITY,
                max: f32::NEG_INFINITY,
            },
        };
        Posting {
            offsets: Vec::new(),
            weights,
        }
    }

    fn bytes(&self) -> usize {
        self.offsets.capacity() * 4
            + match &self.weights {
                Weights::F32(w) => w.capacity() * 4,
                Weights::F16(w) => w.capacity() * 2,
                Weights::U8 { q, .. } => q.capacity() + 8,
            }
    }
}

fn quantize(v: f32, min: f32, max: f32) -> u8 {
    if max > min {
        ((v - min) / (max - min) * 255.0).round().clamp(0.0, 255.0) as u8
    } else {
        0
    }
}

/// Score accumulator of one search, reused per thread (generation marks instead of clearing;
/// mark and score side by side, so a posting costs one cache line, not two).
#[derive(Default)]
struct Acc {
    slots: Vec<(u32, f32)>,
    gen: u32,
    touched: Vec<u32>,
}

impl Acc {
    /// Adds `qv` times each weight of posting list `p` to its offsets' scores.
    #[inline]
    fn add(&mut self, p: &Posting, live: &[bool], qv: f32, weight: impl Fn(usize) -> f32) {
        let gen = self.gen;
        for (k, &o) in p.offsets.iter().enumerate() {
            let slot = &mut self.slots[o as usize];
            if slot.0 != gen {
                if !live[o as usize] {
                    continue;
                }
                *slot = (gen, 0.0);
                self.touched.push(o);
            }
            slot.1 += qv * weight(k);
        }
    }
}

thread_local! {
    static ACC: RefCell<Acc> = RefCell::new(Acc::default());
}

#[derive(Debug)]
pub struct SparseColumn {
    datatype: Datatype,
    start: Vec<u64>,
    len: Vec<u32>,
    /// Set and not retired.
    live: Vec<bool>,
    present: Vec<bool>,
    indices: Vec<u32>,
    values: Vec<f32>,
    postings: HashMap<u32, Posting>,
    df: HashMap<u32, u32>,
    points: usize,
}

impl SparseColumn {
    pub fn new(datatype: Datatype) -> SparseColumn {
        SparseColumn {
            datatype,
            start: Vec::new(),
            len: Vec::new(),
            live: Vec::new(),
            present: Vec::new(),
            indices: Vec::new(),
            values: Vec::new(),
            postings: HashMap::new(),
            df: HashMap::new(),
            points: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.present.len()
    }

    pub fn is_empty(&self) -> bool {
        self.present.is_empty()
    }

    pub fn has(&self, o: u32) -> bool {
        self.present.get(o as usize).copied().unwrap_or(false)
    }

    /// Live points that have this vector (IDF's N).
    pub fn points(&self) -> usize {
        self.points
    }

    /// Live points that set dimension `i` (IDF's document frequency).
    pub fn df(&self, i: u32) -> usize {
        self.df.get(&i).copied().unwrap_or(0) as usize
    }

    fn slices(&self, o: u32) -> (&[u32], &[f32]) {
        let s = self.start[o as usize] as usize;
        let n = self.len[o as usize] as usize;
        (&self.indices[s..s + n], &self.values[s..s + n])
    }

    pub fn get(&self, o: u32) -> SparseVector {
        let (i, v) = self.slices(o);
        SparseVector {
            indices: i.to_vec(),
            values: v.to_vec(),
        }
    }

    /// Appends the next offset's vector (sorted by index), or an absent entry.
    pub fn push(&mut self, v: Option<&SparseVector>) {
        let o = self.present.len() as u32;
        self.start.push(self.indices.len() as u64);
        let Some(v) = v else {
            self.len.push(0);
            self.present.push(false);
            self.live.push(false);
            return;
        };
        self.len.push(v.len() as u32);
        self.present.push(true);
        self.live.push(true);
        self.points += 1;
        self.indices.extend_from_slice(&v.indices);
        self.values.extend_from_slice(&v.values);
        for (&i, &w) in v.indices.iter().zip(&v.values) {
            *self.df.entry(i).or_insert(0) += 1;
            self.add_posting(i, o, w);
        }
    }

    fn add_posting(&mut self, i: u32, o: u32, w: f32) {
        let t = self.datatype;
        let p = self.postings.entry(i).or_insert_with(|| Posting::new(t));
        p.offsets.push(o);
        let grew = match &mut p.weights {
            Weights::F32(v) => {
                v.push(w);
                false
            }
            Weights::F16(v) => {
                v.push(f16::from_f32(w));
                false
            }
            Weights::U8 { q, min, max } => {
                let grew = w < *min || w > *max;
                *min = min.min(w);
                *max = max.max(w);
                q.push(quantize(w, *min, *max));
                grew
            }
        };
        if grew {
            self.requantize(i);
        }
    }

    /// Rebuilds a uint8 posting list from the original weights after its range grew.
    fn requantize(&mut self, i: u32) {
        let Some(p) = self.postings.get(&i) else {
            return;
        };
        let originals: Vec<f32> = p
            .offsets
            .iter()
            .map(|&o| {
                let (ix, vs) = self.slices(o);
                ix.binary_search(&i).map(|k| vs[k]).unwrap_or(0.0)
            })
            .collect();
        if let Some(Posting {
            weights: Weights::U8 { q, min, max },
            ..
        }) = self.postings.get_mut(&i)
        {
            *q = originals.iter().map(|&w| quantize(w, *min, *max)).collect();
        }
    }

    /// Takes a point out of the statistics (its postings stay, skipped as not live).
    pub fn retire(&mut self, o: u32) {
        let Some(live) = self.live.get_mut(o as usize) else {
            return;
        };
        if !*live {
            return;
        }
        *live = false;
        self.points -= 1;
        let s = self.start[o as usize] as usize;
        for k in s..s + self.len[o as usize] as usize {
            let i = self.indices[k];
            if let Some(n) = self.df.get_mut(&i) {
                *n -= 1;
                if *n == 0 {
                    self.df.remove(&i);
                }
            }
        }
    }

    /// Exact dot product with offset `o`'s stored vector; `None` without a shared index.
    pub fn score(&self, q: &SparseVector, o: u32) -> Option<f32> {
        if !self.has(o) {
            return None;
        }
        let (ix, vs) = self.slices(o);
        dot_sorted(&q.indices, &q.values, ix, vs)
    }

    /// The `top` accepted offsets with the highest dot product with `q` over the inverted
    /// index, best first (ties by offset). Points sharing no index with `q` never appear.
    pub fn search(
        &self,
        q: &SparseVector,
        top: usize,
        accept: &dyn Fn(u32) -> bool,
    ) -> Vec<(u32, f32)> {
        if top == 0 {
            return Vec::new();
        }
        ACC.with(|acc| {
            let mut acc = acc.borrow_mut();
            let acc = &mut *acc;
            let n = self.len();
            if acc.slots.len() < n {
                acc.slots.resize(n, (0, 0.0));
            }
            if acc.gen == u32::MAX {
                acc.slots.iter_mut().for_each(|m| m.0 = 0);
                acc.gen = 0;
            }
            acc.gen += 1;
            acc.touched.clear();
            for (&i, &qv) in q.indices.iter().zip(&q.values) {
                let Some(p) = self.postings.get(&i) else {
                    continue;
                };
                match &p.weights {
                    Weights::F32(w) => acc.add(p, &self.live, qv, |k| w[k]),
                    Weights::F16(w) => acc.add(p, &self.live, qv, |k| w[k].to_f32()),
                    Weights::U8 { q: w, min, max } => {
                        let (min, span) = (*min, *max - *min);
                        acc.add(p, &self.live, qv, |k| min + f32::from(w[k]) * span / 255.0)
                    }
                }
            }
            top_k(
                acc.touched.iter().map(|&o| (o, acc.slots[o as usize].1)),
                top,
                accept,
            )
        })
    }

    pub fn bytes(&self) -> usize {
        self.start.capacity() * 8
            + self.len.capacity() * 4
            + self.live.capacity()
            + self.present.capacity()
            + self.indices.capacity() * 4
            + self.values.capacity() * 4
            + self.postings.values().map(Posting::bytes).sum::<usize>()
            + self.postings.capacity() * 8
            + self.df.capacity() * 8
    }
}

#[derive(PartialEq)]
struct Hit(f32, u32);
impl Eq for Hit {}
impl Ord for Hit {
    /// The worst hit is the greatest, so a max-heap keeps it on top to be replaced.
    fn cmp(&self, o: &Self) -> Ordering {
        o.0.total_cmp(&self.0).then(self.1.cmp(&o.1))
    }
}
impl PartialOrd for Hit {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

/// The `k` accepted (offset, score) pairs with the highest scores, best first.
pub fn top_k(
    items: impl Iterator<Item = (u32, f32)>,
    k: usize,
    accept: &dyn Fn(u32) -> bool,
) -> Vec<(u32, f32)> {
    let mut heap: BinaryHeap<Hit> = BinaryHeap::with_capacity(k + 1);
    for (o, s) in items {
        let h = Hit(s, o);
        if heap.len() == k && heap.peek().is_some_and(|w| h >= *w) {
            continue;
        }
        if !accept(o) {
            continue;
        }
        heap.push(h);
        if heap.len() > k {
            heap.pop();
        }
    }
    heap.into_sorted_vec()
        .into_iter()
        .map(|Hit(s, o)| (o, s))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn random(rng: &mut impl Rng, vocab: u32, nnz: usize) -> SparseVector {
        let mut v = SparseVector::default();
        while v.indices.len() < nnz {
            let i = rng.gen_range(0..vocab);
            if !v.indices.contains(&i) {
                v.indices.push(i);
                v.values.push(rng.gen_range(-1.0f32..3.0));
            }
        }
        v.sort();
        v
    }

    #[test]
    fn index_search_equals_brute_force() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for t in [Datatype::Float32, Datatype::Float16, Datatype::Uint8] {
            let mut c = SparseColumn::new(t);
            let docs: Vec<Option<SparseVector>> = (0..2000)
                .map(|i| (i % 7 != 0).then(|| random(&mut rng, 300, 12)))
                .collect();
            for d in &docs {
                c.push(d.as_ref());
            }
            for o in (0..2000).step_by(5) {
                c.retire(o);
            }
            let tol = match t {
                Datatype::Float32 => 1e-4,
                Datatype::Float16 => 2e-2,
                Datatype::Uint8 => 0.2,
            };
            for _ in 0..20 {
                let q = random(&mut rng, 300, 8);
                let accept = |o: u32| !o.is_multiple_of(3);
                let got = c.search(&q, 10, &accept);
                let mut want: Vec<(u32, f32)> = docs
                    .iter()
                    .enumerate()
                    .filter(|(o, _)| !o.is_multiple_of(5) && accept(*o as u32))
                    .filter_map(|(o, d)| Some((o as u32, q.dot(d.as_ref()?)?)))
                    .collect();
                want.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                want.truncate(10);
                assert_eq!(got.len(), want.len(), "{t:?}");
                for (g, w) in got.iter().zip(&want) {
                    assert!((g.1 - w.1).abs() <= tol * 10.0, "{t:?}: {g:?} vs {w:?}");
                    // the hit's own exact score is what the index approximates
                    let exact = c.score(&q, g.0).unwrap();
                    assert!((g.1 - exact).abs() <= tol * 10.0, "{t:?}");
                }
                if t == Datatype::Float32 {
                    assert_eq!(
                        got.iter().map(|g| g.0).collect::<Vec<_>>(),
                        want.iter().map(|w| w.0).collect::<Vec<_>>()
                    );
                }
            }
        }
    }

    #[test]
    fn statistics_follow_retired_points() {
        let mut c = SparseColumn::new(Datatype::Float32);
        let a = SparseVector {
            indices: vec![1, 5],
            values: vec![1.0, 1.0],
        };
        let b = SparseVector {
            indices: vec![5],
            values: vec![2.0],
        };
        c.push(Some(&a));
        c.push(Some(&b));
        c.push(None);
        assert_eq!((c.points(), c.df(5), c.df(1), c.df(9)), (2, 2, 1, 0));
        c.retire(0);
        c.retire(0);
        c.retire(2);
        assert_eq!((c.points(), c.df(5), c.df(1)), (1, 1, 0));
        let q = SparseVector {
            indices: vec![1, 5],
            values: vec![1.0, 1.0],
        };
        assert_eq!(c.search(&q, 5, &|_| true), vec![(1, 2.0)]);
        assert_eq!(c.get(1), b);
    }

    #[test]
    fn uint8_posting_range_grows_from_original_weights() {
        let mut c = SparseColumn::new(Datatype::Uint8);
        for w in [1.0f32, 2.0, 0.5, 10.0] {
            c.push(Some(&SparseVector {
                indices: vec![3],
                values: vec![w],
            }));
        }
        let q = SparseVector {
            indices: vec![3],
            values: vec![1.0],
        };
        let hits = c.search(&q, 4, &|_| true);
        let want = [10.0f32, 2.0, 1.0, 0.5];
        for (h, w) in hits.iter().zip(want) {
            assert!((h.1 - w).abs() <= 9.5 / 255.0, "{h:?} vs {w}");
        }
    }
}
