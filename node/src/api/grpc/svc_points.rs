//! `qdrant.Points`: writes become the shard operations REST builds and go through the same
//! router; reads become the collection layer's requests (`conv_query.rs`) and run through
//! the same query planning (`cluster/query.rs`). The deprecated search, recommend and
//! discover RPCs answer as the `Query` they are equivalent to.

use super::conv_common::{
    bad, consistency, filter, grpc_id, ids, ordering, point_id_opt, shard_key, with_payload,
    with_vectors,
};
use super::conv_points::{group, point_struct, retrieved, scored, selector, update_result};
use super::conv_query as q;
use super::conv_vectors::vectors;
use super::json_value::map_to_json;
use super::status::status;
use super::svc_collections::commit_timeout;
use super::{secs, GrpcResult};
use crate::api::deadline::{within, Deadline};
use crate::api::error::ApiError;
use crate::api::rest::collections::{create_vector_op, delete_vector_op, set_index};
use crate::api::rest::matrix::{matrix, MatrixRequest};
use crate::api::rest::query::facet_hits;
use crate::api::rest::AppState;
use crate::cluster::consistency::{Consistency, ReadScope};
use crate::cluster::query::{run_groups, run_query};
use crate::collection::local_read::Scroll;
use crate::collection::ops::{KeyedOp, PayloadChange, ShardOp};
use crate::collection::query::{check_limit, FacetRequest, QueryGroupsRequest, QueryRequest};
use crate::collection::vector_config::{
    DenseVectorConfig, MultiVectorComparator, MultiVectorConfig, SparseVectorConfig,
    StorageDatatype, VectorNameConfig,
};
use crate::collection::Collection;
use crate::segment::facet::FacetValue;
use crate::segment::vectors::Modifier;
use proto::qdrant as g;
use proto::qdrant::points_server::Points;
use std::sync::Arc;
use std::time::Instant;
use tonic::{Request, Response, Status};

pub struct PointsService {
    s: AppState,
}

impl PointsService {
    pub fn new(s: AppState) -> Self {
        PointsService { s }
    }

    fn collection(&self, name: &str) -> GrpcResult<Arc<Collection>> {
        self.s.registry.get(name).map_err(status)
    }

    async fn write(
        &self,
        name: &str,
        op: KeyedOp,
        wait: Option<bool>,
        ordering: &Option<g::WriteOrdering>,
        t: Instant,
    ) -> Result<Response<g::PointsOperationResponse>, Status> {
        let ordering = super::conv_common::ordering(ordering)?;
        let c = self.collection(name)?;
        let id = self
            .s
            .router
            .write(&c, vec![op], ordering)
            .await
            .map_err(status)?;
        Ok(Response::new(g::PointsOperationResponse {
            result: Some(update_result(id, wait.unwrap_or(false))),
            time: secs(t),
            usage: None,
        }))
    }

    async fn answer(
        &self,
        name: &str,
        req: QueryRequest,
        c: Consistency,
        d: Deadline,
    ) -> GrpcResult<Vec<g::ScoredPoint>> {
        let col = self.collection(name)?;
        self.s.issues.check(&col, req.filter.as_ref());
        let hits = d.run(run_query(&self.s.router, &col, &req, c)).await?;
        Ok(hits.into_iter().map(scored).collect())
    }

    async fn groups(
        &self,
        name: &str,
        req: QueryGroupsRequest,
        c: Consistency,
        d: Deadline,
    ) -> GrpcResult<g::GroupsResult> {
        let col = self.collection(name)?;
        self.s.issues.check(&col, req.query.filter.as_ref());
        let groups = d.run(run_groups(&self.s.router, &col, &req, c)).await?;
        Ok(g::GroupsResult {
            groups: groups.into_iter().map(group).collect(),
        })
    }

