//! The operator's cluster chores as a user without Kubernetes runs them:
//! `qdrant-operator rebalance|drain|recover --url …` against real node processes, with a
//! writer running and every acknowledged write checked afterwards.

use anyhow::Result;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tests::kube::run_chore;
use tests::points::*;
use tests::{wait_for, Http, Node};

fn chore(args: &[&str]) -> (bool, String) {
    run_chore(args)
}

/// Replicas per peer and replicas per shard, as node `n` sees them.
fn spread(n: &Node, name: &str) -> (BTreeMap<u64, usize>, BTreeMap<u64, usize>) {
    let view = replicas(&cluster_info(n, name));
    let (mut peers, mut shards) = (BTreeMap::new(), BTreeMap::new());
    for ((shard, peer), state) in view {
        assert_eq!(state, "Active", "shard {shard} on {peer}");
        *peers.entry(peer).or_default() += 1;
        *shards.entry(shard).or_default() += 1;
    }
    (peers, shards)
}

#[test]
fn rebalance_spreads_shards_onto_a_new_peer_under_writes() -> Result<()> {
    let mut c = sharded_cluster(2, 4, 2, 1, 8000)?;
    let added = c.add_peer(&[])?;
    c.wait_converged(Duration::from_secs(60))?;
    let writer = Writer::start(
        vec![c.nodes[0].url.clone(), c.nodes[1].url.clone()],
        "c",
        100_000,
    );
    let started = Instant::now();
    let (ok, out) = chore(&["rebalance", "--url", &c.nodes[added].url]);
    let took = started.elapsed();
    let (end, retries) = writer.finish();
    assert!(ok, "{out}");
    eprintln!(
        "rebalance 2 -> 3 peers: {took:?}, {out}writer: {} acked, {retries} retries",
        end - 100_000
    );
    let (peers, shards) = spread(&c.nodes[0], "c");
    assert_eq!(peers.len(), 3, "{peers:?}");
    assert!(peers.values().all(|n| (2..=3).contains(n)), "{peers:?}");
    assert!(shards.values().all(|n| *n == 2), "{shards:?}");
    assert!(out.contains("move_shard c shard"), "{out}");
    // Running it again finds nothing to do.
    let (ok, again) = chore(&["rebalance", "--url", &c.nodes[0].url]);
    assert!(ok && again.contains("0 replicas moved"), "{again}");
    check_all(&c, "c", 8000, 100_000, end)
}

#[test]
fn drain_empties_a_peer_removes_it_and_refuses_what_cannot_fit() -> Result<()> {
    let c = sharded_cluster(3, 3, 2, 1, 3000)?;
    let leaving = c.peer_id(2);
    let started = Instant::now();
    let (ok, out) = chore(&[
        "drain",
        "--url",
        &c.nodes[0].url,
        "--peer",
        &leaving.to_string(),
    ]);
    assert!(ok, "{out}");
    eprintln!(
        "drain of a peer holding 2 replicas: {:?}",
        started.elapsed()
    );
    let peers = c.status(0).expect("status")["peers"].clone();
    assert!(peers.get(leaving.to_string()).is_none(), "{peers}");
    let (per_peer, shards) = spread(&c.nodes[0], "c");
    assert!(!per_peer.contains_key(&leaving));
    assert!(shards.values().all(|n| *n == 2), "{shards:?}");
    for i in 0..2 {
        assert_eq!(count(&c.nodes[i], "c"), 3000);
    }
    // Two peers left, replication factor 2: nothing can go anywhere.
    let (ok, out) = chore(&[
        "drain",
        "--url",
        &c.nodes[0].url,
        "--peer",
        &c.peer_id(1).to_string(),
    ]);
    assert!(!ok && out.contains("cannot hold every shard"), "{out}");
    assert_eq!(
        spread(&c.nodes[0], "c").1,
        shards,
        "a refused drain moved something"
    );
    Ok(())
}

