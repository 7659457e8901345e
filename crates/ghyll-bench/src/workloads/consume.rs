//! The `consume` workload: N records are produced first (untimed), then
//! one consumer reads them all back from the beginning of every partition:
//! ghyll's `Consumer::poll` (all partitions assigned, `seek_to_beginning`,
//! `max.poll.records` and `max.partition.fetch.bytes` tuned as a Kafka
//! user would), against the `commitlog` crate 0.2's `read` (one log per
//! partition) and `kafko` 0.3's merged `Consumer::next_with_position`.
//!
//! Fairness: every system holds the same values, spread round-robin over
//! its partitions, written just before the read (so every read is from the
//! page cache); every reader visits every record, checks that offsets run
//! 0, 1, 2, ... in each partition and sums value lengths, and the sum is
//! checked. Creating the consumer, assigning and seeking are not timed.

use std::path::{Path, PathBuf};

use crate::error::BenchError;
use crate::payload::{now_ms, ValuePool};
use crate::report::{group_thousands, JsonLine};
use crate::workloads::partitioned::{self, Comparison, Ratio};
use crate::workloads::produce::warm_up;
use crate::workloads::systems::commitlog::CommitlogPartitions;
use crate::workloads::systems::ghyll::{GhyllSystem, ReadTotals};
use crate::workloads::systems::kafko::{values_as_bytes, KafkoRuntime, KafkoSystem};
use crate::workloads::systems::system_dir;

/// The records/s ghyll's consumer is meant to reach.
const GOAL_RECORDS_PER_SECOND: f64 = 20_000_000.0;

/// Records per kafko `send_batch` call while filling it (untimed).
const KAFKO_FILL_BATCH_RECORDS: u32 = 1024;

/// Arguments of the `consume` workload.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ConsumeArgs {
    /// Records produced to, then read back from, each system, for each
    /// partition count.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) records: u64,
    /// Value bytes of each record (no key, no headers).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub(crate) record_bytes: u32,
    /// Partition counts of the topic, comma-separated; each is measured.
    #[arg(long, value_delimiter = ',', default_value = "1,8", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub(crate) partitions: Vec<u32>,
    /// ghyll's `max.poll.records`: most records one `poll` returns.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) max_poll_records: u64,
    /// ghyll's `max.partition.fetch.bytes`, and commitlog's
    /// `ReadLimit::max_bytes` per read.
    #[arg(long, default_value_t = 1 << 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) fetch_bytes: u32,
    /// kafko's `LogConfig::segment_size_threshold`. Its consumer reads
    /// from the record's index entry to the end of its segment for every
    /// record, so its read cost per record grows with the segment; see the
    /// notes.
    #[arg(long, default_value_t = 64 * 1024, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) kafko_segment_bytes: u64,
    /// The tokio runtime kafko runs on.
    #[arg(long, value_enum, default_value_t = KafkoRuntime::CurrentThread)]
    pub(crate) kafko_runtime: KafkoRuntime,
    /// Measure ghyll alone (for profiling); peers' rows and ratios show
    /// as missing.
    #[arg(long)]
    pub(crate) ghyll_only: bool,
    /// Directory under which each system gets a fresh temp dir [default:
    /// the system temp dir].
    #[arg(long)]
    pub(crate) dir: Option<PathBuf>,
    /// Times to repeat the whole comparison; the JSON line carries medians.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) runs: u32,
}

impl ConsumeArgs {
    fn validate(&self) -> Result<(), BenchError> {
        let message_bytes =
            crate::workloads::log::peer_commitlog::MESSAGE_HEADER_BYTES as u64 + u64::from(self.record_bytes);
        if u64::from(self.fetch_bytes) < message_bytes {
            return Err(BenchError::new(format!(
                "--fetch-bytes {} is below one commitlog message ({message_bytes} bytes)",
                self.fetch_bytes
            )));
        }
        if usize::try_from(self.max_poll_records).is_err() {
            return Err(BenchError::new(format!(
                "--max-poll-records {} does not fit in memory",
                self.max_poll_records
            )));
        }
        Ok(())
    }
}

