//! Sparse, memory-mapped index files: `.index` (offset → position) and
//! `.timeindex` (timestamp → offset), in Kafka's entry layouts.
//!
//! Like Kafka's, an index is preallocated to `segment.index.bytes` while its
//! segment is active and trimmed to its entries when the segment rolls or
//! the log closes; a file still at its preallocated size was not closed
//! cleanly and is rebuilt from the log. Indexes only accelerate lookups:
//! recovery never trusts them over the log.

use std::fs::{File, OpenOptions};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use memmap2::{MmapMut, MmapOptions};

use crate::error::LogError;

/// One fixed-size index entry.
pub(crate) trait IndexEntry: Copy + std::fmt::Debug {
    /// Bytes one entry occupies on disk.
    const BYTES: usize;
    fn decode(bytes: &[u8]) -> Self;
    fn encode(&self, out: &mut [u8]);
    /// The value lookups search by.
    fn key(&self) -> i64;
}

/// `.index` entry: a batch's base offset relative to the segment's, and the
/// batch's byte position in the `.log`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OffsetEntry {
    pub relative_offset: u32,
    pub position: u32,
}

impl IndexEntry for OffsetEntry {
    const BYTES: usize = 8;

    fn decode(bytes: &[u8]) -> Self {
        OffsetEntry {
            relative_offset: u32::from_be_bytes(bytes[0..4].try_into().expect("4 bytes")),
            position: u32::from_be_bytes(bytes[4..8].try_into().expect("4 bytes")),
        }
    }

    fn encode(&self, out: &mut [u8]) {
        out[0..4].copy_from_slice(&self.relative_offset.to_be_bytes());
        out[4..8].copy_from_slice(&self.position.to_be_bytes());
    }

    fn key(&self) -> i64 {
        i64::from(self.relative_offset)
    }
}

/// `.timeindex` entry: the largest timestamp seen so far in the segment and
/// the relative offset of the batch that carried it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeEntry {
    pub timestamp: i64,
    pub relative_offset: u32,
}

impl IndexEntry for TimeEntry {
    const BYTES: usize = 12;

    fn decode(bytes: &[u8]) -> Self {
        TimeEntry {
            timestamp: i64::from_be_bytes(bytes[0..8].try_into().expect("8 bytes")),
            relative_offset: u32::from_be_bytes(bytes[8..12].try_into().expect("4 bytes")),
        }
    }

    fn encode(&self, out: &mut [u8]) {
        out[0..8].copy_from_slice(&self.timestamp.to_be_bytes());
        out[8..12].copy_from_slice(&self.relative_offset.to_be_bytes());
    }

    fn key(&self) -> i64 {
        self.timestamp
    }
}

/// An index file mapped into memory.
#[derive(Debug)]
pub(crate) struct MmapIndex<E: IndexEntry> {
    path: PathBuf,
    file: File,
    /// `None` while the file is empty (a zero-length file cannot be mapped).
    mmap: Option<MmapMut>,
    entries: usize,
    /// Entries the current file length can hold.
    capacity: usize,
    _entry: PhantomData<E>,
}

