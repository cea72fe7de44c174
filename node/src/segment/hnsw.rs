//! Hierarchical navigable small world graph over vector offsets.
//! Built by insertion; searches take a predicate so filtered search walks the full graph
//! but only returns accepted points.

use rand::Rng;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// A candidate ordered by distance (smaller is closer).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scored {
    pub dist: f32,
    pub id: u32,
}

impl Eq for Scored {}
impl Ord for Scored {
    fn cmp(&self, o: &Self) -> Ordering {
        self.dist.total_cmp(&o.dist).then(self.id.cmp(&o.id))
    }
}
impl PartialOrd for Scored {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

#[derive(Debug)]
pub struct Hnsw {
    m: usize,
    m0: usize,
    ef_construct: usize,
    level_mult: f64,
    /// node -> level -> neighbours
    links: Vec<Vec<Vec<u32>>>,
    entry: Option<(u32, usize)>,
    inserted: usize,
}

/// Tracks visited nodes with a generation counter so a search needs no clearing pass.
struct Visited {
    marks: Vec<u32>,
    gen: u32,
}

impl Visited {
    fn new(n: usize) -> Self {
        Visited {
            marks: vec![0; n],
            gen: 1,
        }
    }
    fn insert(&mut self, id: u32) -> bool {
        let i = id as usize;
        if i >= self.marks.len() {
            self.marks.resize(i + 1, 0);
        }
        let fresh = self.marks[i] != self.gen;
        self.marks[i] = self.gen;
        fresh
    }
}

impl Hnsw {
    pub fn new(m: usize, ef_construct: usize) -> Self {
        let m = m.max(2);
        Hnsw {
            m,
            m0: m * 2,
            ef_construct: ef_construct.max(m),
            level_mult: 1.0 / (m as f64).ln(),
            links: Vec::new(),
            entry: None,
            inserted: 0,
        }
    }

    /// Number of offsets covered (offsets below this are in the graph).
    pub fn len(&self) -> usize {
        self.links.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inserted == 0
    }

    pub fn bytes(&self) -> usize {
        self.links
            .iter()
            .map(|l| l.iter().map(|n| n.capacity() * 4 + 24).sum::<usize>() + 24)
            .sum()
    }

    /// Inserts `id` (must equal `self.len()`); `present` false adds an isolated slot.
    pub fn insert(&mut self, id: u32, present: bool, dist: &dyn Fn(u32, u32) -> f32) {
        debug_assert_eq!(id as usize, self.links.len());
        if !present {
            self.links.push(Vec::new());
            return;
        }
        let level =
            (-rand::thread_rng().gen_range(f64::EPSILON..1.0).ln() * self.level_mult) as usize;
        self.links.push(vec![Vec::new(); level + 1]);
        self.inserted += 1;
        let Some((mut ep, top)) = self.entry else {
            self.entry = Some((id, level));
            return;
        };
        let d = |o: u32| dist(id, o);
        let mut visited = Visited::new(self.links.len());
        for l in (level + 1..=top).rev() {
            ep = self.greedy(ep, l, &d);
        }
        for l in (0..=level.min(top)).rev() {
            visited.gen += 1;
            let found = self.search_layer(&[ep], self.ef_construct, l, &d, &mut visited);
            let cap = if l == 0 { self.m0 } else { self.m };
            let chosen = self.select(&found, cap, dist);
            self.links[id as usize][l] = chosen.clone();
            for n in chosen {
                self.connect(n, id, l, cap, dist);
            }
            ep = found.first().map(|s| s.id).unwrap_or(ep);
        }
        if level > top {
            self.entry = Some((id, level));
        }
    }

    fn connect(
        &mut self,
        from: u32,
        to: u32,
        l: usize,
        cap: usize,
        dist: &dyn Fn(u32, u32) -> f32,
    ) {
        let list = &mut self.links[from as usize][l];
        list.push(to);
        if list.len() > cap {
            let mut scored: Vec<Scored> = list
                .iter()
                .map(|&n| Scored {
                    dist: dist(from, n),
                    id: n,
                })
                .collect();
            scored.sort();
            let kept = self.select(&scored, cap, dist);
            self.links[from as usize][l] = kept;
        }
    }

    /// Neighbour selection heuristic: keep a candidate only if it is closer to the base than
    /// to every neighbour kept so far; fill up with the rest.
    fn select(&self, sorted: &[Scored], cap: usize, dist: &dyn Fn(u32, u32) -> f32) -> Vec<u32> {
        let mut kept: Vec<u32> = Vec::with_capacity(cap);
        for c in sorted {
            if kept.len() >= cap {
                break;
            }
            if kept.iter().all(|&k| dist(c.id, k) > c.dist) {
                kept.push(c.id);
            }
        }
        if kept.len() < cap {
            for c in sorted {
                if kept.len() >= cap {
                    break;
                }
                if !kept.contains(&c.id) {
                    kept.push(c.id);
                }
            }
        }
        kept
    }

