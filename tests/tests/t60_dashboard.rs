//! The web dashboard in a real browser (headless Chromium through Selenium,
//! `tests/python/dashboard.py`) against real nodes: collections, the query console, the
//! cluster view with a transfer under way, the API-key prompt; and the browser-facing HTTP
//! behaviour Qdrant has (CORS preflights, gzip). Screenshots are kept in
//! `target/tmp/dashboard/`.

use anyhow::Result;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;
use tests::points::*;
use tests::{python, repo_root, wait_for, Node};

fn shots(test: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("dashboard")
        .join(test)
}

/// Runs one step of the browser script; panics with its output when a check fails.
fn browser(url: &str, test: &str, step: &str, args: &[&str]) -> String {
    let out = Command::new(python())
        .arg(repo_root().join("tests/python/dashboard.py"))
        .arg(url)
        .arg(shots(test))
        .arg(step)
        .args(args)
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("dashboard checks passed"),
        "dashboard.py {step} failed:\n{stdout}\n{stderr}"
    );
    stdout
}

fn transfers(node: &Node, name: &str) -> Vec<Value> {
    cluster_info(node, name)["shard_transfers"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn cluster_view_shows_collections_console_and_a_transfer() -> Result<()> {
    let c = sharded_cluster(3, 3, 1, 1, 3_000)?;
    create(&c.nodes[0], "other", sharded(2, 2, 1))?;
    load(&c.nodes[0], "other", 500)?;
    let url = c.nodes[1].url.clone();
    let out = browser(&url, "cluster", "overview", &["-", "c", "other"]);
    eprintln!("{out}");

    // A move to a peer that is paused stays in progress until the peer resumes.
    let view = replicas(&cluster_info(&c.nodes[0], "c"));
    let (&(shard, from), _) = view.iter().next().expect("a replica");
    let to_index = (0..3)
        .find(|i| c.peer_id(*i) != from)
        .expect("another peer");
    let to = c.peer_id(to_index);
    let op = json!({"move_shard": {"shard_id": shard, "from_peer_id": from, "to_peer_id": to}});
    let (code, body) = c.nodes[0].http().post("/collections/c/cluster", &op)?;
    assert_eq!(code, 200, "{body}");
    // (Peer ids are asked of the nodes: before the pause.)
    let third = (0..3)
        .find(|i| ![from, to].contains(&c.peer_id(*i)))
        .expect("a third peer");
    let source = (0..3).find(|i| c.peer_id(*i) == from).expect("the source");
    c.nodes[to_index].pause();
    // A peer that is neither source nor target shows the source's count too.
    let counted = wait_for(
        "the transfer's count on a third peer",
        Duration::from_secs(30),
        || {
            let t = transfers(&c.nodes[third], "c");
            let comment = t.first()?["comment"].as_str()?.to_string();
            comment.starts_with("transferred ").then_some(comment)
        },
    );
    let watcher = if to_index == 1 { 2 } else { 1 };
    let watch_url = c.nodes[watcher].url.clone();
    let seen = std::panic::catch_unwind(|| browser(&watch_url, "cluster", "transfer", &["-", "c"]));
    c.nodes[to_index].resume();
    let counted = counted?;
    let held = cluster_info(&c.nodes[source], "c")["local_shards"]
        .as_array()
        .and_then(|l| l.iter().find(|s| s["shard_id"] == shard).cloned())
        .map(|s| s["points_count"].clone())
        .unwrap_or_default();
    assert!(
        counted.ends_with(&format!("/{held} points")),
        "{counted} (source holds {held})"
    );
    if let Err(e) = seen {
        std::panic::resume_unwind(e);
    }
    wait_for("the move to finish", Duration::from_secs(120), || {
        transfers(&c.nodes[0], "c").is_empty().then_some(())
    })?;
    assert_eq!(count(&c.nodes[0], "c"), 3_000);
    Ok(())
}

#[test]
fn page_asks_for_the_api_key_and_the_api_needs_it() -> Result<()> {
    let key = "dashboard-secret";
    let n = Node::start_with(&[("QDRANT__SERVICE__API_KEY", key)], &[])?;
    // The page itself is public; the data behind it is not.
    let (code, html) = n.http().text("/dashboard")?;
    assert_eq!(code, 200);
    assert!(html.contains("/dashboard/app.js"), "{html}");
    let (code, body) = n.http().get("/dashboard/api/cluster")?;
    assert_eq!(code, 401, "{body}");
    let (code, body) = n.http().get_with_key("/dashboard/api/cluster", key)?;
    assert_eq!(code, 200, "{body}");
    let (code, _) = n.http().text("/dashboard/no-such-file.js")?;
    assert_eq!(code, 404);

    let body = json!({"vectors": {"size": DIM, "distance": "Dot"}});
    let (code, reply) = n.http().put_with_key("/collections/secret", &body, key)?;
    assert_eq!(code, 200, "{reply}");
    browser(&n.url, "key", "ask-key", &[key, "secret"]);
    Ok(())
}

#[test]
fn cors_preflight_and_gzip_as_qdrant_answers_them() -> Result<()> {
    let n = Node::start()?;
    let client = reqwest::blocking::Client::new();
    let pre = client
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/collections/x/points", n.url),
        )
        .header("Origin", "http://app.example")
        .header("Access-Control-Request-Method", "PUT")
        .header("Access-Control-Request-Headers", "api-key, content-type")
        .send()?;
    assert_eq!(pre.status(), 200);
    let h = pre.headers();
    assert_eq!(h["access-control-allow-origin"], "http://app.example");
    let allowed = h["access-control-allow-methods"].to_str()?.to_string();
    assert!(allowed.contains("PUT"), "{allowed}");
    let headers = h["access-control-allow-headers"].to_str()?.to_lowercase();
    assert!(headers.contains("api-key"), "{headers}");

    let get = client
        .get(format!("{}/collections", n.url))
        .header("Origin", "http://app.example")
        .header("Accept-Encoding", "gzip")
        .send()?;
    assert_eq!(get.status(), 200);
    assert_eq!(
        get.headers()["access-control-allow-origin"],
        "http://app.example"
    );
    assert_eq!(get.headers()["content-encoding"], "gzip");

    // `service.enable_cors: false`: no CORS headers.
    let off = Node::start_with(&[("QDRANT__SERVICE__ENABLE_CORS", "false")], &[])?;
    let get = client
        .get(format!("{}/collections", off.url))
        .header("Origin", "http://app.example")
        .send()?;
    assert_eq!(get.status(), 200);
    assert!(get.headers().get("access-control-allow-origin").is_none());
    Ok(())
}
