//! Raft RPCs from other peers, handed to the local openraft node. Payloads are JSON.

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
        let rpc: AppendEntriesRequest<TypeConfig> = decode(req)?;
        encode(&self.consensus.raft().append_entries(rpc).await)
    }

    async fn vote(&self, req: Request<RaftPayload>) -> Result<Response<RaftPayload>, Status> {
        let rpc: VoteRequest<u64> = decode(req)?;
        encode(&self.consensus.raft().vote(rpc).await)
    }

    async fn install_snapshot(
        &self,
        req: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        let rpc: InstallSnapshotRequest<TypeConfig> = decode(req)?;
        encode(&self.consensus.raft().install_snapshot(rpc).await)
    }
}
