//! Proves log compaction's contract (`Log::clean`): the latest record per
//! key survives with its offset, reads cross the gaps, tombstones go after
//! `delete.retention.ms`, keyless appends are refused, the active segment
//! and compressed batches are untouched, the result survives reopening, and
//! a crash at every step of a clean leaves the log as it was before or as
//! it is after — each by driving a real log in a temporary directory and
//! comparing what it reads with `common::expected_after_clean`.

mod common;

use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::{expected_after_clean, keyed_batch, read_records, KeyedRecord};
use ghyll_log::{BatchBuilder, CleanupPolicy, Log, LogConfig, LogError};

const DELETE_RETENTION_MS: i64 = 1_000;

fn compacted() -> LogConfig {
    let mut config = LogConfig::default();
    config.segment_bytes = 400;
    config.index_interval_bytes = 64;
    config.cleanup_policy = CleanupPolicy::Compact;
    config.delete_retention_ms = DELETE_RETENTION_MS as u64;
    config
}

/// Appends `rounds` rounds of one record per key `k0..k{keys}`, one record
/// per batch, value `"{key}@{round}"`, timestamp `round * 10`.
fn fill(log: &Log, keys: usize, rounds: usize) {
    for round in 0..rounds {
        for key in 0..keys {
            let key = format!("k{key}");
            let value = format!("{key}@{round}");
            log.append(&keyed_batch(&[(&key, Some(&value), round as i64 * 10)])).unwrap();
        }
    }
}

fn active_base(log: &Log) -> u64 {
    *log.segment_base_offsets().last().unwrap()
}

fn value(record: &KeyedRecord) -> Option<&str> {
    record.value.as_deref().map(|value| std::str::from_utf8(value).unwrap())
}

#[test]
fn the_latest_value_per_key_stays_at_its_offset_and_reads_cross_the_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), compacted()).unwrap();
    fill(&log, 4, 12);
    let before = read_records(&log);
    let active = active_base(&log);
    let segments_before = log.segment_base_offsets().len();
    assert!(segments_before > 4, "{:?}", log.segment_base_offsets());

    let report = log.clean(10_000).unwrap();
    assert!(!report.abandoned);
    assert_eq!(report.segments_cleaned, segments_before - 1);
    assert_eq!(report.cleaned_end_offset, active);
    assert_eq!(report.keys, 4);
    assert!(report.bytes_after < report.bytes_before, "{report:?}");
    let after = read_records(&log);
    let expected = expected_after_clean(&before, active, 10_000, DELETE_RETENTION_MS);
    assert_eq!(after, expected);
    assert_eq!(report.records_removed as usize, before.len() - after.len());
    // Below the active segment one record per key, the latest.
    let cleaned: Vec<_> = after.iter().filter(|record| record.offset < active).collect();
    assert_eq!(cleaned.len(), 4);
    // The active segment is untouched.
    assert_eq!(active_base(&log), active);
    assert_eq!(
        after.iter().filter(|record| record.offset >= active).collect::<Vec<_>>(),
        before.iter().filter(|record| record.offset >= active).collect::<Vec<_>>()
    );
    // A read at any offset, a removed one too, starts with the first batch
    // that reaches it (possibly one the cleaner emptied but kept to end its
    // segment; the reader goes on from `next_offset`), and the first record
    // at or after the offset is the next surviving one.
    for offset in 0..log.log_end_offset() {
        let next = after.iter().find(|record| record.offset >= offset).unwrap().offset;
        let mut at = offset;
        let first = loop {
            let read = log.read(at, 1).unwrap();
            let batch = read.batches().next().unwrap().unwrap();
            assert!(batch.last_offset() >= at && read.next_offset() > at);
            let found = batch.records().unwrap().map(Result::unwrap).find(|record| record.offset >= offset);
            if let Some(record) = found {
                break record.offset;
            }
            assert_eq!(batch.records().unwrap().count(), 0, "only an emptied batch holds no record at {at}");
            at = read.next_offset();
        };
        assert_eq!(first, next, "read at {offset}");
    }
    // Appends carry on from the log end.
    let end = log.log_end_offset();
    assert_eq!(log.append(&keyed_batch(&[("k0", Some("new"), 0)])).unwrap().first_offset, end);
    // The new k0 sits in the active segment, whose keys supersede nothing
    // yet (as in Kafka); once it rolls, the next clean drops the old k0s.
    assert_eq!(log.clean(10_000).unwrap().records_removed, 0);
    fill(&log, 4, 6);
    let before = read_records(&log);
    let active = active_base(&log);
    let second = log.clean(10_000).unwrap();
    assert!(second.records_removed >= 4, "{second:?}");
    assert_eq!(read_records(&log), expected_after_clean(&before, active, 10_000, DELETE_RETENTION_MS));
}

