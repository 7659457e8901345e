//! Proves the broker's admin surface (create, list, describe, delete, add partitions, the directory lock) keeps its promises, by driving a real broker in a temporary directory, reopening it, and checking both the API's answers and the files on disk.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use common::{read_all, values};
use ghyll_broker::{Broker, BrokerConfig, BrokerError, NewTopic, ProducerRecord};

/// Names of the entries of `dir`, sorted, without the broker's own files.
fn partition_dirs(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name != ".lock" && name != "topics.meta")
        .collect();
    names.sort();
    names
}

fn produce(broker: &Broker, topic: &str, partition: u32, values: &[&str]) {
    let producer = broker.producer(Default::default()).unwrap();
    for value in values {
        // Keyed, since some topics here are compacted.
        producer.send(ProducerRecord::new(topic, value.as_bytes()).key(value.as_bytes()).partition(partition)).unwrap();
    }
    producer.close().unwrap();
}

#[test]
fn create_list_describe_delete() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(dir.path()).unwrap();
    assert!(broker.list_topics().is_empty());
    broker
        .create_topic(NewTopic::new("orders", 3).config("retention.ms", "3600000").config("cleanup.policy", "compact"))
        .unwrap();
    broker.create_topic(NewTopic::new("audit", 1)).unwrap();
    assert_eq!(broker.list_topics(), ["audit", "orders"]);

    let orders = broker.describe_topic("orders").unwrap();
    assert_eq!(orders.name, "orders");
    assert_eq!(orders.replication_factor, 1);
    assert_eq!(orders.configs["retention.ms"], "3600000");
    assert_eq!(orders.configs["cleanup.policy"], "compact");
    // Configs not overridden show Kafka's defaults.
    assert_eq!(orders.configs["segment.bytes"], "1073741824");
    assert_eq!(orders.configs["max.message.bytes"], "1048588");
    let overrides: BTreeMap<String, String> = [("cleanup.policy", "compact"), ("retention.ms", "3600000")]
        .into_iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    assert_eq!(orders.overrides, overrides);
    assert_eq!(orders.partitions.len(), 3);
    for (id, partition) in orders.partitions.iter().enumerate() {
        assert_eq!(partition.partition, id as u32);
        assert_eq!(
            (partition.log_start_offset, partition.log_end_offset, partition.high_watermark, partition.size_bytes),
            (0, 0, 0, 0)
        );
        assert_eq!(partition.segments, 1);
        assert_eq!(partition.dir, dir.path().join(format!("orders-{id}")));
        assert!(partition.dir.is_dir());
    }
    assert!(broker.describe_topic("audit").unwrap().overrides.is_empty());
    assert_eq!(partition_dirs(dir.path()), ["audit-0", "orders-0", "orders-1", "orders-2"]);

    broker.delete_topic("orders").unwrap();
    assert_eq!(broker.list_topics(), ["audit"]);
    assert_eq!(partition_dirs(dir.path()), ["audit-0"]);
    assert!(matches!(broker.describe_topic("orders"), Err(BrokerError::UnknownTopic { topic }) if topic == "orders"));
    broker.close().unwrap();
}

/// Segments are rolled by a small `segment.bytes`, and what `describe`
/// reports is compared with the `.log` files in the partition directory.
#[test]
fn describe_reports_log_start_end_size_and_segments() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(dir.path()).unwrap();
    broker.create_topic(NewTopic::new("rolled", 2).config("segment.bytes", "1024")).unwrap();
    let value = "v".repeat(200);
    produce(&broker, "rolled", 0, &vec![value.as_str(); 20]);

    let description = broker.describe_topic("rolled").unwrap();
    let written = &description.partitions[0];
    assert_eq!((written.log_start_offset, written.log_end_offset, written.high_watermark), (0, 20, 20));
    let log_files: Vec<u64> = fs::read_dir(&written.dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "log"))
        .map(|path| fs::metadata(path).unwrap().len())
        .collect();
    // About four 260-byte batches fit in 1024 bytes: 20 records need several.
    assert!(written.segments >= 4, "{written:?}");
    assert_eq!(written.segments, log_files.len());
    assert_eq!(written.size_bytes, log_files.iter().sum::<u64>());
    assert!(written.size_bytes > 20 * 200, "{written:?}");

    let empty = &description.partitions[1];
    assert_eq!((empty.log_end_offset, empty.size_bytes, empty.segments), (0, 0, 1));
    broker.close().unwrap();
}

