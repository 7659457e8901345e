//! The [`Partitioner`] trait: where a record goes.

use std::sync::Arc;

use crate::context::PartitionContext;

/// Chooses the partition of each record sent to a topic.
///
/// Implement it for business rules (a tenant's records to its own
/// partition, VIP customers to a fast lane); the built-ins are
/// [`DefaultPartitioner`](crate::DefaultPartitioner),
/// [`KeyHash`](crate::KeyHash), [`RoundRobin`](crate::RoundRobin) and
/// [`Sticky`](crate::Sticky). The trait is object-safe: the broker holds a
/// `Box<dyn Partitioner>` or an `Arc<dyn Partitioner>`, and both implement
/// the trait too.
///
/// # Contract
/// - **Range.** Return a partition below `ctx.partition_count`. The broker
///   checks every answer: anything else fails that send with a clear
///   `PartitionOutOfRange` error naming the topic, the answer and the count.
///   It never panics and never sends the record elsewhere.
/// - **Availability.** `ctx.available_partitions` lists the partitions that
///   have a leader (empty means unknown). Respecting it is advice, not
///   a rule: a record sent to a partition without a leader waits or fails
///   like any other send to it.
/// - **Concurrency.** One instance serves every producer of a broker, so
///   `partition` is called concurrently from many threads. Keep state in
///   atomics or short critical sections.
/// - **Cost.** It runs once per record on the send path: no I/O, no
///   blocking, no allocation in the common case.
/// - **Panics.** Don't: `partition` runs on the sending thread, so a panic
///   unwinds into the caller of that send.
/// - **Sending.** The broker calls `partition` under its producer's lock
///   for `send` and `send_async`: a partitioner must not send records
///   itself (the producer refuses such a send).
///
/// # Examples
/// ```
/// use ghyll_partition::{PartitionContext, Partitioner};
///
/// /// Records with a `region: eu` header go to partition 0, the rest to 1.
/// #[derive(Debug)]
/// struct ByRegion;
///
/// impl Partitioner for ByRegion {
///     fn partition(&self, ctx: &PartitionContext<'_>) -> u32 {
///         let eu = ctx.headers.iter().any(|h| h.key == "region" && h.value == Some(b"eu".as_slice()));
///         if eu || ctx.partition_count == 1 { 0 } else { 1 }
///     }
///
///     fn name(&self) -> &str {
///         "by-region"
///     }
/// }
///
/// let partitioner: Box<dyn Partitioner> = Box::new(ByRegion);
/// let ctx = PartitionContext::new("events", None, Some(b"hello".as_slice()), &[], 2);
/// assert_eq!(partitioner.partition(&ctx), 1);
/// assert_eq!(partitioner.name(), "by-region");
/// ```
pub trait Partitioner: Send + Sync + std::fmt::Debug {
    /// The partition for the record `ctx` describes: below
    /// `ctx.partition_count` (see the contract above).
    fn partition(&self, ctx: &PartitionContext<'_>) -> u32;

    /// A short name for logs and errors. The built-ins return the name
    /// [`BuiltinPartitioner`](crate::BuiltinPartitioner) parses
    /// (`round-robin`, `key-hash`, `sticky`, `default`); the default is the
    /// implementing type's name.
    fn name(&self) -> &str {
        std::any::type_name::<Self>()
    }
}

impl<P: Partitioner + ?Sized> Partitioner for Box<P> {
    fn partition(&self, ctx: &PartitionContext<'_>) -> u32 {
        (**self).partition(ctx)
    }

    fn name(&self) -> &str {
        (**self).name()
    }
}

impl<P: Partitioner + ?Sized> Partitioner for Arc<P> {
    fn partition(&self, ctx: &PartitionContext<'_>) -> u32 {
        (**self).partition(ctx)
    }

    fn name(&self) -> &str {
        (**self).name()
    }
}

impl<P: Partitioner + ?Sized> Partitioner for &P {
    fn partition(&self, ctx: &PartitionContext<'_>) -> u32 {
        (**self).partition(ctx)
    }

    fn name(&self) -> &str {
        (**self).name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Last;

    impl Partitioner for Last {
        fn partition(&self, ctx: &PartitionContext<'_>) -> u32 {
            ctx.partition_count - 1
        }
    }

    #[test]
    fn default_name_is_the_type_name() {
        assert!(Last.name().ends_with("Last"), "{}", Last.name());
    }

    #[test]
    fn boxes_arcs_and_references_delegate() {
        let ctx = PartitionContext::new("t", None, None, &[], 5);
        let boxed: Box<dyn Partitioner> = Box::new(Last);
        let shared: Arc<dyn Partitioner> = Arc::new(Last);
        let borrowed: &dyn Partitioner = &Last;
        for partitioner in [&boxed as &dyn Partitioner, &shared, &borrowed] {
            assert_eq!(partitioner.partition(&ctx), 4);
            assert_eq!(partitioner.name(), Last.name());
        }
    }
}
