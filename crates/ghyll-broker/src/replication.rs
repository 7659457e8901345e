//! Replication inside the broker: drives one [`ghyll_replication::Replica`]
//! per replica of a replicated partition (replication factor above 1),
//! the partition's [`Controller`], and the logs, in process.
//!
//! Every replica of a partition lives in this process, on its node's
//! directory. Messages between replicas go through an in-memory outbox
//! that [`pump`] delivers in rounds until the partition is idle (every
//! follower caught up and waiting with a fetch to the leader); the
//! `ghyll-replication` thread pumps every replicated partition on a timer
//! (ticks: ISR shrink and expansion, fetch retries), and a producer pumps
//! its partition right after an append, so `acks=all` completes without a
//! thread hand-off.
//!
//! The controller's decision (leader, epoch, ISR) is written to
//! `<data_dir>/<topic>-<partition>.leader-and-isr` (checksummed, temp +
//! fsync + rename) before any replica acts on it, so a restart elects only
//! from the last ISR. A replica's epoch cache is rebuilt on open by
//! scanning its log's batch headers (partitionLeaderEpoch), which is always
//! exact; there is no separate epoch checkpoint yet.
//!
//! Durability is Kafka's rule ([`Durability::Replicated`]): a record counts
//! as replicated once it is in a follower's log (page cache). A power cut
//! of every node at once can lose acknowledged records that were not yet
//! fsynced, as in Kafka; `Durability::Fsync` on the producer fsyncs the
//! leader only.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use ghyll_log::Log;
use ghyll_replication::{
    Acks as ReplicaAcks, Batch, ChangeReason, Controller, ControllerConfig, ControllerError, Durability, EpochCache,
    LeaderAndIsr, LeaderEpoch, LogOp, Message, NodeId, Offset, Replica, ReplicaConfig, ReplicaLog, ReplicationError,
    Role,
};
use parking_lot::Mutex;

use crate::error::BrokerError;
use crate::metadata;
use crate::partition::Partition;
use crate::producer::{Acks, Completion};

const NO_LEADER: usize = usize::MAX;
/// Most message rounds one pump delivers (a follower catching up a long
/// log takes one round trip per `FETCH_BYTES_MAX`); the next pump goes on.
const ROUNDS_MAX: usize = 1_000;
/// Most time between deliveries of caught-up followers' fetches when a
/// partition is idle (well inside `replica.lag.time.max.ms`).
const IDLE_ROUND_MS: u64 = 100;
/// `replica.fetch.max.bytes`.
const FETCH_BYTES_MAX: u32 = 1024 * 1024;
/// Most controller decisions applied in one go (they cascade: an ISR
/// change can trigger a preferred-leader election).
const DECISIONS_MAX: usize = 1_000;
const STATE_HEADER: &str = "ghyll-leader-and-isr 1";

/// The replication state of one replicated partition.
#[derive(Debug)]
pub(crate) struct Replicated {
    /// Index (into the partition's replicas) of the leader, or `NO_LEADER`.
    leader: AtomicUsize,
    last_leader: AtomicUsize,
    generation: AtomicU64,
    /// What consumers may read up to: the leader's readable high watermark.
    high_watermark: AtomicU64,
    state_path: PathBuf,
    clock: Instant,
    config: ReplicaConfig,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// One per replica; `None` while its node is down.
    replicas: Vec<Option<Replica>>,
    controller: Controller,
    /// Messages not yet delivered: (from, to, message).
    outbox: Vec<(NodeId, NodeId, Message)>,
    decisions: VecDeque<LeaderAndIsr>,
    /// `acks=all` sends waiting for the high watermark, by first offset.
    pending: BTreeMap<Offset, Arc<Completion>>,
    /// Set when the broker closes or the topic is deleted.
    shut: Option<Shut>,
    /// When `pump` last delivered caught-up followers' fetches.
    last_idle_round_ms: u64,
    persisted: Option<(LeaderEpoch, Option<NodeId>, BTreeSet<NodeId>)>,
}

/// What a partition's leader, replicas and ISR are, for `describe_topic`.
#[derive(Debug, Clone)]
pub(crate) struct ReplicationView {
    pub(crate) leader: Option<u32>,
    pub(crate) isr: Vec<u32>,
}

