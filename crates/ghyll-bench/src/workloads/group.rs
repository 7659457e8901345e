//! The `group` workload: consumer groups through ghyll's public API.
//!
//! 1. Throughput: N records spread over P partitions (untimed fill), read
//!    back once by one consumer assigned every partition (the `consume`
//!    figure), then by C consumers of one group on C threads, each
//!    committing after every poll. Every record must be read exactly once
//!    by the group (checked per partition).
//! 2. Failover: C members share the partitions; one is stopped (its thread
//!    stops polling without closing, as a crashed member), and the time
//!    until a survivor receives a record of one of its partitions is
//!    measured, against `session.timeout.ms`.
//! 3. Commit rate: synchronous commits in a loop, not fsynced, from one
//!    thread; fsynced from one thread and from T threads at once.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use ghyll_broker::{
    Broker, BrokerConfig, ConsumerConfig, Durability, NewTopic, OffsetAndMetadata, OffsetReset, ProducerConfig,
    ProducerRecord, TopicPartition,
};

use crate::error::{BenchError, Context};
use crate::payload::{now_ms, ValuePool};
use crate::report::{median, runs_table, JsonLine};
use crate::workloads::systems::system_dir;

const TOPIC: &str = "bench-group";
const GROUP: &str = "bench";

/// Arguments of the `group` workload.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct GroupArgs {
    /// Records produced, then consumed by one consumer and by the group.
    #[arg(long, default_value_t = 10_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) records: u64,
    /// Value bytes of each record.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub(crate) record_bytes: u32,
    /// Partitions of the topic.
    #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub(crate) partitions: u32,
    /// Consumers in the group.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(2..=64))]
    pub(crate) consumers: u32,
    /// `max.poll.records` of every consumer.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) max_poll_records: u64,
    /// `session.timeout.ms` for the failover measurement.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(10..))]
    pub(crate) session_timeout_ms: u64,
    /// Commits per thread in the commit-rate measurement (fsynced ones
    /// use a tenth, at least 50).
    #[arg(long, default_value_t = 200_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) commits: u64,
    /// Threads committing at once, durably.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(2..=64))]
    pub(crate) commit_threads: u32,
    /// Directory under which each run gets a fresh temp dir [default: the
    /// system temp dir].
    #[arg(long)]
    pub(crate) dir: Option<PathBuf>,
    /// Times to repeat; the JSON line carries medians.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) runs: u32,
}

/// What one run measured.
#[derive(Debug, Clone, Copy)]
struct RunResult {
    single_rps: f64,
    /// min(consumers, cores) plain consumers in parallel, no group.
    parallel_rps: f64,
    group_rps: f64,
    failover: Duration,
    commits_buffered_per_s: f64,
    commits_durable_one_per_s: f64,
    commits_durable_many_per_s: f64,
}

/// Runs the workload and prints its report; the JSON line is last.
///
/// # Errors
/// Any broker error, or a read that loses or repeats a record.
pub(crate) fn run(args: &GroupArgs) -> Result<(), BenchError> {
    let base_dir = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let pool = ValuePool::new(args.records, args.record_bytes, now_ms());
    let mut runs = Vec::new();
    for run in 1..=args.runs {
        eprintln!("ghyll-bench group: run {run} of {}", args.runs);
        runs.push(run_once(args, &base_dir, &pool)?);
    }
    print!("{}", render_report(args, &runs));
    println!("{}", json_line(args, &runs).render());
    Ok(())
}

fn cores() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
}

