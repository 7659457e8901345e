//! Proves the coordinator's group invariants under random operation
//! sequences, for each built-in assignor. proptest generates joins of new
//! members (random subscriptions over three topics, or all the same),
//! leaves, crashes (a member simply stops), subscription changes and
//! partition count changes; after each, a well-behaved driver runs every
//! live member (rejoin when told, revoke before rejoining, heartbeat and
//! poll) one simulated second at a time and ticks the coordinator, until
//! the group settles (or, for one operation in four, the next operation
//! lands in the middle of the rebalance).
//!
//! Checked at every step: the partitions live members hold never overlap
//! (including in the middle of cooperative rebalances), and a member only
//! gains a partition nobody else holds. Checked when the group settles
//! (which it must, within a bound): every partition of every subscribed
//! topic is held by exactly one member subscribed to its topic, the
//! coordinator's view matches the members', eager groups hold exactly what
//! their assignor computes, a static restart needs no rebalance and keeps
//! the generation, cooperative-sticky is balanced
//! among members with identical subscriptions, and it moves no more
//! partitions than balance needs.

use std::collections::{BTreeMap, BTreeSet};

use ghyll_group::*;
use proptest::prelude::*;

const G: &str = "g";
const TOPICS: [&str; 3] = ["t0", "t1", "t2"];
const SUBSCRIPTIONS: [&[&str]; 4] = [&["t0"], &["t0", "t1"], &["t1", "t2"], &["t0", "t1", "t2"]];
const STEP_MS: u64 = 1_000;
const ROUNDS_MAX: usize = 200;
const MEMBERS_MAX: usize = 5;

#[derive(Debug, Clone)]
enum Op {
    Join { subscription: usize, static_member: bool },
    Leave { k: usize },
    Crash { k: usize },
    Restart { k: usize },
    Resubscribe { k: usize, subscription: usize },
    Partitions { topic: usize, count: u32 },
    Idle { rounds: u8 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..SUBSCRIPTIONS.len(), any::<bool>())
            .prop_map(|(subscription, static_member)| Op::Join { subscription, static_member }),
        1 => any::<usize>().prop_map(|k| Op::Leave { k }),
        1 => any::<usize>().prop_map(|k| Op::Crash { k }),
        1 => any::<usize>().prop_map(|k| Op::Restart { k }),
        1 => (any::<usize>(), 0..SUBSCRIPTIONS.len()).prop_map(|(k, subscription)| Op::Resubscribe { k, subscription }),
        2 => (0..TOPICS.len(), 0u32..=6).prop_map(|(topic, count)| Op::Partitions { topic, count }),
        1 => (1u8..5).prop_map(|rounds| Op::Idle { rounds }),
    ]
}

#[derive(Debug)]
struct Sim {
    client: String,
    instance: Option<String>,
    id: Option<String>,
    topics: BTreeSet<String>,
    held: BTreeSet<TopicPartition>,
    generation: i32,
    must_join: bool,
}

struct World {
    assignor: &'static str,
    cooperative: bool,
    coordinator: GroupCoordinator,
    now_ms: u64,
    members: Vec<Sim>,
    next_client: u32,
    /// Owners at the last settled point, for the stickiness check.
    last_owners: BTreeMap<TopicPartition, String>,
    /// Operations applied since the group last settled.
    unsettled_ops: usize,
}

fn topics_of(subscription: usize) -> BTreeSet<String> {
    SUBSCRIPTIONS[subscription].iter().map(|s| (*s).to_owned()).collect()
}

impl World {
    fn new(assignor: &'static str) -> Self {
        let mut config = GroupConfig::default();
        config.session_timeout_min_ms = 1;
        config.session_timeout_ms = 10_000;
        config.rebalance_timeout_ms = 30_000;
        let mut coordinator = GroupCoordinator::new(config);
        for topic in TOPICS {
            coordinator.set_topic_partitions(0, topic, Some(3));
        }
        let cooperative = builtin_assignor(assignor).unwrap().protocol() == RebalanceProtocol::Cooperative;
        World {
            assignor,
            cooperative,
            coordinator,
            now_ms: 0,
            members: Vec::new(),
            next_client: 0,
            last_owners: BTreeMap::new(),
            unsettled_ops: 0,
        }
    }

