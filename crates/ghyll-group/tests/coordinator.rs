//! Proves the coordinator's membership rules one transition at a time:
//! states, generations and fencing, leave, session / poll / rebalance
//! timeouts through `tick`, static members, cooperative two-step moves and
//! topic changes, each driven through the public API with explicit times.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use ghyll_group::*;

const G: &str = "g";

fn config() -> GroupConfig {
    let mut config = GroupConfig::default();
    config.session_timeout_min_ms = 1;
    config.session_timeout_ms = 10_000;
    config.rebalance_timeout_ms = 60_000;
    config
}

fn coordinator(partitions: u32) -> GroupCoordinator {
    let mut c = GroupCoordinator::new(config());
    c.set_topic_partitions(0, "t", Some(partitions));
    c
}

fn topics(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

fn tp(p: u32) -> TopicPartition {
    TopicPartition::new("t", p)
}

fn request(client: &str, member: Option<&str>, assignor: &str) -> JoinRequest {
    let mut r = JoinRequest::new(client, topics(&["t"]), builtin_assignor(assignor).unwrap());
    r.member_id = member.map(str::to_owned);
    r
}

fn assigned(outcome: JoinOutcome) -> Assignment {
    match outcome {
        JoinOutcome::Assigned(a) => a,
        other => panic!("expected an assignment, got {other:?}"),
    }
}

fn state(c: &GroupCoordinator) -> GroupState {
    c.describe_group(G).unwrap().state
}

/// Two members joined and stable under `assignor`: returns their
/// assignments (a first).
fn two_members(c: &mut GroupCoordinator, assignor: &str) -> (Assignment, Assignment) {
    let a = assigned(c.join(0, G, request("a", None, assignor)).unwrap());
    let b = c.join(1, G, request("b", None, assignor)).unwrap();
    let b_id = b.member_id().to_owned();
    assert!(matches!(b, JoinOutcome::Pending { .. }));
    let mut again = request("a", Some(&a.member_id), assignor);
    again.owned = a.partitions.clone();
    if builtin_assignor(assignor).unwrap().protocol() == RebalanceProtocol::Eager {
        again.owned.clear();
    }
    let a2 = assigned(c.join(2, G, again).unwrap());
    let b2 = assigned(c.join(3, G, request("b", Some(&b_id), assignor)).unwrap());
    (a2, b2)
}

#[test]
fn first_member_goes_empty_to_stable_in_one_join() {
    let mut c = coordinator(3);
    assert!(c.describe_group(G).is_none());
    let a = assigned(c.join(0, G, request("app", None, "range")).unwrap());
    assert_eq!(a.member_id, "app-1");
    assert_eq!(a.generation, 1);
    assert_eq!(a.partitions, BTreeSet::from([tp(0), tp(1), tp(2)]));
    let events = c.take_events();
    assert_eq!(
        events,
        vec![
            GroupEvent::MemberJoined { group: G.into(), member_id: "app-1".into() },
            GroupEvent::RebalanceStarted { group: G.into(), generation: 0 },
            GroupEvent::AssignmentReady { group: G.into(), generation: 1 },
            GroupEvent::Stable { group: G.into(), generation: 1 },
        ]
    );
    assert_eq!(state(&c), GroupState::Stable);
    let description = c.describe_group(G).unwrap();
    assert_eq!(description.assignor.as_deref(), Some("range"));
    assert_eq!(description.members[0].assignment, a.partitions);
}

#[test]
fn rebalance_walks_through_preparing_and_completing() {
    let mut c = coordinator(4);
    let a = assigned(c.join(0, G, request("a", None, "range")).unwrap());
    let b = c.join(1, G, request("b", None, "range")).unwrap();
    assert_eq!(b, JoinOutcome::Pending { member_id: "b-2".into(), generation: 1 });
    assert_eq!(state(&c), GroupState::PreparingRebalance);
    // b joining again alone changes nothing: a has not rejoined.
    assert!(matches!(c.join(2, G, request("b", Some("b-2"), "range")).unwrap(), JoinOutcome::Pending { .. }));
    assert_eq!(c.heartbeat(3, G, &a.member_id, 1).unwrap(), HeartbeatOutcome::RebalanceInProgress);
    let a2 = assigned(c.join(4, G, request("a", Some(&a.member_id), "range")).unwrap());
    assert_eq!(a2.generation, 2);
    assert_eq!(a2.revoked, a.partitions, "eager: everything handed before is revoked");
    assert_eq!(state(&c), GroupState::CompletingRebalance);
    // b's assignment waits for it: its heartbeat says rejoin, commits wait.
    assert_eq!(c.heartbeat(5, G, "b-2", 1).unwrap(), HeartbeatOutcome::RebalanceInProgress);
    assert!(matches!(c.prepare_commit(5, G, "b-2", 2, &BTreeMap::new()), Err(GroupError::RebalanceInProgress { .. })));
    // a already has its own and may heartbeat normally.
    assert_eq!(c.heartbeat(5, G, &a.member_id, 2).unwrap(), HeartbeatOutcome::Ok);
    let b2 = assigned(c.join(6, G, request("b", Some("b-2"), "range")).unwrap());
    assert_eq!(state(&c), GroupState::Stable);
    assert_eq!(a2.partitions, BTreeSet::from([tp(0), tp(1)]));
    assert_eq!(b2.partitions, BTreeSet::from([tp(2), tp(3)]));
    assert_eq!(c.heartbeat(7, G, "b-2", 2).unwrap(), HeartbeatOutcome::Ok);
}

#[test]
fn stable_rejoin_with_same_subscription_keeps_the_generation() {
    let mut c = coordinator(4);
    let (a, _) = two_members(&mut c, "range");
    let again = assigned(c.join(10, G, request("a", Some(&a.member_id), "range")).unwrap());
    assert_eq!(again.generation, a.generation);
    assert_eq!(again.partitions, a.partitions);
    assert!(again.revoked.is_empty());
    assert_eq!(state(&c), GroupState::Stable);
}

#[test]
fn subscription_change_rebalances() {
    let mut c = coordinator(2);
    c.set_topic_partitions(0, "u", Some(2));
    let a = assigned(c.join(0, G, request("a", None, "range")).unwrap());
    let mut change = request("a", Some(&a.member_id), "range");
    change.topics = topics(&["t", "u"]);
    let a2 = assigned(c.join(1, G, change).unwrap());
    assert_eq!(a2.generation, a.generation + 1);
    assert_eq!(a2.partitions.len(), 4);
}

#[test]
fn old_generation_is_fenced_for_heartbeat_and_commit() {
    let mut c = coordinator(4);
    let (a, b) = two_members(&mut c, "range");
    let old = a.generation - 1;
    let offsets = BTreeMap::from([(tp(0), OffsetAndMetadata::new(5))]);
    assert_eq!(
        c.heartbeat(10, G, &a.member_id, old),
        Err(GroupError::IllegalGeneration {
            group: G.into(),
            member_id: a.member_id.clone(),
            generation: old,
            current: a.generation
        })
    );
    assert!(matches!(c.prepare_commit(10, G, &a.member_id, old, &offsets), Err(GroupError::IllegalGeneration { .. })));
    assert!(matches!(c.prepare_commit(10, G, "nobody", a.generation, &offsets), Err(GroupError::UnknownMember { .. })));
    assert!(matches!(c.heartbeat(10, G, "nobody", a.generation), Err(GroupError::UnknownMember { .. })));
    assert!(matches!(c.prepare_commit(10, G, "", -1, &offsets), Err(GroupError::GroupNotEmpty { .. })));
    assert_eq!(c.prepare_commit(10, G, &b.member_id, b.generation, &offsets).unwrap().len(), 1);
}

#[test]
fn eager_member_may_commit_while_the_group_prepares() {
    let mut c = coordinator(4);
    let a = assigned(c.join(0, G, request("a", None, "range")).unwrap());
    c.join(1, G, request("b", None, "range")).unwrap();
    assert_eq!(state(&c), GroupState::PreparingRebalance);
    let offsets = BTreeMap::from([(tp(0), OffsetAndMetadata::new(5))]);
    assert!(c.prepare_commit(2, G, &a.member_id, a.generation, &offsets).is_ok());
}

#[test]
fn leave_is_immediate_and_the_last_leaves_empty() {
    let mut c = coordinator(4);
    let (a, b) = two_members(&mut c, "range");
    c.take_events();
    c.leave(10, G, &a.member_id).unwrap();
    assert_eq!(state(&c), GroupState::PreparingRebalance);
    assert!(matches!(c.heartbeat(11, G, &a.member_id, a.generation), Err(GroupError::UnknownMember { .. })));
    let b2 = assigned(c.join(12, G, request("b", Some(&b.member_id), "range")).unwrap());
    assert_eq!(b2.partitions.len(), 4);
    assert_eq!(state(&c), GroupState::Stable);
    c.leave(13, G, &b.member_id).unwrap();
    let events = c.take_events();
    assert!(events.contains(&GroupEvent::MemberRemoved {
        group: G.into(),
        member_id: a.member_id.clone(),
        reason: RemovalReason::Left
    }));
    assert!(matches!(events.last(), Some(GroupEvent::Empty { .. })));
    // An empty group without offsets no longer exists.
    assert!(c.describe_group(G).is_none());
    assert!(c.list_groups().is_empty());
    assert!(matches!(c.leave(14, G, &b.member_id), Err(GroupError::UnknownMember { .. })));
}

#[test]
fn session_timeout_removes_a_silent_member() {
    let mut c = coordinator(4);
    let (a, b) = two_members(&mut c, "range");
    c.take_events();
    // b heartbeats, a stays silent; session 10 s from a's last join at 2.
    assert_eq!(c.next_deadline_ms(), Some(10_002));
    for now in [3_000, 6_000, 9_000, 10_001] {
        c.heartbeat(now, G, &b.member_id, b.generation).unwrap();
        assert!(c.tick(now).is_empty());
    }
    let events = c.tick(10_002);
    assert_eq!(
        events[0],
        GroupEvent::MemberRemoved {
            group: G.into(),
            member_id: a.member_id.clone(),
            reason: RemovalReason::SessionTimeout
        }
    );
    assert_eq!(c.heartbeat(10_003, G, &b.member_id, b.generation).unwrap(), HeartbeatOutcome::RebalanceInProgress);
    let b2 = assigned(c.join(10_004, G, request("b", Some(&b.member_id), "range")).unwrap());
    assert_eq!(b2.partitions.len(), 4);
}

#[test]
fn max_poll_interval_removes_a_member_that_heartbeats_but_never_polls() {
    let mut c = coordinator(4);
    let (a, b) = two_members(&mut c, "range");
    let mut now = 2;
    while now < 60_002 {
        now += 5_000;
        c.heartbeat(now, G, &a.member_id, a.generation).unwrap();
        c.poll_seen(now, G, &b.member_id).unwrap();
        assert!(c.tick(now).iter().all(|e| !matches!(e, GroupEvent::MemberRemoved { .. })), "{now}");
        if now + 5_000 >= 60_002 {
            break;
        }
    }
    c.heartbeat(60_001, G, &a.member_id, a.generation).unwrap();
    let events = c.tick(60_002);
    assert!(events.contains(&GroupEvent::MemberRemoved {
        group: G.into(),
        member_id: a.member_id.clone(),
        reason: RemovalReason::PollTimeout
    }));
    assert_eq!(c.describe_group(G).unwrap().members.len(), 1);
}

#[test]
fn a_member_that_does_not_rejoin_is_removed_at_the_rebalance_timeout() {
    let mut c = coordinator(4);
    let (a, b) = two_members(&mut c, "range");
    let mut slow = request("b", Some(&b.member_id), "range");
    slow.topics = topics(&["t", "u"]);
    c.join(100, G, slow.clone()).unwrap();
    // a keeps heartbeating (so no session timeout) but never rejoins.
    let mut now = 100;
    while now < 60_100 {
        now += 1_000;
        c.heartbeat(now, G, &a.member_id, a.generation).unwrap();
        c.poll_seen(now, G, &a.member_id).unwrap();
        c.join(now, G, slow.clone()).unwrap();
        let events = c.tick(now);
        if now < 60_100 {
            assert!(events.iter().all(|e| !matches!(e, GroupEvent::MemberRemoved { .. })), "{now}");
        } else {
            assert!(events.contains(&GroupEvent::MemberRemoved {
                group: G.into(),
                member_id: a.member_id.clone(),
                reason: RemovalReason::RebalanceTimeout
            }));
        }
    }
    let b2 = assigned(c.join(now + 1, G, slow).unwrap());
    assert_eq!(b2.partitions.len(), 4);
}

#[test]
fn static_member_restart_keeps_its_assignment_without_a_rebalance() {
    let mut c = coordinator(4);
    let mut first = request("a", None, "range");
    first.group_instance_id = Some("host-1".into());
    let a = assigned(c.join(0, G, first.clone()).unwrap());
    let b = c.join(1, G, request("b", None, "range")).unwrap();
    let mut rejoin = first.clone();
    rejoin.member_id = Some(a.member_id.clone());
    let a2 = assigned(c.join(2, G, rejoin).unwrap());
    let b2 = assigned(c.join(3, G, request("b", Some(b.member_id()), "range")).unwrap());
    c.take_events();

    // The process closes without leaving and comes back before its session
    // times out: a new member id, the same partitions and generation.
    let a3 = assigned(c.join(5_000, G, first.clone()).unwrap());
    assert_ne!(a3.member_id, a2.member_id);
    assert_eq!(a3.partitions, a2.partitions);
    assert_eq!(a3.generation, a2.generation);
    assert_eq!(state(&c), GroupState::Stable);
    assert_eq!(
        c.take_events(),
        vec![GroupEvent::MemberRemoved {
            group: G.into(),
            member_id: a2.member_id.clone(),
            reason: RemovalReason::Replaced
        }]
    );
    // The old instance is fenced.
    assert!(matches!(c.heartbeat(5_001, G, &a2.member_id, a2.generation), Err(GroupError::UnknownMember { .. })));
    let mut zombie = first.clone();
    zombie.member_id = Some(a2.member_id.clone());
    assert!(matches!(c.join(5_001, G, zombie), Err(GroupError::FencedInstanceId { .. })));
    assert_eq!(c.heartbeat(5_002, G, &b2.member_id, b2.generation).unwrap(), HeartbeatOutcome::Ok);
    let description = c.describe_group(G).unwrap();
    assert!(description
        .members
        .iter()
        .any(|m| m.group_instance_id.as_deref() == Some("host-1") && m.member_id == a3.member_id));
}

#[test]
fn static_member_slot_expires_with_its_session() {
    let mut c = coordinator(4);
    let mut first = request("a", None, "range");
    first.group_instance_id = Some("host-1".into());
    let a = assigned(c.join(0, G, first.clone()).unwrap());
    let events = c.tick(10_000);
    assert!(events.contains(&GroupEvent::MemberRemoved {
        group: G.into(),
        member_id: a.member_id.clone(),
        reason: RemovalReason::SessionTimeout
    }));
    assert_eq!(c.describe_group(G), None);
    // After that, the same instance id joins as a new member: a rebalance.
    let again = assigned(c.join(10_001, G, first).unwrap());
    // The memberless group without offsets was forgotten: a fresh one.
    assert_eq!(again.generation, 1);
    assert_ne!(again.member_id, a.member_id);
}

#[test]
fn cooperative_move_takes_two_rebalances_and_never_double_assigns() {
    let mut c = coordinator(4);
    let assignor = "cooperative-sticky";
    let a = assigned(c.join(0, G, request("a", None, assignor)).unwrap());
    assert_eq!(a.partitions.len(), 4);
    let b = c.join(1, G, request("b", None, assignor)).unwrap();
    let b_id = b.member_id().to_owned();
    let mut rejoin = request("a", Some(&a.member_id), assignor);
    rejoin.owned = a.partitions.clone();
    let a2 = assigned(c.join(2, G, rejoin.clone()).unwrap());
    // a keeps two and revokes two, which b cannot get yet.
    assert_eq!(a2.partitions.len(), 2);
    assert_eq!(a2.revoked.len(), 2);
    assert!(a2.rejoin);
    let b2 = assigned(c.join(3, G, request("b", Some(&b_id), assignor)).unwrap());
    assert!(b2.partitions.is_empty());
    assert!(!b2.rejoin);
    // Everyone has its share, but a must rejoin: a follow-up rebalance.
    assert_eq!(state(&c), GroupState::PreparingRebalance);
    rejoin.owned = a2.partitions.clone();
    let a3 = c.join(4, G, rejoin).unwrap();
    assert!(matches!(a3, JoinOutcome::Pending { .. }));
    assert_eq!(c.heartbeat(5, G, &b_id, b2.generation).unwrap(), HeartbeatOutcome::RebalanceInProgress);
    let b3 = assigned(c.join(6, G, request("b", Some(&b_id), assignor)).unwrap());
    assert_eq!(b3.partitions, a2.revoked);
    assert!(b3.revoked.is_empty());
    let a4 = assigned(
        c.join(7, G, {
            let mut r = request("a", Some(&a.member_id), assignor);
            r.owned = a2.partitions.clone();
            r
        })
        .unwrap(),
    );
    assert_eq!(a4.partitions, a2.partitions, "a kept consuming its two throughout");
    assert!(a4.revoked.is_empty());
    assert_eq!(state(&c), GroupState::Stable);
}

#[test]
fn inconsistent_assignor_is_refused() {
    let mut c = coordinator(4);
    assigned(c.join(0, G, request("a", None, "range")).unwrap());
    let err = c.join(1, G, request("b", None, "roundrobin")).unwrap_err();
    assert_eq!(
        err,
        GroupError::InconsistentAssignor { group: G.into(), expected: "range".into(), got: "roundrobin".into() }
    );
    assert_eq!(
        err.to_string(),
        "inconsistent assignor in group \"g\": members use \"range\", the joining member uses \"roundrobin\""
    );
    assert_eq!(c.describe_group(G).unwrap().members.len(), 1);
}

#[test]
fn bad_requests_get_clear_errors() {
    let mut c = coordinator(4);
    assert!(matches!(c.join(0, "", request("a", None, "range")), Err(GroupError::InvalidGroupId { .. })));
    assert!(matches!(c.join(0, G, request("a", Some("ghost"), "range")), Err(GroupError::UnknownMember { .. })));
    let mut short = request("a", None, "range");
    short.session_timeout_ms = 10_000_000;
    assert!(matches!(c.join(0, G, short), Err(GroupError::InvalidSessionTimeout { .. })));
    let mut small = config();
    small.group_members_max = 1;
    let mut c = GroupCoordinator::new(small);
    c.join(0, G, request("a", None, "range")).unwrap();
    assert!(matches!(c.join(0, G, request("b", None, "range")), Err(GroupError::GroupMaxSizeReached { max: 1, .. })));
    let mut bad = GroupConfig::default();
    bad.offsets_retention_ms = 0;
    assert!(matches!(
        GroupCoordinator::try_new(bad),
        Err(GroupError::InvalidConfig { name: "offsets_retention_ms", .. })
    ));
}

#[test]
fn topic_changes_rebalance_subscribed_groups() {
    let mut c = coordinator(2);
    let a = assigned(c.join(0, G, request("a", None, "roundrobin")).unwrap());
    c.set_topic_partitions(1, "other", Some(3));
    assert_eq!(state(&c), GroupState::Stable);
    c.set_topic_partitions(2, "t", Some(2));
    assert_eq!(state(&c), GroupState::Stable, "same count, nothing changes");
    c.set_topic_partitions(3, "t", Some(5));
    assert_eq!(state(&c), GroupState::PreparingRebalance);
    let a2 = assigned(c.join(4, G, request("a", Some(&a.member_id), "roundrobin")).unwrap());
    assert_eq!(a2.partitions.len(), 5);
    c.set_topic_partitions(5, "t", None);
    let a3 = assigned(c.join(6, G, request("a", Some(&a.member_id), "roundrobin")).unwrap());
    assert!(a3.partitions.is_empty());
    assert_eq!(c.topic_partitions("t"), None);
}

#[test]
fn initial_rebalance_delay_waits_for_more_members() {
    let mut config = config();
    config.initial_rebalance_delay_ms = 3_000;
    let mut c = GroupCoordinator::new(config);
    c.set_topic_partitions(0, "t", Some(4));
    let a = c.join(0, G, request("a", None, "range")).unwrap();
    assert!(matches!(a, JoinOutcome::Pending { .. }));
    let b = c.join(1_000, G, request("b", None, "range")).unwrap();
    assert_eq!(c.next_deadline_ms(), Some(3_000));
    c.tick(3_000);
    assert_eq!(state(&c), GroupState::CompletingRebalance);
    let a = assigned(c.join(3_001, G, request("a", Some(a.member_id()), "range")).unwrap());
    let b = assigned(c.join(3_002, G, request("b", Some(b.member_id()), "range")).unwrap());
    assert_eq!((a.partitions.len(), b.partitions.len(), a.generation), (2, 2, 1));
}

#[test]
fn custom_assignor_output_is_sanitized() {
    /// Claims everything, including partitions that do not exist, for
    /// every member.
    #[derive(Debug)]
    struct Greedy;
    impl Assignor for Greedy {
        fn name(&self) -> &str {
            "greedy"
        }
        fn assign(
            &self,
            members: &[MemberSubscription<'_>],
            _: &BTreeMap<String, u32>,
        ) -> BTreeMap<String, BTreeSet<TopicPartition>> {
            let all: BTreeSet<_> = (0..10).map(tp).collect();
            members
                .iter()
                .map(|m| (m.member_id.to_owned(), all.clone()))
                .chain([("ghost".into(), all.clone())])
                .collect()
        }
    }
    let mut c = coordinator(3);
    let greedy: Arc<dyn Assignor> = Arc::new(Greedy);
    let a = assigned(c.join(0, G, JoinRequest::new("a", topics(&["t"]), greedy.clone())).unwrap());
    let b = c.join(1, G, JoinRequest::new("b", topics(&["t"]), greedy.clone())).unwrap();
    let mut r = JoinRequest::new("a", topics(&["t"]), greedy.clone());
    r.member_id = Some(a.member_id);
    let a2 = assigned(c.join(2, G, r).unwrap());
    let mut r = JoinRequest::new("b", topics(&["t"]), greedy);
    r.member_id = Some(b.member_id().to_owned());
    let b2 = assigned(c.join(3, G, r).unwrap());
    assert_eq!(a2.partitions, BTreeSet::from([tp(0), tp(1), tp(2)]));
    assert!(b2.partitions.is_empty());
}

#[test]
fn event_queue_is_bounded() {
    let mut c = coordinator(1);
    for i in 0..(EVENTS_MAX as u64) {
        c.set_topic_partitions(i, "t", Some(1 + (i % 2) as u32));
        if i == 0 {
            c.join(0, G, request("a", None, "range")).unwrap();
        }
    }
    assert!(c.take_events().len() <= EVENTS_MAX);
}

/// A static member restarting while the group completes a rebalance, after
/// it already picked up its assignment: the new process holds nothing, so
/// it must not be handed the old one's partitions behind the group's back
/// (the coordinator would count them as free); it rejoins through a
/// rebalance instead, and nobody is ever handed a partition another member
/// holds.
#[test]
fn static_restart_mid_rebalance_goes_through_a_rebalance() {
    let assignor = "cooperative-sticky";
    let mut c = coordinator(4);
    let mut a_request = request("a", None, assignor);
    a_request.group_instance_id = Some("host-1".into());
    let mut b_request = request("b", None, assignor);
    // Drive both members until the group is stable; returns what each holds.
    let mut held: [BTreeSet<TopicPartition>; 2] = Default::default();
    let settle = |c: &mut GroupCoordinator,
                  start: u64,
                  requests: [&JoinRequest; 2],
                  held: &mut [BTreeSet<TopicPartition>; 2]| {
        for now in 0..20 {
            for (i, r) in requests.iter().enumerate() {
                let mut r = (*r).clone();
                r.owned = held[i].clone();
                if let JoinOutcome::Assigned(x) = c.join(start + now, G, r).unwrap() {
                    assert!(x.partitions.difference(&held[i]).all(|tp| !held[1 - i].contains(tp)));
                    held[i] = x.partitions;
                }
            }
            if state(c) == GroupState::Stable {
                return;
            }
        }
        panic!("not stable");
    };
    let a_id = c.join(0, G, a_request.clone()).unwrap().member_id().to_owned();
    let b_id = c.join(0, G, b_request.clone()).unwrap().member_id().to_owned();
    let mut a_rejoin = a_request.clone();
    a_rejoin.member_id = Some(a_id);
    b_request.member_id = Some(b_id);
    settle(&mut c, 0, [&a_rejoin, &b_request], &mut held);
    assert_eq!((held[0].len(), held[1].len()), (2, 2));

    // New partitions: a picks up its share at once (nothing withheld, no
    // rejoin), b has not yet.
    c.set_topic_partitions(100, "t", Some(6));
    let mut r = b_request.clone();
    r.owned = held[1].clone();
    assert!(matches!(c.join(101, G, r).unwrap(), JoinOutcome::Pending { .. }));
    let mut r = a_rejoin.clone();
    r.owned = held[0].clone();
    let a2 = assigned(c.join(102, G, r).unwrap());
    assert!(!a2.rejoin);
    assert_eq!(a2.partitions.len(), 3);
    held[0] = a2.partitions.clone();
    assert_eq!(state(&c), GroupState::CompletingRebalance, "b has not picked up its share");

    // a's process restarts now: it holds nothing.
    held[0].clear();
    let a3 = c.join(103, G, a_request.clone()).unwrap();
    assert!(matches!(a3, JoinOutcome::Pending { .. }), "{a3:?}");
    a_rejoin.member_id = Some(a3.member_id().to_owned());
    settle(&mut c, 104, [&a_rejoin, &b_request], &mut held);
    assert_eq!(held[0].len() + held[1].len(), 6);
    assert!(held[0].is_disjoint(&held[1]));
}
