//! The consumer: manually assigned partitions, positions, and a blocking
//! `poll` that hands out records straight from the bytes read from the
//! segment, without copying keys or values.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ghyll_log::{Batches, Headers, LogError, ReadBatches, Record, Records};
use parking_lot::Mutex;

use ghyll_group::{Assignor, RangeAssignor};

use crate::broker::Broker;
use crate::error::BrokerError;
use crate::partition::{Partition, WakeSlot};
use crate::producer::Durability;

mod membership;

pub use membership::RebalanceListener;

pub use ghyll_group::TopicPartition;

/// Kafka's `auto.offset.reset`: where to start without a position, or
/// when the position fell out of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum OffsetReset {
    /// The log start.
    Earliest,
    /// The log end: only records produced from now on (Kafka's default).
    #[default]
    Latest,
    /// Fail with [`BrokerError::NoOffsetForPartition`] or
    /// [`BrokerError::OffsetOutOfRange`].
    None,
}

/// Consumer settings, with Kafka's names in the docs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConsumerConfig {
    /// `auto.offset.reset`.
    pub auto_offset_reset: OffsetReset,
    /// `max.poll.records`: most records one `poll` returns.
    pub max_poll_records: usize,
    /// `max.partition.fetch.bytes`: bytes read from one partition at a time
    /// (a larger first batch is still returned whole).
    pub max_partition_fetch_bytes: u32,
    /// `group.id`: needed by [`Consumer::subscribe`] and by commits.
    pub group_id: Option<String>,
    /// `group.instance.id`: makes the member static, so a restarted
    /// consumer with the same id takes its partitions back without a
    /// rebalance (and closing does not leave the group).
    pub group_instance_id: Option<String>,
    /// `client.id`, shown by [`Broker::describe_group`].
    pub client_id: String,
    /// `enable.auto.commit`: commit the positions of records already
    /// returned, every `auto.commit.interval.ms`, before a rebalance
    /// revokes partitions, and on close. Default true.
    pub enable_auto_commit: bool,
    /// `auto.commit.interval.ms`. Default 5 s.
    pub auto_commit_interval: Duration,
    /// `session.timeout.ms`: a member that does not heartbeat for this long
    /// is removed and its partitions move. Default 45 s. The broker's group
    /// thread heartbeats for every consumer that exists, as Kafka's
    /// background heartbeat thread does, so this catches a crashed member
    /// (one whose thread panicked), while time spent between polls is
    /// bounded by `max_poll_interval`.
    pub session_timeout: Duration,
    /// `heartbeat.interval.ms`. Default 3 s.
    pub heartbeat_interval: Duration,
    /// `max.poll.interval.ms`: a member that does not call `poll` for this
    /// long is removed. Default 5 minutes.
    pub max_poll_interval: Duration,
    /// `partition.assignment.strategy`: `range` (the default),
    /// `roundrobin`, `cooperative-sticky`, or a user's [`Assignor`].
    pub assignor: Arc<dyn Assignor>,
    /// Whether commits return after fsync ([`Durability::Fsync`], concurrent
    /// commits share fsyncs) or once in the kernel (the default, as a
    /// producer's records).
    pub commit_durability: Durability,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            auto_offset_reset: OffsetReset::Latest,
            max_poll_records: 500,
            max_partition_fetch_bytes: 1 << 20,
            group_id: None,
            group_instance_id: None,
            client_id: "ghyll-consumer".into(),
            enable_auto_commit: true,
            auto_commit_interval: Duration::from_secs(5),
            session_timeout: Duration::from_secs(45),
            heartbeat_interval: Duration::from_secs(3),
            max_poll_interval: Duration::from_secs(300),
            assignor: Arc::new(RangeAssignor),
            commit_durability: Durability::Buffered,
        }
    }
}

impl ConsumerConfig {
    /// Default settings in consumer group `group_id`.
    pub fn with_group(group_id: impl Into<String>) -> ConsumerConfig {
        ConsumerConfig { group_id: Some(group_id.into()), ..ConsumerConfig::default() }
    }
}

/// A record found by [`Consumer::offsets_for_times`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct OffsetAndTimestamp {
    /// Offset of the first record at or after the time.
    pub offset: u64,
    /// Its timestamp.
    pub timestamp_ms: i64,
}

