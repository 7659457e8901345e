//! `ghyll dump-log`: kafka-dump-log for one segment file.
//!
//! Reads the file itself, batch by batch, without a broker and without a
//! lock, so it works on any copy of a segment and on a segment an open
//! broker is writing. The file is read as a stream and a batch is only
//! buffered once its length is known to fit in the file, so garbage cannot
//! make it allocate without bound; every field is parsed by `ghyll-log`,
//! which returns errors, never panics, on bad bytes.

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::Path;

use ghyll_log::{Batch, BatchError, BatchHeader, TimestampType, BATCH_HEADER_BYTES};

use crate::cli::DumpLogArgs;
use crate::error::CliError;

/// Read-ahead for the segment.
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// What the walk over the file found.
#[derive(Debug, Default)]
struct Walk {
    batches: u64,
    /// Batches whose CRC does not match, and the first one's position and
    /// error.
    invalid: u64,
    first_invalid: Option<(u64, String)>,
    /// Records that could not be decoded in batches whose CRC matched.
    corrupt_records: u64,
    /// Bytes from `position` to the end that are not a whole batch.
    torn: Option<(u64, u64, BatchError)>,
}

/// Dumps `args.path` to `out`; a damaged file is dumped up to the damage
/// and then reported as an error.
pub(crate) fn run(args: &DumpLogArgs, out: &mut impl Write) -> Result<(), CliError> {
    let path = args.path.as_path();
    if matches!(path.extension().and_then(|ext| ext.to_str()), Some("index" | "timeindex")) {
        return Err(CliError::DamagedSegment {
            path: path.to_path_buf(),
            what: "dump-log reads .log segments, not indexes (an index is rebuilt from its segment)".into(),
        });
    }
    let file_error = |operation, source| CliError::File { operation, path: path.to_path_buf(), source };
    let file = File::open(path).map_err(|error| file_error("open segment", error))?;
    let metadata = file.metadata().map_err(|error| file_error("read metadata of", error))?;
    if !metadata.is_file() {
        return Err(file_error("read segment", io::Error::other("not a regular file")));
    }
    let file_bytes = metadata.len();
    writeln!(out, "Dumping {}", path.display()).map_err(CliError::Stdout)?;
    if let Some(base_offset) = base_offset_of(path) {
        writeln!(out, "Log starting offset: {base_offset}").map_err(CliError::Stdout)?;
    }
    let mut reader = BufReader::with_capacity(READ_BUFFER_BYTES, file);
    let walk = walk(&mut reader, file_bytes, args.print_data, out).map_err(|error| match error {
        WalkError::Read(source) => file_error("read segment", source),
        WalkError::Write(source) => CliError::Stdout(source),
    })?;
    out.flush().map_err(CliError::Stdout)?;
    verdict(path, &walk)
}

/// Prints every batch of the `file_bytes` bytes in `reader`.
fn walk(reader: &mut impl Read, file_bytes: u64, print_data: bool, out: &mut impl Write) -> Result<Walk, WalkError> {
    let mut found = Walk::default();
    let mut buffer = Vec::new();
    let mut position = 0u64;
    while position < file_bytes {
        let remaining = file_bytes - position;
        let header_bytes = remaining.min(BATCH_HEADER_BYTES as u64) as usize;
        buffer.resize(header_bytes, 0);
        reader.read_exact(&mut buffer).map_err(WalkError::Read)?;
        let header = match BatchHeader::parse(&buffer) {
            Ok(header) => header,
            Err(error) => {
                found.torn = Some((position, remaining, error));
                break;
            }
        };
        let batch_bytes = header.total_bytes() as u64;
        if batch_bytes > remaining {
            let error = BatchError::Truncated { needed: header.total_bytes(), available: remaining as usize };
            found.torn = Some((position, remaining, error));
            break;
        }
        // Fits in the file, which bounds the allocation.
        buffer.resize(header.total_bytes(), 0);
        reader.read_exact(&mut buffer[header_bytes..]).map_err(WalkError::Read)?;
        let batch = Batch::new(&buffer);
        found.batches += 1;
        write_batch(out, &header, position, batch.is_ok()).map_err(WalkError::Write)?;
        match batch {
            Ok(batch) if print_data => {
                found.corrupt_records += write_records(out, &batch).map_err(WalkError::Write)?;
            }
            Ok(_) => {}
            Err(error) => {
                found.invalid += 1;
                found.first_invalid.get_or_insert((position, error.to_string()));
            }
        }
        position += batch_bytes;
    }
    if let Some((position, bytes, error)) = &found.torn {
        writeln!(out, "Found {bytes} invalid bytes at position {position}: {error}").map_err(WalkError::Write)?;
    }
    Ok(found)
}

