//! Consumer groups in the broker: the sans-IO coordinator of `ghyll-group`
//! behind one mutex, committed offsets in the internal compacted topic
//! `__consumer_offsets`, the wake-ups that tell blocked consumers a
//! rebalance started, and the group admin calls.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use ghyll_group::{
    GroupConfig, GroupCoordinator, GroupError, GroupEvent, HeartbeatOutcome, OffsetAndMetadata, OffsetRecord,
    OffsetStore,
};
use ghyll_log::{BatchBuilder, BatchError, LogError};
use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::broker::{Broker, NewTopic};
use crate::consumer::TopicPartition;
use crate::error::BrokerError;
use crate::partition::{Partition, WakeSlot};
use crate::producer::Durability;

/// The internal topic holding committed offsets, as Kafka names it.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";
/// `offsets.topic.segment.bytes`: Kafka's default for the offsets topic.
const OFFSETS_SEGMENT_BYTES: &str = "104857600";

/// The broker's clock for the coordinator: wall-clock milliseconds at open
/// plus a monotonic clock since, so a wall-clock jump neither expires every
/// member nor keeps a dead one alive.
#[derive(Debug)]
struct GroupClock {
    wall_at_open_ms: u64,
    opened: Instant,
}

impl GroupClock {
    fn new() -> GroupClock {
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        GroupClock { wall_at_open_ms: wall, opened: Instant::now() }
    }

    fn now_ms(&self) -> u64 {
        self.wall_at_open_ms + self.opened.elapsed().as_millis() as u64
    }
}

#[derive(Debug)]
pub(crate) struct GroupsState {
    pub(crate) coordinator: GroupCoordinator,
    /// The consumers of each group, woken when their group changes.
    waiters: HashMap<String, Vec<Weak<WakeSlot>>>,
}

/// Everything the broker keeps for consumer groups.
#[derive(Debug)]
pub(crate) struct Groups {
    state: Mutex<GroupsState>,
    clock: GroupClock,
    /// `__consumer_offsets-0`, once it exists (made by the first commit).
    offsets: Mutex<Option<Arc<Partition>>>,
    /// Durable commits waiting for the leader's write and fsync.
    durable: Mutex<DurableQueue>,
    durable_done: Condvar,
    /// Subscribed consumers, heartbeated by the group thread while they
    /// exist.
    live: Mutex<Vec<Weak<Liveness>>>,
}

/// A subscribed consumer's heartbeat, sent by the `ghyll-groups` thread for
/// as long as the consumer exists, as Kafka's background heartbeat thread
/// does (KIP-62): processing between polls is bounded by
/// `max.poll.interval.ms`, not by `session.timeout.ms`. A consumer dropped
/// while its thread panics (a crashed member) stops heartbeating without
/// leaving, so the session timeout finds it.
#[derive(Debug)]
pub(crate) struct Liveness {
    group: String,
    /// Member id and generation, once joined.
    member: Mutex<Option<(String, i32)>>,
    slot: Weak<WakeSlot>,
    heartbeat_interval_ms: u64,
    next_beat_ms: AtomicU64,
}

impl Liveness {
    pub(crate) fn new(group: &str, slot: &Arc<WakeSlot>, heartbeat_interval_ms: u64) -> Liveness {
        Liveness {
            group: group.to_string(),
            member: Mutex::new(None),
            slot: Arc::downgrade(slot),
            heartbeat_interval_ms: heartbeat_interval_ms.max(1),
            next_beat_ms: AtomicU64::new(0),
        }
    }

    pub(crate) fn set_member(&self, member: Option<(String, i32)>) {
        *self.member.lock() = member;
    }
}

/// What the commits of one durable write learn: `None` until it is done.
type Outcome = Arc<Mutex<Option<Result<(), Arc<BrokerError>>>>>;

/// The group-commit queue of durable commits.
#[derive(Debug, Default)]
struct DurableQueue {
    /// Records of the commits not yet taken by a leader.
    pending: Vec<OffsetRecord>,
    /// The outcome the pending commits will share.
    outcome: Outcome,
    /// A committer is writing and fsyncing.
    leading: bool,
}

