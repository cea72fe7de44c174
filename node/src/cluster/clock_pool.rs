//! The clocks this peer tags the writes it sends to a shard's replicas with
//! (`collection::clocks`): one write per clock at a time, and a clock whose write any
//! replica failed is dropped, so the ticks a replica applied of a clock form a prefix.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug)]
pub struct ClockPool {
    /// The first clock id of this process: ids of an earlier run are never reused.
    first: u64,
    made: AtomicU64,
    /// Idle clocks per (collection, shard).
    idle: Mutex<HashMap<(String, u32), Vec<Idle>>>,
}

/// An idle clock: its id and the tick of its last write.
type Idle = (u64, u64);

/// A clock taken for one write, and the tick of that write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    pub clock: u64,
    pub tick: u64,
}

impl Default for ClockPool {
    fn default() -> Self {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or_default();
        ClockPool {
            first: now,
            made: AtomicU64::new(0),
            idle: Mutex::default(),
        }
    }
}

impl ClockPool {
    /// An idle clock of the shard, one tick further, or a new clock.
    pub fn take(&self, collection: &str, shard: u32) -> Held {
        let mut idle = self.idle.lock();
        if let Some((clock, tick)) = idle
            .get_mut(&(collection.to_string(), shard))
            .and_then(Vec::pop)
        {
            return Held {
                clock,
                tick: tick + 1,
            };
        }
        let n = self.made.fetch_add(1, Ordering::Relaxed);
        Held {
            clock: self.first.wrapping_add(n),
            tick: 1,
        }
    }

    /// Returns a clock whose write every replica applied.
    pub fn give_back(&self, collection: &str, shard: u32, held: Held) {
        let mut idle = self.idle.lock();
        idle.entry((collection.to_string(), shard))
            .or_default()
            .push((held.clock, held.tick));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_carry_one_write_at_a_time_and_failed_ones_are_dropped() {
        let pool = ClockPool::default();
        let a = pool.take("c", 0);
        let b = pool.take("c", 0);
        assert_ne!(a.clock, b.clock, "a busy clock is not handed out twice");
        assert_eq!((a.tick, b.tick), (1, 1));
        pool.give_back("c", 0, a);
        assert_eq!(
            pool.take("c", 0),
            Held {
                clock: a.clock,
                tick: 2
            }
        );
        // `b` failed somewhere: not given back, so the next write gets a new clock.
        let c = pool.take("c", 0);
        assert!(c.clock != a.clock && c.clock != b.clock);
        assert_eq!(pool.take("c", 1).tick, 1, "clocks are per shard");
    }
}