/// Read buffers a consumer reuses, so a consumer that keeps up does not
/// allocate (and fault in) a fresh buffer per read.
type BufferPool = Arc<Mutex<Vec<Vec<u8>>>>;
/// Most buffers a pool keeps. A poll over P partitions has up to P reads
/// in hand plus the leftovers kept for the next poll, so a pool of 8 ran
/// dry at 8 partitions and every poll faulted in fresh buffers; the pool
/// only ever holds as many as were in use at once.
const POOL_BUFFERS_MAX: usize = 32;

/// A read whose buffer returns to its consumer's pool when the last
/// record borrowing it is gone.
#[derive(Debug)]
struct PooledRead {
    read: Option<ReadBatches>,
    pool: std::sync::Weak<Mutex<Vec<Vec<u8>>>>,
}

impl PooledRead {
    fn read(&self) -> &ReadBatches {
        self.read.as_ref().expect("present until dropped")
    }
}

impl Drop for PooledRead {
    fn drop(&mut self) {
        if let (Some(read), Some(pool)) = (self.read.take(), self.pool.upgrade()) {
            let mut pool = pool.lock();
            if pool.len() < POOL_BUFFERS_MAX {
                pool.push(read.into_buffer());
            }
        }
    }
}

/// Bytes read from one partition and not yet handed out.
#[derive(Debug)]
struct Assigned {
    tp: TopicPartition,
    partition: Arc<Partition>,
    position: Option<u64>,
    /// A read whose records from `position` on have not been returned yet.
    buffered: Option<Arc<PooledRead>>,
    /// The partition's leader generation when `buffered` was read: a read
    /// from an earlier leader may hold records above the high watermark
    /// that the new leader does not have.
    buffered_generation: u64,
}

/// Reads records from assigned partitions.
///
/// `Send`, not `Sync`: one consumer per thread, as with Kafka's. Group
/// subscription arrives with consumer groups; until then partitions are
/// assigned by hand.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use ghyll_broker::{Broker, ConsumerConfig, NewTopic, OffsetReset, ProducerRecord, TopicPartition};
/// let dir = tempfile::tempdir()?;
/// let broker = Broker::open(dir.path())?;
/// broker.create_topic(NewTopic::new("events", 1))?;
/// broker.producer(Default::default())?.send(ProducerRecord::new("events", b"hello"))?;
///
/// let mut config = ConsumerConfig::default();
/// config.auto_offset_reset = OffsetReset::Earliest;
/// let mut consumer = broker.consumer(config)?;
/// consumer.assign([TopicPartition::new("events", 0)])?;
/// let records = consumer.poll(Duration::from_secs(1))?;
/// for record in records.iter() {
///     assert_eq!(record?.value, Some(&b"hello"[..]));
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Consumer {
    broker: Broker,
    config: ConsumerConfig,
    assigned: Vec<Assigned>,
    wake: Arc<WakeSlot>,
    /// Where the next poll starts, so no partition starves the others.
    next_partition: usize,
    pool: BufferPool,
    /// Group membership, after [`Consumer::subscribe`].
    membership: Option<membership::Membership>,
    /// Set while a [`RebalanceListener`] runs.
    in_callback: bool,
    closed: bool,
}

impl Broker {
    /// A consumer with no partitions assigned.
    ///
    /// # Errors
    /// [`BrokerError::InvalidConfig`], [`BrokerError::Closed`].
    pub fn consumer(&self, config: ConsumerConfig) -> Result<Consumer, BrokerError> {
        self.check_open()?;
        if config.group_id.is_some() && config.heartbeat_interval >= config.session_timeout {
            return Err(BrokerError::InvalidConfig {
                name: "heartbeat.interval.ms".into(),
                value: config.heartbeat_interval.as_millis().to_string(),
                reason: format!("must be below session.timeout.ms ({})", config.session_timeout.as_millis()),
            });
        }
        if config.max_poll_records == 0 {
            return Err(BrokerError::InvalidConfig {
                name: "max.poll.records".into(),
                value: "0".into(),
                reason: "must be at least 1".into(),
            });
        }
        Ok(Consumer {
            broker: self.clone(),
            config,
            assigned: Vec::new(),
            wake: Arc::new(WakeSlot::default()),
            next_partition: 0,
            pool: BufferPool::default(),
            membership: None,
            in_callback: false,
            closed: false,
        })
    }
}

