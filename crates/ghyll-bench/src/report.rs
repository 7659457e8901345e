//! Results: one measurement per timed operation, a plain-text table for
//! people, medians over runs, and the one-line JSON object that closes every
//! workload's output for scripts.

use std::fmt::Write as _;
use std::time::Duration;

/// One timed operation of one system in one run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Measurement {
    /// Records moved by the operation (appended, written or read).
    pub(crate) records: u64,
    /// Value bytes moved, without any system's framing, so that systems
    /// with different encodings are compared on the same work.
    pub(crate) payload_bytes: u64,
    pub(crate) elapsed: Duration,
}

impl Measurement {
    pub(crate) fn records_per_second(&self) -> f64 {
        self.records as f64 / self.elapsed.as_secs_f64()
    }

    /// Value megabytes (10^6 bytes) per second.
    pub(crate) fn payload_megabytes_per_second(&self) -> f64 {
        self.payload_bytes as f64 / 1e6 / self.elapsed.as_secs_f64()
    }
}

/// The median of `values`; the mean of the two middle values when their
/// count is even; `None` when empty. NaN sorts last (`f64::total_cmp`).
pub(crate) fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        Some(sorted[middle])
    } else {
        Some((sorted[middle - 1] + sorted[middle]) / 2.0)
    }
}

/// The value at `numerator / denominator` (a quantile, at most 1) of
/// `sorted` by the nearest-rank method: the smallest value with at least
/// that fraction of all values at or below it. `None` when empty. The
/// fraction is a ratio of integers so that p99 of 100 values is exactly the
/// 99th, with no floating-point rounding up to the 100th.
///
/// # Panics
/// If `denominator` is zero or the fraction is above 1; in debug builds, if
/// `sorted` is not sorted.
pub(crate) fn percentile(sorted: &[u64], numerator: u64, denominator: u64) -> Option<u64> {
    assert!(denominator > 0 && numerator <= denominator, "a quantile is a fraction in [0, 1]");
    debug_assert!(sorted.is_sorted(), "percentile needs sorted values");
    if sorted.is_empty() {
        return None;
    }
    let count = sorted.len() as u128;
    // Rank (1-based) = ceil(count * numerator / denominator), at least 1.
    let rank = (count * u128::from(numerator)).div_ceil(u128::from(denominator)).max(1);
    Some(sorted[rank as usize - 1])
}

/// Percentiles of a set of latencies, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LatencySummary {
    pub(crate) count: u64,
    pub(crate) p50_ns: u64,
    pub(crate) p99_ns: u64,
    pub(crate) p999_ns: u64,
    pub(crate) max_ns: u64,
}

impl LatencySummary {
    /// Sorts `latencies_ns` and summarises them; `None` when empty.
    pub(crate) fn from_unsorted(mut latencies_ns: Vec<u64>) -> Option<LatencySummary> {
        latencies_ns.sort_unstable();
        let sorted = &latencies_ns;
        Some(LatencySummary {
            count: sorted.len() as u64,
            p50_ns: percentile(sorted, 50, 100)?,
            p99_ns: percentile(sorted, 99, 100)?,
            p999_ns: percentile(sorted, 999, 1000)?,
            max_ns: *sorted.last()?,
        })
    }
}

/// Nanoseconds as microseconds with one decimal: `12_345` as `"12.3"`.
pub(crate) fn microseconds(nanoseconds: f64) -> String {
    format!("{:.1}", nanoseconds / 1_000.0)
}

