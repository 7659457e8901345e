//! The producer: partitioning, per-partition batching, acks and durability.
//!
//! Records go into an open batch per partition. A batch is sealed when it
//! reaches `batch.size`, when `linger.ms` passes, or when a synchronous
//! [`Producer::send`] or [`Producer::flush`] needs it; sealed batches queue
//! in order and are appended by whoever drains the queue — the producer's
//! sender thread, or a caller that must wait anyway. One drainer at a time
//! keeps each partition's batches in order; with `Durability::Fsync` a
//! drainer appends everything queued and then fsyncs each log once, so
//! concurrent durable sends share fsyncs.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ghyll_log::{BatchBuilder, BatchError, Header as LogHeader};
use ghyll_partition::{DefaultPartitioner, Header as PartitionHeader, PartitionContext, Partitioner};
use parking_lot::{Condvar, Mutex};

use crate::broker::{now_ms, Broker};
use crate::error::BrokerError;
use crate::partition::{Partition, Topic};

/// When a send counts as done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Acks {
    /// Kafka's `acks=0`: `send` returns once the record is queued; its
    /// offset is not reported.
    None,
    /// Kafka's `acks=1`: after the leader appended it.
    #[default]
    Leader,
    /// Kafka's `acks=all`: after every in-sync replica has it (the high
    /// watermark passed it) while the ISR has at least the topic's
    /// `min.insync.replicas`; otherwise the send fails with
    /// [`BrokerError::NotEnoughReplicas`]. The same as `Leader` with
    /// replication factor 1.
    All,
}

/// Whether an acknowledged send is fsynced first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Durability {
    /// Acknowledged once in the kernel: survives a process crash, not a
    /// power cut (Kafka's default, which leans on replication instead).
    #[default]
    Buffered,
    /// Acknowledged after fsync; concurrent sends share fsyncs.
    Fsync,
}

/// Producer settings, with Kafka's names in the docs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProducerConfig {
    /// `acks`.
    pub acks: Acks,
    /// fsync before acknowledging.
    pub durability: Durability,
    /// `batch.size`: a partition's open batch is sealed at this many bytes.
    pub batch_size: usize,
    /// `linger.ms`: how long an open batch may wait for more records.
    /// Default 5 ms, Kafka 4.0's default (earlier Kafka used 0): without it
    /// the sender takes each record as soon as it arrives and batches stay
    /// tiny.
    pub linger: Duration,
    /// `buffer.memory`: bytes of queued records past which `send_async`
    /// appends in the caller's thread instead of queueing more.
    pub buffer_memory: usize,
    /// Chooses the partition of records sent without one. `send` and
    /// `send_async` call it under the producer's lock, so keep it quick;
    /// a send, flush or close from inside it is refused with
    /// [`BrokerError::InvalidState`] (and dropping the last clone of the
    /// producer there would deadlock).
    pub partitioner: Arc<dyn Partitioner>,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            acks: Acks::Leader,
            durability: Durability::Buffered,
            batch_size: 16_384,
            linger: Duration::from_millis(5),
            buffer_memory: 32 * 1024 * 1024,
            partitioner: Arc::new(DefaultPartitioner::new()),
        }
    }
}

impl ProducerConfig {
    /// Sets the partitioner.
    pub fn with_partitioner(mut self, partitioner: impl Partitioner + 'static) -> Self {
        self.partitioner = Arc::new(partitioner);
        self
    }

    fn validate(&self) -> Result<(), BrokerError> {
        let invalid = |name: &str, value: String, reason: &str| {
            Err(BrokerError::InvalidConfig { name: name.into(), value, reason: reason.into() })
        };
        if self.batch_size == 0 || self.batch_size > i32::MAX as usize {
            return invalid("batch.size", self.batch_size.to_string(), "must be 1..=2147483647");
        }
        if self.buffer_memory < self.batch_size {
            return invalid("buffer.memory", self.buffer_memory.to_string(), "must be at least batch.size");
        }
        Ok(())
    }
}

/// A record to send. Borrowed: nothing is copied until it is encoded into
/// its batch.
///
/// # Examples
/// ```
/// use ghyll_broker::ProducerRecord;
/// let record = ProducerRecord::new("orders", b"{\"total\": 42}").key(b"customer-7").header("trace", b"abc");
/// assert_eq!(record.topic(), "orders");
/// ```
#[derive(Debug, Clone)]
pub struct ProducerRecord<'a> {
    topic: &'a str,
    partition: Option<u32>,
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
    headers: Vec<LogHeader<'a>>,
    timestamp_ms: Option<i64>,
}

impl<'a> ProducerRecord<'a> {
    /// A record with a value and no key.
    pub fn new(topic: &'a str, value: &'a [u8]) -> Self {
        ProducerRecord {
            topic,
            partition: None,
            key: None,
            value: Some(value),
            headers: Vec::new(),
            timestamp_ms: None,
        }
    }

