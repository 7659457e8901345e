//! [`Replica`]: one replica of one partition, on one node, as a sans-IO
//! state machine.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::config::{Durability, ReplicaConfig};
use crate::epoch_cache::EpochCache;
use crate::error::ReplicationError;
use crate::message::{FetchRequest, FetchResponse, FetchResult, Message};
use crate::types::{Acks, Batch, LeaderEpoch, NodeId, Offset, Proposed};
use crate::watermark::{high_watermark, is_in_sync, last_caught_up_ms};

/// The log reads a leader needs to answer fetches. The broker implements
/// it over ghyll-log, a simulator over a `Vec`.
///
/// The driver applies every [`Ready`]'s [`LogOp`]s before the next call
/// into the replica, so the log always holds exactly the offsets below
/// [`Replica::log_end_offset`].
pub trait ReplicaLog {
    /// Whole batches starting exactly at `from` (which is below the log end
    /// offset), in order and contiguous, at most `max_bytes` of payload but
    /// always at least one batch.
    fn read(&self, from: Offset, max_bytes: u32) -> Vec<Batch>;

    /// The first offset the log still holds (retention moves it up); a
    /// follower fetching below it is told to start over there.
    fn log_start_offset(&self) -> Offset {
        0
    }
}

/// A change to the replica's log, for the driver to perform in order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogOp {
    /// Append the batch at the log end (its base offset is the log end
    /// offset).
    Append(Batch),
    /// Remove every record at or above the offset.
    Truncate(Offset),
    /// Empty the log and start it again at the offset (Kafka's
    /// `truncateFullyAndStartAt`): the leader's log no longer holds what
    /// this follower lacks.
    Reset(Offset),
}

/// A leader's request to change the ISR (Kafka's `AlterPartition`). The
/// driver sends it to the [`Controller`](crate::Controller) and delivers
/// the answer with [`Replica::become_leader`] (same epoch, the ISR the
/// controller committed). Until then the leader counts the union of the old
/// and the new ISR towards the high watermark (KIP-497's "maximal ISR").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterIsr {
    /// The leader's epoch.
    pub leader_epoch: LeaderEpoch,
    /// The ISR it asks for.
    pub isr: BTreeSet<NodeId>,
}

/// Everything a replica asks its driver to do, drained with
/// [`Replica::ready`]. Perform the log operations (in order) before the
/// next call into the replica; send the messages; report the rest.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Ready {
    /// Messages to send, with their destination node.
    pub messages: Vec<(NodeId, Message)>,
    /// Appends and truncations, in order.
    pub log_ops: Vec<LogOp>,
    /// The new high watermark, if it changed.
    pub high_watermark: Option<Offset>,
    /// An ISR change for the controller (leaders only).
    pub alter_isr: Option<AlterIsr>,
    /// `acks=all` proposals now acknowledged: the high watermark passed
    /// them with enough replicas in sync.
    pub acked: Vec<Proposed>,
    /// `acks=all` proposals that failed: `NotEnoughReplicasAfterAppend`,
    /// or `NotLeader` when leadership moved before the high watermark
    /// passed them (the records may still survive).
    pub failed: Vec<(Proposed, ReplicationError)>,
    /// The [`EpochCache`] changed: checkpoint [`Replica::epoch_cache`].
    pub epoch_cache_changed: bool,
}

impl Ready {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self == &Ready::default()
    }
}

/// A replica's role, as [`Replica::role`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Role {
    /// Leads the partition.
    Leader,
    /// Follows `leader` (none while the partition has no leader).
    Follower {
        /// The leader it fetches from.
        leader: Option<NodeId>,
    },
}

#[derive(Debug)]
struct InFlight {
    correlation_id: u64,
    sent_ms: u64,
    fetch_offset: Offset,
    last_fetched_epoch: Option<LeaderEpoch>,
}

#[derive(Debug)]
struct FollowerRole {
    leader: Option<NodeId>,
    in_flight: Option<InFlight>,
    next_fetch_ms: u64,
}

/// What a leader knows of one follower, from its fetches in this epoch.
#[derive(Debug, Clone)]
struct RemoteReplica {
    /// The follower's log end offset; `None` until it fetches validly in
    /// this epoch.
    log_end_offset: Option<Offset>,
    /// What counts towards the high watermark (see [`Durability`]).
    counted_offset: Option<Offset>,
    last_caught_up_ms: u64,
    last_fetch_ms: u64,
    last_fetch_leader_log_end_offset: Offset,
}

