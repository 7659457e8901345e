//! [`OffsetRecord`]: one committed offset as Kafka stores it in
//! `__consumer_offsets`.
//!
//! Key (version 1; version 0 has the same layout), big-endian:
//! `version: i16 = 1`, `group: i16 length + UTF-8`, `topic: i16 length +
//! UTF-8`, `partition: i32`.
//!
//! Value (version 3), big-endian: `version: i16 = 3`, `offset: i64`,
//! `leader_epoch: i32 = -1`, `metadata: i16 length + UTF-8`,
//! `commit_timestamp: i64`. Versions 0..=2 are read too. A missing value is
//! a tombstone: the offset was deleted. Key version 2 is Kafka's group
//! metadata record, which ghyll neither writes nor needs.

use crate::error::CodecError;
use crate::types::{OffsetAndMetadata, TopicPartition};

/// The key version ghyll writes.
const KEY_VERSION: i16 = 1;
/// The value version ghyll writes.
const VALUE_VERSION: i16 = 3;
/// The leader epoch ghyll writes: unknown.
const NO_LEADER_EPOCH: i32 = -1;

/// One record of `__consumer_offsets`: a group's committed position for a
/// partition, or a tombstone (`value: None`) deleting it.
///
/// # Examples
/// ```
/// use ghyll_group::{OffsetAndMetadata, OffsetRecord, TopicPartition};
/// let record = OffsetRecord {
///     group: "billing".to_owned(),
///     partition: TopicPartition::new("orders", 3),
///     value: Some(OffsetAndMetadata { offset: 42, metadata: String::new(), commit_timestamp_ms: 1_000 }),
/// };
/// let key = record.encode_key();
/// let value = record.encode_value();
/// assert_eq!(OffsetRecord::decode(&key, value.as_deref())?, Some(record));
/// # Ok::<(), ghyll_group::CodecError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetRecord {
    /// The group id.
    pub group: String,
    /// The partition.
    pub partition: TopicPartition,
    /// The committed position, or `None` for a tombstone.
    pub value: Option<OffsetAndMetadata>,
}

impl OffsetRecord {
    /// The record's key in Kafka's offset commit key format, version 1.
    ///
    /// # Panics
    /// If the group or topic is longer than 32767 bytes or the partition
    /// above `i32::MAX`: the format cannot hold them. Records from the
    /// coordinator never are (it checks commits before making records).
    #[must_use]
    pub fn encode_key(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(10 + self.group.len() + self.partition.topic.len());
        out.extend_from_slice(&KEY_VERSION.to_be_bytes());
        put_string(&mut out, &self.group, "group");
        put_string(&mut out, &self.partition.topic, "topic");
        let partition = i32::try_from(self.partition.partition).expect("partition fits i32");
        out.extend_from_slice(&partition.to_be_bytes());
        out
    }

    /// The record's value in Kafka's offset commit value format, version 3,
    /// or `None` for a tombstone.
    ///
    /// # Panics
    /// If the metadata is longer than 32767 bytes or the offset or commit
    /// time above `i64::MAX` (see [`OffsetRecord::encode_key`]).
    #[must_use]
    pub fn encode_value(&self) -> Option<Vec<u8>> {
        let value = self.value.as_ref()?;
        let mut out = Vec::with_capacity(24 + value.metadata.len());
        out.extend_from_slice(&VALUE_VERSION.to_be_bytes());
        out.extend_from_slice(&i64::try_from(value.offset).expect("offset fits i64").to_be_bytes());
        out.extend_from_slice(&NO_LEADER_EPOCH.to_be_bytes());
        put_string(&mut out, &value.metadata, "metadata");
        let timestamp = i64::try_from(value.commit_timestamp_ms).expect("commit timestamp fits i64");
        out.extend_from_slice(&timestamp.to_be_bytes());
        Some(out)
    }

    /// Reads a record of `__consumer_offsets`; `value: None` is a
    /// tombstone.
    ///
    /// Returns `Ok(None)` for keys of other record kinds (key version 2 and
    /// above: group metadata and newer protocols), which a reader skips.
    ///
    /// # Errors
    /// A [`CodecError`] naming the field for truncated bytes, a negative
    /// key version, an unknown value version, a null or non-UTF-8 string,
    /// a negative partition, offset or timestamp, or trailing bytes. Never
    /// panics, whatever the bytes.
    pub fn decode(key: &[u8], value: Option<&[u8]>) -> Result<Option<OffsetRecord>, CodecError> {
        let mut reader = Reader { bytes: key };
        let version = reader.i16("key version")?;
        match version {
            0 | 1 => {}
            v if v < 0 => return Err(CodecError::InvalidKeyVersion { version }),
            _ => return Ok(None),
        }
        let group = reader.string("group")?;
        let topic = reader.string("topic")?;
        let partition = reader.i32("partition")?;
        reader.finish("key")?;
        let partition = u32::try_from(partition)
            .map_err(|_| CodecError::Negative { field: "partition", value: i64::from(partition) })?;
        let value = match value {
            None => None,
            Some(bytes) => Some(decode_value(bytes)?),
        };
        Ok(Some(OffsetRecord { group, partition: TopicPartition { topic, partition }, value }))
    }
}

