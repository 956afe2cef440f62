//! The log lines the operations write about what they did: each model as it
//! finishes or fails ([`RunLog`]), the checks of new raw files, stray files, the
//! publish, and what landing, replay, optimize and vacuum did. They go to stderr
//! and, during a run, to the run's log.

use std::time::Duration;

use crate::cluster::Placement;
use crate::engine::{Maintained, ModelOutcome, RunEvents};
use crate::generate;
use crate::lake::TrafficTotals;
use crate::land;
use crate::output;
use crate::publish;
use crate::quarantine::Replayed;
use crate::quarantine::TableCheck;

/// Logs each model of a run (or of a verify's rebuild) as it finishes: one line
/// of what was done, rows added and removed, the version and the time, or why it
/// failed or was not run.
pub struct RunLog;

impl RunEvents for RunLog {
    fn model_finished(&self, outcome: &ModelOutcome) {
        let rows = match outcome.rows {
            Some((added, removed)) => format!("+{added} -{removed}"),
            None => "-".to_string(),
        };
        let version = outcome.version.map(|v| format!("v{v}")).unwrap_or_default();
        let placement = match &outcome.placement {
            Some(Placement::Local) | None => String::new(),
            Some(placement) => format!("  [{}]", placement.describe()),
        };
        tracing::info!(
            "{:<28} {:<11} {:<11} {:>20} {:<5} {:>7.2}s{placement}",
            outcome.model,
            outcome.materialization.as_str(),
            outcome.action.as_str(),
            rows,
            version,
            outcome.elapsed.as_secs_f64()
        );
    }

    fn model_failed(&self, model: &str, error: &str) {
        tracing::error!("model {model} failed: {error}");
    }

    fn model_blocked(&self, model: &str, failed: &str) {
        tracing::warn!("model {model} skipped: {failed} failed");
    }
}

/// The lake traffic `t` for a log line: bytes and GETs read (raw files among
/// them), bytes and PUTs written, then every request by kind with the time spent
/// waiting on it.
pub fn traffic(t: &TrafficTotals) -> String {
    format!(
        "read {} in {} requests ({} of it raw files), wrote {} in {} ({} requests: {})",
        output::bytes(t.bytes_read),
        t.reads,
        output::bytes(t.raw_bytes_read),
        output::bytes(t.bytes_written),
        t.writes,
        t.total_requests(),
        t.describe_requests()
    )
}

/// Logs, per raw table with new files, rows read = loaded + quarantined (+ rows
/// skipped as redelivered, when there are any).
pub fn checks(checked: &[TableCheck]) {
    for check in checked {
        let mut line = format!(
            "raw.{:<12} {} new file{}: {} rows read = {} loaded + {} quarantined",
            check.table,
            check.files,
            if check.files == 1 { "" } else { "s" },
            check.rows_read,
            check.rows_loaded,
            check.rows_quarantined
        );
        if check.rows_redelivered > 0 {
            line.push_str(&format!(
                " + {} redelivered (already loaded, skipped)",
                check.rows_redelivered
            ));
        }
        if !check.rules.is_empty() {
            let rules: Vec<String> = check
                .rules
                .iter()
                .map(|(r, n)| format!("{r} {n}"))
                .collect();
            line.push_str(&format!(" ({})", rules.join(", ")));
        }
        match check.refused.len() {
            0 => {}
            1 => line.push_str("; 1 file refused whole"),
            n => line.push_str(&format!("; {n} files refused whole")),
        }
        if check.rows_quarantined > 0 {
            tracing::warn!("{line}");
        } else {
            tracing::info!("{line}");
        }
        for (rule, n) in &check.warnings {
            tracing::warn!(
                "raw.{}: {n} loaded rows break the warn rule {rule}",
                check.table
            );
        }
    }
}

/// Warns about each file in the raw area that no table reads (at most 20 lines).
pub fn strays(strays: &[land::Stray]) {
    const SHOWN: usize = 20;
    for stray in strays.iter().take(SHOWN) {
        tracing::warn!("stray raw file {} not read: {}", stray.path, stray.reason);
    }
    if strays.len() > SHOWN {
        tracing::warn!(
            "{} more stray raw files not read (`stride quarantine list` lists them all)",
            strays.len() - SHOWN
        );
    }
}

/// Logs what a publish did.
pub fn publish(report: &publish::PublishReport) {
    let rows: u64 = report.marts.iter().map(|m| m.rows).sum();
    tracing::info!(
        "published {} marts ({} rows, {}) to {} in {:.2}s",
        report.marts.len(),
        rows,
        output::bytes(report.bytes),
        report.file.display(),
        report.elapsed.as_secs_f64()
    );
    if report.views_rewritten {
        tracing::info!(
            "wrote the views of {} anew (new file, or the marts' columns changed); \
             a reader sees new columns once it opens the file again",
            report.file.display()
        );
    }
    for mart in &report.marts {
        let written = match mart.written {
            publish::Written::Whole => "written whole".to_string(),
            publish::Written::Reused => "unchanged, files reused".to_string(),
            publish::Written::Changes { added, removed } => {
                format!("changes written: {added} rows added, {removed} keys removed")
            }
        };
        tracing::debug!(
            "{:<28} version {:>4} {:>10} rows, {written}",
            mart.mart,
            mart.version,
            mart.rows
        );
    }
}

/// One line on what a publish did, for the run's record.
pub fn publish_summary(report: &publish::PublishReport) -> String {
    let rows: u64 = report.marts.iter().map(|m| m.rows).sum();
    format!(
        "published {} marts ({} rows) to {}",
        report.marts.len(),
        rows,
        report.file.display()
    )
}

/// Logs what landed: the batches, their dates and rows per table.
pub fn landed(report: &generate::Report, elapsed: Duration) {
    let rows: Vec<String> = report
        .rows
        .iter()
        .map(|(table, n)| format!("{table} {n}"))
        .collect();
    tracing::info!(
        "landed batches {}..={} ({} to {}) in {:.2}s: {}",
        report.batches.start(),
        report.batches.end(),
        report.dates.0,
        report.dates.1,
        elapsed.as_secs_f64(),
        rows.join(", ")
    );
}

/// Logs, per raw table, what a quarantine replay released and what it left.
pub fn replayed(replayed: &[Replayed]) {
    for done in replayed {
        tracing::info!(
            "raw.{}: {} rows released, {} files admitted; {} rows still quarantined, {} files still refused",
            done.table,
            done.rows_released,
            done.files_admitted,
            done.rows_quarantined,
            done.files_refused
        );
    }
}

/// Logs, per model, the files `optimize` compacted.
pub fn compacted(done: &[Maintained]) {
    for done in done {
        tracing::info!(
            "{:<28} compacted {} files into {}",
            done.model,
            done.files_removed,
            done.files_added
        );
    }
}

/// Logs, per model, the files `vacuum` deleted.
pub fn vacuumed(done: &[Maintained]) {
    for done in done {
        tracing::info!("{:<28} deleted {} files", done.model, done.files_removed);
    }
}
