//! The CLI's error type and the one line it prints for an error.

use std::error::Error;
use std::io;
use std::path::PathBuf;

use ghyll_broker::BrokerError;

/// Everything a command can fail with.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// Another process has a broker open on the data directory.
    #[error(
        "data directory {} is in use by another process (a running ghyll command or an application's broker); \
         try again once it exits",
        path.display()
    )]
    DirectoryInUse { path: PathBuf },
    /// Only `topics create` makes a new data directory.
    #[error("data directory {} does not exist (create a topic first, or pass --data-dir)", path.display())]
    NoDataDirectory { path: PathBuf },
    /// The broker refused an operation.
    #[error(transparent)]
    Broker(BrokerError),
    /// Sending the record read from one line of input failed.
    #[error("line {line}")]
    Record {
        line: u64,
        #[source]
        source: BrokerError,
    },
    /// `--key-separator` was given and a line lacks it.
    #[error("line {line} has no key separator {separator:?}")]
    MissingKeySeparator { line: u64, separator: String },
    /// A line is longer than any record the topic accepts.
    #[error("line {line} is longer than {limit_bytes} bytes, the max.message.bytes of topic {topic}")]
    LineTooLong { line: u64, limit_bytes: usize, topic: String },
    /// `--offset` outside the partition's log.
    #[error("offset {offset} is out of range for {topic}-{partition}: the log holds [{log_start}, {log_end})")]
    OffsetOutOfRange { topic: String, partition: u32, offset: u64, log_start: u64, log_end: u64 },
    /// Reading standard input failed.
    #[error("reading standard input")]
    Stdin(#[source] io::Error),
    /// Writing standard output failed (a broken pipe is not reported).
    #[error("writing standard output")]
    Stdout(#[source] io::Error),
    /// Reading a segment file failed.
    #[error("{operation} {}", path.display())]
    File {
        operation: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// `dump-log` found bytes that are not valid batches.
    #[error("{}: {what}", path.display())]
    DamagedSegment { path: PathBuf, what: String },
}

impl From<BrokerError> for CliError {
    fn from(error: BrokerError) -> Self {
        match error {
            BrokerError::Locked { path } => CliError::DirectoryInUse { path },
            error => CliError::Broker(error),
        }
    }
}

impl CliError {
    /// Whether this is a closed standard output, which ends a command
    /// quietly and successfully (as `head` closing a pipe should).
    pub(crate) fn is_broken_pipe(&self) -> bool {
        matches!(self, CliError::Stdout(error) if error.kind() == io::ErrorKind::BrokenPipe)
    }
}

/// An error and its sources joined by ": ", on one line. A source whose
/// text its parent's message already ends with (the ghyll error enums
/// print their source in their own message) is not repeated.
pub(crate) fn one_line(error: &dyn Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.ends_with(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message.replace('\r', "\\r").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_joined_once() {
        let error = CliError::File {
            operation: "read segment",
            path: "x.log".into(),
            source: io::Error::new(io::ErrorKind::NotFound, "no such file"),
        };
        assert_eq!(one_line(&error), "read segment x.log: no such file");
        let error = CliError::from(BrokerError::Io {
            operation: "open lock file",
            path: "d/.lock".into(),
            source: io::Error::other("denied"),
        });
        assert_eq!(one_line(&error), "open lock file d/.lock: denied");
    }

    #[test]
    fn a_locked_directory_says_it_is_in_use() {
        let error = CliError::from(BrokerError::Locked { path: "data".into() });
        assert!(one_line(&error).starts_with("data directory data is in use"), "{}", one_line(&error));
    }

    #[test]
    fn line_breaks_are_escaped() {
        let error = CliError::MissingKeySeparator { line: 1, separator: ":".into() };
        assert!(!one_line(&error).contains('\n'));
        let error = CliError::DamagedSegment { path: "a\nb".into(), what: "x".into() };
        assert_eq!(one_line(&error), "a\\nb: x");
    }
}
