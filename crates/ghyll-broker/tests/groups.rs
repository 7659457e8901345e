//! Consumer groups through the broker: subscribe, share partitions without
//! overlap, fail over when a member dies, resume from committed offsets
//! across a restart, keep groups independent, fence stale members, static
//! membership, cooperative rebalances, and the group admin calls.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use ghyll_broker::{
    Broker, BrokerConfig, BrokerError, Consumer, ConsumerConfig, CooperativeStickyAssignor, GroupState, NewTopic,
    OffsetAndMetadata, OffsetReset, OffsetSpec, ProducerRecord, RebalanceListener, TopicPartition, OFFSETS_TOPIC,
};

/// A broker that accepts the short session timeouts these tests use.
fn open(dir: &std::path::Path) -> Broker {
    let mut config = BrokerConfig::new(dir);
    config.group_min_session_timeout = Duration::from_millis(100);
    Broker::open_with(config).unwrap()
}

fn produce(broker: &Broker, topic: &str, records: u32) {
    let producer = broker.producer(Default::default()).unwrap();
    for i in 0..records {
        producer.send_async(ProducerRecord::new(topic, format!("{i}").as_bytes())).unwrap();
    }
    producer.flush().unwrap();
    producer.close().unwrap();
}

fn group_config(group: &str) -> ConsumerConfig {
    let mut config = ConsumerConfig::with_group(group);
    config.auto_offset_reset = OffsetReset::Earliest;
    config
}

/// Fast failure detection for tests: crashed members after 300 ms
/// without heartbeats, stuck ones after 300 ms without a poll.
fn quick(mut config: ConsumerConfig) -> ConsumerConfig {
    config.session_timeout = Duration::from_millis(300);
    config.heartbeat_interval = Duration::from_millis(50);
    config.max_poll_interval = Duration::from_millis(300);
    config
}

fn owned_partitions(consumer: &Consumer) -> BTreeSet<TopicPartition> {
    consumer.assignment().into_iter().collect()
}

/// Polls every consumer (on this thread) until `done` holds.
fn poll_until(consumers: &mut [Consumer], mut done: impl FnMut(&[Consumer]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done(consumers) {
        assert!(Instant::now() < deadline, "condition not reached in 20 s");
        for consumer in consumers.iter_mut() {
            consumer.poll(Duration::from_millis(5)).unwrap();
        }
    }
}

#[test]
fn members_of_one_group_share_partitions_without_overlap() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open(dir.path());
    broker.create_topic(NewTopic::new("t", 6)).unwrap();
    let mut consumers: Vec<Consumer> = (0..3)
        .map(|_| {
            let mut consumer = broker.consumer(group_config("g")).unwrap();
            consumer.subscribe(["t"]).unwrap();
            consumer
        })
        .collect();
    poll_until(&mut consumers, |c| c.iter().all(|c| owned_partitions(c).len() == 2));
    let mut all = BTreeSet::new();
    for consumer in &consumers {
        for tp in owned_partitions(consumer) {
            assert!(all.insert(tp.clone()), "{tp} owned twice");
        }
    }
    assert_eq!(all.len(), 6);
    let description = broker.describe_group("g").unwrap();
    assert_eq!(description.state, GroupState::Stable);
    assert_eq!(description.members.len(), 3);
}