#[derive(Debug)]
struct LeaderRole {
    isr: BTreeSet<NodeId>,
    pending_isr: Option<BTreeSet<NodeId>>,
    epoch_start_offset: Offset,
    remotes: BTreeMap<NodeId, RemoteReplica>,
    pending_acks: VecDeque<Proposed>,
}

#[derive(Debug)]
enum State {
    Follower(FollowerRole),
    Leader(LeaderRole),
}

/// One replica of one partition on one node: Kafka's ISR protocol with
/// leader epochs (KIP-101 / KIP-279), sans IO.
///
/// Input: [`become_leader`](Replica::become_leader) /
/// [`become_follower`](Replica::become_follower) from the controller,
/// [`propose`](Replica::propose) from producers,
/// [`step`](Replica::step) for messages from other replicas,
/// [`tick`](Replica::tick) for time and
/// [`flushed`](Replica::flushed) for fsyncs. Output: one [`Ready`] from
/// [`ready`](Replica::ready). The replica keeps its own view of the log
/// (log end offset, epoch cache); the driver keeps the log itself and
/// reads it for the leader through [`ReplicaLog`].
///
/// # Examples
/// A leader alone in its ISR acknowledges an `acks=all` proposal as soon
/// as the record is in its log.
/// ```
/// use std::collections::BTreeSet;
/// use ghyll_replication::*;
///
/// let mut leader = Replica::new(1, vec![1, 2], ReplicaConfig::default(), 0, EpochCache::new(), 0)?;
/// leader.become_leader(0, 1, BTreeSet::from([1]))?;
/// let proposed = leader.propose(0, Acks::All, 1, b"hello".to_vec())?;
/// let ready = leader.ready();
/// assert!(matches!(&ready.log_ops[0], LogOp::Append(batch) if batch.base_offset == 0));
/// assert_eq!(ready.high_watermark, Some(1));
/// assert_eq!(ready.acked, vec![proposed]);
/// # Ok::<(), ReplicationError>(())
/// ```
#[derive(Debug)]
pub struct Replica {
    node: NodeId,
    replicas: Vec<NodeId>,
    config: ReplicaConfig,
    leader_epoch: LeaderEpoch,
    log_end_offset: Offset,
    flushed_offset: Offset,
    high_watermark: Offset,
    cache: EpochCache,
    next_correlation_id: u64,
    state: State,
    ready: Ready,
}

impl Replica {
    /// A replica recovered from its log: `log_end_offset` (all of it is
    /// durable), its `epoch_cache` (truncated to the log end) and its
    /// checkpointed high watermark (clamped to the log end). It starts as
    /// a follower of no leader until the controller speaks.
    ///
    /// # Errors
    /// [`ReplicationError::InvalidConfig`] for a bad config, a replica list
    /// without `node` or with duplicates, or an epoch cache that reaches
    /// past the log end.
    pub fn new(
        node: NodeId,
        replicas: Vec<NodeId>,
        config: ReplicaConfig,
        log_end_offset: Offset,
        epoch_cache: EpochCache,
        high_watermark: Offset,
    ) -> Result<Replica, ReplicationError> {
        config.validate()?;
        let unique: BTreeSet<NodeId> = replicas.iter().copied().collect();
        if !unique.contains(&node) || unique.len() != replicas.len() {
            return Err(ReplicationError::InvalidConfig {
                name: "replicas",
                reason: "must hold this node, each node once",
            });
        }
        if epoch_cache.latest().is_some_and(|e| e.start_offset >= log_end_offset) {
            return Err(ReplicationError::InvalidConfig {
                name: "epoch_cache",
                reason: "starts an epoch at or past the log end offset",
            });
        }
        if log_end_offset > 0 && epoch_cache.latest().is_none() {
            return Err(ReplicationError::InvalidConfig {
                name: "epoch_cache",
                reason: "is empty for a non-empty log",
            });
        }
        Ok(Replica {
            node,
            replicas,
            config,
            leader_epoch: epoch_cache.latest_epoch().unwrap_or(0),
            log_end_offset,
            flushed_offset: log_end_offset,
            high_watermark: high_watermark.min(log_end_offset),
            cache: epoch_cache,
            next_correlation_id: 0,
            state: State::Follower(FollowerRole { leader: None, in_flight: None, next_fetch_ms: 0 }),
            ready: Ready::default(),
        })
    }

