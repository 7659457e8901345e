//! Proves the log's everyday contract: dense offsets, reads from any offset
//! with byte budgets, rolling, reopening, timestamp lookup, truncation, log
//! start and retention, the lock, and named errors for bad input, each by
//! driving a real log in a temporary directory.

mod common;

use common::{batch, read_all};
use ghyll_log::{BatchBuilder, Log, LogConfig, LogError};

fn small_segments() -> LogConfig {
    let mut config = LogConfig::default();
    config.segment_bytes = 1024;
    config.index_interval_bytes = 128;
    config
}

#[test]
fn offsets_are_dense_and_reads_return_what_was_appended() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path().join("t-0"), LogConfig::default()).unwrap();
    let a = log.append(&batch("a", 3, 1000)).unwrap();
    let b = log.append(&batch("b", 2, 2000)).unwrap();
    assert_eq!((a.first_offset, a.last_offset), (0, 2));
    assert_eq!((b.first_offset, b.last_offset), (3, 4));
    assert_eq!(log.log_end_offset(), 5);
    let all = read_all(&log, 0);
    let values: Vec<_> = all.iter().map(|(o, v)| format!("{o}:{v}")).collect();
    assert_eq!(values, ["0:a-0", "1:a-1", "2:a-2", "3:b-0", "4:b-1"]);
    // A read from inside a batch starts with the batch that holds it.
    let read = log.read(1, 1 << 20).unwrap();
    let first = read.batches().next().unwrap().unwrap();
    assert_eq!(first.base_offset(), 0);
    assert_eq!(read.next_offset(), 5);
    // Reading at the log end is empty, not an error.
    let end = log.read(5, 1 << 20).unwrap();
    assert!(end.is_empty());
    assert_eq!(end.next_offset(), 5);
}

#[test]
fn byte_budget_returns_whole_batches_but_at_least_one() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogConfig::default()).unwrap();
    let first = batch("x", 10, 0);
    for _ in 0..5 {
        log.append(&first).unwrap();
    }
    let one = log.read(0, 1).unwrap();
    assert_eq!(one.batches().count(), 1);
    assert_eq!(one.as_bytes().len(), first.len());
    let two = log.read(0, (first.len() * 2 + first.len() / 2) as u32).unwrap();
    assert_eq!(two.batches().count(), 2);
    assert_eq!(two.next_offset(), 20);
}

#[test]
fn segments_roll_at_segment_bytes_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t-0");
    {
        let log = Log::open(&path, small_segments()).unwrap();
        for i in 0..40 {
            log.append(&batch(&format!("r{i}"), 4, i * 10)).unwrap();
        }
        assert!(log.segment_base_offsets().len() > 3, "{:?}", log.segment_base_offsets());
        for base in log.segment_base_offsets() {
            for ext in ["log", "index", "timeindex"] {
                assert!(path.join(format!("{base:020}.{ext}")).exists());
            }
        }
        log.close().unwrap();
        assert!(matches!(log.append(&batch("late", 1, 0)), Err(LogError::Closed { .. })));
    }
    let log = Log::open(&path, small_segments()).unwrap();
    assert!(log.recovery_report().clean_shutdown);
    assert_eq!(log.recovery_report().segments_scanned, 0);
    assert_eq!(log.log_end_offset(), 160);
    let all = read_all(&log, 0);
    assert_eq!(all.len(), 160);
    for (i, (offset, value)) in all.iter().enumerate() {
        assert_eq!(*offset, i as u64);
        assert_eq!(*value, format!("r{}-{}", i / 4, i % 4));
    }
    // Every offset can be read directly, through the sparse index.
    for offset in 0..160 {
        let got = read_all(&log, offset);
        assert_eq!(got[0].0, offset);
    }
    let next = log.append(&batch("after", 1, 0)).unwrap();
    assert_eq!(next.first_offset, 160);
}

