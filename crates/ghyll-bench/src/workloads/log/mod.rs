//! The `log` workload: append N records to one log, then read them all
//! back from offset 0, in ghyll-log, in a raw `BufWriter<File>` of the same
//! bytes (the physical limit) and in the `commitlog` crate 0.2.
//!
//! Fairness: each system's input is encoded before its clock starts where
//! its API allows, so a timed region holds only the append or write calls
//! and a final flush of user-space buffers; nothing is fsynced in any timed
//! region. Each system gets a fresh temp dir, removed once it is measured,
//! so one system's dirty pages are not written back during another's run.

mod ghyll;
/// Also opens and reads the commitlog logs of the `produce` and `consume`
/// workloads.
pub(in crate::workloads) mod peer_commitlog;
mod raw_file;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{BenchError, Context};
use crate::payload::{now_ms, ValuePool};
use crate::report::{group_thousands, median, Align, JsonLine, Measurement, Table};

/// Arguments of the `log` workload.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct LogArgs {
    /// Records appended to (and read back from) each system.
    #[arg(long, default_value_t = 2_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) records: u64,
    /// Value bytes of each record (no key, no headers).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) record_bytes: u32,
    /// Records per batch (ghyll batch, raw write, commitlog MessageBuf).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) batch: u32,
    /// Byte budget of one read call (ghyll `max_bytes`, commitlog
    /// `ReadLimit::max_bytes`).
    #[arg(long, default_value_t = 1 << 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) read_bytes: u32,
    /// Capacity of the raw system's BufWriter (std's default is 8 KiB).
    #[arg(long, default_value_t = 8 * 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) raw_buffer_bytes: u32,
    /// Directory under which each system gets a fresh temp dir [default:
    /// the system temp dir].
    #[arg(long)]
    pub(crate) dir: Option<PathBuf>,
    /// Times to repeat the whole comparison; the JSON line carries medians.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) runs: u32,
}

impl LogArgs {
    /// Checks the limits the systems impose, before any work is done.
    fn validate(&self) -> Result<(), BenchError> {
        let message_bytes = peer_commitlog::MESSAGE_HEADER_BYTES as u64 + u64::from(self.record_bytes);
        let commitlog_batch_bytes = message_bytes * u64::from(self.batch);
        if commitlog_batch_bytes > peer_commitlog::APPEND_BYTES_MAX as u64 {
            return Err(BenchError::new(format!(
                "--batch {} of {message_bytes}-byte commitlog messages is {commitlog_batch_bytes} bytes, over \
                 commitlog's per-append limit of {} bytes; use a smaller --batch or --record-bytes",
                self.batch,
                peer_commitlog::APPEND_BYTES_MAX
            )));
        }
        if u64::from(self.read_bytes) < message_bytes {
            return Err(BenchError::new(format!(
                "--read-bytes {} is below one commitlog message ({message_bytes} bytes)",
                self.read_bytes
            )));
        }
        Ok(())
    }
}

/// One timed operation, in the order the table lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    GhyllAppend,
    GhyllEncodeAppend,
    RawWrite,
    CommitlogAppendMsg,
    CommitlogAppendBatch,
    GhyllRead,
    CommitlogRead,
}

impl Operation {
    const ALL: [Operation; 7] = [
        Operation::GhyllAppend,
        Operation::GhyllEncodeAppend,
        Operation::RawWrite,
        Operation::CommitlogAppendMsg,
        Operation::CommitlogAppendBatch,
        Operation::GhyllRead,
        Operation::CommitlogRead,
    ];