    /// A batch of queries, each with its own read consistency (the batch's by default),
    /// all within one deadline.
    async fn batch(
        &self,
        name: &str,
        reqs: Vec<(QueryRequest, Consistency)>,
        batch: Consistency,
        d: Deadline,
    ) -> GrpcResult<Vec<g::BatchResult>> {
        let runs = reqs.into_iter().map(|(r, c)| {
            let c = if c == Consistency::One { batch } else { c };
            async move { self.answer(name, r, c, Deadline::new(None, d.what)).await }
        });
        let all = d.run(async { Ok::<_, ApiError>(futures::future::join_all(runs).await) });
        all.await?
            .into_iter()
            .map(|r| r.map(|result| g::BatchResult { result }))
            .collect()
    }

    fn upsert_op(&self, c: &Collection, points: Vec<g::PointStruct>) -> GrpcResult<ShardOp> {
        let specs = c.specs();
        points
            .into_iter()
            .map(|p| point_struct(p, &specs))
            .collect::<GrpcResult<Vec<_>>>()
            .map(ShardOp::Upsert)
    }

    fn update_vectors_op(
        &self,
        c: &Collection,
        points: Vec<g::PointVectors>,
    ) -> GrpcResult<ShardOp> {
        let specs = c.specs();
        points
            .into_iter()
            .map(|p| {
                Ok((
                    point_id_opt(p.id)?,
                    vectors(p.vectors)?.resolve(&specs).map_err(status)?,
                ))
            })
            .collect::<GrpcResult<Vec<_>>>()
            .map(ShardOp::UpdateVectors)
    }

    fn delete_vectors_op(
        &self,
        c: &Collection,
        sel: Option<g::PointsSelector>,
        names: Option<g::VectorsSelector>,
    ) -> GrpcResult<ShardOp> {
        let names = names.map(|v| v.names).unwrap_or_default();
        let specs = c.specs();
        for n in &names {
            if !specs.iter().any(|s| &s.name == n) {
                return Err(bad(format!("Not existing vector name error: {n}")));
            }
        }
        Ok(ShardOp::DeleteVectors(selector(sel)?, names))
    }

    fn batch_op(&self, c: &Collection, op: g::PointsUpdateOperation) -> GrpcResult<KeyedOp> {
        use g::points_update_operation::Operation as O;
        let (op, key) = match op.operation {
            Some(O::Upsert(u)) => {
                no_update_filter(&u.update_filter)?;
                (self.upsert_op(c, u.points)?, u.shard_key_selector)
            }
            Some(O::DeleteDeprecated(sel)) => (ShardOp::Delete(selector(Some(sel))?), None),
            Some(O::DeletePoints(d)) => {
                (ShardOp::Delete(selector(d.points)?), d.shard_key_selector)
            }
            Some(O::SetPayload(p)) => {
                let change = PayloadChange::Set {
                    payload: map_to_json(p.payload),
                    key: p.key,
                };
                let op = ShardOp::Payload(selector(p.points_selector)?, change);
                (op, p.shard_key_selector)
            }
            Some(O::OverwritePayload(p)) => {
                let change = PayloadChange::Overwrite(map_to_json(p.payload));
                let op = ShardOp::Payload(selector(p.points_selector)?, change);
                (op, p.shard_key_selector)
            }
            Some(O::DeletePayload(p)) => {
                let change = PayloadChange::DeleteKeys(p.keys);
                let op = ShardOp::Payload(selector(p.points_selector)?, change);
                (op, p.shard_key_selector)
            }
            Some(O::ClearPayloadDeprecated(sel)) => (
                ShardOp::Payload(selector(Some(sel))?, PayloadChange::Clear),
                None,
            ),
            Some(O::ClearPayload(p)) => {
                let op = ShardOp::Payload(selector(p.points)?, PayloadChange::Clear);
                (op, p.shard_key_selector)
            }
            Some(O::UpdateVectors(u)) => {
                no_update_filter(&u.update_filter)?;
                (self.update_vectors_op(c, u.points)?, u.shard_key_selector)
            }
            Some(O::DeleteVectors(d)) => {
                let op = self.delete_vectors_op(c, d.points_selector, d.vectors)?;
                (op, d.shard_key_selector)
            }
            None => return Err(bad("an update operation is empty")),
        };
        Ok(KeyedOp {
            op,
            shard_key: shard_key(&key)?,
        })
    }
}

