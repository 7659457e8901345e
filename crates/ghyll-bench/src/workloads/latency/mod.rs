//! The `latency` workload: one producer thread sends records at a fixed
//! rate, scheduled by absolute time, with ghyll's synchronous
//! `Producer::send`; one consumer thread is blocked in `Consumer::poll`.
//! Each value carries its send instant (nanoseconds since an `Instant`
//! both threads share), and the consumer records receive − send for every
//! record. kafko 0.3 runs the same shape: `send().await` per record and a
//! consumer awaiting `next_with_position()`.
//!
//! Fairness: both systems get one single-partition topic on a fresh temp
//! dir, the same schedule, the same value bytes and the same clock; nothing
//! is fsynced (a send returns once the record is in the kernel); the
//! receive instant is read as soon as the consumer's call returns, once per
//! returned batch of records. Latencies are measured for every record,
//! none dropped as warm-up.

mod ghyll;
mod pacing;
mod peer_kafko;

use std::path::{Path, PathBuf};
use std::time::Duration;

use pacing::{LatencyRun, STAMP_BYTES};

use crate::error::BenchError;
use crate::payload::{now_ms, ValuePool};
use crate::report::{group_thousands, median, microseconds, Align, JsonLine, LatencySummary, Table};
use crate::workloads::systems::kafko::KafkoRuntime;
use crate::workloads::systems::system_dir;

/// How long a consumer waits in one call before checking whether the
/// producer has stopped.
const POLL_TIMEOUT: Duration = Duration::from_millis(100);

/// The p99 ghyll is meant to stay under at 100,000 records/s.
const GOAL_P99_NS: u64 = 50_000;

/// Arguments of the `latency` workload.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct LatencyArgs {
    /// Records sent per second, on a fixed schedule.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub(crate) rate: u64,
    /// Seconds of sending, per system per run.
    #[arg(long, default_value_t = 1.0)]
    pub(crate) seconds: f64,
    /// Value bytes of each record; the first 16 carry the send and the
    /// scheduled instants.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(16..=100_000))]
    pub(crate) record_bytes: u32,
    /// Seconds after the last record is due by which every record must
    /// have arrived: the producer sends nothing after that deadline and the
    /// consumer stops waiting; a record sent but not received by then
    /// counts with deadline - send as a lower bound of its latency.
    #[arg(long, default_value_t = 5.0)]
    pub(crate) drain_seconds: f64,
    /// ghyll's `max.poll.records`.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_poll_records: u32,
    /// The tokio runtime kafko runs on.
    #[arg(long, value_enum, default_value_t = KafkoRuntime::MultiThread)]
    pub(crate) kafko_runtime: KafkoRuntime,
    /// Measure ghyll alone (for profiling).
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

impl LatencyArgs {
    fn drain(&self) -> Duration {
        Duration::from_secs_f64(self.drain_seconds)
    }

    /// Records each system sends in one run.
    fn records(&self) -> Result<u64, BenchError> {
        let records = self.rate as f64 * self.seconds;
        if !(self.seconds > 0.0 && (1.0..=100_000_000.0).contains(&records)) {
            return Err(BenchError::new(format!(
                "--rate {} x --seconds {} must be between 1 and 100,000,000 records",
                self.rate, self.seconds
            )));
        }
        if !(0.0..=3600.0).contains(&self.drain_seconds) {
            return Err(BenchError::new(format!("--drain-seconds {} must be within 0..=3600", self.drain_seconds)));
        }
        Ok(records.round() as u64)
    }
}

/// The systems measured, in the order the table lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum System {
    Ghyll,
    Kafko,
}

impl System {
    const ALL: [System; 2] = [System::Ghyll, System::Kafko];

    fn label(self) -> &'static str {
        match self {
            System::Ghyll => "ghyll-broker send / poll",
            System::Kafko => "kafko 0.3 send().await / next_with_position().await",
        }
    }

    fn json_stem(self) -> &'static str {
        match self {
            System::Ghyll => "ghyll",
            System::Kafko => "kafko",
        }
    }
}