    fn system(self) -> &'static str {
        match self {
            Operation::GhyllAppend | Operation::GhyllEncodeAppend | Operation::GhyllRead => "ghyll-log",
            Operation::RawWrite => "raw BufWriter<File>",
            Operation::CommitlogAppendMsg | Operation::CommitlogAppendBatch | Operation::CommitlogRead => {
                "commitlog 0.2"
            }
        }
    }

    fn description(self) -> &'static str {
        match self {
            Operation::GhyllAppend => "append (pre-encoded batches)",
            Operation::GhyllEncodeAppend => "encode + append",
            Operation::RawWrite => "write + flush (same batch bytes)",
            Operation::CommitlogAppendMsg => "append_msg (1 record per call)",
            Operation::CommitlogAppendBatch => "append (pre-built MessageBufs)",
            Operation::GhyllRead => "read all from offset 0",
            Operation::CommitlogRead => "read all from offset 0",
        }
    }

    fn json_key(self) -> &'static str {
        match self {
            Operation::GhyllAppend => "ghyll_append_rps",
            Operation::GhyllEncodeAppend => "ghyll_encode_append_rps",
            Operation::RawWrite => "raw_append_rps",
            Operation::CommitlogAppendMsg => "commitlog_append_rps",
            Operation::CommitlogAppendBatch => "commitlog_batch_append_rps",
            Operation::GhyllRead => "ghyll_read_rps",
            Operation::CommitlogRead => "commitlog_read_rps",
        }
    }
}

/// A ratio of two operations' records/s within one run: above 1 means the
/// numerator (ghyll) moved more records per second.
#[derive(Debug, Clone, Copy)]
struct Ratio {
    label: &'static str,
    json_key: &'static str,
    numerator: Operation,
    denominator: Operation,
}

const RATIOS: [Ratio; 5] = [
    Ratio {
        label: "ghyll append / raw write",
        json_key: "ratio_append_vs_raw",
        numerator: Operation::GhyllAppend,
        denominator: Operation::RawWrite,
    },
    Ratio {
        label: "ghyll append / commitlog batched append",
        json_key: "ratio_append_vs_commitlog_batch",
        numerator: Operation::GhyllAppend,
        denominator: Operation::CommitlogAppendBatch,
    },
    Ratio {
        label: "ghyll append / commitlog append_msg",
        json_key: "ratio_append_vs_commitlog",
        numerator: Operation::GhyllAppend,
        denominator: Operation::CommitlogAppendMsg,
    },
    Ratio {
        label: "ghyll encode+append / raw write",
        json_key: "ratio_encode_append_vs_raw",
        numerator: Operation::GhyllEncodeAppend,
        denominator: Operation::RawWrite,
    },
    Ratio {
        label: "ghyll read / commitlog read",
        json_key: "ratio_read_vs_commitlog",
        numerator: Operation::GhyllRead,
        denominator: Operation::CommitlogRead,
    },
];

/// Every operation's timing in one run of the comparison.
#[derive(Debug, Clone)]
struct RunResult {
    elapsed: Vec<(Operation, Duration)>,
}

impl RunResult {
    fn measurement(&self, operation: Operation, pool: &ValuePool) -> Measurement {
        let elapsed = self
            .elapsed
            .iter()
            .find(|(measured, _)| *measured == operation)
            .map(|(_, elapsed)| *elapsed)
            .expect("every run measures every operation");
        Measurement { records: pool.records(), payload_bytes: pool.total_bytes(), elapsed }
    }

    fn ratio(&self, ratio: &Ratio, pool: &ValuePool) -> f64 {
        self.measurement(ratio.numerator, pool).records_per_second()
            / self.measurement(ratio.denominator, pool).records_per_second()
    }
}

/// Encoded sizes, for the notes under the table.
#[derive(Debug, Clone, Copy)]
struct StoredBytes {
    ghyll: u64,
    commitlog: u64,
}

/// Runs the workload `args.runs` times and prints the report; the JSON line
/// is the last line of stdout.
///
/// # Errors
/// A bad argument, an I/O error, or any system's error.
///
/// # Panics
/// If a system loses or invents a record: the counts and byte sums read
/// back are asserted equal to what was appended.
pub(crate) fn run(args: &LogArgs) -> Result<(), BenchError> {
    args.validate()?;
    let base_dir = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let pool = ValuePool::new(args.records, args.record_bytes, now_ms());
    let mut runs = Vec::new();
    let mut stored = None;
    for run in 1..=args.runs {
        eprintln!("ghyll-bench log: run {run} of {}", args.runs);
        let (result, stored_bytes) = run_once(args, &base_dir, &pool)?;
        runs.push(result);
        stored = Some(stored_bytes);
    }
    let stored = stored.expect("runs is at least 1");
    print!("{}", render_report(args, &base_dir, &pool, &runs, stored));
    println!("{}", json_line(args, &pool, &runs).render());
    Ok(())
}