#[test]
fn every_record_is_consumed_exactly_once_by_a_group_on_threads() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open(dir.path());
    broker.create_topic(NewTopic::new("t", 4)).unwrap();
    produce(&broker, "t", 4_000);
    let seen: Arc<Mutex<Vec<(u32, u64)>>> = Arc::default();
    let total = 4_000;
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let (broker, seen) = (broker.clone(), Arc::clone(&seen));
            thread::spawn(move || {
                let mut config = group_config("g");
                config.enable_auto_commit = false;
                config.max_poll_records = 50;
                let mut consumer = broker.consumer(config).unwrap();
                consumer.subscribe(["t"]).unwrap();
                let deadline = Instant::now() + Duration::from_secs(20);
                while seen.lock().unwrap().len() < total && Instant::now() < deadline {
                    let records = consumer.poll(Duration::from_millis(20)).unwrap();
                    let batch: Vec<(u32, u64)> =
                        records.iter().map(|r| r.unwrap()).map(|r| (r.partition, r.offset)).collect();
                    if !batch.is_empty() {
                        consumer.commit().unwrap();
                        seen.lock().unwrap().extend(batch);
                    }
                }
                consumer.close();
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let seen = seen.lock().unwrap();
    let unique: BTreeSet<(u32, u64)> = seen.iter().copied().collect();
    assert_eq!(unique.len(), total, "every record consumed");
    assert_eq!(seen.len(), total, "none twice (members committed every poll and closed cleanly)");
}

#[test]
fn committed_offsets_survive_a_broker_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let broker = open(dir.path());
        broker.create_topic(NewTopic::new("t", 2)).unwrap();
        produce(&broker, "t", 100);
        let mut consumer = broker.consumer(group_config("g")).unwrap();
        consumer
            .commit_offsets(&BTreeMap::from([
                (TopicPartition::new("t", 0), OffsetAndMetadata::new(30)),
                (TopicPartition::new("t", 1), OffsetAndMetadata::new(40)),
            ]))
            .unwrap();
        // Dropped without close: the commit was already in the log.
        drop(consumer);
        drop(broker);
    }
    let broker = open(dir.path());
    assert!(broker.list_topics().contains(&OFFSETS_TOPIC.to_string()));
    let mut consumer = broker.consumer(group_config("g")).unwrap();
    assert_eq!(consumer.committed(&TopicPartition::new("t", 0)).unwrap().map(|c| c.offset), Some(30));
    consumer.subscribe(["t"]).unwrap();
    let mut first: BTreeMap<u32, u64> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while first.len() < 2 && Instant::now() < deadline {
        for record in consumer.poll(Duration::from_millis(50)).unwrap().iter() {
            let record = record.unwrap();
            first.entry(record.partition).or_insert(record.offset);
        }
    }
    assert_eq!(first, BTreeMap::from([(0, 30), (1, 40)]), "resumed from the committed offsets");
    let groups = broker.list_groups();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].group_id, "g");
}

#[test]
fn a_dead_member_is_detected_and_its_partitions_consumed_by_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open(dir.path());
    broker.create_topic(NewTopic::new("t", 4)).unwrap();
    produce(&broker, "t", 400);
    let mut consumers: Vec<Consumer> = (0..2)
        .map(|_| {
            let mut config = quick(group_config("g"));
            config.enable_auto_commit = false;
            let mut consumer = broker.consumer(config).unwrap();
            consumer.subscribe(["t"]).unwrap();
            consumer
        })
        .collect();
    poll_until(&mut consumers, |c| c.iter().all(|c| owned_partitions(c).len() == 2));
    // (The settling polls above may have returned records: start counting
    // from the committed offsets, which are none, so everything is
    // redelivered to whoever owns it next.)
    let dead = consumers.pop().unwrap();
    let orphaned = owned_partitions(&dead);
    // A crash: the member's thread panics while it holds the consumer (no
    // commit, no leave; its heartbeats stop with it).
    let crashed = thread::spawn(move || {
        let _consumer = dead;
        std::panic::resume_unwind(Box::new("simulated crash"));
    });
    assert!(crashed.join().is_err());
    let died = Instant::now();
    let mut survivor = consumers.pop().unwrap();
    let mut seen: BTreeSet<(u32, u64)> = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut took_over = None;
    // Nothing was committed: after the (eager) rebalance every partition
    // starts again from auto.offset.reset, so every record is delivered
    // (at least once).
    while (seen.len() < 400 || took_over.is_none()) && Instant::now() < deadline {
        if took_over.is_none() && owned_partitions(&survivor).len() == 4 {
            took_over = Some(died.elapsed());
        }
        for record in survivor.poll(Duration::from_millis(20)).unwrap().iter() {
            let record = record.unwrap();
            seen.insert((record.partition, record.offset));
        }
    }
    assert_eq!(seen.len(), 400);
    let took_over = took_over.expect("the survivor took every partition");
    assert!(took_over >= Duration::from_millis(250), "not before the session timeout: {took_over:?} ({orphaned:?})");
}

