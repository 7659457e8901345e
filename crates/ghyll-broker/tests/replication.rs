//! Proves replicated topics keep every `acks=all` record: replicas on three node directories end with identical logs, a failed leader is replaced from the ISR without losing an acknowledged record, too small an ISR refuses `acks=all` with `NotEnoughReplicas`, restored nodes truncate divergent suffixes and catch up, leadership returns to the preferred replica, and a reopened broker still has everything — by driving a real broker over temporary node directories and reading each replica's log from disk afterwards.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{consume, earliest};
use ghyll_broker::{Acks, Broker, BrokerConfig, BrokerError, NewTopic, ProducerConfig, ProducerRecord};
use ghyll_log::{Log, LogConfig};

struct Cluster {
    _dir: tempfile::TempDir,
    config: BrokerConfig,
}

impl Cluster {
    fn new(nodes: usize) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let mut config = BrokerConfig::new(dir.path().join("meta"));
        config.nodes = (0..nodes).map(|n| dir.path().join(format!("node-{n}"))).collect();
        Cluster { _dir: dir, config }
    }

    fn open(&self) -> Broker {
        Broker::open_with(self.config.clone()).unwrap()
    }

    fn node_dir(&self, node: u32) -> &Path {
        &self.config.nodes[node as usize]
    }
}

fn producer(broker: &Broker, acks: Acks) -> ghyll_broker::Producer {
    let mut config = ProducerConfig::default();
    config.acks = acks;
    broker.producer(config).unwrap()
}

fn replicated_topic(broker: &Broker, name: &str, partitions: u32, min_insync: &str) {
    let topic = NewTopic::new(name, partitions).replication_factor(3).config("min.insync.replicas", min_insync);
    broker.create_topic(topic).unwrap();
}

fn send_all(producer: &ghyll_broker::Producer, topic: &str, values: std::ops::Range<u32>) -> Vec<u64> {
    values
        .map(|i| {
            let value = format!("v{i}");
            let sent = producer.send(ProducerRecord::new(topic, value.as_bytes()).partition(0)).unwrap();
            sent.offset.unwrap()
        })
        .collect()
}

fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn values(records: &[common::Owned]) -> Vec<String> {
    records.iter().map(|r| String::from_utf8(r.value.clone().unwrap()).unwrap()).collect()
}

fn expected(values: std::ops::Range<u32>) -> Vec<String> {
    values.map(|i| format!("v{i}")).collect()
}

/// Every batch of one replica's log, as bytes, read from disk.
fn log_batches(dir: PathBuf) -> Vec<Vec<u8>> {
    let log = Log::open(&dir, LogConfig::default()).unwrap();
    let mut out = Vec::new();
    let mut at = log.log_start_offset();
    while at < log.log_end_offset() {
        let read = log.read(at, 1 << 20).unwrap();
        for batch in read.batches() {
            out.push(batch.unwrap().as_bytes().to_vec());
        }
        at = read.next_offset();
    }
    log.close().unwrap();
    out
}

/// Each replica's log of `topic-0`, which must all be identical; returns
/// the number of batches.
fn assert_replicas_agree(cluster: &Cluster, topic: &str, replicas: &[u32]) -> usize {
    let logs: Vec<Vec<Vec<u8>>> =
        replicas.iter().map(|&n| log_batches(cluster.node_dir(n).join(format!("{topic}-0")))).collect();
    for (node, log) in replicas.iter().zip(&logs) {
        assert_eq!(log, &logs[0], "node {node}'s log differs from node {}'s", replicas[0]);
    }
    logs[0].len()
}

