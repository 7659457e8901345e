//! Replication, in-process: a broker with three nodes (three data
//! directories, as three disks), a topic with replication factor 3 and
//! `min.insync.replicas=2`, a producer sending with `acks=all` while one
//! node fails mid-stream and comes back; the leader changes, the ISR
//! shrinks and grows back, and a consumer reads every acknowledged record.
//!
//! Run it with `cargo run --release --example replicated`.

use std::error::Error;
use std::time::{Duration, Instant};

use ghyll::{
    Acks, Broker, BrokerConfig, ConsumerConfig, NewTopic, OffsetReset, ProducerConfig, ProducerRecord, TopicPartition,
};

const TOPIC: &str = "payments";

fn main() -> Result<(), Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    let mut config = BrokerConfig::new(dir.path().join("meta"));
    config.nodes = (0..3).map(|n| dir.path().join(format!("disk-{n}"))).collect();
    let broker = Broker::open_with(config)?;
    broker.create_topic(NewTopic::new(TOPIC, 1).replication_factor(3).config("min.insync.replicas", "2"))?;
    show(&broker, "created")?;

    let mut producer_config = ProducerConfig::default();
    producer_config.acks = Acks::All;
    let producer = broker.producer(producer_config)?;
    let mut acknowledged = Vec::new();
    let mut failed = None;
    for i in 0..3000u32 {
        if i == 1000 {
            let leader = broker.describe_topic(TOPIC)?.partitions[0].leader.expect("a leader");
            println!("-- node {leader} (the leader) fails mid-stream");
            broker.fail_node(leader)?;
            failed = Some(leader);
            show(&broker, "after the failure")?;
        }
        if let (2000, Some(node)) = (i, failed) {
            println!("-- node {node} comes back and catches up from the new leader");
            broker.restore_node(node)?;
            wait_for_isr(&broker, 3)?;
            show(&broker, "after the restore")?;
        }
        let value = format!("payment {i}");
        match producer.send(ProducerRecord::new(TOPIC, value.as_bytes())) {
            Ok(sent) => acknowledged.push((sent.offset.expect("an offset"), value)),
            Err(error) => println!("send {i} failed (not acknowledged): {error}"),
        }
    }
    println!("{} records acknowledged with acks=all", acknowledged.len());

    let mut consumer_config = ConsumerConfig::default();
    consumer_config.auto_offset_reset = OffsetReset::Earliest;
    let mut consumer = broker.consumer(consumer_config)?;
    consumer.assign([TopicPartition::new(TOPIC, 0)])?;
    let mut read = std::collections::BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while read.len() < acknowledged.len() && Instant::now() < deadline {
        for record in consumer.poll(Duration::from_millis(100))?.iter() {
            let record = record?;
            read.insert(record.offset, String::from_utf8_lossy(record.value.unwrap_or_default()).into_owned());
        }
    }
    let missing = acknowledged.iter().filter(|(offset, value)| read.get(offset) != Some(value)).count();
    println!("the consumer read {} records; acknowledged records missing: {missing}", read.len());
    assert_eq!(missing, 0, "every acknowledged record is readable");
    producer.close()?;
    broker.close()?;
    Ok(())
}

fn show(broker: &Broker, when: &str) -> Result<(), Box<dyn Error>> {
    for p in broker.describe_topic(TOPIC)?.partitions {
        println!(
            "{when}: {TOPIC}-{} leader {:?} replicas {:?} isr {:?} log end {} high watermark {}",
            p.partition, p.leader, p.replicas, p.isr, p.log_end_offset, p.high_watermark
        );
    }
    Ok(())
}

fn wait_for_isr(broker: &Broker, size: usize) -> Result<(), Box<dyn Error>> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while broker.describe_topic(TOPIC)?.partitions.iter().any(|p| p.isr.len() < size) {
        if Instant::now() > deadline {
            return Err("the ISR did not grow back within 20 s".into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}