    /// This replica's node.
    pub fn node(&self) -> NodeId {
        self.node
    }

    /// The partition's replicas, preferred leader first.
    pub fn replicas(&self) -> &[NodeId] {
        &self.replicas
    }

    /// The leader epoch this replica is at.
    pub fn leader_epoch(&self) -> LeaderEpoch {
        self.leader_epoch
    }

    /// Leader or follower.
    pub fn role(&self) -> Role {
        match &self.state {
            State::Leader(_) => Role::Leader,
            State::Follower(f) => Role::Follower { leader: f.leader },
        }
    }

    /// Whether this replica leads at `leader_epoch`.
    pub fn is_leader_at(&self, leader_epoch: LeaderEpoch) -> bool {
        matches!(self.state, State::Leader(_)) && self.leader_epoch == leader_epoch
    }

    /// The log end offset (LEO), counting appends not yet performed.
    pub fn log_end_offset(&self) -> Offset {
        self.log_end_offset
    }

    /// How much of the log the driver reported fsynced.
    pub fn flushed_offset(&self) -> Offset {
        self.flushed_offset
    }

    /// The high watermark (HW) this replica knows.
    pub fn high_watermark(&self) -> Offset {
        self.high_watermark
    }

    /// The epoch cache, to checkpoint when [`Ready::epoch_cache_changed`].
    pub fn epoch_cache(&self) -> &EpochCache {
        &self.cache
    }

    /// The committed ISR, if this replica leads.
    pub fn isr(&self) -> Option<&BTreeSet<NodeId>> {
        match &self.state {
            State::Leader(l) => Some(&l.isr),
            State::Follower(_) => None,
        }
    }

    /// How far a consumer may read, checked as Kafka checks a consumer
    /// fetch carrying the epoch it believes current (KIP-320): only the
    /// leader of `leader_epoch` answers, and only once its high watermark
    /// has reached the start of its epoch (KIP-207), so the exposed high
    /// watermark never moves backwards across a leader change.
    ///
    /// # Errors
    /// [`ReplicationError::NotLeader`] on a follower,
    /// [`FencedLeaderEpoch`](ReplicationError::FencedLeaderEpoch) /
    /// [`UnknownLeaderEpoch`](ReplicationError::UnknownLeaderEpoch) for
    /// another epoch, [`OffsetNotAvailable`](ReplicationError::OffsetNotAvailable)
    /// while a new leader's high watermark lags.
    pub fn readable_high_watermark(&self, leader_epoch: LeaderEpoch) -> Result<Offset, ReplicationError> {
        let State::Leader(leader) = &self.state else {
            return Err(self.not_leader());
        };
        self.check_epoch(leader_epoch)?;
        if self.high_watermark < leader.epoch_start_offset {
            return Err(ReplicationError::OffsetNotAvailable {
                high_watermark: self.high_watermark,
                epoch_start_offset: leader.epoch_start_offset,
            });
        }
        Ok(self.high_watermark)
    }

    /// Drains what the driver must do.
    pub fn ready(&mut self) -> Ready {
        std::mem::take(&mut self.ready)
    }