fn run_once(args: &GroupArgs, base_dir: &Path, pool: &ValuePool) -> Result<RunResult, BenchError> {
    let dir = system_dir(base_dir, "ghyll-group")?;
    let mut config = BrokerConfig::new(dir.path());
    // Kafka's group.min.session.timeout.ms (6 s) would refuse the short
    // session timeout the failover measurement uses.
    config.group_min_session_timeout = Duration::from_millis(10);
    let broker = Broker::open_with(config).context(|| "opening a ghyll broker")?;
    broker.create_topic(NewTopic::new(TOPIC, args.partitions)).context(|| "creating the topic")?;
    fill(&broker, pool)?;
    let single = consume_single(&broker, args)?;
    let parallel = consume_plain_parallel(&broker, args, args.consumers.min(cores()))?;
    let group = consume_group(&broker, args)?;
    let failover = failover(&broker, args)?;
    let buffered = commit_rate(&broker, args.commits, 1, Durability::Buffered)?;
    let durable_commits = (args.commits / 10).max(50);
    let durable_one = commit_rate(&broker, durable_commits, 1, Durability::Fsync)?;
    let durable_many = commit_rate(&broker, durable_commits, args.commit_threads, Durability::Fsync)?;
    broker.close().context(|| "closing the broker")?;
    Ok(RunResult {
        single_rps: args.records as f64 / single.as_secs_f64(),
        parallel_rps: args.records as f64 / parallel.as_secs_f64(),
        group_rps: args.records as f64 / group.as_secs_f64(),
        failover,
        commits_buffered_per_s: buffered,
        commits_durable_one_per_s: durable_one,
        commits_durable_many_per_s: durable_many,
    })
}

fn fill(broker: &Broker, pool: &ValuePool) -> Result<(), BenchError> {
    let producer = broker.producer(ProducerConfig::default()).context(|| "creating a producer")?;
    for index in 0..pool.records() {
        let _handle = producer
            .send_async(ProducerRecord::new(TOPIC, pool.value(index)))
            .context(|| format!("send_async of record {index}"))?;
    }
    producer.flush().context(|| "flushing the producer")?;
    producer.close().context(|| "closing the producer")
}

fn consumer_config(args: &GroupArgs, group: Option<&str>) -> ConsumerConfig {
    let mut config = ConsumerConfig::default();
    config.group_id = group.map(str::to_string);
    config.auto_offset_reset = OffsetReset::Earliest;
    config.max_poll_records = args.max_poll_records as usize;
    config.enable_auto_commit = false;
    config
}

/// One consumer, every partition assigned, no group: the `consume` figure.
fn consume_single(broker: &Broker, args: &GroupArgs) -> Result<Duration, BenchError> {
    let mut consumer = broker.consumer(consumer_config(args, None)).context(|| "creating a consumer")?;
    let partitions: Vec<TopicPartition> = (0..args.partitions).map(|p| TopicPartition::new(TOPIC, p)).collect();
    consumer.assign(partitions).context(|| "assigning")?;
    let mut tally = Tally::new(args.partitions);
    let started = Instant::now();
    while tally.records < args.records {
        let records = consumer.poll(Duration::from_secs(5)).context(|| "single consumer poll")?;
        if records.is_empty() {
            return Err(BenchError::new(format!("single consumer stalled after {} records", tally.records)));
        }
        tally.visit(&records)?;
    }
    let elapsed = started.elapsed();
    Tally::check_exactly_once(std::slice::from_ref(&tally), args.records)?;
    Ok(elapsed)
}

/// `threads` plain consumers (no group) on their own threads, the
/// partitions dealt out by hand: what this machine gives consumers in
/// parallel, without any group work.
fn consume_plain_parallel(broker: &Broker, args: &GroupArgs, threads: u32) -> Result<Duration, BenchError> {
    let barrier = Arc::new(Barrier::new(threads as usize + 1));
    let mut handles = Vec::new();
    for thread in 0..threads {
        let broker = broker.clone();
        let barrier = Arc::clone(&barrier);
        let config = consumer_config(args, None);
        let mine: Vec<TopicPartition> =
            (0..args.partitions).filter(|p| p % threads == thread).map(|p| TopicPartition::new(TOPIC, p)).collect();
        let partitions = args.partitions;
        let expected: u64 = (0..args.partitions)
            .filter(|p| p % threads == thread)
            .map(|p| {
                args.records / u64::from(partitions) + u64::from(u64::from(p) < args.records % u64::from(partitions))
            })
            .sum();
        handles.push(std::thread::spawn(move || -> Result<Tally, BenchError> {
            let mut consumer = broker.consumer(config).context(|| "creating a consumer")?;
            consumer.assign(mine).context(|| "assigning")?;
            let mut tally = Tally::new(partitions);
            barrier.wait();
            while tally.records < expected {
                let records = consumer.poll(Duration::from_secs(5)).context(|| "parallel consumer poll")?;
                if records.is_empty() {
                    return Err(BenchError::new(format!("a parallel consumer stalled after {}", tally.records)));
                }
                tally.visit(&records)?;
            }
            Ok(tally)
        }));
    }
    barrier.wait();
    let started = Instant::now();
    let mut tallies = Vec::new();
    for handle in handles {
        tallies.push(handle.join().map_err(|_| BenchError::new("a parallel consumer panicked"))??);
    }
    let elapsed = started.elapsed();
    Tally::check_exactly_once(&tallies, args.records)?;
    Ok(elapsed)
}

