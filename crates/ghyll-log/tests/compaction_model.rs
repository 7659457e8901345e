//! Proves that compaction keeps exactly the latest record per key, at its
//! offset, through reopens and crashes: proptest drives random appends
//! (keys from a small set, some tombstones) into a compacted log with small
//! segments, random cleans at random times, clean and unclean reopens, and
//! cleans stopped at a random step by the crash hook (then reopened), against
//! a `Vec` of records. After every operation the log must read exactly as
//! the model: after a clean, `common::expected_after_clean` of the records
//! before it with the active segment's base as the cleaned range's end;
//! after a crashed clean and a reopen, either the records before it or that
//! expectation, never anything else.
//!
//! `PROPTEST_CASES=1000 cargo test -p ghyll-log --test compaction_model`
//! searches longer than the default 64 cases.

mod common;

use common::{expected_after_clean, keyed_batch, read_records, KeyedRecord};
use ghyll_log::{CleanupPolicy, Log, LogConfig};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

const DELETE_RETENTION_MS: i64 = 1_000;
/// Record timestamps are below this; cleans run at or after it, so every
/// closed segment is old enough for `min.compaction.lag.ms` = 0.
const TIMESTAMPS_END: i64 = 1_000;

#[derive(Debug, Clone)]
struct Append {
    key: u8,
    tombstone: bool,
    timestamp: i64,
}

#[derive(Debug, Clone)]
enum Op {
    Append(Vec<Append>),
    Clean {
        now_ms: i64,
    },
    CrashDuringClean {
        now_ms: i64,
        step: u32,
    },
    Reopen,
    /// Drop without closing: recovery scans.
    Kill,
    /// Fsync everything (moves the recovery point without a checkpoint).
    Flush,
    /// The background flusher's pass (syncs and checkpoints rolled
    /// segments).
    FlushIfDue,
}

fn append() -> impl Strategy<Value = Append> {
    (0u8..5, prop::bool::weighted(0.2), 0..TIMESTAMPS_END).prop_map(|(key, tombstone, timestamp)| Append {
        key,
        tombstone,
        timestamp,
    })
}

fn op() -> impl Strategy<Value = Op> {
    let now = TIMESTAMPS_END..TIMESTAMPS_END + 2 * DELETE_RETENTION_MS;
    prop_oneof![
        8 => prop::collection::vec(append(), 1..4).prop_map(Op::Append),
        2 => now.clone().prop_map(|now_ms| Op::Clean { now_ms }),
        2 => (now, 0u32..60).prop_map(|(now_ms, step)| Op::CrashDuringClean { now_ms, step }),
        1 => Just(Op::Reopen),
        1 => Just(Op::Kill),
        1 => Just(Op::Flush),
        1 => Just(Op::FlushIfDue),
    ]
}

struct Harness {
    _root: tempfile::TempDir,
    path: std::path::PathBuf,
    config: LogConfig,
    log: Option<Log>,
    model: Vec<KeyedRecord>,
    /// Values are numbered so that every record is distinct.
    values: u64,
    /// The log end: compaction never moves it.
    end: u64,
}

impl Harness {
    fn new(segment_bytes: u32) -> Harness {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("compacted-0");
        let mut config = LogConfig::default();
        config.segment_bytes = segment_bytes;
        config.index_interval_bytes = 64;
        config.cleanup_policy = CleanupPolicy::Compact;
        config.delete_retention_ms = DELETE_RETENTION_MS as u64;
        let log = Log::open(&path, config.clone()).unwrap();
        Harness { _root: root, path, config, log: Some(log), model: Vec::new(), values: 0, end: 0 }
    }

    fn log(&self) -> &Log {
        self.log.as_ref().unwrap()
    }

    fn reopen(&mut self) {
        self.log = None;
        self.log = Some(Log::open(&self.path, self.config.clone()).unwrap());
    }

    fn expected_clean(&self, now_ms: i64) -> (u64, Vec<KeyedRecord>) {
        let active = *self.log().segment_base_offsets().last().unwrap();
        (active, expected_after_clean(&self.model, active, now_ms, DELETE_RETENTION_MS))
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Append(records) => {
                let specs: Vec<(String, Option<String>, i64)> = records
                    .iter()
                    .map(|record| {
                        self.values += 1;
                        let value = (!record.tombstone).then(|| format!("v{}", self.values));
                        (format!("key-{}", record.key), value, record.timestamp)
                    })
                    .collect();
                let borrowed: Vec<(&str, Option<&str>, i64)> =
                    specs.iter().map(|(key, value, timestamp)| (key.as_str(), value.as_deref(), *timestamp)).collect();
                let info = self.log().append(&keyed_batch(&borrowed)).unwrap();
                assert_eq!(info.first_offset, self.end);
                self.end = info.last_offset + 1;
                for (at, (key, value, timestamp)) in specs.into_iter().enumerate() {
                    self.model.push(KeyedRecord {
                        offset: info.first_offset + at as u64,
                        key: Some(key.into_bytes()),
                        value: value.map(String::into_bytes),
                        timestamp,
                    });
                }
            }
            Op::Flush => self.log().flush().unwrap(),
            Op::FlushIfDue => self.log().flush_if_due().unwrap(),
            Op::Clean { now_ms } => {
                let (active, expected) = self.expected_clean(*now_ms);
                let report = self.log().clean(*now_ms).unwrap();
                assert!(!report.abandoned);
                assert_eq!(report.cleaned_end_offset, active, "{report:?}");
                assert_eq!(report.records_removed as usize, self.model.len() - expected.len(), "{report:?}");
                self.model = expected;
            }
            Op::CrashDuringClean { now_ms, step } => {
                let (_, expected) = self.expected_clean(*now_ms);
                match self.log().clean_with_crash_at(*now_ms, *step) {
                    Ok(_) => self.model = expected,
                    Err(error) => {
                        assert!(error.to_string().contains("injected crash"), "{error}");
                        self.reopen();
                        let content = read_records(self.log());
                        assert!(
                            content == self.model || content == expected,
                            "after a crash at step {step}, neither before nor after the clean:\n{content:?}"
                        );
                        self.model = content;
                    }
                }
            }
            Op::Reopen => {
                self.log().close().unwrap();
                self.reopen();
                assert!(self.log().recovery_report().clean_shutdown);
            }
            Op::Kill => self.reopen(),
        }
        assert_eq!(read_records(self.log()), self.model, "after {op:?}");
        assert_eq!(self.log().log_end_offset(), self.end);
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn compaction_keeps_the_latest_record_per_key_through_crashes(
        segment_bytes in 200u32..700,
        ops in prop::collection::vec(op(), 1..40),
    ) {
        let mut harness = Harness::new(segment_bytes);
        for op in &ops {
            harness.apply(op);
        }
        // Whatever happened, a final clean and reopen agree with the model.
        harness.apply(&Op::Clean { now_ms: TIMESTAMPS_END + 3 * DELETE_RETENTION_MS });
        harness.apply(&Op::Reopen);
    }
}
