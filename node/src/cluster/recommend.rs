//! Example queries. `recommend` with strategy `average_vector`: the examples become one query vector,
//! `avg(positive) + avg(positive) - avg(negative)` (the positives' average
//! alone without negatives), and the example points are left out.
//! Dense and sparse vectors are averaged by dimension; a multivector query is the
//! positive examples' sub-vectors and the negative ones' negated (Qdrant's result for
//! Cosine). The other strategies, `discover` and `context` keep the examples
//! (`segment::examples` scores them).

use super::router::Router;
use crate::collection::query::{Example, QueryKind, Strategy};
use crate::collection::shard_key::ShardKeySelector;
use crate::collection::{Collection, CollectionError, CollectionResult};
use crate::segment::examples::Examples;
use crate::segment::filter::{Condition, Filter};
use crate::segment::point_id::PointId;
use crate::segment::record::VectorData;
use crate::segment::sparse_vector::SparseVector;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Where example points are looked up: a collection's vector `using`, under the query's
/// shard keys.
pub struct Lookup<'a> {
    pub r: &'a Router,
    pub c: &'a Arc<Collection>,
    pub using: &'a str,
    pub shard_key: Option<&'a ShardKeySelector>,
}

impl Lookup<'_> {
    /// The query vector of a recommendation and the example point ids to leave out.
    pub async fn query_vector(
        &self,
        positive: &[Example],
        negative: &[Example],
    ) -> CollectionResult<(VectorData, Vec<PointId>)> {
        let mut ids = Vec::new();
        let pos = self.vectors(positive, &mut ids).await?;
        let neg = self.vectors(negative, &mut ids).await?;
        Ok((combine(&pos, &neg)?, ids))
    }

    /// The examples of a `best_score` / `sum_scores` recommendation, a `discover` or a
    /// `context` query with their vectors, and the example point ids to leave out.
    pub async fn examples(
        &self,
        kind: QueryKind,
    ) -> CollectionResult<(Examples<VectorData>, Vec<PointId>)> {
        let mut ids = Vec::new();
        let ex = match kind {
            QueryKind::Recommend {
                positive,
                negative,
                strategy,
            } => {
                let positive = self.vectors(&positive, &mut ids).await?;
                let negative = self.vectors(&negative, &mut ids).await?;
                match strategy {
                    Strategy::SumScores => Examples::SumScores { positive, negative },
                    _ => Examples::BestScore { positive, negative },
                }
            }
            QueryKind::Discover { target, pairs } => Examples::Discover {
                target: self.one(target, &mut ids).await?,
                pairs: self.pair_vectors(pairs, &mut ids).await?,
            },
            QueryKind::Context { pairs } => Examples::Context {
                pairs: self.pair_vectors(pairs, &mut ids).await?,
            },
            _ => return Err(CollectionError::bad("Bad request: not an examples query")),
        };
        Ok((ex, ids))
    }

    async fn one(&self, e: Example, ids: &mut Vec<PointId>) -> CollectionResult<VectorData> {
        let mut v = self.vectors(&[e], ids).await?;
        Ok(v.remove(0))
    }

    async fn pair_vectors(
        &self,
        pairs: Vec<(Example, Example)>,
        ids: &mut Vec<PointId>,
    ) -> CollectionResult<Vec<(VectorData, VectorData)>> {
        let mut out = Vec::with_capacity(pairs.len());
        for (p, n) in pairs {
            out.push((self.one(p, ids).await?, self.one(n, ids).await?));
        }
        Ok(out)
    }

    /// The examples' vectors, checked and preprocessed like stored ones.
    async fn vectors(
        &self,
        examples: &[Example],
        ids: &mut Vec<PointId>,
    ) -> CollectionResult<Vec<VectorData>> {
        let spec = self.c.vector_spec(self.using)?;
        let mut out = Vec::with_capacity(examples.len());
        for e in examples {
            out.push(match e {
                Example::Vector(v) => {
                    let mut v = spec
                        .check(v.clone())
                        .map_err(|e| CollectionError::wrong(e.to_string()))?;
                    spec.preprocess(&mut v);
                    v
                }
                Example::Point(id) => {
                    ids.push(*id);
                    self.r
                        .vector_of(self.c, *id, self.using, self.shard_key)
                        .await?
                }
            });
        }
        Ok(out)
    }
}