#[test]
fn acks_all_reaches_every_replica_and_describe_shows_leader_isr_and_high_watermark() {
    let cluster = Cluster::new(3);
    let broker = cluster.open();
    replicated_topic(&broker, "orders", 2, "2");
    let description = broker.describe_topic("orders").unwrap();
    assert_eq!(description.replication_factor, 3);
    for partition in &description.partitions {
        assert_eq!(partition.replicas.len(), 3);
        assert_eq!(partition.leader, Some(partition.replicas[0]), "the preferred replica leads");
        assert_eq!(partition.isr, vec![0, 1, 2]);
        assert!(partition.dir.starts_with(cluster.node_dir(partition.replicas[0])), "{:?}", partition.dir);
    }
    assert_ne!(description.partitions[0].leader, description.partitions[1].leader, "leaders spread over nodes");

    let producer = producer(&broker, Acks::All);
    let offsets = send_all(&producer, "orders", 0..50);
    assert_eq!(offsets, (0..50).collect::<Vec<u64>>());
    let partition = &broker.describe_topic("orders").unwrap().partitions[0];
    assert_eq!((partition.log_end_offset, partition.high_watermark), (50, 50));
    let mut consumer = earliest(&broker, &[("orders", 0)]);
    assert_eq!(values(&consume(&mut consumer, 50)), expected(0..50));
    drop(consumer);
    producer.close().unwrap();
    let replicas = partition.replicas.clone();
    broker.close().unwrap();
    assert_eq!(assert_replicas_agree(&cluster, "orders", &replicas), 50, "one batch per synchronous send");
}

#[test]
fn a_failed_leader_is_replaced_from_the_isr_and_too_small_an_isr_refuses_acks_all() {
    let cluster = Cluster::new(3);
    let broker = cluster.open();
    replicated_topic(&broker, "events", 1, "2");
    let producer = producer(&broker, Acks::All);
    let replicas = broker.describe_topic("events").unwrap().partitions[0].replicas.clone();
    let first = replicas[0];
    send_all(&producer, "events", 0..20);

    broker.fail_node(first).unwrap();
    let partition = &broker.describe_topic("events").unwrap().partitions[0];
    assert_eq!(partition.leader, Some(replicas[1]), "the next ISR member leads");
    assert_eq!(partition.isr, {
        let mut isr = vec![replicas[1], replicas[2]];
        isr.sort();
        isr
    });
    assert_eq!(send_all(&producer, "events", 20..40), (20..40).collect::<Vec<u64>>(), "ISR 2 >= min 2");

    broker.fail_node(replicas[2]).unwrap();
    let partition = &broker.describe_topic("events").unwrap().partitions[0];
    assert_eq!((partition.leader, partition.isr.clone()), (Some(replicas[1]), vec![replicas[1]]));
    let error = producer.send(ProducerRecord::new("events", b"refused").partition(0)).unwrap_err();
    match &error {
        BrokerError::SendFailed { source, .. } => {
            assert!(matches!(source.as_ref(), BrokerError::NotEnoughReplicas { isr: 1, min_insync: 2, .. }), "{error}")
        }
        other => panic!("expected NotEnoughReplicas, got {other}"),
    }
    // acks=1 still works with one replica; it is not acknowledged as all.
    let leader_only = self::producer(&broker, Acks::Leader);
    assert_eq!(leader_only.send(ProducerRecord::new("events", b"v40").partition(0)).unwrap().offset, Some(40));
    wait_until("the high watermark covers the acks=1 record", || {
        broker.describe_topic("events").unwrap().partitions[0].high_watermark == 41
    });
    let mut consumer = earliest(&broker, &[("events", 0)]);
    assert_eq!(values(&consume(&mut consumer, 41)), expected(0..41), "nothing acknowledged is lost");

    broker.restore_node(replicas[2]).unwrap();
    broker.restore_node(first).unwrap();
    wait_until("both nodes rejoin the ISR and the preferred replica leads again", || {
        let partition = &broker.describe_topic("events").unwrap().partitions[0];
        partition.isr == [0, 1, 2] && partition.leader == Some(first)
    });
    assert_eq!(send_all(&producer, "events", 41..50), (41..50).collect::<Vec<u64>>());
    assert_eq!(values(&consume(&mut consumer, 9)), expected(41..50));
    drop(consumer);
    producer.close().unwrap();
    leader_only.close().unwrap();
    broker.close().unwrap();
    assert_replicas_agree(&cluster, "events", &replicas);
    // Every replica checkpointed its epoch cache in Kafka's format, and it
    // matches the epochs its batches carry (each epoch's first offset).
    for &node in &replicas {
        let dir = cluster.node_dir(node).join("events-0");
        let text = std::fs::read_to_string(dir.join("leader-epoch-checkpoint")).unwrap();
        let mut from_log: Vec<(i32, u64)> = Vec::new();
        let mut offset = 0u64;
        for bytes in log_batches(dir) {
            let batch = ghyll_log::Batch::new(&bytes).unwrap();
            let epoch = batch.header().partition_leader_epoch;
            if from_log.last().is_none_or(|&(last, _)| last != epoch) {
                from_log.push((epoch, offset));
            }
            offset = batch.next_offset();
        }
        let mut expected_text = format!("0\n{}\n", from_log.len());
        for (epoch, start) in &from_log {
            expected_text.push_str(&format!("{epoch} {start}\n"));
        }
        assert_eq!(text, expected_text, "node {node}");
        assert!(from_log.len() >= 3, "three leaders wrote: {from_log:?}");
    }
}