/// How to set up a replicated partition.
pub(crate) struct Setup<'a> {
    pub(crate) topic: &'a str,
    pub(crate) partition: u32,
    pub(crate) replicas: &'a [NodeId],
    pub(crate) logs: &'a [Log],
    pub(crate) min_insync_replicas: usize,
    pub(crate) unclean_leader_election: bool,
    pub(crate) replica_lag_time_max_ms: u64,
    pub(crate) alive: &'a BTreeSet<NodeId>,
    pub(crate) clock: Instant,
    pub(crate) state_path: PathBuf,
    /// A new partition (epoch 0, every live replica in the ISR) rather than
    /// one recovered from its state file and logs.
    pub(crate) created: bool,
}

impl Replicated {
    /// Builds the replicas and the controller and queues the first
    /// decision; [`start`] applies it once the partition exists.
    pub(crate) fn new(setup: Setup<'_>) -> Result<Replicated, BrokerError> {
        let mut config = ReplicaConfig::default();
        config.min_insync_replicas = setup.min_insync_replicas;
        config.replica_lag_time_max_ms = setup.replica_lag_time_max_ms;
        config.fetch_max_bytes = FETCH_BYTES_MAX;
        // Messages wait in the outbox between pumps, which paces fetches:
        // a follower fetches again at once, as a long poll would.
        config.fetch_backoff_ms = 0;
        config.fetch_timeout_ms = 1_000;
        config.durability = Durability::Replicated;
        let mut replicas = Vec::with_capacity(setup.replicas.len());
        let mut max_epoch: Option<LeaderEpoch> = None;
        for (i, &node) in setup.replicas.iter().enumerate() {
            if !setup.alive.contains(&node) {
                replicas.push(None);
                continue;
            }
            let replica = build_replica(setup.topic, setup.partition, node, setup.replicas, &config, &setup.logs[i])?;
            max_epoch = max_epoch.max(replica.epoch_cache().latest_epoch());
            replicas.push(Some(replica));
        }
        let mut controller_config = ControllerConfig::default();
        controller_config.unclean_leader_election = setup.unclean_leader_election;
        let mut controller = Controller::new(controller_config, setup.alive.iter().copied());
        let controller_error = |reason: String| BrokerError::InvalidConfig {
            name: "replicas".into(),
            value: format!("{:?}", setup.replicas),
            reason,
        };
        let decision = if setup.created {
            controller.add_partition(0, setup.replicas.to_vec()).map_err(|e| controller_error(e.to_string()))?
        } else {
            let all: BTreeSet<NodeId> = setup.replicas.iter().copied().collect();
            let (epoch, isr) = match load_state(&setup.state_path)? {
                Some((epoch, _, isr)) => {
                    let isr: BTreeSet<NodeId> = isr.intersection(&all).copied().collect();
                    (Some(epoch), if isr.is_empty() { all } else { isr })
                }
                None => (None, all),
            };
            // Above every epoch any replica's log holds, so no replica
            // refuses the new leader as stale.
            let epoch = match epoch.max(max_epoch) {
                Some(epoch) => epoch + 1,
                None => 0,
            };
            controller
                .recover_partition(0, setup.replicas.to_vec(), epoch, isr)
                .map_err(|e| controller_error(e.to_string()))?
        };
        Ok(Replicated {
            leader: AtomicUsize::new(NO_LEADER),
            last_leader: AtomicUsize::new(0),
            generation: AtomicU64::new(0),
            high_watermark: AtomicU64::new(0),
            state_path: setup.state_path,
            clock: setup.clock,
            config,
            state: Mutex::new(State {
                replicas,
                controller,
                outbox: Vec::new(),
                decisions: VecDeque::from([decision]),
                pending: BTreeMap::new(),
                shut: None,
                last_idle_round_ms: 0,
                persisted: None,
            }),
        })
    }

    /// The leader's index into the partition's replicas.
    #[inline]
    pub(crate) fn leader_index(&self) -> Option<usize> {
        let index = self.leader.load(Ordering::Acquire);
        (index != NO_LEADER).then_some(index)
    }

