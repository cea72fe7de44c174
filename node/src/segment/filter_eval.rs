//! Checks a filter against one point: its id, payload and which vectors it has.

use super::filter::{Condition, FieldCondition, Filter, Match, MatchValue};
use super::payload::{raw_values_at, values_at, Payload};
use super::point_id::PointId;
use serde_json::Value;

/// What a filter can look at of one point.
#[derive(Clone, Copy)]
pub struct Point<'a> {
    pub id: PointId,
    pub payload: &'a Payload,
    /// Whether the point has the named vector (`has_vector`).
    pub has_vector: &'a dyn Fn(&str) -> bool,
}

/// A point seen only through its id and payload (it has no vectors).
pub fn bare(id: PointId, payload: &Payload) -> Point<'_> {
    Point {
        id,
        payload,
        has_vector: &|_| false,
    }
}

pub fn matches(filter: &Filter, p: Point<'_>) -> bool {
    if let Some(must) = &filter.must {
        if !must.iter().all(|c| check(c, p)) {
            return false;
        }
    }
    if let Some(must_not) = &filter.must_not {
        if must_not.iter().any(|c| check(c, p)) {
            return false;
        }
    }
    if let Some(should) = &filter.should {
        if !should.is_empty() && !should.iter().any(|c| check(c, p)) {
            return false;
        }
    }
    if let Some(ms) = &filter.min_should {
        let hits = ms.conditions.iter().filter(|c| check(c, p)).count();
        if hits < ms.min_count {
            return false;
        }
    }
    true
}

fn check(cond: &Condition, p: Point<'_>) -> bool {
    match cond {
        Condition::Field(fc) => check_field(fc, p.payload),
        Condition::IsEmpty { is_empty: k } => is_empty(p.payload, &k.key),
        Condition::IsNull { is_null: k } => is_null(p.payload, &k.key),
        Condition::HasId { has_id } => has_id.contains(&p.id),
        Condition::HasVector { has_vector } => (p.has_vector)(has_vector),
        Condition::Nested { nested } => values_at(p.payload, &nested.key)
            .into_iter()
            .filter_map(Value::as_object)
            .any(|obj| matches(&nested.filter, Point { payload: obj, ..p })),
        Condition::Filter(f) => matches(f, p),
        Condition::InSlot(slot) => slot.holds(p.id),
    }
}

fn is_empty(payload: &Payload, key: &str) -> bool {
    raw_values_at(payload, key).iter().all(|v| match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        _ => false,
    })
}

fn is_null(payload: &Payload, key: &str) -> bool {
    raw_values_at(payload, key).iter().any(|v| v.is_null())
}

fn check_field(fc: &FieldCondition, payload: &Payload) -> bool {
    let values = values_at(payload, &fc.key);
    if let Some(m) = &fc.r#match {
        if !check_match(m, &values) {
            return false;
        }
    }
    if let Some(r) = &fc.range {
        if !values
            .iter()
            .filter_map(|v| v.as_f64())
            .any(|x| r.contains(x))
        {
            return false;
        }
    }
    if let Some(r) = &fc.values_count {
        let count = raw_values_at(payload, &fc.key)
            .iter()
            .map(|v| match v {
                Value::Array(a) => a.len(),
                Value::Null => 0,
                _ => 1,
            })
            .sum::<usize>();
        if !r.contains(count as f64) {
            return false;
        }
    }
    if let Some(want) = fc.is_empty {
        if is_empty(payload, &fc.key) != want {
            return false;
        }
    }
    if let Some(want) = fc.is_null {
        if is_null(payload, &fc.key) != want {
            return false;
        }
    }
    true
}

pub fn value_eq(v: &Value, m: &MatchValue) -> bool {
    match (v, m) {
        (Value::String(s), MatchValue::Str(t)) => s == t,
        (Value::Number(n), MatchValue::Int(i)) => n.as_i64() == Some(*i),
        (Value::Bool(b), MatchValue::Bool(c)) => b == c,
        _ => false,
    }
}

