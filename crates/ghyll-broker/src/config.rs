//! Broker and topic configuration, with Kafka's names.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ghyll_log::LogConfig;

use crate::error::BrokerError;

pub use ghyll_log::CleanupPolicy;

/// The per-topic configs ghyll understands, by Kafka's names.
pub const TOPIC_CONFIG_NAMES: [&str; 15] = [
    "cleanup.policy",
    "delete.retention.ms",
    "min.cleanable.dirty.ratio",
    "min.compaction.lag.ms",
    "retention.ms",
    "retention.bytes",
    "segment.bytes",
    "segment.ms",
    "max.message.bytes",
    "flush.messages",
    "flush.ms",
    "index.interval.bytes",
    "segment.index.bytes",
    "min.insync.replicas",
    "unclean.leader.election.enable",
];

/// A topic's configuration: Kafka's defaults plus the overrides it was
/// created with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicConfig {
    log: LogConfig,
    min_insync_replicas: u16,
    unclean_leader_election: bool,
    overrides: BTreeMap<String, String>,
}

impl Default for TopicConfig {
    fn default() -> Self {
        TopicConfig {
            log: LogConfig::default(),
            min_insync_replicas: 1,
            unclean_leader_election: false,
            overrides: BTreeMap::new(),
        }
    }
}

impl TopicConfig {
    /// Applies one `name=value` override.
    ///
    /// # Errors
    /// [`BrokerError::InvalidConfig`] for an unknown name or a bad value.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), BrokerError> {
        let invalid =
            |reason: String| BrokerError::InvalidConfig { name: name.to_string(), value: value.to_string(), reason };
        if value.contains(['\t', '\n', '\r']) {
            return Err(invalid("values may not contain tabs or line breaks".into()));
        }
        match name {
            "min.insync.replicas" => {
                self.min_insync_replicas = match value.trim().parse::<u16>() {
                    Ok(n) if n >= 1 => n,
                    _ => return Err(invalid("must be an integer from 1 to 65535".into())),
                };
            }
            "unclean.leader.election.enable" => {
                self.unclean_leader_election = match value.trim() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(invalid("must be true or false".into())),
                };
            }
            name if TOPIC_CONFIG_NAMES.contains(&name) => {
                self.log.set(name, value).map_err(|error| invalid(error.to_string()))?;
            }
            _ => {
                return Err(invalid(format!(
                    "not a topic config ghyll knows (known: {})",
                    TOPIC_CONFIG_NAMES.join(", ")
                )))
            }
        }
        self.overrides.insert(name.to_string(), value.trim().to_string());
        Ok(())
    }

    /// The defaults with `pairs` applied in order.
    ///
    /// # Errors
    /// As [`TopicConfig::set`].
    pub fn from_pairs<K: AsRef<str>, V: AsRef<str>>(
        base: &TopicConfig,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<TopicConfig, BrokerError> {
        let mut config = base.clone();
        for (name, value) in pairs {
            config.set(name.as_ref(), value.as_ref())?;
        }
        Ok(config)
    }

    /// The segment store's part of the configuration.
    pub fn log_config(&self) -> &LogConfig {
        &self.log
    }

    /// `min.insync.replicas`: with `acks=all` a send needs an ISR at
    /// least this big (only replicated topics have an ISR). Default 1.
    pub fn min_insync_replicas(&self) -> u16 {
        self.min_insync_replicas
    }

    /// `unclean.leader.election.enable`: elect a replica outside the ISR
    /// (losing what it lacks) when every ISR member is down. Default false.
    pub fn unclean_leader_election(&self) -> bool {
        self.unclean_leader_election
    }

    /// `cleanup.policy`.
    pub fn cleanup_policy(&self) -> CleanupPolicy {
        self.log.cleanup_policy
    }

    /// The explicitly set configs, by name.
    pub fn overrides(&self) -> &BTreeMap<String, String> {
        &self.overrides
    }

    /// Every config ghyll knows with its effective value, by Kafka's name.
    pub fn effective(&self) -> BTreeMap<&'static str, String> {
        let log = &self.log;
        let never = |value: u64| if value == u64::MAX { i64::MAX.to_string() } else { value.to_string() };
        BTreeMap::from([
            ("cleanup.policy", log.cleanup_policy.as_str().to_string()),
            ("delete.retention.ms", log.delete_retention_ms.to_string()),
            ("min.cleanable.dirty.ratio", format!("{}", f64::from(log.min_cleanable_dirty_ratio_ppm) / 1e6)),
            ("min.compaction.lag.ms", log.min_compaction_lag_ms.to_string()),
            ("retention.ms", log.retention_ms.to_string()),
            ("retention.bytes", log.retention_bytes.to_string()),
            ("segment.bytes", log.segment_bytes.to_string()),
            ("segment.ms", log.segment_ms.to_string()),
            ("max.message.bytes", log.max_message_bytes.to_string()),
            ("flush.messages", never(log.flush_messages)),
            ("flush.ms", never(log.flush_ms)),
            ("index.interval.bytes", log.index_interval_bytes.to_string()),
            ("segment.index.bytes", log.segment_index_bytes.to_string()),
            ("min.insync.replicas", self.min_insync_replicas.to_string()),
            ("unclean.leader.election.enable", self.unclean_leader_election.to_string()),
        ])
    }
}

