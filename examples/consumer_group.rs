//! Kafka's "without a group / with a group", in-process.
//!
//! A 4-partition topic; three consumers of group `billing` share the
//! partitions, each on its own thread, so no record is read twice; one is
//! stopped and its partitions move to the other two with nothing lost; a
//! second group, `audit`, reads the whole topic on its own offsets.
//!
//! Run it with `cargo run --release --example consumer_group`.

use std::collections::BTreeMap;
use std::error::Error;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ghyll::{Broker, ConsumerConfig, NewTopic, OffsetReset, ProducerRecord, TopicPartition};

const TOPIC: &str = "payments";
const RECORDS: u64 = 20_000;

/// partition -> offsets read, shared by the members of one group.
type Seen = Arc<Mutex<BTreeMap<u32, Vec<u64>>>>;

fn main() -> Result<(), Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    let broker = Broker::open(dir.path())?;
    broker.create_topic(NewTopic::new(TOPIC, 4))?;
    let producer = broker.producer(Default::default())?;
    for i in 0..RECORDS / 2 {
        producer.send_async(ProducerRecord::new(TOPIC, format!("payment {i}").as_bytes()).key(&i.to_be_bytes()))?;
    }
    producer.flush()?;
    println!("produced {} records to {TOPIC} (4 partitions)", RECORDS / 2);

    // With a group: three members on three threads share the partitions.
    let seen: Seen = Arc::default();
    let stops: Vec<Arc<AtomicBool>> = (0..3).map(|_| Arc::new(AtomicBool::new(false))).collect();
    let mut members = Vec::new();
    for (member, stop) in stops.iter().enumerate() {
        let (broker, seen, stop) = (broker.clone(), Arc::clone(&seen), Arc::clone(stop));
        members.push(std::thread::spawn(move || -> Result<(), ghyll::BrokerError> {
            let mut config = ConsumerConfig::with_group("billing");
            config.client_id = format!("billing-{member}");
            config.auto_offset_reset = OffsetReset::Earliest;
            config.auto_commit_interval = Duration::from_millis(100);
            let mut consumer = broker.consumer(config)?;
            consumer.subscribe([TOPIC])?;
            while !stop.load(Ordering::Acquire) {
                let records = consumer.poll(Duration::from_millis(50))?;
                let mut seen = seen.lock().expect("no panics while holding it");
                for record in records.iter() {
                    let record = record?;
                    seen.entry(record.partition).or_default().push(record.offset);
                }
            }
            // close() commits what was read and leaves the group at once.
            consumer.close();
            Ok(())
        }));
    }
    wait_until(|| seen_count(&seen) >= RECORDS / 2)?;
    print_owners(&broker, "three members")?;

    // One member stops: the group rebalances and the other two take over
    // its partitions, from its last committed offsets.
    stops[2].store(true, Ordering::Release);
    members.pop().expect("three members").join().expect("member thread")?;
    for i in RECORDS / 2..RECORDS {
        producer.send_async(ProducerRecord::new(TOPIC, format!("payment {i}").as_bytes()).key(&i.to_be_bytes()))?;
    }
    producer.flush()?;
    wait_until(|| seen_count(&seen) >= RECORDS)?;
    print_owners(&broker, "after one member stopped")?;
    for stop in &stops {
        stop.store(true, Ordering::Release);
    }
    for member in members {
        member.join().expect("member thread")?;
    }
    let seen = seen.lock().expect("members are done");
    let total: usize = seen.values().map(Vec::len).sum();
    let mut duplicates = 0;
    for offsets in seen.values() {
        let mut sorted = offsets.clone();
        sorted.sort_unstable();
        sorted.dedup();
        duplicates += offsets.len() - sorted.len();
    }
    println!("group billing read {total} records, {duplicates} of them twice, none lost: {}", total as u64 >= RECORDS);

    // A second group reads everything again, on its own offsets.
    let mut config = ConsumerConfig::with_group("audit");
    config.auto_offset_reset = OffsetReset::Earliest;
    let mut audit = broker.consumer(config)?;
    audit.subscribe([TOPIC])?;
    let mut read = 0;
    while read < RECORDS {
        read += audit.poll(Duration::from_secs(5))?.len() as u64;
    }
    audit.commit()?;
    println!("group audit read all {read} records on its own offsets");
    let lag: u64 = broker.describe_group("audit")?.offsets.iter().filter_map(|row| row.lag).sum();
    println!("group audit lag after commit: {lag}");
    audit.close();
    println!("groups: {:?}", broker.list_groups().iter().map(|g| g.group_id.as_str()).collect::<Vec<_>>());
    broker.close()?;
    Ok(())
}

fn seen_count(seen: &Seen) -> u64 {
    seen.lock().expect("no panics while holding it").values().map(|v| v.len() as u64).sum()
}

fn wait_until(done: impl Fn() -> bool) -> Result<(), Box<dyn Error>> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        if Instant::now() > deadline {
            return Err("the group did not read every record within 30 s".into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

fn print_owners(broker: &Broker, when: &str) -> Result<(), Box<dyn Error>> {
    let group = broker.describe_group("billing")?;
    println!("{when}: group billing is {} at generation {}", group.state, group.generation);
    for member in &group.members {
        let partitions: Vec<String> = member.assignment.iter().map(TopicPartition::to_string).collect();
        println!("  {} owns {}", member.client_id, partitions.join(", "));
    }
    Ok(())
}
