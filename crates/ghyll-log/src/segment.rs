//! One segment: a `.log` file of batches with its `.index` and `.timeindex`.
//!
//! The log's writer lock serialises every mutation; readers share a segment
//! through an `Arc` and see only the bytes below `size`, which is published
//! after the bytes are written, so a reader never sees a half-written batch.

use std::fs::{File, OpenOptions};
use std::io::{self, IoSlice, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use parking_lot::RwLock;

use crate::batch::{check_records, check_records_keyed, Batch, BatchHeader, Batches, BATCH_HEADER_BYTES};
use crate::checkpoint::segment_path;
use crate::config::LogConfig;
use crate::error::{BatchError, Compression, LogError};
use crate::index::{MmapIndex, OffsetEntry, TimeEntry};

/// Kafka's "no timestamp".
pub(crate) const NO_TIMESTAMP: i64 = -1;
/// Bytes read ahead when scanning a segment.
const SCAN_CHUNK_BYTES: usize = 1 << 20;

/// Checks a batch the way it must hold inside a segment: the CRC, and for an
/// uncompressed batch every record's bounds with strictly increasing offset
/// deltas inside `lastOffsetDelta`.
pub(crate) fn validate_batch(bytes: &[u8]) -> Result<Batch<'_>, BatchError> {
    let batch = Batch::new(bytes)?;
    if batch.header().compression() == Compression::None {
        check_records(&batch)?;
    }
    Ok(batch)
}

/// As [`validate_batch`] for a log whose policy compacts: every record of
/// an uncompressed batch must have a key. A compressed batch cannot be
/// looked into, so it is accepted as it is (as its CRC vouches for it).
pub(crate) fn validate_keyed_batch(bytes: &[u8]) -> Result<Batch<'_>, LogError> {
    let batch = Batch::new(bytes).map_err(|source| LogError::InvalidBatch { source })?;
    if batch.header().compression() == Compression::None {
        let keyless = check_records_keyed(&batch).map_err(|source| LogError::InvalidBatch { source })?;
        if let Some(record_index) = keyless {
            return Err(LogError::KeylessRecordInCompactedLog { record_index });
        }
    }
    Ok(batch)
}

/// Whether a batch at `base`, after one that ended just below `expected`,
/// is in order. Offsets grow strictly; inside the part of a segment written
/// by appends since the last fsync (`expected >= dense_from`) they are also
/// dense, so a base offset (which the CRC does not cover) that jumps
/// forward there is damage. Below `dense_from` the cleaner may have left
/// gaps where it removed whole batches.
fn batch_in_order(base: u64, expected: u64, dense_from: u64) -> bool {
    base == expected || (base > expected && expected < dense_from)
}

/// Sparse indexes plus the writer's bookkeeping for them.
#[derive(Debug)]
struct Indexes {
    offset: MmapIndex<OffsetEntry>,
    time: MmapIndex<TimeEntry>,
    /// Log bytes appended since the last offset index entry.
    bytes_since_entry: u64,
    /// Largest timestamp in the segment and the last offset of its batch.
    max_timestamp: i64,
    max_timestamp_offset: u64,
}

impl Indexes {
    /// Records a batch at `position`, adding index entries every
    /// `index.interval.bytes`, as Kafka does.
    fn on_batch(&mut self, segment_base: u64, position: u64, header: &BatchHeader, interval_bytes: u32) {
        let base = header.base_offset as u64;
        let last = header.last_offset() as u64;
        if header.max_timestamp > self.max_timestamp {
            self.max_timestamp = header.max_timestamp;
            self.max_timestamp_offset = last;
        }
        if self.bytes_since_entry >= u64::from(interval_bytes) {
            // An index that filled up (possible while recovering a segment
            // written with a larger segment.index.bytes) just gets sparser.
            // Positions past 4 GiB cannot be indexed (only a foreign file
            // could be that large: segment.bytes is at most 2 GiB).
            if !self.offset.is_full() && position <= u64::from(u32::MAX) {
                self.offset
                    .append(OffsetEntry { relative_offset: (base - segment_base) as u32, position: position as u32 });
            }
            self.maybe_append_time_entry(segment_base);
            self.bytes_since_entry = 0;
        }
        self.bytes_since_entry += header.total_bytes() as u64;
    }

    fn maybe_append_time_entry(&mut self, segment_base: u64) {
        let newer = self.time.last().is_none_or(|last| self.max_timestamp > last.timestamp);
        if newer && self.max_timestamp != NO_TIMESTAMP && !self.time.is_full() {
            let relative_offset = (self.max_timestamp_offset - segment_base) as u32;
            self.time.append(TimeEntry { timestamp: self.max_timestamp, relative_offset });
        }
    }
}

/// What opening a segment had to do.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentRecovery {
    /// The segment was scanned batch by batch.
    pub scanned: bool,
    /// Its indexes were rebuilt from the log.
    pub indexes_rebuilt: bool,
    /// Bytes cut from the end of the `.log` (a torn or corrupt tail).
    pub bytes_truncated: u64,
}