/// Why a walk stopped early.
#[derive(Debug)]
enum WalkError {
    /// Reading the segment failed (it may have shrunk while being read:
    /// retention or recovery by the broker that owns it).
    Read(io::Error),
    /// Writing the dump failed.
    Write(io::Error),
}

/// kafka-dump-log's batch line. Kafka prints the batch's timestamp type
/// followed by its maxTimestamp (`CreateTime: 1700000000000`); so does this.
fn write_batch(out: &mut impl Write, header: &BatchHeader, position: u64, valid: bool) -> io::Result<()> {
    let last_sequence =
        if header.base_sequence < 0 { -1 } else { header.base_sequence.wrapping_add(header.last_offset_delta) };
    writeln!(
        out,
        "baseOffset: {} lastOffset: {} count: {} baseSequence: {} lastSequence: {} producerId: {} \
         producerEpoch: {} partitionLeaderEpoch: {} isTransactional: {} isControl: {} position: {} {}: {} \
         size: {} magic: {} compresscodec: {} crc: {} isvalid: {}",
        header.base_offset,
        header.last_offset(),
        header.records_count,
        header.base_sequence,
        last_sequence,
        header.producer_id,
        header.producer_epoch,
        header.partition_leader_epoch,
        header.is_transactional(),
        header.is_control(),
        position,
        timestamp_type_name(header.timestamp_type()),
        header.max_timestamp,
        header.total_bytes(),
        header.magic,
        header.compression(),
        header.crc,
        valid
    )
}

/// kafka-dump-log `--print-data`'s record lines, with each header's value
/// as well as its key. Returns how many records could not be decoded.
fn write_records(out: &mut impl Write, batch: &Batch<'_>) -> io::Result<u64> {
    let header = batch.header();
    let records = match batch.records() {
        Ok(records) => records,
        Err(error) => {
            // A compressed batch: valid, but this build cannot show it.
            writeln!(out, "| records not shown: {error}")?;
            return Ok(0);
        }
    };
    let kind = timestamp_type_name(header.timestamp_type());
    for record in records {
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                writeln!(out, "| corrupt record: {error}")?;
                return Ok(1);
            }
        };
        let sequence = if header.base_sequence < 0 {
            -1
        } else {
            // The record's offset delta, within the batch by the decoder's check.
            let delta = record.offset.wrapping_sub(batch.base_offset()) as i32;
            header.base_sequence.wrapping_add(delta)
        };
        let headers: Vec<String> = record
            .headers
            .map(|h| match h {
                Ok(h) => format!("{}={}", h.key, String::from_utf8_lossy(h.value.unwrap_or_default())),
                Err(error) => format!("<{error}>"),
            })
            .collect();
        write!(
            out,
            "| offset: {} {kind}: {} keySize: {} valueSize: {} sequence: {sequence} headers: [{}]",
            record.offset,
            record.timestamp,
            size_of(record.key),
            size_of(record.value),
            headers.join(",")
        )?;
        if let Some(key) = record.key {
            write!(out, " key: {}", String::from_utf8_lossy(key))?;
        }
        if let Some(value) = record.value {
            write!(out, " payload: {}", String::from_utf8_lossy(value))?;
        }
        writeln!(out)?;
    }
    Ok(0)
}

/// A field's size as Kafka prints it: -1 for null.
fn size_of(field: Option<&[u8]>) -> i64 {
    field.map_or(-1, |bytes| bytes.len() as i64)
}

fn timestamp_type_name(kind: TimestampType) -> &'static str {
    match kind {
        TimestampType::CreateTime => "CreateTime",
        TimestampType::LogAppendTime => "LogAppendTime",
    }
}

