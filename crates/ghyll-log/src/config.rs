//! Per-log configuration, with Kafka's topic config names and defaults.

use crate::batch::BATCH_HEADER_BYTES;
use crate::error::LogError;

/// Configuration of one [`Log`](crate::Log).
///
/// Fields are public and named after Kafka's topic configs (`segment.bytes`
/// is `segment_bytes`); [`LogConfig::set`] takes Kafka's names and string
/// values directly. [`Log::open`](crate::Log::open) calls
/// [`LogConfig::validate`].
///
/// # Examples
/// ```
/// use ghyll_log::LogConfig;
/// let mut config = LogConfig::default();
/// config.set("retention.ms", "3600000")?;
/// config.set("segment.bytes", "67108864")?;
/// assert_eq!(config.retention_ms, 3_600_000);
/// config.validate()?;
/// # Ok::<(), ghyll_log::LogError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogConfig {
    /// `segment.bytes`: roll to a new segment when the active one would
    /// grow past this size. Default 1 GiB.
    pub segment_bytes: u32,
    /// `segment.ms`: roll when the active segment's first record is older
    /// than this. Default 7 days.
    pub segment_ms: u64,
    /// `retention.ms`: delete closed segments whose newest record is older
    /// than this; -1 keeps them forever. Default 7 days.
    pub retention_ms: i64,
    /// `retention.bytes`: delete the oldest closed segments while the log
    /// would stay at least this large without them; -1 means no limit.
    pub retention_bytes: i64,
    /// `index.interval.bytes`: bytes of log between sparse index entries.
    /// Default 4096.
    pub index_interval_bytes: u32,
    /// `segment.index.bytes`: size each index file is preallocated to; a
    /// full index rolls the segment. Default 10 MiB.
    pub segment_index_bytes: u32,
    /// `max.message.bytes`: the largest batch accepted. Default 1048588.
    pub max_message_bytes: u32,
    /// `flush.messages`: fsync after this many appended records;
    /// `u64::MAX` (the default) leaves flushing to the OS.
    pub flush_messages: u64,
    /// `flush.ms`: fsync when this long has passed since the last fsync,
    /// checked on append and by [`Log::flush_if_due`](crate::Log::flush_if_due);
    /// `u64::MAX` (the default) leaves flushing to the OS.
    pub flush_ms: u64,
    /// `cleanup.policy`: delete old segments, compact them, or both.
    /// Default [`CleanupPolicy::Delete`].
    pub cleanup_policy: CleanupPolicy,
    /// `delete.retention.ms`: how long a tombstone (a record with a null
    /// value) survives compaction, counted from the tombstone's own
    /// timestamp. Default 1 day.
    pub delete_retention_ms: u64,
    /// `min.cleanable.dirty.ratio`, in parts per million (Kafka's 0.5 is
    /// 500000): [`Log::needs_cleaning`](crate::Log::needs_cleaning) answers
    /// yes once at least this share of the cleanable bytes is dirty. Stored
    /// as an integer so that `LogConfig` stays `Eq`; [`LogConfig::set`]
    /// takes Kafka's decimal spelling. Default 500000.
    pub min_cleanable_dirty_ratio_ppm: u32,
    /// `min.compaction.lag.ms`: a closed segment whose newest timestamp is
    /// less than this old is not compacted yet (nor is any later one).
    /// Default 0.
    pub min_compaction_lag_ms: u64,
}

/// Kafka's `cleanup.policy`: what happens to old closed segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum CleanupPolicy {
    /// `delete`: [`Log::apply_retention`](crate::Log::apply_retention)
    /// deletes whole segments by `retention.ms` and `retention.bytes`.
    #[default]
    Delete,
    /// `compact`: [`Log::clean`](crate::Log::clean) keeps the latest record
    /// per key; retention by time or size deletes nothing. Every appended
    /// record must have a key.
    Compact,
    /// `compact,delete`: both.
    CompactDelete,
}

