//! Proves records round-trip through the producer, the log and the consumer with every field intact, across restarts, under each ack, durability, offset-reset and poll-size setting, and that bad sends and bad positions get named errors, by producing to and consuming from a real broker in a temporary directory.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{consume, earliest, owned, read_all, values, Owned};
use ghyll_broker::{
    Acks, Broker, BrokerConfig, BrokerError, ConsumerConfig, Durability, NewTopic, OffsetReset, ProducerConfig,
    ProducerRecord, TopicPartition,
};
use ghyll_partition::{PartitionContext, Partitioner};

fn broker_with(topic: &str, partitions: u32) -> (tempfile::TempDir, Broker) {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(dir.path()).unwrap();
    broker.create_topic(NewTopic::new(topic, partitions)).unwrap();
    (dir, broker)
}

fn consumer_with(broker: &Broker, reset: OffsetReset, partitions: &[(&str, u32)]) -> ghyll_broker::Consumer {
    let mut config = ConsumerConfig::default();
    config.auto_offset_reset = reset;
    let mut consumer = broker.consumer(config).unwrap();
    consumer.assign(partitions.iter().map(|&(topic, partition)| TopicPartition::new(topic, partition))).unwrap();
    consumer
}

fn send_values(broker: &Broker, topic: &str, partition: u32, values: impl IntoIterator<Item = String>) {
    let producer = broker.producer(Default::default()).unwrap();
    for value in values {
        producer.send(ProducerRecord::new(topic, value.as_bytes()).partition(partition)).unwrap();
    }
    producer.close().unwrap();
}

#[test]
fn keys_null_values_headers_and_timestamps_round_trip() {
    let (_dir, broker) = broker_with("t", 1);
    let producer = broker.producer(Default::default()).unwrap();
    let sent = [
        producer
            .send(ProducerRecord::new("t", b"value-0").key(b"key-0").header("trace", b"abc").header("empty", b""))
            .unwrap(),
        producer.send(ProducerRecord::tombstone("t", b"key-1").timestamp(1_000)).unwrap(),
        producer.send(ProducerRecord::new("t", b"").key(b"").timestamp(-1)).unwrap(),
        producer
            .send(ProducerRecord::new("t", b"no-key").header("dup", b"1").header("dup", b"2").timestamp(i64::MAX / 2))
            .unwrap(),
    ];
    let before = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let now_sent = producer.send(ProducerRecord::new("t", b"now")).unwrap();
    let after = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    producer.close().unwrap();

    for (offset, metadata) in sent.iter().enumerate() {
        assert_eq!((metadata.topic.as_str(), metadata.partition, metadata.offset), ("t", 0, Some(offset as u64)));
    }
    assert_eq!(sent[1].timestamp_ms, 1_000);
    assert!((before..=after).contains(&now_sent.timestamp_ms), "{now_sent:?}");

    let records = read_all(&broker, &[("t", 0)]);
    let header = |key: &str, value: &[u8]| (key.to_string(), Some(value.to_vec()));
    let expected = [
        (Some(&b"key-0"[..]), Some(&b"value-0"[..]), vec![header("trace", b"abc"), header("empty", b"")]),
        (Some(b"key-1"), None, vec![]),
        (Some(b""), Some(b""), vec![]),
        (None, Some(b"no-key"), vec![header("dup", b"1"), header("dup", b"2")]),
        (None, Some(b"now"), vec![]),
    ];
    assert_eq!(records.len(), expected.len());
    for (offset, (record, (key, value, headers))) in records.iter().zip(expected).enumerate() {
        assert_eq!(record.offset, offset as u64);
        assert_eq!((record.topic.as_str(), record.partition), ("t", 0));
        assert_eq!(record.key.as_deref(), key, "offset {offset}");
        assert_eq!(record.value.as_deref(), value, "offset {offset}");
        assert_eq!(record.headers, headers, "offset {offset}");
    }
    let timestamps: Vec<i64> = records.iter().map(|record| record.timestamp_ms).collect();
    assert_eq!(timestamps[1..4], [1_000, -1, i64::MAX / 2]);
    assert_eq!(timestamps[0], sent[0].timestamp_ms);
    assert_eq!(timestamps[4], now_sent.timestamp_ms);
    broker.close().unwrap();
}

/// Everything acknowledged (by `send`, or by `send_async` whose handle was
/// waited on) and everything queued in a producer that was then dropped is
/// there after reopening, whether the broker was closed or just dropped.
#[test]
fn acknowledged_records_survive_restart_with_and_without_close() {
    for close in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        {
            let broker = Broker::open(dir.path()).unwrap();
            broker.create_topic(NewTopic::new("t", 2)).unwrap();
            let mut config = ProducerConfig::default();
            config.linger = Duration::from_secs(3600);
            let producer = broker.producer(config).unwrap();
            for i in 0..50 {
                let value = format!("sync-{i}");
                producer.send(ProducerRecord::new("t", value.as_bytes()).partition(0)).unwrap();
            }
            let handles: Vec<_> = (0..50)
                .map(|i| {
                    let value = format!("async-{i}");
                    producer.send_async(ProducerRecord::new("t", value.as_bytes()).partition(1)).unwrap()
                })
                .collect();
            producer.flush().unwrap();
            for (i, handle) in handles.into_iter().enumerate() {
                assert_eq!(handle.wait().unwrap().offset, Some(i as u64));
            }
            // Queued but neither flushed nor waited on: dropping the
            // producer sends it.
            let _ = producer.send_async(ProducerRecord::new("t", b"dropped-producer").partition(1)).unwrap();
            drop(producer);
            if close {
                broker.close().unwrap();
            }
        }
        let broker = Broker::open(dir.path()).unwrap();
        let expected: Vec<String> = (0..50).map(|i| format!("sync-{i}")).collect();
        assert_eq!(values(&read_all(&broker, &[("t", 0)])), expected, "close: {close}");
        let mut expected: Vec<String> = (0..50).map(|i| format!("async-{i}")).collect();
        expected.push("dropped-producer".into());
        assert_eq!(values(&read_all(&broker, &[("t", 1)])), expected, "close: {close}");
        // Appends continue from the recovered end.
        let producer = broker.producer(Default::default()).unwrap();
        assert_eq!(producer.send(ProducerRecord::new("t", b"next").partition(0)).unwrap().offset, Some(50));
        producer.close().unwrap();
        broker.close().unwrap();
    }
}

