//! The words of replication: node ids, offsets, leader epochs, batches.

/// A broker (node) id, Kafka's `broker.id`.
pub type NodeId = u32;
/// A record offset within a partition.
pub type Offset = u64;
/// A leader epoch: bumped by the controller on every leader change.
pub type LeaderEpoch = u32;
/// A partition id, as the [`Controller`](crate::Controller) numbers them.
pub type PartitionId = u32;

/// A batch of records as replication sees it: opaque bytes with a record
/// count, the offset of its first record and the leader epoch it was
/// written in. The broker passes Kafka RecordBatches through; a simulator
/// can use small synthetic payloads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The offset of the first record.
    pub base_offset: Offset,
    /// How many records (offsets) the batch covers; at least 1.
    pub record_count: u32,
    /// The epoch of the leader that wrote the batch.
    pub leader_epoch: LeaderEpoch,
    /// The batch's bytes, passed through untouched.
    pub payload: Vec<u8>,
}

impl Batch {
    /// The offset after the batch's last record.
    pub fn next_offset(&self) -> Offset {
        self.base_offset + u64::from(self.record_count)
    }

    /// The offset of the batch's last record.
    ///
    /// # Panics
    /// If `record_count` is 0, which no valid batch has.
    pub fn last_offset(&self) -> Offset {
        assert!(self.record_count > 0, "a batch holds at least one record");
        self.next_offset() - 1
    }
}

/// How many replicas must have a proposed batch before it is acknowledged,
/// Kafka's producer `acks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Acks {
    /// `acks=1`: acknowledged once the leader has appended it (the caller
    /// answers at once; the replica tracks nothing).
    Leader,
    /// `acks=all`: acknowledged when the high watermark passes the batch
    /// while the ISR has at least `min.insync.replicas` members.
    All,
}

/// The offsets a proposal was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Proposed {
    /// The first record's offset.
    pub first_offset: Offset,
    /// The last record's offset.
    pub last_offset: Offset,
}
