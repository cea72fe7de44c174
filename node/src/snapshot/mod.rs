//! Collection and shard snapshots on disk: where they live, creating, listing and deleting
//! them. The file format is in `format.rs`; restoring (which may need consensus) is in
//! `cluster/restore.rs`.

pub mod format;
pub mod full;

use crate::collection::Collection;
use format::SnapshotError;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// `SnapshotDescription` of the API.
#[derive(Debug, Clone, Serialize)]
pub struct Description {
    pub name: String,
    pub creation_time: Option<String>,
    pub size: u64,
    pub checksum: Option<String>,
}

/// The folder of a collection's snapshots, or of one shard's.
pub fn dir(root: &Path, collection: &str, shard: Option<u32>) -> PathBuf {
    let d = root.join(collection);
    match shard {
        Some(id) => d.join("shards").join(id.to_string()),
        None => d,
    }
}

/// Checks a snapshot name from a URL: a plain file name of ours.
pub fn check_name(name: &str) -> Result<(), SnapshotError> {
    let ok = !name.is_empty()
        && name.ends_with(".snapshot")
        && !name.contains(['/', '\\'])
        && !name.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(SnapshotError::Corrupt(format!(
            "invalid snapshot name `{name}`"
        )))
    }
}

fn describe(path: &Path) -> Option<Description> {
    let meta = std::fs::metadata(path).ok()?;
    let name = path.file_name()?.to_string_lossy().into_owned();
    let creation_time = meta.modified().ok().map(|t| {
        chrono::DateTime::<chrono::Utc>::from(t)
            .format("%Y-%m-%dT%H:%M:%S")
            .to_string()
    });
    let checksum = std::fs::read_to_string(checksum_path(path)).ok();
    Some(Description {
        name,
        creation_time,
        size: meta.len(),
        checksum: checksum.map(|s| s.trim().to_string()),
    })
}

fn checksum_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".checksum");
    PathBuf::from(p)
}

/// Writes a new snapshot of `shards` (all local shards when None) into `dir`.
pub fn create(
    c: &Collection,
    dir: &Path,
    shards: Option<Vec<u32>>,
) -> Result<Description, SnapshotError> {
    std::fs::create_dir_all(dir)?;
    let stamp = chrono::Utc::now().format("%Y-%m-%d-%H-%M-%S%.3f");
    let name = format!("{}-{}-{stamp}.snapshot", c.name, c.local_peer);
    let path = dir.join(&name);
    let shards = shards.unwrap_or_else(|| local_ids(c));
    format::write(c, &shards, &path)?;
    seal(&path)
}

/// Ids of the shards this peer holds.
fn local_ids(c: &Collection) -> Vec<u32> {
    c.local_shards().iter().map(|s| s.id).collect()
}

/// Writes the checksum file beside a finished snapshot; returns its description.
fn seal(path: &Path) -> Result<Description, SnapshotError> {
    std::fs::write(checksum_path(path), format::file_checksum(path)?)?;
    describe(path).ok_or_else(|| SnapshotError::Corrupt("snapshot vanished".into()))
}

/// Snapshots in `dir`, by name.
pub fn list(dir: &Path) -> Vec<Description> {
    let mut out: Vec<Description> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "snapshot"))
        .filter_map(|p| describe(&p))
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Deletes a snapshot and its checksum; false when there was none.
pub fn delete(dir: &Path, name: &str) -> Result<bool, SnapshotError> {
    check_name(name)?;
    let path = dir.join(name);
    if !path.exists() {
        return Ok(false);
    }
    std::fs::remove_file(&path)?;
    let _ = std::fs::remove_file(checksum_path(&path));
    Ok(true)
}