    /// The controller made this replica the leader at `leader_epoch` with
    /// `isr`. The same epoch again only updates the ISR (the answer to an
    /// [`AlterIsr`]). A new epoch starts at the log end offset in the epoch
    /// cache, and every follower must fetch again before it counts.
    ///
    /// # Errors
    /// [`ReplicationError::FencedLeaderEpoch`] for an epoch older than this
    /// replica's (a stale decision, ignored);
    /// [`InvalidConfig`](ReplicationError::InvalidConfig) for an ISR
    /// without this node or with non-replicas.
    pub fn become_leader(
        &mut self,
        now_ms: u64,
        leader_epoch: LeaderEpoch,
        isr: BTreeSet<NodeId>,
    ) -> Result<(), ReplicationError> {
        if leader_epoch < self.leader_epoch {
            return Err(ReplicationError::FencedLeaderEpoch { given: leader_epoch, current: self.leader_epoch });
        }
        if !isr.contains(&self.node) || !isr.iter().all(|n| self.replicas.contains(n)) {
            return Err(ReplicationError::InvalidConfig {
                name: "isr",
                reason: "must hold the leader and only replicas",
            });
        }
        if let State::Leader(leader) = &mut self.state {
            if leader_epoch == self.leader_epoch {
                leader.isr = isr;
                leader.pending_isr = None;
                // No new AlterIsr until the next fetch or tick: the
                // controller may have refused a member (a dead node).
                self.maybe_advance_high_watermark();
                return Ok(());
            }
        }
        let pending_acks = match std::mem::replace(&mut self.state, State::Follower(FollowerRole::idle())) {
            State::Leader(old) => old.pending_acks,
            State::Follower(_) => VecDeque::new(),
        };
        self.leader_epoch = leader_epoch;
        if self.cache.assign(leader_epoch, self.log_end_offset) {
            self.ready.epoch_cache_changed = true;
        }
        let remotes = self
            .replicas
            .iter()
            .filter(|&&n| n != self.node)
            .map(|&n| {
                let remote = RemoteReplica {
                    log_end_offset: None,
                    counted_offset: None,
                    last_caught_up_ms: now_ms,
                    last_fetch_ms: now_ms,
                    last_fetch_leader_log_end_offset: self.log_end_offset,
                };
                (n, remote)
            })
            .collect();
        self.state = State::Leader(LeaderRole {
            isr,
            pending_isr: None,
            epoch_start_offset: self.log_end_offset,
            remotes,
            pending_acks,
        });
        self.maybe_advance_high_watermark();
        Ok(())
    }

    /// The controller made this replica a follower of `leader` (none: the
    /// partition is offline) at `leader_epoch`. It fetches from the leader
    /// at once; truncation, if its log diverged, follows from the leader's
    /// answer. `acks=all` proposals still pending fail with `NotLeader`.
    ///
    /// # Errors
    /// [`ReplicationError::FencedLeaderEpoch`] for an epoch older than this
    /// replica's; [`InvalidConfig`](ReplicationError::InvalidConfig) if
    /// `leader` is this node or not a replica.
    pub fn become_follower(
        &mut self,
        now_ms: u64,
        leader_epoch: LeaderEpoch,
        leader: Option<NodeId>,
    ) -> Result<(), ReplicationError> {
        if leader_epoch < self.leader_epoch {
            return Err(ReplicationError::FencedLeaderEpoch { given: leader_epoch, current: self.leader_epoch });
        }
        if leader.is_some_and(|l| l == self.node || !self.replicas.contains(&l)) {
            return Err(ReplicationError::InvalidConfig { name: "leader", reason: "must be another replica" });
        }
        if let State::Follower(f) = &self.state {
            if leader_epoch == self.leader_epoch && f.leader == leader {
                return Ok(());
            }
        }
        let old = std::mem::replace(&mut self.state, State::Follower(FollowerRole::idle()));
        self.leader_epoch = leader_epoch;
        if let State::Leader(old) = old {
            for proposed in old.pending_acks {
                self.ready.failed.push((proposed, self.not_leader_with(leader)));
            }
        }
        self.state = State::Follower(FollowerRole { leader, in_flight: None, next_fetch_ms: now_ms });
        if self.config.truncate_to_high_watermark_on_become_follower {
            // Pre-KIP-101: trust the high watermark, whatever the leader's
            // log says.
            let to = self.high_watermark;
            self.truncate(to);
        }
        self.maybe_fetch(now_ms);
        Ok(())
    }