    pub(crate) fn last_leader_index(&self) -> usize {
        self.last_leader.load(Ordering::Acquire)
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    #[inline]
    pub(crate) fn high_watermark(&self) -> u64 {
        self.high_watermark.load(Ordering::Acquire)
    }

    /// The state file, removed with the topic.
    pub(crate) fn state_path(&self) -> &Path {
        &self.state_path
    }

    pub(crate) fn view(&self) -> ReplicationView {
        let state = self.state.lock();
        match state.controller.state(0) {
            Some(s) => ReplicationView { leader: s.leader, isr: s.isr.iter().copied().collect() },
            None => ReplicationView { leader: None, isr: Vec::new() },
        }
    }

    fn now_ms(&self) -> u64 {
        self.clock.elapsed().as_millis() as u64
    }
}

fn replicated(partition: &Partition) -> &Replicated {
    partition.replication.as_ref().expect("a replicated partition")
}

fn index_of(partition: &Partition, node: NodeId) -> Option<usize> {
    partition.replicas.iter().position(|&n| n == node)
}

/// A replica recovered from its log: the log end, and the epoch cache
/// rebuilt from the batches' partitionLeaderEpoch.
fn build_replica(
    topic: &str,
    partition: u32,
    node: NodeId,
    replicas: &[NodeId],
    config: &ReplicaConfig,
    log: &Log,
) -> Result<Replica, BrokerError> {
    let cache = match load_epoch_checkpoint(log) {
        Some(cache) => cache,
        None => {
            let cache = scan_epoch_cache(log).map_err(|error| BrokerError::log(topic, partition, error))?;
            store_epoch_checkpoint(log, &cache)?;
            cache
        }
    };
    Replica::new(node, replicas.to_vec(), config.clone(), log.log_end_offset(), cache, 0)
        .map_err(|source| BrokerError::Replication { topic: topic.to_string(), partition, source })
}

/// Kafka's name for a replica's epoch cache file, in its log directory.
const EPOCH_CHECKPOINT: &str = "leader-epoch-checkpoint";

/// Writes the epoch cache in Kafka's `leader-epoch-checkpoint` text format
/// (`0`, the entry count, then `epoch startOffset` per line): temp file,
/// fsync, rename, fsync of the directory.
fn store_epoch_checkpoint(log: &Log, cache: &EpochCache) -> Result<(), BrokerError> {
    let entries = cache.entries();
    let mut text = format!("0\n{}\n", entries.len());
    for entry in entries {
        text.push_str(&format!("{} {}\n", entry.epoch, entry.start_offset));
    }
    let dir = log.dir();
    metadata::replace_file(&dir.join(EPOCH_CHECKPOINT), &dir.join(format!("{EPOCH_CHECKPOINT}.tmp")), text.as_bytes())
}

/// The checkpointed epoch cache, cut to the log end; `None` when it is
/// missing, unreadable, or older than the log's last batch (then the
/// caller rebuilds it from the log).
fn load_epoch_checkpoint(log: &Log) -> Option<EpochCache> {
    let text = std::fs::read_to_string(log.dir().join(EPOCH_CHECKPOINT)).ok()?;
    let mut lines = text.lines();
    if lines.next()? != "0" {
        return None;
    }
    let count: usize = lines.next()?.parse().ok()?;
    let mut cache = EpochCache::new();
    let mut previous: Option<(LeaderEpoch, Offset)> = None;
    for _ in 0..count {
        let (epoch, start) = lines.next()?.split_once(' ')?;
        let (epoch, start): (LeaderEpoch, Offset) = (epoch.parse().ok()?, start.parse().ok()?);
        if previous.is_some_and(|(e, o)| epoch <= e || start < o) {
            return None;
        }
        cache.assign(epoch, start);
        previous = Some((epoch, start));
    }
    if lines.next().is_some() {
        return None;
    }
    let end = log.log_end_offset();
    cache.truncate_from(end);
    // The last batch's epoch must be known (it is, when the checkpoint was
    // written before the batch; a file from elsewhere may not be).
    if end > log.log_start_offset() {
        let read = log.read(end - 1, 1).ok()?;
        let last = read.batches().last()?.ok()?;
        if Some(last.header().partition_leader_epoch.max(0) as LeaderEpoch) > cache.latest_epoch() {
            return None;
        }
    }
    Some(cache)
}

fn scan_epoch_cache(log: &Log) -> Result<EpochCache, ghyll_log::LogError> {
    let mut cache = EpochCache::new();
    let mut at = log.log_start_offset();
    let end = log.log_end_offset();
    while at < end {
        let read = log.read(at, FETCH_BYTES_MAX)?;
        if read.is_empty() {
            break;
        }
        for batch in read.batches() {
            let batch = batch.map_err(|source| ghyll_log::LogError::InvalidBatch { source })?;
            cache.assign(batch.header().partition_leader_epoch.max(0) as LeaderEpoch, batch.base_offset());
        }
        at = read.next_offset();
    }
    Ok(cache)
}

/// A replica's log as the leader's [`Replica`] reads it to answer fetches.
struct LogAdapter<'a> {
    log: &'a Log,
}

