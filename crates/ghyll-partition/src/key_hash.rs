//! [`KeyHash`]: Kafka's murmur2 placement of keyed records.

use crate::context::PartitionContext;
use crate::murmur2::partition_for_key;
use crate::partitioner::Partitioner;
use crate::round_robin::RoundRobin;

/// Places keyed records exactly as Kafka's Java client does:
/// `toPositive(murmur2(key)) % partition_count`
/// ([`partition_for_key`]), so a key lands on the same partition number in
/// ghyll as in Kafka, and stays there while the partition count does.
///
/// Keyed records ignore `available_partitions`, as in Kafka: moving a key
/// while a leader is missing would break its order.
///
/// Keyless records have nothing to hash; they go round-robin through an
/// inner [`RoundRobin`], which is what Kafka's `DefaultPartitioner` did for
/// them before 2.4. Today that makes `KeyHash` behave like
/// [`DefaultPartitioner`](crate::DefaultPartitioner); the difference is the
/// promise: `KeyHash` is pinned to this behaviour, while the default is
/// whatever ghyll documents as its default.
///
/// # Examples
/// ```
/// use ghyll_partition::{partition_for_key, KeyHash, PartitionContext, Partitioner};
/// let key_hash = KeyHash::new();
/// let ctx = PartitionContext::new("orders", Some(b"customer-42".as_slice()), None, &[], 12);
/// assert_eq!(key_hash.partition(&ctx), partition_for_key(b"customer-42", 12));
/// ```
#[derive(Debug, Default)]
pub struct KeyHash {
    keyless: RoundRobin,
}

impl KeyHash {
    /// A key-hash partitioner.
    #[must_use]
    pub fn new() -> Self {
        KeyHash { keyless: RoundRobin::new() }
    }
}

impl Partitioner for KeyHash {
    fn partition(&self, ctx: &PartitionContext<'_>) -> u32 {
        match ctx.key {
            // max(1): see RoundRobin; a 0 count yields 0, out of range.
            Some(key) => partition_for_key(key, ctx.partition_count.max(1)),
            None => self.keyless.partition(ctx),
        }
    }

    fn name(&self) -> &str {
        "key-hash"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_records_match_partition_for_key_and_ignore_availability() {
        let key_hash = KeyHash::new();
        for key in [b"".as_slice(), b"a", b"foobar", b"customer-42", &[0xff; 33]] {
            for count in [1, 2, 5, 64] {
                let ctx = PartitionContext::new("t", Some(key), Some(b"v".as_slice()), &[], count);
                let expected = partition_for_key(key, count);
                assert_eq!(key_hash.partition(&ctx), expected);
                // Asking twice gives the same answer: no hidden state.
                assert_eq!(key_hash.partition(&ctx), expected);
                let only_other = if expected == 0 { [count - 1] } else { [0] };
                if count > 1 {
                    let ctx = ctx.with_available_partitions(&only_other);
                    assert_eq!(key_hash.partition(&ctx), expected);
                }
            }
        }
    }

    /// Kafka's vector `foobar` → -790332482 → toPositive 1357151166, and
    /// 1357151166 % 10 = 6: the partition Kafka picks for `foobar` over 10.
    #[test]
    fn foobar_over_ten_partitions_is_six_as_in_kafka() {
        let ctx = PartitionContext::new("t", Some(b"foobar".as_slice()), None, &[], 10);
        assert_eq!(KeyHash::new().partition(&ctx), 6);
    }

    #[test]
    fn keyless_records_go_round_robin() {
        let key_hash = KeyHash::new();
        let ctx = PartitionContext::new("t", None, Some(b"v".as_slice()), &[], 3);
        let partitions: Vec<u32> = (0..6).map(|_| key_hash.partition(&ctx)).collect();
        assert_eq!(partitions, [0, 1, 2, 0, 1, 2]);
    }
}
