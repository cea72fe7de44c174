//! The client of other peers' `Shards` service: point operations and reads of the replicas
//! they hold. One lazily connected channel per peer uri, reused by all calls.

use crate::collection::clocks::Tag;
use crate::collection::local_read::{ReadReply, ReadRequest};
use crate::collection::ops::ShardOp;
use crate::consensus::network;
use crate::quota::PeerUsage;
use parking_lot::Mutex;
use proto::p2p::shards_client::ShardsClient;
use proto::p2p::{ClockTag, HealthReply, HealthRequest, ShardForward, ShardRead, ShardUpdate};
use std::collections::HashMap;
use std::time::Duration;
use tonic::transport::Channel;

/// A peer's health reply as the keeper uses it (fields empty from earlier versions).
#[derive(Debug, Default)]
pub struct PeerReport {
    pub quota: Option<PeerUsage>,
    pub transfers: Vec<super::progress::TransferProgress>,
}

/// Largest message between peers (a batch of points with their vectors).
pub const MAX_MESSAGE: usize = 256 << 20;

/// Why a call to a peer failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RemoteError {
    /// The peer could not be reached or did not answer in time.
    #[error("peer {0} unreachable: {1}")]
    Unreachable(u64, String),
    /// The peer failed to carry out the request.
    #[error("peer {0}: {1}")]
    Failed(u64, String),
    /// The peer refused the request as invalid (the same request would fail anywhere).
    #[error("peer {0} refused: {1}")]
    Rejected(u64, String),
    /// The peer refused a write routed with an older shard layout than its own (version).
    #[error("peer {0} has a newer shard layout (version {1})")]
    Stale(u64, u64),
}

/// Message prefix of a refusal for an outdated layout; the version follows. Peers of an
/// earlier version read only this; the version is also in `STALE_LAYOUT_VERSION`.
pub const STALE_LAYOUT: &str = "stale layout, now version ";

/// Status metadata of a refusal for an outdated layout: the receiver's layout version.
pub const STALE_LAYOUT_VERSION: &str = "layout-version";

/// What the sender of a write knew: its applied Raft index (the receiver catches up first)
/// and the layout version it routed with (None for a transfer's copies: never refused),
/// and the write's clock tag (None for a transfer's copies of points).
#[derive(Debug, Clone, Copy)]
pub struct Routing {
    pub min_applied: u64,
    pub layout_version: Option<u64>,
    pub tag: Option<Tag>,
}

/// The wire form of a clock tag.
pub fn tag_to_wire(t: Tag) -> ClockTag {
    ClockTag {
        peer: t.peer,
        clock: t.clock,
        tick: t.tick,
    }
}

pub fn tag_from_wire(t: ClockTag) -> Tag {
    Tag {
        peer: t.peer,
        clock: t.clock,
        tick: t.tick,
    }
}

/// A peer to call: its id and p2p uri.
#[derive(Debug, Clone, Copy)]
pub struct Peer<'a> {
    pub id: u64,
    pub uri: &'a str,
}

#[derive(Debug, Default)]
pub struct Remote {
    api_key: Option<String>,
    channels: Mutex<HashMap<String, Channel>>,
}

fn status_error(peer: u64, s: tonic::Status) -> RemoteError {
    use tonic::Code;
    match s.code() {
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Unknown => {
            RemoteError::Unreachable(peer, s.message().to_string())
        }
        Code::InvalidArgument | Code::NotFound => {
            RemoteError::Rejected(peer, s.message().to_string())
        }
        Code::Aborted => {
            let typed = s
                .metadata()
                .get(STALE_LAYOUT_VERSION)
                .and_then(|v| v.to_str().ok());
            let older = s.message().strip_prefix(STALE_LAYOUT);
            match typed.or(older).map(str::parse) {
                Some(Ok(v)) => RemoteError::Stale(peer, v),
                _ => RemoteError::Failed(peer, s.message().to_string()),
            }
        }
        _ => RemoteError::Failed(peer, s.message().to_string()),
    }
}

impl Remote {
    pub fn new(api_key: Option<String>) -> Remote {
        Remote {
            api_key,
            channels: Mutex::default(),
        }
    }

