//! ghyll-replication: Kafka's ISR replication for one partition, sans IO.
//!
//! A [`Replica`] is one replica of one partition on one node. It touches no
//! files, sockets, clocks, threads or randomness: the driver (the broker,
//! the simulator, or your own transport) feeds it inputs and performs the
//! one [`Ready`] value it returns. The tour:
//!
//! - **Roles.** The [`Controller`] decides who leads at which leader epoch
//!   ([`LeaderAndIsr`]); the driver delivers that with
//!   [`Replica::become_leader`] / [`Replica::become_follower`].
//! - **Producing.** [`Replica::propose`] appends a [`Batch`] on the leader.
//!   With [`Acks::All`] it is refused with
//!   [`ReplicationError::NotEnoughReplicas`] while the ISR is below
//!   `min.insync.replicas`, and acknowledged in [`Ready::acked`] once the
//!   high watermark passes it.
//! - **Replicating.** Followers send [`Message::Fetch`] (fetch offset and
//!   last fetched epoch) on [`Replica::tick`]; the leader answers through
//!   [`Replica::step`], reading its log through [`ReplicaLog`], tracks each
//!   follower's log end offset, shrinks and expands the ISR
//!   (`replica.lag.time.max.ms`, [`AlterIsr`] to the controller) and moves
//!   the high watermark to the minimum log end offset over the ISR
//!   ([`high_watermark`]).
//! - **Divergence.** A follower whose last epoch ended earlier in the
//!   leader's log gets [`FetchResult::Diverging`] and truncates exactly to
//!   where the logs agree, using the [`EpochCache`] (KIP-101, KIP-279),
//!   never simply to its high watermark.
//! - **Durability.** [`Durability::Replicated`] is Kafka's rule;
//!   [`Durability::Flushed`] counts only what each replica fsynced
//!   ([`Replica::flushed`]).
//!
//! # Examples
//! A leader and a follower: the follower fetches, the leader's high
//! watermark moves, the proposal is acknowledged.
//! ```
//! use std::collections::BTreeSet;
//! use ghyll_replication::*;
//!
//! struct Log(Vec<Batch>);
//! impl ReplicaLog for Log {
//!     fn read(&self, from: Offset, _max_bytes: u32) -> Vec<Batch> {
//!         self.0.iter().filter(|b| b.base_offset >= from).cloned().collect()
//!     }
//! }
//! fn apply(log: &mut Log, ready: &Ready) {
//!     for op in &ready.log_ops {
//!         match op {
//!             LogOp::Append(batch) => log.0.push(batch.clone()),
//!             LogOp::Truncate(to) => log.0.retain(|b| b.base_offset < *to),
//!             _ => unreachable!(),
//!         }
//!     }
//! }
//!
//! let config = ReplicaConfig::default();
//! let (mut a, mut a_log) = (Replica::new(1, vec![1, 2], config.clone(), 0, EpochCache::new(), 0)?, Log(vec![]));
//! let (mut b, mut b_log) = (Replica::new(2, vec![1, 2], config, 0, EpochCache::new(), 0)?, Log(vec![]));
//! a.become_leader(0, 1, BTreeSet::from([1, 2]))?;
//! b.become_follower(0, 1, Some(1))?;
//! let proposed = a.propose(0, Acks::All, 1, b"m1".to_vec())?;
//! apply(&mut a_log, &a.ready());
//!
//! let mut acked = Vec::new();
//! for now in 1..4 {
//!     let ready = b.ready();
//!     apply(&mut b_log, &ready);
//!     for (_, message) in ready.messages {
//!         a.step(now, 2, message, &a_log)?;
//!     }
//!     let ready = a.ready();
//!     acked.extend(ready.acked.clone());
//!     for (_, message) in ready.messages {
//!         b.step(now, 1, message, &b_log)?;
//!     }
//! }
//! assert_eq!(acked, vec![proposed]);
//! assert_eq!((a.high_watermark(), b.high_watermark()), (1, 1));
//! # Ok::<(), ReplicationError>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod config;
mod controller;
mod epoch_cache;
mod error;
mod message;
mod replica;
mod types;
mod watermark;

pub use config::{Durability, ReplicaConfig};
pub use controller::{assign_replicas, ChangeReason, Controller, ControllerConfig, LeaderAndIsr};
pub use epoch_cache::{EpochCache, EpochEntry};
pub use error::{ControllerError, EpochCacheError, ReplicationError};
pub use message::{FetchRequest, FetchResponse, FetchResult, Message};
pub use replica::{AlterIsr, LogOp, Ready, Replica, ReplicaLog, Role};
pub use types::{Acks, Batch, LeaderEpoch, NodeId, Offset, PartitionId, Proposed};
pub use watermark::{high_watermark, is_in_sync, last_caught_up_ms};

// Compile-time proof of the promises: replicas and the controller move
// between threads, errors fit `Box<dyn Error + Send + Sync>`.
const _: fn() = || {
    fn send_sync<T: Send + Sync + ?Sized>() {}
    fn error<T: std::error::Error + Send + Sync + 'static>() {}
    send_sync::<Replica>();
    send_sync::<Controller>();
    send_sync::<Ready>();
    error::<ReplicationError>();
    error::<ControllerError>();
    error::<EpochCacheError>();
};