impl CleanupPolicy {
    /// Parses Kafka's spelling: `delete`, `compact`, `compact,delete` or
    /// `delete,compact` (spaces around the comma allowed); `None` otherwise.
    pub fn parse(value: &str) -> Option<CleanupPolicy> {
        let mut parts: Vec<&str> = value.split(',').map(str::trim).collect();
        parts.sort_unstable();
        parts.dedup();
        match parts.as_slice() {
            ["delete"] => Some(CleanupPolicy::Delete),
            ["compact"] => Some(CleanupPolicy::Compact),
            ["compact", "delete"] => Some(CleanupPolicy::CompactDelete),
            _ => None,
        }
    }

    /// Kafka's spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            CleanupPolicy::Delete => "delete",
            CleanupPolicy::Compact => "compact",
            CleanupPolicy::CompactDelete => "compact,delete",
        }
    }

    /// Whether the policy includes `compact`.
    pub fn compacts(&self) -> bool {
        matches!(self, CleanupPolicy::Compact | CleanupPolicy::CompactDelete)
    }

    /// Whether the policy includes `delete`.
    pub fn deletes(&self) -> bool {
        matches!(self, CleanupPolicy::Delete | CleanupPolicy::CompactDelete)
    }
}

/// One in parts per million.
pub(crate) const RATIO_ONE_PPM: u32 = 1_000_000;

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 60 * 60 * 1000,
            retention_ms: 7 * 24 * 60 * 60 * 1000,
            retention_bytes: -1,
            index_interval_bytes: 4096,
            segment_index_bytes: 10 * 1024 * 1024,
            max_message_bytes: 1_048_588,
            flush_messages: u64::MAX,
            flush_ms: u64::MAX,
            cleanup_policy: CleanupPolicy::Delete,
            delete_retention_ms: 24 * 60 * 60 * 1000,
            min_cleanable_dirty_ratio_ppm: RATIO_ONE_PPM / 2,
            min_compaction_lag_ms: 0,
        }
    }
}

/// Smallest `segment.bytes` accepted: room for one batch header.
pub(crate) const SEGMENT_BYTES_MIN: u32 = BATCH_HEADER_BYTES as u32;
/// Smallest `segment.index.bytes`: room for one time index entry.
pub(crate) const SEGMENT_INDEX_BYTES_MIN: u32 = 12;

