//! Saving a segment's graphs and opening them again at start, so a restart does not index
//! everything anew. The points come back from the store of record as always; an image only
//! says which offset each one had, so the saved graphs fit. Offsets retired before the save
//! come back with the vectors the image keeps for them, as they were; an offset whose point
//! is gone, or whose vectors changed since the save (a different checksum), is left empty
//! and every link to it is dropped; points the image does not know are appended and
//! indexed as new.

use super::hnsw::{Hnsw, Inserting};
use super::image::SegmentImage;
use super::payload::Payload;
use super::point_id::PointId;
use super::record::{PointRecord, VectorData};
use super::vectors::VectorSpec;
use super::Segment;
use parking_lot::RwLock;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Walks every record of the store of record, giving each to the function it is passed.
pub type EachRecord<'a, E> = dyn FnMut(&mut dyn FnMut(PointRecord)) -> Result<(), E> + 'a;

/// Checksum of the vectors a point has in the graph-indexed columns of `specs`.
pub fn vector_sum<'a>(
    specs: impl Iterator<Item = &'a VectorSpec>,
    get: impl Fn(&VectorSpec) -> Option<VectorData>,
    buf: &mut Vec<u8>,
) -> u32 {
    buf.clear();
    for spec in specs.filter(|s| s.in_graph()) {
        match get(spec) {
            Some(VectorData::Dense(v)) => {
                buf.push(1);
                buf.extend(v.iter().flat_map(|x| x.to_le_bytes()));
            }
            Some(VectorData::Multi(m)) => {
                buf.push(2);
                for v in m {
                    buf.extend((v.len() as u32).to_le_bytes());
                    buf.extend(v.iter().flat_map(|x| x.to_le_bytes()));
                }
            }
            _ => buf.push(0),
        }
    }
    crc32fast::hash(buf)
}

impl Segment {
    /// What the saved graphs depend on: each column's name, kind, size, distance, element
    /// type and graph parameters.
    pub fn signature(&self) -> String {
        let cols: Vec<String> = (0..self.columns.len())
            .map(|ci| {
                let s = &self.columns[ci].spec;
                let p = self.col_params(ci);
                format!(
                    "{:?}:{:?}:{}:{:?}:{:?}:m{}:ef{}",
                    s.name, s.kind, s.dim, s.distance, s.datatype, p.m, p.ef_construct
                )
            })
            .collect();
        cols.join(";")
    }

    /// The graphs and the offsets they cover, or `None` while no graph holds a point.
    /// Call it where no insertion runs (the indexer's own thread).
    pub fn image(&self) -> Option<SegmentImage> {
        let graphs: Vec<_> = self.graphs.iter().map(|g| g.read().image()).collect();
        let n = graphs.iter().map(|g| g.covered as usize).max()?;
        if n == 0 {
            return None;
        }
        let mut buf = Vec::new();
        let sums = (0..n as u32)
            .map(|o| {
                let get = |s: &VectorSpec| self.vector(o, &s.name);
                vector_sum(self.specs(), get, &mut buf)
            })
            .collect();
        let retired = (0..n as u32)
            .filter(|&o| !self.live[o as usize])
            .map(|o| {
                let vectors = (self.columns.iter())
                    .map(|c| c.spec.in_graph().then(|| c.get(o)).flatten())
                    .collect();
                (o, vectors)
            })
            .collect();
        Some(SegmentImage {
            signature: self.signature(),
            ids: self.ids[..n].to_vec(),
            sums,
            graphs,
            retired,
        })
    }