    fn client(&self, peer: u64, uri: &str) -> Result<ShardsClient<Channel>, RemoteError> {
        let mut m = self.channels.lock();
        let ch = match m.get(uri) {
            Some(ch) => ch.clone(),
            None => {
                let ch = network::channel(uri)
                    .map_err(|e| RemoteError::Unreachable(peer, e.to_string()))?;
                m.insert(uri.to_string(), ch.clone());
                ch
            }
        };
        Ok(ShardsClient::new(ch)
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE))
    }

    fn request<T>(&self, msg: T, timeout: Duration) -> tonic::Request<T> {
        network::request(msg, self.api_key.as_deref(), timeout)
    }

    /// The wire form of a write of `op` to `shard`.
    pub fn shard_update(
        peer: u64,
        collection: &str,
        shard: u32,
        op: &ShardOp,
        at: Routing,
    ) -> Result<ShardUpdate, RemoteError> {
        Ok(ShardUpdate {
            collection: collection.to_string(),
            shard_id: shard,
            op_json: serde_json::to_vec(op)
                .map_err(|e| RemoteError::Failed(peer, e.to_string()))?,
            min_applied: at.min_applied,
            layout_version: at.layout_version,
            tag: at.tag.map(tag_to_wire),
        })
    }

    /// Applies `op` to the peer's replica of `shard`; returns its operation number.
    pub async fn update(
        &self,
        to: Peer<'_>,
        collection: &str,
        shard: u32,
        op: &ShardOp,
        at: Routing,
        timeout: Duration,
    ) -> Result<u64, RemoteError> {
        let msg = Self::shard_update(to.id, collection, shard, op, at)?;
        self.send_update(to, msg, timeout).await
    }

    /// Sends a write already in its wire form (`shard_update`).
    pub async fn send_update(
        &self,
        to: Peer<'_>,
        msg: ShardUpdate,
        timeout: Duration,
    ) -> Result<u64, RemoteError> {
        let Peer { id: peer, uri } = to;
        let reply = self
            .client(peer, uri)?
            .update(self.request(msg, timeout))
            .await
            .map_err(|s| status_error(peer, s))?;
        Ok(reply.into_inner().operation_id)
    }

    /// Hands a write to the peer that orders the writes of its shard (`ordering`: 1 medium,
    /// 2 strong); it applies it to every replica. Returns the operation number.
    pub async fn forward(
        &self,
        to: Peer<'_>,
        update: ShardUpdate,
        ordering: u32,
        timeout: Duration,
    ) -> Result<u64, RemoteError> {
        let Peer { id: peer, uri } = to;
        let msg = ShardForward {
            update: Some(update),
            ordering,
        };
        let reply = self
            .client(peer, uri)?
            .forward(self.request(msg, timeout))
            .await
            .map_err(|s| status_error(peer, s))?;
        Ok(reply.into_inner().operation_id)
    }

    /// Runs a read on the peer's replicas of `shards`.
    pub async fn read(
        &self,
        to: Peer<'_>,
        collection: &str,
        shards: &[u32],
        req: &ReadRequest,
        min_applied: u64,
        timeout: Duration,
    ) -> Result<ReadReply, RemoteError> {
        let Peer { id: peer, uri } = to;
        let msg = ShardRead {
            collection: collection.to_string(),
            shard_ids: shards.to_vec(),
            request_json: serde_json::to_vec(req)
                .map_err(|e| RemoteError::Failed(peer, e.to_string()))?,
            min_applied,
        };
        let reply = self
            .client(peer, uri)?
            .read(self.request(msg, timeout))
            .await
            .map_err(|s| status_error(peer, s))?;
        serde_json::from_slice(&reply.into_inner().result_json)
            .map_err(|e| RemoteError::Failed(peer, format!("bad read reply: {e}")))
    }

    async fn health_reply(
        &self,
        peer: u64,
        uri: &str,
        with_status: bool,
        timeout: Duration,
    ) -> Result<HealthReply, RemoteError> {
        let msg = HealthRequest { with_status };
        let reply = self
            .client(peer, uri)?
            .health(self.request(msg, timeout))
            .await
            .map_err(|s| status_error(peer, s))?;
        Ok(reply.into_inner())
    }

    /// The peer's applied Raft index, if it answers within `timeout`.
    pub async fn health(
        &self,
        peer: u64,
        uri: &str,
        timeout: Duration,
    ) -> Result<u64, RemoteError> {
        Ok(self.health_reply(peer, uri, false, timeout).await?.applied)
    }

    /// The peer's resource readings against the quotas (None from an earlier version).
    pub async fn quota(
        &self,
        peer: u64,
        uri: &str,
        timeout: Duration,
    ) -> Result<Option<PeerUsage>, RemoteError> {
        let reply = self.health_reply(peer, uri, false, timeout).await?;
        Ok(serde_json::from_slice(&reply.quota_json).ok())
    }

    /// What the keeper's health check learns: quota readings and transfer progress.
    pub async fn report(
        &self,
        peer: u64,
        uri: &str,
        timeout: Duration,
    ) -> Result<PeerReport, RemoteError> {
        let reply = self.health_reply(peer, uri, false, timeout).await?;
        Ok(PeerReport {
            quota: serde_json::from_slice(&reply.quota_json).ok(),
            transfers: serde_json::from_slice(&reply.transfers_json).unwrap_or_default(),
        })
    }

    /// The peer's consensus status (as its `GET /cluster` shows it).
    pub async fn status(
        &self,
        peer: u64,
        uri: &str,
        timeout: Duration,
    ) -> Result<serde_json::Value, RemoteError> {
        let reply = self.health_reply(peer, uri, true, timeout).await?;
        serde_json::from_slice(&reply.status_json)
            .map_err(|e| RemoteError::Unreachable(peer, format!("bad status reply: {e}")))
    }
}
