//! Neighbour lists of an HNSW graph. Level 0 (every node, most of the links, read on every
//! hop) is one flat array of atomics, `1 + m0` slots per node (a header, then ids), read
//! without locks: a reader racing a writer sees a mix of the old and new list, which are
//! both valid ids. Higher levels (few nodes) are per-node vectors. One mutex per node
//! serialises its writers. Each list also records how many of its first links are a
//! neighbour-selection result (`diverse`), which spares distances when it is pruned again.

use parking_lot::{Mutex, MutexGuard, RwLock};
use std::sync::atomic::{AtomicU32, Ordering};

/// A list above level 0 and how many of its first links are a selection result.
type Upper = (Vec<u32>, usize);

/// A node's lists above level 0 as saved: ids and `diverse` count per level.
pub type SavedUpper = Vec<(Vec<u32>, u32)>;

#[derive(Debug)]
pub struct Links {
    /// Slots per node at level 0 (the length and `m0` ids).
    stride: usize,
    flat: Vec<AtomicU32>,
    /// Levels 1.. of each node (index `l - 1`), each with its `diverse` count.
    upper: Vec<RwLock<Vec<Upper>>>,
    writers: Vec<Mutex<()>>,
}

impl Links {
    pub fn new(m0: usize) -> Links {
        Links {
            stride: m0 + 1,
            flat: Vec::new(),
            upper: Vec::new(),
            writers: Vec::new(),
        }
    }

    /// Room for offsets below `n`.
    pub fn grow(&mut self, n: usize) {
        while self.writers.len() < n {
            self.writers.push(Mutex::new(()));
            self.upper.push(RwLock::new(Vec::new()));
            self.flat
                .extend((0..self.stride).map(|_| AtomicU32::new(0)));
        }
    }

    pub fn bytes(&self) -> usize {
        let upper: usize = self
            .upper
            .iter()
            .map(|u| {
                u.read()
                    .iter()
                    .map(|l| l.0.capacity() * 4 + 32)
                    .sum::<usize>()
                    + 32
            })
            .sum();
        self.flat.len() * 4 + self.writers.len() + upper
    }

    /// Held while changing a node's lists.
    pub fn lock(&self, id: u32) -> MutexGuard<'_, ()> {
        self.writers[id as usize].lock()
    }

    /// Gives a node empty lists on levels `0..=level` (caller holds its lock).
    pub fn set_levels(&self, id: u32, level: usize) {
        self.flat[id as usize * self.stride].store(0, Ordering::Release);
        *self.upper[id as usize].write() = vec![(Vec::new(), 0); level];
    }

    /// Whether the node has a list on level `l`.
    pub fn has_level(&self, id: u32, l: usize) -> bool {
        l == 0 || self.upper[id as usize].read().len() >= l
    }

    /// Level 0 header of `id`: (length, diverse).
    fn header(&self, id: u32) -> (usize, usize) {
        let (len, diverse) = unpack(self.flat[id as usize * self.stride].load(Ordering::Acquire));
        (len.min(self.stride - 1), diverse)
    }

    /// Calls `f` with each neighbour of `id` on level `l`.
    pub fn for_each(&self, id: u32, l: usize, mut f: impl FnMut(u32)) {
        if l == 0 {
            let base = id as usize * self.stride + 1;
            let (len, _) = self.header(id);
            for slot in &self.flat[base..base + len] {
                f(slot.load(Ordering::Relaxed));
            }
        } else if let Some((list, _)) = self.upper[id as usize].read().get(l - 1) {
            list.iter().copied().for_each(f);
        }
    }

    /// A copy of the list (empty when the node lacks the level), and its `diverse` count.
    pub fn get(&self, id: u32, l: usize, out: &mut Vec<u32>) -> usize {
        out.clear();
        self.for_each(id, l, |n| out.push(n));
        if l == 0 {
            self.header(id).1.min(out.len())
        } else {
            self.upper[id as usize].read().get(l - 1).map_or(0, |u| u.1)
        }
    }

    /// Replaces the list (caller holds the node's lock; at most `m0` ids on level 0).
    pub fn set(&self, id: u32, l: usize, list: &[u32], diverse: usize) {
        if l == 0 {
            let base = id as usize * self.stride;
            let len = list.len().min(self.stride - 1);
            for (slot, &n) in self.flat[base + 1..].iter().zip(&list[..len]) {
                slot.store(n, Ordering::Relaxed);
            }
            let header = len as u32 | (diverse.min(len) as u32) << 16;
            self.flat[base].store(header, Ordering::Release);
        } else if let Some(slot) = self.upper[id as usize].write().get_mut(l - 1) {
            slot.0.clear();
            slot.0.extend_from_slice(list);
            slot.1 = diverse;
        }
    }
}

