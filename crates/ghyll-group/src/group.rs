//! A group's own state machine: [`Group`] and its [`Member`]s, rebalances,
//! assignment hand-out and expiry. The coordinator finds the group and
//! checks the request; this module decides what happens to it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use crate::assignor::{Assignor, MemberSubscription};
use crate::config::GroupConfig;
use crate::coordinator::{Assignment, JoinOutcome, JoinRequest, EVENTS_MAX};
use crate::event::{GroupEvent, RemovalReason};
use crate::types::{GroupState, OffsetAndMetadata, RebalanceProtocol, TopicPartition};

/// A partition assignment computed but not yet handed to its member.
#[derive(Debug, Clone)]
pub(crate) struct PendingAssignment {
    pub(crate) partitions: BTreeSet<TopicPartition>,
    pub(crate) revoked: BTreeSet<TopicPartition>,
    pub(crate) rejoin: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub(crate) member_id: String,
    pub(crate) group_instance_id: Option<String>,
    pub(crate) client_id: String,
    pub(crate) topics: BTreeSet<String>,
    pub(crate) assignor: Arc<dyn Assignor>,
    pub(crate) session_timeout_ms: u64,
    pub(crate) rebalance_timeout_ms: u64,
    pub(crate) last_heartbeat_ms: u64,
    pub(crate) last_poll_ms: u64,
    /// Rejoined during the current `PreparingRebalance`.
    pub(crate) joined: bool,
    /// What the member holds as far as the coordinator knows: the last
    /// assignment handed to it, less what it gave up when it rejoined.
    pub(crate) held: BTreeSet<TopicPartition>,
    /// The partitions of the last assignment handed to it.
    pub(crate) assigned: BTreeSet<TopicPartition>,
    /// Its assignment of the current generation, until it picks it up.
    pub(crate) pending: Option<PendingAssignment>,
    /// It was told to rejoin after revoking (cooperative).
    pub(crate) needs_rejoin: bool,
}

/// The stored position of one committed offset; `value: None` remembers a
/// tombstone's position, so an older commit landing later is ignored.
#[derive(Debug, Clone)]
pub(crate) struct OffsetEntry {
    pub(crate) value: Option<OffsetAndMetadata>,
    pub(crate) position: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub(crate) id: String,
    pub(crate) state: GroupState,
    pub(crate) generation: i32,
    pub(crate) assignor_name: Option<String>,
    pub(crate) members: BTreeMap<String, Member>,
    /// `group.instance.id` → member id.
    pub(crate) instances: BTreeMap<String, String>,
    /// Rebalance timeout of the current rebalance phase.
    pub(crate) deadline_ms: u64,
    /// `group.initial.rebalance.delay.ms`: no completion before this.
    pub(crate) not_before_ms: u64,
    pub(crate) empty_since_ms: Option<u64>,
    pub(crate) offsets: BTreeMap<TopicPartition, OffsetEntry>,
}

/// The bounded event queue.
#[derive(Debug, Default)]
pub(crate) struct Events(pub(crate) VecDeque<GroupEvent>);

impl Events {
    fn push(&mut self, event: GroupEvent) {
        if self.0.len() == EVENTS_MAX {
            self.0.pop_front();
        }
        self.0.push_back(event);
    }
}

/// What group methods need from the coordinator besides the group.
pub(crate) struct Ctx<'a> {
    pub(crate) topics: &'a BTreeMap<String, u32>,
    pub(crate) config: &'a GroupConfig,
    pub(crate) events: &'a mut Events,
}

impl Group {
    pub(crate) fn new(id: &str) -> Self {
        Group {
            id: id.to_owned(),
            state: GroupState::Empty,
            generation: 0,
            assignor_name: None,
            members: BTreeMap::new(),
            instances: BTreeMap::new(),
            deadline_ms: 0,
            not_before_ms: 0,
            empty_since_ms: None,
            offsets: BTreeMap::new(),
        }
    }

    /// Kafka lists a group that has members or committed offsets.
    pub(crate) fn exists(&self) -> bool {
        !self.members.is_empty() || self.offsets.values().any(|entry| entry.value.is_some())
    }

    pub(crate) fn max_rebalance_timeout_ms(&self) -> u64 {
        self.members.values().map(|m| m.rebalance_timeout_ms).max().unwrap_or(0)
    }

