//! `qdrant.Collections`: each RPC converts its request, calls the operation REST's handler
//! calls, and converts the answer.

use super::conv_collections as conv;
use super::conv_common::{bad, grpc_shard_key, shard_key_of};
use super::status::status;
use super::{secs, GrpcResult};
use crate::api::rest::cluster::commit;
use crate::api::rest::shards::{self, ClusterOperation, MoveShard, Replica, ReplicatePoints};
use crate::api::rest::{collections, shard_keys, AppState};
use crate::collection::registry::AliasAction;
use crate::collection::shard_key::ShardKey;
use crate::consensus::Command;
use proto::qdrant as g;
use proto::qdrant::collections_server::Collections;
use serde_json::Value;
use std::time::{Duration, Instant};
use tonic::{Request, Response, Status};

pub struct CollectionsService {
    s: AppState,
}

impl CollectionsService {
    pub fn new(s: AppState) -> Self {
        CollectionsService { s }
    }
}

/// `timeout` of a metadata change (seconds), as REST's `?timeout=`.
pub fn commit_timeout(t: Option<u64>) -> Duration {
    crate::api::rest::cluster::CommitTimeout { timeout: t }.duration()
}

fn required_key(k: Option<g::ShardKey>) -> GrpcResult<ShardKey> {
    shard_key_of(k.ok_or_else(|| bad("`shard_key` is required"))?)
}

fn create_key(k: g::CreateShardKey) -> GrpcResult<shard_keys::CreateShardKey> {
    Ok(shard_keys::CreateShardKey {
        shard_key: required_key(k.shard_key)?,
        shards_number: k.shards_number.map(nonzero).transpose()?,
        replication_factor: k.replication_factor.map(nonzero).transpose()?,
        placement: (!k.placement.is_empty()).then_some(k.placement),
        initial_state: None,
    })
}

fn drop_key(k: g::DeleteShardKey) -> GrpcResult<shard_keys::DropShardKey> {
    Ok(shard_keys::DropShardKey {
        shard_key: required_key(k.shard_key)?,
    })
}

fn nonzero(n: u32) -> GrpcResult<std::num::NonZeroU32> {
    std::num::NonZeroU32::new(n).ok_or_else(|| bad("the number must be at least 1"))
}

fn ok_bool(v: &Value) -> bool {
    v.as_bool().unwrap_or(true)
}

fn replica_state(s: Option<&str>) -> i32 {
    (match s {
        Some("Dead") => g::ReplicaState::Dead,
        Some("Partial") => g::ReplicaState::Partial,
        Some("Initializing") => g::ReplicaState::Initializing,
        Some("Listener") => g::ReplicaState::Listener,
        Some("Recovery") => g::ReplicaState::Recovery,
        _ => g::ReplicaState::Active,
    }) as i32
}

/// The `shard_key` of a shard in the REST cluster info.
fn key_in(x: &Value) -> Option<g::ShardKey> {
    let k = serde_json::from_value(x.get("shard_key")?.clone()).ok()?;
    Some(grpc_shard_key(k))
}