/// One timed operation, in the order the table lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    GhyllPoll,
    CommitlogRead,
    KafkoNextRecord,
}

impl Operation {
    const ALL: [Operation; 3] = [Operation::GhyllPoll, Operation::CommitlogRead, Operation::KafkoNextRecord];
}

impl partitioned::Operation for Operation {
    fn system(self) -> &'static str {
        match self {
            Operation::GhyllPoll => "ghyll-broker",
            Operation::CommitlogRead => "commitlog 0.2",
            Operation::KafkoNextRecord => "kafko 0.3",
        }
    }

    fn description(self) -> &'static str {
        match self {
            Operation::GhyllPoll => "poll, visit every record",
            Operation::CommitlogRead => "read each log in --fetch-bytes chunks",
            Operation::KafkoNextRecord => "next_with_position().await per record",
        }
    }

    fn json_stem(self) -> &'static str {
        match self {
            Operation::GhyllPoll => "ghyll_poll",
            Operation::CommitlogRead => "commitlog_read",
            Operation::KafkoNextRecord => "kafko_next_record",
        }
    }
}

const RATIOS: [Ratio<Operation>; 2] = [
    Ratio {
        label: "ghyll poll / commitlog read",
        json_stem: "ratio_poll_vs_commitlog",
        numerator: Operation::GhyllPoll,
        denominator: Operation::CommitlogRead,
    },
    Ratio {
        label: "ghyll poll / kafko next_with_position",
        json_stem: "ratio_poll_vs_kafko",
        numerator: Operation::GhyllPoll,
        denominator: Operation::KafkoNextRecord,
    },
];

type RunResult = partitioned::RunResult<Operation>;

fn comparison<'a>(args: &'a ConsumeArgs, pool: &ValuePool) -> Comparison<'a, Operation> {
    Comparison {
        operations: &Operation::ALL,
        ratios: &RATIOS,
        partitions: &args.partitions,
        records: pool.records(),
        payload_bytes: pool.total_bytes(),
    }
}

fn kafko_config(args: &ConsumeArgs) -> kafko::LogConfig {
    kafko::LogConfig { segment_size_threshold: args.kafko_segment_bytes, ..kafko::LogConfig::default() }
}

/// Runs the workload `args.runs` times and prints the report; the JSON line
/// is the last line of stdout.
///
/// # Errors
/// A bad argument, an I/O error, or any system's error, including a read
/// that does not return every record and every value byte.
pub(crate) fn run(args: &ConsumeArgs) -> Result<(), BenchError> {
    args.validate()?;
    let base_dir = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let pool = ValuePool::new(args.records, args.record_bytes, now_ms());
    let mut runs = Vec::new();
    for run in 1..=args.runs {
        eprintln!("ghyll-bench consume: run {run} of {}", args.runs);
        runs.push(run_once(args, &base_dir, &pool)?);
    }
    print!("{}", render_report(args, &base_dir, &pool, &runs));
    println!("{}", json_line(args, &pool, &runs).render());
    Ok(())
}

/// Checks that a read returned every record and every value byte.
fn check_read(system: &str, totals: ReadTotals, pool: &ValuePool) -> Result<(), BenchError> {
    if totals.records != pool.records() || totals.value_bytes != pool.total_bytes() {
        return Err(BenchError::new(format!(
            "{system} read {} records and {} value bytes, expected {} and {}",
            totals.records,
            totals.value_bytes,
            pool.records(),
            pool.total_bytes()
        )));
    }
    Ok(())
}

