//! Element types of stored vectors (Qdrant's `datatype`: float32, float16, uint8) and the
//! contiguous element storage of one vector column. Values enter as f32 and are rounded to
//! the element type once; reading them back gives exactly the rounded f32 values.

use half::f16;
use half::slice::HalfFloatSliceExt;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Datatype {
    #[default]
    Float32,
    Float16,
    Uint8,
}

impl Datatype {
    /// The value this type stores for `x`: f16 rounding, or uint8's saturating cast
    /// (as Qdrant: 1.7 -> 1, 300 -> 255, -5 -> 0). Idempotent.
    pub fn round(self, x: f32) -> f32 {
        match self {
            Datatype::Float32 => x,
            Datatype::Float16 => f16::from_f32(x).to_f32(),
            Datatype::Uint8 => f32::from(x as u8),
        }
    }

    pub fn round_all(self, v: &mut [f32]) {
        if self != Datatype::Float32 {
            v.iter_mut().for_each(|x| *x = self.round(*x));
        }
    }

    pub fn bytes(self) -> usize {
        match self {
            Datatype::Float32 => 4,
            Datatype::Float16 => 2,
            Datatype::Uint8 => 1,
        }
    }
}

/// A growable array of elements of one type.
#[derive(Debug, Clone)]
pub enum Elements {
    F32(Vec<f32>),
    F16(Vec<f16>),
    U8(Vec<u8>),
}

impl Elements {
    pub fn new(t: Datatype) -> Elements {
        match t {
            Datatype::Float32 => Elements::F32(Vec::new()),
            Datatype::Float16 => Elements::F16(Vec::new()),
            Datatype::Uint8 => Elements::U8(Vec::new()),
        }
    }

    pub fn datatype(&self) -> Datatype {
        match self {
            Elements::F32(_) => Datatype::Float32,
            Elements::F16(_) => Datatype::Float16,
            Elements::U8(_) => Datatype::Uint8,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Elements::F32(v) => v.len(),
            Elements::F16(v) => v.len(),
            Elements::U8(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn push(&mut self, v: &[f32]) {
        match self {
            Elements::F32(d) => d.extend_from_slice(v),
            Elements::F16(d) => d.extend(v.iter().map(|&x| f16::from_f32(x))),
            Elements::U8(d) => d.extend(v.iter().map(|&x| x as u8)),
        }
    }

    pub fn push_zeros(&mut self, n: usize) {
        match self {
            Elements::F32(d) => d.resize(d.len() + n, 0.0),
            Elements::F16(d) => d.resize(d.len() + n, f16::ZERO),
            Elements::U8(d) => d.resize(d.len() + n, 0),
        }
    }

    /// Starts loading the values at `start..start + len` into cache.
    pub fn prefetch(&self, start: usize, len: usize) {
        match self {
            Elements::F32(d) => d.get(start..start + len).map(super::simd::prefetch),
            Elements::F16(d) => d.get(start..start + len).map(super::simd::prefetch),
            Elements::U8(d) => d.get(start..start + len).map(super::simd::prefetch),
        };
    }

    /// The f32 slice at `start..start + len` when stored as f32 (no copy needed).
    pub fn as_f32(&self, start: usize, len: usize) -> Option<&[f32]> {
        match self {
            Elements::F32(d) => Some(&d[start..start + len]),
            _ => None,
        }
    }

    /// Appends the values at `start..start + len` to `out` as f32.
    pub fn read_into(&self, start: usize, len: usize, out: &mut Vec<f32>) {
        match self {
            Elements::F32(d) => out.extend_from_slice(&d[start..start + len]),
            Elements::F16(d) => {
                // The slice conversion uses F16C where the CPU has it (exact either way).
                let at = out.len();
                out.resize(at + len, 0.0);
                d[start..start + len].convert_to_f32_slice(&mut out[at..]);
            }
            Elements::U8(d) => out.extend(d[start..start + len].iter().map(|&x| f32::from(x))),
        }
    }

    pub fn bytes(&self) -> usize {
        match self {
            Elements::F32(d) => d.capacity() * 4,
            Elements::F16(d) => d.capacity() * 2,
            Elements::U8(d) => d.capacity(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_idempotent_and_as_qdrant() {
        assert_eq!(Datatype::Uint8.round(1.7), 1.0);
        assert_eq!(Datatype::Uint8.round(300.0), 255.0);
        assert_eq!(Datatype::Uint8.round(-5.0), 0.0);
        let x = Datatype::Float16.round(0.1);
        assert!((x - 0.099975586).abs() < 1e-9);
        for t in [Datatype::Float32, Datatype::Float16, Datatype::Uint8] {
            for v in [0.1f32, 2.5, 1000.3, -3.0, 65504.0] {
                assert_eq!(t.round(t.round(v)), t.round(v), "{t:?} {v}");
            }
        }
    }

    #[test]
    fn storage_returns_rounded_values() {
        for t in [Datatype::Float32, Datatype::Float16, Datatype::Uint8] {
            let mut e = Elements::new(t);
            let v = [0.1f32, 7.9, 300.0];
            e.push(&v);
            e.push_zeros(3);
            let mut out = Vec::new();
            e.read_into(0, 3, &mut out);
            let want: Vec<f32> = v.iter().map(|&x| t.round(x)).collect();
            assert_eq!(out, want);
            out.clear();
            e.read_into(3, 3, &mut out);
            assert_eq!(out, vec![0.0; 3]);
            assert!(e.bytes() >= 6 * t.bytes());
        }
    }
}
