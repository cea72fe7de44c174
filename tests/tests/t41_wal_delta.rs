//! `wal_delta` recovery on a cluster of real processes: a replica back from a short outage
//! gets only the points written while it was away (fewer bytes than a stream of the whole
//! shard) and ends equal to the others; when the source's log no longer reaches back that
//! far, the recovery streams every point instead.

use anyhow::Result;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;
use tests::points::*;
use tests::{wait_for, Cluster, Node};

/// One "shard transfer finished" line of a source's log.
#[derive(Debug, Clone, PartialEq)]
struct Finished {
    shard: u64,
    to: u64,
    method: String,
    points: u64,
    bytes: u64,
}

/// The log without terminal colour codes.
fn plain(log: &str) -> String {
    let mut out = String::with_capacity(log.len());
    let mut chars = log.chars();
    while let Some(ch) = chars.next() {
        if ch == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(ch);
        }
    }
    out
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let at = line.find(&format!(" {key}="))? + key.len() + 2;
    let rest = &line[at..];
    let end = rest.find(' ').unwrap_or(rest.len());
    Some(rest[..end].trim_matches('"'))
}

fn finished(nodes: &[&Node]) -> Vec<Finished> {
    let mut out = Vec::new();
    for n in nodes {
        for line in plain(&n.log()).lines() {
            if !line.contains("shard transfer finished") {
                continue;
            }
            let num = |k: &str| field(line, k).and_then(|v| v.parse().ok()).unwrap_or(0);
            out.push(Finished {
                shard: num("shard"),
                to: num("to"),
                method: field(line, "method").unwrap_or("").to_string(),
                points: num("points"),
                bytes: num("bytes"),
            });
        }
    }
    out
}

/// Every point with its payload and vector, through `node`.
fn dump(node: &Node, name: &str) -> BTreeMap<String, Value> {
    let body = json!({"limit": 100_000, "with_payload": true, "with_vector": true});
    let page = post(node, &format!("/collections/{name}/points/scroll"), body);
    page["points"]
        .as_array()
        .expect("points")
        .iter()
        .map(|p| {
            let v = json!({"payload": p["payload"], "vector": p["vector"]});
            (p["id"].to_string(), v)
        })
        .collect()
}

fn wait_states(node: &Node, name: &str, peer: u64, want: &str, n: usize) -> Result<()> {
    wait_for(
        &format!("peer {peer}'s replicas to be {want}"),
        Duration::from_secs(60),
        || {
            let s = states_of(node, name, peer);
            (s.len() == n && s.iter().all(|x| x == want)).then_some(())
        },
    )
}

fn settled(node: &Node, name: &str) -> Result<()> {
    wait_for("transfers to finish", Duration::from_secs(120), || {
        let info = cluster_info(node, name);
        let idle = info["shard_transfers"]
            .as_array()
            .is_some_and(|t| t.is_empty());
        (idle && replicas(&info).values().all(|s| s == "Active")).then_some(())
    })
}

fn ok(reply: (u16, Value)) {
    assert_eq!(reply.0, 200, "{}", reply.1);
}

