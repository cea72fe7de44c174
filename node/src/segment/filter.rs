//! Filter types with Qdrant's JSON shape. Conditions are told apart by their keys, so a
//! malformed condition gets a message that names what is wrong.

use super::point_id::PointId;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Option::is_none"
    )]
    pub must: Option<Vec<Condition>>,
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Option::is_none"
    )]
    pub should: Option<Vec<Condition>>,
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Option::is_none"
    )]
    pub must_not: Option<Vec<Condition>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_should: Option<MinShould>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MinShould {
    pub conditions: Vec<Condition>,
    pub min_count: usize,
}

#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum Condition {
    Field(FieldCondition),
    IsEmpty {
        is_empty: KeyRef,
    },
    IsNull {
        is_null: KeyRef,
    },
    HasId {
        has_id: Vec<PointId>,
    },
    HasVector {
        has_vector: String,
    },
    Nested {
        nested: Nested,
    },
    Filter(Filter),
    /// Internal, never parsed: points of a resharding's hash slot.
    InSlot(crate::collection::resharding::Slot),
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KeyRef {
    pub key: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Nested {
    pub key: String,
    pub filter: Filter,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldCondition {
    pub key: String,
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub r#match: Option<Match>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<Range>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values_count: Option<Range>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_empty: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_null: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo_bounding_box: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo_radius: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo_polygon: Option<Value>,
}

/// A value a keyword/integer/bool match compares with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MatchValue {
    Bool(bool),
    Int(i64),
    Str(String),
}

#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum Match {
    Value { value: MatchValue },
    Any { any: Vec<MatchValue> },
    Except { except: Vec<MatchValue> },
    Text { text: String },
    TextAny { text_any: String },
    Phrase { phrase: String },
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Range {
    pub lt: Option<f64>,
    pub gt: Option<f64>,
    pub gte: Option<f64>,
    pub lte: Option<f64>,
}

impl Range {
    pub fn contains(&self, v: f64) -> bool {
        self.lt.is_none_or(|b| v < b)
            && self.gt.is_none_or(|b| v > b)
            && self.gte.is_none_or(|b| v >= b)
            && self.lte.is_none_or(|b| v <= b)
    }
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Condition>>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|v| serde_json::from_value(v).map_err(D::Error::custom))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(v) => serde_json::from_value(v)
            .map(|c| Some(vec![c]))
            .map_err(D::Error::custom),
    }
}

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        let Value::Object(map) = &v else {
            return Err(D::Error::custom(format!(
                "a filter condition must be an object, got {v}"
            )));
        };
        let parse = |v: Value| -> Result<Condition, D::Error> {
            if map.contains_key("key") {
                serde_json::from_value(v).map(Condition::Field)
            } else if map.contains_key("is_empty") {
                #[derive(Deserialize)]
                struct W {
                    is_empty: KeyRef,
                }
                serde_json::from_value::<W>(v).map(|w| Condition::IsEmpty {
                    is_empty: w.is_empty,
                })
            } else if map.contains_key("is_null") {
                #[derive(Deserialize)]
                struct W {
                    is_null: KeyRef,
                }
                serde_json::from_value::<W>(v).map(|w| Condition::IsNull { is_null: w.is_null })
            } else if map.contains_key("has_id") {
                #[derive(Deserialize)]
                struct W {
                    has_id: Vec<PointId>,
                }
                serde_json::from_value::<W>(v).map(|w| Condition::HasId { has_id: w.has_id })
            } else if map.contains_key("has_vector") {
                #[derive(Deserialize)]
                struct W {
                    has_vector: String,
                }
                serde_json::from_value::<W>(v).map(|w| Condition::HasVector {
                    has_vector: w.has_vector,
                })
            } else if map.contains_key("nested") {
                #[derive(Deserialize)]
                struct W {
                    nested: Nested,
                }
                serde_json::from_value::<W>(v).map(|w| Condition::Nested { nested: w.nested })
            } else {
                serde_json::from_value(v).map(Condition::Filter)
            }
            .map_err(|e| D::Error::custom(format!("invalid filter condition: {e}")))
        };
        parse(v.clone())
    }
}

impl<'de> Deserialize<'de> for Match {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        let Value::Object(mut map) = v else {
            return Err(D::Error::custom("`match` must be an object"));
        };
        let field = |map: &mut serde_json::Map<String, Value>, k: &str| map.remove(k);
        let res = if let Some(x) = field(&mut map, "value") {
            serde_json::from_value(x).map(|value| Match::Value { value })
        } else if let Some(x) = field(&mut map, "any") {
            serde_json::from_value(x).map(|any| Match::Any { any })
        } else if let Some(x) = field(&mut map, "except") {
            serde_json::from_value(x).map(|except| Match::Except { except })
        } else if let Some(x) = field(&mut map, "text") {
            serde_json::from_value(x).map(|text| Match::Text { text })
        } else if let Some(x) = field(&mut map, "text_any") {
            serde_json::from_value(x).map(|text_any| Match::TextAny { text_any })
        } else if let Some(x) = field(&mut map, "phrase") {
            serde_json::from_value(x).map(|phrase| Match::Phrase { phrase })
        } else {
            return Err(D::Error::custom(
                "`match` needs one of `value`, `any`, `except`, `text`, `text_any`, `phrase`",
            ));
        };
        res.map_err(|e| D::Error::custom(format!("invalid `match`: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_qdrant_shapes() {
        let f: Filter = serde_json::from_str(
            r#"{"must":[{"key":"city","match":{"value":"London"}},
                {"key":"n","range":{"gte":1,"lt":5.5}},
                {"has_id":[1,"550e8400-e29b-41d4-a716-446655440000"]},{"has_vector":"img"},
                {"is_empty":{"key":"tags"}},{"is_null":{"key":"x"}},
                {"must_not":[{"key":"a.b","match":{"any":["x","y"]}}]},
                {"nested":{"key":"arr","filter":{"must":{"key":"k","match":{"value":1}}}}}],
              "should":{"key":"t","match":{"text":"hello"}},
              "min_should":{"conditions":[{"key":"c","match":{"except":[1,2]}}],"min_count":1}}"#,
        )
        .unwrap();
        assert_eq!(f.must.as_ref().unwrap().len(), 8);
        assert_eq!(f.should.as_ref().unwrap().len(), 1);
    }

    #[test]
    fn readable_errors() {
        let e = serde_json::from_str::<Filter>(r#"{"must":[{"key":"a","match":{"foo":1}}]}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("match"), "{e}");
        assert!(serde_json::from_str::<Filter>(r#"{"must":[5]}"#).is_err());
        assert!(serde_json::from_str::<Filter>(r#"{"mustt":[]}"#).is_err());
    }
}
