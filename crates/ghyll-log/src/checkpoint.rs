//! The per-partition checkpoint file: recovery point, log start offset and
//! whether the log was closed cleanly.
//!
//! Written to a temporary file, fsynced, renamed over the old one and the
//! directory fsynced, so a crash leaves either the old or the new file. A
//! CRC-32 guards against torn or damaged bytes: a checkpoint that fails to
//! parse is ignored, which only makes recovery scan more.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::error::LogError;

pub(crate) const CHECKPOINT_FILE: &str = "recovery-point.checkpoint";
pub(crate) const CHECKPOINT_TEMP_FILE: &str = "recovery-point.checkpoint.tmp";
const MAGIC: &[u8; 8] = b"GHYLLCKP";
const VERSION: u16 = 1;
const FLAG_CLEAN_SHUTDOWN: u16 = 1;
const CHECKPOINT_BYTES: usize = 32;

/// What the checkpoint file records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Checkpoint {
    /// Everything below this offset was fsynced.
    pub recovery_point: u64,
    /// First offset readers may see.
    pub log_start: u64,
    /// The log was closed by `close()`: every segment is synced and every
    /// index trimmed.
    pub clean_shutdown: bool,
}

/// What reading the checkpoint found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CheckpointRead {
    Missing,
    Damaged,
    Found(Checkpoint),
}

impl Checkpoint {
    fn encode(&self) -> [u8; CHECKPOINT_BYTES] {
        let mut bytes = [0u8; CHECKPOINT_BYTES];
        bytes[0..8].copy_from_slice(MAGIC);
        bytes[8..10].copy_from_slice(&VERSION.to_be_bytes());
        let flags = if self.clean_shutdown { FLAG_CLEAN_SHUTDOWN } else { 0 };
        bytes[10..12].copy_from_slice(&flags.to_be_bytes());
        bytes[12..20].copy_from_slice(&self.recovery_point.to_be_bytes());
        bytes[20..28].copy_from_slice(&self.log_start.to_be_bytes());
        let crc = crc32fast::hash(&bytes[..28]);
        bytes[28..32].copy_from_slice(&crc.to_be_bytes());
        bytes
    }

    fn decode(bytes: &[u8]) -> Option<Checkpoint> {
        if bytes.len() != CHECKPOINT_BYTES || &bytes[0..8] != MAGIC {
            return None;
        }
        let crc = u32::from_be_bytes(bytes[28..32].try_into().ok()?);
        if crc32fast::hash(&bytes[..28]) != crc {
            return None;
        }
        if u16::from_be_bytes([bytes[8], bytes[9]]) != VERSION {
            return None;
        }
        let flags = u16::from_be_bytes([bytes[10], bytes[11]]);
        Some(Checkpoint {
            recovery_point: u64::from_be_bytes(bytes[12..20].try_into().ok()?),
            log_start: u64::from_be_bytes(bytes[20..28].try_into().ok()?),
            clean_shutdown: flags & FLAG_CLEAN_SHUTDOWN != 0,
        })
    }

    /// Reads `dir`'s checkpoint; a missing or unreadable one is not an error.
    pub(crate) fn read(dir: &Path) -> Result<CheckpointRead, LogError> {
        let path = dir.join(CHECKPOINT_FILE);
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(CheckpointRead::Missing),
            Err(error) => return Err(LogError::io("open checkpoint", path, error)),
        };
        let mut bytes = Vec::with_capacity(CHECKPOINT_BYTES);
        // Read one byte more than a checkpoint so an oversized file is seen.
        (&mut file)
            .take(CHECKPOINT_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|error| LogError::io("read checkpoint", &path, error))?;
        Ok(match Checkpoint::decode(&bytes) {
            Some(checkpoint) => CheckpointRead::Found(checkpoint),
            None => CheckpointRead::Damaged,
        })
    }

    /// Replaces `dir`'s checkpoint atomically and durably.
    pub(crate) fn write(&self, dir: &Path) -> Result<(), LogError> {
        let temp = dir.join(CHECKPOINT_TEMP_FILE);
        let path = dir.join(CHECKPOINT_FILE);
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp)
            .map_err(|error| LogError::io("create checkpoint", &temp, error))?;
        file.write_all(&self.encode()).map_err(|error| LogError::io("write checkpoint", &temp, error))?;
        file.sync_all().map_err(|error| LogError::io("fsync checkpoint", &temp, error))?;
        drop(file);
        fs::rename(&temp, &path).map_err(|error| LogError::io("rename checkpoint", &path, error))?;
        sync_dir(dir)
    }
}

/// Fsyncs a directory so that entries created, renamed or removed in it
/// survive a power cut.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), LogError> {
    let handle = File::open(dir).map_err(|error| LogError::io("open directory", dir, error))?;
    handle.sync_all().map_err(|error| LogError::io("fsync directory", dir, error))
}

/// The path of a segment file: 20-digit base offset plus `extension`.
pub(crate) fn segment_path(dir: &Path, base_offset: u64, extension: &str) -> PathBuf {
    dir.join(format!("{base_offset:020}.{extension}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_detects_damage() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Checkpoint::read(dir.path()).unwrap(), CheckpointRead::Missing);
        let checkpoint = Checkpoint { recovery_point: 1234, log_start: 17, clean_shutdown: true };
        checkpoint.write(dir.path()).unwrap();
        assert_eq!(Checkpoint::read(dir.path()).unwrap(), CheckpointRead::Found(checkpoint));
        assert!(!dir.path().join(CHECKPOINT_TEMP_FILE).exists());

        let path = dir.path().join(CHECKPOINT_FILE);
        let mut bytes = fs::read(&path).unwrap();
        for at in 0..bytes.len() {
            bytes[at] ^= 0x10;
            fs::write(&path, &bytes).unwrap();
            assert_eq!(Checkpoint::read(dir.path()).unwrap(), CheckpointRead::Damaged, "flip at {at}");
            bytes[at] ^= 0x10;
        }
        fs::write(&path, &bytes[..20]).unwrap();
        assert_eq!(Checkpoint::read(dir.path()).unwrap(), CheckpointRead::Damaged);
        let mut long = bytes.clone();
        long.push(0);
        fs::write(&path, &long).unwrap();
        assert_eq!(Checkpoint::read(dir.path()).unwrap(), CheckpointRead::Damaged);
    }

    #[test]
    fn segment_names_have_twenty_digits() {
        let path = segment_path(Path::new("/d"), 368769, "log");
        assert_eq!(path, Path::new("/d/00000000000000368769.log"));
    }
}
