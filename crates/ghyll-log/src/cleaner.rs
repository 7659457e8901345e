//! Log compaction's batch-level work: the map from each key to its latest
//! offset, and the filtering of one batch against it.
//!
//! [`Log::clean`](crate::Log::clean) (in `log/clean.rs`) drives these over
//! the closed segments and swaps the result in; nothing here touches files.

use std::collections::HashMap;

use crate::batch::{
    Batch, TimestampType, ATTRIBUTES_AT, BATCH_HEADER_BYTES, BATCH_LENGTH_AT, BATCH_LENGTH_PREFIX_BYTES, CRC_AT,
    MAX_TIMESTAMP_AT, RECORDS_COUNT_AT,
};
use crate::error::{BatchError, Compression};

/// Each key's latest offset in the range being cleaned.
///
/// Keys are kept whole (no hashing), so two keys can never be mistaken for
/// one and a record is never dropped for another key's sake. Memory is
/// therefore about the distinct keys' bytes plus some 40 bytes of overhead
/// per key, for the closed segments being cleaned; Kafka bounds its
/// equivalent (`log.cleaner.dedupe.buffer.size`) by hashing, which ghyll
/// does not do yet.
#[derive(Debug, Default)]
pub(crate) struct KeyMap {
    latest: HashMap<Box<[u8]>, u64>,
}