    /// A record with a null value: a tombstone for a compacted topic.
    pub fn tombstone(topic: &'a str, key: &'a [u8]) -> Self {
        ProducerRecord { topic, partition: None, key: Some(key), value: None, headers: Vec::new(), timestamp_ms: None }
    }

    /// Sets the key (the default partitioner hashes it, as Kafka does).
    pub fn key(mut self, key: &'a [u8]) -> Self {
        self.key = Some(key);
        self
    }

    /// Sends to this partition, bypassing the partitioner.
    pub fn partition(mut self, partition: u32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Adds a header.
    pub fn header(mut self, key: &'a str, value: &'a [u8]) -> Self {
        self.headers.push(LogHeader { key, value: Some(value) });
        self
    }

    /// Adds a header with a null value.
    pub fn null_header(mut self, key: &'a str) -> Self {
        self.headers.push(LogHeader { key, value: None });
        self
    }

    /// Sets the timestamp in milliseconds (default: now).
    pub fn timestamp(mut self, timestamp_ms: i64) -> Self {
        self.timestamp_ms = Some(timestamp_ms);
        self
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        self.topic
    }
}

/// Where a record went.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordMetadata {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: u32,
    /// The record's offset; `None` with [`Acks::None`].
    pub offset: Option<u64>,
    /// The record's timestamp.
    pub timestamp_ms: i64,
}

/// The outcome of one batch, shared by the handles of its records.
#[derive(Debug)]
pub(crate) struct Completion {
    /// The batch's topic and partition, for its handles' metadata.
    topic: Arc<str>,
    partition: u32,
    result: Mutex<Option<Result<u64, Arc<BrokerError>>>>,
    done: Condvar,
}

impl Completion {
    fn new(topic: Arc<str>, partition: u32) -> Completion {
        Completion { topic, partition, result: Mutex::new(None), done: Condvar::new() }
    }

    pub(crate) fn complete(&self, result: Result<u64, Arc<BrokerError>>) {
        *self.result.lock() = Some(result);
        self.done.notify_all();
    }

    fn is_done(&self) -> bool {
        self.result.lock().is_some()
    }

    fn wait(&self) -> Result<u64, Arc<BrokerError>> {
        let mut result = self.result.lock();
        loop {
            if let Some(result) = result.as_ref() {
                return result.clone();
            }
            self.done.wait(&mut result);
        }
    }
}

/// A pending send: wait for its metadata, or drop it (the record is still
/// sent).
#[derive(Debug)]
pub struct SendHandle {
    completion: Arc<Completion>,
    record_index: u32,
    timestamp_ms: i64,
    acks: Acks,
}

impl SendHandle {
    /// Blocks until the record's batch is appended (and fsynced, with
    /// [`Durability::Fsync`]).
    ///
    /// # Errors
    /// [`BrokerError::SendFailed`] with the batch's error.
    pub fn wait(self) -> Result<RecordMetadata, BrokerError> {
        let result = self.completion.wait();
        self.into_metadata(result)
    }

    /// Whether the batch has been appended (or failed).
    pub fn is_done(&self) -> bool {
        self.completion.result.lock().is_some()
    }

    fn into_metadata(self, result: Result<u64, Arc<BrokerError>>) -> Result<RecordMetadata, BrokerError> {
        let Completion { topic, partition, .. } = &*self.completion;
        match result {
            Ok(first_offset) => Ok(RecordMetadata {
                topic: topic.to_string(),
                partition: *partition,
                offset: (self.acks != Acks::None).then_some(first_offset + u64::from(self.record_index)),
                timestamp_ms: self.timestamp_ms,
            }),
            Err(source) => Err(BrokerError::SendFailed { topic: topic.to_string(), partition: *partition, source }),
        }
    }
}

/// Where one record of a [`Producer::send_batch`] call went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct RecordPosition {
    /// The partition.
    pub partition: u32,
    /// The record's offset; `None` with [`Acks::None`].
    pub offset: Option<u64>,
}

/// The records one [`Producer::send_batch`] call queued: wait for their
/// positions, or drop it (the records are still sent).
#[derive(Debug)]
pub struct BatchSendHandle {
    /// The producer, so a waiting caller appends its batches itself
    /// rather than wait for the sender thread to wake.
    shared: Option<Arc<Shared>>,
    /// The batches the call queued.
    parts: Vec<Arc<Completion>>,
    /// For each record, in the order given, the index of its part.
    records: Vec<usize>,
    acks: Acks,
}

impl BatchSendHandle {
    /// Records the call queued.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the call queued no record.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Whether every batch of the call has been appended (or failed).
    pub fn is_done(&self) -> bool {
        self.parts.iter().all(|part| part.is_done())
    }

