//! Wire types of the gRPC APIs: the internal p2p API (`proto/p2p.proto`) and Qdrant's public
//! API (`proto/qdrant/*.proto`, package `qdrant`, the same message names and field numbers
//! as Qdrant 1.19's). Depends on nothing of ours; conversions to node types live in the
//! node's `api/grpc`.

#![allow(clippy::all)]

pub mod p2p {
    tonic::include_proto!("p2p");
}

pub mod qdrant {
    tonic::include_proto!("qdrant");
}

/// The standard gRPC health protocol.
pub mod health {
    tonic::include_proto!("grpc.health.v1");
}
