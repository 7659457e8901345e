//! [`Controller`]: leader election and ISR bookkeeping for many partitions,
//! sans IO; [`assign_replicas`] places replicas on nodes.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::ControllerError;
use crate::types::{LeaderEpoch, NodeId, Offset, PartitionId};

/// The controller's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ControllerConfig {
    /// `unclean.leader.election.enable`: when every ISR member is down,
    /// elect another live replica (losing what it lacks) instead of
    /// leaving the partition offline. Default false.
    pub unclean_leader_election: bool,
    /// `auto.leader.rebalance.enable`: move leadership back to the
    /// preferred (first) replica once it is back in the ISR. Default true.
    pub auto_leader_rebalance: bool,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig { unclean_leader_election: false, auto_leader_rebalance: true }
    }
}

/// Why the controller changed a partition's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChangeReason {
    /// The partition was created.
    Created,
    /// A new leader was elected from the ISR.
    CleanElection,
    /// Leadership moved back to the preferred replica.
    PreferredElection,
    /// A replica outside the ISR was elected: records up to the last known
    /// high watermark that it lacks may be lost.
    UncleanElection {
        /// The last high watermark reported minus the new leader's last
        /// reported log end offset (0 when unknown).
        offsets_maybe_lost: Offset,
    },
    /// No ISR member is alive: the partition has no leader.
    Offline,
    /// The ISR changed (the leader asked, or a member died).
    IsrChanged,
    /// A restored node is told the current state.
    NodeRestored,
}

/// One controller decision (Kafka's `LeaderAndIsr`), for the driver to
/// deliver to every live replica of the partition: the leader calls
/// [`Replica::become_leader`](crate::Replica::become_leader), the others
/// [`Replica::become_follower`](crate::Replica::become_follower).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderAndIsr {
    /// The partition.
    pub partition: PartitionId,
    /// The leader, if any replica can lead.
    pub leader: Option<NodeId>,
    /// The leader epoch.
    pub leader_epoch: LeaderEpoch,
    /// The in-sync replicas. Never empty: when the last member dies it
    /// stays, so only it can be elected cleanly.
    pub isr: BTreeSet<NodeId>,
    /// All replicas, preferred leader first.
    pub replicas: Vec<NodeId>,
    /// Why.
    pub reason: ChangeReason,
}

#[derive(Debug, Clone)]
struct PartitionState {
    state: LeaderAndIsr,
    high_watermark: Offset,
    log_end_offsets: BTreeMap<NodeId, Offset>,
}

/// Kafka's controller for replication, as a plain state machine: it knows
/// each partition's replicas, ISR, leader and epoch, and which nodes are
/// alive. On a node failure it elects a new leader from the ISR (bumping
/// the epoch); on a restore it tells the node its role, and once the
/// preferred replica is back in the ISR it moves leadership back.
///
/// # Examples
/// ```
/// use ghyll_replication::*;
/// let mut controller = Controller::new(ControllerConfig::default(), [1, 2, 3]);
/// let created = controller.add_partition(0, vec![1, 2, 3])?;
/// assert_eq!((created.leader, created.leader_epoch), (Some(1), 0));
/// let after = controller.node_failed(1);
/// assert_eq!((after[0].leader, after[0].leader_epoch), (Some(2), 1));
/// assert_eq!(after[0].isr, [2, 3].into());
/// # Ok::<(), ControllerError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Controller {
    config: ControllerConfig,
    alive: BTreeSet<NodeId>,
    partitions: BTreeMap<PartitionId, PartitionState>,
}

impl Controller {
    /// A controller with `alive` nodes and no partitions.
    pub fn new(config: ControllerConfig, alive: impl IntoIterator<Item = NodeId>) -> Controller {
        Controller { config, alive: alive.into_iter().collect(), partitions: BTreeMap::new() }
    }

    /// The live nodes.
    pub fn alive(&self) -> &BTreeSet<NodeId> {
        &self.alive
    }

    /// A partition's current state.
    pub fn state(&self, partition: PartitionId) -> Option<&LeaderAndIsr> {
        self.partitions.get(&partition).map(|p| &p.state)
    }

