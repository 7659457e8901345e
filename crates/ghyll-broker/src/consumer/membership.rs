//! A consumer's side of a consumer group: subscribe, join, heartbeat from
//! `poll`, take assignments (eager or cooperative), call the rebalance
//! listener, commit, and leave on close.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ghyll_group::{GroupError, HeartbeatOutcome, JoinOutcome, JoinRequest, OffsetAndMetadata, RebalanceProtocol};

use super::{Consumer, TopicPartition};
use crate::error::BrokerError;
use crate::group::{group_error, Liveness};

/// Longest a consumer waiting for a rebalance to complete sleeps before it
/// asks the coordinator again (it is woken at once when the group moves;
/// this only bounds a missed wake-up).
const JOIN_RETRY: Duration = Duration::from_millis(100);
/// Most coordinator round trips one `poll` pass makes before it waits.
const GROUP_STEPS_MAX: usize = 8;

/// Called by [`Consumer::poll`] when a rebalance hands partitions to the
/// consumer or takes them away, on the polling thread, like Kafka's
/// `ConsumerRebalanceListener`.
///
/// The listener gets the consumer itself, so it can commit in
/// `on_revoked` (the usual place for manual commits) or seek in
/// `on_assigned`. Calling [`Consumer::poll`] from a callback is an error.
pub trait RebalanceListener: Send {
    /// Partitions newly assigned; positions are already set from the
    /// committed offsets (or `auto.offset.reset`).
    fn on_assigned(&mut self, consumer: &mut Consumer, partitions: &[TopicPartition]) {
        let _ = (consumer, partitions);
    }

    /// Partitions about to be taken away in a rebalance; the member is
    /// still current, so commits succeed.
    fn on_revoked(&mut self, consumer: &mut Consumer, partitions: &[TopicPartition]) {
        let _ = (consumer, partitions);
    }

    /// Partitions lost without a clean revoke (the member was removed for
    /// missing heartbeats, so others may already own them: commits fail).
    /// Defaults to `on_revoked`, as Kafka's does.
    fn on_lost(&mut self, consumer: &mut Consumer, partitions: &[TopicPartition]) {
        self.on_revoked(consumer, partitions);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Joining (or rejoining) the group: waiting for an assignment.
    Joining,
    /// Holding an assignment of the current generation.
    Stable,
}

/// A subscribed consumer's membership.
pub(crate) struct Membership {
    pub(crate) group_id: String,
    topics: BTreeSet<String>,
    member_id: Option<String>,
    generation: i32,
    phase: Phase,
    listener: Option<Box<dyn RebalanceListener>>,
    next_auto_commit: Instant,
    /// Heartbeated by the broker's group thread while this exists.
    liveness: Arc<Liveness>,
    /// Another consumer took this member's `group.instance.id`.
    fenced: bool,
}

impl Membership {
    /// Records the member id and generation, for the background heartbeat.
    fn set_member(&mut self, member_id: Option<String>, generation: i32) {
        self.liveness.set_member(member_id.clone().map(|id| (id, generation)));
        self.member_id = member_id;
        self.generation = generation;
    }
}

impl fmt::Debug for Membership {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Membership")
            .field("group_id", &self.group_id)
            .field("topics", &self.topics)
            .field("member_id", &self.member_id)
            .field("generation", &self.generation)
            .field("phase", &self.phase)
            .field("listener", &self.listener.as_ref().map(|_| "..."))
            .finish()
    }
}

/// Whether a member that lost its partitions rejoins under a new member id.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ForgetMemberId {
    /// Removed from the group: its id is unknown now.
    Yes,
    /// Only its generation is stale: Kafka rejoins with the same id.
    No,
}

/// Whether `instance` now belongs to a member other than `member_id`.
fn instance_taken(coordinator: &ghyll_group::GroupCoordinator, group: &str, instance: &str, member_id: &str) -> bool {
    coordinator.describe_group(group).is_some_and(|description| {
        description.members.iter().any(|m| m.group_instance_id.as_deref() == Some(instance) && m.member_id != member_id)
    })
}

/// Which rebalance callback to run.
#[derive(Clone, Copy)]
enum Callback {
    Assigned,
    Revoked,
    Lost,
}

impl Consumer {
    fn group_id(&self, operation: &'static str) -> Result<String, BrokerError> {
        self.config.group_id.clone().ok_or(BrokerError::NoGroupId { operation })
    }