#[test]
fn groups_read_independently_on_their_own_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open(dir.path());
    broker.create_topic(NewTopic::new("t", 3)).unwrap();
    produce(&broker, "t", 300);
    for group in ["a", "b"] {
        let mut consumer = broker.consumer(group_config(group)).unwrap();
        consumer.subscribe(["t"]).unwrap();
        let mut read = 0;
        let deadline = Instant::now() + Duration::from_secs(10);
        while read < 300 && Instant::now() < deadline {
            read += consumer.poll(Duration::from_millis(50)).unwrap().len();
        }
        assert_eq!(read, 300, "group {group} reads everything");
        consumer.commit().unwrap();
        consumer.close();
    }
    for group in ["a", "b"] {
        let description = broker.describe_group(group).unwrap();
        assert_eq!(description.state, GroupState::Empty);
        assert!(description.offsets.iter().all(|row| row.lag == Some(0)), "{description:?}");
    }
}

#[test]
fn a_member_removed_for_missed_heartbeats_is_fenced() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open(dir.path());
    broker.create_topic(NewTopic::new("t", 2)).unwrap();
    let mut config = quick(group_config("g"));
    config.enable_auto_commit = false;
    let lost: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut stale = broker.consumer(config.clone()).unwrap();
    stale.subscribe_with_listener(["t"], LostRecorder { lost: Arc::clone(&lost) }).unwrap();
    poll_until(std::slice::from_mut(&mut stale), |c| owned_partitions(&c[0]).len() == 2);
    let mut other = broker.consumer(config).unwrap();
    other.subscribe(["t"]).unwrap();
    // `stale` stops polling (its object lives on, so the group thread keeps
    // heartbeating for it); `other` joins, the rebalance waits for stale
    // until its max.poll.interval.ms, then takes everything.
    let deadline = Instant::now() + Duration::from_secs(10);
    while owned_partitions(&other).len() < 2 && Instant::now() < deadline {
        other.poll(Duration::from_millis(20)).unwrap();
    }
    assert_eq!(owned_partitions(&other).len(), 2);
    let error =
        stale.commit_offsets(&BTreeMap::from([(TopicPartition::new("t", 0), OffsetAndMetadata::new(1))])).unwrap_err();
    assert!(matches!(error, BrokerError::Group { .. }), "{error}");
    // When it polls again it hears its partitions were lost, rejoins, and
    // the two share the topic.
    let mut both = vec![stale, other];
    poll_until(&mut both, |c| c.iter().all(|c| owned_partitions(c).len() == 1));
    assert_eq!(lost.lock().unwrap().as_slice(), ["lost 2"]);
}

struct LostRecorder {
    lost: Arc<Mutex<Vec<String>>>,
}

impl RebalanceListener for LostRecorder {
    fn on_lost(&mut self, _consumer: &mut Consumer, partitions: &[TopicPartition]) {
        self.lost.lock().unwrap().push(format!("lost {}", partitions.len()));
    }
}

#[derive(Default)]
struct Recorder {
    events: Arc<Mutex<Vec<String>>>,
}

impl RebalanceListener for Recorder {
    fn on_assigned(&mut self, _consumer: &mut Consumer, partitions: &[TopicPartition]) {
        self.events.lock().unwrap().push(format!("assigned {}", partitions.len()));
    }

    fn on_revoked(&mut self, consumer: &mut Consumer, partitions: &[TopicPartition]) {
        // The classic place for a manual commit: the member is still current.
        // The classic place for a manual commit: during a rebalance the
        // member is still current. (A member closed while its next
        // assignment waits is told so; the test records it.)
        if let Err(error) = consumer.commit() {
            self.events.lock().unwrap().push(format!("commit failed: {error}"));
        }
        self.events.lock().unwrap().push(format!("revoked {}", partitions.len()));
    }
}