    /// Fills an empty segment from the store of record, in the offsets of `img` where the
    /// points still fit, and opens its graphs; returns the points' vectors found in a graph.
    /// `each` walks every record, `get` reads one: the records are read three times (their
    /// checksums; the ones that fit, in offset order; the rest) so no more than one is held
    /// at a time. When the image does not fit (other columns or parameters, or most of its
    /// points gone) it is a plain load.
    pub fn restore<E>(
        &mut self,
        img: SegmentImage,
        each: &mut EachRecord<'_, E>,
        get: &mut dyn FnMut(PointId) -> Result<Option<PointRecord>, E>,
    ) -> Result<usize, E> {
        let fits = self.ids.is_empty()
            && img.signature == self.signature()
            && img.graphs.len() == self.columns.len();
        if !fits {
            each(&mut |r| self.upsert(r))?;
            return Ok(0);
        }
        let mut sums = HashMap::new();
        let mut buf = Vec::new();
        each(&mut |r| {
            let get = |s: &VectorSpec| r.vectors.get(&s.name).cloned();
            sums.insert(r.id, vector_sum(self.specs(), get, &mut buf));
        })?;
        // An id's latest offset holds it, if its vectors are those the graphs saw.
        let n = img.ids.len();
        let mut take = vec![false; n];
        let mut seen = HashSet::new();
        for o in (0..n).rev() {
            let id = img.ids[o];
            take[o] = seen.insert(id) && sums.get(&id) == Some(&img.sums[o]);
        }
        drop(sums);
        let taken = take.iter().filter(|t| **t).count();
        if (taken + img.retired.len()) * 2 < n {
            each(&mut |r| self.upsert(r))?;
            return Ok(0);
        }
        let mut retired: BTreeMap<u32, Vec<Option<VectorData>>> = img.retired.into_iter().collect();
        let mut placed = HashSet::new();
        for (o, &id) in img.ids.iter().enumerate() {
            let rec = if take[o] { get(id)? } else { None };
            match rec {
                Some(r) => {
                    placed.insert(id);
                    self.upsert(r)
                }
                None => self.push_retired(id, retired.remove(&(o as u32)).unwrap_or_default()),
            }
        }
        each(&mut |r| {
            if !placed.contains(&r.id) {
                self.upsert(r)
            }
        })?;
        for (ci, g) in img.graphs.into_iter().enumerate() {
            let col = &self.columns[ci];
            let present = |o: u32| (o as usize) < n && col.has(o) && self.live[o as usize];
            let graph = Hnsw::from_image(g, &|o| col.has(o));
            let d = |a: u32, b: u32| col.pair_order(a, b);
            graph.relink(Inserting {
                present: &present,
                dist: &d,
                prefetch: &|o| col.prefetch(o),
                stop: &|| false,
            });
            self.graphs[ci] = RwLock::new(graph);
        }
        let live_in = |ci: usize| {
            (0..n as u32)
                .filter(|&o| self.columns[ci].has(o) && self.live[o as usize])
                .count()
        };
        Ok((0..self.columns.len())
            .filter(|&ci| self.graphs[ci].read().inserted() > 0)
            .map(live_in)
            .sum())
    }

    /// An offset that held `id` once: with the vectors it had when retired before the
    /// save, or none when its point changed after it.
    fn push_retired(&mut self, id: PointId, vectors: Vec<Option<VectorData>>) {
        let offset = self.ids.len() as u32;
        for (ci, col) in self.columns.iter_mut().enumerate() {
            col.push(vectors.get(ci).and_then(Option::as_ref));
            col.retire(offset);
        }
        self.ids.push(id);
        self.versions.push(0);
        self.live.push(false);
        self.payloads.push(Payload::new());
    }
}

#[cfg(test)]
mod tests {
    use super::super::distance::Distance;
    use super::super::engine::HnswParams;
    use super::super::search::SearchRequest;
    use super::super::vectors::QueryVector;
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Restores from `stored` as a shard does from its store.
    fn reopen(
        s: &mut Segment,
        img: SegmentImage,
        stored: &BTreeMap<PointId, PointRecord>,
    ) -> usize {
        let mut each = |f: &mut dyn FnMut(PointRecord)| -> Result<(), ()> {
            stored.values().cloned().for_each(f);
            Ok(())
        };
        let mut get = |id: PointId| Ok(stored.get(&id).cloned());
        s.restore(img, &mut each, &mut get).unwrap_or(0)
    }

    fn seg() -> Segment {
        let params = HnswParams {
            m: 8,
            ef_construct: 64,
            full_scan_threshold_kb: 1,
            indexing_threads: 2,
        };
        Segment::new(vec![VectorSpec::dense("", 8, Distance::Cosine)], params)
    }

    fn rec(i: u64, rng: &mut impl Rng) -> PointRecord {
        let mut v: Vec<f32> = (0..8).map(|_| rng.gen::<f32>() - 0.5).collect();
        Distance::Cosine.preprocess(&mut v);
        PointRecord {
            id: PointId::Num(i),
            version: i,
            vectors: [(String::new(), VectorData::Dense(v))].into(),
            payload: Payload::new(),
        }
    }

    fn top(s: &Segment, q: &QueryVector, exact: bool) -> Vec<PointId> {
        let req = SearchRequest {
            ef: Some(64),
            exact,
            ..SearchRequest::nearest("", q, 10)
        };
        s.search(&req).iter().map(|h| s.id_of(h.0)).collect()
    }

