//! Bad input gets a 4xx with Qdrant's error body; the node keeps serving and loses nothing.

use serde_json::{json, Value};
use tests::Node;

fn assert_err(r: (u16, Value), status: u16, needle: &str) {
    assert_eq!(r.0, status, "{}", r.1);
    let msg = r.1["status"]["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error body: {}", r.1));
    assert!(
        msg.to_lowercase().contains(&needle.to_lowercase()),
        "`{msg}` lacks `{needle}`"
    );
}

#[test]
fn bad_requests_are_clear_4xx() {
    let n = Node::start().unwrap();
    let h = n.http();
    assert_eq!(
        h.put(
            "/collections/b",
            &json!({"vectors": {"size": 3, "distance": "Dot"}})
        )
        .unwrap()
        .0,
        200
    );
    assert_eq!(
        h.put(
            "/collections/b/points?wait=true",
            &json!({"points": [{"id": 1, "vector": [1, 2, 3], "payload": {"a": 1}}]})
        )
        .unwrap()
        .0,
        200
    );

    assert_err(
        h.put(
            "/collections/b/points",
            &json!({"points": [{"id": 2, "vector": [1, 2]}]}),
        )
        .unwrap(),
        400,
        "dimension",
    );
    assert_err(
        h.post(
            "/collections/nope/points/query",
            &json!({"query": [1, 2, 3]}),
        )
        .unwrap(),
        404,
        "doesn't exist",
    );
    assert_err(
        h.raw("PUT", "/collections/b/points", "{\"points\": [")
            .unwrap(),
        400,
        "json",
    );
    assert_err(
        h.raw("POST", "/collections/b/points/query", "not json")
            .unwrap(),
        400,
        "json",
    );
    assert_err(
        h.put(
            "/collections/d",
            &json!({"vectors": {"size": 3, "distance": "Cosin"}}),
        )
        .unwrap(),
        400,
        "Cosin",
    );
    assert_err(
        h.put(
            "/collections/d",
            &json!({"vectors": {"size": 0, "distance": "Dot"}}),
        )
        .unwrap(),
        400,
        "size",
    );
    assert_err(
        h.put(
            "/collections/bad%2Fname",
            &json!({"vectors": {"size": 3, "distance": "Dot"}}),
        )
        .unwrap(),
        400,
        "name",
    );
    assert_err(
        h.post(
            "/collections/b/points/query",
            &json!({"query": [1, 2, 3], "limit": -1}),
        )
        .unwrap(),
        400,
        "limit",
    );
    assert_err(
        h.post(
            "/collections/b/points/query",
            &json!({"query": [1, 2, 3], "limit": 0}),
        )
        .unwrap(),
        400,
        "limit",
    );
    assert_err(
        h.put(
            "/collections/b/points",
            &json!({"points": [{"id": "not-a-uuid", "vector": [1, 2, 3]}]}),
        )
        .unwrap(),
        400,
        "uuid",
    );
    assert_err(
        h.get("/collections/b/points/not-a-uuid").unwrap(),
        400,
        "point id",
    );
    assert_err(
        h.put(
            "/collections/b/points",
            &json!({"points": [{"id": -5, "vector": [1, 2, 3]}]}),
        )
        .unwrap(),
        400,
        "unsigned",
    );
    assert_err(
        h.post(
            "/collections/b/points/query",
            &json!({"query": [1, 2, 3], "filter": {"must": [{"key": "a", "match": {"nope": 1}}]}}),
        )
        .unwrap(),
        400,
        "match",
    );
    assert_err(
        h.post(
            "/collections/b/points/query",
            &json!({"query": [1, 2, 3], "using": "ghost"}),
        )
        .unwrap(),
        400,
        "vector name",
    );
    assert_err(
        h.post("/collections/b/points/query", &json!({"query": 77}))
            .unwrap(),
        404,
        "77",
    );
    assert_err(
        h.put(
            "/collections/b/index",
            &json!({"field_name": "a", "field_schema": "blob"}),
        )
        .unwrap(),
        400,
        "field_schema",
    );
    assert_err(
        h.post("/collections/b/points/delete", &json!({})).unwrap(),
        400,
        "points",
    );
    assert_err(
        h.put(
            "/collections/b/points",
            &json!({"batch": {"ids": [1, 2], "vectors": [[1, 2, 3]]}}),
        )
        .unwrap(),
        400,
        "vectors",
    );
    assert_err(
        h.post("/collections/b/facet", &json!({"key": "a"}))
            .unwrap(),
        400,
        "index required",
    );
    assert_err(
        h.post("/collections/b/facet", &json!({"key": "a", "limit": 0}))
            .unwrap(),
        400,
        "limit",
    );
    assert_err(
        h.post("/collections/b/facet", &json!({"limit": 3}))
            .unwrap(),
        400,
        "key",
    );
    assert_err(
        h.post(
            "/collections/b/points/search/matrix/pairs",
            &json!({"sample": 1}),
        )
        .unwrap(),
        400,
        "sample",
    );
    assert_err(
        h.post(
            "/collections/b/points/search/matrix/pairs",
            &json!({"sample": 1_000_000_000_000u64}),
        )
        .unwrap(),
        400,
        "too large",
    );
    assert_err(
        h.post(
            "/collections/b/points/search/matrix/offsets",
            &json!({"using": "nope"}),
        )
        .unwrap(),
        400,
        "nope",
    );
    assert_err(
        h.post(
            "/collections/b/points/query",
            &json!({"query": 1, "lookup_from": {"collection": "other"}}),
        )
        .unwrap(),
        400,
        "lookup_from",
    );
    assert_err(h.get("/no/such/endpoint").unwrap(), 404, "not found");
    // Single node: cluster telemetry lists the collections, the cluster is disabled.
    let (code, t) = h.get("/cluster/telemetry").unwrap();
    assert_eq!(code, 200, "{t}");
    assert_eq!(t["result"]["cluster"]["enabled"], false, "{t}");
    assert_eq!(
        t["result"]["collections"]["b"]["shards"][0]["replicas"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "{t}"
    );

    // A huge limit is served, not allocated.
    let (s, v) = h
        .post(
            "/collections/b/points/query",
            &json!({"query": [1, 2, 3], "limit": 1_000_000_000_000u64}),
        )
        .unwrap();
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["result"]["points"].as_array().unwrap().len(), 1);
    let (s, _) = h
        .post(
            "/collections/b/points/scroll",
            &json!({"limit": 1_000_000_000_000u64}),
        )
        .unwrap();
    assert_eq!(s, 200);

    // Still serving, nothing lost.
    let (s, v) = h.get("/collections/b/points/1").unwrap();
    assert_eq!(s, 200);
    assert_eq!(v["result"]["payload"], json!({"a": 1}));
    assert_eq!(
        h.post("/collections/b/points/count", &json!({})).unwrap().1["result"]["count"],
        1
    );
    assert!(!n.log().contains("panicked"));
}