/// Topics, their partition counts (including added ones), their overrides
/// and their records are all there after a clean close and after dropping
/// the broker without closing it.
#[test]
fn topics_and_configs_survive_restart() {
    for close in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let before = {
            let broker = Broker::open(dir.path()).unwrap();
            broker
                .create_topic(
                    NewTopic::new("configured", 2)
                        .config("retention.ms", "-1")
                        .config("cleanup.policy", "compact,delete")
                        .config("max.message.bytes", "4096")
                        .config("segment.bytes", "1048576"),
                )
                .unwrap();
            broker.create_topic(NewTopic::new("grown", 1)).unwrap();
            broker.add_partitions("grown", 4).unwrap();
            produce(&broker, "configured", 1, &["a", "b", "c"]);
            produce(&broker, "grown", 3, &["x"]);
            let before = [broker.describe_topic("configured").unwrap(), broker.describe_topic("grown").unwrap()];
            if close {
                broker.close().unwrap();
            }
            before
        };
        let broker = Broker::open(dir.path()).unwrap();
        assert_eq!(broker.list_topics(), ["configured", "grown"], "close: {close}");
        let after = [broker.describe_topic("configured").unwrap(), broker.describe_topic("grown").unwrap()];
        assert_eq!(after, before, "close: {close}");
        assert_eq!(after[0].configs["cleanup.policy"], "compact,delete");
        assert_eq!(after[0].configs["retention.ms"], "-1");
        assert_eq!(after[0].configs["max.message.bytes"], "4096");
        assert_eq!(after[1].partitions.len(), 4);
        assert_eq!(values(&read_all(&broker, &[("configured", 1)])), ["a", "b", "c"]);
        assert_eq!(values(&read_all(&broker, &[("grown", 3)])), ["x"]);
        // The restored max.message.bytes is enforced, not only displayed.
        let producer = broker.producer(Default::default()).unwrap();
        let big = vec![0u8; 5000];
        assert!(matches!(
            producer.send(ProducerRecord::new("configured", &big)),
            Err(BrokerError::RecordTooLarge { max_message_bytes: 4096, .. })
        ));
        producer.close().unwrap();
        broker.close().unwrap();
    }
}

#[test]
fn delete_removes_directories_and_a_recreated_topic_starts_at_zero() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(dir.path()).unwrap();
    broker.create_topic(NewTopic::new("t", 2)).unwrap();
    // A topic whose partition directories share the prefix "t-".
    broker.create_topic(NewTopic::new("t-1", 1)).unwrap();
    produce(&broker, "t", 0, &["old-0", "old-1", "old-2"]);
    produce(&broker, "t-1", 0, &["neighbour"]);

    broker.delete_topic("t").unwrap();
    assert_eq!(partition_dirs(dir.path()), ["t-1-0"]);
    assert_eq!(broker.list_topics(), ["t-1"]);
    assert!(matches!(broker.delete_topic("t"), Err(BrokerError::UnknownTopic { .. })));

    broker.create_topic(NewTopic::new("t", 1)).unwrap();
    let description = broker.describe_topic("t").unwrap();
    assert_eq!(description.partitions.len(), 1);
    assert_eq!((description.partitions[0].log_end_offset, description.partitions[0].size_bytes), (0, 0));
    let producer = broker.producer(Default::default()).unwrap();
    let sent = producer.send(ProducerRecord::new("t", b"new").partition(0)).unwrap();
    assert_eq!(sent.offset, Some(0));
    producer.close().unwrap();
    assert_eq!(values(&read_all(&broker, &[("t", 0)])), ["new"]);
    assert_eq!(values(&read_all(&broker, &[("t-1", 0)])), ["neighbour"]);
    broker.close().unwrap();
    drop(broker);

    // The deletion and the new topic are what a restart sees.
    let broker = Broker::open(dir.path()).unwrap();
    assert_eq!(broker.list_topics(), ["t", "t-1"]);
    assert_eq!(broker.describe_topic("t").unwrap().partitions.len(), 1);
    assert_eq!(values(&read_all(&broker, &[("t", 0)])), ["new"]);
    assert_eq!(partition_dirs(dir.path()), ["t-0", "t-1-0"]);
    broker.close().unwrap();
}