    /// Appends a batch of `record_count` records as the leader.
    ///
    /// With [`Acks::All`] the proposal is acknowledged (or fails) later, in
    /// [`Ready::acked`] / [`Ready::failed`].
    ///
    /// # Errors
    /// [`ReplicationError::NotLeader`] on a follower;
    /// [`NotEnoughReplicas`](ReplicationError::NotEnoughReplicas) for
    /// `acks=all` while the ISR is below `min.insync.replicas` (nothing is
    /// appended: never a silent downgrade);
    /// [`InvalidBatch`](ReplicationError::InvalidBatch) for 0 records;
    /// [`TooManyPendingAcks`](ReplicationError::TooManyPendingAcks).
    pub fn propose(
        &mut self,
        now_ms: u64,
        acks: Acks,
        record_count: u32,
        payload: Vec<u8>,
    ) -> Result<Proposed, ReplicationError> {
        let _ = now_ms;
        let not_leader = self.not_leader();
        let State::Leader(leader) = &mut self.state else {
            return Err(not_leader);
        };
        if record_count == 0 {
            return Err(ReplicationError::InvalidBatch { reason: "a batch holds at least one record" });
        }
        if acks == Acks::All {
            if leader.isr.len() < self.config.min_insync_replicas {
                return Err(ReplicationError::NotEnoughReplicas {
                    isr_size: leader.isr.len(),
                    min_insync_replicas: self.config.min_insync_replicas,
                });
            }
            if leader.pending_acks.len() >= self.config.pending_acks_max {
                return Err(ReplicationError::TooManyPendingAcks { max: self.config.pending_acks_max });
            }
        }
        let batch = Batch { base_offset: self.log_end_offset, record_count, leader_epoch: self.leader_epoch, payload };
        let proposed = Proposed { first_offset: batch.base_offset, last_offset: batch.last_offset() };
        self.log_end_offset = batch.next_offset();
        self.ready.log_ops.push(LogOp::Append(batch));
        if acks == Acks::All {
            leader.pending_acks.push_back(proposed);
        }
        self.maybe_advance_high_watermark();
        Ok(proposed)
    }

    /// The driver fsynced the log up to `offset`. With
    /// [`Durability::Flushed`] this is what counts towards the high
    /// watermark.
    pub fn flushed(&mut self, offset: Offset) {
        let offset = offset.min(self.log_end_offset);
        if offset > self.flushed_offset {
            self.flushed_offset = offset;
            if matches!(self.state, State::Leader(_)) {
                self.maybe_advance_high_watermark();
            }
        }
    }

    /// Time passes: followers (re)send fetches, leaders shrink the ISR of
    /// followers that have not caught up within `replica.lag.time.max.ms`.
    pub fn tick(&mut self, now_ms: u64) {
        match &mut self.state {
            State::Follower(f) => {
                if f.in_flight
                    .as_ref()
                    .is_some_and(|i| now_ms.saturating_sub(i.sent_ms) >= self.config.fetch_timeout_ms)
                {
                    f.in_flight = None;
                }
                self.maybe_fetch(now_ms);
            }
            State::Leader(_) => self.maybe_alter_isr(now_ms),
        }
    }

    /// A message from replica `from`. A leader answers fetches, reading
    /// records through `log`; a follower appends, truncates and learns the
    /// high watermark from fetch responses. Stale and duplicated messages
    /// are ignored.
    ///
    /// # Errors
    /// [`ReplicationError::UnknownReplica`] for a sender that is not a
    /// replica; [`InvalidFetchResponse`](ReplicationError::InvalidFetchResponse)
    /// for batches that do not continue the log (nothing is applied);
    /// [`LogRead`](ReplicationError::LogRead) if `log` answers from the
    /// wrong offset.
    pub fn step(
        &mut self,
        now_ms: u64,
        from: NodeId,
        message: Message,
        log: &dyn ReplicaLog,
    ) -> Result<(), ReplicationError> {
        if from == self.node || !self.replicas.contains(&from) {
            return Err(ReplicationError::UnknownReplica { node: from });
        }
        match message {
            Message::Fetch(request) => self.on_fetch(now_ms, from, request, log),
            Message::FetchResponse(response) => self.on_fetch_response(now_ms, from, response),
        }
    }

    fn on_fetch(
        &mut self,
        now_ms: u64,
        from: NodeId,
        request: FetchRequest,
        log: &dyn ReplicaLog,
    ) -> Result<(), ReplicationError> {
        let result = self.answer_fetch(now_ms, from, &request, log)?;
        let response = FetchResponse {
            correlation_id: request.correlation_id,
            leader_epoch: request.leader_epoch,
            fetch_offset: request.fetch_offset,
            last_fetched_epoch: request.last_fetched_epoch,
            high_watermark: self.high_watermark,
            result,
        };
        self.ready.messages.push((from, Message::FetchResponse(response)));
        Ok(())
    }