    /// Blocks until every batch of the call is appended (per `acks` and
    /// `durability`, as [`SendHandle::wait`]) and returns each record's
    /// partition and offset, in the order the records were given.
    ///
    /// # Errors
    /// [`BrokerError::SendFailed`] with the first failed batch's error,
    /// once every batch has finished.
    pub fn wait(self) -> Result<Vec<RecordPosition>, BrokerError> {
        if let Some(shared) = &self.shared {
            if !self.is_done() {
                drain(shared);
            }
        }
        // Every batch finishes before the first error is reported.
        let results: Vec<Result<u64, Arc<BrokerError>>> = self.parts.iter().map(|part| part.wait()).collect();
        // Each part's next offset: its records are consecutive in its
        // batch, in the order given.
        let mut next = Vec::with_capacity(results.len());
        for (part, result) in self.parts.iter().zip(results) {
            next.push(result.map_err(|source| BrokerError::SendFailed {
                topic: part.topic.to_string(),
                partition: part.partition,
                source,
            })?);
        }
        let with_offsets = self.acks != Acks::None;
        Ok(self
            .records
            .iter()
            .map(|&part| {
                let offset = next[part];
                next[part] += 1;
                RecordPosition { partition: self.parts[part].partition, offset: with_offsets.then_some(offset) }
            })
            .collect())
    }
}

/// A batch being filled or waiting to be appended.
struct PendingBatch {
    partition: Arc<Partition>,
    builder: BatchBuilder,
    completion: Arc<Completion>,
    created: Instant,
}

impl PendingBatch {
    fn new(topic: &Topic, partition_id: u32, partition: &Arc<Partition>) -> PendingBatch {
        PendingBatch {
            partition: Arc::clone(partition),
            builder: BatchBuilder::with_bytes_max(topic.config.log_config().max_message_bytes as usize),
            completion: Arc::new(Completion::new(Arc::clone(&topic.name), partition_id)),
            created: Instant::now(),
        }
    }

    /// The batch's partition, as the key of the producer's open batches.
    fn key(&self) -> PartitionKey {
        partition_key(&self.partition)
    }
}

/// An open batch's partition, by the address of its `Partition`: unique per
/// partition (and per incarnation of a recreated topic), and cheap to hash.
type PartitionKey = usize;

fn partition_key(partition: &Arc<Partition>) -> PartitionKey {
    Arc::as_ptr(partition) as usize
}

/// Hashes a `PartitionKey` (an address) with one multiply, and a topic
/// name with FNV-1a: both cheaper than SipHash, and neither key is chosen
/// by an adversary.
#[derive(Default)]
struct AddressHasher(u64);

impl std::hash::Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3);
        }
    }

    fn write_usize(&mut self, address: usize) {
        // Allocations are aligned: drop the always-zero low bits, then
        // spread the rest (Fibonacci hashing).
        self.0 = ((address as u64) >> 4).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type AddressMap<V> = HashMap<PartitionKey, V, std::hash::BuildHasherDefault<AddressHasher>>;

thread_local! {
    /// Set while this thread runs a producer's partitioner.
    static IN_PARTITIONER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Clears [`IN_PARTITIONER`] when the partitioner returns or panics.
struct ResetInPartitioner;

impl Drop for ResetInPartitioner {
    fn drop(&mut self) {
        IN_PARTITIONER.set(false);
    }
}

/// A partitioner runs under its producer's lock: a send from inside one
/// would deadlock, so it is refused.
fn check_not_in_partitioner() -> Result<(), BrokerError> {
    if IN_PARTITIONER.get() {
        return Err(BrokerError::InvalidState { reason: "a partitioner may not send records" });
    }
    Ok(())
}

/// A topic's partitions, as `Topic::partitions` hands them out: replaced
/// whole when partitions are added.
type PartitionList = Arc<Vec<Arc<Partition>>>;

/// Topics a producer's cache holds at most; past it the cache starts over.
const TOPIC_CACHE_MAX: usize = 1024;

/// A topic and its partitions as the broker last described them.
struct CachedTopic {
    topic: Arc<Topic>,
    partitions: PartitionList,
}

/// The topics a producer sends to, looked up under the producer's lock
/// without the broker's locks or any reference count: a send's topic
/// lookup is a hash of its name. The whole cache is dropped when the
/// broker's metadata version moves (a topic created, deleted or given more
/// partitions).
#[derive(Default)]
struct TopicCache {
    version: u64,
    topics: HashMap<Box<str>, CachedTopic, std::hash::BuildHasherDefault<AddressHasher>>,
}

impl TopicCache {
    /// Empties the cache if the broker's metadata moved past `version`.
    fn forget_if_stale(&mut self, version: u64) {
        if version != self.version {
            self.topics.clear();
            self.version = version;
        }
    }

    /// `name`'s topic, from the cache when `version` (read before this
    /// call) is the version the cache was filled under.
    fn get(&mut self, broker: &Broker, version: u64, name: &str) -> Result<&CachedTopic, BrokerError> {
        self.forget_if_stale(version);
        if !self.topics.contains_key(name) {
            let topic = broker.topic(name)?;
            let partitions = topic.partitions();
            if self.topics.len() >= TOPIC_CACHE_MAX {
                self.topics.clear();
            }
            self.topics.insert(name.into(), CachedTopic { topic, partitions });
        }
        Ok(&self.topics[name])
    }
}

#[derive(Default)]
struct Accumulator {
    topics: TopicCache,
    open: AddressMap<PendingBatch>,
    sealed: VecDeque<PendingBatch>,
    queued_bytes: usize,
    closed: bool,
}

impl Accumulator {
    fn seal(&mut self, key: &PartitionKey) {
        seal(&mut self.open, &mut self.sealed, key);
    }

    /// Seals every open batch that has waited `linger`; returns the time
    /// until the next one would.
    fn seal_lingered(&mut self, linger: Duration, now: Instant) -> Option<Duration> {
        let mut next: Option<Duration> = None;
        let mut expired = Vec::new();
        for (key, batch) in &self.open {
            let waited = now.saturating_duration_since(batch.created);
            if waited >= linger {
                expired.push(*key);
            } else {
                let left = linger - waited;
                next = Some(next.map_or(left, |next| next.min(left)));
            }
        }
        for key in expired {
            self.seal(&key);
        }
        next
    }
}

struct Shared {
    broker: Broker,
    config: ProducerConfig,
    accumulator: Mutex<Accumulator>,
    /// Wakes the sender thread.
    sender_wake: Condvar,
    /// Held while appending sealed batches, so each partition's batches
    /// are appended in the order they were sealed.
    drain: Mutex<()>,
    closed: AtomicBool,
    sender: Mutex<Option<JoinHandle<()>>>,
    /// `acks=all` batches appended to a replicated partition and not yet
    /// acknowledged: `flush` waits for them.
    awaiting: Mutex<Vec<Arc<Completion>>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer").field("config", &self.config).finish_non_exhaustive()
    }
}

/// Sends records to a broker's topics. Cheap to clone and `Send + Sync`:
/// share one producer between threads, as with Kafka's.
///
/// # Examples
/// ```
/// use ghyll_broker::{Broker, NewTopic, ProducerRecord};
/// let dir = tempfile::tempdir()?;
/// let broker = Broker::open(dir.path())?;
/// broker.create_topic(NewTopic::new("events", 3))?;
/// let producer = broker.producer(Default::default())?;
/// let sent = producer.send(ProducerRecord::new("events", b"hello").key(b"user-1"))?;
/// assert_eq!(sent.offset, Some(0));
/// producer.close()?;
/// # broker.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Producer {
    shared: Arc<Shared>,
    /// The last clone dropped closes the producer.
    _closer: Arc<Closer>,
}

