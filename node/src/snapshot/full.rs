//! Full storage snapshots: one tar holding a collection snapshot of every collection (this
//! peer's shards) and, last, `storage.json` naming them and listing the aliases. Restoring
//! (`cluster/restore.rs::storage_at_start`) recovers each collection from its own file, whose
//! checksums are checked as for any collection snapshot.

use super::format::{self, corrupt, finish, SnapshotError};
use super::{local_ids, seal, Description};
use crate::collection::Registry;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const INDEX: &str = "storage.json";

/// What a full snapshot holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StorageIndex {
    pub format: u32,
    /// Collection names; the i-th is in `collections/<i>.snapshot`.
    pub collections: Vec<String>,
    /// Alias -> collection.
    pub aliases: BTreeMap<String, String>,
}

/// Writes a new full snapshot into `root` (through a temp file, then renamed).
pub fn create(registry: &Registry, root: &Path) -> Result<Description, SnapshotError> {
    let stamp = chrono::Utc::now().format("%Y-%m-%d-%H-%M-%S%.3f");
    let path = root.join(format!("full-snapshot-{stamp}.snapshot"));
    // Collection snapshots are written here first; the folder goes whatever happens.
    let work = root.join(format!(".full-snapshot-{stamp}"));
    std::fs::create_dir_all(&work)?;
    let made = write(registry, &work, &path);
    let _ = std::fs::remove_dir_all(&work);
    made?;
    seal(&path)
}

fn write(registry: &Registry, work: &Path, path: &Path) -> Result<(), SnapshotError> {
    let tmp = path.with_extension("tmp");
    let mut tar = tar::Builder::new(std::io::BufWriter::new(std::fs::File::create(&tmp)?));
    let mut collections = Vec::new();
    for (i, c) in registry.all().iter().enumerate() {
        // Written without the checksum file of a standalone snapshot: the folder is temporary.
        let file = work.join(format!("{i}.snapshot"));
        format::write(c, &local_ids(c), &file)?;
        tar.append_path_with_name(&file, format!("collections/{i}.snapshot"))?;
        std::fs::remove_file(&file)?;
        collections.push(c.name.clone());
    }
    let index = StorageIndex {
        format: 1,
        collections,
        aliases: registry.aliases().into_iter().collect(),
    };
    finish(tar, INDEX, &index, &tmp, path)
}

/// Unpacks a full snapshot into `into`: its index and the file of each collection, in order.
pub fn unpack(path: &Path, into: &Path) -> Result<(StorageIndex, Vec<PathBuf>), SnapshotError> {
    let mut archive = tar::Archive::new(std::fs::File::open(path)?);
    let mut index: Option<StorageIndex> = None;
    let mut files = BTreeMap::new();
    for entry in archive.entries()? {
        let mut e = entry?;
        let name = e.path()?.to_string_lossy().into_owned();
        if name == INDEX {
            let mut buf = Vec::new();
            std::io::copy(&mut e, &mut buf)?;
            index = Some(serde_json::from_slice(&buf).map_err(corrupt)?);
            continue;
        }
        let slot = name
            .strip_prefix("collections/")
            .and_then(|r| r.strip_suffix(".snapshot"))
            .and_then(|n| n.parse::<usize>().ok());
        if let Some(i) = slot {
            // Written under a name of ours, never the archive's path.
            let out = into.join(format!("{i}.snapshot"));
            std::io::copy(&mut e, &mut std::fs::File::create(&out)?)?;
            files.insert(i, out);
        }
    }
    let index = index.ok_or_else(|| corrupt(format!("{INDEX} is missing")))?;
    let paths = (0..index.collections.len())
        .map(|i| {
            files
                .remove(&i)
                .ok_or_else(|| corrupt(format!("the file of collection {i} is missing")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((index, paths))
}
