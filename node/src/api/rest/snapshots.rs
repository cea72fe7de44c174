//! Collection and shard snapshots: create, list, download, delete, recover from a URL
//! (`http://` or `file://`) and upload. Files are written and checked by `snapshot/`,
//! restored by `cluster/restore.rs`.

use super::error::{ApiError, ApiResult};
use super::extract::{blocking, ok, JsonBody, Timer, P, Q};
use super::AppState;
use crate::cluster::restore::{restore, Priority};
use crate::snapshot::{self, format};
use axum::body::Body;
use axum::extract::{Multipart, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize)]
pub struct RecoverBody {
    location: String,
    #[serde(default)]
    priority: Option<Priority>,
    checksum: Option<String>,
    api_key: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct UploadParams {
    priority: Option<Priority>,
    checksum: Option<String>,
}

fn dir(s: &AppState, collection: &str, shard: Option<u32>) -> PathBuf {
    snapshot::dir(&s.snapshots_path, collection, shard)
}

/// The collection's real name (aliases resolved); 404 when missing.
fn name_of(s: &AppState, name: &str) -> ApiResult<String> {
    Ok(s.registry.get(name)?.name.clone())
}

pub async fn create_snapshot(
    t: Timer,
    State(s): State<AppState>,
    P(p): P<SnapPath>,
) -> ApiResult<Response> {
    let shard = p.shard_id;
    let c = s.registry.get(&p.collection_name)?;
    if let Some(id) = shard {
        c.local_shard(id)?;
    }
    let d = dir(&s, &c.name, shard);
    let desc = blocking(move || Ok(snapshot::create(&c, &d, shard.map(|id| vec![id]))?)).await?;
    Ok(ok(t, desc))
}

pub async fn list_snapshots(
    t: Timer,
    State(s): State<AppState>,
    P(p): P<SnapPath>,
) -> ApiResult<Response> {
    let name = name_of(&s, &p.collection_name)?;
    Ok(ok(t, snapshot::list(&dir(&s, &name, p.shard_id))))
}

pub async fn download_snapshot(
    State(s): State<AppState>,
    P(p): P<SnapPath>,
) -> ApiResult<Response> {
    let name = name_of(&s, &p.collection_name)?;
    let file = p.file()?;
    snapshot::check_name(&file)?;
    let path = dir(&s, &name, p.shard_id).join(&file);
    send_file(&path, &file, &format!("snapshot {file} of {name}")).await
}

/// Streams a snapshot file as a download; 404 naming `what` when it is not there.
pub(super) async fn send_file(path: &Path, file: &str, what: &str) -> ApiResult<Response> {
    let f = tokio::fs::File::open(path)
        .await
        .map_err(|_| ApiError::NotFound(format!("Not found: {what}")))?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(f));
    let disposition = format!("attachment; filename=\"{file}\"");
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

pub async fn delete_snapshot(
    t: Timer,
    State(s): State<AppState>,
    P(p): P<SnapPath>,
) -> ApiResult<Response> {
    let name = name_of(&s, &p.collection_name)?;
    let (shard, file) = (p.shard_id, p.file()?);
    if !snapshot::delete(&dir(&s, &name, shard), &file)? {
        return Err(ApiError::NotFound(format!(
            "Not found: snapshot {file} of {name}"
        )));
    }
    Ok(ok(t, true))
}

/// Checks the whole file's SHA-256 when the caller gave one.
fn check_sum(path: &Path, want: Option<&str>) -> ApiResult<()> {
    let Some(want) = want else { return Ok(()) };
    let got = format::file_checksum(path)?;
    if !got.eq_ignore_ascii_case(want) {
        return Err(format::SnapshotError::Checksum {
            expected: want.to_string(),
            actual: got,
        }
        .into());
    }
    Ok(())
}

/// Fetches `location` into `tmp` (http) or returns the local file (file://).
async fn fetch(location: &str, api_key: Option<&str>, tmp: &Path) -> ApiResult<PathBuf> {
    if let Some(path) = location.strip_prefix("file://") {
        let p = PathBuf::from(path);
        if !p.is_file() {
            return Err(ApiError::BadRequest(format!(
                "Bad request: no snapshot file at {path}"
            )));
        }
        return Ok(p);
    }
    if !location.starts_with("http://") {
        return Err(ApiError::BadRequest(format!(
            "Bad request: snapshot location must be an http:// or file:// URL, got {location}"
        )));
    }
    let mut req = reqwest::Client::new().get(location);
    if let Some(k) = api_key {
        req = req.header("api-key", k);
    }
    let fail = |e: reqwest::Error| {
        ApiError::BadRequest(format!("Bad request: cannot download {location}: {e}"))
    };
    let mut resp = req.send().await.map_err(fail)?;
    if !resp.status().is_success() {
        return Err(ApiError::BadRequest(format!(
            "Bad request: cannot download {location}: HTTP {}",
            resp.status()
        )));
    }
    let mut out = tokio::fs::File::create(tmp)
        .await
        .map_err(format::SnapshotError::from)?;
    while let Some(chunk) = resp.chunk().await.map_err(fail)? {
        tokio::io::AsyncWriteExt::write_all(&mut out, &chunk)
            .await
            .map_err(format::SnapshotError::from)?;
    }
    Ok(tmp.to_path_buf())
}

async fn recover_file(
    t: Timer,
    s: &AppState,
    name: &str,
    shard: Option<u32>,
    file: PathBuf,
    priority: Option<Priority>,
    checksum: Option<&str>,
) -> ApiResult<Response> {
    check_sum(&file, checksum)?;
    let r = restore(&s.router, name, file, priority.unwrap_or_default(), shard).await;
    r.map_err(|e| match e {
        crate::cluster::restore::RestoreError::Snapshot(e) => ApiError::Snapshot(e),
        crate::cluster::restore::RestoreError::Commit(e) => e.into(),
        other => ApiError::BadRequest(other.to_string()),
    })?;
    Ok(ok(t, true))
}

fn temp_path(s: &AppState) -> PathBuf {
    s.snapshots_path
        .join(format!(".incoming-{}", uuid::Uuid::new_v4()))
}

pub async fn recover_snapshot(
    t: Timer,
    State(s): State<AppState>,
    P(p): P<SnapPath>,
    JsonBody(b): JsonBody<RecoverBody>,
) -> ApiResult<Response> {
    let (name, shard) = (p.collection_name, p.shard_id);
    crate::collection::registry::validate_name(&name)?;
    let tmp = temp_path(&s);
    let file = fetch(&b.location, b.api_key.as_deref(), &tmp).await;
    let r = match file {
        Ok(f) => recover_file(t, &s, &name, shard, f, b.priority, b.checksum.as_deref()).await,
        Err(e) => Err(e),
    };
    let _ = tokio::fs::remove_file(&tmp).await;
    r
}

pub async fn upload_snapshot(
    t: Timer,
    State(s): State<AppState>,
    P(p): P<SnapPath>,
    Q(q): Q<UploadParams>,
    mut form: Multipart,
) -> ApiResult<Response> {
    let (name, shard) = (p.collection_name, p.shard_id);
    crate::collection::registry::validate_name(&name)?;
    let tmp = temp_path(&s);
    let bad = |e: axum::extract::multipart::MultipartError| {
        ApiError::BadRequest(format!("Bad request: upload: {e}"))
    };
    let mut got = false;
    while let Some(mut field) = form.next_field().await.map_err(bad)? {
        if field.name() != Some("snapshot") {
            continue;
        }
        let mut out = tokio::fs::File::create(&tmp)
            .await
            .map_err(format::SnapshotError::from)?;
        while let Some(chunk) = field.chunk().await.map_err(bad)? {
            tokio::io::AsyncWriteExt::write_all(&mut out, &chunk)
                .await
                .map_err(format::SnapshotError::from)?;
        }
        got = true;
        break;
    }
    let r = if got {
        recover_file(
            t,
            &s,
            &name,
            shard,
            tmp.clone(),
            q.priority,
            q.checksum.as_deref(),
        )
        .await
    } else {
        Err(ApiError::BadRequest(
            "Bad request: multipart field `snapshot` is missing".into(),
        ))
    };
    let _ = tokio::fs::remove_file(&tmp).await;
    r
}

/// The path of a snapshot route: a collection's or one shard's, maybe naming a file.
#[derive(Debug, Deserialize)]
pub struct SnapPath {
    collection_name: String,
    shard_id: Option<u32>,
    snapshot_name: Option<String>,
}

impl SnapPath {
    fn file(&self) -> ApiResult<String> {
        self.snapshot_name
            .clone()
            .ok_or_else(|| ApiError::BadRequest("Bad request: no snapshot name".into()))
    }
}
