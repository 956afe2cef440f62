//! A run's log: the lines stride logs while the run goes, kept for its record
//! (`_stride/runs/<run_id>.log`). One run goes at a time in a process, so one
//! capture buffer serves.

use std::fmt::Write as _;
use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;

/// The lines of the run being captured; `None` when no run is.
static CAPTURE: Mutex<Option<String>> = Mutex::new(None);

/// The largest log kept per run; later lines are dropped (the log says so).
const MAX_LOG_BYTES: usize = 4 << 20;

/// Starts keeping log lines (a capture already going starts over).
pub fn start_capture() {
    *CAPTURE.lock().unwrap_or_else(|e| e.into_inner()) = Some(String::new());
}

/// Stops keeping log lines and returns those kept.
pub fn take_capture() -> String {
    CAPTURE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .unwrap_or_default()
}

/// The tracing layer that copies events into the capture while one is going.
pub struct CaptureLayer;

impl<S: tracing::Subscriber> Layer<S> for CaptureLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let mut capture = CAPTURE.lock().unwrap_or_else(|e| e.into_inner());
        let Some(log) = capture.as_mut() else {
            return;
        };
        if log.len() > MAX_LOG_BYTES {
            return;
        }
        let mut message = MessageText(String::new());
        event.record(&mut message);
        let _ = writeln!(
            log,
            "{} {:>5} {}",
            chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ"),
            event.metadata().level(),
            message.0
        );
        if log.len() > MAX_LOG_BYTES {
            log.push_str("(log cut here: it passed 4 MiB)\n");
        }
    }
}

/// An event's message followed by its other fields (`key=value`).
struct MessageText(String);

impl Visit for MessageText {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let text = format!("{value:?}");
            self.0.insert_str(0, &text);
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.insert_str(0, value);
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }
}
