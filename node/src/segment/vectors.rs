//! Named vector columns of a segment, of every kind: dense (`dense.rs`), multivectors
//! (`multi.rs`) and sparse with an inverted index (`sparse_index.rs`). `VectorSpec` says
//! what a name holds; it checks and preprocesses vectors as they enter, and prepares
//! queries, so stored data and queries meet in one form.

use super::dense::DenseColumn;
use super::distance::Distance;
use super::element::Datatype;
use super::engine::HnswParams;
use super::multi::{max_sim_order, MultiColumn};
use super::quantized::Quantization;
use super::record::VectorData;
use super::sparse_index::SparseColumn;
use super::sparse_vector::SparseVector;
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum VectorKind {
    #[default]
    Dense,
    Multi,
    Sparse,
}

/// Sparse value modification at query time (Qdrant's `modifier`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Modifier {
    #[default]
    None,
    Idf,
}

#[derive(Clone, Debug, PartialEq)]
pub struct VectorSpec {
    /// "" for a collection's single unnamed vector.
    pub name: String,
    pub kind: VectorKind,
    /// 0 for sparse vectors.
    pub dim: usize,
    /// Dot for sparse vectors.
    pub distance: Distance,
    pub datatype: Datatype,
    pub modifier: Modifier,
    /// Sparse: below this many candidate points a filtered search scores them directly.
    pub full_scan_threshold: Option<usize>,
    /// This vector's own index parameters (its `hnsw_config`), else the collection's.
    pub hnsw: Option<HnswParams>,
    /// Quantized copies walked by graph searches (dense vectors only).
    pub quantization: Option<Quantization>,
    /// Dense and multi vectors in a memory-mapped file instead of RAM.
    pub on_disk: bool,
}

/// A query vector checked against a spec and preprocessed like stored vectors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum QueryVector {
    Dense(Vec<f32>),
    /// Sub-vectors back to back.
    Multi(Vec<f32>),
    Sparse(SparseVector),
}

const SPARSE_MISMATCH: &str = "Conversion between sparse and regular vectors failed";
const MULTI_MISMATCH: &str = "Conversion between multi and regular vectors failed";

impl VectorSpec {
    pub fn dense(name: &str, dim: usize, distance: Distance) -> VectorSpec {
        VectorSpec {
            name: name.to_string(),
            kind: VectorKind::Dense,
            dim,
            distance,
            datatype: Datatype::Float32,
            modifier: Modifier::None,
            full_scan_threshold: None,
            hnsw: None,
            quantization: None,
            on_disk: false,
        }
    }

    fn check_dense(&self, v: &[f32]) -> Result<(), String> {
        if v.len() != self.dim {
            return Err(format!(
                "Vector dimension error: expected dim: {}, got {}",
                self.dim,
                v.len()
            ));
        }
        if v.iter().any(|x| !x.is_finite()) {
            return Err("vector contains NaN or infinite values".into());
        }
        Ok(())
    }

    /// Checks a vector given for this name and turns it into the stored kind (a single
    /// dense vector given for a multivector is a multivector of one, as Qdrant accepts).
    pub fn check(&self, v: VectorData) -> Result<VectorData, String> {
        match (self.kind, v) {
            (VectorKind::Dense, VectorData::Dense(v)) => {
                self.check_dense(&v).map(|_| VectorData::Dense(v))
            }
            (VectorKind::Multi, VectorData::Dense(v)) => {
                self.check_dense(&v).map(|_| VectorData::Multi(vec![v]))
            }
            (VectorKind::Multi, VectorData::Multi(vs)) => {
                if vs.is_empty() {
                    return Err(format!(
                        "Vector dimension error: expected dim: {}, got 0",
                        self.dim
                    ));
                }
                vs.iter().try_for_each(|v| self.check_dense(v))?;
                Ok(VectorData::Multi(vs))
            }
            (VectorKind::Sparse, VectorData::Sparse(s)) => {
                s.validate().map(|_| VectorData::Sparse(s))
            }
            (VectorKind::Dense, VectorData::Multi(_)) => Err(MULTI_MISMATCH.into()),
            (VectorKind::Sparse, _) | (_, VectorData::Sparse(_)) => Err(SPARSE_MISMATCH.into()),
        }
    }

    fn prep_dense(&self, v: &mut [f32]) {
        if self.datatype != Datatype::Uint8 {
            self.distance.preprocess(v);
        }
        self.datatype.round_all(v);
    }

    /// The stored form of a checked vector: Cosine vectors normalised (not uint8 ones),
    /// values rounded to the datatype, sparse indices sorted. Idempotent.
    pub fn preprocess(&self, v: &mut VectorData) {
        match v {
            VectorData::Dense(d) => self.prep_dense(d),
            VectorData::Multi(m) => m.iter_mut().for_each(|d| self.prep_dense(d)),
            VectorData::Sparse(s) => s.sort(),
        }
    }

