//! Body of the `log_recovery` fuzz target, shared word for word with the
//! regression test that replays kept inputs
//! (crates/ghyll-log/tests/fuzz_regressions.rs includes this file).
//!
//! The input is split by [`split`] into a segment's `.log`, `.index` and
//! `.timeindex`, written into a fresh partition directory as segment 0, and
//! opened with `Log::open`. If the input's last byte is odd the `.log`'s
//! batches get correct CRCs first ([`reseal_batches`]), so that half the runs
//! explore recovery past the CRC check. Recovery must not panic, must succeed (damaged
//! files are repaired, not reported), must leave only valid batches between
//! the log start and end, and must be idempotent: closing and reopening
//! gives the same offsets and bytes.

#[path = "reseal.rs"]
mod reseal;
pub use reseal::reseal_batches;

use std::fs;

use ghyll_log::{Batch, Batches, Log, LogConfig};

/// Largest read asked of the log.
const READ_BYTES_MAX: u32 = 1 << 20;

/// Splits a fuzz input into the `.log`, `.index` and `.timeindex` contents:
/// bytes 0..2 are the `.log` length and bytes 2..4 the `.index` length (u16
/// big-endian, cut to what is there); the rest is the `.timeindex`. A
/// shorter input is read as if padded with zeros.
pub fn split(data: &[u8]) -> [&[u8]; 3] {
    let (prefix, rest) = data.split_at(data.len().min(4));
    let mut lengths = [0u8; 4];
    lengths[..prefix.len()].copy_from_slice(prefix);
    let log_len = usize::from(u16::from_be_bytes([lengths[0], lengths[1]])).min(rest.len());
    let (log, rest) = rest.split_at(log_len);
    let index_len = usize::from(u16::from_be_bytes([lengths[2], lengths[3]])).min(rest.len());
    let (index, time_index) = rest.split_at(index_len);
    [log, index, time_index]
}

/// Recovers a log made of the input's three files and checks the result.
///
/// # Panics
/// When recovery panics, fails, or leaves a log that breaks the promises
/// above.
pub fn run(data: &[u8]) {
    let [log_bytes, index_bytes, time_index_bytes] = split(data);
    let mut log_bytes = log_bytes.to_vec();
    if data.last().is_some_and(|byte| byte & 1 == 1) {
        reseal_batches(&mut log_bytes);
    }
    let root = tempfile::tempdir().expect("create a temporary directory");
    let dir = root.path().join("fuzz-0");
    fs::create_dir(&dir).expect("create the partition directory");
    fs::write(dir.join("00000000000000000000.log"), &log_bytes).expect("write .log");
    fs::write(dir.join("00000000000000000000.index"), index_bytes).expect("write .index");
    fs::write(dir.join("00000000000000000000.timeindex"), time_index_bytes).expect("write .timeindex");

    let log = Log::open(&dir, LogConfig::default()).unwrap_or_else(|error| panic!("recovery failed: {error}"));
    let (start, end) = (log.log_start_offset(), log.log_end_offset());
    let contents = read_all(&log);
    log.close().unwrap_or_else(|error| panic!("close after recovery failed: {error}"));
    drop(log);

    let log = Log::open(&dir, LogConfig::default()).unwrap_or_else(|error| panic!("second open failed: {error}"));
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (start, end), "recovery is not idempotent");
    assert_eq!(read_all(&log), contents, "reopening changed the log's bytes");
}

/// Reads every batch from the log start to the log end, checking each.
fn read_all(log: &Log) -> Vec<u8> {
    let (start, end) = (log.log_start_offset(), log.log_end_offset());
    assert!(start <= end, "log start {start} is after log end {end}");
    let mut contents = Vec::new();
    let mut offset = start;
    while offset < end {
        let read = log.read(offset, READ_BYTES_MAX).unwrap_or_else(|error| panic!("read at {offset}: {error}"));
        assert!(!read.is_empty(), "read at {offset} below the log end {end} returned nothing");
        let mut next = offset;
        // Checked from the raw bytes with a fresh CRC check, not through the
        // log's own iterator (which trusts the CRC check made on reading).
        assert_eq!(Batches::new(read.as_bytes()).count(), read.batches().count());
        for (i, batch) in Batches::new(read.as_bytes()).enumerate() {
            let batch = batch.unwrap_or_else(|error| panic!("read at {offset} returned an invalid batch: {error}"));
            if i == 0 {
                assert!(batch.last_offset() >= offset, "the first batch read at {offset} ends before it");
            } else {
                assert!(batch.base_offset() >= next, "batches read at {offset} go backwards");
            }
            check_records(batch);
            next = batch.next_offset();
        }
        assert_eq!(read.next_offset(), next, "next_offset is not the end of the last batch");
        assert!(next > offset && next <= end, "read at {offset} moved to {next} (log end {end})");
        contents.extend_from_slice(read.as_bytes());
        offset = next;
    }
    assert!(log.read(end, READ_BYTES_MAX).expect("read at the log end").is_empty());
    contents
}

/// Every record of an uncompressed batch decodes. Compressed batches are kept
/// by the log (Kafka's clients write them) but ghyll cannot iterate them, so
/// only their header and CRC were checked.
fn check_records(batch: Batch<'_>) {
    let Ok(records) = batch.records() else { return };
    for record in records {
        record.unwrap_or_else(|error| panic!("batch at {} holds an invalid record: {error}", batch.base_offset()));
    }
}
