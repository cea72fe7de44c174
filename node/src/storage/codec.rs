//! Byte encodings of stored points: a version, the vectors by name, then the payload as JSON.

use crate::segment::payload::Payload;
use crate::segment::point_id::PointId;
use crate::segment::record::{NamedVectors, PointRecord};

#[derive(Debug, thiserror::Error)]
#[error("corrupt stored point: {0}")]
pub struct DecodeError(pub String);

pub fn encode(rec: &PointRecord) -> Vec<u8> {
    let payload = serde_json::to_vec(&rec.payload).unwrap_or_else(|_| b"{}".to_vec());
    let dims: usize = rec.vectors.values().map(|v| v.len() * 4 + 8).sum();
    let mut out = Vec::with_capacity(16 + dims + payload.len());
    out.extend_from_slice(&rec.version.to_le_bytes());
    out.extend_from_slice(&(rec.vectors.len() as u32).to_le_bytes());
    for (name, v) in &rec.vectors {
        out.extend_from_slice(&(name.len() as u32).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
        for x in v {
            out.extend_from_slice(&x.to_le_bytes());
        }
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
        let dim = r.u32()? as usize;
        let raw = r.take(dim * 4)?;
        let v = raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        vectors.insert(name, v);
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
                ("".to_string(), vec![1.0, -2.5]),
                ("img".to_string(), vec![0.25]),
            ]
            .into(),
            payload: json!({"a": [1, "x"]}).as_object().cloned().unwrap(),
        };
        let bytes = encode(&rec);
        assert_eq!(decode(&rec.id.to_key(), &bytes).unwrap(), rec);
        assert!(decode(&rec.id.to_key(), &bytes[..10]).is_err());
    }
}
