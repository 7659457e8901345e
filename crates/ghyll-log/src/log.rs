//! The partition log: a directory of segments with one writer and many
//! readers.
//!
//! Appends, rolls, truncation and retention take the writer lock; reads take
//! the segment list's read lock only long enough to pick a segment, then
//! read it through positioned reads, bounded by the size the writer has
//! published. Offsets and watermarks are atomics.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::{Mutex, RwLock};

use crate::batch::{Batch, Batches};
use crate::builder::BuiltBatch;
use crate::checkpoint::{sync_dir, Checkpoint, CheckpointRead, CHECKPOINT_TEMP_FILE};
use crate::config::LogConfig;
use crate::error::{BatchError, LogError};
use crate::segment::{validate_batch, validate_keyed_batch, Segment, NO_TIMESTAMP};

mod clean;
pub use clean::CleanReport;

const LOCK_FILE: &str = ".lock";

/// Where an append put a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct AppendInfo {
    /// Offset assigned to the batch's first record.
    pub first_offset: u64,
    /// Offset assigned to its last record.
    pub last_offset: u64,
    /// The batch's largest timestamp.
    pub max_timestamp: i64,
    /// Records in the batch.
    pub record_count: u32,
}

/// Whole batches returned by [`Log::read`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadBatches {
    /// The read buffer; the batches are `buffer[from..]` (the bytes before
    /// were read ahead from the index position and are not handed out).
    buffer: Vec<u8>,
    from: usize,
    next_offset: u64,
}

impl ReadBatches {
    /// Iterates the batches. Each was CRC-checked as it was read, so this
    /// only parses headers.
    pub fn batches(&self) -> Batches<'_> {
        Batches::crc_checked(self.as_bytes())
    }

    /// The raw bytes: whole batches laid end to end, as in the segment.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buffer[self.from..]
    }

    /// Takes the raw bytes.
    pub fn into_bytes(mut self) -> Vec<u8> {
        self.buffer.drain(..self.from);
        self.buffer
    }

    /// Takes the read buffer back for [`Log::read_into`], without moving
    /// the batches to its front.
    pub fn into_buffer(self) -> Vec<u8> {
        self.buffer
    }

    /// Whether nothing was read (the offset was the log end).
    pub fn is_empty(&self) -> bool {
        self.as_bytes().is_empty()
    }

    /// Offset after the last batch returned: where the next read starts.
    /// Equals the requested offset when nothing was read.
    pub fn next_offset(&self) -> u64 {
        self.next_offset
    }
}

/// What [`Log::open`] had to do to bring the directory back to a valid log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryReport {
    /// The previous owner closed the log cleanly: nothing was scanned
    /// beyond the tail after each segment's last index entry.
    pub clean_shutdown: bool,
    /// The checkpoint file was missing or damaged (so recovery scanned
    /// every segment).
    pub checkpoint_missing: bool,
    /// Segments scanned batch by batch.
    pub segments_scanned: usize,
    /// Segments whose indexes were rebuilt from the log.
    pub indexes_rebuilt: usize,
    /// Bytes cut from torn or corrupt segment tails.
    pub bytes_truncated: u64,
    /// Segments deleted: after a corrupt one, or wholly below the log start.
    pub segments_deleted: usize,
    /// Stray files removed (temporary checkpoints, orphaned indexes, the
    /// `.cleaned` files of a clean that a crash interrupted before its
    /// commit point).
    pub stray_files_removed: usize,
    /// A clean that a crash interrupted after its commit point was
    /// finished: its `.swap` segments replaced the segments they cleaned.
    pub clean_finished: bool,
    /// Log end offset after recovery.
    pub log_end_offset: u64,
}

/// What [`Log::apply_retention`] or [`Log::advance_log_start`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetentionReport {
    /// Whole segments deleted.
    pub segments_deleted: usize,
    /// Their bytes.
    pub bytes_deleted: u64,
    /// The log start offset afterwards.
    pub log_start_offset: u64,
}

/// A record found by timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TimestampOffset {
    /// Its offset.
    pub offset: u64,
    /// Its timestamp.
    pub timestamp: i64,
}

/// Where an append puts a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placement {
    /// At the log end, offsets assigned (a producer's batch), with the
    /// leader's epoch stamped when given.
    Assign { leader_epoch: Option<i32> },
    /// At its own offsets (a follower copying the leader).
    Keep,
}

/// How much of an appended batch is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// Bounds, CRC and (per placement) records.
    Verify,
    /// A [`BuiltBatch`]: the builder made it well-formed.
    Built,
}