    /// Creates a partition: the first live replica leads at epoch 0, the
    /// live replicas form the ISR.
    ///
    /// # Errors
    /// [`ControllerError::PartitionExists`]; [`InvalidReplicas`](ControllerError::InvalidReplicas)
    /// for an empty list, duplicates, or no live replica.
    pub fn add_partition(
        &mut self,
        partition: PartitionId,
        replicas: Vec<NodeId>,
    ) -> Result<LeaderAndIsr, ControllerError> {
        self.check_new(partition, &replicas)?;
        let isr: BTreeSet<NodeId> = replicas.iter().copied().filter(|n| self.alive.contains(n)).collect();
        let Some(&leader) = replicas.iter().find(|n| isr.contains(n)) else {
            return Err(ControllerError::InvalidReplicas { partition, reason: "no replica is alive" });
        };
        let state = LeaderAndIsr {
            partition,
            leader: Some(leader),
            leader_epoch: 0,
            isr,
            replicas,
            reason: ChangeReason::Created,
        };
        self.insert_new(state.clone());
        Ok(state)
    }

    /// A partition not known yet, with a non-empty replica list naming each
    /// node once: its replicas as a set.
    fn check_new(&self, partition: PartitionId, replicas: &[NodeId]) -> Result<BTreeSet<NodeId>, ControllerError> {
        if self.partitions.contains_key(&partition) {
            return Err(ControllerError::PartitionExists { partition });
        }
        let unique: BTreeSet<NodeId> = replicas.iter().copied().collect();
        if replicas.is_empty() || unique.len() != replicas.len() {
            return Err(ControllerError::InvalidReplicas { partition, reason: "must be non-empty, each node once" });
        }
        Ok(unique)
    }

    fn insert_new(&mut self, state: LeaderAndIsr) {
        self.partitions
            .insert(state.partition, PartitionState { state, high_watermark: 0, log_end_offsets: BTreeMap::new() });
    }

    /// Recreates a partition after a restart from its persisted state: it
    /// elects the first live replica (in preferred order) of the persisted
    /// `isr` at `leader_epoch` (pass one above every epoch any replica's log
    /// holds), uncleanly another live replica if enabled, or none (offline).
    /// Only the last ISR can hold every acknowledged record, so only it is
    /// elected cleanly.
    ///
    /// # Errors
    /// As [`Controller::add_partition`], and
    /// [`InvalidReplicas`](ControllerError::InvalidReplicas) for an empty
    /// ISR or one with non-replicas.
    pub fn recover_partition(
        &mut self,
        partition: PartitionId,
        replicas: Vec<NodeId>,
        leader_epoch: LeaderEpoch,
        isr: BTreeSet<NodeId>,
    ) -> Result<LeaderAndIsr, ControllerError> {
        let unique = self.check_new(partition, &replicas)?;
        if isr.is_empty() || !isr.is_subset(&unique) {
            return Err(ControllerError::InvalidReplicas { partition, reason: "the ISR must be non-empty replicas" });
        }
        let live_isr: BTreeSet<NodeId> = isr.iter().copied().filter(|n| self.alive.contains(n)).collect();
        let clean = replicas.iter().copied().find(|n| live_isr.contains(n));
        let unclean = replicas.iter().copied().find(|n| self.config.unclean_leader_election && self.alive.contains(n));
        let (leader, isr, reason) = match (clean, unclean) {
            (Some(leader), _) => (Some(leader), live_isr, ChangeReason::CleanElection),
            (None, Some(leader)) => {
                (Some(leader), BTreeSet::from([leader]), ChangeReason::UncleanElection { offsets_maybe_lost: 0 })
            }
            (None, None) => (None, isr, ChangeReason::Offline),
        };
        let state = LeaderAndIsr { partition, leader, leader_epoch, isr, replicas, reason };
        self.insert_new(state.clone());
        Ok(state)
    }

    /// Optional facts for unclean elections: a leader's high watermark and
    /// a replica's log end offset, as last heard.
    pub fn report_offsets(
        &mut self,
        partition: PartitionId,
        node: NodeId,
        log_end_offset: Offset,
        high_watermark: Option<Offset>,
    ) {
        if let Some(p) = self.partitions.get_mut(&partition) {
            p.log_end_offsets.insert(node, log_end_offset);
            if let Some(hw) = high_watermark {
                p.high_watermark = p.high_watermark.max(hw);
            }
        }
    }

    /// The partitions with a replica on `node`, collected so that the
    /// caller may change them as it goes.
    fn partitions_on(&self, node: NodeId) -> Vec<PartitionId> {
        self.partitions.iter().filter(|(_, p)| p.state.replicas.contains(&node)).map(|(id, _)| *id).collect()
    }

