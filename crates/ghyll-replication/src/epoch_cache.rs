//! [`EpochCache`]: which leader epoch wrote which offsets (KIP-101, KIP-279).

use crate::error::EpochCacheError;
use crate::types::{LeaderEpoch, Offset};

/// One epoch and the offset of its first record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEntry {
    /// The leader epoch.
    pub epoch: LeaderEpoch,
    /// The first offset written in that epoch.
    pub start_offset: Offset,
}

/// Kafka's leader-epoch cache (`leader-epoch-checkpoint`): the start offset
/// of every leader epoch in a replica's log, epochs and start offsets both
/// strictly increasing. An epoch ends where the next one starts; the
/// latest ends at the log end offset.
///
/// The broker checkpoints it ([`encode`](EpochCache::encode) /
/// [`decode`](EpochCache::decode); the file's CRC is the broker's) and
/// after recovery calls [`truncate_from`](EpochCache::truncate_from) with
/// the recovered log end offset.
///
/// # Examples
/// ```
/// use ghyll_replication::EpochCache;
/// let mut cache = EpochCache::new();
/// cache.assign(1, 0);
/// cache.assign(3, 5);
/// // Epoch 1 ended at 5; epoch 2 never wrote, so its floor (1) answers.
/// assert_eq!(cache.end_offset_for(1, 9), Some((1, 5)));
/// assert_eq!(cache.end_offset_for(2, 9), Some((1, 5)));
/// assert_eq!(cache.end_offset_for(3, 9), Some((3, 9)));
/// assert_eq!(cache.end_offset_for(4, 9), None);
/// let bytes = cache.encode();
/// assert_eq!(EpochCache::decode(&bytes)?, cache);
/// # Ok::<(), ghyll_replication::EpochCacheError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EpochCache {
    entries: Vec<EpochEntry>,
}

const VERSION: u8 = 0;
const HEADER_BYTES: usize = 5;
const ENTRY_BYTES: usize = 12;

impl EpochCache {
    /// An empty cache (an empty log).
    pub fn new() -> Self {
        EpochCache::default()
    }

    /// The entries, oldest first.
    pub fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    /// The latest entry.
    pub fn latest(&self) -> Option<EpochEntry> {
        self.entries.last().copied()
    }

    /// The latest epoch.
    pub fn latest_epoch(&self) -> Option<LeaderEpoch> {
        self.latest().map(|e| e.epoch)
    }

    /// The epoch that wrote `offset`: the entry with the greatest start
    /// offset at or below it.
    pub fn epoch_at(&self, offset: Offset) -> Option<LeaderEpoch> {
        self.entries.iter().rev().find(|e| e.start_offset <= offset).map(|e| e.epoch)
    }

    /// Records that `epoch` starts at `start_offset`, as Kafka's `assign`:
    /// nothing changes if `epoch` is already the latest with a start offset
    /// at or below it; otherwise entries with an epoch at or above `epoch`,
    /// or a start offset at or above `start_offset`, are dropped first (an
    /// epoch that never wrote a record is replaced). Returns whether the
    /// cache changed.
    pub fn assign(&mut self, epoch: LeaderEpoch, start_offset: Offset) -> bool {
        if let Some(latest) = self.latest() {
            if latest.epoch == epoch && latest.start_offset <= start_offset {
                return false;
            }
        }
        self.entries.retain(|e| e.epoch < epoch && e.start_offset < start_offset);
        self.entries.push(EpochEntry { epoch, start_offset });
        true
    }

    /// KIP-279's `OffsetsForLeaderEpoch` answer: the largest epoch at or
    /// below `epoch` that this log holds, and the offset where it ends
    /// (where the next epoch starts, or `log_end_offset` for the latest).
    /// An epoch below the first entry answers `(epoch, first start
    /// offset)`. `None` (Kafka's UNDEFINED) for an empty cache or an epoch
    /// above the latest.
    pub fn end_offset_for(&self, epoch: LeaderEpoch, log_end_offset: Offset) -> Option<(LeaderEpoch, Offset)> {
        let latest = self.latest()?;
        if epoch == latest.epoch {
            return Some((epoch, log_end_offset));
        }
        if epoch > latest.epoch {
            return None;
        }
        // The first entry with a greater epoch exists because epoch < latest.
        let higher = self.entries.iter().position(|e| e.epoch > epoch)?;
        let end = self.entries[higher].start_offset;
        match higher.checked_sub(1) {
            Some(floor) => Some((self.entries[floor].epoch, end)),
            None => Some((epoch, end)),
        }
    }

