//! Single node over REST: collections, points, payloads, scroll, count, config layering.

use serde_json::{json, Value};
use tests::{Http, Node};

fn ok(r: (u16, Value)) -> Value {
    assert_eq!(r.0, 200, "unexpected reply: {}", r.1);
    assert_eq!(r.1["status"], "ok", "{}", r.1);
    r.1["result"].clone()
}

fn create(h: &Http, name: &str, body: Value) {
    assert_eq!(
        ok(h.put(&format!("/collections/{name}"), &body).unwrap()),
        json!(true)
    );
}

#[test]
fn service_endpoints() {
    let n = Node::start().unwrap();
    let h = n.http();
    let (s, v) = h.get("/").unwrap();
    assert_eq!(s, 200);
    assert_eq!(v["title"], "qdrant - vector search engine");
    for p in ["/healthz", "/livez", "/readyz"] {
        assert_eq!(h.text(p).unwrap().0, 200, "{p}");
    }
    assert_eq!(ok(h.get("/cluster").unwrap())["status"], "disabled");
    // Peer removal needs cluster mode: a clear 400, not a 404 or 500.
    let (s, v) = h.delete("/cluster/peer/1").unwrap();
    assert_eq!(s, 400, "{v}");
    assert!(
        v["status"]["error"]
            .as_str()
            .unwrap_or("")
            .contains("cluster mode"),
        "{v}"
    );
    create(&h, "m", json!({"vectors": {"size": 2, "distance": "Dot"}}));
    let (_, body) = h.text("/metrics").unwrap();
    assert!(body.contains("collections_total 1"), "{body}");
    assert!(body.contains("rest_responses_total{endpoint=\"/collections/{collection_name}\",method=\"PUT\",status=\"200\"} 1"), "{body}");
    for line in [
        "collection_points{id=\"m\"} 0",
        "collection_vectors{collection=\"m\",vector=\"\"} 0",
        "cluster_enabled 0",
        "collection_active_replicas_min 1",
        "# TYPE rest_responses_duration_seconds histogram",
        "# TYPE process_minor_page_faults_total counter",
    ] {
        assert!(body.contains(line), "no {line} in {body}");
    }
    assert!(
        body.contains("app_info{name=\"qdrant-node\",version=\""),
        "{body}"
    );
    let threads = body
        .lines()
        .find_map(|l| l.strip_prefix("process_threads "));
    assert!(
        threads.and_then(|n| n.parse::<f64>().ok()) >= Some(2.0),
        "{body}"
    );
}

