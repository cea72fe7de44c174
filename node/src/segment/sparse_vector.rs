//! A sparse vector (`{"indices": [...], "values": [...]}`): validation as Qdrant does it,
//! index order, and the dot product that scores it.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SparseVector {
    pub indices: Vec<u32>,
    pub values: Vec<f32>,
}

impl SparseVector {
    /// Qdrant's rules: as many values as indices, no index twice, finite values. An empty
    /// vector is allowed (it matches nothing).
    pub fn validate(&self) -> Result<(), String> {
        if self.indices.len() != self.values.len() {
            return Err(format!(
                "sparse vector has {} indices but {} values: they must be the same length",
                self.indices.len(),
                self.values.len()
            ));
        }
        if self.values.iter().any(|v| !v.is_finite()) {
            return Err("sparse vector contains NaN or infinite values".into());
        }
        let mut seen = self.indices.clone();
        seen.sort_unstable();
        if let Some(w) = seen.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!(
                "sparse vector indices must be unique, {} appears more than once",
                w[0]
            ));
        }
        Ok(())
    }

    /// Sorted by index (the stored form; values move with their indices).
    pub fn sort(&mut self) {
        if self.indices.windows(2).all(|w| w[0] < w[1]) {
            return;
        }
        let mut pairs: Vec<(u32, f32)> = self
            .indices
            .iter()
            .copied()
            .zip(self.values.iter().copied())
            .collect();
        pairs.sort_unstable_by_key(|p| p.0);
        self.indices = pairs.iter().map(|p| p.0).collect();
        self.values = pairs.iter().map(|p| p.1).collect();
    }

    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    pub fn len(&self) -> usize {
        self.indices.len()
    }

    /// Dot product of two sorted vectors; `None` when they share no index (such a point is
    /// not a match at all, as in Qdrant).
    pub fn dot(&self, other: &SparseVector) -> Option<f32> {
        dot_sorted(&self.indices, &self.values, &other.indices, &other.values)
    }

    /// Value at `index`, if set (sorted vector).
    pub fn get(&self, index: u32) -> Option<f32> {
        self.indices
            .binary_search(&index)
            .ok()
            .map(|i| self.values[i])
    }
}

/// Inverse document frequency of a dimension that `df` of `points` vectors set (Qdrant's
/// formula, BM25's): `ln((N - df + 0.5) / (df + 0.5) + 1)`.
pub fn idf(points: usize, df: usize) -> f32 {
    let (n, df) = (points as f32, df as f32);
    ((n - df + 0.5) / (df + 0.5) + 1.0).ln()
}

/// Dot product of two index-sorted sparse vectors given as slices.
pub fn dot_sorted(ai: &[u32], av: &[f32], bi: &[u32], bv: &[f32]) -> Option<f32> {
    let (mut i, mut j) = (0, 0);
    let mut sum = 0.0f32;
    let mut overlap = false;
    while i < ai.len() && j < bi.len() {
        match ai[i].cmp(&bi[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                sum += av[i] * bv[j];
                overlap = true;
                i += 1;
                j += 1;
            }
        }
    }
    overlap.then_some(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sv(i: &[u32], v: &[f32]) -> SparseVector {
        SparseVector {
            indices: i.to_vec(),
            values: v.to_vec(),
        }
    }

    #[test]
    fn validation() {
        assert!(sv(&[1, 5], &[0.5, 2.0]).validate().is_ok());
        assert!(sv(&[], &[]).validate().is_ok());
        assert!(sv(&[1, 1], &[1.0, 1.0])
            .validate()
            .unwrap_err()
            .contains("unique"));
        assert!(sv(&[1, 2], &[1.0])
            .validate()
            .unwrap_err()
            .contains("same length"));
        assert!(sv(&[1], &[f32::NAN]).validate().is_err());
    }

    /// Qdrant 1.18 scores a query of value 1 on dimensions set by 2 and 1 of 3 points with
    /// these weights.
    #[test]
    fn idf_as_qdrant() {
        assert!((idf(3, 2) - 0.47000363).abs() < 1e-6);
        assert!((3.0 * idf(3, 1) - 2.9424875).abs() < 1e-5);
        assert!(idf(10, 0) > idf(10, 5));
    }

    #[test]
    fn sort_keeps_pairs_and_dot_matches_a_plain_sum() {
        let mut a = sv(&[7, 1, 3], &[7.0, 1.0, 3.0]);
        a.sort();
        assert_eq!(a, sv(&[1, 3, 7], &[1.0, 3.0, 7.0]));
        let b = sv(&[0, 3, 7, 9], &[5.0, 2.0, -1.0, 4.0]);
        // plain: index 3: 3*2, index 7: 7*-1
        assert_eq!(a.dot(&b), Some(6.0 - 7.0));
        assert_eq!(a.dot(&sv(&[2, 4], &[1.0, 1.0])), None);
        assert_eq!(a.get(3), Some(3.0));
        assert_eq!(a.get(4), None);
    }
}
