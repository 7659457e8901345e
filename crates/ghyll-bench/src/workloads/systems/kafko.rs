//! The peer: `kafko` 0.3, an in-process Kafka-like log on tokio, through
//! its public API as its README shows it: `Kafko::open_with_config`, a
//! topic with partitions, `Producer::send` / `send_batch`, and a merged
//! `Consumer` read with `next_record` / `next_with_position`.
//!
//! kafko is async: every call here runs inside a tokio runtime the harness
//! owns. Each partition is an actor (a writer task with an `mpsc` inbox);
//! sends and reads are messages to it.

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafko::{Kafko, LogConfig};
use tokio::runtime::Runtime;

use super::ghyll::ReadTotals;
use super::TOPIC;
use crate::error::{BenchError, Context};
use crate::payload::ValuePool;

/// Which tokio runtime drives kafko.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum KafkoRuntime {
    /// `Builder::new_current_thread`: the caller's thread runs kafko's
    /// writer tasks too, so a send is a hand-off between tasks on one thread.
    CurrentThread,
    /// `Builder::new_multi_thread` with tokio's default worker count (one
    /// per core), as `#[tokio::main]` in kafko's quickstart gives.
    MultiThread,
}

impl KafkoRuntime {
    pub(crate) fn name(self) -> &'static str {
        match self {
            KafkoRuntime::CurrentThread => "current-thread",
            KafkoRuntime::MultiThread => "multi-thread",
        }
    }

    fn build(self) -> std::io::Result<Runtime> {
        let mut builder = match self {
            KafkoRuntime::CurrentThread => tokio::runtime::Builder::new_current_thread(),
            KafkoRuntime::MultiThread => tokio::runtime::Builder::new_multi_thread(),
        };
        // kafko's writer tasks tick a retention interval: they need tokio's
        // time driver.
        builder.enable_all().build()
    }
}

/// A kafko broker holding one topic of `partitions` partitions, and the
/// runtime its tasks run on.
pub(in crate::workloads) struct KafkoSystem {
    // Declared before `runtime` so that, if `shutdown` was not called, the
    // broker is dropped while its runtime still exists.
    broker: Option<Kafko>,
    runtime: Runtime,
    partitions: u32,
}

impl std::fmt::Debug for KafkoSystem {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("KafkoSystem").field("partitions", &self.partitions).finish_non_exhaustive()
    }
}

/// The pool's values as one `Bytes`, so that each record's value is a
/// zero-copy `Bytes::slice` of it: kafko takes owned `Bytes`, and this
/// spares it a copy per record. Built before any clock starts.
pub(in crate::workloads) fn values_as_bytes(pool: &ValuePool) -> Bytes {
    Bytes::copy_from_slice(pool.all_values())
}

fn value(values: &Bytes, record_bytes: usize, index: u64) -> Bytes {
    let start = index as usize * record_bytes;
    values.slice(start..start + record_bytes)
}

impl KafkoSystem {
    /// Opens kafko on `dir` with `config` as every topic's log config, and
    /// creates the topic.
    pub(in crate::workloads) fn open(
        dir: &Path,
        partitions: u32,
        config: LogConfig,
        runtime: KafkoRuntime,
    ) -> Result<KafkoSystem, BenchError> {
        let runtime = runtime.build().context(|| format!("building a tokio {} runtime", runtime.name()))?;
        let broker = runtime.block_on(async {
            let broker =
                Kafko::open_with_config(dir, config).await.context(|| format!("opening kafko in {}", dir.display()))?;
            broker
                .create_topic_with_config_and_partitions(TOPIC, config, partitions)
                .await
                .context(|| format!("creating kafko topic {TOPIC} with {partitions} partitions"))?;
            Ok::<_, BenchError>(broker)
        })?;
        Ok(KafkoSystem { broker: Some(broker), runtime, partitions })
    }

    fn broker(&self) -> &Kafko {
        self.broker.as_ref().expect("the broker is open until shutdown")
    }

    pub(in crate::workloads) fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// A producer for the topic.
    pub(in crate::workloads) fn producer(&self) -> Result<kafko::Producer, BenchError> {
        self.runtime.block_on(self.broker().producer_for(TOPIC)).context(|| "creating a kafko producer")
    }

