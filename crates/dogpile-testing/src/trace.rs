//! A `tracing` subscriber that keeps what the `dogpile` target emits, for tests that check
//! what is logged.
//!
//! ```
//! let capture = dogpile_testing::trace::Capture::default();
//! let _guard = tracing::subscriber::set_default(capture.clone());
//! tracing::debug!(target: "dogpile", key = "k", "no value present");
//! assert_eq!(capture.take(), ["level=DEBUG message=no value present key=k "]);
//! ```

use std::fmt::{self, Write};
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Keeps the `dogpile` target's events as `level=LEVEL name=value...` lines, and its spans as
/// `span=NAME parent=NAME name=value...` lines.
#[derive(Debug, Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<String>>>, Arc<Mutex<Spans>>);

#[derive(Debug, Default)]
struct Spans {
    /// Each span's line, by id - 1.
    lines: Vec<String>,
    /// The spans entered, innermost last.
    entered: Vec<u64>,
}

struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let _ = write!(self.0, "{}={:?} ", field.name(), value);
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, "{}={} ", field.name(), value);
    }
}

impl Subscriber for Capture {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target() == "dogpile"
    }
    fn new_span(&self, attributes: &Attributes<'_>) -> Id {
        let mut spans = self.1.lock().unwrap();
        let parent = match attributes.parent() {
            Some(id) => Some(id.into_u64()),
            None if attributes.is_contextual() => spans.entered.last().copied(),
            None => None,
        };
        let parent = parent.map_or("none".to_string(), |id| {
            spans.lines[id as usize - 1].split(' ').next().unwrap_or_default().trim_start_matches("span=").to_string()
        });
        let mut line = Line(format!("span={} parent={parent} ", attributes.metadata().name()));
        attributes.record(&mut line);
        spans.lines.push(line.0);
        Id::from_u64(spans.lines.len() as u64)
    }
    fn record(&self, id: &Id, values: &Record<'_>) {
        let mut spans = self.1.lock().unwrap();
        let mut line = Line(std::mem::take(&mut spans.lines[id.into_u64() as usize - 1]));
        values.record(&mut line);
        spans.lines[id.into_u64() as usize - 1] = line.0;
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut line = Line(format!("level={} ", event.metadata().level()));
        event.record(&mut line);
        self.0.lock().unwrap().push(line.0);
    }
    fn enter(&self, id: &Id) {
        self.1.lock().unwrap().entered.push(id.into_u64());
    }
    fn exit(&self, id: &Id) {
        let mut spans = self.1.lock().unwrap();
        if let Some(at) = spans.entered.iter().rposition(|e| *e == id.into_u64()) {
            spans.entered.remove(at);
        }
    }
}

impl Capture {
    /// The events captured since the last call, in order.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
    /// The spans opened since the last call, in order.
    pub fn take_spans(&self) -> Vec<String> {
        std::mem::take(&mut self.1.lock().unwrap().lines)
    }
}
