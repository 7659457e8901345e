//! ghyll-broker: Kafka's broker, producer and consumer, in your process.
//!
//! A [`Broker`] opens a data directory (one subdirectory per partition,
//! named `<topic>-<partition>` and holding Kafka-format segments) and owns
//! the topics in it. The tour:
//!
//! - Admin: [`Broker::create_topic`] with a [`NewTopic`] (partitions and
//!   Kafka-named configs such as `retention.ms`), [`Broker::list_topics`],
//!   [`Broker::describe_topic`], [`Broker::add_partitions`],
//!   [`Broker::delete_topic`].
//! - [`Producer`] (from [`Broker::producer`]): [`Producer::send`] waits for
//!   the offset; [`Producer::send_async`] batches per partition by
//!   `batch.size` / `linger.ms` and returns a [`SendHandle`]. Records
//!   without a partition go through a [`Partitioner`](ghyll_partition::Partitioner)
//!   (Kafka's murmur2 for keys by default). [`Acks`] and [`Durability`]
//!   say when a send is done; durable sends share fsyncs.
//! - [`Consumer`] (from [`Broker::consumer`]): [`Consumer::assign`]
//!   partitions, [`Consumer::seek`], then [`Consumer::poll`], which blocks
//!   until records arrive and hands them out without copying.
//! - Consumer groups: with `group.id` ([`ConsumerConfig::with_group`]),
//!   [`Consumer::subscribe`] joins the group and takes partitions from its
//!   [`Assignor`], positions from the committed offsets; [`Consumer::commit`]
//!   stores them in the compacted internal topic [`OFFSETS_TOPIC`];
//!   [`Broker::list_groups`], [`Broker::describe_group`] (lag),
//!   [`Broker::reset_group_offsets`] and [`Broker::delete_group`] are the
//!   admin side. Topics with `cleanup.policy=compact` keep the latest record
//!   per key ([`Broker::compact_topic`]).
//! - Replication: with [`BrokerConfig::nodes`] (one data directory per
//!   node), [`NewTopic::replication_factor`] places each partition's
//!   replicas on that many nodes; a controller elects leaders from the ISR,
//!   consumers read the leader up to the high watermark, and
//!   [`Acks::All`] waits for the ISR (at least `min.insync.replicas`, else
//!   [`BrokerError::NotEnoughReplicas`]). [`Broker::fail_node`] and
//!   [`Broker::restore_node`] take a node out and bring it back.
//! - [`Broker::close`] flushes and stops the background threads (scheduled
//!   flushes, retention, group timers, the cleaner, replication); dropping
//!   every handle loses nothing that was acknowledged.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod broker;
mod config;
mod consumer;
mod error;
mod group;
mod metadata;
mod partition;
mod producer;
mod replication;

pub use broker::{Broker, CompactionReport, NewTopic, PartitionDescription, TopicDescription};
pub use config::{validate_topic_name, BrokerConfig, CleanupPolicy, TopicConfig, TOPIC_CONFIG_NAMES};
pub use consumer::{
    Consumer, ConsumerConfig, ConsumerRecord, ConsumerRecords, OffsetAndTimestamp, OffsetReset, RebalanceListener,
    TopicPartition,
};
pub use error::BrokerError;
pub use ghyll_group::{
    Assignor, CooperativeStickyAssignor, GroupListing, GroupState, MemberSubscription, OffsetAndMetadata,
    RangeAssignor, RebalanceProtocol, RoundRobinAssignor,
};
pub use group::{ConsumerGroupDescription, GroupMemberDescription, GroupPartitionLag, OffsetSpec, OFFSETS_TOPIC};
pub use producer::{
    Acks, BatchSendHandle, Durability, Producer, ProducerConfig, ProducerRecord, RecordMetadata, RecordPosition,
    SendHandle,
};

const _: () = {
    const fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<Broker>();
    assert_send_sync::<BrokerError>();
};
