//! A shard's saved graphs (`segment::image`), beside its RocksDB files. Written whole to a
//! temporary file, synced, then renamed over the old one, so a crash leaves the old or the
//! new file and never half of one. A cache: RocksDB stays the store of record.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

const NAME: &str = "graphs.idx";

fn path(dir: &Path) -> PathBuf {
    dir.join(NAME)
}

pub fn save(dir: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!("{NAME}.tmp"));
    let mut f = fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    fs::rename(&tmp, path(dir))?;
    fs::File::open(dir)?.sync_all()
}

/// The saved bytes, if there are any.
pub fn load(dir: &Path) -> Option<Vec<u8>> {
    fs::read(path(dir)).ok()
}
