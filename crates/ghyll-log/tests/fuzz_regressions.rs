//! Replays every kept fuzz input (crash reproducers and seeds) through the fuzz targets' own code, as ordinary tests.
//!
//! Files in tests/fuzz-inputs/batch_decode/ go through
//! fuzz/checks/batch_decode.rs and files in tests/fuzz-inputs/log_recovery/
//! through fuzz/checks/log_recovery.rs; both are included here by path, so
//! the test and the fuzz targets cannot drift apart. To keep a new crash,
//! copy libFuzzer's artifact into the matching directory. The seeds (named
//! `seed-*`) are written by an encoder independent of ghyll's; the tests
//! below also check what they decode and recover to, so that the replay
//! exercises real batches and not only rejections.

// Each check file includes fuzz/checks/reseal.rs itself, because each fuzz
// target compiles one check alone; here both checks, and so that shared
// file twice, live in one crate.
#![allow(clippy::duplicate_mod)]

use std::fs;
use std::path::{Path, PathBuf};

use ghyll_log::{Batches, Log, LogConfig};

#[path = "../../../fuzz/checks/batch_decode.rs"]
mod batch_decode;
#[path = "../../../fuzz/checks/log_recovery.rs"]
mod log_recovery;

fn inputs(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-inputs").join(target);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("read {}: {error}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{} holds too few inputs to mean anything", dir.display());
    files
}

fn replay(target: &str, run: fn(&[u8])) {
    let mut failed = Vec::new();
    for path in inputs(target) {
        let data = fs::read(&path).unwrap();
        if std::panic::catch_unwind(|| run(&data)).is_err() {
            failed.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    assert!(failed.is_empty(), "{target} inputs that fail: {failed:?}");
}

fn seed(target: &str, name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-inputs").join(target).join(name);
    fs::read(&path).unwrap_or_else(|error| panic!("read {}: {error}", path.display()))
}

#[test]
fn batch_decode_inputs_replay_cleanly() {
    replay("batch_decode", batch_decode::run);
}

#[test]
fn log_recovery_inputs_replay_cleanly() {
    replay("log_recovery", log_recovery::run);
}

#[test]
fn valid_batch_seeds_decode_to_records() {
    let expected = [
        ("seed-valid-one-record.bin", 1, 1),
        ("seed-valid-edge-records.bin", 1, 3),
        ("seed-valid-two-batches.bin", 2, 5),
        ("seed-valid-log-append-time.bin", 1, 3),
    ];
    for (name, batches, records) in expected {
        let bytes = seed("batch_decode", name);
        let decoded: Vec<_> = Batches::new(&bytes).collect::<Result<_, _>>().unwrap();
        assert_eq!(decoded.len(), batches, "{name}");
        let count: usize = decoded.iter().map(|batch| batch.records().unwrap().map(Result::unwrap).count()).sum();
        assert_eq!(count, records, "{name}");
    }
}

#[test]
fn recovery_seeds_recover_to_the_expected_log_end() {
    // The two valid batches hold offsets 0..=4; recovery keeps them and cuts
    // whatever follows that is not a valid next batch.
    let expected = [
        ("seed-valid-two-batches-no-indexes.bin", 5),
        ("seed-valid-two-batches-with-indexes.bin", 5),
        ("seed-preallocated-zero-indexes.bin", 5),
        ("seed-ragged-garbage-indexes.bin", 5),
        ("seed-torn-tail.bin", 5),
        ("seed-garbage-tail.bin", 5),
        // The second batch restarts at offset 0: cut.
        ("seed-offsets-go-backwards.bin", 3),
        // A compressed batch with a valid CRC is kept (offsets 3..=3).
        ("seed-compressed-batch.bin", 4),
        ("seed-empty.bin", 0),
        // baseTimestamp + timestampDelta overflows i64 in a CreateTime batch
        // with a valid CRC: record iteration refuses it, so recovery must
        // cut it (it once kept it, leaving a batch no reader could decode).
        ("regression-create-time-timestamp-overflow.bin", 0),
        // A key length written as a 6-byte varint (5 is the most an int32
        // may take): record iteration refuses it, so recovery must cut it.
        ("regression-overlong-varint.bin", 0),
    ];
    for (name, log_end) in expected {
        let data = seed("log_recovery", name);
        let [log, index, time_index] = log_recovery::split(&data);
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("seed-0");
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("00000000000000000000.log"), log).unwrap();
        fs::write(dir.join("00000000000000000000.index"), index).unwrap();
        fs::write(dir.join("00000000000000000000.timeindex"), time_index).unwrap();
        let opened = Log::open(&dir, LogConfig::default()).unwrap();
        assert_eq!((opened.log_start_offset(), opened.log_end_offset()), (0, log_end), "{name}");
    }
}

#[test]
fn split_reads_two_length_prefixes() {
    let data = [0, 3, 0, 2, 1, 2, 3, 4, 5, 6, 7];
    assert_eq!(log_recovery::split(&data), [&[1, 2, 3][..], &[4, 5][..], &[6, 7][..]]);
    // Lengths beyond the input are cut to what is there.
    assert_eq!(log_recovery::split(&[0xff, 0xff, 0, 1, 9]), [&[9][..], &[][..], &[][..]]);
    assert_eq!(log_recovery::split(&[0, 1, 0xff, 0xff, 9, 8]), [&[9][..], &[8][..], &[][..]]);
    // A short prefix reads as zero lengths: everything is the time index.
    assert_eq!(log_recovery::split(&[]), [&[][..], &[][..], &[][..]]);
    assert_eq!(log_recovery::split(&[0, 0, 0, 0, 5]), [&[][..], &[][..], &[5][..]]);
    assert_eq!(log_recovery::split(&[0, 0]), [&[][..], &[][..], &[][..]]);
}