/// A fresh directory for one system, removed when dropped.
fn system_dir(base_dir: &Path, system: &str) -> Result<tempfile::TempDir, BenchError> {
    tempfile::Builder::new()
        .prefix(&format!("ghyll-bench-{system}-"))
        .tempdir_in(base_dir)
        .context(|| format!("creating a temp dir under {}", base_dir.display()))
}

/// One run of the whole comparison, the systems one after another.
fn run_once(args: &LogArgs, base_dir: &Path, pool: &ValuePool) -> Result<(RunResult, StoredBytes), BenchError> {
    let mut elapsed = Vec::with_capacity(Operation::ALL.len());

    let ghyll_batches = ghyll::encode_batches(pool, args.batch)?;
    let ghyll_stored: u64 = ghyll_batches.iter().map(|batch| batch.len() as u64).sum();
    {
        // Untimed warm-up: the first large write after the batches were
        // allocated pays for first-touch page faults and page-cache growth;
        // without it that cost lands on whichever system goes first.
        let dir = system_dir(base_dir, "warm-up")?;
        let buffer_bytes = usize::try_from(args.raw_buffer_bytes).expect("u32 fits in usize");
        raw_file::write(dir.path(), &ghyll_batches, buffer_bytes)?;
    }
    {
        let dir = system_dir(base_dir, "ghyll")?;
        let (append, read) = ghyll::append_then_read(dir.path(), &ghyll_batches, pool, args.read_bytes)?;
        elapsed.push((Operation::GhyllAppend, append));
        elapsed.push((Operation::GhyllRead, read));
    }
    {
        let dir = system_dir(base_dir, "raw")?;
        let buffer_bytes = usize::try_from(args.raw_buffer_bytes).expect("u32 fits in usize");
        elapsed.push((Operation::RawWrite, raw_file::write(dir.path(), &ghyll_batches, buffer_bytes)?));
    }
    drop(ghyll_batches);
    {
        let dir = system_dir(base_dir, "ghyll-encode")?;
        elapsed.push((Operation::GhyllEncodeAppend, ghyll::encode_and_append(dir.path(), pool, args.batch)?));
    }
    {
        let dir = system_dir(base_dir, "commitlog-msg")?;
        elapsed.push((Operation::CommitlogAppendMsg, peer_commitlog::append_each(dir.path(), pool)?));
    }
    let message_bufs = peer_commitlog::build_message_bufs(pool, args.batch)?;
    let commitlog_stored = peer_commitlog::stored_bytes(&message_bufs);
    {
        let dir = system_dir(base_dir, "commitlog-batch")?;
        let (append, read) = peer_commitlog::append_batches_then_read(dir.path(), message_bufs, pool, args.read_bytes)?;
        elapsed.push((Operation::CommitlogAppendBatch, append));
        elapsed.push((Operation::CommitlogRead, read));
    }

    Ok((RunResult { elapsed }, StoredBytes { ghyll: ghyll_stored, commitlog: commitlog_stored }))
}

fn seconds(seconds: f64) -> String {
    format!("{seconds:.3}")
}

fn render_report(args: &LogArgs, base_dir: &Path, pool: &ValuePool, runs: &[RunResult], stored: StoredBytes) -> String {
    let mut out = format!(
        "ghyll-bench log: {} records x {} value bytes, {} records per batch, {} run(s), read chunks of {} bytes\n\
         temp dirs under {}\n\n",
        args.records,
        args.record_bytes,
        args.batch,
        args.runs,
        args.read_bytes,
        base_dir.display()
    );
    out.push_str(&rates_table(pool, runs).render());
    out.push('\n');
    out.push_str(&ratios_table(pool, runs).render());
    out.push('\n');
    out.push_str(&notes(args, pool, stored));
    out
}