/// Conditional updates are not supported yet: refused rather than applied unconditionally.
fn no_update_filter(f: &Option<g::Filter>) -> GrpcResult<()> {
    match f {
        Some(_) => Err(Status::invalid_argument(
            "Bad request: `update_filter` is not supported yet",
        )),
        None => Ok(()),
    }
}

fn no_update_mode(m: Option<i32>) -> GrpcResult<()> {
    match m {
        None | Some(0) => Ok(()),
        Some(_) => Err(Status::invalid_argument(
            "Bad request: `update_mode` other than upsert is not supported yet",
        )),
    }
}

fn facet_value(v: FacetValue) -> g::FacetValue {
    use g::facet_value::Variant as V;
    let variant = match v {
        FacetValue::Str(s) => V::StringValue(s),
        FacetValue::Int(i) => V::IntegerValue(i),
        FacetValue::Bool(b) => V::BoolValue(b),
    };
    g::FacetValue {
        variant: Some(variant),
    }
}

fn datatype(d: Option<i32>) -> Option<StorageDatatype> {
    match d.map(g::Datatype::try_from) {
        Some(Ok(g::Datatype::Float32)) => Some(StorageDatatype::Float32),
        Some(Ok(g::Datatype::Float16)) => Some(StorageDatatype::Float16),
        Some(Ok(g::Datatype::Uint8)) => Some(StorageDatatype::Uint8),
        Some(Ok(g::Datatype::Turbo4)) => Some(StorageDatatype::Turbo4),
        _ => None,
    }
}

fn vector_name_config(
    c: Option<g::create_vector_name_request::VectorConfig>,
) -> GrpcResult<VectorNameConfig> {
    use g::create_vector_name_request::VectorConfig as V;
    match c {
        Some(V::DenseConfig(d)) => {
            let distance = match g::Distance::try_from(d.distance) {
                Ok(g::Distance::Cosine) => crate::segment::distance::Distance::Cosine,
                Ok(g::Distance::Euclid) => crate::segment::distance::Distance::Euclid,
                Ok(g::Distance::Dot) => crate::segment::distance::Distance::Dot,
                Ok(g::Distance::Manhattan) => crate::segment::distance::Distance::Manhattan,
                _ => return Err(bad(format!("unknown distance {}", d.distance))),
            };
            Ok(VectorNameConfig::Dense(DenseVectorConfig {
                size: d.size,
                distance,
                multivector_config: d.multivector_config.map(|_| MultiVectorConfig {
                    comparator: MultiVectorComparator::MaxSim,
                }),
                datatype: datatype(d.datatype),
            }))
        }
        Some(V::SparseConfig(s)) => Ok(VectorNameConfig::Sparse(SparseVectorConfig {
            modifier: s.modifier.map(|m| match g::Modifier::try_from(m) {
                Ok(g::Modifier::Idf) => Modifier::Idf,
                _ => Modifier::None,
            }),
            datatype: datatype(s.datatype),
        })),
        None => Err(bad("`dense_config` or `sparse_config` is required")),
    }
}

#[tonic::async_trait]
impl Points for PointsService {
    async fn upsert(
        &self,
        r: Request<g::UpsertPoints>,
    ) -> Result<Response<g::PointsOperationResponse>, Status> {
        let t = Instant::now();
        let r = r.into_inner();
        let shard_key = shard_key(&r.shard_key_selector)?;
        no_update_filter(&r.update_filter)?;
        no_update_mode(r.update_mode)?;
        let c = self.collection(&r.collection_name)?;
        let op = self.upsert_op(&c, r.points)?;
        self.write(
            &r.collection_name,
            KeyedOp { op, shard_key },
            r.wait,
            &r.ordering,
            t,
        )
        .await
    }

