//! The `produce` workload: one producer thread sends N keyless records to
//! a topic of P partitions through ghyll's broker (`Producer::send_async`
//! for every record then `flush()`, Kafka's batching path; and the
//! synchronous `Producer::send` per record), against the `commitlog` crate
//! 0.2 (`append_msg`, one log per partition) and `kafko` 0.3 (`send_batch`
//! and `send().await`), for every P in `--partitions`.
//!
//! Fairness: every system gets the same values, keyless, spread
//! round-robin over its partitions, and a fresh temp dir removed once it is
//! measured; nothing is fsynced in any timed region (every system's send
//! returns once its bytes are in the kernel's page cache). A timed region
//! runs from the first send to the last acknowledgement: for ghyll's
//! `send_async` that is `flush()` returning, which waits for every batch.
//! Opening, creating the topic, creating producers and closing are not
//! timed.

use std::path::{Path, PathBuf};

use crate::error::{BenchError, Context};
use crate::payload::{now_ms, ValuePool};
use crate::report::JsonLine;
use crate::workloads::partitioned::{self, Comparison, Ratio};
use crate::workloads::systems::commitlog::CommitlogPartitions;
use crate::workloads::systems::ghyll::{Await, GhyllSystem};
use crate::workloads::systems::kafko::{values_as_bytes, KafkoRuntime, KafkoSystem};
use crate::workloads::systems::system_dir;

/// Arguments of the `produce` workload.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ProduceArgs {
    /// Records sent to each system, for each partition count.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) records: u64,
    /// Value bytes of each record (no key, no headers).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub(crate) record_bytes: u32,
    /// Partition counts of the topic, comma-separated; each is measured.
    #[arg(long, value_delimiter = ',', default_value = "1,8", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub(crate) partitions: Vec<u32>,
    /// Records per `send_batch` call, for kafko and ghyll alike (kafko's
    /// own natural-batching limit, `LogConfig::batch_max_records`, is 1024).
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) kafko_batch: u32,
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

/// One timed operation, in the order the table lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    GhyllSendAsync,
    GhyllSendBatch,
    GhyllSendBatchWait,
    GhyllSend,
    CommitlogAppendMsg,
    KafkoSendBatch,
    KafkoSend,
}

impl Operation {
    const ALL: [Operation; 7] = [
        Operation::GhyllSendAsync,
        Operation::GhyllSendBatch,
        Operation::GhyllSendBatchWait,
        Operation::GhyllSend,
        Operation::CommitlogAppendMsg,
        Operation::KafkoSendBatch,
        Operation::KafkoSend,
    ];
}

impl partitioned::Operation for Operation {
    fn system(self) -> &'static str {
        match self {
            Operation::GhyllSendAsync
            | Operation::GhyllSendBatch
            | Operation::GhyllSendBatchWait
            | Operation::GhyllSend => "ghyll-broker",
            Operation::CommitlogAppendMsg => "commitlog 0.2",
            Operation::KafkoSendBatch | Operation::KafkoSend => "kafko 0.3",
        }
    }

    fn description(self) -> &'static str {
        match self {
            Operation::GhyllSendAsync => "send_async per record + flush()",
            Operation::GhyllSendBatch => "send_batch (--kafko-batch records per call) + flush()",
            Operation::GhyllSendBatchWait => "send_batch, waiting for each call",
            Operation::GhyllSend => "send per record (waits for the append)",
            Operation::CommitlogAppendMsg => "append_msg per record, log i % P",
            Operation::KafkoSendBatch => "send_batch (--kafko-batch records per call)",
            Operation::KafkoSend => "send(None, value).await per record",
        }
    }

    fn json_stem(self) -> &'static str {
        match self {
            Operation::GhyllSendAsync => "ghyll_send_async",
            Operation::GhyllSendBatch => "ghyll_send_batch",
            Operation::GhyllSendBatchWait => "ghyll_send_batch_wait",
            Operation::GhyllSend => "ghyll_send",
            Operation::CommitlogAppendMsg => "commitlog_append_msg",
            Operation::KafkoSendBatch => "kafko_send_batch",
            Operation::KafkoSend => "kafko_send",
        }
    }
}

