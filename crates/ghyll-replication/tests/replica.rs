//! Proves the replica's ISR protocol one transition at a time through the
//! public API, with explicit times and a tiny in-test network: `acks=all`
//! timing, NotEnoughReplicas (at propose and after append), ISR shrink on
//! lag and expansion on catch-up, and truncation by leader epoch in the
//! KIP-101 scenarios where truncation to the high watermark loses or
//! diverges data.

use std::collections::{BTreeMap, BTreeSet};

use ghyll_replication::*;

#[derive(Default)]
struct VecLog(Vec<Batch>);

impl ReplicaLog for VecLog {
    fn read(&self, from: Offset, _max_bytes: u32) -> Vec<Batch> {
        self.0.iter().filter(|b| b.base_offset >= from).cloned().collect()
    }
}

struct Node {
    replica: Replica,
    log: VecLog,
    outbox: Vec<(NodeId, Message)>,
    acked: Vec<Proposed>,
    failed: Vec<(Proposed, ReplicationError)>,
    alter_isr: Option<AlterIsr>,
}

impl Node {
    fn drain(&mut self) {
        let ready = self.replica.ready();
        for op in ready.log_ops {
            match op {
                LogOp::Append(batch) => {
                    assert_eq!(batch.base_offset, self.log.0.last().map_or(0, Batch::next_offset));
                    self.log.0.push(batch);
                }
                LogOp::Truncate(to) => self.log.0.retain(|b| b.base_offset < to),
                _ => unreachable!(),
            }
        }
        self.outbox.extend(ready.messages);
        self.acked.extend(ready.acked);
        self.failed.extend(ready.failed);
        if ready.alter_isr.is_some() {
            self.alter_isr = ready.alter_isr;
        }
    }

    fn payloads(&self) -> Vec<&[u8]> {
        self.log.0.iter().map(|b| b.payload.as_slice()).collect()
    }
}

struct Cluster {
    nodes: BTreeMap<NodeId, Node>,
}

impl Cluster {
    fn new(ids: &[NodeId], config: &ReplicaConfig) -> Cluster {
        let nodes = ids
            .iter()
            .map(|&id| {
                let replica = Replica::new(id, ids.to_vec(), config.clone(), 0, EpochCache::new(), 0).unwrap();
                let node = Node {
                    replica,
                    log: VecLog::default(),
                    outbox: vec![],
                    acked: vec![],
                    failed: vec![],
                    alter_isr: None,
                };
                (id, node)
            })
            .collect();
        Cluster { nodes }
    }

    fn node(&mut self, id: NodeId) -> &mut Node {
        self.nodes.get_mut(&id).unwrap()
    }

    fn lead(&mut self, now: u64, leader: NodeId, epoch: LeaderEpoch, isr: &[NodeId]) {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        for id in ids {
            let node = self.node(id);
            if id == leader {
                node.replica.become_leader(now, epoch, isr.iter().copied().collect()).unwrap();
            } else {
                node.replica.become_follower(now, epoch, Some(leader)).unwrap();
            }
            node.drain();
        }
    }

    fn propose(&mut self, now: u64, leader: NodeId, payload: &str) -> Result<Proposed, ReplicationError> {
        let node = self.node(leader);
        let result = node.replica.propose(now, Acks::All, 1, payload.as_bytes().to_vec());
        node.drain();
        result
    }

    /// Delivers messages (only between `connected` nodes) until none are
    /// left, one round at a time; returns how many rounds.
    fn exchange(&mut self, now: u64, connected: &[NodeId]) -> usize {
        for round in 0..100 {
            let mut messages = Vec::new();
            for (&from, node) in &mut self.nodes {
                for (to, message) in node.outbox.drain(..) {
                    messages.push((from, to, message));
                }
            }
            if messages.is_empty() {
                return round;
            }
            for (from, to, message) in messages {
                if !connected.contains(&from) || !connected.contains(&to) {
                    continue;
                }
                let node = self.node(to);
                node.replica.step(now, from, message, &node.log).unwrap();
                node.drain();
            }
        }
        panic!("messages never stop");
    }

