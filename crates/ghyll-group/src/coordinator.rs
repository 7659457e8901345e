//! [`GroupCoordinator`]: group membership, rebalances and fencing, sans IO.
//!
//! Each group's own state machine is in `group.rs`; offsets and the admin
//! operations on them are in `offsets.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::assignor::Assignor;
use crate::config::GroupConfig;
use crate::error::GroupError;
use crate::event::{GroupDescription, GroupEvent, GroupListing, MemberDescription, RemovalReason};
use crate::group::{Ctx, Events, Group, Member};
use crate::types::{GroupState, TopicPartition};

/// Events kept for [`GroupCoordinator::take_events`] before the oldest are
/// dropped: a driver that never drains them loses old ones, not memory.
pub const EVENTS_MAX: usize = 16_384;

/// A consumer's JoinGroup: who it is and what it subscribes to.
///
/// Build it with [`JoinRequest::new`] and set `member_id` (after the first
/// join), `group_instance_id` (static members) and `owned` (cooperative
/// members) as needed.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    /// The member id the coordinator gave on an earlier join; `None` on the
    /// first join of a consumer.
    pub member_id: Option<String>,
    /// `group.instance.id`: makes the member static (see
    /// [`GroupCoordinator::join`]).
    pub group_instance_id: Option<String>,
    /// `client.id`: the prefix of the member id the coordinator makes.
    pub client_id: String,
    /// The topics it subscribes to.
    pub topics: BTreeSet<String>,
    /// Its assignor; every member of a group must use one of the same name.
    pub assignor: Arc<dyn Assignor>,
    /// Cooperative members: the partitions they hold now, after any
    /// revocation. Ignored for eager assignors (eager members give up
    /// everything when they rejoin).
    pub owned: BTreeSet<TopicPartition>,
    /// `session.timeout.ms`; 0 takes the coordinator's default.
    pub session_timeout_ms: u64,
    /// `max.poll.interval.ms`, also the rebalance timeout; 0 takes the
    /// coordinator's default.
    pub rebalance_timeout_ms: u64,
}

impl JoinRequest {
    /// A first join: no member id, dynamic membership, nothing owned and
    /// the coordinator's default timeouts.
    #[must_use]
    pub fn new(client_id: impl Into<String>, topics: BTreeSet<String>, assignor: Arc<dyn Assignor>) -> Self {
        JoinRequest {
            member_id: None,
            group_instance_id: None,
            client_id: client_id.into(),
            topics,
            assignor,
            owned: BTreeSet::new(),
            session_timeout_ms: 0,
            rebalance_timeout_ms: 0,
        }
    }
}

/// What a join returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinOutcome {
    /// The group is rebalancing and waits for other members: call `join`
    /// again (with this member id) after a short wait, or when the driver
    /// sees [`GroupEvent::AssignmentReady`].
    Pending {
        /// The member id to rejoin with.
        member_id: String,
        /// The group's generation now (the one ending).
        generation: i32,
    },
    /// The member's assignment for the current generation.
    Assigned(Assignment),
}

impl JoinOutcome {
    /// The member id, whichever the outcome.
    #[must_use]
    pub fn member_id(&self) -> &str {
        match self {
            JoinOutcome::Pending { member_id, .. } => member_id,
            JoinOutcome::Assigned(assignment) => &assignment.member_id,
        }
    }
}

/// A member's share of a generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The member id (for a replaced static member, the new one).
    pub member_id: String,
    /// The generation to heartbeat and commit with.
    pub generation: i32,
    /// Every partition the member holds from now on (not only new ones).
    pub partitions: BTreeSet<TopicPartition>,
    /// Partitions to give up now: for eager assignors everything the
    /// member was handed before (it already stopped consuming them when it
    /// rejoined); for cooperative ones what it owned and no longer gets.
    pub revoked: BTreeSet<TopicPartition>,
    /// Cooperative: some partitions the member gave up are waiting for
    /// another member; rejoin (with `owned` = `partitions`) right after
    /// revoking, so a follow-up rebalance hands them out.
    pub rejoin: bool,
}

/// What a heartbeat returns when the member is in good standing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeartbeatOutcome {
    /// Keep consuming.
    Ok,
    /// Rejoin: the group is rebalancing or the member's new assignment is
    /// waiting for it.
    RebalanceInProgress,
}