fn decode_value(bytes: &[u8]) -> Result<OffsetAndMetadata, CodecError> {
    let mut reader = Reader { bytes };
    let version = reader.i16("value version")?;
    if !(0..=3).contains(&version) {
        return Err(CodecError::UnsupportedValueVersion { version });
    }
    let offset = reader.i64("offset")?;
    if version >= 3 {
        reader.i32("leader epoch")?;
    }
    let metadata = reader.string("metadata")?;
    let timestamp = reader.i64("commit timestamp")?;
    if version == 1 {
        reader.i64("expire timestamp")?;
    }
    reader.finish("value")?;
    let offset = u64::try_from(offset).map_err(|_| CodecError::Negative { field: "offset", value: offset })?;
    let commit_timestamp_ms =
        u64::try_from(timestamp).map_err(|_| CodecError::Negative { field: "commit timestamp", value: timestamp })?;
    Ok(OffsetAndMetadata { offset, metadata, commit_timestamp_ms })
}

fn put_string(out: &mut Vec<u8>, s: &str, field: &str) {
    let len = i16::try_from(s.len()).unwrap_or_else(|_| panic!("{field} longer than 32767 bytes"));
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// A cursor over untrusted bytes: every read checks the length first.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, field: &'static str, needed: usize) -> Result<&'a [u8], CodecError> {
        if self.bytes.len() < needed {
            return Err(CodecError::Truncated { field, needed, available: self.bytes.len() });
        }
        let (head, tail) = self.bytes.split_at(needed);
        self.bytes = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], CodecError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(field, N)?);
        Ok(out)
    }

    fn i16(&mut self, field: &'static str) -> Result<i16, CodecError> {
        self.array(field).map(i16::from_be_bytes)
    }

    fn i32(&mut self, field: &'static str) -> Result<i32, CodecError> {
        self.array(field).map(i32::from_be_bytes)
    }

    fn i64(&mut self, field: &'static str) -> Result<i64, CodecError> {
        self.array(field).map(i64::from_be_bytes)
    }

    fn string(&mut self, field: &'static str) -> Result<String, CodecError> {
        let length = self.i16(field)?;
        let len = usize::try_from(length).map_err(|_| CodecError::InvalidLength { field, length })?;
        let bytes = self.take(field, len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| CodecError::InvalidUtf8 { field })
    }

    fn finish(&self, what: &'static str) -> Result<(), CodecError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(CodecError::TrailingBytes { what, count: self.bytes.len() })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn record() -> OffsetRecord {
        OffsetRecord {
            group: "g".to_owned(),
            partition: TopicPartition::new("t", 3),
            value: Some(OffsetAndMetadata { offset: 42, metadata: "m".to_owned(), commit_timestamp_ms: 1000 }),
        }
    }

    /// The exact bytes Kafka writes for group "g", topic "t", partition 3,
    /// offset 42, metadata "m", commit time 1000.
    #[test]
    fn byte_layout_is_kafkas() {
        let record = record();
        #[rustfmt::skip]
        let key = [
            0x00, 0x01,             // key version 1
            0x00, 0x01, b'g',       // group
            0x00, 0x01, b't',       // topic
            0x00, 0x00, 0x00, 0x03, // partition
        ];
        #[rustfmt::skip]
        let value = [
            0x00, 0x03,                                     // value version 3
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, // offset 42
            0xff, 0xff, 0xff, 0xff,                         // leader epoch -1
            0x00, 0x01, b'm',                               // metadata
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xe8, // commit timestamp 1000
        ];
        assert_eq!(record.encode_key(), key);
        assert_eq!(record.encode_value().unwrap(), value);
        assert_eq!(OffsetRecord::decode(&key, Some(&value)).unwrap(), Some(record.clone()));
        let tombstone = OffsetRecord { value: None, ..record };
        assert_eq!(tombstone.encode_value(), None);
        assert_eq!(OffsetRecord::decode(&key, None).unwrap(), Some(tombstone));
    }

    #[test]
    fn older_value_versions_decode() {
        let key = record().encode_key();
        // v0 and v2: offset, metadata, commit timestamp.
        let mut v2 = vec![0, 2, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0];
        v2.extend_from_slice(&5i64.to_be_bytes());
        let mut v0 = v2.clone();
        v0[1] = 0;
        // v1 adds an expire timestamp.
        let mut v1 = v2.clone();
        v1[1] = 1;
        v1.extend_from_slice(&9i64.to_be_bytes());
        for value in [v0, v1, v2] {
            let decoded = OffsetRecord::decode(&key, Some(&value)).unwrap().unwrap().value.unwrap();
            assert_eq!(decoded, OffsetAndMetadata { offset: 7, metadata: String::new(), commit_timestamp_ms: 5 });
        }
    }

    #[test]
    fn other_key_versions_are_skipped() {
        // Kafka's group metadata key: version 2, group.
        assert_eq!(OffsetRecord::decode(&[0, 2, 0, 1, b'g'], Some(&[1, 2, 3])).unwrap(), None);
        assert_eq!(OffsetRecord::decode(&[0, 2], None).unwrap(), None);
    }

    #[test]
    fn bad_bytes_are_named_errors() {
        let key = record().encode_key();
        let value = record().encode_value().unwrap();
        assert!(matches!(OffsetRecord::decode(&[], None), Err(CodecError::Truncated { field: "key version", .. })));
        assert!(matches!(
            OffsetRecord::decode(&[0xff, 0xff], None),
            Err(CodecError::InvalidKeyVersion { version: -1 })
        ));
        assert!(matches!(
            OffsetRecord::decode(&key[..key.len() - 1], None),
            Err(CodecError::Truncated { field: "partition", needed: 4, available: 3 })
        ));
        let mut long = key.clone();
        long.push(0);
        assert!(matches!(OffsetRecord::decode(&long, None), Err(CodecError::TrailingBytes { what: "key", count: 1 })));
        assert!(matches!(
            OffsetRecord::decode(&key, Some(&value[..5])),
            Err(CodecError::Truncated { field: "offset", .. })
        ));
        let mut v9 = value.clone();
        v9[1] = 9;
        assert!(matches!(
            OffsetRecord::decode(&key, Some(&v9)),
            Err(CodecError::UnsupportedValueVersion { version: 9 })
        ));
        let mut negative = value.clone();
        negative[2] = 0x80;
        assert!(matches!(
            OffsetRecord::decode(&key, Some(&negative)),
            Err(CodecError::Negative { field: "offset", .. })
        ));
        let null_group = [0, 1, 0xff, 0xff];
        assert!(matches!(
            OffsetRecord::decode(&null_group, None),
            Err(CodecError::InvalidLength { field: "group", length: -1 })
        ));
        let bad_utf8 = [0, 1, 0, 1, 0xff, 0, 0, 0, 0, 0, 0];
        assert!(matches!(OffsetRecord::decode(&bad_utf8, None), Err(CodecError::InvalidUtf8 { field: "group" })));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Random bytes never panic the decoder, and every record decoded
        /// from them re-encodes to a record that decodes the same.
        #[test]
        fn decode_never_panics(key in proptest::collection::vec(any::<u8>(), 0..40),
                               value in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40))) {
            if let Ok(Some(record)) = OffsetRecord::decode(&key, value.as_deref()) {
                let again = OffsetRecord::decode(&record.encode_key(), record.encode_value().as_deref()).unwrap();
                prop_assert_eq!(again, Some(record));
            }
        }

        /// Valid-looking prefixes: a real record cut or flipped anywhere.
        #[test]
        fn mangled_records_never_panic(cut in 0usize..40, flip in 0usize..40, bit in 0u8..8) {
            let mut key = record().encode_key();
            let mut value = record().encode_value().unwrap();
            if flip < key.len() { key[flip] ^= 1 << bit } else if flip - key.len() < value.len() { value[flip - key.len()] ^= 1 << bit }
            let _ = OffsetRecord::decode(&key[..cut.min(key.len())], Some(&value));
            let _ = OffsetRecord::decode(&key, Some(&value[..cut.min(value.len())]));
        }

        #[test]
        fn round_trip(group in "[a-z.]{1,20}", topic in "[a-z_-]{1,20}", partition in 0u32..=i32::MAX as u32,
                      offset in 0u64..=i64::MAX as u64, metadata in ".{0,20}", ts in 0u64..=i64::MAX as u64, tombstone: bool) {
            let record = OffsetRecord {
                group,
                partition: TopicPartition::new(topic, partition),
                value: (!tombstone).then_some(OffsetAndMetadata { offset, metadata, commit_timestamp_ms: ts }),
            };
            let decoded = OffsetRecord::decode(&record.encode_key(), record.encode_value().as_deref()).unwrap();
            prop_assert_eq!(decoded, Some(record));
        }
    }
}
