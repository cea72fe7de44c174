//! Hierarchical navigable small world graph over vector offsets.
//! Built by insertion; searches take a predicate so filtered search walks the full graph
//! but only returns accepted points.

use super::hnsw_links::{unpack, Links, SavedUpper};
use parking_lot::Mutex;
use rand::Rng;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering as AtomicOrdering};

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

/// What inserting needs from the vectors and from the caller.
#[derive(Clone, Copy)]
pub struct Inserting<'a> {
    /// False leaves an offset's slot isolated (no vector, or deleted).
    pub present: &'a (dyn Fn(u32) -> bool + Sync),
    pub dist: &'a (dyn Fn(u32, u32) -> f32 + Sync),
    pub prefetch: &'a (dyn Fn(u32) + Sync),
    /// Asked before each offset: true ends the range early (a writer is waiting).
    pub stop: &'a (dyn Fn() -> bool + Sync),
}

/// Distances to one vector, and a hint to start loading another's (the walk issues it for
/// every neighbour before scoring them, so their memory loads overlap).
#[derive(Clone, Copy)]
pub struct Probe<'a> {
    pub dist: &'a dyn Fn(u32) -> f32,
    pub prefetch: &'a dyn Fn(u32),
}

#[derive(Debug)]
pub struct Hnsw {
    m: usize,
    m0: usize,
    ef_construct: usize,
    level_mult: f64,
    links: Links,
    /// Links into each node at level 0: a prune keeps a link that is its target's last.
    in_links: Vec<AtomicU32>,
    /// Offsets below this are fully inserted.
    covered: AtomicUsize,
    entry: Mutex<Option<(u32, usize)>>,
    inserted: AtomicUsize,
    /// `inserted` when unreached nodes were last linked in.
    repaired_at: AtomicUsize,
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
        // Level-0 list headers hold lengths in 16 bits.
        let m = m.clamp(2, 16_000);
        Hnsw {
            m,
            m0: m * 2,
            ef_construct: ef_construct.max(m),
            level_mult: 1.0 / (m as f64).ln(),
            links: Links::new(m * 2),
            in_links: Vec::new(),
            covered: AtomicUsize::new(0),
            entry: Mutex::new(None),
            inserted: AtomicUsize::new(0),
            repaired_at: AtomicUsize::new(0),
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
        self.links.bytes() + self.in_links.len() * 4
    }

    /// Makes room for offsets up to `n`; needs exclusive access, so callers do it briefly.
    pub fn reserve(&mut self, n: usize) {
        self.links.grow(n);
        while self.in_links.len() < n {
            self.in_links.push(AtomicU32::new(0));
        }
    }

