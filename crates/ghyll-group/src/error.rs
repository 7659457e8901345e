//! [`GroupError`] for coordinator operations and [`CodecError`] for
//! `__consumer_offsets` bytes.

/// Why a coordinator operation was refused.
///
/// The variants follow Kafka's error codes where one exists
/// (`UNKNOWN_MEMBER_ID`, `ILLEGAL_GENERATION`, `REBALANCE_IN_PROGRESS`,
/// `NON_EMPTY_GROUP`, `GROUP_ID_NOT_FOUND`, `INCONSISTENT_GROUP_PROTOCOL`,
/// `FENCED_INSTANCE_ID`, `INVALID_SESSION_TIMEOUT`, `GROUP_MAX_SIZE_REACHED`,
/// `OFFSET_METADATA_TOO_LARGE`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GroupError {
    /// The member id is not (or no longer) a member of the group: it left,
    /// timed out or was replaced by a static member with its instance id.
    #[error("unknown member {member_id:?} in group {group:?}")]
    UnknownMember {
        /// The group.
        group: String,
        /// The member id that was given.
        member_id: String,
    },
    /// The member acted for a generation that is not the group's current
    /// one: it missed a rebalance and must rejoin.
    #[error("illegal generation {generation} for member {member_id:?} in group {group:?}: the current generation is {current}")]
    IllegalGeneration {
        /// The group.
        group: String,
        /// The member.
        member_id: String,
        /// The generation the member gave.
        generation: i32,
        /// The group's current generation.
        current: i32,
    },
    /// The group is rebalancing: the member must rejoin first.
    #[error("group {group:?} is rebalancing")]
    RebalanceInProgress {
        /// The group.
        group: String,
    },
    /// The operation needs a group without members.
    #[error("group {group:?} is not empty")]
    GroupNotEmpty {
        /// The group.
        group: String,
    },
    /// No group by that id has members or committed offsets.
    #[error("unknown group {group:?}")]
    UnknownGroup {
        /// The group.
        group: String,
    },
    /// The member's assignor is not the one the other members use.
    #[error("inconsistent assignor in group {group:?}: members use {expected:?}, the joining member uses {got:?}")]
    InconsistentAssignor {
        /// The group.
        group: String,
        /// The assignor name the current members use.
        expected: String,
        /// The assignor name the joining member gave.
        got: String,
    },
    /// The static member's instance id now belongs to another member id:
    /// this instance was replaced.
    #[error("instance {group_instance_id:?} of group {group:?} is fenced: member {member_id:?} was replaced")]
    FencedInstanceId {
        /// The group.
        group: String,
        /// The `group.instance.id`.
        group_instance_id: String,
        /// The member id that was given.
        member_id: String,
    },
    /// The group id is empty or too long to store.
    #[error("invalid group id {group:?}: {reason}")]
    InvalidGroupId {
        /// The group id that was given.
        group: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The member's session timeout is outside the coordinator's bounds.
    #[error("invalid session timeout {session_timeout_ms} ms for group {group:?}: allowed {min_ms}..={max_ms} ms")]
    InvalidSessionTimeout {
        /// The group.
        group: String,
        /// The timeout the member asked for.
        session_timeout_ms: u64,
        /// The smallest allowed timeout.
        min_ms: u64,
        /// The largest allowed timeout.
        max_ms: u64,
    },
    /// The group already has `group_members_max` members.
    #[error("group {group:?} is full: it has the maximum of {max} members")]
    GroupMaxSizeReached {
        /// The group.
        group: String,
        /// The configured maximum.
        max: usize,
    },
    /// A commit's metadata is longer than `offset_metadata_max_bytes`.
    #[error("offset metadata for {partition} in group {group:?} is {bytes} bytes, above the maximum of {max}")]
    OffsetMetadataTooLarge {
        /// The group.
        group: String,
        /// The partition, as `topic-partition`.
        partition: String,
        /// The metadata's length in bytes.
        bytes: usize,
        /// The configured maximum.
        max: usize,
    },
    /// A commit cannot be stored in Kafka's format: an offset above
    /// `i64::MAX`, a partition above `i32::MAX` or a topic name longer
    /// than 32767 bytes.
    #[error("invalid commit for {partition} in group {group:?}: {reason}")]
    InvalidCommit {
        /// The group.
        group: String,
        /// The partition, as `topic-partition`.
        partition: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A [`GroupConfig`](crate::GroupConfig) setting is out of range.
    #[error("invalid group config {name}: {reason}")]
    InvalidConfig {
        /// The setting, by its field name.
        name: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Why bytes read from `__consumer_offsets` are not an offset record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The bytes end before the field does.
    #[error("truncated {field}: needs {needed} bytes, {available} left")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes left.
        available: usize,
    },
    /// The key's version is negative.
    #[error("invalid key version {version}")]
    InvalidKeyVersion {
        /// The version read.
        version: i16,
    },
    /// The value's version is not 0..=3.
    #[error("unsupported offset commit value version {version}")]
    UnsupportedValueVersion {
        /// The version read.
        version: i16,
    },
    /// A string length is negative (null) where a string is required.
    #[error("invalid length {length} for {field}")]
    InvalidLength {
        /// The field being read.
        field: &'static str,
        /// The length read.
        length: i16,
    },
    /// A string is not UTF-8.
    #[error("{field} is not UTF-8")]
    InvalidUtf8 {
        /// The field being read.
        field: &'static str,
    },
    /// A number that must not be negative is.
    #[error("negative {field}: {value}")]
    Negative {
        /// The field being read.
        field: &'static str,
        /// The value read.
        value: i64,
    },
    /// Bytes are left after the last field.
    #[error("{count} trailing bytes after the {what}")]
    TrailingBytes {
        /// Key or value.
        what: &'static str,
        /// How many bytes are left.
        count: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every message is lowercase, has no trailing period, and names the
    /// group (codec errors name the field instead).
    #[test]
    fn messages_follow_the_style() {
        let g = || "orders-app".to_owned();
        let errors = [
            GroupError::UnknownMember { group: g(), member_id: "m".into() },
            GroupError::IllegalGeneration { group: g(), member_id: "m".into(), generation: 1, current: 2 },
            GroupError::RebalanceInProgress { group: g() },
            GroupError::GroupNotEmpty { group: g() },
            GroupError::UnknownGroup { group: g() },
            GroupError::InconsistentAssignor { group: g(), expected: "range".into(), got: "roundrobin".into() },
            GroupError::FencedInstanceId { group: g(), group_instance_id: "i".into(), member_id: "m".into() },
            GroupError::InvalidGroupId { group: g(), reason: "must not be empty" },
            GroupError::InvalidSessionTimeout { group: g(), session_timeout_ms: 1, min_ms: 2, max_ms: 3 },
            GroupError::GroupMaxSizeReached { group: g(), max: 1 },
            GroupError::OffsetMetadataTooLarge { group: g(), partition: "t-0".into(), bytes: 5, max: 4 },
            GroupError::InvalidCommit { group: g(), partition: "t-0".into(), reason: "offset above i64::MAX" },
        ];
        for error in errors {
            let message = error.to_string();
            assert!(message.contains("orders-app"), "{message}");
            assert!(message.starts_with(|c: char| c.is_lowercase()), "{message}");
            assert!(!message.ends_with('.'), "{message}");
        }
        let config = GroupError::InvalidConfig { name: "session_timeout_ms", reason: "must be above 0" };
        assert_eq!(config.to_string(), "invalid group config session_timeout_ms: must be above 0");
        let codec = CodecError::Truncated { field: "offset", needed: 8, available: 3 };
        assert_eq!(codec.to_string(), "truncated offset: needs 8 bytes, 3 left");
    }
}