/// The consumer-group coordinator and offset manager of one broker.
///
/// Sans IO: it touches no files, clocks, threads or randomness. Time comes
/// in as `now_ms` (any monotonic millisecond clock, the same for every
/// call); offsets go out as [`OffsetRecord`](crate::OffsetRecord)s for the
/// driver to append to `__consumer_offsets` and come back through
/// [`complete_commit`](GroupCoordinator::complete_commit) and
/// [`load`](GroupCoordinator::load). The driver holds it behind a mutex,
/// calls it from consumer threads, and runs
/// [`tick`](GroupCoordinator::tick) from a timer thread at
/// [`next_deadline_ms`](GroupCoordinator::next_deadline_ms).
///
/// # Membership
/// A consumer calls [`join`](GroupCoordinator::join) until it gets
/// [`JoinOutcome::Assigned`], then [`heartbeat`](GroupCoordinator::heartbeat)
/// and [`poll_seen`](GroupCoordinator::poll_seen) while it consumes; a
/// heartbeat answering [`HeartbeatOutcome::RebalanceInProgress`] means join
/// again. [`leave`](GroupCoordinator::leave) removes a member at once.
///
/// # Examples
/// ```
/// use std::collections::{BTreeMap, BTreeSet};
/// use ghyll_group::*;
///
/// let mut coordinator = GroupCoordinator::new(GroupConfig::default());
/// coordinator.set_topic_partitions(0, "orders", Some(4));
/// let topics = BTreeSet::from(["orders".to_owned()]);
/// let request = JoinRequest::new("app", topics, builtin_assignor("range").unwrap());
/// let JoinOutcome::Assigned(assignment) = coordinator.join(0, "billing", request)? else { unreachable!() };
/// assert_eq!(assignment.partitions.len(), 4);
/// assert_eq!(coordinator.describe_group("billing").unwrap().state, GroupState::Stable);
///
/// let offsets = BTreeMap::from([(TopicPartition::new("orders", 0), OffsetAndMetadata::new(17))]);
/// let records = coordinator.prepare_commit(5, "billing", &assignment.member_id, assignment.generation, &offsets)?;
/// // ... the driver appends `records` to __consumer_offsets at log offset 0, then:
/// coordinator.complete_commit(&records, 0);
/// assert_eq!(coordinator.committed("billing", &TopicPartition::new("orders", 0)).unwrap().offset, 17);
/// # Ok::<(), GroupError>(())
/// ```
#[derive(Debug)]
pub struct GroupCoordinator {
    pub(crate) config: GroupConfig,
    topics: BTreeMap<String, u32>,
    pub(crate) groups: BTreeMap<String, Group>,
    next_member_number: u64,
    pub(crate) events: Events,
}

pub(crate) fn validate_group_id(group: &str) -> Result<(), GroupError> {
    let reason = if group.is_empty() {
        "must not be empty"
    } else if group.len() > i16::MAX as usize {
        "longer than 32767 bytes"
    } else {
        return Ok(());
    };
    Err(GroupError::InvalidGroupId { group: group.to_owned(), reason })
}

fn unknown_member(group: &str, member_id: &str) -> GroupError {
    GroupError::UnknownMember { group: group.to_owned(), member_id: member_id.to_owned() }
}

impl GroupCoordinator {
    /// A coordinator with no groups, topics or offsets.
    ///
    /// # Panics
    /// If `config` fails [`GroupConfig::validate`]; use
    /// [`GroupCoordinator::try_new`] to get the error instead.
    #[must_use]
    pub fn new(config: GroupConfig) -> Self {
        match Self::try_new(config) {
            Ok(coordinator) => coordinator,
            Err(error) => panic!("{error}"),
        }
    }

    /// A coordinator with no groups, topics or offsets.
    ///
    /// # Errors
    /// [`GroupError::InvalidConfig`] if `config` fails
    /// [`GroupConfig::validate`].
    pub fn try_new(config: GroupConfig) -> Result<Self, GroupError> {
        config.validate()?;
        Ok(GroupCoordinator {
            config,
            topics: BTreeMap::new(),
            groups: BTreeMap::new(),
            next_member_number: 0,
            events: Events::default(),
        })
    }

