//! Proves ghyll's RecordBatch v2 codec agrees with the independent `kafka-protocol` crate, by round trips and byte comparison.
//!
//! Each side decodes the other's batches to the same records, and the same
//! records encode to the same bytes; fixed examples pin the edge cases and
//! proptest drives random records through both directions.
//!
//! Where the two encoders legitimately differ the tests say so and compare
//! everything else:
//!
//! - kafka-protocol takes the smallest timestamp as `baseTimestamp`; ghyll
//!   (like Kafka's Java producer) takes the first record's. When the first
//!   record is the earliest the bytes are identical; otherwise the header's
//!   `baseTimestamp`, the CRC and the records' timestamp deltas differ while
//!   every decoded timestamp agrees.
//! - kafka-protocol's encoder never sets the LogAppendTime bit, and its
//!   decoder does not substitute `maxTimestamp` for LogAppendTime records, so
//!   that case is checked in one direction only (ghyll → kafka-protocol) and
//!   on the attribute bit, not on the reported timestamps.
//! - kafka-protocol holds headers in an `IndexMap`, so a repeated header key
//!   (legal in Kafka) collapses there; random headers use distinct keys.
//! - ghyll's builder leaves `baseOffset` 0 and `partitionLeaderEpoch` -1 for
//!   the log and the leader to fill in; the tests patch both in place (they
//!   are outside the CRC) before comparing with kafka-protocol's bytes.

use ghyll_log::{Batch, BatchBuilder, BatchHeader, Batches, Header, TimestampType};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records as kp;
use proptest::prelude::*;

/// One record as plain owned data, comparable across both codecs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rec {
    offset: i64,
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
}

/// The batch-level fields kafka-protocol carries on each of its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BatchFields {
    base_offset: i64,
    partition_leader_epoch: i32,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    transactional: bool,
    control: bool,
    delete_horizon: bool,
}

impl BatchFields {
    /// What ghyll's builder writes: no offset yet, no leader, no producer.
    const UNASSIGNED: BatchFields = BatchFields {
        base_offset: 0,
        partition_leader_epoch: -1,
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
        transactional: false,
        control: false,
        delete_horizon: false,
    };
}

fn ghyll_build(records: &[Rec], timestamp_type: TimestampType) -> Vec<u8> {
    let mut builder = BatchBuilder::new();
    builder.set_timestamp_type(timestamp_type);
    for record in records {
        let headers: Vec<Header<'_>> =
            record.headers.iter().map(|(key, value)| Header { key, value: value.as_deref() }).collect();
        builder.push(record.timestamp, record.key.as_deref(), record.value.as_deref(), &headers).unwrap();
    }
    builder.finish().unwrap()
}

/// Sets the two fields the log and the leader assign after the producer
/// sealed the batch, as they do: in place, without touching the CRC.
fn assign(bytes: &mut [u8], base_offset: i64, partition_leader_epoch: i32) {
    bytes[0..8].copy_from_slice(&base_offset.to_be_bytes());
    bytes[12..16].copy_from_slice(&partition_leader_epoch.to_be_bytes());
}

/// Decodes exactly one batch with ghyll, checking headers as well.
fn ghyll_decode(bytes: &[u8]) -> (BatchHeader, Vec<Rec>) {
    let batches: Vec<Batch<'_>> = Batches::new(bytes).collect::<Result<_, _>>().unwrap();
    assert_eq!(batches.len(), 1, "expected one batch");
    let batch = batches[0];
    let records = batch
        .records()
        .unwrap()
        .map(|record| {
            let record = record.unwrap();
            let headers = record
                .headers
                .map(|header| header.map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec))))
                .collect::<Result<_, _>>()
                .unwrap();
            Rec {
                offset: i64::try_from(record.offset).unwrap(),
                timestamp: record.timestamp,
                key: record.key.map(<[u8]>::to_vec),
                value: record.value.map(<[u8]>::to_vec),
                headers,
            }
        })
        .collect();
    (*batch.header(), records)
}

fn kp_records(records: &[Rec], fields: BatchFields) -> Vec<kp::Record> {
    records
        .iter()
        .enumerate()
        .map(|(i, record)| {
            let headers: IndexMap<StrBytes, Option<_>> = record
                .headers
                .iter()
                .map(|(key, value)| (StrBytes::from(key.clone()), value.clone().map(Into::into)))
                .collect();
            kp::Record {
                transactional: fields.transactional,
                control: fields.control,
                delete_horizon: fields.delete_horizon,
                partition_leader_epoch: fields.partition_leader_epoch,
                producer_id: fields.producer_id,
                producer_epoch: fields.producer_epoch,
                timestamp_type: kp::TimestampType::Creation,
                offset: fields.base_offset + i as i64,
                // kafka-protocol keeps records in one batch only while
                // offset - sequence stays constant; the batch's baseSequence
                // is then the first record's sequence.
                sequence: fields.base_sequence.wrapping_add(i as i32),
                timestamp: record.timestamp,
                key: record.key.clone().map(Into::into),
                value: record.value.clone().map(Into::into),
                headers,
            }
        })
        .collect()
}