#[test]
fn unclean_reopen_scans_and_keeps_everything_written() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = Log::open(dir.path(), small_segments()).unwrap();
        for i in 0..30 {
            log.append(&batch(&format!("r{i}"), 3, 0)).unwrap();
        }
        // Dropped without close: a process crash, the page cache keeps it.
    }
    let log = Log::open(dir.path(), small_segments()).unwrap();
    let report = log.recovery_report();
    assert!(!report.clean_shutdown);
    assert!(report.segments_scanned >= 1);
    assert_eq!(report.bytes_truncated, 0);
    assert_eq!(log.log_end_offset(), 90);
    assert_eq!(read_all(&log, 0).len(), 90);
}

#[test]
fn timestamp_lookup_finds_the_first_record_at_or_after() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small_segments()).unwrap();
    // Offsets 0..100 with timestamps 1000, 1010, ... in batches of 5.
    for b in 0..20 {
        let mut builder = BatchBuilder::new();
        for i in 0..5 {
            let n = b * 5 + i;
            builder.push(1000 + n * 10, None, Some(format!("v{n}").as_bytes()), &[]).unwrap();
        }
        log.append(&builder.finish().unwrap()).unwrap();
    }
    for n in [0i64, 1, 7, 33, 50, 99] {
        let found = log.offset_for_timestamp(1000 + n * 10).unwrap().unwrap();
        assert_eq!((found.offset, found.timestamp), (n as u64, 1000 + n * 10));
        let between = log.offset_for_timestamp(1000 + n * 10 - 5).unwrap().unwrap();
        assert_eq!(between.offset, n as u64);
    }
    assert_eq!(log.offset_for_timestamp(0).unwrap().unwrap().offset, 0);
    assert!(log.offset_for_timestamp(1000 + 99 * 10 + 1).unwrap().is_none());
}

#[test]
fn truncate_to_removes_the_suffix_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small_segments()).unwrap();
    for i in 0..30 {
        log.append(&batch(&format!("r{i}"), 2, i)).unwrap();
    }
    let segments_before = log.segment_base_offsets().len();
    assert_eq!(log.truncate_to(100).unwrap(), 60, "past the end is a no-op");
    assert_eq!(log.truncate_to(14).unwrap(), 14);
    assert_eq!(log.log_end_offset(), 14);
    assert!(log.segment_base_offsets().len() < segments_before);
    assert_eq!(read_all(&log, 0).len(), 14);
    // Inside a batch: the whole batch goes.
    assert_eq!(log.truncate_to(9).unwrap(), 8);
    let next = log.append(&batch("new", 2, 0)).unwrap();
    assert_eq!(next.first_offset, 8);
    let all = read_all(&log, 0);
    assert_eq!(all.last().unwrap(), &(9, "new-1".to_string()));
    drop(log);
    let log = Log::open(dir.path(), small_segments()).unwrap();
    assert_eq!(log.log_end_offset(), 10);
    assert_eq!(read_all(&log, 0), all);
    assert_eq!(log.truncate_to(0).unwrap(), 0);
    assert_eq!(log.log_end_offset(), 0);
    assert_eq!(log.append(&batch("z", 1, 0)).unwrap().first_offset, 0);
}

#[test]
fn advancing_log_start_hides_and_deletes_old_records_durably() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = Log::open(dir.path(), small_segments()).unwrap();
        for i in 0..30 {
            log.append(&batch(&format!("r{i}"), 2, i)).unwrap();
        }
        let segments = log.segment_base_offsets().len();
        let report = log.advance_log_start(33).unwrap();
        assert_eq!(report.log_start_offset, 33);
        assert!(report.segments_deleted > 0);
        assert_eq!(log.segment_base_offsets().len(), segments - report.segments_deleted);
        assert!(matches!(log.read(32, 100), Err(LogError::OffsetOutOfRange { offset: 32, log_start: 33, .. })));
        assert_eq!(read_all(&log, 33)[0].0, 33);
        assert!(matches!(log.advance_log_start(61), Err(LogError::OffsetOutOfRange { .. })));
    }
    let log = Log::open(dir.path(), small_segments()).unwrap();
    assert_eq!(log.log_start_offset(), 33);
}

