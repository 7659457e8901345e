//! Criterion micro-benchmarks of the segment store's hot paths: encoding a
//! batch, validating and decoding one, appending to a log and reading it
//! back. Whole-workload comparisons with other systems live in ghyll-bench.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ghyll::log::{Batch, BatchBuilder, Log, LogConfig};

const RECORDS_PER_BATCH: usize = 100;
const VALUE_BYTES: usize = 100;

fn build_batch(timestamp: i64) -> Vec<u8> {
    let value = [0x5au8; VALUE_BYTES];
    let mut builder = BatchBuilder::new();
    for i in 0..RECORDS_PER_BATCH {
        builder.push(timestamp + i as i64, None, Some(&value), &[]).expect("fits");
    }
    builder.finish().expect("non-empty")
}

fn codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Elements(RECORDS_PER_BATCH as u64));
    group.bench_function("encode_100x100B", |b| b.iter(|| black_box(build_batch(black_box(1_700_000_000_000)))));
    let batch = build_batch(1_700_000_000_000);
    group.bench_function("validate_and_decode_100x100B", |b| {
        b.iter(|| {
            let batch = Batch::new(black_box(&batch)).expect("valid");
            let mut total = 0usize;
            for record in batch.records().expect("uncompressed") {
                total += record.expect("valid").value.map_or(0, <[u8]>::len);
            }
            black_box(total)
        })
    });
    group.finish();
}

fn log(c: &mut Criterion) {
    let mut group = c.benchmark_group("log");
    // Each iteration appends 100 batches to a fresh log.
    group.throughput(Throughput::Elements(100 * RECORDS_PER_BATCH as u64));
    let batch = build_batch(1_700_000_000_000);
    group.bench_function("append_100_batches_of_100x100B", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().expect("temp dir");
                let log = Log::open(dir.path().join("bench-0"), LogConfig::default()).expect("open");
                (dir, log)
            },
            |(dir, log)| {
                for _ in 0..100 {
                    log.append(black_box(&batch)).expect("append");
                }
                (dir, log)
            },
            BatchSize::PerIteration,
        )
    });

    let dir = tempfile::tempdir().expect("temp dir");
    let log = Log::open(dir.path().join("read-0"), LogConfig::default()).expect("open");
    for _ in 0..1_000 {
        log.append(&batch).expect("append");
    }
    group.throughput(Throughput::Elements(log.log_end_offset()));
    group.bench_function("read_all_1MiB_chunks", |b| {
        b.iter(|| {
            let mut offset = 0;
            let mut records = 0u64;
            while offset < log.log_end_offset() {
                let read = log.read(offset, 1 << 20).expect("read");
                for batch in read.batches() {
                    records += batch.expect("valid").records().expect("uncompressed").count() as u64;
                }
                offset = read.next_offset();
            }
            black_box(records)
        })
    });
    group.finish();
}

criterion_group!(benches, codec, log);
criterion_main!(benches);