/// One partition's log: Kafka-format segments in a directory.
///
/// `Log` is `Send + Sync`; share it in an `Arc`. Writers (append, roll,
/// truncate, retention) are serialised by an internal lock, readers run in
/// parallel with them and with each other.
///
/// Durability: [`Log::append`] hands the batch to the kernel before it
/// returns, so a process crash loses nothing it acknowledged; a power cut
/// may lose what was not yet fsynced. [`Log::append_durable`] and
/// [`Log::flush`] fsync, and `flush.messages` / `flush.ms` fsync on a
/// schedule. If an fsync fails the log is failed: every later call returns
/// [`LogError::Failed`] until the directory is reopened, because the kernel
/// may already have dropped the pages it could not write.
#[derive(Debug)]
pub struct Log {
    dir: PathBuf,
    config: LogConfig,
    /// Held (flock) until the log is closed or dropped.
    lock: File,
    segments: RwLock<Vec<Arc<Segment>>>,
    /// Serialises every mutation.
    writer: Mutex<()>,
    /// Serialises fsyncs so that concurrent durable appends share one.
    flush_lock: Mutex<()>,
    log_start: AtomicU64,
    log_end: AtomicU64,
    /// Everything below this offset is fsynced.
    recovery_point: AtomicU64,
    /// The recovery point the checkpoint file holds: what recovery will
    /// trust after a crash (it may lag `recovery_point`, which flushes
    /// move without writing the checkpoint). Written under the writer
    /// lock, with the checkpoint.
    checkpointed_recovery_point: AtomicU64,
    unflushed_records: AtomicU64,
    last_flush_ms: AtomicU64,
    failed: AtomicBool,
    failure: Mutex<Option<String>>,
    closed: AtomicBool,
    recovery: RecoveryReport,
    /// Serialises cleans (the swap itself also takes the writer lock).
    cleaner: Mutex<()>,
    /// Offsets below this were compacted by the last clean of this
    /// process; reset to the log start on open (not persisted).
    first_dirty: AtomicU64,
    /// Bumped by every operation that removes segments or bytes
    /// (truncation, retention, log start), so that a clean started before
    /// one throws its work away instead of resurrecting what was removed.
    generation: AtomicU64,
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A segment file name's base offset and extension, if it is one.
fn parse_segment_name(name: &str) -> Option<(u64, &str)> {
    let (stem, extension) = name.split_once('.')?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((stem.parse().ok()?, extension))
}

impl Log {
    /// Opens (creating if needed) the log in `dir` and recovers it.
    ///
    /// Recovery trusts what the checkpoint says was fsynced and closed
    /// cleanly; every segment from the one holding the recovery point on is
    /// scanned batch by batch (length bounds, magic, CRC, record bounds,
    /// offset order: strictly increasing, and dense from the recovery point
    /// on, where only appends wrote; below it the cleaner leaves gaps), cut
    /// at the first invalid batch, and its indexes
    /// rebuilt. Segments after a cut are deleted: they would leave a gap.
    /// A clean interrupted by a crash is rolled back or finished first (see
    /// [`Log::clean`]). What recovery did is in [`Log::recovery_report`] and
    /// logged through `tracing`.
    ///
    /// # Errors
    /// [`LogError::InvalidConfig`], [`LogError::Locked`] when another `Log`
    /// has the directory open, [`LogError::Io`] for file system failures.
    /// Damaged files are repaired, not reported as errors.
    pub fn open(dir: impl AsRef<Path>, config: LogConfig) -> Result<Log, LogError> {
        config.validate()?;
        let dir = dir.as_ref().to_path_buf();
        let existed = dir.is_dir();
        fs::create_dir_all(&dir).map_err(|error| LogError::io("create log directory", &dir, error))?;
        if !existed {
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync_dir(parent)?;
            }
        }
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(|error| LogError::io("open lock file", &lock_path, error))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(LogError::Locked { path: dir }),
            Err(TryLockError::Error(error)) => return Err(LogError::io("lock log directory", &lock_path, error)),
        }
        let now = now_ms();
        let (segments, log_start, report) = recover(&dir, &config, now)?;
        let log_end = report.log_end_offset;
        let log = Log {
            dir,
            config,
            lock,
            segments: RwLock::new(segments),
            writer: Mutex::new(()),
            flush_lock: Mutex::new(()),
            log_start: AtomicU64::new(log_start),
            log_end: AtomicU64::new(log_end),
            recovery_point: AtomicU64::new(log_end),
            checkpointed_recovery_point: AtomicU64::new(0),
            unflushed_records: AtomicU64::new(0),
            last_flush_ms: AtomicU64::new(now.max(0) as u64),
            failed: AtomicBool::new(false),
            failure: Mutex::new(None),
            closed: AtomicBool::new(false),
            recovery: report,
            cleaner: Mutex::new(()),
            first_dirty: AtomicU64::new(log_start),
            generation: AtomicU64::new(0),
        };
        log.active().make_active(&log.config)?;
        log.write_checkpoint(false)?;
        Ok(log)
    }

    /// What opening had to do.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.recovery
    }

    /// The partition directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The configuration the log was opened with.
    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// First offset readers may ask for.
    pub fn log_start_offset(&self) -> u64 {
        self.log_start.load(Ordering::Acquire)
    }

    /// Offset the next appended record will get.
    pub fn log_end_offset(&self) -> u64 {
        self.log_end.load(Ordering::Acquire)
    }

    /// Every record below this offset is fsynced.
    pub fn recovery_point(&self) -> u64 {
        self.recovery_point.load(Ordering::Acquire)
    }

    /// Bytes in all segments.
    pub fn size_bytes(&self) -> u64 {
        self.segments.read().iter().map(|segment| segment.size()).sum()
    }

    /// Base offsets of the segments, oldest first.
    pub fn segment_base_offsets(&self) -> Vec<u64> {
        self.segments.read().iter().map(|segment| segment.base_offset()).collect()
    }

    fn active(&self) -> Arc<Segment> {
        self.segments.read().last().cloned().expect("a log always has an active segment")
    }

    fn check_usable(&self) -> Result<(), LogError> {
        if self.failed.load(Ordering::Acquire) {
            let cause = self.failure.lock().clone().unwrap_or_default();
            return Err(LogError::Failed { path: self.dir.clone(), cause });
        }
        if self.closed.load(Ordering::Acquire) {
            return Err(LogError::Closed { path: self.dir.clone() });
        }
        Ok(())
    }

    /// Marks the log failed after an error that may have lost written data.
    fn fail(&self, error: LogError) -> LogError {
        let mut failure = self.failure.lock();
        if failure.is_none() {
            tracing::error!(log = %self.dir.display(), %error, "log failed; it must be reopened");
            *failure = Some(error.to_string());
        }
        self.failed.store(true, Ordering::Release);
        error
    }

    /// Appends one batch, assigning its offsets from the log end.
    ///
    /// The batch's baseOffset is rewritten in place on the way to disk (it
    /// is outside the CRC). The batch must be valid RecordBatch v2 with
    /// consecutive offset deltas from 0, as a producer builds it. The bytes
    /// reach the kernel before this returns; see [`Log::append_durable`]
    /// for fsync.
    ///
    /// # Errors
    /// [`LogError::BatchTooLarge`] over `max.message.bytes`,
    /// [`LogError::InvalidBatch`] for bytes that are not a valid batch,
    /// [`LogError::OffsetOverflow`], [`LogError::Io`] when the write fails
    /// (the partial batch is cut off again; nothing earlier is touched),
    /// [`LogError::KeylessRecordInCompactedLog`] when `cleanup.policy`
    /// includes `compact` and an uncompressed batch holds a record with a
    /// null key (compressed batches cannot be looked into and are taken as
    /// they are), [`LogError::Failed`] / [`LogError::Closed`].
    pub fn append(&self, batch: &[u8]) -> Result<AppendInfo, LogError> {
        self.append_placed(batch, Placement::Assign { leader_epoch: None }, Check::Verify)
    }

    /// As [`Log::append`] for a batch a [`BatchBuilder`](crate::BatchBuilder)
    /// built: its CRC and records are known good, so they are not checked
    /// again (a compacted log still refuses a record without a key).
    ///
    /// # Errors
    /// As [`Log::append`].
    pub fn append_built(&self, batch: &BuiltBatch) -> Result<AppendInfo, LogError> {
        if let (true, Some(record_index)) = (self.config.cleanup_policy.compacts(), batch.first_keyless()) {
            return Err(LogError::KeylessRecordInCompactedLog { record_index });
        }
        self.append_placed(batch.as_bytes(), Placement::Assign { leader_epoch: None }, Check::Built)
    }

    /// As [`Log::append`], as the partition's leader in `leader_epoch`:
    /// the batch's partitionLeaderEpoch is set to it on the way to disk
    /// (outside the CRC, as Kafka's leader does), so followers and a later
    /// recovery know which leader wrote it.
    ///
    /// # Errors
    /// As [`Log::append`].
    pub fn append_as_leader(&self, batch: &[u8], leader_epoch: i32) -> Result<AppendInfo, LogError> {
        self.append_placed(batch, Placement::Assign { leader_epoch: Some(leader_epoch) }, Check::Verify)
    }

    /// Appends a batch copied from the leader's log, as a follower: its
    /// offsets and partitionLeaderEpoch are kept as the leader wrote them.
    /// Its base offset must be at or past the log end (past it only where
    /// the leader's log has a gap compaction left).
    ///
    /// # Errors
    /// [`LogError::OffsetMismatch`] for a batch below the log end, and as
    /// [`Log::append`] (a follower's batch need not be dense: compaction
    /// may have removed records from it). The batch's bounds and CRC are
    /// checked; its records are not walked again (the leader did, when it
    /// took the batch).
    pub fn append_as_follower(&self, batch: &[u8]) -> Result<AppendInfo, LogError> {
        self.append_placed(batch, Placement::Keep, Check::Verify)
    }

    fn append_placed(&self, batch: &[u8], placement: Placement, check: Check) -> Result<AppendInfo, LogError> {
        self.check_usable()?;
        if batch.len() > self.config.max_message_bytes as usize {
            return Err(LogError::BatchTooLarge {
                bytes: batch.len(),
                max_message_bytes: self.config.max_message_bytes,
            });
        }
        let batch = if check == Check::Built {
            // Made by BatchBuilder::build: nothing to find, nothing to
            // recompute; the header parse bounds the slice.
            Batch::new_crc_checked(batch).map_err(|source| LogError::InvalidBatch { source })?
        } else if placement == Placement::Keep {
            // A leader's batch: the leader checked every record when it
            // took the batch, and the CRC (checked on the leader's read and
            // again here) vouches these are the same bytes.
            Batch::new(batch).map_err(|source| LogError::InvalidBatch { source })?
        } else if self.config.cleanup_policy.compacts() {
            validate_keyed_batch(batch)?
        } else {
            validate_batch(batch).map_err(|source| LogError::InvalidBatch { source })?
        };
        let header = *batch.header();
        if batch.len() != batch.as_bytes().len() || header.total_bytes() != batch.len() {
            unreachable!("Batch::new bounds the slice to the batch");
        }
        let produced = matches!(placement, Placement::Assign { .. });
        if produced
            && (header.records_count == 0 || i64::from(header.records_count) != i64::from(header.last_offset_delta) + 1)
        {
            return Err(LogError::InvalidBatch {
                source: BatchError::InconsistentHeader {
                    reason: "a produced batch needs recordsCount = lastOffsetDelta + 1 >= 1",
                },
            });
        }
        let _writer = self.writer.lock();
        self.check_usable()?;
        let log_end = self.log_end.load(Ordering::Acquire);
        let (first_offset, leader_epoch) = match placement {
            Placement::Assign { leader_epoch } => (log_end, leader_epoch),
            Placement::Keep => {
                let base = u64::try_from(header.base_offset).unwrap_or(0);
                if header.base_offset < 0 || base < log_end {
                    return Err(LogError::OffsetMismatch { expected: log_end, got: header.base_offset });
                }
                (base, None)
            }
        };
        let last_offset = first_offset
            .checked_add(header.last_offset_delta as u64)
            .filter(|&last| last < i64::MAX as u64)
            .ok_or(LogError::OffsetOverflow { offset: first_offset })?;
        let now = now_ms();
        let mut active = self.active();
        if active.needs_roll(&self.config, &header, last_offset, now) {
            active = self.roll(&active, first_offset, now)?;
        }
        if let Err(error) = active.append(first_offset, leader_epoch, &batch, &self.config) {
            // A failed cut-back leaves an unknown tail: fail the log.
            if let LogError::Io { operation: "cut back segment", .. } = error {
                return Err(self.fail(error));
            }
            return Err(error);
        }
        self.log_end.store(last_offset + 1, Ordering::Release);
        let unflushed = self.unflushed_records.fetch_add(header.records_count as u64, Ordering::AcqRel)
            + header.records_count as u64;
        let info = AppendInfo {
            first_offset,
            last_offset,
            max_timestamp: header.max_timestamp,
            record_count: header.records_count as u32,
        };
        drop(_writer);
        if unflushed >= self.config.flush_messages || self.flush_interval_passed(now) {
            self.flush()?;
        }
        Ok(info)
    }

    /// Appends one batch and returns only after it is fsynced. Concurrent
    /// callers share fsyncs: one fsync covers every batch appended before
    /// it started (group commit).
    ///
    /// # Errors
    /// As [`Log::append`], plus the fsync's error (which fails the log).
    pub fn append_durable(&self, batch: &[u8]) -> Result<AppendInfo, LogError> {
        let info = self.append(batch)?;
        self.flush_through(info.last_offset + 1)?;
        Ok(info)
    }

    fn flush_interval_passed(&self, now: i64) -> bool {
        self.config.flush_ms != u64::MAX
            && (now.max(0) as u64).saturating_sub(self.last_flush_ms.load(Ordering::Acquire)) >= self.config.flush_ms
    }

    /// Fsyncs everything appended so far.
    ///
    /// # Errors
    /// The fsync's [`LogError::Io`], after which the log is failed.
    pub fn flush(&self) -> Result<(), LogError> {
        self.flush_through(self.log_end_offset())
    }

    /// For a background flusher: fsyncs segments rolled since the last
    /// fsync (Kafka flushes a rolled segment in the background too) and
    /// checkpoints the recovery point past them, and fsyncs everything if
    /// `flush.ms` has passed since the last fsync and something is
    /// unflushed.
    ///
    /// # Errors
    /// As [`Log::flush`].
    pub fn flush_if_due(&self) -> Result<(), LogError> {
        if self.unflushed_records.load(Ordering::Acquire) > 0 && self.flush_interval_passed(now_ms()) {
            self.flush()?;
        }
        self.flush_rolled()
    }

    /// Fsyncs the segments below the active one and checkpoints the
    /// recovery point at least that far, unless a truncation or reset
    /// moved the log meanwhile. Afterwards (if the log did not move) the
    /// checkpointed recovery point covers every closed segment, which is
    /// what the cleaner needs before it may leave gaps in them.
    pub(crate) fn flush_rolled(&self) -> Result<(), LogError> {
        let flush = self.flush_lock.lock();
        // The generation first, then the segments it vouches for.
        let generation = self.generation.load(Ordering::Acquire);
        let below = self.active().base_offset();
        if self.checkpointed_recovery_point.load(Ordering::Acquire) >= below {
            return Ok(());
        }
        self.check_usable()?;
        self.sync_segments(self.recovery_point.load(Ordering::Acquire), below)?;
        // Under the writer lock, so no truncation lands between the check
        // and the move; the flush lock is let go first, as `close` takes
        // the two the other way round.
        drop(flush);
        let _writer = self.writer.lock();
        self.check_usable()?;
        if self.generation.load(Ordering::Acquire) == generation {
            self.recovery_point.fetch_max(below, Ordering::AcqRel);
            // Persisted, as a roll used to: recovery (and the cleaner,
            // which only cleans below it) rely on the checkpointed value.
            self.write_checkpoint(false)?;
        }
        Ok(())
    }

    /// Makes every offset below `offset` durable.
    fn flush_through(&self, offset: u64) -> Result<(), LogError> {
        if self.recovery_point.load(Ordering::Acquire) >= offset {
            return Ok(());
        }
        let _flush = self.flush_lock.lock();
        self.check_usable()?;
        // Another caller's fsync may have covered us while we waited.
        let synced = self.recovery_point.load(Ordering::Acquire);
        if synced >= offset {
            return Ok(());
        }
        // Everything below `target` has been written; the fsyncs below make
        // it durable.
        let target = self.log_end.load(Ordering::Acquire);
        let unflushed = self.unflushed_records.swap(0, Ordering::AcqRel);
        if let Err(error) = self.sync_segments(synced, u64::MAX) {
            self.unflushed_records.fetch_add(unflushed, Ordering::AcqRel);
            return Err(error);
        }
        self.recovery_point.fetch_max(target, Ordering::AcqRel);
        self.last_flush_ms.store(now_ms().max(0) as u64, Ordering::Release);
        Ok(())
    }

    /// Fsyncs every segment that starts below `below` and holds offsets
    /// at or past `synced`; a failed fsync fails the log. Called with the
    /// flush lock held.
    fn sync_segments(&self, synced: u64, below: u64) -> Result<(), LogError> {
        let dirty: Vec<Arc<Segment>> = self
            .segments
            .read()
            .iter()
            .filter(|segment| segment.base_offset() < below && segment.next_offset() > synced)
            .cloned()
            .collect();
        for segment in dirty {
            if let Err(error) = segment.sync() {
                return Err(self.fail(LogError::io("fsync segment", segment.log_path(), error)));
            }
        }
        Ok(())
    }

    /// Seals the active segment and starts a new one at `base_offset`.
    /// Called with the writer lock held.
    ///
    /// The old segment is not fsynced here, under the writer lock: a
    /// gigabyte segment's fsync would stall every append for seconds.
    /// As Kafka does, it is flushed in the background: by the next
    /// [`Log::flush_if_due`] (the broker's flusher calls it every 100 ms),
    /// or any flush. Until then the recovery point stays below it, so a
    /// crash recovers it by scanning.
    fn roll(&self, active: &Arc<Segment>, base_offset: u64, now: i64) -> Result<Arc<Segment>, LogError> {
        if let Err(error) = active.close_indexes() {
            return Err(self.fail(error));
        }
        let segment = Arc::new(Segment::create(&self.dir, base_offset, &self.config, now)?);
        sync_dir(&self.dir)?;
        self.segments.write().push(Arc::clone(&segment));
        tracing::debug!(log = %self.dir.display(), base_offset, "rolled segment");
        self.write_checkpoint(false)?;
        Ok(segment)
    }

    fn write_checkpoint(&self, clean_shutdown: bool) -> Result<(), LogError> {
        let recovery_point = self.recovery_point.load(Ordering::Acquire);
        // Lowered before the write (a truncation's checkpoint), raised
        // after it: the value never claims more than the file holds.
        self.checkpointed_recovery_point.fetch_min(recovery_point, Ordering::AcqRel);
        Checkpoint { recovery_point, log_start: self.log_start.load(Ordering::Acquire), clean_shutdown }
            .write(&self.dir)?;
        self.checkpointed_recovery_point.store(recovery_point, Ordering::Release);
        Ok(())
    }

    /// Whole batches starting with the one that holds `offset`, up to
    /// `max_bytes` (but always the whole first batch, however large, so a
    /// reader can make progress), and never past the log end published when
    /// the read began. Reading at the log end returns nothing.
    /// Every batch is CRC-checked on the way out.
    ///
    /// # Errors
    /// [`LogError::OffsetOutOfRange`] below the log start or above the log
    /// end; [`LogError::Corrupt`] if bytes changed on disk since they were
    /// written; [`LogError::Io`].
    pub fn read(&self, offset: u64, max_bytes: u32) -> Result<ReadBatches, LogError> {
        self.read_into(offset, max_bytes, Vec::new())
    }

    /// As [`Log::read`], reading into `buffer`'s allocation (take one back
    /// from an earlier read with [`ReadBatches::into_buffer`]), so a reader
    /// that keeps up does not allocate per read.
    ///
    /// # Errors
    /// As [`Log::read`].
    pub fn read_into(&self, offset: u64, max_bytes: u32, buffer: Vec<u8>) -> Result<ReadBatches, LogError> {
        self.check_usable()?;
        let log_start = self.log_start_offset();
        let log_end = self.log_end_offset();
        if offset < log_start || offset > log_end {
            return Err(LogError::OffsetOutOfRange { offset, log_start, log_end });
        }
        let segment = {
            let segments = self.segments.read();
            let mut at = segments.partition_point(|segment| segment.base_offset() <= offset).saturating_sub(1);
            while at < segments.len() && segments[at].next_offset() <= offset {
                at += 1;
            }
            match segments.get(at) {
                Some(segment) => Arc::clone(segment),
                None => {
                    let read = crate::segment::SegmentRead::empty(buffer, offset);
                    return Ok(ReadBatches { buffer: read.buffer, from: 0, next_offset: offset });
                }
            }
        };
        // The segment may already hold a batch whose append has not yet
        // published the log end; it is not part of the log until then.
        let read = segment.read(offset, max_bytes, self.config.index_interval_bytes, log_end, buffer)?;
        Ok(ReadBatches { buffer: read.buffer, from: read.from, next_offset: read.next_offset })
    }

    /// The first record whose timestamp is at or after `timestamp_ms` (and
    /// whose offset is at least the log start), found through the time
    /// index; `None` when every record is older.
    ///
    /// # Errors
    /// [`LogError::Corrupt`] or [`LogError::Io`] from reading segments.
    pub fn offset_for_timestamp(&self, timestamp_ms: i64) -> Result<Option<TimestampOffset>, LogError> {
        self.check_usable()?;
        let segments: Vec<Arc<Segment>> = self.segments.read().clone();
        let log_start = self.log_start_offset();
        for segment in segments.iter().filter(|segment| segment.next_offset() > log_start) {
            if let Some((offset, timestamp)) = segment.find_timestamp(timestamp_ms)? {
                // As Kafka does, never answer below the log start.
                return Ok(Some(TimestampOffset { offset: offset.max(log_start), timestamp }));
            }
        }
        Ok(None)
    }

    /// Removes every record at or after `offset` (for a replica whose log
    /// diverged from its leader). Whole batches are removed: if `offset`
    /// falls inside a batch, that batch goes too, and the returned new log
    /// end is its base offset. Truncating at or past the log end does
    /// nothing.
    ///
    /// # Errors
    /// [`LogError::OffsetOutOfRange`] below the log start, [`LogError::Io`],
    /// [`LogError::Failed`] / [`LogError::Closed`].
    pub fn truncate_to(&self, offset: u64) -> Result<u64, LogError> {
        let _writer = self.writer.lock();
        self.check_usable()?;
        let log_start = self.log_start_offset();
        let log_end = self.log_end_offset();
        if offset >= log_end {
            return Ok(log_end);
        }
        if offset < log_start {
            return Err(LogError::OffsetOutOfRange { offset, log_start, log_end });
        }
        self.generation.fetch_add(1, Ordering::AcqRel);
        let removed: Vec<Arc<Segment>> = {
            let mut segments = self.segments.write();
            // Keep the first segment even if it starts at `offset`: it is
            // emptied instead, so the log never has no segment.
            let keep = segments.partition_point(|segment| segment.base_offset() < offset).max(1);
            segments.split_off(keep)
        };
        for segment in &removed {
            segment.delete_files(&self.dir)?;
        }
        let last = self.active();
        last.truncate_to(offset)?;
        last.make_active(&self.config)?;
        let new_end = last.next_offset();
        self.log_end.store(new_end, Ordering::Release);
        self.log_start.fetch_min(new_end, Ordering::AcqRel);
        self.recovery_point.fetch_min(new_end, Ordering::AcqRel);
        self.first_dirty.fetch_min(new_end, Ordering::AcqRel);
        sync_dir(&self.dir)?;
        self.write_checkpoint(false)?;
        tracing::info!(log = %self.dir.display(), offset, new_end, "truncated log");
        Ok(new_end)
    }

    /// Empties the log and starts it again at `offset`, which must be past
    /// the log end (Kafka's `truncateFullyAndStartAt`): a follower whose
    /// log ends below the leader's log start takes the leader's start.
    /// Crash-safe in this order: the new, empty segment is created; then
    /// the checkpoint moves the log start (hiding the old records); then
    /// the old segments are deleted.
    ///
    /// # Errors
    /// [`LogError::OffsetOutOfRange`] at or below the log end,
    /// [`LogError::OffsetOverflow`], [`LogError::Io`].
    pub fn reset_to(&self, offset: u64) -> Result<(), LogError> {
        let _writer = self.writer.lock();
        self.check_usable()?;
        let log_start = self.log_start_offset();
        let log_end = self.log_end_offset();
        if offset <= log_end {
            return Err(LogError::OffsetOutOfRange { offset, log_start, log_end });
        }
        if offset >= i64::MAX as u64 {
            return Err(LogError::OffsetOverflow { offset });
        }
        self.generation.fetch_add(1, Ordering::AcqRel);
        let active = self.active();
        if let Err(error) = active.seal() {
            return Err(self.fail(error));
        }
        let segment = Arc::new(Segment::create(&self.dir, offset, &self.config, now_ms())?);
        sync_dir(&self.dir)?;
        let old: Vec<Arc<Segment>> = {
            let mut segments = self.segments.write();
            let old = std::mem::take(&mut *segments);
            segments.push(Arc::clone(&segment));
            old
        };
        self.log_end.store(offset, Ordering::Release);
        self.log_start.store(offset, Ordering::Release);
        self.recovery_point.store(offset, Ordering::Release);
        self.first_dirty.store(offset, Ordering::Release);
        self.unflushed_records.store(0, Ordering::Release);
        self.write_checkpoint(false)?;
        for segment in &old {
            segment.delete_files(&self.dir)?;
        }
        sync_dir(&self.dir)?;
        tracing::info!(log = %self.dir.display(), offset, "emptied the log and restarted it at a new offset");
        Ok(())
    }

    /// Moves the log start offset forward to `offset` (Kafka's
    /// DeleteRecords): records below it are no longer readable, and
    /// segments wholly below it are deleted. Durable before it returns.
    ///
    /// # Errors
    /// [`LogError::OffsetOutOfRange`] above the log end, [`LogError::Io`].
    pub fn advance_log_start(&self, offset: u64) -> Result<RetentionReport, LogError> {
        let _writer = self.writer.lock();
        self.check_usable()?;
        let log_end = self.log_end_offset();
        if offset > log_end {
            return Err(LogError::OffsetOutOfRange { offset, log_start: self.log_start_offset(), log_end });
        }
        self.log_start.fetch_max(offset, Ordering::AcqRel);
        self.write_checkpoint(false)?;
        let log_start = self.log_start_offset();
        let deletable = {
            let segments = self.segments.read();
            segments[..segments.len() - 1].iter().take_while(|segment| segment.next_offset() <= log_start).count()
        };
        self.delete_oldest(deletable)
    }

    /// Deletes closed segments past `retention.ms` (judged by their newest
    /// timestamp, or the file's modification time when they have none) or
    /// beyond `retention.bytes`, oldest first. The active segment is never
    /// deleted. With `cleanup.policy=compact` (without `delete`) neither
    /// limit applies, as in Kafka: only segments wholly below the log start
    /// are deleted.
    ///
    /// # Errors
    /// [`LogError::Io`], [`LogError::Failed`] / [`LogError::Closed`].
    pub fn apply_retention(&self, now_ms: i64) -> Result<RetentionReport, LogError> {
        self.apply_retention_below(now_ms, u64::MAX)
    }

    /// As [`Log::apply_retention`], deleting only segments that end at or
    /// below `limit`: a replicated partition passes its high watermark, so
    /// retention never removes records a follower may still need to copy
    /// or consumers have not been allowed to see (as Kafka does).
    ///
    /// # Errors
    /// As [`Log::apply_retention`].
    pub fn apply_retention_below(&self, now_ms: i64, limit: u64) -> Result<RetentionReport, LogError> {
        let _writer = self.writer.lock();
        self.check_usable()?;
        let log_start = self.log_start_offset();
        let deletable = {
            let segments = self.segments.read();
            let mut total: u64 = segments.iter().map(|segment| segment.size()).sum();
            let mut count = 0;
            let deletes = self.config.cleanup_policy.deletes();
            for segment in &segments[..segments.len() - 1] {
                let newest = match segment.max_timestamp() {
                    NO_TIMESTAMP => segment.modified_ms().unwrap_or(now_ms),
                    timestamp => timestamp,
                };
                let expired = deletes
                    && self.config.retention_ms >= 0
                    && now_ms.saturating_sub(newest) > self.config.retention_ms;
                let oversized = deletes
                    && self.config.retention_bytes >= 0
                    && total - segment.size() >= self.config.retention_bytes as u64;
                let below_start = segment.next_offset() <= log_start;
                if !(expired || oversized || below_start) || segment.next_offset() > limit {
                    break;
                }
                total -= segment.size();
                count += 1;
            }
            count
        };
        if deletable == 0 {
            return Ok(RetentionReport { log_start_offset: log_start, ..RetentionReport::default() });
        }
        let new_start = self.segments.read()[deletable].base_offset();
        self.log_start.fetch_max(new_start, Ordering::AcqRel);
        self.write_checkpoint(false)?;
        self.delete_oldest(deletable)
    }

    /// Drops the `count` oldest segments from the list and deletes their
    /// files; the checkpoint already records the new log start.
    fn delete_oldest(&self, count: usize) -> Result<RetentionReport, LogError> {
        if count > 0 {
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
        let removed: Vec<Arc<Segment>> = self.segments.write().drain(..count).collect();
        let mut report = RetentionReport { log_start_offset: self.log_start_offset(), ..RetentionReport::default() };
        for segment in &removed {
            report.bytes_deleted += segment.size();
            report.segments_deleted += 1;
            segment.delete_files(&self.dir)?;
        }
        if !removed.is_empty() {
            sync_dir(&self.dir)?;
            tracing::info!(
                log = %self.dir.display(),
                segments = report.segments_deleted,
                bytes = report.bytes_deleted,
                log_start = report.log_start_offset,
                "deleted old segments"
            );
        }
        Ok(report)
    }

    /// Flushes, trims the active segment's indexes, records a clean
    /// shutdown (so the next open scans almost nothing) and releases the
    /// directory's lock. Later calls return [`LogError::Closed`]. Dropping a log without closing it loses nothing
    /// it acknowledged; the next open just recovers.
    ///
    /// # Errors
    /// The flush's or checkpoint's error.
    pub fn close(&self) -> Result<(), LogError> {
        let _writer = self.writer.lock();
        if self.closed.load(Ordering::Acquire) {
            return Ok(());
        }
        self.check_usable()?;
        self.flush()?;
        if let Err(error) = self.active().seal() {
            return Err(self.fail(error));
        }
        self.write_checkpoint(true)?;
        self.closed.store(true, Ordering::Release);
        // Closed logs refuse every call, so the directory can be handed to
        // the next opener now rather than when this value is dropped.
        self.lock.unlock().map_err(|error| LogError::io("unlock log directory", &self.dir, error))?;
        Ok(())
    }
}