const RATIOS: [Ratio<Operation>; 6] = [
    Ratio {
        label: "ghyll send_batch / kafko send_batch",
        json_stem: "ratio_send_batch_vs_kafko_batch",
        numerator: Operation::GhyllSendBatch,
        denominator: Operation::KafkoSendBatch,
    },
    Ratio {
        label: "ghyll send_batch waited / kafko send_batch",
        json_stem: "ratio_send_batch_wait_vs_kafko_batch",
        numerator: Operation::GhyllSendBatchWait,
        denominator: Operation::KafkoSendBatch,
    },
    Ratio {
        label: "ghyll send_async / kafko send_batch",
        json_stem: "ratio_send_async_vs_kafko_batch",
        numerator: Operation::GhyllSendAsync,
        denominator: Operation::KafkoSendBatch,
    },
    Ratio {
        label: "ghyll send_async / commitlog append_msg",
        json_stem: "ratio_send_async_vs_commitlog",
        numerator: Operation::GhyllSendAsync,
        denominator: Operation::CommitlogAppendMsg,
    },
    Ratio {
        label: "ghyll send / kafko send",
        json_stem: "ratio_send_vs_kafko_send",
        numerator: Operation::GhyllSend,
        denominator: Operation::KafkoSend,
    },
    Ratio {
        label: "ghyll send / commitlog append_msg",
        json_stem: "ratio_send_vs_commitlog",
        numerator: Operation::GhyllSend,
        denominator: Operation::CommitlogAppendMsg,
    },
];

type RunResult = partitioned::RunResult<Operation>;

fn comparison<'a>(args: &'a ProduceArgs, pool: &ValuePool) -> Comparison<'a, Operation> {
    Comparison {
        operations: &Operation::ALL,
        ratios: &RATIOS,
        partitions: &args.partitions,
        records: pool.records(),
        payload_bytes: pool.total_bytes(),
    }
}

/// Runs the workload `args.runs` times and prints the report; the JSON line
/// is the last line of stdout.
///
/// # Errors
/// An I/O error, or any system's error, including a system that does not
/// hold every record once its sends are acknowledged.
pub(crate) fn run(args: &ProduceArgs) -> Result<(), BenchError> {
    let base_dir = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let pool = ValuePool::new(args.records, args.record_bytes, now_ms());
    let mut runs = Vec::new();
    for run in 1..=args.runs {
        eprintln!("ghyll-bench produce: run {run} of {}", args.runs);
        runs.push(run_once(args, &base_dir, &pool)?);
    }
    print!("{}", render_report(args, &base_dir, &pool, &runs));
    println!("{}", json_line(args, &pool, &runs).render());
    Ok(())
}