    fn tick(&mut self, now: u64) {
        for node in self.nodes.values_mut() {
            node.replica.tick(now);
            node.drain();
        }
    }
}

fn config() -> ReplicaConfig {
    let mut config = ReplicaConfig::default();
    config.replica_lag_time_max_ms = 100;
    config.fetch_backoff_ms = 10;
    config.fetch_timeout_ms = 15;
    config
}

#[test]
fn acks_all_waits_until_every_isr_member_has_the_record() {
    let mut c = Cluster::new(&[1, 2, 3], &config());
    c.lead(0, 1, 1, &[1, 2, 3]);
    c.exchange(0, &[1, 2, 3]);
    let m1 = c.propose(1, 1, "m1").unwrap();
    assert_eq!(m1, Proposed { first_offset: 0, last_offset: 0 });
    // Only node 2 can fetch: the high watermark waits for node 3.
    c.tick(20);
    c.exchange(20, &[1, 2]);
    assert_eq!(c.node(2).payloads(), vec![b"m1"]);
    assert_eq!(c.node(1).replica.high_watermark(), 0);
    assert!(c.node(1).acked.is_empty());
    // Node 3 fetches too: now every ISR member has it.
    c.tick(40);
    c.exchange(40, &[1, 2, 3]);
    assert_eq!(c.node(1).replica.high_watermark(), 1);
    assert_eq!(c.node(1).acked, vec![m1]);
    // The high watermark reaches followers on their next fetch.
    c.tick(60);
    c.exchange(60, &[1, 2, 3]);
    assert_eq!((c.node(2).replica.high_watermark(), c.node(3).replica.high_watermark()), (1, 1));
}

#[test]
fn propose_below_min_insync_is_refused_and_appends_nothing() {
    let mut config = config();
    config.min_insync_replicas = 2;
    let mut c = Cluster::new(&[1, 2], &config);
    c.lead(0, 1, 1, &[1]);
    let error = c.propose(0, 1, "m1").unwrap_err();
    assert_eq!(error, ReplicationError::NotEnoughReplicas { isr_size: 1, min_insync_replicas: 2 });
    assert_eq!(c.node(1).replica.log_end_offset(), 0);
    assert!(c.node(1).log.0.is_empty());
    // acks=1 is still fine.
    assert!(c.node(1).replica.propose(0, Acks::Leader, 1, b"m".to_vec()).is_ok());
    // A follower refuses.
    let error = c.node(2).replica.propose(0, Acks::All, 1, b"m".to_vec()).unwrap_err();
    assert!(matches!(error, ReplicationError::NotLeader { node: 2, leader: Some(1), leader_epoch: 1 }));
}

#[test]
fn isr_shrinks_after_the_lag_time_and_expands_on_catch_up() {
    let mut c = Cluster::new(&[1, 2], &config());
    c.lead(0, 1, 1, &[1, 2]);
    c.propose(0, 1, "m1").unwrap();
    // Node 2 is cut off: after replica.lag.time.max.ms the leader asks to
    // drop it, and the high watermark waits for the controller's answer
    // (the maximal ISR still holds node 2).
    c.tick(100);
    assert!(c.node(1).alter_isr.is_none(), "exactly at the lag time it is still in sync");
    c.tick(101);
    let alter = c.node(1).alter_isr.take().unwrap();
    assert_eq!(alter, AlterIsr { leader_epoch: 1, isr: BTreeSet::from([1]) });
    assert_eq!(c.node(1).replica.high_watermark(), 0);
    // The controller commits it: the leader alone moves the high watermark.
    c.node(1).replica.become_leader(101, 1, BTreeSet::from([1])).unwrap();
    c.node(1).drain();
    assert_eq!(c.node(1).replica.high_watermark(), 1);
    assert_eq!(c.node(1).replica.isr(), Some(&BTreeSet::from([1])));
    // Node 2 comes back and catches up to the high watermark: back in.
    c.node(2).outbox.clear();
    c.tick(200);
    c.exchange(200, &[1, 2]);
    let alter = c.node(1).alter_isr.take().unwrap();
    assert_eq!(alter.isr, BTreeSet::from([1, 2]));
}

