//! Cluster mode: peers form a Raft cluster over the p2p port, metadata goes through it,
//! leaders fail over, peers rejoin and can be removed. Real processes on loopback.

use anyhow::Result;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tests::{wait_for, Cluster, Node};

fn create(node: &Node, name: &str, query: &str) -> Result<(u16, Value)> {
    node.http().put(
        &format!("/collections/{name}{query}"),
        &json!({"vectors": {"size": 4, "distance": "Dot"}}),
    )
}

fn has_collection(node: &Node, name: &str) -> bool {
    matches!(
        node.http().get(&format!("/collections/{name}")),
        Ok((200, _))
    )
}

#[test]
fn three_peers_form_one_cluster_with_one_leader() -> Result<()> {
    let c = Cluster::start(3)?;
    let leader = c.wait_converged(Duration::from_secs(30))?;
    let mut leaders = 0;
    for i in 0..3 {
        let s = c.status(i).expect("status");
        assert_eq!(s["status"], "enabled");
        let peers = s["peers"].as_object().expect("peers");
        assert_eq!(peers.len(), 3, "{s}");
        // Joined peers were started without --uri: the bootstrap peer derived it.
        let me = s["peer_id"].as_u64().expect("peer_id");
        assert_eq!(peers[&me.to_string()]["uri"], c.p2p_uri(i), "{s}");
        assert_eq!(s["raft_info"]["leader"], leader);
        assert_eq!(s["raft_info"]["is_voter"], true);
        assert!(s["raft_info"]["term"].as_u64() >= Some(1));
        assert!(s["raft_info"]["commit"].as_u64() >= Some(1));
        assert!(s["raft_info"]["pending_operations"].is_u64());
        assert_eq!(
            s["consensus_thread_status"]["consensus_thread_status"],
            "working"
        );
        assert!(s["message_send_failures"].is_object());
        if s["raft_info"]["role"] == "Leader" {
            leaders += 1;
            assert_eq!(me, leader);
        } else {
            assert_eq!(s["raft_info"]["role"], "Follower");
        }
    }
    assert_eq!(leaders, 1);
    for n in &c.nodes {
        // Ready a few seconds after start, once replica states settled.
        wait_for("ready", Duration::from_secs(30), || {
            (n.http().text("/readyz").ok()?.0 == 200).then_some(())
        })?;
    }
    Ok(())
}

#[test]
fn a_peer_that_cannot_join_is_alive_but_not_ready() -> Result<()> {
    // Nothing listens on the bootstrap address: the peer keeps retrying the join.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let n = Node::start_with(
        &[
            ("QDRANT__CLUSTER__ENABLED", "true"),
            ("QDRANT__CLUSTER__P2P__PORT", "0"),
        ],
        &["--bootstrap", &format!("http://{dead}")],
    )?;
    wait_for("a failed join attempt", Duration::from_secs(30), || {
        n.log().contains("join failed").then_some(())
    })?;
    assert_eq!(n.http().text("/livez")?.0, 200);
    assert_eq!(n.http().text("/readyz")?.0, 503);
    let (code, body) = create(&n, "nowhere", "?timeout=1")?;
    assert_eq!(code, 503, "{body}");
    Ok(())
}

#[test]
fn metadata_changes_through_any_peer_reach_every_peer() -> Result<()> {
    let c = Cluster::start(3)?;
    let f = c.follower()?;
    let (code, body) = create(&c.nodes[f], "through_follower", "")?;
    assert_eq!((code, &body["result"]), (200, &json!(true)), "{body}");
    // The answer comes after the proposing peer applied it.
    assert!(has_collection(&c.nodes[f], "through_follower"));
    for n in &c.nodes {
        wait_for("collection on every peer", Duration::from_secs(20), || {
            has_collection(n, "through_follower").then_some(())
        })?;
    }
    let other = (0..3).find(|i| *i != f).expect("another node");
    let (code, body) = create(&c.nodes[other], "through_follower", "")?;
    assert_eq!(code, 409, "{body}");
    assert!(body["status"]["error"]
        .as_str()
        .unwrap_or("")
        .contains("already exists"));

    let (code, body) = c.nodes[other].http().post(
        "/collections/aliases",
        &json!({"actions": [{"create_alias": {"collection_name": "through_follower", "alias_name": "tf"}}]}),
    )?;
    assert_eq!(code, 200, "{body}");
    let (code, body) = c.nodes[f].http().patch(
        "/collections/through_follower",
        &json!({"hnsw_config": {"m": 32}}),
    )?;
    assert_eq!(code, 200, "{body}");
    let (code, body) = c.nodes[other].http().put(
        "/collections/through_follower/index",
        &json!({"field_name": "city", "field_schema": "keyword"}),
    )?;
    assert_eq!(code, 200, "{body}");
    for n in &c.nodes {
        wait_for(
            "alias, config and index everywhere",
            Duration::from_secs(20),
            || {
                let (_, info) = n.http().get("/collections/tf").ok()?;
                let r = &info["result"];
                (r["config"]["hnsw_config"]["m"] == 32 && r["payload_schema"]["city"].is_object())
                    .then_some(())
            },
        )?;
    }
    let (code, body) = c.nodes[other]
        .http()
        .delete("/collections/through_follower")?;
    assert_eq!((code, &body["result"]), (200, &json!(true)), "{body}");
    for n in &c.nodes {
        wait_for("delete everywhere", Duration::from_secs(20), || {
            (!has_collection(n, "through_follower") && !has_collection(n, "tf")).then_some(())
        })?;
    }
    Ok(())
}