impl LogConfig {
    /// Sets one config by Kafka's name from its string value.
    ///
    /// Names: `segment.bytes`, `segment.ms`, `retention.ms`,
    /// `retention.bytes`, `index.interval.bytes`, `segment.index.bytes`,
    /// `max.message.bytes`, `flush.messages`, `flush.ms`,
    /// `cleanup.policy`, `delete.retention.ms`, `min.cleanable.dirty.ratio`
    /// (a decimal in 0..=1) and `min.compaction.lag.ms`. For the flush
    /// settings, Kafka's "never" (`9223372036854775807`) is accepted.
    ///
    /// # Errors
    /// [`LogError::InvalidConfig`] for an unknown name or a value that does
    /// not parse or is out of range.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), LogError> {
        match name {
            "cleanup.policy" => {
                let policy = CleanupPolicy::parse(value).ok_or_else(|| LogError::InvalidConfig {
                    name: "cleanup.policy",
                    value: value.to_string(),
                    reason: "must be delete, compact or compact,delete",
                })?;
                self.cleanup_policy = policy;
                return Ok(());
            }
            "min.cleanable.dirty.ratio" => {
                let ratio: f64 = value.trim().parse().map_err(|_| LogError::InvalidConfig {
                    name: "min.cleanable.dirty.ratio",
                    value: value.to_string(),
                    reason: "not a number",
                })?;
                if !(0.0..=1.0).contains(&ratio) {
                    return Err(LogError::InvalidConfig {
                        name: "min.cleanable.dirty.ratio",
                        value: value.to_string(),
                        reason: "must be 0..=1",
                    });
                }
                self.min_cleanable_dirty_ratio_ppm = (ratio * f64::from(RATIO_ONE_PPM)).round() as u32;
                return Ok(());
            }
            _ => {}
        }
        let parsed: i64 = value.trim().parse().map_err(|_| LogError::InvalidConfig {
            name: static_name(name),
            value: value.to_string(),
            reason: "not an integer",
        })?;
        let invalid = |name: &'static str, reason: &'static str| LogError::InvalidConfig {
            name,
            value: value.to_string(),
            reason,
        };
        let as_u32 = |name: &'static str| u32::try_from(parsed).map_err(|_| invalid(name, "must be 0..=2147483647"));
        let as_u64 = |name: &'static str| u64::try_from(parsed).map_err(|_| invalid(name, "must not be negative"));
        // Validate a copy so a rejected value leaves `self` as it was.
        let mut next = self.clone();
        match name {
            "segment.bytes" => next.segment_bytes = as_u32("segment.bytes")?,
            "segment.ms" => next.segment_ms = as_u64("segment.ms")?,
            "retention.ms" => next.retention_ms = parsed,
            "retention.bytes" => next.retention_bytes = parsed,
            "index.interval.bytes" => next.index_interval_bytes = as_u32("index.interval.bytes")?,
            "segment.index.bytes" => next.segment_index_bytes = as_u32("segment.index.bytes")?,
            "max.message.bytes" => next.max_message_bytes = as_u32("max.message.bytes")?,
            "flush.messages" => next.flush_messages = never_as_max(as_u64("flush.messages")?),
            "flush.ms" => next.flush_ms = never_as_max(as_u64("flush.ms")?),
            "delete.retention.ms" => next.delete_retention_ms = as_u64("delete.retention.ms")?,
            "min.compaction.lag.ms" => next.min_compaction_lag_ms = as_u64("min.compaction.lag.ms")?,
            _ => {
                return Err(LogError::InvalidConfig {
                    name: "(unknown)",
                    value: format!("{name}={value}"),
                    reason: "not a log config ghyll knows",
                })
            }
        }
        next.validate()?;
        *self = next;
        Ok(())
    }

    /// Checks every value against its allowed range.
    ///
    /// # Errors
    /// [`LogError::InvalidConfig`] naming the first bad setting.
    pub fn validate(&self) -> Result<(), LogError> {
        let invalid = |name: &'static str, value: String, reason: &'static str| {
            Err(LogError::InvalidConfig { name, value, reason })
        };
        if self.segment_bytes < SEGMENT_BYTES_MIN || self.segment_bytes > i32::MAX as u32 {
            return invalid("segment.bytes", self.segment_bytes.to_string(), "must be 61..=2147483647");
        }
        if self.segment_ms == 0 {
            return invalid("segment.ms", "0".into(), "must be at least 1");
        }
        if self.retention_ms < -1 {
            return invalid("retention.ms", self.retention_ms.to_string(), "must be -1 (forever) or at least 0");
        }
        if self.retention_bytes < -1 {
            return invalid("retention.bytes", self.retention_bytes.to_string(), "must be -1 (no limit) or at least 0");
        }
        if self.index_interval_bytes > i32::MAX as u32 {
            return invalid("index.interval.bytes", self.index_interval_bytes.to_string(), "must be 0..=2147483647");
        }
        if self.segment_index_bytes < SEGMENT_INDEX_BYTES_MIN || self.segment_index_bytes > i32::MAX as u32 {
            return invalid("segment.index.bytes", self.segment_index_bytes.to_string(), "must be 12..=2147483647");
        }
        if (self.max_message_bytes as usize) < BATCH_HEADER_BYTES || self.max_message_bytes > i32::MAX as u32 {
            return invalid("max.message.bytes", self.max_message_bytes.to_string(), "must be 61..=2147483647");
        }
        if self.flush_messages == 0 {
            return invalid("flush.messages", "0".into(), "must be at least 1");
        }
        if self.delete_retention_ms > i64::MAX as u64 {
            return invalid(
                "delete.retention.ms",
                self.delete_retention_ms.to_string(),
                "must be 0..=9223372036854775807",
            );
        }
        if self.min_compaction_lag_ms > i64::MAX as u64 {
            return invalid(
                "min.compaction.lag.ms",
                self.min_compaction_lag_ms.to_string(),
                "must be 0..=9223372036854775807",
            );
        }
        if self.min_cleanable_dirty_ratio_ppm > RATIO_ONE_PPM {
            return invalid(
                "min.cleanable.dirty.ratio",
                format!("{}ppm", self.min_cleanable_dirty_ratio_ppm),
                "must be 0..=1",
            );
        }
        Ok(())
    }
}