impl ReplicaLog for LogAdapter<'_> {
    fn log_start_offset(&self) -> Offset {
        self.log.log_start_offset()
    }

    fn read(&self, from: Offset, max_bytes: u32) -> Vec<Batch> {
        match self.log.read(from, max_bytes) {
            Ok(read) => read
                .batches()
                .filter_map(Result::ok)
                .filter(|batch| batch.base_offset() >= from)
                .map(|batch| Batch {
                    base_offset: batch.base_offset(),
                    record_count: (batch.last_offset() - batch.base_offset() + 1) as u32,
                    leader_epoch: batch.header().partition_leader_epoch.max(0) as LeaderEpoch,
                    payload: batch.as_bytes().to_vec(),
                })
                .collect(),
            Err(error) => {
                tracing::warn!(dir = %self.log.dir().display(), from, %error, "replica fetch read failed");
                Vec::new()
            }
        }
    }
}

fn map_error(partition: &Partition, error: ReplicationError) -> BrokerError {
    let topic = partition.topic.to_string();
    match error {
        ReplicationError::NotEnoughReplicas { isr_size, min_insync_replicas }
        | ReplicationError::NotEnoughReplicasAfterAppend { isr_size, min_insync_replicas, .. } => {
            BrokerError::NotEnoughReplicas {
                topic,
                partition: partition.id,
                isr: isr_size,
                min_insync: min_insync_replicas,
            }
        }
        ReplicationError::NotLeader { leader, .. } => BrokerError::NotLeader { topic, partition: partition.id, leader },
        source => BrokerError::Replication { topic, partition: partition.id, source },
    }
}

fn not_leader(partition: &Partition) -> BrokerError {
    BrokerError::NotLeader { topic: partition.topic.to_string(), partition: partition.id, leader: None }
}

/// Applies the first decision(s) of a new or reopened partition.
pub(crate) fn start(partition: &Partition) {
    let replication = replicated(partition);
    let mut state = replication.state.lock();
    apply_decisions(partition, &mut state);
    run_rounds(partition, &mut state, true);
}

/// Appends a producer's batch on the leader. Returns the first offset when
/// the send is done (`acks` none or leader), `None` when the completion
/// waits for the high watermark (`acks=all`).
///
/// # Errors
/// [`BrokerError::NotLeader`] without a leader,
/// [`BrokerError::NotEnoughReplicas`] for `acks=all` with too small an
/// ISR (nothing is appended), the leader log's error.
pub(crate) fn propose(
    partition: &Partition,
    bytes: &[u8],
    record_count: u32,
    acks: Acks,
    fsync: bool,
    completion: &Arc<Completion>,
) -> Result<Option<u64>, BrokerError> {
    let replication = replicated(partition);
    let mut state = replication.state.lock();
    // Checked under the lock that close and delete_topic take to fail the
    // waiting acks: nothing can be left waiting after them.
    if let Some(shut) = state.shut {
        return Err(shut.error(partition));
    }
    let leader = replication.leader_index().ok_or_else(|| not_leader(partition))?;
    let now = replication.now_ms();
    let replica = state.replicas[leader].as_mut().ok_or_else(|| not_leader(partition))?;
    let replica_acks = if acks == Acks::All { ReplicaAcks::All } else { ReplicaAcks::Leader };
    let proposed =
        replica.propose(now, replica_acks, record_count, bytes.to_vec()).map_err(|e| map_error(partition, e))?;
    if replica_acks == ReplicaAcks::All {
        state.pending.insert(proposed.first_offset, Arc::clone(completion));
    }
    let mut result = process_ready(partition, &mut state, leader);
    if fsync && result.is_ok() {
        result =
            partition.logs[leader].flush().map_err(|error| BrokerError::log(&partition.topic, partition.id, error));
    }
    // Decisions (a failed leader taken out) and rounds run on every path.
    apply_decisions(partition, &mut state);
    if let Err(error) = result {
        // This send reports the error; its ack must not complete later.
        state.pending.remove(&proposed.first_offset);
        return Err(error);
    }
    run_rounds(partition, &mut state, true);
    Ok((replica_acks == ReplicaAcks::Leader).then_some(proposed.first_offset))
}

