//! Full storage snapshots (`/snapshots`): every collection of this node in one file.
//! Written and unpacked by `snapshot/full.rs`; recovered at start by `--storage-snapshot`.

use super::error::{ApiError, ApiResult};
use super::extract::{blocking, ok, Timer, P};
use super::snapshots::send_file;
use super::AppState;
use crate::snapshot::{self, full};
use axum::extract::State;
use axum::response::Response;

pub async fn create(t: Timer, State(s): State<AppState>) -> ApiResult<Response> {
    let (registry, root) = (s.registry.clone(), s.snapshots_path.clone());
    let desc = blocking(move || Ok(full::create(&registry, &root)?)).await?;
    Ok(ok(t, desc))
}

pub async fn list(t: Timer, State(s): State<AppState>) -> ApiResult<Response> {
    Ok(ok(t, snapshot::list(&s.snapshots_path)))
}

pub async fn download(State(s): State<AppState>, P(file): P<String>) -> ApiResult<Response> {
    snapshot::check_name(&file)?;
    let path = s.snapshots_path.join(&file);
    send_file(&path, &file, &format!("full snapshot {file}")).await
}

pub async fn delete(
    t: Timer,
    State(s): State<AppState>,
    P(file): P<String>,
) -> ApiResult<Response> {
    if !snapshot::delete(&s.snapshots_path, &file)? {
        return Err(ApiError::NotFound(format!(
            "Not found: full snapshot {file}"
        )));
    }
    Ok(ok(t, true))
}
