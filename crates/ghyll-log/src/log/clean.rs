//! Log compaction: [`Log::clean`], [`Log::needs_cleaning`], and the
//! recovery of a clean that a crash interrupted.
//!
//! A clean rewrites the closed segments into `.cleaned` files without the
//! writer lock (closed segments are immutable), then takes the writer lock
//! for the swap. The commit point is the first rename of a `.cleaned` file
//! to `.swap`: before it, recovery deletes every `.cleaned` file (the log is
//! as before the clean); from it on, recovery finishes the swap (the log is
//! as after it).

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{now_ms as wall_clock_ms, parse_segment_name, Log, RecoveryReport};
use crate::checkpoint::{segment_path, sync_dir};
use crate::cleaner::{filter_batch, FilterCounts, Filtered, KeyMap};
use crate::error::LogError;
use crate::segment::{log_file_next_offset, Segment, SegmentWriter};

/// Suffix of a cleaned segment's files while they are being written.
const CLEANED: &str = "cleaned";
/// Suffix of a cleaned segment's files once the clean has committed.
const SWAP: &str = "swap";
/// A segment's three files, the `.log` last: renaming it completes a
/// segment, so the index files are already in place when it appears.
const EXTENSIONS: [&str; 3] = ["index", "timeindex", "log"];

/// What [`Log::clean`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CleanReport {
    /// Closed segments rewritten (the input).
    pub segments_cleaned: usize,
    /// Segments written in their place (consecutive small inputs are
    /// grouped into one, up to `segment.bytes`).
    pub segments_written: usize,
    /// Bytes of the input segments.
    pub bytes_before: u64,
    /// Bytes of the segments written.
    pub bytes_after: u64,
    /// Records removed: superseded by a later record with the same key,
    /// tombstones past `delete.retention.ms`, and keyless records.
    pub records_removed: u64,
    /// Of those, tombstones (null values).
    pub tombstones_removed: u64,
    /// Distinct keys in the cleaned range.
    pub keys: usize,
    /// End of the cleaned range: every segment below it was cleaned.
    pub cleaned_end_offset: u64,
    /// The log was truncated, or segments were deleted, while the clean
    /// ran: the clean threw its work away and changed nothing.
    pub abandoned: bool,
}

/// Counts the clean's file system steps, for the crash hook of
/// [`Log::clean_with_crash_at`].
struct Steps {
    crash_at: Option<u32>,
    taken: u32,
    crashed: bool,
}

impl Steps {
    /// Called after each step that changes the directory: stops the clean
    /// there, as a crash would, when that is the step asked for.
    fn step(&mut self, dir: &Path) -> Result<(), LogError> {
        if self.crash_at == Some(self.taken) {
            self.crashed = true;
            return Err(LogError::io("clean", dir, io::Error::other("injected crash")));
        }
        self.taken += 1;
        Ok(())
    }
}

impl Log {
    /// Compacts the closed segments (every segment but the active one):
    /// keeps, for each key, only the record with the highest offset among
    /// them, as Kafka's log cleaner does.
    ///
    /// - Keys are taken from the closed segments being cleaned only, as in
    ///   Kafka: a newer record in the active segment does not yet supersede
    ///   older ones (the next clean after a roll does).
    /// - Offsets never change: a rewritten batch keeps its base offset and
    ///   lastOffsetDelta, each kept record its offset and timestamp deltas;
    ///   a batch left with no records is dropped (leaving a gap in the
    ///   offsets), except the last batch of each output segment, which is
    ///   kept empty so the segment still spans the offsets it replaces.
    ///   Batches that lose nothing are copied byte for byte; compressed and
    ///   control batches are copied as they are (ghyll cannot look into a
    ///   compressed batch, so its records neither go nor supersede others).
    /// - A tombstone (null value) stays until `delete.retention.ms` has
    ///   passed since its own timestamp: it goes once
    ///   `timestamp + delete.retention.ms <= now_ms` (Kafka counts from when
    ///   the segment was first cleaned, KIP-534).
    /// - `min.compaction.lag.ms`: the first closed segment whose newest
    ///   timestamp is after `now_ms - min.compaction.lag.ms` is not
    ///   cleaned, nor any after it.
    /// - Keyless records (possible only if the log was not always
    ///   compacted) are dropped, as Kafka drops them.
    ///
    /// Consecutive input segments are grouped into one output segment up
    /// to `segment.bytes`, named by the group's first base offset, with
    /// rebuilt indexes. Appends and reads go on during a clean; the writer
    /// lock is held only for the swap. If the log is truncated or loses
    /// segments meanwhile, the clean is abandoned (see
    /// [`CleanReport::abandoned`]). A crash at any point leaves the log as
    /// it was before the clean or as it is after it (docs/format.md,
    /// "Compaction files"). The key map holds every distinct key of the
    /// cleaned range in memory.
    ///
    /// With a `cleanup.policy` that does not compact, this does nothing.
    ///
    /// # Errors
    /// [`LogError::Io`] and [`LogError::Corrupt`] from reading and writing
    /// segments. An error after the clean's commit point fails the log
    /// ([`LogError::Failed`] until it is reopened, which finishes the
    /// clean); before it, the log is unchanged.
    pub fn clean(&self, now_ms: i64) -> Result<CleanReport, LogError> {
        self.clean_inner(now_ms, None)
    }