/// One run of the whole comparison: for each partition count, each system
/// filled (untimed) and then read back (timed), one after another.
fn run_once(args: &ConsumeArgs, base_dir: &Path, pool: &ValuePool) -> Result<RunResult, BenchError> {
    let mut result = RunResult::new();
    let kafko_values = values_as_bytes(pool);
    warm_up(base_dir, pool)?;
    let max_poll_records = usize::try_from(args.max_poll_records).expect("validated to fit in usize");
    for &partitions in &args.partitions {
        {
            let dir = system_dir(base_dir, "ghyll")?;
            let ghyll = GhyllSystem::open(dir.path(), partitions)?;
            ghyll.send_async_all(pool)?;
            let totals = ghyll.poll_all(pool.records(), max_poll_records, args.fetch_bytes)?;
            check_read("ghyll", totals, pool)?;
            result.push(partitions, Operation::GhyllPoll, totals.elapsed);
            ghyll.close()?;
        }
        if args.ghyll_only {
            continue;
        }
        {
            let dir = system_dir(base_dir, "commitlog")?;
            let mut commitlog = CommitlogPartitions::open(dir.path(), partitions)?;
            commitlog.append_batches(pool)?;
            let totals = commitlog.read_all(args.fetch_bytes)?;
            check_read("commitlog", totals, pool)?;
            result.push(partitions, Operation::CommitlogRead, totals.elapsed);
        }
        {
            let dir = system_dir(base_dir, "kafko")?;
            let kafko = KafkoSystem::open(dir.path(), partitions, kafko_config(args), args.kafko_runtime)?;
            kafko.send_batches(&kafko_values, pool, KAFKO_FILL_BATCH_RECORDS)?;
            let totals = kafko.read_all(pool.records())?;
            check_read("kafko", totals, pool)?;
            result.push(partitions, Operation::KafkoNextRecord, totals.elapsed);
            kafko.shutdown()?;
        }
    }
    Ok(result)
}

fn render_report(args: &ConsumeArgs, base_dir: &Path, pool: &ValuePool, runs: &[RunResult]) -> String {
    let partitions: Vec<String> = args.partitions.iter().map(u32::to_string).collect();
    let mut out = format!(
        "ghyll-bench consume: {} records x {} value bytes, keyless, partitions {}, {} run(s), \
         max.poll.records {}, fetch chunks of {} bytes\n\
         temp dirs under {}\n\n",
        args.records,
        args.record_bytes,
        partitions.join(","),
        args.runs,
        args.max_poll_records,
        args.fetch_bytes,
        base_dir.display()
    );
    let comparison = comparison(args, pool);
    out.push_str(&comparison.rates_table(runs).render());
    out.push('\n');
    out.push_str(&comparison.ratios_table(runs).render());
    out.push('\n');
    for &partitions in &args.partitions {
        let rate = comparison.median_rate(runs, partitions, Operation::GhyllPoll).unwrap_or(f64::NAN);
        out.push_str(&format!(
            "goal: ghyll poll >= {} records/s at {partitions} partition(s): median {} records/s, {}\n",
            group_thousands(GOAL_RECORDS_PER_SECOND),
            group_thousands(rate),
            if rate >= GOAL_RECORDS_PER_SECOND { "met" } else { "not met" }
        ));
    }
    out.push('\n');
    out.push_str(&notes(args));
    out
}

