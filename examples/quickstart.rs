//! ghyll's quickstart: open a partition log in a temporary directory,
//! append a few records in Kafka's batch format, read them back from the
//! beginning, reopen the directory and look a record up by timestamp.
//!
//! Run it with `cargo run --release --example quickstart`.

use std::error::Error;

use ghyll::log::{BatchBuilder, Header, Log, LogConfig};

fn main() -> Result<(), Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    let partition_dir = dir.path().join("quickstart-events-0");
    let log = Log::open(&partition_dir, LogConfig::default())?;
    println!("opened {}", partition_dir.display());

    let lines = ["This is my first event", "This is my second event", "This is my third event"];
    let base_ms = 1_700_000_000_000;
    let mut builder = BatchBuilder::new();
    for (i, line) in lines.iter().enumerate() {
        let key = format!("user-{}", i % 2);
        let headers = [Header { key: "source", value: Some(b"quickstart") }];
        builder.push(base_ms + i as i64, Some(key.as_bytes()), Some(line.as_bytes()), &headers)?;
    }
    let appended = log.append_durable(&builder.finish()?)?;
    println!("appended offsets {}..={} (fsynced)", appended.first_offset, appended.last_offset);

    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let read = log.read(offset, 1024 * 1024)?;
        for batch in read.batches() {
            for record in batch?.records()? {
                let record = record?;
                let key = record.key.map(String::from_utf8_lossy).unwrap_or_default();
                let value = record.value.map(String::from_utf8_lossy).unwrap_or_default();
                println!("offset {} ts {} key {key}: {value}", record.offset, record.timestamp);
            }
        }
        offset = read.next_offset();
    }
    log.close()?;
    drop(log);

    let log = Log::open(&partition_dir, LogConfig::default())?;
    let report = log.recovery_report();
    println!(
        "reopened: log end offset {}, clean shutdown {}, segments scanned {}",
        log.log_end_offset(),
        report.clean_shutdown,
        report.segments_scanned
    );
    if let Some(found) = log.offset_for_timestamp(base_ms + 1)? {
        println!("first record at or after {}: offset {}", base_ms + 1, found.offset);
    }
    log.close()?;
    Ok(())
}
