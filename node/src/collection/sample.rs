//! Random samples of points and the distances between them, for the distance-matrix API.
//! Every matching point draws a random key and the smallest keys win: the smallest keys of
//! all shards' answers are then a uniform sample of the whole collection.

use super::error::CollectionResult;
use super::instance::Collection;
use crate::segment::filter::Filter;
use crate::segment::point_id::PointId;
use crate::segment::record::VectorData;
use crate::segment::vectors::VectorSpec;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// One sampled point with its vector; the wire form between peers too.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sampled {
    pub key: f64,
    pub id: PointId,
    pub vector: VectorData,
}

/// Keeps the `count` entries with the smallest keys, smallest first.
pub fn smallest(mut all: Vec<Sampled>, count: usize) -> Vec<Sampled> {
    all.sort_by(|a, b| a.key.total_cmp(&b.key).then(a.id.cmp(&b.id)));
    let mut seen = std::collections::HashSet::new();
    all.retain(|s| seen.insert(s.id));
    all.truncate(count);
    all
}

/// For each sampled point (in order), its `limit` nearest other sampled points, best first
/// (ties by position): (row, column, score).
pub fn nearest_pairs(
    points: &[Sampled],
    spec: &VectorSpec,
    limit: usize,
) -> Vec<(usize, usize, f32)> {
    let distance = spec.distance;
    let mut out = Vec::with_capacity(points.len() * limit.min(points.len()));
    for (i, a) in points.iter().enumerate() {
        let mut row: Vec<(usize, f32)> = points
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(j, b)| (j, spec.score_pair(&a.vector, &b.vector)))
            .collect();
        row.sort_by(|x, y| {
            distance
                .to_order(x.1)
                .total_cmp(&distance.to_order(y.1))
                .then(x.0.cmp(&y.0))
        });
        out.extend(row.into_iter().take(limit).map(|(j, s)| (i, j, s)));
    }
    out
}

impl Collection {
    /// Up to `count` random points of the given local shards that match `filter` and have
    /// the vector `using`.
    pub fn sample_local(
        &self,
        shards: &[u32],
        filter: Option<&Filter>,
        using: &str,
        count: usize,
    ) -> CollectionResult<Vec<Sampled>> {
        self.vector_spec(using)?;
        let mut rng = rand::thread_rng();
        let mut all = Vec::new();
        for shard in self.pick(shards)? {
            let seg = shard.segment();
            let filter = self.shard_filter(shard.id, filter);
            let mut keyed: Vec<(f64, u32)> = seg
                .filtered(filter.as_deref())
                .into_iter()
                .filter(|o| seg.vector(*o, using).is_some())
                .map(|o| (rng.gen::<f64>(), o))
                .collect();
            if keyed.len() > count {
                keyed.select_nth_unstable_by(count, |a, b| a.0.total_cmp(&b.0));
                keyed.truncate(count);
            }
            all.extend(keyed.into_iter().map(|(key, o)| {
                Sampled {
                    key,
                    id: seg.id_of(o),
                    vector: seg
                        .vector(o, using)
                        .unwrap_or(VectorData::Dense(Vec::new())),
                }
            }));
        }
        Ok(smallest(all, count))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::distance::Distance;

    fn point(key: f64, id: u64, vector: Vec<f32>) -> Sampled {
        Sampled {
            key,
            id: PointId::Num(id),
            vector: VectorData::Dense(vector),
        }
    }

    #[test]
    fn smallest_keys_win_and_ids_count_once() {
        let all = vec![
            point(0.5, 1, vec![]),
            point(0.1, 2, vec![]),
            point(0.3, 3, vec![]),
            point(0.2, 2, vec![]),
        ];
        let ids: Vec<PointId> = smallest(all, 2).into_iter().map(|s| s.id).collect();
        assert_eq!(ids, vec![PointId::Num(2), PointId::Num(3)]);
    }

    #[test]
    fn pairs_are_the_nearest_other_points_in_the_metric_order() {
        let pts = vec![
            point(0.0, 1, vec![0.0]),
            point(0.0, 2, vec![1.0]),
            point(0.0, 3, vec![3.0]),
        ];
        let pairs = nearest_pairs(&pts, &VectorSpec::dense("", 1, Distance::Euclid), 1);
        assert_eq!(pairs, vec![(0, 1, 1.0), (1, 0, 1.0), (2, 1, 2.0)]);
        let pairs = nearest_pairs(&pts, &VectorSpec::dense("", 1, Distance::Dot), 2);
        assert_eq!(pairs[0..2], [(0, 1, 0.0), (0, 2, 0.0)]);
        assert_eq!(pairs[2..4], [(1, 2, 3.0), (1, 0, 0.0)]);
    }
}
