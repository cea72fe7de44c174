//! Raft RPCs from other peers, handed to the local openraft node. Payloads are JSON.

use crate::consensus::network::RAFT_TARGET_HEADER;
use crate::consensus::{Consensus, TypeConfig};
use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use proto::p2p::RaftPayload;
use serde::{de::DeserializeOwned, Serialize};
use tonic::{Request, Response, Status};

pub struct RaftService {
    consensus: Consensus,
}

impl RaftService {
    pub fn new(consensus: Consensus) -> Self {
        RaftService { consensus }
    }
}

impl RaftService {
    /// Refuses an RPC meant for another peer id (a predecessor at the same uri).
    fn for_me(&self, req: &Request<RaftPayload>) -> Result<(), Status> {
        let target = req
            .metadata()
            .get(RAFT_TARGET_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        match target {
            Some(t) if t != self.consensus.id() => Err(Status::failed_precondition(format!(
                "this is peer {}, not peer {t}",
                self.consensus.id()
            ))),
            _ => Ok(()),
        }
    }
}

fn decode<T: DeserializeOwned>(req: Request<RaftPayload>) -> Result<T, Status> {
    serde_json::from_slice(&req.into_inner().json)
        .map_err(|e| Status::invalid_argument(format!("bad raft payload: {e}")))
}

fn encode<T: Serialize>(v: &T) -> Result<Response<RaftPayload>, Status> {
    let json = serde_json::to_vec(v).map_err(|e| Status::internal(e.to_string()))?;
    Ok(Response::new(RaftPayload { json }))
}

#[tonic::async_trait]
impl proto::p2p::raft_server::Raft for RaftService {
    async fn append_entries(
        &self,
        req: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        self.for_me(&req)?;
        let rpc: AppendEntriesRequest<TypeConfig> = decode(req)?;
        encode(&self.consensus.raft().append_entries(rpc).await)
    }

    async fn vote(&self, req: Request<RaftPayload>) -> Result<Response<RaftPayload>, Status> {
        self.for_me(&req)?;
        let rpc: VoteRequest<u64> = decode(req)?;
        encode(&self.consensus.raft().vote(rpc).await)
    }

    async fn install_snapshot(
        &self,
        req: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        self.for_me(&req)?;
        let rpc: InstallSnapshotRequest<TypeConfig> = decode(req)?;
        encode(&self.consensus.raft().install_snapshot(rpc).await)
    }
}
