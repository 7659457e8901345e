//! Helpers shared by the broker's integration tests.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use ghyll_broker::{Broker, Consumer, ConsumerConfig, ConsumerRecords, OffsetReset, TopicPartition};

/// A consumed record, copied out of its `ConsumerRecords` so tests can keep
/// it after the next poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owned {
    pub topic: String,
    pub partition: u32,
    pub offset: u64,
    pub timestamp_ms: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

/// Copies every record of one poll, failing the test on a decode error.
pub fn owned(records: &ConsumerRecords) -> Vec<Owned> {
    records
        .iter()
        .map(|record| {
            let record = record.expect("a record the broker wrote decodes");
            Owned {
                topic: record.topic.to_string(),
                partition: record.partition,
                offset: record.offset,
                timestamp_ms: record.timestamp_ms,
                key: record.key.map(<[u8]>::to_vec),
                value: record.value.map(<[u8]>::to_vec),
                headers: record
                    .headers
                    .map(|header| {
                        let header = header.expect("a header the broker wrote decodes");
                        (header.key.to_string(), header.value.map(<[u8]>::to_vec))
                    })
                    .collect(),
            }
        })
        .collect()
}

/// A consumer that starts at the log start of `partitions`.
pub fn earliest(broker: &Broker, partitions: &[(&str, u32)]) -> Consumer {
    let mut config = ConsumerConfig::default();
    config.auto_offset_reset = OffsetReset::Earliest;
    let mut consumer = broker.consumer(config).unwrap();
    consumer.assign(partitions.iter().map(|&(topic, partition)| TopicPartition::new(topic, partition))).unwrap();
    consumer
}

/// Polls until exactly `count` records have arrived, failing the test if
/// they take longer than 20 s (a noisy machine, not a slow broker) or if
/// more arrive.
pub fn consume(consumer: &mut Consumer, count: usize) -> Vec<Owned> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut all = Vec::with_capacity(count);
    while all.len() < count {
        assert!(Instant::now() < deadline, "only {} of {count} records arrived: {all:?}", all.len());
        let records = consumer.poll(Duration::from_millis(200)).unwrap();
        all.extend(owned(&records));
    }
    assert_eq!(all.len(), count, "more records than expected: {all:?}");
    let extra = consumer.poll(Duration::ZERO).unwrap();
    assert!(extra.is_empty(), "unexpected extra records: {:?}", owned(&extra));
    all
}

/// Every record of `partitions` from the log start, read by a fresh consumer.
pub fn read_all(broker: &Broker, partitions: &[(&str, u32)]) -> Vec<Owned> {
    let mut total = 0;
    for &(topic, partition) in partitions {
        let description = broker.describe_topic(topic).unwrap();
        let partition = &description.partitions[partition as usize];
        total += partition.high_watermark - partition.log_start_offset;
    }
    let mut consumer = earliest(broker, partitions);
    consume(&mut consumer, total as usize)
}

/// The values of `records`, as UTF-8 strings.
pub fn values(records: &[Owned]) -> Vec<String> {
    records.iter().map(|record| String::from_utf8(record.value.clone().unwrap()).unwrap()).collect()
}