    /// [`Log::clean`] that stops after its `step`-th change to the
    /// directory (0: before the first) and fails the log, leaving the files
    /// as a crash there would. For crash tests only: reopen the directory
    /// afterwards. If the clean needs fewer steps it completes normally.
    ///
    /// # Errors
    /// As [`Log::clean`]; the injected crash is an [`LogError::Io`].
    #[doc(hidden)]
    pub fn clean_with_crash_at(&self, now_ms: i64, step: u32) -> Result<CleanReport, LogError> {
        self.clean_inner(now_ms, Some(step))
    }

    /// The offset the last clean of this process reached: offsets below it
    /// are compacted. Starts at the log start when the log is opened (it is
    /// not persisted, so the first clean after a restart counts everything
    /// as dirty).
    pub fn first_dirty_offset(&self) -> u64 {
        self.first_dirty.load(Ordering::Acquire)
    }

    /// The share of the cleanable bytes (closed segments old enough for
    /// `min.compaction.lag.ms` at `now_ms`) at or above
    /// [`Log::first_dirty_offset`], from 0 to 1; 0 when nothing is
    /// cleanable.
    pub fn cleanable_ratio(&self, now_ms: i64) -> f64 {
        let (clean, dirty) = self.cleanable_bytes(now_ms);
        if clean + dirty == 0 {
            return 0.0;
        }
        dirty as f64 / (clean + dirty) as f64
    }

    /// Whether a background cleaner should call [`Log::clean`] now: the
    /// policy compacts, something is dirty, and the dirty share is at
    /// least `min.cleanable.dirty.ratio`.
    pub fn needs_cleaning(&self, now_ms: i64) -> bool {
        if !self.config.cleanup_policy.compacts() {
            return false;
        }
        let (clean, dirty) = self.cleanable_bytes(now_ms);
        dirty > 0
            && u128::from(dirty) * u128::from(crate::config::RATIO_ONE_PPM)
                >= u128::from(self.config.min_cleanable_dirty_ratio_ppm) * u128::from(clean + dirty)
    }

    /// Bytes of the cleanable segments below and from the first dirty offset.
    fn cleanable_bytes(&self, now_ms: i64) -> (u64, u64) {
        let segments = self.segments.read().clone();
        let first_dirty = self.first_dirty_offset();
        let cleanable = self.cleanable_count(&segments, now_ms);
        segments[..cleanable].iter().fold((0, 0), |(clean, dirty), segment| {
            if segment.next_offset() <= first_dirty {
                (clean + segment.size(), dirty)
            } else {
                (clean, dirty + segment.size())
            }
        })
    }

    /// How many segments from the first may be cleaned: closed ones, up to
    /// the first that is too new for `min.compaction.lag.ms`.
    fn cleanable_count(&self, segments: &[Arc<Segment>], now_ms: i64) -> usize {
        let lag = i64::try_from(self.config.min_compaction_lag_ms).unwrap_or(i64::MAX);
        let horizon = now_ms.saturating_sub(lag);
        segments[..segments.len() - 1].iter().take_while(|segment| segment.max_timestamp() <= horizon).count()
    }

    fn clean_inner(&self, now_ms: i64, crash_at: Option<u32>) -> Result<CleanReport, LogError> {
        let _cleaner = self.cleaner.lock();
        self.check_usable()?;
        if !self.config.cleanup_policy.compacts() {
            return Ok(CleanReport { cleaned_end_offset: self.first_dirty_offset(), ..CleanReport::default() });
        }
        let mut steps = Steps { crash_at, taken: 0, crashed: false };
        let result = self.clean_locked(now_ms, &mut steps);
        if steps.crashed {
            if let Err(error) = result {
                return Err(self.fail(error));
            }
        }
        result
    }

