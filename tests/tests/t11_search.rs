//! Search over REST: exact results equal a brute-force scan computed here; filters, payload
//! indexes, query by id, batches, groups and the HNSW path.

use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::time::Duration;
use tests::{wait_for, Http, Node};

fn ok(r: (u16, Value)) -> Value {
    assert_eq!(r.0, 200, "unexpected reply: {}", r.1);
    r.1["result"].clone()
}

fn dataset(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let centers: Vec<Vec<f32>> = (0..8)
        .map(|_| (0..dim).map(|_| rng.gen_range(-1.0..1.0)).collect())
        .collect();
    (0..n)
        .map(|i| {
            centers[i % 8]
                .iter()
                .map(|c| c + rng.gen_range(-0.3f32..0.3))
                .collect()
        })
        .collect()
}

fn upload(h: &Http, name: &str, data: &[Vec<f32>]) {
    for (chunk_no, chunk) in data.chunks(500).enumerate() {
        let points: Vec<Value> = chunk
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let id = chunk_no * 500 + i;
                json!({"id": id, "vector": v, "payload": {"group": format!("g{}", id % 10), "num": id, "rare": id % 100 == 7}})
            })
            .collect();
        ok(h.put(
            &format!("/collections/{name}/points?wait=true"),
            &json!({"points": points}),
        )
        .unwrap());
    }
}

fn brute(
    data: &[Vec<f32>],
    q: &[f32],
    k: usize,
    keep: impl Fn(usize) -> bool,
) -> Vec<(usize, f32)> {
    let norm = |v: &[f32]| {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect::<Vec<f32>>()
    };
    let qn = norm(q);
    let mut all: Vec<(usize, f32)> = data
        .iter()
        .enumerate()
        .filter(|(i, _)| keep(*i))
        .map(|(i, v)| (i, norm(v).iter().zip(&qn).map(|(a, b)| a * b).sum()))
        .collect();
    all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    all.truncate(k);
    all
}

fn ids_scores(res: &Value) -> Vec<(usize, f32)> {
    res["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["id"].as_u64().unwrap() as usize,
                p["score"].as_f64().unwrap() as f32,
            )
        })
        .collect()
}