/// The leader of one durable write: on drop (also when the write panics)
/// it publishes the result to the write's committers and frees the lead.
struct Lead<'a> {
    groups: &'a Groups,
    outcome: &'a Outcome,
    result: Option<Result<(), Arc<BrokerError>>>,
}

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        let result = self.result.take().unwrap_or_else(|| {
            Err(Arc::new(BrokerError::InvalidState { reason: "a durable commit's write panicked" }))
        });
        *self.outcome.lock() = Some(result);
        self.groups.durable.lock().leading = false;
        self.groups.durable_done.notify_all();
    }
}

impl Groups {
    pub(crate) fn new(config: GroupConfig) -> Result<Groups, BrokerError> {
        let coordinator = GroupCoordinator::try_new(config).map_err(group_error)?;
        Ok(Groups {
            state: Mutex::new(GroupsState { coordinator, waiters: HashMap::new() }),
            clock: GroupClock::new(),
            offsets: Mutex::new(None),
            durable: Mutex::new(DurableQueue::default()),
            durable_done: Condvar::new(),
            live: Mutex::new(Vec::new()),
        })
    }

    pub(crate) fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// Locks the coordinator. Callers run [`Groups::wake_for`] with the
    /// events after unlocking.
    pub(crate) fn lock(&self) -> MutexGuard<'_, GroupsState> {
        self.state.lock()
    }

    /// Replays `__consumer_offsets` into the coordinator (at broker open).
    pub(crate) fn load(&self, partition: Arc<Partition>) -> Result<(), BrokerError> {
        let mut state = self.state.lock();
        let mut loaded = 0u64;
        OffsetsLog { partition: &partition, durability: Durability::Buffered }.replay(&mut |record, position| {
            state.coordinator.load(record, position);
            loaded += 1;
        })?;
        drop(state);
        tracing::info!(records = loaded, "loaded committed offsets");
        *self.offsets.lock() = Some(partition);
        Ok(())
    }

    /// Starts heartbeating for a subscribed consumer (until it is dropped).
    pub(crate) fn register_live(&self, liveness: &Arc<Liveness>) {
        let mut live = self.live.lock();
        live.retain(|l| l.strong_count() > 0);
        live.push(Arc::downgrade(liveness));
    }

    /// Heartbeats every live consumer whose interval passed; wakes those
    /// told to rejoin (or that were removed) so a blocked `poll` reacts.
    fn heartbeat_live(&self, now: u64) {
        let live: Vec<Arc<Liveness>> = {
            let mut live = self.live.lock();
            live.retain(|l| l.strong_count() > 0);
            live.iter().filter_map(Weak::upgrade).collect()
        };
        let mut wake = Vec::new();
        {
            let mut state = self.state.lock();
            for liveness in &live {
                if now < liveness.next_beat_ms.load(Ordering::Acquire) {
                    continue;
                }
                liveness.next_beat_ms.store(now + liveness.heartbeat_interval_ms, Ordering::Release);
                let Some((member_id, generation)) = liveness.member.lock().clone() else { continue };
                match state.coordinator.heartbeat(now, &liveness.group, &member_id, generation) {
                    Ok(HeartbeatOutcome::Ok) => {}
                    Ok(HeartbeatOutcome::RebalanceInProgress) | Err(_) => wake.extend(liveness.slot.upgrade()),
                }
            }
        }
        for slot in wake {
            slot.wake();
        }
    }

    /// Registers a consumer's wake slot for `group`'s changes.
    pub(crate) fn register(&self, group: &str, slot: &Arc<WakeSlot>) {
        let mut state = self.state.lock();
        let waiters = state.waiters.entry(group.to_string()).or_default();
        waiters.retain(|waiter| waiter.strong_count() > 0 && !std::ptr::eq(waiter.as_ptr(), Arc::as_ptr(slot)));
        waiters.push(Arc::downgrade(slot));
    }

    pub(crate) fn unregister(&self, group: &str, slot: &Arc<WakeSlot>) {
        let mut state = self.state.lock();
        if let Some(waiters) = state.waiters.get_mut(group) {
            waiters.retain(|waiter| waiter.strong_count() > 0 && !std::ptr::eq(waiter.as_ptr(), Arc::as_ptr(slot)));
            if waiters.is_empty() {
                state.waiters.remove(group);
            }
        }
    }

    /// Wakes the consumers of every group an event names.
    pub(crate) fn wake_for(&self, events: &[GroupEvent]) {
        if events.is_empty() {
            return;
        }
        let groups: BTreeSet<&str> = events.iter().map(GroupEvent::group).collect();
        let mut slots = Vec::new();
        {
            let state = self.state.lock();
            for group in groups {
                if let Some(waiters) = state.waiters.get(group) {
                    slots.extend(waiters.iter().filter_map(Weak::upgrade));
                }
            }
        }
        for slot in slots {
            slot.wake();
        }
    }

    /// Commits `offsets` for `group`: validated by the coordinator (fencing
    /// stale generations), appended to `__consumer_offsets` (fsynced with
    /// [`Durability::Fsync`], concurrent commits sharing the fsync), then
    /// applied. Returns once the commit is as durable as asked.
    pub(crate) fn commit(
        &self,
        broker: &Broker,
        group: &str,
        member: Option<(&str, i32)>,
        offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
        durability: Durability,
    ) -> Result<(), BrokerError> {
        if offsets.is_empty() {
            return Ok(());
        }
        let (member_id, generation) = member.unwrap_or(("", -1));
        let now = self.now_ms();
        let records = {
            let mut state = self.state.lock();
            let records = state.coordinator.prepare_commit(now, group, member_id, generation, offsets);
            let events = state.coordinator.take_events();
            drop(state);
            self.wake_for(&events);
            records.map_err(|source| BrokerError::Group { source })?
        };
        self.persist(broker, &records, durability)
    }

    /// Appends `records` to the offsets topic and applies them.
    pub(crate) fn persist(
        &self,
        broker: &Broker,
        records: &[OffsetRecord],
        durability: Durability,
    ) -> Result<(), BrokerError> {
        if records.is_empty() {
            return Ok(());
        }
        let partition = self.offsets_partition(broker)?;
        self.persist_to(&partition, records, durability)
    }

    fn persist_to(
        &self,
        partition: &Partition,
        records: &[OffsetRecord],
        durability: Durability,
    ) -> Result<(), BrokerError> {
        match durability {
            Durability::Buffered => self.append_and_apply(partition, records, Durability::Buffered),
            Durability::Fsync => self.persist_durable(partition, records),
        }
    }

    /// Stores `records` in the offsets log (fsynced with
    /// [`Durability::Fsync`]), then applies each at its position.
    fn append_and_apply(
        &self,
        partition: &Partition,
        records: &[OffsetRecord],
        durability: Durability,
    ) -> Result<(), BrokerError> {
        let positions = OffsetsLog { partition, durability }.append(records)?;
        Self::apply(&mut self.state.lock(), records, positions);
        Ok(())
    }

    /// Applies stored records, each at its log position.
    fn apply(state: &mut GroupsState, records: &[OffsetRecord], positions: Vec<u64>) {
        for (record, position) in records.iter().zip(positions) {
            state.coordinator.complete_commit(std::slice::from_ref(record), position);
        }
    }

    /// Group commit for durable commits: committers queue their records;
    /// one of them (the leader) appends everything queued as one write and
    /// fsyncs once, while the others wait. Concurrent committers share the
    /// write and the fsync, and no appender touches a page an fsync is
    /// writing back (which the kernel may make it wait for).
    fn persist_durable(&self, partition: &Partition, records: &[OffsetRecord]) -> Result<(), BrokerError> {
        let mut queue = self.durable.lock();
        queue.pending.extend_from_slice(records);
        // This commit's outcome: shared by every commit in the same write.
        let outcome = Arc::clone(&queue.outcome);
        loop {
            if let Some(result) = outcome.lock().clone() {
                return result.map_err(|source| BrokerError::CommitFailed { source });
            }
            if !queue.leading {
                queue.leading = true;
                let batch = std::mem::take(&mut queue.pending);
                let taken = std::mem::take(&mut queue.outcome);
                drop(queue);
                // Reports the batch's result to its committers and hands the
                // lead on, also if the write panics.
                let mut lead = Lead { groups: self, outcome: &taken, result: None };
                lead.result = Some(self.append_and_apply(partition, &batch, Durability::Fsync).map_err(Arc::new));
                drop(lead);
                queue = self.durable.lock();
                continue;
            }
            self.durable_done.wait(&mut queue);
        }
    }

    /// `__consumer_offsets-0`, created (compacted, one partition) on first
    /// use.
    fn offsets_partition(&self, broker: &Broker) -> Result<Arc<Partition>, BrokerError> {
        let mut offsets = self.offsets.lock();
        if let Some(partition) = offsets.as_ref().filter(|p| !p.is_deleted()) {
            return Ok(Arc::clone(partition));
        }
        let topic = NewTopic::new(OFFSETS_TOPIC, 1)
            .config("cleanup.policy", "compact")
            .config("segment.bytes", OFFSETS_SEGMENT_BYTES);
        match broker.create_topic_internal(topic) {
            Ok(()) | Err(BrokerError::TopicExists { .. }) => {}
            Err(error) => return Err(error),
        }
        let partition = broker.partition(OFFSETS_TOPIC, 0)?;
        *offsets = Some(Arc::clone(&partition));
        Ok(partition)
    }

    /// One pass of the group timer: expire members and offsets.
    pub(crate) fn tick(&self) {
        let now = self.now_ms();
        self.heartbeat_live(now);
        let partition = self.offsets.lock().clone();
        let events = {
            let mut state = self.state.lock();
            let mut events = state.coordinator.tick(now);
            events.extend(state.coordinator.take_events());
            if let Some(partition) = partition {
                // Computed, written and applied under the coordinator's lock:
                // a commit validated after this point lands after the
                // tombstones in the log too, so it is never erased by them.
                let expired = state.coordinator.expired_offsets(now);
                if !expired.is_empty() {
                    tracing::info!(offsets = expired.len(), "removing expired committed offsets");
                    if let Err(error) = Self::store_locked(&mut state, &partition, &expired, Durability::Buffered) {
                        tracing::error!(%error, "removing expired offsets failed");
                    }
                }
            }
            events
        };
        for event in &events {
            tracing::debug!(?event, "group event");
        }
        self.wake_for(&events);
    }

    /// Stores and applies `records` while the caller holds the
    /// coordinator's lock (tombstones: see [`Groups::tick`]).
    fn store_locked(
        state: &mut GroupsState,
        partition: &Partition,
        records: &[OffsetRecord],
        durability: Durability,
    ) -> Result<(), BrokerError> {
        let positions = OffsetsLog { partition, durability }.append(records)?;
        Self::apply(state, records, positions);
        Ok(())
    }

    /// Deletes an empty group's offsets: the check, the tombstones' write
    /// and their application under one hold of the coordinator's lock, so
    /// no commit slips between them.
    pub(crate) fn delete_group(&self, group_id: &str) -> Result<(), BrokerError> {
        let partition = self.offsets.lock().clone();
        let mut state = self.state.lock();
        let tombstones = state.coordinator.prepare_delete_group(group_id).map_err(group_error)?;
        match partition {
            Some(partition) => Self::store_locked(&mut state, &partition, &tombstones, Durability::Fsync),
            // No offsets topic: nothing was ever committed, so there is
            // nothing to delete on disk.
            None => Ok(()),
        }
    }

    /// Tells the coordinator a topic's partition count (created, grown, or
    /// deleted as `None`), so subscribed groups rebalance.
    pub(crate) fn topic_changed(&self, topic: &str, partitions: Option<u32>) {
        let now = self.now_ms();
        let events = {
            let mut state = self.state.lock();
            state.coordinator.set_topic_partitions(now, topic, partitions);
            state.coordinator.take_events()
        };
        self.wake_for(&events);
    }
}