    async fn delete(
        &self,
        r: Request<g::DeletePoints>,
    ) -> Result<Response<g::PointsOperationResponse>, Status> {
        let t = Instant::now();
        let r = r.into_inner();
        let shard_key = shard_key(&r.shard_key_selector)?;
        let op = ShardOp::Delete(selector(r.points)?);
        self.write(
            &r.collection_name,
            KeyedOp { op, shard_key },
            r.wait,
            &r.ordering,
            t,
        )
        .await
    }

    async fn get(&self, r: Request<g::GetPoints>) -> Result<Response<g::GetResponse>, Status> {
        let t = Instant::now();
        let r = r.into_inner();
        let shard_key = shard_key(&r.shard_key_selector)?;
        let c = self.collection(&r.collection_name)?;
        let (wp, wv) = (
            with_payload(r.with_payload, false),
            with_vectors(r.with_vectors),
        );
        let (ids, c_read) = (ids(r.ids)?, consistency(r.read_consistency)?);
        let scope = ReadScope::new(c_read, shard_key);
        let read = self.s.router.retrieve(&c, &ids, &wp, &wv, &scope);
        let recs = within(r.timeout, "Retrieve", read).await?;
        Ok(Response::new(g::GetResponse {
            result: recs.into_iter().map(retrieved).collect(),
            time: secs(t),
            usage: None,
        }))
    }

    async fn update_vectors(
        &self,
        r: Request<g::UpdatePointVectors>,
    ) -> Result<Response<g::PointsOperationResponse>, Status> {
        let t = Instant::now();
        let r = r.into_inner();
        let shard_key = shard_key(&r.shard_key_selector)?;
        no_update_filter(&r.update_filter)?;
        let c = self.collection(&r.collection_name)?;
        let op = self.update_vectors_op(&c, r.points)?;
        self.write(
            &r.collection_name,
            KeyedOp { op, shard_key },
            r.wait,
            &r.ordering,
            t,
        )
        .await
    }

    async fn delete_vectors(
        &self,
        r: Request<g::DeletePointVectors>,
    ) -> Result<Response<g::PointsOperationResponse>, Status> {
        let t = Instant::now();
        let r = r.into_inner();
        let shard_key = shard_key(&r.shard_key_selector)?;
        let c = self.collection(&r.collection_name)?;
        let op = self.delete_vectors_op(&c, r.points_selector, r.vectors)?;
        self.write(
            &r.collection_name,
            KeyedOp { op, shard_key },
            r.wait,
            &r.ordering,
            t,
        )
        .await
    }

    async fn set_payload(
        &self,
        r: Request<g::SetPayloadPoints>,
    ) -> Result<Response<g::PointsOperationResponse>, Status> {
        let t = Instant::now();
        let r = r.into_inner();
        let shard_key = shard_key(&r.shard_key_selector)?;
        let change = PayloadChange::Set {
            payload: map_to_json(r.payload),
            key: r.key,
        };
        let op = ShardOp::Payload(selector(r.points_selector)?, change);
        self.write(
            &r.collection_name,
            KeyedOp { op, shard_key },
            r.wait,
            &r.ordering,
            t,
        )
        .await
    }

    async fn overwrite_payload(
        &self,
        r: Request<g::SetPayloadPoints>,
    ) -> Result<Response<g::PointsOperationResponse>, Status> {
        let t = Instant::now();
        let r = r.into_inner();
        let shard_key = shard_key(&r.shard_key_selector)?;
        let change = PayloadChange::Overwrite(map_to_json(r.payload));
        let op = ShardOp::Payload(selector(r.points_selector)?, change);
        self.write(
            &r.collection_name,
            KeyedOp { op, shard_key },
            r.wait,
            &r.ordering,
            t,
        )
        .await
    }

    async fn delete_payload(
        &self,
        r: Request<g::DeletePayloadPoints>,
    ) -> Result<Response<g::PointsOperationResponse>, Status> {
        let t = Instant::now();
        let r = r.into_inner();
        let shard_key = shard_key(&r.shard_key_selector)?;
        let op = ShardOp::Payload(
            selector(r.points_selector)?,
            PayloadChange::DeleteKeys(r.keys),
        );
        self.write(
            &r.collection_name,
            KeyedOp { op, shard_key },
            r.wait,
            &r.ordering,
            t,
        )
        .await
    }

