//! Routes point operations and reads to the replicas of each shard. Writes go to every
//! active and partial replica in parallel and need `write_consistency_factor` active
//! acknowledgements; a replica that fails a write is marked `Dead` through consensus. Reads
//! ask one active replica per shard (the local one first, another one if it fails), or more
//! when a `consistency` is given, and the partial answers are merged here. What a write's
//! answers mean (marks, reply) is decided in `write_step`, without I/O.

use super::clock_pool::ClockPool;
use super::consistency::Consistency;
use super::ordering::WriteOrdering;
use super::remote::{Peer, Remote, RemoteError, Routing};
use super::write_step;
use crate::collection::clocks::Tag;
use crate::collection::local_read::{ReadReply, ReadRequest};
use crate::collection::ops::{KeyedOp, ShardOp};
use crate::collection::replicas::{LayoutChange, ReplicaState, TransferKey};
use crate::collection::{Collection, CollectionError, CollectionResult, Registry};
use crate::consensus::state_machine::apply_command;
use crate::consensus::{Command, Consensus, Proposal};
use futures::future::join_all;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Why a metadata command was not applied.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error(transparent)]
    Collection(#[from] CollectionError),
    #[error(transparent)]
    Consensus(#[from] crate::consensus::ConsensusError),
}

/// How long a replica-state or transfer change may take to commit.
pub const LAYOUT_TIMEOUT: Duration = Duration::from_secs(10);

/// Attempts of one shard write while the layout keeps changing under it.
pub(super) const WRITE_ATTEMPTS: usize = 5;

/// How long a peer may take to apply a write or answer a read.
pub(super) const CALL_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct Router {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    registry: Arc<Registry>,
    consensus: Option<Consensus>,
    remote: Remote,
    /// Rotates the choice among remote replicas so reads spread over them.
    turn: AtomicUsize,
    /// How far the transfers this peer and the others send have got.
    progress: super::progress::Progress,
    /// Peers this peer's health checks see down (for operators: `GET /cluster/unreachable`).
    unreachable: parking_lot::Mutex<std::collections::BTreeSet<u64>>,
    /// Transfers running on this peer.
    running: parking_lot::Mutex<std::collections::HashSet<TransferKey>>,
    /// One write at a time per shard this peer orders (medium and strong ordering).
    order_locks: parking_lot::Mutex<HashMap<(String, u32), OrderLock>>,
    /// Clocks the writes this peer sends to replicas are tagged with.
    clocks: ClockPool,
    /// Other peers over the resource quota at their last health check.
    over_quota: parking_lot::Mutex<std::collections::BTreeSet<u64>>,
}

/// Held while this peer sends one ordered write of a shard to its replicas.
type OrderLock = Arc<tokio::sync::Mutex<()>>;

/// Shards assigned to each peer for one read.
type Plan = BTreeMap<u64, Vec<u32>>;

/// Runs a local replica's part on the blocking pool, with the errors a remote call has.
async fn on_local<T: Send + 'static>(
    peer: u64,
    f: impl FnOnce() -> CollectionResult<T> + Send + 'static,
) -> Result<T, RemoteError> {
    let r = tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| RemoteError::Failed(peer, e.to_string()))?;
    r.map_err(|e| match e {
        CollectionError::BadInput(m) | CollectionError::Unsupported(m) => {
            RemoteError::Rejected(peer, m)
        }
        e @ CollectionError::WrongInput(_) => RemoteError::Rejected(peer, e.to_string()),
        CollectionError::StaleLayout(v) => RemoteError::Stale(peer, v),
        other => RemoteError::Failed(peer, other.to_string()),
    })
}

impl Router {
    pub fn new(registry: Arc<Registry>, consensus: Option<Consensus>) -> Router {
        let key = consensus
            .as_ref()
            .and_then(|c| c.settings().p2p_api_key.clone());
        Router {
            inner: Arc::new(Inner {
                registry,
                consensus,
                remote: Remote::new(key),
                turn: AtomicUsize::new(0),
                progress: Default::default(),
                running: Default::default(),
                unreachable: Default::default(),
                order_locks: Default::default(),
                clocks: ClockPool::default(),
                over_quota: Default::default(),
            }),
        }
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.inner.registry
    }