/// `__consumer_offsets-0` as the coordinator's [`OffsetStore`]: records in
/// Kafka's offsets-topic format, batched up to `max.message.bytes`.
struct OffsetsLog<'a> {
    partition: &'a Partition,
    durability: Durability,
}

impl OffsetStore for OffsetsLog<'_> {
    type Error = BrokerError;

    fn append(&self, records: &[OffsetRecord]) -> Result<Vec<u64>, BrokerError> {
        let log = &self.partition.log();
        let now = crate::broker::now_ms();
        let max_bytes = log.config().max_message_bytes as usize;
        let invalid =
            |error: BatchError| BrokerError::InvalidRecord { topic: OFFSETS_TOPIC.into(), reason: error.to_string() };
        let mut positions = Vec::with_capacity(records.len());
        let mut start = 0;
        while start < records.len() {
            let mut builder = BatchBuilder::with_bytes_max(max_bytes);
            let mut end = start;
            while end < records.len() {
                let key = records[end].encode_key();
                let value = records[end].encode_value();
                match builder.push(now, Some(&key), value.as_deref(), &[]) {
                    Ok(()) => end += 1,
                    Err(BatchError::TooLarge { .. }) if !builder.is_empty() => break,
                    Err(error) => return Err(invalid(error)),
                }
            }
            let bytes = builder.finish().map_err(invalid)?;
            let appended = log.append(&bytes).map_err(|error| BrokerError::log(OFFSETS_TOPIC, 0, error))?;
            positions.extend(appended.first_offset..=appended.last_offset);
            start = end;
        }
        if self.durability == Durability::Fsync {
            log.flush().map_err(|error| BrokerError::log(OFFSETS_TOPIC, 0, error))?;
        }
        self.partition.notify();
        Ok(positions)
    }

    fn replay(&self, visit: &mut dyn FnMut(OffsetRecord, u64)) -> Result<(), BrokerError> {
        let log = &self.partition.log();
        let corrupt = |source| BrokerError::log(OFFSETS_TOPIC, 0, LogError::InvalidBatch { source });
        let mut offset = log.log_start_offset();
        let end = log.log_end_offset();
        while offset < end {
            let read = log.read(offset, 1 << 20).map_err(|error| BrokerError::log(OFFSETS_TOPIC, 0, error))?;
            if read.is_empty() {
                break;
            }
            for batch in read.batches() {
                for record in batch.map_err(corrupt)?.records().map_err(corrupt)? {
                    let record = record.map_err(corrupt)?;
                    let Some(key) = record.key else { continue };
                    match OffsetRecord::decode(key, record.value) {
                        Ok(Some(decoded)) => visit(decoded, record.offset),
                        Ok(None) => {}
                        Err(error) => {
                            tracing::warn!(offset = record.offset, %error, "skipping an undecodable offsets record")
                        }
                    }
                }
            }
            offset = read.next_offset();
        }
        Ok(())
    }
}

