//! Soak mode: `cargo run -p ghyll-sim --release -- --seeds 100000`.
//!
//! Flags: `--seeds N` (default 1000), `--start S` (first seed, default 0),
//! `--seed S` (just that one), `--crash-per-mille N` (crash rate per node
//! per tick, default 4), `--truncate-to-high-watermark` (the
//! pre-KIP-101 bug: expect violations), `--replicated` (Kafka's durability
//! rule: expect violations when every replica crashes at once).
use std::process::ExitCode;
use std::time::Instant;

use ghyll_replication::Durability;
use ghyll_sim::{run, SimOptions, Stats};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (mut start, mut seeds, mut buggy, mut replicated) = (0u64, 1000u64, false, false);
    let mut crash_per_mille = None;
    while let Some(arg) = args.next() {
        let mut value = || args.next().and_then(|v| v.parse::<u64>().ok());
        match arg.as_str() {
            "--seeds" => seeds = value().expect("--seeds N"),
            "--start" => start = value().expect("--start S"),
            "--seed" => {
                start = value().expect("--seed S");
                seeds = 1;
            }
            "--crash-per-mille" => crash_per_mille = Some(value().expect("--crash-per-mille N")),
            "--truncate-to-high-watermark" => buggy = true,
            "--replicated" => replicated = true,
            other => {
                eprintln!("unknown argument {other:?}");
                return ExitCode::from(2);
            }
        }
    }
    let began = Instant::now();
    let mut total = Stats::default();
    let mut failures = 0u64;
    for seed in start..start + seeds {
        let mut options = SimOptions::for_seed(seed);
        options.truncate_to_high_watermark = buggy;
        if let Some(c) = crash_per_mille {
            options.crash_per_mille = c;
        }
        if replicated {
            options.durability = Durability::Replicated;
        }
        match run(seed, &options) {
            Ok(stats) => {
                total.proposed += stats.proposed;
                total.acked += stats.acked;
                total.crashes += stats.crashes;
                total.elections += stats.elections;
                total.truncations += stats.truncations;
                total.committed += stats.committed;
            }
            Err(violation) => {
                failures += 1;
                println!("FAIL {violation}");
            }
        }
    }
    println!(
        "{seeds} seeds from {start} in {:.1?}: {failures} failed; {} proposed, {} acked, {} committed, {} crashes, {} elections, {} truncations",
        began.elapsed(),
        total.proposed,
        total.acked,
        total.committed,
        total.crashes,
        total.elections,
        total.truncations
    );
    if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