    fn greedy(&self, mut ep: u32, l: usize, d: &dyn Fn(u32) -> f32) -> u32 {
        let mut best = d(ep);
        loop {
            let mut changed = false;
            for &n in self.neighbours(ep, l) {
                let dn = d(n);
                if dn < best {
                    best = dn;
                    ep = n;
                    changed = true;
                }
            }
            if !changed {
                return ep;
            }
        }
    }

    fn neighbours(&self, id: u32, l: usize) -> &[u32] {
        self.links[id as usize]
            .get(l)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Best-first search of one layer; returns up to `ef` nodes sorted by distance.
    fn search_layer(
        &self,
        eps: &[u32],
        ef: usize,
        l: usize,
        d: &dyn Fn(u32) -> f32,
        visited: &mut Visited,
    ) -> Vec<Scored> {
        let mut cand: BinaryHeap<Reverse<Scored>> = BinaryHeap::new();
        let mut best: BinaryHeap<Scored> = BinaryHeap::new();
        for &e in eps {
            visited.insert(e);
            let s = Scored { dist: d(e), id: e };
            cand.push(Reverse(s));
            best.push(s);
        }
        while let Some(Reverse(c)) = cand.pop() {
            if best.len() >= ef && best.peek().is_some_and(|w| c.dist > w.dist) {
                break;
            }
            for &n in self.neighbours(c.id, l) {
                if !visited.insert(n) {
                    continue;
                }
                let dn = d(n);
                if best.len() < ef || best.peek().is_some_and(|w| dn < w.dist) {
                    let s = Scored { dist: dn, id: n };
                    cand.push(Reverse(s));
                    best.push(s);
                    if best.len() > ef {
                        best.pop();
                    }
                }
            }
        }
        best.into_sorted_vec()
    }

    /// The `k` nearest accepted nodes; `d` is the distance to the query.
    pub fn search(
        &self,
        k: usize,
        ef: usize,
        d: &dyn Fn(u32) -> f32,
        accept: &dyn Fn(u32) -> bool,
    ) -> Vec<Scored> {
        let Some((mut ep, top)) = self.entry else {
            return Vec::new();
        };
        for l in (1..=top).rev() {
            ep = self.greedy(ep, l, d);
        }
        let ef = ef.max(k);
        // Walk layer 0 keeping `ef` accepted results; rejected nodes still lead the way.
        let mut visited = Visited::new(self.links.len());
        let mut cand: BinaryHeap<Reverse<Scored>> = BinaryHeap::new();
        let mut best: BinaryHeap<Scored> = BinaryHeap::new();
        visited.insert(ep);
        let s = Scored {
            dist: d(ep),
            id: ep,
        };
        cand.push(Reverse(s));
        if accept(ep) {
            best.push(s);
        }
        while let Some(Reverse(c)) = cand.pop() {
            if best.len() >= ef && best.peek().is_some_and(|w| c.dist > w.dist) {
                break;
            }
            for &n in self.neighbours(c.id, 0) {
                if !visited.insert(n) {
                    continue;
                }
                let dn = d(n);
                if best.len() < ef || best.peek().is_some_and(|w| dn < w.dist) {
                    let s = Scored { dist: dn, id: n };
                    cand.push(Reverse(s));
                    if accept(n) {
                        best.push(s);
                        if best.len() > ef {
                            best.pop();
                        }
                    }
                }
            }
        }
        let mut out = best.into_sorted_vec();
        out.truncate(k);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recall_on_random_points() {
        let mut rng = rand::thread_rng();
        let dim = 16;
        let n = 3000;
        let data: Vec<Vec<f32>> = (0..n)
            .map(|_| (0..dim).map(|_| rng.gen::<f32>()).collect())
            .collect();
        let l2 =
            |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f32>();
        let mut g = Hnsw::new(16, 100);
        for i in 0..n {
            g.insert(i as u32, true, &|a, b| {
                l2(&data[a as usize], &data[b as usize])
            });
        }
        let mut hits = 0;
        for q in 0..50 {
            let query: Vec<f32> = (0..dim).map(|_| rng.gen::<f32>()).collect();
            let mut exact: Vec<(f32, u32)> =
                (0..n).map(|i| (l2(&query, &data[i]), i as u32)).collect();
            exact.sort_by(|a, b| a.0.total_cmp(&b.0));
            let even = q % 2 == 0;
            let accept = |i: u32| !even || i.is_multiple_of(2);
            let truth: Vec<u32> = exact
                .iter()
                .map(|e| e.1)
                .filter(|&i| accept(i))
                .take(10)
                .collect();
            let got = g.search(10, 64, &|i| l2(&query, &data[i as usize]), &accept);
            assert!(got.iter().all(|s| accept(s.id)));
            hits += got.iter().filter(|s| truth.contains(&s.id)).count();
        }
        let recall = hits as f64 / 500.0;
        assert!(recall > 0.9, "recall {recall}");
    }
}