fn kp_encode(records: &[Rec], fields: BatchFields) -> Vec<u8> {
    let mut bytes = Vec::new();
    let options = kp::RecordEncodeOptions { version: 2, compression: kp::Compression::None };
    kp::RecordBatchEncoder::encode(&mut bytes, &kp_records(records, fields), &options).unwrap();
    bytes
}

/// Decodes exactly one batch with kafka-protocol.
fn kp_decode(bytes: &[u8]) -> (Vec<Rec>, Vec<kp::Record>) {
    let mut input = bytes;
    let sets = kp::RecordBatchDecoder::decode_all(&mut input).unwrap();
    assert_eq!(sets.len(), 1, "expected one batch");
    let set = sets.into_iter().next().unwrap();
    assert_eq!((set.version, set.compression), (2, kp::Compression::None));
    let recs = set
        .records
        .iter()
        .map(|record| Rec {
            offset: record.offset,
            timestamp: record.timestamp,
            key: record.key.as_ref().map(|key| key.to_vec()),
            value: record.value.as_ref().map(|value| value.to_vec()),
            headers: record
                .headers
                .iter()
                .map(|(key, value)| (key.as_str().to_owned(), value.as_ref().map(|v| v.to_vec())))
                .collect(),
        })
        .collect();
    (recs, set.records)
}

fn with_offsets(records: &[Rec], base_offset: i64) -> Vec<Rec> {
    records.iter().enumerate().map(|(i, record)| Rec { offset: base_offset + i as i64, ..record.clone() }).collect()
}

fn rec(timestamp: i64, key: Option<&[u8]>, value: Option<&[u8]>, headers: &[(&str, Option<&[u8]>)]) -> Rec {
    Rec {
        offset: 0,
        timestamp,
        key: key.map(<[u8]>::to_vec),
        value: value.map(<[u8]>::to_vec),
        headers: headers.iter().map(|(key, value)| (key.to_string(), value.map(<[u8]>::to_vec))).collect(),
    }
}

/// Edge cases in one batch: null key, tombstone, empty key and value, a
/// header with a null value, a non-ASCII header key, a 300-byte value (a
/// two-byte length varint) and timestamps that go back and forth.
fn edge_records() -> Vec<Rec> {
    let long = vec![0xa5; 300];
    with_offsets(
        &[
            rec(1_700_000_000_000, Some(b"user-1"), Some(b"signed up"), &[("trace", Some(b"42"))]),
            rec(1_700_000_000_500, None, Some(b"no key"), &[]),
            rec(1_700_000_000_100, Some(b"user-1"), None, &[("tombstone", None)]),
            rec(1_700_000_003_000, Some(b""), Some(b""), &[("", Some(b"")), ("clé", Some(b"\x00\xff"))]),
            rec(1_700_000_000_000, Some(&long), Some(&long), &[("a", None), ("b", Some(&long))]),
        ],
        0,
    )
}

#[test]
fn kafka_protocol_decodes_ghyll_batches_to_the_same_records() {
    let records = edge_records();
    let mut bytes = ghyll_build(&records, TimestampType::CreateTime);
    let (decoded, raw) = kp_decode(&bytes);
    assert_eq!(decoded, records);
    for record in &raw {
        assert_eq!(record.timestamp_type, kp::TimestampType::Creation);
        assert_eq!((record.producer_id, record.producer_epoch, record.partition_leader_epoch), (-1, -1, -1));
        assert!(!record.transactional && !record.control && !record.delete_horizon);
    }

    // After the log and the leader assign their fields the CRC still holds
    // for kafka-protocol, and offsets follow the new base offset.
    assign(&mut bytes, 1_000_000, 17);
    let (decoded, raw) = kp_decode(&bytes);
    assert_eq!(decoded, with_offsets(&records, 1_000_000));
    assert!(raw.iter().all(|record| record.partition_leader_epoch == 17));
}