#[derive(Debug)]
pub(crate) struct Segment {
    base_offset: u64,
    log_path: PathBuf,
    file: File,
    /// Bytes readers may see.
    size: AtomicU64,
    /// Offset after the last batch.
    next_offset: AtomicU64,
    /// Largest timestamp, or `NO_TIMESTAMP`.
    max_timestamp: AtomicI64,
    /// Max timestamp of the first batch, which `segment.ms` counts from, or
    /// `NO_TIMESTAMP` while empty.
    first_batch_timestamp: AtomicI64,
    /// Wall-clock milliseconds when this process created or opened it.
    opened_ms: i64,
    indexes: RwLock<Indexes>,
    /// Test hook: make the next fsync fail, as a dying disk would.
    #[cfg(test)]
    pub(crate) fail_next_sync: std::sync::atomic::AtomicBool,
}

/// Reads a file through a buffer, for scanning batch by batch.
struct ChunkReader<'f> {
    file: &'f File,
    path: &'f Path,
    end: u64,
    /// Initialised bytes; only `buf[..filled]` hold the file from `start`.
    /// A reused buffer keeps its length, so that reading into it does not
    /// first zero bytes the read overwrites.
    buf: Vec<u8>,
    filled: usize,
    start: u64,
}

impl<'f> ChunkReader<'f> {
    fn new(file: &'f File, path: &'f Path, end: u64) -> Self {
        ChunkReader::with_buffer(file, path, end, Vec::new())
    }

    /// A reader that reads into `buf`'s allocation (its contents are
    /// ignored).
    fn with_buffer(file: &'f File, path: &'f Path, end: u64, buf: Vec<u8>) -> Self {
        ChunkReader { file, path, end, buf, filled: 0, start: 0 }
    }

    /// Bytes `[position, position + len)`; the caller keeps them below `end`.
    fn get(&mut self, position: u64, len: usize, read_ahead: usize) -> Result<&[u8], LogError> {
        debug_assert!(position + len as u64 <= self.end);
        let covered = position >= self.start && position + len as u64 <= self.start + self.filled as u64;
        if !covered {
            let want = (len.max(read_ahead) as u64).min(self.end - position) as usize;
            if want > self.buf.capacity() {
                // A fresh zeroed allocation comes from the allocator's
                // zeroed pages, not a memset of bytes the read overwrites.
                self.buf = vec![0; want];
            } else if want > self.buf.len() {
                // Only the bytes never initialised are zeroed.
                self.buf.resize(want, 0);
            }
            self.filled = 0;
            self.file
                .read_exact_at(&mut self.buf[..want], position)
                .map_err(|error| LogError::io("read segment", self.path, error))?;
            self.start = position;
            self.filled = want;
        }
        let from = (position - self.start) as usize;
        Ok(&self.buf[from..from + len])
    }

    /// The read buffer holding `[position, position + len)`, and where in it
    /// those bytes start (the buffer is handed over, not copied).
    fn take(mut self, position: u64, len: usize) -> Result<(Vec<u8>, usize), LogError> {
        self.get(position, len, len)?;
        let from = (position - self.start) as usize;
        self.buf.truncate(from + len);
        Ok((self.buf, from))
    }

    /// The buffer, for reuse (its contents are not batches).
    fn into_buffer(self) -> Vec<u8> {
        self.buf
    }
}

/// Batches read from a segment: `buffer[from..]`, and the offset after the
/// last of them.
pub(crate) struct SegmentRead {
    pub buffer: Vec<u8>,
    pub from: usize,
    pub next_offset: u64,
}

impl SegmentRead {
    /// Nothing read; the buffer's allocation is handed back for reuse.
    pub(crate) fn empty(mut buffer: Vec<u8>, offset: u64) -> SegmentRead {
        buffer.clear();
        SegmentRead { buffer, from: 0, next_offset: offset }
    }
}

/// A batch header as read from a segment, or why the bytes there are not one.
enum HeaderAt {
    Batch(BatchHeader),
    /// Fewer bytes than a header (or than the batch) remain.
    Torn,
    Corrupt(BatchError),
}

fn header_at(reader: &mut ChunkReader<'_>, position: u64, read_ahead: usize) -> Result<HeaderAt, LogError> {
    if position + BATCH_HEADER_BYTES as u64 > reader.end {
        return Ok(HeaderAt::Torn);
    }
    let bytes = reader.get(position, BATCH_HEADER_BYTES, read_ahead)?;
    Ok(match BatchHeader::parse(bytes) {
        Ok(header) if position + header.total_bytes() as u64 > reader.end => HeaderAt::Torn,
        Ok(header) => HeaderAt::Batch(header),
        Err(error) => HeaderAt::Corrupt(error),
    })
}

/// Where and why a scan stopped before the end of the file.
struct ScanStop {
    position: u64,
    reason: String,
}

impl Segment {
    pub(crate) fn base_offset(&self) -> u64 {
        self.base_offset
    }

    pub(crate) fn size(&self) -> u64 {
        self.size.load(Ordering::Acquire)
    }

    pub(crate) fn next_offset(&self) -> u64 {
        self.next_offset.load(Ordering::Acquire)
    }

    pub(crate) fn max_timestamp(&self) -> i64 {
        self.max_timestamp.load(Ordering::Acquire)
    }

    pub(crate) fn log_path(&self) -> &Path {
        &self.log_path
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.size() == 0
    }