/// The base offset in a segment's name: 20 digits, then `.log`.
fn base_offset_of(path: &Path) -> Option<u64> {
    let stem = path.file_stem()?.to_str()?;
    if stem.len() != 20 || !stem.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

fn verdict(path: &Path, walk: &Walk) -> Result<(), CliError> {
    let damaged = |what: String| Err(CliError::DamagedSegment { path: path.to_path_buf(), what });
    if let Some((position, bytes, error)) = &walk.torn {
        return damaged(format!(
            "{bytes} invalid bytes at position {position} after {} batches ({error})",
            walk.batches
        ));
    }
    if let Some((position, error)) = &walk.first_invalid {
        return damaged(format!(
            "{} of {} batches are invalid, the first at position {position} ({error})",
            walk.invalid, walk.batches
        ));
    }
    if walk.corrupt_records > 0 {
        return damaged(format!("{} batches hold records that cannot be decoded", walk.corrupt_records));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ghyll_log::BatchBuilder;

    fn batch(base_offset: i64, values: &[&[u8]]) -> Vec<u8> {
        let mut builder = BatchBuilder::new();
        for value in values {
            builder.push(1_700_000_000_000, Some(b"k"), Some(value), &[]).unwrap();
        }
        let mut bytes = builder.finish().unwrap();
        // The log assigns the base offset; it is not covered by the CRC.
        bytes[..8].copy_from_slice(&base_offset.to_be_bytes());
        bytes
    }

    fn dump(bytes: &[u8], print_data: bool) -> (String, Walk) {
        let mut out = Vec::new();
        let walk = walk(&mut &bytes[..], bytes.len() as u64, print_data, &mut out).unwrap();
        (String::from_utf8(out).unwrap(), walk)
    }

    #[test]
    fn valid_batches_print_one_line_each_and_their_records() {
        let mut bytes = batch(0, &[b"a", b"bc"]);
        let first_len = bytes.len();
        bytes.extend(batch(2, &[b"d"]));
        let (text, walk) = dump(&bytes, true);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert!(lines[0].starts_with("baseOffset: 0 lastOffset: 1 count: 2 "), "{}", lines[0]);
        assert!(lines[0].contains(" position: 0 CreateTime: 1700000000000 "), "{}", lines[0]);
        assert!(lines[0].contains(" magic: 2 compresscodec: none crc: ") && lines[0].ends_with(" isvalid: true"));
        assert!(lines[1].starts_with("| offset: 0 CreateTime: 1700000000000 keySize: 1 valueSize: 1 "), "{}", lines[1]);
        assert!(lines[2].ends_with("key: k payload: bc"), "{}", lines[2]);
        assert!(lines[3].contains(&format!(" position: {first_len} ")), "{}", lines[3]);
        assert!(lines[4].starts_with("| offset: 2 "), "{}", lines[4]);
        assert_eq!((walk.batches, walk.invalid, walk.torn.is_none()), (2, 0, true));
        assert!(verdict(Path::new("x.log"), &walk).is_ok());
    }

    #[test]
    fn a_flipped_byte_marks_its_batch_invalid_and_the_walk_goes_on() {
        let mut bytes = batch(0, &[b"hello"]);
        let last = bytes.len() - 1;
        bytes[last - 2] ^= 0xff;
        bytes.extend(batch(1, &[b"next"]));
        let (text, walk) = dump(&bytes, true);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].ends_with("isvalid: false"), "{text}");
        assert!(lines[1].starts_with("baseOffset: 1 ") && lines[1].ends_with("isvalid: true"), "{text}");
        assert_eq!(walk.invalid, 1);
        let error = verdict(Path::new("x.log"), &walk).unwrap_err().to_string();
        assert!(error.contains("1 of 2 batches are invalid"), "{error}");
    }

    #[test]
    fn a_torn_tail_is_reported_after_the_valid_batches() {
        let mut bytes = batch(0, &[b"hello"]);
        let whole = batch(1, &[b"torn"]);
        bytes.extend_from_slice(&whole[..whole.len() - 3]);
        let (text, walk) = dump(&bytes, false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[1].starts_with(&format!("Found {} invalid bytes at position", whole.len() - 3)), "{text}");
        assert!(verdict(Path::new("x.log"), &walk).is_err());
    }

    #[test]
    fn garbage_never_panics() {
        // A fixed-seed xorshift, so a failure replays.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let valid = batch(0, &[b"one", b"two"]);
        for round in 0..2_000 {
            let mut bytes = if round % 2 == 0 { valid.clone() } else { Vec::new() };
            let extra = (next() % 200) as usize;
            bytes.extend((0..extra).map(|_| next() as u8));
            for _ in 0..(next() % 4) {
                if !bytes.is_empty() {
                    let at = (next() as usize) % bytes.len();
                    bytes[at] = next() as u8;
                }
            }
            let _ = dump(&bytes, true);
        }
    }

    #[test]
    fn segment_names_give_the_base_offset() {
        assert_eq!(base_offset_of(Path::new("d/00000000000000000042.log")), Some(42));
        assert_eq!(base_offset_of(Path::new("d/42.log")), None);
        assert_eq!(base_offset_of(Path::new("d/0000000000000000004x.log")), None);
    }
}
