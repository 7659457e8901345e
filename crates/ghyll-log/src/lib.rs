//! ghyll-log: ghyll's segment store, in Kafka's on-disk format.
//!
//! A [`Log`] is one partition's directory of segments, each a `.log` file of
//! Kafka RecordBatch v2 batches with a sparse `.index` (offset → position)
//! and `.timeindex` (timestamp → offset), named by its 20-digit base offset
//! exactly as Kafka names them. The tour:
//!
//! - [`BatchBuilder`] encodes records into a batch; [`Batch`] validates one
//!   (length bounds, magic, CRC-32C) and [`Batch::records`] iterates its
//!   records without allocating, borrowing keys and values from the bytes.
//! - [`Log::open`] takes the directory's lock, recovers from a crash (scans
//!   every batch after the recovery point, truncates a torn tail, rebuilds
//!   damaged indexes) and reports what it did in a [`RecoveryReport`].
//! - [`Log::append`] assigns offsets; [`Log::append_durable`] returns only
//!   after fsync, with concurrent callers sharing one fsync.
//! - [`Log::read`] returns whole batches from the one holding an offset, up
//!   to a byte budget; [`Log::offset_for_timestamp`] searches by time.
//! - [`Log::truncate_to`], [`Log::advance_log_start`] and
//!   [`Log::apply_retention`] shorten the log from either end.
//! - [`Log::clean`] compacts the closed segments of a log whose
//!   `cleanup.policy` includes `compact` (keeping the latest record per
//!   key, as Kafka's log cleaner does); [`Log::needs_cleaning`] tells a
//!   background cleaner when.
//!
//! [`LogConfig`] accepts Kafka's topic config names (`segment.bytes`,
//! `retention.ms`, `flush.messages`, ...). docs/format.md in the repository
//! has the byte tables of every file.
//!
//! # Examples
//! ```
//! use ghyll_log::{BatchBuilder, Log, LogConfig};
//! let dir = tempfile::tempdir()?;
//! let log = Log::open(dir.path().join("events-0"), LogConfig::default())?;
//! let mut builder = BatchBuilder::new();
//! builder.push(1_700_000_000_000, Some(b"user-1"), Some(b"signed up"), &[])?;
//! let appended = log.append(&builder.finish()?)?;
//! assert_eq!(appended.first_offset, 0);
//!
//! let read = log.read(0, 1024 * 1024)?;
//! for batch in read.batches() {
//!     for record in batch?.records()? {
//!         let record = record?;
//!         assert_eq!(record.value, Some(&b"signed up"[..]));
//!     }
//! }
//! log.close()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

mod batch;
mod builder;
mod checkpoint;
mod cleaner;
mod config;
mod error;
mod index;
mod log;
mod segment;
mod varint;

pub use batch::{
    Batch, BatchHeader, Batches, Header, Headers, Record, Records, TimestampType, BATCH_HEADER_BYTES,
    BATCH_LENGTH_PREFIX_BYTES, MAGIC_V2,
};
pub use builder::{BatchBuilder, BuiltBatch, BATCH_BYTES_MAX_DEFAULT, BATCH_RECORDS_MAX};
pub use config::{CleanupPolicy, LogConfig};
pub use error::{BatchError, Compression, LogError};
pub use log::{AppendInfo, CleanReport, Log, ReadBatches, RecoveryReport, RetentionReport, TimestampOffset};