/// One run of the whole comparison: for each partition count, the systems
/// one after another.
fn run_once(args: &ProduceArgs, base_dir: &Path, pool: &ValuePool) -> Result<RunResult, BenchError> {
    let mut result = RunResult::new();
    let kafko_values = values_as_bytes(pool);
    warm_up(base_dir, pool)?;
    for &partitions in &args.partitions {
        {
            let dir = system_dir(base_dir, "ghyll-send-async")?;
            let ghyll = GhyllSystem::open(dir.path(), partitions)?;
            result.push(partitions, Operation::GhyllSendAsync, ghyll.send_async_all(pool)?);
            ghyll.close()?;
        }
        for (operation, wait) in
            [(Operation::GhyllSendBatch, Await::End), (Operation::GhyllSendBatchWait, Await::EachCall)]
        {
            let dir = system_dir(base_dir, "ghyll-send-batch")?;
            let ghyll = GhyllSystem::open(dir.path(), partitions)?;
            result.push(partitions, operation, ghyll.send_batches(pool, args.kafko_batch, wait)?);
            ghyll.close()?;
        }
        {
            let dir = system_dir(base_dir, "ghyll-send")?;
            let ghyll = GhyllSystem::open(dir.path(), partitions)?;
            result.push(partitions, Operation::GhyllSend, ghyll.send_each(pool)?);
            ghyll.close()?;
        }
        if args.ghyll_only {
            continue;
        }
        {
            let dir = system_dir(base_dir, "commitlog")?;
            let mut commitlog = CommitlogPartitions::open(dir.path(), partitions)?;
            result.push(partitions, Operation::CommitlogAppendMsg, commitlog.append_each(pool)?);
        }
        {
            let dir = system_dir(base_dir, "kafko-batch")?;
            let kafko = KafkoSystem::open(dir.path(), partitions, kafko::LogConfig::default(), args.kafko_runtime)?;
            let elapsed = kafko.send_batches(&kafko_values, pool, args.kafko_batch)?;
            result.push(partitions, Operation::KafkoSendBatch, elapsed);
            kafko.shutdown()?;
        }
        {
            let dir = system_dir(base_dir, "kafko-send")?;
            let kafko = KafkoSystem::open(dir.path(), partitions, kafko::LogConfig::default(), args.kafko_runtime)?;
            result.push(partitions, Operation::KafkoSend, kafko.send_each(&kafko_values, pool)?);
            kafko.shutdown()?;
        }
    }
    Ok(result)
}

/// Untimed: writes the pool's bytes to a file once, so that first-touch
/// page faults and page-cache growth do not land on whichever system is
/// timed first (as the `log` workload's warm-up does).
pub(in crate::workloads) fn warm_up(base_dir: &Path, pool: &ValuePool) -> Result<(), BenchError> {
    let dir = system_dir(base_dir, "warm-up")?;
    let path = dir.path().join("warm-up");
    std::fs::write(&path, pool.all_values()).context(|| format!("writing {}", path.display()))
}

fn render_report(args: &ProduceArgs, base_dir: &Path, pool: &ValuePool, runs: &[RunResult]) -> String {
    let partitions: Vec<String> = args.partitions.iter().map(u32::to_string).collect();
    let mut out = format!(
        "ghyll-bench produce: {} records x {} value bytes, keyless, partitions {}, {} run(s)\n\
         temp dirs under {}\n\n",
        args.records,
        args.record_bytes,
        partitions.join(","),
        args.runs,
        base_dir.display()
    );
    let comparison = comparison(args, pool);
    out.push_str(&comparison.rates_table(runs).render());
    out.push('\n');
    out.push_str(&comparison.ratios_table(runs).render());
    out.push('\n');
    out.push_str(&notes(args));
    out
}

/// What was and was not timed, and the settings each system ran with.
fn notes(args: &ProduceArgs) -> String {
    let producer = ghyll_broker::ProducerConfig::default();
    let kafko = kafko::LogConfig::default();
    format!(
        "notes:\n\
         - one producer thread per system. ghyll: Broker::open defaults, one topic, \
         broker.producer(ProducerConfig::default()) (acks=1, Durability::Buffered, batch.size = {batch_size}, \
         linger.ms = {linger_ms}, default partitioner: keyless records round-robin). 'send_async' calls \
         send_async for every record, dropping the handles, then flush(), which returns once every batch is \
         appended; its sender thread appends sealed batches meanwhile. 'send_batch' passes {batch} records per \
         call (an iterator of ProducerRecords borrowing the same values kafko gets) and either drops the handle \
         and flush()es once at the end, so the sender thread appends one call while the next is encoded, or \
         waits for each call (kafko's awaited send_batch). 'send' waits for each record's append.\n\
         - commitlog 0.2 has no partitions: P partitions are P logs (LogOptions defaults except a 1 GiB \
         segment), record i goes to log i % P, one append_msg call per record (it frames the message inside \
         the call).\n\
         - kafko 0.3: Kafko::open_with_config with LogConfig::default() (segment {kafko_segment} bytes, \
         natural batching up to {kafko_batch_records} records / {kafko_batch_bytes} bytes), \
         create_topic_with_config_and_partitions, producer_for; keyless records, which kafko routes \
         round-robin. Values are zero-copy Bytes slices of one buffer built before the clock starts. \
         'send_batch' sends {batch} records per call and awaits it; 'send' awaits each send. It runs on a \
         tokio {runtime} runtime built by the harness (--kafko-runtime; kafko's quickstart uses \
         #[tokio::main], the multi-thread one). Each partition is a writer task fed through an mpsc inbox.\n\
         - no fsync in any timed region: each system's send returns once its bytes are in the kernel. Records \
         carry no key and no headers; ghyll and kafko timestamp each record with the wall clock inside the \
         send, as their APIs do by default.\n\
         - each run starts with an untimed write of the pool's bytes to a file (a warm-up), so first-touch \
         costs do not land on whichever system is timed first; each system then gets a fresh temp dir, \
         removed once it is measured.\n\
         - MB/s counts value bytes (10^6 bytes/s); ratios divide records/s measured in the same run at the \
         same partition count; the JSON line carries medians over runs (for ratios, the median of the \
         per-run ratios).\n",
        batch_size = producer.batch_size,
        linger_ms = producer.linger.as_millis(),
        kafko_segment = kafko.segment_size_threshold,
        kafko_batch_records = kafko.batch_max_records,
        kafko_batch_bytes = kafko.batch_max_bytes,
        batch = args.kafko_batch,
        runtime = args.kafko_runtime.name(),
    )
}

