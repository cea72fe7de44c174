//! The QdrantCluster operator: `controller` reconciles each QdrantCluster into the objects
//! `builders` describe and writes `status` from the StatefulSet and the nodes' own
//! `GET /cluster`. `main.rs` parses flags and starts the controller, metrics and leader election.

pub mod builders;
pub mod controller;
pub mod leader;
pub mod metrics;
pub mod nodes;
pub mod status;