    /// The settings it runs with.
    #[must_use]
    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    fn split(&mut self) -> (&mut BTreeMap<String, Group>, Ctx<'_>) {
        (&mut self.groups, Ctx { topics: &self.topics, config: &self.config, events: &mut self.events })
    }

    /// Tells the coordinator a topic's partition count: on creation, when
    /// partitions are added, and `None` (or 0) when the topic is deleted.
    /// Groups with a member subscribed to the topic rebalance if the count
    /// changed (a group already preparing a rebalance uses the new count).
    pub fn set_topic_partitions(&mut self, now_ms: u64, topic: &str, partitions: Option<u32>) {
        let partitions = partitions.filter(|&count| count > 0);
        if self.topics.get(topic).copied() == partitions {
            return;
        }
        match partitions {
            Some(count) => self.topics.insert(topic.to_owned(), count),
            None => self.topics.remove(topic),
        };
        let (groups, mut ctx) = self.split();
        for group in groups.values_mut() {
            let affected = group.members.values().any(|m| m.topics.contains(topic));
            if affected && matches!(group.state, GroupState::Stable | GroupState::CompletingRebalance) {
                group.start_rebalance(now_ms, &mut ctx);
            }
        }
    }

    /// The partition count the coordinator knows for `topic`.
    #[must_use]
    pub fn topic_partitions(&self, topic: &str) -> Option<u32> {
        self.topics.get(topic).copied()
    }

    /// Joins or rejoins a member (Kafka's JoinGroup and SyncGroup in one).
    ///
    /// - **First join** (`member_id: None`): the member gets a fresh id,
    ///   `"{client_id}-{n}"` with `n` counted by the coordinator, and the
    ///   group rebalances.
    /// - **Rejoin with nothing changed** while the group is `Stable`:
    ///   returns the member's current assignment, no rebalance.
    /// - **Otherwise** (new member, changed subscription or assignor,
    ///   cooperative member that gave partitions up, or a rebalance already
    ///   under way) the group goes `PreparingRebalance` and the call returns
    ///   [`JoinOutcome::Pending`]. The member keeps calling `join` (the
    ///   driver waits a little between calls, or until
    ///   [`GroupEvent::AssignmentReady`]). When every member has rejoined
    ///   (or [`tick`](GroupCoordinator::tick) removed those that did not
    ///   within their rebalance timeout) the generation is bumped and the
    ///   assignor runs; each member's next `join` returns
    ///   [`JoinOutcome::Assigned`], and once all have theirs the group is
    ///   `Stable`.
    ///
    /// A join also counts as a heartbeat and a poll.
    ///
    /// # Static membership
    /// A member with a `group_instance_id` that joins without a member id
    /// while its instance id still has a member (the old process closed
    /// without [`leave`](GroupCoordinator::leave), as Kafka's static
    /// members do, or crashed) replaces that member: the old member id is
    /// fenced, the new one takes its slot and, if the subscription is
    /// unchanged and the group `Stable`, its assignment, with no rebalance
    /// and no new generation. A closed static member keeps its slot until
    /// its session times out: the driver simply does not call `leave`.
    ///
    /// # Errors
    /// - [`GroupError::InvalidGroupId`] for an empty group id.
    /// - [`GroupError::InvalidSessionTimeout`] outside the configured bounds.
    /// - [`GroupError::UnknownMember`] for a member id the group does not
    ///   have (it was removed: join again without a member id).
    /// - [`GroupError::FencedInstanceId`] when the instance id belongs to
    ///   another member id now.
    /// - [`GroupError::InconsistentAssignor`] when the other members use an
    ///   assignor of another name.
    /// - [`GroupError::GroupMaxSizeReached`] for a new member of a full
    ///   group.
    pub fn join(&mut self, now_ms: u64, group_id: &str, mut request: JoinRequest) -> Result<JoinOutcome, GroupError> {
        validate_group_id(group_id)?;
        if request.session_timeout_ms == 0 {
            request.session_timeout_ms = self.config.session_timeout_ms;
        }
        if request.rebalance_timeout_ms == 0 {
            request.rebalance_timeout_ms = self.config.rebalance_timeout_ms;
        }
        let (min_ms, max_ms) = (self.config.session_timeout_min_ms, self.config.session_timeout_max_ms);
        if !(min_ms..=max_ms).contains(&request.session_timeout_ms) {
            return Err(GroupError::InvalidSessionTimeout {
                group: group_id.to_owned(),
                session_timeout_ms: request.session_timeout_ms,
                min_ms,
                max_ms,
            });
        }
        let members_max = self.config.group_members_max;
        let number = &mut self.next_member_number;
        let groups = &mut self.groups;
        let mut ctx = Ctx { topics: &self.topics, config: &self.config, events: &mut self.events };
        let group = groups.entry(group_id.to_owned()).or_insert_with(|| Group::new(group_id));
        if group.state == GroupState::Dead {
            group.state = GroupState::Empty;
        }

        // Who is joining: a known member, a static member's new instance,
        // or a new member.
        let known = match (&request.member_id, &request.group_instance_id) {
            (Some(id), instance) => {
                if let Some(instance) = instance {
                    if group.instances.get(instance).is_some_and(|current| current != id) {
                        return Err(GroupError::FencedInstanceId {
                            group: group_id.to_owned(),
                            group_instance_id: instance.clone(),
                            member_id: id.clone(),
                        });
                    }
                }
                if !group.members.contains_key(id) {
                    return Err(unknown_member(group_id, id));
                }
                Some(id.clone())
            }
            (None, Some(instance)) => group.instances.get(instance).cloned(),
            (None, None) => None,
        };
        if let Some(other) = group.members.values().find(|m| Some(&m.member_id) != known.as_ref()) {
            if other.assignor.name() != request.assignor.name() {
                return Err(GroupError::InconsistentAssignor {
                    group: group_id.to_owned(),
                    expected: other.assignor.name().to_owned(),
                    got: request.assignor.name().to_owned(),
                });
            }
        }
        if known.is_none() && group.members.len() >= members_max {
            return Err(GroupError::GroupMaxSizeReached { group: group_id.to_owned(), max: members_max });
        }

        let mut fresh_id = || {
            *number += 1;
            let prefix = if request.client_id.is_empty() { "member" } else { request.client_id.as_str() };
            format!("{prefix}-{number}")
        };
        let member_id = match known {
            Some(id) if request.member_id.is_some() => id,
            Some(old) => match group.replace_static(now_ms, &old, fresh_id(), &mut request, &mut ctx) {
                Ok(done) => return Ok(done),
                Err(new_id) => new_id,
            },
            None => group.add_member(now_ms, fresh_id(), &request, &mut ctx),
        };
        Ok(group.join_member(now_ms, &member_id, request, &mut ctx))
    }

