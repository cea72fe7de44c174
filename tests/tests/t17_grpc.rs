//! Qdrant's public gRPC API through the Rust `qdrant-client` crate (gRPC only): the whole
//! workflow on a 3-peer cluster, each answer equal to REST's for the same request through
//! another peer; bad input answered with the right status code while the node keeps
//! serving; API keys, gzip, read timeouts and messages far above gRPC's usual 4 MiB. And our
//! `proto/qdrant/*.proto` against the Python client's own descriptors of Qdrant's API.

use anyhow::Result;
use qdrant_client::qdrant::{
    Condition, CountPointsBuilder, CreateCollectionBuilder, CreateFieldIndexCollectionBuilder,
    DeletePayloadPointsBuilder, DeletePointsBuilder, DeleteSnapshotRequestBuilder, Distance,
    FacetCountsBuilder, FieldType, Filter, Fusion, GetPointsBuilder, PointStruct, PointsIdsList,
    PrefetchQueryBuilder, QueryPointGroupsBuilder, QueryPointsBuilder, ScrollPointsBuilder,
    SetPayloadPointsBuilder, UpsertPointsBuilder, VectorParamsBuilder,
};
use qdrant_client::{Payload, Qdrant, QdrantError};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use tests::{Cluster, Node};

const DIM: usize = 8;
const CITIES: [&str; 4] = ["Berlin", "London", "Paris", "Moscow"];

fn vector(i: u64) -> Vec<f32> {
    tests::points::vector(i)
}

fn client(url: &str) -> Qdrant {
    Qdrant::from_url(url)
        .skip_compatibility_check()
        .build()
        .expect("client")
}

fn code(e: QdrantError) -> tonic::Code {
    match e {
        QdrantError::ResponseError { status } => status.code(),
        other => panic!("not a status: {other}"),
    }
}

/// (id, score rounded to 5 places) of REST `points/query` answers.
fn rest_hits(v: &Value) -> Vec<(u64, i64)> {
    v["result"]["points"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p["id"].as_u64().unwrap_or(u64::MAX),
                (p["score"].as_f64().unwrap_or(0.0) * 1e5).round() as i64,
            )
        })
        .collect()
}

fn grpc_hits(points: &[qdrant_client::qdrant::ScoredPoint]) -> Vec<(u64, i64)> {
    points
        .iter()
        .map(|p| {
            let id = match p.id.as_ref().and_then(|i| i.point_id_options.clone()) {
                Some(qdrant_client::qdrant::point_id::PointIdOptions::Num(n)) => n,
                _ => u64::MAX,
            };
            (id, (f64::from(p.score) * 1e5).round() as i64)
        })
        .collect()
}