fn json_line(args: &ProduceArgs, pool: &ValuePool, runs: &[RunResult]) -> JsonLine {
    let mut line = JsonLine::new();
    line.string("workload", "produce")
        .unsigned("records", pool.records())
        .unsigned("record_bytes", u64::from(args.record_bytes))
        .unsigned("kafko_batch", u64::from(args.kafko_batch))
        .string("kafko_runtime", args.kafko_runtime.name())
        .unsigned("runs", runs.len() as u64);
    comparison(args, pool).json_fields(&mut line, runs);
    line
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn args() -> ProduceArgs {
        ProduceArgs {
            records: 1_000,
            record_bytes: 100,
            partitions: vec![1, 8],
            kafko_batch: 1024,
            kafko_runtime: KafkoRuntime::CurrentThread,
            ghyll_only: false,
            dir: None,
            runs: 1,
        }
    }

    #[test]
    fn json_line_names_every_operation_and_ratio_per_partition_count() {
        let pool = ValuePool::new(1_000, 1, 0);
        let mut run = RunResult::new();
        for partitions in [1, 8] {
            for operation in Operation::ALL {
                run.push(partitions, operation, Duration::from_secs(1));
            }
        }
        let rendered = json_line(&args(), &pool, &[run]).render();
        assert!(rendered.starts_with(r#"{"workload":"produce", "records":1000, "#), "{rendered}");
        for partitions in [1, 8] {
            for operation in Operation::ALL {
                let key = format!("\"{}_p{partitions}_rps\":1000.0", partitioned::Operation::json_stem(operation));
                assert!(rendered.contains(&key), "{key} in {rendered}");
            }
            for ratio in &RATIOS {
                let key = format!("\"{}_p{partitions}\":1.0000", ratio.json_stem);
                assert!(rendered.contains(&key), "{key} in {rendered}");
            }
        }
    }

    #[test]
    fn every_run_of_a_small_comparison_holds_every_record() {
        // The whole comparison end to end on a few records: each system
        // checks that it holds every record, so this fails if one loses any.
        let dir = tempfile::tempdir().expect("temp dir");
        let mut small = args();
        small.records = 50;
        small.partitions = vec![1, 3];
        small.kafko_batch = 7;
        let pool = ValuePool::new(small.records, small.record_bytes, now_ms());
        let result = run_once(&small, dir.path(), &pool).expect("a small produce run");
        for partitions in [1, 3] {
            for operation in Operation::ALL {
                assert!(result.elapsed(partitions, operation).is_some(), "{operation:?} at {partitions}");
            }
        }
    }
}
