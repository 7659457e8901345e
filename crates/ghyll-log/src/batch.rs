//! Kafka RecordBatch v2 (magic 2): a zero-copy view and its record iterator.
//!
//! A [`Batch`] borrows the bytes of one batch, checked for length bounds,
//! magic and CRC-32C when it is made. Its records are decoded lazily by
//! [`Records`], which borrows keys, values and headers from the same buffer:
//! iterating a batch allocates nothing. docs/format.md has the byte tables.

use crate::error::{BatchError, Compression};
use crate::varint::{get_varint, get_varlong, zigzag_decode_i64};

/// Bytes in a RecordBatch v2 header, before the first record.
pub const BATCH_HEADER_BYTES: usize = 61;
/// Bytes before (and including) the `batchLength` field; `batchLength`
/// counts everything after them.
pub const BATCH_LENGTH_PREFIX_BYTES: usize = 12;
/// The only magic byte ghyll reads and writes.
pub const MAGIC_V2: i8 = 2;

pub(crate) const BASE_OFFSET_AT: usize = 0;
pub(crate) const BATCH_LENGTH_AT: usize = 8;
pub(crate) const PARTITION_LEADER_EPOCH_AT: usize = 12;
pub(crate) const MAGIC_AT: usize = 16;
pub(crate) const CRC_AT: usize = 17;
pub(crate) const ATTRIBUTES_AT: usize = 21;
pub(crate) const LAST_OFFSET_DELTA_AT: usize = 23;
pub(crate) const BASE_TIMESTAMP_AT: usize = 27;
pub(crate) const MAX_TIMESTAMP_AT: usize = 35;
pub(crate) const PRODUCER_ID_AT: usize = 43;
pub(crate) const PRODUCER_EPOCH_AT: usize = 51;
pub(crate) const BASE_SEQUENCE_AT: usize = 53;
pub(crate) const RECORDS_COUNT_AT: usize = 57;

const MIN_BATCH_LENGTH: i32 = (BATCH_HEADER_BYTES - BATCH_LENGTH_PREFIX_BYTES) as i32;
const ATTRIBUTE_TIMESTAMP_TYPE: i16 = 0x08;
const ATTRIBUTE_TRANSACTIONAL: i16 = 0x10;
const ATTRIBUTE_CONTROL: i16 = 0x20;
const ATTRIBUTE_DELETE_HORIZON: i16 = 0x40;

/// How a batch's timestamps were assigned (attributes bit 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimestampType {
    /// The producer's clock: each record carries its own timestamp.
    CreateTime,
    /// The broker's clock at append: every record's timestamp is the
    /// batch's `maxTimestamp`.
    LogAppendTime,
}

#[inline]
pub(crate) fn read_i16(bytes: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([bytes[at], bytes[at + 1]])
}

#[inline]
pub(crate) fn read_i32(bytes: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

#[inline]
pub(crate) fn read_i64(bytes: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

/// The fixed 61-byte header of a RecordBatch v2, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the first record (assigned by the log on append).
    pub base_offset: i64,
    /// Bytes after the `batchLength` field.
    pub batch_length: i32,
    /// Leader epoch of the appending leader (not covered by the CRC).
    pub partition_leader_epoch: i32,
    /// Format version; always 2 here.
    pub magic: i8,
    /// CRC-32C of attributes..end.
    pub crc: u32,
    /// Compression, timestamp type, transactional, control and
    /// delete-horizon bits.
    pub attributes: i16,
    /// Last record's offset minus `base_offset`.
    pub last_offset_delta: i32,
    /// First record's timestamp in milliseconds.
    pub base_timestamp: i64,
    /// Largest timestamp in the batch in milliseconds.
    pub max_timestamp: i64,
    /// Idempotent producer id, or -1.
    pub producer_id: i64,
    /// Idempotent producer epoch, or -1.
    pub producer_epoch: i16,
    /// First record's producer sequence, or -1.
    pub base_sequence: i32,
    /// Number of records that follow.
    pub records_count: i32,
}

impl BatchHeader {
    /// Decodes the header at the front of `bytes` and checks what can be
    /// checked without the body: the magic, the length's lower bound and the
    /// consistency of the counts. The CRC is checked by [`Batch::new`].
    ///
    /// # Errors
    /// [`BatchError::Truncated`] when fewer than 61 bytes are given,
    /// [`BatchError::UnsupportedMagic`], [`BatchError::LengthOutOfBounds`]
    /// or [`BatchError::InconsistentHeader`] for impossible fields.
    pub fn parse(bytes: &[u8]) -> Result<BatchHeader, BatchError> {
        if bytes.len() < BATCH_HEADER_BYTES {
            return Err(BatchError::Truncated { needed: BATCH_HEADER_BYTES, available: bytes.len() });
        }
        let header = BatchHeader {
            base_offset: read_i64(bytes, BASE_OFFSET_AT),
            batch_length: read_i32(bytes, BATCH_LENGTH_AT),
            partition_leader_epoch: read_i32(bytes, PARTITION_LEADER_EPOCH_AT),
            magic: bytes[MAGIC_AT] as i8,
            crc: u32::from_be_bytes(bytes[CRC_AT..CRC_AT + 4].try_into().expect("4 bytes")),
            attributes: read_i16(bytes, ATTRIBUTES_AT),
            last_offset_delta: read_i32(bytes, LAST_OFFSET_DELTA_AT),
            base_timestamp: read_i64(bytes, BASE_TIMESTAMP_AT),
            max_timestamp: read_i64(bytes, MAX_TIMESTAMP_AT),
            producer_id: read_i64(bytes, PRODUCER_ID_AT),
            producer_epoch: read_i16(bytes, PRODUCER_EPOCH_AT),
            base_sequence: read_i32(bytes, BASE_SEQUENCE_AT),
            records_count: read_i32(bytes, RECORDS_COUNT_AT),
        };
        if header.magic != MAGIC_V2 {
            return Err(BatchError::UnsupportedMagic { magic: header.magic });
        }
        if header.batch_length < MIN_BATCH_LENGTH {
            return Err(BatchError::LengthOutOfBounds {
                batch_length: header.batch_length,
                min: MIN_BATCH_LENGTH,
                max: i32::MAX,
            });
        }
        if header.last_offset_delta < 0 {
            return Err(BatchError::InconsistentHeader { reason: "negative lastOffsetDelta" });
        }
        if header.records_count < 0 {
            return Err(BatchError::InconsistentHeader { reason: "negative recordsCount" });
        }
        if header.base_offset < 0 {
            return Err(BatchError::InconsistentHeader { reason: "negative baseOffset" });
        }
        if header.base_offset.checked_add(i64::from(header.last_offset_delta)).is_none() {
            return Err(BatchError::InconsistentHeader { reason: "last offset overflows i64" });
        }
        Ok(header)
    }

    /// Total bytes of the batch: the 12-byte prefix plus `batchLength`.
    pub fn total_bytes(&self) -> usize {
        BATCH_LENGTH_PREFIX_BYTES + self.batch_length as usize
    }

    /// Offset of the last record: `base_offset + last_offset_delta`.
    pub fn last_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta)
    }

    /// Compression codec from the attributes.
    pub fn compression(&self) -> Compression {
        Compression::from_attributes(self.attributes)
    }

    /// Timestamp type from the attributes.
    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes & ATTRIBUTE_TIMESTAMP_TYPE != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    /// Whether the transactional bit is set.
    pub fn is_transactional(&self) -> bool {
        self.attributes & ATTRIBUTE_TRANSACTIONAL != 0
    }

    /// Whether this is a control batch (transaction markers).
    pub fn is_control(&self) -> bool {
        self.attributes & ATTRIBUTE_CONTROL != 0
    }

    /// Whether the delete-horizon bit (KIP-534) is set.
    pub fn has_delete_horizon(&self) -> bool {
        self.attributes & ATTRIBUTE_DELETE_HORIZON != 0
    }
}

