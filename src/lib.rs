//! ghyll: Apache Kafka's model as an embeddable Rust library.
//!
//! Topics, partitions, offsets, producers and consumers, with Kafka's bytes
//! on disk, linked into your process: no JVM, no ZooKeeper, no server. This
//! facade re-exports the workspace's crates; today that is the segment
//! store, [`ghyll_log`], with the broker, partitioners, replication and
//! consumer groups to follow.
//!
//! # Examples
//! ```
//! use ghyll::log::{BatchBuilder, Log, LogConfig};
//! let dir = tempfile::tempdir()?;
//! let log = Log::open(dir.path().join("greetings-0"), LogConfig::default())?;
//! let mut batch = BatchBuilder::new();
//! batch.push(0, None, Some(b"hello"), &[])?;
//! log.append(&batch.finish()?)?;
//! assert_eq!(log.log_end_offset(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]
#![forbid(unsafe_code)]

/// The segment store: Kafka RecordBatch v2 batches in segment files.
pub mod log {
    pub use ghyll_log::*;
}