#[test]
fn tombstones_are_kept_until_delete_retention_passes_then_removed() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), compacted()).unwrap();
    fill(&log, 3, 4);
    log.append(&keyed_batch(&[("k1", None, 5_000)])).unwrap();
    fill(&log, 1, 30); // Only k0 from here on: rolls past the tombstone.
    let active = active_base(&log);
    let tombstone = |log: &Log| read_records(log).into_iter().find(|record| record.key.as_deref() == Some(b"k1"));

    let report = log.clean(5_999).unwrap();
    assert_eq!(report.tombstones_removed, 0);
    let kept = tombstone(&log).expect("k1's tombstone stays within delete.retention.ms");
    assert_eq!((kept.value.as_deref(), kept.timestamp), (None, 5_000));

    let report = log.clean(6_000).unwrap();
    assert_eq!(report.tombstones_removed, 1, "{report:?}");
    assert_eq!(tombstone(&log), None, "gone once timestamp + delete.retention.ms <= now");
    assert_eq!(active_base(&log), active);
    // k2 still has its latest value.
    let k2: Vec<_> = read_records(&log).into_iter().filter(|record| record.key.as_deref() == Some(b"k2")).collect();
    assert_eq!(k2.iter().map(value).collect::<Vec<_>>(), [Some("k2@3")]);
}

#[test]
fn a_compacted_log_refuses_keyless_records() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path().join("c"), compacted()).unwrap();
    let mut builder = BatchBuilder::new();
    builder.push(0, Some(b"k"), Some(b"v"), &[]).unwrap();
    builder.push(0, None, Some(b"no key"), &[]).unwrap();
    let error = log.append(&builder.finish().unwrap()).unwrap_err();
    assert!(matches!(error, LogError::KeylessRecordInCompactedLog { record_index: 1 }), "{error}");
    assert!(error.to_string().contains("without a key"), "{error}");
    assert_eq!(log.log_end_offset(), 0);
    log.append(&keyed_batch(&[("k", Some("v"), 0)])).unwrap();

    // The same batch is fine where the policy only deletes.
    let mut builder = BatchBuilder::new();
    builder.push(0, None, Some(b"no key"), &[]).unwrap();
    let delete = Log::open(dir.path().join("d"), LogConfig::default()).unwrap();
    delete.append(&builder.finish().unwrap()).unwrap();
}

/// A batch marked gzip-compressed whose "compressed" bytes are the records
/// of an ordinary batch: valid (its CRC is right) but unreadable to ghyll.
fn compressed_batch(key: &str) -> Vec<u8> {
    let mut bytes = keyed_batch(&[(key, Some("hidden"), 0)]);
    bytes[22] |= 1;
    let crc = crc32c::crc32c(&bytes[21..]);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
    bytes
}

#[test]
fn compressed_batches_are_copied_intact_and_the_active_segment_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), compacted()).unwrap();
    let compressed = compressed_batch("k0");
    let at = log.append(&compressed).unwrap().first_offset;
    fill(&log, 2, 20);
    let active_bytes_before = fs::read(dir.path().join(format!("{:020}.log", active_base(&log)))).unwrap();
    log.clean(10_000).unwrap();
    let read = log.read(at, 1).unwrap();
    let batch = read.batches().next().unwrap().unwrap();
    assert_eq!(batch.base_offset(), at);
    assert_eq!(&batch.as_bytes()[8..], &compressed[8..], "byte for byte but the base offset");
    let active_bytes_after = fs::read(dir.path().join(format!("{:020}.log", active_base(&log)))).unwrap();
    assert_eq!(active_bytes_after, active_bytes_before);
}

#[test]
fn a_cleaned_log_reads_the_same_after_reopening_cleanly_or_not() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), compacted()).unwrap();
    fill(&log, 5, 10);
    log.clean(10_000).unwrap();
    let after = read_records(&log);
    let end = log.log_end_offset();
    log.close().unwrap();
    drop(log);
    let log = Log::open(dir.path(), compacted()).unwrap();
    assert!(log.recovery_report().clean_shutdown);
    assert_eq!((read_records(&log), log.log_end_offset()), (after.clone(), end));
    drop(log); // Unclean: recovery scans the active segment.
    let log = Log::open(dir.path(), compacted()).unwrap();
    assert!(!log.recovery_report().clean_shutdown);
    assert_eq!((read_records(&log), log.log_end_offset()), (after, end));
}

/// Removes every index file so that recovery scans every segment.
fn remove_indexes(dir: &Path) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if name.ends_with(".index") || name.ends_with(".timeindex") {
            fs::remove_file(path).unwrap();
        }
    }
}

