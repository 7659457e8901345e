//! A business rule as a partitioner, in three steps:
//!
//! 1. a topic with several partitions;
//! 2. a producer whose partitioner sends VIP customers to partition 0 and
//!    hashes everyone else over the other partitions (Kafka's murmur2);
//! 3. several consumers, each assigned partitions, showing how the work was
//!    divided.
//!
//! Run it with `cargo run --release --example custom_partitioner`.

use std::collections::BTreeMap;
use std::error::Error;
use std::time::Duration;

use ghyll::partition::{partition_for_key, PartitionContext, Partitioner};
use ghyll::{Broker, ConsumerConfig, NewTopic, OffsetReset, ProducerConfig, ProducerRecord, TopicPartition};

/// VIP customers get a partition (and so a consumer) of their own.
#[derive(Debug)]
struct VipFirst {
    vips: Vec<&'static [u8]>,
}

impl Partitioner for VipFirst {
    fn partition(&self, ctx: &PartitionContext<'_>) -> u32 {
        match ctx.key {
            Some(key) if self.vips.contains(&key) => 0,
            // Everyone else is hashed, as Kafka would, over partitions 1..n.
            Some(key) if ctx.partition_count > 1 => 1 + partition_for_key(key, ctx.partition_count - 1),
            _ => ctx.partition_count - 1,
        }
    }

    fn name(&self) -> &str {
        "vip-first"
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    let broker = Broker::open(dir.path())?;

    // Step 1: a topic with four partitions.
    broker.create_topic(NewTopic::new("orders", 4))?;

    // Step 2: a producer with the business rule.
    let partitioner = VipFirst { vips: vec![b"acme", b"globex"] };
    let producer = broker.producer(ProducerConfig::default().with_partitioner(partitioner))?;
    let customers = ["acme", "initech", "globex", "umbrella", "hooli", "stark", "wayne", "acme", "hooli"];
    for (order, customer) in customers.iter().enumerate() {
        let value = format!("order {order} from {customer}");
        let sent = producer.send(ProducerRecord::new("orders", value.as_bytes()).key(customer.as_bytes()))?;
        println!("{value:<28} -> partition {}", sent.partition);
    }
    producer.close()?;

    // Step 3: three consumers: one for the VIP partition, two sharing the rest.
    let plan: [(&str, &[u32]); 3] = [("vip-desk", &[0]), ("desk-a", &[1, 2]), ("desk-b", &[3])];
    let mut work: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (name, partitions) in plan {
        let mut config = ConsumerConfig::default();
        config.auto_offset_reset = OffsetReset::Earliest;
        let mut consumer = broker.consumer(config)?;
        consumer.assign(partitions.iter().map(|&p| TopicPartition::new("orders", p)))?;
        loop {
            let records = consumer.poll(Duration::from_millis(200))?;
            if records.is_empty() {
                break;
            }
            for record in records.iter() {
                let record = record?;
                let value = String::from_utf8_lossy(record.value.unwrap_or_default()).into_owned();
                work.entry(name).or_default().push(format!("p{} {value}", record.partition));
            }
        }
    }
    for (name, orders) in &work {
        println!("{name} handled {} orders:", orders.len());
        for order in orders {
            println!("    {order}");
        }
    }
    broker.close()?;
    Ok(())
}
