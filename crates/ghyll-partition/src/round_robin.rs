//! [`RoundRobin`]: cycle through a topic's partitions.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::context::PartitionContext;
use crate::partitioner::Partitioner;
use crate::topic_map::TopicMap;

/// Cycles through each topic's partitions, one record each, ignoring keys:
/// Kafka's `RoundRobinPartitioner`.
///
/// Each topic has its own counter, starting at 0, so a topic's first record
/// goes to its first partition and the `n`th to partition `n % count`. When
/// `available_partitions` is non-empty the cycle runs over those only, as
/// in Kafka. The counter is a single atomic per topic, so the spread is
/// exact under any number of threads: `k × count` records sent to a topic
/// (all partitions available) put exactly `k` on every partition.
///
/// Keys are ignored; use [`DefaultPartitioner`](crate::DefaultPartitioner)
/// or [`KeyHash`](crate::KeyHash) to keep a key on one partition.
///
/// # Examples
/// ```
/// use ghyll_partition::{PartitionContext, Partitioner, RoundRobin};
/// let round_robin = RoundRobin::new();
/// let ctx = PartitionContext::new("events", None, Some(b"x".as_slice()), &[], 3);
/// let partitions: Vec<u32> = (0..6).map(|_| round_robin.partition(&ctx)).collect();
/// assert_eq!(partitions, [0, 1, 2, 0, 1, 2]);
/// ```
#[derive(Debug)]
pub struct RoundRobin {
    /// Records placed so far, per topic. 64 bits: a `u32` would wrap after
    /// four billion records and break the cycle for counts that do not
    /// divide 2³².
    counters: TopicMap<AtomicU64>,
}

impl RoundRobin {
    /// A round-robin partitioner with no topic seen yet.
    #[must_use]
    pub fn new() -> Self {
        RoundRobin { counters: TopicMap::new() }
    }
}

impl Default for RoundRobin {
    fn default() -> Self {
        RoundRobin::new()
    }
}

impl Partitioner for RoundRobin {
    fn partition(&self, ctx: &PartitionContext<'_>) -> u32 {
        // Relaxed is enough: only the uniqueness of each value matters.
        let next =
            self.counters.with(ctx.topic, || AtomicU64::new(0), |counter| counter.fetch_add(1, Ordering::Relaxed));
        if ctx.available_partitions.is_empty() {
            // max(1): a context cannot be built with 0 partitions, but its
            // fields are public; 0 is then out of range, reported by the
            // broker, rather than a division by zero here.
            let count = u64::from(ctx.partition_count.max(1));
            // The remainder is below a u32, so the cast is lossless.
            (next % count) as u32
        } else {
            let available = ctx.available_partitions;
            // usize is at least 32 bits on every target std supports, and
            // the remainder is below available.len().
            available[(next % available.len() as u64) as usize]
        }
    }

    fn name(&self) -> &str {
        "round-robin"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn keyless(topic: &str, partition_count: u32) -> PartitionContext<'_> {
        PartitionContext::new(topic, None, Some(b"value".as_slice()), &[], partition_count)
    }

    #[test]
    fn cycles_in_order_from_zero() {
        let round_robin = RoundRobin::new();
        let ctx = keyless("t", 4);
        let partitions: Vec<u32> = (0..10).map(|_| round_robin.partition(&ctx)).collect();
        assert_eq!(partitions, [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]);
    }

    #[test]
    fn each_topic_has_its_own_cycle() {
        let round_robin = RoundRobin::new();
        let a = keyless("a", 3);
        let b = keyless("b", 2);
        assert_eq!(round_robin.partition(&a), 0);
        assert_eq!(round_robin.partition(&a), 1);
        assert_eq!(round_robin.partition(&b), 0);
        assert_eq!(round_robin.partition(&a), 2);
        assert_eq!(round_robin.partition(&b), 1);
        assert_eq!(round_robin.counters.len(), 2);
    }

    #[test]
    fn ignores_keys() {
        let round_robin = RoundRobin::new();
        let ctx = PartitionContext::new("t", Some(b"same-key".as_slice()), None, &[], 3);
        let partitions: Vec<u32> = (0..3).map(|_| round_robin.partition(&ctx)).collect();
        assert_eq!(partitions, [0, 1, 2]);
    }

    #[test]
    fn cycles_over_available_partitions_only() {
        let round_robin = RoundRobin::new();
        let ctx = keyless("t", 6).with_available_partitions(&[1, 3, 4]);
        let mut counts = [0u32; 6];
        for _ in 0..300 {
            counts[round_robin.partition(&ctx) as usize] += 1;
        }
        assert_eq!(counts, [0, 100, 0, 100, 100, 0]);
    }

    /// 4 threads × 1050 sends to a 7-partition topic: 4200 = 600 × 7, so an
    /// exact per-topic counter puts exactly 600 on each partition. A lost or
    /// duplicated counter value under contention would unbalance it.
    #[test]
    fn spreads_exactly_evenly_under_four_threads() {
        const THREADS: usize = 4;
        const SENDS: usize = 1050;
        const PARTITIONS: u32 = 7;
        let round_robin = Arc::new(RoundRobin::new());
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                let round_robin = Arc::clone(&round_robin);
                std::thread::spawn(move || {
                    let ctx = keyless("busy", PARTITIONS);
                    let mut counts = [0usize; PARTITIONS as usize];
                    for _ in 0..SENDS {
                        counts[round_robin.partition(&ctx) as usize] += 1;
                    }
                    counts
                })
            })
            .collect();
        let mut totals = [0usize; PARTITIONS as usize];
        for handle in handles {
            for (total, count) in totals.iter_mut().zip(handle.join().expect("sender thread panicked")) {
                *total += count;
            }
        }
        assert_eq!(totals, [THREADS * SENDS / PARTITIONS as usize; PARTITIONS as usize]);
    }
}
