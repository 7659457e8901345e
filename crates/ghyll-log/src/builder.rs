//! Encoding records into a Kafka RecordBatch v2.

use crate::batch::{
    Header, TimestampType, ATTRIBUTES_AT, BATCH_HEADER_BYTES, BATCH_LENGTH_AT, BATCH_LENGTH_PREFIX_BYTES, CRC_AT,
    MAGIC_V2,
};
use crate::error::BatchError;
use crate::varint::{put_varint, varint_len, varlong_len, write_varlong};

/// Most records one batch may hold (the offset delta is an `i32`).
pub const BATCH_RECORDS_MAX: u32 = i32::MAX as u32;
/// Default byte limit of a [`BatchBuilder`]: Kafka's `max.message.bytes`.
pub const BATCH_BYTES_MAX_DEFAULT: usize = 1_048_588;

/// Builds one uncompressed RecordBatch v2 from records.
///
/// The batch's base offset is 0 and its partition leader epoch -1: the log
/// assigns both on append. Producer id, epoch and base sequence are -1 (not
/// idempotent). The first record's timestamp is the batch's base timestamp;
/// later records are stored as deltas from it, as Kafka does.
///
/// # Examples
/// ```
/// use ghyll_log::{Batch, BatchBuilder, Header};
/// let mut builder = BatchBuilder::new();
/// builder.push(1_000, Some(b"k"), Some(b"v1"), &[Header { key: "trace", value: Some(b"42") }])?;
/// builder.push(1_001, None, Some(b"v2"), &[])?;
/// let bytes = builder.finish()?;
/// let batch = Batch::new(&bytes)?;
/// let values: Vec<_> = batch.records()?.map(|r| r.map(|r| r.value)).collect::<Result<_, _>>()?;
/// assert_eq!(values, [Some(&b"v1"[..]), Some(&b"v2"[..])]);
/// # Ok::<(), ghyll_log::BatchError>(())
/// ```
#[derive(Debug, Clone)]
pub struct BatchBuilder {
    buf: Vec<u8>,
    count: u32,
    base_timestamp: i64,
    max_timestamp: i64,
    timestamp_type: TimestampType,
    bytes_max: usize,
    /// Index of the first record pushed without a key.
    first_keyless: Option<u32>,
    /// Header and CRC written: no more records.
    sealed: bool,
}

impl Default for BatchBuilder {
    fn default() -> Self {
        BatchBuilder::new()
    }
}

impl BatchBuilder {
    /// A builder limited to [`BATCH_BYTES_MAX_DEFAULT`] bytes.
    pub fn new() -> BatchBuilder {
        BatchBuilder::with_bytes_max(BATCH_BYTES_MAX_DEFAULT)
    }

    /// A builder whose batch may grow to `bytes_max` bytes (at least one
    /// header's worth; at most `i32::MAX`).
    ///
    /// # Panics
    /// If `bytes_max` is below 61 or above `i32::MAX`: a limit outside the
    /// format is a programming error.
    pub fn with_bytes_max(bytes_max: usize) -> BatchBuilder {
        assert!(
            (BATCH_HEADER_BYTES..=i32::MAX as usize).contains(&bytes_max),
            "batch byte limit {bytes_max} outside the format"
        );
        let mut buf = Vec::with_capacity(bytes_max.min(16 * 1024));
        buf.resize(BATCH_HEADER_BYTES, 0);
        BatchBuilder {
            buf,
            count: 0,
            base_timestamp: 0,
            max_timestamp: i64::MIN,
            timestamp_type: TimestampType::CreateTime,
            bytes_max,
            first_keyless: None,
            sealed: false,
        }
    }

    /// Marks the batch's timestamps as `LogAppendTime` or `CreateTime`
    /// (the default).
    pub fn set_timestamp_type(&mut self, timestamp_type: TimestampType) {
        self.timestamp_type = timestamp_type;
    }

    /// Reserves room for `additional` more bytes of records, so a caller
    /// that knows how full it will fill the batch grows it once.
    pub fn reserve(&mut self, additional: usize) {
        self.buf.reserve(additional.min(self.bytes_max.saturating_sub(self.buf.len())));
    }

    /// Records pushed so far.
    pub fn record_count(&self) -> u32 {
        self.count
    }

    /// Whether no record has been pushed.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes the batch would occupy if finished now.
    pub fn size_bytes(&self) -> usize {
        self.buf.len()
    }