#[test]
fn a_replica_back_from_a_short_outage_gets_only_what_it_missed() -> Result<()> {
    let mut c = Cluster::start(3)?;
    // Every peer holds both shards, so reads through a peer see its own replicas.
    create(&c.nodes[0], "d", sharded(2, 3, 1))?;
    for start in (0..4000).step_by(1000) {
        ok(upsert(&c.nodes[0], "d", start..start + 1000)?);
    }
    let away = c.peer_id(2);
    c.nodes[2].kill9()?;

    // While it is away: new points, changed payloads and deleted points (450 ids).
    ok(upsert(&c.nodes[0], "d", 4000..4300)?);
    let http = c.nodes[1].http();
    let ids: Vec<u64> = (0..100).collect();
    ok(http.post(
        "/collections/d/points/payload?wait=true",
        &json!({"payload": {"changed": true}, "points": ids}),
    )?);
    let gone: Vec<u64> = (100..150).collect();
    ok(http.post(
        "/collections/d/points/delete?wait=true",
        &json!({"points": gone}),
    )?);
    wait_states(&c.nodes[0], "d", away, "Dead", 2)?;

    c.nodes[2].start_again()?;
    settled(&c.nodes[0], "d")?;
    wait_states(&c.nodes[2], "d", away, "Active", 2)?;
    let runs: Vec<Finished> = finished(&[&c.nodes[0], &c.nodes[1]])
        .into_iter()
        .filter(|f| f.to == away)
        .collect();
    assert_eq!(runs.len(), 2, "one recovery per shard: {runs:?}");
    assert!(runs.iter().all(|f| f.method == "wal_delta"), "{runs:?}");
    let sent: u64 = runs.iter().map(|f| f.points).sum();
    assert_eq!(sent, 450, "exactly the points touched while away: {runs:?}");

    // The recovered replicas hold what the others hold, payload and vectors included.
    let want = dump(&c.nodes[0], "d");
    assert_eq!(want.len(), 4250);
    assert_eq!(want["5"]["payload"]["changed"], json!(true));
    let got = dump(&c.nodes[2], "d");
    assert_eq!(got.len(), want.len());
    assert!(got == want, "peer {away}'s replicas differ from peer 0's");

    // A stream of the same shard to a new peer moves several times the bytes.
    let fresh = c.add_peer(&[])?;
    c.wait_converged(Duration::from_secs(60))?;
    let to = c.peer_id(fresh);
    let shard = runs[0].shard;
    let from = c.peer_id(0);
    let op = json!({"replicate_shard": {"shard_id": shard, "from_peer_id": from,
        "to_peer_id": to, "method": "stream_records"}});
    ok(c.nodes[0].http().post("/collections/d/cluster", &op)?);
    settled(&c.nodes[0], "d")?;
    let stream = wait_for("the stream's log line", Duration::from_secs(30), || {
        finished(&[&c.nodes[0]]).into_iter().find(|f| f.to == to)
    })?;
    assert_eq!(stream.method, "stream_records");
    let delta = &runs[0];
    eprintln!(
        "shard {shard}: wal_delta {} points / {} bytes, stream_records {} points / {} bytes",
        delta.points, delta.bytes, stream.points, stream.bytes
    );
    assert!(
        delta.bytes * 4 < stream.bytes,
        "delta {delta:?} vs stream {stream:?}"
    );
    Ok(())
}

#[test]
fn a_log_that_no_longer_reaches_back_falls_back_to_streaming() -> Result<()> {
    let mut c = Cluster::start(3)?;
    // A 1 MB log (Qdrant's smallest WAL) of points of 1 KB each.
    let body = json!({
        "vectors": {"size": 256, "distance": "Dot"},
        "shard_number": 1, "replication_factor": 3,
        "wal_config": {"wal_capacity_mb": 1, "wal_retain_closed": 0},
    });
    create(&c.nodes[0], "f", body)?;
    let batch = |ids: std::ops::Range<u64>| {
        let pts: Vec<Value> = ids
            .map(|i| json!({"id": i, "vector": vec![i as f32; 256], "payload": {"i": i}}))
            .collect();
        json!({ "points": pts })
    };
    ok(c.nodes[0]
        .http()
        .put("/collections/f/points?wait=true", &batch(0..500))?);
    let away = c.peer_id(2);
    c.nodes[2].kill9()?;
    for start in (500..3000).step_by(250) {
        ok(c.nodes[0].http().put(
            "/collections/f/points?wait=true",
            &batch(start..start + 250),
        )?);
    }
    wait_states(&c.nodes[0], "f", away, "Dead", 1)?;
    c.nodes[2].start_again()?;
    settled(&c.nodes[0], "f")?;
    let runs: Vec<Finished> = finished(&[&c.nodes[0], &c.nodes[1]])
        .into_iter()
        .filter(|f| f.to == away)
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].method, "stream_records", "{runs:?}");
    assert_eq!(runs[0].points, 3000);
    let logs = plain(&format!("{}{}", c.nodes[0].log(), c.nodes[1].log()));
    assert!(
        logs.contains("wal_delta not possible") && logs.contains("no longer in the operation log"),
        "the fallback says why"
    );
    wait_states(&c.nodes[2], "f", away, "Active", 1)?;
    assert!(dump(&c.nodes[2], "f") == dump(&c.nodes[0], "f"));
    Ok(())
}
