//! The client side of Raft's RPCs: openraft's requests serialised as JSON and sent over the
//! p2p gRPC port (`proto::p2p::raft_client`). Carries the p2p shared secret when one is set.

use super::{PeerId, TypeConfig};
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use parking_lot::Mutex;
use proto::p2p::{raft_client::RaftClient, RaftPayload};
use serde::{de::DeserializeOwned, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tonic::transport::{Channel, Endpoint};

/// Metadata key that carries `cluster.p2p.api_key` on every p2p call.
pub const P2P_KEY_HEADER: &str = "p2p-api-key";

/// Metadata key naming the peer a Raft RPC is for. A peer that came back at the same uri
/// with an empty volume has a new id: it must not take its predecessor's log (the leader
/// would see that log go backwards).
pub const RAFT_TARGET_HEADER: &str = "raft-target";

/// Opens a lazily connected channel to a peer's p2p uri.
pub fn channel(uri: &str) -> Result<Channel, tonic::transport::Error> {
    Ok(Endpoint::from_shared(uri.to_string())?
        .connect_timeout(Duration::from_secs(2))
        .tcp_nodelay(true)
        .connect_lazy())
}

/// Wraps `msg` in a request with the shared secret and a deadline.
pub fn request<T>(msg: T, key: Option<&str>, timeout: Duration) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    req.set_timeout(timeout);
    if let Some(v) = key.and_then(|k| k.parse().ok()) {
        req.metadata_mut().insert(P2P_KEY_HEADER, v);
    }
    req
}

/// Consecutive send failures per peer uri, for `GET /cluster`; cleared on the first success.
#[derive(Debug, Clone, Default)]
pub struct SendFailures(Arc<Mutex<BTreeMap<String, Failure>>>);

#[derive(Debug, Clone, Default)]
struct Failure {
    count: usize,
    latest_error: String,
    at: String,
}

impl SendFailures {
    fn record(&self, uri: &str, result: Result<(), String>) {
        let mut m = self.0.lock();
        match result {
            Ok(()) => {
                m.remove(uri);
            }
            Err(e) => {
                let f = m.entry(uri.to_string()).or_default();
                f.count += 1;
                f.latest_error = e;
                f.at = chrono::Utc::now().to_rfc3339();
            }
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        let m = self.0.lock();
        let map: serde_json::Map<String, serde_json::Value> = m
            .iter()
            .map(|(uri, f)| {
                let v = serde_json::json!({"count": f.count, "latest_error": f.latest_error, "latest_error_timestamp": f.at});
                (uri.clone(), v)
            })
            .collect();
        serde_json::Value::Object(map)
    }
}

#[derive(Debug, Clone)]
pub struct NetworkFactory {
    pub api_key: Option<String>,
    pub failures: SendFailures,
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerClient;

    async fn new_client(&mut self, target: PeerId, node: &BasicNode) -> PeerClient {
        PeerClient {
            target,
            uri: node.addr.clone(),
            channel: channel(&node.addr).map_err(|e| e.to_string()),
            api_key: self.api_key.clone(),
            failures: self.failures.clone(),
        }
    }
}

#[derive(Debug)]
pub struct PeerClient {
    target: PeerId,
    uri: String,
    channel: Result<Channel, String>,
    api_key: Option<String>,
    failures: SendFailures,
}

#[derive(Debug, Clone, Copy)]
enum Rpc {
    Append,
    Vote,
    Snapshot,
}

type RpcResult<T, E> = Result<T, RPCError<PeerId, BasicNode, RaftError<PeerId, E>>>;

impl PeerClient {
    async fn call<Req, Resp, E>(
        &mut self,
        rpc: Rpc,
        body: &Req,
        ttl: Duration,
    ) -> RpcResult<Resp, E>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let channel = match &self.channel {
            Ok(c) => c.clone(),
            Err(e) => {
                return Err(RPCError::Unreachable(Unreachable::new(
                    &std::io::Error::other(e.clone()),
                )))
            }
        };
        let json =
            serde_json::to_vec(body).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let mut req = request(RaftPayload { json }, self.api_key.as_deref(), ttl);
        if let Ok(v) = self.target.to_string().parse() {
            req.metadata_mut().insert(RAFT_TARGET_HEADER, v);
        }
        let mut client = RaftClient::new(channel).max_decoding_message_size(256 << 20);
        let reply = match rpc {
            Rpc::Append => client.append_entries(req).await,
            Rpc::Vote => client.vote(req).await,
            Rpc::Snapshot => client.install_snapshot(req).await,
        };
        self.failures.record(
            &self.uri,
            reply
                .as_ref()
                .map(|_| ())
                .map_err(|s| s.message().to_string()),
        );
        let reply = reply.map_err(|s| match s.code() {
            tonic::Code::Unavailable | tonic::Code::DeadlineExceeded => {
                RPCError::Unreachable(Unreachable::new(&s))
            }
            _ => RPCError::Network(NetworkError::new(&s)),
        })?;
        let res: Result<Resp, RaftError<PeerId, E>> =
            serde_json::from_slice(&reply.into_inner().json)
                .map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        res.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<PeerId>, openraft::error::Infallible> {
        self.call(Rpc::Append, &rpc, option.hard_ttl()).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<PeerId>, InstallSnapshotError> {
        self.call(Rpc::Snapshot, &rpc, option.hard_ttl()).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<PeerId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<PeerId>, openraft::error::Infallible> {
        self.call(Rpc::Vote, &rpc, option.hard_ttl()).await
    }
}