/// Ticks every live replica and delivers messages until the partition is
/// idle: the `ghyll-replication` thread's work for one partition.
pub(crate) fn pump(partition: &Partition) {
    if partition.is_deleted() {
        return;
    }
    let replication = replicated(partition);
    let mut state = replication.state.lock();
    let now = replication.now_ms();
    for i in 0..state.replicas.len() {
        if let Some(replica) = state.replicas[i].as_mut() {
            replica.tick(now);
            let _ = process_ready(partition, &mut state, i);
        }
    }
    apply_decisions(partition, &mut state);
    // Caught-up followers' waiting fetches are answered (keeping them in
    // the ISR) at most every IDLE_ROUND_MS when nothing else is going on,
    // so idle partitions cost next to nothing between ticks.
    let every = IDLE_ROUND_MS.min(replication.config.replica_lag_time_max_ms / 4);
    let forced = now.saturating_sub(state.last_idle_round_ms) >= every;
    if forced {
        state.last_idle_round_ms = now;
    }
    run_rounds(partition, &mut state, forced);
}

/// Takes `node`'s replica out: it stops fetching and serving, the
/// controller moves leadership and shrinks the ISR.
pub(crate) fn node_failed(partition: &Partition, node: NodeId) {
    let Some(i) = index_of(partition, node) else { return };
    let replication = replicated(partition);
    let mut state = replication.state.lock();
    take_out(partition, &mut state, i);
    apply_decisions(partition, &mut state);
    run_rounds(partition, &mut state, false);
}

/// Brings `node`'s replica back from its log; it rejoins as a follower,
/// truncates what diverged, catches up and rejoins the ISR.
///
/// # Errors
/// Recovering its epoch cache from the log failed.
pub(crate) fn node_restored(partition: &Partition, node: NodeId) -> Result<(), BrokerError> {
    let Some(i) = index_of(partition, node) else { return Ok(()) };
    let replication = replicated(partition);
    let mut state = replication.state.lock();
    if state.replicas[i].is_none() {
        let replica = build_replica(
            &partition.topic,
            partition.id,
            node,
            &partition.replicas,
            &replication.config,
            &partition.logs[i],
        )?;
        state.replicas[i] = Some(replica);
    }
    let decisions = state.controller.node_restored(node);
    state.decisions.extend(decisions);
    apply_decisions(partition, &mut state);
    run_rounds(partition, &mut state, true);
    Ok(())
}

/// Why a partition takes no more sends: the broker closed or the topic
/// was deleted.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Shut {
    Closed,
    Deleted,
}

impl Shut {
    fn error(self, partition: &Partition) -> BrokerError {
        match self {
            Shut::Closed => BrokerError::Closed { what: "broker" },
            Shut::Deleted => BrokerError::UnknownTopic { topic: partition.topic.to_string() },
        }
    }
}

/// Fails every `acks=all` send still waiting on `partition` and refuses
/// later ones: the broker is closing or the topic was deleted, so nothing
/// will replicate them now.
pub(crate) fn shut(partition: &Partition, why: Shut) {
    let Some(replication) = partition.replication.as_ref() else { return };
    let pending = {
        let mut state = replication.state.lock();
        state.shut = Some(why);
        std::mem::take(&mut state.pending)
    };
    for (_, completion) in pending {
        completion.complete(Err(Arc::new(why.error(partition))));
    }
}

fn take_out(partition: &Partition, state: &mut State, i: usize) {
    let replication = replicated(partition);
    let node = partition.replicas[i];
    if state.replicas[i].take().is_some() && replication.leader_index() == Some(i) {
        for (_, completion) in std::mem::take(&mut state.pending) {
            completion.complete(Err(Arc::new(not_leader(partition))));
        }
    }
    state.outbox.retain(|(from, to, _)| *from != node && *to != node);
    let decisions = state.controller.node_failed(node);
    state.decisions.extend(decisions);
}

