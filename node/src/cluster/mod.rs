//! The data plane of a cluster: where shards are placed, how point operations and reads are
//! routed to their replicas and merged, and how replicas are kept in sync (health checks,
//! transfers). Metadata changes it decides go through `consensus`.

pub mod clock_pool;
pub mod consistency;
pub mod copy_points;
pub mod delta;
pub mod keeper;
pub mod ordering;
pub mod placement;
pub mod prefetch;
pub mod progress;
pub mod query;
pub mod reads;
pub mod recommend;
pub mod remote;
pub mod reshard;
pub mod restore;
pub mod router;
pub mod transfer;
pub mod write_step;
