//! Helpers shared by the integration tests.
#![allow(dead_code)]

use ghyll_log::{BatchBuilder, Log, ReadBatches};

/// A batch of `count` records with values `"{prefix}-{i}"`, keys `k{i}` and
/// timestamps `timestamp + i`.
pub fn batch(prefix: &str, count: usize, timestamp: i64) -> Vec<u8> {
    let mut builder = BatchBuilder::new();
    for i in 0..count {
        let key = format!("k{i}");
        let value = format!("{prefix}-{i}");
        builder.push(timestamp + i as i64, Some(key.as_bytes()), Some(value.as_bytes()), &[]).unwrap();
    }
    builder.finish().unwrap()
}

/// Every (offset, value) from `from` to the log end.
pub fn read_all(log: &Log, from: u64) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    let mut offset = from;
    while offset < log.log_end_offset() {
        let read: ReadBatches = log.read(offset, 64 * 1024).unwrap();
        assert!(!read.is_empty(), "read at {offset} below the log end returned nothing");
        for batch in read.batches() {
            for record in batch.unwrap().records().unwrap() {
                let record = record.unwrap();
                if record.offset >= offset {
                    out.push((record.offset, String::from_utf8(record.value.unwrap().to_vec()).unwrap()));
                }
            }
        }
        assert!(read.next_offset() > offset);
        offset = read.next_offset();
    }
    out
}

/// One record as the compaction tests see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedRecord {
    pub offset: u64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub timestamp: i64,
}

/// A batch of `(key, value, timestamp)` records (value `None` is a
/// tombstone).
pub fn keyed_batch(records: &[(&str, Option<&str>, i64)]) -> Vec<u8> {
    let mut builder = BatchBuilder::new();
    for (key, value, timestamp) in records {
        builder.push(*timestamp, Some(key.as_bytes()), value.map(str::as_bytes), &[]).unwrap();
    }
    builder.finish().unwrap()
}

/// Every record from the log start to the log end, read through
/// `Log::read` from each `next_offset` on (so across any gaps).
pub fn read_records(log: &Log) -> Vec<KeyedRecord> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let read = log.read(offset, 64 * 1024).unwrap();
        assert!(!read.is_empty(), "read at {offset} below the log end returned nothing");
        for batch in read.batches() {
            for record in batch.unwrap().records().unwrap() {
                let record = record.unwrap();
                if record.offset >= offset {
                    out.push(KeyedRecord {
                        offset: record.offset,
                        key: record.key.map(<[u8]>::to_vec),
                        value: record.value.map(<[u8]>::to_vec),
                        timestamp: record.timestamp,
                    });
                }
            }
        }
        assert!(read.next_offset() > offset);
        offset = read.next_offset();
    }
    for pair in out.windows(2) {
        assert!(pair[0].offset < pair[1].offset, "offsets go up: {pair:?}");
    }
    out
}

/// What a clean at `now_ms` must leave of `records`: below `cleaned_end`,
/// only each key's latest record (among those below `cleaned_end`), and no
/// tombstone with `timestamp + delete_retention_ms <= now_ms`; from
/// `cleaned_end` on, everything.
pub fn expected_after_clean(
    records: &[KeyedRecord],
    cleaned_end: u64,
    now_ms: i64,
    delete_retention_ms: i64,
) -> Vec<KeyedRecord> {
    let mut latest = std::collections::HashMap::new();
    for record in records.iter().filter(|record| record.offset < cleaned_end) {
        if let Some(key) = &record.key {
            latest.insert(key.clone(), record.offset);
        }
    }
    records
        .iter()
        .filter(|record| {
            if record.offset >= cleaned_end {
                return true;
            }
            let Some(key) = &record.key else { return false };
            latest[key] == record.offset
                && (record.value.is_some() || record.timestamp.saturating_add(delete_retention_ms) > now_ms)
        })
        .cloned()
        .collect()
}