    fn check_disjoint(&self) -> Result<(), TestCaseError> {
        let mut seen = BTreeSet::new();
        for m in &self.members {
            for tp in &m.held {
                prop_assert!(seen.insert(tp.clone()), "{tp} held twice: {:?}", self.members);
            }
        }
        Ok(())
    }

    fn join(&mut self, i: usize) -> Result<(), TestCaseError> {
        if !self.cooperative {
            self.members[i].held.clear(); // eager: revoke everything first
        }
        let m = &self.members[i];
        let mut request =
            JoinRequest::new(m.client.clone(), m.topics.clone(), builtin_assignor(self.assignor).unwrap());
        request.member_id.clone_from(&m.id);
        request.group_instance_id.clone_from(&m.instance);
        if self.cooperative {
            request.owned.clone_from(&m.held);
        }
        let outcome = self.coordinator.join(self.now_ms, G, request);
        let outcome = outcome.map_err(|e| TestCaseError::fail(format!("join: {e}")))?;
        self.members[i].id = Some(outcome.member_id().to_owned());
        if let JoinOutcome::Assigned(a) = outcome {
            let old = &self.members[i].held;
            if self.cooperative {
                // Eager revokes everything handed before, kept or not.
                prop_assert!(a.revoked.is_subset(old), "revoked {:?} not held {:?}", a.revoked, old);
                prop_assert!(a.partitions.is_disjoint(&a.revoked));
            }
            for tp in a.partitions.difference(old) {
                let other = self.members.iter().enumerate().find(|(j, o)| *j != i && o.held.contains(tp));
                prop_assert!(other.is_none(), "{tp} given to {:?} while {:?} holds it", a.member_id, other);
            }
            let m = &mut self.members[i];
            m.held = a.partitions;
            m.generation = a.generation;
            m.must_join = a.rejoin;
        }
        self.check_disjoint()
    }

    /// One simulated second: every live member does its part, then tick.
    fn round(&mut self) -> Result<(), TestCaseError> {
        for i in 0..self.members.len() {
            if self.members[i].must_join {
                self.join(i)?;
            } else {
                let m = &self.members[i];
                let id = m.id.clone().expect("joined");
                match self.coordinator.heartbeat(self.now_ms, G, &id, m.generation) {
                    Ok(HeartbeatOutcome::Ok) => {}
                    Ok(HeartbeatOutcome::RebalanceInProgress) | Err(GroupError::IllegalGeneration { .. }) => {
                        self.members[i].must_join = true;
                    }
                    Err(e) => return Err(TestCaseError::fail(format!("heartbeat of {id}: {e}"))),
                }
                self.coordinator.poll_seen(self.now_ms, G, &id).unwrap();
            }
        }
        self.now_ms += STEP_MS;
        for event in self.coordinator.tick(self.now_ms) {
            if let GroupEvent::MemberRemoved { member_id, reason, .. } = &event {
                let live = self.members.iter().any(|m| m.id.as_ref() == Some(member_id));
                prop_assert!(!live, "live member {member_id} removed: {reason}");
            }
        }
        self.check_disjoint()
    }

    fn settled(&self) -> bool {
        let Some(description) = self.coordinator.describe_group(G) else { return self.members.is_empty() };
        if self.members.is_empty() {
            return description.members.is_empty();
        }
        description.state == GroupState::Stable
            && description.members.len() == self.members.len()
            && self.members.iter().all(|m| !m.must_join && m.generation == description.generation)
    }

    fn settle(&mut self) -> Result<(), TestCaseError> {
        for _ in 0..ROUNDS_MAX {
            if self.settled() {
                return self.check_settled();
            }
            self.round()?;
        }
        Err(TestCaseError::fail(format!(
            "not stable after {ROUNDS_MAX} rounds: {:?} {:?}",
            self.coordinator.describe_group(G),
            self.members
        )))
    }