/// Performs replica `i`'s [`Ready`](ghyll_replication::Ready). A log that
/// fails takes the replica out (as if its node failed) and returns the
/// error.
fn process_ready(partition: &Partition, state: &mut State, i: usize) -> Result<(), BrokerError> {
    let Some(replica) = state.replicas[i].as_mut() else { return Ok(()) };
    let ready = replica.ready();
    let leads = replica.role() == Role::Leader;
    let replica_log_end = replica.log_end_offset();
    let node = partition.replicas[i];
    let log = &partition.logs[i];
    let mut log_result = Ok(());
    // The checkpoint goes first: then every epoch in the log is in it (an
    // entry past the log end is dropped when it is loaded).
    if ready.epoch_cache_changed {
        if let Err(error) = store_epoch_checkpoint(log, replica.epoch_cache()) {
            tracing::error!(topic = %partition.topic, partition = partition.id, node, %error, "writing the leader epoch checkpoint failed");
            log_result = Err(error);
        }
    }
    for op in ready.log_ops.iter().take_while(|_| log_result.is_ok()) {
        let result = match op {
            LogOp::Append(batch) => append(partition, log, batch, leads),
            LogOp::Truncate(to) => log
                .truncate_to(*to)
                .map(|_| ())
                .map_err(|error| BrokerError::log(&partition.topic, partition.id, error)),
            LogOp::Reset(offset) => {
                tracing::warn!(topic = %partition.topic, partition = partition.id, node, offset, "follower behind the leader's log start: emptied and restarted there");
                log.reset_to(*offset).map_err(|error| BrokerError::log(&partition.topic, partition.id, error))
            }
            other => unreachable!("unknown log op {other:?}"),
        };
        if result.is_err() {
            log_result = result;
            break;
        }
    }
    if log_result.is_ok() && log.log_end_offset() != replica_log_end {
        log_result = Err(BrokerError::Replication {
            topic: partition.topic.to_string(),
            partition: partition.id,
            source: ReplicationError::LogRead { offset: replica_log_end, got: log.log_end_offset() },
        });
    }
    // What an unclean election would lose, for its warning.
    let reported_high_watermark = if leads { ready.high_watermark } else { None };
    state.controller.report_offsets(0, node, replica_log_end, reported_high_watermark);
    for (to, message) in ready.messages {
        state.outbox.push((node, to, message));
    }
    for proposed in ready.acked {
        if let Some(completion) = state.pending.remove(&proposed.first_offset) {
            completion.complete(Ok(proposed.first_offset));
        }
    }
    for (proposed, error) in ready.failed {
        if let Some(completion) = state.pending.remove(&proposed.first_offset) {
            completion.complete(Err(Arc::new(map_error(partition, error))));
        }
    }
    if let Some(alter) = ready.alter_isr {
        match state.controller.alter_isr(0, node, alter.leader_epoch, alter.isr) {
            Ok(decisions) => state.decisions.extend(decisions),
            Err(ControllerError::StaleIsrChange { .. }) => {
                if let Some(current) = state.controller.state(0) {
                    state.decisions.push_back(current.clone());
                }
            }
            Err(error) => {
                tracing::error!(topic = %partition.topic, partition = partition.id, %error, "ISR change refused")
            }
        }
    }
    if leads {
        update_high_watermark(partition, state);
    }
    if let Err(error) = log_result {
        tracing::error!(topic = %partition.topic, partition = partition.id, node, %error, "replica log failed; taking the replica out");
        take_out(partition, state, i);
        return Err(error);
    }
    Ok(())
}

fn append(partition: &Partition, log: &Log, batch: &Batch, leads: bool) -> Result<(), BrokerError> {
    let appended = if leads {
        log.append_as_leader(&batch.payload, batch.leader_epoch as i32)
    } else {
        log.append_as_follower(&batch.payload)
    };
    let info = appended.map_err(|error| BrokerError::log(&partition.topic, partition.id, error))?;
    if info.first_offset != batch.base_offset || info.last_offset != batch.last_offset() {
        return Err(BrokerError::Replication {
            topic: partition.topic.to_string(),
            partition: partition.id,
            source: ReplicationError::LogRead { offset: batch.base_offset, got: info.first_offset },
        });
    }
    Ok(())
}

/// Publishes the leader's readable high watermark to consumers.
fn update_high_watermark(partition: &Partition, state: &State) {
    let replication = replicated(partition);
    let Some(leader) = replication.leader_index() else { return };
    let Some(replica) = state.replicas[leader].as_ref() else { return };
    // A new leader's high watermark is not readable until it reaches the
    // start of its epoch; the one published before stays (it is below
    // what every ISR member, the new leader too, holds).
    let Ok(hw) = replica.readable_high_watermark(replica.leader_epoch()) else { return };
    let hw = hw.min(partition.logs[leader].log_end_offset());
    if replication.high_watermark.swap(hw, Ordering::AcqRel) != hw {
        partition.notify();
    }
}