impl Links {
    /// Level-0 slots and the upper lists of nodes `0..n`, as saved.
    pub fn export(&self, n: usize) -> (Vec<u32>, Vec<SavedUpper>) {
        let n = n.min(self.writers.len());
        let flat = (self.flat[..n * self.stride].iter())
            .map(|a| a.load(Ordering::Acquire))
            .collect();
        let upper = (self.upper[..n].iter())
            .map(|u| {
                (u.read().iter())
                    .map(|(l, d)| (l.clone(), *d as u32))
                    .collect()
            })
            .collect();
        (flat, upper)
    }

    /// Lists read back from `export`; each list keeps only the ids `keep` accepts (its
    /// `diverse` prefix shrinks with it), and a node `keep` refuses has none.
    pub fn import(
        m0: usize,
        flat: &[u32],
        upper: Vec<SavedUpper>,
        keep: &dyn Fn(u32) -> bool,
    ) -> Links {
        let mut links = Links::new(m0);
        let n = upper.len();
        links.grow(n);
        for (id, levels) in upper.into_iter().enumerate() {
            let id = id as u32;
            if !keep(id) {
                continue;
            }
            links.set_levels(id, levels.len());
            let base = id as usize * links.stride;
            let (len, diverse) = unpack(flat[base]);
            let level0 = &flat[base + 1..base + 1 + len.min(m0)];
            let (list, diverse) = kept(level0, diverse, keep);
            links.set(id, 0, &list, diverse);
            for (l, (ids, d)) in levels.into_iter().enumerate() {
                let (list, diverse) = kept(&ids, d as usize, keep);
                links.set(id, l + 1, &list, diverse);
            }
        }
        links
    }
}

/// The ids of a list that `keep` accepts, and how many of its first `diverse` ones stay
/// (dropping a link leaves the rest of a selection result one).
fn kept(list: &[u32], diverse: usize, keep: &dyn Fn(u32) -> bool) -> (Vec<u32>, usize) {
    let diverse = list.iter().take(diverse).filter(|&&n| keep(n)).count();
    (list.iter().copied().filter(|&n| keep(n)).collect(), diverse)
}

/// A level-0 header word: (length as stored, diverse); `set` writes it.
pub fn unpack(h: u32) -> (usize, usize) {
    ((h & 0xffff) as usize, (h >> 16) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_keep_their_ids_and_diverse_counts_on_every_level() {
        let mut links = Links::new(4);
        links.grow(3);
        links.set_levels(1, 2);
        links.set(1, 0, &[0, 2, 2, 0, 2, 0], 9);
        let mut out = Vec::new();
        // Level 0 holds m0 ids; the count never exceeds the list.
        assert_eq!(links.get(1, 0, &mut out), 4);
        assert_eq!(out, vec![0, 2, 2, 0]);
        links.set(1, 2, &[2], 1);
        assert_eq!(links.get(1, 2, &mut out), 1);
        assert_eq!(out, vec![2]);
        assert!(links.has_level(1, 2) && !links.has_level(1, 3));
        // A node without level 1 keeps nothing there.
        links.set(0, 1, &[1], 1);
        assert_eq!(links.get(0, 1, &mut out), 0);
        assert!(out.is_empty());
        links.set_levels(1, 0);
        assert_eq!(links.get(1, 0, &mut out), 0);
        assert!(out.is_empty() && !links.has_level(1, 1));
    }
}