#[test]
fn ghyll_decodes_kafka_protocol_batches_to_the_same_records() {
    let records = with_offsets(&edge_records(), 5_000);
    let fields = BatchFields {
        base_offset: 5_000,
        partition_leader_epoch: 9,
        producer_id: 123_456,
        producer_epoch: 3,
        base_sequence: 77,
        transactional: true,
        control: false,
        delete_horizon: false,
    };
    let bytes = kp_encode(&records, fields);
    let (header, decoded) = ghyll_decode(&bytes);
    assert_eq!(decoded, records);
    assert_eq!(header.base_offset, 5_000);
    assert_eq!(header.partition_leader_epoch, 9);
    assert_eq!((header.producer_id, header.producer_epoch, header.base_sequence), (123_456, 3, 77));
    assert!(header.is_transactional() && !header.is_control());
    assert_eq!(header.last_offset_delta, 4);
    assert_eq!(header.records_count, 5);
    assert_eq!(header.max_timestamp, 1_700_000_003_000);
}

#[test]
fn the_same_records_encode_to_identical_bytes() {
    // The first record is the earliest here, so both encoders choose the
    // same baseTimestamp.
    let records = edge_records();
    let ghyll = ghyll_build(&records, TimestampType::CreateTime);
    assert_eq!(ghyll, kp_encode(&records, BatchFields::UNASSIGNED));

    let mut assigned = ghyll.clone();
    assign(&mut assigned, 42, 7);
    let fields = BatchFields { base_offset: 42, partition_leader_epoch: 7, ..BatchFields::UNASSIGNED };
    assert_eq!(assigned, kp_encode(&with_offsets(&records, 42), fields));
}

#[test]
fn out_of_order_timestamps_differ_only_in_the_base_timestamp_and_what_follows_from_it() {
    let records = with_offsets(
        &[rec(1_000, None, Some(b"a"), &[]), rec(900, None, Some(b"b"), &[]), rec(1_100, None, None, &[])],
        0,
    );
    let ghyll = ghyll_build(&records, TimestampType::CreateTime);
    let theirs = kp_encode(&records, BatchFields::UNASSIGNED);
    let ours_header = BatchHeader::parse(&ghyll).unwrap();
    let their_header = BatchHeader::parse(&theirs).unwrap();
    assert_eq!(ours_header.base_timestamp, 1_000, "ghyll: the first record's timestamp");
    assert_eq!(their_header.base_timestamp, 900, "kafka-protocol: the smallest timestamp");
    assert_eq!(
        BatchHeader { base_timestamp: 0, crc: 0, ..ours_header },
        BatchHeader { base_timestamp: 0, crc: 0, ..their_header }
    );
    // Both decoders see the same timestamps in both batches.
    assert_eq!(ghyll_decode(&ghyll).1, records);
    assert_eq!(ghyll_decode(&theirs).1, records);
    assert_eq!(kp_decode(&ghyll).0, records);
    assert_eq!(kp_decode(&theirs).0, records);
}

#[test]
fn kafka_protocol_reads_the_log_append_time_bit_ghyll_writes() {
    let records = with_offsets(&[rec(10, None, Some(b"a"), &[]), rec(30, None, Some(b"b"), &[])], 0);
    let bytes = ghyll_build(&records, TimestampType::LogAppendTime);
    let (_, raw) = kp_decode(&bytes);
    assert!(raw.iter().all(|record| record.timestamp_type == kp::TimestampType::LogAppend));
    let (header, decoded) = ghyll_decode(&bytes);
    assert_eq!(header.timestamp_type(), TimestampType::LogAppendTime);
    assert!(decoded.iter().all(|record| record.timestamp == header.max_timestamp));
}

fn maybe_bytes(max_len: usize) -> impl Strategy<Value = Option<Vec<u8>>> {
    prop::option::of(prop::collection::vec(any::<u8>(), 0..max_len))
}

/// Headers with distinct keys (see the note on `IndexMap` above), any
/// printable Unicode in the keys.
fn headers() -> impl Strategy<Value = Vec<(String, Option<Vec<u8>>)>> {
    prop::collection::vec(("\\PC{0,6}", maybe_bytes(12)), 0..4).prop_map(|mut headers| {
        let mut seen = std::collections::HashSet::new();
        headers.retain(|(key, _)| seen.insert(key.clone()));
        headers
    })
}

/// 1..12 records whose timestamps are `first` plus a delta drawn from
/// `deltas` (the first record's delta is 0).
fn records_with(deltas: std::ops::Range<i64>) -> impl Strategy<Value = Vec<Rec>> {
    let first = -(1i64 << 45)..(1i64 << 45);
    let rest = prop::collection::vec((deltas, maybe_bytes(40), maybe_bytes(200), headers()), 0..11);
    (first, maybe_bytes(40), maybe_bytes(200), headers(), rest).prop_map(|(first, key, value, headers, rest)| {
        let mut records = vec![Rec { offset: 0, timestamp: first, key, value, headers }];
        for (i, (delta, key, value, headers)) in rest.into_iter().enumerate() {
            records.push(Rec { offset: i as i64 + 1, timestamp: first + delta, key, value, headers });
        }
        records
    })
}

