//! Proves that the log behaves as a `Vec` of records through crashes:
//! proptest drives random sequences of appends, durable appends, flushes,
//! reads, timestamp lookups, truncations, log start moves, retention, clean
//! reopens and simulated power cuts against a model that also tracks batch
//! and segment boundaries, and checks every answer against it.
//!
//! A power cut is simulated by dropping the `Log` without closing it, then
//! cutting the active segment's `.log` anywhere at or after the length it had
//! when everything was last known to be fsynced (older segments were synced
//! when they rolled), optionally flipping bytes in that unsynced tail and
//! deleting or garbling an index. After recovery the log must hold a prefix
//! of the model that keeps every record below the recovery point seen at the
//! last sync, and every read must return only the model's records. The
//! deterministic tests at the bottom pin crash shapes the search reaches only
//! rarely and check the recovery report for each.
//!
//! `PROPTEST_CASES=1000 cargo test -p ghyll-log --test model` searches
//! longer than the default 128 cases (about 4 s in debug).

use std::fs::{self, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use ghyll_log::{Batch, BatchBuilder, Header, Log, LogConfig, LogError, Record, RecoveryReport};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::FileFailurePersistence;

// ---------------------------------------------------------------------------
// Records

/// Bytes given by a length and a seed, so that failing cases print short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Payload {
    len: u16,
    seed: u8,
}