impl Consumer {
    fn check_open(&self) -> Result<(), BrokerError> {
        if self.closed {
            return Err(BrokerError::Closed { what: "consumer" });
        }
        self.broker.check_open()
    }

    /// Replaces the assignment with `partitions`. Partitions kept from the
    /// old assignment keep their positions; new ones start per
    /// `auto.offset.reset` unless sought.
    ///
    /// # Errors
    /// [`BrokerError::UnknownTopic`], [`BrokerError::PartitionOutOfRange`];
    /// on error the assignment is unchanged.
    pub fn assign(&mut self, partitions: impl IntoIterator<Item = TopicPartition>) -> Result<(), BrokerError> {
        self.check_open()?;
        if self.membership.is_some() {
            return Err(BrokerError::InvalidState { reason: "assign while subscribed to a group: unsubscribe first" });
        }
        self.assign_found(partitions)
    }

    /// The group's assignment: like `assign`, skipping partitions whose
    /// topic is gone (the group rebalances when the coordinator hears).
    fn set_group_assignment(&mut self, partitions: &std::collections::BTreeSet<TopicPartition>) {
        let existing: Vec<TopicPartition> =
            partitions.iter().filter(|tp| self.broker.partition(&tp.topic, tp.partition).is_ok()).cloned().collect();
        if let Err(error) = self.assign_found(existing) {
            tracing::warn!(%error, "taking the group's assignment");
        }
    }

    fn assign_found(&mut self, partitions: impl IntoIterator<Item = TopicPartition>) -> Result<(), BrokerError> {
        let mut wanted: Vec<TopicPartition> = partitions.into_iter().collect();
        wanted.sort();
        wanted.dedup();
        // Look every partition up before touching the assignment, so that an
        // error leaves it (and its positions) as it was.
        let found = wanted
            .into_iter()
            .map(|tp| Ok((self.broker.partition(&tp.topic, tp.partition)?, tp)))
            .collect::<Result<Vec<_>, BrokerError>>()?;
        let mut next = Vec::with_capacity(found.len());
        for (partition, tp) in found {
            // A kept partition keeps its position, unless its topic was
            // deleted and created again since: then it starts afresh.
            next.push(match self.assigned.iter().position(|a| a.tp == tp && Arc::ptr_eq(&a.partition, &partition)) {
                Some(at) => self.assigned.swap_remove(at),
                None => Assigned { tp, partition, position: None, buffered: None, buffered_generation: 0 },
            });
        }
        for old in self.assigned.drain(..) {
            old.partition.unregister(&self.wake);
        }
        for assigned in &next {
            assigned.partition.register(&self.wake);
        }
        self.assigned = next;
        self.next_partition = 0;
        Ok(())
    }