impl KeyMap {
    /// Notes every keyed record of an uncompressed, non-control batch.
    /// Compressed batches cannot be looked into: their keys supersede
    /// nothing (and they are copied as they are).
    pub(crate) fn add(&mut self, batch: &Batch<'_>) -> Result<(), BatchError> {
        if !is_filterable(batch) {
            return Ok(());
        }
        for record in batch.records()? {
            let record = record?;
            if let Some(key) = record.key {
                match self.latest.get_mut(key) {
                    Some(offset) => *offset = (*offset).max(record.offset),
                    None => {
                        self.latest.insert(key.into(), record.offset);
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether a later record with `key` than `offset` exists in the range.
    fn superseded(&self, key: &[u8], offset: u64) -> bool {
        self.latest.get(key).is_some_and(|&latest| latest > offset)
    }

    /// Distinct keys seen.
    pub(crate) fn len(&self) -> usize {
        self.latest.len()
    }
}

/// Whether the cleaner may drop records from a batch: uncompressed (so its
/// records can be read) and not a control batch (transaction markers are
/// left alone).
fn is_filterable(batch: &Batch<'_>) -> bool {
    batch.header().compression() == Compression::None && !batch.header().is_control()
}

/// What became of one batch.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Filtered {
    /// Every record stays: copy the batch as it is.
    Unchanged,
    /// Some records stay: these bytes (same base offset and
    /// lastOffsetDelta, fewer records, fresh CRC) replace the batch.
    Rewritten(Vec<u8>),
    /// No record stays. The bytes are the batch with no records, for the
    /// cleaner to keep when the batch ends its output segment (so the
    /// segment still spans its input's offsets); otherwise it is dropped.
    Emptied(Vec<u8>),
}

/// Counts kept by [`filter_batch`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FilterCounts {
    pub records_removed: u64,
    pub tombstones_removed: u64,
}

/// Filters one batch: a record stays when it has a key, no later record in
/// the cleaned range has the same key, and, for a tombstone (null value),
/// when `timestamp + delete_retention_ms > now_ms`. Keyless records (which
/// a compacted log refuses on append, but a log switched from `delete` may
/// hold) are dropped, as Kafka's cleaner drops them.
pub(crate) fn filter_batch(
    batch: &Batch<'_>,
    keys: &KeyMap,
    now_ms: i64,
    delete_retention_ms: u64,
    counts: &mut FilterCounts,
) -> Result<Filtered, BatchError> {
    if !is_filterable(batch) {
        return Ok(Filtered::Unchanged);
    }
    let header = batch.header();
    let retention = i64::try_from(delete_retention_ms).unwrap_or(i64::MAX);
    let mut kept: Vec<&[u8]> = Vec::new();
    let mut kept_max_timestamp = i64::MIN;
    let mut removed = 0u64;
    let mut records = batch.records()?;
    while let Some(next) = records.next_with_bytes() {
        let (record, bytes) = next?;
        let keep = match record.key {
            None => false,
            Some(key) if keys.superseded(key, record.offset) => false,
            Some(_) => record.value.is_some() || record.timestamp.saturating_add(retention) > now_ms,
        };
        if keep {
            kept.push(bytes);
            kept_max_timestamp = kept_max_timestamp.max(record.timestamp);
        } else {
            removed += 1;
            if record.value.is_none() {
                counts.tombstones_removed += 1;
            }
        }
    }
    counts.records_removed += removed;
    if removed == 0 {
        return Ok(Filtered::Unchanged);
    }
    // As Kafka's cleaner does, a rewritten CreateTime batch carries the
    // largest timestamp of the records it kept; an emptied batch, and a
    // LogAppendTime batch, keep theirs.
    let max_timestamp = match header.timestamp_type() {
        TimestampType::CreateTime if !kept.is_empty() => kept_max_timestamp,
        _ => header.max_timestamp,
    };
    let bytes = rewrite(batch, &kept, max_timestamp);
    Ok(if kept.is_empty() { Filtered::Emptied(bytes) } else { Filtered::Rewritten(bytes) })
}

/// The batch's header with `records` (raw record bytes, in order) and a
/// new length, count, max timestamp and CRC. Base offset, lastOffsetDelta,
/// base timestamp and the producer fields stay, so every kept record keeps
/// its offset and timestamp deltas.
fn rewrite(batch: &Batch<'_>, records: &[&[u8]], max_timestamp: i64) -> Vec<u8> {
    let records_bytes: usize = records.iter().map(|record| record.len()).sum();
    let mut out = Vec::with_capacity(BATCH_HEADER_BYTES + records_bytes);
    out.extend_from_slice(&batch.as_bytes()[..BATCH_HEADER_BYTES]);
    for record in records {
        out.extend_from_slice(record);
    }
    let batch_length =
        i32::try_from(out.len() - BATCH_LENGTH_PREFIX_BYTES).expect("smaller than the batch it came from");
    let records_count = i32::try_from(records.len()).expect("fewer records than the batch it came from");
    out[BATCH_LENGTH_AT..BATCH_LENGTH_AT + 4].copy_from_slice(&batch_length.to_be_bytes());
    out[MAX_TIMESTAMP_AT..MAX_TIMESTAMP_AT + 8].copy_from_slice(&max_timestamp.to_be_bytes());
    out[RECORDS_COUNT_AT..RECORDS_COUNT_AT + 4].copy_from_slice(&records_count.to_be_bytes());
    let crc = crc32c::crc32c(&out[ATTRIBUTES_AT..]);
    out[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::BatchBuilder;

    fn batch_of(records: &[(Option<&str>, Option<&str>, i64)], base_offset: i64) -> Vec<u8> {
        let mut builder = BatchBuilder::new();
        for (key, value, timestamp) in records {
            builder.push(*timestamp, key.map(str::as_bytes), value.map(str::as_bytes), &[]).unwrap();
        }
        let mut bytes = builder.finish().unwrap();
        bytes[..8].copy_from_slice(&base_offset.to_be_bytes());
        bytes
    }

    fn survivors(bytes: &[u8]) -> Vec<(u64, Option<String>)> {
        let batch = Batch::new(bytes).unwrap();
        crate::batch::check_records(&batch).unwrap();
        batch
            .records()
            .unwrap()
            .map(|record| {
                let record = record.unwrap();
                (record.offset, record.value.map(|value| String::from_utf8(value.to_vec()).unwrap()))
            })
            .collect()
    }

    #[test]
    fn keeps_the_latest_per_key_with_offsets_and_a_fresh_crc() {
        let old =
            batch_of(&[(Some("a"), Some("a1"), 10), (Some("b"), Some("b1"), 11), (Some("a"), Some("a2"), 12)], 100);
        let new = batch_of(&[(Some("b"), Some("b2"), 20)], 103);
        let mut keys = KeyMap::default();
        keys.add(&Batch::new(&old).unwrap()).unwrap();
        keys.add(&Batch::new(&new).unwrap()).unwrap();
        assert_eq!(keys.len(), 2);
        let mut counts = FilterCounts::default();
        let Filtered::Rewritten(bytes) = filter_batch(&Batch::new(&old).unwrap(), &keys, 0, 0, &mut counts).unwrap()
        else {
            panic!("the old batch loses records")
        };
        assert_eq!(survivors(&bytes), [(102, Some("a2".to_string()))]);
        let header = *Batch::new(&bytes).unwrap().header();
        assert_eq!((header.base_offset, header.last_offset_delta, header.records_count), (100, 2, 1));
        assert_eq!((header.base_timestamp, header.max_timestamp), (10, 12));
        assert_eq!(counts, FilterCounts { records_removed: 2, tombstones_removed: 0 });
        let unchanged = filter_batch(&Batch::new(&new).unwrap(), &keys, 0, 0, &mut counts).unwrap();
        assert_eq!(unchanged, Filtered::Unchanged);
    }

    #[test]
    fn tombstones_stay_until_delete_retention_passes_their_timestamp() {
        let bytes = batch_of(&[(Some("a"), None, 1_000)], 0);
        let batch = Batch::new(&bytes).unwrap();
        let mut keys = KeyMap::default();
        keys.add(&batch).unwrap();
        let mut counts = FilterCounts::default();
        assert_eq!(filter_batch(&batch, &keys, 1_499, 500, &mut counts).unwrap(), Filtered::Unchanged);
        let Filtered::Emptied(empty) = filter_batch(&batch, &keys, 1_500, 500, &mut counts).unwrap() else {
            panic!("the tombstone expires at timestamp + delete.retention.ms")
        };
        assert_eq!(counts, FilterCounts { records_removed: 1, tombstones_removed: 1 });
        let header = *Batch::new(&empty).unwrap().header();
        assert_eq!((header.records_count, header.last_offset_delta), (0, 0));
        assert!(survivors(&empty).is_empty());
    }
}
