use super::*;
use crate::collection::replicas::LayoutChange;

fn finish(t: &Transfer, success: bool) -> LayoutChange {
    LayoutChange::FinishTransfer {
        shard_id: t.shard_id,
        from: t.from,
        to: t.to,
        to_shard_id: t.to_shard_id,
        success,
    }
}

fn start(direction: Direction, peers: &[u64]) -> LayoutChange {
    LayoutChange::StartResharding {
        direction,
        key: None,
        peers: peers.to_vec(),
    }
}

fn ids() -> impl Iterator<Item = PointId> {
    (0..20_000u64).map(PointId::Num)
}

#[test]
fn a_new_last_shard_takes_points_only_from_the_others_and_evenly() {
    for n in 1..8u32 {
        let mut moved = 0;
        for id in ids() {
            let (a, b) = (jump(id.route_hash(), n), jump(id.route_hash(), n + 1));
            assert!(a < n && b <= n);
            assert!(
                a == b || b == n,
                "{id:?} moved from {a} to {b} when {n} grew"
            );
            moved += usize::from(b == n);
        }
        let share = moved as f64 / 20_000.0;
        let want = 1.0 / (n + 1) as f64;
        assert!((share - want).abs() < 0.02, "{n}: {share} vs {want}");
    }
}

#[test]
fn up_copies_into_a_new_shard_then_switches_and_cleans_up() {
    let mut l = Layout::from_placement(&[vec![1], vec![2], vec![3]]);
    l.apply(&start(Direction::Up, &[2])).unwrap();
    assert_eq!(l.state(3, 2), Some(ReplicaState::Partial));
    assert_eq!(
        l.group(None),
        vec![0, 1, 2],
        "no traffic to the new shard yet"
    );
    assert_eq!(l.transfers.len(), 3);
    assert!(l.transfers.iter().all(|t| t.to_shard_id == Some(3)));
    assert_eq!(l.hidden(0), None);
    let t = l.transfers.clone();
    assert_eq!(l.sends(&t[0]), Some(Slot { count: 4, index: 3 }));
    assert_eq!(l.earlier_copy(&t[1]), Some(Slot { count: 3, index: 1 }));
    let other = LayoutChange::StartTransfer {
        transfer: Transfer {
            to_shard_id: None,
            method: "stream_records".into(),
            ..t[0].clone()
        },
    };
    assert_eq!(l.apply(&other), Err(LayoutError::Resharding));
    l.apply(&finish(&t[0], true)).unwrap();
    l.apply(&finish(&t[1], true)).unwrap();
    assert_eq!(l.group(None), vec![0, 1, 2], "one copy is still running");
    assert_eq!(l.transfers.len(), 3, "done copies forward until the switch");
    l.apply(&finish(&t[2], true)).unwrap();
    assert_eq!(l.group(None), vec![0, 1, 2, 3]);
    assert_eq!(l.state(3, 2), Some(ReplicaState::Active));
    assert!(l.transfers.is_empty());
    assert_eq!(l.hidden(1), Some(Slot { count: 4, index: 3 }));
    assert_eq!(l.hidden(3), None);
    assert_eq!(
        l.apply(&LayoutChange::AbortResharding),
        Err(LayoutError::Switched)
    );
    for p in [1, 2] {
        l.apply(&LayoutChange::ReshardingCleaned { peer_id: p })
            .unwrap();
    }
    assert!(l.resharding.is_some());
    l.apply(&LayoutChange::ReshardingCleaned { peer_id: 3 })
        .unwrap();
    assert_eq!(l.resharding, None);
    assert_eq!(l.hidden(1), None);
}