    /// Bytes one more record would add, for callers filling to a size.
    pub fn record_size_bytes(
        &self,
        timestamp_ms: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header<'_>],
    ) -> Result<usize, BatchError> {
        let body = self.body_len(timestamp_ms, key, value, headers)?;
        Ok(varint_len(body) + body as usize)
    }

    fn body_len(
        &self,
        timestamp_ms: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header<'_>],
    ) -> Result<i32, BatchError> {
        let delta = self.timestamp_delta(timestamp_ms)?;
        let offset_delta = self.offset_delta()?;
        let mut len: u64 = 1 + varlong_len(delta) as u64 + varint_len(offset_delta) as u64;
        len += bytes_len(key, "key")?;
        len += bytes_len(value, "value")?;
        let header_count =
            i32::try_from(headers.len()).map_err(|_| BatchError::FieldOverflow { field: "header count" })?;
        len += varint_len(header_count) as u64;
        for header in headers {
            len += bytes_len(Some(header.key.as_bytes()), "header key")?;
            len += bytes_len(header.value, "header value")?;
        }
        i32::try_from(len).map_err(|_| BatchError::FieldOverflow { field: "record length" })
    }

    fn timestamp_delta(&self, timestamp_ms: i64) -> Result<i64, BatchError> {
        if self.count == 0 {
            return Ok(0);
        }
        timestamp_ms.checked_sub(self.base_timestamp).ok_or(BatchError::FieldOverflow { field: "timestamp delta" })
    }

    fn offset_delta(&self) -> Result<i32, BatchError> {
        if self.count >= BATCH_RECORDS_MAX {
            return Err(BatchError::FieldOverflow { field: "record count" });
        }
        Ok(self.count as i32)
    }

    /// Appends one record.
    ///
    /// # Errors
    /// [`BatchError::TooLarge`] when the record would take the batch past
    /// its byte limit (the builder is unchanged, so the caller can finish
    /// this batch and start another), [`BatchError::FieldOverflow`] for a
    /// field the format cannot hold.
    pub fn push(
        &mut self,
        timestamp_ms: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header<'_>],
    ) -> Result<(), BatchError> {
        if self.sealed {
            return Err(BatchError::Sealed);
        }
        let body = self.body_len(timestamp_ms, key, value, headers)?;
        let total = self.buf.len() + varint_len(body) + body as usize;
        if total > self.bytes_max {
            return Err(BatchError::TooLarge { bytes: total, limit: self.bytes_max });
        }
        let delta = self.timestamp_delta(timestamp_ms)?;
        let offset_delta = self.offset_delta()?;
        let before = self.buf.len();
        self.buf.reserve(total - before);
        // The small fields go through a scratch array and into the batch
        // a few at a time: one length check per copy, not one per byte.
        // At most 5 + 1 + 10 + 5 + 5 bytes before the key is copied, and
        // 5 + 5 after it.
        let mut scratch = [0u8; 32];
        let mut at = write_varlong(&mut scratch, 0, i64::from(body));
        scratch[at] = 0; // record attributes: unused
        at = write_varlong(&mut scratch, at + 1, delta);
        at = write_varlong(&mut scratch, at, i64::from(offset_delta));
        for field in [key, value] {
            match field {
                None => at = write_varlong(&mut scratch, at, -1),
                Some(bytes) => {
                    at = write_varlong(&mut scratch, at, bytes.len() as i64);
                    self.buf.extend_from_slice(&scratch[..at]);
                    self.buf.extend_from_slice(bytes);
                    at = 0;
                }
            }
        }
        at = write_varlong(&mut scratch, at, headers.len() as i64);
        self.buf.extend_from_slice(&scratch[..at]);
        for header in headers {
            put_bytes(&mut self.buf, Some(header.key.as_bytes()));
            put_bytes(&mut self.buf, header.value);
        }
        debug_assert_eq!(self.buf.len() - before, total - before);
        if self.count == 0 {
            self.base_timestamp = timestamp_ms;
        }
        if key.is_none() && self.first_keyless.is_none() {
            self.first_keyless = Some(self.count);
        }
        self.max_timestamp = self.max_timestamp.max(timestamp_ms);
        self.count += 1;
        Ok(())
    }