#[test]
fn isr_below_min_insync_before_the_high_watermark_fails_the_ack() {
    let mut config = config();
    config.min_insync_replicas = 2;
    let mut c = Cluster::new(&[1, 2], &config);
    c.lead(0, 1, 1, &[1, 2]);
    let m1 = c.propose(0, 1, "m1").unwrap();
    c.tick(101);
    assert!(c.node(1).alter_isr.take().is_some());
    c.node(1).replica.become_leader(101, 1, BTreeSet::from([1])).unwrap();
    c.node(1).drain();
    assert!(c.node(1).acked.is_empty());
    assert_eq!(
        c.node(1).failed,
        vec![(m1, ReplicationError::NotEnoughReplicasAfterAppend { offset: 0, isr_size: 1, min_insync_replicas: 2 })]
    );
}

#[test]
fn losing_leadership_fails_pending_acks() {
    let mut c = Cluster::new(&[1, 2], &config());
    c.lead(0, 1, 1, &[1, 2]);
    let m1 = c.propose(0, 1, "m1").unwrap();
    c.node(1).replica.become_follower(5, 2, Some(2)).unwrap();
    c.node(1).drain();
    assert!(matches!(c.node(1).failed[..], [(p, ReplicationError::NotLeader { leader: Some(2), .. })] if p == m1));
}

/// KIP-101 scenario 1. A leads with m1, m2; B fetched both, so A's high
/// watermark passed m2 and m2 was acknowledged, but B learns that only on
/// its next fetch. B restarts and follows A again, then A dies and B
/// leads. Truncating to the high watermark on becoming a follower loses
/// m2; truncating by leader epoch keeps it.
#[test]
fn epoch_truncation_keeps_what_high_watermark_truncation_loses() {
    for hw_truncation in [false, true] {
        let mut config = config();
        config.truncate_to_high_watermark_on_become_follower = hw_truncation;
        let mut c = Cluster::new(&[1, 2], &config);
        c.lead(0, 1, 1, &[1, 2]);
        c.exchange(0, &[1, 2]);
        c.propose(1, 1, "m1").unwrap();
        c.tick(20);
        c.exchange(20, &[1, 2]);
        c.propose(21, 1, "m2").unwrap();
        // B fetches m2 and fetches again at 2 (A's high watermark becomes
        // 2 and m2 is acked), but that answer, carrying HW 2, is lost.
        c.tick(40);
        let fetch = c.node(2).outbox.drain(..).collect::<Vec<_>>();
        for (_, message) in fetch {
            let node = c.node(1);
            node.replica.step(40, 2, message, &node.log).unwrap();
            node.drain();
        }
        let response = c.node(1).outbox.drain(..).collect::<Vec<_>>();
        for (_, message) in response {
            let node = c.node(2);
            node.replica.step(40, 1, message, &node.log).unwrap();
            node.drain(); // appends m2, sends the next fetch
        }
        let fetch = c.node(2).outbox.drain(..).collect::<Vec<_>>();
        for (_, message) in fetch {
            let node = c.node(1);
            node.replica.step(41, 2, message, &node.log).unwrap();
            node.drain();
        }
        c.node(1).outbox.clear(); // the response with HW 2 is lost
        assert_eq!(c.node(1).acked.len(), 2, "m2 is acknowledged");
        assert_eq!((c.node(2).replica.log_end_offset(), c.node(2).replica.high_watermark()), (2, 1));

        // B restarts from its log and follows A again (same epoch).
        let b = c.node(2);
        let cache = b.replica.epoch_cache().clone();
        b.replica = Replica::new(2, vec![1, 2], config.clone(), 2, cache, 1).unwrap();
        b.replica.become_follower(50, 1, Some(1)).unwrap();
        b.drain();
        // A dies before B fetches again; B leads epoch 2.
        b.outbox.clear();
        b.replica.become_leader(60, 2, BTreeSet::from([2])).unwrap();
        b.drain();
        let kept: Vec<&[u8]> = c.node(2).payloads();
        if hw_truncation {
            assert_eq!(kept, vec![b"m1"], "pre-KIP-101: the acknowledged m2 is gone");
        } else {
            assert_eq!(kept, vec![b"m1".as_slice(), b"m2"], "KIP-101: m2 survives");
        }
    }
}

