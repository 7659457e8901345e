//! Arbitrary bytes through every entry point of the batch decoder; it must
//! never panic. The body lives in checks/batch_decode.rs, which
//! crates/ghyll-log/tests/fuzz_regressions.rs replays kept inputs through.
#![no_main]

#[path = "../checks/batch_decode.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::run(data));