/// One row per operation per run, then (with more than one run) a median
/// row per operation.
fn rates_table(pool: &ValuePool, runs: &[RunResult]) -> Table {
    let columns = [
        ("run", Align::Left),
        ("system", Align::Left),
        ("operation", Align::Left),
        ("seconds", Align::Right),
        ("records/s", Align::Right),
        ("MB/s", Align::Right),
    ];
    let mut table = Table::new(&columns);
    for (index, run) in runs.iter().enumerate() {
        for operation in Operation::ALL {
            let measurement = run.measurement(operation, pool);
            table.push(vec![
                (index + 1).to_string(),
                operation.system().to_owned(),
                operation.description().to_owned(),
                seconds(measurement.elapsed.as_secs_f64()),
                group_thousands(measurement.records_per_second()),
                format!("{:.1}", measurement.payload_megabytes_per_second()),
            ]);
        }
    }
    if runs.len() > 1 {
        for operation in Operation::ALL {
            let measurements: Vec<Measurement> = runs.iter().map(|run| run.measurement(operation, pool)).collect();
            let median_of = |value: fn(&Measurement) -> f64| {
                median(&measurements.iter().map(value).collect::<Vec<_>>()).expect("at least one run")
            };
            table.push(vec![
                "median".to_owned(),
                operation.system().to_owned(),
                operation.description().to_owned(),
                seconds(median_of(|measurement| measurement.elapsed.as_secs_f64())),
                group_thousands(median_of(Measurement::records_per_second)),
                format!("{:.1}", median_of(Measurement::payload_megabytes_per_second)),
            ]);
        }
    }
    table
}

/// One row per ratio: its value in each run, then the median.
fn ratios_table(pool: &ValuePool, runs: &[RunResult]) -> Table {
    let mut columns: Vec<(String, Align)> = vec![("ratio of records/s (>1: ghyll faster)".to_owned(), Align::Left)];
    columns.extend((1..=runs.len()).map(|run| (format!("run {run}"), Align::Right)));
    if runs.len() > 1 {
        columns.push(("median".to_owned(), Align::Right));
    }
    let columns: Vec<(&str, Align)> = columns.iter().map(|(name, align)| (name.as_str(), *align)).collect();
    let mut table = Table::new(&columns);
    for ratio in &RATIOS {
        let per_run: Vec<f64> = runs.iter().map(|run| run.ratio(ratio, pool)).collect();
        let mut row = vec![ratio.label.to_owned()];
        row.extend(per_run.iter().map(|value| format!("{value:.3}")));
        if runs.len() > 1 {
            row.push(format!("{:.3}", median(&per_run).expect("at least one run")));
        }
        table.push(row);
    }
    table
}

/// What was and was not timed, and the settings each system ran with.
fn notes(args: &LogArgs, pool: &ValuePool, stored: StoredBytes) -> String {
    let records = pool.records();
    let ghyll_segment_bytes = ghyll_log::LogConfig::default().segment_bytes;
    let fits_one_segment =
        stored.ghyll <= u64::from(ghyll_segment_bytes) && stored.commitlog < peer_commitlog::SEGMENT_BYTES as u64;
    format!(
        "notes:\n\
         - no fsync in any timed region, for any system: ghyll-log's append writes to the kernel on every \
         call and is not flushed after; raw is write_all per batch into a BufWriter<File> ({raw} byte \
         buffer) plus one flush() at the end; commitlog writes each append straight to its segment file and \
         its index to an mmap, and its flush() is not called because it msyncs the index.\n\
         - encoded before the clock starts: ghyll batches (BatchBuilder), the raw writer's bytes (the same \
         batches), commitlog MessageBufs; commitlog append_msg frames each record inside the call (its API); \
         'encode + append' times BatchBuilder too. Records: no key, no headers, timestamps 1 ms apart from \
         the wall clock at startup (a base older than segment.ms would make ghyll-log, like Kafka, roll a \
         segment on every append).\n\
         - segments: ghyll-log LogConfig::default() (segment.bytes = {ghyll_segment_bytes}); commitlog \
         LogOptions::new defaults except segment_max_bytes = {commitlog_segment} (its default is 10^9); \
         this run {fits} in one segment of each.\n\
         - stored bytes: ghyll-log {ghyll_stored} ({ghyll_per_record:.1} per record, the raw file the same), \
         commitlog {commitlog_stored} ({commitlog_per_record:.1} per record) plus 8 index bytes per record.\n\
         - reads start at offset 0 and loop to the end in {read_bytes}-byte chunks, visiting every record \
         and summing value lengths (checked = records x record-bytes); the data was just written, so both \
         read from the page cache. commitlog is read from the log its batched append wrote.\n\
         - each run starts with an untimed raw write of the same bytes (a warm-up), so first-touch costs \
         do not land on whichever system is timed first.\n\
         - MB/s counts value bytes (10^6 bytes/s); ratios divide records/s measured in the same run; the JSON \
         line carries medians over runs (for ratios, the median of the per-run ratios).\n",
        raw = args.raw_buffer_bytes,
        commitlog_segment = peer_commitlog::SEGMENT_BYTES,
        fits = if fits_one_segment { "fits" } else { "does not fit" },
        ghyll_stored = stored.ghyll,
        ghyll_per_record = stored.ghyll as f64 / records as f64,
        commitlog_stored = stored.commitlog,
        commitlog_per_record = stored.commitlog as f64 / records as f64,
        read_bytes = args.read_bytes,
    )
}