    async fn clear_payload(
        &self,
        r: Request<g::ClearPayloadPoints>,
    ) -> Result<Response<g::PointsOperationResponse>, Status> {
        let t = Instant::now();
        let r = r.into_inner();
        let shard_key = shard_key(&r.shard_key_selector)?;
        let op = ShardOp::Payload(selector(r.points)?, PayloadChange::Clear);
        self.write(
            &r.collection_name,
            KeyedOp { op, shard_key },
            r.wait,
            &r.ordering,
            t,
        )
        .await
    }

    async fn create_field_index(
        &self,
        r: Request<g::CreateFieldIndexCollection>,
    ) -> Result<Response<g::PointsOperationResponse>, Status> {
        let t = Instant::now();
        let r = r.into_inner();
        let ty = super::conv_collections::field_type(r.field_type, r.field_index_params)?;
        set_index(
            &self.s,
            &r.collection_name,
            r.field_name,
            Some(ty),
            commit_timeout(r.timeout),
        )
        .await
        .map_err(status)?;
        Ok(Response::new(g::PointsOperationResponse {
            result: Some(update_result(0, true)),
            time: secs(t),
            usage: None,
        }))
    }

    async fn delete_field_index(
        &self,
        r: Request<g::DeleteFieldIndexCollection>,
    ) -> Result<Response<g::PointsOperationResponse>, Status> {
        let t = Instant::now();
        let r = r.into_inner();
        set_index(
            &self.s,
            &r.collection_name,
            r.field_name,
            None,
            commit_timeout(r.timeout),
        )
        .await
        .map_err(status)?;
        Ok(Response::new(g::PointsOperationResponse {
            result: Some(update_result(0, true)),
            time: secs(t),
            usage: None,
        }))
    }

    async fn create_vector_name(
        &self,
        r: Request<g::CreateVectorNameRequest>,
    ) -> Result<Response<g::PointsOperationResponse>, Status> {
        let t = Instant::now();
        let r = r.into_inner();
        let config = vector_name_config(r.vector_config)?;
        create_vector_op(
            &self.s,
            &r.collection_name,
            r.vector_name,
            config,
            commit_timeout(r.timeout),
        )
        .await
        .map_err(status)?;
        Ok(Response::new(g::PointsOperationResponse {
            result: Some(update_result(0, true)),
            time: secs(t),
            usage: None,
        }))
    }

    async fn delete_vector_name(
        &self,
        r: Request<g::DeleteVectorNameRequest>,
    ) -> Result<Response<g::PointsOperationResponse>, Status> {
        let t = Instant::now();
        let r = r.into_inner();
        delete_vector_op(
            &self.s,
            &r.collection_name,
            r.vector_name,
            commit_timeout(r.timeout),
        )
        .await
        .map_err(status)?;
        Ok(Response::new(g::PointsOperationResponse {
            result: Some(update_result(0, true)),
            time: secs(t),
            usage: None,
        }))
    }

    async fn search(
        &self,
        r: Request<g::SearchPoints>,
    ) -> Result<Response<g::SearchResponse>, Status> {
        let t = Instant::now();
        let r = r.into_inner();
        let (name, timeout) = (r.collection_name.clone(), r.timeout);
        let (req, c) = q::search(r)?;
        let result = self
            .answer(&name, req, c, Deadline::new(timeout, "Search"))
            .await?;
        Ok(Response::new(g::SearchResponse {
            result,
            time: secs(t),
            usage: None,
        }))
    }

