//! `ghyll consume`: kafka-console-consumer with kcat's `--format`.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use ghyll_broker::{Broker, Consumer, ConsumerConfig, OffsetAndMetadata, OffsetReset, TopicPartition};

use crate::cli::ConsumeArgs;
use crate::error::CliError;

/// How long one poll waits when no `--timeout-ms` was given: the loop
/// polls again, so this only bounds a single wait.
const POLL_WAIT_FOREVER: Duration = Duration::from_secs(3600);

/// Prints records of the topic to `out` until `--max-messages` records,
/// `--timeout-ms` without a record, or forever. Output is flushed after
/// every poll so a pipe sees records as they come.
pub(crate) fn run(broker: &Broker, args: ConsumeArgs, out: &mut impl Write) -> Result<(), CliError> {
    let description = broker.describe_topic(&args.topic)?;
    if let Some(group) = args.group.clone() {
        let mut config = ConsumerConfig::with_group(group);
        config.auto_offset_reset = if args.from_beginning { OffsetReset::Earliest } else { OffsetReset::Latest };
        config.enable_auto_commit = false;
        let mut consumer = broker.consumer(config)?;
        consumer.subscribe([args.topic.as_str()])?;
        return print_records(&mut consumer, &args, out);
    }
    let partitions: Vec<TopicPartition> = match args.partition {
        Some(partition) => vec![TopicPartition::new(args.topic.as_str(), partition)],
        None => description.partitions.iter().map(|p| TopicPartition::new(args.topic.as_str(), p.partition)).collect(),
    };
    let mut config = ConsumerConfig::default();
    // Where a position that falls out of the log (retention) goes.
    config.auto_offset_reset = if args.from_beginning { OffsetReset::Earliest } else { OffsetReset::Latest };
    let mut consumer = broker.consumer(config)?;
    consumer.assign(partitions.iter().cloned())?;
    match (args.offset, args.partition) {
        (Some(offset), Some(partition)) => {
            let tp = TopicPartition::new(args.topic.as_str(), partition);
            let (log_start, log_end) = consumer.offsets(&tp)?;
            if offset < log_start || offset > log_end {
                return Err(CliError::OffsetOutOfRange { topic: args.topic, partition, offset, log_start, log_end });
            }
            consumer.seek(&tp, offset)?;
        }
        _ if args.from_beginning => consumer.seek_to_beginning(&partitions)?,
        _ => consumer.seek_to_end(&partitions)?,
    }
    print_records(&mut consumer, &args, out)
}

/// Polls and prints until `--max-messages` or `--timeout-ms`; a group
/// consumer commits what it printed after every poll.
fn print_records(consumer: &mut Consumer, args: &ConsumeArgs, out: &mut impl Write) -> Result<(), CliError> {
    let grouped = args.group.is_some();
    let wait = args.timeout_ms.map_or(POLL_WAIT_FOREVER, Duration::from_millis);
    let mut printed = 0u64;
    loop {
        if args.max_messages.is_some_and(|max| printed >= max) {
            break;
        }
        let records = consumer.poll(wait)?;
        if records.is_empty() && args.timeout_ms.is_some() {
            break;
        }
        let mut done = BTreeMap::new();
        for record in records.iter() {
            let record = record?;
            args.format.write(out, &record).map_err(CliError::Stdout)?;
            printed += 1;
            done.insert(TopicPartition::new(record.topic, record.partition), record.offset + 1);
            if args.max_messages.is_some_and(|max| printed >= max) {
                break;
            }
        }
        out.flush().map_err(CliError::Stdout)?;
        if grouped && !done.is_empty() {
            // Commit exactly what was printed (a --max-messages stop can
            // leave part of the poll unprinted).
            let offsets = done.into_iter().map(|(tp, offset)| (tp, OffsetAndMetadata::new(offset))).collect();
            consumer.commit_offsets(&offsets)?;
        }
    }
    consumer.close();
    out.flush().map_err(CliError::Stdout)
}