    /// The assigned partitions.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.assigned.iter().map(|a| a.tp.clone()).collect()
    }

    fn assigned_mut(&mut self, tp: &TopicPartition) -> Result<&mut Assigned, BrokerError> {
        self.assigned
            .iter_mut()
            .find(|a| &a.tp == tp)
            .ok_or_else(|| BrokerError::NotAssigned { topic: tp.topic.clone(), partition: tp.partition })
    }

    /// Moves the position of `tp` to `offset`; the next poll reads from
    /// there (an offset outside the log is handled per
    /// `auto.offset.reset` at that poll, as Kafka does).
    ///
    /// # Errors
    /// [`BrokerError::NotAssigned`].
    pub fn seek(&mut self, tp: &TopicPartition, offset: u64) -> Result<(), BrokerError> {
        let assigned = self.assigned_mut(tp)?;
        assigned.position = Some(offset);
        assigned.buffered = None;
        Ok(())
    }

    /// Moves each of `partitions` to its log start.
    ///
    /// # Errors
    /// [`BrokerError::NotAssigned`].
    pub fn seek_to_beginning<'a>(
        &mut self,
        partitions: impl IntoIterator<Item = &'a TopicPartition>,
    ) -> Result<(), BrokerError> {
        for tp in partitions {
            let assigned = self.assigned_mut(tp)?;
            assigned.position = Some(assigned.partition.log().log_start_offset());
            assigned.buffered = None;
        }
        Ok(())
    }

    /// Moves each of `partitions` to its log end.
    ///
    /// # Errors
    /// [`BrokerError::NotAssigned`].
    pub fn seek_to_end<'a>(
        &mut self,
        partitions: impl IntoIterator<Item = &'a TopicPartition>,
    ) -> Result<(), BrokerError> {
        for tp in partitions {
            let assigned = self.assigned_mut(tp)?;
            assigned.position = Some(assigned.partition.high_watermark());
            assigned.buffered = None;
        }
        Ok(())
    }

    /// The offset of the next record `poll` will return for `tp`,
    /// resolving `auto.offset.reset` if it has none yet.
    ///
    /// # Errors
    /// [`BrokerError::NotAssigned`], [`BrokerError::NoOffsetForPartition`].
    pub fn position(&mut self, tp: &TopicPartition) -> Result<u64, BrokerError> {
        let reset = self.config.auto_offset_reset;
        let assigned = self.assigned_mut(tp)?;
        resolve_position(assigned, reset)
    }

    /// For each partition, the first record at or after the timestamp
    /// (`None` when every record is older).
    ///
    /// # Errors
    /// [`BrokerError::UnknownTopic`], [`BrokerError::PartitionOutOfRange`],
    /// a partition's [`BrokerError::Log`].
    pub fn offsets_for_times(
        &self,
        times: impl IntoIterator<Item = (TopicPartition, i64)>,
    ) -> Result<BTreeMap<TopicPartition, Option<OffsetAndTimestamp>>, BrokerError> {
        let mut found = BTreeMap::new();
        for (tp, timestamp_ms) in times {
            let partition = self.broker.partition(&tp.topic, tp.partition)?;
            let hit = partition
                .log()
                .offset_for_timestamp(timestamp_ms)
                .map_err(|error| BrokerError::log(&tp.topic, tp.partition, error))?
                .map(|hit| OffsetAndTimestamp { offset: hit.offset, timestamp_ms: hit.timestamp });
            found.insert(tp, hit);
        }
        Ok(found)
    }

    /// First and next offsets of `tp`'s log: (log start, high watermark).
    ///
    /// # Errors
    /// [`BrokerError::UnknownTopic`], [`BrokerError::PartitionOutOfRange`].
    pub fn offsets(&self, tp: &TopicPartition) -> Result<(u64, u64), BrokerError> {
        let partition = self.broker.partition(&tp.topic, tp.partition)?;
        Ok((partition.log().log_start_offset(), partition.high_watermark()))
    }

    /// Returns the records available from the assigned partitions, up to
    /// `max.poll.records`, waiting up to `timeout` for the first to arrive.
    /// Waiting blocks on the partitions' notifier: an append wakes it at
    /// once, nothing spins. An empty result means the timeout passed.
    ///
    /// # Errors
    /// [`BrokerError::NoOffsetForPartition`] / [`BrokerError::OffsetOutOfRange`]
    /// with `auto.offset.reset=none`, [`BrokerError::UnknownTopic`] if an
    /// assigned topic was deleted, a partition's [`BrokerError::Log`],
    /// [`BrokerError::Closed`].
    pub fn poll(&mut self, timeout: Duration) -> Result<ConsumerRecords, BrokerError> {
        if self.in_callback {
            return Err(BrokerError::InvalidState { reason: "poll called from a rebalance listener" });
        }
        let deadline = Instant::now().checked_add(timeout);
        self.group_poll_started();
        loop {
            self.check_open()?;
            self.wake.arm();
            let group_wait = self.group_step()?;
            let records = self.fetch()?;
            if !records.is_empty() {
                return Ok(records);
            }
            if !records.chunks.is_empty() {
                // Positions moved over batches compaction emptied: look
                // again at once rather than wait for new data.
                continue;
            }
            let now = Instant::now();
            let left = match deadline {
                Some(deadline) if deadline <= now => return Ok(records),
                Some(deadline) => deadline - now,
                None => Duration::from_secs(3600),
            };
            std::thread::park_timeout(group_wait.map_or(left, |wait| wait.min(left)));
        }
    }

    /// One non-blocking pass over the assigned partitions.
    fn fetch(&mut self) -> Result<ConsumerRecords, BrokerError> {
        let mut records = ConsumerRecords::default();
        let mut budget = self.config.max_poll_records as u64;
        let count = self.assigned.len();
        let reset = self.config.auto_offset_reset;
        let max_bytes = self.config.max_partition_fetch_bytes;
        for step in 0..count {
            if budget == 0 {
                break;
            }
            let at = (self.next_partition + step) % count;
            let (chunk, take) = match fetch_partition(&mut self.assigned[at], reset, max_bytes, budget, &self.pool) {
                Ok(Some(found)) => found,
                Ok(None) => continue,
                Err(error) if records.is_empty() => return Err(error),
                // Partitions already visited have moved their positions past
                // the records taken: hand those out now. The failing
                // partition's position did not move, so a later poll
                // reports its error.
                Err(_) => break,
            };
            budget -= take;
            records.count += take as usize;
            records.chunks.push(chunk);
        }
        if count > 0 {
            self.next_partition = (self.next_partition + 1) % count;
        }
        Ok(records)
    }

    /// Leaves the group (after an auto-commit and `on_revoked`; a static
    /// member keeps its slot until its session times out) and the
    /// partitions' notifiers; later calls return [`BrokerError::Closed`].
    /// Dropping a consumer does the same.
    pub fn close(&mut self) {
        if !self.closed && self.broker.check_open().is_ok() {
            self.leave_group(false);
        }
        for assigned in self.assigned.drain(..) {
            assigned.partition.unregister(&self.wake);
        }
        self.closed = true;
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Dropped by a panic unwinding its thread: a crashed member
            // leaves no commit and no LeaveGroup behind.
            self.crash_out_of_group();
        }
        self.close();
    }
}

