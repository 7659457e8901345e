//! Arbitrary `.log`, `.index` and `.timeindex` files recovered by
//! `Log::open`; it must never panic and must leave only valid batches
//! between the log start and end. The body lives in checks/log_recovery.rs,
//! which crates/ghyll-log/tests/fuzz_regressions.rs replays kept inputs
//! through.
#![no_main]

#[path = "../checks/log_recovery.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::run(data));