impl<E: IndexEntry> MmapIndex<E> {
    /// Creates (or overwrites) the index at `path`, preallocated to hold
    /// `capacity_bytes / E::BYTES` entries.
    pub(crate) fn create(path: &Path, capacity_bytes: u32) -> Result<Self, LogError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(|error| LogError::io("create index", path, error))?;
        let mut index =
            MmapIndex { path: path.to_path_buf(), file, mmap: None, entries: 0, capacity: 0, _entry: PhantomData };
        index.resize(capacity_bytes)?;
        Ok(index)
    }

    /// Opens an existing index that was trimmed when its segment closed.
    ///
    /// Returns `None` when the file is missing or was not trimmed (its
    /// length is not a whole number of entries, or it is still at its
    /// preallocated size): the caller rebuilds it from the log.
    pub(crate) fn open_trimmed(path: &Path, capacity_bytes: u32) -> Result<Option<Self>, LogError> {
        let file = match OpenOptions::new().read(true).write(true).open(path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(LogError::io("open index", path, error)),
        };
        let len = file.metadata().map_err(|error| LogError::io("stat index", path, error))?.len();
        let preallocated = (capacity_bytes as usize / E::BYTES * E::BYTES) as u64;
        if len % E::BYTES as u64 != 0 || len >= preallocated.max(E::BYTES as u64) {
            return Ok(None);
        }
        let entries = (len / E::BYTES as u64) as usize;
        let mut index =
            MmapIndex { path: path.to_path_buf(), file, mmap: None, entries, capacity: entries, _entry: PhantomData };
        index.map()?;
        Ok(Some(index))
    }

    fn map(&mut self) -> Result<(), LogError> {
        self.mmap = None;
        if self.capacity == 0 {
            return Ok(());
        }
        // SAFETY: the file belongs to a segment of a log directory this
        // process holds the exclusive lock on, so no other process writes or
        // truncates it; this struct changes the file's length only after
        // dropping the mapping (see `resize`), and the map is never handed
        // out, so no reference outlives it.
        let mmap = unsafe { MmapOptions::new().len(self.capacity * E::BYTES).map_mut(&self.file) }
            .map_err(|error| LogError::io("map index", &self.path, error))?;
        self.mmap = Some(mmap);
        Ok(())
    }

    /// Sets the file's length to `bytes` (rounded down to whole entries, and
    /// never below the entries held) and maps it again.
    fn resize(&mut self, bytes: u32) -> Result<(), LogError> {
        let capacity = (bytes as usize / E::BYTES).max(self.entries);
        if let Some(mmap) = self.mmap.take() {
            mmap.flush().map_err(|error| LogError::io("flush index", &self.path, error))?;
        }
        self.file
            .set_len((capacity * E::BYTES) as u64)
            .map_err(|error| LogError::io("resize index", &self.path, error))?;
        self.capacity = capacity;
        self.map()
    }

    /// Grows the file back to its preallocated size so entries can be
    /// appended (the active segment's indexes after a reopen).
    pub(crate) fn make_appendable(&mut self, capacity_bytes: u32) -> Result<(), LogError> {
        if self.capacity * E::BYTES < capacity_bytes as usize / E::BYTES * E::BYTES {
            self.resize(capacity_bytes)?;
        }
        Ok(())
    }

    /// Shrinks the file to exactly its entries and syncs it.
    pub(crate) fn trim(&mut self) -> Result<(), LogError> {
        self.resize((self.entries * E::BYTES) as u32)?;
        self.file.sync_all().map_err(|error| LogError::io("fsync index", &self.path, error))
    }

    pub(crate) fn len(&self) -> usize {
        self.entries
    }

    pub(crate) fn is_full(&self) -> bool {
        self.entries >= self.capacity
    }

    pub(crate) fn entry(&self, at: usize) -> E {
        assert!(at < self.entries, "index entry {at} of {}", self.entries);
        let mmap = self.mmap.as_ref().expect("an index with entries is mapped");
        E::decode(&mmap[at * E::BYTES..(at + 1) * E::BYTES])
    }

    pub(crate) fn last(&self) -> Option<E> {
        self.entries.checked_sub(1).map(|at| self.entry(at))
    }

    /// Appends an entry.
    ///
    /// # Panics
    /// When the index is full: callers roll the segment first.
    pub(crate) fn append(&mut self, entry: E) {
        assert!(!self.is_full(), "append to a full index {}", self.path.display());
        let at = self.entries;
        let mmap = self.mmap.as_mut().expect("an index with room is mapped");
        entry.encode(&mut mmap[at * E::BYTES..(at + 1) * E::BYTES]);
        self.entries += 1;
    }

    /// The last entry whose key is `<= key`, if any.
    pub(crate) fn floor(&self, key: i64) -> Option<E> {
        // Number of entries with key <= target; entries are sorted by key.
        let (mut low, mut high) = (0, self.entries);
        while low < high {
            let mid = low + (high - low) / 2;
            if self.entry(mid).key() <= key {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
        low.checked_sub(1).map(|at| self.entry(at))
    }

    /// The last entry whose key is `< key`, if any.
    pub(crate) fn floor_below(&self, key: i64) -> Option<E> {
        key.checked_sub(1).and_then(|below| self.floor(below))
    }

    /// Keeps the first `entries` entries.
    pub(crate) fn truncate_entries(&mut self, entries: usize) {
        if entries < self.entries {
            if let Some(mmap) = self.mmap.as_mut() {
                mmap[entries * E::BYTES..self.entries * E::BYTES].fill(0);
            }
            self.entries = entries;
        }
    }

    /// Drops every entry for which `keep` is false, from the first such one.
    pub(crate) fn truncate_where(&mut self, keep: impl Fn(&E) -> bool) {
        let kept = (0..self.entries).find(|&at| !keep(&self.entry(at))).unwrap_or(self.entries);
        self.truncate_entries(kept);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_big_endian_in_kafkas_layout() {
        let mut bytes = [0u8; 12];
        OffsetEntry { relative_offset: 0x0102_0304, position: 0x0a0b_0c0d }.encode(&mut bytes);
        assert_eq!(&bytes[..8], &[1, 2, 3, 4, 0x0a, 0x0b, 0x0c, 0x0d]);
        TimeEntry { timestamp: 0x0102_0304_0506_0708, relative_offset: 9 }.encode(&mut bytes);
        assert_eq!(bytes, [1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 9]);
    }

    #[test]
    fn preallocates_appends_looks_up_and_trims() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000000.index");
        let mut index = MmapIndex::<OffsetEntry>::create(&path, 80).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 80);
        assert_eq!(index.floor(5), None);
        for i in 0..10u32 {
            index.append(OffsetEntry { relative_offset: i * 10, position: i * 100 });
        }
        assert!(index.is_full());
        assert_eq!(index.floor(0), Some(OffsetEntry { relative_offset: 0, position: 0 }));
        assert_eq!(index.floor(55), Some(OffsetEntry { relative_offset: 50, position: 500 }));
        assert_eq!(index.floor(1_000), Some(OffsetEntry { relative_offset: 90, position: 900 }));
        assert_eq!(index.floor_below(50), Some(OffsetEntry { relative_offset: 40, position: 400 }));
        index.truncate_where(|entry| entry.relative_offset < 35);
        assert_eq!(index.len(), 4);
        index.trim().unwrap();
        drop(index);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 32);

        let mut index = MmapIndex::<OffsetEntry>::open_trimmed(&path, 80).unwrap().expect("trimmed");
        assert_eq!(index.len(), 4);
        assert_eq!(index.last(), Some(OffsetEntry { relative_offset: 30, position: 300 }));
        index.make_appendable(80).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 80);
        index.append(OffsetEntry { relative_offset: 31, position: 310 });
        assert_eq!(index.len(), 5);
    }

    #[test]
    fn untrimmed_or_ragged_files_are_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.timeindex");
        assert!(MmapIndex::<TimeEntry>::open_trimmed(&path, 120).unwrap().is_none());
        std::fs::write(&path, [0u8; 120]).unwrap();
        assert!(MmapIndex::<TimeEntry>::open_trimmed(&path, 120).unwrap().is_none());
        std::fs::write(&path, [0u8; 13]).unwrap();
        assert!(MmapIndex::<TimeEntry>::open_trimmed(&path, 120).unwrap().is_none());
        std::fs::write(&path, []).unwrap();
        let empty = MmapIndex::<TimeEntry>::open_trimmed(&path, 120).unwrap().expect("empty is trimmed");
        assert_eq!(empty.len(), 0);
    }
}