/// With a long `linger.ms`, `send_async` records wait in the open batch
/// (not yet in the log) until `flush`; `send` goes at once and takes
/// earlier queued records of its partition with it, so order is kept.
#[test]
fn send_async_waits_for_flush_and_send_keeps_order() {
    let (_dir, broker) = broker_with("t", 2);
    let mut config = ProducerConfig::default();
    config.linger = Duration::from_secs(3600);
    let producer = broker.producer(config).unwrap();
    let handles: Vec<_> = (0..10)
        .map(|i| producer.send_async(ProducerRecord::new("t", format!("a{i}").as_bytes()).partition(0)).unwrap())
        .collect();
    let other = producer.send_async(ProducerRecord::new("t", b"other").partition(1)).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert!(handles.iter().all(|handle| !handle.is_done()));
    assert_eq!(broker.describe_topic("t").unwrap().partitions[0].log_end_offset, 0);

    let sync = producer.send(ProducerRecord::new("t", b"sync").partition(0)).unwrap();
    assert_eq!(sync.offset, Some(10), "the queued records of partition 0 go first");
    assert!(handles.iter().all(|handle| handle.is_done()));
    assert!(!other.is_done(), "another partition's open batch is left to linger");
    let more = producer.send_async(ProducerRecord::new("t", b"after").partition(0)).unwrap();
    producer.flush().unwrap();
    assert!(other.is_done() && more.is_done());
    for (i, handle) in handles.into_iter().enumerate() {
        let metadata = handle.wait().unwrap();
        assert_eq!((metadata.partition, metadata.offset), (0, Some(i as u64)));
    }
    assert_eq!(more.wait().unwrap().offset, Some(11));
    assert_eq!(other.wait().unwrap().offset, Some(0));
    let mut expected: Vec<String> = (0..10).map(|i| format!("a{i}")).collect();
    expected.extend(["sync".into(), "after".into()]);
    assert_eq!(values(&read_all(&broker, &[("t", 0)])), expected);
    producer.close().unwrap();
    broker.close().unwrap();
}

/// A short `linger.ms` or a full `batch.size` sends an open batch without
/// any flush.
#[test]
fn linger_and_batch_size_send_without_flush() {
    let (_dir, broker) = broker_with("t", 2);
    let mut config = ProducerConfig::default();
    config.linger = Duration::from_millis(20);
    let lingering = broker.producer(config).unwrap();
    let handle = lingering.send_async(ProducerRecord::new("t", b"lingered").partition(0)).unwrap();
    assert_eq!(handle.wait().unwrap().offset, Some(0));

    let mut config = ProducerConfig::default();
    config.linger = Duration::from_secs(3600);
    config.batch_size = 1024;
    let batching = broker.producer(config).unwrap();
    let value = [7u8; 100];
    let handles: Vec<_> =
        (0..20).map(|_| batching.send_async(ProducerRecord::new("t", &value).partition(1)).unwrap()).collect();
    // The first batch filled at about ten 100-byte records and was sent.
    let first = handles.into_iter().next().unwrap();
    assert_eq!(first.wait().unwrap().offset, Some(0));
    batching.close().unwrap();
    lingering.close().unwrap();
    assert_eq!(broker.describe_topic("t").unwrap().partitions[1].log_end_offset, 20);
    broker.close().unwrap();
}

#[test]
fn per_partition_order_and_explicit_partitions() {
    let (_dir, broker) = broker_with("t", 3);
    let producer = broker.producer(Default::default()).unwrap();
    let mut handles = Vec::new();
    for i in 0..90u32 {
        let value = format!("{i}");
        let record = ProducerRecord::new("t", value.as_bytes()).partition(i % 3);
        if i % 4 == 0 {
            let metadata = producer.send(record).unwrap();
            assert_eq!((metadata.partition, metadata.offset), (i % 3, Some(u64::from(i / 3))));
        } else {
            handles.push((i, producer.send_async(record).unwrap()));
        }
    }
    producer.flush().unwrap();
    for (i, handle) in handles {
        let metadata = handle.wait().unwrap();
        assert_eq!((metadata.partition, metadata.offset), (i % 3, Some(u64::from(i / 3))), "record {i}");
    }
    for partition in 0..3 {
        let expected: Vec<String> = (0..90).filter(|i| i % 3 == partition).map(|i| i.to_string()).collect();
        assert_eq!(values(&read_all(&broker, &[("t", partition)])), expected);
    }
    producer.close().unwrap();
    broker.close().unwrap();
}

#[test]
fn acks_none_reports_no_offset_and_still_appends() {
    let (_dir, broker) = broker_with("t", 1);
    let mut config = ProducerConfig::default();
    config.acks = Acks::None;
    let producer = broker.producer(config).unwrap();
    for i in 0..20 {
        let metadata = producer.send(ProducerRecord::new("t", format!("n{i}").as_bytes())).unwrap();
        assert_eq!((metadata.partition, metadata.offset), (0, None));
    }
    producer.flush().unwrap();
    let expected: Vec<String> = (0..20).map(|i| format!("n{i}")).collect();
    assert_eq!(values(&read_all(&broker, &[("t", 0)])), expected);
    producer.close().unwrap();
    broker.close().unwrap();
}

/// Fsync itself cannot be seen from here; this proves that durable sends
/// (sync and async, `Acks::All`) complete with the right offsets and that
/// their records survive dropping the broker without a close.
#[test]
fn durable_sends_complete_and_survive() {
    let dir = tempfile::tempdir().unwrap();
    {
        let broker = Broker::open(dir.path()).unwrap();
        broker.create_topic(NewTopic::new("t", 2)).unwrap();
        let mut config = ProducerConfig::default();
        config.acks = Acks::All;
        config.durability = Durability::Fsync;
        let producer = broker.producer(config).unwrap();
        for i in 0..10 {
            let metadata = producer.send(ProducerRecord::new("t", format!("d{i}").as_bytes()).partition(0)).unwrap();
            assert_eq!(metadata.offset, Some(i));
        }
        let handles: Vec<_> = (0..10)
            .map(|i| producer.send_async(ProducerRecord::new("t", format!("e{i}").as_bytes()).partition(1)).unwrap())
            .collect();
        for (i, handle) in handles.into_iter().enumerate() {
            assert_eq!(handle.wait().unwrap().offset, Some(i as u64));
        }
    }
    let broker = Broker::open(dir.path()).unwrap();
    assert_eq!(values(&read_all(&broker, &[("t", 0)])), (0..10).map(|i| format!("d{i}")).collect::<Vec<_>>());
    assert_eq!(values(&read_all(&broker, &[("t", 1)])), (0..10).map(|i| format!("e{i}")).collect::<Vec<_>>());
    broker.close().unwrap();
}

