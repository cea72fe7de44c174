//! Payload values between Qdrant's `json_with_int.proto` and `serde_json`: integers stay
//! integers, other numbers are doubles.

use proto::qdrant::{value::Kind, ListValue, NullValue, Struct, Value as GValue};
use serde_json::{Map, Number, Value};
use std::collections::HashMap;

pub fn to_json(v: GValue) -> Value {
    match v.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::DoubleValue(d)) => Number::from_f64(d).map_or(Value::Null, Value::Number),
        Some(Kind::IntegerValue(i)) => Value::from(i),
        Some(Kind::StringValue(s)) => Value::String(s),
        Some(Kind::BoolValue(b)) => Value::Bool(b),
        Some(Kind::StructValue(s)) => Value::Object(map_to_json(s.fields)),
        Some(Kind::ListValue(l)) => Value::Array(l.values.into_iter().map(to_json).collect()),
    }
}

pub fn from_json(v: Value) -> GValue {
    let kind = match v {
        Value::Null => Kind::NullValue(NullValue::NullValue as i32),
        Value::Bool(b) => Kind::BoolValue(b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Kind::IntegerValue(i),
            None => Kind::DoubleValue(n.as_f64().unwrap_or_default()),
        },
        Value::String(s) => Kind::StringValue(s),
        Value::Array(a) => Kind::ListValue(ListValue {
            values: a.into_iter().map(from_json).collect(),
        }),
        Value::Object(m) => Kind::StructValue(Struct {
            fields: map_from_json(m),
        }),
    };
    GValue { kind: Some(kind) }
}

/// A payload (or any map of values) to JSON.
pub fn map_to_json(m: HashMap<String, GValue>) -> Map<String, Value> {
    m.into_iter().map(|(k, v)| (k, to_json(v))).collect()
}

pub fn map_from_json(m: Map<String, Value>) -> HashMap<String, GValue> {
    m.into_iter().map(|(k, v)| (k, from_json(v))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip_keeps_integers_apart_from_floats() {
        let v = json!({"i": 3, "f": 2.5, "s": "x", "b": true, "n": null, "l": [1, {"k": -7}]});
        let back = to_json(from_json(v.clone()));
        assert_eq!(back, v);
        assert!(matches!(
            from_json(json!(3)).kind,
            Some(Kind::IntegerValue(3))
        ));
        assert!(matches!(
            from_json(json!(3.0)).kind,
            Some(Kind::DoubleValue(_))
        ));
        assert_eq!(to_json(GValue { kind: None }), Value::Null);
    }
}
