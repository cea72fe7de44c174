//! Wire types for the internal p2p gRPC API (filled by the cluster issues).
