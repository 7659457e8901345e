//! ghyll-bench: whole workloads run side by side in one process, against
//! the raw-file limit and peer libraries, printing rates and ratios.
//!
//! Each subcommand is one workload. It prints a table for people and, as
//! the last line of stdout, one JSON object for scripts. Machines here are
//! noisy, so the figure that counts is a ratio measured within one run;
//! `--runs K` repeats the whole comparison and reports medians.
//!
//! ```text
//! cargo run --release -p ghyll-bench -- log --records 2000000 --record-bytes 100 --batch 100
//! ```
#![forbid(unsafe_code)]

mod error;
mod payload;
mod report;
mod workloads;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Side-by-side workload benchmarks for ghyll.
#[derive(Debug, Parser)]
#[command(name = "ghyll-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    workload: Workload,
}

#[derive(Debug, Subcommand)]
enum Workload {
    /// Append records to one log, then read them all back: ghyll-log
    /// against a `BufWriter<File>` of the same bytes and the commitlog crate.
    Log(workloads::log::LogArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.workload {
        Workload::Log(args) => workloads::log::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ghyll-bench: {}", error.chain());
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn log_workload_parses_the_documented_command() {
        let cli = Cli::try_parse_from([
            "ghyll-bench",
            "log",
            "--records",
            "2000000",
            "--record-bytes",
            "100",
            "--batch",
            "100",
            "--runs",
            "3",
        ])
        .expect("the documented command parses");
        let Workload::Log(args) = cli.workload;
        assert_eq!((args.records, args.record_bytes, args.batch, args.runs), (2_000_000, 100, 100, 3));
        assert_eq!(args.read_bytes, 1 << 20);
        assert_eq!(args.dir, None);
    }

    #[test]
    fn log_workload_rejects_zero_records() {
        assert!(Cli::try_parse_from(["ghyll-bench", "log", "--records", "0"]).is_err());
        assert!(Cli::try_parse_from(["ghyll-bench", "log", "--batch", "0"]).is_err());
        assert!(Cli::try_parse_from(["ghyll-bench", "log", "--runs", "0"]).is_err());
    }
}