    pub(crate) fn start_rebalance(&mut self, now_ms: u64, ctx: &mut Ctx<'_>) {
        let from_empty = matches!(self.state, GroupState::Empty | GroupState::Dead);
        self.state = GroupState::PreparingRebalance;
        for member in self.members.values_mut() {
            member.joined = false;
            member.pending = None;
        }
        self.deadline_ms = now_ms.saturating_add(self.max_rebalance_timeout_ms());
        self.not_before_ms =
            if from_empty { now_ms.saturating_add(ctx.config.initial_rebalance_delay_ms) } else { now_ms };
        ctx.events.push(GroupEvent::RebalanceStarted { group: self.id.clone(), generation: self.generation });
    }

    pub(crate) fn become_empty(&mut self, now_ms: u64, ctx: &mut Ctx<'_>) {
        self.generation += 1;
        self.state = GroupState::Empty;
        self.assignor_name = None;
        self.empty_since_ms = Some(now_ms);
        ctx.events.push(GroupEvent::Empty { group: self.id.clone(), generation: self.generation });
    }

    /// Completes a `PreparingRebalance` once every member has rejoined:
    /// bumps the generation, runs the assignor, and computes each member's
    /// share (cooperative: withholding partitions another member still
    /// holds).
    pub(crate) fn maybe_complete(&mut self, now_ms: u64, ctx: &mut Ctx<'_>) {
        if self.state != GroupState::PreparingRebalance
            || now_ms < self.not_before_ms
            || !self.members.values().all(|m| m.joined)
        {
            return;
        }
        if self.members.is_empty() {
            self.become_empty(now_ms, ctx);
            return;
        }
        self.generation += 1;
        let assignor = Arc::clone(&self.members.values().next().expect("members").assignor);
        let protocol = assignor.protocol();
        let subscribed: BTreeSet<&String> = self.members.values().flat_map(|m| &m.topics).collect();
        let partitions: BTreeMap<String, u32> = subscribed
            .into_iter()
            .filter_map(|topic| ctx.topics.get(topic).map(|&count| (topic.clone(), count)))
            .collect();
        let subscriptions: Vec<MemberSubscription<'_>> = self
            .members
            .values()
            .map(|m| MemberSubscription {
                member_id: &m.member_id,
                group_instance_id: m.group_instance_id.as_deref(),
                topics: &m.topics,
                owned: &m.held,
            })
            .collect();
        let mut raw = assignor.assign(&subscriptions, &partitions);

        // Keep what exists, is subscribed and is claimed once.
        let mut taken = BTreeSet::new();
        let mut target: BTreeMap<String, BTreeSet<TopicPartition>> = BTreeMap::new();
        for member in self.members.values() {
            let set = raw.remove(&member.member_id).unwrap_or_default();
            let kept = set
                .into_iter()
                .filter(|tp| {
                    member.topics.contains(&tp.topic)
                        && partitions.get(&tp.topic).is_some_and(|&count| tp.partition < count)
                        && taken.insert(tp.clone())
                })
                .collect();
            target.insert(member.member_id.clone(), kept);
        }

        let held_by: BTreeMap<&TopicPartition, &str> =
            self.members.values().flat_map(|m| m.held.iter().map(move |tp| (tp, m.member_id.as_str()))).collect();
        let mut pending: BTreeMap<String, PendingAssignment> = BTreeMap::new();
        let mut withheld = false;
        for member in self.members.values() {
            let goal = target.remove(&member.member_id).unwrap_or_default();
            let share = match protocol {
                RebalanceProtocol::Eager => {
                    PendingAssignment { partitions: goal, revoked: member.assigned.clone(), rejoin: false }
                }
                RebalanceProtocol::Cooperative => {
                    let revoked = member.held.difference(&goal).cloned().collect();
                    let partitions: BTreeSet<TopicPartition> = goal
                        .iter()
                        .filter(|tp| held_by.get(tp).is_none_or(|owner| *owner == member.member_id))
                        .cloned()
                        .collect();
                    withheld |= partitions.len() < goal.len();
                    PendingAssignment { partitions, revoked, rejoin: false }
                }
            };
            pending.insert(member.member_id.clone(), share);
        }
        for (id, mut share) in pending {
            share.rejoin = withheld && !share.revoked.is_empty();
            self.members.get_mut(&id).expect("member").pending = Some(share);
        }
        self.state = GroupState::CompletingRebalance;
        self.assignor_name = Some(assignor.name().to_owned());
        self.deadline_ms = now_ms.saturating_add(self.max_rebalance_timeout_ms());
        ctx.events.push(GroupEvent::AssignmentReady { group: self.id.clone(), generation: self.generation });
    }