    fn clean_locked(&self, now_ms: i64, steps: &mut Steps) -> Result<CleanReport, LogError> {
        let generation = self.generation.load(Ordering::Acquire);
        let snapshot: Vec<Arc<Segment>> = self.segments.read().clone();
        // Recovery takes gaps above the checkpointed recovery point for
        // damage, so only segments below it are cleaned: sync and
        // checkpoint the rolled ones first (a roll leaves that to the
        // flusher, and a flush does not checkpoint).
        self.flush_rolled()?;
        let durable = self.checkpointed_recovery_point.load(Ordering::Acquire);
        let synced = snapshot.iter().take_while(|segment| segment.next_offset() <= durable).count();
        let inputs = &snapshot[..self.cleanable_count(&snapshot, now_ms).min(synced)];
        let mut report = CleanReport::default();
        let Some(last) = inputs.last() else {
            report.cleaned_end_offset = snapshot[0].base_offset();
            return Ok(report);
        };
        report.cleaned_end_offset = snapshot[inputs.len()].base_offset();
        // `.cleaned` files are this clean's own from here on.
        remove_files_with_suffix(&self.dir, CLEANED)?;
        steps.step(&self.dir)?;

        let groups = group_segments(inputs, self.config.segment_bytes);
        let written = match self.write_cleaned(inputs, &groups, now_ms, &mut report, steps) {
            Ok(written) => written,
            Err(error) => {
                if steps.crashed {
                    return Err(error);
                }
                remove_files_with_suffix(&self.dir, CLEANED)?;
                // Reading a segment that truncation or retention removed
                // under the clean is not an error of the log's.
                if self.generation.load(Ordering::Acquire) != generation {
                    return Ok(CleanReport { abandoned: true, ..CleanReport::default() });
                }
                return Err(error);
            }
        };
        sync_dir(&self.dir)?;
        steps.step(&self.dir)?;

        let _writer = self.writer.lock();
        self.check_usable()?;
        let unchanged = {
            let segments = self.segments.read();
            self.generation.load(Ordering::Acquire) == generation
                && segments.len() > inputs.len()
                && inputs.iter().zip(segments.iter()).all(|(input, current)| Arc::ptr_eq(input, current))
        };
        if !unchanged {
            remove_files_with_suffix(&self.dir, CLEANED)?;
            tracing::info!(log = %self.dir.display(), "clean abandoned: the log changed under it");
            return Ok(CleanReport { abandoned: true, ..CleanReport::default() });
        }
        match self.swap_in(inputs, &groups, written, steps) {
            Ok(()) => {}
            // Past the commit point the directory is mid-swap: only a
            // reopen (which finishes the swap) makes the log whole again.
            Err(error) if steps.crashed => return Err(error),
            Err(error) => return Err(self.fail(error)),
        }
        self.first_dirty.store(last.next_offset().max(report.cleaned_end_offset), Ordering::Release);
        tracing::info!(
            log = %self.dir.display(),
            segments_cleaned = report.segments_cleaned,
            segments_written = report.segments_written,
            bytes_before = report.bytes_before,
            bytes_after = report.bytes_after,
            records_removed = report.records_removed,
            tombstones_removed = report.tombstones_removed,
            "cleaned log"
        );
        Ok(report)
    }

    /// Builds the key map and writes each group's `.cleaned` files, fsynced.
    /// Returns the base offsets written.
    fn write_cleaned(
        &self,
        inputs: &[Arc<Segment>],
        groups: &[Range<usize>],
        now_ms: i64,
        report: &mut CleanReport,
        steps: &mut Steps,
    ) -> Result<Vec<u64>, LogError> {
        let mut keys = KeyMap::default();
        for segment in inputs {
            segment.for_each_batch(|batch| {
                keys.add(batch).map_err(|source| LogError::Corrupt {
                    path: segment.log_path().to_path_buf(),
                    position: 0,
                    source,
                })
            })?;
        }
        report.keys = keys.len();
        let mut counts = FilterCounts::default();
        let mut written = Vec::with_capacity(groups.len());
        for group in groups {
            let base = inputs[group.start].base_offset();
            let mut writer = SegmentWriter::create(&self.dir, base, &self.config, CLEANED)?;
            // An emptied batch waits here: it is written only if nothing
            // follows it in the group.
            let mut emptied: Option<Vec<u8>> = None;
            for segment in &inputs[group.clone()] {
                report.bytes_before += segment.size();
                segment.for_each_batch(|batch| {
                    let filtered =
                        filter_batch(batch, &keys, now_ms, self.config.delete_retention_ms, &mut counts).map_err(
                            |source| LogError::Corrupt { path: segment.log_path().to_path_buf(), position: 0, source },
                        )?;
                    match filtered {
                        Filtered::Unchanged => {
                            emptied = None;
                            writer.append(batch.header(), batch.as_bytes())
                        }
                        Filtered::Rewritten(bytes) => {
                            emptied = None;
                            writer.append(&header_of(&bytes), &bytes)
                        }
                        Filtered::Emptied(bytes) => {
                            emptied = Some(bytes);
                            Ok(())
                        }
                    }
                })?;
            }
            if let Some(bytes) = emptied {
                writer.append(&header_of(&bytes), &bytes)?;
            }
            report.bytes_after += writer.finish()?;
            steps.step(&self.dir)?;
            written.push(base);
        }
        report.segments_cleaned = inputs.len();
        report.segments_written = groups.len();
        report.records_removed = counts.records_removed;
        report.tombstones_removed = counts.tombstones_removed;
        Ok(written)
    }

