//! [`BuiltinPartitioner`]: the built-ins by name, for configuration and the
//! CLI.

use std::fmt;
use std::str::FromStr;

use crate::default_partitioner::DefaultPartitioner;
use crate::key_hash::KeyHash;
use crate::partitioner::Partitioner;
use crate::round_robin::RoundRobin;
use crate::sticky::Sticky;

/// A built-in partitioner, named as configuration and the CLI spell it:
/// `round-robin`, `key-hash`, `sticky` or `default`.
///
/// # Examples
/// ```
/// use ghyll_partition::BuiltinPartitioner;
/// let choice: BuiltinPartitioner = "sticky".parse()?;
/// assert_eq!(choice, BuiltinPartitioner::Sticky);
/// let partitioner = choice.build();
/// assert_eq!(partitioner.name(), "sticky");
/// assert!("hash".parse::<BuiltinPartitioner>().is_err());
/// # Ok::<(), ghyll_partition::ParsePartitionerError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum BuiltinPartitioner {
    /// [`RoundRobin`]: every record to the next partition, keys ignored.
    RoundRobin,
    /// [`KeyHash`]: keyed records by Kafka's murmur2, keyless round-robin.
    KeyHash,
    /// [`Sticky`] with Kafka's default `batch.size`: keyless records fill a
    /// batch on one partition before moving on; keyed records hashed.
    Sticky,
    /// [`DefaultPartitioner`]: ghyll's default.
    #[default]
    Default,
}

impl BuiltinPartitioner {
    /// Every built-in, in the order the CLI lists them.
    pub const ALL: [BuiltinPartitioner; 4] = [
        BuiltinPartitioner::Default,
        BuiltinPartitioner::KeyHash,
        BuiltinPartitioner::RoundRobin,
        BuiltinPartitioner::Sticky,
    ];

    /// The name [`FromStr`] accepts and the built partitioner's
    /// [`Partitioner::name`].
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            BuiltinPartitioner::RoundRobin => "round-robin",
            BuiltinPartitioner::KeyHash => "key-hash",
            BuiltinPartitioner::Sticky => "sticky",
            BuiltinPartitioner::Default => "default",
        }
    }

    /// A new instance of this partitioner, with fresh per-topic state.
    #[must_use]
    pub fn build(self) -> Box<dyn Partitioner> {
        match self {
            BuiltinPartitioner::RoundRobin => Box::new(RoundRobin::new()),
            BuiltinPartitioner::KeyHash => Box::new(KeyHash::new()),
            BuiltinPartitioner::Sticky => Box::new(Sticky::default()),
            BuiltinPartitioner::Default => Box::new(DefaultPartitioner::new()),
        }
    }
}

impl fmt::Display for BuiltinPartitioner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BuiltinPartitioner {
    type Err = ParsePartitionerError;

    /// Parses `round-robin`, `key-hash`, `sticky` or `default`, exactly.
    ///
    /// # Errors
    /// [`ParsePartitionerError`] for any other string.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        BuiltinPartitioner::ALL
            .into_iter()
            .find(|builtin| builtin.as_str() == name)
            .ok_or_else(|| ParsePartitionerError { name: name.to_owned() })
    }
}

/// A string that names no built-in partitioner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsePartitionerError {
    name: String,
}

impl ParsePartitionerError {
    /// The string that was not recognised.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for ParsePartitionerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown partitioner {:?}: expected one of ", self.name)?;
        for (i, builtin) in BuiltinPartitioner::ALL.into_iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(builtin.as_str())?;
        }
        Ok(())
    }
}

impl std::error::Error for ParsePartitionerError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::PartitionContext;

    #[test]
    fn names_round_trip_through_parse_build_and_display() {
        for builtin in BuiltinPartitioner::ALL {
            assert_eq!(builtin.as_str().parse::<BuiltinPartitioner>(), Ok(builtin));
            assert_eq!(builtin.to_string(), builtin.as_str());
            assert_eq!(builtin.build().name(), builtin.as_str());
        }
        assert_eq!(BuiltinPartitioner::default(), BuiltinPartitioner::Default);
    }

    #[test]
    fn unknown_names_are_a_clear_error() {
        for bad in
            ["", "hash", "Sticky", "round_robin", " default", "org.apache.kafka.clients.producer.RoundRobinPartitioner"]
        {
            let error = bad.parse::<BuiltinPartitioner>().unwrap_err();
            assert_eq!(error.name(), bad);
            assert_eq!(
                error.to_string(),
                format!("unknown partitioner {bad:?}: expected one of default, key-hash, round-robin, sticky")
            );
        }
    }

    #[test]
    fn built_partitioners_behave_as_named() {
        let keyless = PartitionContext::new("t", None, Some(b"v".as_slice()), &[], 4);
        let round_robin = BuiltinPartitioner::RoundRobin.build();
        let spread: Vec<u32> = (0..4).map(|_| round_robin.partition(&keyless)).collect();
        assert_eq!(spread, [0, 1, 2, 3]);
        let sticky = BuiltinPartitioner::Sticky.build();
        let first = sticky.partition(&keyless);
        assert!((0..100).all(|_| sticky.partition(&keyless) == first));
    }
}
