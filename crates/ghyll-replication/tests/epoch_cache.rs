//! Proves the epoch cache against a plain model: proptest builds a log as
//! a list of per-offset epochs (non-decreasing, as leaders write them),
//! derives the cache by `assign` at every epoch change, and checks
//! `end_offset_for` for every epoch against a scan of the log, `epoch_at`
//! for every offset, `truncate_from` against truncating the log, and that
//! `encode`/`decode` round-trips.

use ghyll_replication::*;
use proptest::prelude::*;

fn cache_of(epochs: &[u32]) -> EpochCache {
    let mut cache = EpochCache::new();
    for (offset, &epoch) in epochs.iter().enumerate() {
        if cache.latest_epoch() != Some(epoch) {
            assert!(cache.assign(epoch, offset as u64));
        }
    }
    cache
}

/// KIP-279 by scanning: the largest epoch at or below `epoch` in the log,
/// and the offset of the first record with a greater epoch.
fn model_end_offset_for(epochs: &[u32], epoch: u32) -> Option<(u32, u64)> {
    let latest = *epochs.last()?;
    if epoch > latest {
        return None;
    }
    if epoch == latest {
        return Some((epoch, epochs.len() as u64));
    }
    let end = epochs.iter().position(|&e| e > epoch).expect("a greater epoch exists") as u64;
    let floor = epochs.iter().copied().filter(|&e| e <= epoch).max().unwrap_or(epoch);
    Some((floor, end))
}

fn log() -> impl Strategy<Value = Vec<u32>> {
    prop::collection::vec((0u32..3, 1usize..4), 0..8).prop_map(|runs| {
        let mut epochs = Vec::new();
        let mut epoch = 0;
        for (gap, len) in runs {
            epoch += gap + 1;
            epochs.extend(std::iter::repeat_n(epoch, len));
        }
        epochs
    })
}

proptest! {
    #[test]
    fn cache_matches_the_log(epochs in log(), cut in 0usize..40) {
        let cache = cache_of(&epochs);
        let max = epochs.last().copied().unwrap_or(0) + 2;
        for epoch in 0..=max {
            prop_assert_eq!(cache.end_offset_for(epoch, epochs.len() as u64), model_end_offset_for(&epochs, epoch), "epoch {}", epoch);
        }
        for (offset, &epoch) in epochs.iter().enumerate() {
            prop_assert_eq!(cache.epoch_at(offset as u64), Some(epoch));
        }
        prop_assert_eq!(EpochCache::decode(&cache.encode()).unwrap(), cache.clone());
        let cut = cut.min(epochs.len());
        let mut truncated = cache;
        truncated.truncate_from(cut as u64);
        prop_assert_eq!(truncated, cache_of(&epochs[..cut]));
    }

    #[test]
    fn decode_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = EpochCache::decode(&bytes);
    }
}