#[test]
fn leader_failover_and_rejoin_with_catch_up() -> Result<()> {
    let mut c = Cluster::start(3)?;
    let old = c.leader()?;
    let old_id = c.peer_id(old);
    c.nodes[old].kill9()?;
    let killed = Instant::now();
    let survivor = c.running()[0];
    let new_leader = wait_for("a new leader", Duration::from_secs(30), || {
        let s = c.status(survivor)?;
        s["raft_info"]["leader"].as_u64().filter(|l| *l != old_id)
    });
    let new_leader = match new_leader {
        Ok(l) => l,
        Err(e) => {
            for i in c.running() {
                eprintln!("DUMP node {i}: {:?}\n{}", c.status(i), c.nodes[i].log());
            }
            return Err(e);
        }
    };
    eprintln!(
        "measure: new leader {new_leader} after {:?}",
        killed.elapsed()
    );
    let (code, body) = create(&c.nodes[survivor], "after_failover", "")?;
    assert_eq!(code, 200, "{body}");

    c.nodes[old].start_again()?;
    let restarted = Instant::now();
    assert_eq!(c.peer_id(old), old_id, "peer id must survive a restart");
    wait_for("old leader to catch up", Duration::from_secs(30), || {
        has_collection(&c.nodes[old], "after_failover").then_some(())
    })?;
    eprintln!(
        "measure: restarted peer caught up after {:?}",
        restarted.elapsed()
    );
    c.wait_converged(Duration::from_secs(30))?;
    Ok(())
}

