//! ghyll-sim: a deterministic simulation of ghyll-replication.
//!
//! One `u64` seed drives everything: 3 to 5 nodes holding 3 replicas of
//! one or two partitions, the [`Controller`], a producer per partition,
//! consumer reads, a network that drops, delays (and so reorders) and
//! duplicates messages, node crashes and restarts, and network partitions.
//! [`run`] checks the invariants after every change and returns the first
//! [`Violation`] with its seed; `GHYLL_SIM_SEED=<seed> cargo test -p
//! ghyll-sim` replays it exactly.
//!
//! # The model
//! - **Time** advances in ticks of [`TICK_MS`]; every live replica is
//!   ticked once per tick.
//! - **Data plane**: replica messages travel through the simulated network
//!   (drop 5%, duplicate 3%, delay 1 to 6 ticks). An isolated node sends
//!   and receives nothing on it.
//! - **Control plane**: the controller is reliable and synchronous. It
//!   learns of crashes and restarts at once (a perfect failure detector),
//!   its [`LeaderAndIsr`] decisions reach every live replica at once, and a
//!   leader's [`AlterIsr`] is answered at once. Isolation cuts only the
//!   data plane.
//! - **Durability**: each node's log has a durable prefix that advances on
//!   a simulated fsync (each node fsyncs with 20% chance per tick), after
//!   which the driver calls [`Replica::flushed`]. A crash loses everything
//!   above the durable prefix. Truncations and epoch-cache checkpoints are
//!   durable at once (the broker writes checkpoints with fsync). Replicas
//!   run with [`Durability::Flushed`]: a follower reports its fsynced
//!   offset in each fetch and the leader counts only fsynced offsets
//!   (its own too) towards the high watermark. So every record below a
//!   high watermark is durable on every member of the ISR, and any number
//!   of nodes may crash at once, all of them included. (With Kafka's
//!   [`Durability::Replicated`] this does not hold: losing unsynced data
//!   on every ISR member at once loses acknowledged records; Kafka assumes
//!   that never happens.) A restarted node recovers its durable log, its
//!   epoch-cache checkpoint truncated to the log end, and its high
//!   watermark checkpoint (taken at fsync) clamped to the log end.
//!
//! # The invariants, checked after every change
//! 1. No acknowledged (`acks=all`) record is lost: every committed record
//!    (below any replica's high watermark) stays in the log of the current
//!    leader and of every future leader at the same offset with the same
//!    content, and acknowledged records are committed with the content the
//!    producer sent.
//! 2. No two replicas disagree below the high watermark each has seen (each
//!    replica's log below its high watermark equals the committed prefix).
//! 3. The high watermark a consumer reads from the current leader never
//!    moves backwards.
//! 4. Offsets are dense: every append starts at the log end, every
//!    acknowledged batch is where the producer's records are.
//! 5. Only the leader the controller names, believing itself leader of the
//!    current epoch, serves reads; a follower refuses; no two replicas
//!    lead the current epoch.
//!
//! After the faulty phase the network heals, every node restarts and the
//! run settles: all replicas must converge on the leader's log with the
//! high watermark at its end (liveness).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use ghyll_replication::{
    assign_replicas, Acks, AlterIsr, Batch, Controller, ControllerConfig, ControllerError, Durability, EpochCache,
    LeaderAndIsr, LeaderEpoch, LogOp, Message, NodeId, Offset, PartitionId, Replica, ReplicaConfig, ReplicaLog,
    ReplicationError,
};

/// The simulated clock's step.
pub const TICK_MS: u64 = 10;

/// A small deterministic PRNG (splitmix64): the only source of randomness.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` above 0).
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "below(0)");
        self.next_u64() % n
    }

    /// True with probability `per_mille / 1000`.
    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
}