/// How a [`Broker`](crate::Broker) is opened.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use ghyll_broker::BrokerConfig;
/// let dir = tempfile::tempdir()?;
/// let mut config = BrokerConfig::new(dir.path());
/// config.retention_check_interval = Duration::from_secs(60);
/// config.set_topic_default("retention.ms", "3600000")?;
/// let broker = ghyll_broker::Broker::open_with(config)?;
/// # broker.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BrokerConfig {
    /// The data directory: one subdirectory per partition, named
    /// `<topic>-<partition>` as Kafka names them, and the broker's
    /// metadata (`topics.meta`, the lock, replicated partitions' leader and
    /// ISR state).
    pub data_dir: PathBuf,
    /// The nodes, one data directory each: node `i`'s replicas live in
    /// `nodes[i]/<topic>-<partition>`. Empty (the default) is one node, 0,
    /// whose directory is `data_dir`. A topic's replication factor is at
    /// most the number of nodes.
    pub nodes: Vec<PathBuf>,
    /// How often the `ghyll-replication` thread ticks replicated
    /// partitions (fetches, ISR changes) when no append wakes it. Default
    /// 5 ms.
    pub replication_check_interval: Duration,
    /// `replica.lag.time.max.ms`: a follower that has not caught up for
    /// this long leaves the ISR. Default 30 s.
    pub replica_lag_time_max: Duration,
    /// Configuration of topics created without overrides.
    pub topic_defaults: TopicConfig,
    /// How often the background flusher checks `flush.ms` (Kafka's
    /// `log.flush.scheduler.interval.ms`). Default 100 ms.
    pub flush_check_interval: Duration,
    /// How often retention runs (Kafka's `log.retention.check.interval.ms`,
    /// default 5 minutes).
    pub retention_check_interval: Duration,
    /// Most partitions one topic may have.
    pub partitions_max: u32,
    /// How often the group timer expires members that stopped
    /// heartbeating or polling (and offsets past retention). Default 50 ms.
    pub group_check_interval: Duration,
    /// `offsets.retention.minutes`: committed offsets of a group that has
    /// been empty this long are removed. Default 7 days.
    pub offsets_retention: Duration,
    /// `group.min.session.timeout.ms` / `group.max.session.timeout.ms`:
    /// the session timeouts consumers may ask for. Kafka's defaults, 6 s
    /// and 30 minutes; in-process heartbeats are cheap, so tests and
    /// latency-sensitive applications may lower the minimum.
    pub group_min_session_timeout: Duration,
    /// See `group_min_session_timeout`.
    pub group_max_session_timeout: Duration,
    /// How often the log cleaner looks for compacted topics to clean
    /// (Kafka's `log.cleaner.backoff.ms`). Default 15 s.
    pub cleaner_check_interval: Duration,
}

impl BrokerConfig {
    /// How many nodes: `nodes.len()`, or 1 when it is empty.
    pub fn node_count(&self) -> u32 {
        self.nodes.len().max(1) as u32
    }

    /// Node `node`'s directory: `nodes[node]`, or `data_dir` without
    /// nodes.
    pub(crate) fn node_dir(&self, node: u32) -> &Path {
        if self.nodes.is_empty() {
            &self.data_dir
        } else {
            &self.nodes[node as usize]
        }
    }