#[test]
fn retention_by_bytes_and_time_never_deletes_the_active_segment() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = small_segments();
    config.retention_bytes = 2048;
    config.retention_ms = -1;
    let log = Log::open(dir.path().join("bytes"), config.clone()).unwrap();
    for i in 0..60 {
        log.append(&batch(&format!("r{i}"), 2, 1_000)).unwrap();
    }
    let before = log.size_bytes();
    let report = log.apply_retention(10_000).unwrap();
    assert!(report.segments_deleted > 0);
    assert!(log.size_bytes() >= 2048 && log.size_bytes() < before);
    assert_eq!(log.log_start_offset(), log.segment_base_offsets()[0]);
    assert_eq!(read_all(&log, log.log_start_offset()).last().unwrap().0, 119);

    config.retention_bytes = -1;
    config.retention_ms = 1_000;
    let log = Log::open(dir.path().join("time"), config).unwrap();
    for i in 0..60 {
        log.append(&batch(&format!("r{i}"), 2, 1_000 + i)).unwrap();
    }
    assert_eq!(log.apply_retention(1_500).unwrap().segments_deleted, 0);
    let report = log.apply_retention(1_000_000).unwrap();
    assert_eq!(log.segment_base_offsets().len(), 1, "all but the active segment expire");
    assert!(report.segments_deleted > 0);
    assert_eq!(log.log_end_offset(), 120);
}

#[test]
fn segment_ms_rolls_old_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = LogConfig::default();
    config.segment_ms = 60_000;
    let log = Log::open(dir.path(), config).unwrap();
    // As in Kafka, segment.ms is measured from the segment's first batch
    // timestamp to the incoming batch's timestamp.
    log.append(&batch("first", 1, 5)).unwrap();
    log.append(&batch("same-minute", 1, 59_000)).unwrap();
    assert_eq!(log.segment_base_offsets(), [0]);
    log.append(&batch("a-minute-later", 1, 60_005)).unwrap();
    assert_eq!(log.segment_base_offsets(), [0, 2]);
}

#[test]
fn a_second_open_of_the_same_directory_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogConfig::default()).unwrap();
    let error = Log::open(dir.path(), LogConfig::default()).unwrap_err();
    assert!(matches!(error, LogError::Locked { .. }), "{error}");
    assert!(error.to_string().contains("locked"));
    drop(log);
    Log::open(dir.path(), LogConfig::default()).unwrap();
}

#[test]
fn bad_input_gets_named_errors_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = LogConfig::default();
    config.max_message_bytes = 200;
    let log = Log::open(dir.path(), config).unwrap();
    log.append(&batch("ok", 1, 0)).unwrap();

    let big = batch("big", 20, 0);
    let error = log.append(&big).unwrap_err();
    assert!(matches!(error, LogError::BatchTooLarge { max_message_bytes: 200, .. }), "{error}");

    let mut corrupt = batch("c", 1, 0);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    let error = log.append(&corrupt).unwrap_err();
    assert!(matches!(error, LogError::InvalidBatch { .. }), "{error}");
    assert!(matches!(log.append(b"short"), Err(LogError::InvalidBatch { .. })));

    assert!(matches!(log.read(2, 100), Err(LogError::OffsetOutOfRange { offset: 2, log_start: 0, log_end: 1 })));
    assert_eq!(read_all(&log, 0), [(0, "ok-0".to_string())]);

    let mut bad = LogConfig::default();
    bad.segment_bytes = 10;
    let error = Log::open(dir.path().join("other"), bad).unwrap_err();
    assert!(matches!(error, LogError::InvalidConfig { name: "segment.bytes", .. }), "{error}");
}

#[test]
fn durable_appends_advance_the_recovery_point() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogConfig::default()).unwrap();
    log.append(&batch("a", 2, 0)).unwrap();
    assert_eq!(log.recovery_point(), 0);
    let info = log.append_durable(&batch("b", 2, 0)).unwrap();
    assert_eq!(log.recovery_point(), info.last_offset + 1);

    let mut config = LogConfig::default();
    config.flush_messages = 3;
    let log = Log::open(dir.path().join("flush"), config).unwrap();
    log.append(&batch("a", 2, 0)).unwrap();
    assert_eq!(log.recovery_point(), 0);
    log.append(&batch("b", 1, 0)).unwrap();
    assert_eq!(log.recovery_point(), 3, "flush.messages=3 fsyncs at the third record");
}

