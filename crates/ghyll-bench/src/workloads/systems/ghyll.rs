//! ghyll through its broker's public API, as a Kafka user drives it: a
//! `Broker` on a data directory, one topic, a `Producer` from
//! `Broker::producer` and a `Consumer` from `Broker::consumer`.

use std::path::Path;
use std::time::{Duration, Instant};

use ghyll_broker::{
    Broker, ConsumerConfig, NewTopic, OffsetReset, Producer, ProducerConfig, ProducerRecord, TopicPartition,
};

use super::TOPIC;
use crate::error::{BenchError, Context};
use crate::payload::ValuePool;

/// Whether a batched send waits for each call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::workloads) enum Await {
    /// Wait for each call's records before the next call.
    EachCall,
    /// Only `flush()` at the end.
    End,
}

/// A broker holding one topic of `partitions` partitions.
#[derive(Debug)]
pub(in crate::workloads) struct GhyllSystem {
    broker: Broker,
    partitions: u32,
}

/// Records and value bytes visited by a read, and how long it took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::workloads) struct ReadTotals {
    pub(in crate::workloads) records: u64,
    pub(in crate::workloads) value_bytes: u64,
    pub(in crate::workloads) elapsed: Duration,
}

impl GhyllSystem {
    /// Opens a broker on `dir` (Kafka's defaults) and creates the topic.
    pub(in crate::workloads) fn open(dir: &Path, partitions: u32) -> Result<GhyllSystem, BenchError> {
        let broker = Broker::open(dir).context(|| format!("opening a ghyll broker in {}", dir.display()))?;
        broker
            .create_topic(NewTopic::new(TOPIC, partitions))
            .context(|| format!("creating ghyll topic {TOPIC} with {partitions} partitions"))?;
        Ok(GhyllSystem { broker, partitions })
    }

    pub(in crate::workloads) fn broker(&self) -> &Broker {
        &self.broker
    }

    /// The topic's partitions, for `assign`.
    pub(in crate::workloads) fn topic_partitions(&self) -> Vec<TopicPartition> {
        (0..self.partitions).map(|partition| TopicPartition::new(TOPIC, partition)).collect()
    }

    /// Sends every record of `pool` with `send_async` (keyless: the default
    /// partitioner spreads them round-robin), dropping the handles, then
    /// `flush()`: Kafka's batching path. Times the sends and the flush;
    /// creating and closing the producer are not timed.
    pub(in crate::workloads) fn send_async_all(&self, pool: &ValuePool) -> Result<Duration, BenchError> {
        self.timed_sends(pool, |producer| {
            for index in 0..pool.records() {
                // The handle is dropped: the record is still sent, and
                // flush() below waits for every batch.
                let _handle = producer
                    .send_async(ProducerRecord::new(TOPIC, pool.value(index)))
                    .context(|| format!("ghyll send_async of record {index}"))?;
            }
            producer.flush().context(|| "ghyll producer flush")
        })
    }

    /// Sends every record of `pool` with `send_batch`, `batch_records`
    /// records per call; with `Await::EachCall` it waits for each call's
    /// records before the next call (as kafko's awaited `send_batch`),
    /// otherwise it drops the handles and `flush()`es at the end, letting
    /// the sender thread append one call while the next is encoded. Times
    /// the calls and the flush.
    pub(in crate::workloads) fn send_batches(
        &self,
        pool: &ValuePool,
        batch_records: u32,
        wait: Await,
    ) -> Result<Duration, BenchError> {
        self.timed_sends(pool, |producer| {
            for range in pool.batches(batch_records) {
                let first = range.start;
                let sent = producer
                    .send_batch(range.map(|index| ProducerRecord::new(TOPIC, pool.value(index))))
                    .context(|| format!("ghyll send_batch from record {first}"))?;
                if wait == Await::EachCall {
                    sent.wait().context(|| format!("ghyll send_batch from record {first}"))?;
                }
            }
            producer.flush().context(|| "ghyll producer flush")
        })
    }