/// Maps the coordinator's error into the broker's.
pub(crate) fn group_error(source: GroupError) -> BrokerError {
    BrokerError::Group { source }
}

/// One member as [`Broker::describe_group`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupMemberDescription {
    /// The member id the coordinator gave it.
    pub member_id: String,
    /// `group.instance.id`, for a static member.
    pub group_instance_id: Option<String>,
    /// `client.id`.
    pub client_id: String,
    /// The partitions it owns.
    pub assignment: BTreeSet<TopicPartition>,
}

/// One partition's row in [`Broker::describe_group`], like a line of
/// `kafka-consumer-groups --describe`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupPartitionLag {
    /// The partition.
    pub partition: TopicPartition,
    /// The committed offset (the next record the group will read), if any.
    pub committed: Option<u64>,
    /// The partition's log end offset (its high watermark).
    pub log_end_offset: u64,
    /// `log_end_offset - committed`, when there is a commit.
    pub lag: Option<u64>,
    /// The member consuming it now, if any.
    pub member_id: Option<String>,
}

/// A consumer group as [`Broker::describe_group`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsumerGroupDescription {
    /// The group id.
    pub group_id: String,
    /// Its state (Kafka's words: `Empty`, `PreparingRebalance`, ...).
    pub state: ghyll_group::GroupState,
    /// Its generation.
    pub generation: i32,
    /// The assignor its members use (empty while it has none).
    pub assignor: String,
    /// Its members.
    pub members: Vec<GroupMemberDescription>,
    /// Every partition it owns or has committed, with lag.
    pub offsets: Vec<GroupPartitionLag>,
}