    /// Checks and preprocesses a query vector for this name.
    pub fn prepare(&self, v: VectorData) -> Result<QueryVector, String> {
        let mut v = self.check(v)?;
        self.preprocess(&mut v);
        Ok(match v {
            VectorData::Dense(d) => QueryVector::Dense(d),
            VectorData::Multi(m) => QueryVector::Multi(m.concat()),
            VectorData::Sparse(s) => QueryVector::Sparse(s),
        })
    }

    /// The score between two stored vectors of this name (distance matrix); 0 for kinds
    /// that do not fit.
    pub fn score_pair(&self, a: &VectorData, b: &VectorData) -> f32 {
        let norm = self.datatype != Datatype::Uint8;
        let d = self.distance;
        match (a, b) {
            (VectorData::Dense(x), VectorData::Dense(y)) => {
                d.score_of_order(d.order_of(x, y, norm))
            }
            (VectorData::Multi(x), VectorData::Multi(y)) => {
                d.score_of_order(max_sim_order(d, self.dim, &x.concat(), &y.concat(), norm))
            }
            (VectorData::Sparse(x), VectorData::Sparse(y)) => x.dot(y).unwrap_or(0.0),
            _ => 0.0,
        }
    }

    /// Whether an HNSW graph indexes this name (sparse ones have their inverted index).
    pub fn in_graph(&self) -> bool {
        self.kind != VectorKind::Sparse
    }
}

/// The stored vectors of one name.
#[derive(Debug)]
pub enum Column {
    Dense(DenseColumn),
    Multi(MultiColumn),
    Sparse(SparseColumn),
}

#[derive(Debug)]
pub struct VectorColumn {
    pub spec: VectorSpec,
    pub data: Column,
}

impl VectorColumn {
    pub fn new(spec: VectorSpec) -> Self {
        Self::new_in(spec, None)
    }

    /// With `on_disk` vectors in a mapped file in `disk` (in RAM without one).
    pub fn new_in(spec: VectorSpec, disk: Option<&Path>) -> Self {
        let disk = disk.filter(|_| spec.on_disk);
        let (dim, distance, t) = (spec.dim, spec.distance, spec.datatype);
        let data = match spec.kind {
            VectorKind::Dense => Column::Dense(DenseColumn::new_in(dim, distance, t, disk)),
            VectorKind::Multi => Column::Multi(MultiColumn::new_in(dim, distance, t, disk)),
            VectorKind::Sparse => Column::Sparse(SparseColumn::new(spec.datatype)),
        };
        VectorColumn { spec, data }
    }

    /// Appends the next offset's vector (already checked and preprocessed for this spec);
    /// a vector of another kind is stored as absent.
    pub fn push(&mut self, v: Option<&VectorData>) {
        match (&mut self.data, v) {
            (Column::Dense(c), Some(VectorData::Dense(d))) => c.push(Some(d)),
            (Column::Dense(c), _) => c.push(None),
            (Column::Multi(c), Some(VectorData::Multi(m))) => c.push(Some(m)),
            (Column::Multi(c), _) => c.push(None),
            (Column::Sparse(c), Some(VectorData::Sparse(s))) => c.push(Some(s)),
            (Column::Sparse(c), _) => c.push(None),
        }
    }

    /// Offset `o` was replaced or deleted.
    pub fn retire(&mut self, o: u32) {
        if let Column::Sparse(c) = &mut self.data {
            c.retire(o);
        }
    }

    /// Bytes of vectors in a mapped file.
    pub fn mapped_bytes(&self) -> usize {
        match &self.data {
            Column::Dense(c) => c.mapped_bytes(),
            Column::Multi(c) => c.mapped_bytes(),
            Column::Sparse(_) => 0,
        }
    }

    /// The dense column, when its vectors can be quantized: stored as compared (an uint8
    /// Cosine column is compared with its norms, which codes do not keep).
    pub fn quantizable(&self) -> Option<&DenseColumn> {
        match &self.data {
            Column::Dense(c) if c.normalised() || c.distance != Distance::Cosine => Some(c),
            _ => None,
        }
    }

    pub fn has(&self, o: u32) -> bool {
        match &self.data {
            Column::Dense(c) => c.has(o),
            Column::Multi(c) => c.has(o),
            Column::Sparse(c) => c.has(o),
        }
    }

    pub fn get(&self, o: u32) -> Option<VectorData> {
        if !self.has(o) {
            return None;
        }
        Some(match &self.data {
            Column::Dense(c) => VectorData::Dense(c.get(o)),
            Column::Multi(c) => VectorData::Multi(c.get(o)),
            Column::Sparse(c) => VectorData::Sparse(c.get(o)),
        })
    }

