//! `ghyll produce`: kafka-console-producer. One record per line of input,
//! sent with `send_async` and flushed at the end of input.

use std::collections::VecDeque;
use std::io::{self, BufRead};
use std::sync::Arc;
use std::time::Duration;

use ghyll_broker::{Broker, BrokerError, Producer, ProducerConfig, ProducerRecord, SendHandle};

use crate::cli::ProduceArgs;
use crate::error::CliError;

/// Sends still waiting to be checked, most before the oldest is waited for.
const PENDING_SENDS_MAX: usize = 65_536;
/// `linger.ms` for piped input: long enough to fill batches, short enough
/// that a line typed by hand is sent at once.
const LINGER: Duration = Duration::from_millis(5);
/// Kafka's default `max.message.bytes`, if the topic did not say.
const MAX_MESSAGE_BYTES_DEFAULT: usize = 1_048_588;

/// Sends every line of `input` to the topic. Lines before a bad one are
/// sent (and flushed) before its error is returned, as the Java console
/// producer has sent them by then.
pub(crate) fn run(broker: &Broker, args: ProduceArgs, input: &mut impl BufRead) -> Result<(), CliError> {
    let description = broker.describe_topic(&args.topic)?;
    let partitions = description.partitions.len() as u32;
    if let Some(partition) = args.partition.filter(|&partition| partition >= partitions) {
        return Err(BrokerError::PartitionOutOfRange { topic: args.topic, partition, partitions }.into());
    }
    let line_bytes_max = description
        .configs
        .get("max.message.bytes")
        .and_then(|value| value.parse::<usize>().ok())
        .unwrap_or(MAX_MESSAGE_BYTES_DEFAULT);
    let mut config = ProducerConfig::default();
    config.linger = LINGER;
    if let Some(builtin) = args.partitioner {
        config.partitioner = Arc::from(builtin.build());
    }
    let producer = broker.producer(config)?;
    let mut pending = VecDeque::new();
    let sent = send_lines(&producer, &args, input, line_bytes_max, &mut pending);
    // Whatever happened, what was queued is sent and checked before exit.
    let flushed = producer.flush().map_err(CliError::from).and_then(|()| settle(&mut pending, Settle::All));
    let closed = producer.close().map_err(CliError::from);
    sent.and(flushed).and(closed)
}