/// One validated RecordBatch v2, borrowing its bytes.
///
/// Made by [`Batch::new`], which checks the length bounds, the magic and the
/// CRC-32C; the records themselves are checked as [`Batch::records`] decodes
/// them.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    bytes: &'a [u8],
    header: BatchHeader,
}

impl<'a> Batch<'a> {
    /// Validates the batch at the front of `bytes`; bytes after it are
    /// ignored (see [`Batch::len`]).
    ///
    /// # Errors
    /// [`BatchError::Truncated`] when `bytes` ends inside the batch, any
    /// error of [`BatchHeader::parse`], and [`BatchError::CrcMismatch`].
    ///
    /// # Examples
    /// ```
    /// use ghyll_log::{Batch, BatchBuilder};
    /// let mut builder = BatchBuilder::new();
    /// builder.push(1_700_000_000_000, Some(b"key"), Some(b"value"), &[])?;
    /// let bytes = builder.finish()?;
    /// let batch = Batch::new(&bytes)?;
    /// assert_eq!(batch.header().records_count, 1);
    /// # Ok::<(), ghyll_log::BatchError>(())
    /// ```
    pub fn new(bytes: &'a [u8]) -> Result<Batch<'a>, BatchError> {
        let header = BatchHeader::parse(bytes)?;
        let total = header.total_bytes();
        if bytes.len() < total {
            return Err(BatchError::Truncated { needed: total, available: bytes.len() });
        }
        let bytes = &bytes[..total];
        let computed = crc32c::crc32c(&bytes[ATTRIBUTES_AT..]);
        if computed != header.crc {
            return Err(BatchError::CrcMismatch { stored: header.crc, computed });
        }
        Ok(Batch { bytes, header })
    }

    /// As [`Batch::new`] without recomputing the CRC, for bytes that
    /// passed it already.
    pub(crate) fn new_crc_checked(bytes: &'a [u8]) -> Result<Batch<'a>, BatchError> {
        let header = BatchHeader::parse(bytes)?;
        let total = header.total_bytes();
        if bytes.len() < total {
            return Err(BatchError::Truncated { needed: total, available: bytes.len() });
        }
        Ok(Batch { bytes: &bytes[..total], header })
    }

    /// The decoded header.
    pub fn header(&self) -> &BatchHeader {
        &self.header
    }

    /// The batch's bytes, exactly as stored.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Bytes the batch occupies.
    #[allow(clippy::len_without_is_empty)] // A batch is never zero bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Offset of the first record.
    pub fn base_offset(&self) -> u64 {
        self.header.base_offset as u64
    }

    /// Offset of the last record.
    pub fn last_offset(&self) -> u64 {
        self.header.last_offset() as u64
    }

    /// Offset after the last record.
    pub fn next_offset(&self) -> u64 {
        self.last_offset() + 1
    }

    /// Iterates the records, borrowing from the batch's bytes.
    ///
    /// # Errors
    /// [`BatchError::UnsupportedCompression`] when the batch is compressed.
    /// The iterator itself yields [`BatchError::CorruptRecord`] or
    /// [`BatchError::RecordCount`] for malformed records and then stops.
    pub fn records(&self) -> Result<Records<'a>, BatchError> {
        match self.header.compression() {
            Compression::None => {}
            codec => return Err(BatchError::UnsupportedCompression { codec }),
        }
        Ok(Records { rest: &self.bytes[BATCH_HEADER_BYTES..], header: self.header, index: 0, failed: false })
    }
}

/// Iterator over the records of an uncompressed batch.
///
/// Yields each record in order; a malformed record yields one error and ends
/// the iteration. After the declared number of records, leftover bytes are
/// an error too.
#[derive(Debug, Clone)]
pub struct Records<'a> {
    rest: &'a [u8],
    header: BatchHeader,
    index: i32,
    failed: bool,
}

/// One record, borrowing its key, value and headers from the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// Absolute offset (the batch's base offset plus the record's delta).
    pub offset: u64,
    /// Timestamp in milliseconds (for `LogAppendTime` batches, the batch's
    /// `maxTimestamp`).
    pub timestamp: i64,
    /// Key, or `None` for a null key.
    pub key: Option<&'a [u8]>,
    /// Value, or `None` for a null value (a tombstone).
    pub value: Option<&'a [u8]>,
    /// The record's headers.
    pub headers: Headers<'a>,
}

/// A record header: a UTF-8 key and an optional value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    /// Header key.
    pub key: &'a str,
    /// Header value, or `None` for null.
    pub value: Option<&'a [u8]>,
}

/// The headers of one record, decoded lazily.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Headers<'a> {
    bytes: &'a [u8],
    count: u32,
    /// Position of the owning record in its batch, for error context.
    record_index: u32,
}

