//! The systems the `produce`, `consume` and `latency` workloads compare,
//! each behind a small harness that opens it on a fresh directory with one
//! topic and times one operation at a time.

pub(in crate::workloads) mod commitlog;
pub(in crate::workloads) mod ghyll;
pub(in crate::workloads) mod kafko;

/// The one topic every system gets.
pub(in crate::workloads) const TOPIC: &str = "bench";

/// A fresh directory for one system, removed when dropped.
pub(in crate::workloads) fn system_dir(
    base_dir: &std::path::Path,
    system: &str,
) -> Result<tempfile::TempDir, crate::error::BenchError> {
    use crate::error::Context;
    tempfile::Builder::new()
        .prefix(&format!("ghyll-bench-{system}-"))
        .tempdir_in(base_dir)
        .context(|| format!("creating a temp dir under {}", base_dir.display()))
}
