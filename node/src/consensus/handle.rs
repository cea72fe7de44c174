//! `Consensus`: this peer's running Raft node and the operations the rest of the node uses:
//! start or join a cluster, propose metadata commands (forwarded to the leader when this peer
//! is not it), add and remove peers, and report `GET /cluster`. Every wait is bounded.

use super::log_store::LogStore;
use super::network::{self, NetworkFactory, SendFailures};
use super::state_machine::StateMachine;
use super::{Command, CommandError, PeerId, Proposal, Raft};
use crate::collection::Registry;
use crate::storage::RaftStore;
use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, ChangeMembers, ServerState};
use proto::p2p::{cluster_client::ClusterClient, JoinRequest, ProposeRequest};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PEER_ID: &str = "peer_id";
const REMOVED: &str = "removed";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum ConsensusError {
    /// No leader, no quorum, or not committed in time: retrying later can succeed.
    #[error("{0}")]
    Unavailable(String),
    /// Sent to a peer that is not the leader (internal; the sender retries).
    #[error("peer is not the leader")]
    NotLeader,
    #[error(transparent)]
    Rejected(#[from] CommandError),
    #[error("{0}")]
    BadInput(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Internal(String),
}

/// Settings the consensus needs from the node's configuration.
#[derive(Debug, Clone)]
pub struct ConsensusSettings {
    pub tick_period_ms: u64,
    pub compact_wal_entries: u64,
    pub p2p_api_key: Option<String>,
    /// This peer's p2p uri, as given or derived.
    pub uri: String,
    pub bootstrap: Option<String>,
    pub p2p_port: u16,
}

#[derive(Clone)]
pub struct Consensus {
    inner: Arc<Inner>,
}

struct Inner {
    id: PeerId,
    raft: Raft,
    db: Arc<RaftStore>,
    registry: Arc<Registry>,
    settings: ConsensusSettings,
    failures: SendFailures,
    /// Serialises membership changes on the leader.
    membership: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Consensus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consensus")
            .field("id", &self.inner.id)
            .finish()
    }
}

fn internal(e: impl std::fmt::Display) -> ConsensusError {
    ConsensusError::Internal(e.to_string())
}

fn not_member(id: PeerId) -> ConsensusError {
    ConsensusError::NotFound(format!(
        "Not found: peer {id} is not a member of the cluster"
    ))
}

/// Time left until `deadline`, at least 100 ms so a last attempt can still be made.
fn remaining(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(100))
}

/// Stops this peer from electing and heartbeating (a removed peer).
fn leave_consensus(raft: &Raft) {
    raft.runtime_config().elect(false);
    raft.runtime_config().heartbeat(false);
}

/// Loads this peer's id, choosing a random one on first start.
pub fn peer_id(db: &RaftStore) -> Result<PeerId, ConsensusError> {
    if let Some(id) = db.get_meta::<PeerId>(PEER_ID).map_err(internal)? {
        return Ok(id);
    }
    let id = loop {
        let id: u64 = rand::random::<u64>() >> 1;
        if id != 0 {
            break id;
        }
    };
    db.put_meta(PEER_ID, &id).map_err(internal)?;
    Ok(id)
}