impl<'a> Headers<'a> {
    /// Number of headers.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

impl<'a> Iterator for Headers<'a> {
    type Item = Result<Header<'a>, BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.count == 0 {
            return None;
        }
        self.count -= 1;
        let corrupt = |reason| BatchError::CorruptRecord { index: self.record_index, reason };
        let mut cursor = Cursor { bytes: self.bytes, at: 0 };
        let result = (|| {
            let key_len = cursor.varint().map_err(|_| corrupt("header key length"))?;
            let key = cursor
                .bytes_or_null(key_len)
                .map_err(|_| corrupt("header key bytes"))?
                .ok_or_else(|| corrupt("null header key"))?;
            let key = std::str::from_utf8(key).map_err(|_| corrupt("header key is not UTF-8"))?;
            let value_len = cursor.varint().map_err(|_| corrupt("header value length"))?;
            let value = cursor.bytes_or_null(value_len).map_err(|_| corrupt("header value bytes"))?;
            Ok(Header { key, value })
        })();
        match result {
            Ok(header) => {
                self.bytes = &self.bytes[cursor.at..];
                Some(Ok(header))
            }
            Err(error) => {
                self.count = 0;
                Some(Err(error))
            }
        }
    }
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    #[inline]
    fn varint(&mut self) -> Result<i32, ()> {
        let (value, used) = get_varint(&self.bytes[self.at..]).map_err(|_| ())?;
        self.at += used;
        Ok(value)
    }

    /// `len` bytes, or `None` for length -1; other negatives are errors.
    #[inline]
    fn bytes_or_null(&mut self, len: i32) -> Result<Option<&'a [u8]>, ()> {
        if len == -1 {
            return Ok(None);
        }
        let len = usize::try_from(len).map_err(|_| ())?;
        let end = self.at.checked_add(len).ok_or(())?;
        let slice = self.bytes.get(self.at..end).ok_or(())?;
        self.at = end;
        Ok(Some(slice))
    }
}

/// A record decoded by [`decode_record`], with the bytes after it.
type Decoded<'a> = (Record<'a>, &'a [u8]);

/// Decodes the record at the front of `rest` (the `index`th of its batch),
/// checking every length against the record and the record against the
/// batch, the offset delta against the batch's, the header lengths (their
/// UTF-8 is checked when they are iterated) and the timestamp's range;
/// returns the record and the bytes after it, or what was wrong.
///
/// The hot path of [`Records::next`], inlined into the caller's loop: a
/// record crosses no call and comes back in registers (returned through
/// memory, a record cost more to read back than to decode), and a reason
/// is a constant, so naming it costs the success path nothing.
#[inline(always)]
fn decode_record<'a>(rest: &'a [u8], header: &BatchHeader, index: u32) -> Result<Decoded<'a>, &'static str> {
    let (length, body_start) = varint_fast(rest, 0).ok_or("record length")?;
    let length = usize::try_from(length).map_err(|_| "negative record length")?;
    let body_end = body_start.checked_add(length).ok_or("record length")?;
    let body = rest.get(body_start..body_end).ok_or("record runs past the batch")?;
    if body.is_empty() {
        return Err("record attributes");
    }
    // body[0] is the record's attributes byte, unused by Kafka.
    let (timestamp_delta, at) = varlong_fast(body, 1).ok_or("timestamp delta")?;
    let (offset_delta, at) = varint_fast(body, at).ok_or("offset delta")?;
    if offset_delta < 0 || offset_delta > i64::from(header.last_offset_delta) {
        return Err("offset delta outside the batch");
    }
    let (key, at) = field(body, at).ok_or("key bytes")?;
    let (value, at) = field(body, at).ok_or("value bytes")?;
    let (header_count, headers_start) = varint_fast(body, at).ok_or("header count")?;
    let header_count = u32::try_from(header_count).map_err(|_| "negative header count")?;
    // Walk the headers' lengths now so that the record's own length is
    // proven exact. Most records carry none: then there is no call.
    let at = if header_count == 0 { headers_start } else { walk_headers(body, headers_start, header_count)? };
    if at != body.len() {
        return Err("record length does not match its fields");
    }
    let timestamp = match header.timestamp_type() {
        TimestampType::LogAppendTime => header.max_timestamp,
        TimestampType::CreateTime => header.base_timestamp.checked_add(timestamp_delta).ok_or("timestamp overflows")?,
    };
    let record = Record {
        offset: (header.base_offset + offset_delta) as u64,
        timestamp,
        key,
        value,
        headers: Headers { bytes: &body[headers_start..], count: header_count, record_index: index },
    };
    Ok((record, &rest[body_end..]))
}

/// Walks `count` headers from `at`, returning the position after them or
/// what was wrong.
fn walk_headers(body: &[u8], mut at: usize, count: u32) -> Result<usize, &'static str> {
    for _ in 0..count {
        let (key_len, key_start) = varint_fast(body, at).ok_or("header key length")?;
        if key_len < 0 {
            return Err("null header key");
        }
        at = key_start.checked_add(key_len as usize).filter(|&end| end <= body.len()).ok_or("header key bytes")?;
        let (value_len, value_start) = varint_fast(body, at).ok_or("header value length")?;
        at = match value_len {
            -1 => value_start,
            len if len < 0 => return Err("header value bytes"),
            len => {
                value_start.checked_add(len as usize).filter(|&end| end <= body.len()).ok_or("header value bytes")?
            }
        };
    }
    Ok(at)
}

/// A length-prefixed field at `at` (`None` inside for length -1), and the
/// position after it.
#[inline(always)]
fn field(bytes: &[u8], at: usize) -> Option<(Option<&[u8]>, usize)> {
    let (len, start) = varint_fast(bytes, at)?;
    if len == -1 {
        return Some((None, start));
    }
    let len = usize::try_from(len).ok()?;
    let end = start.checked_add(len)?;
    Some((Some(bytes.get(start..end)?), end))
}

impl<'a> Records<'a> {
    /// The next record together with its raw bytes (length prefix
    /// included), for the cleaner, which copies kept records verbatim.
    pub(crate) fn next_with_bytes(&mut self) -> Option<Result<(Record<'a>, &'a [u8]), BatchError>> {
        let before = self.rest;
        let record = self.next()?;
        Some(record.map(|record| (record, &before[..before.len() - self.rest.len()])))
    }
}

impl<'a> Records<'a> {
    /// Why [`Iterator::next`] has no record to give although none failed
    /// to decode: `None` at the end of a well-formed batch.
    #[cold]
    #[inline(never)]
    fn end_error(&mut self) -> Option<BatchError> {
        if self.failed {
            return None;
        }
        let reason = if self.index == self.header.records_count {
            if self.rest.is_empty() {
                return None;
            }
            "bytes remain after the last record"
        } else {
            debug_assert!(self.rest.is_empty(), "records before the declared count are decoded");
            "the batch ends before the last record"
        };
        self.failed = true;
        Some(BatchError::RecordCount { declared: self.header.records_count, reason })
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>, BatchError>;

    // Inlined into the caller's loop, with `decode_record`; the rare ends
    // are out of line.
    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        if !self.failed && self.index < self.header.records_count && !self.rest.is_empty() {
            let index = self.index as u32;
            return Some(match decode_record(self.rest, &self.header, index) {
                Ok((record, rest)) => {
                    self.rest = rest;
                    self.index += 1;
                    Ok(record)
                }
                Err(reason) => {
                    self.failed = true;
                    Err(BatchError::CorruptRecord { index, reason })
                }
            });
        }
        self.end_error().map(Err)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.failed {
            return (0, Some(0));
        }
        let left = (self.header.records_count - self.index) as usize;
        (0, Some(left + 1))
    }
}

