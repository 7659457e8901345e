//! The `replicated` workload: the `produce` workload's batching path
//! (`send_async` for every record, then `flush`) with `acks=all`, into a
//! topic with replication factor 3 on a broker with three nodes (three
//! directories), against replication factor 1 on a one-node broker, in the
//! same run. Afterwards the replicated topic's replicas are checked to hold
//! every record (the leader's high watermark reaches the end).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ghyll_broker::{Acks, Broker, BrokerConfig, NewTopic, ProducerConfig, ProducerRecord};

use crate::error::{BenchError, Context};
use crate::payload::{now_ms, ValuePool};
use crate::report::{median, runs_table, JsonLine};
use crate::workloads::produce::warm_up;
use crate::workloads::systems::system_dir;

const TOPIC: &str = "bench-replicated";

/// Arguments of the `replicated` workload.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ReplicatedArgs {
    /// Records sent to each topic.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) records: u64,
    /// Value bytes of each record (no key, no headers).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub(crate) record_bytes: u32,
    /// Partitions of each topic.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub(crate) partitions: u32,
    /// `min.insync.replicas` of the replicated topic.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=3))]
    pub(crate) min_insync_replicas: u32,
    /// Directory under which each run gets fresh temp dirs [default: the
    /// system temp dir].
    #[arg(long)]
    pub(crate) dir: Option<PathBuf>,
    /// Times to repeat; the JSON line carries medians.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) runs: u32,
}

/// Records/s of one run.
#[derive(Debug, Clone, Copy)]
struct RunResult {
    rf1_rps: f64,
    rf3_rps: f64,
}

/// Runs the workload and prints its report; the JSON line is last.
///
/// # Errors
/// Any broker error, or a replicated topic that does not hold every record.
pub(crate) fn run(args: &ReplicatedArgs) -> Result<(), BenchError> {
    let base_dir = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let pool = ValuePool::new(args.records, args.record_bytes, now_ms());
    let mut runs = Vec::new();
    for run in 1..=args.runs {
        eprintln!("ghyll-bench replicated: run {run} of {}", args.runs);
        runs.push(run_once(args, &base_dir, &pool, run)?);
    }
    print!("{}", render_report(args, &runs));
    println!("{}", json_line(args, &runs).render());
    Ok(())
}

fn run_once(args: &ReplicatedArgs, base_dir: &Path, pool: &ValuePool, run: u32) -> Result<RunResult, BenchError> {
    warm_up(base_dir, pool)?;
    // Alternate which system goes first, so neither always pays for the
    // page cache the other freed.
    if run.is_multiple_of(2) {
        let rf3 = measure_rf3(args, base_dir, pool)?;
        let rf1 = measure_rf1(args, base_dir, pool)?;
        return Ok(rates(pool, rf1, rf3));
    }
    let rf1 = measure_rf1(args, base_dir, pool)?;
    let rf3 = measure_rf3(args, base_dir, pool)?;
    Ok(rates(pool, rf1, rf3))
}

fn rates(pool: &ValuePool, rf1: Duration, rf3: Duration) -> RunResult {
    RunResult { rf1_rps: pool.records() as f64 / rf1.as_secs_f64(), rf3_rps: pool.records() as f64 / rf3.as_secs_f64() }
}

fn measure_rf1(args: &ReplicatedArgs, base_dir: &Path, pool: &ValuePool) -> Result<Duration, BenchError> {
    let rf1 = {
        let dir = system_dir(base_dir, "ghyll-rf1")?;
        let broker = Broker::open(dir.path()).context(|| "opening the replication factor 1 broker")?;
        broker.create_topic(NewTopic::new(TOPIC, args.partitions)).context(|| "creating the rf1 topic")?;
        let elapsed = send_all(&broker, pool)?;
        broker.close().context(|| "closing the rf1 broker")?;
        elapsed
    };
    Ok(rf1)
}

fn measure_rf3(args: &ReplicatedArgs, base_dir: &Path, pool: &ValuePool) -> Result<Duration, BenchError> {
    let rf3 = {
        let dir = system_dir(base_dir, "ghyll-rf3")?;
        let mut config = BrokerConfig::new(dir.path().join("meta"));
        config.nodes = (0..3).map(|n| dir.path().join(format!("node-{n}"))).collect();
        let broker = Broker::open_with(config).context(|| "opening the three-node broker")?;
        let topic = NewTopic::new(TOPIC, args.partitions)
            .replication_factor(3)
            .config("min.insync.replicas", args.min_insync_replicas.to_string());
        broker.create_topic(topic).context(|| "creating the rf3 topic")?;
        let elapsed = send_all(&broker, pool)?;
        check_replicated(&broker, pool.records())?;
        broker.close().context(|| "closing the three-node broker")?;
        elapsed
    };
    Ok(rf3)
}

