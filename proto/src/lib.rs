//! Wire types of the internal p2p gRPC API (generated from `proto/p2p.proto`). Depends on
//! nothing of ours; conversions to node types live in the node's `api/grpc`.

#![allow(clippy::all)]

pub mod p2p {
    tonic::include_proto!("p2p");
}