fn apply_decisions(partition: &Partition, state: &mut State) {
    let replication = replicated(partition);
    let mut applied = 0;
    while let Some(decision) = state.decisions.pop_front() {
        applied += 1;
        if applied > DECISIONS_MAX {
            tracing::error!(topic = %partition.topic, partition = partition.id, "controller decisions do not settle");
            state.decisions.clear();
            return;
        }
        if !persist(partition, state, &decision) {
            // Never act on a decision a restart would not know: keep it
            // (and those after it) for the next pump to retry.
            state.decisions.push_front(decision);
            return;
        }
        if let ChangeReason::UncleanElection { offsets_maybe_lost } = decision.reason {
            // Kafka's unclean.leader.election.enable: said loudly, since
            // acknowledged records the new leader lacks are gone.
            tracing::error!(
                topic = %partition.topic,
                partition = partition.id,
                leader = decision.leader,
                epoch = decision.leader_epoch,
                offsets_maybe_lost,
                "UNCLEAN leader election: no ISR member was alive, so a replica outside the ISR leads; \
                 acknowledged records it does not have are lost"
            );
        }
        let index = decision.leader.and_then(|node| index_of(partition, node)).unwrap_or(NO_LEADER);
        if replication.leader.swap(index, Ordering::AcqRel) != index {
            if index != NO_LEADER {
                replication.last_leader.store(index, Ordering::Release);
                tracing::info!(topic = %partition.topic, partition = partition.id, leader = decision.leader, epoch = decision.leader_epoch, isr = ?decision.isr, "new leader");
            } else {
                tracing::warn!(topic = %partition.topic, partition = partition.id, "partition offline: no ISR member is alive");
            }
            replication.generation.fetch_add(1, Ordering::AcqRel);
            partition.notify();
        }
        let now = replication.now_ms();
        for i in 0..partition.replicas.len() {
            let node = partition.replicas[i];
            let Some(replica) = state.replicas[i].as_mut() else { continue };
            let result = if decision.leader == Some(node) {
                replica.become_leader(now, decision.leader_epoch, decision.isr.clone())
            } else {
                replica.become_follower(now, decision.leader_epoch, decision.leader)
            };
            match result {
                Ok(()) | Err(ReplicationError::FencedLeaderEpoch { .. }) => {}
                Err(error) => {
                    tracing::error!(topic = %partition.topic, partition = partition.id, node, %error, "replica refused a decision")
                }
            }
            let _ = process_ready(partition, state, i);
        }
        update_high_watermark(partition, state);
    }
}

/// Whether every message waiting is a caught-up follower's fetch to the
/// leader: nothing to do until the next append or tick.
fn idle(partition: &Partition, state: &State) -> bool {
    let leader = replicated(partition).leader_index();
    let leader_replica = leader.and_then(|i| state.replicas[i].as_ref());
    let leader_log_end = leader_replica.map(Replica::log_end_offset);
    // A caught-up follower's fetch still moves the high watermark when the
    // leader has not seen it yet: deliver it now rather than on the next
    // tick, or acks=all waits for the timer.
    if leader_replica.is_some_and(|r| r.high_watermark() < r.log_end_offset())
        && state.outbox.iter().any(|(_, _, message)| matches!(message, Message::Fetch(_)))
    {
        return false;
    }
    state.outbox.iter().all(|(_, to, message)| match message {
        Message::Fetch(request) => {
            leader.is_some_and(|i| partition.replicas[i] == *to) && Some(request.fetch_offset) == leader_log_end
        }
        _ => false,
    })
}

/// Delivers messages round by round until idle (after at least one round
/// when `deliver_once`, so caught-up followers' fetches reach the leader
/// and keep them in the ISR).
fn run_rounds(partition: &Partition, state: &mut State, deliver_once: bool) {
    let replication = replicated(partition);
    for round in 0..ROUNDS_MAX {
        if (round > 0 || !deliver_once) && idle(partition, state) {
            return;
        }
        let messages = std::mem::take(&mut state.outbox);
        if messages.is_empty() {
            return;
        }
        let now = replication.now_ms();
        for (from, to, message) in messages {
            let (Some(from_index), Some(to_index)) = (index_of(partition, from), index_of(partition, to)) else {
                continue;
            };
            if state.replicas[from_index].is_none() {
                continue;
            }
            let Some(replica) = state.replicas[to_index].as_mut() else { continue };
            let adapter = LogAdapter { log: &partition.logs[to_index] };
            match replica.step(now, from, message, &adapter) {
                Ok(()) | Err(ReplicationError::InvalidFetchResponse { .. }) => {}
                Err(error) => {
                    tracing::warn!(topic = %partition.topic, partition = partition.id, node = to, %error, "replica message failed")
                }
            }
            let _ = process_ready(partition, state, to_index);
            apply_decisions(partition, state);
        }
    }
}

