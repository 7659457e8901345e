//! Proves the producer places records where its partitioner says (Kafka's murmur2 for keys, round-robin, sticky, a custom business rule), by sending through a real broker and checking both the reported partitions and what each partition's log holds.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use common::{read_all, values};
use ghyll_broker::{Broker, NewTopic, Producer, ProducerConfig, ProducerRecord};
use ghyll_partition::{murmur2, partition_for_key, KeyHash, PartitionContext, Partitioner, RoundRobin, Sticky};

/// Kafka's murmur2 vectors from KAFKA-FACTS.md.
const KAFKA_VECTORS: [(&[u8], i32); 7] = [
    (b"21", -973_932_308),
    (b"foobar", -790_332_482),
    (b"a-little-bit-long-string", -985_981_536),
    (b"a-little-bit-longer-string", -1_486_304_829),
    (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971),
    (b"abc", 479_470_107),
    (b"", 275_646_681),
];

fn broker_with(topics: &[(&str, u32)]) -> (tempfile::TempDir, Broker) {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(dir.path()).unwrap();
    for &(topic, partitions) in topics {
        broker.create_topic(NewTopic::new(topic, partitions)).unwrap();
    }
    (dir, broker)
}

/// The partition each send went to.
fn send_all(producer: &Producer, topic: &str, records: &[(Option<&[u8]>, &[u8])]) -> Vec<u32> {
    records
        .iter()
        .map(|&(key, value)| {
            let record = ProducerRecord::new(topic, value);
            let record = match key {
                Some(key) => record.key(key),
                None => record,
            };
            producer.send(record).unwrap().partition
        })
        .collect()
}

/// Runs of consecutive equal partitions: (partition, length).
fn runs(partitions: &[u32]) -> Vec<(u32, usize)> {
    let mut runs: Vec<(u32, usize)> = Vec::new();
    for &partition in partitions {
        match runs.last_mut() {
            Some((last, length)) if *last == partition => *length += 1,
            _ => runs.push((partition, 1)),
        }
    }
    runs
}

/// Keyed records land on `toPositive(murmur2(key)) % n`, computed here from
/// Kafka's published hash values (not from ghyll's hash) for the vectors,
/// and from `partition_for_key` for many more keys, through both the
/// default partitioner and `KeyHash`.
#[test]
fn keys_are_placed_by_kafkas_murmur2() {
    let counts = [1u32, 2, 3, 7, 12, 100];
    let topics: Vec<(String, u32)> = counts.iter().map(|&n| (format!("keyed-{n}"), n)).collect();
    let topic_refs: Vec<(&str, u32)> = topics.iter().map(|(name, n)| (name.as_str(), *n)).collect();
    let (_dir, broker) = broker_with(&topic_refs);
    for (hash_from_kafka, producer) in [
        (true, broker.producer(Default::default()).unwrap()),
        (false, broker.producer(ProducerConfig::default().with_partitioner(KeyHash::new())).unwrap()),
    ] {
        for &(topic, n) in &topic_refs {
            for (key, hash) in KAFKA_VECTORS {
                assert_eq!(murmur2(key), hash, "{key:?}");
                let expected = (hash & 0x7fff_ffff) as u32 % n;
                let sent = producer.send(ProducerRecord::new(topic, b"v").key(key)).unwrap();
                assert_eq!(sent.partition, expected, "{topic} key {:?}", String::from_utf8_lossy(key));
            }
            for i in 0..200 {
                let key = format!("user-{i}");
                let sent = producer.send(ProducerRecord::new(topic, b"v").key(key.as_bytes())).unwrap();
                assert_eq!(sent.partition, partition_for_key(key.as_bytes(), n), "{topic} {key} {hash_from_kafka}");
            }
        }
        producer.close().unwrap();
    }
    // What the logs hold agrees with what the sends reported.
    let topic = "keyed-7";
    let all: Vec<(&str, u32)> = (0..7).map(|p| (topic, p)).collect();
    let records = read_all(&broker, &all);
    assert_eq!(records.len(), 2 * (7 + 200));
    for record in &records {
        assert_eq!(record.partition, partition_for_key(record.key.as_deref().unwrap(), 7), "{record:?}");
    }
    broker.close().unwrap();
}

/// Keyless records: the default partitioner and `RoundRobin` (which also
/// ignores keys) put exactly the same number on every partition.
#[test]
fn round_robin_spreads_evenly() {
    let (_dir, broker) = broker_with(&[("default", 5), ("rr", 5)]);
    let default = broker.producer(Default::default()).unwrap();
    let keyless: Vec<(Option<&[u8]>, &[u8])> = vec![(None, b"x"); 500];
    let partitions = send_all(&default, "default", &keyless);
    assert_eq!(&partitions[..7], [0, 1, 2, 3, 4, 0, 1]);

    let round_robin = broker.producer(ProducerConfig::default().with_partitioner(RoundRobin::new())).unwrap();
    let keys: Vec<String> = (0..500).map(|i| format!("key-{}", i % 3)).collect();
    let keyed: Vec<(Option<&[u8]>, &[u8])> = keys.iter().map(|key| (Some(key.as_bytes()), &b"y"[..])).collect();
    let keyed_partitions = send_all(&round_robin, "rr", &keyed);
    for (topic, partitions) in [("default", &partitions), ("rr", &keyed_partitions)] {
        let mut counts = [0usize; 5];
        for &partition in partitions.iter() {
            counts[partition as usize] += 1;
        }
        assert_eq!(counts, [100; 5], "{topic}");
        for partition in 0..5 {
            let description = broker.describe_topic(topic).unwrap();
            assert_eq!(description.partitions[partition].log_end_offset, 100, "{topic}-{partition}");
        }
    }
    default.close().unwrap();
    round_robin.close().unwrap();
    broker.close().unwrap();
}