#[test]
fn log_is_send_and_sync_and_concurrent_durable_appends_all_land() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Log>();
    let dir = tempfile::tempdir().unwrap();
    let log = std::sync::Arc::new(Log::open(dir.path(), LogConfig::default()).unwrap());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                for i in 0..25 {
                    log.append_durable(&batch(&format!("t{t}-{i}"), 1, 0)).unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(log.log_end_offset(), 100);
    assert_eq!(log.recovery_point(), 100);
    let mut values: Vec<_> = read_all(&log, 0).into_iter().map(|(_, v)| v).collect();
    values.sort();
    values.dedup();
    assert_eq!(values.len(), 100);
}

/// Recomputes a batch's CRC-32C after a test edits its bytes.
fn fix_crc(batch: &mut [u8]) {
    let crc = crc32c::crc32c(&batch[21..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
}

#[test]
fn append_refuses_structurally_bad_batches_even_with_a_valid_crc() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogConfig::default()).unwrap();

    // A record whose length byte claims more bytes than it has.
    let mut lying_length = batch("x", 2, 0);
    lying_length[61] = lying_length[61].wrapping_add(2);
    fix_crc(&mut lying_length);
    let error = log.append(&lying_length).unwrap_err();
    assert!(matches!(error, LogError::InvalidBatch { .. }), "{error}");

    // lastOffsetDelta larger than the records: offsets would have a hole.
    let mut gap = batch("x", 2, 0);
    gap[23..27].copy_from_slice(&5i32.to_be_bytes());
    fix_crc(&mut gap);
    let error = log.append(&gap).unwrap_err();
    assert!(matches!(error, LogError::InvalidBatch { .. }), "{error}");

    // A count that disagrees with the records.
    let mut count = batch("x", 2, 0);
    count[57..61].copy_from_slice(&3i32.to_be_bytes());
    fix_crc(&mut count);
    assert!(matches!(log.append(&count), Err(LogError::InvalidBatch { .. })));

    assert_eq!(log.log_end_offset(), 0, "nothing was appended");
    log.append(&batch("fine", 2, 0)).unwrap();
    assert_eq!(read_all(&log, 0).len(), 2);
}

#[test]
fn flush_ms_fsyncs_on_append_and_when_due() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = LogConfig::default();
    config.flush_ms = 0;
    let log = Log::open(dir.path(), config).unwrap();
    log.append(&batch("a", 1, 0)).unwrap();
    assert_eq!(log.recovery_point(), 1, "flush.ms=0 fsyncs every append");
    log.flush_if_due().unwrap();

    let mut config = LogConfig::default();
    config.set("flush.ms", "3600000").unwrap();
    let log = Log::open(dir.path().join("hourly"), config).unwrap();
    log.append(&batch("a", 1, 0)).unwrap();
    log.flush_if_due().unwrap();
    assert_eq!(log.recovery_point(), 0, "not due for an hour");
    log.flush().unwrap();
    assert_eq!(log.recovery_point(), 1);
}

#[test]
fn close_hands_the_directory_to_the_next_opener() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogConfig::default()).unwrap();
    log.append(&batch("a", 1, 0)).unwrap();
    log.close().unwrap();
    // `log` is still alive, but closed: the directory is free.
    let next = Log::open(dir.path(), LogConfig::default()).unwrap();
    assert_eq!(next.log_end_offset(), 1);
    assert!(matches!(log.read(0, 100), Err(LogError::Closed { .. })));
}

