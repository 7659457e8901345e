//! The words of the domain: [`TopicPartition`], [`OffsetAndMetadata`],
//! [`GroupState`] and [`RebalanceProtocol`].

use std::fmt;

/// One partition of one topic, ordered by topic then partition.
///
/// # Examples
/// ```
/// use ghyll_group::TopicPartition;
/// let tp = TopicPartition::new("orders", 3);
/// assert_eq!(tp.to_string(), "orders-3");
/// assert!(TopicPartition::new("a", 9) < TopicPartition::new("b", 0));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    /// The topic name.
    pub topic: String,
    /// The partition number, from 0.
    pub partition: u32,
}

impl TopicPartition {
    /// The partition `partition` of `topic`.
    #[must_use]
    pub fn new(topic: impl Into<String>, partition: u32) -> Self {
        TopicPartition { topic: topic.into(), partition }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// A committed position: `offset` is the next offset the group will read
/// from the partition (Kafka's convention), with the consumer's free-form
/// `metadata` and the time the coordinator accepted the commit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct OffsetAndMetadata {
    /// The next offset to read.
    pub offset: u64,
    /// Free-form text the consumer attached to the commit.
    pub metadata: String,
    /// When the commit was accepted, in milliseconds since the epoch.
    pub commit_timestamp_ms: u64,
}

impl OffsetAndMetadata {
    /// A position `offset` with empty metadata and commit time 0 (the
    /// coordinator stamps the time when it accepts the commit).
    #[must_use]
    pub fn new(offset: u64) -> Self {
        OffsetAndMetadata { offset, metadata: String::new(), commit_timestamp_ms: 0 }
    }
}

/// The life cycle of a group, as Kafka's classic protocol names it.
///
/// `Empty` → `PreparingRebalance` (members rejoin) → `CompletingRebalance`
/// (the assignment is computed and handed out) → `Stable`; back to
/// `PreparingRebalance` on any membership, subscription or topic change;
/// `Empty` when the last member goes; `Dead` after the group is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupState {
    /// No members; the group may still hold committed offsets.
    Empty,
    /// Waiting for every member to rejoin.
    PreparingRebalance,
    /// The new generation's assignment is computed; members are picking
    /// it up.
    CompletingRebalance,
    /// Every member holds its assignment of the current generation.
    Stable,
    /// Deleted (its offsets tombstoned); a new join recreates it.
    Dead,
}

impl GroupState {
    /// Kafka's word for the state, as `kafka-consumer-groups.sh` prints it.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

impl fmt::Display for GroupState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How members give up partitions during a rebalance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RebalanceProtocol {
    /// Every member revokes everything before rejoining; the new
    /// assignment is handed out whole (range, roundrobin).
    #[default]
    Eager,
    /// Members keep their partitions while rejoining and revoke only what
    /// moves; a partition moves in two rebalances, revoke then assign
    /// (cooperative-sticky).
    Cooperative,
}

impl fmt::Display for RebalanceProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RebalanceProtocol::Eager => "eager",
            RebalanceProtocol::Cooperative => "cooperative",
        })
    }
}