impl Consensus {
    /// Opens the Raft storage and starts the Raft node (not yet part of any cluster).
    pub async fn start(
        db: Arc<RaftStore>,
        registry: Arc<Registry>,
        settings: ConsensusSettings,
    ) -> Result<Consensus, ConsensusError> {
        let id = peer_id(&db)?;
        let tick = settings.tick_period_ms.max(1);
        let config = openraft::Config {
            cluster_name: "qdrant".into(),
            heartbeat_interval: tick,
            election_timeout_min: tick * 5,
            election_timeout_max: tick * 10,
            install_snapshot_timeout: (tick * 20).max(2000),
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(settings.compact_wal_entries),
            max_in_snapshot_log_to_keep: settings.compact_wal_entries,
            ..Default::default()
        }
        .validate()
        .map_err(internal)?;
        let failures = SendFailures::default();
        let net = NetworkFactory {
            api_key: settings.p2p_api_key.clone(),
            failures: failures.clone(),
        };
        let sm = StateMachine::open(registry.clone(), db.clone()).map_err(internal)?;
        let raft = Raft::new(id, Arc::new(config), net, LogStore::new(db.clone()), sm)
            .await
            .map_err(internal)?;
        if db
            .get_meta::<bool>(REMOVED)
            .map_err(internal)?
            .unwrap_or(false)
        {
            tracing::warn!(
                peer_id = id,
                "this peer was removed from its cluster; consensus stays off"
            );
            leave_consensus(&raft);
        }
        tracing::info!(peer_id = id, uri = %settings.uri, "consensus started");
        Ok(Consensus {
            inner: Arc::new(Inner {
                id,
                raft,
                db,
                registry,
                settings,
                failures,
                membership: tokio::sync::Mutex::new(()),
            }),
        })
    }

    pub fn id(&self) -> PeerId {
        self.inner.id
    }

    pub fn raft(&self) -> &Raft {
        &self.inner.raft
    }

    pub fn settings(&self) -> &ConsensusSettings {
        &self.inner.settings
    }

    /// Wraps `msg` in a p2p request carrying this cluster's shared secret.
    fn request<T>(&self, msg: T, timeout: Duration) -> tonic::Request<T> {
        network::request(msg, self.inner.settings.p2p_api_key.as_deref(), timeout)
    }

    /// The current membership (voters and learners with their uris).
    fn membership(&self) -> Arc<openraft::StoredMembership<PeerId, BasicNode>> {
        self.inner.raft.metrics().borrow().membership_config.clone()
    }

    /// Forms a new cluster or joins one through `bootstrap`, unless this peer already
    /// belongs to one (a restart). Joining retries in the background until it succeeds.
    pub async fn bootstrap(&self) -> Result<(), ConsensusError> {
        let raft = &self.inner.raft;
        if raft.is_initialized().await.map_err(internal)? {
            tracing::info!(peer_id = self.id(), "rejoining with stored raft state");
            return Ok(());
        }
        match self.inner.settings.bootstrap.clone() {
            None => {
                let node = BasicNode::new(self.inner.settings.uri.clone());
                raft.initialize(BTreeMap::from([(self.id(), node)]))
                    .await
                    .map_err(internal)?;
                tracing::info!(peer_id = self.id(), "new cluster initialised");
            }
            Some(uri) => {
                let me = self.clone();
                tokio::spawn(async move { me.join_loop(uri).await });
            }
        }
        Ok(())
    }