#[test]
fn a_leader_stamps_its_epoch_and_a_follower_copies_batches_verbatim() {
    let dir = tempfile::tempdir().unwrap();
    let leader = Log::open(dir.path().join("leader-0"), small_segments()).unwrap();
    for (i, epoch) in [0, 0, 3, 3, 7].into_iter().enumerate() {
        leader.append_as_leader(&batch(&format!("b{i}"), 4, 1000 + i as i64), epoch).unwrap();
    }
    let read = leader.read(0, 1 << 20).unwrap();
    let epochs: Vec<i32> = read.batches().map(|b| b.unwrap().header().partition_leader_epoch).collect();
    assert!(epochs.starts_with(&[0, 0, 3]), "{epochs:?} (CRC still holds: read checks it)");
    // A follower copies every batch with its offsets and epoch.
    let follower = Log::open(dir.path().join("follower-0"), small_segments()).unwrap();
    let mut offset = 0;
    while offset < leader.log_end_offset() {
        let read = leader.read(offset, 1 << 20).unwrap();
        for batch in read.batches() {
            follower.append_as_follower(batch.unwrap().as_bytes()).unwrap();
        }
        offset = read.next_offset();
    }
    assert_eq!(follower.log_end_offset(), 20);
    assert_eq!(read_all(&follower, 0), read_all(&leader, 0));
    let copied = follower.read(16, 1 << 20).unwrap();
    assert_eq!(copied.batches().next().unwrap().unwrap().header().partition_leader_epoch, 7);
    // A batch the follower already has is refused, not duplicated.
    let again = leader.read(0, 1 << 20).unwrap();
    let first = again.batches().next().unwrap().unwrap();
    let error = follower.append_as_follower(first.as_bytes()).unwrap_err();
    assert!(matches!(error, LogError::OffsetMismatch { expected: 20, got: 0 }), "{error}");
    // And it all survives a reopen.
    follower.close().unwrap();
    let reopened = Log::open(dir.path().join("follower-0"), small_segments()).unwrap();
    assert_eq!(read_all(&reopened, 0), read_all(&leader, 0));
    // Damaged bytes are refused by the CRC.
    let mut damaged = batch("late", 2, 9000);
    damaged[0..8].copy_from_slice(&20u64.to_be_bytes());
    let intact = damaged.clone();
    let last = damaged.len() - 1;
    damaged[last] ^= 0xff;
    assert!(matches!(reopened.append_as_follower(&damaged), Err(LogError::InvalidBatch { .. })));
    reopened.append_as_follower(&intact).unwrap();
    assert_eq!(reopened.log_end_offset(), 22);
}

#[test]
fn retention_below_a_limit_keeps_segments_past_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = small_segments();
    config.retention_bytes = 0;
    let log = Log::open(dir.path().join("t-0"), config).unwrap();
    for i in 0..40 {
        log.append(&batch(&format!("b{i}"), 4, 1000 + i)).unwrap();
    }
    let segments = log.segment_base_offsets();
    assert!(segments.len() > 3, "{segments:?}");
    // Only segments ending at or below offset segments[2] may go.
    let report = log.apply_retention_below(i64::MAX / 2, segments[2]).unwrap();
    assert_eq!(report.segments_deleted, 2);
    assert_eq!(log.log_start_offset(), segments[2]);
    // Without the limit, every closed segment goes (retention.bytes = 0).
    log.apply_retention(i64::MAX / 2).unwrap();
    assert_eq!(log.segment_base_offsets().len(), 1);
}

#[test]
fn reset_to_empties_the_log_and_restarts_it_at_a_later_offset() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path().join("t-0"), small_segments()).unwrap();
    for i in 0..10 {
        log.append(&batch(&format!("b{i}"), 4, 1000 + i)).unwrap();
    }
    assert!(matches!(log.reset_to(40), Err(LogError::OffsetOutOfRange { .. })), "not past the end");
    log.reset_to(100).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (100, 100));
    assert_eq!(log.segment_base_offsets(), [100]);
    assert!(matches!(log.read(50, 1 << 20), Err(LogError::OffsetOutOfRange { .. })));
    // A follower then copies the leader's batches from there.
    let leader = Log::open(dir.path().join("leader-0"), small_segments()).unwrap();
    leader.reset_to(100).unwrap();
    leader.append(&batch("new", 3, 5000)).unwrap();
    let read = leader.read(100, 1 << 20).unwrap();
    log.append_as_follower(read.batches().next().unwrap().unwrap().as_bytes()).unwrap();
    assert_eq!(read_all(&log, 100), read_all(&leader, 100));
    log.close().unwrap();
    let reopened = Log::open(dir.path().join("t-0"), small_segments()).unwrap();
    assert_eq!((reopened.log_start_offset(), reopened.log_end_offset()), (100, 103));
    assert_eq!(read_all(&reopened, 100), read_all(&leader, 100));
}