    /// As [`BatchBuilder::finish`], keeping the proof that the bytes came
    /// from a builder: [`Log::append_built`](crate::Log::append_built)
    /// appends them without walking the records and recomputing the CRC
    /// again.
    ///
    /// # Errors
    /// As [`BatchBuilder::finish`].
    pub fn build(self) -> Result<BuiltBatch, BatchError> {
        let first_keyless = self.first_keyless;
        let bytes = self.finish()?;
        Ok(BuiltBatch { bytes, first_keyless })
    }

    /// Writes the header and CRC and returns the batch's bytes.
    ///
    /// # Errors
    /// [`BatchError::Empty`] when no record was pushed.
    pub fn finish(mut self) -> Result<Vec<u8>, BatchError> {
        self.seal()?;
        Ok(self.buf)
    }

    /// Writes the header and CRC now, so that [`BatchBuilder::finish`] or
    /// [`BatchBuilder::build`] later has nothing left to compute: a
    /// producer seals a batch in the thread that filled it and hands the
    /// append to another. Later pushes fail with [`BatchError::Sealed`];
    /// sealing again does nothing.
    ///
    /// # Errors
    /// [`BatchError::Empty`] when no record was pushed.
    pub fn seal(&mut self) -> Result<(), BatchError> {
        if self.sealed {
            return Ok(());
        }
        if self.count == 0 {
            return Err(BatchError::Empty);
        }
        let batch_length = (self.buf.len() - BATCH_LENGTH_PREFIX_BYTES) as i32;
        let mut attributes: i16 = 0;
        if self.timestamp_type == TimestampType::LogAppendTime {
            attributes |= 0x08;
        }
        let header = &mut self.buf[..BATCH_HEADER_BYTES];
        header[0..8].copy_from_slice(&0i64.to_be_bytes());
        header[BATCH_LENGTH_AT..BATCH_LENGTH_AT + 4].copy_from_slice(&batch_length.to_be_bytes());
        header[12..16].copy_from_slice(&(-1i32).to_be_bytes()); // partitionLeaderEpoch
        header[16] = MAGIC_V2 as u8;
        header[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&attributes.to_be_bytes());
        header[23..27].copy_from_slice(&(self.count as i32 - 1).to_be_bytes());
        header[27..35].copy_from_slice(&self.base_timestamp.to_be_bytes());
        header[35..43].copy_from_slice(&self.max_timestamp.to_be_bytes());
        header[43..51].copy_from_slice(&(-1i64).to_be_bytes()); // producerId
        header[51..53].copy_from_slice(&(-1i16).to_be_bytes()); // producerEpoch
        header[53..57].copy_from_slice(&(-1i32).to_be_bytes()); // baseSequence
        header[57..61].copy_from_slice(&(self.count as i32).to_be_bytes());
        let crc = crc32c::crc32c(&self.buf[ATTRIBUTES_AT..]);
        self.buf[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
        self.sealed = true;
        Ok(())
    }
}

/// A finished batch that [`BatchBuilder::build`] made: well-formed, dense
/// and with a correct CRC by construction (the builder enforced every
/// limit as records were pushed), so an append need not check it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltBatch {
    bytes: Vec<u8>,
    first_keyless: Option<u32>,
}

impl BuiltBatch {
    /// The batch's bytes (base offset 0).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The batch's bytes, owned.
    pub fn into_vec(self) -> Vec<u8> {
        self.bytes
    }

    /// Index of the first record without a key, which a compacted log
    /// refuses.
    pub(crate) fn first_keyless(&self) -> Option<u32> {
        self.first_keyless
    }
}

fn bytes_len(bytes: Option<&[u8]>, field: &'static str) -> Result<u64, BatchError> {
    match bytes {
        None => Ok(1),
        Some(bytes) => {
            let len = i32::try_from(bytes.len()).map_err(|_| BatchError::FieldOverflow { field })?;
            Ok(varint_len(len) as u64 + bytes.len() as u64)
        }
    }
}

