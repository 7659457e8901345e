//! What a partitioner sees about one record: [`PartitionContext`] and
//! [`Header`].

/// A record header as a partitioner sees it: a UTF-8 key and an optional
/// value (`None` is Kafka's null header value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header<'a> {
    /// Header key.
    pub key: &'a str,
    /// Header value, or `None` for null.
    pub value: Option<&'a [u8]>,
}

/// Everything a [`Partitioner`](crate::Partitioner) may look at to place
/// one record: its topic, key, value and headers, the topic's partition
/// count and which partitions currently have a leader.
///
/// The broker builds one per send with [`PartitionContext::new`] (and
/// [`with_available_partitions`](PartitionContext::with_available_partitions)
/// once it tracks leaders); the fields are public for reading. Everything is
/// borrowed, so building a context costs nothing.
///
/// # Examples
/// ```
/// use ghyll_partition::{Header, PartitionContext};
/// let headers = [Header { key: "tenant", value: Some(b"acme".as_slice()) }];
/// let ctx = PartitionContext::new("orders", Some(b"order-7".as_slice()), Some(b"{}".as_slice()), &headers, 6)
///     .with_available_partitions(&[0, 2, 4]);
/// assert_eq!(ctx.partition_count, 6);
/// assert_eq!(ctx.record_size_bytes(), 7 + 2 + 6 + 4);
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct PartitionContext<'a> {
    /// The topic the record is sent to.
    pub topic: &'a str,
    /// The record's key, or `None` for a keyless record.
    pub key: Option<&'a [u8]>,
    /// The record's value, or `None` for null (a tombstone).
    pub value: Option<&'a [u8]>,
    /// The record's headers, in order.
    pub headers: &'a [Header<'a>],
    /// The topic's partition count, at least 1. A partitioner must return a
    /// partition below it.
    pub partition_count: u32,
    /// Partitions that currently have a leader, sorted ascending, each below
    /// `partition_count`. Empty means "unknown": treat every partition as
    /// available. Kafka's keyless partitioners pick among these only; keyed
    /// hashing ignores them so that a key never moves.
    pub available_partitions: &'a [u32],
}

impl<'a> PartitionContext<'a> {
    /// A context for one record, with every partition available.
    ///
    /// # Panics
    /// If `partition_count` is 0: a topic has at least one partition.
    #[must_use]
    pub fn new(
        topic: &'a str,
        key: Option<&'a [u8]>,
        value: Option<&'a [u8]>,
        headers: &'a [Header<'a>],
        partition_count: u32,
    ) -> Self {
        assert!(partition_count >= 1, "topic {topic:?}: a topic has at least one partition");
        PartitionContext { topic, key, value, headers, partition_count, available_partitions: &[] }
    }

    /// The same context with `available_partitions` set: the partitions that
    /// currently have a leader, sorted ascending, each below
    /// `partition_count`. Empty means "unknown / all".
    ///
    /// The order and range are checked in debug builds only: this runs once
    /// per send and the broker, not a user, builds the list.
    #[must_use]
    pub fn with_available_partitions(self, available_partitions: &'a [u32]) -> Self {
        debug_assert!(
            available_partitions.windows(2).all(|pair| pair[0] < pair[1]),
            "available partitions must be sorted and distinct: {available_partitions:?}"
        );
        debug_assert!(
            available_partitions.iter().all(|&partition| partition < self.partition_count),
            "available partitions must be below the partition count {}: {available_partitions:?}",
            self.partition_count
        );
        PartitionContext { available_partitions, ..self }
    }

    /// An estimate of the record's size in bytes: the lengths of the key,
    /// the value and every header's key and value, without the few bytes
    /// of framing Kafka's record format adds. [`Sticky`](crate::Sticky)
    /// counts records with it.
    #[must_use]
    pub fn record_size_bytes(&self) -> usize {
        let key_bytes = self.key.map_or(0, <[u8]>::len);
        let value_bytes = self.value.map_or(0, <[u8]>::len);
        // Saturating: headers may borrow the same slice many times over.
        self.headers.iter().fold(key_bytes.saturating_add(value_bytes), |total, header| {
            total.saturating_add(header.key.len()).saturating_add(header.value.map_or(0, <[u8]>::len))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_has_every_partition_available() {
        let ctx = PartitionContext::new("t", None, None, &[], 3);
        assert_eq!(ctx.topic, "t");
        assert_eq!(ctx.partition_count, 3);
        assert!(ctx.available_partitions.is_empty());
    }

    #[test]
    fn with_available_partitions_keeps_the_rest() {
        let headers = [Header { key: "h", value: None }];
        let ctx = PartitionContext::new("t", Some(b"k".as_slice()), Some(b"v".as_slice()), &headers, 4)
            .with_available_partitions(&[1, 3]);
        assert_eq!(ctx.available_partitions, &[1, 3]);
        assert_eq!(ctx.key, Some(b"k".as_slice()));
        assert_eq!(ctx.value, Some(b"v".as_slice()));
        assert_eq!(ctx.headers, &headers);
        assert_eq!(ctx.partition_count, 4);
    }

    #[test]
    fn record_size_counts_key_value_and_headers() {
        let headers =
            [Header { key: "trace", value: Some(b"0123456789".as_slice()) }, Header { key: "null", value: None }];
        let ctx = PartitionContext::new("t", Some(b"key".as_slice()), Some(b"value!".as_slice()), &headers, 1);
        assert_eq!(ctx.record_size_bytes(), 3 + 6 + (5 + 10) + 4);
        let empty = PartitionContext::new("t", None, None, &[], 1);
        assert_eq!(empty.record_size_bytes(), 0);
    }

    #[test]
    #[should_panic(expected = "at least one partition")]
    fn new_refuses_zero_partitions() {
        let _ = PartitionContext::new("t", None, None, &[], 0);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "sorted and distinct")]
    fn unsorted_available_partitions_are_caught_in_debug_builds() {
        let _ = PartitionContext::new("t", None, None, &[], 4).with_available_partitions(&[2, 1]);
    }
}
