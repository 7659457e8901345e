//! Committed offsets: the two-step commit, replay, expiry and group
//! deletion.
//!
//! Every change goes out as [`OffsetRecord`]s first and is applied only
//! when the driver has appended them to `__consumer_offsets`
//! ([`GroupCoordinator::complete_commit`]); replaying the topic at startup
//! ([`GroupCoordinator::load`]) rebuilds the same state. Each key remembers
//! the log position it was last written at, so commits that finish out of
//! order still land in log order.

use std::collections::BTreeMap;

use crate::coordinator::{validate_group_id, GroupCoordinator};
use crate::error::GroupError;
use crate::group::{Group, OffsetEntry};
use crate::record::OffsetRecord;
use crate::types::{GroupState, OffsetAndMetadata, TopicPartition};

impl GroupCoordinator {
    /// Checks a commit and returns the records the driver must append to
    /// `__consumer_offsets`; nothing changes until
    /// [`complete_commit`](GroupCoordinator::complete_commit).
    ///
    /// A group member commits with its member id and generation. A commit
    /// with member id `""` and a negative generation is a "simple" commit
    /// (admin offset resets, consumers using `assign` with a `group.id`),
    /// allowed only while the group has no members. The coordinator stamps
    /// each offset's `commit_timestamp_ms` with `now_ms`, and a member's
    /// commit counts as a heartbeat. A member may commit while the group
    /// prepares a rebalance (eager consumers commit before they give their
    /// partitions up), but not while its new assignment waits for it.
    ///
    /// # Errors
    /// - [`GroupError::InvalidGroupId`] for an empty group id.
    /// - [`GroupError::OffsetMetadataTooLarge`] and
    ///   [`GroupError::InvalidCommit`] for offsets the format cannot store.
    /// - [`GroupError::GroupNotEmpty`] for a simple commit to a group with
    ///   members.
    /// - [`GroupError::UnknownMember`] for a member the group does not have.
    /// - [`GroupError::RebalanceInProgress`] while the member's new
    ///   assignment waits for it.
    /// - [`GroupError::IllegalGeneration`] for any generation but the
    ///   current one: a member fenced by a rebalance cannot commit.
    pub fn prepare_commit(
        &mut self,
        now_ms: u64,
        group_id: &str,
        member_id: &str,
        generation: i32,
        offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
    ) -> Result<Vec<OffsetRecord>, GroupError> {
        validate_group_id(group_id)?;
        for (tp, value) in offsets {
            let invalid =
                |reason| GroupError::InvalidCommit { group: group_id.to_owned(), partition: tp.to_string(), reason };
            if value.metadata.len() > self.config.offset_metadata_max_bytes {
                return Err(GroupError::OffsetMetadataTooLarge {
                    group: group_id.to_owned(),
                    partition: tp.to_string(),
                    bytes: value.metadata.len(),
                    max: self.config.offset_metadata_max_bytes,
                });
            }
            if value.offset > i64::MAX as u64 {
                return Err(invalid("offset above i64::MAX"));
            }
            if tp.partition > i32::MAX as u32 {
                return Err(invalid("partition above i32::MAX"));
            }
            if tp.topic.is_empty() || tp.topic.len() > i16::MAX as usize {
                return Err(invalid("topic name empty or longer than 32767 bytes"));
            }
        }
        let group = self.groups.get_mut(group_id);
        if member_id.is_empty() && generation < 0 {
            if group.is_some_and(|g| !g.members.is_empty()) {
                return Err(GroupError::GroupNotEmpty { group: group_id.to_owned() });
            }
        } else {
            let unknown = || GroupError::UnknownMember { group: group_id.to_owned(), member_id: member_id.to_owned() };
            let group = group.ok_or_else(unknown)?;
            let current = group.generation;
            let state = group.state;
            let member = group.members.get_mut(member_id).ok_or_else(unknown)?;
            if state == GroupState::CompletingRebalance && member.has_pending() {
                return Err(GroupError::RebalanceInProgress { group: group_id.to_owned() });
            }
            if generation != current {
                return Err(GroupError::IllegalGeneration {
                    group: group_id.to_owned(),
                    member_id: member_id.to_owned(),
                    generation,
                    current,
                });
            }
            member.heard_from(now_ms);
        }
        Ok(offsets
            .iter()
            .map(|(tp, value)| OffsetRecord {
                group: group_id.to_owned(),
                partition: tp.clone(),
                value: Some(OffsetAndMetadata {
                    offset: value.offset,
                    metadata: value.metadata.clone(),
                    commit_timestamp_ms: now_ms,
                }),
            })
            .collect())
    }

