//! What the coordinator reports out: [`GroupEvent`]s for the driver and the
//! admin views [`GroupListing`] and [`GroupDescription`].

use std::collections::BTreeSet;
use std::fmt;

use crate::types::{GroupState, TopicPartition};

/// Something that happened to a group, for the driver to wake waiting
/// consumer threads and to log.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GroupEvent {
    /// A member joined for the first time.
    MemberJoined {
        /// The group.
        group: String,
        /// The new member id.
        member_id: String,
    },
    /// A member is gone; its member id is now unknown.
    MemberRemoved {
        /// The group.
        group: String,
        /// The member id removed.
        member_id: String,
        /// Why.
        reason: RemovalReason,
    },
    /// The group went to `PreparingRebalance`: every member must rejoin.
    RebalanceStarted {
        /// The group.
        group: String,
        /// The generation that is ending.
        generation: i32,
    },
    /// The new generation's assignment is computed (`CompletingRebalance`):
    /// each member's next join returns it.
    AssignmentReady {
        /// The group.
        group: String,
        /// The new generation.
        generation: i32,
    },
    /// Every member holds its assignment: the group is `Stable`.
    Stable {
        /// The group.
        group: String,
        /// The current generation.
        generation: i32,
    },
    /// The last member is gone: the group is `Empty`.
    Empty {
        /// The group.
        group: String,
        /// The generation after the last rebalance.
        generation: i32,
    },
}

impl GroupEvent {
    /// The group the event is about.
    pub fn group(&self) -> &str {
        match self {
            GroupEvent::MemberJoined { group, .. }
            | GroupEvent::MemberRemoved { group, .. }
            | GroupEvent::RebalanceStarted { group, .. }
            | GroupEvent::AssignmentReady { group, .. }
            | GroupEvent::Stable { group, .. }
            | GroupEvent::Empty { group, .. } => group,
        }
    }
}

/// Why a member was removed from its group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RemovalReason {
    /// It called `leave`.
    Left,
    /// No heartbeat within its session timeout.
    SessionTimeout,
    /// No poll within its rebalance timeout (`max.poll.interval.ms`).
    PollTimeout,
    /// It did not rejoin, or pick up its assignment, within the rebalance
    /// timeout.
    RebalanceTimeout,
    /// A new instance with its `group.instance.id` took its place.
    Replaced,
}

impl fmt::Display for RemovalReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RemovalReason::Left => "left the group",
            RemovalReason::SessionTimeout => "session timed out",
            RemovalReason::PollTimeout => "max.poll.interval.ms exceeded",
            RemovalReason::RebalanceTimeout => "did not rejoin within the rebalance timeout",
            RemovalReason::Replaced => "replaced by a new static member instance",
        })
    }
}

/// One line of `list_groups`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupListing {
    /// The group id.
    pub group_id: String,
    /// Its state.
    pub state: GroupState,
    /// Always `consumer`.
    pub protocol_type: &'static str,
    /// How many members it has.
    pub member_count: usize,
}

/// A group as `describe_group` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupDescription {
    /// The group id.
    pub group_id: String,
    /// Its state.
    pub state: GroupState,
    /// Always `consumer`.
    pub protocol_type: &'static str,
    /// The current generation.
    pub generation: i32,
    /// The assignor of the current generation, if it has one.
    pub assignor: Option<String>,
    /// Its members, by member id.
    pub members: Vec<MemberDescription>,
}

/// One member in a [`GroupDescription`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemberDescription {
    /// The member id.
    pub member_id: String,
    /// Its `group.instance.id`, for static members.
    pub group_instance_id: Option<String>,
    /// The client id it joined with.
    pub client_id: String,
    /// The topics it subscribes to.
    pub topics: BTreeSet<String>,
    /// The partitions it was last handed.
    pub assignment: BTreeSet<TopicPartition>,
}
