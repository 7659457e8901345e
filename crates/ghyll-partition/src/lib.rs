//! ghyll-partition: which partition a record goes to.
//!
//! The broker asks a [`Partitioner`] once per record, handing it a
//! [`PartitionContext`]: the topic, the optional key, the value, the
//! [`Header`]s, the partition count and which partitions currently have a
//! leader. The tour:
//!
//! - [`Partitioner`] is the trait a user implements for business rules. It
//!   is object-safe and its contract is documented: answer below the
//!   partition count (the broker turns anything else into a clear error at
//!   send, never a panic), be cheap, expect many threads.
//! - [`DefaultPartitioner`] is ghyll's default: keyed records by Kafka's key
//!   hash, keyless records round-robin.
//! - [`KeyHash`] places keyed records exactly where Kafka's Java client
//!   does, through [`murmur2`], [`to_positive`] and [`partition_for_key`].
//! - [`RoundRobin`] cycles through a topic's partitions; [`Sticky`] fills a
//!   batch's worth of bytes on one partition before moving on, as Kafka's
//!   default has done for keyless records since 2.4.
//! - [`BuiltinPartitioner`] names the built-ins (`round-robin`, `key-hash`,
//!   `sticky`, `default`) for configuration and the CLI.
//!
//! The crate has no dependencies and does no I/O.
//!
//! # Examples
//! A business rule: VIP customers' records go to partition 0, everyone
//! else's are hashed over partitions 1..n with Kafka's hash.
//! ```
//! use ghyll_partition::{partition_for_key, BuiltinPartitioner, PartitionContext, Partitioner};
//!
//! #[derive(Debug)]
//! struct VipFirst {
//!     vips: Vec<Vec<u8>>,
//! }
//!
//! impl Partitioner for VipFirst {
//!     fn partition(&self, ctx: &PartitionContext<'_>) -> u32 {
//!         let key = ctx.key.unwrap_or_default();
//!         if ctx.partition_count == 1 || self.vips.iter().any(|vip| vip.as_slice() == key) {
//!             return 0;
//!         }
//!         1 + partition_for_key(key, ctx.partition_count - 1)
//!     }
//!
//!     fn name(&self) -> &str {
//!         "vip-first"
//!     }
//! }
//!
//! let partitioner: Box<dyn Partitioner> = Box::new(VipFirst { vips: vec![b"acme".to_vec()] });
//! let vip = PartitionContext::new("orders", Some(b"acme".as_slice()), Some(b"order".as_slice()), &[], 8);
//! assert_eq!(partitioner.partition(&vip), 0);
//! let regular = PartitionContext::new("orders", Some(b"initech".as_slice()), Some(b"order".as_slice()), &[], 8);
//! assert!((1..8).contains(&partitioner.partition(&regular)));
//!
//! // The built-ins by name, as the CLI takes them.
//! let sticky = "sticky".parse::<BuiltinPartitioner>()?.build();
//! assert_eq!(sticky.partition(&vip), partition_for_key(b"acme", 8));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod builtin;
mod context;
mod default_partitioner;
mod key_hash;
mod murmur2;
mod partitioner;
mod round_robin;
mod sticky;
mod topic_map;

pub use builtin::{BuiltinPartitioner, ParsePartitionerError};
pub use context::{Header, PartitionContext};
pub use default_partitioner::DefaultPartitioner;
pub use key_hash::KeyHash;
pub use murmur2::{murmur2, partition_for_key, to_positive};
pub use partitioner::Partitioner;
pub use round_robin::RoundRobin;
pub use sticky::Sticky;

// Compile-time proof of the promises: partitioners cross and are shared
// between threads, boxed or not, and parse errors fit `Box<dyn Error + Send
// + Sync>`.
const _: fn() = || {
    fn send_sync<T: Send + Sync + ?Sized>() {}
    fn error<T: std::error::Error + Send + Sync + 'static>() {}
    send_sync::<dyn Partitioner>();
    send_sync::<Box<dyn Partitioner>>();
    send_sync::<std::sync::Arc<dyn Partitioner>>();
    send_sync::<RoundRobin>();
    send_sync::<KeyHash>();
    send_sync::<Sticky>();
    send_sync::<DefaultPartitioner>();
    send_sync::<PartitionContext<'static>>();
    error::<ParsePartitionerError>();
};

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends every record with key `k` to partition `count - 1`, and
    /// answers out of range for the key `bad`, to show that the trait
    /// itself cannot stop an out-of-range answer: the broker checks it.
    #[derive(Debug)]
    struct Custom;

    impl Partitioner for Custom {
        fn partition(&self, ctx: &PartitionContext<'_>) -> u32 {
            match ctx.key {
                Some(b"bad") => ctx.partition_count,
                _ => ctx.partition_count - 1,
            }
        }
    }

    #[test]
    fn custom_partitioner_through_dyn_reference() {
        let partitioners: [&dyn Partitioner; 2] = [&Custom, &DefaultPartitioner::new()];
        let ctx = PartitionContext::new("t", Some(b"k".as_slice()), None, &[], 3);
        assert_eq!(partitioners[0].partition(&ctx), 2);
        assert_eq!(partitioners[1].partition(&ctx), partition_for_key(b"k", 3));
        let bad = PartitionContext::new("t", Some(b"bad".as_slice()), None, &[], 3);
        assert_eq!(partitioners[0].partition(&bad), 3);
    }

    /// Every built-in answers below the count for keyed and keyless records
    /// over many topics, counts and availability lists.
    #[test]
    fn builtins_answer_in_range() {
        for builtin in BuiltinPartitioner::ALL {
            let partitioner = builtin.build();
            for count in 1..=9u32 {
                let available: Vec<u32> = (0..count).filter(|p| p % 3 != 1).collect();
                for i in 0..60u32 {
                    let key = i.to_le_bytes();
                    let key = (i % 2 == 0).then_some(key.as_slice());
                    let topic = format!("topic-{}", i % 4);
                    let ctx = PartitionContext::new(&topic, key, Some(b"value".as_slice()), &[], count);
                    assert!(partitioner.partition(&ctx) < count, "{builtin}");
                    let ctx = ctx.with_available_partitions(&available);
                    let partition = partitioner.partition(&ctx);
                    assert!(partition < count, "{builtin}");
                    if key.is_none() && builtin != BuiltinPartitioner::KeyHash {
                        // Keyless answers respect availability (KeyHash's
                        // keyless path is round-robin, checked elsewhere).
                        assert!(available.contains(&partition), "{builtin}: {partition} not in {available:?}");
                    }
                }
            }
        }
    }
}