#[test]
fn add_partitions_grows_a_topic_and_the_new_partitions_work() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(dir.path()).unwrap();
    broker.create_topic(NewTopic::new("growing", 2).config("retention.ms", "1000000")).unwrap();
    produce(&broker, "growing", 1, &["kept"]);
    broker.add_partitions("growing", 5).unwrap();
    let description = broker.describe_topic("growing").unwrap();
    assert_eq!(description.partitions.iter().map(|p| p.partition).collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
    assert_eq!(description.partitions[1].log_end_offset, 1);
    assert_eq!(description.overrides["retention.ms"], "1000000");
    produce(&broker, "growing", 4, &["on-new"]);
    assert_eq!(values(&read_all(&broker, &[("growing", 1)])), ["kept"]);
    assert_eq!(values(&read_all(&broker, &[("growing", 4)])), ["on-new"]);
    assert_eq!(partition_dirs(dir.path()), ["growing-0", "growing-1", "growing-2", "growing-3", "growing-4"]);
    broker.close().unwrap();
}

#[test]
fn invalid_topic_names_are_refused_by_kafkas_rule() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(dir.path()).unwrap();
    let too_long = "x".repeat(250);
    for bad in ["", ".", "..", "has space", "slash/", "back\\slash", "colon:", "tab\t", "ü", "a*", too_long.as_str()] {
        match broker.create_topic(NewTopic::new(bad, 1)) {
            Err(BrokerError::InvalidTopicName { name, .. }) => assert_eq!(name, bad),
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    assert!(broker.list_topics().is_empty());
    assert!(partition_dirs(dir.path()).is_empty(), "{:?}", partition_dirs(dir.path()));
    // The edges of the rule are allowed.
    let longest = "y".repeat(249);
    for good in ["a", "...", "._-", "Mixed.Case_topic-9", longest.as_str()] {
        broker.create_topic(NewTopic::new(good, 1)).unwrap();
    }
    assert_eq!(broker.list_topics().len(), 5);
    broker.close().unwrap();
}

/// Every refused admin call names its error, and afterwards the existing
/// topic, its config and its records are intact, also after a restart.
#[test]
fn bad_admin_input_gets_named_errors_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = BrokerConfig::new(dir.path());
    config.partitions_max = 8;
    let broker = Broker::open_with(config.clone()).unwrap();
    broker.create_topic(NewTopic::new("keep", 2).config("retention.ms", "123456")).unwrap();
    produce(&broker, "keep", 0, &["k0", "k1"]);
    let before = broker.describe_topic("keep").unwrap();

    let duplicate = broker.create_topic(NewTopic::new("keep", 4).config("retention.ms", "1"));
    assert!(matches!(duplicate, Err(BrokerError::TopicExists { topic }) if topic == "keep"));

    for result in [
        broker.describe_topic("missing").map(|_| ()),
        broker.delete_topic("missing"),
        broker.add_partitions("missing", 3),
    ] {
        assert!(matches!(result, Err(BrokerError::UnknownTopic { ref topic }) if topic == "missing"), "{result:?}");
    }

    for count in [0, 9] {
        let result = broker.create_topic(NewTopic::new("fresh", count));
        assert!(
            matches!(result, Err(BrokerError::InvalidPartitionCount { count: c, .. }) if c == count),
            "{count}: {result:?}"
        );
    }
    for factor in [0, 2, 3] {
        let result = broker.create_topic(NewTopic::new("fresh", 1).replication_factor(factor));
        assert!(
            matches!(result, Err(BrokerError::InvalidReplicationFactor { factor: f, .. }) if f == factor),
            "{factor}: {result:?}"
        );
    }
    for (name, value) in [
        ("compression.type", "zstd"),
        ("retention.ms", "soon"),
        ("retention.ms", "-2"),
        ("segment.bytes", "10"),
        ("max.message.bytes", "60"),
        ("flush.messages", "0"),
        ("cleanup.policy", "shred"),
        ("cleanup.policy", ""),
        ("retention.ms", "1\n2"),
    ] {
        let result = broker.create_topic(NewTopic::new("fresh", 1).config("retention.ms", "5").config(name, value));
        assert!(
            matches!(&result, Err(BrokerError::InvalidConfig { name: n, value: v, .. }) if n == name && v == value),
            "{name}={value:?}: {result:?}"
        );
    }
    for total in [1, 2] {
        let result = broker.add_partitions("keep", total);
        assert!(
            matches!(result, Err(BrokerError::InvalidPartitionCount { count, .. }) if count == total),
            "{total}: {result:?}"
        );
    }
    assert!(matches!(broker.add_partitions("keep", 9), Err(BrokerError::InvalidPartitionCount { count: 9, .. })));

    let check = |broker: &Broker| {
        assert_eq!(broker.list_topics(), ["keep"]);
        assert_eq!(broker.describe_topic("keep").unwrap(), before);
        assert_eq!(values(&read_all(broker, &[("keep", 0)])), ["k0", "k1"]);
        assert_eq!(partition_dirs(dir.path()), ["keep-0", "keep-1"]);
    };
    check(&broker);
    broker.close().unwrap();
    drop(broker);
    let broker = Broker::open_with(config).unwrap();
    check(&broker);
    broker.close().unwrap();
}