    fn check_settled(&mut self) -> Result<(), TestCaseError> {
        let mut owners: BTreeMap<TopicPartition, String> = BTreeMap::new();
        for m in &self.members {
            for tp in &m.held {
                prop_assert!(m.topics.contains(&tp.topic), "{tp} held by {:?}, not subscribed", m.id);
                owners.insert(tp.clone(), m.id.clone().unwrap());
            }
        }
        let subscribed: BTreeSet<&String> = self.members.iter().flat_map(|m| &m.topics).collect();
        let mut expected = BTreeSet::new();
        for topic in subscribed {
            for p in 0..self.coordinator.topic_partitions(topic).unwrap_or(0) {
                expected.insert(TopicPartition::new(topic.as_str(), p));
            }
        }
        let owned: BTreeSet<TopicPartition> = owners.keys().cloned().collect();
        prop_assert_eq!(&owned, &expected, "held vs existing partitions of subscribed topics");
        if let Some(description) = self.coordinator.describe_group(G) {
            for d in &description.members {
                let m = self.members.iter().find(|m| m.id.as_ref() == Some(&d.member_id)).unwrap();
                prop_assert_eq!(&d.assignment, &m.held);
            }
        }
        if self.cooperative {
            // Stickiness is measured over one change; several changes in
            // one rebalance can each move a partition.
            self.check_sticky(&owners, self.unsettled_ops <= 1)?;
        } else if !self.members.is_empty() {
            self.check_eager()?;
        }
        self.last_owners = owners;
        self.unsettled_ops = 0;
        Ok(())
    }

    /// Eager groups hold exactly what the assignor computes from the
    /// members' subscriptions.
    fn check_eager(&self) -> Result<(), TestCaseError> {
        let description = self.coordinator.describe_group(G).unwrap();
        let empty = BTreeSet::new();
        let mut subs = Vec::new();
        for d in &description.members {
            let m = self.members.iter().find(|m| m.id.as_ref() == Some(&d.member_id)).unwrap();
            subs.push(MemberSubscription {
                member_id: &d.member_id,
                group_instance_id: m.instance.as_deref(),
                topics: &m.topics,
                owned: &empty,
            });
        }
        let partitions: BTreeMap<String, u32> = TOPICS
            .iter()
            .filter(|t| self.members.iter().any(|m| m.topics.contains(**t)))
            .filter_map(|t| Some(((*t).to_owned(), self.coordinator.topic_partitions(t)?)))
            .collect();
        let expected = builtin_assignor(self.assignor).unwrap().assign(&subs, &partitions);
        for m in &self.members {
            let want = expected.get(m.id.as_ref().unwrap()).cloned().unwrap_or_default();
            prop_assert_eq!(&m.held, &want, "{:?}", m.id);
        }
        Ok(())
    }

    /// Balance among identical subscriptions, and no more moves than
    /// needed when every member has the same subscription.
    fn check_sticky(&self, owners: &BTreeMap<TopicPartition, String>, one_change: bool) -> Result<(), TestCaseError> {
        let mut by_subscription: BTreeMap<&BTreeSet<String>, Vec<usize>> = BTreeMap::new();
        for m in &self.members {
            by_subscription.entry(&m.topics).or_default().push(m.held.len());
        }
        for (topics, counts) in &by_subscription {
            let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
            prop_assert!(max - min <= 1, "unbalanced for {topics:?}: {counts:?}");
        }
        // A move: a partition whose previous owner is still here, still
        // subscribed to it, and no longer holds it.
        let mut kept_candidates: BTreeMap<&str, usize> = BTreeMap::new();
        let mut moved = 0;
        for (tp, old) in &self.last_owners {
            let Some(m) = self.members.iter().find(|m| m.id.as_ref() == Some(old)) else { continue };
            let exists = tp.partition < self.coordinator.topic_partitions(&tp.topic).unwrap_or(0);
            if !exists || !m.topics.contains(&tp.topic) {
                continue;
            }
            *kept_candidates.entry(old.as_str()).or_default() += 1;
            if owners.get(tp) != Some(old) {
                moved += 1;
            }
        }
        if one_change && by_subscription.len() == 1 {
            let n = owners.len();
            let members = self.members.len();
            let (quota, extra) = (n / members, n % members);
            let mut kept: Vec<usize> = self
                .members
                .iter()
                .map(|m| kept_candidates.get(m.id.as_deref().unwrap()).copied().unwrap_or(0))
                .collect();
            kept.sort_unstable_by(|a, b| b.cmp(a));
            let needed: usize =
                kept.iter().enumerate().map(|(i, k)| k.saturating_sub(quota + usize::from(i < extra))).sum();
            prop_assert!(moved <= needed, "moved {moved}, balance needs {needed}: kept {kept:?}");
        }
        Ok(())
    }

    fn pick(&self, k: usize) -> Option<usize> {
        (!self.members.is_empty()).then(|| k % self.members.len())
    }

