//! The [`Assignor`] trait and Kafka's eager assignors, [`RangeAssignor`]
//! and [`RoundRobinAssignor`].

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::sync::Arc;

use crate::sticky::CooperativeStickyAssignor;
use crate::types::{RebalanceProtocol, TopicPartition};

/// What one member asked for when it joined: the input of an
/// [`Assignor`].
#[derive(Debug, Clone, Copy)]
pub struct MemberSubscription<'a> {
    /// The member id the coordinator gave it.
    pub member_id: &'a str,
    /// Its `group.instance.id`, for static members.
    pub group_instance_id: Option<&'a str>,
    /// The topics it subscribes to.
    pub topics: &'a BTreeSet<String>,
    /// The partitions it holds now (cooperative members; empty for eager
    /// ones).
    pub owned: &'a BTreeSet<TopicPartition>,
}

/// Decides which member of a group consumes which partition.
///
/// Implement it for custom placement; the built-ins are [`RangeAssignor`],
/// [`RoundRobinAssignor`] and [`CooperativeStickyAssignor`], also by name
/// through [`builtin_assignor`]. The trait is object-safe: members join
/// with an `Arc<dyn Assignor>`, and every member of a group must use an
/// assignor of the same [`name`](Assignor::name).
///
/// # Contract
/// - **Input.** `members` is sorted by member id and not empty;
///   `partitions` maps each subscribed topic that exists to its partition
///   count.
/// - **Output.** Member id → partitions. The coordinator drops partitions
///   that do not exist, that go to a member not subscribed to their topic
///   or to an unknown member id, and second claims on a partition (the
///   member earlier by id keeps it). A partition left out stays unowned
///   until the next rebalance.
/// - **Determinism.** Same input, same output: the coordinator may call it
///   again for a follow-up rebalance.
/// - **Protocol.** [`RebalanceProtocol::Cooperative`] assignors should
///   keep members' `owned` partitions where they can: a partition that
///   moves is unowned for a rebalance in between.
/// - **Panics.** Don't: it runs under the coordinator's lock.
///
/// # Examples
/// ```
/// use std::collections::{BTreeMap, BTreeSet};
/// use ghyll_group::{Assignor, MemberSubscription, TopicPartition};
///
/// /// Everything to the first member, as a hot standby setup would.
/// #[derive(Debug)]
/// struct FirstTakesAll;
///
/// impl Assignor for FirstTakesAll {
///     fn name(&self) -> &str {
///         "first-takes-all"
///     }
///
///     fn assign(&self, members: &[MemberSubscription<'_>], partitions: &BTreeMap<String, u32>)
///         -> BTreeMap<String, BTreeSet<TopicPartition>> {
///         let all = partitions.iter()
///             .flat_map(|(topic, &count)| (0..count).map(|p| TopicPartition::new(topic.as_str(), p)))
///             .filter(|tp| members[0].topics.contains(&tp.topic))
///             .collect();
///         BTreeMap::from([(members[0].member_id.to_owned(), all)])
///     }
/// }
///
/// let topics = BTreeSet::from(["t".to_owned()]);
/// let owned = BTreeSet::new();
/// let members = [MemberSubscription { member_id: "a", group_instance_id: None, topics: &topics, owned: &owned }];
/// let assignment = FirstTakesAll.assign(&members, &BTreeMap::from([("t".to_owned(), 2)]));
/// assert_eq!(assignment["a"].len(), 2);
/// ```
pub trait Assignor: Send + Sync + Debug {
    /// The name members agree on (`partition.assignment.strategy`'s short
    /// name): `range`, `roundrobin`, `cooperative-sticky` for the built-ins.
    fn name(&self) -> &str;

    /// How members give up partitions; eager unless overridden.
    fn protocol(&self) -> RebalanceProtocol {
        RebalanceProtocol::Eager
    }

    /// The assignment of `partitions` to `members` (see the contract).
    fn assign(
        &self,
        members: &[MemberSubscription<'_>],
        partitions: &BTreeMap<String, u32>,
    ) -> BTreeMap<String, BTreeSet<TopicPartition>>;
}

impl<A: Assignor + ?Sized> Assignor for Box<A> {
    fn name(&self) -> &str {
        (**self).name()
    }