    /// Drops the entries starting at or after `offset`: the log was
    /// truncated to end there. Returns whether the cache changed.
    pub fn truncate_from(&mut self, offset: Offset) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.start_offset < offset);
        self.entries.len() != before
    }

    /// The checkpoint bytes: a version byte (0), the entry count (u32
    /// big-endian), then each entry's epoch (u32) and start offset (u64),
    /// big-endian.
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(HEADER_BYTES + ENTRY_BYTES * self.entries.len());
        bytes.push(VERSION);
        let count = u32::try_from(self.entries.len()).expect("fewer than 2^32 epochs");
        bytes.extend_from_slice(&count.to_be_bytes());
        for entry in &self.entries {
            bytes.extend_from_slice(&entry.epoch.to_be_bytes());
            bytes.extend_from_slice(&entry.start_offset.to_be_bytes());
        }
        bytes
    }

    /// Reads [`encode`](EpochCache::encode)'s bytes.
    ///
    /// # Errors
    /// [`EpochCacheError`] for short or trailing bytes, an unknown version,
    /// or entries that do not strictly increase.
    pub fn decode(bytes: &[u8]) -> Result<Self, EpochCacheError> {
        let need = |needed: usize| {
            if bytes.len() < needed {
                Err(EpochCacheError::Truncated { needed, available: bytes.len() })
            } else {
                Ok(())
            }
        };
        need(HEADER_BYTES)?;
        if bytes[0] != VERSION {
            return Err(EpochCacheError::UnsupportedVersion { version: bytes[0] });
        }
        let count = u32::from_be_bytes(bytes[1..5].try_into().expect("4 bytes")) as usize;
        let total = count.checked_mul(ENTRY_BYTES).and_then(|n| n.checked_add(HEADER_BYTES)).unwrap_or(usize::MAX);
        need(total)?;
        if bytes.len() > total {
            return Err(EpochCacheError::TrailingBytes { count: bytes.len() - total });
        }
        let mut entries: Vec<EpochEntry> = Vec::with_capacity(count);
        for (index, chunk) in bytes[HEADER_BYTES..].chunks_exact(ENTRY_BYTES).enumerate() {
            let epoch = u32::from_be_bytes(chunk[0..4].try_into().expect("4 bytes"));
            let start_offset = u64::from_be_bytes(chunk[4..12].try_into().expect("8 bytes"));
            if let Some(last) = entries.last() {
                if last.epoch >= epoch || last.start_offset >= start_offset {
                    return Err(EpochCacheError::NotMonotonic { index, epoch, start_offset });
                }
            }
            entries.push(EpochEntry { epoch, start_offset });
        }
        Ok(EpochCache { entries })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(entries: &[(u32, u64)]) -> EpochCache {
        let mut c = EpochCache::new();
        for &(epoch, start) in entries {
            assert!(c.assign(epoch, start));
        }
        c
    }

    #[test]
    fn end_offset_for_follows_kip_279() {
        let c = cache(&[(1, 0), (3, 5), (4, 9)]);
        let leo = 12;
        let table = [
            (0, Some((0, 0))), // below the first epoch: (requested, first start)
            (1, Some((1, 5))),
            (2, Some((1, 5))), // never written here: the floor epoch answers
            (3, Some((3, 9))),
            (4, Some((4, 12))), // the latest ends at the log end offset
            (5, None),          // above the latest: undefined
        ];
        for (epoch, want) in table {
            assert_eq!(c.end_offset_for(epoch, leo), want, "epoch {epoch}");
        }
        assert_eq!(EpochCache::new().end_offset_for(0, 0), None);
    }

    #[test]
    fn assign_replaces_empty_and_conflicting_epochs() {
        let mut c = cache(&[(1, 0), (3, 5)]);
        assert!(!c.assign(3, 7), "same epoch, later offset: no change");
        assert!(c.assign(4, 5), "epoch 3 wrote nothing: replaced");
        assert_eq!(c.entries(), &[EpochEntry { epoch: 1, start_offset: 0 }, EpochEntry { epoch: 4, start_offset: 5 }]);
        assert!(c.assign(2, 3), "an older epoch truncates the newer entries");
        assert_eq!(c.latest(), Some(EpochEntry { epoch: 2, start_offset: 3 }));
    }

    #[test]
    fn truncate_from_and_epoch_at() {
        let mut c = cache(&[(1, 0), (3, 5), (4, 9)]);
        assert_eq!(c.epoch_at(4), Some(1));
        assert_eq!(c.epoch_at(9), Some(4));
        assert!(c.truncate_from(9));
        assert_eq!(c.latest_epoch(), Some(3));
        assert!(!c.truncate_from(9));
        assert!(c.truncate_from(0));
        assert_eq!(c.latest(), None);
    }

    #[test]
    fn decode_rejects_bad_bytes() {
        let good = cache(&[(1, 0), (3, 5)]).encode();
        assert!(matches!(EpochCache::decode(&good[..7]), Err(EpochCacheError::Truncated { .. })));
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(EpochCache::decode(&trailing), Err(EpochCacheError::TrailingBytes { count: 1 }));
        let mut version = good.clone();
        version[0] = 1;
        assert_eq!(EpochCache::decode(&version), Err(EpochCacheError::UnsupportedVersion { version: 1 }));
        let mut swapped = good.clone();
        swapped[5..17].copy_from_slice(&good[17..29]);
        assert!(matches!(EpochCache::decode(&swapped), Err(EpochCacheError::NotMonotonic { index: 1, .. })));
        let huge = [0, 0xff, 0xff, 0xff, 0xff];
        assert!(matches!(EpochCache::decode(&huge), Err(EpochCacheError::Truncated { .. })));
    }
}
