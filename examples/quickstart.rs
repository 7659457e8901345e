//! Kafka's QuickStart, in-process: create a topic, write some events, read
//! them from the beginning.
//!
//! Run it with `cargo run --release --example quickstart`.

use std::error::Error;
use std::time::Duration;

use ghyll::{Broker, ConsumerConfig, NewTopic, OffsetReset, ProducerRecord, TopicPartition};

fn main() -> Result<(), Box<dyn Error>> {
    // Step 1: start the broker (a data directory; here a temporary one).
    let dir = tempfile::tempdir()?;
    let broker = Broker::open(dir.path())?;
    println!("broker open on {}", dir.path().display());

    // Step 2: create a topic to store your events.
    broker.create_topic(NewTopic::new("quickstart-events", 1))?;
    let description = broker.describe_topic("quickstart-events")?;
    println!("created topic {} with {} partition(s)", description.name, description.partitions.len());

    // Step 3: write some events into the topic.
    let producer = broker.producer(Default::default())?;
    for line in ["This is my first event", "This is my second event", "This is my third event"] {
        let sent = producer.send(ProducerRecord::new("quickstart-events", line.as_bytes()))?;
        println!("produced to partition {} at offset {}", sent.partition, sent.offset.unwrap_or_default());
    }
    producer.close()?;

    // Step 4: read the events from the beginning.
    let mut config = ConsumerConfig::default();
    config.auto_offset_reset = OffsetReset::Earliest;
    let mut consumer = broker.consumer(config)?;
    consumer.assign([TopicPartition::new("quickstart-events", 0)])?;
    let mut read = 0;
    while read < 3 {
        let records = consumer.poll(Duration::from_secs(1))?;
        if records.is_empty() {
            break;
        }
        for record in records.iter() {
            let record = record?;
            println!(
                "consumed offset {}: {}",
                record.offset,
                String::from_utf8_lossy(record.value.unwrap_or_default())
            );
            read += 1;
        }
    }
    consumer.close();

    // Step 5: stop the broker; the events stay in the data directory.
    broker.close()?;
    let reopened = Broker::open(dir.path())?;
    let partition = &reopened.describe_topic("quickstart-events")?.partitions[0];
    println!(
        "after a restart the topic still holds offsets {}..{}",
        partition.log_start_offset, partition.log_end_offset
    );
    reopened.close()?;
    Ok(())
}
