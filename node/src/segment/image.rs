//! The saved form of a segment's graphs (`reopen.rs` makes and applies it): which point
//! each offset held, a checksum of its vectors, and each column's graph. Little-endian,
//! ending with a CRC32 of all before it; anything that does not decode is `None`.

use super::hnsw::GraphImage;
use super::point_id::PointId;
use super::record::VectorData;

const MAGIC: &[u8; 8] = b"QNIDX\0\0\x01";

#[derive(Clone, Debug, PartialEq)]
pub struct SegmentImage {
    /// The columns and index parameters the graphs were built for.
    pub signature: String,
    pub ids: Vec<PointId>,
    /// Per offset, the checksum of its graph-indexed vectors (`reopen::vector_sum`).
    pub sums: Vec<u32>,
    /// One per column, in column order.
    pub graphs: Vec<GraphImage>,
    /// Offsets retired before the save (their point was replaced or deleted) with their
    /// vectors, one per column, so their graph nodes still lead the way.
    pub retired: Vec<(u32, Vec<Option<VectorData>>)>,
}

impl SegmentImage {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Vec::with_capacity(64 + self.ids.len() * 16);
        w.extend_from_slice(MAGIC);
        put_bytes(&mut w, self.signature.as_bytes());
        put_u64(&mut w, self.ids.len() as u64);
        for id in &self.ids {
            put_bytes(&mut w, &id.to_key());
        }
        put_u32s(&mut w, &self.sums);
        put_u32(&mut w, self.graphs.len() as u32);
        for g in &self.graphs {
            put_u32(&mut w, g.m);
            put_u32(&mut w, g.ef_construct);
            put_u64(&mut w, g.covered);
            let (e, l) = g.entry.unwrap_or((u32::MAX, u32::MAX));
            put_u32(&mut w, e);
            put_u32(&mut w, l);
            put_u32s(&mut w, &g.flat);
            put_u64(&mut w, g.upper.len() as u64);
            for levels in &g.upper {
                put_u32(&mut w, levels.len() as u32);
                for (ids, diverse) in levels {
                    put_u32(&mut w, *diverse);
                    put_u32s(&mut w, ids);
                }
            }
        }
        put_u64(&mut w, self.retired.len() as u64);
        for (o, vectors) in &self.retired {
            put_u32(&mut w, *o);
            put_u32(&mut w, vectors.len() as u32);
            for v in vectors {
                match v {
                    Some(VectorData::Dense(d)) => {
                        w.push(1);
                        put_f32s(&mut w, d);
                    }
                    Some(VectorData::Multi(m)) => {
                        w.push(2);
                        put_u32(&mut w, m.len() as u32);
                        m.iter().for_each(|d| put_f32s(&mut w, d));
                    }
                    _ => w.push(0),
                }
            }
        }
        let crc = crc32fast::hash(&w);
        put_u32(&mut w, crc);
        w
    }

    pub fn decode(bytes: &[u8]) -> Option<SegmentImage> {
        let (body, crc) = bytes.split_at_checked(bytes.len().checked_sub(4)?)?;
        if crc32fast::hash(body).to_le_bytes() != crc || !body.starts_with(MAGIC) {
            return None;
        }
        let mut r = Reader(&body[MAGIC.len()..]);
        let signature = String::from_utf8(r.bytes()?.to_vec()).ok()?;
        let n = r.len()?;
        let ids = (0..n)
            .map(|_| PointId::from_key(r.bytes()?))
            .collect::<Option<Vec<_>>>()?;
        let sums = r.u32s()?;
        let mut graphs = Vec::new();
        for _ in 0..r.u32()? {
            let (m, ef_construct, covered) = (r.u32()?, r.u32()?, r.u64()?);
            let (e, l) = (r.u32()?, r.u32()?);
            let flat = r.u32s()?;
            let mut upper = Vec::new();
            for _ in 0..r.len()? {
                let mut levels = Vec::new();
                for _ in 0..r.u32()? {
                    let diverse = r.u32()?;
                    levels.push((r.u32s()?, diverse));
                }
                upper.push(levels);
            }
            graphs.push(GraphImage {
                m,
                ef_construct,
                covered,
                entry: (e != u32::MAX).then_some((e, l)),
                flat,
                upper,
            });
        }
        let mut retired = Vec::new();
        for _ in 0..r.len()? {
            let o = r.u32()?;
            let mut vectors = Vec::new();
            for _ in 0..r.u32()? {
                vectors.push(match r.take(1)?[0] {
                    0 => None,
                    1 => Some(VectorData::Dense(r.f32s()?)),
                    2 => Some(VectorData::Multi(
                        (0..r.u32()?).map(|_| r.f32s()).collect::<Option<_>>()?,
                    )),
                    _ => return None,
                });
            }
            let fits = (o as usize) < ids.len() && vectors.len() == graphs.len();
            fits.then_some(())?;
            retired.push((o, vectors));
        }
        let sound =
            r.0.is_empty() && sums.len() == ids.len() && graphs.iter().all(|g| g.is_sound());
        sound.then_some(SegmentImage {
            signature,
            ids,
            sums,
            graphs,
            retired,
        })
    }
}

fn put_u32(w: &mut Vec<u8>, v: u32) {
    w.extend_from_slice(&v.to_le_bytes());
}

fn put_u64(w: &mut Vec<u8>, v: u64) {
    w.extend_from_slice(&v.to_le_bytes());
}

fn put_bytes(w: &mut Vec<u8>, b: &[u8]) {
    put_u32(w, b.len() as u32);
    w.extend_from_slice(b);
}

fn put_u32s(w: &mut Vec<u8>, v: &[u32]) {
    put_u64(w, v.len() as u64);
    w.reserve(v.len() * 4);
    for x in v {
        w.extend_from_slice(&x.to_le_bytes());
    }
}

fn put_f32s(w: &mut Vec<u8>, v: &[f32]) {
    let bits: Vec<u32> = v.iter().map(|x| x.to_bits()).collect();
    put_u32s(w, &bits);
}

/// Bounds-checked reads; every one is `None` past the end.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    /// A count of items of at least one byte each, so a bad count cannot ask for more.
    fn len(&mut self) -> Option<usize> {
        let n = usize::try_from(self.u64()?).ok()?;
        (n <= self.0.len()).then_some(n)
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    fn f32s(&mut self) -> Option<Vec<f32>> {
        Some(self.u32s()?.into_iter().map(f32::from_bits).collect())
    }
    fn u32s(&mut self) -> Option<Vec<u32>> {
        let n = usize::try_from(self.u64()?).ok()?;
        let raw = self.take(n.checked_mul(4)?)?;
        Some(
            raw.chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        )
    }
}