#[test]
fn offsets_for_times_finds_the_first_record_at_or_after() {
    let (_dir, broker) = broker_with("t", 2);
    let producer = broker.producer(Default::default()).unwrap();
    for i in 0..5i64 {
        producer.send(ProducerRecord::new("t", b"x").partition(0).timestamp(1_000 * (i + 1))).unwrap();
    }
    producer.send(ProducerRecord::new("t", b"y").partition(1).timestamp(50)).unwrap();
    producer.close().unwrap();
    let consumer = broker.consumer(Default::default()).unwrap();
    let p0 = TopicPartition::new("t", 0);
    let p1 = TopicPartition::new("t", 1);
    let lookup = |tp: &TopicPartition, timestamp_ms: i64| {
        consumer.offsets_for_times([(tp.clone(), timestamp_ms)]).unwrap()[tp].map(|hit| (hit.offset, hit.timestamp_ms))
    };
    assert_eq!(lookup(&p0, i64::MIN), Some((0, 1_000)));
    assert_eq!(lookup(&p0, 1_000), Some((0, 1_000)));
    assert_eq!(lookup(&p0, 1_001), Some((1, 2_000)));
    assert_eq!(lookup(&p0, 4_500), Some((4, 5_000)));
    assert_eq!(lookup(&p0, 5_000), Some((4, 5_000)));
    assert_eq!(lookup(&p0, 5_001), None);
    // Several partitions in one call.
    let both = consumer.offsets_for_times([(p0.clone(), 2_500), (p1.clone(), 0)]).unwrap();
    assert_eq!(both.len(), 2);
    assert_eq!(both[&p0].map(|hit| hit.offset), Some(2));
    assert_eq!(both[&p1].map(|hit| hit.offset), Some(0));
    assert!(matches!(
        consumer.offsets_for_times([(TopicPartition::new("missing", 0), 0)]),
        Err(BrokerError::UnknownTopic { .. })
    ));
    assert!(matches!(
        consumer.offsets_for_times([(TopicPartition::new("t", 2), 0)]),
        Err(BrokerError::PartitionOutOfRange { partition: 2, partitions: 2, .. })
    ));
    broker.close().unwrap();
}

#[test]
fn seek_seek_to_beginning_seek_to_end_and_position() {
    let (_dir, broker) = broker_with("t", 2);
    send_values(&broker, "t", 0, (0..10).map(|i| format!("v{i}")));
    let tp = TopicPartition::new("t", 0);
    let mut consumer = consumer_with(&broker, OffsetReset::Earliest, &[("t", 0)]);
    assert_eq!(consumer.position(&tp).unwrap(), 0);
    consumer.seek(&tp, 7).unwrap();
    assert_eq!(consumer.position(&tp).unwrap(), 7);
    assert_eq!(values(&consume(&mut consumer, 3)), ["v7", "v8", "v9"]);
    assert_eq!(consumer.position(&tp).unwrap(), 10);
    consumer.seek_to_beginning([&tp]).unwrap();
    assert_eq!(consumer.position(&tp).unwrap(), 0);
    let all = consume(&mut consumer, 10);
    assert_eq!(all.iter().map(|r| r.offset).collect::<Vec<_>>(), (0..10).collect::<Vec<_>>());
    // Seeking backwards into the middle of what was just read re-reads it.
    consumer.seek(&tp, 4).unwrap();
    assert_eq!(consume(&mut consumer, 6)[0].offset, 4);
    consumer.seek(&tp, 2).unwrap();
    consumer.seek_to_end([&tp]).unwrap();
    assert_eq!(consumer.position(&tp).unwrap(), 10);
    assert!(consumer.poll(Duration::from_millis(10)).unwrap().is_empty());
    send_values(&broker, "t", 0, ["v10".to_string()]);
    assert_eq!(values(&consume(&mut consumer, 1)), ["v10"]);
    assert_eq!(consumer.offsets(&tp).unwrap(), (0, 11));

    let unassigned = TopicPartition::new("t", 1);
    let not_assigned = |result: Result<(), BrokerError>| matches!(result, Err(BrokerError::NotAssigned { topic, partition: 1 }) if topic == "t");
    assert!(not_assigned(consumer.seek(&unassigned, 0)));
    assert!(not_assigned(consumer.seek_to_beginning([&unassigned])));
    assert!(not_assigned(consumer.seek_to_end([&unassigned])));
    assert!(not_assigned(consumer.position(&unassigned).map(|_| ())));
    broker.close().unwrap();
}

#[test]
fn auto_offset_reset_earliest_latest_and_none() {
    let (_dir, broker) = broker_with("t", 1);
    send_values(&broker, "t", 0, (0..5).map(|i| format!("old{i}")));
    let tp = TopicPartition::new("t", 0);

    let mut from_earliest = consumer_with(&broker, OffsetReset::Earliest, &[("t", 0)]);
    let mut from_latest = consumer_with(&broker, OffsetReset::Latest, &[("t", 0)]);
    let mut with_none = consumer_with(&broker, OffsetReset::None, &[("t", 0)]);

    assert_eq!(from_latest.position(&tp).unwrap(), 5);
    assert!(from_latest.poll(Duration::from_millis(10)).unwrap().is_empty());
    let no_offset = |result: Result<u64, BrokerError>| matches!(result, Err(BrokerError::NoOffsetForPartition { topic, partition: 0 }) if topic == "t");
    assert!(no_offset(with_none.position(&tp)));
    assert!(no_offset(with_none.poll(Duration::from_millis(10)).map(|records| records.len() as u64)));

    send_values(&broker, "t", 0, ["new".to_string()]);
    let earliest_values = values(&consume(&mut from_earliest, 6));
    assert_eq!(earliest_values, ["old0", "old1", "old2", "old3", "old4", "new"]);
    assert_eq!(values(&consume(&mut from_latest, 1)), ["new"]);
    with_none.seek(&tp, 4).unwrap();
    assert_eq!(values(&consume(&mut with_none, 2)), ["old4", "new"]);
    broker.close().unwrap();
}