    fn answer_fetch(
        &mut self,
        now_ms: u64,
        from: NodeId,
        request: &FetchRequest,
        log: &dyn ReplicaLog,
    ) -> Result<FetchResult, ReplicationError> {
        if !matches!(self.state, State::Leader(_)) {
            return Ok(FetchResult::NotLeader);
        }
        if request.leader_epoch < self.leader_epoch {
            return Ok(FetchResult::FencedLeaderEpoch);
        }
        if request.leader_epoch > self.leader_epoch {
            return Ok(FetchResult::UnknownLeaderEpoch);
        }
        let leo = self.log_end_offset;
        let latest = self.cache.latest_epoch().expect("a leader's cache holds its own epoch");
        // The divergence check (KIP-279 as folded into Fetch by KIP-595).
        match request.last_fetched_epoch {
            Some(epoch) => match self.cache.end_offset_for(epoch, leo) {
                Some((found, end)) if found == epoch && end >= request.fetch_offset => {}
                Some((found, end)) => return Ok(FetchResult::Diverging { epoch: found, end_offset: end }),
                // The follower has an epoch this leader never saw: it can
                // only be stale; send it back to the leader's log end.
                None => return Ok(FetchResult::Diverging { epoch: latest, end_offset: leo }),
            },
            None if request.fetch_offset > leo => {
                // Offset out of range (pre-KIP-101 followers).
                return Ok(FetchResult::Diverging { epoch: latest, end_offset: leo });
            }
            None => {}
        }
        let log_start = log.log_start_offset();
        if request.fetch_offset < log_start {
            // Retention removed what the follower lacks: it starts over at
            // the leader's log start (Kafka's OFFSET_OUT_OF_RANGE).
            return Ok(FetchResult::OffsetOutOfRange { log_start_offset: log_start });
        }
        let counted = match self.config.durability {
            Durability::Replicated => request.fetch_offset,
            Durability::Flushed => request.flushed_offset.min(request.fetch_offset),
        };
        let State::Leader(leader) = &mut self.state else { unreachable!("checked above") };
        let remote = leader.remotes.get_mut(&from).expect("every other replica has a remote entry");
        remote.last_caught_up_ms = last_caught_up_ms(
            now_ms,
            request.fetch_offset,
            leo,
            remote.last_caught_up_ms,
            remote.last_fetch_ms,
            remote.last_fetch_leader_log_end_offset,
        );
        remote.last_fetch_ms = now_ms;
        remote.last_fetch_leader_log_end_offset = leo;
        remote.log_end_offset = Some(request.fetch_offset);
        remote.counted_offset = Some(counted);
        self.maybe_advance_high_watermark();
        self.maybe_alter_isr(now_ms);
        let mut batches = Vec::new();
        if request.fetch_offset < leo {
            batches = log.read(request.fetch_offset, self.config.fetch_max_bytes);
            let mut expected = request.fetch_offset;
            for batch in &batches {
                if batch.base_offset != expected || batch.record_count == 0 || batch.next_offset() > leo {
                    return Err(ReplicationError::LogRead { offset: expected, got: batch.base_offset });
                }
                expected = batch.next_offset();
            }
        }
        Ok(FetchResult::Records(batches))
    }

