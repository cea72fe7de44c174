//! Payload field indexes: value -> offsets, so selective filters touch only matching points.
//! Entries are never removed on delete; callers re-check liveness and the full filter.

use super::filter::{Condition, Filter, Match, MatchValue, Range};
use super::filter_eval::tokens;
use super::payload::{values_at, Payload};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    Keyword,
    Integer,
    Float,
    Bool,
    Uuid,
    Text,
    Geo,
    Datetime,
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct OrdF64(f64);
impl Eq for OrdF64 {}
impl Ord for OrdF64 {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&o.0)
    }
}
impl PartialOrd for OrdF64 {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

#[derive(Debug)]
pub struct FieldIndex {
    pub field_type: FieldType,
    exact: HashMap<String, Vec<u32>>,
    numeric: BTreeMap<OrdF64, Vec<u32>>,
    indexed_points: usize,
}

fn exact_key(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(format!("s:{s}")),
        Value::Number(n) => n.as_i64().map(|i| format!("i:{i}")),
        Value::Bool(b) => Some(format!("b:{b}")),
        _ => None,
    }
}

fn match_key(m: &MatchValue) -> String {
    match m {
        MatchValue::Str(s) => format!("s:{s}"),
        MatchValue::Int(i) => format!("i:{i}"),
        MatchValue::Bool(b) => format!("b:{b}"),
    }
}

impl FieldIndex {
    pub fn new(field_type: FieldType) -> Self {
        FieldIndex {
            field_type,
            exact: HashMap::new(),
            numeric: BTreeMap::new(),
            indexed_points: 0,
        }
    }

    pub fn points(&self) -> usize {
        self.indexed_points
    }

    fn add(&mut self, offset: u32, values: &[&Value]) {
        let mut any = false;
        for v in values {
            match self.field_type {
                FieldType::Integer | FieldType::Float => {
                    if let Some(x) = v.as_f64() {
                        self.numeric.entry(OrdF64(x)).or_default().push(offset);
                        any = true;
                    }
                    if self.field_type == FieldType::Integer {
                        if let Some(k) = exact_key(v) {
                            self.exact.entry(k).or_default().push(offset);
                        }
                    }
                }
                FieldType::Text => {
                    if let Some(s) = v.as_str() {
                        for t in tokens(s) {
                            self.exact.entry(t).or_default().push(offset);
                        }
                        any = true;
                    }
                }
                _ => {
                    if let Some(k) = exact_key(v) {
                        self.exact.entry(k).or_default().push(offset);
                        any = true;
                    }
                }
            }
        }
        if any {
            self.indexed_points += 1;
        }
    }

    /// Offsets that may satisfy `m` (a superset), or None when this index cannot tell.
    fn candidates_match(&self, m: &Match) -> Option<Vec<u32>> {
        let get = |k: &str| self.exact.get(k).cloned().unwrap_or_default();
        match (self.field_type, m) {
            (FieldType::Text, Match::Text { text }) => {
                let mut sets = tokens(text).into_iter().map(|t| get(&t));
                let first = sets.next()?;
                Some(sets.fold(first, |acc, s| intersect(&acc, &s)))
            }
            (FieldType::Text, _) => None,
            (_, Match::Value { value }) => Some(get(&match_key(value))),
            (_, Match::Any { any }) => {
                let mut all: Vec<u32> = any.iter().flat_map(|v| get(&match_key(v))).collect();
                all.sort_unstable();
                all.dedup();
                Some(all)
            }
            _ => None,
        }
    }

    fn candidates_range(&self, r: &Range) -> Option<Vec<u32>> {
        if !matches!(self.field_type, FieldType::Integer | FieldType::Float) {
            return None;
        }
        use std::ops::Bound::{Excluded, Included, Unbounded};
        // The tighter of gt/gte and of lt/lte decides each end.
        let lo = match (r.gt, r.gte) {
            (Some(g), Some(ge)) if g >= ge => Excluded(OrdF64(g)),
            (_, Some(ge)) => Included(OrdF64(ge)),
            (Some(g), None) => Excluded(OrdF64(g)),
            (None, None) => Unbounded,
        };
        let hi = match (r.lt, r.lte) {
            (Some(l), Some(le)) if l <= le => Excluded(OrdF64(l)),
            (_, Some(le)) => Included(OrdF64(le)),
            (Some(l), None) => Excluded(OrdF64(l)),
            (None, None) => Unbounded,
        };
        let empty = match (&lo, &hi) {
            (Included(a) | Excluded(a), Included(b) | Excluded(b)) => {
                a > b || (a == b && !(matches!(lo, Included(_)) && matches!(hi, Included(_))))
            }
            _ => false,
        };
        if empty {
            return Some(Vec::new());
        }
        let mut out: Vec<u32> = self
            .numeric
            .range((lo, hi))
            .flat_map(|(_, v)| v.iter().copied())
            .collect();
        out.sort_unstable();
        out.dedup();
        Some(out)
    }
}

fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut b_sorted = b.to_vec();
    b_sorted.sort_unstable();
    let mut out: Vec<u32> = a
        .iter()
        .copied()
        .filter(|x| b_sorted.binary_search(x).is_ok())
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

#[derive(Debug, Default)]
pub struct PayloadIndex {
    pub fields: HashMap<String, FieldIndex>,
}

impl PayloadIndex {
    pub fn index_point(&mut self, offset: u32, payload: &Payload) {
        for (key, idx) in self.fields.iter_mut() {
            let values = values_at(payload, key);
            if !values.is_empty() {
                idx.add(offset, &values);
            }
        }
    }

    pub fn create(
        &mut self,
        key: &str,
        field_type: FieldType,
        points: &mut dyn Iterator<Item = (u32, &Payload)>,
    ) {
        let mut idx = FieldIndex::new(field_type);
        for (offset, payload) in points {
            let values = values_at(payload, key);
            if !values.is_empty() {
                idx.add(offset, &values);
            }
        }
        self.fields.insert(key.to_string(), idx);
    }

    /// The smallest candidate set the indexes give for the filter's `must` conditions,
    /// sorted; None when no indexed condition narrows the filter.
    pub fn candidates(&self, filter: &Filter) -> Option<Vec<u32>> {
        let must = filter.must.as_ref()?;
        let mut best: Option<Vec<u32>> = None;
        for c in must {
            let found = match c {
                Condition::Field(fc) => {
                    let Some(idx) = self.fields.get(&fc.key) else {
                        continue;
                    };
                    let by_match = fc.r#match.as_ref().and_then(|m| idx.candidates_match(m));
                    let by_range = fc.range.as_ref().and_then(|r| idx.candidates_range(r));
                    match (by_match, by_range) {
                        (Some(a), Some(b)) => Some(intersect(&a, &b)),
                        (a, b) => a.or(b),
                    }
                }
                Condition::Filter(inner) => self.candidates(inner),
                _ => None,
            };
            if let Some(mut f) = found {
                f.sort_unstable();
                f.dedup();
                if best.as_ref().is_none_or(|b| f.len() < b.len()) {
                    best = Some(f);
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn candidates_are_supersets() {
        let docs: Vec<Payload> = (0..100)
            .map(|i| {
                json!({"k": format!("v{}", i % 10), "n": i, "t": "hello world"})
                    .as_object()
                    .cloned()
                    .unwrap()
            })
            .collect();
        let mut idx = PayloadIndex::default();
        idx.create(
            "k",
            FieldType::Keyword,
            &mut docs.iter().enumerate().map(|(i, p)| (i as u32, p)),
        );
        idx.create(
            "n",
            FieldType::Integer,
            &mut docs.iter().enumerate().map(|(i, p)| (i as u32, p)),
        );
        let f: Filter =
            serde_json::from_value(json!({"must": [{"key": "k", "match": {"value": "v3"}}]}))
                .unwrap();
        assert_eq!(idx.candidates(&f).unwrap().len(), 10);
        let f: Filter =
            serde_json::from_value(json!({"must": [{"key": "k", "match": {"any": ["v3", "v4"]}}, {"key": "n", "range": {"gte": 90}}]}))
                .unwrap();
        assert_eq!(idx.candidates(&f).unwrap().len(), 10);
        let f: Filter =
            serde_json::from_value(json!({"must": [{"key": "n", "range": {"gt": 10, "lte": 12}}]}))
                .unwrap();
        assert_eq!(idx.candidates(&f).unwrap(), vec![11, 12]);
        let f: Filter =
            serde_json::from_value(json!({"should": [{"key": "k", "match": {"value": "v3"}}]}))
                .unwrap();
        assert!(idx.candidates(&f).is_none());
    }
}