#[test]
fn collection_lifecycle_and_aliases() {
    let n = Node::start().unwrap();
    let h = n.http();
    create(
        &h,
        "c1",
        json!({"vectors": {"size": 4, "distance": "Cosine"}, "shard_number": 2, "replication_factor": 1,
               "write_concern_factor": 1, "hnsw_config": {"m": 8, "ef_construct": 64}, "on_disk_payload": false}),
    );
    let info = ok(h.get("/collections/c1").unwrap());
    assert_eq!(info["status"], "green");
    assert_eq!(info["points_count"], 0);
    assert_eq!(
        info["config"]["params"]["vectors"],
        json!({"size": 4, "distance": "Cosine"})
    );
    assert_eq!(info["config"]["params"]["shard_number"], 2);
    assert_eq!(info["config"]["params"]["write_consistency_factor"], 1);
    assert_eq!(info["config"]["hnsw_config"]["m"], 8);

    let (s, e) = h
        .put(
            "/collections/c1",
            &json!({"vectors": {"size": 4, "distance": "Cosine"}}),
        )
        .unwrap();
    assert_eq!(s, 409, "{e}");
    assert!(e["status"]["error"]
        .as_str()
        .unwrap()
        .contains("already exists"));

    ok(h.patch("/collections/c1", &json!({"hnsw_config": {"ef_construct": 200}, "optimizers_config": {"indexing_threshold": 5}})).unwrap());
    let info = ok(h.get("/collections/c1").unwrap());
    assert_eq!(info["config"]["hnsw_config"]["ef_construct"], 200);
    assert_eq!(info["config"]["optimizer_config"]["indexing_threshold"], 5);

    assert_eq!(ok(h.get("/collections/c1/exists").unwrap())["exists"], true);
    assert_eq!(
        ok(h.get("/collections/nope/exists").unwrap())["exists"],
        false
    );
    assert_eq!(
        ok(h.get("/collections").unwrap())["collections"],
        json!([{"name": "c1"}])
    );

    ok(h.post(
        "/collections/aliases",
        &json!({"actions": [{"create_alias": {"collection_name": "c1", "alias_name": "a1"}}]}),
    )
    .unwrap());
    assert_eq!(
        ok(h.get("/aliases").unwrap())["aliases"],
        json!([{"alias_name": "a1", "collection_name": "c1"}])
    );
    ok(h.put(
        "/collections/a1/points?wait=true",
        &json!({"points": [{"id": 1, "vector": [1, 0, 0, 0]}]}),
    )
    .unwrap());
    assert_eq!(
        ok(h.post("/collections/c1/points/count", &json!({})).unwrap())["count"],
        1
    );
    ok(h.post(
        "/collections/aliases",
        &json!({"actions": [{"rename_alias": {"old_alias_name": "a1", "new_alias_name": "a2"}}]}),
    )
    .unwrap());
    assert_eq!(
        ok(h.get("/collections/c1/aliases").unwrap())["aliases"][0]["alias_name"],
        "a2"
    );
    let (s, _) = h
        .post(
            "/collections/aliases",
            &json!({"actions": [{"create_alias": {"collection_name": "zzz", "alias_name": "x"}}]}),
        )
        .unwrap();
    assert_eq!(s, 404);

    assert_eq!(ok(h.delete("/collections/c1").unwrap()), json!(true));
    assert_eq!(ok(h.delete("/collections/c1").unwrap()), json!(false));
    let (s, e) = h.get("/collections/c1").unwrap();
    assert_eq!(s, 404);
    assert_eq!(
        e["status"]["error"],
        "Not found: Collection `c1` doesn't exist!"
    );
    assert!(ok(h.get("/aliases").unwrap())["aliases"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[test]
fn points_crud_payloads_vectors() {
    let n = Node::start().unwrap();
    let h = n.http();
    create(
        &h,
        "p",
        json!({"vectors": {"img": {"size": 2, "distance": "Euclid"}, "txt": {"size": 3, "distance": "Dot"}}}),
    );
    let uuid = "550e8400-e29b-41d4-a716-446655440000";
    let r = ok(h
        .put(
            "/collections/p/points?wait=true",
            &json!({"points": [
                {"id": 1, "vector": {"img": [1, 1], "txt": [1, 0, 0]}, "payload": {"city": "Berlin", "n": 1}},
                {"id": uuid, "vector": {"img": [2, 2]}, "payload": {"city": "London", "tags": ["a", "b"]}}]}),
        )
        .unwrap());
    assert_eq!(r["status"], "completed");
    ok(h.put(
        "/collections/p/points",
        &json!({"batch": {"ids": [2, 3], "vectors": {"img": [[3, 3], [4, 4]], "txt": [[0, 1, 0], [0, 0, 1]]},
                          "payloads": [{"city": "Paris"}, null]}}),
    )
    .unwrap());

    let one = ok(h.get(&format!("/collections/p/points/{uuid}")).unwrap());
    assert_eq!(one["id"], uuid);
    assert_eq!(one["payload"]["city"], "London");
    assert_eq!(one["vector"], json!({"img": [2.0, 2.0]}));
    let (s, _) = h.get("/collections/p/points/999").unwrap();
    assert_eq!(s, 404);

    let many = ok(h
        .post(
            "/collections/p/points",
            &json!({"ids": [3, 1, 42], "with_vector": ["txt"]}),
        )
        .unwrap());
    let many = many.as_array().unwrap();
    assert_eq!(many.len(), 2);
    assert_eq!(many[0]["id"], 3);
    assert_eq!(many[0]["vector"], json!({"txt": [0.0, 0.0, 1.0]}));

    ok(h.post(
        "/collections/p/points/payload?wait=true",
        &json!({"payload": {"x": 1}, "points": [1, 2]}),
    )
    .unwrap());
    ok(h.post(
        "/collections/p/points/payload?wait=true",
        &json!({"payload": {"deep": 5}, "points": [1], "key": "nested"}),
    )
    .unwrap());
    let p1 = ok(h.get("/collections/p/points/1").unwrap())["payload"].clone();
    assert_eq!(
        p1,
        json!({"city": "Berlin", "n": 1, "x": 1, "nested": {"deep": 5}})
    );
    ok(h.put(
        "/collections/p/points/payload?wait=true",
        &json!({"payload": {"only": true}, "points": [2]}),
    )
    .unwrap());
    assert_eq!(
        ok(h.get("/collections/p/points/2").unwrap())["payload"],
        json!({"only": true})
    );
    ok(h.post(
        "/collections/p/points/payload/delete?wait=true",
        &json!({"keys": ["x", "nested.deep"], "points": [1]}),
    )
    .unwrap());
    assert_eq!(
        ok(h.get("/collections/p/points/1").unwrap())["payload"],
        json!({"city": "Berlin", "n": 1, "nested": {}})
    );
    ok(h.post(
        "/collections/p/points/payload/clear?wait=true",
        &json!({"filter": {"must": [{"key": "city", "match": {"value": "Berlin"}}]}}),
    )
    .unwrap());
    assert_eq!(
        ok(h.get("/collections/p/points/1").unwrap())["payload"],
        json!({})
    );

    ok(h.put(
        "/collections/p/points/vectors?wait=true",
        &json!({"points": [{"id": 1, "vector": {"img": [9, 9]}}]}),
    )
    .unwrap());
    assert_eq!(
        ok(h.get("/collections/p/points/1").unwrap())["vector"],
        json!({"img": [9.0, 9.0], "txt": [1.0, 0.0, 0.0]})
    );
    ok(h.post(
        "/collections/p/points/vectors/delete?wait=true",
        &json!({"points": [1], "vector": ["txt"]}),
    )
    .unwrap());
    assert_eq!(
        ok(h.get("/collections/p/points/1").unwrap())["vector"],
        json!({"img": [9.0, 9.0]})
    );

    ok(h.post(
        "/collections/p/points/delete?wait=true",
        &json!({"points": [1]}),
    )
    .unwrap());
    ok(h.post(
        "/collections/p/points/delete?wait=true",
        &json!({"filter": {"must": [{"key": "city", "match": {"value": "London"}}]}}),
    )
    .unwrap());
    assert_eq!(
        ok(
            h.post("/collections/p/points/count", &json!({"exact": true}))
                .unwrap()
        )["count"],
        2
    );

    let batch = ok(h
        .post(
            "/collections/p/points/batch?wait=true",
            &json!({"operations": [
                {"upsert": {"points": [{"id": 10, "vector": {"img": [0, 1]}, "payload": {"k": 1}}]}},
                {"set_payload": {"payload": {"k": 2}, "points": [10]}},
                {"delete": {"points": [3]}}]}),
        )
        .unwrap());
    assert_eq!(batch.as_array().unwrap().len(), 3);
    assert_eq!(
        ok(h.get("/collections/p/points/10").unwrap())["payload"],
        json!({"k": 2})
    );
    assert_eq!(
        ok(h.post("/collections/p/points/count", &json!({})).unwrap())["count"],
        2
    );
}

#[test]
fn scroll_order_by_and_count() {
    let n = Node::start().unwrap();
    let h = n.http();
    create(
        &h,
        "s",
        json!({"vectors": {"size": 2, "distance": "Dot"}, "shard_number": 3}),
    );
    let points: Vec<Value> = (0..95)
        .map(|i| json!({"id": i, "vector": [i, 1], "payload": {"r": 100 - i, "even": i % 2 == 0}}))
        .collect();
    ok(h.put(
        "/collections/s/points?wait=true",
        &json!({"points": points}),
    )
    .unwrap());
    let mut seen = Vec::new();
    let mut offset = Value::Null;
    loop {
        let page = ok(h
            .post(
                "/collections/s/points/scroll",
                &json!({"limit": 10, "offset": offset, "with_payload": false}),
            )
            .unwrap());
        for p in page["points"].as_array().unwrap() {
            assert!(p.get("payload").is_none());
            seen.push(p["id"].as_u64().unwrap());
        }
        offset = page["next_page_offset"].clone();
        if offset.is_null() {
            break;
        }
    }
    assert_eq!(seen, (0..95).collect::<Vec<u64>>());
    let evens = ok(h
        .post(
            "/collections/s/points/count",
            &json!({"filter": {"must": [{"key": "even", "match": {"value": true}}]}}),
        )
        .unwrap());
    assert_eq!(evens["count"], 48);
    let ordered = ok(h
        .post(
            "/collections/s/points/scroll",
            &json!({"limit": 3, "order_by": {"key": "r", "direction": "asc"}}),
        )
        .unwrap());
    let ids: Vec<u64> = ordered["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, vec![94, 93, 92]);
    let desc = ok(h
        .post(
            "/collections/s/points/scroll",
            &json!({"limit": 2, "order_by": {"key": "r", "direction": "desc"}}),
        )
        .unwrap());
    assert_eq!(desc["points"][0]["id"], 0);
    assert_eq!(desc["points"][0]["order_value"], 100.0);
}

#[test]
fn config_file_env_and_unknown_keys() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("qdrant.yaml");
    std::fs::write(
        &cfg,
        "log_level: INFO\nservice:\n  http_port: 1\n  grpc_port: 6334\n  enable_cors: true\nstorage:\n  optimizers:\n    deleted_threshold: 0.2\n  performance:\n    max_search_threads: 0\ntelemetry_disabled: true\n",
    )
    .unwrap();
    let path = cfg.to_string_lossy().to_string();
    // The env var (port 0 from the harness) overrides the file's port 1.
    let n = Node::start_with(
        &[("QDRANT__SERVICE__API_KEY", "secret")],
        &["--config-path", &path],
    )
    .unwrap();
    assert!(
        n.log().contains("storage.optimizers"),
        "no warning about unknown keys: {}",
        n.log()
    );
    let h = n.http();
    assert_eq!(h.get("/collections").unwrap().0, 401);
    assert_eq!(h.get_with_key("/collections", "secret").unwrap().0, 200);
    assert_eq!(h.text("/healthz").unwrap().0, 200);

    let bad = tempfile::tempdir().unwrap();
    let log = bad.path().join("log");
    let env = vec![(
        "QDRANT__SERVICE__MAX_REQUEST_SIZE_MB".to_string(),
        "lots".to_string(),
    )];
    let mut child = Node::spawn_raw(bad.path(), &log, &env, &[]).unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("max_request_size_mb"), "{text}");
    assert!(!text.contains("panicked"), "{text}");
}

#[test]
fn collection_defaults_from_config() {
    let n = Node::start_with(
        &[
            ("QDRANT__STORAGE__COLLECTION__SHARD_NUMBER", "3"),
            ("QDRANT__STORAGE__COLLECTION__REPLICATION_FACTOR", "2"),
            ("QDRANT__STORAGE__COLLECTION__WRITE_CONSISTENCY_FACTOR", "2"),
        ],
        &[],
    )
    .unwrap();
    let h = n.http();
    create(
        &h,
        "defaults",
        json!({"vectors": {"size": 2, "distance": "Dot"}}),
    );
    create(
        &h,
        "explicit",
        json!({"vectors": {"size": 2, "distance": "Dot"}, "shard_number": 1, "replication_factor": 1}),
    );
    let p = ok(h.get("/collections/defaults").unwrap())["config"]["params"].clone();
    assert_eq!(
        (
            &p["shard_number"],
            &p["replication_factor"],
            &p["write_consistency_factor"]
        ),
        (&json!(3), &json!(2), &json!(2)),
        "{p}"
    );
    let p = ok(h.get("/collections/explicit").unwrap())["config"]["params"].clone();
    assert_eq!(
        (&p["shard_number"], &p["replication_factor"]),
        (&json!(1), &json!(1))
    );
}
