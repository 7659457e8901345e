//! Deterministic record values, the same for every system and every run.
//!
//! Values are pseudo-random (SplitMix64 from a fixed seed) rather than
//! zeros so that nothing along the way can profit from runs of equal bytes,
//! and fixed so that two runs of the benchmark move identical data.
//!
//! Timestamps increase by 1 ms per record from a base fixed once per
//! process. The base is the wall clock at startup, not a constant: a log
//! rolls a segment when its first timestamp is older than `segment.ms`
//! (Kafka's rule, which ghyll-log keeps), so a constant base years in the
//! past would make every append roll a segment and the benchmark would
//! measure rolls instead of appends.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch now: the timestamp base for a process.
///
/// # Panics
/// If the clock is before 1970 or past the year 292 million.
pub(crate) fn now_ms() -> i64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).expect("the clock is after 1970");
    i64::try_from(since_epoch.as_millis()).expect("milliseconds since 1970 fit in i64")
}

const SEED: u64 = 0x6768_796c_6c00_0001;

/// The values of `records` records of `record_bytes` bytes each, laid end
/// to end in one allocation.
#[derive(Debug, Clone)]
pub(crate) struct ValuePool {
    bytes: Vec<u8>,
    record_bytes: usize,
    timestamp_base_ms: i64,
}

impl ValuePool {
    /// # Panics
    /// If `record_bytes` is zero or the pool would not fit in memory's
    /// address space.
    pub(crate) fn new(records: u64, record_bytes: u32, timestamp_base_ms: i64) -> ValuePool {
        assert!(record_bytes > 0, "records need at least one value byte");
        let record_bytes = usize::try_from(record_bytes).expect("u32 fits in usize");
        let total_bytes = usize::try_from(records)
            .ok()
            .and_then(|records| records.checked_mul(record_bytes))
            .expect("records * record_bytes must fit in memory");
        let mut bytes = Vec::with_capacity(total_bytes);
        let mut state = SEED;
        while bytes.len() < total_bytes {
            let word = split_mix_64(&mut state).to_le_bytes();
            let take = word.len().min(total_bytes - bytes.len());
            bytes.extend_from_slice(&word[..take]);
        }
        ValuePool { bytes, record_bytes, timestamp_base_ms }
    }

    pub(crate) fn records(&self) -> u64 {
        (self.bytes.len() / self.record_bytes) as u64
    }

    /// Value bytes of all records together.
    pub(crate) fn total_bytes(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// Every record's value, laid end to end: record `index` is the
    /// `record_bytes` bytes at `index * record_bytes`.
    pub(crate) fn all_values(&self) -> &[u8] {
        &self.bytes
    }

    /// Value bytes of one record.
    pub(crate) fn record_bytes(&self) -> usize {
        self.record_bytes
    }

    /// The value of record `index`.
    ///
    /// # Panics
    /// If `index` is not below [`ValuePool::records`].
    pub(crate) fn value(&self, index: u64) -> &[u8] {
        let start = usize::try_from(index).expect("index fits in usize") * self.record_bytes;
        &self.bytes[start..start + self.record_bytes]
    }

    /// The timestamp of record `index`: the base plus `index` milliseconds.
    pub(crate) fn timestamp_ms(&self, index: u64) -> i64 {
        self.timestamp_base_ms + i64::try_from(index).expect("record index fits in i64")
    }

    /// The record indexes in consecutive groups of at most `batch_records`;
    /// only the last group may be shorter.
    pub(crate) fn batches(&self, batch_records: u32) -> impl Iterator<Item = std::ops::Range<u64>> {
        assert!(batch_records > 0, "a batch holds at least one record");
        let records = self.records();
        let batch_records = u64::from(batch_records);
        (0..records.div_ceil(batch_records)).map(move |batch| {
            let start = batch * batch_records;
            start..(start + batch_records).min(records)
        })
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, well-mixed generator.
fn split_mix_64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_has_the_asked_shape() {
        let pool = ValuePool::new(7, 13, 0);
        assert_eq!(pool.records(), 7);
        assert_eq!(pool.total_bytes(), 91);
        for index in 0..7 {
            assert_eq!(pool.value(index).len(), 13);
        }
    }

    #[test]
    fn pool_is_the_same_every_time_and_not_constant() {
        let first = ValuePool::new(100, 100, 0);
        let second = ValuePool::new(100, 100, 0);
        assert_eq!(first.bytes, second.bytes);
        assert_ne!(first.value(0), first.value(1));
        // Pseudo-random bytes take many distinct values; a broken generator
        // (zeros, a repeated word) would not.
        let mut seen = [false; 256];
        for byte in &first.bytes {
            seen[usize::from(*byte)] = true;
        }
        assert!(seen.iter().filter(|seen| **seen).count() > 200);
    }

    #[test]
    fn split_mix_64_matches_the_reference_sequence() {
        // First outputs of the reference implementation seeded with 0.
        let mut state = 0;
        assert_eq!(split_mix_64(&mut state), 0xe220_a839_7b1d_cdaf);
        assert_eq!(split_mix_64(&mut state), 0x6e78_9e6a_a1b9_65f4);
    }

    #[test]
    fn batches_cover_every_record_once_in_order() {
        let pool = ValuePool::new(10, 1, 0);
        let batches: Vec<_> = pool.batches(4).collect();
        assert_eq!(batches, [0..4, 4..8, 8..10]);
        let exact: Vec<_> = ValuePool::new(8, 1, 0).batches(4).collect();
        assert_eq!(exact, [0..4, 4..8]);
        assert_eq!(ValuePool::new(0, 1, 0).batches(4).count(), 0);
    }

    #[test]
    fn timestamps_increase_from_the_base() {
        let pool = ValuePool::new(10, 1, 1_700_000_000_000);
        assert_eq!(pool.timestamp_ms(0), 1_700_000_000_000);
        assert_eq!(pool.timestamp_ms(5), 1_700_000_000_005);
    }

    #[test]
    fn now_is_after_this_code_was_written() {
        // 2025-01-01T00:00:00Z: a clock reading before it is a broken clock.
        assert!(now_ms() > 1_735_689_600_000);
    }
}