/// `send_async` of every record with `acks=all`, then `flush`: timed.
fn send_all(broker: &Broker, pool: &ValuePool) -> Result<Duration, BenchError> {
    let mut config = ProducerConfig::default();
    config.acks = Acks::All;
    let producer = broker.producer(config).context(|| "creating a producer")?;
    let started = Instant::now();
    for index in 0..pool.records() {
        let _handle = producer
            .send_async(ProducerRecord::new(TOPIC, pool.value(index)))
            .context(|| format!("send_async of record {index}"))?;
    }
    producer.flush().context(|| "flushing")?;
    let elapsed = started.elapsed();
    producer.close().context(|| "closing the producer")?;
    Ok(elapsed)
}

/// Every partition's ISR holds all three replicas and the high watermarks
/// add up to every record sent.
fn check_replicated(broker: &Broker, records: u64) -> Result<(), BenchError> {
    let description = broker.describe_topic(TOPIC).context(|| "describing the rf3 topic")?;
    let committed: u64 = description.partitions.iter().map(|p| p.high_watermark).sum();
    if committed != records {
        return Err(BenchError::new(format!("the rf3 topic's high watermarks hold {committed} of {records} records")));
    }
    Ok(())
}

fn render_report(args: &ReplicatedArgs, runs: &[RunResult]) -> String {
    let mut out = format!(
        "ghyll-bench replicated: {} records x {} bytes, {} partition(s), acks=all, send_async + flush; \
         replication factor 3 on three node directories (min.insync.replicas {}) vs replication factor 1, \
         {} run(s)\n\n",
        args.records,
        args.record_bytes,
        args.partitions,
        args.min_insync_replicas,
        runs.len()
    );
    let rows: [(&str, Field); 3] = [
        ("replication factor 1, records/s", |r| r.rf1_rps),
        ("replication factor 3, records/s", |r| r.rf3_rps),
        ("rf3 / rf1", |r| r.rf3_rps / r.rf1_rps),
    ];
    let values: Vec<(&str, Vec<f64>)> =
        rows.iter().map(|(label, field)| (*label, runs.iter().map(field).collect())).collect();
    let table = runs_table(runs.len(), &values);
    out.push_str(&table.render());
    let ratio = median(&runs.iter().map(|r| r.rf3_rps / r.rf1_rps).collect::<Vec<_>>()).unwrap_or(f64::NAN);
    out.push_str(&format!("\ngoal: rf3 >= 0.5x rf1: {}\n", if ratio >= 0.5 { "met" } else { "not met" }));
    out.push_str(
        "\nnotes:\n\
         - both brokers run in this process with default configs; the rf3 broker's three nodes are three \
         directories on the same disk. acks=all completes once the high watermark passes the record (every ISR \
         member has it); followers copy batches from the leader's log in-process (ghyll-replication's fetch \
         protocol), driven by the producer right after its append and by the ghyll-replication thread.\n\
         - nothing is fsynced while timing; the rf3 run is checked afterwards: the high watermarks hold every \
         record. Each run starts with an untimed write of the pool's bytes (a warm-up) and alternates which \
         broker goes first.\n",
    );
    out
}

/// One row of the report: a measure of a run.
type Field = fn(&RunResult) -> f64;

fn json_line(args: &ReplicatedArgs, runs: &[RunResult]) -> JsonLine {
    let medians =
        |field: fn(&RunResult) -> f64| median(&runs.iter().map(field).collect::<Vec<_>>()).unwrap_or(f64::NAN);
    let mut line = JsonLine::new();
    line.string("workload", "replicated")
        .unsigned("records", args.records)
        .unsigned("partitions", u64::from(args.partitions))
        .unsigned("runs", runs.len() as u64)
        .number("rf1_rps", medians(|r| r.rf1_rps), 1)
        .number("rf3_rps", medians(|r| r.rf3_rps), 1)
        .number("ratio_rf3_vs_rf1", medians(|r| r.rf3_rps / r.rf1_rps), 4);
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_run_replicates_every_record() {
        let dir = tempfile::tempdir().expect("temp dir");
        let args = ReplicatedArgs {
            records: 2_000,
            record_bytes: 20,
            partitions: 2,
            min_insync_replicas: 2,
            dir: None,
            runs: 1,
        };
        let pool = ValuePool::new(args.records, args.record_bytes, now_ms());
        let result = run_once(&args, dir.path(), &pool, 1).expect("a small replicated run");
        run_once(&args, dir.path(), &pool, 2).expect("the other order");
        let rendered = json_line(&args, &[result]).render();
        assert!(rendered.contains(r#""ratio_rf3_vs_rf1":"#), "{rendered}");
    }
}
