//! Error types: one enum for the batch codec, one for the log.

use std::io;
use std::path::PathBuf;

/// Why a byte string is not a valid Kafka RecordBatch v2, or why a batch
/// could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    /// The input ended before the batch (or the field being read) did.
    #[error("batch truncated: needed {needed} bytes, {available} available")]
    Truncated {
        /// Bytes the batch or field needs.
        needed: usize,
        /// Bytes that were there.
        available: usize,
    },
    /// `batchLength` is smaller than a header or larger than the limit.
    #[error("batch length {batch_length} is out of bounds ({min}..={max})")]
    LengthOutOfBounds {
        /// The `batchLength` field as stored.
        batch_length: i32,
        /// Smallest acceptable value.
        min: i32,
        /// Largest acceptable value.
        max: i32,
    },
    /// The magic byte is not 2.
    #[error("unsupported batch magic {magic} (only RecordBatch v2, magic 2, is supported)")]
    UnsupportedMagic {
        /// The magic byte as stored.
        magic: i8,
    },
    /// The stored CRC-32C does not match the bytes.
    #[error("batch crc mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch {
        /// CRC in the header.
        stored: u32,
        /// CRC of attributes..end as read.
        computed: u32,
    },
    /// The batch is compressed and this build cannot decompress it.
    #[error("batch is compressed with {codec}, which ghyll cannot decode yet")]
    UnsupportedCompression {
        /// The codec named by the attributes.
        codec: Compression,
    },
    /// A record inside the batch is malformed.
    #[error("record {index} of the batch is corrupt: {reason}")]
    CorruptRecord {
        /// Position of the record in the batch, from 0.
        index: u32,
        /// What was wrong.
        reason: &'static str,
    },
    /// The header's record count disagrees with the record bytes.
    #[error("batch declares {declared} records but {reason}")]
    RecordCount {
        /// `recordsCount` as stored.
        declared: i32,
        /// What disagreed.
        reason: &'static str,
    },
    /// The header fields contradict each other (e.g. a negative count).
    #[error("batch header is inconsistent: {reason}")]
    InconsistentHeader {
        /// What was wrong.
        reason: &'static str,
    },
    /// The builder would exceed its byte limit.
    #[error("batch would be {bytes} bytes, over the limit of {limit}")]
    TooLarge {
        /// Size the batch would have.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// A field does not fit its wire type (a key over 2 GiB, a timestamp
    /// delta beyond the format, too many records).
    #[error("{field} does not fit the batch format")]
    FieldOverflow {
        /// The field.
        field: &'static str,
    },
    /// A batch must hold at least one record.
    #[error("a batch must hold at least one record")]
    Empty,
    /// A record pushed to a builder already sealed.
    #[error("the batch is sealed: no more records")]
    Sealed,
}

/// The compression codec named by a batch's attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Compression {
    /// Uncompressed.
    None,
    /// gzip (1).
    Gzip,
    /// snappy (2).
    Snappy,
    /// lz4 (3).
    Lz4,
    /// zstd (4).
    Zstd,
    /// A codec number Kafka does not define (5, 6 or 7).
    Unknown(u8),
}

impl Compression {
    /// The codec in bits 0..=2 of a batch's attributes.
    pub fn from_attributes(attributes: i16) -> Self {
        match (attributes & 0x07) as u8 {
            0 => Compression::None,
            1 => Compression::Gzip,
            2 => Compression::Snappy,
            3 => Compression::Lz4,
            4 => Compression::Zstd,
            other => Compression::Unknown(other),
        }
    }
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Compression::None => f.write_str("none"),
            Compression::Gzip => f.write_str("gzip"),
            Compression::Snappy => f.write_str("snappy"),
            Compression::Lz4 => f.write_str("lz4"),
            Compression::Zstd => f.write_str("zstd"),
            Compression::Unknown(code) => write!(f, "unknown codec {code}"),
        }
    }
}

/// Errors from opening, writing, reading and maintaining a [`Log`](crate::Log).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// An I/O operation failed.
    #[error("{operation} {path}: {source}")]
    Io {
        /// What was being done.
        operation: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Another `Log` (in this process or another) holds the directory.
    #[error("log directory {path} is locked by another open log")]
    Locked {
        /// The partition directory.
        path: PathBuf,
    },
    /// A configuration value is invalid.
    #[error("invalid config {name}={value}: {reason}")]
    InvalidConfig {
        /// Kafka's name for the setting.
        name: &'static str,
        /// The rejected value.
        value: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// The bytes handed to `append` are not a valid batch.
    #[error("invalid batch: {source}")]
    InvalidBatch {
        /// What the codec found.
        #[source]
        source: BatchError,
    },
    /// The batch is larger than `max.message.bytes`.
    #[error("batch of {bytes} bytes exceeds max.message.bytes {max_message_bytes}")]
    BatchTooLarge {
        /// The batch size.
        bytes: usize,
        /// The configured limit.
        max_message_bytes: u32,
    },
    /// An offset outside `[log start, log end]` was asked for.
    #[error("offset {offset} is out of range: the log holds [{log_start}, {log_end})")]
    OffsetOutOfRange {
        /// The requested offset.
        offset: u64,
        /// First offset in the log.
        log_start: u64,
        /// Next offset to be assigned.
        log_end: u64,
    },
    /// Offsets would leave the range Kafka's format can hold.
    #[error("offset {offset} cannot be assigned: offsets are limited to i64::MAX")]
    OffsetOverflow {
        /// The offset that would overflow.
        offset: u64,
    },
    /// A follower's batch does not continue the log: its base offset is
    /// below the log end.
    #[error("a follower's batch at offset {got} does not continue the log, which ends at {expected}")]
    OffsetMismatch {
        /// The log end (the least base offset accepted).
        expected: u64,
        /// The batch's base offset.
        got: i64,
    },
    /// Bytes on disk failed validation while being read.
    #[error("corrupt data in {path} at byte {position}: {source}")]
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// Byte position in it.
        position: u64,
        /// What the codec found.
        #[source]
        source: BatchError,
    },
    /// An earlier fsync failed, so the kernel may have dropped written pages;
    /// the log refuses all work until it is reopened and recovered.
    #[error("log {path} is failed after an fsync error ({cause}); reopen it to recover")]
    Failed {
        /// The partition directory.
        path: PathBuf,
        /// The original error, as text.
        cause: String,
    },
    /// A record without a key was appended to a log whose
    /// `cleanup.policy` includes `compact` (Kafka: "Compacted topic cannot
    /// accept message without key").
    #[error("record {record_index} of the batch has no key; a compacted log cannot accept a record without a key")]
    KeylessRecordInCompactedLog {
        /// Position of the first keyless record in the batch, from 0.
        record_index: u32,
    },
    /// The log was closed.
    #[error("log {path} is closed")]
    Closed {
        /// The partition directory.
        path: PathBuf,
    },
}

impl LogError {
    pub(crate) fn io(operation: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        LogError::Io { operation, path: path.into(), source }
    }
}