    /// A node died: it leaves every ISR it is in (but the last member
    /// stays); partitions it led get a new leader from the ISR, or an
    /// unclean one if enabled, or none.
    pub fn node_failed(&mut self, node: NodeId) -> Vec<LeaderAndIsr> {
        self.alive.remove(&node);
        let mut out = Vec::new();
        for id in self.partitions_on(node) {
            let p = &self.partitions[&id];
            let led = p.state.leader == Some(node);
            if led {
                out.extend(self.elect(id));
            } else if p.state.isr.contains(&node) && p.state.isr.len() > 1 {
                let p = self.partitions.get_mut(&id).expect("exists");
                p.state.isr.remove(&node);
                p.state.reason = ChangeReason::IsrChanged;
                out.push(p.state.clone());
            }
        }
        out
    }

    /// A node is back (its logs recovered): partitions without a leader
    /// elect it if it is in their ISR (or uncleanly, if enabled); every
    /// partition it holds tells it the current state.
    pub fn node_restored(&mut self, node: NodeId) -> Vec<LeaderAndIsr> {
        self.alive.insert(node);
        let mut out = Vec::new();
        for id in self.partitions_on(node) {
            if self.partitions[&id].state.leader.is_none() {
                if let Some(state) = self.elect(id) {
                    out.push(state);
                    continue;
                }
            }
            let mut state = self.partitions[&id].state.clone();
            state.reason = ChangeReason::NodeRestored;
            out.push(state);
        }
        out
    }

    /// A leader asks to change the ISR (Kafka's `AlterPartition`). Accepted
    /// from the current leader of the current epoch; new members must be
    /// alive. The answer is the new state, followed by a preferred-leader
    /// election if that brought the preferred replica back into the ISR.
    ///
    /// # Errors
    /// [`ControllerError::UnknownPartition`];
    /// [`StaleIsrChange`](ControllerError::StaleIsrChange) from a node that
    /// no longer leads that epoch (deliver [`Controller::state`] to it);
    /// [`InvalidReplicas`](ControllerError::InvalidReplicas) for an ISR
    /// without the leader or with non-replicas.
    pub fn alter_isr(
        &mut self,
        partition: PartitionId,
        node: NodeId,
        leader_epoch: LeaderEpoch,
        isr: BTreeSet<NodeId>,
    ) -> Result<Vec<LeaderAndIsr>, ControllerError> {
        let alive = &self.alive;
        let p = self.partitions.get_mut(&partition).ok_or(ControllerError::UnknownPartition { partition })?;
        if p.state.leader != Some(node) || p.state.leader_epoch != leader_epoch {
            return Err(ControllerError::StaleIsrChange {
                partition,
                node,
                leader_epoch,
                leader: p.state.leader,
                current_epoch: p.state.leader_epoch,
            });
        }
        if !isr.contains(&node) || !isr.iter().all(|n| p.state.replicas.contains(n)) {
            return Err(ControllerError::InvalidReplicas {
                partition,
                reason: "the ISR must hold the leader and only replicas",
            });
        }
        // KIP-841: a dead node does not join the ISR.
        let isr: BTreeSet<NodeId> = isr.into_iter().filter(|n| p.state.isr.contains(n) || alive.contains(n)).collect();
        p.state.isr = isr;
        p.state.reason = ChangeReason::IsrChanged;
        let mut out = vec![p.state.clone()];
        let preferred = p.state.replicas[0];
        if self.config.auto_leader_rebalance
            && p.state.leader != Some(preferred)
            && p.state.isr.contains(&preferred)
            && self.alive.contains(&preferred)
        {
            p.state.leader = Some(preferred);
            p.state.leader_epoch += 1;
            p.state.reason = ChangeReason::PreferredElection;
            out.push(p.state.clone());
        }
        Ok(out)
    }

    /// Elects a leader for partition `id` (bumping the epoch), or takes
    /// it offline; `None` if it was offline and still has no candidate.
    fn elect(&mut self, id: PartitionId) -> Option<LeaderAndIsr> {
        let unclean_enabled = self.config.unclean_leader_election;
        let alive = &self.alive;
        let p = self.partitions.get_mut(&id).expect("exists");
        let state = &mut p.state;
        let live_isr: BTreeSet<NodeId> = state.isr.iter().copied().filter(|n| alive.contains(n)).collect();
        let clean = state.replicas.iter().copied().find(|n| live_isr.contains(n));
        let unclean = state.replicas.iter().copied().find(|n| unclean_enabled && alive.contains(n));
        let (leader, isr, reason) = match (clean, unclean) {
            (Some(leader), _) => (Some(leader), live_isr, ChangeReason::CleanElection),
            (None, Some(leader)) => {
                let leo = p.log_end_offsets.get(&leader).copied().unwrap_or(0);
                let offsets_maybe_lost = p.high_watermark.saturating_sub(leo);
                (Some(leader), BTreeSet::from([leader]), ChangeReason::UncleanElection { offsets_maybe_lost })
            }
            // Every ISR member is dead: the ISR stays as it is (never
            // empty), so only one of them is elected cleanly later.
            (None, None) => (None, state.isr.clone(), ChangeReason::Offline),
        };
        if leader.is_none() && state.leader.is_none() {
            return None;
        }
        state.leader_epoch += 1;
        state.leader = leader;
        state.isr = isr;
        state.reason = reason;
        Some(state.clone())
    }
}