/// One system's figures in one run.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Figures {
    achieved_rate: f64,
    sent: u64,
    /// Records sent but not received by the deadline: when not zero, the
    /// latency figures are lower bounds.
    unreceived: u64,
    from_send: LatencySummary,
    from_schedule: LatencySummary,
}

impl Figures {
    fn of(run: LatencyRun) -> Option<Figures> {
        let achieved_rate = run.achieved_rate();
        Some(Figures {
            achieved_rate,
            sent: run.sent,
            unreceived: run.unreceived,
            from_send: LatencySummary::from_unsorted(run.samples.from_send_ns)?,
            from_schedule: LatencySummary::from_unsorted(run.samples.from_schedule_ns)?,
        })
    }
}

/// Every system's figures in one run (`None` where not measured).
#[derive(Debug, Clone, Default)]
struct RunResult {
    figures: Vec<(System, Figures)>,
}

impl RunResult {
    fn get(&self, system: System) -> Option<&Figures> {
        self.figures.iter().find(|(measured, _)| *measured == system).map(|(_, figures)| figures)
    }
}

/// The columns of the table, each a figure taken from a run.
type Column = (&'static str, &'static str, fn(&Figures) -> f64);

const COLUMNS: [Column; 9] = [
    ("sent", "sent", |figures| figures.sent as f64),
    ("not received", "unreceived", |figures| figures.unreceived as f64),
    ("records/s", "rate", |figures| figures.achieved_rate),
    ("p50 us", "p50_us", |figures| figures.from_send.p50_ns as f64),
    ("p99 us", "p99_us", |figures| figures.from_send.p99_ns as f64),
    ("p99.9 us", "p999_us", |figures| figures.from_send.p999_ns as f64),
    ("max us", "max_us", |figures| figures.from_send.max_ns as f64),
    ("p99 from schedule us", "p99_from_schedule_us", |figures| figures.from_schedule.p99_ns as f64),
    ("max from schedule us", "max_from_schedule_us", |figures| figures.from_schedule.max_ns as f64),
];

/// Runs the workload `args.runs` times and prints the report; the JSON line
/// is the last line of stdout.
///
/// # Errors
/// A bad argument, an I/O error, any system's error, or a consumer that
/// does not receive every record.
pub(crate) fn run(args: &LatencyArgs) -> Result<(), BenchError> {
    let records = args.records()?;
    let base_dir = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let filler = ValuePool::new(1, args.record_bytes, now_ms()).value(0).to_vec();
    assert!(filler.len() >= STAMP_BYTES, "record_bytes is validated to be at least 16");
    let mut runs = Vec::new();
    for run in 1..=args.runs {
        eprintln!("ghyll-bench latency: run {run} of {}", args.runs);
        runs.push(run_once(args, &base_dir, &filler, records)?);
    }
    print!("{}", render_report(args, &base_dir, records, &runs));
    println!("{}", json_line(args, records, &runs).render());
    Ok(())
}

fn run_once(args: &LatencyArgs, base_dir: &Path, filler: &[u8], records: u64) -> Result<RunResult, BenchError> {
    let mut result = RunResult::default();
    for system in System::ALL {
        if args.ghyll_only && system != System::Ghyll {
            continue;
        }
        let dir = system_dir(base_dir, system.json_stem())?;
        let run = match system {
            System::Ghyll => ghyll::run(dir.path(), args, filler, records)?,
            System::Kafko => peer_kafko::run(dir.path(), args, filler, records)?,
        };
        let figures = Figures::of(run).ok_or_else(|| BenchError::new("no latency samples"))?;
        result.figures.push((system, figures));
    }
    Ok(result)
}