fn json_line(args: &LogArgs, pool: &ValuePool, runs: &[RunResult]) -> JsonLine {
    let mut line = JsonLine::new();
    line.string("workload", "log")
        .unsigned("records", pool.records())
        .unsigned("record_bytes", u64::from(args.record_bytes))
        .unsigned("batch", u64::from(args.batch))
        .unsigned("runs", runs.len() as u64);
    for operation in Operation::ALL {
        let rates: Vec<f64> = runs.iter().map(|run| run.measurement(operation, pool).records_per_second()).collect();
        line.optional_number(operation.json_key(), median(&rates), 1);
    }
    for ratio in &RATIOS {
        let per_run: Vec<f64> = runs.iter().map(|run| run.ratio(ratio, pool)).collect();
        line.optional_number(ratio.json_key, median(&per_run), 4);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> LogArgs {
        LogArgs {
            records: 10,
            record_bytes: 100,
            batch: 100,
            read_bytes: 1 << 20,
            raw_buffer_bytes: 8192,
            dir: None,
            runs: 1,
        }
    }

    #[test]
    fn batch_over_commitlogs_append_limit_is_rejected_up_front() {
        let mut too_big = args();
        too_big.batch = 10_000;
        let error = too_big.validate().unwrap_err();
        assert!(error.to_string().contains("per-append limit"), "{error}");
        assert!(args().validate().is_ok());
    }

    #[test]
    fn read_budget_below_one_message_is_rejected() {
        let mut tiny = args();
        tiny.read_bytes = 50;
        assert!(tiny.validate().unwrap_err().to_string().contains("--read-bytes"));
    }

    #[test]
    fn json_line_carries_medians_of_rates_and_of_per_run_ratios() {
        let pool = ValuePool::new(1_000, 1, 0);
        let run = |scale: u64| RunResult {
            elapsed: Operation::ALL
                .iter()
                .map(|operation| {
                    // Raw write twice as fast as everything else in every run.
                    let millis = if *operation == Operation::RawWrite { 500 } else { 1_000 };
                    (*operation, Duration::from_millis(millis * scale))
                })
                .collect(),
        };
        let runs = [run(1), run(2), run(4)];
        let rendered = json_line(&args(), &pool, &runs).render();
        assert!(rendered.starts_with(r#"{"workload":"log", "records":1000, "#), "{rendered}");
        // Rates 1000, 500, 250 records/s: the median is 500.
        assert!(rendered.contains(r#""ghyll_append_rps":500.0"#), "{rendered}");
        assert!(rendered.contains(r#""raw_append_rps":1000.0"#), "{rendered}");
        assert!(rendered.contains(r#""ratio_append_vs_raw":0.5000"#), "{rendered}");
        assert!(rendered.contains(r#""ratio_read_vs_commitlog":1.0000"#), "{rendered}");
        assert!(rendered.ends_with('}'));
        for operation in Operation::ALL {
            assert!(rendered.contains(&format!("\"{}\":", operation.json_key())), "{rendered}");
        }
    }
}