    pub fn len(&self) -> usize {
        match &self.data {
            Column::Dense(c) => c.len(),
            Column::Multi(c) => c.len(),
            Column::Sparse(c) => c.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn bytes(&self) -> usize {
        match &self.data {
            Column::Dense(c) => c.bytes(),
            Column::Multi(c) => c.bytes(),
            Column::Sparse(c) => c.bytes(),
        }
    }

    /// Bytes of vector data an average point has here (for `full_scan_threshold`, in kB).
    pub fn bytes_per_point(&self) -> usize {
        match &self.data {
            Column::Dense(c) => c.dim * 4,
            Column::Multi(c) => {
                let n = c.len().max(1) as u64;
                (c.sub_vectors().div_ceil(n).max(1) as usize) * c.dim * 4
            }
            Column::Sparse(_) => 0,
        }
    }

    /// Closeness of a prepared query to offset `o` (smaller is closer); `None` for a query
    /// of another kind or a sparse column (searched through its index).
    pub fn order(&self, q: &QueryVector, o: u32) -> Option<f32> {
        match (&self.data, q) {
            (Column::Dense(c), QueryVector::Dense(v)) => Some(c.order(v, o)),
            (Column::Multi(c), QueryVector::Multi(v)) => Some(c.order(v, o)),
            (Column::Sparse(c), QueryVector::Sparse(v)) => c.score(v, o).map(|s| -s),
            _ => None,
        }
    }

    /// Starts loading a dense point's vector into cache (graph walks call it ahead).
    pub fn prefetch(&self, o: u32) {
        if let Column::Dense(c) = &self.data {
            c.prefetch(o);
        }
    }

    /// Closeness of two stored points, for building the graph.
    pub fn pair_order(&self, a: u32, b: u32) -> f32 {
        match &self.data {
            Column::Dense(c) => c.pair_order(a, b),
            Column::Multi(c) => c.pair_order(a, b),
            Column::Sparse(_) => 0.0,
        }
    }

    /// The API score of an order value.
    pub fn score_of_order(&self, order: f32) -> f32 {
        self.spec.distance.score_of_order(order)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_kinds_as_qdrant_words_them() {
        let dense = VectorSpec::dense("d", 2, Distance::Cosine);
        let multi = VectorSpec {
            kind: VectorKind::Multi,
            ..dense.clone()
        };
        let sparse = VectorSpec {
            kind: VectorKind::Sparse,
            dim: 0,
            distance: Distance::Dot,
            ..dense.clone()
        };
        let sv = VectorData::Sparse(SparseVector {
            indices: vec![2, 1],
            values: vec![1.0, 2.0],
        });
        assert!(dense
            .check(VectorData::Multi(vec![vec![1.0, 2.0]]))
            .unwrap_err()
            .contains("multi and regular"));
        assert!(dense
            .check(sv.clone())
            .unwrap_err()
            .contains("sparse and regular"));
        assert!(sparse
            .check(VectorData::Dense(vec![1.0]))
            .unwrap_err()
            .contains("sparse and regular"));
        assert_eq!(
            multi.check(VectorData::Dense(vec![1.0, 2.0])).unwrap(),
            VectorData::Multi(vec![vec![1.0, 2.0]])
        );
        assert!(multi
            .check(VectorData::Multi(vec![]))
            .unwrap_err()
            .contains("got 0"));
        assert!(multi
            .check(VectorData::Multi(vec![vec![1.0, 2.0], vec![1.0]]))
            .unwrap_err()
            .contains("got 1"));
        match sparse.prepare(sv).unwrap() {
            QueryVector::Sparse(s) => assert_eq!(s.indices, vec![1, 2]),
            other => panic!("{other:?}"),
        }
        // Cosine float16: normalised, then rounded.
        let f16 = VectorSpec {
            datatype: Datatype::Float16,
            ..dense.clone()
        };
        let QueryVector::Dense(q) = f16.prepare(VectorData::Dense(vec![3.0, 4.0])).unwrap() else {
            panic!()
        };
        assert_eq!(
            q,
            vec![Datatype::Float16.round(0.6), Datatype::Float16.round(0.8)]
        );
        // uint8 Cosine is not normalised, only cast.
        let u8s = VectorSpec {
            datatype: Datatype::Uint8,
            ..dense
        };
        let QueryVector::Dense(q) = u8s.prepare(VectorData::Dense(vec![1.5, 300.0])).unwrap()
        else {
            panic!()
        };
        assert_eq!(q, vec![1.0, 255.0]);
    }
}
