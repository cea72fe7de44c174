//! User-defined sharding (`sharding_method: custom`): each shard belongs to a shard key, the
//! user names the key of every write, and reads may be limited to some keys. Within a key,
//! points are spread over its shards by the hash of their id.

use super::error::{CollectionError, CollectionResult};
use super::instance::Collection;
use super::replicas::{Layout, LayoutError, ReplicaState};
use serde::{Deserialize, Serialize};

/// A shard key: a string or an unsigned integer, as in Qdrant.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ShardKey {
    Number(u64),
    Keyword(String),
}

impl std::fmt::Display for ShardKey {
    /// Qdrant's spelling in messages: `"a"` for a keyword, `7` for a number.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShardKey::Number(n) => write!(f, "{n}"),
            ShardKey::Keyword(s) => write!(f, "{s:?}"),
        }
    }
}

/// The `shard_key` of a request: one key, several, or a target with a fallback used when the
/// target does not exist.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ShardKeySelector {
    One(ShardKey),
    Many(Vec<ShardKey>),
    Fallback {
        target: ShardKey,
        fallback: ShardKey,
    },
}

/// How a collection's points are split into shards.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShardingMethod {
    #[default]
    Auto,
    Custom,
}

impl Layout {
    /// The key of each keyed shard.
    pub fn key_of(&self, shard: u32) -> Option<&ShardKey> {
        self.keys.get(&shard)
    }

    /// Shards of `key`, in id order.
    pub fn shards_of_key(&self, key: &ShardKey) -> Vec<u32> {
        self.keys
            .iter()
            .filter(|(_, k)| *k == key)
            .map(|(s, _)| *s)
            .collect()
    }

    /// Every key once, in the order of its first shard.
    pub fn shard_keys(&self) -> Vec<ShardKey> {
        let mut out: Vec<ShardKey> = Vec::new();
        for k in self.keys.values() {
            if !out.contains(k) {
                out.push(k.clone());
            }
        }
        out
    }

    /// Adds `key` with one new shard per entry of `placement` (its replicas, all active),
    /// numbered after the highest shard id.
    pub(super) fn create_key(
        &mut self,
        key: &ShardKey,
        placement: &[Vec<u64>],
    ) -> Result<(), LayoutError> {
        if self.keys.values().any(|k| k == key) {
            return Err(LayoutError::KeyExists(key.to_string()));
        }
        let first = self.replicas.keys().max().map_or(1, |m| m + 1);
        for (i, peers) in placement.iter().enumerate() {
            let id = first + i as u32;
            let set = peers.iter().map(|p| (*p, ReplicaState::Active)).collect();
            self.replicas.insert(id, set);
            self.keys.insert(id, key.clone());
        }
        Ok(())
    }

    /// Removes `key`'s shards with their replicas and transfers.
    pub(super) fn drop_key(&mut self, key: &ShardKey) -> Result<(), LayoutError> {
        let shards = self.shards_of_key(key);
        if shards.is_empty() {
            return Err(LayoutError::NoKey(key.to_string()));
        }
        for s in &shards {
            self.replicas.remove(s);
            self.keys.remove(s);
        }
        self.transfers.retain(|t| !shards.contains(&t.shard_id));
        Ok(())
    }
}

/// Integer-keyed maps as lists of pairs, like the replicas (see `replicas::as_pairs`).
pub(crate) mod key_pairs {
    use super::ShardKey;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<S: Serializer>(m: &BTreeMap<u32, ShardKey>, s: S) -> Result<S::Ok, S::Error> {
        m.iter().collect::<Vec<_>>().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<u32, ShardKey>, D::Error> {
        Ok(Vec::<(u32, ShardKey)>::deserialize(d)?
            .into_iter()
            .collect())
    }
}

fn not_found(key: &ShardKey) -> String {
    format!("Shard key {key} not found")
}

impl Collection {
    /// The shards a read covers: all of them without a selector, else those of its keys.
    pub fn read_shards(&self, sel: Option<&ShardKeySelector>) -> CollectionResult<Vec<u32>> {
        let groups = self.key_groups(sel, false)?;
        Ok(groups.into_iter().flatten().collect())
    }

    /// The shards a write goes to, one group per key (a point goes to one shard of each).
    /// Custom sharding needs a key; automatic sharding has one group of all shards.
    pub fn write_groups(&self, sel: Option<&ShardKeySelector>) -> CollectionResult<Vec<Vec<u32>>> {
        if sel.is_none() && self.custom_sharding() {
            return Err(CollectionError::wrong("Shard key not specified"));
        }
        self.key_groups(sel, true)
    }