/// A REST call from inside the async test (the harness's client is a blocking one).
fn rest(node: &Node, path: &str, body: Value) -> Value {
    let (code, v) = tokio::task::block_in_place(|| node.http().post(path, &body).expect("rest"));
    assert_eq!(code, 200, "{v}");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_workflow_on_a_cluster_equals_rest() -> Result<()> {
    let c = tokio::task::spawn_blocking(|| Cluster::start(3)).await??;
    let (a, b, d) = (
        client(&c.nodes[0].grpc),
        client(&c.nodes[1].grpc),
        client(&c.nodes[2].grpc),
    );
    assert_eq!(
        a.health_check().await?.title,
        "qdrant - vector search engine"
    );

    a.create_collection(
        CreateCollectionBuilder::new("rs")
            .vectors_config(VectorParamsBuilder::new(DIM as u64, Distance::Cosine))
            .shard_number(6)
            .replication_factor(2),
    )
    .await?;
    let points: Vec<PointStruct> = (0..1000u64)
        .map(|i| {
            let payload =
                Payload::try_from(json!({"city": CITIES[i as usize % 4], "n": i})).unwrap();
            PointStruct::new(i, vector(i), payload)
        })
        .collect();
    b.upsert_points(UpsertPointsBuilder::new("rs", points).wait(true))
        .await?;
    // Telemetry counts gRPC answers by method path and status code.
    let (code, t) = tokio::task::block_in_place(|| c.nodes[1].http().get("/telemetry"))?;
    assert_eq!(code, 200, "{t}");
    let upserts = &t["result"]["requests"]["grpc"]["responses"]["/qdrant.Points/Upsert"]["0"];
    assert_eq!(upserts["count"], json!(1), "{t}");
    assert_eq!(
        d.count(CountPointsBuilder::new("rs").exact(true))
            .await?
            .result
            .unwrap()
            .count,
        1000
    );

    // Plain, filtered and fused queries: the same answers as REST through another peer.
    let q = vector(42);
    let got = d
        .query(QueryPointsBuilder::new("rs").query(q.clone()).limit(10))
        .await?;
    let want = rest(
        &c.nodes[0],
        "/collections/rs/points/query",
        json!({"query": q, "limit": 10}),
    );
    assert_eq!(grpc_hits(&got.result), rest_hits(&want));
    assert_eq!(grpc_hits(&got.result)[0].0, 42);
    let london = Filter::must([Condition::matches("city", "London".to_string())]);
    let got = a
        .query(
            QueryPointsBuilder::new("rs")
                .query(vector(1))
                .filter(london.clone())
                .limit(20)
                .with_payload(true),
        )
        .await?;
    assert_eq!(got.result.len(), 20);
    assert!(got
        .result
        .iter()
        .all(|p| p.payload["city"].as_str().map(|s| s.as_str()) == Some("London")));
    let want = rest(
        &c.nodes[1],
        "/collections/rs/points/query",
        json!({"query": vector(1), "limit": 20, "filter": {"must": [{"key": "city", "match": {"value": "London"}}]}}),
    );
    assert_eq!(grpc_hits(&got.result), rest_hits(&want));
    let fused = b
        .query(
            QueryPointsBuilder::new("rs")
                .add_prefetch(
                    PrefetchQueryBuilder::default()
                        .query(vector(20))
                        .limit(10u64),
                )
                .add_prefetch(
                    PrefetchQueryBuilder::default()
                        .query(vector(21))
                        .limit(10u64),
                )
                .query(Fusion::Rrf)
                .limit(5),
        )
        .await?;
    let want = rest(
        &c.nodes[2],
        "/collections/rs/points/query",
        json!({"prefetch": [{"query": vector(20), "limit": 10}, {"query": vector(21), "limit": 10}],
               "query": {"fusion": "rrf"}, "limit": 5}),
    );
    assert_eq!(grpc_hits(&fused.result), rest_hits(&want));

    // Groups by a payload key.
    let groups = a
        .query_groups(
            QueryPointGroupsBuilder::new("rs", "city")
                .query(vector(10))
                .limit(3u64)
                .group_size(2u64),
        )
        .await?;
    let groups = groups.result.unwrap().groups;
    assert_eq!(groups.len(), 3);
    assert!(groups.iter().all(|g| g.hits.len() == 2));

    // Every point once, paging through scroll.
    let mut seen = BTreeSet::new();
    let mut offset = None;
    loop {
        let mut req = ScrollPointsBuilder::new("rs")
            .limit(128)
            .with_payload(false);
        if let Some(o) = offset.take() {
            req = req.offset(o);
        }
        let page = d.scroll(req).await?;
        for p in &page.result {
            seen.insert(format!("{:?}", p.id));
        }
        match page.next_page_offset {
            Some(o) => offset = Some(o),
            None => break,
        }
    }
    assert_eq!(seen.len(), 1000);

    // Retrieve with vectors; payload changes.
    let got = b
        .get_points(
            GetPointsBuilder::new("rs", vec![3.into(), 5.into()])
                .with_vectors(true)
                .with_payload(true),
        )
        .await?;
    assert_eq!(got.result.len(), 2);
    a.set_payload(
        SetPayloadPointsBuilder::new("rs", Payload::try_from(json!({"flag": true})).unwrap())
            .points_selector(PointsIdsList {
                ids: vec![3.into()],
            })
            .wait(true),
    )
    .await?;
    let rec = rest(&c.nodes[2], "/collections/rs/points", json!({"ids": [3]}));
    assert_eq!(rec["result"][0]["payload"]["flag"], json!(true));
    d.delete_payload(
        DeletePayloadPointsBuilder::new("rs", vec!["flag".to_string()])
            .points_selector(PointsIdsList {
                ids: vec![3.into()],
            })
            .wait(true),
    )
    .await?;
    let rec = rest(&c.nodes[0], "/collections/rs/points", json!({"ids": [3]}));
    assert!(rec["result"][0]["payload"].get("flag").is_none(), "{rec}");

    // A payload index, then facets.
    b.create_field_index(
        CreateFieldIndexCollectionBuilder::new("rs", "city", FieldType::Keyword).wait(true),
    )
    .await?;
    let info = d.collection_info("rs").await?.result.unwrap();
    assert!(info.payload_schema.contains_key("city"), "{info:?}");
    assert_eq!(info.points_count, Some(1000));
    let facet = a
        .facet(FacetCountsBuilder::new("rs", "city").limit(4))
        .await?;
    assert_eq!(facet.hits.len(), 4);
    assert!(facet.hits.iter().all(|h| h.count == 250));

    // Snapshots on one peer.
    let snap = b.create_snapshot("rs").await?.snapshot_description.unwrap();
    let listed = b.list_snapshots("rs").await?;
    assert!(listed
        .snapshot_descriptions
        .iter()
        .any(|s| s.name == snap.name));
    b.delete_snapshot(DeleteSnapshotRequestBuilder::new("rs", &snap.name))
        .await?;

    // Delete by filter, drop the collection, recreate it empty.
    a.delete_points(DeletePointsBuilder::new("rs").points(london).wait(true))
        .await?;
    assert_eq!(
        b.count(CountPointsBuilder::new("rs").exact(true))
            .await?
            .result
            .unwrap()
            .count,
        750
    );
    d.delete_collection("rs").await?;
    assert!(!a.collection_exists("rs").await?);
    a.create_collection(
        CreateCollectionBuilder::new("rs")
            .vectors_config(VectorParamsBuilder::new(4, Distance::Dot)),
    )
    .await?;
    assert_eq!(
        d.count(CountPointsBuilder::new("rs"))
            .await?
            .result
            .unwrap()
            .count,
        0
    );
    Ok(())
}

/// A read that cannot finish (one peer holding a shard is stopped, so its answer never
/// comes) ends at its `timeout` with Qdrant's timeout error on both APIs, long before the
/// peer call itself would give up; once the peer runs again the same read answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_past_its_timeout_ends_with_a_timeout_error() -> Result<()> {
    let c = tokio::task::spawn_blocking(|| Cluster::start(2)).await??;
    let (n0, n1) = (&c.nodes[0], &c.nodes[1]);
    let body = json!({"vectors": {"size": DIM, "distance": "Cosine"}, "shard_number": 2});
    let (code, v) = tokio::task::block_in_place(|| n0.http().put("/collections/slow", &body))?;
    assert_eq!(code, 200, "{v}");
    let points: Vec<Value> = (0..50)
        .map(|i| json!({"id": i, "vector": vector(i)}))
        .collect();
    let (code, v) = tokio::task::block_in_place(|| {
        n0.http().put(
            "/collections/slow/points?wait=true",
            &json!({ "points": points }),
        )
    })?;
    assert_eq!(code, 200, "{v}");
    let query = json!({"query": vector(3), "limit": 3});
    rest(
        n0,
        "/collections/slow/points/query?timeout=5",
        query.clone(),
    );

    n1.pause();
    let (code, v) = tokio::task::block_in_place(|| {
        n0.http()
            .post("/collections/slow/points/query?timeout=1", &query)
    })?;
    let grpc = client(&n0.grpc)
        .query(
            QueryPointsBuilder::new("slow")
                .query(vector(3))
                .limit(3)
                .timeout(1),
        )
        .await;
    let count = client(&n0.grpc)
        .count(CountPointsBuilder::new("slow").exact(true).timeout(1))
        .await;
    n1.resume();
    assert_eq!(code, 408, "{v}");
    let msg = v["status"]["error"].as_str().unwrap_or_default();
    assert!(msg.starts_with("Timeout error: "), "{v}");
    let status = match grpc {
        Err(QdrantError::ResponseError { status }) => status,
        other => panic!("query past its timeout answered {other:?}"),
    };
    assert_eq!(status.code(), tonic::Code::DeadlineExceeded, "{status:?}");
    assert!(
        status.message().starts_with("Timeout error: "),
        "{status:?}"
    );
    assert_eq!(code_of(count), tonic::Code::DeadlineExceeded);

    let back = tests::wait_for(
        "the read to answer again",
        std::time::Duration::from_secs(30),
        || {
            let (code, v) = tokio::task::block_in_place(|| {
                n0.http()
                    .post("/collections/slow/points/query?timeout=5", &query)
            })
            .ok()?;
            (code == 200).then_some(v)
        },
    )?;
    assert_eq!(rest_hits(&back).len(), 3, "{back}");
    Ok(())
}