#[derive(Debug)]
struct Closer(Arc<Shared>);

impl Drop for Closer {
    fn drop(&mut self) {
        if let Err(error) = close_shared(&self.0) {
            tracing::error!(%error, "closing a dropped producer failed");
        }
    }
}

impl Broker {
    /// A producer for this broker, with its own sender thread.
    ///
    /// # Errors
    /// [`BrokerError::InvalidConfig`], [`BrokerError::Closed`].
    pub fn producer(&self, config: ProducerConfig) -> Result<Producer, BrokerError> {
        self.check_open()?;
        config.validate()?;
        let shared = Arc::new(Shared {
            broker: self.clone(),
            config,
            accumulator: Mutex::new(Accumulator::default()),
            sender_wake: Condvar::new(),
            drain: Mutex::new(()),
            closed: AtomicBool::new(false),
            sender: Mutex::new(None),
            awaiting: Mutex::new(Vec::new()),
        });
        let weak = Arc::downgrade(&shared);
        let handle = std::thread::Builder::new()
            .name("ghyll-producer-sender".into())
            .spawn(move || sender_loop(weak))
            .map_err(|error| BrokerError::io("spawn producer sender", "ghyll-producer-sender", error))?;
        *shared.sender.lock() = Some(handle);
        Ok(Producer { _closer: Arc::new(Closer(Arc::clone(&shared))), shared })
    }
}

fn sender_loop(shared: std::sync::Weak<Shared>) {
    loop {
        let Some(shared) = shared.upgrade() else { return };
        let linger = shared.config.linger;
        {
            let mut accumulator = shared.accumulator.lock();
            loop {
                // A topic deleted since the last send is not kept open by
                // the cache of an idle producer for longer than a wake.
                accumulator.topics.forget_if_stale(shared.broker.metadata_version());
                let next = accumulator.seal_lingered(linger, Instant::now());
                if !accumulator.sealed.is_empty() || accumulator.closed {
                    break;
                }
                match next {
                    Some(wait) => {
                        shared.sender_wake.wait_for(&mut accumulator, wait);
                    }
                    None => {
                        // Nothing open: sleep until a send wakes us; a
                        // periodic wake lets a dropped producer's thread end.
                        shared.sender_wake.wait_for(&mut accumulator, Duration::from_millis(100));
                        if Arc::strong_count(&shared) == 1 {
                            return;
                        }
                    }
                }
            }
            if accumulator.closed && accumulator.sealed.is_empty() && accumulator.open.is_empty() {
                return;
            }
        }
        drain(&shared);
    }
}