fn put_bytes(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        None => put_varint(out, -1),
        Some(bytes) => {
            put_varint(out, bytes.len() as i32);
            out.extend_from_slice(bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{Batch, BatchHeader, Record};

    fn be_i16(bytes: &[u8]) -> i16 {
        i16::from_be_bytes(bytes.try_into().unwrap())
    }

    fn be_i32(bytes: &[u8]) -> i32 {
        i32::from_be_bytes(bytes.try_into().unwrap())
    }

    fn be_i64(bytes: &[u8]) -> i64 {
        i64::from_be_bytes(bytes.try_into().unwrap())
    }

    fn records(bytes: &[u8]) -> Vec<Record<'_>> {
        Batch::new(bytes).unwrap().records().unwrap().map(Result::unwrap).collect()
    }

    #[test]
    fn header_fields_are_written_big_endian_at_their_offsets() {
        let mut builder = BatchBuilder::new();
        builder.push(1_000, Some(b"a"), Some(b"1"), &[]).unwrap();
        builder.push(1_005, Some(b"b"), Some(b"2"), &[]).unwrap();
        builder.push(1_003, Some(b"c"), Some(b"3"), &[]).unwrap();
        let bytes = builder.finish().unwrap();
        assert_eq!(be_i64(&bytes[0..8]), 0, "baseOffset: assigned by the log");
        assert_eq!(be_i32(&bytes[8..12]) as usize, bytes.len() - 12, "batchLength");
        assert_eq!(be_i32(&bytes[12..16]), -1, "partitionLeaderEpoch: set by the leader");
        assert_eq!(bytes[16], 2, "magic");
        assert_eq!(u32::from_be_bytes(bytes[17..21].try_into().unwrap()), crc32c::crc32c(&bytes[21..]), "crc");
        assert_eq!(be_i16(&bytes[21..23]), 0, "attributes: uncompressed, CreateTime");
        assert_eq!(be_i32(&bytes[23..27]), 2, "lastOffsetDelta");
        assert_eq!(be_i64(&bytes[27..35]), 1_000, "baseTimestamp: the first record's");
        assert_eq!(be_i64(&bytes[35..43]), 1_005, "maxTimestamp");
        assert_eq!(be_i64(&bytes[43..51]), -1, "producerId");
        assert_eq!(be_i16(&bytes[51..53]), -1, "producerEpoch");
        assert_eq!(be_i32(&bytes[53..57]), -1, "baseSequence");
        assert_eq!(be_i32(&bytes[57..61]), 3, "recordsCount");
        // The decoder agrees with the literal offsets above.
        let header = BatchHeader::parse(&bytes).unwrap();
        assert_eq!((header.base_timestamp, header.max_timestamp, header.last_offset_delta), (1_000, 1_005, 2));
    }

    #[test]
    fn one_record_batch_matches_hand_encoded_bytes() {
        let timestamp = 1_700_000_000_000i64;
        let mut expected = Vec::new();
        expected.extend_from_slice(&0i64.to_be_bytes()); // baseOffset
        expected.extend_from_slice(&58i32.to_be_bytes()); // batchLength: 49 + 9
        expected.extend_from_slice(&(-1i32).to_be_bytes()); // partitionLeaderEpoch
        expected.push(2); // magic
        expected.extend_from_slice(&[0; 4]); // crc, filled below
        expected.extend_from_slice(&0i16.to_be_bytes()); // attributes
        expected.extend_from_slice(&0i32.to_be_bytes()); // lastOffsetDelta
        expected.extend_from_slice(&timestamp.to_be_bytes()); // baseTimestamp
        expected.extend_from_slice(&timestamp.to_be_bytes()); // maxTimestamp
        expected.extend_from_slice(&(-1i64).to_be_bytes()); // producerId
        expected.extend_from_slice(&(-1i16).to_be_bytes()); // producerEpoch
        expected.extend_from_slice(&(-1i32).to_be_bytes()); // baseSequence
        expected.extend_from_slice(&1i32.to_be_bytes()); // recordsCount
                                                         // length 8 (zig-zag 0x10), attributes, timestampDelta 0, offsetDelta 0,
                                                         // keyLength 1 (0x02), "k", valueLength 1, "v", headersCount 0.
        expected.extend_from_slice(&[0x10, 0x00, 0x00, 0x00, 0x02, b'k', 0x02, b'v', 0x00]);
        let crc = crc32c::crc32c(&expected[21..]);
        expected[17..21].copy_from_slice(&crc.to_be_bytes());

        let mut builder = BatchBuilder::new();
        builder.push(timestamp, Some(b"k"), Some(b"v"), &[]).unwrap();
        assert_eq!(builder.finish().unwrap(), expected);
    }

    #[test]
    fn null_key_and_null_value_are_length_minus_one() {
        let mut builder = BatchBuilder::new();
        builder.push(7, None, None, &[]).unwrap();
        builder.push(7, Some(b""), Some(b""), &[]).unwrap();
        let bytes = builder.finish().unwrap();
        // length 6, attributes, timestampDelta 0, offsetDelta 0, key -1 (0x01), value -1, no headers.
        assert_eq!(&bytes[61..68], &[0x0c, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00]);
        // An empty key or value is length 0, not null.
        assert_eq!(&bytes[68..], &[0x0c, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00]);
        let decoded = records(&bytes);
        assert_eq!((decoded[0].key, decoded[0].value), (None, None), "a tombstone with no key");
        assert_eq!((decoded[1].key, decoded[1].value), (Some(&b""[..]), Some(&b""[..])));
        assert_eq!((decoded[0].offset, decoded[1].offset), (0, 1));
    }

    #[test]
    fn headers_round_trip_in_order_with_null_values_and_repeated_keys() {
        let headers = [
            Header { key: "trace", value: Some(b"42") },
            Header { key: "b", value: None },
            Header { key: "trace", value: Some(b"") },
            Header { key: "", value: Some(b"empty key") },
        ];
        let mut builder = BatchBuilder::new();
        builder.push(1, None, Some(b"v"), &headers).unwrap();
        builder.push(2, None, Some(b"w"), &[]).unwrap();
        let bytes = builder.finish().unwrap();
        // The header with a null value: key length 1, "b", value length -1.
        assert!(bytes.windows(3).any(|w| w == [0x02, b'b', 0x01]));
        let decoded = records(&bytes);
        assert_eq!(decoded[0].headers.len(), 4);
        assert_eq!(decoded[0].headers.collect::<Result<Vec<_>, _>>().unwrap(), headers);
        assert!(decoded[1].headers.is_empty());
        assert_eq!(decoded[1].headers.count(), 0);
    }

    #[test]
    fn earlier_timestamps_are_negative_deltas() {
        let mut builder = BatchBuilder::new();
        for timestamp in [1_000, 900, 1_100, -5] {
            builder.push(timestamp, None, Some(b"v"), &[]).unwrap();
        }
        let bytes = builder.finish().unwrap();
        let header = BatchHeader::parse(&bytes).unwrap();
        assert_eq!((header.base_timestamp, header.max_timestamp), (1_000, 1_100));
        // Second record: length, attributes 0, then timestampDelta -100,
        // zig-zag 199 = 0xc7 0x01.
        let second = 61 + 1 + bytes[61] as usize / 2;
        assert_eq!(&bytes[second + 1..second + 4], &[0x00, 0xc7, 0x01]);
        let timestamps: Vec<_> = records(&bytes).iter().map(|r| r.timestamp).collect();
        assert_eq!(timestamps, [1_000, 900, 1_100, -5]);
    }

    #[test]
    fn log_append_time_sets_attribute_bit_three() {
        let mut builder = BatchBuilder::new();
        builder.set_timestamp_type(TimestampType::LogAppendTime);
        builder.push(10, None, Some(b"a"), &[]).unwrap();
        builder.push(30, None, Some(b"b"), &[]).unwrap();
        builder.push(20, None, Some(b"c"), &[]).unwrap();
        let bytes = builder.finish().unwrap();
        assert_eq!(be_i16(&bytes[21..23]), 0x0008);
        let header = BatchHeader::parse(&bytes).unwrap();
        assert_eq!(header.timestamp_type(), TimestampType::LogAppendTime);
        let timestamps: Vec<_> = records(&bytes).iter().map(|r| r.timestamp).collect();
        assert_eq!(timestamps, [30, 30, 30]);
    }

    #[test]
    fn finishing_an_empty_builder_is_an_error() {
        let builder = BatchBuilder::new();
        assert!(builder.is_empty());
        assert_eq!(builder.size_bytes(), 61);
        assert_eq!(builder.finish(), Err(BatchError::Empty));
        assert_eq!(BatchBuilder::default().finish(), Err(BatchError::Empty));
    }

    #[test]
    fn too_large_leaves_the_builder_unchanged_and_usable() {
        let mut builder = BatchBuilder::with_bytes_max(61 + 20);
        // A 7-byte body and its 1-byte length: 69 bytes so far.
        builder.push(5, None, Some(b"v"), &[]).unwrap();
        let before = builder.clone();
        // 1 + 1 + 1 + 1 + 1 + 20 + 1 = 26 body bytes and a 1-byte length.
        assert_eq!(builder.push(5, None, Some(&[7; 20]), &[]), Err(BatchError::TooLarge { bytes: 69 + 27, limit: 81 }));
        assert_eq!((builder.record_count(), builder.size_bytes()), (1, 69));
        assert_eq!(builder.buf, before.buf);
        builder.push(5, None, Some(b"w"), &[]).unwrap();
        let bytes = builder.finish().unwrap();
        let values: Vec<_> = records(&bytes).iter().map(|r| (r.offset, r.value)).collect();
        assert_eq!(values, [(0, Some(&b"v"[..])), (1, Some(&b"w"[..]))]);
    }

    #[test]
    fn a_batch_may_fill_its_limit_exactly() {
        let mut builder = BatchBuilder::with_bytes_max(61 + 8);
        builder.push(5, None, Some(b"v"), &[]).unwrap();
        assert_eq!(builder.size_bytes(), 69);
        assert!(matches!(builder.push(5, None, None, &[]), Err(BatchError::TooLarge { .. })));
        assert_eq!(builder.finish().unwrap().len(), 69);
    }

    #[test]
    fn record_size_bytes_predicts_each_push() {
        let mut builder = BatchBuilder::new();
        let big = vec![1u8; 300]; // a two-byte length varint
        let headers = [Header { key: "h", value: None }];
        // (timestamp, key, value, headers)
        type Push<'a> = (i64, Option<&'a [u8]>, Option<&'a [u8]>, &'a [Header<'a>]);
        let pushes: [Push<'_>; 4] = [
            (1_000, Some(b"key"), Some(&big), &[]),
            (1_000 - 100_000, None, None, &headers),
            (i64::from(i32::MAX) * 4, Some(&big), Some(b"x"), &headers),
            (0, None, Some(b""), &[]),
        ];
        for (timestamp, key, value, headers) in pushes {
            let size = builder.record_size_bytes(timestamp, key, value, headers).unwrap();
            let before = builder.size_bytes();
            builder.push(timestamp, key, value, headers).unwrap();
            assert_eq!(builder.size_bytes(), before + size);
        }
        let size = builder.size_bytes();
        assert_eq!(builder.finish().unwrap().len(), size);
    }

    #[test]
    fn a_timestamp_delta_beyond_i64_is_refused_without_changing_the_builder() {
        let mut builder = BatchBuilder::new();
        builder.push(i64::MIN, None, Some(b"a"), &[]).unwrap();
        let size = builder.size_bytes();
        assert_eq!(
            builder.push(i64::MAX, None, Some(b"b"), &[]),
            Err(BatchError::FieldOverflow { field: "timestamp delta" })
        );
        assert_eq!((builder.record_count(), builder.size_bytes()), (1, size));
        builder.push(i64::MIN + 1, None, Some(b"c"), &[]).unwrap();
        let timestamps: Vec<_> = records(&builder.finish().unwrap()).iter().map(|r| r.timestamp).collect();
        assert_eq!(timestamps, [i64::MIN, i64::MIN + 1]);
    }

    #[test]
    #[should_panic(expected = "outside the format")]
    fn a_limit_smaller_than_a_header_panics() {
        let _ = BatchBuilder::with_bytes_max(60);
    }

    #[test]
    fn a_sealed_builder_refuses_records_and_finishes_to_the_same_bytes() {
        let fill = |builder: &mut BatchBuilder| {
            builder.push(5, Some(b"k".as_slice()), Some(b"v".as_slice()), &[]).unwrap();
            builder.push(6, None, Some(b"w".as_slice()), &[]).unwrap();
        };
        let mut plain = BatchBuilder::new();
        fill(&mut plain);
        let mut sealed = BatchBuilder::new();
        fill(&mut sealed);
        sealed.seal().unwrap();
        sealed.seal().unwrap();
        assert_eq!(sealed.push(7, None, Some(b"late".as_slice()), &[]), Err(BatchError::Sealed));
        assert_eq!(sealed.record_count(), 2);
        let built = sealed.clone().build().unwrap();
        assert_eq!(built.as_bytes(), plain.clone().finish().unwrap().as_slice());
        assert_eq!(sealed.finish().unwrap(), plain.finish().unwrap());
        assert_eq!(BatchBuilder::new().seal(), Err(BatchError::Empty));
    }
}
