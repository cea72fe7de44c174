//! Dense vector storage: one contiguous column per named vector, addressed by offset.

use super::distance::Distance;

#[derive(Clone, Debug)]
pub struct VectorSpec {
    /// "" for a collection's single unnamed vector.
    pub name: String,
    pub dim: usize,
    pub distance: Distance,
}

#[derive(Debug)]
pub struct VectorColumn {
    pub spec: VectorSpec,
    data: Vec<f32>,
    present: Vec<bool>,
}

impl VectorColumn {
    pub fn new(spec: VectorSpec) -> Self {
        VectorColumn {
            spec,
            data: Vec::new(),
            present: Vec::new(),
        }
    }

    /// Appends the vector for the next offset (zeros and absent when `None`). The vector is
    /// stored as given: callers preprocess it (normalise for Cosine) exactly once, so a
    /// vector copied out of one segment into another stays bit for bit the same.
    pub fn push(&mut self, v: Option<&[f32]>) {
        match v {
            Some(v) => {
                self.data.extend_from_slice(v);
                self.present.push(true);
            }
            None => {
                self.data.resize(self.data.len() + self.spec.dim, 0.0);
                self.present.push(false);
            }
        }
    }

    pub fn remove(&mut self, offset: u32) {
        if let Some(p) = self.present.get_mut(offset as usize) {
            *p = false;
        }
    }

    pub fn has(&self, offset: u32) -> bool {
        self.present.get(offset as usize).copied().unwrap_or(false)
    }

    pub fn get(&self, offset: u32) -> &[f32] {
        let start = offset as usize * self.spec.dim;
        &self.data[start..start + self.spec.dim]
    }

    pub fn len(&self) -> usize {
        self.present.len()
    }

    pub fn is_empty(&self) -> bool {
        self.present.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.data.capacity() * 4 + self.present.capacity()
    }
}
