//! ghyll: Apache Kafka's model as an embeddable Rust library.
//!
//! Topics, partitions, offsets, producers and consumers, with Kafka's bytes
//! on disk, linked into your process: no JVM, no ZooKeeper, no server. This
//! facade re-exports the workspace's crates:
//!
//! - the broker, producer and consumer ([`Broker`], [`Producer`],
//!   [`Consumer`]) from `ghyll-broker`;
//! - partitioners ([`partition::Partitioner`] and the built-ins) from
//!   `ghyll-partition`;
//! - consumer groups (the coordinator, [`Assignor`]s, the offsets record
//!   format) from `ghyll-group`, behind [`Consumer::subscribe`];
//! - the segment store ([`log::Log`], Kafka's RecordBatch v2 codec) from
//!   `ghyll-log`, for those who want a single partition log and nothing
//!   more.
//!
//! # Examples
//! ```
//! use std::time::Duration;
//! use ghyll::{Broker, ConsumerConfig, NewTopic, OffsetReset, ProducerRecord, TopicPartition};
//!
//! let dir = tempfile::tempdir()?;
//! let broker = Broker::open(dir.path())?;
//! broker.create_topic(NewTopic::new("greetings", 1))?;
//! let producer = broker.producer(Default::default())?;
//! producer.send(ProducerRecord::new("greetings", b"hello"))?;
//!
//! let mut config = ConsumerConfig::default();
//! config.auto_offset_reset = OffsetReset::Earliest;
//! let mut consumer = broker.consumer(config)?;
//! consumer.assign([TopicPartition::new("greetings", 0)])?;
//! let records = consumer.poll(Duration::from_secs(1))?;
//! assert_eq!(records.len(), 1);
//! broker.close()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub use ghyll_broker::{
    validate_topic_name, Acks, Assignor, BatchSendHandle, Broker, BrokerConfig, BrokerError, CleanupPolicy,
    CompactionReport, Consumer, ConsumerConfig, ConsumerGroupDescription, ConsumerRecord, ConsumerRecords,
    CooperativeStickyAssignor, Durability, GroupListing, GroupMemberDescription, GroupPartitionLag, GroupState,
    MemberSubscription, NewTopic, OffsetAndMetadata, OffsetAndTimestamp, OffsetReset, OffsetSpec, PartitionDescription,
    Producer, ProducerConfig, ProducerRecord, RangeAssignor, RebalanceListener, RebalanceProtocol, RecordMetadata,
    RecordPosition, RoundRobinAssignor, SendHandle, TopicConfig, TopicDescription, TopicPartition, OFFSETS_TOPIC,
};

/// Consumer groups: the sans-IO coordinator, assignors and the
/// `__consumer_offsets` record format.
pub mod group {
    pub use ghyll_group::*;
}

/// Partitioners: the [`Partitioner`](partition::Partitioner) trait,
/// Kafka's murmur2 key hashing and the built-in strategies.
pub mod partition {
    pub use ghyll_partition::*;
}

/// The segment store: Kafka RecordBatch v2 batches in segment files.
pub mod log {
    pub use ghyll_log::*;
}