    /// The swap, under the writer lock: `.cleaned` to `.swap` (the commit
    /// point), the inputs' files deleted, `.swap` to the final names, and
    /// the segment list updated. Readers holding an input segment keep
    /// reading its (deleted but open) files.
    fn swap_in(
        &self,
        inputs: &[Arc<Segment>],
        groups: &[Range<usize>],
        written: Vec<u64>,
        steps: &mut Steps,
    ) -> Result<(), LogError> {
        for &base in &written {
            for extension in EXTENSIONS {
                rename_suffix(&self.dir, base, extension, CLEANED, Some(SWAP))?;
                steps.step(&self.dir)?;
            }
        }
        sync_dir(&self.dir)?;
        steps.step(&self.dir)?;
        for segment in inputs {
            for extension in EXTENSIONS {
                remove_if_present(&segment_path(&self.dir, segment.base_offset(), extension))?;
                steps.step(&self.dir)?;
            }
        }
        for &base in &written {
            for extension in EXTENSIONS {
                rename_suffix(&self.dir, base, extension, SWAP, None)?;
                steps.step(&self.dir)?;
            }
        }
        sync_dir(&self.dir)?;
        steps.step(&self.dir)?;
        let now = wall_clock_ms();
        let mut cleaned = Vec::with_capacity(groups.len());
        for &base in &written {
            // The cleaner's own output: gaps are expected everywhere in it.
            let (segment, _) = Segment::open(&self.dir, base, &self.config, true, u64::MAX, now)?;
            segment.seal()?;
            cleaned.push(Arc::new(segment));
        }
        let mut segments = self.segments.write();
        segments.splice(..inputs.len(), cleaned);
        Ok(())
    }
}

/// The header of batch bytes the cleaner just built.
fn header_of(bytes: &[u8]) -> crate::batch::BatchHeader {
    crate::batch::BatchHeader::parse(bytes).expect("the cleaner builds valid headers")
}

/// Groups consecutive segments, as Kafka's cleaner does, so that each
/// group's input fits one segment of `segment.bytes` and 32-bit relative
/// offsets.
fn group_segments(segments: &[Arc<Segment>], segment_bytes: u32) -> Vec<Range<usize>> {
    let mut groups: Vec<Range<usize>> = Vec::new();
    let mut bytes = 0u64;
    for (at, segment) in segments.iter().enumerate() {
        let extends = groups.last().is_some_and(|group| {
            let span = segment.next_offset().saturating_sub(segments[group.start].base_offset());
            bytes + segment.size() <= u64::from(segment_bytes) && span <= i32::MAX as u64
        });
        match groups.last_mut() {
            Some(group) if extends => {
                group.end = at + 1;
                bytes += segment.size();
            }
            _ => {
                groups.push(at..at + 1);
                bytes = segment.size();
            }
        }
    }
    groups
}

/// `<base>.<extension>.<from>` to `<base>.<extension>.<to>` (or to
/// `<base>.<extension>` for `None`); a missing index file is skipped (it is
/// rebuilt on open), a missing `.log` is an error.
fn rename_suffix(dir: &Path, base: u64, extension: &str, from: &str, to: Option<&str>) -> Result<(), LogError> {
    let source = segment_path(dir, base, &format!("{extension}.{from}"));
    let target = match to {
        Some(to) => segment_path(dir, base, &format!("{extension}.{to}")),
        None => segment_path(dir, base, extension),
    };
    match fs::rename(&source, &target) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::NotFound && extension != "log" => Ok(()),
        Err(error) => Err(LogError::io("rename cleaned segment", source, error)),
    }
}

