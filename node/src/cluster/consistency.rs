//! The `consistency` parameter of reads: how many replicas of each shard to ask, and how
//! many of them must have a point for it to be returned.

use crate::collection::shard_key::ShardKeySelector;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Consistency {
    /// One replica (the default).
    #[default]
    One,
    /// This many replicas; a point must be in all answers.
    Factor(usize),
    /// All active replicas; a point must be in all answers.
    All,
    /// All active replicas; a point must be in more than half of the answers.
    Majority,
    /// More than half of the active replicas; a point must be in all answers.
    Quorum,
}

/// What a read covers: how many replicas of each shard it asks, and the shard keys it is
/// limited to (custom sharding; none: every shard).
#[derive(Debug, Clone, Default)]
pub struct ReadScope {
    pub consistency: Consistency,
    pub shard_key: Option<ShardKeySelector>,
}

impl ReadScope {
    pub fn new(consistency: Consistency, shard_key: Option<ShardKeySelector>) -> ReadScope {
        ReadScope {
            consistency,
            shard_key,
        }
    }
}

impl From<Consistency> for ReadScope {
    fn from(consistency: Consistency) -> Self {
        ReadScope::new(consistency, None)
    }
}

impl Consistency {
    /// Replicas to ask when `active` are available. A factor above `active` asks all of
    /// them, as Qdrant clamps it.
    pub fn replicas(self, active: usize) -> usize {
        match self {
            Consistency::One => 1,
            Consistency::Factor(n) => n.clamp(1, active.max(1)),
            Consistency::All | Consistency::Majority => active.max(1),
            Consistency::Quorum => active / 2 + 1,
        }
    }

    /// Answers (out of `asked`) that must contain a point.
    pub fn needed(self, asked: usize) -> usize {
        match self {
            Consistency::Majority => asked / 2 + 1,
            _ => asked,
        }
    }
}

impl<'de> Deserialize<'de> for Consistency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.as_str() {
            "all" => Ok(Consistency::All),
            "majority" => Ok(Consistency::Majority),
            "quorum" => Ok(Consistency::Quorum),
            n => match n.parse::<usize>() {
                Ok(0) | Err(_) => Err(D::Error::custom(format!(
                    "consistency must be a positive number, `all`, `majority` or `quorum`, got `{n}`"
                ))),
                Ok(1) => Ok(Consistency::One),
                Ok(n) => Ok(Consistency::Factor(n)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Consistency;

    fn parse(s: &str) -> Result<Consistency, serde_json::Error> {
        serde_json::from_value(serde_json::Value::String(s.into()))
    }

    #[test]
    fn parses_qdrant_values() {
        assert_eq!(parse("all").unwrap(), Consistency::All);
        assert_eq!(parse("2").unwrap(), Consistency::Factor(2));
        assert_eq!(parse("1").unwrap(), Consistency::One);
        assert!(parse("0").is_err());
        assert!(parse("most").is_err());
        assert_eq!(Consistency::Quorum.replicas(3), 2);
        assert_eq!(Consistency::Majority.needed(3), 2);
        assert_eq!(Consistency::All.needed(3), 3);
        assert_eq!(Consistency::Factor(5).replicas(2), 2);
        assert_eq!(Consistency::Factor(2).replicas(3), 2);
    }
}