    fn on_fetch_response(
        &mut self,
        now_ms: u64,
        from: NodeId,
        response: FetchResponse,
    ) -> Result<(), ReplicationError> {
        let State::Follower(f) = &mut self.state else { return Ok(()) };
        let matches = f.leader == Some(from)
            && response.leader_epoch == self.leader_epoch
            && f.in_flight.as_ref().is_some_and(|i| {
                i.correlation_id == response.correlation_id
                    && i.fetch_offset == response.fetch_offset
                    && i.last_fetched_epoch == response.last_fetched_epoch
            });
        if !matches || response.fetch_offset != self.log_end_offset {
            return Ok(());
        }
        f.in_flight = None;
        match response.result {
            FetchResult::Records(batches) => {
                let mut expected = self.log_end_offset;
                let mut epoch = self.cache.latest_epoch();
                for batch in &batches {
                    let reason = if batch.base_offset != expected {
                        Some("batches do not continue the log")
                    } else if batch.record_count == 0 {
                        Some("empty batch")
                    } else if batch.leader_epoch > self.leader_epoch || epoch.is_some_and(|e| batch.leader_epoch < e) {
                        Some("batch epochs out of order")
                    } else {
                        None
                    };
                    if let Some(reason) = reason {
                        self.schedule_fetch(now_ms + self.config.fetch_backoff_ms);
                        return Err(ReplicationError::InvalidFetchResponse { from, reason });
                    }
                    expected = batch.next_offset();
                    epoch = Some(batch.leader_epoch);
                }
                let got_records = !batches.is_empty();
                for batch in batches {
                    if self.cache.assign(batch.leader_epoch, batch.base_offset) {
                        self.ready.epoch_cache_changed = true;
                    }
                    self.log_end_offset = batch.next_offset();
                    self.ready.log_ops.push(LogOp::Append(batch));
                }
                let hw = self.high_watermark.max(response.high_watermark.min(self.log_end_offset));
                self.set_high_watermark(hw);
                if got_records {
                    self.schedule_fetch(now_ms);
                } else {
                    self.schedule_fetch(now_ms + self.config.fetch_backoff_ms);
                }
            }
            FetchResult::Diverging { epoch, end_offset } => {
                // KIP-279: truncate to where both logs agree on the epoch;
                // if this log never had the leader's epoch, truncate to the
                // end of its own floor epoch and ask again.
                let mut to = end_offset.min(self.log_end_offset);
                if response.last_fetched_epoch.is_some() {
                    if let Some((_, own_end)) = self.cache.end_offset_for(epoch, self.log_end_offset) {
                        to = to.min(own_end);
                    }
                }
                self.truncate(to);
                self.schedule_fetch(now_ms);
            }
            FetchResult::OffsetOutOfRange { log_start_offset } => {
                if log_start_offset > self.log_end_offset {
                    if self.cache.truncate_from(0) {
                        self.ready.epoch_cache_changed = true;
                    }
                    self.log_end_offset = log_start_offset;
                    self.flushed_offset = log_start_offset;
                    let hw =
                        response.high_watermark.min(log_start_offset).max(self.high_watermark.min(log_start_offset));
                    self.high_watermark = hw;
                    self.ready.high_watermark = Some(hw);
                    self.ready.log_ops.push(LogOp::Reset(log_start_offset));
                }
                self.schedule_fetch(now_ms);
            }
            FetchResult::FencedLeaderEpoch | FetchResult::UnknownLeaderEpoch | FetchResult::NotLeader => {
                self.schedule_fetch(now_ms + self.config.fetch_backoff_ms);
            }
        }
        self.maybe_fetch(now_ms);
        Ok(())
    }

    fn truncate(&mut self, to: Offset) {
        // An epoch that starts at `to` holds no records here: drop it even
        // when no record goes, or the next fetch would repeat the epoch.
        if self.cache.truncate_from(to) {
            self.ready.epoch_cache_changed = true;
        }
        if to >= self.log_end_offset {
            return;
        }
        self.log_end_offset = to;
        self.flushed_offset = self.flushed_offset.min(to);
        if self.high_watermark > to {
            self.high_watermark = to;
            self.ready.high_watermark = Some(to);
        }
        self.ready.log_ops.push(LogOp::Truncate(to));
    }

    fn schedule_fetch(&mut self, at_ms: u64) {
        if let State::Follower(f) = &mut self.state {
            f.next_fetch_ms = at_ms;
        }
    }

    fn maybe_fetch(&mut self, now_ms: u64) {
        let State::Follower(f) = &mut self.state else { return };
        let Some(leader) = f.leader else { return };
        if f.in_flight.is_some() || now_ms < f.next_fetch_ms {
            return;
        }
        let last_fetched_epoch =
            if self.config.truncate_to_high_watermark_on_become_follower { None } else { self.cache.latest_epoch() };
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        f.in_flight =
            Some(InFlight { correlation_id, sent_ms: now_ms, fetch_offset: self.log_end_offset, last_fetched_epoch });
        f.next_fetch_ms = now_ms + self.config.fetch_backoff_ms;
        let request = FetchRequest {
            correlation_id,
            leader_epoch: self.leader_epoch,
            fetch_offset: self.log_end_offset,
            last_fetched_epoch,
            flushed_offset: self.flushed_offset,
        };
        self.ready.messages.push((leader, Message::Fetch(request)));
    }

