//! [`CooperativeStickyAssignor`]: balanced, and moving as few partitions
//! as balance allows.

use std::collections::{BTreeMap, BTreeSet};

use crate::assignor::{Assignor, MemberSubscription};
use crate::types::{RebalanceProtocol, TopicPartition};

/// Kafka's `cooperative-sticky` in spirit: a balanced assignment that keeps
/// each member's owned partitions where balance allows, under the
/// [`Cooperative`](RebalanceProtocol::Cooperative) protocol.
///
/// The algorithm, in three steps:
/// 1. Every member keeps the partitions it owns that still exist and that
///    it is still subscribed to (a partition two members claim stays with
///    the first by member id).
/// 2. Each partition left over goes to the least-loaded member subscribed
///    to its topic (partitions with the fewest candidates first).
/// 3. While some member has at least two partitions more than another
///    member that could take one of them, the most loaded member gives one
///    to the least loaded, preferring a partition it did not own before.
///
/// Step 3 only moves a partition to reduce an imbalance, so among members
/// with identical subscriptions the counts end up differing by at most
/// one, and no owned partition moves unless its owner is above its fair
/// share.
///
/// # Examples
/// A third member joins two that own three partitions each: one partition
/// moves from each.
/// ```
/// use std::collections::{BTreeMap, BTreeSet};
/// use ghyll_group::{Assignor, CooperativeStickyAssignor, MemberSubscription, TopicPartition};
/// let topics = BTreeSet::from(["t".to_owned()]);
/// let tp = |p| TopicPartition::new("t", p);
/// let (a, b, c) = (BTreeSet::from([tp(0), tp(1), tp(2)]), BTreeSet::from([tp(3), tp(4), tp(5)]), BTreeSet::new());
/// let members = [("a", &a), ("b", &b), ("c", &c)]
///     .map(|(id, owned)| MemberSubscription { member_id: id, group_instance_id: None, topics: &topics, owned });
/// let out = CooperativeStickyAssignor.assign(&members, &BTreeMap::from([("t".to_owned(), 6)]));
/// assert!(out["a"].is_subset(&a) && out["b"].is_subset(&b));
/// assert_eq!((out["a"].len(), out["b"].len(), out["c"].len()), (2, 2, 2));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct CooperativeStickyAssignor;

impl Assignor for CooperativeStickyAssignor {
    fn name(&self) -> &str {
        "cooperative-sticky"
    }

    fn protocol(&self) -> RebalanceProtocol {
        RebalanceProtocol::Cooperative
    }