/// `consumers` members of one group on their own threads, committing
/// after every poll, until the group has read every record once.
fn consume_group(broker: &Broker, args: &GroupArgs) -> Result<Duration, BenchError> {
    let total = Arc::new(AtomicU64::new(0));
    let barrier = Arc::new(Barrier::new(args.consumers as usize + 1));
    let mut threads = Vec::new();
    for member in 0..args.consumers {
        let broker = broker.clone();
        let total = Arc::clone(&total);
        let barrier = Arc::clone(&barrier);
        let mut config = consumer_config(args, Some(GROUP));
        config.client_id = format!("bench-{member}");
        let records = args.records;
        let partitions = args.partitions;
        threads.push(std::thread::spawn(move || -> Result<Tally, BenchError> {
            let mut consumer = broker.consumer(config).context(|| "creating a group consumer")?;
            consumer.subscribe([TOPIC]).context(|| "subscribing")?;
            barrier.wait();
            let mut tally = Tally::new(partitions);
            while total.load(Ordering::Acquire) < records {
                let polled = consumer.poll(Duration::from_millis(100)).context(|| "group poll")?;
                let count = tally.visit(&polled)?;
                if count > 0 {
                    consumer.commit().context(|| "committing")?;
                    total.fetch_add(count, Ordering::AcqRel);
                }
            }
            consumer.close();
            Ok(tally)
        }));
    }
    barrier.wait();
    let started = Instant::now();
    let mut tallies = Vec::new();
    for thread in threads {
        tallies.push(thread.join().map_err(|_| BenchError::new("a group consumer panicked"))??);
    }
    let elapsed = started.elapsed();
    Tally::check_exactly_once(&tallies, args.records)?;
    Ok(elapsed)
}

/// What one consumer visited: per partition the offset ranges it read,
/// and totals. Every reader does the same work per record.
#[derive(Debug)]
struct Tally {
    /// Per partition: ranges `[start, end)` read, the last one open.
    ranges: Vec<Vec<(u64, u64)>>,
    records: u64,
    value_bytes: u64,
}

impl Tally {
    fn new(partitions: u32) -> Tally {
        Tally { ranges: vec![Vec::new(); partitions as usize], records: 0, value_bytes: 0 }
    }

    /// Visits every record, extending its partition's current range (a
    /// record that does not follow it starts a new one); returns how many.
    fn visit(&mut self, records: &ghyll_broker::ConsumerRecords) -> Result<u64, BenchError> {
        let before = self.records;
        for record in records.iter() {
            let record = record.context(|| "a consumed record")?;
            let ranges = &mut self.ranges[record.partition as usize];
            match ranges.last_mut() {
                Some(last) if last.1 == record.offset => last.1 += 1,
                _ => ranges.push((record.offset, record.offset + 1)),
            }
            self.records += 1;
            self.value_bytes += record.value.map_or(0, <[u8]>::len) as u64;
        }
        Ok(self.records - before)
    }

    /// Checks that `tallies` together read every offset of every partition
    /// exactly once, from 0 to the partition's end, and `records` in all.
    fn check_exactly_once(tallies: &[Tally], records: u64) -> Result<(), BenchError> {
        let partitions = tallies.first().map_or(0, |t| t.ranges.len());
        let mut total = 0;
        for partition in 0..partitions {
            let mut ranges: Vec<(u64, u64)> = tallies.iter().flat_map(|t| t.ranges[partition].clone()).collect();
            ranges.sort_unstable();
            let mut next = 0;
            for (start, end) in ranges {
                if start != next {
                    return Err(BenchError::new(format!(
                        "partition {partition}: offsets from {start} read where {next} was next (skipped or read twice)"
                    )));
                }
                next = end;
            }
            total += next;
        }
        if total != records {
            return Err(BenchError::new(format!("read {total} records of {records}")));
        }
        Ok(())
    }
}