#[test]
fn exact_search_equals_brute_force_with_filters_and_offsets() {
    let n = Node::start().unwrap();
    let h = n.http();
    ok(h.put(
        "/collections/e",
        &json!({"vectors": {"size": 16, "distance": "Cosine"}, "shard_number": 2}),
    )
    .unwrap());
    let data = dataset(3000, 16, 1);
    upload(&h, "e", &data);
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    for round in 0..5 {
        let q: Vec<f32> = (0..16).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let res = ok(h
            .post(
                "/collections/e/points/query",
                &json!({"query": q, "limit": 10, "params": {"exact": true}}),
            )
            .unwrap());
        let got = ids_scores(&res);
        let want = brute(&data, &q, 10, |_| true);
        assert_eq!(
            got.iter().map(|x| x.0).collect::<Vec<_>>(),
            want.iter().map(|x| x.0).collect::<Vec<_>>(),
            "round {round}"
        );
        for (g, w) in got.iter().zip(&want) {
            assert!((g.1 - w.1).abs() < 1e-4, "score {} vs {}", g.1, w.1);
        }
        let page2 = ok(h
            .post(
                "/collections/e/points/query",
                &json!({"query": q, "limit": 5, "offset": 5, "params": {"exact": true}}),
            )
            .unwrap());
        assert_eq!(
            ids_scores(&page2).iter().map(|x| x.0).collect::<Vec<_>>(),
            want[5..].iter().map(|x| x.0).collect::<Vec<_>>()
        );
        let filter = json!({"must": [{"key": "group", "match": {"any": ["g3", "g4"]}}], "must_not": [{"key": "num", "range": {"lt": 100}}]});
        let fres = ok(h
            .post(
                "/collections/e/points/query",
                &json!({"query": q, "limit": 10, "filter": filter, "with_payload": true}),
            )
            .unwrap());
        let fwant = brute(&data, &q, 10, |i| (i % 10 == 3 || i % 10 == 4) && i >= 100);
        assert_eq!(
            ids_scores(&fres).iter().map(|x| x.0).collect::<Vec<_>>(),
            fwant.iter().map(|x| x.0).collect::<Vec<_>>()
        );
        assert!(fres["points"][0]["payload"]["group"].is_string());
        let thr = (want[3].1 + want[4].1) / 2.0;
        let tres = ok(h
            .post(
                "/collections/e/points/query",
                &json!({"query": q, "limit": 10, "score_threshold": thr}),
            )
            .unwrap());
        assert_eq!(tres["points"].as_array().unwrap().len(), 4);
    }
    // By id: nearest to point 5's vector, point 5 left out.
    let by_id = ok(h
        .post(
            "/collections/e/points/query",
            &json!({"query": 5, "limit": 3}),
        )
        .unwrap());
    let want = brute(&data, &data[5], 4, |i| i != 5);
    assert_eq!(
        ids_scores(&by_id).iter().map(|x| x.0).collect::<Vec<_>>(),
        want.iter().take(3).map(|x| x.0).collect::<Vec<_>>()
    );
    // Batch and groups.
    let batch = ok(h.post("/collections/e/points/query/batch", &json!({"searches": [{"query": data[1], "limit": 2}, {"query": {"nearest": data[2]}, "limit": 1}]})).unwrap());
    assert_eq!(batch[0]["points"][0]["id"], 1);
    assert_eq!(batch[1]["points"][0]["id"], 2);
    let groups = ok(h
        .post(
            "/collections/e/points/query/groups",
            &json!({"query": data[0], "group_by": "group", "limit": 4, "group_size": 2}),
        )
        .unwrap());
    let groups = groups["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 4);
    assert!(groups
        .iter()
        .all(|g| g["hits"].as_array().unwrap().len() == 2));
    assert_eq!(groups[0]["id"], "g0");
    // Legacy search endpoint.
    let legacy = ok(h
        .post(
            "/collections/e/points/search",
            &json!({"vector": data[7], "limit": 1}),
        )
        .unwrap());
    assert_eq!(legacy[0]["id"], 7);

    // Filters on unindexed keys of a collection this size are reported, with the fix.
    let issue_ids = |h: &Http| -> Vec<String> {
        ok(h.get("/issues").unwrap())["issues"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        issue_ids(&h),
        vec!["UNINDEXED_FIELD/e/group", "UNINDEXED_FIELD/e/num"]
    );
    let issues = ok(h.get("/issues").unwrap());
    let action = &issues["issues"][0]["solution"]["immediate_choice"]["action"];
    assert_eq!(action["uri"], "/collections/e/index");
    assert_eq!(
        action["body"],
        json!({"field_name": "group", "field_schema": "keyword"})
    );
    assert_eq!(
        issues["issues"][1]["solution"]["immediate_choice"]["action"]["body"]["field_schema"],
        "float"
    );
    // Taking the fix solves the issue; DELETE clears the rest.
    ok(h.put(
        "/collections/e/index?wait=true",
        &json!({"field_name": "group", "field_schema": "keyword"}),
    )
    .unwrap());
    let f =
        json!({"filter": {"must": [{"key": "group", "match": {"value": "g1"}}]}, "exact": true});
    ok(h.post("/collections/e/points/count", &f).unwrap());
    assert_eq!(issue_ids(&h), vec!["UNINDEXED_FIELD/e/num"]);
    assert_eq!(ok(h.delete("/issues").unwrap()), json!(true));
    assert!(issue_ids(&h).is_empty());
}

#[test]
fn hnsw_index_builds_in_background_and_keeps_recall() {
    let n = Node::start().unwrap();
    let h = n.http();
    // 1 kB full-scan threshold: 8000 points of 32 dims go through the graph.
    ok(h.put("/collections/h", &json!({"vectors": {"size": 32, "distance": "Cosine"}, "hnsw_config": {"full_scan_threshold": 1}})).unwrap());
    let data = dataset(8000, 32, 2);
    upload(&h, "h", &data);
    ok(h.put(
        "/collections/h/index",
        &json!({"field_name": "rare", "field_schema": "bool"}),
    )
    .unwrap());
    ok(h.put(
        "/collections/h/index",
        &json!({"field_name": "group", "field_schema": {"type": "keyword"}}),
    )
    .unwrap());
    // While points wait for the graph, the indexing shows as a running optimization.
    let opt = ok(h.get("/collections/h/optimizations").unwrap());
    for run in opt["running"].as_array().unwrap() {
        let p = &run["progress"];
        assert!(p["done"].as_u64() < p["total"].as_u64(), "{opt}");
        assert_eq!(p["total"], 8000, "{opt}");
        assert_eq!(run["segments"][0]["points_count"], 8000, "{opt}");
    }
    let info = wait_for("index to be built", Duration::from_secs(120), || {
        let info = ok(h.get("/collections/h").unwrap());
        (info["status"] == "green").then_some(info)
    })
    .unwrap();
    let opt = ok(h
        .get("/collections/h/optimizations?with=idle_segments,queued")
        .unwrap());
    assert_eq!(opt["running"], json!([]), "{opt}");
    assert_eq!(opt["summary"]["idle_segments"], 1, "{opt}");
    assert_eq!(opt["idle_segments"][0]["points_count"], 8000, "{opt}");
    assert_eq!(opt["queued"], json!([]), "{opt}");
    assert!(opt.get("completed").is_none(), "{opt}");
    assert!(info["indexed_vectors_count"].as_u64().unwrap() >= 8000);
    assert_eq!(info["payload_schema"]["group"]["data_type"], "keyword");
    assert_eq!(info["payload_schema"]["group"]["points"], 8000);
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let (mut hits, mut rare_hits) = (0, 0);
    for _ in 0..30 {
        // Queries from the data's own distribution: a stored point plus noise.
        let base = &data[rng.gen_range(0..data.len())];
        let q: Vec<f32> = base.iter().map(|x| x + rng.gen_range(-0.1..0.1)).collect();
        let got = ids_scores(&ok(h
            .post(
                "/collections/h/points/query",
                &json!({"query": q, "limit": 10}),
            )
            .unwrap()));
        let want = brute(&data, &q, 10, |_| true);
        hits += got
            .iter()
            .filter(|g| want.iter().any(|w| w.0 == g.0))
            .count();
        // A 1% filter: answered exactly from the payload index.
        let f = json!({"must": [{"key": "rare", "match": {"value": true}}]});
        let got = ids_scores(&ok(h
            .post(
                "/collections/h/points/query",
                &json!({"query": q, "limit": 10, "filter": f}),
            )
            .unwrap()));
        let want = brute(&data, &q, 10, |i| i % 100 == 7);
        rare_hits += got
            .iter()
            .filter(|g| want.iter().any(|w| w.0 == g.0))
            .count();
    }
    let recall = hits as f64 / 300.0;
    assert!(recall >= 0.9, "recall@10 {recall}");
    assert_eq!(
        rare_hits, 300,
        "filtered search must be exact for a selective indexed filter"
    );
    // Deleted points never come back.
    ok(h.post(
        "/collections/h/points/delete?wait=true",
        &json!({"filter": {"must": [{"key": "group", "match": {"value": "g0"}}]}}),
    )
    .unwrap());
    let got = ok(h
        .post(
            "/collections/h/points/query",
            &json!({"query": data[0], "limit": 50, "with_payload": true}),
        )
        .unwrap());
    assert!(got["points"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["payload"]["group"] != "g0"));
    assert_eq!(
        ok(h.post("/collections/h/points/count", &json!({})).unwrap())["count"],
        7200
    );
}

/// Top `k` of `data` for `q` (ids with scores, best first): cosine, or Euclid distance.
fn top(
    data: &[Vec<f32>],
    q: &[f32],
    k: usize,
    cosine: bool,
    keep: impl Fn(usize) -> bool,
) -> Vec<(usize, f32)> {
    if cosine {
        return brute(data, q, k, keep);
    }
    let mut all: Vec<(usize, f32)> = data
        .iter()
        .enumerate()
        .filter(|(i, _)| keep(*i))
        .map(|(i, v)| {
            (
                i,
                v.iter()
                    .zip(q)
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f32>()
                    .sqrt(),
            )
        })
        .collect();
    all.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    all.truncate(k);
    all
}

#[test]
fn prefetch_fusion_and_rescoring_equal_a_computation_here() {
    let n = Node::start().unwrap();
    let h = n.http();
    ok(h.put(
        "/collections/p",
        &json!({"vectors": {"small": {"size": 4, "distance": "Cosine"}, "big": {"size": 16, "distance": "Euclid"}}, "shard_number": 2}),
    )
    .unwrap());
    let big = dataset(1000, 16, 3);
    let small: Vec<Vec<f32>> = big.iter().map(|v| v[..4].to_vec()).collect();
    let points: Vec<Value> = (0..1000)
        .map(|i| json!({"id": i, "vector": {"small": small[i], "big": big[i]}, "payload": {"group": format!("g{}", i % 10), "num": i}}))
        .collect();
    ok(h.put(
        "/collections/p/points?wait=true",
        &json!({ "points": points }),
    )
    .unwrap());
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let qb: Vec<f32> = (0..16).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let qs = qb[..4].to_vec();
    let exact = json!({"exact": true});

    // RRF: 1 / (rank + 2) summed over both lists, ties by id.
    let rrf = ok(h
        .post(
            "/collections/p/points/query",
            &json!({"prefetch": [
                {"query": qs, "using": "small", "limit": 20, "params": exact},
                {"query": qb, "using": "big", "limit": 20, "params": exact}],
                "query": {"fusion": "rrf"}, "limit": 10}),
        )
        .unwrap());
    let mut want: std::collections::HashMap<usize, f32> = Default::default();
    for list in [
        top(&small, &qs, 20, true, |_| true),
        top(&big, &qb, 20, false, |_| true),
    ] {
        for (rank, (id, _)) in list.iter().enumerate() {
            *want.entry(*id).or_default() += 1.0 / (rank as f32 + 2.0);
        }
    }
    let mut want: Vec<(usize, f32)> = want.into_iter().collect();
    want.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let got = ids_scores(&rrf);
    assert_eq!(
        got.iter().map(|x| x.0).collect::<Vec<_>>(),
        want[..10].iter().map(|x| x.0).collect::<Vec<_>>(),
        "{rrf}"
    );
    for (g, w) in got.iter().zip(&want) {
        assert!((g.1 - w.1).abs() < 1e-5, "rrf score {} vs {}", g.1, w.1);
    }

    // Re-scoring: the root filter narrows the prefetch too; payloads come with the answer.
    let rescored = ok(h
        .post(
            "/collections/p/points/query",
            &json!({"prefetch": {"query": qs, "using": "small", "limit": 50, "params": exact,
                                 "filter": {"must": [{"key": "group", "match": {"value": "g3"}}]}},
                    "query": qb, "using": "big", "limit": 5, "with_payload": true,
                    "filter": {"must": [{"key": "num", "range": {"gte": 100}}]}}),
        )
        .unwrap());
    let keep = |i: usize| i % 10 == 3 && i >= 100;
    let candidates: Vec<usize> = top(&small, &qs, 50, true, keep)
        .iter()
        .map(|x| x.0)
        .collect();
    let want = top(&big, &qb, 5, false, |i| candidates.contains(&i));
    let got = ids_scores(&rescored);
    assert_eq!(
        got.iter().map(|x| x.0).collect::<Vec<_>>(),
        want.iter().map(|x| x.0).collect::<Vec<_>>()
    );
    for (g, w) in got.iter().zip(&want) {
        assert!((g.1 - w.1).abs() < 1e-4, "distance {} vs {}", g.1, w.1);
    }
    assert_eq!(rescored["points"][0]["payload"]["group"], "g3");

    // Nested prefetches, then no query: the candidates in id order.
    let nested = ok(h
        .post(
            "/collections/p/points/query",
            &json!({"prefetch": {"prefetch": {"query": qs, "using": "small", "limit": 100, "params": exact},
                                 "query": qb, "using": "big", "limit": 20},
                    "limit": 10}),
        )
        .unwrap());
    let first: Vec<usize> = top(&small, &qs, 100, true, |_| true)
        .iter()
        .map(|x| x.0)
        .collect();
    let mut want: Vec<usize> = top(&big, &qb, 20, false, |i| first.contains(&i))
        .iter()
        .map(|x| x.0)
        .collect();
    want.sort();
    assert_eq!(
        ids_scores(&nested).iter().map(|x| x.0).collect::<Vec<_>>(),
        want[..10].to_vec()
    );

    // DBSF: every answer comes from the prefetches, best first.
    let dbsf = ok(h
        .post(
            "/collections/p/points/query",
            &json!({"prefetch": [{"query": qs, "using": "small", "limit": 10}, {"query": qb, "using": "big", "limit": 10}],
                    "query": {"fusion": "dbsf"}, "limit": 5}),
        )
        .unwrap());
    let got = ids_scores(&dbsf);
    assert_eq!(got.len(), 5);
    assert!(got.windows(2).all(|w| w[0].1 >= w[1].1), "{dbsf}");

    // Recommend (average_vector): 2·avg(positive) − avg(negative); example points left out
    // (a vector given as an example is not a point).
    let rec = ok(h
        .post(
            "/collections/p/points/query",
            &json!({"query": {"recommend": {"positive": [1, big[2]], "negative": [3]}}, "using": "big", "limit": 5}),
        )
        .unwrap());
    let q: Vec<f32> = (0..16)
        .map(|d| (big[1][d] + big[2][d]) - big[3][d])
        .collect();
    let want = top(&big, &q, 5, false, |i| i != 1 && i != 3);
    let got = ids_scores(&rec);
    assert_eq!(
        got.iter().map(|x| x.0).collect::<Vec<_>>(),
        want.iter().map(|x| x.0).collect::<Vec<_>>(),
        "{rec}"
    );
    assert!((got[0].1 - want[0].1).abs() < 1e-4);

    for (body, needle) in [
        (json!({"query": {"fusion": "rrf"}}), "prefetch"),
        (
            json!({"prefetch": [{"query": qs, "using": "small"}], "query": {"rrf": {"weights": [1.0, 2.0]}}}),
            "weights",
        ),
        (
            json!({"prefetch": [{"query": qs, "using": "small"}], "query": {"fusion": "sum"}}),
            "fusion",
        ),
        (
            json!({"query": {"recommend": {"negative": [1]}}, "using": "big"}),
            "positive",
        ),
        (
            json!({"query": {"recommend": {"positive": [1], "strategy": "worst"}}, "using": "big"}),
            "best_score",
        ),
    ] {
        let (code, reply) = h.post("/collections/p/points/query", &body).unwrap();
        assert_eq!(code, 400, "{reply}");
        let msg = reply["status"]["error"].as_str().unwrap_or_default();
        assert!(msg.contains(needle), "`{msg}` lacks `{needle}`");
    }
}
