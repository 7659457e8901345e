//! Reporting shared by the `produce` and `consume` workloads: every
//! operation is timed once per partition count in every run; the rates
//! table lists each run and then the medians, and a ratio divides two
//! operations' records/s at the same partition count within one run.

use std::time::Duration;

use crate::report::{group_thousands, median, Align, JsonLine, Measurement, Table};

/// One timed operation of one system.
pub(crate) trait Operation: Copy + Eq + std::fmt::Debug {
    fn system(self) -> &'static str;
    fn description(self) -> &'static str;
    /// Its JSON key is `<stem>_p<partitions>_rps`.
    fn json_stem(self) -> &'static str;
}

/// A ratio of two operations' records/s at the same partition count within
/// one run: above 1 means the numerator (ghyll) moved more records per
/// second. Its JSON key is `<json_stem>_p<partitions>`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ratio<O> {
    pub(crate) label: &'static str,
    pub(crate) json_stem: &'static str,
    pub(crate) numerator: O,
    pub(crate) denominator: O,
}

/// Every timing of one run.
#[derive(Debug, Clone)]
pub(crate) struct RunResult<O> {
    elapsed: Vec<(u32, O, Duration)>,
}

impl<O: Operation> RunResult<O> {
    pub(crate) fn new() -> RunResult<O> {
        RunResult { elapsed: Vec::new() }
    }

    pub(crate) fn push(&mut self, partitions: u32, operation: O, elapsed: Duration) {
        assert!(
            self.elapsed(partitions, operation).is_none(),
            "{operation:?} at {partitions} partitions is timed once per run"
        );
        self.elapsed.push((partitions, operation, elapsed));
    }

    pub(crate) fn elapsed(&self, partitions: u32, operation: O) -> Option<Duration> {
        self.elapsed
            .iter()
            .find(|(measured_partitions, measured, _)| *measured_partitions == partitions && *measured == operation)
            .map(|(_, _, elapsed)| *elapsed)
    }
}

/// What every run of one workload measured, and how to report it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Comparison<'a, O> {
    pub(crate) operations: &'a [O],
    pub(crate) ratios: &'a [Ratio<O>],
    pub(crate) partitions: &'a [u32],
    /// Records each operation moves.
    pub(crate) records: u64,
    /// Value bytes each operation moves.
    pub(crate) payload_bytes: u64,
}

