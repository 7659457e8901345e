//! [`ReplicaConfig`]: a replica's settings, with Kafka's defaults.

use crate::error::ReplicationError;

/// Which of a replica's offsets count towards the high watermark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Durability {
    /// Kafka's rule: a replica counts once a record is in its log (the page
    /// cache). Acknowledged records survive the loss of all but one ISR
    /// member, but not a power cut of every replica at once.
    Replicated,
    /// A replica counts only what it has fsynced (the driver reports it
    /// with [`Replica::flushed`](crate::Replica::flushed)): acknowledged
    /// records survive even if every replica loses its unsynced data.
    Flushed,
}

/// A replica's settings. Start from [`ReplicaConfig::default`] (Kafka's
/// defaults), change fields, and let [`Replica::new`](crate::Replica::new)
/// check them with [`ReplicaConfig::validate`].
///
/// # Examples
/// ```
/// use ghyll_replication::ReplicaConfig;
/// let mut config = ReplicaConfig::default();
/// assert_eq!(config.replica_lag_time_max_ms, 30_000);
/// config.min_insync_replicas = 2;
/// config.validate()?;
/// config.min_insync_replicas = 0;
/// assert!(config.validate().is_err());
/// # Ok::<(), ghyll_replication::ReplicationError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplicaConfig {
    /// `replica.lag.time.max.ms`: a follower that has not caught up to the
    /// leader's log end offset for this long leaves the ISR. Default 30 s.
    pub replica_lag_time_max_ms: u64,
    /// `min.insync.replicas`: `acks=all` needs an ISR at least this big.
    /// Default 1.
    pub min_insync_replicas: usize,
    /// `replica.fetch.max.bytes`: the most bytes a fetch response carries
    /// (at least one batch is always sent). Default 1 MiB.
    pub fetch_max_bytes: u32,
    /// `replica.fetch.backoff.ms`: how long a follower waits after an empty
    /// or failed fetch before the next. Default 1 s.
    pub fetch_backoff_ms: u64,
    /// How long a follower waits for a fetch response before sending a new
    /// fetch (Kafka's `replica.socket.timeout.ms`). Default 30 s.
    pub fetch_timeout_ms: u64,
    /// The most `acks=all` proposals waiting for the high watermark.
    /// Default 100 000.
    pub pending_acks_max: usize,
    /// Which offsets count towards the high watermark. Default
    /// [`Durability::Replicated`], Kafka's.
    pub durability: Durability,
    /// The pre-KIP-101 behaviour, for tests that prove the simulator finds
    /// it: a new follower truncates to its high watermark and fetches
    /// without epoch validation. Never set this.
    #[doc(hidden)]
    pub truncate_to_high_watermark_on_become_follower: bool,
}

impl Default for ReplicaConfig {
    fn default() -> Self {
        ReplicaConfig {
            replica_lag_time_max_ms: 30_000,
            min_insync_replicas: 1,
            fetch_max_bytes: 1024 * 1024,
            fetch_backoff_ms: 1_000,
            fetch_timeout_ms: 30_000,
            pending_acks_max: 100_000,
            durability: Durability::Replicated,
            truncate_to_high_watermark_on_become_follower: false,
        }
    }
}

impl ReplicaConfig {
    /// Checks every setting.
    ///
    /// # Errors
    /// [`ReplicationError::InvalidConfig`] naming the first setting that
    /// is 0.
    pub fn validate(&self) -> Result<(), ReplicationError> {
        let bad = |name| Err(ReplicationError::InvalidConfig { name, reason: "must be above 0" });
        if self.replica_lag_time_max_ms == 0 {
            return bad("replica_lag_time_max_ms");
        }
        if self.min_insync_replicas == 0 {
            return bad("min_insync_replicas");
        }
        if self.fetch_max_bytes == 0 {
            return bad("fetch_max_bytes");
        }
        if self.fetch_timeout_ms == 0 {
            return bad("fetch_timeout_ms");
        }
        if self.pending_acks_max == 0 {
            return bad("pending_acks_max");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_zero_setting_is_named() {
        type Change = fn(&mut ReplicaConfig);
        let cases: [(Change, &str); 5] = [
            (|c| c.replica_lag_time_max_ms = 0, "replica_lag_time_max_ms"),
            (|c| c.min_insync_replicas = 0, "min_insync_replicas"),
            (|c| c.fetch_max_bytes = 0, "fetch_max_bytes"),
            (|c| c.fetch_timeout_ms = 0, "fetch_timeout_ms"),
            (|c| c.pending_acks_max = 0, "pending_acks_max"),
        ];
        ReplicaConfig::default().validate().unwrap();
        for (change, name) in cases {
            let mut config = ReplicaConfig::default();
            change(&mut config);
            match config.validate() {
                Err(ReplicationError::InvalidConfig { name: got, .. }) => assert_eq!(got, name),
                other => panic!("{name}: {other:?}"),
            }
        }
    }
}