/// A position beyond the log end is reset at the next poll as
/// `auto.offset.reset` says, or reported with `none`.
#[test]
fn out_of_range_seek_is_handled_per_policy() {
    let (_dir, broker) = broker_with("t", 1);
    send_values(&broker, "t", 0, (0..3).map(|i| format!("v{i}")));
    let tp = TopicPartition::new("t", 0);

    let mut earliest_consumer = consumer_with(&broker, OffsetReset::Earliest, &[("t", 0)]);
    earliest_consumer.seek(&tp, 100).unwrap();
    assert_eq!(values(&consume(&mut earliest_consumer, 3)), ["v0", "v1", "v2"]);

    let mut latest = consumer_with(&broker, OffsetReset::Latest, &[("t", 0)]);
    latest.seek(&tp, 100).unwrap();
    assert!(latest.poll(Duration::from_millis(10)).unwrap().is_empty());
    assert_eq!(latest.position(&tp).unwrap(), 3);
    send_values(&broker, "t", 0, ["v3".to_string()]);
    assert_eq!(values(&consume(&mut latest, 1)), ["v3"]);

    let mut none = consumer_with(&broker, OffsetReset::None, &[("t", 0)]);
    none.seek(&tp, 100).unwrap();
    match none.poll(Duration::from_millis(10)) {
        Err(BrokerError::OffsetOutOfRange { topic, partition: 0, offset: 100, log_start: 0, log_end: 4 }) => {
            assert_eq!(topic, "t")
        }
        other => panic!("{:?}", other.map(|records| owned(&records))),
    }
    // The bad position stays until the application moves it.
    assert_eq!(none.position(&tp).unwrap(), 100);
    none.seek(&tp, 3).unwrap();
    assert_eq!(values(&consume(&mut none, 1)), ["v3"]);
    broker.close().unwrap();
}

/// Retention moves the log start past a consumer's position; the next poll
/// resets it per policy (checked with retention running in the broker's
/// own background thread).
#[test]
fn a_position_below_the_log_start_is_handled_per_policy() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = BrokerConfig::new(dir.path());
    config.retention_check_interval = Duration::from_millis(20);
    let broker = Broker::open_with(config).unwrap();
    broker
        .create_topic(NewTopic::new("t", 1).config("segment.bytes", "1024").config("retention.bytes", "1024"))
        .unwrap();
    let tp = TopicPartition::new("t", 0);
    let mut earliest_consumer = consumer_with(&broker, OffsetReset::Earliest, &[("t", 0)]);
    let mut none = consumer_with(&broker, OffsetReset::None, &[("t", 0)]);
    earliest_consumer.seek(&tp, 0).unwrap();
    none.seek(&tp, 0).unwrap();
    send_values(&broker, "t", 0, (0..40).map(|i| format!("{i:0>200}")));
    let deadline = Instant::now() + Duration::from_secs(20);
    let log_start = loop {
        let start = broker.describe_topic("t").unwrap().partitions[0].log_start_offset;
        if start > 0 {
            break start;
        }
        assert!(Instant::now() < deadline, "retention never ran");
        std::thread::sleep(Duration::from_millis(10));
    };
    let records = earliest_consumer.poll(Duration::from_secs(5)).unwrap();
    let first = owned(&records)[0].offset;
    assert!(first >= log_start, "read {first} below the log start {log_start}");
    assert!(matches!(
        none.poll(Duration::ZERO),
        Err(BrokerError::OffsetOutOfRange { offset: 0, log_start: start, log_end: 40, .. }) if start > 0
    ));
    broker.close().unwrap();
}

/// Records spread over three partitions, in batches larger than
/// `max.poll.records`, come out ten at most per poll, each exactly once and
/// in order, with `position` following along.
#[test]
fn max_poll_records_is_honoured_across_polls() {
    let (_dir, broker) = broker_with("t", 3);
    let mut config = ProducerConfig::default();
    config.linger = Duration::from_secs(3600);
    let producer = broker.producer(config).unwrap();
    for round in 0..3 {
        for partition in 0..3u32 {
            for i in 0..13 {
                let value = format!("{partition}:{}", round * 13 + i);
                producer.send_async(ProducerRecord::new("t", value.as_bytes()).partition(partition)).unwrap();
            }
        }
        // One 13-record batch per partition per round.
        producer.flush().unwrap();
    }
    producer.close().unwrap();

    let mut config = ConsumerConfig::default();
    config.auto_offset_reset = OffsetReset::Earliest;
    config.max_poll_records = 10;
    let mut consumer = broker.consumer(config).unwrap();
    let tps: Vec<TopicPartition> = (0..3).map(|p| TopicPartition::new("t", p)).collect();
    consumer.assign(tps.clone()).unwrap();
    let mut seen: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
    let mut polls = 0;
    while seen.values().map(Vec::len).sum::<usize>() < 117 {
        polls += 1;
        assert!(polls < 100, "{seen:?}");
        let records = consumer.poll(Duration::from_secs(5)).unwrap();
        assert!(!records.is_empty() && records.len() <= 10, "a poll returned {}", records.len());
        let batch = owned(&records);
        assert_eq!(batch.len(), records.len());
        let mut partitions: Vec<TopicPartition> =
            batch.iter().map(|record| TopicPartition::new("t", record.partition)).collect();
        partitions.dedup();
        assert_eq!(records.partitions(), partitions);
        for record in &batch {
            assert_eq!(values(std::slice::from_ref(record))[0], format!("{}:{}", record.partition, record.offset));
            seen.entry(record.partition).or_default().push(record.offset);
        }
        for tp in &tps {
            let next = seen.get(&tp.partition).and_then(|offsets| offsets.last()).map_or(0, |last| last + 1);
            assert_eq!(consumer.position(tp).unwrap(), next);
        }
    }
    for partition in 0..3 {
        assert_eq!(seen[&partition], (0..39).collect::<Vec<u64>>());
    }
    assert!(consumer.poll(Duration::from_millis(10)).unwrap().is_empty());
    broker.close().unwrap();
}