/// Takes up to `budget` records from one partition and moves its position
/// past them; returns them with their count, or `None` when there are none.
fn fetch_partition(
    assigned: &mut Assigned,
    reset: OffsetReset,
    max_bytes: u32,
    budget: u64,
    pool: &BufferPool,
) -> Result<Option<(Chunk, u64)>, BrokerError> {
    assigned.partition.check_live()?;
    let mut position = resolve_position(assigned, reset)?;
    // A replicated partition without a leader serves nothing; one whose
    // leader changed since the buffered read serves from the new leader.
    let generation = assigned.partition.leader_generation();
    if generation != assigned.buffered_generation {
        assigned.buffered = None;
        assigned.buffered_generation = generation;
    }
    if !assigned.partition.has_leader() {
        return Ok(None);
    }
    // Retention may move the log start past `position` between the range
    // check and the read; then the check runs again, so that the reset
    // policy applies rather than an error.
    let (data, high_watermark) = loop {
        let high_watermark = assigned.partition.high_watermark();
        let log_start = assigned.partition.log().log_start_offset();
        // Out of range means outside the leader's log, as in Kafka: a
        // position between the high watermark and the log end (a new
        // leader's high watermark still catching up after a restart) is
        // valid and simply has nothing to read yet.
        let log_end = assigned.partition.log().log_end_offset().max(high_watermark);
        if position < log_start || position > log_end {
            position = match reset {
                OffsetReset::Earliest => log_start,
                OffsetReset::Latest => high_watermark,
                OffsetReset::None => {
                    return Err(BrokerError::OffsetOutOfRange {
                        topic: assigned.tp.topic.clone(),
                        partition: assigned.tp.partition,
                        offset: position,
                        log_start,
                        log_end,
                    })
                }
            };
            assigned.position = Some(position);
            assigned.buffered = None;
        }
        match &assigned.buffered {
            _ if position >= high_watermark => return Ok(None),
            Some(data) if data.read().next_offset() > position => break (Arc::clone(data), high_watermark),
            _ => {
                // Taken in a statement of its own: a guard in the `match`
                // below would live through its arms, and the empty-read arm
                // locks the pool again (a self-deadlock a retention race
                // found).
                let buffer = pool.lock().pop().unwrap_or_default();
                match assigned.partition.log().read_into(position, max_bytes, buffer) {
                    Ok(read) if read.is_empty() => {
                        pool.lock().push(read.into_buffer());
                        return Ok(None);
                    }
                    Ok(read) => {
                        break (Arc::new(PooledRead { read: Some(read), pool: Arc::downgrade(pool) }), high_watermark)
                    }
                    Err(LogError::OffsetOutOfRange { .. }) if reset != OffsetReset::None => continue,
                    Err(error) => return Err(BrokerError::log(&assigned.tp.topic, assigned.tp.partition, error)),
                }
            }
        }
    };
    // A read can return batches appended after the high watermark was
    // read (the log publishes its end last): hand out only what is below
    // it, and keep the rest for a later poll.
    let limit = data.read().next_offset().min(high_watermark);
    let (take, end) = take_records(data.read(), position, limit, budget);
    assigned.position = Some(end);
    assigned.buffered = (end < data.read().next_offset()).then(|| Arc::clone(&data));
    let chunk = Chunk {
        topic: Arc::clone(&assigned.partition.topic),
        partition: assigned.tp.partition,
        data,
        from: position,
        to: end,
    };
    Ok(Some((chunk, take)))
}