#[test]
fn recovery_scans_accept_the_cleaners_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), compacted()).unwrap();
    fill(&log, 3, 15);
    log.clean(10_000).unwrap();
    let after = read_records(&log);
    let end = log.log_end_offset();
    drop(log);
    // With the checkpoint: gaps below the recovery point are accepted.
    remove_indexes(dir.path());
    let log = Log::open(dir.path(), compacted()).unwrap();
    let report = log.recovery_report().clone();
    assert_eq!((report.bytes_truncated, report.segments_deleted), (0, 0), "{report:?}");
    assert!(report.indexes_rebuilt >= 2, "{report:?}");
    assert_eq!((read_records(&log), log.log_end_offset()), (after.clone(), end));
    drop(log);
    // Without it (as Kafka does) gaps are accepted everywhere.
    remove_indexes(dir.path());
    fs::remove_file(dir.path().join("recovery-point.checkpoint")).unwrap();
    let log = Log::open(dir.path(), compacted()).unwrap();
    assert_eq!(log.recovery_report().bytes_truncated, 0);
    assert_eq!((read_records(&log), log.log_end_offset()), (after, end));
}

#[test]
fn min_compaction_lag_leaves_new_segments_alone() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = compacted();
    config.min_compaction_lag_ms = 1_000;
    let log = Log::open(dir.path(), config).unwrap();
    fill(&log, 3, 12); // Timestamps 0..=110.
    let before = read_records(&log);
    // At 1_050 only segments whose newest record is at or before 50 are cleanable.
    let report = log.clean(1_050).unwrap();
    let bases = log.segment_base_offsets();
    assert!(report.cleaned_end_offset > 0 && report.cleaned_end_offset < active_base(&log), "{report:?} {bases:?}");
    let cut = report.cleaned_end_offset;
    assert!(before.iter().filter(|record| record.offset < cut).all(|record| record.timestamp <= 50));
    assert!(before.iter().any(|record| record.offset >= cut && record.timestamp <= 60));
    assert_eq!(read_records(&log), expected_after_clean(&before, cut, 1_050, DELETE_RETENTION_MS));
    assert_eq!(log.clean(0).unwrap().segments_cleaned, 0, "nothing is old enough at 0");
}

#[test]
fn retention_follows_the_cleanup_policy() {
    let dir = tempfile::tempdir().unwrap();
    for (name, policy, deletes) in [
        ("c", CleanupPolicy::Compact, false),
        ("cd", CleanupPolicy::CompactDelete, true),
        ("d", CleanupPolicy::Delete, true),
    ] {
        let mut config = compacted();
        config.cleanup_policy = policy;
        config.retention_ms = 100;
        let log = Log::open(dir.path().join(name), config).unwrap();
        fill(&log, 2, 10);
        let report = log.apply_retention(1_000_000).unwrap();
        assert_eq!(report.segments_deleted > 0, deletes, "{name}: {report:?}");
        // A policy without compact makes clean a no-op.
        let cleaned = log.clean(1_000_000).unwrap();
        assert_eq!(cleaned.segments_cleaned > 0, policy.compacts() && !deletes, "{name}: {cleaned:?}");
    }
}

#[test]
fn needs_cleaning_follows_the_dirty_ratio() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = compacted();
    config.set("min.cleanable.dirty.ratio", "0.5").unwrap();
    let log = Log::open(dir.path(), config).unwrap();
    assert!(!log.needs_cleaning(10_000), "nothing closed yet");
    fill(&log, 2, 12);
    assert_eq!(log.first_dirty_offset(), 0);
    assert!((log.cleanable_ratio(10_000) - 1.0).abs() < f64::EPSILON);
    assert!(log.needs_cleaning(10_000));
    let report = log.clean(10_000).unwrap();
    assert_eq!(log.first_dirty_offset(), report.cleaned_end_offset);
    assert_eq!(log.cleanable_ratio(10_000), 0.0);
    assert!(!log.needs_cleaning(10_000));
    // Fill until the new closed segments outweigh the cleaned ones.
    while !log.needs_cleaning(10_000) {
        fill(&log, 2, 1);
    }
    assert!(log.cleanable_ratio(10_000) >= 0.5);
}

/// Builds the same log in `dir`: several segments, superseded values and
/// tombstones, some old enough to go at `NOW`.
fn crash_fixture(dir: &Path) -> Log {
    let log = Log::open(dir, compacted()).unwrap();
    fill(&log, 3, 6);
    log.append(&keyed_batch(&[("k1", None, 100), ("k9", None, 9_500)])).unwrap();
    fill(&log, 2, 8);
    log
}

const NOW: i64 = 10_000;

