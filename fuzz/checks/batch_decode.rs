//! Body of the `batch_decode` fuzz target, shared word for word with the
//! regression test that replays kept inputs
//! (crates/ghyll-log/tests/fuzz_regressions.rs includes this file).
//!
//! Feeds the bytes, once as given and once with every batch's CRC
//! recomputed ([`reseal_batches`]), to `BatchHeader::parse`, `Batch::new`
//! and `Batches`,
//! iterates every record and header it can, and checks what the decoder
//! promises: no panic, batches tile the input, records stay inside their
//! batch's offsets, and a batch that decodes cleanly re-encodes (through
//! `BatchBuilder`) to records with the same keys, values, headers and
//! timestamps.

#[path = "reseal.rs"]
mod reseal;
pub use reseal::reseal_batches;

use ghyll_log::{Batch, BatchBuilder, BatchHeader, Batches, Header, Record, TimestampType};

/// Decodes `data` every way the codec offers.
///
/// # Panics
/// When the decoder panics or breaks one of the promises above.
pub fn run(data: &[u8]) {
    decode(data);
    let mut resealed = data.to_vec();
    reseal_batches(&mut resealed);
    if resealed != data {
        decode(&resealed);
    }
}

fn decode(data: &[u8]) {
    let header = BatchHeader::parse(data);
    if let Ok(batch) = Batch::new(data) {
        assert_eq!(Ok(*batch.header()), header, "Batch::new and BatchHeader::parse disagree");
        visit(batch);
    }
    let mut consumed = 0usize;
    for batch in Batches::new(data) {
        let Ok(batch) = batch else { break };
        assert_eq!(batch.as_bytes(), &data[consumed..consumed + batch.len()], "batches must tile the input");
        consumed += batch.len();
        visit(batch);
    }
    assert!(consumed <= data.len());
}

fn visit(batch: Batch<'_>) {
    let header = *batch.header();
    assert_eq!(batch.len(), header.total_bytes());
    assert!(batch.base_offset() <= batch.last_offset());
    let Ok(records) = batch.records() else { return };
    let mut decoded: Vec<Record<'_>> = Vec::new();
    let mut clean = true;
    for record in records {
        let Ok(record) = record else {
            clean = false;
            break;
        };
        assert!(batch.base_offset() <= record.offset && record.offset <= batch.last_offset());
        if header.timestamp_type() == TimestampType::LogAppendTime {
            assert_eq!(record.timestamp, header.max_timestamp);
        }
        for header in record.headers {
            if header.is_err() {
                clean = false;
                break;
            }
        }
        decoded.push(record);
    }
    assert!(decoded.len() <= header.records_count as usize);
    if clean {
        assert_eq!(decoded.len(), header.records_count as usize);
        reencode(&decoded);
    }
}

/// Builds a new batch from decoded records and checks it decodes to the same
/// contents (offsets are renumbered from 0, and the builder's base timestamp
/// is the first record's, so only keys, values, headers and timestamps are
/// compared).
fn reencode(decoded: &[Record<'_>]) {
    if decoded.is_empty() {
        return;
    }
    let mut builder = BatchBuilder::with_bytes_max(i32::MAX as usize);
    for record in decoded {
        let headers: Vec<Header<'_>> = record.headers.map(|header| header.expect("checked above")).collect();
        if builder.push(record.timestamp, record.key, record.value, &headers).is_err() {
            // A timestamp spread beyond i64 can be decoded but not rebuilt
            // from the first record's timestamp.
            return;
        }
    }
    let bytes = builder.finish().expect("at least one record");
    let batch = Batch::new(&bytes).expect("a built batch is valid");
    let again: Vec<Record<'_>> =
        batch.records().expect("uncompressed").map(|record| record.expect("a built record is valid")).collect();
    assert_eq!(again.len(), decoded.len());
    for (i, (before, after)) in decoded.iter().zip(&again).enumerate() {
        assert_eq!(after.offset, i as u64);
        assert_eq!((before.timestamp, before.key, before.value), (after.timestamp, after.key, after.value));
        assert!(Iterator::eq(before.headers, after.headers), "headers of record {i} changed");
    }
}
