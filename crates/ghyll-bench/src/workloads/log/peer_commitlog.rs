//! The peer: the `commitlog` crate 0.2, a segmented log with one index
//! entry per message, through its public API only.

use std::path::Path;
use std::time::{Duration, Instant};

use commitlog::message::{MessageBuf, MessageSet};
use commitlog::{CommitLog, LogOptions, ReadLimit};

use crate::error::BenchError;
use crate::payload::ValuePool;

/// Segment size given to commitlog: 1 GiB, ghyll-log's default
/// `segment.bytes`, in place of commitlog's own default of 10^9 bytes.
pub(in crate::workloads) const SEGMENT_BYTES: usize = 1 << 30;

/// commitlog's per-append limit (`LogOptions::message_max_bytes` default,
/// left as it is): it bounds the bytes of one `append` call's buffer.
pub(in crate::workloads) const APPEND_BYTES_MAX: usize = 1_000_000;

/// commitlog's per-message header: offset u64, size u32, CRC-32C u32,
/// reserved u16, metadata size u16.
pub(in crate::workloads) const MESSAGE_HEADER_BYTES: usize = commitlog::message::HEADER_SIZE;

/// commitlog's errors keep their cause behind the deprecated `cause()`, so
/// the harness prints their `Debug` form, which includes it.
pub(in crate::workloads) fn commitlog_error(what: String, error: impl std::fmt::Debug) -> BenchError {
    BenchError::new(format!("{what}: {error:?}"))
}

pub(in crate::workloads) fn open(dir: &Path) -> Result<CommitLog, BenchError> {
    let mut options = LogOptions::new(dir);
    options.segment_max_bytes(SEGMENT_BYTES);
    CommitLog::new(options).map_err(|error| commitlog_error(format!("opening commitlog in {}", dir.display()), error))
}

/// One message per record, built before the clock starts.
pub(super) fn build_message_bufs(pool: &ValuePool, batch_records: u32) -> Result<Vec<MessageBuf>, BenchError> {
    pool.batches(batch_records)
        .map(|range| {
            let mut buf = MessageBuf::default();
            for index in range {
                buf.push(pool.value(index))
                    .map_err(|error| commitlog_error(format!("framing record {index} for commitlog"), error))?;
            }
            Ok(buf)
        })
        .collect()
}

/// Bytes `bufs` take in a segment (commitlog stores messages as framed).
pub(super) fn stored_bytes(bufs: &[MessageBuf]) -> u64 {
    bufs.iter().map(|buf| buf.bytes().len() as u64).sum()
}

/// Appends every record with `append_msg` (one record per call: commitlog
/// frames the message inside the call, as its API requires).
pub(super) fn append_each(dir: &Path, pool: &ValuePool) -> Result<Duration, BenchError> {
    let mut log = open(dir)?;
    let started = Instant::now();
    for index in 0..pool.records() {
        log.append_msg(pool.value(index))
            .map_err(|error| commitlog_error(format!("commitlog append_msg of record {index}"), error))?;
    }
    let elapsed = started.elapsed();
    assert_eq!(log.next_offset(), pool.records(), "commitlog holds every record");
    Ok(elapsed)
}

/// Appends pre-built `bufs` with `append`, then reads the log back from
/// offset 0; returns the two timings. The append is not followed by
/// commitlog's `flush()`: segment writes already go straight to the file,
/// and `flush()` msyncs the index, which would be a sync for this system
/// alone.
pub(super) fn append_batches_then_read(
    dir: &Path,
    mut bufs: Vec<MessageBuf>,
    pool: &ValuePool,
    read_bytes: u32,
) -> Result<(Duration, Duration), BenchError> {
    let mut log = open(dir)?;
    let started = Instant::now();
    for buf in &mut bufs {
        log.append(buf).map_err(|error| commitlog_error("commitlog append of a batch".to_owned(), error))?;
    }
    let append_elapsed = started.elapsed();
    assert_eq!(log.next_offset(), pool.records(), "commitlog holds every record");
    drop(bufs);

    let started = Instant::now();
    let (records, value_bytes) = read_all(&log, read_bytes)?;
    let read_elapsed = started.elapsed();
    assert_eq!(records, pool.records(), "commitlog read returned every record");
    assert_eq!(value_bytes, pool.total_bytes(), "commitlog read returned every value byte");
    Ok((append_elapsed, read_elapsed))
}

/// Reads from offset 0 to the end in `read_bytes` chunks, visiting every
/// message; returns (messages, payload bytes).
pub(in crate::workloads) fn read_all(log: &CommitLog, read_bytes: u32) -> Result<(u64, u64), BenchError> {
    let end = log.next_offset();
    let limit = ReadLimit::max_bytes(usize::try_from(read_bytes).expect("u32 fits in usize"));
    let mut offset = 0;
    let mut records = 0;
    let mut value_bytes = 0;
    while offset < end {
        let messages = log
            .read(offset, limit)
            .map_err(|error| commitlog_error(format!("commitlog read at offset {offset}"), error))?;
        if messages.is_empty() {
            return Err(BenchError::new(format!("commitlog read nothing at offset {offset}, below its end {end}")));
        }
        for message in messages.iter() {
            if message.offset() != offset {
                return Err(BenchError::new(format!(
                    "commitlog returned offset {} where {offset} was next",
                    message.offset()
                )));
            }
            records += 1;
            value_bytes += message.payload().len() as u64;
            offset += 1;
        }
    }
    Ok((records, value_bytes))
}