/// Opens every segment in `dir`, repairing as needed; returns the segments,
/// the log start offset and the report.
fn recover(dir: &Path, config: &LogConfig, now: i64) -> Result<(Vec<Arc<Segment>>, u64, RecoveryReport), LogError> {
    let mut report = RecoveryReport::default();
    let checkpoint = match Checkpoint::read(dir)? {
        CheckpointRead::Found(checkpoint) => Some(checkpoint),
        CheckpointRead::Missing | CheckpointRead::Damaged => {
            report.checkpoint_missing = true;
            None
        }
    };
    report.clean_shutdown = checkpoint.is_some_and(|c| c.clean_shutdown);
    clean::finish_interrupted_clean(dir, &mut report)?;

    let mut bases = Vec::new();
    let mut index_files = Vec::new();
    let entries = fs::read_dir(dir).map_err(|error| LogError::io("list log directory", dir, error))?;
    for entry in entries {
        let entry = entry.map_err(|error| LogError::io("list log directory", dir, error))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name == CHECKPOINT_TEMP_FILE {
            remove_stray(&entry.path(), &mut report)?;
            continue;
        }
        match parse_segment_name(name) {
            Some((base, "log")) => bases.push(base),
            Some((base, "index" | "timeindex")) => index_files.push((base, entry.path())),
            _ => {}
        }
    }
    bases.sort_unstable();
    for (base, path) in index_files {
        if bases.binary_search(&base).is_err() {
            remove_stray(&path, &mut report)?;
        }
    }

    let recovery_point = checkpoint.map_or(0, |c| c.recovery_point);
    // Segments wholly below the recovery point's segment were synced and
    // sealed; the one holding it and every later one get scanned.
    let scan_from = bases.iter().rev().find(|&&base| base <= recovery_point).copied().unwrap_or(0);
    // Appends write dense offsets, so bytes past the recovery point (the
    // only ones a crash can damage) must be dense; below it the cleaner
    // may have left gaps. Without a checkpoint nothing says where appends
    // began, and gaps are accepted everywhere, as Kafka accepts them.
    let dense_from = checkpoint.map_or(u64::MAX, |c| c.recovery_point);
    let mut segments: Vec<Arc<Segment>> = Vec::with_capacity(bases.len());
    let mut cut = false;
    let mut scanned = Vec::new();
    for &base in &bases {
        let follows_gap = segments.last().is_some_and(|previous| previous.next_offset() > base);
        if cut || follows_gap {
            // After a cut (or overlapping a segment) the rest would leave a
            // hole or duplicate offsets: delete it.
            let path = crate::checkpoint::segment_path(dir, base, "log");
            tracing::warn!(segment = %path.display(), "deleting segment after a truncated or overlapped one");
            for extension in ["log", "index", "timeindex"] {
                let path = crate::checkpoint::segment_path(dir, base, extension);
                if let Err(error) = fs::remove_file(&path) {
                    if error.kind() != std::io::ErrorKind::NotFound {
                        return Err(LogError::io("delete segment file", path, error));
                    }
                }
            }
            report.segments_deleted += 1;
            cut = true;
            continue;
        }
        let trust = report.clean_shutdown || base < scan_from;
        let (segment, recovered) = Segment::open(dir, base, config, trust, dense_from, now)?;
        if recovered.scanned {
            report.segments_scanned += 1;
            scanned.push(base);
        }
        if recovered.indexes_rebuilt {
            report.indexes_rebuilt += 1;
        }
        if recovered.bytes_truncated > 0 {
            report.bytes_truncated += recovered.bytes_truncated;
            cut = true;
        }
        segments.push(Arc::new(segment));
    }

    let checkpoint_start = checkpoint.map_or(0, |c| c.log_start);
    if segments.is_empty() {
        // Never reuse an offset the checkpoint says was handed out.
        let base = checkpoint.map_or(0, |c| c.recovery_point.max(c.log_start)).min(i64::MAX as u64);
        segments.push(Arc::new(Segment::create(dir, base, config, now)?));
    }
    let log_end = segments.last().expect("at least one segment").next_offset();
    let first_base = segments[0].base_offset();
    let log_start = checkpoint_start.max(first_base).min(log_end);
    // Segments wholly below the log start are left over from a deletion
    // that crashed after its checkpoint.
    let below = segments[..segments.len() - 1].iter().take_while(|s| s.next_offset() <= log_start).count();
    for segment in segments.drain(..below) {
        segment.delete_files(dir)?;
        report.segments_deleted += 1;
    }
    // Scanned bytes may sit only in the page cache: make them durable
    // before the checkpoint says they are, and trim the fresh indexes of
    // scanned segments that are no longer active.
    let last = segments.len() - 1;
    for (at, segment) in segments.iter().enumerate() {
        if scanned.binary_search(&segment.base_offset()).is_ok() {
            if at == last {
                segment.sync().map_err(|error| LogError::io("fsync segment", segment.log_path(), error))?;
            } else {
                segment.seal()?;
            }
        }
    }
    if report.segments_deleted > 0
        || report.stray_files_removed > 0
        || report.bytes_truncated > 0
        || report.clean_finished
    {
        sync_dir(dir)?;
    }
    report.log_end_offset = log_end;
    if report.segments_scanned > 0 || report.bytes_truncated > 0 || report.segments_deleted > 0 {
        tracing::info!(
            log = %dir.display(),
            clean_shutdown = report.clean_shutdown,
            segments_scanned = report.segments_scanned,
            indexes_rebuilt = report.indexes_rebuilt,
            bytes_truncated = report.bytes_truncated,
            segments_deleted = report.segments_deleted,
            log_end,
            "recovered log"
        );
    }
    Ok((segments, log_start, report))
}