#[test]
fn a_second_broker_on_the_same_directory_is_locked_out() {
    let dir = tempfile::tempdir().unwrap();
    let first = Broker::open(dir.path()).unwrap();
    first.create_topic(NewTopic::new("t", 1)).unwrap();
    match Broker::open(dir.path()) {
        Err(BrokerError::Locked { path }) => assert_eq!(path, dir.path()),
        other => panic!("{other:?}"),
    }
    // The failed open changed nothing.
    produce(&first, "t", 0, &["still-mine"]);
    first.close().unwrap();
    drop(first);

    // Once the first broker is gone the directory opens again, and a
    // broker dropped without close releases it too.
    let second = Broker::open(dir.path()).unwrap();
    assert_eq!(values(&read_all(&second, &[("t", 0)])), ["still-mine"]);
    drop(second);
    let third = Broker::open(dir.path()).unwrap();
    assert!(matches!(Broker::open(dir.path()), Err(BrokerError::Locked { .. })));
    third.close().unwrap();
}

/// A closed broker hands its directory over at once, even while a handle
/// to it lives on.
#[test]
fn a_closed_broker_can_be_reopened_while_handles_live() {
    let dir = tempfile::tempdir().unwrap();
    let first = Broker::open(dir.path()).unwrap();
    first.create_topic(NewTopic::new("t", 2)).unwrap();
    produce(&first, "t", 1, &["before-close"]);
    let producer = first.producer(Default::default()).unwrap();
    first.close().unwrap();
    let second = Broker::open(dir.path()).unwrap();
    assert_eq!(values(&read_all(&second, &[("t", 1)])), ["before-close"]);
    assert!(matches!(producer.send(ProducerRecord::new("t", b"late")), Err(BrokerError::Closed { .. })));
    drop(producer);
    drop(first);
    // Dropping the old handles does not disturb the new broker.
    produce(&second, "t", 1, &["after"]);
    assert_eq!(values(&read_all(&second, &[("t", 1)])), ["before-close", "after"]);
    second.close().unwrap();
}