fn code_of<T: std::fmt::Debug>(r: Result<T, QdrantError>) -> tonic::Code {
    match r {
        Err(e) => code(e),
        Ok(v) => panic!("expected an error status, got {v:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_keys_gzip_and_large_messages() -> Result<()> {
    let n = tokio::task::spawn_blocking(|| {
        Node::start_with(
            &[
                ("QDRANT__SERVICE__API_KEY", "secret"),
                ("QDRANT__SERVICE__READ_ONLY_API_KEY", "reader"),
            ],
            &[],
        )
    })
    .await??;
    let anonymous = client(&n.grpc);
    let err = anonymous.list_collections().await.unwrap_err();
    assert_eq!(code(err), tonic::Code::Unauthenticated);
    let admin = Qdrant::from_url(&n.grpc)
        .api_key("secret")
        .compression(Some(qdrant_client::config::CompressionEncoding::Gzip))
        .skip_compatibility_check()
        .build()?;
    let reader = Qdrant::from_url(&n.grpc)
        .api_key("reader")
        .skip_compatibility_check()
        .build()?;
    admin
        .create_collection(
            CreateCollectionBuilder::new("c")
                .vectors_config(VectorParamsBuilder::new(DIM as u64, Distance::Dot)),
        )
        .await?;

    // 10,000 points of 512 dims in one upsert: about 21 MB (gRPC's usual cap is 4 MiB).
    admin
        .create_collection(
            CreateCollectionBuilder::new("big")
                .vectors_config(VectorParamsBuilder::new(512, Distance::Dot)),
        )
        .await?;
    let big: Vec<PointStruct> = (0..10_000u64)
        .map(|i| PointStruct::new(i, vec![(i % 97) as f32 / 97.0; 512], Payload::new()))
        .collect();
    let huge = Qdrant::from_url(&n.grpc)
        .api_key("secret")
        .skip_compatibility_check()
        .build()?;
    huge.upsert_points(UpsertPointsBuilder::new("big", big).wait(true))
        .await?;
    assert_eq!(
        admin
            .count(CountPointsBuilder::new("big").exact(true))
            .await?
            .result
            .unwrap()
            .count,
        10_000
    );

    // The read-only key reads, and may not write.
    assert_eq!(
        reader
            .count(CountPointsBuilder::new("big"))
            .await?
            .result
            .unwrap()
            .count,
        10_000
    );
    let err = reader
        .upsert_points(UpsertPointsBuilder::new(
            "c",
            vec![PointStruct::new(1, vec![0.0; DIM], Payload::new())],
        ))
        .await
        .unwrap_err();
    assert_eq!(code(err), tonic::Code::PermissionDenied);

    // Bad input: the right code and Qdrant's message; the node keeps serving.
    let err = admin
        .upsert_points(
            UpsertPointsBuilder::new(
                "c",
                vec![PointStruct::new(1, vec![1.0, 2.0], Payload::new())],
            )
            .wait(true),
        )
        .await
        .unwrap_err();
    match err {
        QdrantError::ResponseError { status } => {
            assert_eq!(status.code(), tonic::Code::InvalidArgument);
            assert!(
                status
                    .message()
                    .contains("Vector dimension error: expected dim: 8, got 2"),
                "{status:?}"
            );
        }
        other => panic!("{other}"),
    }
    let err = admin
        .query(QueryPointsBuilder::new("nope").query(vec![0.0; DIM]))
        .await
        .unwrap_err();
    assert_eq!(code(err), tonic::Code::NotFound);
    let err = admin
        .query(QueryPointsBuilder::new("c").query(vec![0.0; DIM]).limit(0))
        .await
        .unwrap_err();
    assert_eq!(code(err), tonic::Code::InvalidArgument);
    let err = admin
        .create_collection(
            CreateCollectionBuilder::new("c")
                .vectors_config(VectorParamsBuilder::new(4, Distance::Dot)),
        )
        .await
        .unwrap_err();
    assert_eq!(code(err), tonic::Code::AlreadyExists);
    // An oversized limit is answered with what there is.
    let all = admin
        .query(
            QueryPointsBuilder::new("big")
                .query(vec![1.0; 512])
                .limit(1_000_000_000),
        )
        .await?;
    assert_eq!(all.result.len(), 10_000);

    // Malformed bytes where a message belongs, from Python's grpc (a raw call).
    let script = format!(
        "import grpc\nch = grpc.insecure_channel('{}')\ncall = ch.unary_unary('/qdrant.Points/Upsert')\n\
         try:\n    call(b'\\xff\\xff\\xff\\x07garbage', metadata=[('api-key', 'secret')])\n    raise SystemExit('accepted')\n\
         except grpc.RpcError as e:\n    print(e.code())\n",
        n.grpc.trim_start_matches("http://")
    );
    let out = std::process::Command::new(tests::python())
        .arg("-c")
        .arg(&script)
        .output()?;
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        printed.contains("INTERNAL") || printed.contains("INVALID_ARGUMENT"),
        "{printed}"
    );
    assert_eq!(
        admin
            .count(CountPointsBuilder::new("big"))
            .await?
            .result
            .unwrap()
            .count,
        10_000
    );
    assert!(admin.collection_exists("c").await?);
    Ok(())
}

#[test]
fn our_protos_are_qdrant_1_19s_api() -> Result<()> {
    let protos = tests::repo_root().join("proto/proto/qdrant");
    let desc = tempfile::tempdir()?;
    let out = desc.path().join("ours.desc");
    let status = std::process::Command::new(protoc_bin_vendored::protoc_bin_path()?)
        .arg(format!("-I{}", protos.display()))
        .arg(format!(
            "-I{}",
            protoc_bin_vendored::include_path()?.display()
        ))
        .arg("--include_imports")
        .arg(format!("--descriptor_set_out={}", out.display()))
        .args([
            "points_service.proto",
            "collections_service.proto",
            "snapshots_service.proto",
            "qdrant.proto",
        ])
        .current_dir(&protos)
        .status()?;
    assert!(status.success(), "protoc failed");
    let check = std::process::Command::new(tests::python())
        .arg(tests::repo_root().join("tests/python/proto_check.py"))
        .arg(&out)
        .output()?;
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(text.contains("0 differ"), "{text}");
    Ok(())
}
