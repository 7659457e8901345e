//! [`Message`]: what replicas of one partition send each other.

use crate::types::{Batch, LeaderEpoch, Offset};

/// A message between two replicas of one partition. The driver routes it
/// (with the partition) and hands it to [`Replica::step`](crate::Replica::step)
/// on the receiving node; it may be lost, delayed, reordered or
/// duplicated.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Message {
    /// A follower asks the leader for records.
    Fetch(FetchRequest),
    /// The leader's answer.
    FetchResponse(FetchResponse),
}

/// Kafka's replica `Fetch` with `lastFetchedEpoch` (KIP-595's divergence
/// check, which replaced KIP-279's separate `OffsetsForLeaderEpoch`
/// round trip).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    /// Matches the response to the request.
    pub correlation_id: u64,
    /// The follower's current leader epoch.
    pub leader_epoch: LeaderEpoch,
    /// The follower's log end offset: fetch from here.
    pub fetch_offset: Offset,
    /// The epoch of the follower's last record (`None` for an empty log).
    pub last_fetched_epoch: Option<LeaderEpoch>,
    /// How much of its log the follower has fsynced.
    pub flushed_offset: Offset,
}

/// The leader's answer to a [`FetchRequest`]; it echoes the request's
/// fields so the follower can ignore stale and duplicated responses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchResponse {
    /// The request's correlation id.
    pub correlation_id: u64,
    /// The request's leader epoch.
    pub leader_epoch: LeaderEpoch,
    /// The request's fetch offset.
    pub fetch_offset: Offset,
    /// The request's last fetched epoch.
    pub last_fetched_epoch: Option<LeaderEpoch>,
    /// The leader's high watermark.
    pub high_watermark: Offset,
    /// Records, a divergence, or an error.
    pub result: FetchResult,
}

/// What a [`FetchResponse`] carries.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FetchResult {
    /// Batches from the fetch offset (possibly none).
    Records(Vec<Batch>),
    /// The follower's log diverges from the leader's: the leader's largest
    /// epoch at or below the follower's last fetched epoch ends at
    /// `end_offset`. The follower truncates to at most `end_offset`
    /// (KIP-279) and fetches again.
    Diverging {
        /// The leader's epoch.
        epoch: LeaderEpoch,
        /// Where that epoch ends in the leader's log.
        end_offset: Offset,
    },
    /// The fetch offset is below the leader's log start (retention
    /// removed it): the follower empties its log and starts there.
    OffsetOutOfRange {
        /// The leader's log start offset.
        log_start_offset: Offset,
    },
    /// The follower's epoch is older than the leader's.
    FencedLeaderEpoch,
    /// The follower's epoch is newer than the leader's.
    UnknownLeaderEpoch,
    /// The receiver is not the leader.
    NotLeader,
}