fn cluster_info(v: Value, took: f64) -> g::CollectionClusterInfoResponse {
    let u = |x: &Value, k: &str| x.get(k).and_then(Value::as_u64).unwrap_or(0);
    let list = |k: &str| {
        v.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    g::CollectionClusterInfoResponse {
        peer_id: u(&v, "peer_id"),
        shard_count: u(&v, "shard_count"),
        local_shards: list("local_shards")
            .iter()
            .map(|x| g::LocalShardInfo {
                shard_id: u(x, "shard_id") as u32,
                points_count: u(x, "points_count"),
                state: replica_state(x.get("state").and_then(Value::as_str)),
                shard_key: key_in(x),
            })
            .collect(),
        remote_shards: list("remote_shards")
            .iter()
            .map(|x| g::RemoteShardInfo {
                shard_id: u(x, "shard_id") as u32,
                peer_id: u(x, "peer_id"),
                state: replica_state(x.get("state").and_then(Value::as_str)),
                shard_key: key_in(x),
            })
            .collect(),
        shard_transfers: list("shard_transfers")
            .iter()
            .map(|x| g::ShardTransferInfo {
                shard_id: u(x, "shard_id") as u32,
                to_shard_id: x
                    .get("to_shard_id")
                    .and_then(Value::as_u64)
                    .map(|s| s as u32),
                from: u(x, "from"),
                to: u(x, "to"),
                sync: x.get("sync").and_then(Value::as_bool).unwrap_or(false),
            })
            .collect(),
        resharding_operations: list("resharding_operations")
            .iter()
            .map(|x| g::ReshardingInfo {
                shard_id: u(x, "shard_id") as u32,
                peer_id: u(x, "peer_id"),
                shard_key: key_in(x),
                direction: match x.get("direction").and_then(Value::as_str) {
                    Some("down") => g::ReshardingDirection::Down as i32,
                    _ => g::ReshardingDirection::Up as i32,
                },
            })
            .collect(),
        time: took,
    }
}

fn method_name(m: Option<i32>) -> GrpcResult<Option<String>> {
    Ok(match m.map(g::ShardTransferMethod::try_from) {
        None => None,
        Some(Ok(g::ShardTransferMethod::StreamRecords)) => Some("stream_records".into()),
        Some(Ok(g::ShardTransferMethod::Snapshot)) => Some("snapshot".into()),
        Some(Ok(g::ShardTransferMethod::WalDelta)) => Some("wal_delta".into()),
        Some(Ok(g::ShardTransferMethod::ReshardingStreamRecords)) => {
            Some("resharding_stream_records".into())
        }
        Some(Err(_)) => return Err(super::conv_common::bad("unknown transfer method")),
    })
}

fn cluster_operation(
    op: Option<g::update_collection_cluster_setup_request::Operation>,
) -> GrpcResult<ClusterOperation> {
    use g::update_collection_cluster_setup_request::Operation as O;
    let mv = |shard_id, from_peer_id, to_peer_id, method: Option<String>| MoveShard {
        shard_id,
        from_peer_id,
        to_peer_id,
        method,
    };
    Ok(match op {
        Some(O::MoveShard(m)) => ClusterOperation::MoveShard(mv(
            m.shard_id,
            m.from_peer_id,
            m.to_peer_id,
            method_name(m.method)?,
        )),
        Some(O::ReplicateShard(m)) => ClusterOperation::ReplicateShard(mv(
            m.shard_id,
            m.from_peer_id,
            m.to_peer_id,
            method_name(m.method)?,
        )),
        Some(O::AbortTransfer(m)) => {
            ClusterOperation::AbortTransfer(mv(m.shard_id, m.from_peer_id, m.to_peer_id, None))
        }
        Some(O::DropReplica(r)) => ClusterOperation::DropReplica(Replica {
            shard_id: r.shard_id,
            peer_id: r.peer_id,
        }),
        Some(O::CreateShardKey(k)) => ClusterOperation::CreateShardingKey(create_key(k)?),
        Some(O::DeleteShardKey(k)) => ClusterOperation::DropShardingKey(drop_key(k)?),
        Some(O::RestartTransfer(m)) => ClusterOperation::RestartTransfer(mv(
            m.shard_id,
            m.from_peer_id,
            m.to_peer_id,
            method_name(Some(m.method))?,
        )),
        Some(O::ReplicatePoints(rp)) => ClusterOperation::ReplicatePoints(ReplicatePoints {
            from_shard_key: required_key(rp.from_shard_key)?,
            to_shard_key: required_key(rp.to_shard_key)?,
            filter: super::conv_common::filter(rp.filter)?,
        }),
        None => return Err(super::conv_common::bad("the cluster operation is empty")),
    })
}

fn alias_actions(actions: Vec<g::AliasOperations>) -> GrpcResult<Vec<AliasAction>> {
    use g::alias_operations::Action as A;
    actions
        .into_iter()
        .map(|a| match a.action {
            Some(A::CreateAlias(c)) => Ok(AliasAction::CreateAlias {
                collection_name: c.collection_name,
                alias_name: c.alias_name,
            }),
            Some(A::RenameAlias(r)) => Ok(AliasAction::RenameAlias {
                old_alias_name: r.old_alias_name,
                new_alias_name: r.new_alias_name,
            }),
            Some(A::DeleteAlias(d)) => Ok(AliasAction::DeleteAlias {
                alias_name: d.alias_name,
            }),
            None => Err(super::conv_common::bad("an alias action is empty")),
        })
        .collect()
}

fn aliases(pairs: impl Iterator<Item = (String, String)>, took: Instant) -> g::ListAliasesResponse {
    g::ListAliasesResponse {
        aliases: pairs
            .map(|(alias_name, collection_name)| g::AliasDescription {
                alias_name,
                collection_name,
            })
            .collect(),
        time: secs(took),
    }
}

fn op_response(v: Value, t: Instant) -> Response<g::CollectionOperationResponse> {
    Response::new(g::CollectionOperationResponse {
        result: ok_bool(&v),
        time: secs(t),
    })
}

#[tonic::async_trait]
impl Collections for CollectionsService {
    async fn get(
        &self,
        r: Request<g::GetCollectionInfoRequest>,
    ) -> Result<Response<g::GetCollectionInfoResponse>, Status> {
        let t = Instant::now();
        let info = collections::info(&self.s, &r.into_inner().collection_name)
            .await
            .map_err(status)?;
        Ok(Response::new(g::GetCollectionInfoResponse {
            result: Some(conv::info(info)),
            time: secs(t),
        }))
    }

    async fn list(
        &self,
        _r: Request<g::ListCollectionsRequest>,
    ) -> Result<Response<g::ListCollectionsResponse>, Status> {
        let t = Instant::now();
        let collections = self
            .s
            .registry
            .names()
            .into_iter()
            .map(|name| g::CollectionDescription { name })
            .collect();
        Ok(Response::new(g::ListCollectionsResponse {
            collections,
            time: secs(t),
        }))
    }

    async fn create(
        &self,
        r: Request<g::CreateCollection>,
    ) -> Result<Response<g::CollectionOperationResponse>, Status> {
        let t = Instant::now();
        let r = r.into_inner();
        let (name, timeout) = (r.collection_name.clone(), commit_timeout(r.timeout));
        let req = conv::create(r)?;
        let done = collections::create_collection(&self.s, name, req, timeout)
            .await
            .map_err(status)?;
        Ok(op_response(done, t))
    }

    async fn update(
        &self,
        r: Request<g::UpdateCollection>,
    ) -> Result<Response<g::CollectionOperationResponse>, Status> {
        let t = Instant::now();
        let r = r.into_inner();
        let (name, timeout) = (r.collection_name.clone(), commit_timeout(r.timeout));
        let req = conv::update(r)?;
        let done = collections::update_collection(&self.s, &name, req, timeout)
            .await
            .map_err(status)?;
        Ok(op_response(done, t))
    }

    async fn delete(
        &self,
        r: Request<g::DeleteCollection>,
    ) -> Result<Response<g::CollectionOperationResponse>, Status> {
        let t = Instant::now();
        let r = r.into_inner();
        let cmd = Command::DeleteCollection {
            name: r.collection_name,
        };
        let done = commit(&self.s, cmd, commit_timeout(r.timeout))
            .await
            .map_err(status)?;
        Ok(op_response(done, t))
    }

    async fn update_aliases(
        &self,
        r: Request<g::ChangeAliases>,
    ) -> Result<Response<g::CollectionOperationResponse>, Status> {
        let t = Instant::now();
        let r = r.into_inner();
        let cmd = Command::ChangeAliases {
            actions: alias_actions(r.actions)?,
        };
        let done = commit(&self.s, cmd, commit_timeout(r.timeout))
            .await
            .map_err(status)?;
        Ok(op_response(done, t))
    }

    async fn list_collection_aliases(
        &self,
        r: Request<g::ListCollectionAliasesRequest>,
    ) -> Result<Response<g::ListAliasesResponse>, Status> {
        let t = Instant::now();
        let c = self
            .s
            .registry
            .get(&r.into_inner().collection_name)
            .map_err(status)?;
        let all = self.s.registry.aliases().into_iter();
        Ok(Response::new(aliases(
            all.filter(|(_, col)| *col == c.name),
            t,
        )))
    }

    async fn list_aliases(
        &self,
        _r: Request<g::ListAliasesRequest>,
    ) -> Result<Response<g::ListAliasesResponse>, Status> {
        let t = Instant::now();
        Ok(Response::new(aliases(
            self.s.registry.aliases().into_iter(),
            t,
        )))
    }

    async fn collection_cluster_info(
        &self,
        r: Request<g::CollectionClusterInfoRequest>,
    ) -> Result<Response<g::CollectionClusterInfoResponse>, Status> {
        let t = Instant::now();
        let v = shards::cluster_info(&self.s, &r.into_inner().collection_name)
            .await
            .map_err(status)?;
        Ok(Response::new(cluster_info(v, secs(t))))
    }

    async fn collection_exists(
        &self,
        r: Request<g::CollectionExistsRequest>,
    ) -> Result<Response<g::CollectionExistsResponse>, Status> {
        let t = Instant::now();
        let exists = self.s.registry.get(&r.into_inner().collection_name).is_ok();
        Ok(Response::new(g::CollectionExistsResponse {
            result: Some(g::CollectionExists { exists }),
            time: secs(t),
        }))
    }

    async fn update_collection_cluster_setup(
        &self,
        r: Request<g::UpdateCollectionClusterSetupRequest>,
    ) -> Result<Response<g::UpdateCollectionClusterSetupResponse>, Status> {
        let t = Instant::now();
        let r = r.into_inner();
        let op = cluster_operation(r.operation)?;
        let done = shards::operate(&self.s, &r.collection_name, op, commit_timeout(r.timeout))
            .await
            .map_err(status)?;
        Ok(Response::new(g::UpdateCollectionClusterSetupResponse {
            result: ok_bool(&done),
            time: secs(t),
        }))
    }

    async fn create_shard_key(
        &self,
        r: Request<g::CreateShardKeyRequest>,
    ) -> Result<Response<g::CreateShardKeyResponse>, Status> {
        let t = Instant::now();
        let r = r.into_inner();
        let req = create_key(r.request.unwrap_or_default())?;
        let timeout = commit_timeout(r.timeout);
        let done = shard_keys::create_key(&self.s, &r.collection_name, req, timeout)
            .await
            .map_err(status)?;
        Ok(Response::new(g::CreateShardKeyResponse {
            result: ok_bool(&done),
            time: secs(t),
        }))
    }

    async fn delete_shard_key(
        &self,
        r: Request<g::DeleteShardKeyRequest>,
    ) -> Result<Response<g::DeleteShardKeyResponse>, Status> {
        let t = Instant::now();
        let r = r.into_inner();
        let req = drop_key(r.request.unwrap_or_default())?;
        let timeout = commit_timeout(r.timeout);
        let done = shard_keys::drop_key(&self.s, &r.collection_name, req, timeout)
            .await
            .map_err(status)?;
        Ok(Response::new(g::DeleteShardKeyResponse {
            result: ok_bool(&done),
            time: secs(t),
        }))
    }

    async fn list_shard_keys(
        &self,
        r: Request<g::ListShardKeysRequest>,
    ) -> Result<Response<g::ListShardKeysResponse>, Status> {
        let t = Instant::now();
        let keys = shard_keys::list_keys(&self.s, &r.into_inner().collection_name)
            .map_err(status)?
            .unwrap_or_default();
        Ok(Response::new(g::ListShardKeysResponse {
            shard_keys: keys
                .into_iter()
                .map(|k| g::ShardKeyDescription {
                    key: Some(grpc_shard_key(k)),
                })
                .collect(),
            time: secs(t),
        }))
    }
}