/// Appends every sealed batch, in order. Returns once the queue is empty.
fn drain(shared: &Shared) {
    let _drain = shared.drain.lock();
    loop {
        let batches: Vec<PendingBatch> = {
            let mut accumulator = shared.accumulator.lock();
            let batches: Vec<PendingBatch> = accumulator.sealed.drain(..).collect();
            let bytes: usize = batches.iter().map(|batch| batch.builder.size_bytes()).sum();
            accumulator.queued_bytes = accumulator.queued_bytes.saturating_sub(bytes);
            batches
        };
        if batches.is_empty() {
            return;
        }
        append_batches(shared, batches);
    }
}

fn append_batches(shared: &Shared, batches: Vec<PendingBatch>) {
    let fsync = shared.config.durability == Durability::Fsync && shared.config.acks != Acks::None;
    let mut appended: Vec<(Arc<Partition>, Arc<Completion>, u64)> = Vec::with_capacity(batches.len());
    for PendingBatch { partition, builder, completion, .. } in batches {
        if partition.replication.is_some() {
            append_replicated(shared, &partition, builder, &completion, fsync);
            continue;
        }
        let result = builder.build().map_err(|source| invalid_record(&partition.topic, &source)).and_then(|batch| {
            partition.check_live()?;
            partition
                .log()
                .append_built(&batch)
                .map_err(|error| BrokerError::log(&partition.topic, partition.id, error))
        });
        match result {
            Ok(info) => {
                partition.notify();
                appended.push((partition, completion, info.first_offset));
            }
            Err(error) => completion.complete(Err(Arc::new(error))),
        }
    }
    // With Durability::Fsync, one fsync per log covers every batch above.
    let mut flushed: Vec<(*const Partition, Result<(), Arc<BrokerError>>)> = Vec::new();
    for (partition, completion, first_offset) in appended {
        let mut result = Ok(first_offset);
        if fsync {
            let key = Arc::as_ptr(&partition);
            let flush = match flushed.iter().find(|(done, _)| *done == key) {
                Some((_, result)) => result.clone(),
                None => {
                    let result = partition
                        .log()
                        .flush()
                        .map_err(|error| Arc::new(BrokerError::log(&partition.topic, partition.id, error)));
                    flushed.push((key, result.clone()));
                    result
                }
            };
            result = flush.map(|()| first_offset);
        }
        completion.complete(result);
    }
}

/// Appends a batch to a replicated partition's leader. `acks` none or
/// leader complete now; `acks=all` completes when the high watermark
/// passes the batch (the replication module completes it).
fn append_replicated(
    shared: &Shared,
    partition: &Arc<Partition>,
    builder: BatchBuilder,
    completion: &Arc<Completion>,
    fsync: bool,
) {
    let record_count = builder.record_count();
    let result = builder.finish().map_err(|source| invalid_record(&partition.topic, &source)).and_then(|bytes| {
        partition.check_live()?;
        crate::replication::propose(partition, &bytes, record_count, shared.config.acks, fsync, completion)
    });
    match result {
        Ok(Some(first_offset)) => {
            partition.notify();
            completion.complete(Ok(first_offset));
        }
        Ok(None) => {
            partition.notify();
            let mut awaiting = shared.awaiting.lock();
            awaiting.retain(|pending| !pending.is_done());
            awaiting.push(Arc::clone(completion));
        }
        Err(error) => completion.complete(Err(Arc::new(error))),
    }
}

impl Producer {
    /// The producer's configuration.
    pub fn config(&self) -> &ProducerConfig {
        &self.shared.config
    }

