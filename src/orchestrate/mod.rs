//! The operations the command line, the demo and `stride serve` share: a run (its
//! record, the lake's lock, checks, models, publish), and the other changes to a
//! lake made under its lock (landing generated batches, `sync`, quarantine replay).

mod failure;
mod report;
mod run;

pub use failure::{FailureKind, RunFailure, is_transient};
pub use run::{Cancel, Finished, Pipeline, RunSpec, run};

use std::time::Instant;

use crate::error::Result;
use crate::generate::{self, Request};
use crate::lake::{Lake, LakeLock};

/// Lands the next batches under the lake's lock and logs what landed.
pub async fn generate(lake: &Lake, request: &Request) -> Result<generate::Report> {
    let started = Instant::now();
    let lock = LakeLock::acquire(lake, "stride generate").await?;
    let report = generate::generate(lake, request).await;
    lock.release().await?;
    let report = report?;
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
        started.elapsed().as_secs_f64(),
        rows.join(", ")
    );
    Ok(report)
}

/// Publishes the marts under the lake's lock (`stride sync`).
pub async fn sync(
    lake: &Lake,
    project: &crate::models::Project,
    file: &std::path::Path,
) -> Result<()> {
    let lock = LakeLock::acquire(lake, "stride sync").await?;
    let published = crate::publish::publish(lake, project, file).await;
    let released = lock.release().await;
    report::publish(&published?);
    released
}

/// Judges the quarantined rows and refused files again under the lake's lock
/// (`stride quarantine replay`).
pub async fn replay(
    lake: &Lake,
    contracts: &crate::contracts::Contracts,
    only: Option<&str>,
) -> Result<Vec<crate::quarantine::Replayed>> {
    let lock = LakeLock::acquire(lake, "stride quarantine replay").await?;
    let replayed = crate::quarantine::replay(lake, contracts, only).await;
    let released = lock.release().await;
    let replayed = replayed?;
    released?;
    Ok(replayed)
}