    /// Applies `op`, then (if `settle`) runs the members until the group
    /// settles; otherwise the next operation lands mid-rebalance.
    fn apply(&mut self, op: &Op, same_subscription: bool, settle: bool) -> Result<(), TestCaseError> {
        let was_settled = self.unsettled_ops == 0;
        self.unsettled_ops += 1;
        match *op {
            Op::Join { subscription, static_member } if self.members.len() < MEMBERS_MAX => {
                self.next_client += 1;
                let subscription = if same_subscription { 3 } else { subscription };
                self.members.push(Sim {
                    client: format!("c{}", self.next_client),
                    instance: static_member.then(|| format!("instance-{}", self.next_client)),
                    id: None,
                    topics: topics_of(subscription),
                    held: BTreeSet::new(),
                    generation: -1,
                    must_join: true,
                });
                let last = self.members.len() - 1;
                self.join(last)?;
            }
            Op::Leave { k } => {
                if let Some(i) = self.pick(k) {
                    let m = self.members.remove(i);
                    self.coordinator.leave(self.now_ms, G, m.id.as_deref().unwrap()).unwrap();
                }
            }
            Op::Crash { k } => {
                if let Some(i) = self.pick(k) {
                    self.members.remove(i);
                }
            }
            Op::Restart { k } => {
                // The process stops without leaving and a new one starts:
                // a static member takes its old slot back without a
                // rebalance; a dynamic one is a new member (and the old one
                // times out).
                if let Some(i) = self.pick(k) {
                    let m = &mut self.members[i];
                    m.held.clear();
                    m.id = None;
                    m.must_join = true;
                    let was_static = m.instance.is_some();
                    let generation = self.coordinator.describe_group(G).map(|d| d.generation);
                    self.join(i)?;
                    if was_static && was_settled {
                        let m = &self.members[i];
                        prop_assert!(!m.must_join, "static restart needs no rebalance");
                        prop_assert_eq!(Some(m.generation), generation, "static restart keeps the generation");
                    }
                }
            }
            Op::Resubscribe { k, subscription } if !same_subscription => {
                if let Some(i) = self.pick(k) {
                    self.members[i].topics = topics_of(subscription);
                    self.members[i].must_join = true;
                    if self.cooperative {
                        // Give up partitions of topics no longer subscribed.
                        let topics = self.members[i].topics.clone();
                        self.members[i].held.retain(|tp| topics.contains(&tp.topic));
                    }
                }
            }
            Op::Partitions { topic, count } => {
                let count = (count > 0).then_some(count);
                self.coordinator.set_topic_partitions(self.now_ms, TOPICS[topic], count);
                // Partitions that no longer exist stop being consumed.
                for m in &mut self.members {
                    let exists = |tp: &TopicPartition| count.is_some_and(|c| tp.partition < c);
                    m.held.retain(|tp| tp.topic != TOPICS[topic] || exists(tp));
                }
            }
            Op::Idle { rounds } => {
                for _ in 0..rounds {
                    self.round()?;
                }
            }
            _ => {}
        }
        if settle {
            self.settle()?;
        }
        Ok(())
    }
}

fn run(assignor: &'static str, ops: &[(Op, bool)], same_subscription: bool) -> Result<(), TestCaseError> {
    let mut world = World::new(assignor);
    for (op, settle) in ops {
        world.apply(op, same_subscription, *settle)?;
    }
    world.settle()
}

fn ops() -> impl Strategy<Value = Vec<(Op, bool)>> {
    // Three in four operations wait for the group to settle.
    proptest::collection::vec((op(), prop::bool::weighted(0.75)), 1..20)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn range_model(ops in ops(), same in any::<bool>()) {
        run("range", &ops, same)?;
    }

    #[test]
    fn roundrobin_model(ops in ops(), same in any::<bool>()) {
        run("roundrobin", &ops, same)?;
    }

    #[test]
    fn cooperative_sticky_model(ops in ops(), same in any::<bool>()) {
        run("cooperative-sticky", &ops, same)?;
    }
}

/// Replays the shrunk failures proptest found, as ordinary tests.
#[test]
fn regressions() {
    let join = || (Op::Join { subscription: 0, static_member: false }, false);
    run("cooperative-sticky", &[join(), join()], false).unwrap();
}