    /// Inserts offsets `from..to` (room reserved) with `threads` workers, or fewer when
    /// `stop` says so, and marks them covered; returns the end of what was inserted.
    pub fn insert_range(
        &self,
        from: usize,
        to: usize,
        threads: usize,
        how: Inserting<'_>,
    ) -> usize {
        let next = AtomicUsize::new(from);
        let work = || loop {
            if (how.stop)() {
                break;
            }
            let o = next.fetch_add(1, AtomicOrdering::Relaxed);
            if o >= to {
                break;
            }
            if (how.present)(o as u32) {
                self.insert(o as u32, how.dist, how.prefetch);
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
        let to = next.into_inner().min(to);
        self.covered.fetch_max(to, AtomicOrdering::Release);
        // The reachability walk costs O(graph): run it each time the graph grew by a tenth.
        let n = self.inserted.load(AtomicOrdering::Acquire);
        if n > self.repaired_at.load(AtomicOrdering::Acquire) * 11 / 10 && !(how.stop)() {
            self.repair(how.present, how.dist, how.prefetch);
            self.repaired_at.store(n, AtomicOrdering::Release);
        }
        to
    }

    /// Inserts one node (its slot must be reserved).
    pub fn insert(&self, id: u32, dist: &dyn Fn(u32, u32) -> f32, prefetch: &dyn Fn(u32)) {
        let level =
            (-rand::thread_rng().gen_range(f64::EPSILON..1.0).ln() * self.level_mult) as usize;
        self.links.set_levels(id, level);
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
        let probe = Probe { dist: &d, prefetch };
        for l in (level + 1..=top).rev() {
            ep = self.greedy(ep, l, &d);
        }
        for l in (0..=level.min(top)).rev() {
            let found =
                Visited::with(|v| self.search_layer(ep, self.ef_construct, l, probe, &|_| true, v));
            let cap = if l == 0 { self.m0 } else { self.m };
            let (chosen, diverse) = Self::select(&found, cap, dist);
            if l == 0 {
                for &n in &chosen {
                    self.in_links[n as usize].fetch_add(1, AtomicOrdering::Relaxed);
                }
            }
            self.set_own(id, l, &chosen, diverse, cap);
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

    /// Adds the back-link `from -> to`. A full list is pruned by the heuristic without
    /// filling it up again, so it has room for the next links and is pruned rarely; a
    /// dropped link that was its target's last one at level 0 is kept while there is room.
    /// The list's leading `diverse` links are a heuristic result, so their pairs need no
    /// distances again.
    fn connect(&self, from: u32, to: u32, l: usize, cap: usize, dist: &dyn Fn(u32, u32) -> f32) {
        let _w = self.links.lock(from);
        if !self.links.has_level(from, l) {
            return;
        }
        let mut list = Vec::with_capacity(cap + 1);
        let diverse = self.links.get(from, l, &mut list);
        list.push(to);
        if l == 0 {
            self.in_links[to as usize].fetch_add(1, AtomicOrdering::Relaxed);
        }
        if list.len() <= cap {
            self.links.set(from, l, &list, diverse);
            return;
        }
        let mut scored: Vec<(Scored, bool)> = list
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                let s = Scored {
                    dist: dist(from, n),
                    id: n,
                };
                (s, i < diverse)
            })
            .collect();
        scored.sort_by_key(|a| a.0);
        let mut kept = Self::diverse(&scored, cap, dist);
        let mut diverse = kept.len();
        if l == 0 {
            for (s, _) in &scored {
                if !kept.contains(&s.id) && !self.release(s.id) {
                    self.keep_last(&mut kept, &mut diverse, s.id, cap);
                }
            }
        }
        self.links.set(from, l, &kept, diverse);
    }

    /// Removes one level-0 link into `id` from the count unless it is the last one.
    fn release(&self, id: u32) -> bool {
        self.in_links[id as usize]
            .fetch_update(AtomicOrdering::AcqRel, AtomicOrdering::Acquire, |c| {
                (c > 1).then(|| c - 1)
            })
            .is_ok()
    }

    /// Keeps `id`'s last link in `kept`: in free room, else in place of the farthest kept
    /// link whose target has others (only when there is none is `id` left without).
    fn keep_last(&self, kept: &mut Vec<u32>, diverse: &mut usize, id: u32, cap: usize) {
        if kept.len() < cap {
            kept.push(id);
            return;
        }
        match (0..kept.len()).rev().find(|&i| self.release(kept[i])) {
            Some(i) => {
                kept.remove(i);
                *diverse = (*diverse).min(i);
                kept.push(id);
            }
            None => {
                self.in_links[id as usize].fetch_sub(1, AtomicOrdering::AcqRel);
            }
        }
    }

    /// Sets a new node's own list on level `l`; back-links that concurrent inserts added to
    /// it meanwhile stay while there is room.
    fn set_own(&self, id: u32, l: usize, chosen: &[u32], diverse: usize, cap: usize) {
        let _w = self.links.lock(id);
        let mut old = Vec::new();
        self.links.get(id, l, &mut old);
        let mut list = chosen.to_vec();
        for o in old {
            if list.contains(&o) {
                if l == 0 {
                    self.in_links[o as usize].fetch_sub(1, AtomicOrdering::AcqRel);
                }
            } else if list.len() < cap {
                list.push(o);
            } else if l == 0 {
                self.in_links[o as usize].fetch_sub(1, AtomicOrdering::AcqRel);
            }
        }
        self.links.set(id, l, &list, diverse);
    }

    /// Neighbour selection heuristic: keep a candidate only if it is closer to the base than
    /// to every neighbour kept so far. Two candidates both flagged come from an earlier
    /// heuristic result in the same order, so they are known to pass each other.
    fn diverse(sorted: &[(Scored, bool)], cap: usize, dist: &dyn Fn(u32, u32) -> f32) -> Vec<u32> {
        let mut kept: Vec<(u32, bool)> = Vec::with_capacity(cap);
        for &(c, known) in sorted {
            if kept.len() >= cap {
                break;
            }
            if kept
                .iter()
                .all(|&(k, k_known)| (known && k_known) || dist(c.id, k) > c.dist)
            {
                kept.push((c.id, known));
            }
        }
        kept.into_iter().map(|k| k.0).collect()
    }

    /// A new node's links: the heuristic's choice, filled up with the closest others; and
    /// how many lead as the heuristic's choice.
    fn select(sorted: &[Scored], cap: usize, dist: &dyn Fn(u32, u32) -> f32) -> (Vec<u32>, usize) {
        let flagged: Vec<(Scored, bool)> = sorted.iter().map(|&s| (s, false)).collect();
        let mut kept = Self::diverse(&flagged, cap, dist);
        let diverse = kept.len();
        for c in sorted {
            if kept.len() >= cap {
                break;
            }
            if !kept.contains(&c.id) {
                kept.push(c.id);
            }
        }
        (kept, diverse)
    }

    fn greedy(&self, mut ep: u32, l: usize, d: &dyn Fn(u32) -> f32) -> u32 {
        let mut best = d(ep);
        let mut buf = Vec::new();
        loop {
            let mut changed = false;
            self.links.get(ep, l, &mut buf);
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
        probe: Probe<'_>,
        accept: &dyn Fn(u32) -> bool,
        visited: &mut Visited,
    ) -> Vec<Scored> {
        let d = probe.dist;
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
            buf.clear();
            self.links.for_each(c.id, l, |n| {
                if visited.insert(n) {
                    (probe.prefetch)(n);
                    buf.push(n);
                }
            });
            for &n in &buf {
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

    /// Inserted nodes that a walk of level 0 from the entry point does not reach (a search
    /// can never return them).
    pub fn unreached(&self, present: &dyn Fn(u32) -> bool) -> Vec<u32> {
        let Some((ep, _)) = *self.entry.lock() else {
            return Vec::new();
        };
        let mut seen = vec![false; self.in_links.len()];
        let mut stack = vec![ep];
        seen[ep as usize] = true;
        while let Some(id) = stack.pop() {
            self.links.for_each(id, 0, |n| {
                if !std::mem::replace(&mut seen[n as usize], true) {
                    stack.push(n);
                }
            });
        }
        (0..self.len() as u32)
            .filter(|&i| !seen[i as usize] && present(i))
            .collect()
    }

    /// Links every unreached node from its nearest reached one (pruning can leave a node,
    /// or a small island of nodes, with no link in from the rest).
    fn repair(
        &self,
        present: &dyn Fn(u32) -> bool,
        dist: &dyn Fn(u32, u32) -> f32,
        prefetch: &dyn Fn(u32),
    ) {
        let Some((entry, top)) = *self.entry.lock() else {
            return;
        };
        for u in self.unreached(present) {
            let d = |o: u32| dist(u, o);
            let probe = Probe { dist: &d, prefetch };
            let mut ep = entry;
            for l in (1..=top).rev() {
                ep = self.greedy(ep, l, &d);
            }
            let found = Visited::with(|v| self.search_layer(ep, self.m0, 0, probe, &|o| o != u, v));
            if let Some(r) = found.first() {
                let _w = self.links.lock(r.id);
                let mut list = Vec::with_capacity(self.m0 + 1);
                let mut diverse = self.links.get(r.id, 0, &mut list);
                if !list.contains(&u) {
                    self.in_links[u as usize].fetch_add(1, AtomicOrdering::AcqRel);
                    self.keep_last(&mut list, &mut diverse, u, self.m0);
                    self.links.set(r.id, 0, &list, diverse);
                }
            }
        }
    }

    /// The `k` nearest accepted nodes; `d` is the distance to the query.
    pub fn search(
        &self,
        k: usize,
        ef: usize,
        probe: Probe<'_>,
        accept: &dyn Fn(u32) -> bool,
    ) -> Vec<Scored> {
        let Some((mut ep, top)) = *self.entry.lock() else {
            return Vec::new();
        };
        for l in (1..=top).rev() {
            ep = self.greedy(ep, l, probe.dist);
        }
        let mut out = Visited::with(|v| self.search_layer(ep, ef.max(k), 0, probe, accept, v));
        out.truncate(k);
        out
    }
}

/// A graph as saved: its parameters and every node's lists (`Links::export`).
#[derive(Clone, Debug, PartialEq)]
pub struct GraphImage {
    pub m: u32,
    pub ef_construct: u32,
    pub covered: u64,
    pub entry: Option<(u32, u32)>,
    /// `1 + 2m` slots per node: a header (length, diverse << 16), then ids.
    pub flat: Vec<u32>,
    pub upper: Vec<SavedUpper>,
}

impl GraphImage {
    /// Whether the lists fit the parameters and every id is a covered node.
    pub fn is_sound(&self) -> bool {
        let stride = 1 + 2 * Hnsw::new(self.m as usize, 1).m;
        let n = self.upper.len();
        let covered = self.covered as usize;
        let ids_ok = |ids: &[u32]| ids.iter().all(|&i| (i as usize) < covered);
        covered <= n
            && self.flat.len() == n * stride
            && self.entry.is_none_or(|(e, _)| (e as usize) < covered)
            && self.flat.chunks(stride).enumerate().all(|(i, c)| {
                let (len, _) = unpack(c[0]);
                len < stride && (len == 0 || i < covered) && ids_ok(&c[1..1 + len])
            })
            && self
                .upper
                .iter()
                .enumerate()
                .all(|(i, u)| (u.is_empty() || i < covered) && u.iter().all(|(l, _)| ids_ok(l)))
    }
}

impl Hnsw {
    /// The graph's lists for saving (the caller keeps insertions out meanwhile).
    pub fn image(&self) -> GraphImage {
        let covered = self.len();
        let (flat, upper) = self.links.export(covered);
        GraphImage {
            m: self.m as u32,
            ef_construct: self.ef_construct as u32,
            covered: covered as u64,
            entry: self.entry.lock().map(|(e, l)| (e, l as u32)),
            flat,
            upper,
        }
    }

    /// A graph opened from a sound image, with the nodes `keep` refuses (points gone or
    /// changed since it was saved) and every link to them taken out. Unreached nodes are
    /// linked in by the next `relink`.
    pub fn from_image(img: GraphImage, keep: &dyn Fn(u32) -> bool) -> Hnsw {
        let mut g = Hnsw::new(img.m as usize, img.ef_construct as usize);
        let covered = img.covered as usize;
        let keep = |o: u32| (o as usize) < covered && keep(o);
        g.links = Links::import(g.m0, &img.flat, img.upper, &keep);
        let n = covered;
        g.reserve(n);
        let mut buf = Vec::new();
        let mut kept = 0;
        let mut top: Option<(u32, usize)> = None;
        for id in (0..n as u32).filter(|&o| keep(o)) {
            kept += 1;
            g.links.get(id, 0, &mut buf);
            for &t in &buf {
                g.in_links[t as usize].fetch_add(1, AtomicOrdering::Relaxed);
            }
            let level = (1..).take_while(|&l| g.links.has_level(id, l)).count();
            if top.is_none_or(|(_, t)| level > t) {
                top = Some((id, level));
            }
        }
        let entry = match img.entry {
            Some((e, l)) if keep(e) => Some((e, l as usize)),
            _ => top,
        };
        *g.entry.get_mut() = entry;
        g.covered = AtomicUsize::new(n);
        g.inserted = AtomicUsize::new(kept);
        g.repaired_at = AtomicUsize::new(kept);
        g
    }

    /// Nodes inserted (offsets covered without a vector are not).
    pub fn inserted(&self) -> usize {
        self.inserted.load(AtomicOrdering::Acquire)
    }

    /// Links in every node a walk from the entry point does not reach.
    pub fn relink(&self, how: Inserting<'_>) {
        self.repair(how.present, how.dist, how.prefetch);
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
        let how = Inserting {
            present: &|_| true,
            dist: &|a, b| l2(&data[a as usize], &data[b as usize]),
            prefetch: &|_| {},
            stop: &|| false,
        };
        assert_eq!(g.insert_range(0, n, 2, how), n);
        assert_eq!(g.len(), n);
        assert_eq!(g.unreached(&|_| true), Vec::<u32>::new());
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
            let d = |i: u32| l2(&query, &data[i as usize]);
            let probe = Probe {
                dist: &d,
                prefetch: &|_| {},
            };
            let got = g.search(10, 64, probe, &accept);
            assert!(got.iter().all(|s| accept(s.id)));
            hits += got.iter().filter(|s| truth.contains(&s.id)).count();
        }
        let recall = hits as f64 / 500.0;
        assert!(recall > 0.9, "recall {recall}");
    }
}
