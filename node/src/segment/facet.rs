//! Facets: how many points hold each value of a payload key.

use super::engine::Segment;
use super::filter::Filter;
use super::payload::values_at;
use super::payload_index::FieldType;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};

/// A value a facet counts: what keyword, uuid, integer and bool indexes hold.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FacetValue {
    Bool(bool),
    Int(i64),
    Str(String),
}

impl FacetValue {
    /// `v` as a facet over an index of `kind` counts it (None: a value of another type).
    fn of(v: &Value, kind: FieldType) -> Option<FacetValue> {
        match (kind, v) {
            (FieldType::Keyword | FieldType::Uuid, Value::String(s)) => {
                Some(FacetValue::Str(s.clone()))
            }
            (FieldType::Integer, Value::Number(n)) => n.as_i64().map(FacetValue::Int),
            (FieldType::Bool, Value::Bool(b)) => Some(FacetValue::Bool(*b)),
            _ => None,
        }
    }
}

/// Index types a facet can count by.
pub fn facetable(kind: FieldType) -> bool {
    matches!(
        kind,
        FieldType::Keyword | FieldType::Uuid | FieldType::Integer | FieldType::Bool
    )
}

/// Adds the counts of `more` to `into` (shards of one peer, peers of one round).
pub fn add_counts(
    into: &mut HashMap<FacetValue, usize>,
    more: impl IntoIterator<Item = (FacetValue, usize)>,
) {
    for (v, n) in more {
        *into.entry(v).or_default() += n;
    }
}

/// Orders facet hits as Qdrant does: most points first, then by value.
pub fn sort_hits(hits: &mut [(FacetValue, usize)]) {
    hits.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
}

impl Segment {
    /// Points matching `filter` per distinct value of `key`; a point with several values
    /// (an array) counts once for each.
    pub fn facet(
        &self,
        key: &str,
        kind: FieldType,
        filter: Option<&Filter>,
    ) -> HashMap<FacetValue, usize> {
        let mut counts = HashMap::new();
        for o in self.filtered(filter) {
            let values: BTreeSet<FacetValue> = values_at(self.payload(o), key)
                .into_iter()
                .filter_map(|v| FacetValue::of(v, kind))
                .collect();
            for v in values {
                *counts.entry(v).or_default() += 1;
            }
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::point_id::PointId;
    use crate::segment::record::PointRecord;
    use crate::segment::record::VectorData;
    use crate::segment::vectors::VectorSpec;
    use crate::segment::HnswParams;
    use serde_json::json;

    #[test]
    fn counts_each_value_once_per_point() {
        let spec = VectorSpec::dense("", 1, crate::segment::distance::Distance::Dot);
        let params = HnswParams {
            m: 16,
            ef_construct: 100,
            full_scan_threshold_kb: 10,
            indexing_threads: 1,
        };
        let mut seg = Segment::new(vec![spec], params);
        let payloads = [
            json!({"tag": ["a", "b", "a"], "n": 1}),
            json!({"tag": "a", "n": 2}),
            json!({"tag": 7, "n": 2}),
            json!({"other": "a"}),
        ];
        for (i, p) in payloads.iter().enumerate() {
            seg.upsert(PointRecord {
                id: PointId::Num(i as u64),
                version: 1,
                vectors: [(String::new(), VectorData::Dense(vec![1.0]))].into(),
                payload: p.as_object().cloned().unwrap_or_default(),
            });
        }
        let mut tags: Vec<_> = seg
            .facet("tag", FieldType::Keyword, None)
            .into_iter()
            .collect();
        sort_hits(&mut tags);
        let a = FacetValue::Str("a".into());
        let b = FacetValue::Str("b".into());
        assert_eq!(tags, vec![(a, 2), (b, 1)]);
        let f: Filter =
            serde_json::from_value(json!({"must": [{"key": "n", "match": {"value": 2}}]})).unwrap();
        let ns = seg.facet("n", FieldType::Integer, Some(&f));
        assert_eq!(ns.get(&FacetValue::Int(2)), Some(&2));
        assert_eq!(ns.len(), 1);
    }
}
