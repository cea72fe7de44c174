//! A growable byte array in a memory-mapped file: where `on_disk` vectors live. Appends go
//! through the page cache (`pwrite`), reads through a shared read-only mapping, so the
//! kernel keeps only the pages searches touch and takes them back under memory pressure.
//! The file is a cache of the store of record, filled again at every start: it is created
//! unlinked in the shard's folder, so a crash leaves nothing behind.

use memmap2::{Advice, Mmap};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// The mapping grows by doubling, from this many bytes.
const FIRST: u64 = 1 << 20;

#[derive(Debug)]
pub struct MappedBytes {
    file: File,
    map: Option<Mmap>,
    len: usize,
    cap: u64,
}

impl MappedBytes {
    pub fn new(dir: &Path) -> io::Result<MappedBytes> {
        Ok(MappedBytes {
            file: tempfile::tempfile_in(dir)?,
            map: None,
            len: 0,
            cap: 0,
        })
    }

    pub fn as_slice(&self) -> &[u8] {
        self.map.as_deref().map_or(&[], |m| &m[..self.len])
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `bytes`; on an error nothing is appended.
    pub fn push(&mut self, bytes: &[u8]) -> io::Result<()> {
        let end = (self.len + bytes.len()) as u64;
        if end > self.cap {
            let cap = end.max(self.cap * 2).max(FIRST).next_multiple_of(4096);
            self.file.set_len(cap)?;
            // SAFETY: the file is ours alone (unlinked, never truncated below the mapping),
            // so the mapped bytes change only through `push` past `len`, which readers of
            // `as_slice` do not see; `&mut self` keeps them from holding the old mapping.
            let map = unsafe { Mmap::map(&self.file)? };
            // Searches jump between vectors: read-ahead would load pages nobody asked for.
            let _ = map.advise(Advice::Random);
            self.map = Some(map);
            self.cap = cap;
        }
        self.file.write_all_at(bytes, self.len as u64)?;
        self.len += bytes.len();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_are_read_back_across_growth() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = MappedBytes::new(dir.path()).unwrap();
        assert!(m.is_empty());
        let chunk: Vec<u8> = (0..=255u8).collect();
        for _ in 0..(3 * FIRST as usize / 256 + 1) {
            m.push(&chunk).unwrap();
        }
        assert_eq!(m.len(), (3 * FIRST as usize / 256 + 1) * 256);
        assert!(m.as_slice().chunks(256).all(|c| c == chunk.as_slice()));
        // Unlinked from birth: the folder stays empty.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
