//! Event sourcing and CQRS on a compacted topic.
//!
//! Commands append events keyed by account; a read model rebuilds each
//! account's balance by consuming the topic from the beginning and commits
//! as it goes; a restarted read model resumes from its committed offset;
//! compaction keeps only the latest snapshot per account, so the topic
//! stays bounded however many events it has seen.
//!
//! Run it with `cargo run --release --example event_sourcing`.

use std::collections::BTreeMap;
use std::error::Error;
use std::time::Duration;

use ghyll::{Broker, ConsumerConfig, NewTopic, OffsetReset, Producer, ProducerRecord};

const TOPIC: &str = "account-balances";

fn main() -> Result<(), Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    let broker = Broker::open(dir.path())?;
    // Small segments so the cleaner has closed segments to compact.
    broker.create_topic(NewTopic::new(TOPIC, 1).config("cleanup.policy", "compact").config("segment.bytes", "4096"))?;
    let producer = broker.producer(Default::default())?;

    // Commands: each deposit appends the account's new balance, keyed by
    // the account (the event is the state change; the key is the entity).
    let mut balances: BTreeMap<String, i64> = BTreeMap::new();
    deposit(&producer, &mut balances, 0..500)?;
    let read_model = rebuild(&broker)?;
    println!("read model after 500 events: {} accounts, total {}", read_model.len(), read_model.values().sum::<i64>());
    assert_eq!(read_model, balances);

    // More commands; a restarted read model resumes from its committed
    // offset and only reads what is new.
    deposit(&producer, &mut balances, 500..800)?;
    let resumed = catch_up(&broker)?;
    println!("restarted read model resumed at its committed offset and read {resumed} new events");

    // An account closes: a tombstone (null value) for its key.
    producer.send(ProducerRecord::tombstone(TOPIC, b"account-3"))?;
    balances.remove("account-3");
    producer.flush()?;

    let before = broker.describe_topic(TOPIC)?.partitions[0].clone();
    let report = broker.compact_topic(TOPIC)?;
    let after = broker.describe_topic(TOPIC)?.partitions[0].clone();
    println!(
        "compaction: {} bytes in {} segments -> {} bytes in {} segments ({} records removed)",
        before.size_bytes, before.segments, after.size_bytes, after.segments, report.records_removed
    );

    // A brand-new read model rebuilds the same state from the compacted topic.
    let rebuilt = rebuild_with_group(&broker, "balances-v2")?;
    assert_eq!(rebuilt, balances);
    println!("a new read model rebuilt {} accounts from the compacted topic: same state", rebuilt.len());
    producer.close()?;
    broker.close()?;
    Ok(())
}

fn deposit(
    producer: &Producer,
    balances: &mut BTreeMap<String, i64>,
    events: std::ops::Range<u64>,
) -> Result<(), Box<dyn Error>> {
    for event in events {
        let account = format!("account-{}", event % 10);
        let balance = balances.entry(account.clone()).or_default();
        *balance += (event % 7) as i64 + 1;
        producer.send(ProducerRecord::new(TOPIC, balance.to_string().as_bytes()).key(account.as_bytes()))?;
    }
    Ok(())
}

fn rebuild(broker: &Broker) -> Result<BTreeMap<String, i64>, Box<dyn Error>> {
    rebuild_with_group(broker, "balances")
}

/// Reads the topic from the group's committed offset (the beginning for a
/// new group) to its end, applying each event, and commits.
fn rebuild_with_group(broker: &Broker, group: &str) -> Result<BTreeMap<String, i64>, Box<dyn Error>> {
    let mut state = BTreeMap::new();
    apply_new_events(broker, group, &mut state)?;
    Ok(state)
}

fn catch_up(broker: &Broker) -> Result<u64, Box<dyn Error>> {
    let mut state = BTreeMap::new();
    apply_new_events(broker, "balances", &mut state)
}

fn apply_new_events(broker: &Broker, group: &str, state: &mut BTreeMap<String, i64>) -> Result<u64, Box<dyn Error>> {
    let mut config = ConsumerConfig::with_group(group);
    config.auto_offset_reset = OffsetReset::Earliest;
    config.enable_auto_commit = false;
    let mut consumer = broker.consumer(config)?;
    consumer.subscribe([TOPIC])?;
    let mut applied = 0;
    loop {
        let records = consumer.poll(Duration::from_millis(500))?;
        if records.is_empty() {
            break;
        }
        for record in records.iter() {
            let record = record?;
            let key = String::from_utf8_lossy(record.key.unwrap_or_default()).into_owned();
            match record.value {
                Some(value) => {
                    state.insert(key, String::from_utf8_lossy(value).parse()?);
                }
                None => {
                    state.remove(&key);
                }
            }
            applied += 1;
        }
        consumer.commit()?;
    }
    consumer.close();
    Ok(applied)
}
