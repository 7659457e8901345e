//! `GHYLL_LOG`: the broker's and the log's tracing events on stderr.
//!
//! Quiet by default, so stderr carries only the command's own error. With
//! `GHYLL_LOG` set, events at WARN and above (or at the level it names:
//! `error`, `warn`, `info`, `debug`, `trace`) are printed one per line.
//! A small subscriber here keeps tracing-subscriber out of the build.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// The variable that turns logging on.
pub(crate) const LOG_ENV: &str = "GHYLL_LOG";

/// Installs the stderr subscriber if `GHYLL_LOG` is set and not empty.
pub(crate) fn init() {
    let Some(setting) = std::env::var_os(LOG_ENV).filter(|value| !value.is_empty()) else {
        return;
    };
    let max_level = setting.to_str().and_then(|value| value.parse::<Level>().ok()).unwrap_or(Level::WARN);
    // Fails only if a subscriber is installed already, which main does not do.
    let _ = tracing::subscriber::set_global_default(StderrLines { max_level, next_span: AtomicU64::new(1) });
}

/// Prints each enabled event as `LEVEL target: message field=value ...`.
struct StderrLines {
    max_level: Level,
    next_span: AtomicU64,
}

impl Subscriber for StderrLines {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        // More verbose levels compare greater.
        *metadata.level() <= self.max_level
    }

    fn new_span(&self, _span: &Attributes<'_>) -> Id {
        Id::from_u64(self.next_span.fetch_add(1, Ordering::Relaxed).max(1))
    }

    fn record(&self, _span: &Id, _values: &Record<'_>) {}

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let metadata = event.metadata();
        let mut line = Line::default();
        event.record(&mut line);
        let text = format!("{} {}: {}{}\n", metadata.level(), metadata.target(), line.message, line.fields);
        // Nowhere to report a failed write to stderr.
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }

    fn enter(&self, _span: &Id) {}

    fn exit(&self, _span: &Id) {}
}

#[derive(Default)]
struct Line {
    message: String,
    fields: String,
}

impl Visit for Line {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.fields.push_str(&format!(" {}={value}", field.name()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message.push_str(&format!("{value:?}"));
        } else {
            self.fields.push_str(&format!(" {}={value:?}", field.name()));
        }
    }
}
