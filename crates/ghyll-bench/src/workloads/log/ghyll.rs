//! ghyll-log: batches encoded with `BatchBuilder`, appended with
//! `Log::append` (no fsync), read back with `Log::read`.

use std::path::Path;
use std::time::{Duration, Instant};

use ghyll_log::{BatchBuilder, Log, LogConfig};

use crate::error::{BenchError, Context};
use crate::payload::ValuePool;

/// The partition directory inside each system's temp dir.
const PARTITION_DIR: &str = "bench-0";

/// Encodes the records `range` of `pool` as one batch: no key, no headers,
/// the pool's timestamps.
fn encode_batch(pool: &ValuePool, range: std::ops::Range<u64>) -> Result<Vec<u8>, BenchError> {
    let mut builder = BatchBuilder::new();
    for index in range.clone() {
        builder
            .push(pool.timestamp_ms(index), None, Some(pool.value(index)), &[])
            .context(|| format!("adding record {index} to a ghyll batch"))?;
    }
    builder.finish().context(|| format!("encoding records {range:?} as a ghyll batch"))
}

/// Every record of `pool` in batches of `batch_records`, encoded before the
/// clock starts; the raw-file system writes these same bytes.
pub(super) fn encode_batches(pool: &ValuePool, batch_records: u32) -> Result<Vec<Vec<u8>>, BenchError> {
    pool.batches(batch_records).map(|range| encode_batch(pool, range)).collect()
}

fn open(dir: &Path) -> Result<Log, BenchError> {
    let path = dir.join(PARTITION_DIR);
    Log::open(&path, LogConfig::default()).context(|| format!("opening ghyll-log in {}", path.display()))
}

/// Appends the pre-encoded `batches`, then reads the log back from offset
/// 0; returns the two timings.
pub(super) fn append_then_read(
    dir: &Path,
    batches: &[Vec<u8>],
    pool: &ValuePool,
    read_bytes: u32,
) -> Result<(Duration, Duration), BenchError> {
    let log = open(dir)?;
    let started = Instant::now();
    for batch in batches {
        log.append(batch).context(|| format!("ghyll append at log end {}", log.log_end_offset()))?;
    }
    let append_elapsed = started.elapsed();
    assert_eq!(log.log_end_offset(), pool.records(), "ghyll-log holds every record");

    let started = Instant::now();
    let (records, value_bytes) = read_all(&log, read_bytes)?;
    let read_elapsed = started.elapsed();
    assert_eq!(records, pool.records(), "ghyll read returned every record");
    assert_eq!(value_bytes, pool.total_bytes(), "ghyll read returned every value byte");

    log.close().context(|| "closing ghyll-log")?;
    Ok((append_elapsed, read_elapsed))
}

/// Encodes and appends batch by batch, both inside the timed region.
pub(super) fn encode_and_append(dir: &Path, pool: &ValuePool, batch_records: u32) -> Result<Duration, BenchError> {
    let log = open(dir)?;
    let started = Instant::now();
    for range in pool.batches(batch_records) {
        let batch = encode_batch(pool, range)?;
        log.append(&batch).context(|| format!("ghyll append at log end {}", log.log_end_offset()))?;
    }
    let elapsed = started.elapsed();
    assert_eq!(log.log_end_offset(), pool.records(), "ghyll-log holds every record");
    log.close().context(|| "closing ghyll-log")?;
    Ok(elapsed)
}

/// Reads from offset 0 to the log end in `read_bytes` chunks, decoding
/// every record of every batch; returns (records, key + value bytes).
fn read_all(log: &Log, read_bytes: u32) -> Result<(u64, u64), BenchError> {
    let end = log.log_end_offset();
    let mut offset = 0;
    let mut records = 0;
    let mut value_bytes = 0;
    while offset < end {
        let read = log.read(offset, read_bytes).context(|| format!("ghyll read at offset {offset}"))?;
        if read.is_empty() {
            return Err(BenchError::new(format!("ghyll read nothing at offset {offset}, below its log end {end}")));
        }
        for batch in read.batches() {
            let batch = batch.context(|| format!("ghyll batch read at offset {offset}"))?;
            for record in batch.records().context(|| format!("ghyll batch at offset {}", batch.base_offset()))? {
                let record = record.context(|| format!("ghyll record after offset {offset}"))?;
                if record.offset != records {
                    return Err(BenchError::new(format!(
                        "ghyll returned offset {} where {records} was next",
                        record.offset
                    )));
                }
                records += 1;
                value_bytes += (record.key.map_or(0, <[u8]>::len) + record.value.map_or(0, <[u8]>::len)) as u64;
            }
        }
        let next_offset = read.next_offset();
        assert!(next_offset > offset, "a read that returned batches moves the offset forward");
        offset = next_offset;
    }
    Ok((records, value_bytes))
}
