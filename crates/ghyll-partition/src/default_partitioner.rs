//! [`DefaultPartitioner`]: ghyll's default placement.

use crate::context::PartitionContext;
use crate::murmur2::partition_for_key;
use crate::partitioner::Partitioner;
use crate::round_robin::RoundRobin;

/// ghyll's default: keyed records by Kafka's key hash
/// ([`partition_for_key`], as [`KeyHash`](crate::KeyHash)), keyless records
/// round-robin per topic (as [`RoundRobin`]).
///
/// Keyed records land where Kafka's Java client would put them. For keyless
/// records this is the behaviour of Kafka's default partitioner before 2.4;
/// since 2.4 Kafka's default sticks to one partition until a batch fills
/// (KIP-480, and KIP-794 in 3.3), which makes fewer, fuller batches.
/// ghyll's default keeps round-robin's even, predictable spread; choose
/// [`Sticky`](crate::Sticky) for Kafka's current keyless behaviour.
///
/// # Examples
/// ```
/// use ghyll_partition::{partition_for_key, DefaultPartitioner, PartitionContext, Partitioner};
/// let default = DefaultPartitioner::new();
/// let keyed = PartitionContext::new("orders", Some(b"customer-42".as_slice()), None, &[], 12);
/// assert_eq!(default.partition(&keyed), partition_for_key(b"customer-42", 12));
///
/// let keyless = PartitionContext::new("orders", None, Some(b"tick".as_slice()), &[], 12);
/// assert_eq!(default.partition(&keyless), 0);
/// assert_eq!(default.partition(&keyless), 1);
/// ```
#[derive(Debug, Default)]
pub struct DefaultPartitioner {
    keyless: RoundRobin,
}

impl DefaultPartitioner {
    /// ghyll's default partitioner.
    #[must_use]
    pub fn new() -> Self {
        DefaultPartitioner { keyless: RoundRobin::new() }
    }
}

impl Partitioner for DefaultPartitioner {
    fn partition(&self, ctx: &PartitionContext<'_>) -> u32 {
        match ctx.key {
            // max(1): see RoundRobin; a 0 count yields 0, out of range.
            Some(key) => partition_for_key(key, ctx.partition_count.max(1)),
            None => self.keyless.partition(ctx),
        }
    }

    fn name(&self) -> &str {
        "default"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_records_match_partition_for_key() {
        let default = DefaultPartitioner::new();
        for i in 0..200u32 {
            let key = format!("user-{i}");
            let ctx = PartitionContext::new("t", Some(key.as_bytes()), None, &[], 7);
            assert_eq!(default.partition(&ctx), partition_for_key(key.as_bytes(), 7));
        }
    }

    #[test]
    fn keyless_records_go_round_robin_over_available_partitions() {
        let default = DefaultPartitioner::new();
        let ctx = PartitionContext::new("t", None, None, &[], 5).with_available_partitions(&[0, 4]);
        let partitions: Vec<u32> = (0..4).map(|_| default.partition(&ctx)).collect();
        assert_eq!(partitions, [0, 4, 0, 4]);
    }

    /// Keyed records do not advance the keyless cycle.
    #[test]
    fn keyed_records_leave_the_keyless_cycle_alone() {
        let default = DefaultPartitioner::new();
        let keyless = PartitionContext::new("t", None, None, &[], 3);
        let keyed = PartitionContext::new("t", Some(b"k".as_slice()), None, &[], 3);
        assert_eq!(default.partition(&keyless), 0);
        let _ = default.partition(&keyed);
        let _ = default.partition(&keyed);
        assert_eq!(default.partition(&keyless), 1);
    }
}
