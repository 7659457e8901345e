//! Kafka's ordering lesson: one partition keeps the producer's order; with
//! several partitions, order holds only within each partition.
//!
//! Run it with `cargo run --release --example ordering`.

use std::error::Error;
use std::time::Duration;

use ghyll::partition::RoundRobin;
use ghyll::{Broker, ConsumerConfig, NewTopic, OffsetReset, ProducerConfig, ProducerRecord, TopicPartition};

fn produce_and_read(broker: &Broker, topic: &str, partitions: u32) -> Result<Vec<(u32, String)>, Box<dyn Error>> {
    broker.create_topic(NewTopic::new(topic, partitions))?;
    let producer = broker.producer(ProducerConfig::default().with_partitioner(RoundRobin::new()))?;
    for step in 1..=6 {
        producer.send(ProducerRecord::new(topic, format!("step {step}").as_bytes()))?;
    }
    producer.close()?;

    // One consumer reading every partition, one partition after another,
    // as a reader that cares about "the topic" rather than its partitions.
    let mut config = ConsumerConfig::default();
    config.auto_offset_reset = OffsetReset::Earliest;
    let mut seen = Vec::new();
    for partition in 0..partitions {
        let mut consumer = broker.consumer(config.clone())?;
        consumer.assign([TopicPartition::new(topic, partition)])?;
        loop {
            let records = consumer.poll(Duration::from_millis(100))?;
            if records.is_empty() {
                break;
            }
            for record in records.iter() {
                let record = record?;
                seen.push((record.partition, String::from_utf8_lossy(record.value.unwrap_or_default()).into_owned()));
            }
        }
    }
    Ok(seen)
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    let broker = Broker::open(dir.path())?;

    let one = produce_and_read(&broker, "one-partition", 1)?;
    println!("one partition, read back:");
    for (partition, value) in &one {
        println!("    partition {partition}: {value}");
    }
    let in_order = one.windows(2).all(|pair| step(&pair[0].1) < step(&pair[1].1));
    println!("  the producer's order is kept: {in_order}\n");

    let three = produce_and_read(&broker, "three-partitions", 3)?;
    println!("three partitions, read back partition by partition:");
    for (partition, value) in &three {
        println!("    partition {partition}: {value}");
    }
    let in_order = three.windows(2).all(|pair| step(&pair[0].1) < step(&pair[1].1));
    let per_partition = (0..3).all(|p| {
        let steps: Vec<u32> = three.iter().filter(|(q, _)| *q == p).map(|(_, v)| step(v)).collect();
        steps.windows(2).all(|pair| pair[0] < pair[1])
    });
    println!("  the producer's order is kept across the topic: {in_order}");
    println!("  the producer's order is kept within each partition: {per_partition}");
    broker.close()?;
    Ok(())
}

fn step(value: &str) -> u32 {
    value.trim_start_matches("step ").parse().unwrap_or(0)
}
