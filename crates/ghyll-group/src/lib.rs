//! ghyll-group: consumer groups, sans IO.
//!
//! A [`GroupCoordinator`] is Kafka's group coordinator and offset manager
//! for one broker, as a plain state machine: it touches no files, clocks,
//! threads or randomness. The driver (the broker) feeds it calls and the
//! time, and performs what it returns. The tour:
//!
//! - **Membership.** [`GroupCoordinator::join`] (Kafka's JoinGroup and
//!   SyncGroup in one), [`heartbeat`](GroupCoordinator::heartbeat),
//!   [`poll_seen`](GroupCoordinator::poll_seen),
//!   [`leave`](GroupCoordinator::leave), and
//!   [`tick`](GroupCoordinator::tick) for session, poll and rebalance
//!   timeouts. Groups go through Kafka's [`GroupState`]s, each rebalance
//!   bumps the generation, and a member of an old generation is fenced.
//!   Static members (`group.instance.id`) restart without a rebalance.
//! - **Assignment.** Unlike Kafka, the coordinator runs the [`Assignor`]
//!   itself (everything is in one process). The built-ins are Kafka's
//!   [`RangeAssignor`] and [`RoundRobinAssignor`] (eager) and
//!   [`CooperativeStickyAssignor`] (incremental: only moved partitions are
//!   revoked, in two rebalances); [`builtin_assignor`] finds them by name.
//! - **Offsets.** [`prepare_commit`](GroupCoordinator::prepare_commit)
//!   checks a commit and returns [`OffsetRecord`]s in Kafka's
//!   `__consumer_offsets` byte format; the driver appends them (and fsyncs,
//!   outside its lock) and calls
//!   [`complete_commit`](GroupCoordinator::complete_commit). At startup
//!   [`load`](GroupCoordinator::load) replays the topic.
//!   [`expired_offsets`](GroupCoordinator::expired_offsets) and
//!   [`prepare_delete_group`](GroupCoordinator::prepare_delete_group) return
//!   tombstones the same way.
//! - **Admin.** [`list_groups`](GroupCoordinator::list_groups) and
//!   [`describe_group`](GroupCoordinator::describe_group).
//! - **Events.** [`GroupEvent`]s tell the driver when to wake consumers
//!   and what to log; [`next_deadline_ms`](GroupCoordinator::next_deadline_ms)
//!   when to tick.
//!
//! # Examples
//! Two consumers share a topic; the second one's arrival rebalances the
//! group, and the first learns of it from its heartbeat.
//! ```
//! use std::collections::BTreeSet;
//! use ghyll_group::*;
//!
//! let mut coordinator = GroupCoordinator::new(GroupConfig::default());
//! coordinator.set_topic_partitions(0, "orders", Some(4));
//! let topics = BTreeSet::from(["orders".to_owned()]);
//! let range = builtin_assignor("range").unwrap();
//!
//! let a = coordinator.join(0, "billing", JoinRequest::new("a", topics.clone(), range.clone()))?;
//! let JoinOutcome::Assigned(first) = a else { unreachable!() };
//! assert_eq!(first.partitions.len(), 4);
//!
//! let b = coordinator.join(10, "billing", JoinRequest::new("b", topics.clone(), range.clone()))?;
//! assert!(matches!(b, JoinOutcome::Pending { .. }));
//! let beat = coordinator.heartbeat(20, "billing", &first.member_id, first.generation)?;
//! assert_eq!(beat, HeartbeatOutcome::RebalanceInProgress);
//!
//! // Both rejoin (an eager member gives its partitions up first).
//! let mut rejoin = JoinRequest::new("a", topics.clone(), range.clone());
//! rejoin.member_id = Some(first.member_id.clone());
//! let JoinOutcome::Assigned(a2) = coordinator.join(30, "billing", rejoin)? else { unreachable!() };
//! let mut rejoin = JoinRequest::new("b", topics, range);
//! rejoin.member_id = Some(b.member_id().to_owned());
//! let JoinOutcome::Assigned(b2) = coordinator.join(40, "billing", rejoin)? else { unreachable!() };
//! assert_eq!((a2.partitions.len(), b2.partitions.len()), (2, 2));
//! assert_eq!(a2.generation, first.generation + 1);
//! assert_eq!(coordinator.describe_group("billing").unwrap().state, GroupState::Stable);
//! # Ok::<(), GroupError>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod assignor;
mod config;
mod coordinator;
mod error;
mod event;
mod group;
mod offsets;
mod record;
mod sticky;
mod store;
mod types;

pub use assignor::{builtin_assignor, Assignor, MemberSubscription, RangeAssignor, RoundRobinAssignor};
pub use config::GroupConfig;
pub use coordinator::{Assignment, GroupCoordinator, HeartbeatOutcome, JoinOutcome, JoinRequest, EVENTS_MAX};
pub use error::{CodecError, GroupError};
pub use event::{GroupDescription, GroupEvent, GroupListing, MemberDescription, RemovalReason};
pub use record::OffsetRecord;
pub use sticky::CooperativeStickyAssignor;
pub use store::OffsetStore;
pub use types::{GroupState, OffsetAndMetadata, RebalanceProtocol, TopicPartition};

// Compile-time proof of the promises: the coordinator moves into a mutex
// shared between threads, assignors are shared, errors fit
// `Box<dyn Error + Send + Sync>`.
const _: fn() = || {
    fn send_sync<T: Send + Sync + ?Sized>() {}
    fn error<T: std::error::Error + Send + Sync + 'static>() {}
    send_sync::<GroupCoordinator>();
    send_sync::<dyn Assignor>();
    send_sync::<std::sync::Arc<dyn Assignor>>();
    send_sync::<JoinRequest>();
    error::<GroupError>();
    error::<CodecError>();
};