/// Walks the records of an uncompressed batch, checking what
/// [`Records`] would check (every length inside its record, every record
/// inside the batch, the declared count) plus that offset deltas strictly
/// increase, without building records: the append path's validation.
pub(crate) fn check_records(batch: &Batch<'_>) -> Result<(), BatchError> {
    walk_records::<false>(batch).map(drop)
}

/// As [`check_records`], also returning the index of the first record with
/// a null key, if any: the append path of a compacted log.
pub(crate) fn check_records_keyed(batch: &Batch<'_>) -> Result<Option<u32>, BatchError> {
    walk_records::<true>(batch)
}

/// The record walk behind [`check_records`]; with `FIND_KEYLESS` it also
/// notes the first null key (compiled out otherwise, so the plain append
/// path pays nothing).
#[inline(always)]
fn walk_records<const FIND_KEYLESS: bool>(batch: &Batch<'_>) -> Result<Option<u32>, BatchError> {
    let mut keyless = None;
    let header = batch.header;
    let bytes = &batch.bytes[BATCH_HEADER_BYTES..];
    let last_delta = i64::from(header.last_offset_delta);
    let mut at = 0usize;
    let mut previous_delta: i64 = -1;
    let create_time = header.timestamp_type() == TimestampType::CreateTime;
    for index in 0..header.records_count {
        let corrupt = |reason| BatchError::CorruptRecord { index: index as u32, reason };
        let (length, body_start) = varint_fast(bytes, at).ok_or_else(|| corrupt("record length"))?;
        let end = usize::try_from(length)
            .ok()
            .and_then(|length| body_start.checked_add(length))
            .filter(|&end| end <= bytes.len())
            .ok_or_else(|| corrupt("record length out of the batch"))?;
        let body = &bytes[..end];
        // Attributes (one byte), then the timestamp delta, a varlong.
        let (timestamp_delta, at_delta) =
            varlong_fast(body, body_start + 1).ok_or_else(|| corrupt("timestamp delta"))?;
        // Records refuses a CreateTime timestamp beyond i64, so must this.
        if create_time && header.base_timestamp.checked_add(timestamp_delta).is_none() {
            return Err(corrupt("timestamp overflows"));
        }
        let (delta, mut cursor) = varint_fast(body, at_delta).ok_or_else(|| corrupt("offset delta"))?;
        if delta <= previous_delta || delta > last_delta {
            return Err(corrupt("offset delta outside the batch or not increasing"));
        }
        previous_delta = delta;
        if FIND_KEYLESS && keyless.is_none() && varint_fast(body, cursor).is_some_and(|(len, _)| len == -1) {
            keyless = Some(index as u32);
        }
        cursor = skip_field(body, cursor, false).ok_or_else(|| corrupt("key bytes"))?;
        cursor = skip_field(body, cursor, false).ok_or_else(|| corrupt("value bytes"))?;
        let (headers, after) = varint_fast(body, cursor).ok_or_else(|| corrupt("header count"))?;
        cursor = after;
        if !(0..=i64::from(i32::MAX)).contains(&headers) {
            return Err(corrupt("header count out of range"));
        }
        for _ in 0..headers {
            cursor = skip_field(body, cursor, true).ok_or_else(|| corrupt("header key bytes"))?;
            cursor = skip_field(body, cursor, false).ok_or_else(|| corrupt("header value bytes"))?;
        }
        if cursor != end {
            return Err(corrupt("record length does not match its fields"));
        }
        at = end;
    }
    if at != bytes.len() {
        return Err(BatchError::RecordCount {
            declared: header.records_count,
            reason: "bytes remain after the last record",
        });
    }
    Ok(keyless)
}

/// A zig-zag varint (at most `i32`'s range) at `at`, and the position after
/// it; one- and two-byte encodings, the common ones, take no loop.
#[inline(always)]
fn varint_fast(bytes: &[u8], at: usize) -> Option<(i64, usize)> {
    let first = *bytes.get(at)?;
    if first < 0x80 {
        return Some((zigzag_decode_i64(u64::from(first)), at + 1));
    }
    let second = *bytes.get(at + 1)?;
    if second < 0x80 {
        let raw = u64::from(first & 0x7f) | (u64::from(second) << 7);
        return Some((zigzag_decode_i64(raw), at + 2));
    }
    // A varint field takes at most 5 bytes, as `Records` (and Kafka) read it.
    let (value, used) = get_varint(bytes.get(at..)?).ok()?;
    Some((i64::from(value), at + used))
}

/// As [`varint_fast`] for a varlong field (up to 10 bytes, `i64`'s range).
#[inline(always)]
fn varlong_fast(bytes: &[u8], at: usize) -> Option<(i64, usize)> {
    let first = *bytes.get(at)?;
    if first < 0x80 {
        return Some((zigzag_decode_i64(u64::from(first)), at + 1));
    }
    // Two bytes: timestamp deltas up to 8 s, the usual batch.
    let second = *bytes.get(at + 1)?;
    if second < 0x80 {
        let raw = u64::from(first & 0x7f) | (u64::from(second) << 7);
        return Some((zigzag_decode_i64(raw), at + 2));
    }
    let (value, used) = get_varlong(bytes.get(at..)?).ok()?;
    Some((value, at + used))
}

/// Skips a length-prefixed field (-1 = null unless `non_null`), returning
/// the position after it.
#[inline(always)]
fn skip_field(bytes: &[u8], at: usize, non_null: bool) -> Option<usize> {
    let (len, start) = varint_fast(bytes, at)?;
    if len == -1 && !non_null {
        return Some(start);
    }
    let len = usize::try_from(len).ok().filter(|&len| len <= i32::MAX as usize)?;
    start.checked_add(len).filter(|&end| end <= bytes.len())
}

/// Iterator over consecutive batches in a buffer (a read result or a
/// segment's bytes). Yields one error and stops at the first invalid or
/// truncated batch.
#[derive(Debug, Clone)]
pub struct Batches<'a> {
    rest: &'a [u8],
    failed: bool,
    /// The bytes were CRC-checked already (a log read checks on the way
    /// out), so only the header is parsed again.
    crc_checked: bool,
}