impl Payload {
    fn bytes(self) -> Vec<u8> {
        (0..self.len).map(|i| self.seed ^ (i as u8).wrapping_mul(31)).collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct RecordSpec {
    timestamp: i64,
    key: Option<Payload>,
    value: Option<Payload>,
    headers: Vec<(String, Option<Payload>)>,
}

fn encode(records: &[RecordSpec]) -> Vec<u8> {
    let mut builder = BatchBuilder::new();
    for record in records {
        let key = record.key.map(Payload::bytes);
        let value = record.value.map(Payload::bytes);
        let header_values: Vec<Option<Vec<u8>>> = record.headers.iter().map(|(_, v)| v.map(Payload::bytes)).collect();
        let headers: Vec<Header<'_>> = record
            .headers
            .iter()
            .zip(&header_values)
            .map(|((key, _), value)| Header { key, value: value.as_deref() })
            .collect();
        builder.push(record.timestamp, key.as_deref(), value.as_deref(), &headers).expect("a small record fits");
    }
    builder.finish().expect("at least one record")
}

/// One record whose batch is exactly `bytes` long, when one can be; else
/// the smallest batch.
fn filler(bytes: u64, timestamp: i64) -> Vec<RecordSpec> {
    let record = |key: Option<u16>, value: u16| RecordSpec {
        timestamp,
        key: key.map(|len| Payload { len, seed: 0xab }),
        value: Some(Payload { len: value, seed: 0xcd }),
        headers: Vec::new(),
    };
    let empty = encode(&[record(None, 0)]).len() as u64;
    let value = bytes.saturating_sub(empty);
    // A length's varint grows a byte at 64 and 8192; a key of 0..=2 bytes
    // fills the sizes a value length alone skips.
    for key in [None, Some(0), Some(1), Some(2)] {
        for value in value.saturating_sub(6)..=value {
            let candidate = [record(key, value as u16)];
            if encode(&candidate).len() as u64 == bytes {
                return candidate.to_vec();
            }
        }
    }
    vec![record(None, 0)]
}

fn assert_record_is(record: &Record<'_>, expected: &RecordSpec) {
    let at = record.offset;
    assert_eq!(record.timestamp, expected.timestamp, "timestamp of offset {at}");
    assert_eq!(record.key.map(<[u8]>::to_vec), expected.key.map(Payload::bytes), "key of offset {at}");
    assert_eq!(record.value.map(<[u8]>::to_vec), expected.value.map(Payload::bytes), "value of offset {at}");
    let headers: Vec<(String, Option<Vec<u8>>)> = record
        .headers
        .map(|header| {
            let header = header.unwrap_or_else(|error| panic!("header of offset {at}: {error}"));
            (header.key.to_string(), header.value.map(<[u8]>::to_vec))
        })
        .collect();
    let expected_headers: Vec<(String, Option<Vec<u8>>)> =
        expected.headers.iter().map(|(key, value)| (key.clone(), value.map(Payload::bytes))).collect();
    assert_eq!(headers, expected_headers, "headers of offset {at}");
}

// ---------------------------------------------------------------------------
// The model

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ModelBatch {
    base: u64,
    /// Offset after its last record.
    end: u64,
    bytes: u64,
    max_timestamp: i64,
}

impl ModelBatch {
    fn of(batch: &Batch<'_>) -> ModelBatch {
        ModelBatch {
            base: batch.base_offset(),
            end: batch.next_offset(),
            bytes: batch.len() as u64,
            max_timestamp: batch.header().max_timestamp,
        }
    }
}

/// What the log should hold: records by offset, and the batch and segment
/// boundaries that decide truncation, reads, rolls and retention.
#[derive(Debug)]
struct Model {
    config: LogConfig,
    /// Every record not truncated away, including those below the log
    /// start; the index is the offset.
    records: Vec<RecordSpec>,
    /// Batches of the segments still on disk, oldest first.
    batches: Vec<ModelBatch>,
    /// Base offsets of the segments on disk, oldest first.
    segments: Vec<u64>,
    log_start: u64,
    /// The log's recovery point when last seen: a power cut keeps every
    /// record below it.
    synced_offset: u64,
    /// Base and `.log` length of the active segment when everything was
    /// last known to be fsynced.
    synced_tail: (u64, u64),
}

impl Model {
    fn new(config: LogConfig) -> Model {
        Model {
            config,
            records: Vec::new(),
            batches: Vec::new(),
            segments: vec![0],
            log_start: 0,
            synced_offset: 0,
            synced_tail: (0, 0),
        }
    }

    fn log_end(&self) -> u64 {
        self.records.len() as u64
    }

    fn active(&self) -> usize {
        self.segments.len() - 1
    }

    fn active_base(&self) -> u64 {
        self.segments[self.active()]
    }

    /// Indexes into `batches` of segment `at`'s batches.
    fn segment_range(&self, at: usize) -> std::ops::Range<usize> {
        let low = self.segments[at];
        let high = self.segments.get(at + 1).copied().unwrap_or(u64::MAX);
        self.batches.partition_point(|b| b.base < low)..self.batches.partition_point(|b| b.base < high)
    }

    fn segment_bytes(&self, at: usize) -> u64 {
        self.batches[self.segment_range(at)].iter().map(|b| b.bytes).sum()
    }

    fn segment_next(&self, at: usize) -> u64 {
        self.batches[self.segment_range(at)].last().map_or(self.segments[at], |b| b.end)
    }

    /// Largest timestamp in the segment, or -1 (Kafka's "no timestamp").
    fn segment_max_timestamp(&self, at: usize) -> i64 {
        self.batches[self.segment_range(at)].iter().map(|b| b.max_timestamp).fold(-1, i64::max)
    }

    fn total_bytes(&self) -> u64 {
        (0..self.segments.len()).map(|at| self.segment_bytes(at)).sum()
    }

    fn batch_holding(&self, offset: u64) -> usize {
        let at = self.batches.partition_point(|b| b.end <= offset);
        assert!(at < self.batches.len() && self.batches[at].base <= offset, "model: no batch holds {offset}");
        at
    }

    /// The active segment's batches with their byte positions.
    fn active_layout(&self) -> Vec<(u64, ModelBatch)> {
        let mut position = 0;
        self.batches[self.segment_range(self.active())]
            .iter()
            .map(|batch| {
                let at = position;
                position += batch.bytes;
                (at, *batch)
            })
            .collect()
    }

    /// The offset after the active segment's batches that lie wholly in
    /// its first `bytes` bytes.
    fn active_end_within(&self, bytes: u64) -> u64 {
        self.active_layout()
            .iter()
            .take_while(|(position, batch)| position + batch.bytes <= bytes)
            .last()
            .map_or(self.active_base(), |(_, batch)| batch.end)
    }

    fn trim_to(&mut self, end: u64) {
        self.records.truncate(end as usize);
        self.batches.retain(|b| b.end <= end);
    }

    /// Drops the `count` oldest segments; returns their bytes.
    fn delete_oldest(&mut self, count: usize) -> u64 {
        let bytes = (0..count).map(|at| self.segment_bytes(at)).sum();
        self.segments.drain(..count);
        let first = self.segments[0];
        self.batches.retain(|b| b.base >= first);
        bytes
    }

    /// Closed segments wholly below the log start.
    fn deletable_below_start(&self) -> usize {
        (0..self.active()).take_while(|&at| self.segment_next(at) <= self.log_start).count()
    }

    /// Closed segments `apply_retention(now_ms)` deletes, oldest first.
    fn deletable_by_retention(&self, now_ms: i64) -> usize {
        let mut total = self.total_bytes();
        let mut count = 0;
        for at in 0..self.active() {
            let size = self.segment_bytes(at);
            // A segment without timestamps is judged by its file's mtime:
            // wall-clock now, far newer than the `now_ms` used here.
            let expired = self.config.retention_ms >= 0
                && match self.segment_max_timestamp(at) {
                    -1 => false,
                    newest => now_ms.saturating_sub(newest) > self.config.retention_ms,
                };
            let oversized = self.config.retention_bytes >= 0 && total - size >= self.config.retention_bytes as u64;
            let below_start = self.segment_next(at) <= self.log_start;
            if !(expired || oversized || below_start) {
                break;
            }
            total -= size;
            count += 1;
        }
        count
    }

    /// The batches `read(offset, max_bytes)` returns: the one holding
    /// `offset`, then whole batches of the same segment within the budget.
    fn expected_read(&self, offset: u64, max_bytes: u32) -> Vec<ModelBatch> {
        if offset == self.log_end() {
            return Vec::new();
        }
        let segment = self.segments.partition_point(|&base| base <= offset) - 1;
        let segment_end = self.segment_range(segment).end;
        let first = self.batch_holding(offset);
        let mut out = vec![self.batches[first]];
        let mut total = self.batches[first].bytes;
        for batch in &self.batches[first + 1..segment_end] {
            if total + batch.bytes > u64::from(max_bytes) {
                break;
            }
            total += batch.bytes;
            out.push(*batch);
        }
        out
    }

    /// The bytes of the first `count` batches `read(offset, ..)` returns
    /// with an unlimited budget (at least 1).
    fn bytes_of_batches(&self, offset: u64, count: usize) -> u32 {
        let bytes: u64 = self.expected_read(offset, u32::MAX).iter().take(count).map(|b| b.bytes).sum();
        bytes.max(1) as u32
    }

    /// What `offset_for_timestamp(timestamp)` answers: the first record at
    /// or after it in the first segment that has one, never below the log
    /// start.
    fn expected_offset_for_timestamp(&self, timestamp: i64) -> Option<(u64, i64)> {
        for at in 0..self.segments.len() {
            if self.segment_next(at) <= self.log_start {
                continue;
            }
            for batch in &self.batches[self.segment_range(at)] {
                for offset in batch.base..batch.end {
                    let found = self.records[offset as usize].timestamp;
                    if found >= timestamp {
                        return Some((offset.max(self.log_start), found));
                    }
                }
            }
        }
        None
    }
}

// ---------------------------------------------------------------------------
// File damage

fn segment_file(dir: &Path, base: u64, extension: &str) -> PathBuf {
    dir.join(format!("{base:020}.{extension}"))
}

fn file_len(path: &Path) -> u64 {
    fs::metadata(path).unwrap_or_else(|error| panic!("stat {}: {error}", path.display())).len()
}

fn cut_file(path: &Path, len: u64) {
    OpenOptions::new().write(true).open(path).unwrap().set_len(len).unwrap();
}

fn flip_byte(path: &Path, position: u64, mask: u8) {
    assert_ne!(mask, 0);
    let mut file = OpenOptions::new().read(true).write(true).open(path).unwrap();
    let mut byte = [0u8];
    file.seek(SeekFrom::Start(position)).unwrap();
    file.read_exact(&mut byte).unwrap();
    byte[0] ^= mask;
    file.seek(SeekFrom::Start(position)).unwrap();
    file.write_all(&byte).unwrap();
}

fn append_to_file(path: &Path, bytes: &[u8]) {
    OpenOptions::new().append(true).open(path).unwrap().write_all(bytes).unwrap();
}

fn remove_if_present(path: &Path) {
    if let Err(error) = fs::remove_file(path) {
        assert_eq!(error.kind(), std::io::ErrorKind::NotFound, "remove {}: {error}", path.display());
    }
}

// ---------------------------------------------------------------------------
// The harness: a real log, its model, and checks of one against the other

struct Harness {
    _dir: tempfile::TempDir,
    path: PathBuf,
    model: Model,
    log: Option<Log>,
}

impl Harness {
    fn new(config: LogConfig) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("topic-0");
        let log = Log::open(&path, config.clone()).unwrap();
        Harness { _dir: dir, path, model: Model::new(config), log: Some(log) }
    }

    fn log(&self) -> &Log {
        self.log.as_ref().expect("the log is open")
    }

    fn file(&self, base: u64, extension: &str) -> PathBuf {
        segment_file(&self.path, base, extension)
    }

    fn append(&mut self, records: &[RecordSpec], durable: bool) {
        let bytes = encode(records);
        let log = self.log.as_ref().expect("the log is open");
        let model = &mut self.model;
        let active = model.active();
        let rolls = !model.segment_range(active).is_empty()
            && model.segment_bytes(active) + bytes.len() as u64 > u64::from(model.config.segment_bytes);
        if rolls {
            model.segments.push(model.log_end());
        }
        let info = if durable { log.append_durable(&bytes) } else { log.append(&bytes) }
            .unwrap_or_else(|error| panic!("append: {error}"));
        let first = model.log_end();
        let count = records.len() as u64;
        let max_timestamp = records.iter().map(|r| r.timestamp).max().unwrap();
        assert_eq!(
            (info.first_offset, info.last_offset, info.record_count, info.max_timestamp),
            (first, first + count - 1, count as u32, max_timestamp),
            "append info"
        );
        model.batches.push(ModelBatch { base: first, end: first + count, bytes: bytes.len() as u64, max_timestamp });
        model.records.extend_from_slice(records);
        if durable {
            assert_eq!(log.recovery_point(), model.log_end(), "append_durable returned before its fsync");
        }
    }

    fn flush(&mut self) {
        self.log().flush().unwrap();
        assert_eq!(self.log().recovery_point(), self.model.log_end(), "flush left records unsynced");
    }

    fn flush_if_due(&mut self) {
        self.log().flush_if_due().unwrap();
        let active_base = self.model.active_base();
        assert!(self.log().recovery_point() >= active_base, "the flusher left a rolled segment unsynced");
    }

    fn check_batch(&self, batch: &Batch<'_>) {
        let records = batch.records().unwrap_or_else(|error| panic!("batch at {}: {error}", batch.base_offset()));
        let mut expected_offset = batch.base_offset();
        for record in records {
            let record = record.unwrap_or_else(|error| panic!("record of batch {}: {error}", batch.base_offset()));
            assert_eq!(record.offset, expected_offset, "offsets inside batch {}", batch.base_offset());
            let spec = self.model.records.get(record.offset as usize).unwrap_or_else(|| {
                panic!("read returned offset {} beyond the model's end {}", record.offset, self.model.log_end())
            });
            assert_record_is(&record, spec);
            expected_offset += 1;
        }
        assert_eq!(expected_offset, batch.next_offset(), "record count of batch {}", batch.base_offset());
    }

    /// Reads at `offset` and checks the batches against the model; returns
    /// the next offset.
    fn check_read(&self, offset: u64, max_bytes: u32) -> u64 {
        let expected = self.model.expected_read(offset, max_bytes);
        let read =
            self.log().read(offset, max_bytes).unwrap_or_else(|error| panic!("read({offset}, {max_bytes}): {error}"));
        let mut got = Vec::new();
        for batch in read.batches() {
            let batch = batch.unwrap_or_else(|error| panic!("read({offset}, {max_bytes}) gave a bad batch: {error}"));
            self.check_batch(&batch);
            got.push(ModelBatch::of(&batch));
        }
        assert_eq!(got, expected, "batches of read({offset}, {max_bytes})");
        if let Some(first) = got.first() {
            assert!(first.base <= offset && offset < first.end, "the first batch must hold {offset}");
        }
        let next = expected.last().map_or(offset, |b| b.end);
        assert_eq!(read.next_offset(), next, "next offset of read({offset}, {max_bytes})");
        // A reused buffer keeps its length and old bytes (a read does not
        // zero what it overwrites): none of them may show, whether the
        // buffer is shorter or longer than the read.
        let stale = vec![0xA5; (offset as usize).wrapping_mul(7919) % (1 << 17)];
        let reused = self
            .log()
            .read_into(offset, max_bytes, stale)
            .unwrap_or_else(|error| panic!("read_into({offset}, {max_bytes}): {error}"));
        assert_eq!(reused.as_bytes(), read.as_bytes(), "read_into({offset}, {max_bytes}) into a used buffer");
        assert_eq!(reused.next_offset(), next, "next offset of read_into({offset}, {max_bytes})");
        next
    }

    fn check_out_of_range(&self, offset: u64) {
        let (log_start, log_end) = (self.model.log_start, self.model.log_end());
        match self.log().read(offset, 4096) {
            Err(LogError::OffsetOutOfRange { offset: o, log_start: s, log_end: e }) => {
                assert_eq!((o, s, e), (offset, log_start, log_end));
            }
            other => panic!("read({offset}) outside [{log_start}, {log_end}] gave {other:?}"),
        }
    }

    fn check_offset_for_timestamp(&self, timestamp: i64) {
        let found = self.log().offset_for_timestamp(timestamp).unwrap();
        assert_eq!(
            found.map(|f| (f.offset, f.timestamp)),
            self.model.expected_offset_for_timestamp(timestamp),
            "offset_for_timestamp({timestamp})"
        );
    }

    /// Reads from the log start to the log end, a segment at a time.
    fn check_walk(&self) {
        let mut offset = self.model.log_start;
        loop {
            let next = self.check_read(offset, 1 << 16);
            if next == offset {
                assert_eq!(offset, self.model.log_end(), "a read below the log end returned nothing");
                break;
            }
            offset = next;
        }
    }

    /// Reads at every offset with a one-byte, an arbitrary and an exact
    /// two-batch budget (and one byte less), reads just outside the range,
    /// and looks up a few timestamps.
    fn check_every_offset(&self) {
        let (log_start, log_end) = (self.model.log_start, self.model.log_end());
        for offset in log_start..=log_end {
            self.check_read(offset, 1);
            self.check_read(offset, (offset * 613 % 5000) as u32);
            let two_batches = self.model.bytes_of_batches(offset, 2);
            self.check_read(offset, two_batches);
            self.check_read(offset, two_batches - 1);
        }
        if log_start > 0 {
            self.check_out_of_range(log_start - 1);
        }
        self.check_out_of_range(log_end + 1);
        for timestamp in [-1, 0, 5_000, 10_000, 19_999, 20_000] {
            self.check_offset_for_timestamp(timestamp);
        }
    }

    /// Checks the log's shape against the model and notes what is synced.
    fn after_op(&mut self) {
        let log = self.log.as_ref().expect("the log is open");
        let model = &mut self.model;
        assert_eq!(log.log_end_offset(), model.log_end(), "log end");
        assert_eq!(log.log_start_offset(), model.log_start, "log start");
        assert_eq!(log.segment_base_offsets(), model.segments, "segment base offsets");
        assert_eq!(log.size_bytes(), model.total_bytes(), "size in bytes");
        let active_base = model.active_base();
        let active_len = file_len(&segment_file(&self.path, active_base, "log"));
        assert_eq!(active_len, model.segment_bytes(model.active()), "active segment file length");
        let recovery_point = log.recovery_point();
        assert!(
            recovery_point <= model.log_end() && recovery_point >= model.synced_offset.min(model.log_end()),
            "recovery point {recovery_point} moved back (was {}, log end {})",
            model.synced_offset,
            model.log_end()
        );
        model.synced_offset = recovery_point;
        if recovery_point == model.log_end() {
            model.synced_tail = (active_base, active_len);
        }
        self.check_walk();
        // Each segment's newest timestamp, as the log tracks it through
        // appends, truncation and recovery, decides these lookups.
        for at in 0..self.model.segments.len() {
            let newest = self.model.segment_max_timestamp(at);
            self.check_offset_for_timestamp(newest);
            self.check_offset_for_timestamp(newest + 1);
        }
    }

    fn truncate(&mut self, offset: u64) {
        let log = self.log.as_ref().expect("the log is open");
        let model = &mut self.model;
        let result = log.truncate_to(offset);
        if offset < model.log_start {
            assert!(
                matches!(result, Err(LogError::OffsetOutOfRange { offset: o, .. }) if o == offset),
                "truncate_to({offset}) below the log start {} gave {result:?}",
                model.log_start
            );
            return;
        }
        let new_end = result.unwrap_or_else(|error| panic!("truncate_to({offset}): {error}"));
        if offset >= model.log_end() {
            assert_eq!(new_end, model.log_end(), "truncate_to({offset}) at or past the end");
            return;
        }
        let base = model.batches[model.batch_holding(offset)].base;
        assert_eq!(new_end, base, "truncate_to({offset}) removes the whole batch holding it");
        let keep = model.segments.partition_point(|&s| s < offset).max(1);
        model.segments.truncate(keep);
        model.trim_to(base);
        model.log_start = model.log_start.min(base);
    }

    fn advance_log_start(&mut self, offset: u64) {
        let log = self.log.as_ref().expect("the log is open");
        let model = &mut self.model;
        let result = log.advance_log_start(offset);
        if offset > model.log_end() {
            assert!(
                matches!(result, Err(LogError::OffsetOutOfRange { offset: o, .. }) if o == offset),
                "advance_log_start({offset}) past the end gave {result:?}"
            );
            return;
        }
        let report = result.unwrap_or_else(|error| panic!("advance_log_start({offset}): {error}"));
        model.log_start = model.log_start.max(offset);
        let count = model.deletable_below_start();
        let bytes = model.delete_oldest(count);
        assert_eq!(
            (report.segments_deleted, report.bytes_deleted, report.log_start_offset),
            (count, bytes, model.log_start),
            "advance_log_start({offset}) report"
        );
    }

    fn apply_retention(&mut self, now_ms: i64) {
        let log = self.log.as_ref().expect("the log is open");
        let model = &mut self.model;
        let count = model.deletable_by_retention(now_ms);
        let report = log.apply_retention(now_ms).unwrap_or_else(|error| panic!("apply_retention: {error}"));
        let mut bytes = 0;
        if count > 0 {
            model.log_start = model.log_start.max(model.segments[count]);
            bytes = model.delete_oldest(count);
        }
        assert_eq!(
            (report.segments_deleted, report.bytes_deleted, report.log_start_offset),
            (count, bytes, model.log_start),
            "apply_retention({now_ms}) report"
        );
    }

    /// Closes cleanly and reopens: nothing may be scanned or lost; only
    /// closed segments wholly below the log start may go (one is left when
    /// the log start reached the end of the active segment, which then
    /// rolled).
    fn reopen(&mut self) {
        let log = self.log.take().expect("the log is open");
        log.close().unwrap();
        assert!(matches!(log.read(self.model.log_start, 1), Err(LogError::Closed { .. })));
        drop(log);
        let log = Log::open(&self.path, self.model.config.clone()).unwrap();
        let report = log.recovery_report().clone();
        self.log = Some(log);
        assert!(report.clean_shutdown && !report.checkpoint_missing, "{report:?}");
        let deleted = self.model.deletable_below_start();
        self.model.delete_oldest(deleted);
        assert_eq!(
            (
                report.segments_scanned,
                report.indexes_rebuilt,
                report.bytes_truncated,
                report.segments_deleted,
                report.stray_files_removed,
                report.log_end_offset
            ),
            (0, 0, 0, deleted, 0, self.model.log_end()),
            "clean reopen: {report:?}"
        );
        self.after_op();
        self.check_every_offset();
    }

    /// Drops the log without closing it, as a crash would.
    fn kill(&mut self) {
        drop(self.log.take().expect("the log is open"));
    }

    /// The length of the active segment's `.log` that a power cut keeps.
    fn synced_active_len(&self) -> u64 {
        let (base, len) = self.model.synced_tail;
        if base == self.model.active_base() {
            len
        } else {
            0
        }
    }

    /// Opens the log after `kill` and whatever damage the caller did, checks
    /// it holds a prefix of the model with every synced record, and trims
    /// the model to it.
    fn recover(&mut self) -> RecoveryReport {
        assert!(self.log.is_none(), "kill the log first");
        let log = Log::open(&self.path, self.model.config.clone())
            .unwrap_or_else(|error| panic!("reopen after a crash: {error}"));
        let report = log.recovery_report().clone();
        let end = log.log_end_offset();
        let model = &mut self.model;
        assert!(!report.clean_shutdown, "{report:?}");
        assert_eq!(report.log_end_offset, end, "{report:?}");
        assert!(
            end >= model.synced_offset,
            "recovery lost synced records: log end {end} is below the recovery point {} seen at the last sync",
            model.synced_offset
        );
        assert!(end <= model.log_end(), "recovery invented offsets: log end {end}, model end {}", model.log_end());
        assert!(
            end >= model.active_base(),
            "older segments were synced, yet the log end {end} is below the active one"
        );
        assert!(
            end == model.active_base() || model.batches.iter().any(|b| b.end == end),
            "log end {end} is not a batch boundary"
        );
        model.trim_to(end);
        let start = if report.checkpoint_missing { model.segments[0] } else { model.log_start };
        model.log_start = start.max(model.segments[0]).min(end);
        let deleted = model.deletable_below_start();
        model.delete_oldest(deleted);
        assert_eq!(report.segments_deleted, deleted, "segments deleted by recovery: {report:?}");
        assert_eq!(log.recovery_point(), end, "recovery leaves everything synced");
        self.log = Some(log);
        self.after_op();
        self.check_every_offset();
        report
    }

    /// A simulated power cut (see the file's doc comment).
    fn crash(&mut self, crash: &Crash) {
        self.kill();
        let active = self.model.active();
        let path = self.file(self.model.active_base(), "log");
        let len = file_len(&path);
        assert_eq!(len, self.model.segment_bytes(active));
        let synced = self.synced_active_len();
        assert!(synced <= len, "model: synced length {synced} beyond the file's {len}");
        let cut = synced + crash.cut.index((len - synced + 1) as usize) as u64;
        cut_file(&path, cut);
        let mut damaged_from = cut;
        if cut > synced {
            for (at, mask) in &crash.flips {
                let position = synced + at.index((cut - synced) as usize) as u64;
                flip_byte(&path, position, *mask);
                damaged_from = damaged_from.min(position);
            }
        }
        if let Some(damage) = &crash.index_damage {
            let base = self.model.segments[damage.segment.index(self.model.segments.len())];
            let path = self.file(base, if damage.time_index { "timeindex" } else { "index" });
            match &damage.garbage {
                None => remove_if_present(&path),
                Some(bytes) => fs::write(&path, bytes).unwrap(),
            }
        }
        let intact_end = self.model.active_end_within(damaged_from);
        let cut_end = self.model.active_end_within(cut);
        let report = self.recover();
        let end = self.model.log_end();
        assert!(
            intact_end <= end && end <= cut_end,
            "after cutting at byte {cut} (damage from {damaged_from}) the log end {end} is outside [{intact_end}, {cut_end}]"
        );
        if damaged_from == cut {
            assert_eq!(end, cut_end, "only the torn batch may go");
        }
        let kept = self.model.segment_bytes(self.model.active());
        assert_eq!(report.bytes_truncated, cut - kept, "{report:?}");
        assert!(
            report.segments_scanned >= 1 && report.indexes_rebuilt >= 1,
            "the active segment is scanned: {report:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// The operations and the property

#[derive(Debug, Clone)]
struct IndexDamage {
    segment: Index,
    time_index: bool,
    /// New contents, or `None` to delete the file.
    garbage: Option<Vec<u8>>,
}

#[derive(Debug, Clone)]
struct Crash {
    /// Where to cut the active segment, between its synced length and its end.
    cut: Index,
    /// Bytes to flip (by xor with the mask) in the unsynced part left.
    flips: Vec<(Index, u8)>,
    index_damage: Option<IndexDamage>,
}

#[derive(Debug, Clone)]
enum Op {
    Append(Vec<RecordSpec>),
    AppendDurable(Vec<RecordSpec>),
    Flush,
    /// The background flusher's pass: syncs rolled segments.
    FlushIfDue,
    /// Read at an offset in `[log start, log end]`.
    Read {
        at: Index,
        budget: Budget,
    },
    ReadOutOfRange {
        below: bool,
        distance: u64,
    },
    FindTimestamp(i64),
    /// Truncate at an offset in `[log start, log end + 1]`, or below the start.
    Truncate {
        at: Index,
        below_start: bool,
    },
    AdvanceLogStart {
        at: Index,
        to: AdvanceTo,
    },
    ApplyRetention(Now),
    /// Close, set `retention.bytes` to the exact size of the newest
    /// segments from one on, reopen, and apply retention.
    RetainBytes {
        from_segment: Index,
    },
    /// Append one record sized to fill the active segment to exactly
    /// `segment.bytes`, or one byte past it.
    AppendFilling {
        past: bool,
        timestamp: i64,
    },
    Reopen,
    Crash(Crash),
}

/// A read's byte budget.
#[derive(Debug, Clone)]
enum Budget {
    Bytes(u32),
    /// Exactly the bytes of the first `count` batches the read would
    /// return, or one byte less.
    Batches {
        count: usize,
        less: bool,
    },
}

/// Where `advance_log_start` goes.
#[derive(Debug, Clone)]
enum AdvanceTo {
    /// An offset in `[0, log end + 1]`.
    Anywhere,
    LogEnd,
    /// A segment's next offset, or its last offset: the edges of deletion.
    SegmentEnd {
        last: bool,
    },
}

/// The `now_ms` given to `apply_retention`.
#[derive(Debug, Clone)]
enum Now {
    At(i64),
    /// Exactly when the oldest segment's newest record reaches
    /// `retention.ms`, or one millisecond later.
    Expiry {
        later: bool,
    },
}

#[derive(Debug, Clone)]
struct Setup {
    segment_bytes: u32,
    index_interval_bytes: u32,
    retention_bytes: i64,
    retention_ms: i64,
    flush_messages: u64,
}

impl Setup {
    fn config(&self) -> LogConfig {
        let mut config = LogConfig::default();
        config.segment_bytes = self.segment_bytes;
        config.index_interval_bytes = self.index_interval_bytes;
        config.retention_bytes = self.retention_bytes;
        config.retention_ms = self.retention_ms;
        config.flush_messages = self.flush_messages;
        config
    }
}

fn payload(len_max: u16) -> impl Strategy<Value = Payload> {
    (0..=len_max, any::<u8>()).prop_map(|(len, seed)| Payload { len, seed })
}

fn record_spec() -> impl Strategy<Value = RecordSpec> {
    (
        prop_oneof![1 => Just(-1i64), 9 => 0i64..20_000],
        proptest::option::weighted(0.8, payload(32)),
        proptest::option::weighted(0.9, prop_oneof![payload(20), payload(300)]),
        proptest::collection::vec(("[a-c]{0,3}", proptest::option::weighted(0.7, payload(16))), 0..3),
    )
        .prop_map(|(timestamp, key, value, headers)| RecordSpec { timestamp, key, value, headers })
}

fn crash() -> impl Strategy<Value = Crash> {
    let flips = prop_oneof![Just(Vec::new()), proptest::collection::vec((any::<Index>(), 1u8..=255), 1..3)];
    let damage = (any::<Index>(), any::<bool>(), proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64)))
        .prop_map(|(segment, time_index, garbage)| IndexDamage { segment, time_index, garbage });
    (any::<Index>(), flips, proptest::option::weighted(0.3, damage)).prop_map(|(cut, flips, index_damage)| Crash {
        cut,
        flips,
        index_damage,
    })
}

fn op() -> impl Strategy<Value = Op> {
    let records = || proptest::collection::vec(record_spec(), 1..=8);
    prop_oneof![
        8 => records().prop_map(Op::Append),
        3 => records().prop_map(Op::AppendDurable),
        1 => Just(Op::Flush),
        2 => Just(Op::FlushIfDue),
        3 => (any::<Index>(), budget()).prop_map(|(at, budget)| Op::Read { at, budget }),
        1 => (any::<bool>(), 1u64..4).prop_map(|(below, distance)| Op::ReadOutOfRange { below, distance }),
        1 => (-1i64..21_000).prop_map(Op::FindTimestamp),
        2 => (any::<Index>(), proptest::bool::weighted(0.1))
            .prop_map(|(at, below_start)| Op::Truncate { at, below_start }),
        2 => (
            any::<Index>(),
            prop_oneof![
                2 => Just(AdvanceTo::Anywhere),
                1 => Just(AdvanceTo::LogEnd),
                1 => any::<bool>().prop_map(|last| AdvanceTo::SegmentEnd { last }),
            ]
        )
            .prop_map(|(at, to)| Op::AdvanceLogStart { at, to }),
        3 => prop_oneof![
            1 => (0i64..40_000).prop_map(Now::At),
            2 => any::<bool>().prop_map(|later| Now::Expiry { later }),
        ]
        .prop_map(Op::ApplyRetention),
        1 => any::<Index>().prop_map(|from_segment| Op::RetainBytes { from_segment }),
        1 => (any::<bool>(), 0i64..20_000).prop_map(|(past, timestamp)| Op::AppendFilling { past, timestamp }),
        1 => Just(Op::Reopen),
        3 => crash().prop_map(Op::Crash),
    ]
}

fn budget() -> impl Strategy<Value = Budget> {
    prop_oneof![
        2 => (0u32..6000).prop_map(Budget::Bytes),
        1 => (1usize..=4, any::<bool>()).prop_map(|(count, less)| Budget::Batches { count, less }),
    ]
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        512u32..=4096,
        64u32..=512,
        prop_oneof![Just(-1i64), 512i64..8192],
        prop_oneof![Just(-1i64), 1_000i64..20_000],
        prop_oneof![3 => Just(u64::MAX), 1 => 1u64..30],
    )
        .prop_map(|(segment_bytes, index_interval_bytes, retention_bytes, retention_ms, flush_messages)| Setup {
            segment_bytes,
            index_interval_bytes,
            retention_bytes,
            retention_ms,
            flush_messages,
        })
}

impl Harness {
    fn apply(&mut self, op: &Op) {
        let (start, end) = (self.model.log_start, self.model.log_end());
        match op {
            Op::Append(records) => self.append(records, false),
            Op::AppendDurable(records) => self.append(records, true),
            Op::Flush => self.flush(),
            Op::FlushIfDue => self.flush_if_due(),
            Op::Read { at, budget } => {
                let offset = start + at.index((end - start + 1) as usize) as u64;
                let max_bytes = match *budget {
                    Budget::Bytes(bytes) => bytes,
                    Budget::Batches { count, less } => self.model.bytes_of_batches(offset, count) - u32::from(less),
                };
                self.check_read(offset, max_bytes);
            }
            Op::ReadOutOfRange { below, distance } => {
                let offset = if *below && start >= *distance { start - distance } else { end + distance };
                self.check_out_of_range(offset);
            }
            Op::FindTimestamp(timestamp) => self.check_offset_for_timestamp(*timestamp),
            Op::Truncate { at, below_start } => {
                let offset = if *below_start && start > 0 {
                    at.index(start as usize) as u64
                } else {
                    start + at.index((end - start + 2) as usize) as u64
                };
                self.truncate(offset);
            }
            Op::AdvanceLogStart { at, to } => {
                let offset = match to {
                    AdvanceTo::Anywhere => at.index(end as usize + 2) as u64,
                    AdvanceTo::LogEnd => end,
                    AdvanceTo::SegmentEnd { last } => {
                        let next = self.model.segment_next(at.index(self.model.segments.len()));
                        next.saturating_sub(u64::from(*last))
                    }
                };
                self.advance_log_start(offset);
            }
            Op::ApplyRetention(Now::At(now_ms)) => self.apply_retention(*now_ms),
            Op::ApplyRetention(Now::Expiry { later }) => {
                let newest = self.model.segment_max_timestamp(0);
                let retention_ms = self.model.config.retention_ms.max(0);
                self.apply_retention(newest.max(0) + retention_ms + i64::from(*later));
            }
            Op::RetainBytes { from_segment } => {
                let from = from_segment.index(self.model.segments.len());
                let bytes = (from..self.model.segments.len()).map(|at| self.model.segment_bytes(at)).sum::<u64>();
                self.model.config.retention_bytes = bytes as i64;
                self.reopen();
                // At time 0 nothing is old: only the size counts.
                self.apply_retention(0);
            }
            Op::AppendFilling { past, timestamp } => {
                let active = self.model.active();
                let room = u64::from(self.model.config.segment_bytes).saturating_sub(self.model.segment_bytes(active));
                let records = filler(room + u64::from(*past), *timestamp);
                self.append(&records, false);
            }
            Op::Reopen => self.reopen(),
            Op::Crash(crash) => self.crash(crash),
        }
        self.after_op();
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(128)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        // Failing seeds land in tests/model.proptest-regressions and are
        // replayed first on every run.
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_log_matches_a_vec_model_through_crashes(setup in setup(), ops in proptest::collection::vec(op(), 1..40)) {
        let mut harness = Harness::new(setup.config());
        for op in &ops {
            harness.apply(op);
        }
        harness.reopen();
    }
}

// ---------------------------------------------------------------------------
// Specific crash shapes

/// Segments of 1 KiB hold four of the batches below.
fn small_config() -> LogConfig {
    let mut config = LogConfig::default();
    config.segment_bytes = 1024;
    config.index_interval_bytes = 128;
    config
}

/// Three records of about 60 bytes each.
fn batch_records(seed: u8) -> Vec<RecordSpec> {
    (0..3u8)
        .map(|i| RecordSpec {
            timestamp: 1_000 * i64::from(seed) + i64::from(i),
            key: Some(Payload { len: 8, seed: seed.wrapping_add(i) }),
            value: Some(Payload { len: 40, seed: seed.wrapping_mul(7).wrapping_add(i) }),
            headers: vec![("h".to_string(), Some(Payload { len: 4, seed: i }))],
        })
        .collect()
}

/// Eleven batches in three segments; the closed segments are synced (by
/// the flusher, as the broker's runs it), the active segment's three
/// batches are not.
fn log_with_unsynced_tail() -> Harness {
    let mut harness = Harness::new(small_config());
    for seed in 0..11 {
        harness.append(&batch_records(seed), seed == 0);
        harness.after_op();
    }
    harness.log().flush_if_due().unwrap();
    harness.after_op();
    assert_eq!(harness.model.segments.len(), 3, "{:?}", harness.model.segments);
    assert_eq!(harness.model.active_layout().len(), 3);
    assert_eq!(harness.synced_active_len(), 0, "the active segment must be unsynced");
    harness
}

#[test]
fn a_torn_last_batch_is_cut_and_everything_before_it_kept() {
    let mut harness = log_with_unsynced_tail();
    let (position, last) = *harness.model.active_layout().last().unwrap();
    let path = harness.file(harness.model.active_base(), "log");
    harness.kill();
    let cut = position + last.bytes / 2;
    cut_file(&path, cut);
    let report = harness.recover();
    assert_eq!(harness.log().log_end_offset(), last.base);
    assert_eq!(report.bytes_truncated, cut - position, "{report:?}");
    assert_eq!((report.segments_scanned, report.indexes_rebuilt, report.segments_deleted), (1, 1, 0), "{report:?}");
    assert!(!report.checkpoint_missing);
    // The log takes appends again, from the torn batch's offset.
    harness.append(&batch_records(50), false);
    harness.after_op();
    assert_eq!(harness.model.batches.last().unwrap().base, last.base);
}

#[test]
fn a_flipped_byte_in_a_batch_is_caught_by_its_crc() {
    for victim in [2, 1] {
        let mut harness = log_with_unsynced_tail();
        let layout = harness.model.active_layout();
        let (position, batch) = layout[victim];
        let path = harness.file(harness.model.active_base(), "log");
        let len = file_len(&path);
        harness.kill();
        // Near the end of the batch: inside its records, which only the
        // CRC covers.
        flip_byte(&path, position + batch.bytes - 3, 0x40);
        let report = harness.recover();
        assert_eq!(harness.log().log_end_offset(), batch.base, "victim {victim}");
        assert_eq!(report.bytes_truncated, len - position, "victim {victim}: {report:?}");
        assert_eq!(report.segments_scanned, 1, "{report:?}");
    }
}

#[test]
fn garbage_after_the_last_batch_is_cut() {
    /// Makes the garbage from the last batch's bytes.
    type Garbage = fn(&[u8]) -> Vec<u8>;
    let shapes: [(&str, Garbage); 4] = [
        ("zeros, as a power cut leaves an extended file", |_| vec![0; 700]),
        ("random bytes", |_| (0..333u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()),
        ("a second copy of the last batch", |last| last.to_vec()),
        ("the first half of a copy of the last batch", |last| last[..last.len() / 2].to_vec()),
    ];
    for (shape, garbage) in shapes {
        let mut harness = log_with_unsynced_tail();
        let (position, last) = *harness.model.active_layout().last().unwrap();
        let path = harness.file(harness.model.active_base(), "log");
        harness.kill();
        let bytes = fs::read(&path).unwrap();
        let garbage = garbage(&bytes[position as usize..(position + last.bytes) as usize]);
        append_to_file(&path, &garbage);
        let report = harness.recover();
        assert_eq!(harness.log().log_end_offset(), last.end, "{shape}");
        assert_eq!(report.bytes_truncated, garbage.len() as u64, "{shape}: {report:?}");
        assert_eq!(file_len(&path), bytes.len() as u64, "{shape}");
    }
}

/// A log of four segments, closed cleanly.
fn closed_log() -> Harness {
    let mut harness = Harness::new(small_config());
    for seed in 0..14 {
        harness.append(&batch_records(seed), false);
        harness.after_op();
    }
    assert_eq!(harness.model.segments.len(), 4);
    harness.close_log();
    harness
}

impl Harness {
    /// Closes the log cleanly and drops it.
    fn close_log(&mut self) {
        let log = self.log.take().expect("the log is open");
        log.close().unwrap();
    }

    /// Reopens after a clean close and whatever damage the caller did to
    /// indexes: nothing of the log may change.
    fn reopen_after_index_damage(&mut self) -> RecoveryReport {
        let log = Log::open(&self.path, self.model.config.clone()).unwrap();
        let report = log.recovery_report().clone();
        self.log = Some(log);
        assert!(report.clean_shutdown, "{report:?}");
        assert_eq!((report.bytes_truncated, report.segments_deleted), (0, 0), "{report:?}");
        self.after_op();
        self.check_every_offset();
        report
    }
}

#[test]
fn a_deleted_index_is_rebuilt() {
    for (segment, extension) in [(0, "index"), (1, "timeindex"), (3, "index"), (2, "index")] {
        let mut harness = closed_log();
        let base = harness.model.segments[segment];
        let path = harness.file(base, extension);
        let trimmed_len = file_len(&path);
        fs::remove_file(&path).unwrap();
        let report = harness.reopen_after_index_damage();
        assert_eq!((report.segments_scanned, report.indexes_rebuilt), (1, 1), "{base}.{extension}: {report:?}");
        let is_active = segment == harness.model.active();
        if !is_active {
            assert_eq!(file_len(&path), trimmed_len, "{base}.{extension} rebuilt to its old entries");
        }
        // The log goes on: appends, and a clean reopen trusts the rebuilt index.
        harness.append(&batch_records(70), false);
        harness.after_op();
        harness.reopen();
    }
}

#[test]
fn an_index_replaced_by_random_bytes_is_rebuilt() {
    let entry = |relative_offset: u32, position: u32| {
        let mut bytes = relative_offset.to_be_bytes().to_vec();
        bytes.extend_from_slice(&position.to_be_bytes());
        bytes
    };
    let time_entry = |timestamp: i64, relative_offset: u32| {
        let mut bytes = timestamp.to_be_bytes().to_vec();
        bytes.extend_from_slice(&relative_offset.to_be_bytes());
        bytes
    };
    let shapes: Vec<(&str, Vec<u8>)> = vec![
        ("index", vec![0xa5; 13]),
        ("index", vec![0xff; 16]),
        ("index", [entry(6, 400), entry(3, 200)].concat()),
        ("index", [entry(3, 200), entry(6, 100_000)].concat()),
        ("index", (0..64u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect()),
        ("timeindex", vec![0x5a; 25]),
        ("timeindex", [time_entry(5_000, 3), time_entry(4_000, 6)].concat()),
        ("timeindex", [time_entry(1_000, 0), time_entry(2_000, 1_000)].concat()),
    ];
    for (extension, garbage) in shapes {
        let mut harness = closed_log();
        let base = harness.model.segments[1];
        let path = harness.file(base, extension);
        fs::write(&path, &garbage).unwrap();
        let report = harness.reopen_after_index_damage();
        assert_eq!((report.segments_scanned, report.indexes_rebuilt), (1, 1), "{extension} {garbage:x?}: {report:?}");
    }
}

#[test]
fn a_garbled_checkpoint_makes_recovery_scan_everything() {
    let mut harness = Harness::new(small_config());
    for seed in 0..14 {
        harness.append(&batch_records(seed), seed % 5 == 0);
        harness.after_op();
    }
    // Inside the second segment: the first is deleted, the second stays.
    let start = harness.model.segments[1] + 4;
    harness.advance_log_start(start);
    harness.after_op();
    assert_eq!(harness.model.segments.len(), 3);
    harness.kill();
    let checkpoint = harness.path.join("recovery-point.checkpoint");
    flip_byte(&checkpoint, 14, 0x01);
    // A temporary checkpoint left by a crash mid-write, and an index whose
    // segment is gone: both stray.
    fs::write(harness.path.join("recovery-point.checkpoint.tmp"), b"half").unwrap();
    fs::write(harness.file(99_999, "index"), [0u8; 16]).unwrap();
    let report = harness.recover();
    assert!(report.checkpoint_missing, "{report:?}");
    assert_eq!(
        (report.segments_scanned, report.indexes_rebuilt, report.bytes_truncated, report.stray_files_removed),
        (3, 3, 0, 2),
        "{report:?}"
    );
    assert_eq!(harness.model.log_end(), 14 * 3, "nothing was lost");
    // Without the checkpoint the log start falls back to the first segment.
    assert_eq!(harness.log().log_start_offset(), harness.model.segments[0]);
    assert!(!harness.path.join("recovery-point.checkpoint.tmp").exists());
    assert!(!harness.file(99_999, "index").exists());
    // The checkpoint is whole again: the next clean reopen trusts it.
    harness.reopen();
}

#[test]
fn a_crash_after_a_roll_leaves_an_empty_segment_that_takes_appends() {
    // What the crash kept of the new segment: an empty .log with its
    // indexes, an empty .log alone, or nothing.
    for kept in ["log and indexes", "log", "nothing"] {
        let mut harness = Harness::new(small_config());
        let mut seed = 0;
        while harness.model.segments.len() < 3 {
            harness.append(&batch_records(seed), false);
            harness.after_op();
            seed += 1;
        }
        let new_base = harness.model.active_base();
        // A roll leaves the closed segment's fsync to the flusher.
        harness.log().flush_if_due().unwrap();
        harness.after_op();
        assert_eq!(harness.model.synced_offset, new_base, "the flusher syncs the segment a roll closed");
        harness.kill();
        match kept {
            "log and indexes" => cut_file(&harness.file(new_base, "log"), 0),
            "log" => {
                cut_file(&harness.file(new_base, "log"), 0);
                fs::remove_file(harness.file(new_base, "index")).unwrap();
                fs::remove_file(harness.file(new_base, "timeindex")).unwrap();
            }
            _ => {
                for extension in ["log", "index", "timeindex"] {
                    fs::remove_file(harness.file(new_base, extension)).unwrap();
                }
                harness.model.segments.pop();
            }
        }
        let report = harness.recover();
        assert_eq!(harness.log().log_end_offset(), new_base, "{kept}");
        assert_eq!((report.bytes_truncated, report.segments_deleted), (0, 0), "{kept}: {report:?}");
        assert_eq!(report.segments_scanned, 1, "{kept}: only the segment at the recovery point: {report:?}");
        // The empty segment takes the next batch without rolling again.
        harness.append(&batch_records(80), true);
        harness.after_op();
        assert_eq!(harness.model.batches.last().unwrap().base, new_base);
        harness.reopen();
    }
}

#[test]
fn a_damaged_base_offset_in_the_unsynced_tail_is_cut() {
    // baseOffset is outside the CRC, so the CRC cannot catch damage to it;
    // offsets are dense, so a batch that does not start where the one
    // before it ended is damage all the same.
    let mut harness = Harness::new(small_config());
    harness.append(&batch_records(0), true);
    harness.append(&batch_records(1), false);
    harness.after_op();
    let (position, second) = harness.model.active_layout()[1];
    let path = harness.file(0, "log");
    harness.kill();
    // Offset 3 becomes 3 + 2^24.
    flip_byte(&path, position + 4, 0x01);
    let report = harness.recover();
    assert_eq!(harness.log().log_end_offset(), second.base);
    assert_eq!(report.bytes_truncated, second.bytes, "{report:?}");
}

#[test]
fn an_emptied_time_index_does_not_hide_a_segments_newest_timestamp() {
    // A zero-length .timeindex passes for a trimmed index with no entries.
    // Opening a clean segment then takes its newest timestamp from the
    // batches after the last offset index entry only, but segment 0's
    // newest timestamp is in its first batch.
    let mut config = small_config();
    config.retention_ms = 5_000;
    let mut harness = Harness::new(config);
    for (seed, timestamp) in [(0, 9_000), (1, 1_000), (2, 1_000), (3, 1_000), (4, 1_000)] {
        let records: Vec<RecordSpec> =
            batch_records(seed).into_iter().map(|record| RecordSpec { timestamp, ..record }).collect();
        harness.append(&records, false);
        harness.after_op();
    }
    assert_eq!(harness.model.segments, [0, 12]);
    harness.close_log();
    fs::write(harness.file(0, "timeindex"), b"").unwrap();
    harness.log = Some(Log::open(&harness.path, harness.model.config.clone()).unwrap());
    // Segment 0 holds a record from 9_000: at 12_000 it is 3_000 ms old,
    // within retention.ms, and must stay.
    harness.apply_retention(12_000);
    harness.after_op();
    harness.check_offset_for_timestamp(5_000);
}