    fn check_open(&self) -> Result<(), BrokerError> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(BrokerError::Closed { what: "producer" });
        }
        self.shared.broker.check_open()
    }

    /// Sends a record and waits for it to be appended (per `acks` and
    /// `durability`), returning its partition and offset. Records queued
    /// earlier by `send_async` for the same partition are appended first,
    /// so order is kept.
    ///
    /// # Errors
    /// [`BrokerError::UnknownTopic`], [`BrokerError::PartitionOutOfRange`]
    /// (from the record or the partitioner), [`BrokerError::RecordTooLarge`],
    /// [`BrokerError::SendFailed`] when the append fails,
    /// [`BrokerError::Closed`].
    pub fn send(&self, record: ProducerRecord<'_>) -> Result<RecordMetadata, BrokerError> {
        let handle = self.enqueue(record, true)?;
        if self.shared.config.acks == Acks::None {
            self.shared.sender_wake.notify_one();
            return handle.into_metadata(Ok(0));
        }
        drain(&self.shared);
        handle.wait()
    }

    /// Queues a record into its partition's open batch and returns a handle
    /// to wait on. The batch is appended when it fills `batch.size`, when
    /// `linger.ms` passes, or on [`Producer::flush`].
    ///
    /// # Errors
    /// As [`Producer::send`], for what can be known before the append.
    pub fn send_async(&self, record: ProducerRecord<'_>) -> Result<SendHandle, BrokerError> {
        self.enqueue(record, false)
    }

    /// Appends every queued record and waits for them (with `acks=all` on
    /// a replicated topic, until the high watermark passes them or they
    /// fail).
    ///
    /// # Errors
    /// [`BrokerError::Closed`]; [`BrokerError::InvalidState`] from inside the
    /// producer's partitioner.
    pub fn flush(&self) -> Result<(), BrokerError> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(BrokerError::Closed { what: "producer" });
        }
        check_not_in_partitioner()?;
        // Drain even when the broker is closed: the appends then fail, and
        // every pending handle learns so instead of waiting.
        {
            let mut accumulator = self.shared.accumulator.lock();
            let keys: Vec<PartitionKey> = accumulator.open.keys().copied().collect();
            for key in keys {
                accumulator.seal(&key);
            }
        }
        drain(&self.shared);
        // acks=all on a replicated partition: appended is not yet done.
        let awaiting = std::mem::take(&mut *self.shared.awaiting.lock());
        for completion in awaiting {
            // A failed batch's error belongs to its handles; flush only
            // waits, as Kafka's does.
            let _ = completion.wait();
        }
        self.shared.broker.check_open()
    }

    /// Flushes, stops the sender thread and refuses later sends. Dropping
    /// the last clone of a producer does the same.
    ///
    /// # Errors
    /// [`BrokerError::InvalidState`] from inside the producer's
    /// partitioner; nothing else today (the `Result` leaves room for
    /// transports that can fail).
    pub fn close(&self) -> Result<(), BrokerError> {
        check_not_in_partitioner()?;
        close_shared(&self.shared)
    }

    fn enqueue(&self, record: ProducerRecord<'_>, seal: bool) -> Result<SendHandle, BrokerError> {
        self.check_open()?;
        check_not_in_partitioner()?;
        let shared = &self.shared;
        let timestamp_ms = record.timestamp_ms.unwrap_or_else(now_ms);
        // Read before the lookups it vouches for.
        let version = shared.broker.metadata_version();
        let mut guard = shared.accumulator.lock();
        let accumulator = &mut *guard;
        if accumulator.closed {
            return Err(BrokerError::Closed { what: "producer" });
        }
        let CachedTopic { topic, partitions } = accumulator.topics.get(&shared.broker, version, record.topic)?;
        // The partitioner runs under the producer's lock (see
        // `ProducerConfig::partitioner`).
        let (partition_id, partition) = self.choose_partition(&record, partitions)?;
        let max_message_bytes = topic.config.log_config().max_message_bytes;
        let key = partition_key(partition);
        if !accumulator.open.contains_key(&key) {
            // Batches still open for a deleted partition (a topic deleted,
            // perhaps created again) are sealed now, so their sends fail
            // promptly instead of waiting out linger.ms.
            seal_deleted(&mut accumulator.open, &mut accumulator.sealed);
            accumulator.open.insert(key, PendingBatch::new(topic, partition_id, partition));
        }
        let batch = accumulator.open.get_mut(&key).expect("the partition's open batch was inserted above");
        // Queued bytes count whole batches, header included, as `drain`
        // subtracts them.
        let mut before = if batch.builder.is_empty() { 0 } else { batch.builder.size_bytes() };
        let pushed = match batch.builder.push(timestamp_ms, record.key, record.value, &record.headers) {
            Err(BatchError::TooLarge { .. }) if !batch.builder.is_empty() => {
                // The open batch is full for this record: seal it, start
                // another.
                let full = std::mem::replace(batch, PendingBatch::new(topic, partition_id, partition));
                accumulator.sealed.push_back(full);
                before = 0;
                batch.builder.push(timestamp_ms, record.key, record.value, &record.headers)
            }
            pushed => pushed,
        };
        if let Err(error) = pushed {
            if batch.builder.is_empty() {
                accumulator.open.remove(&key);
            }
            return Err(too_large(record.topic, &error, max_message_bytes));
        }
        accumulator.queued_bytes += batch.builder.size_bytes() - before;
        let handle = SendHandle {
            completion: Arc::clone(&batch.completion),
            record_index: batch.builder.record_count() - 1,
            timestamp_ms,
            acks: shared.config.acks,
        };
        let full = batch.builder.size_bytes() >= shared.config.batch_size;
        let first = batch.builder.record_count() == 1;
        if seal || full {
            accumulator.seal(&key);
        }
        let over_budget = accumulator.queued_bytes > shared.config.buffer_memory;
        drop(guard);
        if over_budget {
            // Back-pressure: append in this thread rather than queue more.
            drain(shared);
        } else if !seal && (full || first) {
            // A sealing caller (a synchronous send) drains the queue itself;
            // waking the sender too would only make them race.
            shared.sender_wake.notify_one();
        }
        Ok(handle)
    }

    /// The record's partition: its own, else the partitioner's choice,
    /// checked against the topic's partitions.
    fn choose_partition<'p>(
        &self,
        record: &ProducerRecord<'_>,
        partitions: &'p [Arc<Partition>],
    ) -> Result<(u32, &'p Arc<Partition>), BrokerError> {
        let count = partitions.len() as u32;
        let partition_id = match record.partition {
            Some(partition) => partition,
            None => {
                let headers: Vec<PartitionHeader<'_>> =
                    record.headers.iter().map(|h| PartitionHeader { key: h.key, value: h.value }).collect();
                let ctx = PartitionContext::new(record.topic, record.key, record.value, &headers, count);
                IN_PARTITIONER.set(true);
                let _reset = ResetInPartitioner;
                self.shared.config.partitioner.partition(&ctx)
            }
        };
        match partitions.get(partition_id as usize) {
            Some(partition) => Ok((partition_id, partition)),
            None => Err(BrokerError::PartitionOutOfRange {
                topic: record.topic.to_string(),
                partition: partition_id,
                partitions: count,
            }),
        }
    }

    /// Sends many records in one call, the throughput path for a caller
    /// that has them at hand: the topic is looked up once per run of
    /// records to the same topic, the clock is read once (records without
    /// a timestamp get the call's), and the producer's queue is locked
    /// once. Each partition's share of the call is encoded into batches of
    /// its own (up to `batch.size`), queued after anything queued earlier
    /// for that partition, so per-partition order is kept; the records of
    /// one partition are appended together when they fit one batch.
    ///
    /// All or nothing: if any record is refused (an unknown topic, a
    /// partition out of range, a record too large), none of the call's
    /// records is queued. Returns a handle to wait on; the sender thread
    /// appends meanwhile, so a caller can encode its next call while the
    /// last one is written.
    ///
    /// # Errors
    /// As [`Producer::send_async`], for the first record refused.
    ///
    /// # Examples
    /// ```
    /// use ghyll_broker::{Broker, NewTopic, ProducerRecord};
    /// let dir = tempfile::tempdir()?;
    /// let broker = Broker::open(dir.path())?;
    /// broker.create_topic(NewTopic::new("metrics", 2))?;
    /// let producer = broker.producer(Default::default())?;
    /// let lines = ["cpu 0.5", "mem 0.7", "disk 0.1"];
    /// let sent = producer.send_batch(lines.iter().map(|line| ProducerRecord::new("metrics", line.as_bytes())))?;
    /// let positions = sent.wait()?;
    /// assert_eq!(positions.len(), 3);
    /// assert_eq!(positions[0].offset, Some(0));
    /// # broker.close()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_batch<'a, I>(&self, records: I) -> Result<BatchSendHandle, BrokerError>
    where
        I: IntoIterator<Item = ProducerRecord<'a>>,
    {
        self.check_open()?;
        check_not_in_partitioner()?;
        let shared = &self.shared;
        let records = records.into_iter();
        let now = now_ms();
        let mut staged = Staged::new(shared.config.batch_size, records.size_hint().0);
        // The topic of the last record: a run of records to one topic looks
        // it up once.
        let mut current: Option<CachedTopic> = None;
        // The last record's topic: records built from one `&str` compare
        // by address, not by bytes.
        let mut last_topic: &str = "";
        for record in records {
            let same = std::ptr::eq(last_topic, record.topic);
            last_topic = record.topic;
            let CachedTopic { topic, partitions } = match current.take() {
                Some(entry) if same || *entry.topic.name == *record.topic => current.insert(entry),
                _ => {
                    let topic = shared.broker.topic(record.topic)?;
                    let partitions = topic.partitions();
                    current.insert(CachedTopic { topic, partitions })
                }
            };
            let (partition_id, partition) = self.choose_partition(&record, partitions)?;
            let timestamp_ms = record.timestamp_ms.unwrap_or(now);
            staged.push(topic, partitions, partition_id, partition, timestamp_ms, &record)?;
        }
        // The CRCs are computed here, in the caller's thread, so the sender
        // thread that appends them has only the writes to do.
        for part in &mut staged.parts {
            part.builder.seal().map_err(|source| invalid_record(&part.partition.topic, &source))?;
        }
        let acks = shared.config.acks;
        if staged.parts.is_empty() {
            return Ok(BatchSendHandle { shared: None, parts: Vec::new(), records: staged.records, acks });
        }
        let mut accumulator = shared.accumulator.lock();
        if accumulator.closed {
            return Err(BrokerError::Closed { what: "producer" });
        }
        // Whatever send_async left open for these partitions goes first.
        for part in &staged.parts {
            accumulator.seal(&part.key());
        }
        let mut parts = Vec::with_capacity(staged.parts.len());
        for batch in staged.parts {
            accumulator.queued_bytes += batch.builder.size_bytes();
            parts.push(Arc::clone(&batch.completion));
            accumulator.sealed.push_back(batch);
        }
        let over_budget = accumulator.queued_bytes > shared.config.buffer_memory;
        drop(accumulator);
        if over_budget {
            drain(shared);
        } else {
            shared.sender_wake.notify_one();
        }
        Ok(BatchSendHandle { shared: Some(Arc::clone(&self.shared)), parts, records: staged.records, acks })
    }
}