#[test]
fn without_quorum_metadata_changes_fail_fast_and_clearly() -> Result<()> {
    let mut c = Cluster::start(3)?;
    let keep = c.follower()?;
    for i in 0..3 {
        if i != keep {
            c.nodes[i].kill9()?;
        }
    }
    let started = Instant::now();
    let (code, body) = create(&c.nodes[keep], "no_quorum", "?timeout=3")?;
    let took = started.elapsed();
    assert_eq!(code, 503, "{body}");
    assert!(
        body["status"]["error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{body}"
    );
    assert!(took < Duration::from_secs(20), "took {took:?}");
    assert!(!has_collection(&c.nodes[keep], "no_quorum"));
    // Reads keep working without a quorum.
    assert_eq!(c.nodes[keep].http().get("/collections")?.0, 200);
    Ok(())
}

#[test]
fn removing_a_peer_with_and_without_force() -> Result<()> {
    let mut c = Cluster::start(3)?;
    let leader = c.leader()?;
    let f = c.follower()?;
    let f_id = c.peer_id(f);
    let (code, body) = c.nodes[leader].http().delete("/cluster/peer/12345")?;
    assert_eq!(code, 404, "{body}");

    // A removal with nothing on the peer succeeds at once.
    let (code, body) = c.nodes[leader]
        .http()
        .delete(&format!("/cluster/peer/{f_id}"))?;
    assert_eq!((code, &body["result"]), (200, &json!(true)), "{body}");
    let rest: Vec<usize> = (0..3).filter(|i| *i != f).collect();
    for i in &rest {
        wait_for("peer gone from /cluster", Duration::from_secs(20), || {
            let s = c.status(*i)?;
            (s["peers"].as_object()?.len() == 2 && s["peers"].get(f_id.to_string()).is_none())
                .then_some(())
        })?;
    }
    c.nodes[f].kill9()?;

    // With a collection on it, a peer is only removed with force.
    let joining = Instant::now();
    let g = c.add_peer(&[])?;
    c.wait_converged(Duration::from_secs(60))?;
    eprintln!(
        "measure: new peer started and promoted to voter in {:?}",
        joining.elapsed()
    );
    let g_id = c.peer_id(g);
    assert_eq!(create(&c.nodes[g], "held", "")?.0, 200);
    let l = c.leader()?;
    let (code, body) = c.nodes[l].http().delete(&format!("/cluster/peer/{g_id}"))?;
    assert_eq!(code, 400, "{body}");
    assert!(
        body["status"]["error"]
            .as_str()
            .unwrap_or("")
            .contains("force"),
        "{body}"
    );
    let (code, body) = c.nodes[g]
        .http()
        .delete(&format!("/cluster/peer/{g_id}?force=true"))?;
    assert_eq!(code, 200, "{body}");
    for i in &rest {
        wait_for("forced removal everywhere", Duration::from_secs(20), || {
            let s = c.status(*i)?;
            (s["peers"].get(g_id.to_string()).is_none()).then_some(())
        })?;
    }
    // The removed peer left consensus: it never becomes leader, and the rest (which no
    // longer count it) keep accepting changes.
    let s = c.status(g).expect("removed peer still answers REST");
    assert_ne!(s["raft_info"]["role"], "Leader", "{s}");
    c.nodes[g].kill9()?;
    let l = c.leader()?;
    assert_eq!(create(&c.nodes[l], "after_removal", "")?.0, 200);
    Ok(())
}

#[test]
fn explicit_uri_and_shared_p2p_secret() -> Result<()> {
    let c = Cluster::start_with(2, &[("QDRANT__CLUSTER__P2P__API_KEY", "s3cret")])?;
    let uri = c.p2p_uri(0);
    // A peer with the wrong secret is refused and never becomes a member.
    let mut intruder = Node::start_with(
        &[
            ("QDRANT__CLUSTER__ENABLED", "true"),
            ("QDRANT__CLUSTER__P2P__PORT", "0"),
            ("QDRANT__CLUSTER__P2P__API_KEY", "wrong"),
        ],
        &["--bootstrap", &uri, "--uri", "http://127.0.0.1:1"],
    )?;
    wait_for(
        "refusal in the intruder's log",
        Duration::from_secs(30),
        || intruder.log().contains("join failed").then_some(()),
    )?;
    assert!(intruder.log().contains("api key"), "{}", intruder.log());
    let s = c.status(0).expect("status");
    assert_eq!(s["peers"].as_object().map(|p| p.len()), Some(2), "{s}");
    intruder.kill9()?;

    // QDRANT_BOOTSTRAP works like --bootstrap; with the right secret the peer gets in.
    let member = Node::start_with(
        &[
            ("QDRANT__CLUSTER__ENABLED", "true"),
            ("QDRANT__CLUSTER__P2P__PORT", "0"),
            ("QDRANT__CLUSTER__P2P__API_KEY", "s3cret"),
            ("QDRANT_BOOTSTRAP", &uri),
        ],
        &[],
    )?;
    wait_for("third member", Duration::from_secs(30), || {
        let (_, b) = member.http().get("/cluster").ok()?;
        let peers = b["result"]["peers"].as_object()?.len();
        (peers == 3 && b["result"]["raft_info"]["is_voter"] == true).then_some(())
    })?;
    Ok(())
}

#[test]
fn whole_cluster_restart_keeps_identity_and_metadata() -> Result<()> {
    let mut c = Cluster::start(3)?;
    let ids: Vec<u64> = (0..3).map(|i| c.peer_id(i)).collect();
    let f = c.follower()?;
    assert_eq!(create(&c.nodes[f], "survives", "")?.0, 200);
    for n in &mut c.nodes {
        n.stop()?;
    }
    for n in &mut c.nodes {
        n.start_again()?;
    }
    c.wait_converged(Duration::from_secs(60))?;
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(c.peer_id(i), *id);
        assert!(has_collection(&c.nodes[i], "survives"));
    }
    let l = c.leader()?;
    assert_eq!(create(&c.nodes[l], "after_restart", "")?.0, 200);
    Ok(())
}

#[test]
fn a_leader_that_lost_its_quorum_refuses_and_applies_nothing() -> Result<()> {
    let mut c = Cluster::start(3)?;
    let leader = c.leader()?;
    let followers: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    for f in &followers {
        c.nodes[*f].kill9()?;
    }
    let started = Instant::now();
    let (code, body) = create(&c.nodes[leader], "lost_quorum", "?timeout=3")?;
    assert_eq!(code, 503, "{body}");
    assert!(started.elapsed() < Duration::from_secs(20));
    for f in &followers {
        c.nodes[*f].start_again()?;
    }
    c.wait_converged(Duration::from_secs(60))?;
    let l = c.leader()?;
    assert_eq!(create(&c.nodes[l], "quorum_back", "")?.0, 200);
    for n in &c.nodes {
        wait_for("later write everywhere", Duration::from_secs(20), || {
            has_collection(n, "quorum_back").then_some(())
        })?;
        assert!(
            !has_collection(n, "lost_quorum"),
            "a refused change must not be applied"
        );
    }
    Ok(())
}