    /// How long the segment has been filling, as Kafka measures it for
    /// `segment.ms`: from its first batch's timestamp to the incoming
    /// batch's, or (while it has no timestamps) from when this process
    /// created or opened it until now.
    fn time_waited_for_roll_ms(&self, incoming_timestamp: i64, now_ms: i64) -> i64 {
        match self.first_batch_timestamp.load(Ordering::Acquire) {
            first if first >= 0 => incoming_timestamp.saturating_sub(first),
            _ => now_ms.saturating_sub(self.opened_ms),
        }
    }

    /// Creates an empty segment, replacing any index files of that name.
    pub(crate) fn create(dir: &Path, base_offset: u64, config: &LogConfig, now_ms: i64) -> Result<Segment, LogError> {
        let log_path = segment_path(dir, base_offset, "log");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&log_path)
            .map_err(|error| LogError::io("create segment", &log_path, error))?;
        Segment::with_file(dir, base_offset, config, file, log_path, now_ms)
    }

    /// Opens an existing segment.
    ///
    /// With `trust_indexes`, trimmed indexes that pass a sanity check are
    /// used as they are and only the batches after the last index entry are
    /// verified; anything else scans the whole segment, validating every
    /// batch, truncating at the first invalid one and rebuilding both
    /// indexes. Offsets from `dense_from` on must be dense (see
    /// [`batch_in_order`]); below it the cleaner's gaps are accepted.
    pub(crate) fn open(
        dir: &Path,
        base_offset: u64,
        config: &LogConfig,
        trust_indexes: bool,
        dense_from: u64,
        now_ms: i64,
    ) -> Result<(Segment, SegmentRecovery), LogError> {
        let log_path = segment_path(dir, base_offset, "log");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&log_path)
            .map_err(|error| LogError::io("open segment", &log_path, error))?;
        let file_len = file.metadata().map_err(|error| LogError::io("stat segment", &log_path, error))?.len();
        if trust_indexes {
            let trusted = Self::open_trusted(dir, base_offset, config, &file, &log_path, file_len, dense_from, now_ms)?;
            if let Some(segment) = trusted {
                let segment = Segment { file, log_path, ..segment };
                return Ok((segment, SegmentRecovery::default()));
            }
        }
        Self::open_scanning(dir, base_offset, config, file, log_path, file_len, dense_from, now_ms)
    }

    /// The trusted path: `None` when anything is off.
    #[allow(clippy::too_many_arguments)]
    fn open_trusted(
        dir: &Path,
        base_offset: u64,
        config: &LogConfig,
        file: &File,
        log_path: &Path,
        file_len: u64,
        dense_from: u64,
        now_ms: i64,
    ) -> Result<Option<Segment>, LogError> {
        let Some(offset) = MmapIndex::<OffsetEntry>::open_trimmed(
            &segment_path(dir, base_offset, "index"),
            config.segment_index_bytes,
        )?
        else {
            return Ok(None);
        };
        let Some(time) = MmapIndex::<TimeEntry>::open_trimmed(
            &segment_path(dir, base_offset, "timeindex"),
            config.segment_index_bytes,
        )?
        else {
            return Ok(None);
        };
        if !offset_index_is_sane(&offset, file_len) || !time_index_is_sane(&time) {
            return Ok(None);
        }
        // Sealing always leaves a time entry for the segment's newest
        // timestamp; with offset entries but no time entries the time index
        // was emptied, and the newest timestamp (which retention and
        // timestamp lookups rely on) would be lost.
        if time.len() == 0 && offset.len() > 0 {
            return Ok(None);
        }
        // Verify the batches after the last index entry: they give the
        // segment's end and must reach exactly the end of the file.
        let (from_position, from_offset) = offset
            .last()
            .map_or((0, base_offset), |e| (u64::from(e.position), base_offset + u64::from(e.relative_offset)));
        let mut reader = ChunkReader::new(file, log_path, file_len);
        let mut position = from_position;
        let mut next_offset = from_offset;
        let mut tail_max = (NO_TIMESTAMP, base_offset);
        while position < file_len {
            let HeaderAt::Batch(header) = header_at(&mut reader, position, SCAN_CHUNK_BYTES)? else {
                return Ok(None);
            };
            let total = header.total_bytes();
            // A base offset (which the CRC does not cover) that goes back, or
            // leaves a gap where appends wrote densely, is damage.
            if !batch_in_order(header.base_offset as u64, next_offset, dense_from)
                || !fits_segment(base_offset, &header)
            {
                return Ok(None);
            }
            if validate_batch(reader.get(position, total, SCAN_CHUNK_BYTES)?).is_err() {
                return Ok(None);
            }
            if header.max_timestamp > tail_max.0 {
                tail_max = (header.max_timestamp, header.last_offset() as u64);
            }
            next_offset = header.last_offset() as u64 + 1;
            position += total as u64;
        }
        if let Some(last_time) = time.last() {
            if base_offset + u64::from(last_time.relative_offset) >= next_offset.max(base_offset + 1) {
                return Ok(None);
            }
        }
        let (max_timestamp, max_timestamp_offset) = match time.last() {
            Some(last) if last.timestamp >= tail_max.0 => {
                (last.timestamp, base_offset + u64::from(last.relative_offset))
            }
            _ => tail_max,
        };
        let first_batch_timestamp = match header_at(&mut reader, 0, BATCH_HEADER_BYTES)? {
            HeaderAt::Batch(header) => header.max_timestamp,
            _ => NO_TIMESTAMP,
        };
        let file = file.try_clone().map_err(|error| LogError::io("open segment", log_path, error))?;
        Ok(Some(Segment {
            base_offset,
            log_path: log_path.to_path_buf(),
            file,
            size: AtomicU64::new(file_len),
            next_offset: AtomicU64::new(next_offset),
            max_timestamp: AtomicI64::new(max_timestamp),
            first_batch_timestamp: AtomicI64::new(first_batch_timestamp),
            opened_ms: now_ms,
            indexes: RwLock::new(Indexes {
                bytes_since_entry: file_len - from_position,
                offset,
                time,
                max_timestamp,
                max_timestamp_offset,
            }),
            #[cfg(test)]
            fail_next_sync: Default::default(),
        }))
    }

    /// The scanning path: validate every batch, cut the file at the first
    /// bad one, rebuild both indexes.
    #[allow(clippy::too_many_arguments)]
    fn open_scanning(
        dir: &Path,
        base_offset: u64,
        config: &LogConfig,
        file: File,
        log_path: PathBuf,
        file_len: u64,
        dense_from: u64,
        now_ms: i64,
    ) -> Result<(Segment, SegmentRecovery), LogError> {
        let segment = Segment::with_file(dir, base_offset, config, file, log_path, now_ms)?;
        let (valid_len, stop) = segment.rebuild(config, file_len, dense_from)?;
        let mut recovery = SegmentRecovery { scanned: true, indexes_rebuilt: true, bytes_truncated: 0 };
        if let Some(stop) = stop {
            tracing::warn!(
                segment = %segment.log_path.display(),
                position = stop.position,
                reason = %stop.reason,
                bytes = file_len - valid_len,
                "truncating invalid tail of segment"
            );
            segment
                .file
                .set_len(valid_len)
                .map_err(|error| LogError::io("truncate segment", &segment.log_path, error))?;
            segment.file.sync_all().map_err(|error| LogError::io("fsync segment", &segment.log_path, error))?;
            recovery.bytes_truncated = file_len - valid_len;
        }
        Ok((segment, recovery))
    }

    /// A segment over an open `.log` with fresh (empty) indexes.
    fn with_file(
        dir: &Path,
        base_offset: u64,
        config: &LogConfig,
        file: File,
        log_path: PathBuf,
        now_ms: i64,
    ) -> Result<Segment, LogError> {
        let indexes = Indexes {
            offset: MmapIndex::create(&segment_path(dir, base_offset, "index"), config.segment_index_bytes)?,
            time: MmapIndex::create(&segment_path(dir, base_offset, "timeindex"), config.segment_index_bytes)?,
            bytes_since_entry: 0,
            max_timestamp: NO_TIMESTAMP,
            max_timestamp_offset: base_offset,
        };
        Ok(Segment {
            base_offset,
            log_path,
            file,
            size: AtomicU64::new(0),
            next_offset: AtomicU64::new(base_offset),
            max_timestamp: AtomicI64::new(NO_TIMESTAMP),
            first_batch_timestamp: AtomicI64::new(NO_TIMESTAMP),
            opened_ms: now_ms,
            indexes: RwLock::new(indexes),
            #[cfg(test)]
            fail_next_sync: Default::default(),
        })
    }

    /// Scans `[0, file_len)`, validating every batch and indexing it; returns
    /// the valid length and, if the scan stopped early, where and why.
    fn rebuild(&self, config: &LogConfig, file_len: u64, dense_from: u64) -> Result<(u64, Option<ScanStop>), LogError> {
        let mut reader = ChunkReader::new(&self.file, &self.log_path, file_len);
        let mut indexes = self.indexes.write();
        let mut position = 0u64;
        let mut next_offset = self.base_offset;
        let mut stop = None;
        while position < file_len {
            let header = match header_at(&mut reader, position, SCAN_CHUNK_BYTES)? {
                HeaderAt::Batch(header) => header,
                HeaderAt::Torn => {
                    stop = Some(ScanStop { position, reason: "torn batch".into() });
                    break;
                }
                HeaderAt::Corrupt(error) => {
                    stop = Some(ScanStop { position, reason: error.to_string() });
                    break;
                }
            };
            if !batch_in_order(header.base_offset as u64, next_offset, dense_from)
                || !fits_segment(self.base_offset, &header)
            {
                let reason = format!("batch base offset {} where {next_offset} was next", header.base_offset);
                stop = Some(ScanStop { position, reason });
                break;
            }
            if let Err(error) = validate_batch(reader.get(position, header.total_bytes(), SCAN_CHUNK_BYTES)?) {
                stop = Some(ScanStop { position, reason: error.to_string() });
                break;
            }
            if position == 0 {
                self.first_batch_timestamp.store(header.max_timestamp, Ordering::Release);
            }
            indexes.on_batch(self.base_offset, position, &header, config.index_interval_bytes);
            next_offset = header.last_offset() as u64 + 1;
            position += header.total_bytes() as u64;
        }
        self.size.store(position, Ordering::Release);
        self.next_offset.store(next_offset, Ordering::Release);
        self.max_timestamp.store(indexes.max_timestamp, Ordering::Release);
        Ok((position, stop))
    }

    /// Prepares the segment to take appends: indexes back at their
    /// preallocated size and the file cursor at the end.
    pub(crate) fn make_active(&self, config: &LogConfig) -> Result<(), LogError> {
        let mut indexes = self.indexes.write();
        indexes.offset.make_appendable(config.segment_index_bytes)?;
        indexes.time.make_appendable(config.segment_index_bytes)?;
        (&self.file)
            .seek(SeekFrom::Start(self.size()))
            .map_err(|error| LogError::io("seek segment", &self.log_path, error))?;
        Ok(())
    }

    /// Whether `batch`, ending at `last_offset`, must go to a new segment.
    pub(crate) fn needs_roll(&self, config: &LogConfig, batch: &BatchHeader, last_offset: u64, now_ms: i64) -> bool {
        if self.is_empty() {
            return false;
        }
        let indexes = self.indexes.read();
        self.size() + batch.total_bytes() as u64 > u64::from(config.segment_bytes)
            || last_offset - self.base_offset > i32::MAX as u64
            || indexes.offset.is_full()
            || indexes.time.is_full()
            || self.time_waited_for_roll_ms(batch.max_timestamp, now_ms)
                >= config.segment_ms.min(i64::MAX as u64) as i64
    }

    /// Appends `batch` (already validated) with its base offset rewritten
    /// to `base_offset`. On a failed write the segment is cut back to where
    /// it was, so a partial batch never stays.
    pub(crate) fn append(
        &self,
        base_offset: u64,
        leader_epoch: Option<i32>,
        batch: &Batch<'_>,
        config: &LogConfig,
    ) -> Result<(), LogError> {
        let position = self.size.load(Ordering::Relaxed);
        let bytes = batch.as_bytes();
        // baseOffset (8 bytes), batchLength (4), partitionLeaderEpoch (4):
        // all outside the CRC, rewritten on the way to disk.
        let mut head = [0u8; 16];
        head[..8].copy_from_slice(&base_offset.to_be_bytes());
        let head_len = match leader_epoch {
            Some(epoch) => {
                head[8..12].copy_from_slice(&bytes[8..12]);
                head[12..16].copy_from_slice(&epoch.to_be_bytes());
                16
            }
            None => 8,
        };
        if let Err(error) = write_all_vectored(&self.file, &head[..head_len], &bytes[head_len..]) {
            // Cut the partial batch off; if even that fails the caller fails
            // the whole log.
            self.file
                .set_len(position)
                .and_then(|()| (&self.file).seek(SeekFrom::Start(position)).map(drop))
                .map_err(|error| LogError::io("cut back segment", &self.log_path, error))?;
            return Err(LogError::io("append to segment", &self.log_path, error));
        }
        let mut header = *batch.header();
        header.base_offset = base_offset as i64;
        if let Some(epoch) = leader_epoch {
            header.partition_leader_epoch = epoch;
        }
        let last_offset = header.last_offset() as u64;
        if position == 0 {
            self.first_batch_timestamp.store(header.max_timestamp, Ordering::Release);
        }
        self.size.store(position + bytes.len() as u64, Ordering::Release);
        self.next_offset.store(last_offset + 1, Ordering::Release);
        let mut indexes = self.indexes.write();
        indexes.on_batch(self.base_offset, position, &header, config.index_interval_bytes);
        self.max_timestamp.store(indexes.max_timestamp, Ordering::Release);
        Ok(())
    }

    /// Fsyncs the `.log`.
    pub(crate) fn sync(&self) -> io::Result<()> {
        #[cfg(test)]
        if self.fail_next_sync.swap(false, Ordering::AcqRel) {
            return Err(io::Error::other("injected fsync failure"));
        }
        self.file.sync_data()
    }

    /// Seals the segment when it stops being active: the final time index
    /// entry, indexes trimmed and synced, the `.log` synced.
    pub(crate) fn seal(&self) -> Result<(), LogError> {
        self.close_indexes()?;
        self.sync().map_err(|error| LogError::io("fsync segment", &self.log_path, error))
    }

    /// The index half of [`Segment::seal`], for a roll: the `.log` is
    /// fsynced later, off the append path.
    pub(crate) fn close_indexes(&self) -> Result<(), LogError> {
        let mut indexes = self.indexes.write();
        indexes.maybe_append_time_entry(self.base_offset);
        indexes.offset.trim()?;
        indexes.time.trim()
    }

    /// Position of the batch holding `offset` (the first batch whose last
    /// offset is at least `offset`), scanning from the index's floor entry;
    /// `None` when no batch below `end` holds it. Reads of the file take
    /// `read_ahead` bytes at a time.
    fn locate(
        &self,
        reader: &mut ChunkReader<'_>,
        offset: u64,
        start: u64,
        read_ahead: usize,
    ) -> Result<Option<(u64, BatchHeader)>, LogError> {
        let mut position = start;
        loop {
            match header_at(reader, position, read_ahead)? {
                HeaderAt::Batch(header) if header.last_offset() as u64 >= offset => {
                    return Ok(Some((position, header)))
                }
                HeaderAt::Batch(header) => position += header.total_bytes() as u64,
                HeaderAt::Torn if position == reader.end => return Ok(None),
                HeaderAt::Torn => {
                    return Err(
                        self.corrupt(position, BatchError::Truncated { needed: BATCH_HEADER_BYTES, available: 0 })
                    )
                }
                HeaderAt::Corrupt(error) => return Err(self.corrupt(position, error)),
            }
        }
    }

    fn corrupt(&self, position: u64, source: BatchError) -> LogError {
        LogError::Corrupt { path: self.log_path.clone(), position, source }
    }

    fn index_floor_position(&self, offset: u64) -> u64 {
        let relative = offset.saturating_sub(self.base_offset).min(u64::from(u32::MAX)) as i64;
        self.indexes.read().offset.floor(relative).map_or(0, |entry| u64::from(entry.position))
    }

    /// Whole batches from the one holding `offset`, at most `max_bytes`
    /// unless the first batch alone is larger (then exactly that batch),
    /// checked on the way out.
    /// Only batches starting below `upper_offset` are returned: the log
    /// passes its published end (or, later, a high watermark).
    pub(crate) fn read(
        &self,
        offset: u64,
        max_bytes: u32,
        interval_bytes: u32,
        upper_offset: u64,
        buffer: Vec<u8>,
    ) -> Result<SegmentRead, LogError> {
        // Index first, size second: an entry is published after the bytes
        // it points at, so the size read afterwards covers it.
        let start = self.index_floor_position(offset);
        let end = self.size();
        if start >= end {
            return Ok(SegmentRead::empty(buffer, offset));
        }
        let read_ahead = (max_bytes as usize).saturating_add(2 * interval_bytes as usize + BATCH_HEADER_BYTES);
        let mut reader = ChunkReader::with_buffer(&self.file, &self.log_path, end, buffer);
        // The first read covers the index entry's gap to the batch wanted
        // and the `max_bytes` after it: one read per call, sized by the
        // caller (a scan-sized read-ahead copied a megabyte for every
        // small fetch, and a 64 KiB poll ran at a sixth of the speed).
        let Some((first, header)) = self.locate(&mut reader, offset, start, read_ahead)? else {
            return Ok(SegmentRead::empty(reader.into_buffer(), offset));
        };
        if header.base_offset as u64 >= upper_offset {
            return Ok(SegmentRead::empty(reader.into_buffer(), offset));
        }
        let mut stop = first + header.total_bytes() as u64;
        while stop < end {
            let next = match header_at(&mut reader, stop, read_ahead)? {
                HeaderAt::Batch(header) => header,
                HeaderAt::Torn => break,
                HeaderAt::Corrupt(error) => return Err(self.corrupt(stop, error)),
            };
            if stop - first + next.total_bytes() as u64 > u64::from(max_bytes)
                || next.base_offset as u64 >= upper_offset
            {
                break;
            }
            stop += next.total_bytes() as u64;
        }
        let (buffer, from) = reader.take(first, (stop - first) as usize)?;
        let mut position = first;
        let mut next_offset = offset;
        for batch in Batches::new(&buffer[from..]) {
            match batch {
                Ok(batch) => {
                    position += batch.len() as u64;
                    next_offset = batch.next_offset();
                }
                Err(error) => return Err(self.corrupt(position, error)),
            }
        }
        Ok(SegmentRead { buffer, from, next_offset })
    }

    /// The first record with a timestamp at or after `timestamp_ms`, as
    /// (offset, timestamp); for a compressed batch, its base offset and max
    /// timestamp.
    pub(crate) fn find_timestamp(&self, timestamp_ms: i64) -> Result<Option<(u64, i64)>, LogError> {
        if self.max_timestamp() < timestamp_ms {
            return Ok(None);
        }
        let start_offset = {
            let indexes = self.indexes.read();
            indexes
                .time
                .floor_below(timestamp_ms)
                .map_or(self.base_offset, |e| self.base_offset + u64::from(e.relative_offset))
        };
        let start = self.index_floor_position(start_offset);
        let end = self.size();
        let mut reader = ChunkReader::new(&self.file, &self.log_path, end);
        let mut position = start;
        while position < end {
            let header = match header_at(&mut reader, position, SCAN_CHUNK_BYTES)? {
                HeaderAt::Batch(header) => header,
                HeaderAt::Torn => break,
                HeaderAt::Corrupt(error) => return Err(self.corrupt(position, error)),
            };
            if header.max_timestamp >= timestamp_ms {
                let bytes = reader.get(position, header.total_bytes(), SCAN_CHUNK_BYTES)?;
                let batch = Batch::new(bytes).map_err(|error| self.corrupt(position, error))?;
                let records = match batch.records() {
                    Ok(records) => records,
                    Err(BatchError::UnsupportedCompression { .. }) => {
                        return Ok(Some((batch.base_offset(), header.max_timestamp)));
                    }
                    Err(error) => return Err(self.corrupt(position, error)),
                };
                for record in records {
                    let record = record.map_err(|error| self.corrupt(position, error))?;
                    if record.timestamp >= timestamp_ms {
                        return Ok(Some((record.offset, record.timestamp)));
                    }
                }
            }
            position += header.total_bytes() as u64;
        }
        Ok(None)
    }

    /// Removes every batch whose last offset is at least `offset`; returns
    /// the bytes removed. The segment's next offset becomes the base offset
    /// of the first batch removed (whole batches only).
    pub(crate) fn truncate_to(&self, offset: u64) -> Result<u64, LogError> {
        let end = self.size();
        let start = self.index_floor_position(offset);
        let mut reader = ChunkReader::new(&self.file, &self.log_path, end);
        let Some((cut, header)) = self.locate(&mut reader, offset, start.min(end), SCAN_CHUNK_BYTES)? else {
            return Ok(0);
        };
        let new_next = (header.base_offset as u64).max(self.base_offset);
        self.file.set_len(cut).map_err(|error| LogError::io("truncate segment", &self.log_path, error))?;
        (&self.file).seek(SeekFrom::Start(cut)).map_err(|error| LogError::io("seek segment", &self.log_path, error))?;
        self.file.sync_all().map_err(|error| LogError::io("fsync segment", &self.log_path, error))?;
        self.size.store(cut, Ordering::Release);
        self.next_offset.store(new_next, Ordering::Release);
        if cut == 0 {
            self.first_batch_timestamp.store(NO_TIMESTAMP, Ordering::Release);
        }
        let mut indexes = self.indexes.write();
        indexes.offset.truncate_where(|entry| u64::from(entry.position) < cut);
        let base = self.base_offset;
        indexes.time.truncate_where(|entry| base + u64::from(entry.relative_offset) < new_next);
        // The largest timestamp left: the last time entry's, then whatever
        // the batches after it add.
        let (mut max_timestamp, mut max_offset) =
            indexes.time.last().map_or((NO_TIMESTAMP, base), |e| (e.timestamp, base + u64::from(e.relative_offset)));
        let from = indexes.offset.last().map_or(0, |e| u64::from(e.position));
        let mut reader = ChunkReader::new(&self.file, &self.log_path, cut);
        let mut position = if max_timestamp == NO_TIMESTAMP { 0 } else { from };
        while position < cut {
            let HeaderAt::Batch(header) = header_at(&mut reader, position, SCAN_CHUNK_BYTES)? else {
                return Err(self.corrupt(position, BatchError::Truncated { needed: BATCH_HEADER_BYTES, available: 0 }));
            };
            if header.max_timestamp > max_timestamp {
                (max_timestamp, max_offset) = (header.max_timestamp, header.last_offset() as u64);
            }
            position += header.total_bytes() as u64;
        }
        indexes.max_timestamp = max_timestamp;
        indexes.max_timestamp_offset = max_offset;
        indexes.bytes_since_entry = cut - from.min(cut);
        self.max_timestamp.store(max_timestamp, Ordering::Release);
        Ok(end - cut)
    }

    /// Calls `f` with every batch of the segment, in order, each checked
    /// (CRC included) on the way out: the cleaner's reads of a closed
    /// segment.
    pub(crate) fn for_each_batch(&self, mut f: impl FnMut(&Batch<'_>) -> Result<(), LogError>) -> Result<(), LogError> {
        let end = self.size();
        let mut reader = ChunkReader::new(&self.file, &self.log_path, end);
        let mut position = 0u64;
        while position < end {
            let header = match header_at(&mut reader, position, SCAN_CHUNK_BYTES)? {
                HeaderAt::Batch(header) => header,
                HeaderAt::Torn => {
                    let available = (end - position) as usize;
                    return Err(self.corrupt(position, BatchError::Truncated { needed: BATCH_HEADER_BYTES, available }));
                }
                HeaderAt::Corrupt(error) => return Err(self.corrupt(position, error)),
            };
            let bytes = reader.get(position, header.total_bytes(), SCAN_CHUNK_BYTES)?;
            let batch = Batch::new(bytes).map_err(|error| self.corrupt(position, error))?;
            f(&batch)?;
            position += header.total_bytes() as u64;
        }
        Ok(())
    }

    /// Deletes the segment's three files.
    pub(crate) fn delete_files(&self, dir: &Path) -> Result<(), LogError> {
        for extension in ["log", "index", "timeindex"] {
            let path = segment_path(dir, self.base_offset, extension);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                Err(error) => return Err(LogError::io("delete segment file", path, error)),
            }
        }
        Ok(())
    }

    /// File modification time in milliseconds, for retention of segments
    /// without timestamps.
    pub(crate) fn modified_ms(&self) -> Option<i64> {
        let modified = self.file.metadata().ok()?.modified().ok()?;
        let since = modified.duration_since(std::time::UNIX_EPOCH).ok()?;
        i64::try_from(since.as_millis()).ok()
    }
}