/// Time from one member's death to a survivor's first record of one of
/// its partitions.
fn failover(broker: &Broker, args: &GroupArgs) -> Result<Duration, BenchError> {
    let group = "bench-failover";
    let config = |member: u32| {
        let mut config = consumer_config(args, Some(group));
        config.client_id = format!("failover-{member}");
        config.session_timeout = Duration::from_millis(args.session_timeout_ms);
        config.heartbeat_interval = Duration::from_millis((args.session_timeout_ms / 3).max(1));
        config.max_poll_records = 10;
        config
    };
    let mut members = Vec::new();
    for member in 0..args.consumers {
        let mut consumer = broker.consumer(config(member)).context(|| "creating a failover consumer")?;
        consumer.subscribe([TOPIC]).context(|| "subscribing")?;
        members.push(consumer);
    }
    // Poll round-robin (one thread) until every member holds partitions.
    let deadline = Instant::now() + Duration::from_secs(30);
    while members.iter().any(|m| m.assignment().is_empty()) {
        if Instant::now() > deadline {
            return Err(BenchError::new("the failover group never settled"));
        }
        for member in &mut members {
            member.poll(Duration::from_millis(1)).context(|| "settling poll")?;
        }
    }
    let dead = members.pop().expect("at least two members");
    let orphaned: BTreeSet<TopicPartition> = dead.assignment().into_iter().collect();
    // A crash: the member's thread panics while holding it (no commit, no
    // leave; its heartbeats stop with it). resume_unwind skips the panic
    // message.
    let died = Instant::now();
    let crashed = std::thread::spawn(move || {
        let _member = dead;
        std::panic::resume_unwind(Box::new("simulated crash"));
    });
    if crashed.join().is_ok() {
        return Err(BenchError::new("the crashed member's thread did not panic"));
    }
    let survivors = members;
    let stop = Arc::new(AtomicU64::new(0));
    let mut threads = Vec::new();
    for mut survivor in survivors {
        let orphaned = orphaned.clone();
        let stop = Arc::clone(&stop);
        threads.push(std::thread::spawn(move || -> Result<Option<Instant>, BenchError> {
            let deadline = Instant::now() + Duration::from_secs(60);
            while stop.load(Ordering::Acquire) == 0 && Instant::now() < deadline {
                let polled = survivor.poll(Duration::from_millis(10)).context(|| "survivor poll")?;
                for record in polled.iter() {
                    let record = record.context(|| "survivor record")?;
                    if orphaned.contains(&TopicPartition::new(record.topic, record.partition)) {
                        let at = Instant::now();
                        stop.store(1, Ordering::Release);
                        survivor.close();
                        return Ok(Some(at));
                    }
                }
            }
            survivor.close();
            Ok(None)
        }));
    }
    let mut first = None::<Instant>;
    for thread in threads {
        if let Some(at) = thread.join().map_err(|_| BenchError::new("a survivor panicked"))?? {
            first = Some(first.map_or(at, |f| f.min(at)));
        }
    }
    let resumed = first.ok_or_else(|| BenchError::new("no survivor resumed the dead member's partitions in 60 s"))?;
    Ok(resumed - died)
}