#[test]
fn a_restored_node_truncates_its_divergent_suffix_after_an_unclean_election() {
    let cluster = Cluster::new(3);
    let broker = cluster.open();
    let topic = NewTopic::new("t", 1)
        .replication_factor(3)
        .config("min.insync.replicas", "1")
        .config("unclean.leader.election.enable", "true");
    broker.create_topic(topic).unwrap();
    let replicas = broker.describe_topic("t").unwrap().partitions[0].replicas.clone();
    let producer = producer(&broker, Acks::All);
    send_all(&producer, "t", 0..5);
    // The leader alone takes 5 more records, then fails: they exist only
    // in its log.
    broker.fail_node(replicas[1]).unwrap();
    broker.fail_node(replicas[2]).unwrap();
    send_all(&producer, "t", 5..10);
    broker.fail_node(replicas[0]).unwrap();
    assert_eq!(broker.describe_topic("t").unwrap().partitions[0].leader, None, "offline");
    let error = producer.send(ProducerRecord::new("t", b"x").partition(0)).unwrap_err();
    assert!(error.to_string().contains("no leader"), "{error}");
    // An unclean election: a replica without those records leads.
    broker.restore_node(replicas[1]).unwrap();
    assert_eq!(broker.describe_topic("t").unwrap().partitions[0].leader, Some(replicas[1]));
    assert_eq!(send_all(&producer, "t", 100..103), vec![5, 6, 7]);
    broker.restore_node(replicas[0]).unwrap();
    broker.restore_node(replicas[2]).unwrap();
    wait_until("every replica is back in the ISR", || broker.describe_topic("t").unwrap().partitions[0].isr.len() == 3);
    let mut consumer = earliest(&broker, &[("t", 0)]);
    let mut want = expected(0..5);
    want.extend(expected(100..103));
    assert_eq!(values(&consume(&mut consumer, 8)), want);
    drop(consumer);
    producer.close().unwrap();
    broker.close().unwrap();
    assert_eq!(
        assert_replicas_agree(&cluster, "t", &replicas),
        8,
        "node {} dropped its divergent records",
        replicas[0]
    );
}

#[test]
fn replication_factor_above_the_node_count_is_refused_and_unreplicated_topics_are_unchanged() {
    let cluster = Cluster::new(3);
    let broker = cluster.open();
    let error = broker.create_topic(NewTopic::new("too-many", 1).replication_factor(4)).unwrap_err();
    assert!(matches!(error, BrokerError::InvalidReplicationFactor { factor: 4, .. }), "{error}");
    let error = broker.create_topic(NewTopic::new("bad-min", 1).config("min.insync.replicas", "0")).unwrap_err();
    assert!(matches!(error, BrokerError::InvalidConfig { .. }), "{error}");
    assert!(matches!(broker.fail_node(3), Err(BrokerError::UnknownNode { node: 3, nodes: 3 })));
    broker.close().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(dir.path()).unwrap();
    let error = broker.create_topic(NewTopic::new("r2", 1).replication_factor(2)).unwrap_err();
    assert!(matches!(error, BrokerError::InvalidReplicationFactor { factor: 2, .. }), "{error}");
    broker.create_topic(NewTopic::new("plain", 2)).unwrap();
    let producer = producer(&broker, Acks::All);
    assert_eq!(send_all(&producer, "plain", 0..3), vec![0, 1, 2]);
    let description = broker.describe_topic("plain").unwrap();
    let partition = &description.partitions[0];
    assert_eq!((partition.leader, partition.replicas.clone(), partition.isr.clone()), (Some(0), vec![0], vec![0]));
    assert_eq!(partition.dir, dir.path().join("plain-0"), "today's layout");
    assert_eq!(partition.high_watermark, 3);
    producer.close().unwrap();
    broker.close().unwrap();
    let text = std::fs::read_to_string(dir.path().join("topics.meta")).unwrap();
    assert!(!text.contains("replicas:"), "unreplicated topics keep the old metadata line: {text}");
}