    pub fn consensus(&self) -> Option<&Consensus> {
        self.inner.consensus.as_ref()
    }

    pub fn remote(&self) -> &Remote {
        &self.inner.remote
    }

    pub fn progress(&self) -> &super::progress::Progress {
        &self.inner.progress
    }

    pub fn running(&self) -> parking_lot::MutexGuard<'_, std::collections::HashSet<TransferKey>> {
        self.inner.running.lock()
    }

    pub fn set_unreachable(&self, peers: std::collections::BTreeSet<u64>) {
        *self.inner.unreachable.lock() = peers;
    }

    pub fn set_over_quota(&self, peers: std::collections::BTreeSet<u64>) {
        *self.inner.over_quota.lock() = peers;
    }

    /// Why a write that takes memory or disk cannot go to these replicas now, if it cannot:
    /// this peer measures itself, the others as their last health check said.
    fn quota_refusal(&self, peers: &[u64]) -> Option<String> {
        let me = self.local_peer();
        if peers.contains(&me) {
            if let Some(why) = self.inner.registry.quota().refusal() {
                return Some(format!("peer {me}: {why}"));
            }
        }
        let over = self.inner.over_quota.lock();
        let far: Vec<u64> = peers.iter().filter(|p| over.contains(p)).copied().collect();
        (!far.is_empty()).then(|| format!("peers {far:?} are over the resource quota"))
    }

    /// Peers that missed this peer's last health checks in a row.
    pub fn unreachable(&self) -> std::collections::BTreeSet<u64> {
        self.inner.unreachable.lock().clone()
    }

    pub fn local_peer(&self) -> u64 {
        self.inner.registry.local_peer()
    }

    /// The lock that puts the ordered writes of a shard led by this peer in one order.
    pub(super) fn order_lock(&self, collection: &str, shard: u32) -> OrderLock {
        let mut m = self.inner.order_locks.lock();
        m.entry((collection.to_string(), shard))
            .or_default()
            .clone()
    }

    pub(super) fn applied(&self) -> u64 {
        self.consensus().map(|c| c.applied_index()).unwrap_or(0)
    }

    /// The p2p uri of a peer.
    pub fn uri(&self, peer: u64) -> Result<String, RemoteError> {
        self.consensus()
            .and_then(|c| c.peer_uri(peer))
            .ok_or_else(|| RemoteError::Unreachable(peer, "not a cluster member".into()))
    }

    /// Applies operations in order under `ordering`; returns the last operation number.
    pub async fn write(
        &self,
        c: &Arc<Collection>,
        ops: Vec<KeyedOp>,
        ordering: WriteOrdering,
    ) -> CollectionResult<u64> {
        // Every key is checked before anything is written.
        for o in &ops {
            c.write_groups(o.shard_key.as_ref())?;
        }
        let mut last = 0;
        for o in ops {
            last = last.max(self.write_routed(c, o, ordering).await?);
        }
        Ok(last)
    }

    /// Splits one operation over its shards and writes the parts; a part whose routing
    /// changed under it (a resharding switched) is split again with the new layout.
    async fn write_routed(
        &self,
        c: &Arc<Collection>,
        o: KeyedOp,
        ordering: WriteOrdering,
    ) -> CollectionResult<u64> {
        let (mut todo, mut last) = (vec![o.op], 0);
        for _ in 0..WRITE_ATTEMPTS {
            // The epoch first: groups computed after it are at least as new.
            let epoch = c.with_layout(|l| l.epoch);
            let groups = c.write_groups(o.shard_key.as_ref())?;
            let parts: Vec<(u32, ShardOp)> =
                todo.drain(..).flat_map(|op| c.split(op, &groups)).collect();
            let writes = parts.iter().map(|(shard, op)| {
                self.write_part(c, *shard, Arc::new(op.clone()), ordering, false, epoch)
            });
            for (r, (_, op)) in join_all(writes).await.into_iter().zip(parts) {
                match r {
                    Ok(v) => last = last.max(v),
                    Err(CollectionError::Rerouted) => todo.push(op),
                    Err(e) => return Err(e),
                }
            }
            if todo.is_empty() {
                return Ok(last);
            }
        }
        Err(CollectionError::Unavailable(format!(
            "Service unavailable: `{}` kept being resharded during the write; retry",
            c.name
        )))
    }

    async fn update_one(
        &self,
        c: &Arc<Collection>,
        peer: u64,
        shard: u32,
        op: Arc<ShardOp>,
        layout_version: u64,
        tag: Option<Tag>,
    ) -> Result<u64, RemoteError> {
        if peer == self.local_peer() {
            let c = c.clone();
            let routed = Some(layout_version);
            return on_local(peer, move || c.apply_local(shard, &op, routed, tag)).await;
        }
        let uri = self.uri(peer)?;
        let at = Routing {
            min_applied: self.applied(),
            layout_version: Some(layout_version),
            tag,
        };
        self.inner
            .remote
            .update(
                Peer {
                    id: peer,
                    uri: &uri,
                },
                &c.name,
                shard,
                &op,
                at,
                CALL_TIMEOUT,
            )
            .await
    }

    /// Writes again when a replica had a newer layout (after this peer applied it), and
    /// once when the shard's replicas changed while the write was under way (a transfer
    /// switched over): the next attempt goes to the new replicas. Upserts are idempotent.
    pub(super) async fn write_shard_retry(
        &self,
        c: &Arc<Collection>,
        shard: u32,
        op: Arc<ShardOp>,
        epoch: u64,
    ) -> CollectionResult<u64> {
        let mut changed_once = false;
        for _ in 0..WRITE_ATTEMPTS {
            let before = c.layout().replicas.get(&shard).cloned();
            match self.write_shard(c, shard, op.clone(), epoch).await {
                Err(CollectionError::StaleLayout(v)) => self.wait_layout(c, v).await,
                Err(CollectionError::Unavailable(m))
                    if !changed_once && c.layout().replicas.get(&shard) != before.as_ref() =>
                {
                    tracing::debug!(collection = %c.name, shard, error = %m, "replicas changed during a write; retrying");
                    changed_once = true;
                }
                other => return other,
            }
        }
        Err(CollectionError::Unavailable(format!(
            "Service unavailable: the replicas of shard {shard} of `{}` kept changing during the write; retry",
            c.name
        )))
    }

    /// Waits (up to `LAYOUT_TIMEOUT`) until this peer applied layout `version` of `c`.
    pub(super) async fn wait_layout(&self, c: &Collection, version: u64) {
        let deadline = tokio::time::Instant::now() + LAYOUT_TIMEOUT;
        while c.layout().version < version && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn write_shard(
        &self,
        c: &Arc<Collection>,
        shard: u32,
        op: Arc<ShardOp>,
        epoch: u64,
    ) -> CollectionResult<u64> {
        let layout = c.layout();
        if layout.epoch != epoch {
            return Err(CollectionError::Rerouted);
        }
        let replicas = layout.replicas.get(&shard).cloned().unwrap_or_default();
        let version = layout.version;
        let targets: Vec<(u64, ReplicaState)> = replicas
            .iter()
            .filter(|(_, s)| **s != ReplicaState::Dead)
            .map(|(p, s)| (*p, *s))
            .collect();
        if op.takes_space() {
            let peers: Vec<u64> = targets.iter().map(|(p, _)| *p).collect();
            if let Some(why) = self.quota_refusal(&peers) {
                return Err(CollectionError::Unavailable(format!(
                    "Service unavailable: writes to shard {shard} of `{}` are refused while {why}; deletes still work",
                    c.name
                )));
            }
        }
        // Only a clustered write is tagged: its replicas may need a `wal_delta` later.
        let me = self.local_peer();
        let held = self
            .consensus()
            .map(|_| self.inner.clocks.take(&c.name, shard));
        let tag = held.map(|h| Tag {
            peer: me,
            clock: h.clock,
            tick: h.tick,
        });
        let sends = targets
            .iter()
            .map(|(peer, _)| self.update_one(c, *peer, shard, op.clone(), version, tag));
        let results = join_all(sends).await;
        let t = write_step::tally(&targets, &results);
        if let Some(h) = held.filter(|_| t.clean) {
            self.inner.clocks.give_back(&c.name, shard, h);
        }
        let mut unmarked = Vec::new();
        for (peer, why) in &t.to_mark {
            if !self.mark_dead(&c.name, shard, *peer, why).await {
                unmarked.push(*peer);
            }
        }
        let wcf = c.config().params.write_consistency_factor;
        let active = targets
            .iter()
            .filter(|(_, s)| *s == ReplicaState::Active)
            .count();
        let what = format!("shard {shard} of `{}`", c.name);
        write_step::reply(&t, &unmarked, wcf, replicas.len(), active, &what)
    }

    /// Applies a metadata command: through Raft in cluster mode, directly otherwise.
    pub async fn commit(
        &self,
        cmd: Command,
        timeout: Duration,
    ) -> Result<serde_json::Value, CommitError> {
        match self.consensus() {
            Some(c) => {
                let p = Proposal::Command {
                    command: Box::new(cmd),
                };
                Ok(c.submit(p, timeout).await?)
            }
            None => {
                let reg = self.inner.registry.clone();
                let r = tokio::task::spawn_blocking(move || apply_command(&reg, cmd))
                    .await
                    .map_err(|e| CollectionError::Task(e.to_string()))?;
                Ok(r.map_err(CollectionError::from)?)
            }
        }
    }

    /// Commits a change of a collection's layout (replica states, transfers).
    pub async fn change_layout(
        &self,
        collection: &str,
        change: LayoutChange,
        timeout: Duration,
    ) -> Result<(), CommitError> {
        let cmd = Command::ChangeLayout {
            collection: collection.to_string(),
            change,
        };
        self.commit(cmd, timeout).await.map(|_| ())
    }

    /// Waits until every member that answers has applied `index` (or `timeout` passed).
    pub async fn wait_peers_applied(&self, index: u64, timeout: Duration) {
        let Some(cs) = self.consensus() else { return };
        let deadline = tokio::time::Instant::now() + timeout;
        let me = self.local_peer();
        for (peer, uri) in cs.peers().into_iter().filter(|(p, _)| *p != me) {
            loop {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                let probe = self
                    .inner
                    .remote
                    .health(peer, &uri, left.min(Duration::from_secs(1)));
                match probe.await {
                    Ok(applied) if applied < index && !left.is_zero() => {
                        tokio::time::sleep(Duration::from_millis(20)).await
                    }
                    _ => break,
                }
            }
        }
    }

    /// Marks a replica `Dead` through consensus (never the last active one); returns whether
    /// it is no longer `Active` here afterwards.
    pub async fn mark_dead(&self, collection: &str, shard: u32, peer: u64, why: &str) -> bool {
        if self.consensus().is_none() {
            return true;
        }
        let change = LayoutChange::SetState {
            shard_id: shard,
            peer_id: peer,
            state: ReplicaState::Dead,
            from: Some(ReplicaState::Active),
        };
        match self.change_layout(collection, change, LAYOUT_TIMEOUT).await {
            Ok(_) => tracing::warn!(collection, shard, peer, why, "replica marked dead"),
            Err(e) => {
                tracing::warn!(collection, shard, peer, error = %e, "could not mark replica dead")
            }
        }
        let still_active = self
            .inner
            .registry
            .get(collection)
            .is_ok_and(|c| c.replica_state(shard, peer) == Some(ReplicaState::Active));
        !still_active
    }

    /// Active replicas of `shard` in the order reads try them: this peer first, then the
    /// others rotated so load spreads.
    fn candidates(&self, c: &Collection, shard: u32, turn: usize) -> Vec<u64> {
        let mut active = c.layout().peers_in(shard, ReplicaState::Active);
        let me = self.local_peer();
        let mut out: Vec<u64> = active.iter().copied().filter(|p| *p == me).collect();
        active.retain(|p| *p != me);
        if !active.is_empty() {
            let n = active.len();
            active.rotate_left((turn + shard as usize) % n);
        }
        out.extend(active);
        out
    }

    async fn read_one(
        &self,
        c: &Arc<Collection>,
        peer: u64,
        shards: Vec<u32>,
        req: Arc<ReadRequest>,
    ) -> Result<ReadReply, RemoteError> {
        if peer == self.local_peer() {
            let c = c.clone();
            return on_local(peer, move || c.read_local(&shards, &req)).await;
        }
        let uri = self.uri(peer)?;
        let applied = self.applied();
        self.inner
            .remote
            .read(
                Peer {
                    id: peer,
                    uri: &uri,
                },
                &c.name,
                &shards,
                &req,
                applied,
                CALL_TIMEOUT,
            )
            .await
    }

    /// Runs a read over `shards` and returns the partial answers of each round: one round
    /// per replica the consistency asks for. `make` builds the request for a set of shards.
    pub async fn read(
        &self,
        c: &Arc<Collection>,
        shards: &[u32],
        consistency: Consistency,
        make: impl Fn(&[u32]) -> ReadRequest,
    ) -> CollectionResult<Vec<Vec<ReadReply>>> {
        let turn = self.inner.turn.fetch_add(1, Ordering::Relaxed);
        let mut lists = BTreeMap::new();
        let mut rounds = 1;
        for &s in shards {
            let cands = self.candidates(c, s, turn);
            if cands.is_empty() {
                return Err(CollectionError::Unavailable(format!(
                    "Service unavailable: no active replica of shard {s} of `{}`",
                    c.name
                )));
            }
            let k = consistency.replicas(cands.len());
            rounds = rounds.max(k);
            lists.insert(s, (k, cands));
        }
        let mut out = Vec::with_capacity(rounds);
        for round in 0..rounds {
            let mut plan = Plan::new();
            for (s, (k, cands)) in &lists {
                if round < *k {
                    plan.entry(cands[round]).or_default().push(*s);
                }
            }
            // Only the first round falls back to the replicas no round uses.
            let spare = |s: u32| -> Vec<u64> {
                let (k, cands) = &lists[&s];
                if round == 0 {
                    cands[(*k).max(1)..].to_vec()
                } else {
                    Vec::new()
                }
            };
            out.push(self.run_plan(c, plan, &make, spare).await?);
        }
        Ok(out)
    }

    async fn run_plan(
        &self,
        c: &Arc<Collection>,
        mut plan: Plan,
        make: &impl Fn(&[u32]) -> ReadRequest,
        spare: impl Fn(u32) -> Vec<u64>,
    ) -> CollectionResult<Vec<ReadReply>> {
        let mut replies = Vec::new();
        let mut tried: BTreeMap<u32, usize> = BTreeMap::new();
        while !plan.is_empty() {
            let calls = plan.iter().map(|(peer, shards)| {
                let req = Arc::new(make(shards));
                self.read_one(c, *peer, shards.clone(), req)
            });
            let results = join_all(calls).await;
            let mut next = Plan::new();
            for ((peer, shards), r) in plan.into_iter().zip(results) {
                match r {
                    Ok(reply) => replies.push(reply),
                    Err(e) => {
                        tracing::warn!(collection = %c.name, peer, error = %e, "read failed, trying another replica");
                        for s in shards {
                            let n = tried.entry(s).or_default();
                            let Some(p) = spare(s).get(*n).copied() else {
                                return Err(CollectionError::Unavailable(format!(
                                    "Service unavailable: no replica of shard {s} of `{}` answered: {e}",
                                    c.name
                                )));
                            };
                            *n += 1;
                            next.entry(p).or_default().push(s);
                        }
                    }
                }
            }
            plan = next;
        }
        Ok(replies)
    }
}