fn send_lines(
    producer: &Producer,
    args: &ProduceArgs,
    input: &mut impl BufRead,
    line_bytes_max: usize,
    pending: &mut VecDeque<(u64, SendHandle)>,
) -> Result<(), CliError> {
    let separator = args.key_separator.as_deref().map(str::as_bytes);
    let mut line = Vec::new();
    let mut number = 0u64;
    loop {
        number += 1;
        match read_line(input, &mut line, line_bytes_max).map_err(CliError::Stdin)? {
            ReadLine::Eof => return Ok(()),
            ReadLine::TooLong => {
                return Err(CliError::LineTooLong {
                    line: number,
                    limit_bytes: line_bytes_max,
                    topic: args.topic.clone(),
                })
            }
            ReadLine::Line => {}
        }
        let (key, value) = match separator {
            None => (None, line.as_slice()),
            Some(separator) => match find(&line, separator) {
                Some(at) => (Some(&line[..at]), &line[at + separator.len()..]),
                None => {
                    return Err(CliError::MissingKeySeparator {
                        line: number,
                        separator: args.key_separator.clone().unwrap_or_default(),
                    })
                }
            },
        };
        let mut record = ProducerRecord::new(&args.topic, value);
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(partition) = args.partition {
            record = record.partition(partition);
        }
        let handle = producer.send_async(record).map_err(|source| CliError::Record { line: number, source })?;
        pending.push_back((number, handle));
        settle(pending, Settle::Done)?;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settle {
    /// Check the sends that are done, and wait for the oldest while more
    /// than [`PENDING_SENDS_MAX`] are pending.
    Done,
    /// Wait for every send.
    All,
}

/// Checks finished sends in order; the first failure is returned with its
/// line number.
fn settle(pending: &mut VecDeque<(u64, SendHandle)>, mode: Settle) -> Result<(), CliError> {
    while let Some((_, handle)) = pending.front() {
        let must_wait = mode == Settle::All || pending.len() > PENDING_SENDS_MAX;
        if !must_wait && !handle.is_done() {
            break;
        }
        let (line, handle) = pending.pop_front().expect("front was just seen");
        handle.wait().map_err(|source| CliError::Record { line, source })?;
    }
    Ok(())
}

/// What [`read_line`] found.
#[derive(Debug, PartialEq, Eq)]
enum ReadLine {
    Line,
    Eof,
    TooLong,
}

/// Reads the next line into `line` without its `\n` or `\r\n`; a last line
/// without a newline counts. Stops with `TooLong` once the line passes
/// `line_bytes_max`, so no input can make it buffer without bound.
fn read_line(input: &mut impl BufRead, line: &mut Vec<u8>, line_bytes_max: usize) -> io::Result<ReadLine> {
    line.clear();
    let mut read_any = false;
    loop {
        let available = match input.fill_buf() {
            Ok(available) => available,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        if available.is_empty() {
            return Ok(if read_any { ReadLine::Line } else { ReadLine::Eof });
        }
        read_any = true;
        let (chunk, used, ended) = match available.iter().position(|&byte| byte == b'\n') {
            Some(at) => (&available[..at], at + 1, true),
            None => (available, available.len(), false),
        };
        // One byte of slack for the `\r` of a CRLF line.
        if line.len() + chunk.len() > line_bytes_max.saturating_add(1) {
            return Ok(ReadLine::TooLong);
        }
        line.extend_from_slice(chunk);
        input.consume(used);
        if ended {
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if line.len() > line_bytes_max {
                return Ok(ReadLine::TooLong);
            }
            return Ok(ReadLine::Line);
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], max: usize) -> Vec<Result<Vec<u8>, &'static str>> {
        let mut reader = io::BufReader::with_capacity(4, input);
        let mut line = Vec::new();
        let mut out = Vec::new();
        loop {
            match read_line(&mut reader, &mut line, max).unwrap() {
                ReadLine::Eof => return out,
                ReadLine::Line => out.push(Ok(line.clone())),
                ReadLine::TooLong => {
                    out.push(Err("too long"));
                    return out;
                }
            }
        }
    }

    #[test]
    fn lines_lose_their_newline_and_crlf() {
        let got = lines(b"one\r\ntwo\n\nthree words\nlast", 100);
        let want: Vec<Result<Vec<u8>, &str>> =
            ["one", "two", "", "three words", "last"].iter().map(|s| Ok(s.as_bytes().to_vec())).collect();
        assert_eq!(got, want);
        assert!(lines(b"", 100).is_empty());
        assert_eq!(lines(b"\n", 100), [Ok(Vec::new())]);
        assert_eq!(lines(b"a\rb\n", 100), [Ok(b"a\rb".to_vec())], "only a CR before the LF goes");
    }

    #[test]
    fn a_line_over_the_limit_stops_the_reader() {
        assert_eq!(lines(b"12345\n", 5), [Ok(b"12345".to_vec())]);
        assert_eq!(lines(b"12345\r\n", 5), [Ok(b"12345".to_vec())]);
        assert_eq!(lines(b"ok\n123456\nnext\n", 5), [Ok(b"ok".to_vec()), Err("too long")]);
        assert_eq!(lines(b"123456\r\n", 5), [Err("too long")]);
        assert_eq!(lines(&[b'x'; 100], 5), [Err("too long")]);
    }

    #[test]
    fn keys_split_at_the_first_separator() {
        assert_eq!(find(b"k::v::w", b"::"), Some(1));
        assert_eq!(find(b"kv", b":"), None);
        assert_eq!(find(b":", b":"), Some(0));
    }
}