#[test]
fn a_record_over_max_message_bytes_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(dir.path()).unwrap();
    broker.create_topic(NewTopic::new("small", 1).config("max.message.bytes", "1024")).unwrap();
    let mut config = ProducerConfig::default();
    config.linger = Duration::from_secs(3600);
    let producer = broker.producer(config).unwrap();
    let queued = producer.send_async(ProducerRecord::new("small", b"queued")).unwrap();
    let big = vec![1u8; 2000];
    for result in [
        producer.send(ProducerRecord::new("small", &big)).map(|_| ()),
        producer.send_async(ProducerRecord::new("small", &big)).map(|_| ()),
    ] {
        match result {
            Err(BrokerError::RecordTooLarge { topic, bytes, max_message_bytes: 1024 }) => {
                assert_eq!(topic, "small");
                assert!(bytes > 2000, "{bytes}");
            }
            other => panic!("{other:?}"),
        }
    }
    // The largest record that fits still goes, and nothing queued was lost.
    let mut fits = vec![2u8; 900];
    let refused = loop {
        match producer.send(ProducerRecord::new("small", &fits).timestamp(0)) {
            Ok(_) => fits.push(2),
            Err(error) => break error,
        }
    };
    assert!(matches!(refused, BrokerError::RecordTooLarge { bytes: 1025, .. }), "{refused}");
    producer.flush().unwrap();
    assert_eq!(queued.wait().unwrap().offset, Some(0));
    let records = read_all(&broker, &[("small", 0)]);
    assert_eq!(records[0].value.as_deref(), Some(&b"queued"[..]));
    assert!(records.len() > 1);
    assert!(records[1..].iter().all(|record| record.value.as_ref().unwrap().len() < 1024 - 61));
    assert!(records.iter().all(|record| record.value.as_ref().unwrap().len() < 2000));
    producer.close().unwrap();
    broker.close().unwrap();
}

#[test]
fn unknown_topics_and_partitions_are_named_errors() {
    let (_dir, broker) = broker_with("t", 2);
    let producer = broker.producer(Default::default()).unwrap();
    let unknown = |result: Result<(), BrokerError>| matches!(result, Err(BrokerError::UnknownTopic { topic }) if topic == "missing");
    assert!(unknown(producer.send(ProducerRecord::new("missing", b"x")).map(|_| ())));
    assert!(unknown(producer.send_async(ProducerRecord::new("missing", b"x")).map(|_| ())));
    let out_of_range = |result: Result<(), BrokerError>| matches!(result, Err(BrokerError::PartitionOutOfRange { topic, partition: 2, partitions: 2 }) if topic == "t");
    assert!(out_of_range(producer.send(ProducerRecord::new("t", b"x").partition(2)).map(|_| ())));
    assert!(out_of_range(producer.send_async(ProducerRecord::new("t", b"x").partition(2)).map(|_| ())));

    let mut consumer = broker.consumer(Default::default()).unwrap();
    assert!(unknown(consumer.assign([TopicPartition::new("missing", 0)])));
    assert!(out_of_range(consumer.assign([TopicPartition::new("t", 2)])));
    assert_eq!(producer.send(ProducerRecord::new("t", b"fine").partition(1)).unwrap().offset, Some(0));
    producer.close().unwrap();
    broker.close().unwrap();
}

/// A failed `assign` leaves the previous assignment and its positions as
/// they were.
#[test]
fn a_failed_assign_changes_nothing() {
    let (_dir, broker) = broker_with("t", 2);
    send_values(&broker, "t", 0, (0..4).map(|i| format!("v{i}")));
    let mut consumer = earliest(&broker, &[("t", 0)]);
    let tp = TopicPartition::new("t", 0);
    consumer.seek(&tp, 1).unwrap();
    for bad in [TopicPartition::new("u-missing", 0), TopicPartition::new("t", 9)] {
        // "t-0" sorts before both bad entries, so it is visited first.
        assert!(consumer.assign([tp.clone(), TopicPartition::new("t", 1), bad]).is_err());
        assert_eq!(consumer.assignment(), std::slice::from_ref(&tp));
        assert_eq!(consumer.position(&tp).unwrap(), 1);
    }
    assert_eq!(values(&consume(&mut consumer, 3)), ["v1", "v2", "v3"]);
    broker.close().unwrap();
}

/// When one assigned partition cannot be read (here: no position and
/// `auto.offset.reset=none`), records already taken from another partition
/// in the same poll are not lost.
#[test]
fn an_error_on_one_partition_loses_no_records_of_another() {
    let (_dir, broker) = broker_with("t", 2);
    send_values(&broker, "t", 0, (0..5).map(|i| format!("zero{i}")));
    send_values(&broker, "t", 1, (0..5).map(|i| format!("one{i}")));
    let mut consumer = consumer_with(&broker, OffsetReset::None, &[("t", 0), ("t", 1)]);
    let p0 = TopicPartition::new("t", 0);
    let p1 = TopicPartition::new("t", 1);
    consumer.seek(&p0, 0).unwrap();
    let mut got: Vec<Owned> = Vec::new();
    let mut errors = 0;
    for _ in 0..4 {
        match consumer.poll(Duration::from_millis(10)) {
            Ok(records) => got.extend(owned(&records)),
            Err(BrokerError::NoOffsetForPartition { partition: 1, .. }) => errors += 1,
            Err(other) => panic!("{other}"),
        }
    }
    assert!(errors > 0, "partition 1 has no position: some poll must say so");
    consumer.seek(&p1, 0).unwrap();
    let already = got.len();
    got.extend(consume(&mut consumer, 10 - already));
    let mut values = values(&got);
    values.sort();
    let mut expected: Vec<String> = (0..5).flat_map(|i| [format!("zero{i}"), format!("one{i}")]).collect();
    expected.sort();
    assert_eq!(values, expected);
    broker.close().unwrap();
}

#[derive(Debug)]
struct Fixed(u32);

impl Partitioner for Fixed {
    fn partition(&self, _ctx: &PartitionContext<'_>) -> u32 {
        self.0
    }
}

#[derive(Debug)]
struct OnePast;