#[test]
fn a_lagging_peer_catches_up_from_a_raft_snapshot() -> Result<()> {
    let mut c = Cluster::start_with(
        3,
        &[("QDRANT__CLUSTER__CONSENSUS__COMPACT_WAL_ENTRIES", "4")],
    )?;
    let lagging = c.follower()?;
    c.nodes[lagging].kill9()?;
    let l = c.leader()?;
    for i in 0..12 {
        assert_eq!(create(&c.nodes[l], &format!("c{i}"), "")?.0, 200);
    }
    for i in (0..12).step_by(2) {
        assert_eq!(
            c.nodes[l].http().delete(&format!("/collections/c{i}"))?.0,
            200
        );
    }
    c.nodes[lagging].start_again()?;
    wait_for("snapshot install", Duration::from_secs(30), || {
        c.nodes[lagging]
            .log()
            .contains("installed raft snapshot")
            .then_some(())
    })?;
    wait_for(
        "same collections as the leader",
        Duration::from_secs(30),
        || {
            let (_, a) = c.nodes[l].http().get("/collections").ok()?;
            let (_, b) = c.nodes[lagging].http().get("/collections").ok()?;
            let names = |v: &Value| {
                let mut n: Vec<String> = v["result"]["collections"]
                    .as_array()?
                    .iter()
                    .filter_map(|c| c["name"].as_str().map(String::from))
                    .collect();
                n.sort();
                Some(n)
            };
            let (a, b) = (names(&a)?, names(&b)?);
            (a.len() == 6 && a == b).then_some(())
        },
    )?;
    Ok(())
}

#[test]
fn first_peer_advertises_the_uri_it_was_given() -> Result<()> {
    // A port is reserved by binding it and letting it go; the node binds it right after.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let uri = format!("http://localhost:{port}");
    let n = Node::start_with(
        &[
            ("QDRANT__CLUSTER__ENABLED", "true"),
            ("QDRANT__CLUSTER__P2P__PORT", &port.to_string()),
        ],
        &["--uri", &uri],
    )?;
    let s = wait_for(
        "single-peer cluster with a leader",
        Duration::from_secs(30),
        || {
            let (_, b) = n.http().get("/cluster").ok()?;
            (b["result"]["raft_info"]["role"] == "Leader").then(|| b["result"].clone())
        },
    )?;
    let me = s["peer_id"].as_u64().expect("peer id");
    assert_eq!(s["peers"][me.to_string()]["uri"], uri.as_str(), "{s}");
    assert_eq!(create(&n, "solo", "")?.0, 200);
    assert!(has_collection(&n, "solo"));
    Ok(())
}

#[test]
fn a_peer_back_at_the_same_address_with_an_empty_volume_is_a_new_peer() -> Result<()> {
    let mut c = Cluster::start(3)?;
    let old = c.peer_id(2);
    let p2p_port = c.nodes[2].p2p.clone().unwrap_or_default();
    let p2p_port = p2p_port.rsplit(':').next().unwrap_or_default().to_string();
    // The pod comes back under its old name (same p2p address) on a fresh volume, and has
    // not joined yet (its bootstrap peer does not answer): its log is empty.
    c.nodes[2].kill9()?;
    let dir = tempfile::tempdir()?;
    let log = dir.path().join("fresh.log");
    let env: Vec<(String, String)> = [
        ("QDRANT__CLUSTER__ENABLED", "true"),
        ("QDRANT__CLUSTER__P2P__PORT", p2p_port.as_str()),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let args = vec!["--bootstrap".to_string(), "http://127.0.0.1:1".to_string()];
    let mut fresh = Node::spawn_raw(dir.path(), &log, &env, &args)?;
    // The leader's messages for the old id reach the new process and are refused: the
    // leader neither takes the empty log for its old follower's (openraft would stop on a
    // log that goes backwards) nor stops; changes still commit.
    let l = c.leader()?;
    let refused = format!("not peer {old}");
    wait_for(
        "the leader's messages refused",
        Duration::from_secs(30),
        || c.nodes[l].log().contains(&refused).then_some(()),
    )?;
    for i in 0..3 {
        assert_eq!(create(&c.nodes[l], &format!("after_{i}"), "")?.0, 200);
    }
    for i in [0, 1] {
        assert!(
            !c.nodes[i].log().contains("panicked"),
            "{}",
            c.nodes[i].log()
        );
    }
    fresh.kill()?;
    fresh.wait()?;
    let (code, body) = c.nodes[l]
        .http()
        .delete(&format!("/cluster/peer/{old}?force=true"))?;
    assert_eq!(code, 200, "{body}");
    Ok(())
}