#[test]
fn the_rebalance_listener_hears_assignments_and_revocations() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open(dir.path());
    broker.create_topic(NewTopic::new("t", 4)).unwrap();
    let events: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut first = broker.consumer(group_config("g")).unwrap();
    first.subscribe_with_listener(["t"], Recorder { events: Arc::clone(&events) }).unwrap();
    poll_until(std::slice::from_mut(&mut first), |c| owned_partitions(&c[0]).len() == 4);
    let mut second = broker.consumer(group_config("g")).unwrap();
    second.subscribe(["t"]).unwrap();
    let mut both = vec![first, second];
    poll_until(&mut both, |c| c.iter().all(|c| owned_partitions(c).len() == 2));
    let events = events.lock().unwrap().clone();
    assert_eq!(events, ["assigned 4", "revoked 4", "assigned 2"], "eager: revoke all, then the new share");
}

#[test]
fn cooperative_sticky_keeps_consuming_unmoved_partitions_during_a_rebalance() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open(dir.path());
    broker.create_topic(NewTopic::new("t", 4)).unwrap();
    let events: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut config = group_config("g");
    config.assignor = Arc::new(CooperativeStickyAssignor);
    let mut first = broker.consumer(config.clone()).unwrap();
    first.subscribe_with_listener(["t"], Recorder { events: Arc::clone(&events) }).unwrap();
    poll_until(std::slice::from_mut(&mut first), |c| owned_partitions(&c[0]).len() == 4);
    let before = owned_partitions(&first);
    let mut second = broker.consumer(config).unwrap();
    second.subscribe(["t"]).unwrap();
    let mut both = vec![first, second];
    let mut min_owned = 4;
    poll_until(&mut both, |c| {
        min_owned = min_owned.min(owned_partitions(&c[0]).len());
        c.iter().all(|c| owned_partitions(c).len() == 2)
    });
    assert_eq!(min_owned, 2, "the first member never gave up the partitions it keeps");
    assert!(owned_partitions(&both[0]).is_subset(&before));
    let events = events.lock().unwrap().clone();
    assert_eq!(events, ["assigned 4", "revoked 2"], "only the moved partitions were revoked");
    drop(both);
}

#[test]
fn a_static_member_gets_its_partitions_back_without_a_rebalance() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open(dir.path());
    broker.create_topic(NewTopic::new("t", 4)).unwrap();
    let config = |instance: &str| {
        let mut config = group_config("g");
        config.group_instance_id = Some(instance.to_string());
        config
    };
    let mut consumers = vec![broker.consumer(config("a")).unwrap(), broker.consumer(config("b")).unwrap()];
    for consumer in &mut consumers {
        consumer.subscribe(["t"]).unwrap();
    }
    poll_until(&mut consumers, |c| c.iter().all(|c| owned_partitions(c).len() == 2));
    let generation = broker.describe_group("g").unwrap().generation;
    let b_owned = owned_partitions(&consumers[1]);
    // b restarts: close (a static member does not leave) and come back.
    consumers.pop().unwrap().close();
    let mut restarted = broker.consumer(config("b")).unwrap();
    restarted.subscribe(["t"]).unwrap();
    poll_until(std::slice::from_mut(&mut restarted), |c| !owned_partitions(&c[0]).is_empty());
    assert_eq!(owned_partitions(&restarted), b_owned);
    assert_eq!(broker.describe_group("g").unwrap().generation, generation, "no rebalance");
}

#[test]
fn group_admin_lists_describes_resets_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open(dir.path());
    broker.create_topic(NewTopic::new("t", 2)).unwrap();
    produce(&broker, "t", 100);
    let mut consumer = broker.consumer(group_config("g")).unwrap();
    consumer.subscribe(["t"]).unwrap();
    let mut read = 0;
    while read < 100 {
        read += consumer.poll(Duration::from_secs(1)).unwrap().len();
    }
    consumer.commit().unwrap();
    let description = broker.describe_group("g").unwrap();
    assert_eq!(description.state, GroupState::Stable);
    assert_eq!(description.members.len(), 1);
    assert_eq!(description.offsets.len(), 2);
    assert!(description.offsets.iter().all(|row| row.lag == Some(0) && row.member_id.is_some()));
    // Not while it has members.
    assert!(matches!(broker.delete_group("g"), Err(BrokerError::Group { .. })));
    assert!(matches!(broker.reset_group_offsets("g", "t", OffsetSpec::Earliest), Err(BrokerError::Group { .. })));
    consumer.close();
    let reset = broker.reset_group_offsets("g", "t", OffsetSpec::Offset(10)).unwrap();
    assert_eq!(reset.values().copied().collect::<Vec<_>>(), [10, 10]);
    let description = broker.describe_group("g").unwrap();
    assert_eq!(description.state, GroupState::Empty);
    assert_eq!(description.offsets.iter().map(|row| row.lag).sum::<Option<u64>>(), Some(80));
    broker.reset_group_offsets("g", "t", OffsetSpec::Latest).unwrap();
    assert_eq!(broker.list_groups().len(), 1);
    broker.delete_group("g").unwrap();
    assert!(broker.list_groups().is_empty());
    assert!(matches!(broker.describe_group("g"), Err(BrokerError::Group { .. })));
}