impl Partitioner for OnePast {
    fn partition(&self, ctx: &PartitionContext<'_>) -> u32 {
        ctx.partition_count
    }
}

#[test]
fn a_partitioner_answering_out_of_range_fails_the_send_without_panicking() {
    let (_dir, broker) = broker_with("t", 3);
    for (partitioner, answer) in [(Box::new(OnePast) as Box<dyn Partitioner>, 3), (Box::new(Fixed(u32::MAX)), u32::MAX)]
    {
        let producer = broker.producer(ProducerConfig::default().with_partitioner(partitioner)).unwrap();
        for result in [
            producer.send(ProducerRecord::new("t", b"x")).map(|_| ()),
            producer.send_async(ProducerRecord::new("t", b"x").key(b"k")).map(|_| ()),
        ] {
            assert!(
                matches!(&result, Err(BrokerError::PartitionOutOfRange { topic, partition, partitions: 3 })
                    if topic == "t" && *partition == answer),
                "{result:?}"
            );
        }
        // The producer is still usable; an explicit partition skips the
        // partitioner.
        assert!(producer.send(ProducerRecord::new("t", b"ok").partition(2)).is_ok());
        producer.close().unwrap();
    }
    assert_eq!(values(&read_all(&broker, &[("t", 0), ("t", 1), ("t", 2)])), ["ok", "ok"]);
    broker.close().unwrap();
}