    /// Applies records the driver appended to `__consumer_offsets` at log
    /// offset `position` (commits from
    /// [`prepare_commit`](GroupCoordinator::prepare_commit), tombstones from
    /// [`expired_offsets`](GroupCoordinator::expired_offsets) or
    /// [`prepare_delete_group`](GroupCoordinator::prepare_delete_group)). A
    /// record for a key already written at a later position is ignored, so
    /// concurrent commits land in log order.
    pub fn complete_commit(&mut self, records: &[OffsetRecord], position: u64) {
        for record in records {
            self.apply(record.clone(), position);
        }
    }

    /// Replays one record of `__consumer_offsets` at startup, in log order
    /// (`position` is its log offset). Same rules as
    /// [`complete_commit`](GroupCoordinator::complete_commit).
    pub fn load(&mut self, record: OffsetRecord, position: u64) {
        self.apply(record, position);
    }

    fn apply(&mut self, record: OffsetRecord, position: u64) {
        let group = self.groups.entry(record.group.clone()).or_insert_with(|| Group::new(&record.group));
        if group.offsets.get(&record.partition).is_some_and(|entry| entry.position > position) {
            return;
        }
        if record.value.is_some() && group.state == GroupState::Dead {
            group.state = GroupState::Empty;
        }
        group.offsets.insert(record.partition, OffsetEntry { value: record.value, position });
    }

    /// The group's committed position for a partition.
    #[must_use]
    pub fn committed(&self, group_id: &str, partition: &TopicPartition) -> Option<&OffsetAndMetadata> {
        self.groups.get(group_id)?.offsets.get(partition)?.value.as_ref()
    }

    /// Every committed position of the group.
    #[must_use]
    pub fn committed_all(&self, group_id: &str) -> BTreeMap<TopicPartition, OffsetAndMetadata> {
        let Some(group) = self.groups.get(group_id) else { return BTreeMap::new() };
        group.offsets.iter().filter_map(|(tp, entry)| Some((tp.clone(), entry.value.clone()?))).collect()
    }

    /// Tombstones for the offsets of groups without members that are past
    /// `offsets_retention_ms`: counted from the later of the offset's
    /// commit and the moment the group became empty (Kafka counts from the
    /// latter for groups that had members, from the commit for groups that
    /// never had any, and after a restart a group's member history is
    /// unknown, so commits count).
    ///
    /// The driver appends them and then calls
    /// [`complete_commit`](GroupCoordinator::complete_commit) with them;
    /// until then a second call returns them again.
    #[must_use]
    pub fn expired_offsets(&mut self, now_ms: u64) -> Vec<OffsetRecord> {
        let retention_ms = self.config.offsets_retention_ms;
        let mut out = Vec::new();
        for group in self.groups.values().filter(|g| g.members.is_empty()) {
            for (tp, entry) in &group.offsets {
                let Some(value) = &entry.value else { continue };
                let base = group.empty_since_ms.unwrap_or(0).max(value.commit_timestamp_ms);
                if now_ms.saturating_sub(base) >= retention_ms {
                    out.push(OffsetRecord { group: group.id.clone(), partition: tp.clone(), value: None });
                }
            }
        }
        out
    }

    /// When [`expired_offsets`](GroupCoordinator::expired_offsets) next has
    /// something to return; `None` if no group without members has offsets.
    #[must_use]
    pub fn next_offset_expiry_ms(&self) -> Option<u64> {
        let retention_ms = self.config.offsets_retention_ms;
        self.groups
            .values()
            .filter(|g| g.members.is_empty())
            .flat_map(|g| {
                g.offsets.values().filter_map(move |entry| {
                    let value = entry.value.as_ref()?;
                    Some(g.empty_since_ms.unwrap_or(0).max(value.commit_timestamp_ms).saturating_add(retention_ms))
                })
            })
            .min()
    }

    /// Deletes a group without members (Kafka's DeleteGroups): marks it
    /// `Dead` and returns tombstones for all its offsets, which the driver
    /// appends and passes to
    /// [`complete_commit`](GroupCoordinator::complete_commit).
    ///
    /// # Errors
    /// [`GroupError::UnknownGroup`] for a group with neither members nor
    /// offsets; [`GroupError::GroupNotEmpty`] for a group with members.
    pub fn prepare_delete_group(&mut self, group_id: &str) -> Result<Vec<OffsetRecord>, GroupError> {
        validate_group_id(group_id)?;
        let group = self
            .groups
            .get_mut(group_id)
            .filter(|g| g.exists())
            .ok_or_else(|| GroupError::UnknownGroup { group: group_id.to_owned() })?;
        if !group.members.is_empty() {
            return Err(GroupError::GroupNotEmpty { group: group_id.to_owned() });
        }
        group.state = GroupState::Dead;
        Ok(group
            .offsets
            .iter()
            .filter(|(_, entry)| entry.value.is_some())
            .map(|(tp, _)| OffsetRecord { group: group_id.to_owned(), partition: tp.clone(), value: None })
            .collect())
    }
}
