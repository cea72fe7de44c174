//! The snapshot file: one tar holding each shard's points as JSON lines (`shards/N.jsonl`,
//! vectors as stored) and, last, `manifest.json` with the collection's config, payload
//! schema and the SHA-256 of every shard file. Reading checks every checksum before any
//! point is used, so a truncated or corrupt file is refused, never half-restored.

use crate::collection::config::CollectionConfig;
use crate::collection::ops::NewPoint;
use crate::collection::shard_key::{key_pairs, ShardKey};
use crate::collection::Collection;
use crate::segment::payload_index::FieldType;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

const MANIFEST: &str = "manifest.json";
const FORMAT: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("Wrong input: snapshot is corrupt or incomplete: {0}")]
    Corrupt(String),
    #[error("Wrong input: snapshot checksum mismatch: expected {expected}, got {actual}")]
    Checksum { expected: String, actual: String },
    #[error("snapshot i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// What a snapshot holds besides the points.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub collection: String,
    pub config: CollectionConfig,
    #[serde(default)]
    pub payload_schema: BTreeMap<String, FieldType>,
    /// SHA-256 (hex) of each shard's points file, by shard id.
    pub shards: BTreeMap<u32, String>,
    /// The shard key of each keyed shard (custom sharding).
    #[serde(
        default,
        with = "key_pairs",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub shard_keys: BTreeMap<u32, ShardKey>,
}

fn hex(d: impl AsRef<[u8]>) -> String {
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of a whole file, hex.
pub fn file_checksum(path: &Path) -> Result<String, SnapshotError> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(hex(h.finalize()))
}

pub(super) fn append(
    tar: &mut tar::Builder<impl Write>,
    name: &str,
    data: &[u8],
) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, name, data)
}

/// Writes the given local shards of `c` to `path` (through a temp file, then renamed).
pub fn write(c: &Collection, shards: &[u32], path: &Path) -> Result<(), SnapshotError> {
    let tmp = path.with_extension("tmp");
    let file = std::fs::File::create(&tmp)?;
    let mut tar = tar::Builder::new(std::io::BufWriter::new(file));
    let mut sums = BTreeMap::new();
    for &id in shards {
        let shard = c
            .local_shard(id)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let mut lines = Vec::new();
        {
            let seg = shard.segment();
            for pid in seg.ids() {
                let Some(r) = seg.get(pid) else { continue };
                let p = NewPoint {
                    id: r.id,
                    vectors: r.vectors,
                    payload: r.payload,
                };
                serde_json::to_writer(&mut lines, &p).map_err(std::io::Error::other)?;
                lines.push(b'\n');
            }
        }
        sums.insert(id, hex(Sha256::digest(&lines)));
        append(&mut tar, &format!("shards/{id}.jsonl"), &lines)?;
    }
    let manifest = Manifest {
        format: FORMAT,
        collection: c.name.clone(),
        config: c.config(),
        payload_schema: c.payload_schema(),
        shard_keys: shards
            .iter()
            .filter_map(|s| Some((*s, c.key_of(*s)?)))
            .collect(),
        shards: sums,
    };
    finish(tar, MANIFEST, &manifest, &tmp, path)
}

/// Appends `last` as JSON entry `name`, syncs the file and renames `tmp` to `path`.
pub(super) fn finish(
    mut tar: tar::Builder<std::io::BufWriter<std::fs::File>>,
    name: &str,
    last: &impl Serialize,
    tmp: &Path,
    path: &Path,
) -> Result<(), SnapshotError> {
    let json = serde_json::to_vec_pretty(last).map_err(std::io::Error::other)?;
    append(&mut tar, name, &json)?;
    let mut w = tar.into_inner()?;
    w.flush()?;
    w.get_ref().sync_all()?;
    drop(w);
    std::fs::rename(tmp, path)?;
    Ok(())
}

pub(super) fn corrupt(e: impl std::fmt::Display) -> SnapshotError {
    SnapshotError::Corrupt(e.to_string())
}

/// Reads and checks the whole file: returns the manifest once every shard file is present
/// with the checksum the manifest gives.
pub fn verify(path: &Path) -> Result<Manifest, SnapshotError> {
    let mut ar = tar::Archive::new(std::fs::File::open(path)?);
    let mut sums = BTreeMap::new();
    let mut manifest: Option<Manifest> = None;
    for entry in ar.entries().map_err(corrupt)? {
        let mut e = entry.map_err(corrupt)?;
        let name = e.path().map_err(corrupt)?.to_string_lossy().into_owned();
        if name == MANIFEST {
            let mut buf = Vec::new();
            e.read_to_end(&mut buf).map_err(corrupt)?;
            manifest = Some(serde_json::from_slice(&buf).map_err(corrupt)?);
        } else if let Some(id) = shard_of(&name) {
            let mut h = Sha256::new();
            std::io::copy(&mut e, &mut h).map_err(corrupt)?;
            sums.insert(id, hex(h.finalize()));
        }
    }
    let m = manifest.ok_or_else(|| corrupt("no manifest (truncated?)"))?;
    if m.format != FORMAT {
        return Err(corrupt(format!("unknown format {}", m.format)));
    }
    for (id, want) in &m.shards {
        match sums.get(id) {
            Some(got) if got == want => {}
            Some(got) => {
                return Err(SnapshotError::Checksum {
                    expected: want.clone(),
                    actual: got.clone(),
                })
            }
            None => return Err(corrupt(format!("shard {id} is missing"))),
        }
    }
    Ok(m)
}

fn shard_of(name: &str) -> Option<u32> {
    name.strip_prefix("shards/")?
        .strip_suffix(".jsonl")?
        .parse()
        .ok()
}

/// Calls `f` with each batch of points of shard `id` (a verified file).
pub fn read_shard(
    path: &Path,
    id: u32,
    batch: usize,
    mut f: impl FnMut(Vec<NewPoint>) -> Result<(), SnapshotError>,
) -> Result<(), SnapshotError> {
    let mut ar = tar::Archive::new(std::fs::File::open(path)?);
    for entry in ar.entries().map_err(corrupt)? {
        let e = entry.map_err(corrupt)?;
        let name = e.path().map_err(corrupt)?.to_string_lossy().into_owned();
        if shard_of(&name) != Some(id) {
            continue;
        }
        let mut points = Vec::with_capacity(batch);
        for line in BufReader::new(e).lines() {
            let line = line.map_err(corrupt)?;
            points.push(serde_json::from_str(&line).map_err(corrupt)?);
            if points.len() >= batch {
                f(std::mem::take(&mut points))?;
            }
        }
        if !points.is_empty() {
            f(points)?;
        }
        return Ok(());
    }
    Err(corrupt(format!("shard {id} is missing")))
}