#[test]
fn deleting_a_topic_under_an_assigned_consumer_makes_poll_fail() {
    let (_dir, broker) = broker_with("t", 1);
    broker.create_topic(NewTopic::new("other", 1)).unwrap();
    send_values(&broker, "t", 0, ["a".to_string()]);
    let mut consumer = earliest(&broker, &[("t", 0), ("other", 0)]);
    assert_eq!(values(&consume(&mut consumer, 1)), ["a"]);
    let mut config = ProducerConfig::default();
    config.linger = Duration::from_secs(3600);
    let producer = broker.producer(config).unwrap();
    let queued = producer.send_async(ProducerRecord::new("t", b"queued").partition(0)).unwrap();
    broker.delete_topic("t").unwrap();
    for _ in 0..3 {
        let result = consumer.poll(Duration::from_millis(10));
        assert!(matches!(&result, Err(BrokerError::UnknownTopic { topic }) if topic == "t"), "{:?}", result.is_ok());
    }
    // A batch still queued for the deleted topic fails with the reason.
    producer.flush().unwrap();
    match queued.wait() {
        Err(BrokerError::SendFailed { topic, partition: 0, source }) => {
            assert_eq!(topic, "t");
            assert!(matches!(*source, BrokerError::UnknownTopic { .. }), "{source}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(producer.send(ProducerRecord::new("t", b"late")), Err(BrokerError::UnknownTopic { .. })));
    // Reassigning to what is left works again.
    consumer.assign([TopicPartition::new("other", 0)]).unwrap();
    assert!(consumer.poll(Duration::ZERO).unwrap().is_empty());
    producer.close().unwrap();
    broker.close().unwrap();
}

#[test]
fn a_closed_broker_fails_producers_and_consumers() {
    let (_dir, broker) = broker_with("t", 1);
    let producer = broker.producer(Default::default()).unwrap();
    let mut consumer = earliest(&broker, &[("t", 0)]);
    broker.close().unwrap();
    let closed = |result: Result<(), BrokerError>| matches!(result, Err(BrokerError::Closed { .. }));
    assert!(closed(producer.send(ProducerRecord::new("t", b"x")).map(|_| ())));
    assert!(closed(producer.send_async(ProducerRecord::new("t", b"x")).map(|_| ())));
    assert!(closed(producer.flush()));
    assert!(closed(consumer.poll(Duration::from_millis(10)).map(|_| ())));
    let producer_closed = broker_with("u", 1);
    let producer = producer_closed.1.producer(Default::default()).unwrap();
    producer.close().unwrap();
    assert!(matches!(producer.send(ProducerRecord::new("u", b"x")), Err(BrokerError::Closed { what: "producer" })));
    let mut consumer = earliest(&producer_closed.1, &[("u", 0)]);
    consumer.close();
    assert!(matches!(consumer.poll(Duration::ZERO), Err(BrokerError::Closed { what: "consumer" })));
    producer_closed.1.close().unwrap();
}

/// After a topic is deleted and created again under the same name, a
/// producer with a batch still open for the old topic and a consumer still
/// assigned to it both move to the new topic: the old batch fails, new
/// sends succeed, and re-assigning reads the new log.
#[test]
fn a_recreated_topic_is_used_by_existing_producers_and_consumers() {
    let (_dir, broker) = broker_with("t", 1);
    send_values(&broker, "t", 0, ["old".to_string()]);
    let mut consumer = earliest(&broker, &[("t", 0)]);
    assert_eq!(values(&consume(&mut consumer, 1)), ["old"]);
    let mut config = ProducerConfig::default();
    config.linger = Duration::from_secs(3600);
    let producer = broker.producer(config).unwrap();
    let queued = producer.send_async(ProducerRecord::new("t", b"queued-for-old").partition(0)).unwrap();

    broker.delete_topic("t").unwrap();
    broker.create_topic(NewTopic::new("t", 1)).unwrap();
    let sent = producer.send(ProducerRecord::new("t", b"new").partition(0));
    assert_eq!(sent.unwrap().offset, Some(0));
    assert!(matches!(queued.wait(), Err(BrokerError::SendFailed { .. })));

    assert!(matches!(consumer.poll(Duration::ZERO), Err(BrokerError::UnknownTopic { .. })));
    consumer.assign([TopicPartition::new("t", 0)]).unwrap();
    assert_eq!(values(&consume(&mut consumer, 1)), ["new"]);
    producer.close().unwrap();
    broker.close().unwrap();
}

#[test]
fn flushing_after_the_broker_closed_fails_pending_sends_instead_of_leaving_them_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let broker = ghyll_broker::Broker::open(dir.path()).unwrap();
    broker.create_topic(ghyll_broker::NewTopic::new("t", 1)).unwrap();
    let mut config = ghyll_broker::ProducerConfig::default();
    config.linger = std::time::Duration::from_secs(3600);
    let producer = broker.producer(config).unwrap();
    let handle = producer.send_async(ghyll_broker::ProducerRecord::new("t", b"late")).unwrap();
    broker.close().unwrap();
    assert!(matches!(producer.flush(), Err(ghyll_broker::BrokerError::Closed { .. })));
    assert!(handle.is_done(), "the flush settled the pending send");
    assert!(handle.wait().is_err());
}

#[test]
fn a_null_header_value_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let broker = ghyll_broker::Broker::open(dir.path()).unwrap();
    broker.create_topic(ghyll_broker::NewTopic::new("t", 1)).unwrap();
    let producer = broker.producer(Default::default()).unwrap();
    producer.send(ghyll_broker::ProducerRecord::new("t", b"v").null_header("absent").header("present", b"x")).unwrap();
    let mut config = ghyll_broker::ConsumerConfig::default();
    config.auto_offset_reset = ghyll_broker::OffsetReset::Earliest;
    let mut consumer = broker.consumer(config).unwrap();
    consumer.assign([ghyll_broker::TopicPartition::new("t", 0)]).unwrap();
    let records = consumer.poll(std::time::Duration::from_secs(5)).unwrap();
    let record = records.iter().next().unwrap().unwrap();
    let headers: Vec<_> = record.headers.map(|h| h.unwrap()).map(|h| (h.key, h.value)).collect();
    assert_eq!(headers, [("absent", None), ("present", Some(&b"x"[..]))]);
}

/// `send_batch` keeps the order given per partition, after what
/// `send_async` left open, reports every record's position in the order
/// given, splits a partition's share at `batch.size`, and mixes topics,
/// keys, explicit partitions and timestamps.
#[test]
fn send_batch_reports_positions_in_order_and_keeps_partition_order() {
    let (_dir, broker) = broker_with("t", 3);
    broker.create_topic(NewTopic::new("u", 1)).unwrap();
    let mut config = ProducerConfig::default();
    config.linger = Duration::from_secs(3600);
    config.batch_size = 1024;
    let producer = broker.producer(config).unwrap();
    let early = producer.send_async(ProducerRecord::new("t", b"early").partition(1)).unwrap();
    let sent_values: Vec<String> = (0..60).map(|i| format!("{i:0>80}")).collect();
    let records = sent_values.iter().enumerate().map(|(i, value)| match i % 4 {
        0 => ProducerRecord::new("t", value.as_bytes()).partition(1),
        1 => ProducerRecord::new("u", value.as_bytes()).timestamp(1_000 + i as i64),
        2 => ProducerRecord::new("t", value.as_bytes()).key(b"same-key"),
        _ => ProducerRecord::new("t", value.as_bytes()),
    });
    let sent = producer.send_batch(records).unwrap();
    assert_eq!(sent.len(), 60);
    let positions = sent.wait().unwrap();
    assert!(early.is_done(), "the open batch of partition 1 went first");
    assert_eq!(early.wait().unwrap().offset, Some(0));

    // Each record is where its position says, with its own value.
    let mut next: BTreeMap<(&str, u32), u64> = BTreeMap::new();
    next.insert(("t", 1), 1);
    let mut expected: BTreeMap<(&str, u32), Vec<String>> = BTreeMap::new();
    expected.insert(("t", 1), vec!["early".into()]);
    for (i, position) in positions.iter().enumerate() {
        let topic = if i % 4 == 1 { "u" } else { "t" };
        let offset = next.entry((topic, position.partition)).or_insert(0);
        assert_eq!(position.offset, Some(*offset), "record {i} in order within its partition");
        *offset += 1;
        expected.entry((topic, position.partition)).or_default().push(sent_values[i].clone());
        if i % 4 == 0 {
            assert_eq!(position.partition, 1);
        }
    }
    let keyed: Vec<u32> = positions.iter().skip(2).step_by(4).map(|position| position.partition).collect();
    assert!(keyed.windows(2).all(|pair| pair[0] == pair[1]), "one key, one partition: {keyed:?}");
    for (&(topic, partition), values_there) in &expected {
        let read = read_all(&broker, &[(topic, partition)]);
        assert_eq!(&values(&read), values_there, "{topic}-{partition}");
        if topic == "u" {
            let stamps: Vec<i64> = read.iter().map(|record| record.timestamp_ms).collect();
            let given: Vec<i64> = (0..15).map(|k| 1_000 + 4 * k + 1).collect();
            assert_eq!(stamps, given);
        }
    }
    // 15 records of 80 bytes to partition 1 of t fill more than one
    // 1 KiB batch.
    let description = broker.describe_topic("t").unwrap();
    assert_eq!(description.partitions[1].log_end_offset, next[&("t", 1)]);
    producer.close().unwrap();
    broker.close().unwrap();
}

/// A refused record fails the whole call and queues none of it; an empty
/// call is fine; `acks=0` reports no offsets; a closed producer refuses.
#[test]
fn send_batch_is_all_or_nothing_and_refuses_bad_input() {
    let (_dir, broker) = broker_with("t", 2);
    let producer = broker.producer(Default::default()).unwrap();
    let big = vec![0u8; 2 * 1024 * 1024];
    let cases: Vec<(Vec<ProducerRecord<'_>>, &str)> = vec![
        (vec![ProducerRecord::new("t", b"a"), ProducerRecord::new("nope", b"b")], "unknown topic"),
        (vec![ProducerRecord::new("t", b"a"), ProducerRecord::new("t", b"b").partition(2)], "partition out of range"),
        (vec![ProducerRecord::new("t", b"a"), ProducerRecord::new("t", &big)], "too large"),
    ];
    for (records, what) in cases {
        let error = producer.send_batch(records).unwrap_err();
        match (what, &error) {
            ("unknown topic", BrokerError::UnknownTopic { topic }) => assert_eq!(topic, "nope"),
            ("partition out of range", BrokerError::PartitionOutOfRange { partition: 2, partitions: 2, .. }) => {}
            ("too large", BrokerError::RecordTooLarge { .. }) => {}
            _ => panic!("{what}: unexpected {error:?}"),
        }
    }
    producer.flush().unwrap();
    let description = broker.describe_topic("t").unwrap();
    assert!(description.partitions.iter().all(|p| p.log_end_offset == 0), "nothing of a refused call was sent");

    let empty = producer.send_batch(std::iter::empty()).unwrap();
    assert!(empty.is_empty() && empty.is_done());
    assert_eq!(empty.wait().unwrap(), vec![]);

    let mut config = ProducerConfig::default();
    config.acks = Acks::None;
    let fire_and_forget = broker.producer(config).unwrap();
    let positions = fire_and_forget.send_batch([ProducerRecord::new("t", b"x").partition(0)]).unwrap().wait().unwrap();
    assert_eq!((positions[0].partition, positions[0].offset), (0, None));
    fire_and_forget.close().unwrap();

    producer.close().unwrap();
    assert!(matches!(producer.send_batch([ProducerRecord::new("t", b"late")]), Err(BrokerError::Closed { .. })));
    assert_eq!(values(&read_all(&broker, &[("t", 0)])), ["x"]);
    broker.close().unwrap();
}

/// A producer caches the topics it sends to: one that lives across added
/// partitions, a deleted topic and a topic created again sees each change
/// at its next send, through `send`, `send_async` and `send_batch`.
#[test]
fn a_long_lived_producer_sees_added_partitions_and_deleted_topics() {
    let (_dir, broker) = broker_with("t", 1);
    let producer = broker.producer(Default::default()).unwrap();
    producer.send(ProducerRecord::new("t", b"before")).unwrap();
    let refused = producer.send(ProducerRecord::new("t", b"x").partition(2));
    assert!(matches!(refused, Err(BrokerError::PartitionOutOfRange { partitions: 1, .. })), "{refused:?}");

    broker.add_partitions("t", 3).unwrap();
    assert_eq!(producer.send(ProducerRecord::new("t", b"grown").partition(2)).unwrap().offset, Some(0));
    let spread: Vec<u32> = (0..3)
        .map(|_| producer.send_async(ProducerRecord::new("t", b"rr")).unwrap().wait().unwrap().partition)
        .collect();
    let mut sorted = spread.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, [0, 1, 2], "round-robin over the three partitions: {spread:?}");

    broker.delete_topic("t").unwrap();
    for result in [
        producer.send(ProducerRecord::new("t", b"gone")).map(drop),
        producer.send_async(ProducerRecord::new("t", b"gone")).map(drop),
        producer.send_batch([ProducerRecord::new("t", b"gone")]).map(drop),
    ] {
        assert!(matches!(&result, Err(BrokerError::UnknownTopic { topic }) if topic == "t"), "{result:?}");
    }
    broker.create_topic(NewTopic::new("t", 1)).unwrap();
    assert_eq!(producer.send(ProducerRecord::new("t", b"again")).unwrap().offset, Some(0));
    producer.close().unwrap();
    assert_eq!(values(&read_all(&broker, &[("t", 0)])), ["again"]);
    broker.close().unwrap();
}