    /// A consumer reading the topic's partitions merged, from offset 0.
    pub(in crate::workloads) fn consumer(&self) -> Result<kafko::Consumer, BenchError> {
        let mut consumer =
            self.runtime.block_on(self.broker().consumer_for(TOPIC)).context(|| "creating a kafko consumer")?;
        consumer.seek_all(0);
        Ok(consumer)
    }

    /// Sends every record with `send_batch`, `batch_records` records per
    /// call (keyless: kafko routes each round-robin and appends each
    /// partition's share as one write); times the calls.
    pub(in crate::workloads) fn send_batches(
        &self,
        values: &Bytes,
        pool: &ValuePool,
        batch_records: u32,
    ) -> Result<Duration, BenchError> {
        let producer = self.producer()?;
        let record_bytes = pool.record_bytes();
        let elapsed = self.runtime.block_on(async {
            let started = Instant::now();
            for range in pool.batches(batch_records) {
                let first = range.start;
                let items: Vec<(Option<Bytes>, Bytes)> =
                    range.map(|index| (None, value(values, record_bytes, index))).collect();
                producer.send_batch(items).await.context(|| format!("kafko send_batch from record {first}"))?;
            }
            Ok::<_, BenchError>(started.elapsed())
        })?;
        self.check_holds(pool.records())?;
        Ok(elapsed)
    }

    /// Sends every record with `send(None, value).await`, one at a time;
    /// times the sends.
    pub(in crate::workloads) fn send_each(&self, values: &Bytes, pool: &ValuePool) -> Result<Duration, BenchError> {
        let producer = self.producer()?;
        let record_bytes = pool.record_bytes();
        let elapsed = self.runtime.block_on(async {
            let started = Instant::now();
            for index in 0..pool.records() {
                producer
                    .send(None, value(values, record_bytes, index))
                    .await
                    .context(|| format!("kafko send of record {index}"))?;
            }
            Ok::<_, BenchError>(started.elapsed())
        })?;
        self.check_holds(pool.records())?;
        Ok(elapsed)
    }

    fn check_holds(&self, records: u64) -> Result<(), BenchError> {
        let topic = self
            .runtime
            .block_on(self.broker().topic(TOPIC))
            .ok_or_else(|| BenchError::new(format!("kafko lost topic {TOPIC}")))?;
        let ends: Vec<u64> = topic.partitions().iter().map(|partition| partition.high_water_mark()).collect();
        let total: u64 = ends.iter().sum();
        if total != records {
            return Err(BenchError::new(format!("kafko partitions hold {ends:?} records, expected {records}")));
        }
        Ok(())
    }

    /// Reads `records` records back through one consumer with
    /// `next_with_position().await`, visiting every record and summing value
    /// lengths; offsets are checked to run 0, 1, 2, ... in every partition.
    /// Times the reads.
    pub(in crate::workloads) fn read_all(&self, records: u64) -> Result<ReadTotals, BenchError> {
        let mut consumer = self.consumer()?;
        let partitions = self.partitions as usize;
        self.runtime.block_on(async {
            let mut next_offsets = vec![0_u64; partitions];
            let mut value_bytes = 0_u64;
            let started = Instant::now();
            for seen in 0..records {
                let (position, record) = consumer
                    .next_with_position()
                    .await
                    .context(|| format!("kafko next_with_position after {seen} records"))?;
                let next = &mut next_offsets[position.partition() as usize];
                if position.offset() != *next {
                    return Err(BenchError::new(format!(
                        "kafko partition {} returned offset {} where {next} was next",
                        position.partition(),
                        position.offset()
                    )));
                }
                *next += 1;
                value_bytes += record.value().len() as u64;
            }
            Ok(ReadTotals { records, value_bytes, elapsed: started.elapsed() })
        })
    }

    /// Shuts kafko down (its writer tasks fsync on the way out; not timed).
    pub(in crate::workloads) fn shutdown(mut self) -> Result<(), BenchError> {
        let broker = self.broker.take().expect("the broker is open until shutdown");
        self.runtime.block_on(broker.shutdown()).context(|| "shutting kafko down")
    }
}

impl Drop for KafkoSystem {
    fn drop(&mut self) {
        if let Some(broker) = self.broker.take() {
            // An error path skipped `shutdown`: still stop the writer tasks
            // inside their runtime.
            let _ = self.runtime.block_on(broker.shutdown());
        }
    }
}