    async fn search_batch(
        &self,
        r: Request<g::SearchBatchPoints>,
    ) -> Result<Response<g::SearchBatchResponse>, Status> {
        let t = Instant::now();
        let r = r.into_inner();
        let reqs = r
            .search_points
            .into_iter()
            .map(q::search)
            .collect::<GrpcResult<Vec<_>>>()?;
        let d = Deadline::new(r.timeout, "Search batch");
        let c = consistency(r.read_consistency)?;
        let result = self.batch(&r.collection_name, reqs, c, d).await?;
        Ok(Response::new(g::SearchBatchResponse {
            result,
            time: secs(t),
            usage: None,
        }))
    }

    async fn search_groups(
        &self,
        r: Request<g::SearchPointGroups>,
    ) -> Result<Response<g::SearchGroupsResponse>, Status> {
        let t = Instant::now();
        let r = r.into_inner();
        let (name, timeout) = (r.collection_name.clone(), r.timeout);
        let (req, c) = q::search_groups(r)?;
        let result = Some(
            self.groups(&name, req, c, Deadline::new(timeout, "Search groups"))
                .await?,
        );
        Ok(Response::new(g::SearchGroupsResponse {
            result,
            time: secs(t),
            usage: None,
        }))
    }

    async fn scroll(
        &self,
        r: Request<g::ScrollPoints>,
    ) -> Result<Response<g::ScrollResponse>, Status> {
        let t = Instant::now();
        let r = r.into_inner();
        let shard_key = shard_key(&r.shard_key_selector)?;
        let c = self.collection(&r.collection_name)?;
        let filter = filter(r.filter)?;
        self.s.issues.check(&c, filter.as_ref());
        let order_by = r.order_by.map(super::conv_common::order_by).transpose()?;
        let limit = check_limit(r.limit.map(|l| l as usize), 10).map_err(status)?;
        let page = Scroll {
            from: match (&order_by, r.offset) {
                (None, Some(id)) => Some(super::conv_common::point_id(id)?),
                _ => None,
            },
            limit,
            filter,
            order_by,
            with_payload: with_payload(r.with_payload, true),
            with_vector: with_vectors(r.with_vectors),
        };
        let scope = ReadScope::new(consistency(r.read_consistency)?, shard_key);
        let read = self.s.router.scroll(&c, page, &scope);
        let (points, next) = within(r.timeout, "Scroll", read).await?;
        Ok(Response::new(g::ScrollResponse {
            next_page_offset: next.map(grpc_id),
            result: points.into_iter().map(retrieved).collect(),
            time: secs(t),
            usage: None,
        }))
    }

    async fn recommend(
        &self,
        r: Request<g::RecommendPoints>,
    ) -> Result<Response<g::RecommendResponse>, Status> {
        let t = Instant::now();
        let r = r.into_inner();
        let (name, timeout) = (r.collection_name.clone(), r.timeout);
        let (req, c) = q::recommend(r)?;
        let result = self
            .answer(&name, req, c, Deadline::new(timeout, "Recommend"))
            .await?;
        Ok(Response::new(g::RecommendResponse {
            result,
            time: secs(t),
            usage: None,
        }))
    }

    async fn recommend_batch(
        &self,
        r: Request<g::RecommendBatchPoints>,
    ) -> Result<Response<g::RecommendBatchResponse>, Status> {
        let t = Instant::now();
        let r = r.into_inner();
        let reqs = r
            .recommend_points
            .into_iter()
            .map(q::recommend)
            .collect::<GrpcResult<Vec<_>>>()?;
        let d = Deadline::new(r.timeout, "Recommend batch");
        let c = consistency(r.read_consistency)?;
        let result = self.batch(&r.collection_name, reqs, c, d).await?;
        Ok(Response::new(g::RecommendBatchResponse {
            result,
            time: secs(t),
            usage: None,
        }))
    }

    async fn recommend_groups(
        &self,
        r: Request<g::RecommendPointGroups>,
    ) -> Result<Response<g::RecommendGroupsResponse>, Status> {
        let t = Instant::now();
        let r = r.into_inner();
        let (name, timeout) = (r.collection_name.clone(), r.timeout);
        let (req, c) = q::recommend_groups(r)?;
        let result = Some(
            self.groups(&name, req, c, Deadline::new(timeout, "Recommend groups"))
                .await?,
        );
        Ok(Response::new(g::RecommendGroupsResponse {
            result,
            time: secs(t),
            usage: None,
        }))
    }