/// A batch the builder built appends without being checked again, lands
/// exactly as `append` would put it, and a compacted log still refuses one
/// with a keyless record.
#[test]
fn built_batches_append_like_checked_ones() {
    let dir = tempfile::tempdir().unwrap();
    let checked = Log::open(dir.path().join("checked-0"), LogConfig::default()).unwrap();
    let built = Log::open(dir.path().join("built-0"), LogConfig::default()).unwrap();
    for round in 0..3 {
        let mut builder = BatchBuilder::new();
        for i in 0..=round {
            builder.push(1_000 + i, Some(b"k".as_slice()), Some(format!("v{round}-{i}").as_bytes()), &[]).unwrap();
        }
        let batch = builder.build().unwrap();
        let a = checked.append(batch.as_bytes()).unwrap();
        let b = built.append_built(&batch).unwrap();
        assert_eq!(a, b);
    }
    assert_eq!(read_all(&checked, 0), read_all(&built, 0));
    checked.flush().unwrap();
    built.flush().unwrap();
    let segment = "00000000000000000000.log";
    assert_eq!(
        std::fs::read(dir.path().join("checked-0").join(segment)).unwrap(),
        std::fs::read(dir.path().join("built-0").join(segment)).unwrap()
    );

    let mut config = LogConfig::default();
    config.cleanup_policy = ghyll_log::CleanupPolicy::Compact;
    let compacted = Log::open(dir.path().join("compacted-0"), config).unwrap();
    let mut builder = BatchBuilder::new();
    builder.push(1, Some(b"k".as_slice()), Some(b"v".as_slice()), &[]).unwrap();
    builder.push(2, None, Some(b"keyless".as_slice()), &[]).unwrap();
    let error = compacted.append_built(&builder.build().unwrap()).unwrap_err();
    assert!(matches!(error, LogError::KeylessRecordInCompactedLog { record_index: 1 }), "{error:?}");
    assert_eq!(compacted.log_end_offset(), 0);
}

/// A roll leaves the closed segment's fsync to the flusher: a power cut
/// before it ran may tear a closed segment, and recovery (which scans
/// from the recovery point) cuts the log at the tear and drops the
/// segments after it; once `flush_if_due` has run, the closed segments
/// are below the recovery point and recovery scans only the active one.
#[test]
fn rolled_segments_are_recovered_until_the_flusher_syncs_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t-0");
    let bases = {
        let log = Log::open(&path, small_segments()).unwrap();
        for i in 0..30 {
            log.append(&batch(&format!("r{i}"), 3, 0)).unwrap();
        }
        let bases = log.segment_base_offsets();
        assert!(bases.len() >= 4, "{bases:?}");
        assert_eq!(log.recovery_point(), 0, "no roll fsyncs in the append path");
        bases
    };
    // A power cut tore the second segment in the middle of a batch.
    let torn = path.join(format!("{:020}.log", bases[1]));
    let len = std::fs::metadata(&torn).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&torn).unwrap().set_len(len / 2 + 7).unwrap();
    let log = Log::open(&path, small_segments()).unwrap();
    let report = log.recovery_report().clone();
    assert!(report.bytes_truncated > 0 && report.segments_deleted == bases.len() - 2, "{report:?}");
    let end = log.log_end_offset();
    assert!(end > bases[1] && end < bases[2] && end.is_multiple_of(3), "cut at a batch boundary: {end}");
    assert_eq!(read_all(&log, 0).len() as u64, end);

    // Refill, let the flusher run, and crash: only the active segment is
    // scanned.
    for i in 0..30 {
        log.append(&batch(&format!("s{i}"), 3, 0)).unwrap();
    }
    log.flush_if_due().unwrap();
    let active = *log.segment_base_offsets().last().unwrap();
    assert_eq!(log.recovery_point(), active);
    let end = log.log_end_offset();
    drop(log);
    let log = Log::open(&path, small_segments()).unwrap();
    assert_eq!(log.recovery_report().segments_scanned, 1, "{:?}", log.recovery_report());
    assert_eq!(log.log_end_offset(), end);
}
