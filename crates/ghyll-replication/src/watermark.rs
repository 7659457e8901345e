//! The pure arithmetic of the ISR protocol.

use crate::types::Offset;

/// The leader's new high watermark: the minimum log end offset over the
/// ISR, never below the current one (the high watermark only moves
/// forward while a leader leads). An empty ISR leaves it unchanged.
///
/// # Examples
/// ```
/// use ghyll_replication::high_watermark;
/// assert_eq!(high_watermark(3, &[10, 7, 12]), 7);
/// assert_eq!(high_watermark(8, &[10, 7, 12]), 8);
/// ```
pub fn high_watermark(current: Offset, isr_log_end_offsets: &[Offset]) -> Offset {
    isr_log_end_offsets.iter().copied().min().map_or(current, |min| min.max(current))
}

/// Whether a follower last caught up to the leader's log end offset at
/// `last_caught_up_ms` is still in sync at `now_ms`
/// (`replica.lag.time.max.ms`).
pub fn is_in_sync(now_ms: u64, last_caught_up_ms: u64, replica_lag_time_max_ms: u64) -> bool {
    now_ms.saturating_sub(last_caught_up_ms) <= replica_lag_time_max_ms
}

/// Kafka's rule for a follower's last caught-up time after a fetch at
/// `fetch_offset`: now, if it reached the leader's log end offset; the
/// previous fetch's time, if it reached the log end offset the leader had
/// then (a steady producer never leaves it behind); otherwise unchanged.
pub fn last_caught_up_ms(
    now_ms: u64,
    fetch_offset: Offset,
    leader_log_end_offset: Offset,
    previous: u64,
    previous_fetch_ms: u64,
    previous_fetch_leader_log_end_offset: Offset,
) -> u64 {
    if fetch_offset >= leader_log_end_offset {
        now_ms
    } else if fetch_offset >= previous_fetch_leader_log_end_offset {
        previous.max(previous_fetch_ms)
    } else {
        previous
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn high_watermark_is_the_isr_minimum_and_monotonic() {
        let table: [(Offset, &[Offset], Offset); 7] = [
            (0, &[], 0),
            (5, &[], 5),
            (0, &[4], 4),
            (0, &[4, 9, 6], 4),
            (2, &[4, 9, 6], 4),
            (5, &[4, 9, 6], 5), // never backwards
            (0, &[0, 9], 0),    // a member that has nothing holds it at 0
        ];
        for (current, leos, want) in table {
            assert_eq!(high_watermark(current, leos), want, "{current} {leos:?}");
        }
    }

    #[test]
    fn in_sync_within_the_lag_time() {
        assert!(is_in_sync(100, 100, 10));
        assert!(is_in_sync(110, 100, 10));
        assert!(!is_in_sync(111, 100, 10));
        assert!(is_in_sync(5, 100, 10), "clock before the catch-up time");
    }

    #[test]
    fn caught_up_time_follows_kafka() {
        // Reached the leader's end: now.
        assert_eq!(last_caught_up_ms(50, 10, 10, 0, 40, 8), 50);
        // Behind now, but reached what the leader had at the previous fetch.
        assert_eq!(last_caught_up_ms(50, 8, 10, 0, 40, 8), 40);
        // Behind both: unchanged.
        assert_eq!(last_caught_up_ms(50, 7, 10, 30, 40, 8), 30);
    }
}