fn remove_if_present(path: &Path) -> Result<bool, LogError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(LogError::io("delete segment file", path, error)),
    }
}

/// The directory's segment files with `.<suffix>` after their extension,
/// as (base offset, extension, path).
fn files_with_suffix(dir: &Path, suffix: &str) -> Result<Vec<(u64, String, PathBuf)>, LogError> {
    let mut found = Vec::new();
    let entries = fs::read_dir(dir).map_err(|error| LogError::io("list log directory", dir, error))?;
    for entry in entries {
        let entry = entry.map_err(|error| LogError::io("list log directory", dir, error))?;
        let name = entry.file_name();
        let Some((base, extension)) = name.to_str().and_then(parse_segment_name) else { continue };
        if let Some((kind, found_suffix)) = extension.split_once('.') {
            if found_suffix == suffix && EXTENSIONS.contains(&kind) {
                found.push((base, kind.to_string(), entry.path()));
            }
        }
    }
    Ok(found)
}

/// Removes the segment files with `.<suffix>`; returns how many.
fn remove_files_with_suffix(dir: &Path, suffix: &str) -> Result<usize, LogError> {
    let files = files_with_suffix(dir, suffix)?;
    for (_, _, path) in &files {
        remove_if_present(path)?;
    }
    Ok(files.len())
}

/// Recovery's part of compaction, run before the segments are listed.
///
/// A clean commits when it renames its first `.cleaned` file to `.swap`,
/// after every `.cleaned` file it wrote is complete and fsynced. So if any
/// `.log.swap` exists the clean committed: every `.cleaned` file is
/// promoted to `.swap`, and each swap segment replaces the segments whose
/// base offsets fall in its offset range (its base offset up to the end of
/// its last batch, which the cleaner keeps so the range covers every
/// input). Otherwise the clean did not commit and its files are deleted.
pub(super) fn finish_interrupted_clean(dir: &Path, report: &mut RecoveryReport) -> Result<(), LogError> {
    let cleaned = files_with_suffix(dir, CLEANED)?;
    let swaps = files_with_suffix(dir, SWAP)?;
    let committed = swaps.iter().any(|(_, kind, _)| kind == "log");
    if !committed {
        for (_, _, path) in cleaned.iter().chain(&swaps) {
            remove_if_present(path)?;
            report.stray_files_removed += 1;
        }
        if !cleaned.is_empty() || !swaps.is_empty() {
            sync_dir(dir)?;
        }
        return Ok(());
    }
    for (base, kind, _) in &cleaned {
        rename_suffix(dir, *base, kind, CLEANED, Some(SWAP))?;
    }
    sync_dir(dir)?;
    let swaps = files_with_suffix(dir, SWAP)?;
    let mut swap_bases: Vec<u64> =
        swaps.iter().filter(|(_, kind, _)| kind == "log").map(|(base, _, _)| *base).collect();
    swap_bases.sort_unstable();
    swap_bases.dedup();
    // Index files whose `.log.swap` is missing are strays.
    for (base, _, path) in &swaps {
        if swap_bases.binary_search(base).is_err() {
            remove_if_present(path)?;
            report.stray_files_removed += 1;
        }
    }
    let mut live: BTreeMap<u64, Vec<PathBuf>> = BTreeMap::new();
    let entries = fs::read_dir(dir).map_err(|error| LogError::io("list log directory", dir, error))?;
    for entry in entries {
        let entry = entry.map_err(|error| LogError::io("list log directory", dir, error))?;
        let name = entry.file_name();
        if let Some((base, extension)) = name.to_str().and_then(parse_segment_name) {
            if EXTENSIONS.contains(&extension) {
                live.entry(base).or_default().push(entry.path());
            }
        }
    }
    for &base in &swap_bases {
        let end = log_file_next_offset(&segment_path(dir, base, &format!("log.{SWAP}")), base)?.max(base + 1);
        for paths in live.range(base..end).map(|(_, paths)| paths) {
            for path in paths {
                remove_if_present(path)?;
            }
        }
        for extension in EXTENSIONS {
            rename_suffix(dir, base, extension, SWAP, None)?;
        }
    }
    sync_dir(dir)?;
    report.clean_finished = true;
    tracing::warn!(log = %dir.display(), segments = swap_bases.len(), "finished a clean interrupted by a crash");
    Ok(())
}