/// `1234567.8` as `"1,234,568"`: rates are easier to compare by eye with
/// their thousands grouped. Non-finite values print as Rust prints them.
pub(crate) fn group_thousands(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    let rounded = format!("{:.0}", value.abs());
    let mut grouped = String::with_capacity(rounded.len() + rounded.len() / 3 + 1);
    if value.is_sign_negative() && rounded != "0" {
        grouped.push('-');
    }
    for (index, digit) in rounded.chars().enumerate() {
        if index > 0 && (rounded.len() - index) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

/// How a column's cells line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    Left,
    Right,
}

/// A plain-text table: a header line, a rule, then rows, columns padded to
/// their widest cell and separated by two spaces.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    columns: Vec<(String, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(crate) fn new(columns: &[(&str, Align)]) -> Table {
        assert!(!columns.is_empty(), "a table needs at least one column");
        Table { columns: columns.iter().map(|(name, align)| ((*name).to_owned(), *align)).collect(), rows: Vec::new() }
    }

    /// Adds a row.
    ///
    /// # Panics
    /// If the row has not one cell per column.
    pub(crate) fn push(&mut self, row: Vec<String>) {
        assert_eq!(row.len(), self.columns.len(), "a row needs one cell per column");
        self.rows.push(row);
    }

    pub(crate) fn render(&self) -> String {
        let mut widths: Vec<usize> = self.columns.iter().map(|(name, _)| name.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let header: Vec<&str> = self.columns.iter().map(|(name, _)| name.as_str()).collect();
        self.render_line(&mut out, &widths, &header);
        let rule: Vec<String> = widths.iter().map(|width| "-".repeat(*width)).collect();
        self.render_line(&mut out, &widths, &rule);
        for row in &self.rows {
            self.render_line(&mut out, &widths, row);
        }
        out
    }

    fn render_line<S: AsRef<str>>(&self, out: &mut String, widths: &[usize], cells: &[S]) {
        let mut line = String::new();
        for (index, ((cell, width), (_, align))) in cells.iter().zip(widths).zip(&self.columns).enumerate() {
            if index > 0 {
                line.push_str("  ");
            }
            // Writing to a String cannot fail.
            let _ = match align {
                Align::Left => write!(line, "{:<width$}", cell.as_ref()),
                Align::Right => write!(line, "{:>width$}", cell.as_ref()),
            };
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

/// One row per measure, one column per run, then the median of the row:
/// the table of workloads that report a few measures over several runs.
pub(crate) fn runs_table(runs: usize, rows: &[(&str, Vec<f64>)]) -> Table {
    let labels: Vec<String> = (1..=runs).map(|r| format!("run {r}")).collect();
    let mut columns = vec![("measure", Align::Left)];
    columns.extend(labels.iter().map(|label| (label.as_str(), Align::Right)));
    columns.push(("median", Align::Right));
    let mut table = Table::new(&columns);
    for (label, values) in rows {
        let mut row = vec![(*label).to_string()];
        row.extend(values.iter().map(|v| format_value(*v)));
        row.push(format_value(median(values).unwrap_or(f64::NAN)));
        table.push(row);
    }
    table
}

/// Thousands grouped from 1,000 up, three decimals below (ratios).
pub(crate) fn format_value(value: f64) -> String {
    if value >= 1000.0 {
        group_thousands(value)
    } else {
        format!("{value:.3}")
    }
}

/// A flat JSON object built field by field, rendered on one line. Keys keep
/// the order they were added in; a non-finite number is written `null`
/// because JSON has no NaN or infinity.
#[derive(Debug, Clone, Default)]
pub(crate) struct JsonLine {
    fields: Vec<(String, String)>,
}

impl JsonLine {
    pub(crate) fn new() -> JsonLine {
        JsonLine::default()
    }

    pub(crate) fn string(&mut self, key: &str, value: &str) -> &mut JsonLine {
        self.fields.push((key.to_owned(), json_string(value)));
        self
    }

    pub(crate) fn unsigned(&mut self, key: &str, value: u64) -> &mut JsonLine {
        self.fields.push((key.to_owned(), value.to_string()));
        self
    }

    /// A number with `decimals` digits after the point; `null` if `value`
    /// is NaN or infinite.
    pub(crate) fn number(&mut self, key: &str, value: f64, decimals: usize) -> &mut JsonLine {
        let rendered = if value.is_finite() { format!("{value:.decimals$}") } else { "null".to_owned() };
        self.fields.push((key.to_owned(), rendered));
        self
    }

    /// Like [`JsonLine::number`], with `None` written as `null`.
    pub(crate) fn optional_number(&mut self, key: &str, value: Option<f64>, decimals: usize) -> &mut JsonLine {
        self.number(key, value.unwrap_or(f64::NAN), decimals)
    }

    pub(crate) fn render(&self) -> String {
        let mut out = String::from("{");
        for (index, (key, value)) in self.fields.iter().enumerate() {
            if index > 0 {
                out.push_str(", ");
            }
            out.push_str(&json_string(key));
            out.push(':');
            out.push_str(value);
        }
        out.push('}');
        out
    }
}

/// `value` as a quoted JSON string, escaping quotes, backslashes and
/// control characters.
fn json_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for character in value.chars() {
        match character {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            control if (control as u32) < 0x20 => {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\u{:04x}", control as u32);
            }
            other => out.push(other),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_count_is_the_middle_value() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[5.0]), Some(5.0));
        assert_eq!(median(&[9.0, -1.0, 4.0, 4.0, 100.0]), Some(4.0));
    }

    #[test]
    fn median_of_even_count_is_the_mean_of_the_two_middle_values() {
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[10.0, 20.0]), Some(15.0));
    }

    #[test]
    fn median_of_nothing_is_none() {
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn median_sorts_nan_last() {
        assert_eq!(median(&[f64::NAN, 1.0, 2.0]), Some(2.0));
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let hundred: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&hundred, 50, 100), Some(50));
        assert_eq!(percentile(&hundred, 99, 100), Some(99));
        assert_eq!(percentile(&hundred, 999, 1000), Some(100));
        assert_eq!(percentile(&hundred, 1, 1), Some(100));
        assert_eq!(percentile(&hundred, 0, 1), Some(1));
        let thousand: Vec<u64> = (1..=1000).collect();
        assert_eq!(percentile(&thousand, 999, 1000), Some(999));
        assert_eq!(percentile(&thousand, 99, 100), Some(990));
        // One value is every percentile; an odd count rounds the rank up.
        assert_eq!(percentile(&[7], 50, 100), Some(7));
        assert_eq!(percentile(&[7], 999, 1000), Some(7));
        assert_eq!(percentile(&[1, 2, 3], 50, 100), Some(2));
        assert_eq!(percentile(&[], 50, 100), None);
    }

    #[test]
    #[should_panic(expected = "fraction in [0, 1]")]
    fn a_percentile_above_one_is_refused() {
        percentile(&[1, 2], 101, 100);
    }

    #[test]
    fn latency_summary_sorts_first() {
        // 1..=1000 shuffled by a stride coprime with 1000.
        let shuffled: Vec<u64> = (0..1000_u64).map(|index| (index * 7 % 1000) + 1).collect();
        let summary = LatencySummary::from_unsorted(shuffled).expect("not empty");
        assert_eq!(summary, LatencySummary { count: 1000, p50_ns: 500, p99_ns: 990, p999_ns: 999, max_ns: 1000 });
        assert_eq!(LatencySummary::from_unsorted(Vec::new()), None);
    }

    #[test]
    fn microseconds_have_one_decimal() {
        assert_eq!(microseconds(12_345.0), "12.3");
        assert_eq!(microseconds(999.0), "1.0");
        assert_eq!(microseconds(50_000.0), "50.0");
    }

    #[test]
    fn thousands_are_grouped() {
        let cases = [
            (0.0, "0"),
            (999.4, "999"),
            (999.5, "1,000"),
            (1_234_567.8, "1,234,568"),
            (100_000.0, "100,000"),
            (-1_234.0, "-1,234"),
            (-0.2, "0"),
        ];
        for (value, expected) in cases {
            assert_eq!(group_thousands(value), expected, "{value}");
        }
        assert_eq!(group_thousands(f64::INFINITY), "inf");
    }

    #[test]
    fn json_line_keeps_order_and_formats_numbers() {
        let mut line = JsonLine::new();
        line.string("workload", "log")
            .unsigned("records", 2_000_000)
            .number("ghyll_append_rps", 1_234_567.891, 1)
            .number("ratio", 0.5, 4);
        assert_eq!(
            line.render(),
            r#"{"workload":"log", "records":2000000, "ghyll_append_rps":1234567.9, "ratio":0.5000}"#
        );
    }

    #[test]
    fn json_line_writes_non_finite_numbers_as_null() {
        let mut line = JsonLine::new();
        line.number("nan", f64::NAN, 1)
            .number("inf", f64::INFINITY, 1)
            .number("minus_inf", f64::NEG_INFINITY, 1)
            .optional_number("none", None, 1)
            .optional_number("some", Some(2.0), 0);
        assert_eq!(line.render(), r#"{"nan":null, "inf":null, "minus_inf":null, "none":null, "some":2}"#);
    }

    #[test]
    fn json_strings_are_escaped() {
        let mut line = JsonLine::new();
        line.string("quote\"key", "back\\slash\nnew\u{1}line");
        assert_eq!(line.render(), r#"{"quote\"key":"back\\slash\nnew\u0001line"}"#);
    }

    #[test]
    fn empty_json_line_is_an_empty_object() {
        assert_eq!(JsonLine::new().render(), "{}");
    }

    #[test]
    fn table_pads_columns_and_aligns_numbers_right() {
        let mut table = Table::new(&[("system", Align::Left), ("records/s", Align::Right)]);
        table.push(vec!["ghyll".to_owned(), "1,000".to_owned()]);
        table.push(vec!["commitlog".to_owned(), "12".to_owned()]);
        assert_eq!(
            table.render(),
            "system     records/s\n\
             ---------  ---------\n\
             ghyll          1,000\n\
             commitlog         12\n"
        );
    }

    #[test]
    #[should_panic(expected = "one cell per column")]
    fn table_rejects_a_short_row() {
        let mut table = Table::new(&[("a", Align::Left), ("b", Align::Left)]);
        table.push(vec!["only one".to_owned()]);
    }

    #[test]
    fn measurement_rates() {
        let measurement = Measurement { records: 1_000, payload_bytes: 2_000_000, elapsed: Duration::from_millis(500) };
        assert_eq!(measurement.records_per_second(), 2_000.0);
        assert_eq!(measurement.payload_megabytes_per_second(), 4.0);
    }
}