#[test]
fn recover_replaces_a_dead_peer_with_a_fresh_one() -> Result<()> {
    let mut c = sharded_cluster(3, 3, 2, 2, 3000)?;
    let writer = Writer::start(
        vec![c.nodes[0].url.clone(), c.nodes[1].url.clone()],
        "c",
        100_000,
    );
    let dead = c.peer_id(2);
    c.nodes[2].kill9()?;
    let fresh = c.add_peer(&[])?;
    // What a user (or the controller) sees before recovering: the peer's replicas are dead.
    wait_for(
        "the dead peer's replicas marked Dead",
        Duration::from_secs(30),
        || {
            let of_dead = states_of(&c.nodes[0], "c", dead);
            (!of_dead.is_empty() && of_dead.iter().all(|s| s == "Dead")).then_some(())
        },
    )?;
    let started = Instant::now();
    let (ok, out) = chore(&["recover", "--url", &c.nodes[0].url, "--dead-after", "3s"]);
    let took = started.elapsed();
    assert!(ok, "{out}");
    let (end, retries) = writer.finish();
    eprintln!(
        "recover: {took:?}, {out}writer: {} acked, {retries} retries",
        end - 100_000
    );
    assert!(out.contains(&format!("removing dead peer {dead}")), "{out}");
    let (per_peer, shards) = spread(&c.nodes[0], "c");
    assert!(!per_peer.contains_key(&dead));
    assert!(per_peer.contains_key(&c.peer_id(fresh)), "{per_peer:?}");
    assert!(shards.values().all(|n| *n == 2), "{shards:?}");
    // Write consistency factor 2: every acknowledged write is on both replicas.
    let ids: Vec<_> = (0..3000).chain(100_000..end).map(pid).collect();
    let n = ids.len();
    let got = post(
        &c.nodes[fresh],
        "/collections/c/points?consistency=all",
        json!({"ids": ids}),
    );
    assert_eq!(got.as_array().map(Vec::len), Some(n));
    Ok(())
}

#[test]
fn a_rolling_restart_under_writes_loses_nothing() -> Result<()> {
    let mut c = sharded_cluster(3, 3, 2, 1, 3000)?;
    // The pods a Service would route to: the restarting one is left out until it is ready.
    let serving = Arc::new(Mutex::new(
        c.nodes.iter().map(|n| n.url.clone()).collect::<Vec<_>>(),
    ));
    let writer = Writer::start(
        c.nodes.iter().map(|n| n.url.clone()).collect(),
        "c",
        100_000,
    );
    let stop = Arc::new(AtomicBool::new(false));
    let searcher = {
        let (serving, stop) = (serving.clone(), stop.clone());
        std::thread::spawn(move || {
            let (mut searches, mut failed_twice) = (0, 0);
            let body = json!({"query": vector(7), "limit": 5});
            let client = Http::new("");
            while !stop.load(Ordering::Relaxed) {
                // A client's retry goes through the Service again: a fresh pick each time.
                let attempt = |k: usize| {
                    let urls = serving.lock().expect("urls").clone();
                    let http = client.rebase(&urls[k % urls.len()]);
                    let r = http.post("/collections/c/points/query", &body);
                    if !matches!(r, Ok((200, _))) {
                        eprintln!("search via {}: {r:?}", urls[k % urls.len()]);
                    }
                    matches!(r, Ok((200, _)))
                };
                if !attempt(searches) && !attempt(searches + 1) {
                    failed_twice += 1;
                }
                searches += 1;
            }
            (searches, failed_twice)
        })
    };
    for i in 0..3 {
        serving
            .lock()
            .expect("urls")
            .retain(|u| *u != c.nodes[i].url);
        c.nodes[i].stop()?;
        c.nodes[i].start_again()?;
        // What the StatefulSet waits for before the next pod: /readyz, i.e. every replica
        // of the restarted peer active again.
        wait_for("the restarted peer ready", Duration::from_secs(60), || {
            (c.nodes[i].http().text("/readyz").ok()?.0 == 200).then_some(())
        })?;
        serving.lock().expect("urls").push(c.nodes[i].url.clone());
    }
    stop.store(true, Ordering::Relaxed);
    let (searches, failed_twice) = searcher.join().expect("searcher");
    let (end, retries) = writer.finish();
    eprintln!("rolling restart: {searches} searches, {failed_twice} failed after a retry; {} writes acked, {retries} retried", end - 100_000);
    assert_eq!(failed_twice, 0, "a search failed even after one retry");
    let ids: Vec<_> = (0..3000).chain(100_000..end).map(pid).collect();
    let n = ids.len();
    wait_for("every replica active", Duration::from_secs(60), || {
        let view = replicas(&cluster_info(&c.nodes[0], "c"));
        view.values().all(|s| s == "Active").then_some(())
    })?;
    let got = post(
        &c.nodes[0],
        "/collections/c/points?consistency=all",
        json!({"ids": ids}),
    );
    assert_eq!(
        got.as_array().map(Vec::len),
        Some(n),
        "an acknowledged write is missing"
    );
    Ok(())
}

