//! One run's record: what started it, with which options, what it did to each raw
//! table and model, and how it ended. Stored as JSON under `_stride/runs/`.

use chrono::{DateTime, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};

pub use crate::engine::RunRequest;

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    /// `stride run` or `stride demo` typed by hand.
    Cli,
    /// A request to `stride serve`'s API.
    Manual,
    /// A tick of a `--schedule`.
    Schedule,
    /// New raw files seen by `--watch`.
    Sensor,
    /// A new attempt after a transient failure.
    Retry,
}

impl Trigger {
    /// Its name in records and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Cli => "cli",
            Trigger::Manual => "manual",
            Trigger::Schedule => "schedule",
            Trigger::Sensor => "sensor",
            Trigger::Retry => "retry",
        }
    }
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Waiting for the run before it (only `serve` queues).
    Queued,
    /// Going (or its process died: readers report that as a failure).
    Started,
    /// Every selected model is up to date and the marts are published.
    Success,
    /// It stopped on an error.
    Failure,
    /// Stopped by a shutdown.
    Canceled,
    /// Not run: another process was changing the lake.
    Skipped,
}

impl Status {
    /// Its name in records and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Started => "started",
            Status::Success => "success",
            Status::Failure => "failure",
            Status::Canceled => "canceled",
            Status::Skipped => "skipped",
        }
    }

    /// Whether the run is over.
    pub fn is_final(self) -> bool {
        !matches!(self, Status::Queued | Status::Started)
    }
}

/// The checks of one raw table's new files.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRun {
    /// The raw table.
    pub table: String,
    /// New files checked.
    pub files: usize,
    /// Rows read = loaded + quarantined + redelivered.
    pub rows_read: u64,
    /// Rows the models read.
    pub rows_loaded: u64,
    /// Rows set aside by the contract.
    pub rows_quarantined: u64,
    /// Rows skipped because they were already loaded.
    pub rows_redelivered: u64,
    /// Files refused whole.
    pub files_refused: usize,
}

/// What the run did to one model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelRun {
    /// The model.
    pub model: String,
    /// `view`, `up to date`, `full`, `incremental`, `failed`, or `not run` (a
    /// model it reads failed).
    pub action: String,
    /// Milliseconds from the run's start to the model's.
    pub start_offset_ms: u64,
    /// Milliseconds it took.
    pub elapsed_ms: u64,
    /// The Delta version committed.
    pub version: Option<u64>,
    /// Rows that commit added.
    pub rows_added: Option<u64>,
    /// Rows that commit removed.
    pub rows_removed: Option<u64>,
    /// Why it failed or was not run.
    pub error: Option<String>,
    /// Where its query ran when a cluster was asked for: `cluster`, or `local:`
    /// and why it could not be sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ran_on: Option<String>,
}

/// Which tick of which schedule started a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TickRef {
    /// The schedule's cron expression as given.
    pub schedule: String,
    /// The tick's time.
    pub scheduled_for: DateTime<Utc>,
    /// Ticks missed while `serve` was not running that this run stands for (a
    /// catch-up run; 0 for a tick on time).
    pub missed: u64,
}

/// One run, as stored in `_stride/runs/<run_id>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Sorts by start time (`20261201T120000.000Z-1a2b`).
    pub run_id: String,
    /// What started it.
    pub trigger: Trigger,
    /// 1 for a first attempt, 2 for its first retry, …
    pub attempt: u32,
    /// The first attempt's run id, for a retry.
    pub retry_of: Option<String>,
    /// What it was asked to do.
    pub options: RunRequest,
    /// Where it is.
    pub status: Status,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// The host that ran it.
    pub host: String,
    /// The process that ran it.
    pub pid: u32,
    /// Tells that process from a later one with the same pid.
    pub process: String,
    /// The stride release.
    pub stride_version: String,
    /// The schedule tick that started it.
    pub tick: Option<TickRef>,
    /// Per raw table with new files, what their checks found.
    pub sources: Vec<SourceRun>,
    /// Per selected model, in the order they finished.
    pub models: Vec<ModelRun>,
    /// What the publish did (`published 8 marts …`), when it ran.
    pub published: Option<String>,
    /// Why it failed, was canceled or skipped.
    pub error: Option<String>,
    /// `transient` (retried), `permanent` (a bad model, contract or setting: not
    /// retried), `busy`, `canceled` or `interrupted`.
    pub error_kind: Option<String>,
}

impl RunRecord {
    /// A record for a run starting now in this process.
    pub fn start(trigger: Trigger, options: RunRequest) -> RunRecord {
        let now = Utc::now();
        RunRecord {
            run_id: new_run_id(now),
            trigger,
            attempt: 1,
            retry_of: None,
            options,
            status: Status::Started,
            started_at: now,
            ended_at: None,
            host: crate::lake::host_name(),
            pid: std::process::id(),
            process: crate::lake::process_id(),
            stride_version: env!("CARGO_PKG_VERSION").to_string(),
            tick: None,
            sources: Vec::new(),
            models: Vec::new(),
            published: None,
            error: None,
            error_kind: None,
        }
    }

    /// Seconds from start to end (to now while it runs).
    pub fn elapsed_s(&self) -> f64 {
        let end = self.ended_at.unwrap_or_else(Utc::now);
        (end - self.started_at).num_milliseconds().max(0) as f64 / 1000.0
    }

    /// Ends the record with `status`.
    pub fn end(&mut self, status: Status, error: Option<(String, &str)>) {
        self.status = status;
        self.ended_at = Some(Utc::now());
        if let Some((message, kind)) = error {
            self.error = Some(message);
            self.error_kind = Some(kind.to_string());
        }
    }
}

/// A run id: the start time to the millisecond, then 4 random hex digits so two
/// runs started in the same millisecond (on two hosts) differ.
pub fn new_run_id(at: DateTime<Utc>) -> String {
    let salt: u16 = rand::rng().random();
    format!("{}-{salt:04x}", at.format("%Y%m%dT%H%M%S%.3fZ"))
}

/// Whether `id` has the shape of a run id (it names a file in the lake, so
/// nothing else is accepted from users).
pub fn is_run_id(id: &str) -> bool {
    id.len() == 25
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_sort_by_time_and_have_one_shape() {
        let early = DateTime::parse_from_rfc3339("2026-12-01T09:59:59.999Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        let late = early + chrono::Duration::milliseconds(1);
        let (a, b) = (new_run_id(early), new_run_id(late));
        assert!(a < b, "{a} < {b}");
        assert!(a.starts_with("20261201T095959.999Z-"), "{a}");
        assert!(is_run_id(&a) && is_run_id(&b));
        assert!(!is_run_id("../../etc/passwd"));
    }

    #[test]
    fn waiting_requests_merge_into_one_that_does_both() {
        let all = RunRequest::default();
        let one = RunRequest {
            select: Some("fct_orders".into()),
            full_refresh: false,
        };
        let other = RunRequest {
            select: Some("+dim_customers".into()),
            full_refresh: true,
        };
        assert_eq!(one.merge(&all), all);
        let both = one.merge(&other);
        assert_eq!(both.select.as_deref(), Some("fct_orders +dim_customers"));
        assert!(both.full_refresh);
        assert_eq!(one.merge(&one), one);
    }
}