/// A [`Producer::send_batch`] call's records, encoded per partition before
/// any is queued.
struct Staged {
    /// The call's batches, in the order they were started.
    parts: Vec<PendingBatch>,
    /// Per topic of the call, by its partition list (held, so that its
    /// address is not reused while the call runs; adding partitions makes
    /// a new list), the part still being filled for each partition id, if
    /// any: a direct index per record instead of a hash lookup.
    open: Vec<(PartitionList, Vec<Option<usize>>)>,
    /// Index into `open` of the topic of the last record.
    current: usize,
    records: Vec<usize>,
    batch_size: usize,
}

impl Staged {
    fn new(batch_size: usize, records: usize) -> Staged {
        Staged { parts: Vec::new(), open: Vec::new(), current: 0, records: Vec::with_capacity(records), batch_size }
    }

    fn push(
        &mut self,
        topic: &Topic,
        partitions: &PartitionList,
        partition_id: u32,
        partition: &Arc<Partition>,
        timestamp_ms: i64,
        record: &ProducerRecord<'_>,
    ) -> Result<(), BrokerError> {
        if self.open.get(self.current).is_none_or(|(list, _)| !Arc::ptr_eq(list, partitions)) {
            self.current = match self.open.iter().position(|(list, _)| Arc::ptr_eq(list, partitions)) {
                Some(index) => index,
                None => {
                    self.open.push((Arc::clone(partitions), vec![None; partitions.len()]));
                    self.open.len() - 1
                }
            };
        }
        let slot = partition_id as usize;
        let max_message_bytes = topic.config.log_config().max_message_bytes;
        let index = match self.open[self.current].1[slot] {
            Some(index) => index,
            None => self.open_part(topic, partition_id, partition),
        };
        let builder = &mut self.parts[index].builder;
        let index = match builder.push(timestamp_ms, record.key, record.value, &record.headers) {
            Ok(()) => index,
            Err(BatchError::TooLarge { .. }) if !builder.is_empty() => {
                // This partition's part is full for the record: start another.
                let index = self.open_part(topic, partition_id, partition);
                self.parts[index]
                    .builder
                    .push(timestamp_ms, record.key, record.value, &record.headers)
                    .map_err(|error| too_large(record.topic, &error, max_message_bytes))?;
                index
            }
            Err(error) => return Err(too_large(record.topic, &error, max_message_bytes)),
        };
        self.records.push(index);
        if self.parts[index].builder.size_bytes() >= self.batch_size {
            self.open[self.current].1[slot] = None;
        }
        Ok(())
    }

