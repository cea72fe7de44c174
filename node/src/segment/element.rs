//! Element types of stored vectors (Qdrant's `datatype`: float32, float16, uint8) and the
//! contiguous element storage of one vector column. Values enter as f32 and are rounded to
//! the element type once; reading them back gives exactly the rounded f32 values.

use super::mapped::MappedBytes;
use half::f16;
use half::slice::HalfFloatSliceExt;
use serde::{Deserialize, Serialize};
use std::path::Path;

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

/// A growable array of elements of one type: in RAM, or in a memory-mapped file
/// (`on_disk`), little-endian either way.
#[derive(Debug)]
pub enum Elements {
    F32(Vec<f32>),
    F16(Vec<f16>),
    U8(Vec<u8>),
    Mapped(Datatype, MappedBytes),
}

/// The elements as a slice of their type.
enum View<'a> {
    F32(&'a [f32]),
    F16(&'a [f16]),
    U8(&'a [u8]),
}

#[cfg(not(target_endian = "little"))]
compile_error!("mapped vectors are stored little-endian and read in place");

impl Elements {
    pub fn new(t: Datatype) -> Elements {
        match t {
            Datatype::Float32 => Elements::F32(Vec::new()),
            Datatype::Float16 => Elements::F16(Vec::new()),
            Datatype::Uint8 => Elements::U8(Vec::new()),
        }
    }

    /// In a file in `dir` when given (and it can be made there), else in RAM.
    pub fn new_in(t: Datatype, dir: Option<&Path>) -> Elements {
        match dir.map(MappedBytes::new) {
            Some(Ok(m)) => Elements::Mapped(t, m),
            Some(Err(e)) => {
                tracing::warn!(error = %e, "vectors kept in RAM: no file for them");
                Elements::new(t)
            }
            None => Elements::new(t),
        }
    }

    pub fn datatype(&self) -> Datatype {
        match self {
            Elements::F32(_) => Datatype::Float32,
            Elements::F16(_) => Datatype::Float16,
            Elements::U8(_) => Datatype::Uint8,
            Elements::Mapped(t, _) => *t,
        }
    }

    pub fn is_mapped(&self) -> bool {
        matches!(self, Elements::Mapped(..))
    }

    fn view(&self) -> View<'_> {
        match self {
            Elements::F32(v) => View::F32(v),
            Elements::F16(v) => View::F16(v),
            Elements::U8(v) => View::U8(v),
            Elements::Mapped(t, m) => {
                let b = m.as_slice();
                // SAFETY: the mapping is page aligned and holds whole elements of type `t`
                // (every push appends whole ones); f16 is a plain 16-bit value.
                unsafe {
                    match t {
                        Datatype::Float32 => {
                            View::F32(std::slice::from_raw_parts(b.as_ptr().cast(), b.len() / 4))
                        }
                        Datatype::Float16 => {
                            View::F16(std::slice::from_raw_parts(b.as_ptr().cast(), b.len() / 2))
                        }
                        Datatype::Uint8 => View::U8(b),
                    }
                }
            }
        }
    }

    pub fn len(&self) -> usize {
        match self.view() {
            View::F32(v) => v.len(),
            View::F16(v) => v.len(),
            View::U8(v) => v.len(),
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
            Elements::Mapped(t, m) => {
                let bytes: Vec<u8> = match t {
                    Datatype::Float32 => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
                    Datatype::Float16 => v
                        .iter()
                        .flat_map(|&x| f16::from_f32(x).to_le_bytes())
                        .collect(),
                    Datatype::Uint8 => v.iter().map(|&x| x as u8).collect(),
                };
                if let Err(e) = m.push(&bytes) {
                    tracing::warn!(error = %e, "vectors moved to RAM: their file cannot grow");
                    self.move_to_ram();
                    self.push(v);
                }
            }
        }
    }

    /// Moves mapped elements into RAM (the file went bad; nothing is lost).
    fn move_to_ram(&mut self) {
        let mut ram = Elements::new(self.datatype());
        let mut buf = Vec::new();
        self.read_into(0, self.len(), &mut buf);
        ram.push(&buf);
        *self = ram;
    }

    pub fn push_zeros(&mut self, n: usize) {
        match self {
            Elements::F32(d) => d.resize(d.len() + n, 0.0),
            Elements::F16(d) => d.resize(d.len() + n, f16::ZERO),
            Elements::U8(d) => d.resize(d.len() + n, 0),
            Elements::Mapped(..) => self.push(&vec![0.0; n]),
        }
    }

    /// Starts loading the values at `start..start + len` into cache.
    pub fn prefetch(&self, start: usize, len: usize) {
        match self.view() {
            View::F32(d) => d.get(start..start + len).map(super::simd::prefetch),
            View::F16(d) => d.get(start..start + len).map(super::simd::prefetch),
            View::U8(d) => d.get(start..start + len).map(super::simd::prefetch),
        };
    }

    /// The f32 slice at `start..start + len` when stored as f32 (no copy needed).
    pub fn as_f32(&self, start: usize, len: usize) -> Option<&[f32]> {
        match self.view() {
            View::F32(d) => Some(&d[start..start + len]),
            _ => None,
        }
    }

    /// Appends the values at `start..start + len` to `out` as f32.
    pub fn read_into(&self, start: usize, len: usize, out: &mut Vec<f32>) {
        match self.view() {
            View::F32(d) => out.extend_from_slice(&d[start..start + len]),
            View::F16(d) => {
                // The slice conversion uses F16C where the CPU has it (exact either way).
                let at = out.len();
                out.resize(at + len, 0.0);
                d[start..start + len].convert_to_f32_slice(&mut out[at..]);
            }
            View::U8(d) => out.extend(d[start..start + len].iter().map(|&x| f32::from(x))),
        }
    }

    /// Bytes held in RAM (mapped elements are in the page cache, not counted).
    pub fn bytes(&self) -> usize {
        match self {
            Elements::F32(d) => d.capacity() * 4,
            Elements::F16(d) => d.capacity() * 2,
            Elements::U8(d) => d.capacity(),
            Elements::Mapped(..) => 0,
        }
    }

    /// Bytes in a mapped file.
    pub fn mapped_bytes(&self) -> usize {
        match self {
            Elements::Mapped(_, m) => m.len(),
            _ => 0,
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
        let dir = tempfile::tempdir().unwrap();
        for (t, disk) in [Datatype::Float32, Datatype::Float16, Datatype::Uint8]
            .into_iter()
            .flat_map(|t| [(t, None), (t, Some(dir.path()))])
        {
            let mut e = Elements::new_in(t, disk);
            assert_eq!(e.is_mapped(), disk.is_some());
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
            assert_eq!(e.len(), 6);
            assert!(e.bytes() + e.mapped_bytes() >= 6 * t.bytes());
        }
    }
}
