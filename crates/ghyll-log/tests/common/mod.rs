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
