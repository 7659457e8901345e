//! [`GroupConfig`]: the coordinator's settings, with Kafka's defaults.

use crate::error::GroupError;

/// The group coordinator's settings. Start from [`GroupConfig::default`]
/// (Kafka's defaults), change fields, and let [`GroupCoordinator::new`]
/// check them with [`GroupConfig::validate`].
///
/// [`GroupCoordinator::new`]: crate::GroupCoordinator::new
///
/// # Examples
/// ```
/// use ghyll_group::GroupConfig;
/// let mut config = GroupConfig::default();
/// assert_eq!(config.session_timeout_ms, 45_000);
/// config.session_timeout_ms = 10_000;
/// config.validate()?;
/// config.rebalance_timeout_ms = 0;
/// assert!(config.validate().is_err());
/// # Ok::<(), ghyll_group::GroupError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupConfig {
    /// `session.timeout.ms`: the session timeout of a member whose
    /// [`JoinRequest`](crate::JoinRequest) asks for 0. Default 45 s.
    pub session_timeout_ms: u64,
    /// `max.poll.interval.ms`, which Kafka's consumer also sends as its
    /// rebalance timeout: the default for a member whose request asks for
    /// 0. Default 5 min.
    pub rebalance_timeout_ms: u64,
    /// `offsets.retention.minutes` in ms: how long an empty group's offsets
    /// are kept. Default 7 days.
    pub offsets_retention_ms: u64,
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of
    /// an empty group waits for more members. Kafka's broker default is
    /// 3 s; ghyll's is 0 because everything runs in one process.
    pub initial_rebalance_delay_ms: u64,
    /// `group.min.session.timeout.ms`. Default 6 s.
    pub session_timeout_min_ms: u64,
    /// `group.max.session.timeout.ms`. Default 30 min.
    pub session_timeout_max_ms: u64,
    /// `group.max.size`: members per group. Default 1000.
    pub group_members_max: usize,
    /// `offset.metadata.max.bytes`. Default 4096.
    pub offset_metadata_max_bytes: usize,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            session_timeout_ms: 45_000,
            rebalance_timeout_ms: 300_000,
            offsets_retention_ms: 7 * 24 * 60 * 60 * 1000,
            initial_rebalance_delay_ms: 0,
            session_timeout_min_ms: 6_000,
            session_timeout_max_ms: 1_800_000,
            group_members_max: 1000,
            offset_metadata_max_bytes: 4096,
        }
    }
}

impl GroupConfig {
    /// Checks every setting.
    ///
    /// # Errors
    /// [`GroupError::InvalidConfig`] naming the first bad setting: a zero
    /// timeout, retention or limit, session bounds out of order, the
    /// default session timeout outside them, or metadata above 32767
    /// bytes (what Kafka's record format can hold).
    pub fn validate(&self) -> Result<(), GroupError> {
        let bad = |name, reason| Err(GroupError::InvalidConfig { name, reason });
        if self.session_timeout_min_ms == 0 {
            return bad("session_timeout_min_ms", "must be above 0");
        }
        if self.session_timeout_max_ms < self.session_timeout_min_ms {
            return bad("session_timeout_max_ms", "must be at least session_timeout_min_ms");
        }
        if !(self.session_timeout_min_ms..=self.session_timeout_max_ms).contains(&self.session_timeout_ms) {
            return bad("session_timeout_ms", "must be within session_timeout_min_ms..=session_timeout_max_ms");
        }
        if self.rebalance_timeout_ms == 0 {
            return bad("rebalance_timeout_ms", "must be above 0");
        }
        if self.offsets_retention_ms == 0 {
            return bad("offsets_retention_ms", "must be above 0");
        }
        if self.group_members_max == 0 {
            return bad("group_members_max", "must be above 0");
        }
        if self.offset_metadata_max_bytes > i16::MAX as usize {
            return bad("offset_metadata_max_bytes", "must be at most 32767");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_kafkas_and_valid() {
        let config = GroupConfig::default();
        config.validate().unwrap();
        assert_eq!(config.rebalance_timeout_ms, 300_000);
        assert_eq!(config.offsets_retention_ms, 604_800_000);
    }

    #[test]
    fn each_bad_setting_is_named() {
        type Change = fn(&mut GroupConfig);
        let cases: [(Change, &str); 6] = [
            (|c| c.session_timeout_min_ms = 0, "session_timeout_min_ms"),
            (|c| c.session_timeout_max_ms = 1, "session_timeout_max_ms"),
            (|c| c.session_timeout_ms = 1, "session_timeout_ms"),
            (|c| c.rebalance_timeout_ms = 0, "rebalance_timeout_ms"),
            (|c| c.offsets_retention_ms = 0, "offsets_retention_ms"),
            (|c| c.offset_metadata_max_bytes = 40_000, "offset_metadata_max_bytes"),
        ];
        for (change, name) in cases {
            let mut config = GroupConfig::default();
            change(&mut config);
            match config.validate() {
                Err(GroupError::InvalidConfig { name: got, .. }) => assert_eq!(got, name),
                other => panic!("{name}: {other:?}"),
            }
        }
    }
}
