//! Proves the controller's elections through its public API: clean
//! election from the ISR on failure, the last ISR member kept when all
//! die (so only it is elected again), preferred-leader election once the
//! preferred replica is back in the ISR, unclean election only when
//! enabled (with its possible loss reported), and stale or dead ISR
//! changes refused.

use std::collections::BTreeSet;

use ghyll_replication::*;

fn set(nodes: &[NodeId]) -> BTreeSet<NodeId> {
    nodes.iter().copied().collect()
}

#[test]
fn failure_elects_from_the_isr_and_bumps_the_epoch() {
    let mut c = Controller::new(ControllerConfig::default(), [1, 2, 3]);
    c.add_partition(0, vec![1, 2, 3]).unwrap();
    c.alter_isr(0, 1, 0, set(&[1, 3])).unwrap();
    let out = c.node_failed(1);
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].leader, out[0].leader_epoch, &out[0].isr), (Some(3), 1, &set(&[3])));
    assert_eq!(out[0].reason, ChangeReason::CleanElection);
    // A follower's death only shrinks the ISR.
    c.node_restored(1);
    c.alter_isr(0, 3, 1, set(&[1, 3])).unwrap();
    let state = c.state(0).unwrap().clone();
    assert_eq!(state.leader, Some(1), "preferred leader is back");
    let out = c.node_failed(3);
    assert_eq!((out[0].leader, out[0].leader_epoch, &out[0].isr), (Some(1), state.leader_epoch, &set(&[1])));
    assert_eq!(out[0].reason, ChangeReason::IsrChanged);
}

#[test]
fn the_last_isr_member_stays_and_is_the_only_clean_choice() {
    let mut c = Controller::new(ControllerConfig::default(), [1, 2]);
    c.add_partition(0, vec![1, 2]).unwrap();
    c.alter_isr(0, 1, 0, set(&[1])).unwrap();
    c.node_failed(2);
    let out = c.node_failed(1);
    assert_eq!((out[0].leader, &out[0].isr, out[0].reason), (None, &set(&[1]), ChangeReason::Offline));
    // Node 2 is back but was not in sync: the partition stays offline.
    let out = c.node_restored(2);
    assert_eq!((out[0].leader, out[0].reason), (None, ChangeReason::NodeRestored));
    let epoch = out[0].leader_epoch;
    // Node 1 is back: elected.
    let out = c.node_restored(1);
    assert_eq!((out[0].leader, out[0].leader_epoch), (Some(1), epoch + 1));
}

#[test]
fn unclean_election_only_when_enabled_and_reports_the_loss() {
    let mut config = ControllerConfig::default();
    config.unclean_leader_election = true;
    let mut c = Controller::new(config, [1, 2]);
    c.add_partition(0, vec![1, 2]).unwrap();
    c.alter_isr(0, 1, 0, set(&[1])).unwrap();
    c.report_offsets(0, 1, 10, Some(10));
    c.report_offsets(0, 2, 6, None);
    c.node_failed(2);
    c.node_failed(1);
    let out = c.node_restored(2);
    assert_eq!(out[0].leader, Some(2));
    assert_eq!(out[0].reason, ChangeReason::UncleanElection { offsets_maybe_lost: 4 });
}

#[test]
fn stale_and_invalid_isr_changes_are_refused() {
    let mut c = Controller::new(ControllerConfig::default(), [1, 2, 3]);
    c.add_partition(0, vec![1, 2, 3]).unwrap();
    c.node_failed(1);
    let error = c.alter_isr(0, 1, 0, set(&[1])).unwrap_err();
    assert!(matches!(error, ControllerError::StaleIsrChange { leader: Some(2), current_epoch: 1, .. }));
    assert!(matches!(c.alter_isr(0, 2, 1, set(&[3])), Err(ControllerError::InvalidReplicas { .. })));
    // The dead node 1 does not rejoin.
    let out = c.alter_isr(0, 2, 1, set(&[1, 2, 3])).unwrap();
    assert_eq!(out[0].isr, set(&[2, 3]));
    assert!(matches!(c.alter_isr(9, 2, 1, set(&[2])), Err(ControllerError::UnknownPartition { partition: 9 })));
    assert!(matches!(c.add_partition(0, vec![1]), Err(ControllerError::PartitionExists { .. })));
}