fn any_records() -> impl Strategy<Value = Vec<Rec>> {
    records_with(-(1i64 << 40)..(1i64 << 40))
}

/// Records whose first timestamp is the smallest, where both encoders agree
/// on the base timestamp.
fn first_earliest_records() -> impl Strategy<Value = Vec<Rec>> {
    records_with(0..(1i64 << 40))
}

fn batch_fields() -> impl Strategy<Value = BatchFields> {
    (
        0..(1i64 << 62),
        any::<i32>(),
        -1..i64::MAX,
        any::<i16>(),
        any::<i32>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(
                base_offset,
                partition_leader_epoch,
                producer_id,
                producer_epoch,
                base_sequence,
                transactional,
                control,
                delete_horizon,
            )| BatchFields {
                base_offset,
                partition_leader_epoch,
                producer_id,
                producer_epoch,
                base_sequence,
                transactional,
                control,
                delete_horizon,
            },
        )
}

proptest! {
    #[test]
    fn ghyll_to_kafka_protocol(records in any_records(), base_offset in 0..(1i64 << 62), epoch in any::<i32>()) {
        let mut bytes = ghyll_build(&records, TimestampType::CreateTime);
        prop_assert_eq!(kp_decode(&bytes).0, records.clone());
        assign(&mut bytes, base_offset, epoch);
        let (decoded, raw) = kp_decode(&bytes);
        prop_assert_eq!(decoded, with_offsets(&records, base_offset));
        prop_assert!(raw.iter().all(|record| record.partition_leader_epoch == epoch));
    }

    #[test]
    fn kafka_protocol_to_ghyll(records in any_records(), fields in batch_fields()) {
        let records = with_offsets(&records, fields.base_offset);
        let bytes = kp_encode(&records, fields);
        let (header, decoded) = ghyll_decode(&bytes);
        prop_assert_eq!(&decoded, &records);
        let timestamps = records.iter().map(|record| record.timestamp);
        prop_assert_eq!(header.base_offset, fields.base_offset);
        prop_assert_eq!(header.partition_leader_epoch, fields.partition_leader_epoch);
        prop_assert_eq!(header.producer_id, fields.producer_id);
        prop_assert_eq!(header.producer_epoch, fields.producer_epoch);
        prop_assert_eq!(header.base_sequence, fields.base_sequence);
        prop_assert_eq!(header.is_transactional(), fields.transactional);
        prop_assert_eq!(header.is_control(), fields.control);
        prop_assert_eq!(header.has_delete_horizon(), fields.delete_horizon);
        prop_assert_eq!(header.timestamp_type(), TimestampType::CreateTime);
        prop_assert_eq!(header.records_count as usize, records.len());
        prop_assert_eq!(header.last_offset_delta as usize, records.len() - 1);
        prop_assert_eq!(header.base_timestamp, timestamps.clone().min().unwrap());
        prop_assert_eq!(header.max_timestamp, timestamps.max().unwrap());
    }

    #[test]
    fn identical_bytes_when_the_first_record_is_the_earliest(
        records in first_earliest_records(),
        base_offset in 0..(1i64 << 62),
        epoch in any::<i32>(),
    ) {
        let mut ghyll = ghyll_build(&records, TimestampType::CreateTime);
        prop_assert_eq!(&ghyll, &kp_encode(&records, BatchFields::UNASSIGNED));
        assign(&mut ghyll, base_offset, epoch);
        let fields = BatchFields { base_offset, partition_leader_epoch: epoch, ..BatchFields::UNASSIGNED };
        prop_assert_eq!(ghyll, kp_encode(&with_offsets(&records, base_offset), fields));
    }

    #[test]
    fn headers_agree_apart_from_the_base_timestamp_otherwise(records in any_records()) {
        let ghyll = ghyll_build(&records, TimestampType::CreateTime);
        let theirs = kp_encode(&records, BatchFields::UNASSIGNED);
        let ours_header = BatchHeader::parse(&ghyll).unwrap();
        let their_header = BatchHeader::parse(&theirs).unwrap();
        prop_assert_eq!(ours_header.base_timestamp, records[0].timestamp);
        prop_assert_eq!(their_header.base_timestamp, records.iter().map(|r| r.timestamp).min().unwrap());
        prop_assert_eq!(
            BatchHeader { base_timestamp: 0, crc: 0, batch_length: 0, ..ours_header },
            BatchHeader { base_timestamp: 0, crc: 0, batch_length: 0, ..their_header }
        );
        // Each side decodes the other's batch to the records both started from.
        prop_assert_eq!(ghyll_decode(&theirs).1, records.clone());
        prop_assert_eq!(kp_decode(&ghyll).0, records);
    }
}