/// What was and was not timed, and the settings each system ran with.
fn notes(args: &ConsumeArgs) -> String {
    let kafko = kafko_config(args);
    format!(
        "notes:\n\
         - before each read, untimed, the system is filled with the same records: ghyll through \
         Producer::send_async + flush (default partitioner, round-robin), commitlog through batched appends \
         (record i to log i % P), kafko through send_batch ({fill} records per call, keyless: round-robin). \
         The read follows at once, so every system reads from the page cache.\n\
         - ghyll: one Consumer (auto.offset.reset=earliest, max.poll.records = {max_poll}, \
         max.partition.fetch.bytes = {fetch}) assigned every partition, seek_to_beginning, then poll until \
         every record came back; records are visited through ConsumerRecords::iter (values borrowed from \
         the read buffer, not copied).\n\
         - commitlog 0.2: each of the P logs read from offset 0 to its end with read(offset, \
         ReadLimit::max_bytes({fetch})), visiting every message.\n\
         - kafko 0.3: one consumer_for(topic) (all partitions merged), seek_all(0), then \
         next_with_position().await once per record, on a tokio {runtime} runtime (--kafko-runtime; the \
         faster of the two here). Each call sends a read command to the partition's writer task, which reads \
         from the nearest index entry (every {interval} bytes) to the end of the segment into a fresh buffer \
         and decodes forward to the record: the cost of one record grows with the bytes after it in its \
         segment, so a read of the whole log costs O(segment bytes) per record. With kafko's default 1 GiB \
         segment a 2,000,000-record read would copy ~10^14 bytes; kafko here runs with segment_size_threshold \
         = {segment} bytes (--kafko-segment-bytes) to bound that cost, other LogConfig fields at their \
         defaults. Every record's value is copied into a fresh Bytes (its API returns owned records).\n\
         - every reader checks that offsets run 0, 1, 2, ... in each partition and sums value lengths; the \
         sum must equal records x record-bytes.\n\
         - each run starts with an untimed write of the pool's bytes to a file (a warm-up); each system gets a \
         fresh temp dir, removed once it is measured; nothing is fsynced while timing.\n\
         - MB/s counts value bytes (10^6 bytes/s); ratios divide records/s measured in the same run at the \
         same partition count; the JSON line carries medians over runs (for ratios, the median of the \
         per-run ratios).\n",
        fill = KAFKO_FILL_BATCH_RECORDS,
        max_poll = args.max_poll_records,
        fetch = args.fetch_bytes,
        runtime = args.kafko_runtime.name(),
        interval = kafko.index_interval,
        segment = kafko.segment_size_threshold,
    )
}

fn json_line(args: &ConsumeArgs, pool: &ValuePool, runs: &[RunResult]) -> JsonLine {
    let mut line = JsonLine::new();
    line.string("workload", "consume")
        .unsigned("records", pool.records())
        .unsigned("record_bytes", u64::from(args.record_bytes))
        .unsigned("max_poll_records", args.max_poll_records)
        .unsigned("fetch_bytes", u64::from(args.fetch_bytes))
        .unsigned("kafko_segment_bytes", args.kafko_segment_bytes)
        .string("kafko_runtime", args.kafko_runtime.name())
        .unsigned("runs", runs.len() as u64);
    comparison(args, pool).json_fields(&mut line, runs);
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> ConsumeArgs {
        ConsumeArgs {
            records: 1_000,
            record_bytes: 100,
            partitions: vec![1, 8],
            max_poll_records: 100_000,
            fetch_bytes: 1 << 20,
            kafko_segment_bytes: 64 * 1024,
            kafko_runtime: KafkoRuntime::CurrentThread,
            ghyll_only: false,
            dir: None,
            runs: 1,
        }
    }

    #[test]
    fn fetch_budget_below_one_message_is_rejected() {
        let mut tiny = args();
        tiny.fetch_bytes = 50;
        assert!(tiny.validate().unwrap_err().to_string().contains("--fetch-bytes"));
        assert!(args().validate().is_ok());
    }

    #[test]
    fn a_small_comparison_reads_back_every_record_from_every_system() {
        // End to end on a few records, with small fetches so that reads take
        // several polls: each read is checked for its count and byte sum.
        let dir = tempfile::tempdir().expect("temp dir");
        let mut small = args();
        small.records = 300;
        small.partitions = vec![1, 3];
        small.max_poll_records = 7;
        small.fetch_bytes = 1_000;
        small.kafko_segment_bytes = 4_096;
        let pool = ValuePool::new(small.records, small.record_bytes, now_ms());
        let result = run_once(&small, dir.path(), &pool).expect("a small consume run");
        for partitions in [1, 3] {
            for operation in Operation::ALL {
                assert!(result.elapsed(partitions, operation).is_some(), "{operation:?} at {partitions}");
            }
        }
        let rendered = json_line(&small, &pool, &[result]).render();
        assert!(rendered.contains(r#""ratio_poll_vs_kafko_p3":"#), "{rendered}");
    }
}