#[test]
fn a_crash_at_any_step_of_a_clean_leaves_the_log_before_or_after_it() {
    let root = tempfile::tempdir().unwrap();
    let (mut saw_before, mut saw_after) = (false, false);
    for step in 0.. {
        let dir = root.path().join(format!("step-{step}"));
        let log = crash_fixture(&dir);
        let before = read_records(&log);
        let end = log.log_end_offset();
        let expected = expected_after_clean(&before, active_base(&log), NOW, DELETE_RETENTION_MS);
        assert_ne!(before, expected);
        match log.clean_with_crash_at(NOW, step) {
            Ok(report) => {
                assert!(step > 10, "a clean has more than 10 steps: {report:?}");
                assert_eq!(read_records(&log), expected);
                break;
            }
            Err(error) => {
                assert!(error.to_string().contains("injected crash"), "{error}");
                assert!(matches!(log.append(&keyed_batch(&[("x", Some("y"), 0)])), Err(LogError::Failed { .. })));
            }
        }
        drop(log);
        let log = Log::open(&dir, compacted()).unwrap();
        let after = read_records(&log);
        assert_eq!(log.log_end_offset(), end, "step {step}");
        if after == before {
            saw_before = true;
        } else if after == expected {
            saw_after = true;
            assert!(saw_before, "step {step}: after the commit point only once steps before it rolled back");
        } else {
            panic!("step {step}: a mix of before and after:\n{after:?}");
        }
        let leftovers: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .filter(|name| name.ends_with(".cleaned") || name.ends_with(".swap"))
            .collect();
        assert!(leftovers.is_empty(), "step {step}: {leftovers:?}");
        // The recovered log takes appends and cleans again.
        log.append(&keyed_batch(&[("k0", Some("later"), 0)])).unwrap();
        log.clean(NOW).unwrap();
    }
    assert!(saw_before && saw_after);
}

#[test]
fn appends_and_reads_carry_on_during_cleans() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(Log::open(dir.path(), compacted()).unwrap());
    fill(&log, 4, 5);
    let stop = Arc::new(AtomicBool::new(false));
    let appender = {
        let log = Arc::clone(&log);
        std::thread::spawn(move || fill(&log, 4, 60))
    };
    let reader = {
        let (log, stop) = (Arc::clone(&log), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut reads = 0;
            while !stop.load(Ordering::Acquire) {
                // Every read sees increasing offsets and whole batches.
                read_records(&log);
                reads += 1;
            }
            reads
        })
    };
    let mut cleans = 0;
    while !appender.is_finished() {
        let report = log.clean(10_000).unwrap();
        assert!(!report.abandoned, "nothing truncates here");
        cleans += 1;
    }
    appender.join().unwrap();
    stop.store(true, Ordering::Release);
    assert!(reader.join().unwrap() > 0);
    assert!(cleans > 0);
    log.clean(10_000).unwrap();
    // Every key's latest value (round 59) survives; below the active
    // segment one record per key.
    let records = read_records(&log);
    for key in 0..4 {
        let latest = records.iter().rev().find(|record| record.key.as_deref() == Some(format!("k{key}").as_bytes()));
        assert_eq!(latest.and_then(value), Some(format!("k{key}@59").as_str()));
    }
    let active = active_base(&log);
    assert!(records.iter().filter(|record| record.offset < active).count() <= 4);
}

#[test]
fn a_clean_racing_truncation_never_resurrects_what_was_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(Log::open(dir.path(), compacted()).unwrap());
    for round in 0..20 {
        fill(&log, 3, 10);
        let target = log.log_end_offset() / 2;
        let cleaner = {
            let log = Arc::clone(&log);
            std::thread::spawn(move || log.clean(10_000).unwrap())
        };
        let new_end = log.truncate_to(target).unwrap();
        cleaner.join().unwrap();
        assert_eq!(log.log_end_offset(), new_end, "round {round}");
        assert!(read_records(&log).iter().all(|record| record.offset < new_end), "round {round}");
    }
    drop(log);
    let log = Log::open(dir.path(), compacted()).unwrap();
    read_records(&log);
}

/// A flush moves the recovery point in memory only; the cleaner must not
/// take that for the checkpointed one. Cleaning after a flush and then
/// crashing keeps every record (found in review: recovery took the
/// cleaner's gaps above the checkpointed recovery point for damage and
/// cut the log to nothing).
#[test]
fn a_clean_after_a_flush_then_a_crash_keeps_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let (end, after) = {
        let log = Log::open(dir.path(), compacted()).unwrap();
        fill(&log, 4, 12);
        assert!(log.segment_base_offsets().len() > 4);
        log.flush().unwrap();
        assert_eq!(log.recovery_point(), log.log_end_offset());
        let report = log.clean(10_000).unwrap();
        assert!(report.segments_cleaned > 0, "{report:?}");
        (log.log_end_offset(), read_records(&log))
    }; // dropped without close: a process crash
    let log = Log::open(dir.path(), compacted()).unwrap();
    let report = log.recovery_report().clone();
    assert_eq!(log.log_end_offset(), end, "{report:?}");
    assert_eq!(read_records(&log), after, "{report:?}");
}