fn resolve_position(assigned: &mut Assigned, reset: OffsetReset) -> Result<u64, BrokerError> {
    if let Some(position) = assigned.position {
        return Ok(position);
    }
    let position = match reset {
        OffsetReset::Earliest => assigned.partition.log().log_start_offset(),
        OffsetReset::Latest => assigned.partition.high_watermark(),
        OffsetReset::None => {
            return Err(BrokerError::NoOffsetForPartition {
                topic: assigned.tp.topic.clone(),
                partition: assigned.tp.partition,
            })
        }
    };
    assigned.position = Some(position);
    Ok(position)
}

/// Takes up to `budget` records of `data` at or after `position` and below
/// `limit`: returns how many, and the offset after the last one taken, or
/// `limit` when every record up to it was taken. Dense batches (every
/// offset present) are counted from their headers; a batch compaction left
/// gaps in is walked record by record, so the count is exact and a
/// partial take never skips or repeats a record.
fn take_records(data: &ReadBatches, position: u64, limit: u64, budget: u64) -> (u64, u64) {
    let mut taken = 0;
    for batch in data.batches().filter_map(Result::ok) {
        if batch.last_offset() < position {
            continue;
        }
        if batch.base_offset() >= limit {
            break;
        }
        let header = batch.header();
        let dense = i64::from(header.records_count) == i64::from(header.last_offset_delta) + 1;
        match batch.records() {
            Ok(records) if !dense => {
                for record in records.filter_map(Result::ok) {
                    if record.offset < position {
                        continue;
                    }
                    if record.offset >= limit {
                        break;
                    }
                    taken += 1;
                    if taken == budget {
                        return (taken, record.offset + 1);
                    }
                }
            }
            // Dense, or compressed (counted by offsets; iterating it fails
            // with a clear error later).
            _ => {
                let from = batch.base_offset().max(position);
                let to = batch.last_offset().min(limit - 1);
                let here = to - from + 1;
                if taken + here >= budget {
                    let end = from + (budget - taken);
                    return (budget, end);
                }
                taken += here;
            }
        }
    }
    (taken, limit)
}

/// Records from one partition within one read.
#[derive(Debug, Clone)]
struct Chunk {
    topic: Arc<str>,
    partition: u32,
    data: Arc<PooledRead>,
    /// Offsets `[from, to)` of `data` belong to this poll.
    from: u64,
    to: u64,
}

/// The records one [`Consumer::poll`] returned. They borrow from the bytes
/// read from the segments: keys, values and headers are not copied.
#[derive(Debug, Clone, Default)]
pub struct ConsumerRecords {
    chunks: Vec<Chunk>,
    count: usize,
}

/// One record, borrowing from its [`ConsumerRecords`].
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ConsumerRecord<'a> {
    /// The topic.
    pub topic: &'a str,
    /// The partition.
    pub partition: u32,
    /// The offset.
    pub offset: u64,
    /// The timestamp in milliseconds.
    pub timestamp_ms: i64,
    /// The key.
    pub key: Option<&'a [u8]>,
    /// The value (`None` for a tombstone).
    pub value: Option<&'a [u8]>,
    /// The headers.
    pub headers: Headers<'a>,
}

impl ConsumerRecords {
    /// How many records.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The partitions that have records here.
    pub fn partitions(&self) -> Vec<TopicPartition> {
        let mut partitions: Vec<TopicPartition> =
            self.chunks.iter().map(|chunk| TopicPartition::new(chunk.topic.as_ref(), chunk.partition)).collect();
        partitions.dedup();
        partitions
    }