fn remove_stray(path: &Path, report: &mut RecoveryReport) -> Result<(), LogError> {
    fs::remove_file(path).map_err(|error| LogError::io("remove stray file", path, error))?;
    report.stray_files_removed += 1;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BatchBuilder;

    fn batch(value: &[u8]) -> Vec<u8> {
        let mut builder = BatchBuilder::new();
        builder.push(0, None, Some(value), &[]).unwrap();
        builder.finish().unwrap()
    }

    #[test]
    fn a_failed_fsync_fails_the_log_until_it_is_reopened() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), LogConfig::default()).unwrap();
        log.append_durable(&batch(b"kept")).unwrap();
        log.active().fail_next_sync.store(true, Ordering::Release);
        let error = log.append_durable(&batch(b"maybe lost")).unwrap_err();
        assert!(matches!(error, LogError::Io { operation: "fsync segment", .. }), "{error}");
        // No retry as if nothing happened: every later call says why.
        for result in [
            log.append(&batch(b"refused")).map(drop),
            log.flush(),
            log.read(0, 1024).map(drop),
            log.truncate_to(0).map(drop),
            log.apply_retention(0).map(drop),
            log.close(),
        ] {
            let error = result.unwrap_err();
            assert!(matches!(&error, LogError::Failed { cause, .. } if cause.contains("injected")), "{error}");
        }
        drop(log);
        let log = Log::open(dir.path(), LogConfig::default()).unwrap();
        assert!(log.log_end_offset() >= 1);
        let read = log.read(0, 1024).unwrap();
        let first = read.batches().next().unwrap().unwrap();
        assert_eq!(first.records().unwrap().next().unwrap().unwrap().value, Some(&b"kept"[..]));
    }

    #[test]
    fn reads_stop_at_the_published_log_end() {
        // Recreate the moment inside `append` after the segment has the
        // bytes and before the log end moves: the batch is not yet in the log.
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), LogConfig::default()).unwrap();
        log.append(&batch(b"published")).unwrap();
        let unpublished = batch(b"in flight");
        let parsed = validate_batch(&unpublished).unwrap();
        log.active().append(1, None, &parsed, &log.config).unwrap();
        assert_eq!(log.log_end_offset(), 1);
        let read = log.read(0, 1 << 20).unwrap();
        assert_eq!(read.batches().count(), 1);
        assert_eq!(read.next_offset(), 1);
        assert!(log.read(1, 1 << 20).unwrap().is_empty());
    }

    #[test]
    fn a_roll_leaves_the_fsync_to_the_flusher_and_a_failed_one_fails_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig { segment_bytes: 200, ..LogConfig::default() };
        let log = Log::open(dir.path(), config).unwrap();
        log.append(&batch(&[7; 100])).unwrap();
        let rolled = log.active();
        rolled.fail_next_sync.store(true, Ordering::Release);
        // The roll itself does not fsync: the append succeeds and the
        // recovery point stays below the rolled segment.
        log.append(&batch(&[8; 100])).unwrap();
        assert_eq!(log.segments.read().len(), 2);
        assert_eq!(log.recovery_point(), 0);
        let error = log.flush_if_due().unwrap_err();
        assert!(matches!(error, LogError::Io { .. }), "{error}");
        assert!(matches!(log.append(&batch(b"x")), Err(LogError::Failed { .. })));
        assert_eq!(log.log_end_offset(), 2);
    }

    #[test]
    fn the_flusher_syncs_rolled_segments_and_moves_the_recovery_point_to_the_active_one() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig { segment_bytes: 200, ..LogConfig::default() };
        let log = Log::open(dir.path(), config).unwrap();
        for value in [[1u8; 100], [2; 100], [3; 100]] {
            log.append(&batch(&value)).unwrap();
        }
        assert_eq!(log.segments.read().len(), 3);
        assert_eq!(log.recovery_point(), 0);
        log.flush_if_due().unwrap();
        assert_eq!(log.recovery_point(), 2, "everything below the active segment");
        // A truncation racing the flusher is never undone by it.
        log.truncate_to(1).unwrap();
        log.flush_if_due().unwrap();
        assert!(log.recovery_point() <= log.log_end_offset());
    }
}