    fn protocol(&self) -> RebalanceProtocol {
        (**self).protocol()
    }

    fn assign(
        &self,
        members: &[MemberSubscription<'_>],
        partitions: &BTreeMap<String, u32>,
    ) -> BTreeMap<String, BTreeSet<TopicPartition>> {
        (**self).assign(members, partitions)
    }
}

impl<A: Assignor + ?Sized> Assignor for Arc<A> {
    fn name(&self) -> &str {
        (**self).name()
    }

    fn protocol(&self) -> RebalanceProtocol {
        (**self).protocol()
    }

    fn assign(
        &self,
        members: &[MemberSubscription<'_>],
        partitions: &BTreeMap<String, u32>,
    ) -> BTreeMap<String, BTreeSet<TopicPartition>> {
        (**self).assign(members, partitions)
    }
}

/// A built-in assignor by name: `range`, `roundrobin` (or `round-robin`)
/// and `cooperative-sticky`; `None` for anything else.
///
/// # Examples
/// ```
/// use ghyll_group::{builtin_assignor, RebalanceProtocol};
/// let assignor = builtin_assignor("cooperative-sticky").unwrap();
/// assert_eq!(assignor.protocol(), RebalanceProtocol::Cooperative);
/// assert_eq!(builtin_assignor("round-robin").unwrap().name(), "roundrobin");
/// assert!(builtin_assignor("sticky").is_none());
/// ```
#[must_use]
pub fn builtin_assignor(name: &str) -> Option<Arc<dyn Assignor>> {
    match name {
        "range" => Some(Arc::new(RangeAssignor)),
        "roundrobin" | "round-robin" => Some(Arc::new(RoundRobinAssignor)),
        "cooperative-sticky" => Some(Arc::new(CooperativeStickyAssignor)),
        _ => None,
    }
}

/// Kafka's member order for the eager assignors (`MemberInfo.compareTo`):
/// static members first by instance id, then dynamic members by member id.
/// Static members so keep their place when they restart with a new member
/// id.
pub(crate) fn kafka_member_order(a: &MemberSubscription<'_>, b: &MemberSubscription<'_>) -> Ordering {
    match (a.group_instance_id, b.group_instance_id) {
        (Some(x), Some(y)) => x.cmp(y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.member_id.cmp(b.member_id),
    }
}

/// Kafka's `RangeAssignor`: per topic, the members subscribed to it in
/// order get contiguous ranges; with `n` partitions and `m` members each
/// gets `n / m` and the first `n % m` one more.
///
/// # Examples
/// Kafka's documented example: two members, topics `t0` and `t1` with
/// three partitions each.
/// ```
/// use std::collections::{BTreeMap, BTreeSet};
/// use ghyll_group::{Assignor, MemberSubscription, RangeAssignor, TopicPartition};
/// let topics = BTreeSet::from(["t0".to_owned(), "t1".to_owned()]);
/// let none = BTreeSet::new();
/// let members = ["C0", "C1"].map(|id| MemberSubscription { member_id: id, group_instance_id: None, topics: &topics, owned: &none });
/// let assignment = RangeAssignor.assign(&members, &BTreeMap::from([("t0".to_owned(), 3), ("t1".to_owned(), 3)]));
/// let tp = |t: &str, p| TopicPartition::new(t, p);
/// assert_eq!(assignment["C0"], BTreeSet::from([tp("t0", 0), tp("t0", 1), tp("t1", 0), tp("t1", 1)]));
/// assert_eq!(assignment["C1"], BTreeSet::from([tp("t0", 2), tp("t1", 2)]));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct RangeAssignor;

impl Assignor for RangeAssignor {
    fn name(&self) -> &str {
        "range"
    }

    fn assign(
        &self,
        members: &[MemberSubscription<'_>],
        partitions: &BTreeMap<String, u32>,
    ) -> BTreeMap<String, BTreeSet<TopicPartition>> {
        let mut sorted = members.to_vec();
        sorted.sort_by(kafka_member_order);
        let mut out: BTreeMap<String, BTreeSet<TopicPartition>> =
            members.iter().map(|m| (m.member_id.to_owned(), BTreeSet::new())).collect();
        for (topic, &count) in partitions {
            let subscribed: Vec<&MemberSubscription<'_>> = sorted.iter().filter(|m| m.topics.contains(topic)).collect();
            if subscribed.is_empty() {
                continue;
            }
            let m = subscribed.len() as u32;
            let (each, extra) = (count / m, count % m);
            let mut next = 0;
            for (i, member) in subscribed.iter().enumerate() {
                let take = each + u32::from((i as u32) < extra);
                let set = out.entry(member.member_id.to_owned()).or_default();
                set.extend((next..next + take).map(|p| TopicPartition::new(topic.as_str(), p)));
                next += take;
            }
        }
        out
    }
}

/// Kafka's `RoundRobinAssignor`: every partition of every subscribed
/// topic, sorted by topic and partition, dealt in turn to the members in
/// order, skipping members not subscribed to the partition's topic.
///
/// # Examples
/// Kafka's documented example: two members, topics `t0` and `t1` with
/// three partitions each.
/// ```
/// use std::collections::{BTreeMap, BTreeSet};
/// use ghyll_group::{Assignor, MemberSubscription, RoundRobinAssignor, TopicPartition};
/// let topics = BTreeSet::from(["t0".to_owned(), "t1".to_owned()]);
/// let none = BTreeSet::new();
/// let members = ["C0", "C1"].map(|id| MemberSubscription { member_id: id, group_instance_id: None, topics: &topics, owned: &none });
/// let assignment = RoundRobinAssignor.assign(&members, &BTreeMap::from([("t0".to_owned(), 3), ("t1".to_owned(), 3)]));
/// let tp = |t: &str, p| TopicPartition::new(t, p);
/// assert_eq!(assignment["C0"], BTreeSet::from([tp("t0", 0), tp("t0", 2), tp("t1", 1)]));
/// assert_eq!(assignment["C1"], BTreeSet::from([tp("t0", 1), tp("t1", 0), tp("t1", 2)]));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct RoundRobinAssignor;

impl Assignor for RoundRobinAssignor {
    fn name(&self) -> &str {
        "roundrobin"
    }

    fn assign(
        &self,
        members: &[MemberSubscription<'_>],
        partitions: &BTreeMap<String, u32>,
    ) -> BTreeMap<String, BTreeSet<TopicPartition>> {
        let mut sorted = members.to_vec();
        sorted.sort_by(kafka_member_order);
        let mut out: BTreeMap<String, BTreeSet<TopicPartition>> =
            members.iter().map(|m| (m.member_id.to_owned(), BTreeSet::new())).collect();
        if sorted.is_empty() {
            return out;
        }
        let mut next = 0;
        for (topic, &count) in partitions {
            if !sorted.iter().any(|m| m.topics.contains(topic)) {
                continue;
            }
            for partition in 0..count {
                while !sorted[next].topics.contains(topic) {
                    next = (next + 1) % sorted.len();
                }
                out.entry(sorted[next].member_id.to_owned())
                    .or_default()
                    .insert(TopicPartition::new(topic.as_str(), partition));
                next = (next + 1) % sorted.len();
            }
        }
        out
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn tp(topic: &str, partition: u32) -> TopicPartition {
        TopicPartition::new(topic, partition)
    }

    pub(crate) fn topics(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    pub(crate) fn counts(pairs: &[(&str, u32)]) -> BTreeMap<String, u32> {
        pairs.iter().map(|(t, n)| ((*t).to_owned(), *n)).collect()
    }

    pub(crate) fn run(
        assignor: &dyn Assignor,
        members: &[(&str, &BTreeSet<String>, &BTreeSet<TopicPartition>)],
        partitions: &BTreeMap<String, u32>,
    ) -> BTreeMap<String, BTreeSet<TopicPartition>> {
        let subs: Vec<MemberSubscription<'_>> = members
            .iter()
            .map(|(id, topics, owned)| MemberSubscription { member_id: id, group_instance_id: None, topics, owned })
            .collect();
        assignor.assign(&subs, partitions)
    }

    /// Kafka's RangeAssignor javadoc: uneven partition counts, the first
    /// members get the extra partition of each topic.
    #[test]
    fn range_uneven_and_partial_subscriptions() {
        let none = BTreeSet::new();
        let both = topics(&["t0", "t1"]);
        let only_t0 = topics(&["t0"]);
        let out = run(
            &RangeAssignor,
            &[("C0", &both, &none), ("C1", &both, &none), ("C2", &only_t0, &none)],
            &counts(&[("t0", 7), ("t1", 3), ("t9", 5)]),
        );
        assert_eq!(out["C0"], BTreeSet::from([tp("t0", 0), tp("t0", 1), tp("t0", 2), tp("t1", 0), tp("t1", 1)]));
        assert_eq!(out["C1"], BTreeSet::from([tp("t0", 3), tp("t0", 4), tp("t1", 2)]));
        assert_eq!(out["C2"], BTreeSet::from([tp("t0", 5), tp("t0", 6)]));
    }

    /// Kafka's RoundRobinAssignor javadoc, unequal subscriptions: C0 on t0;
    /// C1 on t0, t1; C2 on t0, t1, t2; t0 has 1 partition, t1 2, t2 3.
    #[test]
    fn roundrobin_unequal_subscriptions() {
        let none = BTreeSet::new();
        let (s0, s1, s2) = (topics(&["t0"]), topics(&["t0", "t1"]), topics(&["t0", "t1", "t2"]));
        let out = run(
            &RoundRobinAssignor,
            &[("C0", &s0, &none), ("C1", &s1, &none), ("C2", &s2, &none)],
            &counts(&[("t0", 1), ("t1", 2), ("t2", 3)]),
        );
        assert_eq!(out["C0"], BTreeSet::from([tp("t0", 0)]));
        assert_eq!(out["C1"], BTreeSet::from([tp("t1", 0)]));
        assert_eq!(out["C2"], BTreeSet::from([tp("t1", 1), tp("t2", 0), tp("t2", 1), tp("t2", 2)]));
    }

    #[test]
    fn static_members_sort_by_instance_id() {
        let none = BTreeSet::new();
        let t = topics(&["t"]);
        let subs = [
            MemberSubscription { member_id: "a", group_instance_id: None, topics: &t, owned: &none },
            MemberSubscription { member_id: "z", group_instance_id: Some("i1"), topics: &t, owned: &none },
        ];
        let out = RangeAssignor.assign(&subs, &counts(&[("t", 3)]));
        assert_eq!(out["z"], BTreeSet::from([tp("t", 0), tp("t", 1)]));
        assert_eq!(out["a"], BTreeSet::from([tp("t", 2)]));
    }

    #[test]
    fn boxes_and_arcs_delegate() {
        let boxed: Box<dyn Assignor> = Box::new(CooperativeStickyAssignor);
        let shared: Arc<dyn Assignor> = Arc::new(RangeAssignor);
        assert_eq!((boxed.name(), boxed.protocol()), ("cooperative-sticky", RebalanceProtocol::Cooperative));
        assert_eq!(Assignor::name(&shared), "range");
        let none = BTreeSet::new();
        let t = topics(&["t"]);
        let out = run(&shared, &[("a", &t, &none)], &counts(&[("t", 2)]));
        assert_eq!(out["a"].len(), 2);
    }

    #[test]
    fn builtins_by_name() {
        assert_eq!(builtin_assignor("range").unwrap().name(), "range");
        assert_eq!(builtin_assignor("roundrobin").unwrap().protocol(), RebalanceProtocol::Eager);
        assert_eq!(builtin_assignor("cooperative-sticky").unwrap().name(), "cooperative-sticky");
        assert!(builtin_assignor("").is_none());
    }
}