/// Writes the decision to the state file before any replica acts on it;
/// false when that failed (the caller must not apply it).
fn persist(partition: &Partition, state: &mut State, decision: &LeaderAndIsr) -> bool {
    let record = (decision.leader_epoch, decision.leader, decision.isr.clone());
    if state.persisted.as_ref() == Some(&record) {
        return true;
    }
    let path = &replicated(partition).state_path;
    match store_state(path, &record) {
        Ok(()) => {
            state.persisted = Some(record);
            true
        }
        Err(error) => {
            tracing::error!(topic = %partition.topic, partition = partition.id, %error, "persisting leader and ISR failed; retrying");
            false
        }
    }
}

type StateRecord = (LeaderEpoch, Option<NodeId>, BTreeSet<NodeId>);

fn encode_state((epoch, leader, isr): &StateRecord) -> String {
    let leader = leader.map_or("-".to_string(), |n| n.to_string());
    let isr: Vec<String> = isr.iter().map(u32::to_string).collect();
    let mut text = format!("{STATE_HEADER}\nepoch\t{epoch}\nleader\t{leader}\nisr\t{}\n", isr.join(","));
    let crc = crc32fast::hash(text.as_bytes());
    text.push_str(&format!("crc32\t{crc:08x}\n"));
    text
}

fn decode_state(text: &str) -> Option<StateRecord> {
    let body_end = text.rfind("crc32\t")?;
    let (body, crc_line) = text.split_at(body_end);
    let stored = crc_line.strip_suffix('\n')?.strip_prefix("crc32\t")?;
    if u32::from_str_radix(stored, 16).ok()? != crc32fast::hash(body.as_bytes()) {
        return None;
    }
    let mut lines = body.lines();
    if lines.next()? != STATE_HEADER {
        return None;
    }
    let epoch = lines.next()?.strip_prefix("epoch\t")?.parse().ok()?;
    let leader = match lines.next()?.strip_prefix("leader\t")? {
        "-" => None,
        n => Some(n.parse().ok()?),
    };
    let isr_text = lines.next()?.strip_prefix("isr\t")?;
    let isr = if isr_text.is_empty() {
        BTreeSet::new()
    } else {
        isr_text.split(',').map(str::parse).collect::<Result<_, _>>().ok()?
    };
    Some((epoch, leader, isr))
}

fn store_state(path: &Path, record: &StateRecord) -> Result<(), BrokerError> {
    let mut temp = path.as_os_str().to_owned();
    temp.push(".tmp");
    metadata::replace_file(path, Path::new(&temp), encode_state(record).as_bytes())
}

/// The persisted decision; a missing file is `None`, a damaged one is
/// ignored with a warning (every replica then counts as in sync: only a
/// file damaged on disk gets there).
fn load_state(path: &Path) -> Result<Option<StateRecord>, BrokerError> {
    match fs::read_to_string(path) {
        Ok(text) => {
            let record = decode_state(&text);
            if record.is_none() {
                tracing::warn!(path = %path.display(), "leader and ISR state is damaged; ignoring it");
            }
            Ok(record)
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(BrokerError::io("read leader and ISR state", path, error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_file_round_trips_and_detects_damage() {
        let record = (7, Some(2), BTreeSet::from([0, 2]));
        let text = encode_state(&record);
        assert_eq!(decode_state(&text), Some(record));
        assert_eq!(decode_state(&encode_state(&(1, None, BTreeSet::from([1])))), Some((1, None, BTreeSet::from([1]))));
        for at in 0..text.len() {
            let mut bytes = text.clone().into_bytes();
            bytes[at] ^= 0x01;
            let Ok(damaged) = String::from_utf8(bytes) else { continue };
            assert_eq!(decode_state(&damaged), None, "flip at {at} went unnoticed");
        }
    }
}
