//! Point operations and reads that other peers route to the replicas held here. Before
//! acting, a request waits until this peer applied the sender's Raft index, so it knows
//! every collection and replica the sender knew.

use crate::cluster::ordering::WriteOrdering;
use crate::cluster::remote::{tag_from_wire, STALE_LAYOUT, STALE_LAYOUT_VERSION};
use crate::cluster::router::Router;
use crate::collection::local_read::ReadRequest;
use crate::collection::ops::ShardOp;
use crate::collection::{Collection, CollectionError, Registry};
use crate::consensus::Consensus;
use proto::p2p::{
    HealthReply, HealthRequest, ShardForward, ShardRead, ShardReadReply, ShardUpdate,
    ShardUpdateReply,
};
use std::sync::Arc;
use std::time::Duration;
use tonic::{Request, Response, Status};

/// Longest wait for this peer to catch up with the sender's Raft index.
const CATCH_UP: Duration = Duration::from_secs(5);

pub struct ShardsService {
    consensus: Consensus,
    registry: Arc<Registry>,
    router: Router,
}

impl ShardsService {
    pub fn new(consensus: Consensus, router: Router) -> Self {
        ShardsService {
            consensus,
            registry: router.registry().clone(),
            router,
        }
    }

    async fn collection(&self, name: &str, min_applied: u64) -> Result<Arc<Collection>, Status> {
        self.consensus.wait_applied_for(min_applied, CATCH_UP).await;
        self.registry.get(name).map_err(status)
    }
}

fn status(e: CollectionError) -> Status {
    match e {
        CollectionError::NotFound(_) | CollectionError::PointNotFound(_) => {
            Status::not_found(e.to_string())
        }
        CollectionError::BadInput(m) | CollectionError::Unsupported(m) => {
            Status::invalid_argument(m)
        }
        CollectionError::WrongInput(_) => Status::invalid_argument(e.to_string()),
        CollectionError::Unavailable(m) => Status::failed_precondition(m),
        CollectionError::StaleLayout(v) => {
            let mut s = Status::aborted(format!("{STALE_LAYOUT}{v}"));
            if let Ok(m) = v.to_string().parse() {
                s.metadata_mut().insert(STALE_LAYOUT_VERSION, m);
            }
            s
        }
        other => Status::internal(other.to_string()),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, CollectionError> + Send + 'static,
) -> Result<T, Status> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Status::internal(e.to_string()))?
        .map_err(status)
}

#[tonic::async_trait]
impl proto::p2p::shards_server::Shards for ShardsService {
    async fn update(
        &self,
        req: Request<ShardUpdate>,
    ) -> Result<Response<ShardUpdateReply>, Status> {
        let req = req.into_inner();
        let op: ShardOp = serde_json::from_slice(&req.op_json)
            .map_err(|e| Status::invalid_argument(format!("bad shard operation: {e}")))?;
        let c = self.collection(&req.collection, req.min_applied).await?;
        let shard = req.shard_id;
        let routed = req.layout_version;
        let tag = req.tag.map(tag_from_wire);
        let operation_id = blocking(move || c.apply_local(shard, &op, routed, tag)).await?;
        Ok(Response::new(ShardUpdateReply { operation_id }))
    }

    async fn forward(
        &self,
        req: Request<ShardForward>,
    ) -> Result<Response<ShardUpdateReply>, Status> {
        let req = req.into_inner();
        let ordering = WriteOrdering::from_code(req.ordering)
            .ok_or_else(|| Status::invalid_argument("unknown write ordering"))?;
        let u = req
            .update
            .ok_or_else(|| Status::invalid_argument("no write to forward"))?;
        let op: ShardOp = serde_json::from_slice(&u.op_json)
            .map_err(|e| Status::invalid_argument(format!("bad shard operation: {e}")))?;
        let c = self.collection(&u.collection, u.min_applied).await?;
        // Split by the sender under its layout: only the same layout here may write it.
        let layout = c.layout();
        let stale = CollectionError::StaleLayout(layout.version);
        if u.layout_version.is_some_and(|v| v != layout.version) {
            return Err(status(stale));
        }
        let operation_id = self
            .router
            .write_part(&c, u.shard_id, Arc::new(op), ordering, true, layout.epoch)
            .await
            .map_err(|e| match e {
                CollectionError::Rerouted => status(stale),
                e => status(e),
            })?;
        Ok(Response::new(ShardUpdateReply { operation_id }))
    }

    async fn read(&self, req: Request<ShardRead>) -> Result<Response<ShardReadReply>, Status> {
        let req = req.into_inner();
        let read: ReadRequest = serde_json::from_slice(&req.request_json)
            .map_err(|e| Status::invalid_argument(format!("bad read request: {e}")))?;
        let c = self.collection(&req.collection, req.min_applied).await?;
        let shards = req.shard_ids;
        let reply = blocking(move || c.read_local(&shards, &read)).await?;
        let result_json =
            serde_json::to_vec(&reply).map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(ShardReadReply { result_json }))
    }

    async fn health(&self, req: Request<HealthRequest>) -> Result<Response<HealthReply>, Status> {
        Ok(Response::new(HealthReply {
            applied: self.consensus.applied_index(),
            peer_id: self.consensus.id(),
            status_json: match req.into_inner().with_status {
                true => serde_json::to_vec(&self.consensus.status()).unwrap_or_default(),
                false => Vec::new(),
            },
            quota_json: serde_json::to_vec(&self.router.registry().quota().peer_usage())
                .unwrap_or_default(),
            transfers_json: serde_json::to_vec(&self.router.progress().mine()).unwrap_or_default(),
        }))
    }
}