#[test]
fn a_reopened_broker_keeps_every_acknowledged_record_and_its_replicas_agree() {
    let cluster = Cluster::new(3);
    let replicas = {
        let broker = cluster.open();
        replicated_topic(&broker, "log", 1, "2");
        let replicas = broker.describe_topic("log").unwrap().partitions[0].replicas.clone();
        let producer = producer(&broker, Acks::All);
        send_all(&producer, "log", 0..30);
        broker.fail_node(replicas[0]).unwrap();
        send_all(&producer, "log", 30..40);
        producer.close().unwrap();
        // Dropped without close, with node replicas[0] still failed.
        replicas
    };
    let broker = cluster.open();
    wait_until("the reopened partition's replicas catch up", || {
        let partition = &broker.describe_topic("log").unwrap().partitions[0];
        partition.high_watermark == 40 && partition.isr.len() == 3
    });
    let leader = broker.describe_topic("log").unwrap().partitions[0].leader;
    assert!(leader.is_some());
    let mut consumer = earliest(&broker, &[("log", 0)]);
    assert_eq!(values(&consume(&mut consumer, 40)), expected(0..40));
    let producer = producer(&broker, Acks::All);
    assert_eq!(send_all(&producer, "log", 40..42), vec![40, 41]);
    drop(consumer);
    producer.close().unwrap();
    broker.close().unwrap();
    assert_eq!(assert_replicas_agree(&cluster, "log", &replicas), 42);

    // And once more, after a clean close.
    let broker = cluster.open();
    wait_until("the high watermark is back", || {
        broker.describe_topic("log").unwrap().partitions[0].high_watermark == 42
    });
    broker.close().unwrap();
}

#[test]
fn added_partitions_are_replicated_and_their_placement_survives_a_restart() {
    let cluster = Cluster::new(3);
    let broker = cluster.open();
    replicated_topic(&broker, "grow", 1, "2");
    broker.add_partitions("grow", 3).unwrap();
    let placed: Vec<Vec<u32>> =
        broker.describe_topic("grow").unwrap().partitions.iter().map(|p| p.replicas.clone()).collect();
    assert_eq!(placed, vec![vec![0, 1, 2], vec![1, 2, 0], vec![2, 0, 1]]);
    let producer = producer(&broker, Acks::All);
    assert_eq!(producer.send(ProducerRecord::new("grow", b"x").partition(2)).unwrap().offset, Some(0));
    producer.close().unwrap();
    broker.close().unwrap();
    let broker = cluster.open();
    let description = broker.describe_topic("grow").unwrap();
    let reopened: Vec<Vec<u32>> = description.partitions.iter().map(|p| p.replicas.clone()).collect();
    assert_eq!(reopened, placed);
    assert_eq!(description.partitions[2].leader, Some(2));
    wait_until("partition 2's high watermark is back", || {
        broker.describe_topic("grow").unwrap().partitions[2].high_watermark == 1
    });
    broker.delete_topic("grow").unwrap();
    for node in 0..3 {
        for partition in 0..3 {
            assert!(!cluster.node_dir(node).join(format!("grow-{partition}")).exists());
        }
    }
    assert!(!cluster.config.data_dir.join("grow-0.leader-and-isr").exists());
    broker.close().unwrap();
}