    async fn discover(
        &self,
        r: Request<g::DiscoverPoints>,
    ) -> Result<Response<g::DiscoverResponse>, Status> {
        let t = Instant::now();
        let r = r.into_inner();
        let (name, timeout) = (r.collection_name.clone(), r.timeout);
        let (req, c) = q::discover(r)?;
        let result = self
            .answer(&name, req, c, Deadline::new(timeout, "Discover"))
            .await?;
        Ok(Response::new(g::DiscoverResponse {
            result,
            time: secs(t),
            usage: None,
        }))
    }

    async fn discover_batch(
        &self,
        r: Request<g::DiscoverBatchPoints>,
    ) -> Result<Response<g::DiscoverBatchResponse>, Status> {
        let t = Instant::now();
        let r = r.into_inner();
        let reqs = r
            .discover_points
            .into_iter()
            .map(q::discover)
            .collect::<GrpcResult<Vec<_>>>()?;
        let d = Deadline::new(r.timeout, "Discover batch");
        let c = consistency(r.read_consistency)?;
        let result = self.batch(&r.collection_name, reqs, c, d).await?;
        Ok(Response::new(g::DiscoverBatchResponse {
            result,
            time: secs(t),
            usage: None,
        }))
    }

    async fn count(
        &self,
        r: Request<g::CountPoints>,
    ) -> Result<Response<g::CountResponse>, Status> {
        let t = Instant::now();
        let r = r.into_inner();
        let shard_key = shard_key(&r.shard_key_selector)?;
        let c = self.collection(&r.collection_name)?;
        let filter = filter(r.filter)?;
        self.s.issues.check(&c, filter.as_ref());
        let scope = ReadScope::new(consistency(r.read_consistency)?, shard_key);
        let read = self.s.router.count(&c, filter, &scope);
        let count = within(r.timeout, "Count", read).await?;
        Ok(Response::new(g::CountResponse {
            result: Some(g::CountResult {
                count: count as u64,
            }),
            time: secs(t),
            usage: None,
        }))
    }

    async fn update_batch(
        &self,
        r: Request<g::UpdateBatchPoints>,
    ) -> Result<Response<g::UpdateBatchResponse>, Status> {
        let t = Instant::now();
        let r = r.into_inner();
        let c = self.collection(&r.collection_name)?;
        let ops = r
            .operations
            .into_iter()
            .map(|op| self.batch_op(&c, op))
            .collect::<GrpcResult<Vec<_>>>()?;
        let n = ops.len();
        let ordering = ordering(&r.ordering)?;
        let id = self
            .s
            .router
            .write(&c, ops, ordering)
            .await
            .map_err(status)?;
        let wait = r.wait.unwrap_or(false);
        Ok(Response::new(g::UpdateBatchResponse {
            result: (0..n).map(|_| update_result(id, wait)).collect(),
            time: secs(t),
            usage: None,
        }))
    }

    async fn query(
        &self,
        r: Request<g::QueryPoints>,
    ) -> Result<Response<g::QueryResponse>, Status> {
        let t = Instant::now();
        let r = r.into_inner();
        let (name, timeout) = (r.collection_name.clone(), r.timeout);
        let (req, c) = q::query(r)?;
        let result = self
            .answer(&name, req, c, Deadline::new(timeout, "Query"))
            .await?;
        Ok(Response::new(g::QueryResponse {
            result,
            time: secs(t),
            usage: None,
        }))
    }

    async fn query_batch(
        &self,
        r: Request<g::QueryBatchPoints>,
    ) -> Result<Response<g::QueryBatchResponse>, Status> {
        let t = Instant::now();
        let r = r.into_inner();
        let reqs = r
            .query_points
            .into_iter()
            .map(q::query)
            .collect::<GrpcResult<Vec<_>>>()?;
        let d = Deadline::new(r.timeout, "Query batch");
        let c = consistency(r.read_consistency)?;
        let result = self.batch(&r.collection_name, reqs, c, d).await?;
        Ok(Response::new(g::QueryBatchResponse {
            result,
            time: secs(t),
            usage: None,
        }))
    }