/// A partitioner runs under the producer's lock; one that sends, flushes
/// or closes from inside gets a named error instead of a deadlock, and the
/// producer keeps working.
#[test]
fn a_partitioner_that_sends_is_refused_instead_of_deadlocking() {
    #[derive(Debug)]
    struct Sending(std::sync::OnceLock<ghyll_broker::Producer>, std::sync::Mutex<Vec<String>>);
    impl Partitioner for Sending {
        fn partition(&self, _ctx: &PartitionContext<'_>) -> u32 {
            if let Some(producer) = self.0.get() {
                let inner = producer.send(ProducerRecord::new("t", b"inner")).map(drop);
                self.1.lock().unwrap().push(format!("{inner:?}"));
                self.1.lock().unwrap().push(format!("{:?}", producer.flush()));
                self.1.lock().unwrap().push(format!("{:?}", producer.close()));
            }
            0
        }
    }
    let (_dir, broker) = broker_with("t", 1);
    let partitioner = Arc::new(Sending(std::sync::OnceLock::new(), std::sync::Mutex::new(Vec::new())));
    let mut config = ProducerConfig::default();
    config.partitioner = Arc::clone(&partitioner) as Arc<dyn Partitioner>;
    let producer = broker.producer(config).unwrap();
    partitioner.0.set(producer.clone()).unwrap();
    producer.send(ProducerRecord::new("t", b"outer")).unwrap();
    producer.send_async(ProducerRecord::new("t", b"outer-async")).unwrap();
    producer.send_batch([ProducerRecord::new("t", b"outer-batch")]).unwrap().wait().unwrap();
    let inner = partitioner.1.lock().unwrap().clone();
    assert_eq!(inner.len(), 9, "a send, a flush and a close from each of three sends");
    assert!(inner.iter().all(|result| result.contains("InvalidState")), "{inner:?}");
    // The partitioner holds a clone of the producer (a cycle this test
    // leaks); close stops its sender thread.
    producer.close().unwrap();
    assert_eq!(values(&read_all(&broker, &[("t", 0)])), ["outer", "outer-async", "outer-batch"]);
    broker.close().unwrap();
}

/// Partitions added while one `send_batch` call runs (here by the records
/// iterator itself, between two runs of the same topic) are used by the
/// rest of the call, in order (found in review: the call indexed past its
/// first view of the topic and panicked).
#[test]
fn send_batch_sees_partitions_added_during_the_call() {
    let (_dir, broker) = broker_with("t", 1);
    broker.create_topic(NewTopic::new("u", 1)).unwrap();
    let producer = broker.producer(Default::default()).unwrap();
    let records = (0..4).map(|i| match i {
        0 => ProducerRecord::new("t", b"a").partition(0),
        1 => {
            broker.add_partitions("t", 3).unwrap();
            ProducerRecord::new("u", b"b")
        }
        2 => ProducerRecord::new("t", b"c").partition(2),
        _ => ProducerRecord::new("t", b"d").partition(0),
    });
    let positions = producer.send_batch(records).unwrap().wait().unwrap();
    let placed: Vec<(u32, Option<u64>)> = positions.iter().map(|p| (p.partition, p.offset)).collect();
    assert_eq!(placed, [(0, Some(0)), (0, Some(0)), (2, Some(0)), (0, Some(1))]);
    assert_eq!(values(&read_all(&broker, &[("t", 0)])), ["a", "d"]);
    assert_eq!(values(&read_all(&broker, &[("t", 2)])), ["c"]);
    producer.close().unwrap();
    broker.close().unwrap();
}