/// What one run simulates. [`SimOptions::for_seed`] varies the shape with
/// the seed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SimOptions {
    /// Nodes (3 to 5); every partition has 3 replicas.
    pub nodes: u32,
    /// Partitions (1 or 2).
    pub partitions: u32,
    /// `min.insync.replicas` (1 or 2).
    pub min_insync_replicas: usize,
    /// Ticks with faults.
    pub steps: u32,
    /// Ticks without faults at the end, for the liveness check.
    pub settle_steps: u32,
    /// Per-mille chance per tick that a live node crashes.
    pub crash_per_mille: u64,
    /// Replicas' durability rule.
    pub durability: Durability,
    /// Run replicas with pre-KIP-101 high-watermark truncation (a known
    /// bug the simulator must find).
    pub truncate_to_high_watermark: bool,
}

impl SimOptions {
    /// The shape for a seed: 3 to 5 nodes, 1 or 2 partitions,
    /// `min.insync.replicas` 1 or 2, 300 faulty ticks and 300 settling.
    pub fn for_seed(seed: u64) -> SimOptions {
        let mut rng = Rng::new(seed ^ 0x0005_eed0_f5a1_10c5);
        SimOptions {
            nodes: 3 + rng.below(3) as u32,
            partitions: 1 + rng.below(2) as u32,
            min_insync_replicas: 1 + rng.below(2) as usize,
            steps: 300,
            settle_steps: 300,
            crash_per_mille: 4,
            durability: Durability::Flushed,
            truncate_to_high_watermark: false,
        }
    }
}

/// A broken invariant, with what is needed to replay it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The run's seed.
    pub seed: u64,
    /// The tick it happened in.
    pub step: u32,
    /// What broke.
    pub message: String,
    /// How to run it again.
    pub replay: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "seed {} step {}: {} (replay: {})", self.seed, self.step, self.message, self.replay)
    }
}

/// The command that replays `seed` with `options`: the test for a default
/// run, the binary with the matching flags otherwise.
pub fn replay_command(seed: u64, options: &SimOptions) -> String {
    let defaults = SimOptions::for_seed(seed);
    let mut flags = String::new();
    if options.crash_per_mille != defaults.crash_per_mille {
        flags.push_str(&format!(" --crash-per-mille {}", options.crash_per_mille));
    }
    if options.truncate_to_high_watermark {
        flags.push_str(" --truncate-to-high-watermark");
    }
    if options.durability != defaults.durability {
        flags.push_str(" --replicated");
    }
    let shape_differs =
        (options.nodes, options.partitions, options.min_insync_replicas, options.steps, options.settle_steps)
            != (
                defaults.nodes,
                defaults.partitions,
                defaults.min_insync_replicas,
                defaults.steps,
                defaults.settle_steps,
            );
    if flags.is_empty() && !shape_differs {
        format!("GHYLL_SIM_SEED={seed} cargo test -p ghyll-sim")
    } else if shape_differs {
        format!("run(seed {seed}, {options:?})")
    } else {
        format!("cargo run -p ghyll-sim --release -- --seed {seed}{flags}")
    }
}

impl std::error::Error for Violation {}

/// What a run did, for reports and for tests that a run does something.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Proposals accepted by a leader.
    pub proposed: u64,
    /// Proposals acknowledged (`acks=all`).
    pub acked: u64,
    /// Proposals that failed after append.
    pub failed: u64,
    /// Proposals refused with `NotEnoughReplicas`.
    pub not_enough_replicas: u64,
    /// Node crashes.
    pub crashes: u64,
    /// Leader elections the controller made.
    pub elections: u64,
    /// Truncations replicas performed.
    pub truncations: u64,
    /// Messages delivered.
    pub delivered: u64,
    /// Consumer reads served.
    pub reads: u64,
    /// The committed records at the end, over all partitions.
    pub committed: u64,
}

/// Runs one seed with [`SimOptions::for_seed`].
///
/// # Errors
/// The first [`Violation`].
pub fn run_seed(seed: u64) -> Result<Stats, Violation> {
    run(seed, &SimOptions::for_seed(seed))
}

