//! Write ordering on 3 real peers. Three writers, each through another peer, overwrite the
//! same points at once: under `strong` (and `medium`) every replica ends with the same
//! payloads, because one replica orders the shard's writes; under `weak` each replica
//! applies them in the order they arrive (the count of differing points is printed, it is
//! not asserted: it depends on timing). With the leader down, `medium` moves on to the
//! next active replica and `strong` refuses with a 503.

use anyhow::Result;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Barrier;
use std::time::Instant;
use tests::points::*;
use tests::Cluster;

/// Points each round overwrites (new ones every round).
const IDS: u64 = 10;

fn collection() -> Value {
    json!({
        "vectors": {"size": DIM, "distance": "Cosine"},
        "shard_number": 1, "replication_factor": 3,
    })
}

fn batch(writer: usize, round: usize) -> Value {
    let first = round as u64 * IDS;
    let pts: Vec<Value> = (first..first + IDS)
        .map(|i| json!({"id": i, "vector": vector(i), "payload": {"w": writer, "r": round}}))
        .collect();
    json!({ "points": pts })
}

/// Each peer's own replica: a read asks the local replica first.
fn replica_payloads(c: &Cluster, i: usize, name: &str) -> BTreeMap<u64, Value> {
    let page = post(
        &c.nodes[i],
        &format!("/collections/{name}/points/scroll"),
        json!({"limit": 10_000, "with_payload": true}),
    );
    page["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_u64().unwrap(), p["payload"].clone()))
        .collect()
}

/// Runs the conflicting writers (in each round all three write the round's points at
/// once); returns the points whose payload differs between replicas and the writes per
/// second.
fn conflicting_writes(c: &Cluster, ordering: &str, rounds: usize) -> Result<(usize, f64)> {
    let name = format!("o_{ordering}");
    create(&c.nodes[0], &name, collection())?;
    let path = format!("/collections/{name}/points?wait=true&ordering={ordering}");
    let started = Instant::now();
    let together = Barrier::new(3);
    std::thread::scope(|s| {
        for (w, node) in c.nodes.iter().enumerate() {
            let (http, path, together) = (node.http(), path.clone(), &together);
            s.spawn(move || {
                for r in 0..rounds {
                    together.wait();
                    let (code, body) = http.put(&path, &batch(w, r)).expect("write");
                    assert_eq!(code, 200, "writer {w} round {r}: {body}");
                }
            });
        }
    });
    let rate = (3 * rounds) as f64 / started.elapsed().as_secs_f64();
    let views: Vec<_> = (0..3).map(|i| replica_payloads(c, i, &name)).collect();
    let n = IDS * rounds as u64;
    assert_eq!(views[0].len() as u64, n);
    let differ = (0..n)
        .filter(|id| views[1..].iter().any(|v| v.get(id) != views[0].get(id)))
        .count();
    Ok((differ, rate))
}

#[test]
fn ordered_writes_leave_replicas_identical() -> Result<()> {
    let mut c = Cluster::start(3)?;
    const ROUNDS: usize = 60;
    let (weak, weak_rate) = conflicting_writes(&c, "weak", ROUNDS)?;
    let (strong, strong_rate) = conflicting_writes(&c, "strong", ROUNDS)?;
    let (medium, _) = conflicting_writes(&c, "medium", ROUNDS)?;
    let n = IDS * ROUNDS as u64;
    println!(
        "conflicting writes: weak {weak} of {n} points differ ({weak_rate:.0} writes/s), \
         strong {strong} ({strong_rate:.0} writes/s), medium {medium}"
    );
    assert_eq!(strong, 0, "strong ordering left replicas different");
    assert_eq!(medium, 0, "medium ordering left replicas different");

    // A bad ordering is a 400.
    let (code, body) = c.nodes[0].http().put(
        "/collections/o_weak/points?ordering=sometimes",
        &batch(0, 0),
    )?;
    assert_eq!(code, 400, "{body}");

    // The leader (lowest peer id) goes down: strong refuses, medium goes on.
    let ids: Vec<u64> = (0..3).map(|i| c.peer_id(i)).collect();
    let lead = (0..3).min_by_key(|i| ids[*i]).unwrap();
    let other = (lead + 1) % 3;
    c.nodes[lead].kill9()?;
    let strong_path = "/collections/o_strong/points?wait=true&ordering=strong";
    let (code, body) = c.nodes[other].http().put(strong_path, &batch(7, 0))?;
    assert_eq!(code, 503, "strong write without its leader: {body}");
    let medium_path = "/collections/o_medium/points?wait=true&ordering=medium";
    let (code, body) = c.nodes[other].http().put(medium_path, &batch(7, 1))?;
    assert_eq!(code, 200, "medium write without the first replica: {body}");
    let third = 3 - lead - other;
    for i in [other, third] {
        let got = replica_payloads(&c, i, "o_medium");
        assert_eq!(got[&IDS], json!({"w": 7, "r": 1}), "peer {i}");
    }
    Ok(())
}