/// `Sticky` with a 1000-byte batch and 100-byte keyless records: exactly
/// ten records in a row go to one partition, and the next run goes to
/// another one. Keyed records in between are hashed and do not break the
/// run.
#[test]
fn sticky_keeps_keyless_records_on_one_partition_per_batch() {
    let (_dir, broker) = broker_with(&[("sticky", 4)]);
    let producer = broker.producer(ProducerConfig::default().with_partitioner(Sticky::with_seed(1000, 11))).unwrap();
    let value = [5u8; 100];
    let mut keyless = Vec::new();
    for i in 0..200 {
        keyless.push(producer.send(ProducerRecord::new("sticky", &value)).unwrap().partition);
        if i % 7 == 0 {
            let key = format!("k{i}");
            let sent = producer.send(ProducerRecord::new("sticky", &value).key(key.as_bytes())).unwrap();
            assert_eq!(sent.partition, partition_for_key(key.as_bytes(), 4));
        }
    }
    let runs = runs(&keyless);
    assert_eq!(runs.len(), 20, "{runs:?}");
    assert!(runs.iter().all(|&(_, length)| length == 10), "{runs:?}");
    let mut used = runs.iter().map(|&(partition, _)| partition).collect::<Vec<_>>();
    used.sort();
    used.dedup();
    assert!(used.len() > 1, "{runs:?}");
    producer.close().unwrap();
    broker.close().unwrap();
}

/// A business rule: records with header `region: eu` go to partition 0,
/// `vip-` keys to partition 1, the rest by Kafka's hash over partitions
/// 2..n. The partitioner also sees the topic, key, value, headers and the
/// current partition count (which grows with `add_partitions`).
#[derive(Debug, Default)]
struct Business {
    seen: Mutex<Vec<Seen>>,
}

/// What the partitioner saw of one record: topic, key, value, header count
/// and partition count.
type Seen = (String, Option<Vec<u8>>, Option<Vec<u8>>, usize, u32);

impl Partitioner for Business {
    fn partition(&self, ctx: &PartitionContext<'_>) -> u32 {
        self.seen.lock().unwrap().push((
            ctx.topic.to_string(),
            ctx.key.map(<[u8]>::to_vec),
            ctx.value.map(<[u8]>::to_vec),
            ctx.headers.len(),
            ctx.partition_count,
        ));
        let eu = ctx.headers.iter().any(|header| header.key == "region" && header.value == Some(b"eu".as_slice()));
        let key = ctx.key.unwrap_or_default();
        if eu {
            0
        } else if key.starts_with(b"vip-") {
            1
        } else {
            2 + partition_for_key(key, ctx.partition_count - 2)
        }
    }

    fn name(&self) -> &str {
        "business"
    }
}

#[test]
fn a_custom_business_rule_partitioner() {
    let (_dir, broker) = broker_with(&[("orders", 6)]);
    let business = Arc::new(Business::default());
    let producer = broker.producer(ProducerConfig::default().with_partitioner(Arc::clone(&business))).unwrap();
    let mut expected: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for i in 0..60 {
        let key = match i % 3 {
            0 => format!("vip-{i}"),
            _ => format!("customer-{i}"),
        };
        let value = format!("order-{i}");
        let mut record = ProducerRecord::new("orders", value.as_bytes()).key(key.as_bytes());
        let partition = if i % 5 == 0 {
            record = record.header("region", b"eu");
            0
        } else if i % 3 == 0 {
            record = record.header("region", b"us");
            1
        } else {
            2 + partition_for_key(key.as_bytes(), 4)
        };
        assert_eq!(producer.send(record).unwrap().partition, partition, "{key}");
        expected.entry(partition).or_default().push(value);
    }
    for partition in 0..6 {
        let got = values(&read_all(&broker, &[("orders", partition)]));
        assert_eq!(got, expected.get(&partition).cloned().unwrap_or_default(), "partition {partition}");
    }
    {
        let seen = business.seen.lock().unwrap();
        assert_eq!(seen.len(), 60);
        let (topic, key, value, headers, count) = &seen[5];
        assert_eq!(
            (topic.as_str(), key.as_deref(), value.as_deref(), *headers, *count),
            ("orders", Some(&b"customer-5"[..]), Some(&b"order-5"[..]), 1, 6)
        );
    }
    // Explicit partitions skip the partitioner; added partitions are seen.
    producer.send(ProducerRecord::new("orders", b"direct").partition(3)).unwrap();
    assert_eq!(business.seen.lock().unwrap().len(), 60);
    broker.add_partitions("orders", 10).unwrap();
    let sent = producer.send(ProducerRecord::new("orders", b"later").key(b"customer-x")).unwrap();
    assert_eq!(sent.partition, 2 + partition_for_key(b"customer-x", 8));
    assert_eq!(business.seen.lock().unwrap().last().unwrap().4, 10);
    producer.close().unwrap();
    broker.close().unwrap();
}
