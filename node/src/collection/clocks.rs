//! Clock tags of replicated writes, and what they tell about a replica that missed some.
//!
//! The peer that sends a write to a shard's replicas tags it with one of its clocks: (peer,
//! clock, tick). A clock carries one write at a time and is given up after a write that any
//! replica failed, so the ticks of a clock a replica applied form a prefix of the clock's
//! writes. Each replica keeps the newest tick per clock it applied while `Active` (`map`),
//! and a log of the point ids recent tagged writes touched, with the ticks the log no
//! longer holds (`base`). From the map of a replica that was away, the source of a
//! `wal_delta` transfer finds the points it has to send again; when its log does not reach
//! back far enough, the transfer streams every point instead.

use crate::segment::point_id::PointId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Which write of which clock an operation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub peer: u64,
    pub clock: u64,
    pub tick: u64,
}

/// The newest tick per (peer, clock).
pub type Clocks = BTreeMap<(u64, u64), u64>;

/// Clocks as a list, their wire form (JSON has no tuple keys).
pub fn to_list(c: &Clocks) -> Vec<Tag> {
    c.iter()
        .map(|(&(peer, clock), &tick)| Tag { peer, clock, tick })
        .collect()
}

pub fn from_list(list: &[Tag]) -> Clocks {
    let mut c = Clocks::new();
    for t in list {
        advance(&mut c, t);
    }
    c
}

/// Records that `tag` was applied.
pub fn advance(c: &mut Clocks, tag: &Tag) {
    let e = c.entry((tag.peer, tag.clock)).or_default();
    *e = (*e).max(tag.tick);
}

fn tick(c: &Clocks, key: &(u64, u64)) -> u64 {
    c.get(key).copied().unwrap_or(0)
}

/// Whether `other` lacks the write `tag` (by what its clocks say).
pub fn newer_than(tag: &Tag, other: &Clocks) -> bool {
    tag.tick > tick(other, &(tag.peer, tag.clock))
}

/// Checks that a log whose dropped entries reach `base` still holds every write of `map`
/// that `other` lacks; names the first clock it does not.
pub fn covers(map: &Clocks, base: Option<&Clocks>, other: &Clocks) -> Result<(), String> {
    let Some(base) = base else {
        return Err("the replica's operation log is not complete (restored or older data)".into());
    };
    for (key, &have) in map {
        let theirs = tick(other, key);
        if have > theirs && tick(base, key) > theirs {
            return Err(format!(
                "writes {}..{} of clock {}/{} are no longer in the operation log",
                theirs + 1,
                tick(base, key),
                key.0,
                key.1
            ));
        }
    }
    Ok(())
}

/// One entry of the operation log: the write's tag, the points it touched and its size.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub tag: Tag,
    pub bytes: u64,
    pub ids: Vec<PointId>,
}

impl Entry {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + self.ids.len() * 9);
        for x in [self.tag.peer, self.tag.clock, self.tag.tick, self.bytes] {
            out.extend_from_slice(&x.to_le_bytes());
        }
        for id in &self.ids {
            out.extend_from_slice(&id.to_key());
        }
        out
    }

    pub fn decode(b: &[u8]) -> Option<Entry> {
        let word = |i: usize| -> Option<u64> {
            Some(u64::from_le_bytes(
                b.get(i * 8..i * 8 + 8)?.try_into().ok()?,
            ))
        };
        let tag = Tag {
            peer: word(0)?,
            clock: word(1)?,
            tick: word(2)?,
        };
        let bytes = word(3)?;
        let mut ids = Vec::new();
        let mut rest = b.get(32..)?;
        while !rest.is_empty() {
            let len = match rest[0] {
                0 => 9,
                1 => 17,
                _ => return None,
            };
            ids.push(PointId::from_key(rest.get(..len)?)?);
            rest = &rest[len..];
        }
        Some(Entry { tag, bytes, ids })
    }
}

pub fn encode_clocks(c: &Clocks) -> Vec<u8> {
    let mut out = Vec::with_capacity(c.len() * 24);
    for t in to_list(c) {
        for x in [t.peer, t.clock, t.tick] {
            out.extend_from_slice(&x.to_le_bytes());
        }
    }
    out
}

pub fn decode_clocks(b: &[u8]) -> Option<Clocks> {
    if !b.len().is_multiple_of(24) {
        return None;
    }
    let words: Vec<u64> = b
        .chunks(8)
        .map(|w| u64::from_le_bytes(w.try_into().unwrap_or_default()))
        .collect();
    let tags: Vec<Tag> = words
        .chunks(3)
        .map(|w| Tag {
            peer: w[0],
            clock: w[1],
            tick: w[2],
        })
        .collect();
    Some(from_list(&tags))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clocks(list: &[(u64, u64, u64)]) -> Clocks {
        list.iter()
            .map(|&(p, c, t)| ((p, c), t))
            .collect::<Clocks>()
    }

    #[test]
    fn coverage_needs_the_log_to_reach_back_to_what_the_other_lacks() {
        let map = clocks(&[(1, 7, 20), (2, 3, 5)]);
        let base = clocks(&[(1, 7, 10)]);
        // The other has clock 1/7 up to 12: writes 13..20 are in the log (dropped up to 10).
        assert_eq!(covers(&map, Some(&base), &clocks(&[(1, 7, 12)])), Ok(()));
        // Up to 4 only: writes 5..10 were dropped.
        let err = covers(&map, Some(&base), &clocks(&[(1, 7, 4)])).unwrap_err();
        assert!(err.contains("5..10"), "{err}");
        // A clock the other never saw must be whole in the log (2/3 is: nothing dropped).
        assert_eq!(covers(&map, Some(&base), &clocks(&[(1, 7, 10)])), Ok(()));
        // The other being ahead needs nothing of this log.
        assert_eq!(
            covers(&map, Some(&base), &clocks(&[(1, 7, 30), (2, 3, 9)])),
            Ok(())
        );
        assert!(covers(&map, None, &map).is_err());
        assert!(newer_than(
            &Tag {
                peer: 2,
                clock: 3,
                tick: 1
            },
            &Clocks::new()
        ));
        assert!(!newer_than(
            &Tag {
                peer: 1,
                clock: 7,
                tick: 20
            },
            &map
        ));
    }

    #[test]
    fn entries_and_clocks_round_trip() {
        let e = Entry {
            tag: Tag {
                peer: 9,
                clock: u64::MAX,
                tick: 3,
            },
            bytes: 4096,
            ids: vec![
                PointId::Num(5),
                PointId::Uuid(uuid::Uuid::from_u128(77)),
                PointId::Num(0),
            ],
        };
        assert_eq!(Entry::decode(&e.encode()), Some(e));
        assert_eq!(Entry::decode(&[1, 2, 3]), None);
        let c = clocks(&[(1, 2, 3), (4, 5, 6)]);
        assert_eq!(decode_clocks(&encode_clocks(&c)), Some(c.clone()));
        assert_eq!(from_list(&to_list(&c)), c);
        assert_eq!(decode_clocks(&[0; 5]), None);
    }
}