    /// Hands a member its pending assignment; the group is `Stable` when
    /// every member has its own, or rebalances again at once when a
    /// cooperative member must rejoin after revoking.
    pub(crate) fn deliver(&mut self, now_ms: u64, member_id: &str, ctx: &mut Ctx<'_>) -> Assignment {
        let member = self.members.get_mut(member_id).expect("member");
        let share = member.pending.take().expect("a pending assignment");
        member.held = share.partitions.clone();
        member.assigned = share.partitions.clone();
        member.needs_rejoin = share.rejoin;
        let assignment = Assignment {
            member_id: member_id.to_owned(),
            generation: self.generation,
            partitions: share.partitions,
            revoked: share.revoked,
            rejoin: share.rejoin,
        };
        if self.members.values().all(|m| m.pending.is_none()) {
            if self.members.values().any(|m| m.needs_rejoin) {
                self.start_rebalance(now_ms, ctx);
            } else {
                self.state = GroupState::Stable;
                ctx.events.push(GroupEvent::Stable { group: self.id.clone(), generation: self.generation });
            }
        }
        assignment
    }

    pub(crate) fn current(&self, member_id: &str) -> Assignment {
        let member = &self.members[member_id];
        debug_assert_eq!(member.held, member.assigned, "a settled member holds what it was handed");
        Assignment {
            member_id: member_id.to_owned(),
            generation: self.generation,
            partitions: member.assigned.clone(),
            revoked: BTreeSet::new(),
            rejoin: false,
        }
    }

    /// A static member's new instance takes the old member's slot: the old
    /// member id is fenced. Returns the outcome when that is all (the group
    /// is `Stable` and the subscription unchanged: the same assignment, no
    /// rebalance), or the new member id to go on with as a rejoining
    /// member.
    pub(crate) fn replace_static(
        &mut self,
        now_ms: u64,
        old: &str,
        new_id: String,
        request: &mut JoinRequest,
        ctx: &mut Ctx<'_>,
    ) -> Result<JoinOutcome, String> {
        let mut member = self.members.remove(old).expect("member");
        ctx.events.push(GroupEvent::MemberRemoved {
            group: self.id.clone(),
            member_id: old.to_owned(),
            reason: RemovalReason::Replaced,
        });
        let unchanged = member.topics == request.topics && member.assignor.name() == request.assignor.name();
        member.member_id.clone_from(&new_id);
        member.last_heartbeat_ms = now_ms;
        member.last_poll_ms = now_ms;
        member.client_id.clone_from(&request.client_id);
        member.session_timeout_ms = request.session_timeout_ms;
        member.rebalance_timeout_ms = request.rebalance_timeout_ms;
        self.instances.insert(member.group_instance_id.clone().expect("static"), new_id.clone());
        self.members.insert(new_id.clone(), member);
        if unchanged && self.state == GroupState::Stable {
            return Ok(JoinOutcome::Assigned(self.current(&new_id)));
        }
        // Otherwise the new process, which holds nothing the old one held,
        // goes through a rebalance like any rejoining member (a pending
        // assignment it may still pick up was computed against the old
        // one's partitions, so it is safe to hand over).
        request.owned.clear();
        let member = self.members.get_mut(&new_id).expect("member");
        member.held.clear();
        member.needs_rejoin = true;
        Err(new_id)
    }

    /// A new member, which always triggers a rebalance.
    pub(crate) fn add_member(&mut self, now_ms: u64, id: String, request: &JoinRequest, ctx: &mut Ctx<'_>) -> String {
        self.members.insert(
            id.clone(),
            Member {
                member_id: id.clone(),
                group_instance_id: request.group_instance_id.clone(),
                client_id: request.client_id.clone(),
                topics: request.topics.clone(),
                assignor: Arc::clone(&request.assignor),
                session_timeout_ms: request.session_timeout_ms,
                rebalance_timeout_ms: request.rebalance_timeout_ms,
                last_heartbeat_ms: now_ms,
                last_poll_ms: now_ms,
                joined: false,
                held: BTreeSet::new(),
                assigned: BTreeSet::new(),
                pending: None,
                needs_rejoin: true,
            },
        );
        if let Some(instance) = &request.group_instance_id {
            self.instances.insert(instance.clone(), id.clone());
        }
        ctx.events.push(GroupEvent::MemberJoined { group: self.id.clone(), member_id: id.clone() });
        id
    }

