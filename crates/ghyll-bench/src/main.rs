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
//! cargo run --release -p ghyll-bench -- produce --records 2000000 --partitions 1,8 --runs 3
//! cargo run --release -p ghyll-bench -- consume --records 2000000 --runs 3
//! cargo run --release -p ghyll-bench -- latency --rate 100000 --seconds 5 --runs 3
//! cargo run --release -p ghyll-bench -- group --records 10000000 --runs 3
//! cargo run --release -p ghyll-bench -- replicated --records 1000000 --runs 3
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
    /// Send records from one thread through ghyll's `Producer`
    /// (`send_async` + `flush`, and `send`), against commitlog's
    /// `append_msg` and kafko's `send_batch` and `send`.
    Produce(workloads::produce::ProduceArgs),
    /// Produce records (untimed), then read them all back through ghyll's
    /// `Consumer::poll`, against commitlog's `read` and kafko's consumer.
    Consume(workloads::consume::ConsumeArgs),
    /// Send at a fixed rate with ghyll's synchronous `Producer::send` while
    /// a consumer thread waits in `poll`: receive - send percentiles,
    /// against kafko's `send` and `next_with_position`.
    Latency(workloads::latency::LatencyArgs),
    /// Consumer groups: C members of one group consume (committing every
    /// poll) against one consumer; failover time after a member dies;
    /// commits per second, fsynced and not.
    Group(workloads::group::GroupArgs),
    /// `send_async` + `flush` with `acks=all` into a topic with
    /// replication factor 3 on three nodes, against replication factor 1.
    Replicated(workloads::replicated::ReplicatedArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.workload {
        Workload::Log(args) => workloads::log::run(args),
        Workload::Produce(args) => workloads::produce::run(args),
        Workload::Consume(args) => workloads::consume::run(args),
        Workload::Latency(args) => workloads::latency::run(args),
        Workload::Group(args) => workloads::group::run(args),
        Workload::Replicated(args) => workloads::replicated::run(args),
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
        let Workload::Log(args) = cli.workload else { panic!("parsed as the log workload") };
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

    #[test]
    fn produce_workload_parses_the_documented_command() {
        let cli = Cli::try_parse_from([
            "ghyll-bench",
            "produce",
            "--records",
            "2000000",
            "--record-bytes",
            "100",
            "--partitions",
            "1,8",
            "--runs",
            "3",
        ])
        .expect("the documented command parses");
        let Workload::Produce(args) = cli.workload else { panic!("parsed as the produce workload") };
        assert_eq!((args.records, args.record_bytes, args.runs), (2_000_000, 100, 3));
        assert_eq!(args.partitions, [1, 8]);
        assert!(!args.ghyll_only);
    }

    #[test]
    fn consume_and_latency_workloads_parse_their_documented_commands() {
        let cli = Cli::try_parse_from(["ghyll-bench", "consume", "--records", "2000000", "--runs", "3"])
            .expect("the documented command parses");
        let Workload::Consume(args) = cli.workload else { panic!("parsed as the consume workload") };
        assert_eq!(
            (args.records, args.runs, args.max_poll_records, args.fetch_bytes),
            (2_000_000, 3, 100_000, 1 << 20)
        );
        assert_eq!(args.partitions, [1, 8]);

        let cli = Cli::try_parse_from(["ghyll-bench", "latency", "--rate", "100000", "--seconds", "5", "--runs", "3"])
            .expect("the documented command parses");
        let Workload::Latency(args) = cli.workload else { panic!("parsed as the latency workload") };
        assert_eq!((args.rate, args.seconds, args.runs), (100_000, 5.0, 3));
    }

    #[test]
    fn new_workloads_reject_zero_and_empty_values() {
        for command in [
            &["ghyll-bench", "produce", "--records", "0"][..],
            &["ghyll-bench", "produce", "--partitions", "0"],
            &["ghyll-bench", "produce", "--partitions", "1,0"],
            &["ghyll-bench", "consume", "--max-poll-records", "0"],
            &["ghyll-bench", "latency", "--rate", "0"],
            &["ghyll-bench", "latency", "--record-bytes", "15"],
        ] {
            assert!(Cli::try_parse_from(command).is_err(), "{command:?}");
        }
    }
}
