//! Proves the offset manager: the two-step commit applies only completed
//! records, in log order; replay rebuilds the same state from encoded
//! bytes; simple commits; expiry of empty groups' offsets; group deletion;
//! and that groups with only offsets are listed as Empty.

use std::collections::{BTreeMap, BTreeSet};

use ghyll_group::*;

const DAY_MS: u64 = 24 * 60 * 60 * 1000;

fn tp(topic: &str, p: u32) -> TopicPartition {
    TopicPartition::new(topic, p)
}

fn offsets(pairs: &[(u32, u64)]) -> BTreeMap<TopicPartition, OffsetAndMetadata> {
    pairs.iter().map(|&(p, o)| (tp("t", p), OffsetAndMetadata::new(o))).collect()
}

fn member(c: &mut GroupCoordinator, group: &str) -> Assignment {
    let topics = BTreeSet::from(["t".to_owned()]);
    match c.join(0, group, JoinRequest::new("c", topics, builtin_assignor("range").unwrap())).unwrap() {
        JoinOutcome::Assigned(a) => a,
        other => panic!("{other:?}"),
    }
}

#[test]
fn commit_applies_only_when_completed() {
    let mut c = GroupCoordinator::new(GroupConfig::default());
    c.set_topic_partitions(0, "t", Some(2));
    let a = member(&mut c, "g");
    let records = c.prepare_commit(7, "g", &a.member_id, a.generation, &offsets(&[(0, 10), (1, 20)])).unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].value.as_ref().unwrap().commit_timestamp_ms, 7, "stamped by the coordinator");
    assert_eq!(c.committed("g", &tp("t", 0)), None);
    c.complete_commit(&records, 100);
    assert_eq!(c.committed("g", &tp("t", 0)).unwrap().offset, 10);
    assert_eq!(c.committed_all("g").len(), 2);
}

#[test]
fn commits_land_in_log_order() {
    let mut c = GroupCoordinator::new(GroupConfig::default());
    let first = c.prepare_commit(1, "g", "", -1, &offsets(&[(0, 10)])).unwrap();
    let second = c.prepare_commit(2, "g", "", -1, &offsets(&[(0, 20)])).unwrap();
    // The first was appended at position 5, the second at 6; the first
    // completes last and must lose.
    c.complete_commit(&second, 6);
    c.complete_commit(&first, 5);
    assert_eq!(c.committed("g", &tp("t", 0)).unwrap().offset, 20);
    // A tombstone at a later position wins over an older commit completing
    // later still.
    let tombstone = [OffsetRecord { group: "g".into(), partition: tp("t", 0), value: None }];
    c.complete_commit(&tombstone, 9);
    c.complete_commit(&second, 7);
    assert_eq!(c.committed("g", &tp("t", 0)), None);
}

#[test]
fn replay_from_bytes_rebuilds_the_same_offsets() {
    let mut c = GroupCoordinator::new(GroupConfig::default());
    let mut log: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::new();
    let mut commit = |c: &mut GroupCoordinator, group: &str, pairs: &[(u32, u64)]| {
        let records = c.prepare_commit(3, group, "", -1, &offsets(pairs)).unwrap();
        let position = log.len() as u64;
        for r in &records {
            log.push((r.encode_key(), r.encode_value()));
        }
        c.complete_commit(&records, position);
    };
    commit(&mut c, "a", &[(0, 1), (1, 2)]);
    commit(&mut c, "b", &[(0, 7)]);
    commit(&mut c, "a", &[(0, 5)]);
    let deleted = c.prepare_delete_group("b").unwrap();
    let position = log.len() as u64;
    for r in &deleted {
        log.push((r.encode_key(), r.encode_value()));
    }
    c.complete_commit(&deleted, position);
    // A group metadata record (key version 2) in the topic is skipped.
    log.push((vec![0, 2, 0, 1, b'a'], Some(vec![0, 3, 1, 2])));

    let mut restarted = GroupCoordinator::new(GroupConfig::default());
    for (position, (key, value)) in log.iter().enumerate() {
        if let Some(record) = OffsetRecord::decode(key, value.as_deref()).unwrap() {
            restarted.load(record, position as u64);
        }
    }
    assert_eq!(restarted.committed_all("a"), c.committed_all("a"));
    assert_eq!(restarted.committed("a", &tp("t", 0)).unwrap().offset, 5);
    assert!(restarted.committed_all("b").is_empty());
    let listed: Vec<_> = restarted.list_groups().into_iter().map(|g| (g.group_id, g.state, g.member_count)).collect();
    assert_eq!(listed, vec![("a".to_owned(), GroupState::Empty, 0)]);
}

