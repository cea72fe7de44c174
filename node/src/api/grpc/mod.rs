//! gRPC: the internal (p2p) API on the cluster port (Raft RPCs, membership, shard reads and
//! writes between peers), which serves cluster members only (when `cluster.p2p.api_key` is
//! set every call must carry it in the `p2p-api-key` metadata), and Qdrant's public API on
//! the gRPC port (`public.rs`), whose services convert at the edge (`conv_*.rs`) and call
//! the same collection and cluster code as REST.

mod cluster;
mod conv_collections;
mod conv_common;
mod conv_points;
mod conv_quantization;
mod conv_query;
mod conv_vectors;
mod json_value;
mod public;
mod raft;
mod shards;
mod status;
mod svc_collections;
mod svc_points;
mod svc_snapshots;

pub use public::serve_public;

/// What the public services' helpers return.
type GrpcResult<T> = Result<T, tonic::Status>;

/// Seconds since `t`: the `time` field of every public answer.
fn secs(t: std::time::Instant) -> f64 {
    t.elapsed().as_secs_f64()
}

use crate::consensus::network::P2P_KEY_HEADER;
use crate::consensus::Consensus;
use proto::p2p::cluster_server::ClusterServer;
use proto::p2p::raft_server::RaftServer;
use proto::p2p::shards_server::ShardsServer;
use std::future::Future;
use tonic::{Request, Status};

/// Serves the p2p API on `listener` until `shutdown` resolves.
pub async fn serve(
    consensus: Consensus,
    router: crate::cluster::router::Router,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let key = consensus.settings().p2p_api_key.clone();
    let check = move |req: Request<()>| -> Result<Request<()>, Status> {
        let Some(want) = &key else { return Ok(req) };
        let given = req
            .metadata()
            .get(P2P_KEY_HEADER)
            .and_then(|v| v.to_str().ok());
        if given.map(|g| constant_eq(g.as_bytes(), want.as_bytes())) == Some(true) {
            Ok(req)
        } else {
            Err(Status::unauthenticated("p2p api key missing or wrong"))
        }
    };
    let raft = RaftServer::new(raft::RaftService::new(consensus.clone()))
        .max_decoding_message_size(256 << 20);
    let raft = tonic::service::interceptor::InterceptedService::new(raft, check.clone());
    let shards = ShardsServer::new(shards::ShardsService::new(consensus.clone(), router))
        .max_decoding_message_size(crate::cluster::remote::MAX_MESSAGE)
        .max_encoding_message_size(crate::cluster::remote::MAX_MESSAGE);
    let shards = tonic::service::interceptor::InterceptedService::new(shards, check.clone());
    let cluster = ClusterServer::with_interceptor(cluster::ClusterService::new(consensus), check);
    tonic::transport::Server::builder()
        .add_service(raft)
        .add_service(cluster)
        .add_service(shards)
        .serve_with_incoming_shutdown(
            // Small request/answer pairs: without nodelay each waits for a delayed ACK (~40 ms).
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown,
        )
        .await
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