    /// Kafka's defaults for a broker on `data_dir`.
    pub fn new(data_dir: impl AsRef<Path>) -> BrokerConfig {
        BrokerConfig {
            data_dir: data_dir.as_ref().to_path_buf(),
            nodes: Vec::new(),
            replication_check_interval: Duration::from_millis(5),
            replica_lag_time_max: Duration::from_secs(30),
            topic_defaults: TopicConfig::default(),
            flush_check_interval: Duration::from_millis(100),
            retention_check_interval: Duration::from_millis(300_000),
            partitions_max: 10_000,
            group_check_interval: Duration::from_millis(50),
            offsets_retention: Duration::from_secs(7 * 24 * 60 * 60),
            group_min_session_timeout: Duration::from_secs(6),
            group_max_session_timeout: Duration::from_secs(30 * 60),
            cleaner_check_interval: Duration::from_secs(15),
        }
    }

    /// Overrides a topic default by Kafka's name (`log.retention.ms` on a
    /// Kafka broker is `retention.ms` here).
    ///
    /// # Errors
    /// [`BrokerError::InvalidConfig`].
    pub fn set_topic_default(&mut self, name: &str, value: &str) -> Result<(), BrokerError> {
        self.topic_defaults.set(name, value)
    }

    /// Checks the values.
    ///
    /// # Errors
    /// [`BrokerError::InvalidConfig`] naming the first bad one.
    pub fn validate(&self) -> Result<(), BrokerError> {
        let invalid = |name: &str, value: String, reason: &str| {
            Err(BrokerError::InvalidConfig { name: name.into(), value, reason: reason.into() })
        };
        if self.flush_check_interval.is_zero() {
            return invalid("log.flush.scheduler.interval.ms", "0".into(), "must be at least 1 ms");
        }
        if self.retention_check_interval.is_zero() {
            return invalid("log.retention.check.interval.ms", "0".into(), "must be at least 1 ms");
        }
        if self.group_check_interval.is_zero() {
            return invalid("group_check_interval", "0".into(), "must be at least 1 ms");
        }
        if self.cleaner_check_interval.is_zero() {
            return invalid("log.cleaner.backoff.ms", "0".into(), "must be at least 1 ms");
        }
        if self.offsets_retention.is_zero() {
            return invalid("offsets.retention.minutes", "0".into(), "must be positive");
        }
        if self.replication_check_interval.is_zero() {
            return invalid("replication_check_interval", "0".into(), "must be at least 1 ms");
        }
        if self.replica_lag_time_max.as_millis() == 0 {
            return invalid("replica.lag.time.max.ms", "0".into(), "must be at least 1 ms");
        }
        if self.nodes.len() > u16::MAX as usize {
            return invalid("nodes", self.nodes.len().to_string(), "at most 65535 nodes");
        }
        if self.partitions_max == 0 {
            return invalid("partitions_max", "0".into(), "must be at least 1");
        }
        Ok(())
    }
}

/// Kafka's topic name rule: 1..=249 characters of `[a-zA-Z0-9._-]`, not
/// `.` or `..`.
///
/// # Errors
/// [`BrokerError::InvalidTopicName`] saying which rule the name breaks.
pub fn validate_topic_name(name: &str) -> Result<(), BrokerError> {
    let invalid = |reason| Err(BrokerError::InvalidTopicName { name: name.to_string(), reason });
    if name.is_empty() {
        return invalid("it is empty");
    }
    if name.len() > 249 {
        return invalid("it is longer than 249 characters");
    }
    if name == "." || name == ".." {
        return invalid("'.' and '..' are not allowed");
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-') {
        return invalid("only ASCII letters, digits, '.', '_' and '-' are allowed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_kafkas_rule() {
        for ok in ["a", "orders", "my.topic_v2-eu", &"x".repeat(249)] {
            validate_topic_name(ok).unwrap();
        }
        for bad in ["", ".", "..", "has space", "slash/", "ü", &"x".repeat(250)] {
            assert!(matches!(validate_topic_name(bad), Err(BrokerError::InvalidTopicName { .. })), "{bad:?}");
        }
    }

    #[test]
    fn topic_config_takes_kafka_names() {
        let mut config = TopicConfig::default();
        config.set("retention.ms", "1000").unwrap();
        config.set("cleanup.policy", "delete,compact").unwrap();
        assert_eq!(config.cleanup_policy(), CleanupPolicy::CompactDelete);
        assert_eq!(config.log_config().retention_ms, 1000);
        assert_eq!(config.effective()["retention.ms"], "1000");
        assert!(config.set("cleanup.policy", "shred").is_err());
        assert!(config.set("retention.ms", "soon").is_err());
        let error = config.set("compression.type", "zstd").unwrap_err();
        assert!(error.to_string().contains("compression.type"), "{error}");
        assert_eq!(config.overrides().len(), 2);
    }
}
