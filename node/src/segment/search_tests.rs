//! Tests of `search.rs`: multivector graph search, quantized walks, vectors on disk.

use super::*;
use crate::segment::distance::Distance;
use crate::segment::quantized::{BinaryEncoding, Quantization};
use crate::segment::record::{PointRecord, VectorData};
use crate::segment::vectors::{VectorKind, VectorSpec};
use crate::segment::HnswParams;
use rand::{Rng, SeedableRng};

const PARAMS: HnswParams = HnswParams {
    m: 16,
    ef_construct: 100,
    full_scan_threshold_kb: 1,
    indexing_threads: 2,
};

/// A segment of `spec` holding `vectors` (ids 0..), indexed.
fn filled(spec: VectorSpec, vectors: impl Iterator<Item = VectorData>) -> Segment {
    let params = PARAMS;
    let mut s = Segment::new(vec![spec.clone()], params);
    for (i, mut v) in vectors.enumerate() {
        spec.preprocess(&mut v);
        s.upsert(PointRecord {
            id: PointId::Num(i as u64),
            version: 1,
            vectors: [(spec.name.clone(), v)].into(),
            payload: Default::default(),
        });
    }
    s.build_index();
    s
}

fn random(rng: &mut impl Rng, dim: usize) -> Vec<f32> {
    (0..dim).map(|_| rng.gen::<f32>() - 0.5).collect()
}

#[test]
fn multivector_graph_search_finds_the_exact_max_sim_neighbours() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let spec = VectorSpec {
        kind: VectorKind::Multi,
        ..VectorSpec::dense("m", 8, Distance::Cosine)
    };
    let docs: Vec<VectorData> = (0..2000)
        .map(|_| {
            let k = rng.gen_range(2..7);
            VectorData::Multi((0..k).map(|_| random(&mut rng, 8)).collect())
        })
        .collect();
    let s = filled(spec.clone(), docs.into_iter());
    assert_eq!(s.pending_index(), 0);
    let mut found = 0;
    for _ in 0..30 {
        let q = VectorData::Multi((0..3).map(|_| random(&mut rng, 8)).collect());
        let q = spec.prepare(q).unwrap();
        let req = SearchRequest::nearest("m", &q, 10);
        let approx = s.search(&req);
        let exact = s.search(&SearchRequest { exact: true, ..req });
        found += approx
            .iter()
            .filter(|a| exact.iter().any(|e| e.0 == a.0))
            .count();
    }
    eprintln!("multivector recall@10 {}", found as f64 / 300.0);
    assert!(found >= 240, "recall {found}/300");
}

fn segment(n: usize, q: Option<Quantization>) -> Segment {
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let spec = VectorSpec {
        quantization: q,
        ..VectorSpec::dense("", 32, Distance::Cosine)
    };
    filled(
        spec,
        (0..n).map(|_| VectorData::Dense(random(&mut rng, 32))),
    )
}

fn query(s: &Segment, seed: u64) -> QueryVector {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let v = VectorData::Dense(random(&mut rng, 32));
    s.spec("").unwrap().prepare(v).unwrap()
}

fn search(s: &Segment, q: &QueryVector, quantization: QuantSearch, exact: bool) -> Vec<(u32, f32)> {
    s.search(&SearchRequest {
        ef: Some(64),
        exact,
        quantization,
        ..SearchRequest::nearest("", q, 10)
    })
}

#[test]
fn scalar_walk_finds_the_neighbours_and_rescoring_gives_exact_scores() {
    let s = segment(
        3000,
        Some(Quantization::Scalar {
            quantile: Some(0.99),
        }),
    );
    assert_eq!(s.pending_index(), 0);
    let (mut found, mut off_exact) = (0, 0);
    for seed in 0..20 {
        let q = query(&s, seed);
        let exact = search(&s, &q, QuantSearch::default(), true);
        let plain = search(&s, &q, QuantSearch::default(), false);
        let rescore = QuantSearch {
            rescore: Some(true),
            oversampling: Some(2.0),
            ..Default::default()
        };
        let rescored = search(&s, &q, rescore, false);
        found += rescored
            .iter()
            .filter(|h| exact.iter().any(|e| e.0 == h.0))
            .count();
        for h in &rescored {
            let want = -s.columns[0].order(&q, h.0).unwrap();
            assert!(
                (h.1 - want).abs() < 1e-6,
                "rescored scores are the originals'"
            );
        }
        // int8 scores are not rescored by default: close to, not equal to, the originals.
        off_exact += plain
            .iter()
            .filter(|h| {
                let want = -s.columns[0].order(&q, h.0).unwrap();
                assert!((h.1 - want).abs() < 0.05, "{} vs {want}", h.1);
                h.1 != want
            })
            .count();
    }
    assert!(found >= 180, "recall {found}/200");
    assert!(off_exact > 100, "{off_exact} of 200 scores came from codes");
}

