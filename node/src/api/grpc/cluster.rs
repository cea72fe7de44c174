//! Membership and proposals from other peers: `Join` (any member answers; the uri of a peer
//! that did not give one is derived from the request's source address), `Propose` (leader
//! only) and `Removed`.

use crate::consensus::{Consensus, ConsensusError, Proposal};
use proto::p2p::{
    JoinReply, JoinRequest, ProposeReply, ProposeRequest, RemovedNotice, RemovedReply,
};
use std::time::{Duration, Instant};
use tonic::{Request, Response, Status};

pub struct ClusterService {
    consensus: Consensus,
}

impl ClusterService {
    pub fn new(consensus: Consensus) -> Self {
        ClusterService { consensus }
    }
}

fn status(e: ConsensusError) -> Status {
    match e {
        ConsensusError::BadInput(m) => Status::invalid_argument(m),
        ConsensusError::NotFound(m) => Status::not_found(m),
        other => Status::unavailable(other.to_string()),
    }
}

/// `http://<source ip>:<p2p port>` for a joining peer started without `--uri`.
fn derived_uri(source: Option<std::net::SocketAddr>, port: u32) -> Result<String, Status> {
    let ip = source
        .ok_or_else(|| Status::invalid_argument("no uri given and the source address is unknown"))?
        .ip();
    let port = u16::try_from(port).map_err(|_| Status::invalid_argument("bad p2p port"))?;
    // SocketAddr's Display brackets IPv6 addresses, as a uri needs.
    Ok(format!("http://{}", std::net::SocketAddr::new(ip, port)))
}

#[tonic::async_trait]
impl proto::p2p::cluster_server::Cluster for ClusterService {
    async fn join(&self, req: Request<JoinRequest>) -> Result<Response<JoinReply>, Status> {
        let source = req.remote_addr();
        let req = req.into_inner();
        let uri = if req.uri.is_empty() {
            derived_uri(source, req.p2p_port)?
        } else {
            req.uri
        };
        if req.peer_id == 0 {
            return Err(Status::invalid_argument("peer id 0 is reserved"));
        }
        tracing::info!(peer_id = req.peer_id, %uri, "join request");
        let proposal = Proposal::AddPeer {
            peer_id: req.peer_id,
            uri: uri.clone(),
        };
        self.consensus
            .submit(proposal, Duration::from_secs(20))
            .await
            .map_err(status)?;
        let leader_id = self.consensus.raft().current_leader().await.unwrap_or(0);
        Ok(Response::new(JoinReply { leader_id, uri }))
    }

    async fn propose(
        &self,
        req: Request<ProposeRequest>,
    ) -> Result<Response<ProposeReply>, Status> {
        let req = req.into_inner();
        let proposal: Proposal = serde_json::from_slice(&req.command_json)
            .map_err(|e| Status::invalid_argument(format!("bad proposal: {e}")))?;
        let timeout = Duration::from_millis(req.timeout_ms.clamp(100, 600_000));
        let result = self
            .consensus
            .execute(proposal, Instant::now() + timeout)
            .await;
        let log_index = result.as_ref().map(|(_, i)| *i).unwrap_or(0);
        let result_json = serde_json::to_vec(&result.map(|(v, _)| v))
            .map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(ProposeReply {
            result_json,
            log_index,
        }))
    }

    async fn removed(&self, req: Request<RemovedNotice>) -> Result<Response<RemovedReply>, Status> {
        if req.into_inner().peer_id == self.consensus.id() {
            self.consensus.mark_removed();
        }
        Ok(Response::new(RemovedReply {}))
    }
}