#[test]
fn group_misuse_gets_named_errors() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open(dir.path());
    broker.create_topic(NewTopic::new("t", 1)).unwrap();
    let mut plain = broker.consumer(ConsumerConfig::default()).unwrap();
    assert!(matches!(plain.subscribe(["t"]), Err(BrokerError::NoGroupId { .. })));
    assert!(matches!(plain.commit(), Err(BrokerError::NoGroupId { .. })));
    let mut member = broker.consumer(group_config("g")).unwrap();
    member.subscribe(["t"]).unwrap();
    assert!(matches!(member.assign([TopicPartition::new("t", 0)]), Err(BrokerError::InvalidState { .. })));
    let mut manual = broker.consumer(group_config("g2")).unwrap();
    manual.assign([TopicPartition::new("t", 0)]).unwrap();
    assert!(matches!(manual.subscribe(["t"]), Err(BrokerError::InvalidState { .. })));
    assert!(matches!(broker.create_topic(NewTopic::new(OFFSETS_TOPIC, 1)), Err(BrokerError::InternalTopic { .. })));
    member.commit().unwrap();
    assert!(matches!(broker.delete_topic(OFFSETS_TOPIC), Err(BrokerError::InternalTopic { .. })));
}

#[test]
fn auto_commit_commits_on_close_and_the_next_member_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open(dir.path());
    broker.create_topic(NewTopic::new("t", 1)).unwrap();
    produce(&broker, "t", 50);
    let mut config = group_config("g");
    config.max_poll_records = 20;
    let mut consumer = broker.consumer(config.clone()).unwrap();
    consumer.subscribe(["t"]).unwrap();
    let records = consumer.poll(Duration::from_secs(5)).unwrap();
    assert_eq!(records.len(), 20);
    drop(records);
    consumer.close();
    assert_eq!(broker.describe_group("g").unwrap().offsets[0].committed, Some(20));
    let mut next = broker.consumer(config).unwrap();
    next.subscribe(["t"]).unwrap();
    let first = next.poll(Duration::from_secs(5)).unwrap().iter().next().unwrap().unwrap().offset;
    assert_eq!(first, 20);
}