/// Bytes a [`SegmentWriter`] gathers before writing them out.
const WRITE_BUFFER_BYTES: usize = 1 << 20;

/// Writes a new closed segment (the cleaner's output) under temporary
/// names, `<base>.log.<suffix>` with its `.index.<suffix>` and
/// `.timeindex.<suffix>`, indexing it as appends would.
///
/// Dropping a writer without [`SegmentWriter::finish`] leaves whatever
/// reached the files, as a crash would; the caller deletes them.
#[derive(Debug)]
pub(crate) struct SegmentWriter {
    base_offset: u64,
    log_path: PathBuf,
    file: File,
    buffer: Vec<u8>,
    /// Bytes of the segment so far, written or buffered.
    position: u64,
    /// Offset after the last batch.
    next_offset: u64,
    indexes: Indexes,
    interval_bytes: u32,
}

impl SegmentWriter {
    pub(crate) fn create(
        dir: &Path,
        base_offset: u64,
        config: &LogConfig,
        suffix: &str,
    ) -> Result<SegmentWriter, LogError> {
        let log_path = segment_path(dir, base_offset, &format!("log.{suffix}"));
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&log_path)
            .map_err(|error| LogError::io("create segment", &log_path, error))?;
        let index_path = segment_path(dir, base_offset, &format!("index.{suffix}"));
        let time_path = segment_path(dir, base_offset, &format!("timeindex.{suffix}"));
        let indexes = Indexes {
            offset: MmapIndex::create(&index_path, config.segment_index_bytes)?,
            time: MmapIndex::create(&time_path, config.segment_index_bytes)?,
            bytes_since_entry: 0,
            max_timestamp: NO_TIMESTAMP,
            max_timestamp_offset: base_offset,
        };
        Ok(SegmentWriter {
            base_offset,
            log_path,
            file,
            buffer: Vec::new(),
            position: 0,
            next_offset: base_offset,
            indexes,
            interval_bytes: config.index_interval_bytes,
        })
    }

    /// Appends one whole, valid batch described by `header`.
    ///
    /// # Panics
    /// When the batch's offsets do not follow the previous batch's or do
    /// not fit the segment: the cleaner only removes, never reorders.
    pub(crate) fn append(&mut self, header: &BatchHeader, bytes: &[u8]) -> Result<(), LogError> {
        assert_eq!(header.total_bytes(), bytes.len(), "a whole batch");
        assert!(
            header.base_offset as u64 >= self.next_offset && fits_segment(self.base_offset, header),
            "batch at {} out of order in the segment at {}",
            header.base_offset,
            self.base_offset
        );
        self.indexes.on_batch(self.base_offset, self.position, header, self.interval_bytes);
        self.buffer.extend_from_slice(bytes);
        self.position += bytes.len() as u64;
        self.next_offset = header.last_offset() as u64 + 1;
        if self.buffer.len() >= WRITE_BUFFER_BYTES {
            self.write_buffer()?;
        }
        Ok(())
    }

    fn write_buffer(&mut self) -> Result<(), LogError> {
        self.file.write_all(&self.buffer).map_err(|error| LogError::io("write segment", &self.log_path, error))?;
        self.buffer.clear();
        Ok(())
    }

    /// Writes out the rest, seals the indexes (final time entry, trimmed,
    /// fsynced) and fsyncs the `.log`; returns the segment's bytes.
    pub(crate) fn finish(mut self) -> Result<u64, LogError> {
        self.write_buffer()?;
        self.file.sync_all().map_err(|error| LogError::io("fsync segment", &self.log_path, error))?;
        self.indexes.maybe_append_time_entry(self.base_offset);
        self.indexes.offset.trim()?;
        self.indexes.time.trim()?;
        Ok(self.position)
    }
}