#[test]
fn binary_codes_rescore_by_default_and_ignore_walks_the_originals() {
    let s = segment(
        2000,
        Some(Quantization::Binary {
            encoding: BinaryEncoding::TwoBits,
        }),
    );
    let q = query(&s, 99);
    let by_default = search(&s, &q, QuantSearch::default(), false);
    for h in &by_default {
        assert_eq!(h.1, -s.columns[0].order(&q, h.0).unwrap());
    }
    let raw = QuantSearch {
        rescore: Some(false),
        ..Default::default()
    };
    let coded = search(&s, &q, raw, false);
    // Two bits per dimension: scores are counts of bits, 64 when all agree.
    assert!(
        coded.iter().all(|h| h.1.fract() == 0.0 && h.1 <= 64.0),
        "{coded:?}"
    );
    let ignore = QuantSearch {
        ignore: true,
        ..Default::default()
    };
    let unquantized = segment(2000, None);
    assert_eq!(
        search(&s, &q, ignore, false),
        search(&unquantized, &q, ignore, false)
    );
}

#[test]
fn another_quantization_is_encoded_anew_and_none_drops_the_codes() {
    let mut s = segment(1500, Some(Quantization::Scalar { quantile: None }));
    assert!(s.quants[0].read().is_some());
    let mut spec = s.spec("").cloned().unwrap();
    spec.quantization = Some(Quantization::Binary {
        encoding: BinaryEncoding::OneBit,
    });
    s.update_spec(&spec);
    assert!(s.quants[0].read().is_none());
    assert_eq!(
        s.pending_index(),
        1500,
        "the graph stays; the codes are pending"
    );
    s.build_index();
    assert_eq!(s.pending_index(), 0);
    assert_eq!(
        s.quants[0].read().as_ref().map(|q| q.kind),
        spec.quantization
    );
    spec.quantization = None;
    s.update_spec(&spec);
    s.build_index();
    assert!(s.quants[0].read().is_none());
}

#[test]
fn vectors_on_disk_answer_as_in_ram_and_move_back_without_a_new_graph() {
    let dir = tempfile::tempdir().unwrap();
    let spec = VectorSpec {
        on_disk: true,
        ..VectorSpec::dense("", 32, Distance::Dot)
    };
    let params = PARAMS;
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let data: Vec<VectorData> = (0..2000)
        .map(|_| VectorData::Dense(random(&mut rng, 32)))
        .collect();
    let mut disk = Segment::new_in(vec![spec.clone()], params, Some(dir.path().into()));
    let mut ram = Segment::new(vec![spec.clone()], params);
    for (i, v) in data.iter().enumerate() {
        for s in [&mut disk, &mut ram] {
            s.upsert(PointRecord {
                id: PointId::Num(i as u64),
                version: 1,
                vectors: [(String::new(), v.clone())].into(),
                payload: Default::default(),
            });
        }
    }
    disk.build_index();
    assert_eq!(disk.mapped_bytes(), 2000 * 32 * 4);
    assert_eq!(ram.mapped_bytes(), 0);
    // In RAM: a presence flag per point; the vectors are in the page cache.
    assert!(
        disk.columns[0].bytes() < 4096,
        "{}",
        disk.columns[0].bytes()
    );
    assert!(ram.columns[0].bytes() >= 2000 * 32 * 4);
    let q = query(&disk, 1);
    let exact = search(&ram, &q, QuantSearch::default(), true);
    assert_eq!(search(&disk, &q, QuantSearch::default(), true), exact);
    let graph = search(&disk, &q, QuantSearch::default(), false);
    assert_eq!(disk.get(PointId::Num(7)), ram.get(PointId::Num(7)));

    disk.update_spec(&VectorSpec {
        on_disk: false,
        ..spec.clone()
    });
    assert_eq!(disk.mapped_bytes(), 0);
    assert_eq!(disk.pending_index(), 0, "the graph stays");
    assert_eq!(search(&disk, &q, QuantSearch::default(), false), graph);
    assert_eq!(search(&disk, &q, QuantSearch::default(), true), exact);

    // Back to disk with other index parameters: the graph is built anew for them.
    let m8 = HnswParams { m: 8, ..PARAMS };
    disk.update_spec(&VectorSpec {
        hnsw: Some(m8),
        ..spec
    });
    assert_eq!(disk.mapped_bytes(), 2000 * 32 * 4);
    assert_eq!(disk.pending_index(), 2000, "a new graph for m 8");
    disk.build_index();
    assert_eq!(search(&disk, &q, QuantSearch::default(), true), exact);
}