    async fn join_loop(&self, bootstrap: String) {
        let s = &self.inner.settings;
        // An empty uri asks the receiver to derive it from our address.
        let req = JoinRequest {
            peer_id: self.id(),
            uri: s.uri.clone(),
            p2p_port: s.p2p_port as u32,
        };
        let mut delay = Duration::from_millis(200);
        loop {
            match self.send_join(&bootstrap, req.clone()).await {
                Ok(uri) => {
                    tracing::info!(peer_id = self.id(), %uri, via = %bootstrap, "joined cluster");
                    return;
                }
                Err(e) => {
                    tracing::warn!(via = %bootstrap, error = %e, "join failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    async fn send_join(&self, to: &str, req: JoinRequest) -> Result<String, ConsensusError> {
        let ch = network::channel(to)
            .map_err(|e| ConsensusError::BadInput(format!("bootstrap uri {to}: {e}")))?;
        let reply = ClusterClient::new(ch)
            .join(self.request(req, Duration::from_secs(30)))
            .await
            .map_err(|s| ConsensusError::Unavailable(s.message().to_string()))?;
        Ok(reply.into_inner().uri)
    }

    /// Commits `proposal` through the leader and waits until this peer applied it.
    pub async fn submit(
        &self,
        proposal: Proposal,
        timeout: Duration,
    ) -> Result<Value, ConsensusError> {
        let deadline = Instant::now() + timeout;
        let mut metrics = self.inner.raft.metrics();
        loop {
            let leader = metrics.borrow().current_leader;
            let attempt = match leader {
                Some(l) if l == self.id() => self.execute(proposal.clone(), deadline).await,
                Some(l) => self.forward(l, &proposal, deadline).await,
                None => Err(ConsensusError::Unavailable("no leader elected yet".into())),
            };
            let why = match attempt {
                Ok((value, index)) => {
                    self.wait_applied(index, deadline).await;
                    return Ok(value);
                }
                Err(ConsensusError::NotLeader) => "leader changed".to_string(),
                Err(ConsensusError::Unavailable(m)) => m,
                Err(other) => return Err(other),
            };
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ConsensusError::Unavailable(format!(
                    "Service unavailable: consensus did not confirm the operation within {:.1}s: {why}",
                    timeout.as_secs_f64()
                )));
            }
            let pause = left.min(Duration::from_millis(
                self.inner.settings.tick_period_ms * 2,
            ));
            let _ = tokio::time::timeout(pause, metrics.changed()).await;
        }
    }

    /// The index of the last log entry this peer applied.
    pub fn applied_index(&self) -> u64 {
        let m = self.inner.raft.metrics();
        let applied = m.borrow().last_applied;
        applied.map(|l| l.index).unwrap_or(0)
    }

    /// Waits until this peer applied `index` (or `timeout` passed).
    pub async fn wait_applied_for(&self, index: u64, timeout: Duration) {
        if self.applied_index() < index {
            self.wait_applied(index, Instant::now() + timeout).await;
        }
    }

    async fn wait_applied(&self, index: u64, deadline: Instant) {
        let waited = self
            .inner
            .raft
            .wait(Some(remaining(deadline)))
            .applied_index_at_least(Some(index), "apply proposal")
            .await;
        if let Err(e) = waited {
            tracing::warn!(index, error = %e, "committed but not yet applied on this peer");
        }
    }

    async fn forward(
        &self,
        leader: PeerId,
        proposal: &Proposal,
        deadline: Instant,
    ) -> Result<(Value, u64), ConsensusError> {
        let uri = self.peer_uri(leader).ok_or_else(|| {
            ConsensusError::Unavailable(format!("leader {leader} has no known uri"))
        })?;
        let ch = network::channel(&uri).map_err(internal)?;
        let left = remaining(deadline);
        let req = ProposeRequest {
            command_json: serde_json::to_vec(proposal).map_err(internal)?,
            timeout_ms: left.as_millis() as u64,
        };
        let reply = ClusterClient::new(ch)
            .propose(self.request(req, left))
            .await
            .map_err(|s| {
                ConsensusError::Unavailable(format!("leader {leader} unreachable: {}", s.message()))
            })?
            .into_inner();
        let result: Result<Value, ConsensusError> =
            serde_json::from_slice(&reply.result_json).map_err(internal)?;
        result.map(|v| (v, reply.log_index))
    }

    /// Runs a proposal on this peer, which must be the leader. Returns the result and the
    /// log index it was committed at.
    pub async fn execute(
        &self,
        proposal: Proposal,
        deadline: Instant,
    ) -> Result<(Value, u64), ConsensusError> {
        let left = remaining(deadline);
        let confirm = left.min(Duration::from_millis(
            self.inner.settings.tick_period_ms * 20,
        ));
        match tokio::time::timeout(confirm, self.inner.raft.ensure_linearizable()).await {
            Ok(Ok(_)) => {}
            Ok(Err(RaftError::APIError(e))) => {
                return Err(match e {
                    openraft::error::CheckIsLeaderError::ForwardToLeader(_) => {
                        ConsensusError::NotLeader
                    }
                    q => ConsensusError::Unavailable(format!("no quorum: {q}")),
                })
            }
            Ok(Err(e)) => return Err(internal(e)),
            Err(_) => {
                return Err(ConsensusError::Unavailable(
                    "no quorum: a majority of voters did not answer".into(),
                ))
            }
        }
        let run = async {
            match proposal {
                Proposal::Command { command } => {
                    let r = self
                        .inner
                        .raft
                        .client_write(*command)
                        .await
                        .map_err(write_err)?;
                    Ok((r.data?, r.log_id.index))
                }
                Proposal::AddPeer { peer_id, uri } => self.add_peer(peer_id, uri).await,
                Proposal::RemovePeer { peer_id } => self.remove_member(peer_id).await,
            }
        };
        tokio::time::timeout(left, run).await.unwrap_or_else(|_| {
            Err(ConsensusError::Unavailable(
                "not committed in time; it may still be applied once a quorum answers".into(),
            ))
        })
    }

    async fn add_peer(&self, id: PeerId, uri: String) -> Result<(Value, u64), ConsensusError> {
        let _one = self.inner.membership.lock().await;
        let raft = &self.inner.raft;
        let m = self.membership();
        let known = m
            .nodes()
            .find(|(n, _)| **n == id)
            .map(|(_, node)| node.addr.clone());
        let is_voter = m.voter_ids().any(|v| v == id);
        if known.as_deref() != Some(uri.as_str()) {
            if known.is_some() {
                return Err(ConsensusError::BadInput(format!(
                    "peer {id} is already a member with uri {}",
                    known.unwrap_or_default()
                )));
            }
            tracing::info!(peer_id = id, %uri, "adding learner");
            raft.add_learner(id, BasicNode::new(uri.clone()), true)
                .await
                .map_err(write_err)?;
        }
        let mut index = 0;
        if !is_voter {
            tracing::info!(peer_id = id, "promoting learner to voter");
            let r = raft
                .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false)
                .await
                .map_err(write_err)?;
            index = r.log_id.index;
        }
        Ok((Value::String(uri), index))
    }

    async fn remove_member(&self, id: PeerId) -> Result<(Value, u64), ConsensusError> {
        let _one = self.inner.membership.lock().await;
        let raft = &self.inner.raft;
        let m = self.membership();
        let Some(uri) = m
            .nodes()
            .find(|(n, _)| **n == id)
            .map(|(_, n)| n.addr.clone())
        else {
            return Err(not_member(id));
        };
        let change = if m.voter_ids().any(|v| v == id) {
            if m.voter_ids().count() == 1 {
                return Err(ConsensusError::BadInput(
                    "cannot remove the last voter of the cluster".into(),
                ));
            }
            ChangeMembers::RemoveVoters(BTreeSet::from([id]))
        } else {
            ChangeMembers::RemoveNodes(BTreeSet::from([id]))
        };
        // Its replicas go first, so no layout ever names a peer that is not a member.
        raft.client_write(Command::ForgetPeer { peer_id: id })
            .await
            .map_err(write_err)?
            .data?;
        let r = raft
            .change_membership(change, false)
            .await
            .map_err(write_err)?;
        tracing::info!(peer_id = id, "peer removed from the cluster");
        self.tell_removed(id, &uri).await;
        Ok((Value::Bool(true), r.log_id.index))
    }

    /// Best effort: tells a removed peer to stop taking part in consensus.
    async fn tell_removed(&self, id: PeerId, uri: &str) {
        if id == self.id() {
            self.mark_removed();
            return;
        }
        let Ok(ch) = network::channel(uri) else {
            return;
        };
        let req = proto::p2p::RemovedNotice { peer_id: id };
        if let Err(e) = ClusterClient::new(ch)
            .removed(self.request(req, Duration::from_secs(2)))
            .await
        {
            tracing::warn!(peer_id = id, error = %e.message(), "could not tell the removed peer");
        }
    }

    /// Called on a peer that was removed: it stops electing and heartbeating, for good.
    pub fn mark_removed(&self) {
        tracing::warn!(
            peer_id = self.id(),
            "removed from the cluster; leaving consensus"
        );
        if let Err(e) = self.inner.db.put_meta(REMOVED, &true) {
            tracing::error!(error = %e, "could not persist removal");
        }
        leave_consensus(&self.inner.raft);
    }

    /// Removes a peer; refused while it holds shards unless `force`.
    pub async fn remove_peer(
        &self,
        id: PeerId,
        force: bool,
        timeout: Duration,
    ) -> Result<(), ConsensusError> {
        if !self.peers().contains_key(&id) {
            return Err(not_member(id));
        }
        let shards = self.shards_on(id);
        if shards > 0 && !force {
            return Err(ConsensusError::BadInput(format!(
                "Bad request: peer {id} still holds {shards} shard replicas: move them off first, or use force=true"
            )));
        }
        self.submit(Proposal::RemovePeer { peer_id: id }, timeout)
            .await
            .map(|_| ())
    }

    /// Shard replicas stored on `peer`, over all collections.
    fn shards_on(&self, peer: PeerId) -> usize {
        self.inner
            .registry
            .all()
            .iter()
            .map(|c| c.layout().shards_on(peer).len())
            .sum()
    }

    pub fn leader(&self) -> Option<PeerId> {
        self.inner.raft.metrics().borrow().current_leader
    }

    pub fn is_leader(&self) -> bool {
        self.inner.raft.metrics().borrow().current_leader == Some(self.id())
    }

    /// A member of a cluster that currently has a leader.
    pub fn is_ready(&self) -> bool {
        let m = self.inner.raft.metrics().borrow().clone();
        m.current_leader.is_some() && m.membership_config.nodes().any(|(id, _)| *id == self.id())
    }

    /// The uri of one member.
    pub fn peer_uri(&self, id: PeerId) -> Option<String> {
        self.membership()
            .nodes()
            .find(|(n, _)| **n == id)
            .map(|(_, n)| n.addr.clone())
    }

    /// Members (voters and learners) and their uris.
    pub fn peers(&self) -> BTreeMap<PeerId, String> {
        self.membership()
            .nodes()
            .map(|(id, n)| (*id, n.addr.clone()))
            .collect()
    }

    /// `GET /cluster` in Qdrant's shape.
    pub fn status(&self) -> Value {
        let m = self.inner.raft.metrics().borrow().clone();
        let peers: serde_json::Map<String, Value> = m
            .membership_config
            .nodes()
            .map(|(id, n)| (id.to_string(), serde_json::json!({"uri": n.addr})))
            .collect();
        let is_voter = m.membership_config.voter_ids().any(|v| v == self.id());
        let role = match m.state {
            ServerState::Leader => Value::from("Leader"),
            ServerState::Candidate => Value::from("Candidate"),
            ServerState::Follower | ServerState::Learner => Value::from("Follower"),
            ServerState::Shutdown => Value::Null,
        };
        let applied = m.last_applied.map(|l| l.index).unwrap_or(0);
        let last = m.last_log_index.unwrap_or(0);
        let thread = match &m.running_state {
            Ok(()) => {
                serde_json::json!({"consensus_thread_status": "working", "last_update": chrono::Utc::now().to_rfc3339()})
            }
            Err(e) => {
                serde_json::json!({"consensus_thread_status": "stopped_with_err", "err": e.to_string()})
            }
        };
        serde_json::json!({
            "status": "enabled",
            "peer_id": self.id(),
            "peers": peers,
            "raft_info": {
                "term": m.current_term,
                "commit": applied,
                "pending_operations": last.saturating_sub(applied),
                "leader": m.current_leader,
                "role": role,
                "is_voter": is_voter,
            },
            "consensus_thread_status": thread,
            "message_send_failures": self.inner.failures.to_json(),
        })
    }

    pub async fn shutdown(&self) {
        if let Err(e) = self.inner.raft.shutdown().await {
            tracing::warn!(error = %e, "raft shutdown");
        }
    }
}

fn write_err(e: RaftError<PeerId, ClientWriteError<PeerId, BasicNode>>) -> ConsensusError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(_)) => ConsensusError::NotLeader,
        RaftError::APIError(ClientWriteError::ChangeMembershipError(c)) => {
            ConsensusError::Unavailable(format!("membership change refused: {c}"))
        }
        RaftError::Fatal(f) => ConsensusError::Internal(format!("raft stopped: {f}")),
    }
}
