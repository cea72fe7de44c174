//! How far shard transfers have got. The source of a transfer counts the points it sent;
//! every peer learns the other sources' counts from their health replies (about once a
//! second), so any peer can show any transfer's progress.

use crate::collection::replicas::TransferKey;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// One running transfer's count, as its source reports it over p2p.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferProgress {
    pub collection: String,
    pub shard_id: u32,
    pub to: u64,
    #[serde(default)]
    pub to_shard_id: Option<u32>,
    pub done: usize,
    pub total: usize,
}

impl TransferProgress {
    fn key(&self) -> TransferKey {
        (
            self.collection.clone(),
            self.shard_id,
            self.to,
            self.to_shard_id,
        )
    }
}

#[derive(Debug, Default)]
pub struct Progress {
    /// Transfers this peer sends: (points sent, total).
    mine: Mutex<HashMap<TransferKey, (usize, usize)>>,
    /// Other sources' last reports, by source peer.
    theirs: Mutex<HashMap<u64, Vec<TransferProgress>>>,
}

impl Progress {
    pub fn set(&self, key: TransferKey, done: usize, total: usize) {
        self.mine.lock().insert(key, (done, total.max(done)));
    }

    pub fn remove(&self, key: &TransferKey) {
        self.mine.lock().remove(key);
    }

    /// What this peer reports to the others.
    pub fn mine(&self) -> Vec<TransferProgress> {
        self.mine
            .lock()
            .iter()
            .map(
                |((c, shard, to, to_shard), (done, total))| TransferProgress {
                    collection: c.clone(),
                    shard_id: *shard,
                    to: *to,
                    to_shard_id: *to_shard,
                    done: *done,
                    total: *total,
                },
            )
            .collect()
    }

    /// Replaces what `peer` reported last (an empty list when it sends none).
    pub fn set_theirs(&self, peer: u64, report: Vec<TransferProgress>) {
        self.theirs.lock().insert(peer, report);
    }

    /// (points sent, total) of the transfer `key` whose source is `from`; `local` is this
    /// peer's id.
    pub fn get(&self, key: &TransferKey, from: u64, local: u64) -> Option<(usize, usize)> {
        if from == local {
            return self.mine.lock().get(key).copied();
        }
        let theirs = self.theirs.lock();
        let t = theirs.get(&from)?.iter().find(|t| t.key() == *key)?;
        Some((t.done, t.total))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remote_sources_report_answers_for_its_transfers_only() {
        let (here, there) = (Progress::default(), Progress::default());
        let key: TransferKey = ("c".into(), 1, 7, None);
        there.set(key.clone(), 250, 1000);
        here.set_theirs(5, there.mine());
        assert_eq!(here.get(&key, 5, 3), Some((250, 1000)));
        assert_eq!(here.get(&key, 6, 3), None, "another source");
        assert_eq!(
            there.get(&key, 5, 5),
            Some((250, 1000)),
            "the source itself"
        );
        here.set_theirs(5, Vec::new());
        assert_eq!(here.get(&key, 5, 3), None, "finished");
    }
}
