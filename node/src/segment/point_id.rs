//! Point identifiers: unsigned integers or UUIDs, as Qdrant's `ExtendedPointId`.

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use uuid::Uuid;

/// A point id: `42` or `"550e8400-e29b-41d4-a716-446655440000"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PointId {
    Num(u64),
    Uuid(Uuid),
}

impl PointId {
    /// Stable byte key: a tag byte then the big-endian value, so keys sort like ids.
    pub fn to_key(self) -> Vec<u8> {
        match self {
            PointId::Num(n) => {
                let mut k = Vec::with_capacity(9);
                k.push(0);
                k.extend_from_slice(&n.to_be_bytes());
                k
            }
            PointId::Uuid(u) => {
                let mut k = Vec::with_capacity(17);
                k.push(1);
                k.extend_from_slice(u.as_bytes());
                k
            }
        }
    }

    pub fn from_key(key: &[u8]) -> Option<PointId> {
        match key.split_first()? {
            (0, rest) => Some(PointId::Num(u64::from_be_bytes(rest.try_into().ok()?))),
            (1, rest) => Some(PointId::Uuid(Uuid::from_slice(rest).ok()?)),
            _ => None,
        }
    }

    /// Parses the text form used in URL paths.
    pub fn parse(s: &str) -> Result<PointId, String> {
        if let Ok(n) = s.parse::<u64>() {
            return Ok(PointId::Num(n));
        }
        Uuid::parse_str(s).map(PointId::Uuid).map_err(|_| {
            format!("Unable to parse point id `{s}`: expected an unsigned integer or a UUID")
        })
    }

    /// A 64-bit hash used for shard routing; the same on every peer.
    pub fn route_hash(self) -> u64 {
        match self {
            PointId::Num(n) => mix64(n),
            PointId::Uuid(u) => {
                let (hi, lo) = u.as_u64_pair();
                mix64(hi ^ mix64(lo))
            }
        }
    }
}

/// splitmix64 finaliser: a fixed, well-spread integer hash.
fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl fmt::Display for PointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PointId::Num(n) => write!(f, "{n}"),
            PointId::Uuid(u) => write!(f, "{u}"),
        }
    }
}

impl Serialize for PointId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            PointId::Num(n) => s.serialize_u64(*n),
            PointId::Uuid(u) => s.serialize_str(&u.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for PointId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = PointId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a point id: an unsigned integer or a UUID string")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<PointId, E> {
                Ok(PointId::Num(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<PointId, E> {
                u64::try_from(v)
                    .map(PointId::Num)
                    .map_err(|_| E::custom(format!("point id must be unsigned, got {v}")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<PointId, E> {
                Err(E::custom(format!(
                    "point id must be an unsigned integer, got {v}"
                )))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PointId, E> {
                Uuid::parse_str(v).map(PointId::Uuid).map_err(|_| {
                    E::custom(format!("`{v}` is not a valid point id: expected a UUID"))
                })
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_roundtrip_and_order() {
        let ids = [
            PointId::Num(1),
            PointId::Num(256),
            PointId::Uuid(Uuid::nil()),
        ];
        for id in ids {
            assert_eq!(PointId::from_key(&id.to_key()), Some(id));
        }
        assert!(PointId::Num(1).to_key() < PointId::Num(256).to_key());
    }

    #[test]
    fn json_forms() {
        let n: PointId = serde_json::from_str("42").unwrap();
        assert_eq!(n, PointId::Num(42));
        let u: PointId = serde_json::from_str("\"550e8400-e29b-41d4-a716-446655440000\"").unwrap();
        assert_eq!(
            serde_json::to_string(&u).unwrap(),
            "\"550e8400-e29b-41d4-a716-446655440000\""
        );
        assert!(serde_json::from_str::<PointId>("-1").is_err());
        assert!(serde_json::from_str::<PointId>("\"not-a-uuid\"").is_err());
        assert!(serde_json::from_str::<PointId>("1.5").is_err());
        assert!(PointId::parse("abc").is_err());
        assert_eq!(PointId::parse("7").unwrap(), PointId::Num(7));
    }

    #[test]
    fn routing_spreads_ids() {
        let mut buckets = [0usize; 4];
        for i in 0..4000u64 {
            buckets[(PointId::Num(i).route_hash() % 4) as usize] += 1;
        }
        assert!(buckets.iter().all(|&b| b > 800), "{buckets:?}");
    }
}
