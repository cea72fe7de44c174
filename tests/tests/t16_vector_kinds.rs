//! Every vector kind (dense, sparse with and without IDF, multivectors, float16 and uint8)
//! through the real `qdrant-client`, each query checked against numpy
//! (`tests/python/vector_kinds.py`): on one node, after a snapshot restore into another
//! collection, and on a 3-peer cluster with 6 shards × 2 replicas, after a shard move and
//! after the replicas were restored from snapshots.

use anyhow::Result;
use serde_json::{json, Value};
use std::process::Command;
use std::time::Duration;
use tests::points::{cluster_info, replicas};
use tests::{python, repo_root, wait_for, Cluster, Node};

/// Runs one phase of the script against `url`; extra args: collection name, shards, replicas.
fn kinds(phase: &str, url: &str, extra: &[&str], log: impl Fn() -> String) {
    let out = Command::new(python())
        .arg(repo_root().join("tests/python/vector_kinds.py"))
        .args([phase, url])
        .args(extra)
        .output()
        .expect("python starts");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "vector_kinds.py {phase} {url} failed:\n{stdout}\n{stderr}\nnode log:\n{}",
        log()
    );
    eprint!("{phase} {url}: {stdout}");
}

fn snapshot(node: &Node, name: &str) -> String {
    let (code, body) = node
        .http()
        .post(&format!("/collections/{name}/snapshots"), &json!({}))
        .expect("snapshot");
    assert_eq!(code, 200, "{body}");
    body["result"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn every_kind_on_one_node_and_after_a_snapshot_restore() -> Result<()> {
    let n = Node::start()?;
    let log = || n.log();
    kinds("load", &n.url, &[], log);
    kinds("check", &n.url, &[], log);
    kinds("mutate", &n.url, &[], log);
    kinds("check", &n.url, &[], log);

    // A snapshot carries every kind: recovered into another collection, it answers the same.
    let file = snapshot(&n, "kinds");
    let location = format!("{}/collections/kinds/snapshots/{file}", n.url);
    let (code, body) = n.http().put(
        "/collections/kinds_copy/snapshots/recover",
        &json!({ "location": location }),
    )?;
    assert_eq!(code, 200, "{body}");
    kinds("check", &n.url, &["kinds_copy"], log);

    // Restarted, every kind is read back from storage.
    let mut n = n;
    n.restart()?;
    kinds("check", &n.url, &[], || n.log());
    Ok(())
}

/// Waits until no transfer runs and every replica is active.
fn settled(node: &Node) -> Result<()> {
    wait_for("replicas active", Duration::from_secs(180), || {
        let info = cluster_info(node, "kinds");
        let idle = info["shard_transfers"]
            .as_array()
            .is_some_and(|t| t.is_empty());
        (idle && replicas(&info).values().all(|s| s == "Active")).then_some(())
    })
}

#[test]
fn every_kind_on_a_sharded_replicated_cluster() -> Result<()> {
    let c = Cluster::start(3)?;
    let logs = || {
        c.nodes
            .iter()
            .map(|n| n.log())
            .collect::<Vec<_>>()
            .join("\n---\n")
    };
    kinds("load", &c.nodes[0].url, &["kinds", "6", "2"], logs);
    kinds("check", &c.nodes[1].url, &[], logs);

    // Move a shard to a peer that has none of its replicas; the answers stay the same.
    let view = replicas(&cluster_info(&c.nodes[0], "kinds"));
    let peers: Vec<u64> = (0..3).map(|i| c.peer_id(i)).collect();
    let (shard, from) = *view.keys().next().expect("a replica");
    let to = peers
        .iter()
        .copied()
        .find(|p| !view.contains_key(&(shard, *p)))
        .expect("a peer without the shard");
    let op = json!({"move_shard": {"shard_id": shard, "from_peer_id": from, "to_peer_id": to}});
    let (code, body) = c.nodes[2].http().post("/collections/kinds/cluster", &op)?;
    assert_eq!(code, 200, "{body}");
    settled(&c.nodes[0])?;
    let view = replicas(&cluster_info(&c.nodes[0], "kinds"));
    assert!(
        view.contains_key(&(shard, to)) && !view.contains_key(&(shard, from)),
        "{view:?}"
    );
    kinds("check", &c.nodes[2].url, &[], logs);
    kinds("mutate", &c.nodes[2].url, &[], logs);
    kinds("check", &c.nodes[0].url, &[], logs);

    // Every peer's snapshot, taken now; then a tenth of the points deleted; then each peer's
    // replicas recovered from its snapshot (the other replicas re-synced from them).
    let files: Vec<String> = c.nodes.iter().map(|n| snapshot(n, "kinds")).collect();
    let del = json!({"filter": {"must": [{"key": "g", "match": {"value": 3}}]}});
    let (code, body) = c.nodes[1]
        .http()
        .post("/collections/kinds/points/delete?wait=true", &del)?;
    assert_eq!(code, 200, "{body}");
    for (n, file) in c.nodes.iter().zip(&files) {
        let location = format!("{}/collections/kinds/snapshots/{file}", n.url);
        let (code, body): (u16, Value) = n.http().put(
            "/collections/kinds/snapshots/recover",
            &json!({"location": location, "priority": "snapshot"}),
        )?;
        assert_eq!(code, 200, "{body}");
        settled(&c.nodes[0])?;
    }
    kinds("check", &c.nodes[1].url, &[], logs);
    Ok(())
}