/// Kafka's rack-unaware replica assignment: partition `p`'s leader is node
/// `p mod n` (in `nodes` order), and the followers follow it at a shift
/// that grows by one every `n` partitions, so leaders and followers spread
/// evenly.
///
/// # Errors
/// [`ControllerError::InvalidAssignment`] if the replication factor is 0 or
/// above the number of (distinct) nodes.
///
/// # Examples
/// ```
/// use ghyll_replication::assign_replicas;
/// let placement = assign_replicas(4, 2, &[1, 2, 3])?;
/// assert_eq!(placement, vec![vec![1, 2], vec![2, 3], vec![3, 1], vec![1, 3]]);
/// # Ok::<(), ghyll_replication::ControllerError>(())
/// ```
pub fn assign_replicas(
    partitions: u32,
    replication_factor: usize,
    nodes: &[NodeId],
) -> Result<Vec<Vec<NodeId>>, ControllerError> {
    let n = nodes.len();
    if replication_factor == 0 {
        return Err(ControllerError::InvalidAssignment { reason: "replication factor must be above 0" });
    }
    if replication_factor > n || nodes.iter().collect::<BTreeSet<_>>().len() != n {
        return Err(ControllerError::InvalidAssignment {
            reason: "replication factor above the number of distinct nodes",
        });
    }
    let mut shift = 0usize;
    let mut out = Vec::with_capacity(partitions as usize);
    for p in 0..partitions as usize {
        if p > 0 && p % n == 0 {
            shift += 1;
        }
        let first = p % n;
        let mut replicas = vec![nodes[first]];
        for j in 0..replication_factor - 1 {
            let index = (first + 1 + (shift + j) % (n - 1)) % n;
            replicas.push(nodes[index]);
        }
        out.push(replicas);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_elects_only_from_the_persisted_isr() {
        let mut controller = Controller::new(ControllerConfig::default(), [1, 2, 3]);
        let state = controller.recover_partition(0, vec![1, 2, 3], 5, BTreeSet::from([2, 3])).unwrap();
        assert_eq!((state.leader, state.leader_epoch, state.isr), (Some(2), 5, BTreeSet::from([2, 3])));
        let mut controller = Controller::new(ControllerConfig::default(), [1, 3]);
        let state = controller.recover_partition(0, vec![1, 2, 3], 1, BTreeSet::from([2])).unwrap();
        assert_eq!((state.leader, state.reason), (None, ChangeReason::Offline));
        let restored = controller.node_restored(2);
        assert_eq!((restored[0].leader, restored[0].leader_epoch), (Some(2), 2));
        assert!(controller.recover_partition(0, vec![1], 0, BTreeSet::from([1])).is_err());
        assert!(Controller::new(ControllerConfig::default(), [1])
            .recover_partition(0, vec![1], 0, BTreeSet::new())
            .is_err());
    }

    #[test]
    fn assignment_spreads_leaders_and_never_repeats_a_node() {
        let placement = assign_replicas(12, 3, &[0, 1, 2, 3, 4]).unwrap();
        for replicas in &placement {
            assert_eq!(replicas.iter().collect::<BTreeSet<_>>().len(), 3, "{replicas:?}");
        }
        let leaders: Vec<NodeId> = placement.iter().map(|r| r[0]).collect();
        assert_eq!(leaders, vec![0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1]);
        assert_eq!(assign_replicas(1, 1, &[7]).unwrap(), vec![vec![7]]);
        assert!(assign_replicas(1, 4, &[1, 2, 3]).is_err());
        assert!(assign_replicas(1, 0, &[1, 2, 3]).is_err());
        assert!(assign_replicas(1, 2, &[1, 1]).is_err());
    }
}
