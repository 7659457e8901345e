//! The physical limit: the same encoded batches written to one file through
//! a `BufWriter<File>`, with no offsets, index or checks.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{BenchError, Context};

/// Writes `batches` to a new file in `dir` and flushes the writer; only the
/// writes and the flush are timed. Nothing is fsynced.
pub(super) fn write(dir: &Path, batches: &[Vec<u8>], buffer_bytes: usize) -> Result<Duration, BenchError> {
    let path = dir.join("raw.log");
    let file = File::create(&path).context(|| format!("creating {}", path.display()))?;
    let mut writer = BufWriter::with_capacity(buffer_bytes, file);

    let started = Instant::now();
    for batch in batches {
        writer.write_all(batch).context(|| format!("writing {}", path.display()))?;
    }
    writer.flush().context(|| format!("flushing {}", path.display()))?;
    let elapsed = started.elapsed();

    let written_bytes = fs::metadata(&path).context(|| format!("reading the length of {}", path.display()))?.len();
    let expected_bytes: u64 = batches.iter().map(|batch| batch.len() as u64).sum();
    assert_eq!(written_bytes, expected_bytes, "the raw file holds every batch byte");
    Ok(elapsed)
}