    fn member_mut<'a>(
        groups: &'a mut BTreeMap<String, Group>,
        group_id: &str,
        member_id: &str,
    ) -> Result<(&'a mut GroupState, i32, &'a mut Member), GroupError> {
        let group = groups.get_mut(group_id).ok_or_else(|| unknown_member(group_id, member_id))?;
        let member = group.members.get_mut(member_id).ok_or_else(|| unknown_member(group_id, member_id))?;
        Ok((&mut group.state, group.generation, member))
    }

    /// A member's heartbeat: keeps its session alive and tells it whether
    /// to rejoin.
    ///
    /// # Errors
    /// [`GroupError::UnknownMember`] for a member the group does not have
    /// (rejoin without a member id); [`GroupError::IllegalGeneration`] for
    /// a generation other than the current one while the group is not
    /// rebalancing (rejoin with the member id).
    pub fn heartbeat(
        &mut self,
        now_ms: u64,
        group_id: &str,
        member_id: &str,
        generation: i32,
    ) -> Result<HeartbeatOutcome, GroupError> {
        let (state, current, member) = Self::member_mut(&mut self.groups, group_id, member_id)?;
        member.last_heartbeat_ms = now_ms;
        let waiting = *state == GroupState::CompletingRebalance && member.pending.is_some();
        if *state == GroupState::PreparingRebalance || waiting {
            return Ok(HeartbeatOutcome::RebalanceInProgress);
        }
        if generation != current {
            return Err(GroupError::IllegalGeneration {
                group: group_id.to_owned(),
                member_id: member_id.to_owned(),
                generation,
                current,
            });
        }
        Ok(HeartbeatOutcome::Ok)
    }

    /// The consumer called `poll`: resets its `max.poll.interval.ms` timer
    /// and counts as a heartbeat.
    ///
    /// # Errors
    /// [`GroupError::UnknownMember`] for a member the group does not have.
    pub fn poll_seen(&mut self, now_ms: u64, group_id: &str, member_id: &str) -> Result<(), GroupError> {
        let (_, _, member) = Self::member_mut(&mut self.groups, group_id, member_id)?;
        member.last_poll_ms = now_ms;
        member.last_heartbeat_ms = now_ms;
        Ok(())
    }

    /// Removes a member at once (Kafka's LeaveGroup on close). The others
    /// rebalance; the last one leaving makes the group `Empty`. A static
    /// member that should keep its slot across a restart does not call
    /// this (see [`join`](GroupCoordinator::join)).
    ///
    /// # Errors
    /// [`GroupError::UnknownMember`] for a member the group does not have.
    pub fn leave(&mut self, now_ms: u64, group_id: &str, member_id: &str) -> Result<(), GroupError> {
        let (groups, mut ctx) = self.split();
        let group = groups.get_mut(group_id).ok_or_else(|| unknown_member(group_id, member_id))?;
        if !group.members.contains_key(member_id) {
            return Err(unknown_member(group_id, member_id));
        }
        group.remove_member(now_ms, member_id, RemovalReason::Left, &mut ctx);
        Ok(())
    }

    /// Removes the members whose time is up: no heartbeat within their
    /// session timeout, no poll within `max.poll.interval.ms`, or no rejoin
    /// (or no pickup of their assignment) within the rebalance timeout;
    /// completes rebalances that were waiting only for those members or
    /// for `initial_rebalance_delay_ms`.
    ///
    /// Returns every event queued since the last call to `tick` or
    /// [`take_events`](GroupCoordinator::take_events), including those
    /// from joins, leaves and topic changes.
    pub fn tick(&mut self, now_ms: u64) -> Vec<GroupEvent> {
        let (groups, mut ctx) = self.split();
        for group in groups.values_mut() {
            for (member_id, reason) in group.expired(now_ms) {
                if group.members.contains_key(&member_id) {
                    group.remove_member(now_ms, &member_id, reason, &mut ctx);
                }
            }
            group.maybe_complete(now_ms, &mut ctx);
        }
        groups.retain(|_, group| !group.members.is_empty() || !group.offsets.is_empty());
        self.take_events()
    }

    /// Drains the queued events (joins, removals, rebalances, stable,
    /// empty), oldest first. At most [`EVENTS_MAX`] are kept.
    pub fn take_events(&mut self) -> Vec<GroupEvent> {
        self.events.0.drain(..).collect()
    }

    /// The earliest time at which [`tick`](GroupCoordinator::tick) has
    /// work (a session, poll or rebalance timeout, or the end of the
    /// initial rebalance delay), so the driver's timer thread can sleep
    /// until then. `None` when no group has members. Offset expiry has its
    /// own clock: [`next_offset_expiry_ms`](GroupCoordinator::next_offset_expiry_ms).
    #[must_use]
    pub fn next_deadline_ms(&self) -> Option<u64> {
        self.groups.values().filter_map(Group::next_deadline_ms).min()
    }

    /// Every group that has members or committed offsets.
    #[must_use]
    pub fn list_groups(&self) -> Vec<GroupListing> {
        self.groups
            .values()
            .filter(|g| g.exists())
            .map(|g| GroupListing {
                group_id: g.id.clone(),
                state: g.state,
                protocol_type: "consumer",
                member_count: g.members.len(),
            })
            .collect()
    }

    /// A group's state, generation, assignor and members; `None` when the
    /// group has neither members nor committed offsets.
    #[must_use]
    pub fn describe_group(&self, group_id: &str) -> Option<GroupDescription> {
        let group = self.groups.get(group_id).filter(|g| g.exists())?;
        Some(GroupDescription {
            group_id: group.id.clone(),
            state: group.state,
            protocol_type: "consumer",
            generation: group.generation,
            assignor: group.assignor_name.clone(),
            members: group
                .members
                .values()
                .map(|m| MemberDescription {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    topics: m.topics.clone(),
                    assignment: m.assigned.clone(),
                })
                .collect(),
        })
    }
}