/// KIP-101 scenario 2. A has m1, m2 (epoch 1), B only m1; both restart, B
/// leads epoch 2 and writes m3 at offset 1. A follows: by leader epoch it
/// truncates m2 and takes m3; by high watermark (2, on A) it keeps m2 and
/// the logs diverge at offset 1 forever.
#[test]
fn epoch_truncation_resolves_divergence() {
    for hw_truncation in [false, true] {
        let mut config = config();
        config.truncate_to_high_watermark_on_become_follower = hw_truncation;
        let mut cache = EpochCache::new();
        cache.assign(1, 0);
        let mut c = Cluster::new(&[1, 2], &config);
        let epoch1 = |offset, text: &str| Batch {
            base_offset: offset,
            record_count: 1,
            leader_epoch: 1,
            payload: text.as_bytes().to_vec(),
        };
        c.node(1).log.0 = vec![epoch1(0, "m1"), epoch1(1, "m2")];
        c.node(1).replica = Replica::new(1, vec![1, 2], config.clone(), 2, cache.clone(), 2).unwrap();
        c.node(2).log.0 = vec![epoch1(0, "m1")];
        c.node(2).replica = Replica::new(2, vec![1, 2], config.clone(), 1, cache, 1).unwrap();
        c.lead(0, 2, 2, &[2]);
        c.propose(1, 2, "m3").unwrap();
        for now in (10..200).step_by(10) {
            c.tick(now);
            c.exchange(now, &[1, 2]);
        }
        let (a, b) = (c.node(1).payloads().concat(), c.node(2).payloads().concat());
        if hw_truncation {
            assert_eq!(a, b"m1m2".to_vec(), "pre-KIP-101: A keeps m2 where B has m3");
            assert_ne!(a, b);
        } else {
            assert_eq!(a, b"m1m3".to_vec());
            assert_eq!(a, b);
        }
    }
}

/// A follower that led an epoch nobody else saw (epoch 2 at offsets 2..4)
/// truncates exactly to where that epoch began on the new leader's log
/// (KIP-279), not to its high watermark (0), and keeps its epoch-1 records.
#[test]
fn divergence_truncates_exactly_to_the_common_prefix() {
    let config = config();
    let batch = |offset, epoch, text: &str| Batch {
        base_offset: offset,
        record_count: 1,
        leader_epoch: epoch,
        payload: text.as_bytes().to_vec(),
    };
    let mut c = Cluster::new(&[1, 2], &config);
    let mut a_cache = EpochCache::new();
    a_cache.assign(1, 0);
    a_cache.assign(2, 2);
    c.node(1).log.0 = vec![batch(0, 1, "a"), batch(1, 1, "b"), batch(2, 2, "x"), batch(3, 2, "y")];
    c.node(1).replica = Replica::new(1, vec![1, 2], config.clone(), 4, a_cache, 0).unwrap();
    let mut b_cache = EpochCache::new();
    b_cache.assign(1, 0);
    c.node(2).log.0 = vec![batch(0, 1, "a"), batch(1, 1, "b"), batch(2, 1, "c")];
    c.node(2).replica = Replica::new(2, vec![1, 2], config.clone(), 3, b_cache, 0).unwrap();
    c.lead(0, 2, 3, &[2]);
    c.exchange(0, &[1, 2]);
    assert_eq!(c.node(1).payloads().concat(), b"abc".to_vec());
    assert_eq!(c.node(1).replica.epoch_cache().latest_epoch(), Some(1));
}