/// The median over runs of one column of one system.
fn median_figure(runs: &[RunResult], system: System, figure: fn(&Figures) -> f64) -> Option<f64> {
    median(&runs.iter().filter_map(|run| run.get(system)).map(figure).collect::<Vec<_>>())
}

/// kafko's p99 over ghyll's in one run: above 1 means ghyll's is lower.
/// Whether any run of `system` lost records, which makes its latencies
/// (and their medians) lower bounds.
fn lower_bounds(runs: &[RunResult], system: System) -> bool {
    runs.iter().filter_map(|run| run.get(system)).any(|figures| figures.unreceived > 0)
}

/// A kafko / ghyll ratio's cell: `>=` when kafko's figures are lower bounds
/// (so is the ratio), `?` when ghyll's are (the ratio is then no bound).
fn ratio_cell(value: Option<f64>, runs: &[RunResult]) -> String {
    let Some(value) = value else { return "-".to_owned() };
    if lower_bounds(runs, System::Ghyll) {
        format!("{value:.3}?")
    } else if lower_bounds(runs, System::Kafko) {
        format!(">={value:.3}")
    } else {
        format!("{value:.3}")
    }
}

fn p99_ratio(run: &RunResult) -> Option<f64> {
    Some(run.get(System::Kafko)?.from_send.p99_ns as f64 / run.get(System::Ghyll)?.from_send.p99_ns as f64)
}

fn p50_ratio(run: &RunResult) -> Option<f64> {
    Some(run.get(System::Kafko)?.from_send.p50_ns as f64 / run.get(System::Ghyll)?.from_send.p50_ns as f64)
}

