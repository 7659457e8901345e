//! The harness's one error type: a message saying what was being done,
//! and the error that stopped it.

use std::error::Error;
use std::fmt;

/// What went wrong while running a workload, with its cause.
#[derive(Debug)]
pub(crate) struct BenchError {
    message: String,
    source: Option<Box<dyn Error + Send + Sync + 'static>>,
}

impl BenchError {
    /// An error with no underlying cause (a bad argument, a check that failed).
    pub(crate) fn new(message: impl Into<String>) -> BenchError {
        BenchError { message: message.into(), source: None }
    }

    /// The message followed by every cause in the chain, `: `-separated.
    pub(crate) fn chain(&self) -> String {
        let mut out = self.message.clone();
        let mut source = self.source();
        while let Some(cause) = source {
            out.push_str(": ");
            out.push_str(&cause.to_string());
            source = cause.source();
        }
        out
    }
}

impl fmt::Display for BenchError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.message)
    }
}

impl Error for BenchError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|source| source as &(dyn Error + 'static))
    }
}

/// Adds "what was being done" to a `Result`'s error.
pub(crate) trait Context<T> {
    fn context<M: Into<String>>(self, message: impl FnOnce() -> M) -> Result<T, BenchError>;
}

impl<T, E: Error + Send + Sync + 'static> Context<T> for Result<T, E> {
    // Inlined so that the `Ok` path costs nothing in per-record loops
    // (profiles of the consume workload showed it as an outlined call).
    #[inline]
    fn context<M: Into<String>>(self, message: impl FnOnce() -> M) -> Result<T, BenchError> {
        self.map_err(|source| BenchError { message: message().into(), source: Some(Box::new(source)) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn chain_lists_the_message_then_each_cause() {
        let failed: Result<(), io::Error> = Err(io::Error::other("disk on fire"));
        let error = failed.context(|| "writing /tmp/x").unwrap_err();
        assert_eq!(error.to_string(), "writing /tmp/x");
        assert_eq!(error.chain(), "writing /tmp/x: disk on fire");
        assert_eq!(BenchError::new("bad --batch").chain(), "bad --batch");
    }
}
