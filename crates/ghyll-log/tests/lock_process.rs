//! Proves that a log's directory lock keeps out another process, and is
//! handed over once the log is dropped, by running this test binary again
//! as a child that tries to open the directory.
//!
//! In a binary of its own: a child process starts with copies of the
//! parent's file descriptors until it execs, so a child spawned while
//! another test of the same process holds a log's lock briefly holds that
//! lock too, and a reopen in that other test can find it taken.

mod common;

use common::batch;
use ghyll_log::{Log, LogConfig, LogError};

/// Set by `another_process_is_locked_out` for the child process it starts.
const LOCK_PROBE_ENV: &str = "GHYLL_LOCK_PROBE_DIR";

#[test]
fn another_process_is_locked_out() {
    if std::env::var_os(LOCK_PROBE_ENV).is_some() {
        return; // This is the child: `lock_probe_child` does the work.
    }
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogConfig::default()).unwrap();
    let run_child = || {
        std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "lock_probe_child", "--nocapture", "--test-threads=1"])
            .env(LOCK_PROBE_ENV, dir.path())
            .output()
            .unwrap()
    };
    let output = run_child();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("probe: locked"), "child saw: {stdout}");
    log.append(&batch("still mine", 1, 0)).unwrap();
    drop(log);
    let output = run_child();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("probe: opened at 1"), "child saw: {stdout}");
}

/// The child half of `another_process_is_locked_out`; does nothing when run
/// by itself.
#[test]
fn lock_probe_child() {
    let Some(dir) = std::env::var_os(LOCK_PROBE_ENV) else { return };
    match Log::open(&dir, LogConfig::default()) {
        Err(LogError::Locked { .. }) => println!("probe: locked"),
        Ok(log) => println!("probe: opened at {}", log.log_end_offset()),
        Err(other) => println!("probe: {other}"),
    }
}
