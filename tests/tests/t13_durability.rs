//! Acknowledged writes survive kill -9; a restart reopens collections, payload indexes and aliases.

use serde_json::{json, Value};
use tests::Node;

fn ok(r: (u16, Value)) -> Value {
    assert_eq!(r.0, 200, "unexpected reply: {}", r.1);
    r.1["result"].clone()
}

#[test]
fn acknowledged_writes_survive_kill9() {
    let mut n = Node::start().unwrap();
    let h = n.http();
    ok(h.put(
        "/collections/d",
        &json!({"vectors": {"size": 4, "distance": "Euclid"}, "shard_number": 2}),
    )
    .unwrap());
    ok(h.put(
        "/collections/d/index",
        &json!({"field_name": "k", "field_schema": "integer"}),
    )
    .unwrap());
    ok(h.post(
        "/collections/aliases",
        &json!({"actions": [{"create_alias": {"collection_name": "d", "alias_name": "dd"}}]}),
    )
    .unwrap());
    for batch in 0..20 {
        let points: Vec<Value> = (0..50)
            .map(|i| {
                let id = batch * 50 + i;
                json!({"id": id, "vector": [id as f32, 1.0, 2.0, 3.0], "payload": {"k": id}})
            })
            .collect();
        ok(h.put(
            "/collections/d/points?wait=true",
            &json!({"points": points}),
        )
        .unwrap());
    }
    ok(h.post(
        "/collections/d/points/delete?wait=true",
        &json!({"points": [0, 1, 2]}),
    )
    .unwrap());
    ok(h.post(
        "/collections/d/points/payload?wait=true",
        &json!({"payload": {"tag": "kept"}, "points": [500]}),
    )
    .unwrap());
    let before = ok(h
        .post(
            "/collections/d/points/query",
            &json!({"query": [10.0, 1.0, 2.0, 3.0], "limit": 5}),
        )
        .unwrap());

    n.restart().unwrap(); // kill -9, then start on the same storage
    let h = n.http();
    assert_eq!(
        ok(h.post("/collections/dd/points/count", &json!({})).unwrap())["count"],
        997
    );
    assert_eq!(
        ok(h.get("/collections/d/points/500").unwrap())["payload"],
        json!({"k": 500, "tag": "kept"})
    );
    let (s, _) = h.get("/collections/d/points/1").unwrap();
    assert_eq!(s, 404);
    let info = ok(h.get("/collections/d").unwrap());
    assert_eq!(info["payload_schema"]["k"]["data_type"], "integer");
    assert_eq!(info["config"]["params"]["shard_number"], 2);
    let after = ok(h
        .post(
            "/collections/d/points/query",
            &json!({"query": [10.0, 1.0, 2.0, 3.0], "limit": 5}),
        )
        .unwrap());
    assert_eq!(before, after);
    let count = ok(h
        .post(
            "/collections/d/points/count",
            &json!({"filter": {"must": [{"key": "k", "range": {"gte": 900}}]}}),
        )
        .unwrap());
    assert_eq!(count["count"], 100);

    // A graceful stop and start keeps everything too.
    n.stop().unwrap();
    n.restart().unwrap();
    assert_eq!(
        ok(n.http()
            .post("/collections/d/points/count", &json!({}))
            .unwrap())["count"],
        997
    );
}

#[test]
fn deleted_collection_stays_deleted_after_restart() {
    let mut n = Node::start().unwrap();
    let h = n.http();
    ok(h.put(
        "/collections/x",
        &json!({"vectors": {"size": 2, "distance": "Dot"}}),
    )
    .unwrap());
    ok(h.put(
        "/collections/x/points?wait=true",
        &json!({"points": [{"id": 1, "vector": [1, 2]}]}),
    )
    .unwrap());
    ok(h.delete("/collections/x").unwrap());
    ok(h.put(
        "/collections/x",
        &json!({"vectors": {"size": 3, "distance": "Dot"}}),
    )
    .unwrap());
    n.restart().unwrap();
    let h = n.http();
    let info = ok(h.get("/collections/x").unwrap());
    assert_eq!(info["points_count"], 0);
    assert_eq!(info["config"]["params"]["vectors"]["size"], 3);
}