#[test]
fn concurrent_acks_all_sends_across_a_leader_failure_lose_nothing_acknowledged() {
    let cluster = Cluster::new(3);
    let broker = cluster.open();
    replicated_topic(&broker, "busy", 1, "2");
    let first = broker.describe_topic("busy").unwrap().partitions[0].replicas[0];
    let producer = producer(&broker, Acks::All);
    let senders: Vec<_> = (0..4)
        .map(|thread| {
            let producer = producer.clone();
            std::thread::spawn(move || {
                let mut acked = Vec::new();
                let mut failed = 0;
                for i in 0..300 {
                    let value = format!("{thread}-{i}");
                    let handle =
                        producer.send_async(ProducerRecord::new("busy", value.as_bytes()).partition(0)).unwrap();
                    match handle.wait() {
                        Ok(sent) => acked.push((sent.offset.unwrap(), value)),
                        Err(_) => failed += 1,
                    }
                }
                (acked, failed)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(20));
    broker.fail_node(first).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    broker.restore_node(first).unwrap();
    let mut acked = Vec::new();
    for sender in senders {
        let (mine, _failed) = sender.join().unwrap();
        acked.extend(mine);
    }
    assert!(acked.len() > 600, "most sends succeed: {}", acked.len());
    let hw = broker.describe_topic("busy").unwrap().partitions[0].high_watermark;
    let mut consumer = earliest(&broker, &[("busy", 0)]);
    let records = consume(&mut consumer, hw as usize);
    for (offset, value) in &acked {
        let record = &records[*offset as usize];
        assert_eq!(record.offset, *offset);
        assert_eq!(record.value.as_deref(), Some(value.as_bytes()), "acknowledged record at {offset} lost");
    }
    drop(consumer);
    producer.close().unwrap();
    let replicas = broker.describe_topic("busy").unwrap().partitions[0].replicas.clone();
    wait_until("the ISR is whole again", || broker.describe_topic("busy").unwrap().partitions[0].isr.len() == 3);
    broker.close().unwrap();
    assert_replicas_agree(&cluster, "busy", &replicas);
}

#[test]
fn flush_waits_for_acks_all_on_a_replicated_topic() {
    let cluster = Cluster::new(3);
    let broker = cluster.open();
    replicated_topic(&broker, "t", 2, "2");
    let producer = producer(&broker, Acks::All);
    let handles: Vec<_> = (0..5_000u32)
        .map(|i| producer.send_async(ProducerRecord::new("t", format!("v{i}").as_bytes())).unwrap())
        .collect();
    producer.flush().unwrap();
    // Every handle is done and the high watermarks cover every record the
    // moment flush returns.
    assert!(handles.iter().all(|handle| handle.is_done()));
    let committed: u64 = broker.describe_topic("t").unwrap().partitions.iter().map(|p| p.high_watermark).sum();
    assert_eq!(committed, 5_000);
    for handle in handles {
        handle.wait().unwrap();
    }
}

#[test]
fn acks_all_completes_without_waiting_for_the_replication_thread() {
    let mut cluster = Cluster::new(3);
    // The background thread would not come for a minute: each send must
    // be replicated and acknowledged by the producer's own delivery rounds.
    cluster.config.replication_check_interval = Duration::from_secs(60);
    let broker = cluster.open();
    replicated_topic(&broker, "t", 1, "2");
    let (done, finished) = std::sync::mpsc::channel();
    let sender = {
        let broker = broker.clone();
        std::thread::spawn(move || {
            let producer = producer(&broker, Acks::All);
            let offsets = send_all(&producer, "t", 0..50);
            producer.close().unwrap();
            done.send(offsets).unwrap();
        })
    };
    let offsets = finished.recv_timeout(Duration::from_secs(30)).expect("acks=all sends completed");
    assert_eq!(offsets, (0..50).collect::<Vec<u64>>());
    sender.join().unwrap();
    assert_eq!(broker.describe_topic("t").unwrap().partitions[0].high_watermark, 50);
}

#[test]
fn a_follower_behind_the_leaders_log_start_starts_over_there_and_rejoins() {
    let mut cluster = Cluster::new(2);
    cluster.config.retention_check_interval = Duration::from_millis(20);
    let broker = cluster.open();
    let topic =
        NewTopic::new("t", 1).replication_factor(2).config("segment.bytes", "1024").config("retention.bytes", "2048");
    broker.create_topic(topic).unwrap();
    let replicas = broker.describe_topic("t").unwrap().partitions[0].replicas.clone();
    let follower = replicas[1];
    broker.fail_node(follower).unwrap();
    let producer = producer(&broker, Acks::All);
    send_all(&producer, "t", 0..200);
    wait_until("retention moves the leader's log start", || {
        broker.describe_topic("t").unwrap().partitions[0].log_start_offset > 0
    });
    broker.restore_node(follower).unwrap();
    wait_until("the follower rejoins the ISR", || broker.describe_topic("t").unwrap().partitions[0].isr.len() == 2);
    send_all(&producer, "t", 200..210);
    producer.close().unwrap();
    let start = broker.describe_topic("t").unwrap().partitions[0].log_start_offset;
    broker.close().unwrap();
    // Both replicas hold the same batches from the leader's log start on.
    let leader_batches = log_batches(cluster.node_dir(replicas[0]).join("t-0"));
    let follower_batches = log_batches(cluster.node_dir(follower).join("t-0"));
    let from = |batches: &[Vec<u8>]| -> Vec<Vec<u8>> {
        batches.iter().filter(|bytes| ghyll_log::Batch::new(bytes).unwrap().base_offset() >= start).cloned().collect()
    };
    assert!(!from(&follower_batches).is_empty());
    assert_eq!(from(&follower_batches), from(&leader_batches));
}

/// A tiny deterministic generator, so a failing churn run can be replayed
/// from its seed.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[test]
fn random_node_churn_with_a_restart_loses_no_acknowledged_record() {
    for seed in [1u64, 2, 3, 4, 5] {
        let cluster = Cluster::new(3);
        let mut rng = SplitMix(seed);
        let mut broker = cluster.open();
        replicated_topic(&broker, "churn", 1, "2");
        let mut producer = producer(&broker, Acks::All);
        let mut acked: Vec<(u64, String)> = Vec::new();
        let mut down: Vec<u32> = Vec::new();
        let (mut failures, mut restarts) = (0, 0);
        for step in 0..40 {
            let choice = if step == 19 || step == 33 { 2 } else { rng.next() % 6 };
            match choice {
                0 if down.len() < 2 => {
                    let node = (rng.next() % 3) as u32;
                    if !down.contains(&node) {
                        broker.fail_node(node).unwrap();
                        down.push(node);
                        failures += 1;
                    }
                }
                1 if !down.is_empty() => {
                    let node = down.remove((rng.next() % down.len() as u64) as usize);
                    broker.restore_node(node).unwrap();
                }
                2 => {
                    restarts += 1;
                    // A restart with whatever is down staying down.
                    producer.close().unwrap();
                    drop(producer);
                    broker.close().unwrap();
                    broker = cluster.open();
                    for &node in &down {
                        broker.fail_node(node).unwrap();
                    }
                    producer = self::producer(&broker, Acks::All);
                }
                _ => {
                    for i in 0..5 {
                        let value = format!("s{seed}-{step}-{i}");
                        // A refused send (NotEnoughReplicas, NotLeader) is not
                        // acknowledged, so not owed.
                        if let Ok(sent) = producer.send(ProducerRecord::new("churn", value.as_bytes()).partition(0)) {
                            acked.push((sent.offset.unwrap(), value));
                        }
                    }
                }
            }
        }
        for node in std::mem::take(&mut down) {
            broker.restore_node(node).unwrap();
        }
        wait_until("every replica is back in the ISR", || {
            broker.describe_topic("churn").unwrap().partitions[0].isr.len() == 3
        });
        let end = broker.describe_topic("churn").unwrap().partitions[0].high_watermark;
        let mut consumer = earliest(&broker, &[("churn", 0)]);
        let read: std::collections::BTreeMap<u64, String> = consume(&mut consumer, end as usize)
            .into_iter()
            .map(|r| (r.offset, String::from_utf8(r.value.unwrap()).unwrap()))
            .collect();
        for (offset, value) in &acked {
            assert_eq!(read.get(offset), Some(value), "seed {seed}: acknowledged record at {offset} lost");
        }
        assert!(acked.len() > 20, "seed {seed}: the run acknowledged {} records", acked.len());
        assert!(failures > 0 && restarts >= 2, "seed {seed}: {failures} failures, {restarts} restarts");
        drop(consumer);
        producer.close().unwrap();
        broker.close().unwrap();
        let replicas: Vec<u32> = vec![0, 1, 2];
        assert_replicas_agree(&cluster, "churn", &replicas);
    }
}
