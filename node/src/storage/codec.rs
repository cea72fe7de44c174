//! Byte encodings of stored points: a version, the vectors by name, then the payload as JSON.
//! A vector is its name, then a u32 that is the dimension of a dense vector (the first
//! format, still read), or a tag with the high bit set: a multivector (dimension, count,
//! values) or a sparse vector (count, indices, values). Floats are little-endian f32.

use crate::segment::payload::Payload;
use crate::segment::point_id::PointId;
use crate::segment::record::{NamedVectors, PointRecord, VectorData};
use crate::segment::sparse_vector::SparseVector;

const TAG_MULTI: u32 = 0x8000_0001;
const TAG_SPARSE: u32 = 0x8000_0002;

fn put_u32(out: &mut Vec<u8>, x: u32) {
    out.extend_from_slice(&x.to_le_bytes());
}

fn put_floats(out: &mut Vec<u8>, v: &[f32]) {
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
}

fn put_vector(out: &mut Vec<u8>, v: &VectorData) {
    match v {
        VectorData::Dense(d) => {
            put_u32(out, d.len() as u32);
            put_floats(out, d);
        }
        VectorData::Multi(m) => {
            put_u32(out, TAG_MULTI);
            put_u32(out, m.first().map_or(0, Vec::len) as u32);
            put_u32(out, m.len() as u32);
            m.iter().for_each(|d| put_floats(out, d));
        }
        VectorData::Sparse(s) => {
            put_u32(out, TAG_SPARSE);
            put_u32(out, s.indices.len() as u32);
            s.indices.iter().for_each(|&i| put_u32(out, i));
            put_floats(out, &s.values);
        }
    }
}

fn vector_bytes(v: &VectorData) -> usize {
    match v {
        VectorData::Dense(d) => 4 + d.len() * 4,
        VectorData::Multi(m) => 12 + m.iter().map(|d| d.len() * 4).sum::<usize>(),
        VectorData::Sparse(s) => 8 + s.indices.len() * 8,
    }
}

#[derive(Debug, thiserror::Error)]
#[error("corrupt stored point: {0}")]
pub struct DecodeError(pub String);

pub fn encode(rec: &PointRecord) -> Vec<u8> {
    let payload = serde_json::to_vec(&rec.payload).unwrap_or_else(|_| b"{}".to_vec());
    let dims: usize = rec
        .vectors
        .iter()
        .map(|(n, v)| n.len() + 4 + vector_bytes(v))
        .sum();
    let mut out = Vec::with_capacity(12 + dims + payload.len());
    out.extend_from_slice(&rec.version.to_le_bytes());
    put_u32(&mut out, rec.vectors.len() as u32);
    for (name, v) in &rec.vectors {
        put_u32(&mut out, name.len() as u32);
        out.extend_from_slice(name.as_bytes());
        put_vector(&mut out, v);
    }
    out.extend_from_slice(&payload);
    out
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError(format!(
                "needed {n} bytes, {} left",
                self.0.len()
            )));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn floats(&mut self, n: usize) -> Result<Vec<f32>, DecodeError> {
        let raw = self.take(
            n.checked_mul(4)
                .ok_or_else(|| DecodeError("length".into()))?,
        )?;
        Ok(raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }
    fn vector(&mut self) -> Result<VectorData, DecodeError> {
        match self.u32()? {
            TAG_MULTI => {
                let dim = self.u32()? as usize;
                let n = self.u32()? as usize;
                (0..n)
                    .map(|_| self.floats(dim))
                    .collect::<Result<_, _>>()
                    .map(VectorData::Multi)
            }
            TAG_SPARSE => {
                let n = self.u32()? as usize;
                let indices = (0..n).map(|_| self.u32()).collect::<Result<_, _>>()?;
                let values = self.floats(n)?;
                Ok(VectorData::Sparse(SparseVector { indices, values }))
            }
            tag if tag & 0x8000_0000 != 0 => {
                Err(DecodeError(format!("unknown vector tag {tag:#x}")))
            }
            dim => self.floats(dim as usize).map(VectorData::Dense),
        }
    }
}

pub fn decode(key: &[u8], bytes: &[u8]) -> Result<PointRecord, DecodeError> {
    let id = PointId::from_key(key).ok_or_else(|| DecodeError("bad key".into()))?;
    let mut r = Reader(bytes);
    let version = u64::from_le_bytes(
        r.take(8)?
            .try_into()
            .map_err(|_| DecodeError("version".into()))?,
    );
    let n = r.u32()?;
    let mut vectors = NamedVectors::new();
    for _ in 0..n {
        let len = r.u32()? as usize;
        let name =
            String::from_utf8(r.take(len)?.to_vec()).map_err(|e| DecodeError(e.to_string()))?;
        vectors.insert(name, r.vector()?);
    }
    let payload: Payload = serde_json::from_slice(r.0).map_err(|e| DecodeError(e.to_string()))?;
    Ok(PointRecord {
        id,
        version,
        vectors,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn roundtrip() {
        let rec = PointRecord {
            id: PointId::Num(5),
            version: 9,
            vectors: [
                ("".to_string(), VectorData::Dense(vec![1.0, -2.5])),
                ("img".to_string(), VectorData::Dense(vec![0.25])),
                (
                    "colbert".to_string(),
                    VectorData::Multi(vec![vec![1.0, 2.0], vec![3.0, 4.5]]),
                ),
                (
                    "bm25".to_string(),
                    VectorData::Sparse(SparseVector {
                        indices: vec![3, 4_000_000_000],
                        values: vec![0.5, -1.0],
                    }),
                ),
            ]
            .into(),
            payload: json!({"a": [1, "x"]}).as_object().cloned().unwrap(),
        };
        let bytes = encode(&rec);
        assert_eq!(decode(&rec.id.to_key(), &bytes).unwrap(), rec);
        assert!(decode(&rec.id.to_key(), &bytes[..10]).is_err());
    }

    /// Points written before vector kinds existed (dense only, dimension first) still read.
    #[test]
    fn reads_the_first_format() {
        let mut old = Vec::new();
        old.extend_from_slice(&7u64.to_le_bytes());
        old.extend_from_slice(&1u32.to_le_bytes());
        old.extend_from_slice(&1u32.to_le_bytes());
        old.extend_from_slice(b"a");
        old.extend_from_slice(&2u32.to_le_bytes());
        old.extend_from_slice(&1.5f32.to_le_bytes());
        old.extend_from_slice(&(-2f32).to_le_bytes());
        old.extend_from_slice(b"{}");
        let rec = decode(&PointId::Num(1).to_key(), &old).unwrap();
        assert_eq!(rec.vectors["a"], VectorData::Dense(vec![1.5, -2.0]));
        assert_eq!(rec.version, 7);
    }
}