/// Where [`Broker::reset_group_offsets`] moves a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OffsetSpec {
    /// Each partition's log start (`--to-earliest`).
    Earliest,
    /// Each partition's log end (`--to-latest`).
    Latest,
    /// This offset, clamped into the log (`--to-offset`).
    Offset(u64),
    /// The first record at or after this time, else the log end
    /// (`--to-datetime`).
    Timestamp(i64),
}

impl Broker {
    fn groups(&self) -> &Groups {
        &self.inner.groups
    }

    /// Every consumer group: those with members and those with only
    /// committed offsets (listed as `Empty`, as Kafka does).
    pub fn list_groups(&self) -> Vec<ghyll_group::GroupListing> {
        self.groups().lock().coordinator.list_groups()
    }

    /// A group's state, members and assignment, and per partition its
    /// committed offset, log end offset and lag.
    ///
    /// # Errors
    /// [`BrokerError::Group`] with an unknown group.
    pub fn describe_group(&self, group_id: &str) -> Result<ConsumerGroupDescription, BrokerError> {
        let (description, committed) = {
            let state = self.groups().lock();
            let description = state.coordinator.describe_group(group_id).ok_or_else(|| BrokerError::Group {
                source: GroupError::UnknownGroup { group: group_id.to_string() },
            })?;
            (description, state.coordinator.committed_all(group_id))
        };
        let mut owners: BTreeMap<TopicPartition, String> = BTreeMap::new();
        let members = description
            .members
            .iter()
            .map(|member| {
                for tp in &member.assignment {
                    owners.insert(tp.clone(), member.member_id.clone());
                }
                GroupMemberDescription {
                    member_id: member.member_id.clone(),
                    group_instance_id: member.group_instance_id.clone(),
                    client_id: member.client_id.clone(),
                    assignment: member.assignment.clone(),
                }
            })
            .collect();
        let partitions: BTreeSet<TopicPartition> = committed.keys().chain(owners.keys()).cloned().collect();
        let offsets = partitions
            .into_iter()
            .map(|tp| {
                let log_end_offset = self.partition(&tp.topic, tp.partition).map_or(0, |p| p.high_watermark());
                let committed = committed.get(&tp).map(|c| c.offset);
                GroupPartitionLag {
                    lag: committed.map(|c| log_end_offset.saturating_sub(c)),
                    member_id: owners.get(&tp).cloned(),
                    committed,
                    log_end_offset,
                    partition: tp,
                }
            })
            .collect();
        Ok(ConsumerGroupDescription {
            group_id: group_id.to_string(),
            state: description.state,
            generation: description.generation,
            assignor: description.assignor.clone().unwrap_or_default(),
            members,
            offsets,
        })
    }