    fn assign(
        &self,
        members: &[MemberSubscription<'_>],
        partitions: &BTreeMap<String, u32>,
    ) -> BTreeMap<String, BTreeSet<TopicPartition>> {
        let mut sorted = members.to_vec();
        sorted.sort_by(|a, b| a.member_id.cmp(b.member_id));
        let exists = |tp: &TopicPartition| partitions.get(&tp.topic).is_some_and(|&count| tp.partition < count);

        // Step 1: keep what is owned, still exists and still subscribed.
        let mut assigned: Vec<BTreeSet<TopicPartition>> = vec![BTreeSet::new(); sorted.len()];
        let mut taken: BTreeSet<TopicPartition> = BTreeSet::new();
        for (i, member) in sorted.iter().enumerate() {
            for tp in member.owned {
                if exists(tp) && member.topics.contains(&tp.topic) && taken.insert(tp.clone()) {
                    assigned[i].insert(tp.clone());
                }
            }
        }

        // Step 2: the rest to the least loaded candidate.
        let candidates =
            |topic: &str| -> Vec<usize> { (0..sorted.len()).filter(|&i| sorted[i].topics.contains(topic)).collect() };
        let mut free: Vec<(usize, TopicPartition)> = Vec::new();
        for (topic, &count) in partitions {
            let n = candidates(topic).len();
            if n == 0 {
                continue;
            }
            for partition in 0..count {
                let tp = TopicPartition::new(topic.as_str(), partition);
                if !taken.contains(&tp) {
                    free.push((n, tp));
                }
            }
        }
        free.sort();
        for (_, tp) in free {
            let cands = candidates(&tp.topic);
            let best = cands.into_iter().min_by_key(|&i| (assigned[i].len(), i)).expect("a candidate");
            assigned[best].insert(tp);
        }

        // Step 3: move from the most to the least loaded while the gap is 2+.
        loop {
            let mut by_count: Vec<usize> = (0..sorted.len()).collect();
            by_count.sort_by_key(|&i| (assigned[i].len(), i));
            let mut chosen = None;
            'search: for &a in by_count.iter().rev() {
                for &b in &by_count {
                    if assigned[a].len() < assigned[b].len() + 2 {
                        break;
                    }
                    let movable = |tp: &&TopicPartition| sorted[b].topics.contains(&tp.topic);
                    let pick = assigned[a]
                        .iter()
                        .rev()
                        .filter(movable)
                        .find(|tp| !sorted[a].owned.contains(*tp))
                        .or_else(|| assigned[a].iter().rev().find(movable));
                    if let Some(tp) = pick {
                        chosen = Some((a, b, tp.clone()));
                        break 'search;
                    }
                }
            }
            let Some((a, b, tp)) = chosen else { break };
            assigned[a].remove(&tp);
            assigned[b].insert(tp);
        }

        sorted.iter().zip(assigned).map(|(m, set)| (m.member_id.to_owned(), set)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assignor::tests::{counts, run, topics, tp};

    #[test]
    fn keeps_owned_when_balanced() {
        let t = topics(&["t"]);
        let a = BTreeSet::from([tp("t", 0), tp("t", 3)]);
        let b = BTreeSet::from([tp("t", 1), tp("t", 2)]);
        let out = run(&CooperativeStickyAssignor, &[("a", &t, &a), ("b", &t, &b)], &counts(&[("t", 4)]));
        assert_eq!(out["a"], a);
        assert_eq!(out["b"], b);
    }

    #[test]
    fn a_leaver_partitions_spread_without_moving_others() {
        let t = topics(&["t"]);
        let a = BTreeSet::from([tp("t", 0), tp("t", 1)]);
        let b = BTreeSet::from([tp("t", 2), tp("t", 3)]);
        // c owned 4 and 5 and left.
        let out = run(&CooperativeStickyAssignor, &[("a", &t, &a), ("b", &t, &b)], &counts(&[("t", 6)]));
        assert!(out["a"].is_superset(&a) && out["b"].is_superset(&b));
        assert_eq!(out["a"].len() + out["b"].len(), 6);
        assert_eq!(out["a"].len(), 3);
    }

    #[test]
    fn gone_topics_and_double_claims_are_dropped() {
        let t = topics(&["t"]);
        let a = BTreeSet::from([tp("t", 0), tp("gone", 0), tp("t", 9)]);
        let b = BTreeSet::from([tp("t", 0)]);
        let out = run(&CooperativeStickyAssignor, &[("a", &t, &a), ("b", &t, &b)], &counts(&[("t", 2)]));
        assert_eq!(out["a"], BTreeSet::from([tp("t", 0)]));
        assert_eq!(out["b"], BTreeSet::from([tp("t", 1)]));
    }

    #[test]
    fn unequal_subscriptions_balance_where_they_can() {
        let both = topics(&["t0", "t1"]);
        let only = topics(&["t0"]);
        let none = BTreeSet::new();
        let out = run(
            &CooperativeStickyAssignor,
            &[("a", &both, &none), ("b", &only, &none)],
            &counts(&[("t0", 4), ("t1", 2)]),
        );
        assert_eq!(out["a"].len(), 3);
        assert_eq!(out["b"].len(), 3);
        assert!(out["b"].iter().all(|p| p.topic == "t0"));
    }
}