    fn set_high_watermark(&mut self, hw: Offset) {
        if hw != self.high_watermark {
            self.high_watermark = hw;
            self.ready.high_watermark = Some(hw);
        }
    }

    fn own_counted_offset(&self) -> Offset {
        match self.config.durability {
            Durability::Replicated => self.log_end_offset,
            Durability::Flushed => self.flushed_offset,
        }
    }

    /// HW = the minimum counted offset over the maximal ISR (committed ∪
    /// pending), then complete the `acks=all` proposals it passed.
    fn maybe_advance_high_watermark(&mut self) {
        let own = self.own_counted_offset();
        let State::Leader(leader) = &self.state else { return };
        let pending = leader.pending_isr.iter().flatten();
        let maximal: BTreeSet<NodeId> = leader.isr.iter().chain(pending).copied().collect();
        let counted: Vec<Offset> = maximal
            .iter()
            .map(|n| if *n == self.node { own } else { leader.remotes[n].counted_offset.unwrap_or(0) })
            .collect();
        let hw = high_watermark(self.high_watermark, &counted).min(self.log_end_offset);
        self.set_high_watermark(hw);
        let State::Leader(leader) = &mut self.state else { return };
        let isr_size = leader.isr.len();
        while leader.pending_acks.front().is_some_and(|p| p.last_offset < hw) {
            let proposed = leader.pending_acks.pop_front().expect("checked non-empty");
            if isr_size >= self.config.min_insync_replicas {
                self.ready.acked.push(proposed);
            } else {
                let error = ReplicationError::NotEnoughReplicasAfterAppend {
                    offset: proposed.last_offset,
                    isr_size,
                    min_insync_replicas: self.config.min_insync_replicas,
                };
                self.ready.failed.push((proposed, error));
            }
        }
    }

    /// Shrinks the ISR of followers that have lagged too long and expands
    /// it with followers that reached the high watermark and the epoch
    /// start, one [`AlterIsr`] in flight at a time.
    fn maybe_alter_isr(&mut self, now_ms: u64) {
        let hw = self.high_watermark;
        let lag_max = self.config.replica_lag_time_max_ms;
        let State::Leader(leader) = &mut self.state else { return };
        if leader.pending_isr.is_some() {
            return;
        }
        let mut desired = leader.isr.clone();
        for (&node, remote) in &leader.remotes {
            let in_sync = is_in_sync(now_ms, remote.last_caught_up_ms, lag_max);
            if leader.isr.contains(&node) {
                if !in_sync {
                    desired.remove(&node);
                }
            } else if in_sync
                && remote.counted_offset.is_some_and(|c| c >= hw && c >= leader.epoch_start_offset)
                && remote.log_end_offset.is_some()
            {
                desired.insert(node);
            }
        }
        if desired != leader.isr {
            leader.pending_isr = Some(desired.clone());
            self.ready.alter_isr = Some(AlterIsr { leader_epoch: self.leader_epoch, isr: desired });
        }
    }

    fn check_epoch(&self, leader_epoch: LeaderEpoch) -> Result<(), ReplicationError> {
        use std::cmp::Ordering::*;
        match leader_epoch.cmp(&self.leader_epoch) {
            Less => Err(ReplicationError::FencedLeaderEpoch { given: leader_epoch, current: self.leader_epoch }),
            Greater => Err(ReplicationError::UnknownLeaderEpoch { given: leader_epoch, current: self.leader_epoch }),
            Equal => Ok(()),
        }
    }

    fn not_leader(&self) -> ReplicationError {
        let leader = match &self.state {
            State::Leader(_) => Some(self.node),
            State::Follower(f) => f.leader,
        };
        self.not_leader_with(leader)
    }

    fn not_leader_with(&self, leader: Option<NodeId>) -> ReplicationError {
        ReplicationError::NotLeader { node: self.node, leader, leader_epoch: self.leader_epoch }
    }
}

impl FollowerRole {
    fn idle() -> Self {
        FollowerRole { leader: None, in_flight: None, next_fetch_ms: 0 }
    }
}