/// Commits per second from `threads` threads, each committing one
/// partition's offset `commits` times (its own group, so the commits are
/// the coordinator's and the offsets topic's work, not a rebalance's).
fn commit_rate(broker: &Broker, commits: u64, threads: u32, durability: Durability) -> Result<f64, BenchError> {
    let barrier = Arc::new(Barrier::new(threads as usize + 1));
    let mut handles = Vec::new();
    for thread in 0..threads {
        let broker = broker.clone();
        let barrier = Arc::clone(&barrier);
        handles.push(std::thread::spawn(move || -> Result<(), BenchError> {
            let mut config = ConsumerConfig::with_group(format!("bench-commit-{thread}-{durability:?}"));
            config.commit_durability = durability;
            let mut consumer = broker.consumer(config).context(|| "creating a committing consumer")?;
            let tp = TopicPartition::new(TOPIC, thread % 12);
            barrier.wait();
            for offset in 0..commits {
                let offsets = BTreeMap::from([(tp.clone(), OffsetAndMetadata::new(offset))]);
                consumer.commit_offsets(&offsets).context(|| "commit")?;
            }
            Ok(())
        }));
    }
    barrier.wait();
    let started = Instant::now();
    for handle in handles {
        handle.join().map_err(|_| BenchError::new("a committing thread panicked"))??;
    }
    Ok((commits * u64::from(threads)) as f64 / started.elapsed().as_secs_f64())
}

/// One row of the report: a label's value in a run.
type Field<'a> = Box<dyn Fn(&RunResult) -> f64 + 'a>;

fn medians(runs: &[RunResult], field: impl Fn(&RunResult) -> f64) -> f64 {
    let values: Vec<f64> = runs.iter().map(field).collect();
    median(&values).unwrap_or(f64::NAN)
}