/// Lowercased alphanumeric words, as a default full-text tokenizer would give.
pub fn tokens(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn check_match(m: &Match, values: &[&Value]) -> bool {
    match m {
        Match::Value { value } => values.iter().any(|v| value_eq(v, value)),
        Match::Any { any } => values.iter().any(|v| any.iter().any(|m| value_eq(v, m))),
        Match::Except { except } => !values.iter().any(|v| except.iter().any(|m| value_eq(v, m))),
        Match::Text { text } | Match::Phrase { phrase: text } => values.iter().any(|v| {
            let Some(s) = v.as_str() else { return false };
            if s.contains(text.as_str()) {
                return true;
            }
            let have = tokens(s);
            let want = tokens(text);
            !want.is_empty() && want.iter().all(|t| have.contains(t))
        }),
        Match::TextAny { text_any } => values.iter().any(|v| {
            let Some(s) = v.as_str() else { return false };
            let have = tokens(s);
            tokens(text_any).iter().any(|t| have.contains(t))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(v: Value) -> Filter {
        serde_json::from_value(v).unwrap()
    }
    fn p(v: Value) -> Payload {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn conditions() {
        let doc = p(
            json!({"city": "London", "n": 3, "tags": ["a", "b"], "e": [], "z": null,
                            "text": "The quick brown fox", "arr": [{"k": 1, "m": "x"}, {"k": 2, "m": "y"}]}),
        );
        let id = PointId::Num(7);
        let yes = [
            json!({"must": [{"key": "city", "match": {"value": "London"}}]}),
            json!({"must": [{"key": "n", "range": {"gt": 2, "lte": 3}}]}),
            json!({"must": [{"key": "tags", "match": {"any": ["x", "b"]}}]}),
            json!({"must": [{"key": "tags", "match": {"except": ["x"]}}]}),
            json!({"must": [{"key": "text", "match": {"text": "quick"}}]}),
            json!({"must": [{"key": "text", "match": {"text": "FOX brown"}}]}),
            json!({"must": [{"has_id": [7, 8]}]}),
            json!({"must": [{"is_empty": {"key": "e"}}, {"is_empty": {"key": "nope"}}]}),
            json!({"must": [{"is_null": {"key": "z"}}]}),
            json!({"must": [{"key": "tags", "values_count": {"gte": 2}}]}),
            json!({"should": [{"key": "n", "match": {"value": 1}}, {"key": "n", "match": {"value": 3}}]}),
            json!({"must_not": [{"key": "city", "match": {"value": "Paris"}}]}),
            json!({"min_should": {"conditions": [{"key": "n", "match": {"value": 3}},
                  {"key": "city", "match": {"value": "London"}}, {"has_id": [1]}], "min_count": 2}}),
            json!({"must": [{"nested": {"key": "arr", "filter": {"must": [
                  {"key": "k", "match": {"value": 2}}, {"key": "m", "match": {"value": "y"}}]}}}]}),
            json!({"must": [{"key": "arr[].m", "match": {"value": "x"}}]}),
            json!({"must": [{"has_vector": "img"}], "must_not": [{"has_vector": "text"}]}),
        ];
        let has = |name: &str| name == "img";
        let point = Point {
            id,
            payload: &doc,
            has_vector: &has,
        };
        for c in yes {
            assert!(matches(&f(c.clone()), point), "{c}");
        }
        let no = [
            json!({"must": [{"key": "city", "match": {"value": "Paris"}}]}),
            json!({"must": [{"key": "n", "range": {"gt": 3}}]}),
            json!({"must": [{"key": "tags", "match": {"except": ["a"]}}]}),
            json!({"must": [{"has_id": [1]}]}),
            json!({"must": [{"is_empty": {"key": "tags"}}]}),
            json!({"must": [{"is_null": {"key": "city"}}]}),
            json!({"must": [{"nested": {"key": "arr", "filter": {"must": [
                  {"key": "k", "match": {"value": 1}}, {"key": "m", "match": {"value": "y"}}]}}}]}),
            json!({"should": [{"key": "n", "match": {"value": 1}}]}),
            json!({"must": [{"key": "n", "match": {"value": "3"}}]}),
            json!({"must": [{"has_vector": "text"}]}),
        ];
        for c in no {
            assert!(!matches(&f(c.clone()), point), "{c}");
        }
    }
}
