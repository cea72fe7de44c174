//! The node's public and internal APIs. Handlers translate requests into collection calls
//! and map errors in one place; no storage or search logic lives here.

pub mod deadline;
pub mod error;
pub mod grpc;
pub mod process;
pub mod responses;
pub mod rest;
