//! The broker's error type.

use std::path::PathBuf;

use ghyll_log::LogError;

/// Errors from the broker, its admin operations, producers and consumers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// A topic name breaks Kafka's rules.
    #[error("invalid topic name {name:?}: {reason}")]
    InvalidTopicName {
        /// The rejected name.
        name: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// `create_topic` for a name that exists.
    #[error("topic {topic} already exists")]
    TopicExists {
        /// The topic.
        topic: String,
    },
    /// The topic does not exist (or was deleted).
    #[error("unknown topic {topic}")]
    UnknownTopic {
        /// The topic.
        topic: String,
    },
    /// A partition number outside the topic, from a caller or a partitioner.
    #[error("partition {partition} is out of range for topic {topic} with {partitions} partitions")]
    PartitionOutOfRange {
        /// The topic.
        topic: String,
        /// The partition asked for.
        partition: u32,
        /// How many the topic has.
        partitions: u32,
    },
    /// A partition count that is zero, too large, or would shrink a topic.
    #[error("invalid partition count {count} for topic {topic}: {reason}")]
    InvalidPartitionCount {
        /// The topic.
        topic: String,
        /// The count asked for.
        count: u32,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A replication factor of 0 or above the broker's node count.
    #[error("invalid replication factor {factor} for topic {topic}: {reason}")]
    InvalidReplicationFactor {
        /// The topic.
        topic: String,
        /// The factor asked for.
        factor: u16,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A configuration name or value is invalid.
    #[error("invalid config {name}={value}: {reason}")]
    InvalidConfig {
        /// Kafka's name for the setting.
        name: String,
        /// The rejected value.
        value: String,
        /// Why.
        reason: String,
    },
    /// A record is larger than the topic's `max.message.bytes` allows.
    #[error("record of {bytes} bytes for {topic} is over max.message.bytes {max_message_bytes}")]
    RecordTooLarge {
        /// The topic.
        topic: String,
        /// The record's encoded size.
        bytes: usize,
        /// The topic's limit.
        max_message_bytes: u32,
    },
    /// A record the batch format cannot hold (a field over 2 GiB, ...).
    #[error("invalid record for {topic}: {reason}")]
    InvalidRecord {
        /// The topic.
        topic: String,
        /// What was wrong.
        reason: String,
    },
    /// Appending the batch holding a record failed.
    #[error("sending to {topic}-{partition} failed: {source}")]
    SendFailed {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// The batch's error, shared by every record in it.
        #[source]
        source: std::sync::Arc<BrokerError>,
    },
    /// An offset outside a partition's log.
    #[error("offset {offset} is out of range for {topic}-{partition}: the log holds [{log_start}, {log_end})")]
    OffsetOutOfRange {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// The offset.
        offset: u64,
        /// First offset in the log.
        log_start: u64,
        /// Next offset to be written.
        log_end: u64,
    },
    /// `auto.offset.reset=none` and the consumer has no position.
    #[error("no position for {topic}-{partition} and auto.offset.reset is none")]
    NoOffsetForPartition {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
    },
    /// A consumer was asked about a partition it is not assigned.
    #[error("{topic}-{partition} is not assigned to this consumer")]
    NotAssigned {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
    },
    /// A partition's log failed.
    #[error("{topic}-{partition}: {source}")]
    Log {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// The log's error.
        #[source]
        source: LogError,
    },
    /// Another broker (in this process or another) holds the data directory.
    #[error("data directory {path} is in use by another broker")]
    Locked {
        /// The data directory.
        path: PathBuf,
    },
    /// The topic metadata file is damaged.
    #[error("topic metadata {path} is damaged: {reason}")]
    CorruptMetadata {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// A file system operation failed.
    #[error("{operation} {path}: {source}")]
    Io {
        /// What was being done.
        operation: &'static str,
        /// The path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A group operation without `group.id`.
    #[error("{operation} needs a group.id in the consumer config")]
    NoGroupId {
        /// What was attempted.
        operation: &'static str,
    },
    /// A call that the consumer's state does not allow.
    #[error("invalid consumer state: {reason}")]
    InvalidState {
        /// Why.
        reason: &'static str,
    },
    /// The group coordinator refused (unknown member, stale generation,
    /// group not empty, ...).
    #[error("consumer group: {source}")]
    Group {
        /// The coordinator's error, naming the group.
        #[source]
        source: ghyll_group::GroupError,
    },
    /// A durable commit shared a write and fsync with other commits, and
    /// that write or fsync failed.
    #[error("commit failed: {source}")]
    CommitFailed {
        /// The shared write's or fsync's error.
        #[source]
        source: std::sync::Arc<BrokerError>,
    },
    /// An operation the internal offsets topic does not allow.
    #[error("{topic} is an internal topic: {reason}")]
    InternalTopic {
        /// The topic.
        topic: String,
        /// Why.
        reason: &'static str,
    },
    /// An `acks=all` send while the partition's ISR is smaller than
    /// `min.insync.replicas` (before or after the append): never
    /// acknowledged with fewer replicas.
    #[error("not enough replicas for {topic}-{partition}: the ISR has {isr} of min.insync.replicas {min_insync}")]
    NotEnoughReplicas {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// The ISR's size.
        isr: usize,
        /// The topic's `min.insync.replicas`.
        min_insync: usize,
    },
    /// The partition has no leader (every ISR member is down), or
    /// leadership moved before an `acks=all` send was acknowledged (its
    /// records may still survive).
    #[error("{topic}-{partition} has no leader that can take the send (leader now: {leader:?})")]
    NotLeader {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// The leader's node, if the partition has one.
        leader: Option<u32>,
    },
    /// A node number outside the broker's nodes.
    #[error("unknown node {node}: the broker has {nodes} nodes")]
    UnknownNode {
        /// The node asked for.
        node: u32,
        /// How many nodes the broker has.
        nodes: u32,
    },
    /// Replication refused an operation.
    #[error("{topic}-{partition}: replication: {source}")]
    Replication {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// The replication error.
        #[source]
        source: ghyll_replication::ReplicationError,
    },
    /// The broker, producer or consumer was closed.
    #[error("{what} is closed")]
    Closed {
        /// What was closed.
        what: &'static str,
    },
}

impl BrokerError {
    pub(crate) fn io(operation: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        BrokerError::Io { operation, path: path.into(), source }
    }

    pub(crate) fn log(topic: &str, partition: u32, source: LogError) -> Self {
        match source {
            LogError::OffsetOutOfRange { offset, log_start, log_end } => {
                BrokerError::OffsetOutOfRange { topic: topic.to_string(), partition, offset, log_start, log_end }
            }
            source => BrokerError::Log { topic: topic.to_string(), partition, source },
        }
    }
}