fn render_report(args: &GroupArgs, runs: &[RunResult]) -> String {
    let parallel = args.consumers.min(cores());
    let mut out = format!(
        "ghyll-bench group: {} records x {} bytes over {} partitions, {} consumers in one group \
         ({} core(s): per-core = group rate / {parallel}), {} run(s)\n\n",
        args.records,
        args.record_bytes,
        args.partitions,
        args.consumers,
        cores(),
        runs.len()
    );
    let per_core = |r: &RunResult| r.group_rps / f64::from(parallel) / r.single_rps;
    let rows: [(&str, Field<'_>); 12] = [
        ("single consumer, records/s", Box::new(|r| r.single_rps)),
        ("plain consumers in parallel, records/s", Box::new(|r| r.parallel_rps)),
        ("group, records/s (commit every poll)", Box::new(|r| r.group_rps)),
        ("group per core / single", Box::new(per_core)),
        ("parallel plain per core / single", Box::new(|r| r.parallel_rps / f64::from(parallel) / r.single_rps)),
        ("group / parallel plain", Box::new(|r| r.group_rps / r.parallel_rps)),
        ("failover: death to resume, ms", Box::new(|r| r.failover.as_secs_f64() * 1e3)),
        ("commits/s, not fsynced, 1 thread", Box::new(|r| r.commits_buffered_per_s)),
        ("commits/s, fsynced, 1 thread", Box::new(|r| r.commits_durable_one_per_s)),
        ("commits/s, fsynced, N threads", Box::new(|r| r.commits_durable_many_per_s)),
        ("fsynced N threads / 1 thread", Box::new(|r| r.commits_durable_many_per_s / r.commits_durable_one_per_s)),
        ("session.timeout.ms + 100", Box::new(|_| args.session_timeout_ms as f64 + 100.0)),
    ];
    let values: Vec<(&str, Vec<f64>)> =
        rows.iter().map(|(label, field)| (*label, runs.iter().map(field).collect())).collect();
    let table = runs_table(runs.len(), &values);
    out.push_str(&table.render());
    out.push('\n');
    let goals = [
        ("group per core >= 0.8x single", medians(runs, per_core) >= 0.8),
        (
            "failover < session.timeout.ms + 100 ms",
            medians(runs, |r| r.failover.as_secs_f64() * 1e3) < args.session_timeout_ms as f64 + 100.0,
        ),
        ("commits not fsynced >= 100,000/s", medians(runs, |r| r.commits_buffered_per_s) >= 100_000.0),
        (
            "fsynced commits, N threads >= 10x one thread",
            medians(runs, |r| r.commits_durable_many_per_s / r.commits_durable_one_per_s) >= 10.0,
        ),
    ];
    for (goal, met) in goals {
        out.push_str(&format!("goal: {goal}: {}\n", if met { "met" } else { "not met" }));
    }
    out.push_str(&format!(
        "\nnotes:\n\
         - fill (untimed): Producer::send_async + flush, keyless records spread round-robin.\n\
         - single: one Consumer assigned all {p} partitions, no group, polls until every record came back.\n\
         - parallel plain: min(consumers, cores) Consumers without a group on their own threads, the partitions \
         dealt out by hand: what this machine gives parallel readers before any group work; every reader \
         visits records the same way (offset ranges per partition, value bytes summed) and the union is \
         checked to hold every offset exactly once.\n\
         - group: {c} consumers subscribe to the topic in group '{GROUP}' (range assignor) on {c} threads, \
         each commit()s its positions after every poll that returned records (not fsynced); the clock starts \
         before the first poll, so joining is timed; every record is read exactly once (checked per partition).\n\
         - failover: {c} members with session.timeout.ms = {s} and heartbeat.interval.ms = {h} settle; one \
         crashes (its thread panics holding it: no commit, no leave, its heartbeats stop); the clock runs from \
         just before the crash until a survivor's poll returns a record of one of its partitions.\n\
         - commits: commit_offsets of one partition per call, each thread in its own group (no rebalance in \
         the loop); fsynced commits use Durability::Fsync, sharing fsyncs of __consumer_offsets across threads \
         ({t} threads). With one synchronous commit in flight per thread, one fsync can cover at most {t} \
         commits, so the N-thread / 1-thread ratio is bounded by {t}.\n",
        p = args.partitions,
        c = args.consumers,
        s = args.session_timeout_ms,
        h = (args.session_timeout_ms / 3).max(1),
        t = args.commit_threads,
    ));
    out
}

fn json_line(args: &GroupArgs, runs: &[RunResult]) -> JsonLine {
    let parallel = f64::from(args.consumers.min(cores()));
    let mut line = JsonLine::new();
    line.string("workload", "group")
        .unsigned("records", args.records)
        .unsigned("partitions", u64::from(args.partitions))
        .unsigned("consumers", u64::from(args.consumers))
        .unsigned("cores", u64::from(cores()))
        .unsigned("runs", runs.len() as u64)
        .number("single_rps", medians(runs, |r| r.single_rps), 1)
        .number("group_rps", medians(runs, |r| r.group_rps), 1)
        .number("parallel_plain_rps", medians(runs, |r| r.parallel_rps), 1)
        .number("ratio_group_vs_parallel_plain", medians(runs, |r| r.group_rps / r.parallel_rps), 4)
        .number("failover_ms", medians(runs, |r| r.failover.as_secs_f64() * 1e3), 1)
        .unsigned("session_timeout_ms", args.session_timeout_ms)
        .number("commits_buffered_per_s", medians(runs, |r| r.commits_buffered_per_s), 1)
        .number("commits_fsync_1_thread_per_s", medians(runs, |r| r.commits_durable_one_per_s), 1)
        .number("commits_fsync_n_threads_per_s", medians(runs, |r| r.commits_durable_many_per_s), 1)
        .number("ratio_group_per_core_vs_single", medians(runs, |r| r.group_rps / parallel / r.single_rps), 4)
        .number(
            "ratio_fsync_commits_n_vs_1",
            medians(runs, |r| r.commits_durable_many_per_s / r.commits_durable_one_per_s),
            4,
        );
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_group_run_reads_every_record_once_and_fails_over() {
        let dir = tempfile::tempdir().expect("temp dir");
        let args = GroupArgs {
            records: 3_000,
            record_bytes: 20,
            partitions: 6,
            consumers: 3,
            max_poll_records: 100,
            session_timeout_ms: 300,
            commits: 200,
            commit_threads: 3,
            dir: None,
            runs: 1,
        };
        let pool = ValuePool::new(args.records, args.record_bytes, now_ms());
        let result = run_once(&args, dir.path(), &pool).expect("a small group run");
        assert!(result.failover >= Duration::from_millis(200), "{:?}", result.failover);
        let rendered = json_line(&args, &[result]).render();
        assert!(rendered.contains(r#""ratio_group_per_core_vs_single":"#), "{rendered}");
        assert!(render_report(&args, &[result]).contains("goal: failover"));
    }
}