    async fn query_groups(
        &self,
        r: Request<g::QueryPointGroups>,
    ) -> Result<Response<g::QueryGroupsResponse>, Status> {
        let t = Instant::now();
        let r = r.into_inner();
        let (name, timeout) = (r.collection_name.clone(), r.timeout);
        let (req, c) = q::query_groups(r)?;
        let result = Some(
            self.groups(&name, req, c, Deadline::new(timeout, "Query groups"))
                .await?,
        );
        Ok(Response::new(g::QueryGroupsResponse {
            result,
            time: secs(t),
            usage: None,
        }))
    }

    async fn facet(
        &self,
        r: Request<g::FacetCounts>,
    ) -> Result<Response<g::FacetResponse>, Status> {
        let t = Instant::now();
        let r = r.into_inner();
        let shard_key = shard_key(&r.shard_key_selector)?;
        let req = FacetRequest {
            key: r.key,
            limit: r.limit.map(|l| l as usize),
            filter: filter(r.filter)?,
            exact: r.exact,
            shard_key,
        };
        let read = facet_hits(
            &self.s,
            &r.collection_name,
            req,
            consistency(r.read_consistency)?,
        );
        let hits = within(r.timeout, "Facet", read).await?;
        Ok(Response::new(g::FacetResponse {
            hits: hits
                .into_iter()
                .map(|(v, count)| g::FacetHit {
                    value: Some(facet_value(v)),
                    count: count as u64,
                })
                .collect(),
            time: secs(t),
            usage: None,
        }))
    }

    async fn search_matrix_pairs(
        &self,
        r: Request<g::SearchMatrixPoints>,
    ) -> Result<Response<g::SearchMatrixPairsResponse>, Status> {
        let t = Instant::now();
        let r = r.into_inner();
        let (points, pairs) = self.matrix(r).await?;
        let pairs = pairs
            .into_iter()
            .map(|(a, b, score)| g::SearchMatrixPair {
                a: Some(grpc_id(points[a].id)),
                b: Some(grpc_id(points[b].id)),
                score,
            })
            .collect();
        Ok(Response::new(g::SearchMatrixPairsResponse {
            result: Some(g::SearchMatrixPairs { pairs }),
            time: secs(t),
            usage: None,
        }))
    }

    async fn search_matrix_offsets(
        &self,
        r: Request<g::SearchMatrixPoints>,
    ) -> Result<Response<g::SearchMatrixOffsetsResponse>, Status> {
        let t = Instant::now();
        let r = r.into_inner();
        let (points, pairs) = self.matrix(r).await?;
        Ok(Response::new(g::SearchMatrixOffsetsResponse {
            result: Some(g::SearchMatrixOffsets {
                offsets_row: pairs.iter().map(|p| p.0 as u64).collect(),
                offsets_col: pairs.iter().map(|p| p.1 as u64).collect(),
                scores: pairs.iter().map(|p| p.2).collect(),
                ids: points.iter().map(|p| grpc_id(p.id)).collect(),
            }),
            time: secs(t),
            usage: None,
        }))
    }
}

type Matrix = (
    Vec<crate::collection::sample::Sampled>,
    Vec<(usize, usize, f32)>,
);

impl PointsService {
    async fn matrix(&self, r: g::SearchMatrixPoints) -> GrpcResult<Matrix> {
        let shard_key = shard_key(&r.shard_key_selector)?;
        let req = MatrixRequest {
            filter: filter(r.filter)?,
            sample: r.sample.map(|s| s as usize),
            limit: r.limit.map(|l| l as usize),
            using: r.using,
            shard_key,
        };
        Ok(within(
            r.timeout,
            "Search matrix",
            matrix(&self.s, &r.collection_name, req),
        )
        .await?)
    }
}