    #[test]
    fn saved_graphs_reopen_where_points_still_fit() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut s = seg();
        let mut stored = BTreeMap::new();
        for i in 0..3000 {
            let r = rec(i, &mut rng);
            stored.insert(r.id, r.clone());
            s.upsert(r);
        }
        // Updated once before the save: the old offset is retired.
        for i in 0..100 {
            let r = rec(i, &mut rng);
            stored.insert(r.id, r.clone());
            s.upsert(r);
        }
        s.build_index();
        let img = s.image().expect("an image");
        let back = SegmentImage::decode(&img.encode()).expect("decodes");
        assert_eq!(back, img);
        let mut bytes = img.encode();
        bytes[40] ^= 1;
        assert!(
            SegmentImage::decode(&bytes).is_none(),
            "a damaged file is refused"
        );

        // After the save: 200 deleted, 100 changed, 50 new.
        for i in 1000..1200 {
            stored.remove(&PointId::Num(i));
        }
        for i in (2000..2100).chain(5000..5050) {
            let r = rec(i, &mut rng);
            stored.insert(r.id, r);
        }
        let mut r = seg();
        let loaded = reopen(&mut r, back, &stored);
        assert_eq!(
            loaded,
            3000 - 200 - 100,
            "every unchanged point opened in the graph"
        );
        assert_eq!(r.len(), stored.len());
        assert_eq!(
            r.pending_index(),
            150,
            "changed and new points wait for the indexer"
        );
        assert_eq!(r.unreachable_points(), 0);
        for (id, rec) in &stored {
            assert_eq!(r.get(*id).map(|p| p.vectors), Some(rec.vectors.clone()));
        }
        r.build_index();
        let mut hits = 0;
        for _ in 0..30 {
            let Some(VectorData::Dense(q)) = rec(0, &mut rng).vectors.remove("") else {
                panic!("a dense vector")
            };
            let q = QueryVector::Dense(q);
            let (approx, exact) = (top(&r, &q, false), top(&r, &q, true));
            assert!(approx.iter().all(|id| stored.contains_key(id)));
            hits += approx.iter().filter(|a| exact.contains(a)).count();
        }
        assert!(hits >= 270, "recall {hits}/300");

        // Other index parameters: a plain load, indexed anew.
        let mut other = Segment::new(
            vec![VectorSpec::dense("", 8, Distance::Cosine)],
            HnswParams { m: 16, ..r.params },
        );
        assert_eq!(reopen(&mut other, img, &stored), 0);
        assert_eq!(other.len(), stored.len());
        assert_eq!(other.indexed_vectors(), 0);
    }

    #[test]
    fn every_vector_kind_comes_back_at_its_offset() {
        use super::super::sparse_vector::SparseVector;
        use super::super::vectors::VectorKind;
        let kind = |name: &str, kind| VectorSpec {
            kind,
            dim: if kind == VectorKind::Sparse { 0 } else { 4 },
            distance: Distance::Dot,
            ..VectorSpec::dense(name, 4, Distance::Dot)
        };
        let specs = vec![
            kind("d", VectorKind::Dense),
            kind("m", VectorKind::Multi),
            kind("s", VectorKind::Sparse),
        ];
        let params = HnswParams {
            m: 4,
            ef_construct: 16,
            full_scan_threshold_kb: 0,
            indexing_threads: 1,
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let mut v = || (0..4).map(|_| rng.gen::<f32>()).collect::<Vec<f32>>();
        let mut stored = BTreeMap::new();
        let mut s = Segment::new(specs.clone(), params);
        for i in 0..300u64 {
            let mut vectors: super::super::record::NamedVectors = BTreeMap::new();
            if i % 3 != 0 {
                vectors.insert("d".into(), VectorData::Dense(v()));
            }
            vectors.insert("m".into(), VectorData::Multi(vec![v(), v()]));
            let sparse = SparseVector {
                indices: vec![i as u32 % 7],
                values: vec![1.0],
            };
            vectors.insert("s".into(), VectorData::Sparse(sparse));
            let r = PointRecord {
                id: PointId::Num(i % 250),
                version: i,
                vectors,
                payload: Payload::new(),
            };
            stored.insert(r.id, r.clone());
            s.upsert(r);
        }
        s.build_index();
        let unreached = s.unreachable_points();
        let img = SegmentImage::decode(&s.image().expect("an image").encode()).expect("decodes");
        assert_eq!(
            img.retired.len(),
            50,
            "the 50 replaced offsets keep their vectors"
        );
        let mut r = Segment::new(specs, params);
        // Points without "d" have one vector in a graph, the others two.
        let with_d = stored
            .values()
            .filter(|p| p.vectors.contains_key("d"))
            .count();
        assert_eq!(reopen(&mut r, img, &stored), 250 + with_d);
        assert_eq!(r.pending_index(), 0);
        // Dot on random positive vectors leaves some unreached already; never more.
        assert!(r.unreachable_points() <= unreached);
        for (id, rec) in &stored {
            assert_eq!(r.get(*id).as_ref(), Some(rec), "{id}");
        }
    }
}
