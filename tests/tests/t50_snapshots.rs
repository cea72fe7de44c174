//! Collection and shard snapshots: create, list, download, delete, recover from http:// and
//! file:// URLs and by upload, refusal of corrupt or truncated files, and recovery of a shard
//! whose only replica was lost, on a new peer of a cluster.

use anyhow::Result;
use serde_json::{json, Value};
use std::time::Duration;
use tests::points::*;
use tests::{wait_for, Cluster, Node};

fn snapshot(node: &Node, path: &str) -> Value {
    let (code, body) = node.http().post(path, &json!({})).expect("create snapshot");
    assert_eq!(code, 200, "{body}");
    body["result"].clone()
}

fn recover(node: &Node, path: &str, body: Value) -> (u16, Value) {
    node.http().put(path, &body).expect("recover")
}

fn query(node: &Node, q: u64) -> Value {
    let body = json!({"query": vector(500_000 + q), "limit": 5, "with_payload": true});
    without_versions(post(node, "/collections/c/points/query", body))
}

#[test]
fn snapshots_round_trip_and_bad_files_are_refused() -> Result<()> {
    let a = Node::start()?;
    create(&a, "c", sharded(2, 1, 1))?;
    let (code, body) = upsert(&a, "c", 0..3000)?;
    assert_eq!(code, 200, "{body}");
    let index = json!({"field_name": "g", "field_schema": "integer"});
    assert_eq!(
        a.http().put("/collections/c/index?wait=true", &index)?.0,
        200
    );

    let desc = snapshot(&a, "/collections/c/snapshots");
    let name = desc["name"].as_str().expect("name").to_string();
    assert!(
        desc["size"].as_u64() > Some(0) && desc["checksum"].is_string(),
        "{desc}"
    );
    let listed = a.http().get("/collections/c/snapshots")?.1;
    assert_eq!(listed["result"][0]["name"], name.as_str(), "{listed}");
    let (code, file) = a
        .http()
        .bytes(&format!("/collections/c/snapshots/{name}"))?;
    assert_eq!(
        (code, file.len() as u64),
        (200, desc["size"].as_u64().unwrap())
    );

    // Recover on another node from an http:// URL, with the right checksum.
    let b = Node::start()?;
    let location = format!("{}/collections/c/snapshots/{name}", a.url);
    let (code, body) = recover(
        &b,
        "/collections/c/snapshots/recover",
        json!({"location": location, "checksum": desc["checksum"]}),
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(count(&b, "c"), 3000);
    let info = b.http().get("/collections/c")?.1;
    assert_eq!(
        info["result"]["payload_schema"]["g"]["data_type"], "integer",
        "{info}"
    );
    for q in 0..3 {
        assert_eq!(query(&b, q), query(&a, q));
    }

    // By upload, into a new collection on a third node.
    let d = Node::start()?;
    let (code, body) = d.http().upload(
        "/collections/c/snapshots/upload?priority=snapshot",
        "snapshot",
        file.clone(),
    )?;
    assert_eq!(code, 200, "{body}");
    assert_eq!(count(&d, "c"), 3000);

    // Wrong checksum, truncated file, flipped byte: refused, nothing created.
    let bad_dir = tempfile::tempdir()?;
    let truncated = bad_dir.path().join("truncated.snapshot");
    std::fs::write(&truncated, &file[..file.len() / 2])?;
    let mut flipped = file.clone();
    let at = flipped
        .windows(6)
        .position(|w| w == b"\"id\":1")
        .expect("a point in the file")
        + 5;
    flipped[at] = b'7';
    let flipped_path = bad_dir.path().join("flipped.snapshot");
    std::fs::write(&flipped_path, &flipped)?;
    let cases = [
        (
            json!({"location": location, "checksum": "00"}),
            "checksum mismatch",
        ),
        (
            json!({"location": format!("file://{}", truncated.display())}),
            "corrupt or incomplete",
        ),
        (
            json!({"location": format!("file://{}", flipped_path.display())}),
            "checksum mismatch",
        ),
        (
            json!({"location": "ftp://example.com/x.snapshot"}),
            "http:// or file://",
        ),
    ];
    for (body, why) in cases {
        let (code, reply) = recover(&b, "/collections/fresh/snapshots/recover", body.clone());
        let msg = reply["status"]["error"].as_str().unwrap_or("");
        assert!(code == 400 && msg.contains(why), "{body}: {code} {reply}");
        assert_eq!(
            b.http().get("/collections/fresh")?.0,
            404,
            "half-restored by {body}"
        );
    }

    // A shard snapshot restores that shard only.
    let shard = snapshot(&a, "/collections/c/shards/0/snapshots");
    let shard_name = shard["name"].as_str().unwrap();
    assert_eq!(
        a.http().get("/collections/c/shards/0/snapshots")?.1["result"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let (code, _) = b.http().post(
        "/collections/c/points/delete?wait=true",
        &json!({"filter": {}}),
    )?;
    assert_eq!(code, 200);
    assert_eq!(count(&b, "c"), 0);
    let shard_url = format!("{}/collections/c/shards/0/snapshots/{shard_name}", a.url);
    let (code, body) = recover(
        &b,
        "/collections/c/shards/0/snapshots/recover",
        json!({"location": shard_url, "priority": "snapshot"}),
    );
    assert_eq!(code, 200, "{body}");
    let local = cluster_info(&b, "c")["local_shards"].clone();
    let points: Vec<u64> = local
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["points_count"].as_u64().unwrap())
        .collect();
    assert!(
        points[0] > 0 && points[1] == 0 && count(&b, "c") == points[0],
        "{local}"
    );

    assert_eq!(
        a.http()
            .delete(&format!("/collections/c/snapshots/{name}"))?
            .0,
        200
    );
    assert_eq!(
        a.http()
            .delete(&format!("/collections/c/snapshots/{name}"))?
            .0,
        404
    );
    assert_eq!(
        a.http().get("/collections/c/snapshots")?.1["result"],
        json!([])
    );
    Ok(())
}

#[test]
fn a_lost_shard_is_recovered_from_a_snapshot_on_a_new_peer() -> Result<()> {
    let mut c = Cluster::start(3)?;
    create(&c.nodes[0], "c", sharded(3, 1, 1))?;
    let (code, body) = upsert(&c.nodes[0], "c", 0..3000)?;
    assert_eq!(code, 200, "{body}");
    let desc = snapshot(&c.nodes[2], "/collections/c/snapshots");
    let file = c.nodes[2]
        .dir
        .path()
        .join("snapshots/c")
        .join(desc["name"].as_str().unwrap());
    let lost = c.peer_id(2);
    c.nodes[2].kill9()?;
    let (code, body) = c.nodes[0]
        .http()
        .delete(&format!("/cluster/peer/{lost}?force=true"))?;
    assert_eq!(code, 200, "{body}");
    let (code, body) = c.nodes[0]
        .http()
        .post("/collections/c/points/count", &json!({}))?;
    assert_eq!(
        code, 503,
        "a shard without replicas cannot be counted: {body}"
    );

    let fresh = c.add_peer(&[])?;
    c.wait_converged(Duration::from_secs(60))?;
    let location = format!("file://{}", file.display());
    let (code, body) = recover(
        &c.nodes[fresh],
        "/collections/c/snapshots/recover",
        json!({"location": location}),
    );
    assert_eq!(code, 200, "{body}");
    for i in [0, 1, fresh] {
        wait_for("every point back", Duration::from_secs(30), || {
            (count(&c.nodes[i], "c") == 3000).then_some(())
        })?;
    }
    let view = replicas(&cluster_info(&c.nodes[0], "c"));
    let fresh_id = c.peer_id(fresh);
    assert!(
        view.iter()
            .any(|((_, p), s)| *p == fresh_id && s == "Active"),
        "{view:?}"
    );
    assert_eq!(view.len(), 3);
    Ok(())
}

#[test]
fn snapshots_named_at_start_are_recovered() -> Result<()> {
    let a = Node::start()?;
    create(&a, "c", sharded(2, 1, 1))?;
    let (code, body) = upsert(&a, "c", 0..500)?;
    assert_eq!(code, 200, "{body}");
    let desc = snapshot(&a, "/collections/c/snapshots");
    let name = desc["name"].as_str().expect("name");
    let (code, file) = a
        .http()
        .bytes(&format!("/collections/c/snapshots/{name}"))?;
    assert_eq!(code, 200);
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("c.snapshot");
    std::fs::write(&path, file)?;
    let flag = format!("{}:restored", path.display());

    // Qdrant's `--snapshot <PATH>:<COLLECTION>`: recovered before the node serves.
    let mut b = Node::start_with(&[], &["--snapshot", &flag])?;
    assert_eq!(count(&b, "restored"), 500);
    assert_eq!(query_in(&b, "restored"), query_in(&a, "c"));
    // An existing collection is kept unless --force-snapshot.
    let (code, body) = upsert(&b, "restored", 500..600)?;
    assert_eq!(code, 200, "{body}");
    b.stop()?;
    b.start_again()?;
    assert_eq!(count(&b, "restored"), 600);
    assert!(b.log().contains("start snapshot skipped"), "{}", b.log());
    b.stop()?;
    b.set_args(&["--snapshot", &flag, "--force-snapshot"]);
    b.start_again()?;
    assert_eq!(count(&b, "restored"), 500);

    // A value without a collection name, or a missing file: the start fails and says why.
    let Err(err) = Node::start_with(&[], &["--snapshot", "no-colon"]) else {
        panic!("bad flag accepted")
    };
    assert!(
        format!("{err:#}").contains("<PATH>:<COLLECTION_NAME>"),
        "{err:#}"
    );
    let missing = format!("{}:x", dir.path().join("missing.snapshot").display());
    let Err(err) = Node::start_with(&[], &["--snapshot", &missing]) else {
        panic!("missing file accepted")
    };
    assert!(
        format!("{err:#}").contains("cannot recover --snapshot"),
        "{err:#}"
    );
    Ok(())
}

fn query_in(node: &Node, name: &str) -> Value {
    let body = json!({"query": vector(7), "limit": 5, "with_payload": true});
    without_versions(post(
        node,
        &format!("/collections/{name}/points/query"),
        body,
    ))
}

#[test]
fn full_storage_snapshots_round_trip() -> Result<()> {
    let a = Node::start()?;
    create(&a, "c", sharded(2, 1, 1))?;
    create(&a, "d", sharded(1, 1, 1))?;
    assert_eq!(upsert(&a, "c", 0..300)?.0, 200);
    assert_eq!(upsert(&a, "d", 0..50)?.0, 200);
    let alias =
        json!({"actions": [{"create_alias": {"collection_name": "d", "alias_name": "da"}}]});
    assert_eq!(a.http().post("/collections/aliases", &alias)?.0, 200);

    let desc = snapshot(&a, "/snapshots");
    let name = desc["name"].as_str().expect("name").to_string();
    let listed = a.http().get("/snapshots")?.1;
    assert_eq!(listed["result"][0]["name"], name.as_str(), "{listed}");
    assert_eq!(
        listed["result"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );
    let (code, file) = a.http().bytes(&format!("/snapshots/{name}"))?;
    assert_eq!(
        (code, file.len() as u64),
        (200, desc["size"].as_u64().unwrap())
    );
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("full.snapshot");
    std::fs::write(&path, &file)?;

    // `--storage-snapshot` brings back every collection and alias before the node serves.
    let b = Node::start_with(&[], &["--storage-snapshot", path.to_str().unwrap()])?;
    assert_eq!(count(&b, "c"), 300);
    assert_eq!(count(&b, "d"), 50);
    assert_eq!(count(&b, "da"), 50);
    assert_eq!(query_in(&b, "c"), query_in(&a, "c"));

    // A truncated file fails the start and says why.
    let cut = dir.path().join("cut.snapshot");
    std::fs::write(&cut, &file[..file.len() / 2])?;
    let Err(err) = Node::start_with(&[], &["--storage-snapshot", cut.to_str().unwrap()]) else {
        panic!("truncated storage snapshot accepted")
    };
    assert!(format!("{err:#}").contains("cannot recover"), "{err:#}");

    let path = format!("/snapshots/{name}");
    let (code, body) = a.http().delete(&path)?;
    assert_eq!((code, &body["result"]), (200, &json!(true)), "{body}");
    assert_eq!(a.http().delete(&path)?.0, 404);
    assert_eq!(a.http().get("/snapshots")?.1["result"], json!([]));
    Ok(())
}