/// The offset after the last whole batch of the `.log` file at `path` (a
/// cleaner's output being swapped in by recovery), or `base_offset` when
/// it holds none. Stops at the first torn or invalid header.
pub(crate) fn log_file_next_offset(path: &Path, base_offset: u64) -> Result<u64, LogError> {
    let file = File::open(path).map_err(|error| LogError::io("open segment", path, error))?;
    let len = file.metadata().map_err(|error| LogError::io("stat segment", path, error))?.len();
    let mut reader = ChunkReader::new(&file, path, len);
    let mut position = 0u64;
    let mut next = base_offset;
    while let HeaderAt::Batch(header) = header_at(&mut reader, position, SCAN_CHUNK_BYTES)? {
        next = next.max(header.last_offset() as u64 + 1);
        position += header.total_bytes() as u64;
    }
    Ok(next)
}

/// Whether a batch's offsets fit a segment with `segment_base`: relative
/// offsets are 32-bit, as in Kafka's index.
fn fits_segment(segment_base: u64, header: &BatchHeader) -> bool {
    let base = header.base_offset as u64;
    base >= segment_base && header.last_offset() as u64 - segment_base <= i32::MAX as u64
}

fn offset_index_is_sane(index: &MmapIndex<OffsetEntry>, file_len: u64) -> bool {
    let mut previous: Option<OffsetEntry> = None;
    for at in 0..index.len() {
        let entry = index.entry(at);
        if u64::from(entry.position) >= file_len {
            return false;
        }
        if let Some(previous) = previous {
            if entry.relative_offset <= previous.relative_offset || entry.position <= previous.position {
                return false;
            }
        }
        previous = Some(entry);
    }
    true
}

fn time_index_is_sane(index: &MmapIndex<TimeEntry>) -> bool {
    let mut previous: Option<TimeEntry> = None;
    for at in 0..index.len() {
        let entry = index.entry(at);
        if let Some(previous) = previous {
            if entry.timestamp <= previous.timestamp || entry.relative_offset < previous.relative_offset {
                return false;
            }
        }
        previous = Some(entry);
    }
    true
}

/// Writes `head` then `tail` with as few syscalls as the kernel allows.
fn write_all_vectored(mut file: &File, mut head: &[u8], mut tail: &[u8]) -> io::Result<()> {
    while !head.is_empty() {
        match file.write_vectored(&[IoSlice::new(head), IoSlice::new(tail)]) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "segment write returned 0")),
            Ok(written) if written < head.len() => head = &head[written..],
            Ok(written) => {
                tail = &tail[written - head.len()..];
                head = &[];
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    file.write_all(tail)
}