impl<'a> Batches<'a> {
    /// Iterates the batches laid end to end in `bytes`.
    pub fn new(bytes: &'a [u8]) -> Batches<'a> {
        Batches { rest: bytes, failed: false, crc_checked: false }
    }

    /// Iterates bytes whose every batch passed [`Batch::new`] already.
    pub(crate) fn crc_checked(bytes: &'a [u8]) -> Batches<'a> {
        Batches { rest: bytes, failed: false, crc_checked: true }
    }
}

impl<'a> Iterator for Batches<'a> {
    type Item = Result<Batch<'a>, BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let batch = if self.crc_checked { Batch::new_crc_checked(self.rest) } else { Batch::new(self.rest) };
        match batch {
            Ok(batch) => {
                self.rest = &self.rest[batch.len()..];
                Some(Ok(batch))
            }
            Err(error) => {
                self.failed = true;
                Some(Err(error))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::BatchBuilder;
    use crate::varint::{put_varint, put_varlong};

    /// Rewrites the CRC after a test has patched bytes it covers, so that the
    /// decoder gets past the CRC to the check under test.
    fn reseal(bytes: &mut [u8]) {
        let crc = crc32c::crc32c(&bytes[21..]);
        bytes[17..21].copy_from_slice(&crc.to_be_bytes());
    }

    /// Header fields a hand-made batch may vary; the producer fields are -1.
    struct RawHeader {
        base_offset: i64,
        attributes: i16,
        last_offset_delta: i32,
        base_timestamp: i64,
        max_timestamp: i64,
        records_count: i32,
    }

    impl Default for RawHeader {
        fn default() -> Self {
            RawHeader {
                base_offset: 0,
                attributes: 0,
                last_offset_delta: 0,
                base_timestamp: 1_000,
                max_timestamp: 1_000,
                records_count: 1,
            }
        }
    }

    /// A batch written field by field at literal offsets, independent of the
    /// builder, followed by `records` as given and a correct CRC.
    fn raw_batch(header: &RawHeader, records: &[u8]) -> Vec<u8> {
        let mut bytes = vec![0u8; 61];
        bytes[0..8].copy_from_slice(&header.base_offset.to_be_bytes());
        bytes[8..12].copy_from_slice(&(49 + records.len() as i32).to_be_bytes());
        bytes[12..16].copy_from_slice(&(-1i32).to_be_bytes());
        bytes[16] = 2;
        bytes[21..23].copy_from_slice(&header.attributes.to_be_bytes());
        bytes[23..27].copy_from_slice(&header.last_offset_delta.to_be_bytes());
        bytes[27..35].copy_from_slice(&header.base_timestamp.to_be_bytes());
        bytes[35..43].copy_from_slice(&header.max_timestamp.to_be_bytes());
        bytes[43..51].copy_from_slice(&(-1i64).to_be_bytes());
        bytes[51..53].copy_from_slice(&(-1i16).to_be_bytes());
        bytes[53..57].copy_from_slice(&(-1i32).to_be_bytes());
        bytes[57..61].copy_from_slice(&header.records_count.to_be_bytes());
        bytes.extend_from_slice(records);
        reseal(&mut bytes);
        bytes
    }

    /// Prefixes a record body with its varint length.
    fn raw_record(body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        put_varint(&mut out, body.len() as i32);
        out.extend_from_slice(body);
        out
    }

    fn three_record_batch() -> Vec<u8> {
        let mut builder = BatchBuilder::new();
        builder.push(1_000, Some(b"k0"), Some(b"v0"), &[]).unwrap();
        builder.push(1_010, None, Some(b"v1"), &[Header { key: "h", value: Some(b"x") }]).unwrap();
        builder.push(1_005, Some(b"k2"), None, &[]).unwrap();
        builder.finish().unwrap()
    }

    fn decode_all(bytes: &[u8]) -> Vec<Result<Record<'_>, BatchError>> {
        Batch::new(bytes).unwrap().records().unwrap().collect()
    }

    #[test]
    fn header_offsets_follow_the_kafka_layout() {
        // Each field starts where the previous one ends: 8+4+4+1+4+2+4+8+8+8+2+4+4 = 61.
        let layout = [
            (BASE_OFFSET_AT, 8),
            (BATCH_LENGTH_AT, 4),
            (PARTITION_LEADER_EPOCH_AT, 4),
            (MAGIC_AT, 1),
            (CRC_AT, 4),
            (ATTRIBUTES_AT, 2),
            (LAST_OFFSET_DELTA_AT, 4),
            (BASE_TIMESTAMP_AT, 8),
            (MAX_TIMESTAMP_AT, 8),
            (PRODUCER_ID_AT, 8),
            (PRODUCER_EPOCH_AT, 2),
            (BASE_SEQUENCE_AT, 4),
            (RECORDS_COUNT_AT, 4),
        ];
        let mut expected_at = 0;
        for (at, size) in layout {
            assert_eq!(at, expected_at);
            expected_at += size;
        }
        assert_eq!(expected_at, BATCH_HEADER_BYTES);
        assert_eq!(BATCH_HEADER_BYTES, 61);
        assert_eq!(BATCH_LENGTH_PREFIX_BYTES, 12);
        assert_eq!(MAGIC_V2, 2);
    }

    #[test]
    fn parse_reads_every_field_big_endian_at_its_offset() {
        // Distinct bytes in every field: a field read at the wrong offset,
        // with the wrong width or in native order gets a different value.
        let mut bytes = vec![0u8; 61];
        bytes[0..8].copy_from_slice(&[0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08]);
        bytes[8..12].copy_from_slice(&[0x00, 0x00, 0x01, 0x00]);
        bytes[12..16].copy_from_slice(&[0x0a, 0x0b, 0x0c, 0x0d]);
        bytes[16] = 0x02;
        bytes[17..21].copy_from_slice(&[0xf1, 0xf2, 0xf3, 0xf4]);
        bytes[21..23].copy_from_slice(&[0x00, 0x78]);
        bytes[23..27].copy_from_slice(&[0x00, 0x00, 0x00, 0x07]);
        bytes[27..35].copy_from_slice(&[0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00]);
        bytes[35..43].copy_from_slice(&[0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x6b, 0xe8]);
        bytes[43..51].copy_from_slice(&[0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18]);
        bytes[51..53].copy_from_slice(&[0x21, 0x22]);
        bytes[53..57].copy_from_slice(&[0x31, 0x32, 0x33, 0x34]);
        bytes[57..61].copy_from_slice(&[0x00, 0x00, 0x00, 0x05]);
        let header = BatchHeader::parse(&bytes).unwrap();
        assert_eq!(
            header,
            BatchHeader {
                base_offset: 0x0102_0304_0506_0708,
                batch_length: 256,
                partition_leader_epoch: 0x0a0b_0c0d,
                magic: 2,
                crc: 0xf1f2_f3f4,
                attributes: 0x78,
                last_offset_delta: 7,
                base_timestamp: 1_700_000_000_000,
                max_timestamp: 1_700_000_001_000,
                producer_id: 0x1112_1314_1516_1718,
                producer_epoch: 0x2122,
                base_sequence: 0x3132_3334,
                records_count: 5,
            }
        );
        assert_eq!(header.total_bytes(), 12 + 256);
        assert_eq!(header.last_offset(), 0x0102_0304_0506_070f);
        assert_eq!(header.compression(), Compression::None);
        assert_eq!(header.timestamp_type(), TimestampType::LogAppendTime);
        assert!(header.is_transactional());
        assert!(header.is_control());
        assert!(header.has_delete_horizon());
    }

    #[test]
    fn attribute_bits_are_independent() {
        let header = |attributes: i16| {
            let bytes = raw_batch(&RawHeader { attributes, records_count: 0, ..RawHeader::default() }, &[]);
            BatchHeader::parse(&bytes).unwrap()
        };
        let none = header(0);
        assert_eq!(none.timestamp_type(), TimestampType::CreateTime);
        assert!(!none.is_transactional() && !none.is_control() && !none.has_delete_horizon());
        assert_eq!(header(0x08).timestamp_type(), TimestampType::LogAppendTime);
        assert!(header(0x10).is_transactional() && !header(0x10).is_control());
        assert!(header(0x20).is_control() && !header(0x20).is_transactional());
        assert!(header(0x40).has_delete_horizon() && !header(0x40).is_control());
    }

    #[test]
    fn crc_is_castagnoli() {
        // The CRC-32C check value from the catalogue of CRC parameters; the
        // IEEE polynomial would give 0xcbf43926.
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
    }

    #[test]
    fn crc_covers_attributes_to_the_end_and_nothing_before() {
        let bytes = three_record_batch();
        let stored = u32::from_be_bytes(bytes[17..21].try_into().unwrap());
        assert_eq!(stored, crc32c::crc32c(&bytes[21..]));
        // Every bit-0 flip from the attributes to the last byte is caught.
        for at in ATTRIBUTES_AT..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0x01;
            let computed = crc32c::crc32c(&flipped[21..]);
            assert_eq!(Batch::new(&flipped).unwrap_err(), BatchError::CrcMismatch { stored, computed }, "byte {at}");
        }
        // The CRC field itself.
        for at in CRC_AT..ATTRIBUTES_AT {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0x01;
            assert!(matches!(Batch::new(&flipped), Err(BatchError::CrcMismatch { .. })), "byte {at}");
        }
        // The base offset and the partition leader epoch are rewritten by the
        // log and the leader after the producer sealed the batch: not covered.
        for at in (BASE_OFFSET_AT + 1..BATCH_LENGTH_AT).chain(PARTITION_LEADER_EPOCH_AT..MAGIC_AT) {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0x01;
            let batch = Batch::new(&flipped).unwrap_or_else(|e| panic!("byte {at}: {e}"));
            assert_eq!(batch.records().unwrap().count(), 3);
        }
    }

    #[test]
    fn truncated_input_is_reported_at_every_length() {
        let bytes = three_record_batch();
        for len in 0..bytes.len() {
            let needed = if len < BATCH_HEADER_BYTES { BATCH_HEADER_BYTES } else { bytes.len() };
            assert_eq!(
                Batch::new(&bytes[..len]).unwrap_err(),
                BatchError::Truncated { needed, available: len },
                "prefix of {len} bytes"
            );
        }
        assert_eq!(Batch::new(&bytes).unwrap().len(), bytes.len());
    }

    #[test]
    fn trailing_bytes_are_not_part_of_the_batch() {
        let mut bytes = three_record_batch();
        let len = bytes.len();
        bytes.extend_from_slice(b"next batch");
        let batch = Batch::new(&bytes).unwrap();
        assert_eq!(batch.len(), len);
        assert_eq!(batch.as_bytes(), &bytes[..len]);
        assert_eq!(batch.records().unwrap().count(), 3);
    }

    #[test]
    fn magic_other_than_two_is_refused() {
        for magic in [0u8, 1, 3, 0xff] {
            let mut bytes = three_record_batch();
            bytes[MAGIC_AT] = magic;
            assert_eq!(Batch::new(&bytes).unwrap_err(), BatchError::UnsupportedMagic { magic: magic as i8 });
            assert_eq!(BatchHeader::parse(&bytes).unwrap_err(), BatchError::UnsupportedMagic { magic: magic as i8 });
        }
    }

    #[test]
    fn batch_length_below_a_header_is_out_of_bounds() {
        for batch_length in [48, 0, -1, i32::MIN] {
            let mut bytes = three_record_batch();
            bytes[8..12].copy_from_slice(&i32::to_be_bytes(batch_length));
            assert_eq!(
                Batch::new(&bytes).unwrap_err(),
                BatchError::LengthOutOfBounds { batch_length, min: 49, max: i32::MAX }
            );
        }
    }

    #[test]
    fn impossible_header_fields_are_inconsistent() {
        let cases: [(RawHeader, &str); 4] = [
            (RawHeader { last_offset_delta: -1, ..RawHeader::default() }, "negative lastOffsetDelta"),
            (RawHeader { records_count: -1, ..RawHeader::default() }, "negative recordsCount"),
            (RawHeader { base_offset: -1, ..RawHeader::default() }, "negative baseOffset"),
            (
                RawHeader { base_offset: i64::MAX, last_offset_delta: 1, ..RawHeader::default() },
                "last offset overflows i64",
            ),
        ];
        for (header, reason) in cases {
            let bytes = raw_batch(&header, &[]);
            assert_eq!(Batch::new(&bytes).unwrap_err(), BatchError::InconsistentHeader { reason });
        }
    }

    #[test]
    fn declared_count_above_the_records_is_an_error_after_them() {
        let mut bytes = three_record_batch();
        bytes[57..61].copy_from_slice(&4i32.to_be_bytes());
        reseal(&mut bytes);
        let results = decode_all(&bytes);
        assert_eq!(results.len(), 4);
        assert!(results[..3].iter().all(Result::is_ok));
        assert_eq!(
            results[3],
            Err(BatchError::RecordCount { declared: 4, reason: "the batch ends before the last record" })
        );
    }

    #[test]
    fn declared_count_below_the_records_is_an_error_after_them() {
        let mut bytes = three_record_batch();
        bytes[57..61].copy_from_slice(&2i32.to_be_bytes());
        reseal(&mut bytes);
        let results = decode_all(&bytes);
        assert_eq!(results.len(), 3);
        assert!(results[..2].iter().all(Result::is_ok));
        assert_eq!(
            results[2],
            Err(BatchError::RecordCount { declared: 2, reason: "bytes remain after the last record" })
        );
    }

    #[test]
    fn a_batch_with_no_records_is_valid_and_empty() {
        // Compaction can leave a batch with no records behind (Kafka keeps it
        // for the producer state it carries).
        let bytes = raw_batch(&RawHeader { records_count: 0, ..RawHeader::default() }, &[]);
        let batch = Batch::new(&bytes).unwrap();
        assert_eq!(batch.len(), 61);
        assert_eq!(batch.records().unwrap().count(), 0);
    }

    #[test]
    fn compressed_batches_are_refused_when_iterated() {
        let codecs = [
            (1, Compression::Gzip),
            (2, Compression::Snappy),
            (3, Compression::Lz4),
            (4, Compression::Zstd),
            (5, Compression::Unknown(5)),
            (7, Compression::Unknown(7)),
        ];
        for (code, codec) in codecs {
            let mut bytes = three_record_batch();
            // Keep the other attribute bits, as a producer would.
            bytes[22] = (bytes[22] & !0x07) | code;
            reseal(&mut bytes);
            let batch = Batch::new(&bytes).expect("header and CRC are valid");
            assert_eq!(batch.header().compression(), codec);
            assert_eq!(batch.records().unwrap_err(), BatchError::UnsupportedCompression { codec });
        }
    }

    #[test]
    fn non_utf8_header_key_is_an_error_naming_the_record() {
        let mut builder = BatchBuilder::new();
        builder.push(1_000, None, Some(b"a"), &[Header { key: "ok", value: None }]).unwrap();
        builder.push(1_000, None, Some(b"b"), &[Header { key: "KEY!", value: Some(b"v") }]).unwrap();
        let mut bytes = builder.finish().unwrap();
        let at = bytes.windows(4).position(|w| w == b"KEY!").unwrap();
        bytes[at..at + 2].copy_from_slice(&[0xff, 0xfe]);
        reseal(&mut bytes);
        let records: Vec<_> = decode_all(&bytes).into_iter().map(Result::unwrap).collect();
        assert_eq!(records[0].headers.collect::<Result<Vec<_>, _>>().unwrap(), [Header { key: "ok", value: None }]);
        let mut headers = records[1].headers;
        assert_eq!(headers.len(), 1);
        assert_eq!(
            headers.next(),
            Some(Err(BatchError::CorruptRecord { index: 1, reason: "header key is not UTF-8" }))
        );
        assert_eq!(headers.next(), None);
    }

    #[test]
    fn log_append_time_gives_every_record_the_max_timestamp() {
        let mut bytes = three_record_batch();
        bytes[22] |= 0x08;
        reseal(&mut bytes);
        let timestamps: Vec<_> = decode_all(&bytes).into_iter().map(|r| r.unwrap().timestamp).collect();
        assert_eq!(timestamps, [1_010, 1_010, 1_010]);
    }

    #[test]
    fn create_time_records_add_their_delta_to_the_base_timestamp() {
        let timestamps: Vec<_> = decode_all(&three_record_batch()).into_iter().map(|r| r.unwrap().timestamp).collect();
        assert_eq!(timestamps, [1_000, 1_010, 1_005]);
    }

    #[test]
    fn records_borrow_keys_and_values_from_the_buffer() {
        let bytes = three_record_batch();
        let range = bytes.as_ptr_range();
        for record in decode_all(&bytes) {
            let record = record.unwrap();
            for field in [record.key, record.value].into_iter().flatten() {
                assert!(range.contains(&field.as_ptr()));
            }
        }
    }

    /// A record body: attributes, timestamp delta, offset delta, then `rest`.
    fn body(timestamp_delta: i64, offset_delta: i32, rest: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8];
        put_varlong(&mut out, timestamp_delta);
        put_varint(&mut out, offset_delta);
        out.extend_from_slice(rest);
        out
    }

    #[test]
    fn malformed_records_are_corrupt_with_a_reason() {
        // Zig-zag: 0x00 = 0, 0x01 = -1, 0x02 = 1, 0x03 = -2, 0x04 = 2.
        let well_formed = body(0, 0, &[0x02, b'k', 0x02, b'v', 0x00]);
        let mut longer_than_fields = raw_record(&well_formed);
        longer_than_fields[0] += 2; // claims one more byte, which follows
        longer_than_fields.push(0x00);
        let cases: Vec<(Vec<u8>, i64, &str)> = vec![
            (vec![0x01], 1_000, "negative record length"),
            (vec![0x80], 1_000, "record length"),
            (vec![0x20, 0x00], 1_000, "record runs past the batch"),
            (longer_than_fields, 1_000, "record length does not match its fields"),
            (raw_record(&[]), 1_000, "record attributes"),
            (raw_record(&body(0, 1, &[0x01, 0x01, 0x00])), 1_000, "offset delta outside the batch"),
            (raw_record(&body(0, -1, &[0x01, 0x01, 0x00])), 1_000, "offset delta outside the batch"),
            (raw_record(&body(0, 0, &[0x03, 0x01, 0x00])), 1_000, "key bytes"),
            (raw_record(&body(0, 0, &[0x04, b'k'])), 1_000, "key bytes"),
            (raw_record(&body(0, 0, &[0x01, 0x03, 0x00])), 1_000, "value bytes"),
            (raw_record(&body(0, 0, &[0x01, 0x01])), 1_000, "header count"),
            (raw_record(&body(0, 0, &[0x01, 0x01, 0x01])), 1_000, "negative header count"),
            (raw_record(&body(0, 0, &[0x01, 0x01, 0x02, 0x01, 0x01])), 1_000, "null header key"),
            (raw_record(&body(0, 0, &[0x01, 0x01, 0x02, 0x02, b'h'])), 1_000, "header value length"),
            (raw_record(&body(0, 0, &[0x01, 0x01, 0x02, 0x02, b'h', 0x03])), 1_000, "header value bytes"),
            (raw_record(&body(1, 0, &[0x01, 0x01, 0x00])), i64::MAX, "timestamp overflows"),
        ];
        for (record, base_timestamp, reason) in cases {
            let header = RawHeader { base_timestamp, max_timestamp: base_timestamp, ..RawHeader::default() };
            let bytes = raw_batch(&header, &record);
            let mut records = Batch::new(&bytes).unwrap().records().unwrap();
            assert_eq!(records.next(), Some(Err(BatchError::CorruptRecord { index: 0, reason })), "{reason}");
            assert_eq!(records.next(), None, "iteration stops after an error: {reason}");
        }
        // The well-formed body itself decodes, so the cases above fail for
        // the reason they name and not for a mistake in the helpers.
        let bytes = raw_batch(&RawHeader::default(), &raw_record(&well_formed));
        let record = decode_all(&bytes).remove(0).unwrap();
        assert_eq!(
            (record.offset, record.timestamp, record.key, record.value),
            (0, 1_000, Some(&b"k"[..]), Some(&b"v"[..]))
        );
    }

    #[test]
    fn record_offsets_are_the_base_offset_plus_the_delta() {
        let mut records = raw_record(&body(0, 0, &[0x01, 0x01, 0x00]));
        records.extend(raw_record(&body(-3, 4, &[0x01, 0x01, 0x00])));
        let header = RawHeader { base_offset: 100, last_offset_delta: 4, records_count: 2, ..RawHeader::default() };
        let bytes = raw_batch(&header, &records);
        let batch = Batch::new(&bytes).unwrap();
        assert_eq!((batch.base_offset(), batch.last_offset(), batch.next_offset()), (100, 104, 105));
        let decoded: Vec<_> = batch.records().unwrap().map(|r| r.unwrap()).map(|r| (r.offset, r.timestamp)).collect();
        assert_eq!(decoded, [(100, 1_000), (104, 997)]);
    }

    #[test]
    fn batches_walks_concatenated_batches_and_stops_at_the_first_error() {
        let one = three_record_batch();
        let mut bytes = one.clone();
        bytes.extend_from_slice(&one);
        let mut batches = Batches::new(&bytes);
        assert_eq!(batches.next().unwrap().unwrap().len(), one.len());
        assert_eq!(batches.next().unwrap().unwrap().len(), one.len());
        assert!(batches.next().is_none());

        let mut torn = bytes.clone();
        torn.extend_from_slice(&one[..70]);
        let results: Vec<_> = Batches::new(&torn).collect();
        assert_eq!(results.len(), 3);
        assert_eq!(results[2].as_ref().unwrap_err(), &BatchError::Truncated { needed: one.len(), available: 70 });

        let mut corrupt = bytes.clone();
        corrupt[one.len() + 30] ^= 0xff;
        corrupt.extend_from_slice(&one);
        let results: Vec<_> = Batches::new(&corrupt).collect();
        assert_eq!(results.len(), 2, "nothing after the corrupt batch is yielded");
        assert!(results[0].is_ok());
        assert!(matches!(results[1], Err(BatchError::CrcMismatch { .. })));

        assert_eq!(Batches::new(&[]).count(), 0);
    }

    /// What the append path's `check_records` should say about a batch:
    /// valid exactly when `Records` yields every record without error and
    /// the offset deltas strictly increase.
    fn records_verdict(batch: &Batch<'_>) -> bool {
        let mut previous: Option<u64> = None;
        for record in batch.records().unwrap() {
            let Ok(record) = record else { return false };
            if previous.is_some_and(|previous| record.offset <= previous) {
                return false;
            }
            previous = Some(record.offset);
        }
        true
    }

    #[test]
    fn check_records_refuses_what_records_refuses() {
        // Both cases were once accepted on append and recovery but refused
        // when read: a varint longer than 5 bytes, and a CreateTime
        // timestamp beyond i64.
        let overlong_key_length = body(0, 0, &[0x82, 0x80, 0x80, 0x80, 0x80, 0x00, b'k', 0x01, 0x00]);
        let bytes = raw_batch(&RawHeader::default(), &raw_record(&overlong_key_length));
        let batch = Batch::new(&bytes).unwrap();
        assert!(!records_verdict(&batch));
        assert!(check_records(&batch).is_err());

        let header = RawHeader { base_timestamp: i64::MAX - 5, max_timestamp: i64::MAX, ..RawHeader::default() };
        let bytes = raw_batch(&header, &raw_record(&body(10, 0, &[0x01, 0x01, 0x00])));
        let batch = Batch::new(&bytes).unwrap();
        assert!(!records_verdict(&batch));
        assert_eq!(check_records(&batch), Err(BatchError::CorruptRecord { index: 0, reason: "timestamp overflows" }));

        // In a LogAppendTime batch the deltas are not used: no overflow.
        let header = RawHeader { attributes: 0x08, ..header };
        let bytes = raw_batch(&header, &raw_record(&body(10, 0, &[0x01, 0x01, 0x00])));
        let batch = Batch::new(&bytes).unwrap();
        assert!(records_verdict(&batch));
        assert_eq!(check_records(&batch), Ok(()));
    }

    proptest::proptest! {
        /// The fast varint paths read exactly what the general decoders do
        /// (or fail where they fail), for any bytes.
        #[test]
        fn fast_varints_agree_with_the_general_decoders(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..12),
        ) {
            let general_long = get_varlong(&bytes).ok();
            proptest::prop_assert_eq!(varlong_fast(&bytes, 0), general_long);
            let general_int = get_varint(&bytes).ok().map(|(value, used)| (i64::from(value), used));
            proptest::prop_assert_eq!(varint_fast(&bytes, 0), general_int);
        }
    }

    proptest::proptest! {
        /// Random damage to the records of a valid batch (the CRC made to
        /// match again): the append path's check and record iteration must
        /// agree on every result.
        #[test]
        fn check_records_agrees_with_records(
            edits in proptest::collection::vec((0usize..200, proptest::prelude::any::<u8>()), 0..4),
            cut in 0usize..8,
            extra in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..3),
            count_change in -1i32..=1,
            attributes in proptest::sample::select(vec![0u8, 0x08]),
        ) {
            let mut bytes = three_record_batch();
            for (at, byte) in edits {
                let at = 61 + at % (bytes.len() - 61);
                bytes[at] = byte;
            }
            bytes.truncate(bytes.len() - cut);
            bytes.extend_from_slice(&extra);
            let length = (bytes.len() - 12) as i32;
            bytes[8..12].copy_from_slice(&length.to_be_bytes());
            bytes[57..61].copy_from_slice(&(3 + count_change).to_be_bytes());
            bytes[22] = attributes;
            reseal(&mut bytes);
            let batch = Batch::new(&bytes).unwrap();
            proptest::prop_assert_eq!(check_records(&batch).is_ok(), records_verdict(&batch));
        }
    }
}