#[test]
fn down_copies_to_every_replica_of_the_others_and_drops_the_last_shard() {
    let mut l = Layout::from_placement(&[vec![1, 2], vec![2, 3], vec![3, 1]]);
    assert_eq!(
        l.apply(&start(Direction::Down, &[2])),
        Err(LayoutError::NoReplica(2, 2))
    );
    l.apply(&start(Direction::Down, &[3])).unwrap();
    assert_eq!(l.transfers.len(), 4);
    assert_eq!(
        l.group(None),
        vec![0, 1, 2],
        "writes still route over three shards"
    );
    assert_eq!(l.hidden(0), Some(Slot { count: 3, index: 2 }));
    assert_eq!(l.hidden(2), None);
    let t = l.transfers.clone();
    let to1 = t.iter().find(|t| t.to_shard_id == Some(1)).unwrap();
    assert_eq!(l.sends(to1), Some(Slot { count: 2, index: 1 }));
    for x in &t {
        l.apply(&finish(x, true)).unwrap();
    }
    assert_eq!(l.group(None), vec![0, 1]);
    assert_eq!(l.resharding, None);
    assert_eq!(l.hidden(0), None);
    assert_eq!(
        l.apply(&start(Direction::Down, &[2])),
        Ok(()),
        "two shards go down to one"
    );
    l.apply(&LayoutChange::AbortResharding).unwrap();
    assert_eq!(
        l.hidden(0),
        Some(Slot { count: 2, index: 1 }),
        "targets clean up"
    );
    assert!(l.transfers.is_empty());
    assert_eq!(l.group(None), vec![0, 1]);
}

#[test]
fn failures_abort_and_bad_starts_are_refused() {
    let mut l = Layout::from_placement(&[vec![1], vec![2]]);
    l.apply(&start(Direction::Up, &[3])).unwrap();
    assert_eq!(
        l.apply(&start(Direction::Up, &[3])),
        Err(LayoutError::Resharding)
    );
    let t = l.transfers[0].clone();
    l.apply(&finish(&t, false)).unwrap();
    assert_eq!(l.resharding, None, "a failed copy aborts");
    assert_eq!(l.replicas.len(), 2, "the new shard is dropped");
    l.apply(&start(Direction::Up, &[3])).unwrap();
    l.apply(&LayoutChange::SetState {
        shard_id: 2,
        peer_id: 3,
        state: ReplicaState::Dead,
        from: None,
    })
    .unwrap();
    assert_eq!(l.resharding, None, "a dead target aborts");
    assert_eq!(l.replicas.len(), 2);
    l.apply(&start(Direction::Up, &[3])).unwrap();
    assert!(l.forget(3));
    assert_eq!(l.resharding, None, "losing the target aborts");
    let mut one = Layout::from_placement(&[vec![1]]);
    assert_eq!(
        one.apply(&start(Direction::Down, &[1])),
        Err(LayoutError::LastShard)
    );
    let mut old: Layout =
        serde_json::from_str(r#"{"replicas": [[0, [[1, "Active"]]], [1, [[1, "Active"]]]]}"#)
            .unwrap();
    assert_eq!(old.hash, HashKind::Mod, "stored layouts keep their hash");
    assert_eq!(
        old.apply(&start(Direction::Up, &[1])),
        Err(LayoutError::LegacyHash)
    );
    let mut single: Layout =
        serde_json::from_str(r#"{"replicas": [[0, [[1, "Active"]]]]}"#).unwrap();
    single.apply(&start(Direction::Up, &[1])).unwrap();
    assert_eq!(
        single.hash,
        HashKind::Jump,
        "one shard routes alike under both"
    );
}

#[test]
fn forwarded_writes_keep_only_the_moving_points() {
    use crate::collection::ops::{Selector, ShardOp};
    let slot = Slot { count: 2, index: 1 };
    let all: Vec<PointId> = (0..100u64).map(PointId::Num).collect();
    let Some(ShardOp::Delete(Selector::Ids(kept))) =
        ShardOp::Delete(Selector::Ids(all.clone())).restricted(slot)
    else {
        panic!("ids are kept");
    };
    assert!(!kept.is_empty() && kept.len() < 100);
    assert!(kept.iter().all(|id| slot.holds(*id)));
    assert!(ShardOp::Clear.restricted(slot).is_none());
    let none: Vec<PointId> = all.into_iter().filter(|id| !slot.holds(*id)).collect();
    assert!(ShardOp::Delete(Selector::Ids(none))
        .restricted(slot)
        .is_none());
}
