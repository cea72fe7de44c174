//! Combining the ranked lists of several prefetches into one: Reciprocal Rank Fusion and
//! Distribution-Based Score Fusion, as Qdrant's query API defines them. Fused scores are
//! "higher is better"; ties go to the smaller id.

use super::query::ScoredPoint;
use crate::segment::point_id::PointId;
use std::collections::HashMap;

/// Qdrant's default `k` of RRF.
pub const DEFAULT_RRF_K: usize = 2;

#[derive(Clone, Debug, PartialEq)]
pub enum Fusion {
    Rrf { k: usize, weights: Option<Vec<f32>> },
    Dbsf,
}

/// One prefetch's answer, best first, and which way its scores point.
#[derive(Clone, Debug)]
pub struct Ranked {
    pub points: Vec<ScoredPoint>,
    pub higher_is_better: bool,
}

/// Fuses the lists; each point keeps the first copy seen, with the fused score.
pub fn fuse(lists: Vec<Ranked>, how: &Fusion) -> Vec<ScoredPoint> {
    let mut scores: HashMap<PointId, f32> = HashMap::new();
    let mut first: HashMap<PointId, ScoredPoint> = HashMap::new();
    for (i, list) in lists.into_iter().enumerate() {
        let parts = match how {
            Fusion::Rrf { k, weights } => {
                let w = weights
                    .as_ref()
                    .and_then(|w| w.get(i))
                    .copied()
                    .unwrap_or(1.0);
                rrf(&list, *k, w)
            }
            Fusion::Dbsf => dbsf(&list),
        };
        for (p, s) in list.points.into_iter().zip(parts) {
            *scores.entry(p.id).or_default() += s;
            first.entry(p.id).or_insert(p);
        }
    }
    let mut out: Vec<ScoredPoint> = first
        .into_values()
        .map(|mut p| {
            p.score = scores[&p.id];
            p.order_value = None;
            p
        })
        .collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
    out
}

/// 1 / ((rank + 1) / weight + k - 1), rank from 0: with weight 1 that is 1 / (rank + k).
fn rrf(list: &Ranked, k: usize, weight: f32) -> Vec<f32> {
    (0..list.points.len())
        .map(|rank| {
            let d = (rank as f32 + 1.0) / weight.max(f32::EPSILON) + k as f32 - 1.0;
            1.0 / d.max(f32::EPSILON)
        })
        .collect()
}

/// Scores scaled so that mean ± 3 standard deviations map to 0 and 1 (clamped); the
/// sample standard deviation (n − 1), as Qdrant computes it; a single score is 0.5.
fn dbsf(list: &Ranked) -> Vec<f32> {
    let sign = if list.higher_is_better { 1.0 } else { -1.0 };
    let s: Vec<f32> = list.points.iter().map(|p| sign * p.score).collect();
    if s.is_empty() {
        return s;
    }
    let n = s.len() as f32;
    let mean = s.iter().sum::<f32>() / n;
    let std = (s.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / (n - 1.0).max(1.0)).sqrt();
    if std <= f32::EPSILON {
        return vec![0.5; s.len()];
    }
    let low = mean - 3.0 * std;
    s.iter()
        .map(|x| ((x - low) / (6.0 * std)).clamp(0.0, 1.0))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(ids: &[u64], scores: &[f32], higher_is_better: bool) -> Ranked {
        Ranked {
            points: ids
                .iter()
                .zip(scores)
                .map(|(id, s)| ScoredPoint {
                    id: PointId::Num(*id),
                    version: 0,
                    score: *s,
                    payload: None,
                    vector: None,
                    shard_key: None,
                    order_value: None,
                })
                .collect(),
            higher_is_better,
        }
    }

    fn ids(points: &[ScoredPoint]) -> Vec<u64> {
        points
            .iter()
            .map(|p| match p.id {
                PointId::Num(n) => n,
                _ => 0,
            })
            .collect()
    }

    #[test]
    fn rrf_sums_reciprocal_ranks() {
        let a = list(&[1, 2, 3], &[0.9, 0.8, 0.7], true);
        let b = list(&[3, 1], &[5.0, 9.0], false);
        let rrf = Fusion::Rrf {
            k: DEFAULT_RRF_K,
            weights: None,
        };
        let out = fuse(vec![a, b], &rrf);
        // 1: 1/2 + 1/3; 3: 1/4 + 1/2; 2: 1/3.
        assert_eq!(ids(&out), vec![1, 3, 2]);
        assert!((out[0].score - (0.5 + 1.0 / 3.0)).abs() < 1e-6);
        assert!((out[1].score - 0.75).abs() < 1e-6);
        let weighted = Fusion::Rrf {
            k: 2,
            weights: Some(vec![1.0, 3.0]),
        };
        let out = fuse(
            vec![
                list(&[1, 2], &[0.9, 0.8], true),
                list(&[2, 1], &[0.9, 0.8], true),
            ],
            &weighted,
        );
        // 1: 1/2 + 1/(2/3 + 1); 2: 1/3 + 1/(1/3 + 1).
        assert_eq!(ids(&out), vec![1, 2]);
        assert!((out[0].score - 1.1).abs() < 1e-6);
        assert!((out[1].score - (1.0 / 3.0 + 0.75)).abs() < 1e-6);
    }

    #[test]
    fn dbsf_normalises_each_list_in_its_direction() {
        let a = list(&[1, 2, 3], &[0.9, 0.5, 0.1], true);
        let b = list(&[1, 3, 2], &[1.0, 2.0, 3.0], false);
        let out = fuse(vec![a, b], &Fusion::Dbsf);
        // 1 is best in both (b is a distance: smaller is better); 2 and 3 tie, by id.
        assert_eq!(ids(&out), vec![1, 2, 3]);
        // a: mean 0.5, sample std 0.4, so 0.9 maps to (0.9 - (0.5 - 1.2)) / 2.4; b: mean
        // -2, sample std 1, so -1 maps to (-1 - (-2 - 3)) / 6. Both are 2/3.
        let top = (0.9 - (0.5 - 1.2)) / 2.4;
        assert!((top - 2.0 / 3.0) < 1e-6);
        assert!((out[0].score - 2.0 * top).abs() < 1e-3, "{out:?}");
        assert!((out[1].score - out[2].score).abs() < 1e-6);
        let one = fuse(vec![list(&[7], &[0.3], true)], &Fusion::Dbsf);
        assert_eq!(one[0].score, 0.5);
    }
}