/// Dropping the last handle releases the directory before the drop
/// returns, even when a background thread (retention, here running every
/// millisecond over a log that keeps rolling segments) is mid-pass. Before
/// the fix that thread could end up dropping the broker itself, a moment
/// later, and the immediate reopen failed with `Locked` in most rounds.
#[test]
fn a_dropped_broker_releases_its_directory_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = BrokerConfig::new(dir.path());
    config.retention_check_interval = std::time::Duration::from_millis(1);
    for round in 0..8 {
        let broker = Broker::open_with(config.clone()).unwrap_or_else(|error| panic!("round {round}: {error}"));
        if round == 0 {
            broker
                .create_topic(NewTopic::new("t", 4).config("segment.bytes", "512").config("retention.ms", "0"))
                .unwrap();
        }
        let producer = broker.producer(Default::default()).unwrap();
        for i in 0..20u32 {
            producer.send(ProducerRecord::new("t", &[1u8; 200]).partition(i % 4)).unwrap();
        }
        drop(producer);
        drop(broker);
    }
}

#[test]
fn a_closed_broker_refuses_admin_calls() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(dir.path()).unwrap();
    broker.create_topic(NewTopic::new("t", 1)).unwrap();
    broker.close().unwrap();
    broker.close().unwrap();
    let closed = |result: Result<(), BrokerError>| matches!(result, Err(BrokerError::Closed { .. }));
    assert!(closed(broker.create_topic(NewTopic::new("u", 1))));
    assert!(closed(broker.delete_topic("t")));
    assert!(closed(broker.add_partitions("t", 2)));
    assert!(closed(broker.describe_topic("t").map(|_| ())));
    assert!(closed(broker.producer(Default::default()).map(|_| ())));
    assert!(closed(broker.consumer(Default::default()).map(|_| ())));
}

#[test]
fn a_compacted_topic_refuses_keyless_records_and_compacts_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(dir.path()).unwrap();
    broker
        .create_topic(NewTopic::new("state", 1).config("cleanup.policy", "compact").config("segment.bytes", "1024"))
        .unwrap();
    let producer = broker.producer(Default::default()).unwrap();
    let error = producer.send(ProducerRecord::new("state", b"no key")).unwrap_err();
    assert!(error.to_string().contains("key"), "{error}");
    for i in 0..200u32 {
        let key = format!("k{}", i % 5);
        producer.send(ProducerRecord::new("state", format!("{i}").as_bytes()).key(key.as_bytes())).unwrap();
    }
    let before = broker.describe_topic("state").unwrap().partitions[0].clone();
    let report = broker.compact_topic("state").unwrap();
    let after = broker.describe_topic("state").unwrap().partitions[0].clone();
    assert!(report.records_removed > 100, "{report:?}");
    assert!(after.size_bytes < before.size_bytes);
    assert_eq!(after.log_end_offset, 200, "offsets are kept");
    // Consumers step over the gaps: small polls return exactly the
    // surviving records, each once, in offset order.
    let survivors = |max_poll_records: usize| {
        let mut config = ghyll_broker::ConsumerConfig::default();
        config.auto_offset_reset = ghyll_broker::OffsetReset::Earliest;
        config.max_poll_records = max_poll_records;
        let mut consumer = broker.consumer(config).unwrap();
        consumer.assign([ghyll_broker::TopicPartition::new("state", 0)]).unwrap();
        let mut offsets = Vec::new();
        loop {
            let records = consumer.poll(std::time::Duration::from_millis(100)).unwrap();
            if records.is_empty() {
                break;
            }
            assert_eq!(records.iter().count(), records.len());
            offsets.extend(records.iter().map(|r| r.unwrap().offset));
        }
        offsets
    };
    let all = survivors(10_000);
    assert!(all.len() < 200 && all.windows(2).all(|w| w[0] < w[1]), "{all:?}");
    assert_eq!(survivors(3), all);
    assert_eq!(survivors(1), all);
    assert!(matches!(broker.compact_topic("missing"), Err(BrokerError::UnknownTopic { .. })));
    broker.create_topic(NewTopic::new("plain", 1)).unwrap();
    assert!(matches!(broker.compact_topic("plain"), Err(BrokerError::InvalidConfig { .. })));
}