#[test]
fn rebalance_keeps_replicas_of_a_shard_in_different_zones() -> Result<()> {
    let mut c = sharded_cluster(2, 2, 2, 1, 2000)?;
    c.add_peer(&[])?;
    c.add_peer(&[])?;
    c.wait_converged(Duration::from_secs(60))?;
    // The two old peers in zone a, the two new ones in zone b.
    let zone = |i: usize, z: &str| format!("{}={z}", c.peer_id(i));
    let flags = [zone(0, "a"), zone(1, "a"), zone(2, "b"), zone(3, "b")];
    let mut args = vec!["rebalance", "--url", c.nodes[0].url.as_str()];
    for f in &flags {
        args.extend(["--zone", f.as_str()]);
    }
    let (ok, out) = chore(&args);
    assert!(ok, "{out}");
    let view = replicas(&cluster_info(&c.nodes[0], "c"));
    let zone_of = |p: u64| {
        if p == c.peer_id(0) || p == c.peer_id(1) {
            "a"
        } else {
            "b"
        }
    };
    for shard in 0..2 {
        let zones: BTreeSet<&str> = view
            .keys()
            .filter(|(s, _)| *s == shard)
            .map(|(_, p)| zone_of(*p))
            .collect();
        assert_eq!(
            zones.len(),
            2,
            "shard {shard} not spread over both zones: {view:?}"
        );
    }
    for i in 0..4 {
        assert_eq!(count(&c.nodes[i], "c"), 2000);
    }
    Ok(())
}

#[test]
fn recover_restores_a_lost_shard_from_the_snapshot_location() -> Result<()> {
    let mut c = sharded_cluster(3, 3, 1, 1, 3000)?;
    // A backup of the collection on the peer that will die: the only copy of its shard.
    let (code, body) = c.nodes[2]
        .http()
        .post("/collections/c/snapshots", &json!({}))?;
    assert_eq!(code, 200, "{body}");
    let backups = tempfile::tempdir()?;
    let snapshot = c.nodes[2]
        .dir
        .path()
        .join("snapshots/c")
        .join(body["result"]["name"].as_str().unwrap_or(""));
    std::fs::copy(&snapshot, backups.path().join("c.snapshot"))?;
    let dead = c.peer_id(2);
    c.nodes[2].kill9()?;
    // The survivors' health checks see it gone (its replica, the last one, stays Active).
    wait_for(
        "the dead peer reported unreachable",
        Duration::from_secs(30),
        || {
            let (_, v) = c.nodes[0].http().get("/cluster/unreachable").ok()?;
            let peers = v["result"]["peers"].as_array()?.clone();
            peers.iter().any(|p| p.as_u64() == Some(dead)).then_some(())
        },
    )?;
    let location = format!(
        "file://{}/{{collection}}.snapshot",
        backups.path().display()
    );
    // Without a snapshot location the lost shard is reported, the peer kept.
    let (ok, out) = chore(&["recover", "--url", &c.nodes[0].url, "--dead-after", "8s"]);
    assert!(!ok && out.contains("no live replica: c/"), "{out}");
    let (ok, out) = chore(&[
        "recover",
        "--url",
        &c.nodes[0].url,
        "--dead-after",
        "8s",
        "--snapshot-location",
        &location,
    ]);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("removing dead peer {dead}")) && out.contains("restoring `c` shards"),
        "{out}"
    );
    for i in 0..2 {
        assert_eq!(count(&c.nodes[i], "c"), 3000);
    }
    let (per_peer, shards) = spread(&c.nodes[0], "c");
    assert!(!per_peer.contains_key(&dead));
    assert_eq!(shards.len(), 3);
    Ok(())
}