/// Runs one simulation.
///
/// # Errors
/// The first [`Violation`].
pub fn run(seed: u64, options: &SimOptions) -> Result<Stats, Violation> {
    let with_replay = |mut violation: Violation| {
        violation.replay = replay_command(seed, options);
        violation
    };
    let mut sim = Sim::new(seed, options.clone())
        .map_err(|message| with_replay(Violation { seed, step: 0, message, replay: String::new() }))?;
    let result = sim.run_all().map_err(with_replay);
    result.map(|()| {
        sim.stats.committed = sim.checks.values().map(|c| c.committed.len() as u64).sum();
        sim.stats.clone()
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Record {
    epoch: LeaderEpoch,
    tag: u64,
}

/// A node's log of one partition: records plus what is durable.
#[derive(Debug, Default)]
struct SimLog {
    records: Vec<Record>,
    durable_len: usize,
    epoch_checkpoint: Vec<u8>,
    hw_checkpoint: Offset,
    /// `records[..verified]` equals the committed prefix.
    verified: usize,
}

impl ReplicaLog for SimLog {
    fn read(&self, from: Offset, max_bytes: u32) -> Vec<Batch> {
        let count = (max_bytes as usize / 8).max(1);
        let from = from as usize;
        self.records[from.min(self.records.len())..]
            .iter()
            .take(count)
            .enumerate()
            .map(|(i, r)| Batch {
                base_offset: (from + i) as Offset,
                record_count: 1,
                leader_epoch: r.epoch,
                payload: r.tag.to_be_bytes().to_vec(),
            })
            .collect()
    }
}

#[derive(Debug)]
struct Node {
    alive: bool,
    replicas: BTreeMap<PartitionId, Replica>,
    logs: BTreeMap<PartitionId, SimLog>,
}

#[derive(Debug)]
struct Envelope {
    deliver_at_ms: u64,
    seq: u64,
    from: NodeId,
    to: NodeId,
    partition: PartitionId,
    message: Message,
}

#[derive(Debug, Default)]
struct Check {
    committed: Vec<Record>,
    exposed: Offset,
}

struct Sim {
    seed: u64,
    options: SimOptions,
    rng: Rng,
    now_ms: u64,
    step: u32,
    faults: bool,
    config: ReplicaConfig,
    nodes: Vec<Node>,
    placement: BTreeMap<PartitionId, Vec<NodeId>>,
    controller: Controller,
    network: Vec<Envelope>,
    isolated: BTreeSet<NodeId>,
    next_seq: u64,
    next_tag: u64,
    producing: BTreeMap<(PartitionId, NodeId, Offset), Vec<u64>>,
    decisions: VecDeque<LeaderAndIsr>,
    checks: BTreeMap<PartitionId, Check>,
    stats: Stats,
}

type Outcome = Result<(), Violation>;

impl Sim {
    fn new(seed: u64, options: SimOptions) -> Result<Sim, String> {
        let mut config = ReplicaConfig::default();
        config.replica_lag_time_max_ms = 300;
        config.min_insync_replicas = options.min_insync_replicas;
        config.fetch_backoff_ms = 30;
        config.fetch_timeout_ms = 150;
        config.fetch_max_bytes = 64;
        config.durability = options.durability;
        config.truncate_to_high_watermark_on_become_follower = options.truncate_to_high_watermark;
        let node_ids: Vec<NodeId> = (0..options.nodes).collect();
        let placement = assign_replicas(options.partitions, 3, &node_ids).map_err(|e| e.to_string())?;
        let mut nodes: Vec<Node> =
            node_ids.iter().map(|_| Node { alive: true, replicas: BTreeMap::new(), logs: BTreeMap::new() }).collect();
        let mut controller = Controller::new(ControllerConfig::default(), node_ids.iter().copied());
        let mut decisions = VecDeque::new();
        let mut placement_map = BTreeMap::new();
        let mut checks = BTreeMap::new();
        for (p, replicas) in placement.into_iter().enumerate() {
            let p = p as PartitionId;
            for &n in &replicas {
                let replica = Replica::new(n, replicas.clone(), config.clone(), 0, EpochCache::new(), 0)
                    .map_err(|e| e.to_string())?;
                nodes[n as usize].replicas.insert(p, replica);
                nodes[n as usize].logs.insert(p, SimLog::default());
            }
            decisions.push_back(controller.add_partition(p, replicas.clone()).map_err(|e| e.to_string())?);
            placement_map.insert(p, replicas);
            checks.insert(p, Check::default());
        }
        Ok(Sim {
            seed,
            rng: Rng::new(seed),
            options,
            now_ms: 0,
            step: 0,
            faults: true,
            config,
            nodes,
            placement: placement_map,
            controller,
            network: Vec::new(),
            isolated: BTreeSet::new(),
            next_seq: 0,
            next_tag: 1,
            producing: BTreeMap::new(),
            decisions,
            checks,
            stats: Stats::default(),
        })
    }

    fn violation(&self, message: String) -> Violation {
        Violation { seed: self.seed, step: self.step, message, replay: String::new() }
    }

    fn run_all(&mut self) -> Outcome {
        self.drain_decisions()?;
        for _ in 0..self.options.steps {
            self.tick()?;
        }
        // Heal: no more faults, everyone back.
        self.faults = false;
        self.isolated.clear();
        for n in 0..self.nodes.len() as NodeId {
            if !self.nodes[n as usize].alive {
                self.restart(n)?;
            }
        }
        for _ in 0..self.options.settle_steps {
            self.tick()?;
        }
        self.check_settled()
    }

    fn tick(&mut self) -> Outcome {
        self.step += 1;
        self.now_ms += TICK_MS;
        if self.faults {
            self.inject_faults()?;
        }
        self.deliver()?;
        for n in 0..self.nodes.len() as NodeId {
            let partitions: Vec<PartitionId> = self.nodes[n as usize].replicas.keys().copied().collect();
            for p in partitions {
                let now = self.now_ms;
                if let Some(r) = self.nodes[n as usize].replicas.get_mut(&p) {
                    r.tick(now);
                }
                self.process_ready(n, p)?;
            }
        }
        self.fsyncs()?;
        self.drain_decisions()?;
        if self.faults {
            self.produce()?;
        }
        self.reads()?;
        self.check_step()
    }

    fn inject_faults(&mut self) -> Outcome {
        for n in 0..self.nodes.len() as NodeId {
            if self.nodes[n as usize].alive {
                if self.rng.chance(self.options.crash_per_mille) {
                    self.crash(n)?;
                }
            } else if self.rng.chance(50) {
                self.restart(n)?;
            }
            if self.isolated.contains(&n) {
                if self.rng.chance(30) {
                    self.isolated.remove(&n);
                }
            } else if self.rng.chance(2) {
                self.isolated.insert(n);
            }
        }
        Ok(())
    }

    fn crash(&mut self, n: NodeId) -> Outcome {
        self.stats.crashes += 1;
        let node = &mut self.nodes[n as usize];
        node.alive = false;
        node.replicas.clear();
        for log in node.logs.values_mut() {
            log.records.truncate(log.durable_len);
            log.verified = log.verified.min(log.durable_len);
        }
        self.producing.retain(|(_, node, _), _| *node != n);
        let decisions = self.controller.node_failed(n);
        self.decisions.extend(decisions);
        self.drain_decisions()
    }

    fn restart(&mut self, n: NodeId) -> Outcome {
        let node = &mut self.nodes[n as usize];
        node.alive = true;
        for (&p, log) in &mut node.logs {
            let mut cache = if log.epoch_checkpoint.is_empty() {
                EpochCache::new()
            } else {
                EpochCache::decode(&log.epoch_checkpoint).map_err(|e| Violation {
                    seed: self.seed,
                    step: self.step,
                    message: e.to_string(),
                    replay: String::new(),
                })?
            };
            let len = log.records.len() as Offset;
            // Recovery rewrites the checkpoint without the epochs the log
            // lost, as Kafka does.
            cache.truncate_from(len);
            log.epoch_checkpoint = cache.encode();
            let rebuilt = rebuild_cache(&log.records);
            if cache != rebuilt {
                return Err(Violation {
                    seed: self.seed,
                    step: self.step,
                    message: format!("node {n} partition {p}: recovered epoch cache {cache:?} != log's {rebuilt:?}"),
                    replay: String::new(),
                });
            }
            let replicas = self.placement[&p].clone();
            let hw = log.hw_checkpoint.min(len);
            let replica = Replica::new(n, replicas, self.config.clone(), len, cache, hw).map_err(|e| Violation {
                seed: self.seed,
                step: self.step,
                message: e.to_string(),
                replay: String::new(),
            })?;
            node.replicas.insert(p, replica);
        }
        let decisions = self.controller.node_restored(n);
        self.decisions.extend(decisions);
        self.drain_decisions()
    }

    fn drain_decisions(&mut self) -> Outcome {
        let mut rounds = 0;
        while let Some(decision) = self.decisions.pop_front() {
            rounds += 1;
            if rounds > 1000 {
                return Err(self.violation("controller decisions do not settle".into()));
            }
            if decision.leader.is_some() && decision.reason != ghyll_replication::ChangeReason::IsrChanged {
                self.stats.elections += 1;
            }
            for &n in &decision.replicas {
                let now = self.now_ms;
                let Some(replica) = self.nodes[n as usize].replicas.get_mut(&decision.partition) else { continue };
                let result = if decision.leader == Some(n) {
                    replica.become_leader(now, decision.leader_epoch, decision.isr.clone())
                } else {
                    replica.become_follower(now, decision.leader_epoch, decision.leader)
                };
                match result {
                    Ok(()) | Err(ReplicationError::FencedLeaderEpoch { .. }) => {}
                    Err(e) => return Err(self.violation(format!("node {n} refused {decision:?}: {e}"))),
                }
                self.process_ready(n, decision.partition)?;
            }
        }
        Ok(())
    }

    fn send(&mut self, from: NodeId, to: NodeId, partition: PartitionId, message: Message) {
        if self.isolated.contains(&from) || self.isolated.contains(&to) || self.rng.chance(50) {
            return;
        }
        let copies = if self.rng.chance(30) { 2 } else { 1 };
        for _ in 0..copies {
            let delay = (1 + self.rng.below(6)) * TICK_MS;
            self.next_seq += 1;
            self.network.push(Envelope {
                deliver_at_ms: self.now_ms + delay,
                seq: self.next_seq,
                from,
                to,
                partition,
                message: message.clone(),
            });
        }
    }

    fn deliver(&mut self) -> Outcome {
        let now = self.now_ms;
        let mut due: Vec<Envelope> = Vec::new();
        let mut i = 0;
        while i < self.network.len() {
            if self.network[i].deliver_at_ms <= now {
                due.push(self.network.swap_remove(i));
            } else {
                i += 1;
            }
        }
        due.sort_by_key(|e| (e.deliver_at_ms, e.seq));
        for e in due {
            if self.isolated.contains(&e.from) || self.isolated.contains(&e.to) {
                continue;
            }
            let node = &mut self.nodes[e.to as usize];
            if !node.alive {
                continue;
            }
            let (Some(replica), Some(log)) = (node.replicas.get_mut(&e.partition), node.logs.get(&e.partition)) else {
                continue;
            };
            self.stats.delivered += 1;
            match replica.step(now, e.from, e.message, log) {
                Ok(()) | Err(ReplicationError::InvalidFetchResponse { .. }) => {}
                Err(error) => return Err(self.violation(format!("node {} step failed: {error}", e.to))),
            }
            self.process_ready(e.to, e.partition)?;
        }
        Ok(())
    }

    /// Performs a replica's [`Ready`](ghyll_replication::Ready) and checks
    /// what it changed.
    fn process_ready(&mut self, n: NodeId, p: PartitionId) -> Outcome {
        let node = &mut self.nodes[n as usize];
        let Some(replica) = node.replicas.get_mut(&p) else { return Ok(()) };
        let ready = replica.ready();
        let log = node.logs.get_mut(&p).expect("a log for every replica");
        for op in &ready.log_ops {
            match op {
                LogOp::Append(batch) => {
                    if batch.base_offset != log.records.len() as Offset {
                        let message = format!(
                            "node {n} partition {p}: append at {} but the log ends at {} (offsets not dense)",
                            batch.base_offset,
                            log.records.len()
                        );
                        return Err(Violation { seed: self.seed, step: self.step, message, replay: String::new() });
                    }
                    if batch.payload.len() != 8 * batch.record_count as usize {
                        let message = format!("node {n} partition {p}: batch payload does not match its count");
                        return Err(Violation { seed: self.seed, step: self.step, message, replay: String::new() });
                    }
                    for chunk in batch.payload.chunks_exact(8) {
                        let tag = u64::from_be_bytes(chunk.try_into().expect("8 bytes"));
                        log.records.push(Record { epoch: batch.leader_epoch, tag });
                    }
                }
                LogOp::Truncate(to) => {
                    let to = *to as usize;
                    if to > log.records.len() {
                        let message = format!("node {n} partition {p}: truncate to {to} above the log end");
                        return Err(Violation { seed: self.seed, step: self.step, message, replay: String::new() });
                    }
                    self.stats.truncations += 1;
                    log.records.truncate(to);
                    log.durable_len = log.durable_len.min(to);
                    log.verified = log.verified.min(to);
                }
                _ => return Err(self.violation("unknown log op".into())),
            }
        }
        if replica.log_end_offset() != log.records.len() as Offset {
            let message = format!(
                "node {n} partition {p}: replica LEO {} but the log holds {}",
                replica.log_end_offset(),
                log.records.len()
            );
            return Err(Violation { seed: self.seed, step: self.step, message, replay: String::new() });
        }
        if ready.epoch_cache_changed {
            log.epoch_checkpoint = replica.epoch_cache().encode();
        }
        let epoch = replica.leader_epoch();
        let leo = replica.log_end_offset();
        for (to, message) in ready.messages {
            self.send(n, to, p, message);
        }
        if let Some(hw) = ready.high_watermark {
            self.controller.report_offsets(p, n, leo, Some(hw));
        }
        self.verify_replica(n, p)?;
        for proposed in ready.acked {
            let tags = self.producing.remove(&(p, n, proposed.first_offset));
            let Some(tags) = tags else {
                return Err(self.violation(format!("node {n} acked {proposed:?} that nobody proposed")));
            };
            if proposed.last_offset - proposed.first_offset + 1 != tags.len() as u64 {
                return Err(self.violation(format!("acked {proposed:?} does not match {} records", tags.len())));
            }
            self.stats.acked += 1;
            let committed = &self.checks[&p].committed;
            for (i, tag) in tags.iter().enumerate() {
                let offset = proposed.first_offset as usize + i;
                match committed.get(offset) {
                    Some(r) if r.tag == *tag => {}
                    other => {
                        return Err(self.violation(format!(
                            "partition {p}: acked record {tag} at offset {offset} is not committed there ({other:?})"
                        )))
                    }
                }
            }
        }
        for (proposed, _) in ready.failed {
            self.producing.remove(&(p, n, proposed.first_offset));
            self.stats.failed += 1;
        }
        if let Some(AlterIsr { leader_epoch, isr }) = ready.alter_isr {
            match self.controller.alter_isr(p, n, leader_epoch, isr) {
                Ok(decisions) => self.decisions.extend(decisions),
                Err(ControllerError::StaleIsrChange { .. }) => {
                    let state = self.controller.state(p).expect("partition exists").clone();
                    self.decisions.push_back(state);
                }
                Err(e) => return Err(self.violation(format!("node {n} epoch {epoch}: alter isr refused: {e}"))),
            }
        }
        Ok(())
    }

    /// Invariant 2: a replica's log below its high watermark is the
    /// committed prefix (and extends it).
    fn verify_replica(&mut self, n: NodeId, p: PartitionId) -> Outcome {
        let node = &mut self.nodes[n as usize];
        let Some(replica) = node.replicas.get(&p) else { return Ok(()) };
        let log = node.logs.get_mut(&p).expect("a log for every replica");
        let hw = (replica.high_watermark() as usize).min(log.records.len());
        let check = self.checks.get_mut(&p).expect("a check per partition");
        while log.verified < hw {
            let offset = log.verified;
            match check.committed.get(offset) {
                Some(c) if *c != log.records[offset] => {
                    let message = format!(
                        "partition {p}: node {n} has {:?} at offset {offset} below its high watermark {hw}, \
                         but {c:?} was committed there",
                        log.records[offset]
                    );
                    return Err(Violation { seed: self.seed, step: self.step, message, replay: String::new() });
                }
                Some(_) => {}
                None => check.committed.push(log.records[offset]),
            }
            log.verified += 1;
        }
        Ok(())
    }

    fn fsyncs(&mut self) -> Outcome {
        for n in 0..self.nodes.len() {
            if !self.nodes[n].alive || !self.rng.chance(200) {
                continue;
            }
            let node = &mut self.nodes[n];
            for (p, log) in &mut node.logs {
                log.durable_len = log.records.len();
                if let Some(replica) = node.replicas.get_mut(p) {
                    replica.flushed(log.durable_len as Offset);
                    log.hw_checkpoint = replica.high_watermark().min(log.durable_len as Offset);
                }
            }
            let partitions: Vec<PartitionId> = node.logs.keys().copied().collect();
            for p in partitions {
                // flushed() may move a leader's high watermark and ack.
                self.process_ready(n as NodeId, p)?;
            }
        }
        Ok(())
    }

    fn produce(&mut self) -> Outcome {
        let partitions: Vec<PartitionId> = self.placement.keys().copied().collect();
        for p in partitions {
            if !self.rng.chance(300) {
                continue;
            }
            let state = self.controller.state(p).expect("partition exists").clone();
            let Some(leader) = state.leader else { continue };
            let count = 1 + self.rng.below(3) as u32;
            let tags: Vec<u64> = (0..count).map(|i| self.next_tag + u64::from(i)).collect();
            self.next_tag += u64::from(count);
            let payload: Vec<u8> = tags.iter().flat_map(|t| t.to_be_bytes()).collect();
            let now = self.now_ms;
            let Some(replica) = self.nodes[leader as usize].replicas.get_mut(&p) else { continue };
            if !replica.is_leader_at(state.leader_epoch) {
                continue;
            }
            match replica.propose(now, Acks::All, count, payload) {
                Ok(proposed) => {
                    self.stats.proposed += 1;
                    self.producing.insert((p, leader, proposed.first_offset), tags);
                }
                Err(ReplicationError::NotEnoughReplicas { .. }) => self.stats.not_enough_replicas += 1,
                Err(e) => return Err(self.violation(format!("propose failed: {e}"))),
            }
            self.process_ready(leader, p)?;
        }
        Ok(())
    }

    /// Invariants 3 and 5.
    fn reads(&mut self) -> Outcome {
        let partitions: Vec<PartitionId> = self.placement.keys().copied().collect();
        for p in partitions {
            if !self.rng.chance(300) {
                continue;
            }
            let state = self.controller.state(p).expect("partition exists").clone();
            for &n in &state.replicas {
                let Some(replica) = self.nodes[n as usize].replicas.get(&p) else { continue };
                let served = replica.readable_high_watermark(state.leader_epoch);
                if state.leader != Some(n) {
                    if let Ok(hw) = served {
                        return Err(self.violation(format!(
                            "partition {p}: node {n} is not the leader {:?} but serves reads up to {hw}",
                            state.leader
                        )));
                    }
                    continue;
                }
                let Ok(hw) = served else { continue };
                if !replica.is_leader_at(state.leader_epoch) {
                    return Err(self.violation(format!("partition {p}: node {n} serves reads but does not lead")));
                }
                self.stats.reads += 1;
                let check = self.checks.get_mut(&p).expect("a check per partition");
                if hw < check.exposed {
                    let message = format!(
                        "partition {p}: leader {n} at epoch {} exposes high watermark {hw}, below the {} already exposed",
                        state.leader_epoch, check.exposed
                    );
                    return Err(self.violation(message));
                }
                check.exposed = hw;
            }
        }
        Ok(())
    }

    /// Invariants 1 and 5 over all replicas.
    fn check_step(&mut self) -> Outcome {
        let partitions: Vec<PartitionId> = self.placement.keys().copied().collect();
        for p in partitions {
            let state = self.controller.state(p).expect("partition exists").clone();
            for &n in &state.replicas {
                let node = &self.nodes[n as usize];
                let Some(replica) = node.replicas.get(&p) else { continue };
                if replica.role() == ghyll_replication::Role::Leader && state.leader != Some(n) {
                    return Err(self.violation(format!(
                        "partition {p}: node {n} believes it leads at epoch {}, the controller says {:?} at {}",
                        replica.leader_epoch(),
                        state.leader,
                        state.leader_epoch
                    )));
                }
            }
            let Some(leader) = state.leader else { continue };
            let node = &mut self.nodes[leader as usize];
            let Some(replica) = node.replicas.get(&p) else { continue };
            if !replica.is_leader_at(state.leader_epoch) {
                continue;
            }
            let log = node.logs.get_mut(&p).expect("a log for every replica");
            let check = &self.checks[&p];
            if log.records.len() < check.committed.len() {
                let message = format!(
                    "partition {p}: committed records lost: leader {leader} at epoch {} has log end offset {}, \
                     {} records were committed",
                    state.leader_epoch,
                    log.records.len(),
                    check.committed.len()
                );
                return Err(Violation { seed: self.seed, step: self.step, message, replay: String::new() });
            }
            while log.verified < check.committed.len() {
                let offset = log.verified;
                if log.records[offset] != check.committed[offset] {
                    let message = format!(
                        "partition {p}: committed record {:?} at offset {offset} replaced by {:?} in leader {leader}'s log",
                        check.committed[offset], log.records[offset]
                    );
                    return Err(Violation { seed: self.seed, step: self.step, message, replay: String::new() });
                }
                log.verified += 1;
            }
        }
        Ok(())
    }

    /// Liveness after healing: every replica holds the leader's log and
    /// the high watermark reached its end.
    fn check_settled(&mut self) -> Outcome {
        for (&p, replicas) in &self.placement {
            let state = self.controller.state(p).expect("partition exists");
            let Some(leader) = state.leader else {
                return Err(self.violation(format!("partition {p} has no leader after settling")));
            };
            let leader_log = &self.nodes[leader as usize].logs[&p].records;
            for &n in replicas {
                let replica = &self.nodes[n as usize].replicas[&p];
                let log = &self.nodes[n as usize].logs[&p].records;
                if log != leader_log || replica.high_watermark() != log.len() as Offset {
                    return Err(self.violation(format!(
                        "partition {p} did not settle: node {n} has {} records and high watermark {}, \
                         leader {leader} has {} records",
                        log.len(),
                        replica.high_watermark(),
                        leader_log.len()
                    )));
                }
            }
        }
        Ok(())
    }
}

fn rebuild_cache(records: &[Record]) -> EpochCache {
    let mut cache = EpochCache::new();
    for (offset, record) in records.iter().enumerate() {
        if cache.latest_epoch() != Some(record.epoch) {
            cache.assign(record.epoch, offset as Offset);
        }
    }
    cache
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_deterministic_and_spreads() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let xs: Vec<u64> = (0..100).map(|_| a.below(10)).collect();
        let ys: Vec<u64> = (0..100).map(|_| b.below(10)).collect();
        assert_eq!(xs, ys);
        assert!((0..10).all(|d| xs.contains(&d)));
    }
}
