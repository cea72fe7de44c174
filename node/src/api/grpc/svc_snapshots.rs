//! `qdrant.Snapshots`: collection and full snapshots through the same `snapshot` functions
//! REST uses.

use super::status::status;
use crate::api::error::ApiError;
use crate::api::rest::AppState;
use crate::snapshot::{self, full, Description};
use proto::qdrant as g;
use proto::qdrant::snapshots_server::Snapshots;
use std::time::Instant;
use tonic::{Request, Response, Status};

pub struct SnapshotsService {
    s: AppState,
}

impl SnapshotsService {
    pub fn new(s: AppState) -> Self {
        SnapshotsService { s }
    }

    fn collection_dir(&self, name: &str) -> Result<(String, std::path::PathBuf), Status> {
        let c = self.s.registry.get(name).map_err(status)?;
        let dir = snapshot::dir(&self.s.snapshots_path, &c.name, None);
        Ok((c.name.clone(), dir))
    }
}

fn description(d: Description) -> g::SnapshotDescription {
    let creation_time = d.creation_time.and_then(|t| {
        let dt = chrono::NaiveDateTime::parse_from_str(&t, "%Y-%m-%dT%H:%M:%S").ok()?;
        Some(prost_types::Timestamp {
            seconds: dt.and_utc().timestamp(),
            nanos: 0,
        })
    });
    g::SnapshotDescription {
        name: d.name,
        creation_time,
        size: d.size as i64,
        checksum: d.checksum,
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, Status> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Status::internal(format!("Service internal error: task failed: {e}")))?
        .map_err(status)
}

fn created(d: Description, t: Instant) -> Response<g::CreateSnapshotResponse> {
    Response::new(g::CreateSnapshotResponse {
        snapshot_description: Some(description(d)),
        time: super::secs(t),
    })
}

fn listed(list: Vec<Description>, t: Instant) -> Response<g::ListSnapshotsResponse> {
    Response::new(g::ListSnapshotsResponse {
        snapshot_descriptions: list.into_iter().map(description).collect(),
        time: super::secs(t),
    })
}

fn deleted(
    dir: &std::path::Path,
    file: &str,
    what: String,
    t: Instant,
) -> Result<Response<g::DeleteSnapshotResponse>, Status> {
    snapshot::check_name(file).map_err(status)?;
    if !snapshot::delete(dir, file).map_err(status)? {
        return Err(status(ApiError::NotFound(format!("Not found: {what}"))));
    }
    Ok(Response::new(g::DeleteSnapshotResponse {
        time: super::secs(t),
    }))
}

#[tonic::async_trait]
impl Snapshots for SnapshotsService {
    async fn create(
        &self,
        r: Request<g::CreateSnapshotRequest>,
    ) -> Result<Response<g::CreateSnapshotResponse>, Status> {
        let t = Instant::now();
        let c = self
            .s
            .registry
            .get(&r.into_inner().collection_name)
            .map_err(status)?;
        let dir = snapshot::dir(&self.s.snapshots_path, &c.name, None);
        let desc = blocking(move || Ok(snapshot::create(&c, &dir, None)?)).await?;
        Ok(created(desc, t))
    }

    async fn list(
        &self,
        r: Request<g::ListSnapshotsRequest>,
    ) -> Result<Response<g::ListSnapshotsResponse>, Status> {
        let t = Instant::now();
        let (_, dir) = self.collection_dir(&r.into_inner().collection_name)?;
        Ok(listed(snapshot::list(&dir), t))
    }

    async fn delete(
        &self,
        r: Request<g::DeleteSnapshotRequest>,
    ) -> Result<Response<g::DeleteSnapshotResponse>, Status> {
        let t = Instant::now();
        let r = r.into_inner();
        let (name, dir) = self.collection_dir(&r.collection_name)?;
        let what = format!("snapshot {} of {name}", r.snapshot_name);
        deleted(&dir, &r.snapshot_name, what, t)
    }

    async fn create_full(
        &self,
        _r: Request<g::CreateFullSnapshotRequest>,
    ) -> Result<Response<g::CreateSnapshotResponse>, Status> {
        let t = Instant::now();
        let (registry, root) = (self.s.registry.clone(), self.s.snapshots_path.clone());
        let desc = blocking(move || Ok(full::create(&registry, &root)?)).await?;
        Ok(created(desc, t))
    }

    async fn list_full(
        &self,
        _r: Request<g::ListFullSnapshotsRequest>,
    ) -> Result<Response<g::ListSnapshotsResponse>, Status> {
        Ok(listed(
            snapshot::list(&self.s.snapshots_path),
            Instant::now(),
        ))
    }

    async fn delete_full(
        &self,
        r: Request<g::DeleteFullSnapshotRequest>,
    ) -> Result<Response<g::DeleteSnapshotResponse>, Status> {
        let t = Instant::now();
        let file = r.into_inner().snapshot_name;
        let what = format!("full snapshot {file}");
        deleted(&self.s.snapshots_path, &file, what, t)
    }
}
