//! Hierarchical navigable small world graph over vector offsets.
//! Built by insertion; searches take a predicate so filtered search walks the full graph
//! but only returns accepted points.

use parking_lot::{Mutex, RwLock};
use rand::Rng;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};

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

/// One node's neighbour lists by level, behind its own lock so inserts can run in parallel.
type Links = RwLock<Vec<Vec<u32>>>;

#[derive(Debug)]
pub struct Hnsw {
    m: usize,
    m0: usize,
    ef_construct: usize,
    level_mult: f64,
    nodes: Vec<Links>,
    /// Offsets below this are fully inserted.
    covered: AtomicUsize,
    entry: Mutex<Option<(u32, usize)>>,
    inserted: AtomicUsize,
}

/// Tracks visited nodes with a generation counter so a search needs no clearing pass.
struct Visited {
    marks: Vec<u32>,
    gen: u32,
}

thread_local! {
    /// One visited set per thread, reused across searches.
    static VISITED: std::cell::RefCell<Visited> = std::cell::RefCell::new(Visited::new(0));
}

impl Visited {
    fn new(n: usize) -> Self {
        Visited {
            marks: vec![0; n],
            gen: 1,
        }
    }

    /// Starts a new search: bumps the generation instead of clearing.
    fn reset(&mut self) {
        if self.gen == u32::MAX {
            self.marks.iter_mut().for_each(|m| *m = 0);
            self.gen = 0;
        }
        self.gen += 1;
    }

    fn with<R>(f: impl FnOnce(&mut Visited) -> R) -> R {
        VISITED.with(|v| match v.try_borrow_mut() {
            Ok(mut v) => {
                v.reset();
                f(&mut v)
            }
            Err(_) => f(&mut Visited::new(0)),
        })
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
            nodes: Vec::new(),
            covered: AtomicUsize::new(0),
            entry: Mutex::new(None),
            inserted: AtomicUsize::new(0),
        }
    }

    /// Number of offsets covered (offsets below this are in the graph).
    pub fn len(&self) -> usize {
        self.covered.load(AtomicOrdering::Acquire)
    }

    pub fn is_empty(&self) -> bool {
        self.inserted.load(AtomicOrdering::Acquire) == 0
    }

    pub fn bytes(&self) -> usize {
        self.nodes
            .iter()
            .map(|l| {
                l.read()
                    .iter()
                    .map(|n| n.capacity() * 4 + 24)
                    .sum::<usize>()
                    + 32
            })
            .sum()
    }

    /// Makes room for offsets up to `n`; needs exclusive access, so callers do it briefly.
    pub fn reserve(&mut self, n: usize) {
        while self.nodes.len() < n {
            self.nodes.push(RwLock::new(Vec::new()));
        }
    }

    /// Inserts offsets `from..to` (room reserved) with `threads` workers, then marks them
    /// covered. `present(o)` false leaves an isolated slot.
    pub fn insert_range(
        &self,
        from: usize,
        to: usize,
        threads: usize,
        present: &(dyn Fn(u32) -> bool + Sync),
        dist: &(dyn Fn(u32, u32) -> f32 + Sync),
    ) {
        let next = AtomicUsize::new(from);
        let work = || loop {
            let o = next.fetch_add(1, AtomicOrdering::Relaxed);
            if o >= to {
                break;
            }
            if present(o as u32) {
                self.insert(o as u32, dist);
            }
        };
        if threads <= 1 || to - from < 64 {
            work();
        } else {
            std::thread::scope(|s| {
                for _ in 0..threads {
                    s.spawn(work);
                }
            });
        }
        self.covered.fetch_max(to, AtomicOrdering::Release);
    }

    /// Inserts one node (its slot must be reserved).
    pub fn insert(&self, id: u32, dist: &dyn Fn(u32, u32) -> f32) {
        let level =
            (-rand::thread_rng().gen_range(f64::EPSILON..1.0).ln() * self.level_mult) as usize;
        *self.nodes[id as usize].write() = vec![Vec::new(); level + 1];
        self.inserted.fetch_add(1, AtomicOrdering::AcqRel);
        let current = {
            let mut e = self.entry.lock();
            match *e {
                None => {
                    *e = Some((id, level));
                    return;
                }
                Some(cur) => cur,
            }
        };
        let (mut ep, top) = current;
        let d = |o: u32| dist(id, o);
        for l in (level + 1..=top).rev() {
            ep = self.greedy(ep, l, &d);
        }
        for l in (0..=level.min(top)).rev() {
            let found =
                Visited::with(|v| self.search_layer(ep, self.ef_construct, l, &d, &|_| true, v));
            let cap = if l == 0 { self.m0 } else { self.m };
            let chosen = self.select(&found, cap, dist);
            self.nodes[id as usize].write()[l] = chosen.clone();
            for n in chosen {
                self.connect(n, id, l, cap, dist);
            }
            ep = found.first().map(|s| s.id).unwrap_or(ep);
        }
        if level > top {
            let mut e = self.entry.lock();
            if e.is_none_or(|(_, t)| level > t) {
                *e = Some((id, level));
            }
        }
    }

    fn connect(&self, from: u32, to: u32, l: usize, cap: usize, dist: &dyn Fn(u32, u32) -> f32) {
        let mut links = self.nodes[from as usize].write();
        let Some(list) = links.get_mut(l) else { return };
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
            *list = self.select(&scored, cap, dist);
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
        for c in sorted {
            if kept.len() >= cap {
                break;
            }
            if !kept.contains(&c.id) {
                kept.push(c.id);
            }
        }
        kept
    }

    /// Copies a node's neighbours at level `l` into `buf` (locks held only while copying).
    fn neighbours_into(&self, id: u32, l: usize, buf: &mut Vec<u32>) {
        buf.clear();
        if let Some(node) = self.nodes.get(id as usize) {
            if let Some(list) = node.read().get(l) {
                buf.extend_from_slice(list);
            }
        }
    }

    fn greedy(&self, mut ep: u32, l: usize, d: &dyn Fn(u32) -> f32) -> u32 {
        let mut best = d(ep);
        let mut buf = Vec::new();
        loop {
            let mut changed = false;
            self.neighbours_into(ep, l, &mut buf);
            for &n in &buf {
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

    /// Best-first search of one layer keeping `ef` accepted nodes; rejected nodes still lead
    /// the way. Returns them sorted by distance.
    fn search_layer(
        &self,
        ep: u32,
        ef: usize,
        l: usize,
        d: &dyn Fn(u32) -> f32,
        accept: &dyn Fn(u32) -> bool,
        visited: &mut Visited,
    ) -> Vec<Scored> {
        let mut cand: BinaryHeap<Reverse<Scored>> = BinaryHeap::new();
        let mut best: BinaryHeap<Scored> = BinaryHeap::new();
        let mut buf = Vec::new();
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
            self.neighbours_into(c.id, l, &mut buf);
            for &n in &buf {
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
        let Some((mut ep, top)) = *self.entry.lock() else {
            return Vec::new();
        };
        for l in (1..=top).rev() {
            ep = self.greedy(ep, l, d);
        }
        let mut out = Visited::with(|v| self.search_layer(ep, ef.max(k), 0, d, accept, v));
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
        g.reserve(n);
        g.insert_range(0, n, 2, &|_| true, &|a, b| {
            l2(&data[a as usize], &data[b as usize])
        });
        assert_eq!(g.len(), n);
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