    /// Deletes an empty group and its committed offsets.
    ///
    /// # Errors
    /// [`BrokerError::Group`]: unknown group, or a group that still has
    /// members; [`BrokerError::Log`] writing the offsets topic.
    pub fn delete_group(&self, group_id: &str) -> Result<(), BrokerError> {
        self.check_open()?;
        self.groups().delete_group(group_id)?;
        tracing::info!(group = group_id, "deleted consumer group");
        Ok(())
    }

    /// Moves an empty group's committed offsets for every partition of
    /// `topic` (like `kafka-consumer-groups --reset-offsets --execute`);
    /// returns the new offsets.
    ///
    /// # Errors
    /// [`BrokerError::UnknownTopic`], [`BrokerError::Group`] when the group
    /// has members, a partition's [`BrokerError::Log`].
    pub fn reset_group_offsets(
        &self,
        group_id: &str,
        topic: &str,
        spec: OffsetSpec,
    ) -> Result<BTreeMap<TopicPartition, u64>, BrokerError> {
        self.check_open()?;
        let topic_handle = self.topic(topic)?;
        let now = crate::broker::now_ms() as u64;
        let mut offsets = BTreeMap::new();
        for partition in topic_handle.partitions().iter() {
            let start = partition.log().log_start_offset();
            let end = partition.high_watermark();
            let offset = match spec {
                OffsetSpec::Earliest => start,
                OffsetSpec::Latest => end,
                OffsetSpec::Offset(offset) => offset.clamp(start, end),
                OffsetSpec::Timestamp(timestamp_ms) => partition
                    .log()
                    .offset_for_timestamp(timestamp_ms)
                    .map_err(|error| BrokerError::log(topic, partition.id, error))?
                    .map_or(end, |hit| hit.offset.clamp(start, end)),
            };
            offsets.insert(
                TopicPartition::new(topic, partition.id),
                OffsetAndMetadata { offset, metadata: String::new(), commit_timestamp_ms: now },
            );
        }
        self.groups().commit(self, group_id, None, &offsets, Durability::Fsync)?;
        Ok(offsets.into_iter().map(|(tp, o)| (tp, o.offset)).collect())
    }
}
