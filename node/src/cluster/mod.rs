//! Shard placement over peers. Pure planning: which peer holds which shard replica. Groundwork
//! for the sharding issue (routing and replica sets build on it); nothing calls it yet.

pub mod placement;