    /// Starts a part for the partition; the caller has made `current` its
    /// topic's.
    fn open_part(&mut self, topic: &Topic, partition_id: u32, partition: &Arc<Partition>) -> usize {
        let mut batch = PendingBatch::new(topic, partition_id, partition);
        batch.builder.reserve(self.batch_size);
        self.parts.push(batch);
        let index = self.parts.len() - 1;
        self.open[self.current].1[partition_id as usize] = Some(index);
        index
    }
}

/// Moves the open batch of `key`, if any, to the end of the sealed queue.
/// Free of `Accumulator` so that `enqueue` can call it while it borrows
/// the accumulator's topic cache.
fn seal(open: &mut AddressMap<PendingBatch>, sealed: &mut VecDeque<PendingBatch>, key: &PartitionKey) {
    if let Some(batch) = open.remove(key) {
        sealed.push_back(batch);
    }
}

/// Seals every open batch of a deleted partition.
fn seal_deleted(open: &mut AddressMap<PendingBatch>, sealed: &mut VecDeque<PendingBatch>) {
    let deleted: Vec<PartitionKey> =
        open.iter().filter(|(_, batch)| batch.partition.is_deleted()).map(|(key, _)| *key).collect();
    for key in deleted {
        seal(open, sealed, &key);
    }
}

fn too_large(topic: &str, error: &BatchError, max_message_bytes: u32) -> BrokerError {
    match error {
        BatchError::TooLarge { bytes, .. } => {
            BrokerError::RecordTooLarge { topic: topic.to_string(), bytes: *bytes, max_message_bytes }
        }
        other => invalid_record(topic, other),
    }
}

fn invalid_record(topic: &str, error: &BatchError) -> BrokerError {
    BrokerError::InvalidRecord { topic: topic.to_string(), reason: error.to_string() }
}

fn close_shared(shared: &Arc<Shared>) -> Result<(), BrokerError> {
    if shared.closed.swap(true, Ordering::AcqRel) {
        return Ok(());
    }
    {
        let mut accumulator = shared.accumulator.lock();
        let keys: Vec<PartitionKey> = accumulator.open.keys().copied().collect();
        for key in keys {
            accumulator.seal(&key);
        }
        accumulator.closed = true;
    }
    drain(shared);
    shared.sender_wake.notify_all();
    if let Some(handle) = shared.sender.lock().take() {
        if handle.thread().id() != std::thread::current().id() {
            let _ = handle.join();
        }
    }
    Ok(())
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Producer>();
    assert_send_sync::<SendHandle>();
};