/// Kafka spells "never" as `Long.MAX_VALUE`.
fn never_as_max(value: u64) -> u64 {
    if value >= i64::MAX as u64 {
        u64::MAX
    } else {
        value
    }
}

fn static_name(name: &str) -> &'static str {
    const NAMES: [&str; 11] = [
        "segment.bytes",
        "segment.ms",
        "retention.ms",
        "retention.bytes",
        "index.interval.bytes",
        "segment.index.bytes",
        "max.message.bytes",
        "flush.messages",
        "flush.ms",
        "delete.retention.ms",
        "min.compaction.lag.ms",
    ];
    NAMES.iter().find(|known| **known == name).copied().unwrap_or("(unknown)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_kafkas() {
        let config = LogConfig::default();
        assert_eq!(config.segment_bytes, 1_073_741_824);
        assert_eq!(config.retention_ms, 604_800_000);
        assert_eq!(config.retention_bytes, -1);
        assert_eq!(config.index_interval_bytes, 4096);
        assert_eq!(config.segment_index_bytes, 10_485_760);
        assert_eq!(config.max_message_bytes, 1_048_588);
        assert_eq!(config.cleanup_policy, CleanupPolicy::Delete);
        assert_eq!(config.delete_retention_ms, 86_400_000);
        assert_eq!(config.min_cleanable_dirty_ratio_ppm, 500_000);
        assert_eq!(config.min_compaction_lag_ms, 0);
        config.validate().unwrap();
    }

    #[test]
    fn set_takes_kafka_names_and_rejects_bad_values() {
        let mut config = LogConfig::default();
        config.set("flush.messages", "9223372036854775807").unwrap();
        assert_eq!(config.flush_messages, u64::MAX);
        config.set("retention.ms", "-1").unwrap();
        assert_eq!(config.retention_ms, -1);
        let error = config.set("retention.ms", "-2").unwrap_err();
        assert!(matches!(error, LogError::InvalidConfig { name: "retention.ms", .. }), "{error}");
        let error = config.set("segment.bytes", "12").unwrap_err();
        assert!(matches!(error, LogError::InvalidConfig { name: "segment.bytes", .. }), "{error}");
        let error = config.set("segment.bytes", "lots").unwrap_err();
        assert!(matches!(error, LogError::InvalidConfig { name: "segment.bytes", .. }), "{error}");
        let error = config.set("no.such.thing", "1").unwrap_err();
        assert!(error.to_string().contains("no.such.thing"), "{error}");
    }

    #[test]
    fn compaction_settings_take_kafka_spellings() {
        let mut config = LogConfig::default();
        for (value, policy) in [
            ("compact", CleanupPolicy::Compact),
            ("delete, compact", CleanupPolicy::CompactDelete),
            ("compact,delete", CleanupPolicy::CompactDelete),
            ("delete", CleanupPolicy::Delete),
        ] {
            config.set("cleanup.policy", value).unwrap();
            assert_eq!(config.cleanup_policy, policy, "{value}");
        }
        let error = config.set("cleanup.policy", "shred").unwrap_err();
        assert!(matches!(error, LogError::InvalidConfig { name: "cleanup.policy", .. }), "{error}");
        config.set("min.cleanable.dirty.ratio", "0.25").unwrap();
        assert_eq!(config.min_cleanable_dirty_ratio_ppm, 250_000);
        assert!(config.set("min.cleanable.dirty.ratio", "1.5").is_err());
        assert!(config.set("min.cleanable.dirty.ratio", "half").is_err());
        assert_eq!(config.min_cleanable_dirty_ratio_ppm, 250_000, "a rejected value changes nothing");
        config.set("delete.retention.ms", "1000").unwrap();
        config.set("min.compaction.lag.ms", "5").unwrap();
        assert_eq!((config.delete_retention_ms, config.min_compaction_lag_ms), (1000, 5));
        assert!(config.set("delete.retention.ms", "-1").is_err());
        config.validate().unwrap();
    }
}
