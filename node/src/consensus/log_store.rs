//! openraft's log storage on RocksDB (`storage::RaftStore`): entries, vote, committed and
//! purged log ids. Writes run on the blocking pool and are synced before openraft is told.

use super::{Entry, LogId, PeerId, StorageError, TypeConfig, Vote};
use crate::storage::RaftStore;
use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{OptionalSend, StorageIOError};
use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

const VOTE: &str = "vote";
const COMMITTED: &str = "committed";
const PURGED: &str = "purged";

#[derive(Debug, Clone)]
pub struct LogStore {
    db: Arc<RaftStore>,
}

impl LogStore {
    pub fn new(db: Arc<RaftStore>) -> LogStore {
        LogStore { db }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&RaftStore) -> Result<T, crate::storage::StorageError> + Send + 'static,
        err: fn(openraft::AnyError) -> StorageIOError<PeerId>,
    ) -> Result<T, StorageError> {
        let db = self.db.clone();
        match tokio::task::spawn_blocking(move || f(&db)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(err(openraft::AnyError::new(&e)).into()),
            Err(e) => Err(err(openraft::AnyError::new(&e)).into()),
        }
    }
}

fn read_err(e: crate::storage::StorageError) -> StorageError {
    StorageIOError::read_logs(&e).into()
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let from = match range.start_bound() {
            Bound::Included(i) => *i,
            Bound::Excluded(i) => i.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let to = match range.end_bound() {
            Bound::Included(i) => i.saturating_add(1),
            Bound::Excluded(i) => *i,
            Bound::Unbounded => u64::MAX,
        };
        self.db.logs(from, to).map_err(read_err)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let purged: Option<LogId> = self.db.get_meta(PURGED).map_err(read_err)?.flatten();
        let last = self
            .db
            .last_log::<Entry>()
            .map_err(read_err)?
            .map(|e| e.log_id)
            .or(purged);
        Ok(LogState {
            last_purged_log_id: purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let vote = *vote;
        self.blocking(
            move |db| db.put_meta(VOTE, &vote),
            StorageIOError::write_vote,
        )
        .await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        self.db
            .get_meta(VOTE)
            .map_err(|e| StorageIOError::read_vote(&e).into())
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        self.blocking(
            move |db| db.put_meta(COMMITTED, &committed),
            StorageIOError::write_logs,
        )
        .await
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.db.get_meta(COMMITTED).map_err(read_err)?.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let res = self
            .blocking(
                move |db| db.put_logs(entries.into_iter().map(|e| (e.log_id.index, e))),
                StorageIOError::write_logs,
            )
            .await;
        callback.log_io_completed(
            res.as_ref()
                .map(|_| ())
                .map_err(|e| std::io::Error::other(e.to_string())),
        );
        res
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.blocking(
            move |db| db.delete_logs::<()>(log_id.index, u64::MAX, None),
            StorageIOError::write_logs,
        )
        .await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.blocking(
            move |db| db.delete_logs(0, log_id.index + 1, Some((PURGED, &Some(log_id)))),
            StorageIOError::write_logs,
        )
        .await
    }
}