#[test]
fn concurrent_durable_commits_all_land_in_the_offsets_log() {
    let dir = tempfile::tempdir().unwrap();
    {
        let broker = open(dir.path());
        broker.create_topic(NewTopic::new("t", 8)).unwrap();
        let threads: Vec<_> = (0..8u32)
            .map(|thread| {
                let broker = broker.clone();
                thread::spawn(move || {
                    let mut config = ConsumerConfig::with_group(format!("g{thread}"));
                    config.commit_durability = ghyll_broker::Durability::Fsync;
                    let mut consumer = broker.consumer(config).unwrap();
                    for offset in 1..=50u64 {
                        let tp = TopicPartition::new("t", thread);
                        consumer.commit_offsets(&BTreeMap::from([(tp, OffsetAndMetadata::new(offset))])).unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        // Not closed: whatever is there, each commit put there itself.
        std::mem::forget(broker);
    }
    // (The forgotten broker still holds the directory lock in this process;
    // the commits are on disk, so read them through a fresh log instead.)
    let log_dir = dir.path().join(format!("{OFFSETS_TOPIC}-0"));
    let copy = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&log_dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() != ".lock" {
            std::fs::copy(entry.path(), copy.path().join(entry.file_name())).unwrap();
        }
    }
    let log = ghyll_log::Log::open(copy.path(), ghyll_log::LogConfig::default()).unwrap();
    let mut last: BTreeMap<String, u64> = BTreeMap::new();
    let read = log.read(0, 1 << 24).unwrap();
    for batch in read.batches() {
        for record in batch.unwrap().records().unwrap() {
            let record = record.unwrap();
            let decoded = ghyll_group::OffsetRecord::decode(record.key.unwrap(), record.value).unwrap().unwrap();
            last.insert(decoded.group, decoded.value.unwrap().offset);
        }
    }
    assert_eq!(last.len(), 8);
    assert!(last.values().all(|&offset| offset == 50), "{last:?}");
}

#[test]
fn offsets_of_a_group_empty_past_retention_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = BrokerConfig::new(dir.path());
    config.offsets_retention = Duration::from_millis(200);
    let broker = Broker::open_with(config.clone()).unwrap();
    broker.create_topic(NewTopic::new("t", 1)).unwrap();
    let mut consumer = broker.consumer(group_config("g")).unwrap();
    consumer.commit_offsets(&BTreeMap::from([(TopicPartition::new("t", 0), OffsetAndMetadata::new(5))])).unwrap();
    assert_eq!(broker.list_groups().len(), 1);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !broker.list_groups().is_empty() {
        assert!(Instant::now() < deadline, "offsets never expired");
        thread::sleep(Duration::from_millis(20));
    }
    drop(consumer);
    broker.close().unwrap();
    // The removal is in __consumer_offsets too: gone after a restart.
    let broker = Broker::open_with(config).unwrap();
    assert!(broker.list_groups().is_empty());
    assert_eq!(broker.consumer(group_config("g")).unwrap().committed(&TopicPartition::new("t", 0)).unwrap(), None);
}

#[test]
fn slow_processing_between_polls_keeps_the_membership_until_max_poll_interval() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open(dir.path());
    broker.create_topic(NewTopic::new("t", 2)).unwrap();
    let mut config = group_config("g");
    config.session_timeout = Duration::from_millis(200);
    config.heartbeat_interval = Duration::from_millis(50);
    config.max_poll_interval = Duration::from_secs(30);
    let mut consumer = broker.consumer(config).unwrap();
    consumer.subscribe(["t"]).unwrap();
    poll_until(std::slice::from_mut(&mut consumer), |c| owned_partitions(&c[0]).len() == 2);
    let before = consumer.group_member().unwrap();
    // "Processing" for three session timeouts: the group thread heartbeats
    // for the consumer meanwhile (Kafka's KIP-62 background heartbeat).
    thread::sleep(Duration::from_millis(600));
    assert_eq!(broker.describe_group("g").unwrap().members.len(), 1);
    consumer.poll(Duration::from_millis(10)).unwrap();
    assert_eq!(consumer.group_member().unwrap(), before, "same member, same generation");
    assert_eq!(owned_partitions(&consumer).len(), 2);
}

/// Records every callback as "<name> <kind> <count>".
struct Named(Arc<Mutex<Vec<String>>>, &'static str);

impl RebalanceListener for Named {
    fn on_assigned(&mut self, _consumer: &mut Consumer, partitions: &[TopicPartition]) {
        self.0.lock().unwrap().push(format!("{} assigned {}", self.1, partitions.len()));
    }

    fn on_revoked(&mut self, _consumer: &mut Consumer, partitions: &[TopicPartition]) {
        self.0.lock().unwrap().push(format!("{} revoked {}", self.1, partitions.len()));
    }

    fn on_lost(&mut self, _consumer: &mut Consumer, partitions: &[TopicPartition]) {
        self.0.lock().unwrap().push(format!("{} lost {}", self.1, partitions.len()));
    }
}

#[test]
fn an_idle_poll_longer_than_max_poll_interval_keeps_the_membership() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open(dir.path());
    broker.create_topic(NewTopic::new("t", 2)).unwrap();
    let events: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut consumer = broker.consumer(quick(group_config("g"))).unwrap();
    consumer.subscribe_with_listener(["t"], Named(Arc::clone(&events), "c")).unwrap();
    poll_until(std::slice::from_mut(&mut consumer), |c| owned_partitions(&c[0]).len() == 2);
    let before = consumer.group_member();
    // Blocked in poll is polling: three max.poll.interval.ms go by.
    assert!(consumer.poll(Duration::from_millis(1_000)).unwrap().is_empty());
    assert_eq!(consumer.group_member(), before);
    assert_eq!(events.lock().unwrap().as_slice(), ["c assigned 2"]);
}

#[test]
fn a_cooperative_member_removed_while_rejoining_loses_its_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open(dir.path());
    broker.create_topic(NewTopic::new("t", 4)).unwrap();
    let events: Arc<Mutex<Vec<String>>> = Arc::default();
    let config = || {
        let mut config = quick(group_config("g"));
        config.assignor = Arc::new(CooperativeStickyAssignor);
        config.enable_auto_commit = false;
        config
    };
    let mut c1 = broker.consumer(config()).unwrap();
    c1.subscribe_with_listener(["t"], Named(Arc::clone(&events), "c1")).unwrap();
    let mut c3 = broker.consumer(config()).unwrap();
    c3.subscribe(["t"]).unwrap();
    let mut pair = vec![c1, c3];
    poll_until(&mut pair, |c| c.iter().all(|c| owned_partitions(c).len() == 2));
    let (mut c1, mut c3) = (pair.remove(0), pair.remove(0));
    let mut c2 = broker.consumer(config()).unwrap();
    c2.subscribe(["t"]).unwrap();
    c2.poll(Duration::from_millis(1)).unwrap();
    c1.poll(Duration::from_millis(1)).unwrap(); // c1 rejoins, still holding 2
                                                // c1 then stops polling past max.poll.interval.ms; the others go on.
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(900) {
        c2.poll(Duration::from_millis(5)).unwrap();
        c3.poll(Duration::from_millis(5)).unwrap();
    }
    produce(&broker, "t", 40);
    let others: BTreeSet<TopicPartition> = owned_partitions(&c2).union(&owned_partitions(&c3)).cloned().collect();
    let records = c1.poll(Duration::from_millis(50)).unwrap();
    for record in records.iter() {
        let record = record.unwrap();
        let tp = TopicPartition::new(record.topic, record.partition);
        assert!(!others.contains(&tp), "c1 read {tp}, which another member owns");
    }
    assert!(events.lock().unwrap().contains(&"c1 lost 2".to_string()), "{:?}", events.lock().unwrap());
}

#[test]
fn two_live_consumers_with_one_group_instance_id_fence_the_older_for_good() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open(dir.path());
    broker.create_topic(NewTopic::new("t", 2)).unwrap();
    let events: Arc<Mutex<Vec<String>>> = Arc::default();
    let config = || {
        let mut config = quick(group_config("g"));
        config.group_instance_id = Some("a".into());
        config.max_poll_interval = Duration::from_secs(30);
        config
    };
    let mut a1 = broker.consumer(config()).unwrap();
    a1.subscribe_with_listener(["t"], Named(Arc::clone(&events), "a1")).unwrap();
    poll_until(std::slice::from_mut(&mut a1), |c| owned_partitions(&c[0]).len() == 2);
    let mut a2 = broker.consumer(config()).unwrap();
    a2.subscribe_with_listener(["t"], Named(Arc::clone(&events), "a2")).unwrap();
    let (mut a1_errors, mut a2_errors) = (0, 0);
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(600) {
        if let Err(error) = a1.poll(Duration::from_millis(20)) {
            assert!(matches!(&error, BrokerError::Group { .. }), "{error}");
            a1_errors += 1;
        }
        a2_errors += usize::from(a2.poll(Duration::from_millis(20)).is_err());
    }
    assert!(a1_errors > 0, "the replaced consumer is told it was fenced");
    assert_eq!(a2_errors, 0);
    assert_eq!(owned_partitions(&a2).len(), 2);
    assert!(owned_partitions(&a1).is_empty());
    assert!(events.lock().unwrap().len() <= 4, "no fencing war: {:?}", events.lock().unwrap());
}
