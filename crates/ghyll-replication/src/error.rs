//! [`ReplicationError`] for replica operations, [`ControllerError`] for the
//! controller and [`EpochCacheError`] for epoch-cache checkpoint bytes.

use crate::types::{LeaderEpoch, NodeId, Offset, PartitionId};

/// Why a replica operation was refused. The variants follow Kafka's error
/// codes where one exists (`NOT_LEADER_OR_FOLLOWER`, `NOT_ENOUGH_REPLICAS`,
/// `NOT_ENOUGH_REPLICAS_AFTER_APPEND`, `FENCED_LEADER_EPOCH`,
/// `UNKNOWN_LEADER_EPOCH`, `OFFSET_NOT_AVAILABLE`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplicationError {
    /// This replica is not the partition's leader (of that epoch).
    #[error("node {node} is not the leader at epoch {leader_epoch} (leader: {leader:?})")]
    NotLeader {
        /// This replica's node.
        node: NodeId,
        /// The leader this replica knows of, if any.
        leader: Option<NodeId>,
        /// This replica's leader epoch.
        leader_epoch: LeaderEpoch,
    },
    /// `acks=all` was asked while the ISR is smaller than
    /// `min.insync.replicas`: nothing was appended.
    #[error("not enough replicas: the ISR has {isr_size} members, min.insync.replicas is {min_insync_replicas}")]
    NotEnoughReplicas {
        /// The ISR's size.
        isr_size: usize,
        /// The configured minimum.
        min_insync_replicas: usize,
    },
    /// The batch was appended, but when the high watermark passed it the
    /// ISR had shrunk below `min.insync.replicas`.
    #[error("not enough replicas after append at offset {offset}: the ISR has {isr_size} members, min.insync.replicas is {min_insync_replicas}")]
    NotEnoughReplicasAfterAppend {
        /// The batch's last offset.
        offset: Offset,
        /// The ISR's size.
        isr_size: usize,
        /// The configured minimum.
        min_insync_replicas: usize,
    },
    /// The request carried an older leader epoch than this replica's.
    #[error("fenced leader epoch {given}: the current epoch is {current}")]
    FencedLeaderEpoch {
        /// The epoch given.
        given: LeaderEpoch,
        /// This replica's epoch.
        current: LeaderEpoch,
    },
    /// The request carried a newer leader epoch than this replica knows.
    #[error("unknown leader epoch {given}: the current epoch is {current}")]
    UnknownLeaderEpoch {
        /// The epoch given.
        given: LeaderEpoch,
        /// This replica's epoch.
        current: LeaderEpoch,
    },
    /// A new leader does not serve reads until its high watermark reaches
    /// the start of its epoch (KIP-207): below it, it may lag the old
    /// leader's.
    #[error(
        "offset not available: high watermark {high_watermark} is below the epoch start offset {epoch_start_offset}"
    )]
    OffsetNotAvailable {
        /// The leader's high watermark.
        high_watermark: Offset,
        /// The first offset of the leader's epoch.
        epoch_start_offset: Offset,
    },
    /// A message came from a node that is not a replica of the partition.
    #[error("node {node} is not a replica of this partition")]
    UnknownReplica {
        /// The sender.
        node: NodeId,
    },
    /// A proposal is not a valid batch.
    #[error("invalid batch: {reason}")]
    InvalidBatch {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A fetch response's batches do not continue this replica's log.
    #[error("invalid fetch response from node {from}: {reason}")]
    InvalidFetchResponse {
        /// The leader that sent it.
        from: NodeId,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The [`ReplicaLog`](crate::ReplicaLog) returned batches that do not
    /// start at the requested offset.
    #[error("log read at offset {offset} returned batches starting at {got}")]
    LogRead {
        /// The offset asked for.
        offset: Offset,
        /// The first batch's base offset.
        got: Offset,
    },
    /// `pending_acks_max` proposals are waiting for the high watermark.
    #[error("too many pending acks: the maximum is {max}")]
    TooManyPendingAcks {
        /// The configured maximum.
        max: usize,
    },
    /// A [`ReplicaConfig`](crate::ReplicaConfig) setting or a constructor
    /// argument is out of range.
    #[error("invalid replica config {name}: {reason}")]
    InvalidConfig {
        /// The setting, by its field name.
        name: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Why the [`Controller`](crate::Controller) refused a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ControllerError {
    /// No partition by that id was added.
    #[error("unknown partition {partition}")]
    UnknownPartition {
        /// The partition.
        partition: PartitionId,
    },
    /// The partition was already added.
    #[error("partition {partition} already exists")]
    PartitionExists {
        /// The partition.
        partition: PartitionId,
    },
    /// An ISR change came from a node that is not the leader of that epoch.
    #[error("stale isr change for partition {partition} from node {node} at epoch {leader_epoch}: the leader is {leader:?} at epoch {current_epoch}")]
    StaleIsrChange {
        /// The partition.
        partition: PartitionId,
        /// The sender.
        node: NodeId,
        /// The epoch the sender gave.
        leader_epoch: LeaderEpoch,
        /// The current leader.
        leader: Option<NodeId>,
        /// The current epoch.
        current_epoch: LeaderEpoch,
    },
    /// A replica list or ISR is not valid.
    #[error("invalid replicas for partition {partition}: {reason}")]
    InvalidReplicas {
        /// The partition.
        partition: PartitionId,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// [`assign_replicas`](crate::assign_replicas) cannot place the replicas.
    #[error("invalid assignment: {reason}")]
    InvalidAssignment {
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Why bytes are not an encoded [`EpochCache`](crate::EpochCache).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EpochCacheError {
    /// The bytes end before the data does.
    #[error("truncated epoch cache: needs {needed} bytes, {available} available")]
    Truncated {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// The version byte is not 0.
    #[error("unsupported epoch cache version {version}")]
    UnsupportedVersion {
        /// The version read.
        version: u8,
    },
    /// Epochs or start offsets do not strictly increase.
    #[error("epoch cache entry {index} (epoch {epoch}, start offset {start_offset}) does not follow the one before")]
    NotMonotonic {
        /// The entry's position.
        index: usize,
        /// Its epoch.
        epoch: LeaderEpoch,
        /// Its start offset.
        start_offset: Offset,
    },
    /// Bytes are left after the last entry.
    #[error("{count} trailing bytes after the epoch cache")]
    TrailingBytes {
        /// How many.
        count: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_follow_the_style() {
        let messages = [
            ReplicationError::NotLeader { node: 1, leader: Some(2), leader_epoch: 3 }.to_string(),
            ReplicationError::NotEnoughReplicas { isr_size: 1, min_insync_replicas: 2 }.to_string(),
            ReplicationError::FencedLeaderEpoch { given: 1, current: 2 }.to_string(),
            ControllerError::UnknownPartition { partition: 7 }.to_string(),
            EpochCacheError::UnsupportedVersion { version: 9 }.to_string(),
        ];
        for message in messages {
            assert!(message.starts_with(|c: char| c.is_lowercase()), "{message}");
            assert!(!message.ends_with('.'), "{message}");
        }
        assert_eq!(
            ReplicationError::NotEnoughReplicas { isr_size: 1, min_insync_replicas: 2 }.to_string(),
            "not enough replicas: the ISR has 1 members, min.insync.replicas is 2"
        );
    }
}