    /// The join of a known member.
    pub(crate) fn join_member(
        &mut self,
        now_ms: u64,
        member_id: &str,
        request: JoinRequest,
        ctx: &mut Ctx<'_>,
    ) -> JoinOutcome {
        let member = self.members.get_mut(member_id).expect("member");
        member.last_heartbeat_ms = now_ms;
        member.last_poll_ms = now_ms;
        member.session_timeout_ms = request.session_timeout_ms;
        member.rebalance_timeout_ms = request.rebalance_timeout_ms;
        member.client_id.clone_from(&request.client_id);
        let cooperative = request.assignor.protocol() == RebalanceProtocol::Cooperative;
        let changed = member.topics != request.topics || member.assignor.name() != request.assignor.name();
        let gave_up = cooperative && request.owned != member.held;
        let settled = !changed && !gave_up && !member.needs_rejoin;
        let has_pending = member.pending.is_some();
        match self.state {
            GroupState::Stable if settled => return JoinOutcome::Assigned(self.current(member_id)),
            GroupState::CompletingRebalance if has_pending && !changed => {
                return JoinOutcome::Assigned(self.deliver(now_ms, member_id, ctx))
            }
            GroupState::CompletingRebalance if !has_pending && settled => {
                return JoinOutcome::Assigned(self.current(member_id))
            }
            GroupState::PreparingRebalance => {}
            _ => self.start_rebalance(now_ms, ctx),
        }
        let member = self.members.get_mut(member_id).expect("member");
        if cooperative {
            member.held = member.held.intersection(&request.owned).cloned().collect();
        } else {
            member.held.clear();
        }
        member.topics = request.topics;
        member.assignor = request.assignor;
        member.joined = true;
        member.needs_rejoin = false;
        self.maybe_complete(now_ms, ctx);
        if self.state == GroupState::CompletingRebalance && self.members[member_id].pending.is_some() {
            return JoinOutcome::Assigned(self.deliver(now_ms, member_id, ctx));
        }
        JoinOutcome::Pending { member_id: member_id.to_owned(), generation: self.generation }
    }

    pub(crate) fn remove_member(&mut self, now_ms: u64, member_id: &str, reason: RemovalReason, ctx: &mut Ctx<'_>) {
        let member = self.members.remove(member_id).expect("member");
        if let Some(instance) = &member.group_instance_id {
            if self.instances.get(instance).is_some_and(|id| id == member_id) {
                self.instances.remove(instance);
            }
        }
        ctx.events.push(GroupEvent::MemberRemoved { group: self.id.clone(), member_id: member_id.to_owned(), reason });
        if self.members.is_empty() {
            self.become_empty(now_ms, ctx);
            return;
        }
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => self.start_rebalance(now_ms, ctx),
            GroupState::PreparingRebalance => self.maybe_complete(now_ms, ctx),
            GroupState::Empty | GroupState::Dead => {}
        }
    }

    /// The member that should go at `now_ms`, and why.
    pub(crate) fn expired(&self, now_ms: u64) -> Vec<(String, RemovalReason)> {
        let mut out = Vec::new();
        for member in self.members.values() {
            let reason = if now_ms >= member.last_heartbeat_ms.saturating_add(member.session_timeout_ms) {
                RemovalReason::SessionTimeout
            } else if now_ms >= member.last_poll_ms.saturating_add(member.rebalance_timeout_ms) {
                RemovalReason::PollTimeout
            } else if now_ms >= self.deadline_ms && self.waits_for(member) {
                RemovalReason::RebalanceTimeout
            } else {
                continue;
            };
            out.push((member.member_id.clone(), reason));
        }
        out
    }

    /// The rebalance waits for this member: to rejoin, or to pick up its
    /// assignment.
    pub(crate) fn waits_for(&self, member: &Member) -> bool {
        match self.state {
            GroupState::PreparingRebalance => !member.joined,
            GroupState::CompletingRebalance => member.pending.is_some(),
            _ => false,
        }
    }

    pub(crate) fn next_deadline_ms(&self) -> Option<u64> {
        let members = self.members.values().map(|m| {
            m.last_heartbeat_ms
                .saturating_add(m.session_timeout_ms)
                .min(m.last_poll_ms.saturating_add(m.rebalance_timeout_ms))
        });
        let rebalance = self.members.values().any(|m| self.waits_for(m)).then_some(self.deadline_ms);
        let delayed = (self.state == GroupState::PreparingRebalance && self.members.values().all(|m| m.joined))
            .then_some(self.not_before_ms);
        members.chain(rebalance).chain(delayed).min()
    }
}

impl Member {
    pub(crate) fn has_pending(&self) -> bool {
        self.pending.is_some()
    }

    pub(crate) fn heard_from(&mut self, now_ms: u64) {
        self.last_heartbeat_ms = now_ms;
    }
}