/// `2·avg(pos) − avg(neg)` for dense and sparse examples; sub-vectors for multivectors.
pub fn combine(pos: &[VectorData], neg: &[VectorData]) -> CollectionResult<VectorData> {
    // Without negatives the query is the positives' average, as Qdrant's.
    let pos_weight = if neg.is_empty() { 1.0 } else { 2.0 };
    let weighted = pos
        .iter()
        .map(|v| (v, pos_weight / pos.len() as f32))
        .chain(neg.iter().map(|v| (v, -1.0 / neg.len() as f32)));
    match pos.first() {
        Some(VectorData::Dense(first)) => {
            let mut sum = vec![0.0f32; first.len()];
            for (v, w) in weighted {
                if let VectorData::Dense(d) = v {
                    sum.iter_mut().zip(d).for_each(|(a, b)| *a += w * b);
                }
            }
            Ok(VectorData::Dense(sum))
        }
        Some(VectorData::Sparse(_)) => {
            let mut sum: BTreeMap<u32, f32> = BTreeMap::new();
            for (v, w) in weighted {
                if let VectorData::Sparse(s) = v {
                    for (&i, &x) in s.indices.iter().zip(&s.values) {
                        *sum.entry(i).or_default() += w * x;
                    }
                }
            }
            Ok(VectorData::Sparse(SparseVector {
                indices: sum.keys().copied().collect(),
                values: sum.values().copied().collect(),
            }))
        }
        Some(VectorData::Multi(_)) => {
            let mut subs = Vec::new();
            for (v, w) in weighted {
                if let VectorData::Multi(m) = v {
                    let sign = w.signum();
                    subs.extend(m.iter().map(|s| s.iter().map(|x| sign * x).collect()));
                }
            }
            Ok(VectorData::Multi(subs))
        }
        None => Err(CollectionError::bad(
            "Bad request: At least one positive vector ID required with this strategy",
        )),
    }
}

/// `filter` and none of `ids`.
pub fn without(filter: Option<Filter>, ids: Vec<PointId>) -> Option<Filter> {
    if ids.is_empty() {
        return filter;
    }
    let mut f = filter.unwrap_or_default();
    f.must_not
        .get_or_insert_with(Vec::new)
        .push(Condition::HasId { has_id: ids });
    Some(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn average_vector_by_kind() {
        let d = |v: &[f32]| VectorData::Dense(v.to_vec());
        let got = combine(&[d(&[1.0, 0.0]), d(&[0.0, 1.0])], &[d(&[1.0, 1.0])]).unwrap();
        assert_eq!(got, d(&[0.0, 0.0]));
        let sp = |i: &[u32], v: &[f32]| {
            VectorData::Sparse(SparseVector {
                indices: i.to_vec(),
                values: v.to_vec(),
            })
        };
        let got = combine(&[sp(&[1, 5], &[1.0, 2.0])], &[sp(&[5, 9], &[1.0, 4.0])]).unwrap();
        assert_eq!(got, sp(&[1, 5, 9], &[2.0, 3.0, -4.0]));
        let m = VectorData::Multi(vec![vec![1.0, 0.0]]);
        let n = VectorData::Multi(vec![vec![0.0, 2.0]]);
        assert_eq!(
            combine(&[m], &[n]).unwrap(),
            VectorData::Multi(vec![vec![1.0, 0.0], vec![0.0, -2.0]])
        );
        let got = combine(&[d(&[1.0, 0.0]), d(&[0.0, 3.0])], &[]).unwrap();
        assert_eq!(got, d(&[0.5, 1.5]));
        assert!(combine(&[], &[]).is_err());
    }
}
