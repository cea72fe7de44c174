//! The QdrantCluster operator: `controller` reconciles each QdrantCluster into the objects
//! `builders` describe and writes `status` from the StatefulSet and the nodes' own
//! `GET /cluster`; `chores` rebalance, drain and recover the data nodes through their REST
//! API. `main.rs` parses flags and starts the controller, metrics and leader election, or
//! runs one chore against a node given by URL.

pub mod automation;
pub mod builders;
pub mod chores;
pub mod controller;
pub mod leader;
pub mod metrics;
pub mod nodes;
pub mod progress;
pub mod rollout;
pub mod status;
pub mod steps;