impl<O: Operation> Comparison<'_, O> {
    fn measurement(&self, run: &RunResult<O>, partitions: u32, operation: O) -> Option<Measurement> {
        run.elapsed(partitions, operation).map(|elapsed| Measurement {
            records: self.records,
            payload_bytes: self.payload_bytes,
            elapsed,
        })
    }

    /// Median records/s of `operation` over `runs` (`None` if never timed).
    pub(crate) fn median_rate(&self, runs: &[RunResult<O>], partitions: u32, operation: O) -> Option<f64> {
        let rates: Vec<f64> = runs
            .iter()
            .filter_map(|run| self.measurement(run, partitions, operation))
            .map(|measurement| measurement.records_per_second())
            .collect();
        median(&rates)
    }

    fn ratio(&self, run: &RunResult<O>, partitions: u32, ratio: &Ratio<O>) -> Option<f64> {
        let numerator = self.measurement(run, partitions, ratio.numerator)?;
        let denominator = self.measurement(run, partitions, ratio.denominator)?;
        Some(numerator.records_per_second() / denominator.records_per_second())
    }

    /// One row per run, partition count and operation, then the medians.
    pub(crate) fn rates_table(&self, runs: &[RunResult<O>]) -> Table {
        let columns = [
            ("run", Align::Left),
            ("partitions", Align::Right),
            ("system", Align::Left),
            ("operation", Align::Left),
            ("seconds", Align::Right),
            ("records/s", Align::Right),
            ("MB/s", Align::Right),
        ];
        let mut table = Table::new(&columns);
        let mut push = |run: String, partitions: u32, operation: O, cells: Option<(f64, f64, f64)>| {
            let (seconds, rate, megabytes) = match cells {
                Some((seconds, rate, megabytes)) => {
                    (format!("{seconds:.3}"), group_thousands(rate), format!("{megabytes:.1}"))
                }
                None => ("-".to_owned(), "-".to_owned(), "-".to_owned()),
            };
            table.push(vec![
                run,
                partitions.to_string(),
                operation.system().to_owned(),
                operation.description().to_owned(),
                seconds,
                rate,
                megabytes,
            ]);
        };
        for (index, run) in runs.iter().enumerate() {
            for &partitions in self.partitions {
                for &operation in self.operations {
                    let cells = self.measurement(run, partitions, operation).map(|measurement| {
                        (
                            measurement.elapsed.as_secs_f64(),
                            measurement.records_per_second(),
                            measurement.payload_megabytes_per_second(),
                        )
                    });
                    push((index + 1).to_string(), partitions, operation, cells);
                }
            }
        }
        if runs.len() > 1 {
            for &partitions in self.partitions {
                for &operation in self.operations {
                    let measurements: Vec<Measurement> =
                        runs.iter().filter_map(|run| self.measurement(run, partitions, operation)).collect();
                    let median_of =
                        |value: fn(&Measurement) -> f64| median(&measurements.iter().map(value).collect::<Vec<_>>());
                    let cells = median_of(|measurement| measurement.elapsed.as_secs_f64()).map(|seconds| {
                        (
                            seconds,
                            median_of(Measurement::records_per_second).unwrap_or(f64::NAN),
                            median_of(Measurement::payload_megabytes_per_second).unwrap_or(f64::NAN),
                        )
                    });
                    push("median".to_owned(), partitions, operation, cells);
                }
            }
        }
        table
    }

    /// One row per ratio and partition count: its value in each run, then
    /// the median.
    pub(crate) fn ratios_table(&self, runs: &[RunResult<O>]) -> Table {
        let mut columns: Vec<(String, Align)> = vec![
            ("ratio of records/s (>1: ghyll faster)".to_owned(), Align::Left),
            ("partitions".to_owned(), Align::Right),
        ];
        columns.extend((1..=runs.len()).map(|run| (format!("run {run}"), Align::Right)));
        if runs.len() > 1 {
            columns.push(("median".to_owned(), Align::Right));
        }
        let columns: Vec<(&str, Align)> = columns.iter().map(|(name, align)| (name.as_str(), *align)).collect();
        let mut table = Table::new(&columns);
        let cell = |value: Option<f64>| value.map_or_else(|| "-".to_owned(), |value| format!("{value:.3}"));
        for ratio in self.ratios {
            for &partitions in self.partitions {
                let per_run: Vec<Option<f64>> = runs.iter().map(|run| self.ratio(run, partitions, ratio)).collect();
                let mut row = vec![ratio.label.to_owned(), partitions.to_string()];
                row.extend(per_run.iter().map(|value| cell(*value)));
                if runs.len() > 1 {
                    row.push(cell(median(&per_run.iter().flatten().copied().collect::<Vec<_>>())));
                }
                table.push(row);
            }
        }
        table
    }

    /// Adds the median records/s of every operation and the median of every
    /// per-run ratio, per partition count, to `line`.
    pub(crate) fn json_fields(&self, line: &mut JsonLine, runs: &[RunResult<O>]) {
        for &partitions in self.partitions {
            for &operation in self.operations {
                let key = format!("{}_p{partitions}_rps", operation.json_stem());
                line.optional_number(&key, self.median_rate(runs, partitions, operation), 1);
            }
        }
        for ratio in self.ratios {
            for &partitions in self.partitions {
                let per_run: Vec<f64> = runs.iter().filter_map(|run| self.ratio(run, partitions, ratio)).collect();
                line.optional_number(&format!("{}_p{partitions}", ratio.json_stem), median(&per_run), 4);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Fake {
        Fast,
        Slow,
    }

    impl Operation for Fake {
        fn system(self) -> &'static str {
            "fake"
        }
        fn description(self) -> &'static str {
            match self {
                Fake::Fast => "fast",
                Fake::Slow => "slow",
            }
        }
        fn json_stem(self) -> &'static str {
            match self {
                Fake::Fast => "fast",
                Fake::Slow => "slow",
            }
        }
    }

    const RATIOS: [Ratio<Fake>; 1] = [Ratio {
        label: "fast / slow",
        json_stem: "ratio_fast_vs_slow",
        numerator: Fake::Fast,
        denominator: Fake::Slow,
    }];

    fn comparison() -> Comparison<'static, Fake> {
        Comparison {
            operations: &[Fake::Fast, Fake::Slow],
            ratios: &RATIOS,
            partitions: &[1, 8],
            records: 1_000,
            payload_bytes: 100_000,
        }
    }

    /// In run `scale`, Fast takes `scale` seconds and Slow four times as
    /// long; at 8 partitions Slow is missing from the first run.
    fn run(scale: u64) -> RunResult<Fake> {
        let mut run = RunResult::new();
        for partitions in [1, 8] {
            run.push(partitions, Fake::Fast, Duration::from_secs(scale));
            if !(partitions == 8 && scale == 1) {
                run.push(partitions, Fake::Slow, Duration::from_secs(4 * scale));
            }
        }
        run
    }

    #[test]
    fn json_carries_median_rates_and_median_ratios_per_partition_count() {
        let runs = [run(1), run(2), run(5)];
        let mut line = JsonLine::new();
        comparison().json_fields(&mut line, &runs);
        let rendered = line.render();
        // Fast: 1000, 500, 200 records/s; the median is 500.
        assert!(rendered.contains(r#""fast_p1_rps":500.0"#), "{rendered}");
        // Slow at 8 partitions: runs 2 and 5 only, 125 and 50 records/s.
        assert!(rendered.contains(r#""slow_p8_rps":87.5"#), "{rendered}");
        assert!(rendered.contains(r#""ratio_fast_vs_slow_p1":4.0000"#), "{rendered}");
        assert!(rendered.contains(r#""ratio_fast_vs_slow_p8":4.0000"#), "{rendered}");
    }

    #[test]
    fn missing_measurements_show_as_dashes_and_null() {
        let runs = [run(1)];
        let table = comparison().rates_table(&runs).render();
        assert!(table.lines().any(|line| line.contains("slow") && line.contains(" -")), "{table}");
        let mut line = JsonLine::new();
        comparison().json_fields(&mut line, &runs);
        assert!(line.render().contains(r#""ratio_fast_vs_slow_p8":null"#), "{}", line.render());
    }

    #[test]
    fn tables_have_a_median_row_only_with_several_runs() {
        assert!(!comparison().rates_table(&[run(1)]).render().contains("median"));
        let rates = comparison().rates_table(&[run(1), run(2)]).render();
        assert_eq!(rates.lines().filter(|line| line.starts_with("median")).count(), 4, "{rates}");
        let ratios = comparison().ratios_table(&[run(1), run(2)]).render();
        assert!(ratios.lines().next().is_some_and(|header| header.ends_with("median")), "{ratios}");
    }

    #[test]
    #[should_panic(expected = "timed once per run")]
    fn an_operation_is_timed_once_per_run() {
        let mut run = RunResult::new();
        run.push(1, Fake::Fast, Duration::from_secs(1));
        run.push(1, Fake::Fast, Duration::from_secs(1));
    }
}