    /// Subscribes to `topics` as a member of `group.id`: the next
    /// [`Consumer::poll`] joins the group, and from then on partitions come
    /// from the group's assignor and positions from the committed offsets
    /// (else `auto.offset.reset`). A new subscription replaces the old one.
    ///
    /// # Errors
    /// [`BrokerError::NoGroupId`], [`BrokerError::InvalidState`] when
    /// partitions were assigned by hand, [`BrokerError::InvalidTopicName`],
    /// [`BrokerError::Closed`].
    pub fn subscribe<I, S>(&mut self, topics: I) -> Result<(), BrokerError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.subscribe_inner(topics.into_iter().map(Into::into).collect(), None)
    }

    /// [`Consumer::subscribe`] with a [`RebalanceListener`].
    ///
    /// # Errors
    /// As [`Consumer::subscribe`].
    pub fn subscribe_with_listener<I, S>(
        &mut self,
        topics: I,
        listener: impl RebalanceListener + 'static,
    ) -> Result<(), BrokerError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.subscribe_inner(topics.into_iter().map(Into::into).collect(), Some(Box::new(listener)))
    }

    fn subscribe_inner(
        &mut self,
        topics: BTreeSet<String>,
        listener: Option<Box<dyn RebalanceListener>>,
    ) -> Result<(), BrokerError> {
        self.check_open()?;
        let group_id = self.group_id("subscribe")?;
        if self.membership.is_none() && !self.assigned.is_empty() {
            return Err(BrokerError::InvalidState {
                reason: "subscribe after partitions were assigned by hand: unassign them first",
            });
        }
        for topic in &topics {
            crate::config::validate_topic_name(topic)?;
        }
        if let Some(membership) = self.membership.as_mut() {
            // A new subscription: keep the membership and rejoin with it.
            membership.topics = topics;
            if listener.is_some() {
                membership.listener = listener;
            }
            if membership.phase == Phase::Stable {
                self.prepare_rejoin();
            }
            return Ok(());
        }
        let groups = &self.broker.inner.groups;
        groups.register(&group_id, &self.wake);
        let liveness =
            Arc::new(Liveness::new(&group_id, &self.wake, self.config.heartbeat_interval.as_millis() as u64));
        groups.register_live(&liveness);
        self.membership = Some(Membership {
            group_id,
            topics,
            member_id: None,
            generation: -1,
            phase: Phase::Joining,
            listener,
            next_auto_commit: Instant::now() + self.config.auto_commit_interval,
            liveness,
            fenced: false,
        });
        Ok(())
    }

    /// The subscribed topics (empty without a subscription).
    pub fn subscription(&self) -> BTreeSet<String> {
        self.membership.as_ref().map(|m| m.topics.clone()).unwrap_or_default()
    }

    /// This consumer's member id and generation in its group, once joined.
    pub fn group_member(&self) -> Option<(String, i32)> {
        let membership = self.membership.as_ref()?;
        Some((membership.member_id.clone()?, membership.generation))
    }

    /// Leaves the group (after committing, with auto-commit) and drops
    /// the subscription and its partitions.
    pub fn unsubscribe(&mut self) {
        self.leave_group(true);
    }

    /// Commits the position of every assigned partition (the offset after
    /// the last record `poll` returned) and waits for it.
    ///
    /// # Errors
    /// [`BrokerError::NoGroupId`]; [`BrokerError::Group`] when a rebalance
    /// moved on without this member (a stale generation is fenced, as
    /// Kafka's `CommitFailedException`); the offsets topic's
    /// [`BrokerError::Log`].
    pub fn commit(&mut self) -> Result<(), BrokerError> {
        let offsets = self.positions_to_commit();
        self.commit_offsets(&offsets)
    }

    /// Commits `offsets` (each the next offset to read) for the group.
    ///
    /// # Errors
    /// As [`Consumer::commit`].
    pub fn commit_offsets(&mut self, offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>) -> Result<(), BrokerError> {
        self.check_open()?;
        let group_id = self.group_id("commit")?;
        let member = self.membership.as_ref().and_then(|m| Some((m.member_id.clone()?, m.generation)));
        let member = member.as_ref().map(|(id, generation)| (id.as_str(), *generation));
        let broker = self.broker.clone();
        broker.inner.groups.commit(&broker, &group_id, member, offsets, self.config.commit_durability)
    }

    /// The group's committed offset for `tp`.
    ///
    /// # Errors
    /// [`BrokerError::NoGroupId`].
    pub fn committed(&self, tp: &TopicPartition) -> Result<Option<OffsetAndMetadata>, BrokerError> {
        let group_id = self.group_id("committed")?;
        Ok(self.broker.inner.groups.lock().coordinator.committed(&group_id, tp).cloned())
    }

    fn positions_to_commit(&self) -> BTreeMap<TopicPartition, OffsetAndMetadata> {
        let now = crate::broker::now_ms() as u64;
        self.assigned
            .iter()
            .filter_map(|a| {
                let offset = a.position?;
                Some((a.tp.clone(), OffsetAndMetadata { offset, metadata: String::new(), commit_timestamp_ms: now }))
            })
            .collect()
    }

    /// Commits positions when auto-commit is on; failures are logged (the
    /// records are delivered again, at least once).
    fn auto_commit(&mut self, partitions: Option<&[TopicPartition]>) {
        if !self.config.enable_auto_commit || self.config.group_id.is_none() {
            return;
        }
        let mut offsets = self.positions_to_commit();
        if let Some(only) = partitions {
            offsets.retain(|tp, _| only.contains(tp));
        }
        if let Err(error) = self.commit_offsets(&offsets) {
            tracing::warn!(group = ?self.config.group_id, %error, "auto-commit failed");
        }
    }

    /// Once per `poll` call: auto-commits when due. (The coordinator hears
    /// that the consumer polls from every `group_step` pass: `poll_seen`
    /// while stable, `join` while rejoining.)
    pub(super) fn group_poll_started(&mut self) {
        let cooperative = self.config.assignor.protocol() == RebalanceProtocol::Cooperative;
        let Some(membership) = self.membership.as_mut() else { return };
        // A cooperative member keeps consuming (and committing) while it
        // rejoins; an eager one holds nothing then.
        let holds = membership.phase == Phase::Stable || cooperative;
        if holds && Instant::now() >= membership.next_auto_commit {
            membership.next_auto_commit = Instant::now() + self.config.auto_commit_interval;
            self.auto_commit(None);
        }
    }

    /// One pass of the membership state machine: heartbeat, rejoin, take an
    /// assignment. Returns how long `poll` may block before the next pass
    /// is due (it is woken sooner when the group changes).
    pub(super) fn group_step(&mut self) -> Result<Option<Duration>, BrokerError> {
        if self.membership.is_none() {
            return Ok(None);
        }
        for _ in 0..GROUP_STEPS_MAX {
            let Some(membership) = self.membership.as_ref() else { return Ok(None) };
            if membership.fenced {
                let group = membership.group_id.clone();
                let instance = self.config.group_instance_id.clone().unwrap_or_default();
                return Err(group_error(GroupError::FencedInstanceId {
                    group,
                    group_instance_id: instance,
                    member_id: String::new(),
                }));
            }
            let groups = Arc::clone(&self.broker.inner);
            let groups = &groups.groups;
            let now = groups.now_ms();
            match membership.phase {
                Phase::Stable => {
                    let member_id = membership.member_id.clone().unwrap_or_default();
                    let (outcome, fenced) = {
                        let mut state = groups.lock();
                        // Blocked in poll is polling: the max.poll.interval.ms
                        // timer restarts on every pass, as Kafka's does.
                        let _ = state.coordinator.poll_seen(now, &membership.group_id, &member_id);
                        let outcome =
                            state.coordinator.heartbeat(now, &membership.group_id, &member_id, membership.generation);
                        let fenced = match (&outcome, self.config.group_instance_id.as_deref()) {
                            (Err(GroupError::UnknownMember { .. }), Some(instance)) => {
                                instance_taken(&state.coordinator, &membership.group_id, instance, &member_id)
                            }
                            _ => false,
                        };
                        let events = state.coordinator.take_events();
                        drop(state);
                        groups.wake_for(&events);
                        (outcome, fenced)
                    };
                    match outcome {
                        Ok(HeartbeatOutcome::Ok) => return Ok(Some(self.config.heartbeat_interval)),
                        Ok(HeartbeatOutcome::RebalanceInProgress) => self.prepare_rejoin(),
                        Err(GroupError::UnknownMember { .. }) if fenced => return Err(self.fence(&member_id)),
                        Err(GroupError::UnknownMember { .. }) => self.lose_assignment(ForgetMemberId::Yes),
                        // Kafka rejoins with the same member id after a stale
                        // generation.
                        Err(GroupError::IllegalGeneration { .. }) => self.lose_assignment(ForgetMemberId::No),
                        Err(error) => return Err(group_error(error)),
                    }
                }
                Phase::Joining => {
                    let cooperative = self.config.assignor.protocol() == RebalanceProtocol::Cooperative;
                    let owned: BTreeSet<TopicPartition> = if cooperative {
                        self.assigned.iter().map(|a| a.tp.clone()).collect()
                    } else {
                        BTreeSet::new()
                    };
                    let request = JoinRequest {
                        member_id: membership.member_id.clone(),
                        group_instance_id: self.config.group_instance_id.clone(),
                        client_id: self.config.client_id.clone(),
                        topics: membership.topics.clone(),
                        assignor: Arc::clone(&self.config.assignor),
                        owned,
                        session_timeout_ms: self.config.session_timeout.as_millis() as u64,
                        rebalance_timeout_ms: self.config.max_poll_interval.as_millis() as u64,
                    };
                    let group_id = membership.group_id.clone();
                    let outcome = {
                        let mut state = groups.lock();
                        let outcome = state.coordinator.join(now, &group_id, request);
                        let events = state.coordinator.take_events();
                        drop(state);
                        groups.wake_for(&events);
                        outcome
                    };
                    match outcome {
                        Ok(JoinOutcome::Pending { member_id, generation }) => {
                            if let Some(membership) = self.membership.as_mut() {
                                membership.set_member(Some(member_id), generation);
                            }
                            return Ok(Some(JOIN_RETRY.min(self.config.heartbeat_interval)));
                        }
                        Ok(JoinOutcome::Assigned(assignment)) => {
                            let rejoin = assignment.rejoin;
                            self.apply_assignment(assignment);
                            if !rejoin {
                                return Ok(Some(self.config.heartbeat_interval));
                            }
                            if let Some(membership) = self.membership.as_mut() {
                                membership.phase = Phase::Joining;
                            }
                        }
                        // Removed while rejoining (a cooperative member still
                        // holds partitions): they are someone else's now.
                        Err(GroupError::UnknownMember { .. }) => self.lose_assignment(ForgetMemberId::Yes),
                        Err(error) => return Err(group_error(error)),
                    }
                }
            }
        }
        Ok(Some(JOIN_RETRY))
    }

    /// A rebalance started: eager members commit and give up everything
    /// before rejoining; cooperative members keep consuming and rejoin
    /// with what they own.
    fn prepare_rejoin(&mut self) {
        let cooperative = self.config.assignor.protocol() == RebalanceProtocol::Cooperative;
        if !cooperative {
            self.auto_commit(None);
            let revoked = self.assignment();
            if !revoked.is_empty() {
                self.run_callback(Callback::Revoked, &revoked);
            }
            self.set_group_assignment(&BTreeSet::new());
        }
        if let Some(membership) = self.membership.as_mut() {
            membership.phase = Phase::Joining;
        }
    }

    /// The member was removed (missed heartbeats, or a generation moved on
    /// without it): its partitions may already be someone else's.
    fn lose_assignment(&mut self, forget: ForgetMemberId) {
        let lost = self.assignment();
        tracing::warn!(group = ?self.config.group_id, partitions = lost.len(), "removed from the group; rejoining");
        if !lost.is_empty() {
            self.run_callback(Callback::Lost, &lost);
        }
        self.set_group_assignment(&BTreeSet::new());
        if let Some(membership) = self.membership.as_mut() {
            let member_id = match forget {
                ForgetMemberId::Yes => None,
                ForgetMemberId::No => membership.member_id.clone(),
            };
            membership.set_member(member_id, -1);
            membership.phase = Phase::Joining;
        }
    }

    /// Another consumer with this `group.instance.id` took the member's
    /// place: fatal, as Kafka's `FencedInstanceIdException` (rejoining
    /// would fence the other one in turn, forever). The partitions are
    /// lost; every later `poll` returns the error.
    fn fence(&mut self, member_id: &str) -> BrokerError {
        let lost = self.assignment();
        if !lost.is_empty() {
            self.run_callback(Callback::Lost, &lost);
        }
        self.set_group_assignment(&BTreeSet::new());
        let group = self.config.group_id.clone().unwrap_or_default();
        let instance = self.config.group_instance_id.clone().unwrap_or_default();
        if let Some(membership) = self.membership.as_mut() {
            membership.set_member(None, -1);
            membership.fenced = true;
        }
        tracing::error!(group = %group, instance = %instance, "fenced by another consumer with the same group.instance.id");
        group_error(GroupError::FencedInstanceId {
            group,
            group_instance_id: instance,
            member_id: member_id.to_string(),
        })
    }

    fn apply_assignment(&mut self, assignment: ghyll_group::Assignment) {
        // The new generation first: callbacks commit with it (Kafka calls
        // the listener after SyncGroup returned the new assignment).
        if let Some(membership) = self.membership.as_mut() {
            membership.set_member(Some(assignment.member_id.clone()), assignment.generation);
            membership.phase = Phase::Stable;
        }
        let current: BTreeSet<TopicPartition> = self.assigned.iter().map(|a| a.tp.clone()).collect();
        let revoked: Vec<TopicPartition> = current.difference(&assignment.partitions).cloned().collect();
        if !revoked.is_empty() {
            self.auto_commit(Some(&revoked));
            self.run_callback(Callback::Revoked, &revoked);
        }
        let added: Vec<TopicPartition> = assignment.partitions.difference(&current).cloned().collect();
        self.set_group_assignment(&assignment.partitions);
        // Positions of new partitions: the group's committed offsets.
        if let Some(group_id) = self.config.group_id.clone() {
            let state = self.broker.inner.groups.lock();
            for assigned in &mut self.assigned {
                if added.contains(&assigned.tp) {
                    assigned.position = state.coordinator.committed(&group_id, &assigned.tp).map(|c| c.offset);
                    assigned.buffered = None;
                }
            }
        }
        tracing::debug!(
            group = ?self.config.group_id,
            generation = assignment.generation,
            added = added.len(),
            revoked = revoked.len(),
            "assignment"
        );
        if !added.is_empty() {
            self.run_callback(Callback::Assigned, &added);
        }
    }

    fn run_callback(&mut self, callback: Callback, partitions: &[TopicPartition]) {
        let Some(mut listener) = self.membership.as_mut().and_then(|m| m.listener.take()) else { return };
        self.in_callback = true;
        match callback {
            Callback::Assigned => listener.on_assigned(self, partitions),
            Callback::Revoked => listener.on_revoked(self, partitions),
            Callback::Lost => listener.on_lost(self, partitions),
        }
        self.in_callback = false;
        if let Some(membership) = self.membership.as_mut() {
            membership.listener.get_or_insert(listener);
        }
    }

    /// The consumer's thread is panicking: a crashed member. Nothing is
    /// committed, no listener runs and the group is not told: heartbeats
    /// stop with the consumer, and the session timeout moves its
    /// partitions, as a crashed Kafka consumer's.
    pub(super) fn crash_out_of_group(&mut self) {
        if let Some(membership) = self.membership.take() {
            self.broker.inner.groups.unregister(&membership.group_id, &self.wake);
        }
    }

    /// Leaves the group: commit (auto-commit), revoke, and tell the
    /// coordinator, unless the member is static and `leave` is false (a
    /// static member keeps its slot until its session times out).
    pub(super) fn leave_group(&mut self, leave: bool) {
        if self.membership.is_none() {
            return;
        }
        let cooperative = self.config.assignor.protocol() == RebalanceProtocol::Cooperative;
        if self.membership.as_ref().is_some_and(|m| !m.fenced && (m.phase == Phase::Stable || cooperative)) {
            self.auto_commit(None);
        }
        let revoked = self.assignment();
        if !revoked.is_empty() {
            self.run_callback(Callback::Revoked, &revoked);
        }
        self.set_group_assignment(&BTreeSet::new());
        let Some(membership) = self.membership.take() else { return };
        membership.liveness.set_member(None);
        let groups = &self.broker.inner.groups;
        groups.unregister(&membership.group_id, &self.wake);
        let is_static = self.config.group_instance_id.is_some();
        if let (Some(member_id), true) = (membership.member_id.as_deref(), leave || !is_static) {
            let now = groups.now_ms();
            let events = {
                let mut state = groups.lock();
                if let Err(error) = state.coordinator.leave(now, &membership.group_id, member_id) {
                    tracing::debug!(%error, "leaving the group");
                }
                state.coordinator.take_events()
            };
            groups.wake_for(&events);
        }
    }
}