    /// Sends every record of `pool` with the synchronous `send`, which
    /// returns once the record is appended; times the sends.
    pub(in crate::workloads) fn send_each(&self, pool: &ValuePool) -> Result<Duration, BenchError> {
        self.timed_sends(pool, |producer| {
            for index in 0..pool.records() {
                let sent = producer
                    .send(ProducerRecord::new(TOPIC, pool.value(index)))
                    .context(|| format!("ghyll send of record {index}"))?;
                debug_assert!(sent.offset.is_some(), "acks=1 reports the offset");
            }
            Ok(())
        })
    }

    /// Times `sends` on a fresh default producer (creating and closing it
    /// are not timed), then checks the topic holds every record of `pool`.
    fn timed_sends(
        &self,
        pool: &ValuePool,
        sends: impl FnOnce(&Producer) -> Result<(), BenchError>,
    ) -> Result<Duration, BenchError> {
        let producer = self.broker.producer(ProducerConfig::default()).context(|| "creating a ghyll producer")?;
        let started = Instant::now();
        sends(&producer)?;
        let elapsed = started.elapsed();
        producer.close().context(|| "closing the ghyll producer")?;
        self.check_holds(pool.records())?;
        Ok(elapsed)
    }

    /// Checks that the partitions hold `records` between them, spread
    /// evenly (round-robin puts at most one more in any partition).
    fn check_holds(&self, records: u64) -> Result<(), BenchError> {
        let description = self.broker.describe_topic(TOPIC).context(|| format!("describing ghyll topic {TOPIC}"))?;
        let ends: Vec<u64> = description.partitions.iter().map(|partition| partition.log_end_offset).collect();
        let total: u64 = ends.iter().sum();
        let spread = ends.iter().max().copied().unwrap_or(0) - ends.iter().min().copied().unwrap_or(0);
        if total != records || spread > 1 {
            return Err(BenchError::new(format!(
                "ghyll partitions hold {ends:?} records, expected {records} spread round-robin"
            )));
        }
        Ok(())
    }

    /// Reads every record back through one consumer: every partition
    /// assigned, `seek_to_beginning`, then `poll` until `records` came back,
    /// visiting every record and summing value lengths. Offsets are checked
    /// to run 0, 1, 2, ... in every partition. Only the polls and the visits
    /// are timed.
    pub(in crate::workloads) fn poll_all(
        &self,
        records: u64,
        max_poll_records: usize,
        max_partition_fetch_bytes: u32,
    ) -> Result<ReadTotals, BenchError> {
        let mut config = ConsumerConfig::default();
        config.auto_offset_reset = OffsetReset::Earliest;
        config.max_poll_records = max_poll_records;
        config.max_partition_fetch_bytes = max_partition_fetch_bytes;
        let mut consumer = self.broker.consumer(config).context(|| "creating a ghyll consumer")?;
        let partitions = self.topic_partitions();
        consumer.assign(partitions.clone()).context(|| "assigning the ghyll consumer")?;
        consumer.seek_to_beginning(&partitions).context(|| "seeking the ghyll consumer")?;

        let mut next_offsets = vec![0_u64; partitions.len()];
        let mut seen = 0_u64;
        let mut value_bytes = 0_u64;
        let started = Instant::now();
        while seen < records {
            let polled =
                consumer.poll(Duration::from_secs(5)).context(|| format!("ghyll poll after {seen} records"))?;
            if polled.is_empty() {
                return Err(BenchError::new(format!("ghyll poll returned nothing for 5 s after {seen} of {records}")));
            }
            for record in polled.iter() {
                let record = record.context(|| format!("ghyll record after {seen} records"))?;
                let next = &mut next_offsets[record.partition as usize];
                if record.offset != *next {
                    return Err(BenchError::new(format!(
                        "ghyll partition {} returned offset {} where {next} was next",
                        record.partition, record.offset
                    )));
                }
                *next += 1;
                seen += 1;
                value_bytes += record.value.map_or(0, <[u8]>::len) as u64;
            }
        }
        let elapsed = started.elapsed();
        consumer.close();
        Ok(ReadTotals { records: seen, value_bytes, elapsed })
    }

    /// Closes the broker (flushes its logs; not timed).
    pub(in crate::workloads) fn close(self) -> Result<(), BenchError> {
        self.broker.close().context(|| "closing the ghyll broker")
    }
}