    pub fn key_groups(
        &self,
        sel: Option<&ShardKeySelector>,
        write: bool,
    ) -> CollectionResult<Vec<Vec<u32>>> {
        let custom = self.custom_sharding();
        self.with_layout(|layout| key_groups_in(layout, custom, sel, write))
    }
}

/// `Collection::key_groups` over one layout.
fn key_groups_in(
    layout: &Layout,
    custom: bool,
    sel: Option<&ShardKeySelector>,
    write: bool,
) -> CollectionResult<Vec<Vec<u32>>> {
    let Some(sel) = sel else {
        return Ok(vec![match custom {
            true => layout.serving(),
            false => layout.group(None),
        }]);
    };
    let missing = |k: &ShardKey| match write {
        true => CollectionError::wrong(not_found(k)),
        false => CollectionError::bad(format!("Bad request: {}", not_found(k))),
    };
    let of = |k: &ShardKey| {
        let shards = layout.group(Some(k));
        if shards.is_empty() {
            Err(missing(k))
        } else {
            Ok(shards)
        }
    };
    match sel {
        ShardKeySelector::One(k) => Ok(vec![of(k)?]),
        ShardKeySelector::Many(keys) if keys.is_empty() && write => {
            Err(CollectionError::wrong("Empty shard keys selection"))
        }
        ShardKeySelector::Many(keys) => {
            let mut seen: Vec<&ShardKey> = Vec::new();
            let mut out = Vec::new();
            for k in keys {
                if !seen.contains(&k) {
                    seen.push(k);
                    out.push(of(k)?);
                }
            }
            Ok(out)
        }
        ShardKeySelector::Fallback { target, fallback } => {
            Ok(vec![of(target).or_else(|_| of(fallback))?])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::point_id::PointId;

    fn kw(s: &str) -> ShardKey {
        ShardKey::Keyword(s.into())
    }

    #[test]
    fn selectors_parse_as_in_qdrant() {
        let one: ShardKeySelector = serde_json::from_str("\"a\"").unwrap();
        assert_eq!(one, ShardKeySelector::One(kw("a")));
        let many: ShardKeySelector = serde_json::from_str("[\"a\", 7]").unwrap();
        assert_eq!(
            many,
            ShardKeySelector::Many(vec![kw("a"), ShardKey::Number(7)])
        );
        let fb: ShardKeySelector =
            serde_json::from_str(r#"{"target": 1, "fallback": "b"}"#).unwrap();
        assert_eq!(
            fb,
            ShardKeySelector::Fallback {
                target: ShardKey::Number(1),
                fallback: kw("b")
            }
        );
        assert!(serde_json::from_str::<ShardKey>("1.5").is_err());
        assert_eq!(kw("a").to_string(), "\"a\"");
        assert_eq!(ShardKey::Number(7).to_string(), "7");
    }

    #[test]
    fn keys_get_new_shard_ids_and_drop_with_their_shards() {
        let mut l = Layout::default();
        l.create_key(&kw("a"), &[vec![1], vec![2]]).unwrap();
        l.create_key(&ShardKey::Number(7), &[vec![3]]).unwrap();
        assert_eq!(l.shards_of_key(&kw("a")), vec![1, 2]);
        assert_eq!(l.shards_of_key(&ShardKey::Number(7)), vec![3]);
        assert_eq!(l.shard_keys(), vec![kw("a"), ShardKey::Number(7)]);
        assert_eq!(
            l.create_key(&kw("a"), &[vec![1]]),
            Err(LayoutError::KeyExists("\"a\"".into()))
        );
        l.drop_key(&kw("a")).unwrap();
        assert_eq!(l.replicas.keys().copied().collect::<Vec<_>>(), vec![3]);
        assert_eq!(
            l.drop_key(&kw("a")),
            Err(LayoutError::NoKey("\"a\"".into()))
        );
        let json = serde_json::to_string(&l).unwrap();
        assert_eq!(serde_json::from_str::<Layout>(&json).unwrap(), l);
    }

    #[test]
    fn a_point_routes_to_one_shard_of_a_group() {
        let id = PointId::Num(42);
        let l = Layout::default();
        let s = l.route(id, &[4, 5, 6]).unwrap();
        assert!([4, 5, 6].contains(&s));
        assert_eq!(l.route(id, &[9]), Some(9));
        assert_eq!(l.route(id, &[]), None);
    }
}