    /// Every record, partition by partition, each partition's in offset
    /// order.
    ///
    /// Items are `Result`s because a record is decoded as it is visited; an
    /// error can only come from a batch this build cannot decode (a
    /// compressed batch written by another Kafka client), since every batch
    /// was checked when appended and its CRC again when read.
    pub fn iter(&self) -> impl Iterator<Item = Result<ConsumerRecord<'_>, BrokerError>> + '_ {
        RecordsIter { chunks: self.chunks.iter(), current: None, error: None }
    }
}

/// Walks chunks, their batches and their records without allocating.
struct RecordsIter<'a> {
    chunks: std::slice::Iter<'a, Chunk>,
    current: Option<ChunkIter<'a>>,
    /// An error found while moving on, for the next item.
    error: Option<BrokerError>,
}

struct ChunkIter<'a> {
    chunk: &'a Chunk,
    batches: Batches<'a>,
    records: Option<Records<'a>>,
}

impl Chunk {
    #[inline(always)]
    fn record<'a>(&'a self, record: Record<'a>) -> ConsumerRecord<'a> {
        ConsumerRecord {
            topic: &self.topic,
            partition: self.partition,
            offset: record.offset,
            timestamp_ms: record.timestamp,
            key: record.key,
            value: record.value,
            headers: record.headers,
        }
    }

    #[cold]
    fn corrupt(&self, source: ghyll_log::BatchError) -> BrokerError {
        BrokerError::log(&self.topic, self.partition, LogError::InvalidBatch { source })
    }
}

impl<'a> RecordsIter<'a> {
    /// Moves to the next batch holding offsets of the current chunk, or to
    /// the next chunk; false after the last chunk. A batch that cannot be
    /// read leaves its error in `self.error`. Out of line: once per batch,
    /// not per record.
    #[inline(never)]
    fn next_batch(&mut self) -> bool {
        loop {
            let Some(current) = self.current.as_mut() else {
                let Some(chunk) = self.chunks.next() else { return false };
                self.current = Some(ChunkIter { chunk, batches: chunk.data.read().batches(), records: None });
                continue;
            };
            let chunk = current.chunk;
            match current.batches.next() {
                Some(Ok(batch)) if batch.base_offset() >= chunk.to => self.current = None,
                Some(Ok(batch)) if batch.last_offset() < chunk.from => {}
                Some(Ok(batch)) => {
                    match batch.records() {
                        Ok(records) => current.records = Some(records),
                        Err(error) => self.error = Some(chunk.corrupt(error)),
                    }
                    return true;
                }
                Some(Err(error)) => {
                    self.current = None;
                    self.error = Some(chunk.corrupt(error));
                    return true;
                }
                None => self.current = None,
            }
        }
    }
}

impl<'a> Iterator for RecordsIter<'a> {
    type Item = Result<ConsumerRecord<'a>, BrokerError>;

    /// Inlined into the caller's loop, with the decoding of a record
    /// ([`Records`]' `next` is inlined too): a record crosses no call and
    /// reaches the caller in registers. Batches and chunks change out of
    /// line, and errors wait in `self.error` rather than come back from a
    /// call: an item built from both registers and a call's result was
    /// built in memory, and the caller paid for reading it back (a
    /// store-forwarding stall per record). `always`, since a caller's loop
    /// with more in it (the benchmark's) did not inline it otherwise.
    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(current) = self.current.as_mut() {
                let chunk = current.chunk;
                if let Some(records) = current.records.as_mut() {
                    match records.next() {
                        Some(Ok(record)) if record.offset >= chunk.from && record.offset < chunk.to => {
                            return Some(Ok(chunk.record(record)))
                        }
                        // Before the chunk's first offset: handed out by
                        // an earlier poll.
                        Some(Ok(record)) if record.offset < chunk.from => continue,
                        // At or past its end: left for a later poll.
                        Some(Ok(_)) => {
                            self.current = None;
                            continue;
                        }
                        Some(Err(error)) => {
                            current.records = None;
                            self.error = Some(chunk.corrupt(error));
                        }
                        None => current.records = None,
                    }
                }
            }
            if let Some(error) = self.error.take() {
                return Some(Err(error));
            }
            if !self.next_batch() {
                return None;
            }
        }
    }
}

