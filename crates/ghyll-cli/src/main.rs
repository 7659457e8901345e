//! `ghyll`: Kafka's command-line tools over a ghyll data directory.
//!
//! - `ghyll topics create|list|describe|alter|delete` — kafka-topics.
//! - `ghyll produce TOPIC` — kafka-console-producer: one record per line of
//!   standard input, keyed with `--key-separator`.
//! - `ghyll consume TOPIC` — kafka-console-consumer, printing with kcat's
//!   `--format` tokens; `--group G` consumes as a group member.
//! - `ghyll groups list|describe|reset-offsets|delete` — kafka-consumer-groups.
//! - `ghyll dump-log SEGMENT.log` — kafka-dump-log: reads a segment file
//!   directly, without a broker.
//!
//! Every command but `dump-log` opens the broker of `--data-dir` (or
//! `GHYLL_DATA_DIR`, default `./ghyll-data`) for as long as it runs; a
//! data directory is open in one process at a time, so a second command
//! on the same directory is told it is in use. Only `topics create` makes a
//! missing data directory.
//!
//! An error is one line on stderr, `ghyll: <error>: <cause>...`, with exit
//! code 1 (2 for a usage error). A closed standard output (`| head`) ends a
//! command quietly with exit code 0. `GHYLL_LOG=warn` (or `info`, `debug`)
//! prints the broker's log events on stderr.
#![forbid(unsafe_code)]

mod cli;
mod consume;
mod dump_log;
mod error;
mod format;
mod groups;
mod logging;
mod produce;
mod topics;

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::Parser;
use ghyll_broker::Broker;

use crate::cli::{Cli, Command, TopicsCommand};
use crate::error::{one_line, CliError};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(&error),
    };
    logging::init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.is_broken_pipe() => ExitCode::SUCCESS,
        Err(error) => {
            // Nowhere left to report a failed write to stderr.
            let _ = writeln!(io::stderr(), "ghyll: {}", one_line(&error));
            ExitCode::FAILURE
        }
    }
}

/// Help and version go out as clap prints them; any other parse error
/// becomes one line, `ghyll: <what clap said> (try --help)`, exit code 2.
fn usage_error(error: &clap::Error) -> ExitCode {
    let code = u8::try_from(error.exit_code()).unwrap_or(2);
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = error.print();
        }
        _ => {
            let rendered = error.render().to_string();
            let summary = rendered.split("\n\n").next().unwrap_or_default();
            let summary = summary.strip_prefix("error: ").unwrap_or(summary);
            let summary: Vec<&str> = summary.lines().map(str::trim).filter(|line| !line.is_empty()).collect();
            let _ = writeln!(io::stderr(), "ghyll: {} (try --help)", summary.join(" "));
        }
    }
    ExitCode::from(code)
}

fn run(cli: Cli) -> Result<(), CliError> {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    if let Command::DumpLog(args) = &cli.command {
        return dump_log::run(args, &mut out);
    }
    let create = matches!(cli.command, Command::Topics(TopicsCommand::Create(_)));
    let broker = open_broker(&cli.data_dir, &cli.nodes, create)?;
    let result = match cli.command {
        Command::Topics(command) => topics::run(&broker, command, &mut out),
        Command::Produce(args) => produce::run(&broker, args, &mut io::stdin().lock()),
        Command::Consume(args) => consume::run(&broker, args, &mut out),
        Command::Groups(command) => groups::run(&broker, command, &mut out),
        Command::DumpLog(_) => unreachable!("dump-log returned above"),
    };
    let flushed = out.flush().map_err(CliError::Stdout);
    let closed = broker.close().map_err(CliError::from);
    result.and(flushed).and(closed)
}

/// Opens the broker of `data_dir`; only `topics create` may make the
/// directory, so a mistyped `--data-dir` is an error and not a new, empty
/// broker.
fn open_broker(data_dir: &Path, nodes: &[PathBuf], create: bool) -> Result<Broker, CliError> {
    if !create && !data_dir.exists() {
        return Err(CliError::NoDataDirectory { path: data_dir.to_path_buf() });
    }
    let mut config = ghyll_broker::BrokerConfig::new(data_dir);
    config.nodes = nodes.to_vec();
    Ok(Broker::open_with(config)?)
}