/// A ratio of kafko's figure to ghyll's within one run.
type Ratio = (&'static str, fn(&RunResult) -> Option<f64>);

const RATIOS: [Ratio; 2] =
    [("kafko p50 / ghyll p50 (>1: ghyll lower)", p50_ratio), ("kafko p99 / ghyll p99 (>1: ghyll lower)", p99_ratio)];

/// Columns before this one are counts and rates; from it on, latencies.
const FIRST_LATENCY_COLUMN: usize = 3;

fn cell(column: usize, value: f64) -> String {
    if column < FIRST_LATENCY_COLUMN {
        group_thousands(value)
    } else {
        microseconds(value)
    }
}

/// A figure's cell; latencies are marked `>=` when some records never
/// arrived, as they are then lower bounds.
fn figure_cell(column: usize, figures: &Figures, figure: fn(&Figures) -> f64) -> String {
    let value = cell(column, figure(figures));
    if column >= FIRST_LATENCY_COLUMN && figures.unreceived > 0 {
        format!(">={value}")
    } else {
        value
    }
}

fn table(runs: &[RunResult]) -> Table {
    let mut columns = vec![("run", Align::Left), ("system", Align::Left)];
    columns.extend(COLUMNS.iter().map(|(name, _, _)| (*name, Align::Right)));
    let mut table = Table::new(&columns);
    for (index, run) in runs.iter().enumerate() {
        for system in System::ALL {
            let mut row = vec![(index + 1).to_string(), system.label().to_owned()];
            for (column, (_, _, figure)) in COLUMNS.iter().enumerate() {
                row.push(
                    run.get(system).map_or_else(|| "-".to_owned(), |figures| figure_cell(column, figures, *figure)),
                );
            }
            table.push(row);
        }
    }
    if runs.len() > 1 {
        for system in System::ALL {
            let mut row = vec!["median".to_owned(), system.label().to_owned()];
            for (column, (_, _, figure)) in COLUMNS.iter().enumerate() {
                let bounded = column >= FIRST_LATENCY_COLUMN && lower_bounds(runs, system);
                row.push(median_figure(runs, system, *figure).map_or_else(
                    || "-".to_owned(),
                    |value| if bounded { format!(">={}", cell(column, value)) } else { cell(column, value) },
                ));
            }
            table.push(row);
        }
    }
    table
}

fn render_report(args: &LatencyArgs, base_dir: &Path, records: u64, runs: &[RunResult]) -> String {
    let mut out = format!(
        "ghyll-bench latency: {} records/s for {} s ({records} records) x {} value bytes, 1 partition, {} run(s)\n\
         temp dirs under {}\n\n",
        group_thousands(args.rate as f64),
        args.seconds,
        args.record_bytes,
        args.runs,
        base_dir.display()
    );
    out.push_str(&table(runs).render());
    out.push('\n');
    let mut columns: Vec<(String, Align)> = vec![("ratio".to_owned(), Align::Left)];
    columns.extend((1..=runs.len()).map(|run| (format!("run {run}"), Align::Right)));
    if runs.len() > 1 {
        columns.push(("median".to_owned(), Align::Right));
    }
    let columns: Vec<(&str, Align)> = columns.iter().map(|(name, align)| (name.as_str(), *align)).collect();
    let mut ratio_table = Table::new(&columns);
    for (label, ratio) in RATIOS {
        let per_run: Vec<Option<f64>> = runs.iter().map(ratio).collect();
        let mut row = vec![label.to_owned()];
        row.extend(per_run.iter().zip(runs).map(|(value, run)| ratio_cell(*value, std::slice::from_ref(run))));
        if runs.len() > 1 {
            let values: Vec<f64> = per_run.iter().flatten().copied().collect();
            row.push(ratio_cell(median(&values), runs));
        }
        ratio_table.push(row);
    }
    out.push_str(&ratio_table.render());
    out.push('\n');
    let p99 = median_figure(runs, System::Ghyll, |figures| figures.from_send.p99_ns as f64).unwrap_or(f64::NAN);
    let rate = median_figure(runs, System::Ghyll, |figures| figures.achieved_rate).unwrap_or(f64::NAN);
    let all_received = runs.iter().filter_map(|run| run.get(System::Ghyll)).all(|figures| figures.unreceived == 0);
    out.push_str(&format!(
        "goal: ghyll p99 <= {} us at 100,000 records/s: median p99 {} us at {} records/s achieved{}, {}\n\n",
        microseconds(GOAL_P99_NS as f64),
        microseconds(p99),
        group_thousands(rate),
        if all_received { "" } else { ", some records not received" },
        if p99 <= GOAL_P99_NS as f64 && all_received && args.rate >= 100_000 && rate >= 0.99 * args.rate as f64 {
            "met"
        } else {
            "not met"
        }
    ));
    out.push_str(&notes(args));
    out
}

/// What was and was not timed, and the settings each system ran with.
fn notes(args: &LatencyArgs) -> String {
    let producer = ghyll_broker::ProducerConfig::default();
    format!(
        "notes:\n\
         - one producer thread and one consumer thread per system, sharing one Instant as the clock base. \
         Record i is due at start + i / rate (absolute time: a late send delays the next record but does \
         not shift the schedule); the producer waits until it is due (spinning, and yielding its core \
         while more than 5 us early so the other threads can use it), writes the instant it sends at and \
         the instant it was due into the first 16 bytes of the value, and sends. The consumer reads the \
         clock once each time its call returns and records, for every record it got, receive - send \
         ('p50'..'max') and receive - due ('from schedule', which adds any time the producer fell behind: \
         the figure free of coordinated omission). Every consumer checks that offsets arrive 0, 1, 2, ...\n\
         - a deadline bounds each run: {drain} s after the last record is due, the producer sends no more \
         and the consumer stops waiting. A record sent but not received by then counts with deadline - send \
         as its latency, a lower bound: such a run shows 'not received' above 0 and its latencies marked \
         '>=' (in the JSON line, <system>_unreceived above 0), and so are its medians and the ratios over \
         them. A producer that falls behind sends fewer records than planned ('sent').\n\
         - ghyll: Broker::open defaults, a 1-partition topic, broker.producer(ProducerConfig::default()) \
         (acks=1, Durability::Buffered, batch.size = {batch_size}, linger.ms = {linger_ms}) and Producer::send \
         per record, which returns once the record is appended and the partition's waiting consumers are \
         woken; one Consumer (auto.offset.reset=earliest, max.poll.records = {max_poll}) assigned the \
         partition, blocked in poll({poll_timeout:?}).\n\
         - kafko 0.3: Kafko::open_with_config(LogConfig::default()), a 1-partition topic, \
         producer.send(None, value).await per record (the value copied into a fresh Bytes: its API takes \
         owned bytes) through runtime.block_on on the producer thread, and one consumer_for(topic) awaiting \
         next_with_position() on the consumer thread (under a {poll_timeout:?} tokio timeout). Both enter a \
         tokio {runtime} runtime (--kafko-runtime) whose workers run the partition's writer task: a send and \
         a read are each a message to that task, and a read copies from the record's index entry to the \
         segment's end, so a consumer that falls behind reads more per record the further behind it is.\n\
         - no fsync anywhere; no warm-up is dropped: every record's latency counts, the first included.\n\
         - records/s is records sent over the time from the first due instant to the last send's return; \
         below --rate means the producer could not keep the schedule. Medians over runs are the median of \
         each run's figure; ratios are taken within one run.\n",
        batch_size = producer.batch_size,
        linger_ms = producer.linger.as_millis(),
        max_poll = args.max_poll_records,
        poll_timeout = POLL_TIMEOUT,
        runtime = args.kafko_runtime.name(),
        drain = args.drain_seconds,
    )
}

fn json_line(args: &LatencyArgs, records: u64, runs: &[RunResult]) -> JsonLine {
    let mut line = JsonLine::new();
    line.string("workload", "latency")
        .unsigned("rate", args.rate)
        .number("seconds", args.seconds, 3)
        .unsigned("records", records)
        .unsigned("record_bytes", u64::from(args.record_bytes))
        .number("drain_seconds", args.drain_seconds, 3)
        .string("kafko_runtime", args.kafko_runtime.name())
        .unsigned("runs", runs.len() as u64);
    for system in System::ALL {
        for (column, (_, key, figure)) in COLUMNS.iter().enumerate() {
            let value = median_figure(runs, system, *figure).map(|value| {
                if column < FIRST_LATENCY_COLUMN {
                    value
                } else {
                    value / 1_000.0
                }
            });
            line.optional_number(&format!("{}_{key}", system.json_stem()), value, 1);
        }
    }
    let p50: Vec<f64> = runs.iter().filter_map(p50_ratio).collect();
    let p99: Vec<f64> = runs.iter().filter_map(p99_ratio).collect();
    line.optional_number("ratio_p50_vs_kafko", median(&p50), 4).optional_number("ratio_p99_vs_kafko", median(&p99), 4);
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> LatencyArgs {
        LatencyArgs {
            rate: 100_000,
            seconds: 1.0,
            record_bytes: 100,
            drain_seconds: 5.0,
            max_poll_records: 100_000,
            kafko_runtime: KafkoRuntime::MultiThread,
            ghyll_only: false,
            dir: None,
            runs: 1,
        }
    }

    fn summary(scale: u64) -> LatencySummary {
        LatencySummary {
            count: 10,
            p50_ns: 10_000 * scale,
            p99_ns: 20_000 * scale,
            p999_ns: 30_000 * scale,
            max_ns: 40_000 * scale,
        }
    }

    fn run(ghyll_scale: u64, kafko_scale: u64) -> RunResult {
        let figures = |scale| Figures {
            achieved_rate: 100_000.0,
            sent: 10,
            unreceived: 0,
            from_send: summary(scale),
            from_schedule: summary(scale),
        };
        RunResult { figures: vec![(System::Ghyll, figures(ghyll_scale)), (System::Kafko, figures(kafko_scale))] }
    }

    #[test]
    fn records_are_rate_times_seconds_within_limits() {
        assert_eq!(args().records().expect("valid"), 100_000);
        let mut five = args();
        five.seconds = 5.0;
        assert_eq!(five.records().expect("valid"), 500_000);
        let mut none = args();
        none.seconds = 0.0;
        assert!(none.records().is_err());
        none.seconds = f64::NAN;
        assert!(none.records().is_err());
        let mut forever = args();
        forever.drain_seconds = -1.0;
        assert!(forever.records().is_err());
    }

    #[test]
    fn json_line_carries_median_percentiles_in_microseconds_and_ratios() {
        let runs = [run(1, 3), run(2, 4), run(3, 12)];
        let rendered = json_line(&args(), 100_000, &runs).render();
        assert!(rendered.starts_with(r#"{"workload":"latency", "rate":100000, "#), "{rendered}");
        // ghyll p99: 20, 40, 60 us; the median is 40.
        assert!(rendered.contains(r#""ghyll_p99_us":40.0"#), "{rendered}");
        assert!(rendered.contains(r#""ghyll_rate":100000.0"#), "{rendered}");
        // kafko / ghyll p99 per run: 3, 2, 4; the median is 3.
        assert!(rendered.contains(r#""ratio_p99_vs_kafko":3.0000"#), "{rendered}");
        assert!(rendered.ends_with('}'));
    }

    #[test]
    fn latencies_of_a_run_with_records_not_received_are_marked_as_lower_bounds() {
        let mut partial = run(1, 2);
        partial.figures[1].1.unreceived = 3;
        let rendered = table(std::slice::from_ref(&partial)).render();
        let ghyll = rendered.lines().find(|line| line.contains("ghyll")).expect("a ghyll row");
        let kafko = rendered.lines().find(|line| line.contains("kafko")).expect("a kafko row");
        assert!(!ghyll.contains(">="), "{rendered}");
        assert!(kafko.contains(">=40.0"), "kafko's p99 is a lower bound: {rendered}");
        assert!(!kafko.contains(">=100,000"), "rates and counts are not bounds: {rendered}");
        let runs = [partial, run(1, 2)];
        let medians = table(&runs).render();
        let kafko_median = medians.lines().find(|line| line.starts_with("median") && line.contains("kafko"));
        assert!(kafko_median.expect("a median row").contains(">=40.0"), "{medians}");
        assert_eq!(ratio_cell(Some(2.0), &runs), ">=2.000");
        assert_eq!(ratio_cell(Some(2.0), &runs[1..]), "2.000");
        assert_eq!(ratio_cell(None, &runs), "-");
    }

    #[test]
    fn a_system_not_measured_is_null_and_dashes() {
        let runs = [RunResult { figures: vec![(System::Ghyll, run(1, 1).figures[0].1)] }];
        let rendered = json_line(&args(), 100_000, &runs).render();
        assert!(rendered.contains(r#""kafko_p99_us":null"#), "{rendered}");
        assert!(rendered.contains(r#""ratio_p99_vs_kafko":null"#), "{rendered}");
        assert!(table(&runs).render().contains(" -"));
    }

    #[test]
    fn a_short_run_of_each_system_receives_every_record() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut short = args();
        short.rate = 20_000;
        short.seconds = 0.05;
        let filler = ValuePool::new(1, short.record_bytes, now_ms()).value(0).to_vec();
        let result = run_once(&short, dir.path(), &filler, 1_000).expect("a short latency run");
        for system in System::ALL {
            let figures = result.get(system).expect("measured");
            assert_eq!((figures.sent, figures.unreceived), (1_000, 0), "{system:?}");
            assert_eq!(figures.from_send.count, 1_000, "{system:?}");
            assert!(figures.from_send.max_ns <= figures.from_schedule.max_ns, "{system:?}");
        }
    }
}