const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<Consumer>();
    assert_send::<ConsumerRecords>();
};

#[cfg(test)]
mod tests {
    use super::*;
    use ghyll_log::{BatchBuilder, BatchError, Compression, Log, LogConfig};

    /// A batch holding `values`; `gzip` marks it compressed (and reseals
    /// its CRC), as a batch from another Kafka client whose records this
    /// build cannot decode.
    fn batch(values: &[&str], gzip: bool) -> Vec<u8> {
        let mut builder = BatchBuilder::new();
        for value in values {
            builder.push(1_000, None, Some(value.as_bytes()), &[]).unwrap();
        }
        let mut bytes = builder.finish().unwrap();
        if gzip {
            // attributes: bits 0-2 are the codec; the CRC covers
            // attributes..end.
            bytes[22] |= 1;
            let crc = crc32c_of(&bytes[21..]);
            bytes[17..21].copy_from_slice(&crc.to_be_bytes());
        }
        bytes
    }

    /// CRC-32C, bit by bit (this crate does not depend on `crc32c`; the
    /// log refuses the batch if this is wrong).
    fn crc32c_of(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &byte in bytes {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0x82F6_3B78 } else { crc >> 1 };
            }
        }
        !crc
    }

    /// Records holding, for each `(from, to)`, the whole log read once.
    fn records_of(log: &Log, windows: &[(u64, u64)]) -> ConsumerRecords {
        let chunks: Vec<Chunk> = windows
            .iter()
            .map(|&(from, to)| Chunk {
                topic: Arc::from("t"),
                partition: 0,
                data: Arc::new(PooledRead { read: Some(log.read(0, u32::MAX).unwrap()), pool: std::sync::Weak::new() }),
                from,
                to,
            })
            .collect();
        ConsumerRecords { count: 0, chunks }
    }

    fn outcomes(records: &ConsumerRecords) -> Vec<Result<(u64, String), String>> {
        records
            .iter()
            .map(|record| {
                record
                    .map(|record| (record.offset, String::from_utf8(record.value.unwrap().to_vec()).unwrap()))
                    .map_err(|error| error.to_string())
            })
            .collect()
    }

    /// Proves that a batch whose records cannot be decoded yields one
    /// error where its records would be, and that the records of the
    /// batches around it still come, each once and in order: appends a
    /// plain, a gzip-marked and a plain batch and iterates them.
    #[test]
    fn an_undecodable_batch_is_one_error_between_the_records_around_it() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), LogConfig::default()).unwrap();
        log.append(&batch(&["a", "b"], false)).unwrap();
        log.append(&batch(&["c", "d"], true)).unwrap();
        log.append(&batch(&["e"], false)).unwrap();
        let got = outcomes(&records_of(&log, &[(0, 5)]));
        assert_eq!(got.len(), 4, "{got:?}");
        assert_eq!(got[..2], [Ok((0, "a".into())), Ok((1, "b".into()))]);
        let error = got[2].clone().unwrap_err();
        let expected = BatchError::UnsupportedCompression { codec: Compression::Gzip }.to_string();
        assert!(error.contains(&expected), "{error}");
        assert_eq!(got[3], Ok((4, "e".into())));
    }

    /// Proves that a chunk yields exactly the offsets `[from, to)` of its
    /// read, whether its ends fall inside batches or on their edges, and
    /// that chunks follow one another: iterates every window of a log of
    /// three batches, two windows at a time.
    #[test]
    fn chunks_yield_exactly_their_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), LogConfig::default()).unwrap();
        let values = ["0", "1", "2", "3", "4", "5", "6"];
        log.append(&batch(&values[..3], false)).unwrap();
        log.append(&batch(&values[3..4], false)).unwrap();
        log.append(&batch(&values[4..], false)).unwrap();
        for from in 0..7u64 {
            for to in from..=7 {
                let windows = [(from, to), (to.saturating_sub(2), to)];
                let expected: Vec<_> = windows
                    .iter()
                    .flat_map(|&(from, to)| (from..to).map(|offset| Ok((offset, values[offset as usize].to_string()))))
                    .collect();
                assert_eq!(outcomes(&records_of(&log, &windows)), expected, "windows {windows:?}");
            }
        }
    }
}