#[test]
fn simple_commit_needs_an_empty_or_unknown_group() {
    let mut c = GroupCoordinator::new(GroupConfig::default());
    c.set_topic_partitions(0, "t", Some(1));
    assert_eq!(c.prepare_commit(0, "new", "", -1, &offsets(&[(0, 1)])).unwrap().len(), 1);
    let a = member(&mut c, "busy");
    assert_eq!(
        c.prepare_commit(0, "busy", "", -1, &offsets(&[(0, 1)])),
        Err(GroupError::GroupNotEmpty { group: "busy".into() })
    );
    c.leave(1, "busy", &a.member_id).unwrap();
    assert!(c.prepare_commit(2, "busy", "", -1, &offsets(&[(0, 1)])).is_ok());
    // The old member's commit is fenced once it left.
    assert!(matches!(
        c.prepare_commit(3, "busy", &a.member_id, a.generation, &offsets(&[(0, 1)])),
        Err(GroupError::UnknownMember { .. })
    ));
}

#[test]
fn commit_limits_are_checked() {
    let mut c = GroupCoordinator::new(GroupConfig::default());
    let mut big = offsets(&[(0, 1)]);
    big.values_mut().for_each(|v| v.metadata = "x".repeat(4097));
    assert!(matches!(
        c.prepare_commit(0, "g", "", -1, &big),
        Err(GroupError::OffsetMetadataTooLarge { bytes: 4097, .. })
    ));
    let huge = offsets(&[(0, u64::MAX)]);
    assert!(matches!(c.prepare_commit(0, "g", "", -1, &huge), Err(GroupError::InvalidCommit { .. })));
    assert!(matches!(c.prepare_commit(0, "", "", -1, &offsets(&[(0, 1)])), Err(GroupError::InvalidGroupId { .. })));
}

#[test]
fn empty_group_offsets_expire_after_retention() {
    let mut config = GroupConfig::default();
    config.offsets_retention_ms = 7 * DAY_MS;
    let mut c = GroupCoordinator::new(config);
    c.set_topic_partitions(0, "t", Some(1));
    // "standalone" has no members: counted from its commit at day 1.
    let records = c.prepare_commit(DAY_MS, "standalone", "", -1, &offsets(&[(0, 3)])).unwrap();
    c.complete_commit(&records, 0);
    // "live" has a member that commits at day 0 and leaves at day 2.
    let a = member(&mut c, "live");
    let records = c.prepare_commit(0, "live", &a.member_id, a.generation, &offsets(&[(0, 9)])).unwrap();
    c.complete_commit(&records, 1);
    let expired = c.expired_offsets(30 * DAY_MS);
    assert!(expired.iter().all(|r| r.group != "live"), "a group with members keeps its offsets");
    c.leave(2 * DAY_MS, "live", &a.member_id).unwrap();

    assert_eq!(c.next_offset_expiry_ms(), Some(8 * DAY_MS));
    assert!(c.expired_offsets(8 * DAY_MS - 1).is_empty());
    let expired = c.expired_offsets(8 * DAY_MS);
    assert_eq!(expired, vec![OffsetRecord { group: "standalone".into(), partition: tp("t", 0), value: None }]);
    c.complete_commit(&expired, 2);
    assert_eq!(c.committed("standalone", &tp("t", 0)), None);
    let expired = c.expired_offsets(9 * DAY_MS);
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].group, "live");
    c.complete_commit(&expired, 3);
    assert!(c.list_groups().is_empty());
    assert_eq!(c.next_offset_expiry_ms(), None);
}

#[test]
fn delete_group_only_when_empty() {
    let mut c = GroupCoordinator::new(GroupConfig::default());
    c.set_topic_partitions(0, "t", Some(1));
    assert_eq!(c.prepare_delete_group("nope"), Err(GroupError::UnknownGroup { group: "nope".into() }));
    let a = member(&mut c, "g");
    let records = c.prepare_commit(1, "g", &a.member_id, a.generation, &offsets(&[(0, 4)])).unwrap();
    c.complete_commit(&records, 0);
    assert_eq!(c.prepare_delete_group("g"), Err(GroupError::GroupNotEmpty { group: "g".into() }));
    assert_eq!(GroupError::GroupNotEmpty { group: "g".into() }.to_string(), "group \"g\" is not empty");
    c.leave(2, "g", &a.member_id).unwrap();
    let listing = c.list_groups();
    assert_eq!(
        (listing[0].state, listing[0].member_count, listing[0].protocol_type),
        (GroupState::Empty, 0, "consumer")
    );
    let tombstones = c.prepare_delete_group("g").unwrap();
    assert_eq!(tombstones, vec![OffsetRecord { group: "g".into(), partition: tp("t", 0), value: None }]);
    assert_eq!(c.describe_group("g").unwrap().state, GroupState::Dead);
    c.complete_commit(&tombstones, 1);
    assert!(c.describe_group("g").is_none());
    assert!(c.list_groups().is_empty());
    // A new member recreates it.
    let again = member(&mut c, "g");
    assert_eq!(again.partitions.len(), 1);
    assert_eq!(c.describe_group("g").unwrap().state, GroupState::Stable);
}
