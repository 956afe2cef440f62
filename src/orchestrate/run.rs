//! One run, as `stride run`, `stride demo` and `stride serve` all do it: write its
//! record, take the lake's lock, check the new raw files, bring the models up to
//! date, publish the marts under the same lock, and write the record again with
//! how it ended.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::watch;

use super::failure::{FailureKind, RunFailure};
use super::report;
use crate::contracts::Contracts;
use crate::engine::{self, RunOptions};
use crate::error::Error;
use crate::lake::{Lake, LakeLock};
use crate::models::Project;
use crate::output;
use crate::publish;
use crate::runs::{self, Recorder, RunRecord, RunRequest, Status, TickRef, Trigger};

/// What every run works on: the lake, the project and its contracts, and the
/// DuckDB file the marts are published to (`None`: not published).
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// The lake.
    pub lake: Lake,
    /// The SQL project.
    pub project: Project,
    /// The data contracts.
    pub contracts: Contracts,
    /// Where the marts are published after a run.
    pub publish_to: Option<PathBuf>,
    /// The cluster the models' queries run on (`None`: in this process).
    pub cluster: Option<crate::cluster::Cluster>,
}

/// One run to make.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// What started it.
    pub trigger: Trigger,
    /// What it is to do.
    pub request: RunRequest,
    /// Its id, when given beforehand (a queued run's id is known to whoever asked).
    pub run_id: Option<String>,
    /// 1 for a first attempt.
    pub attempt: u32,
    /// The first attempt's id, for a retry.
    pub retry_of: Option<String>,
    /// The schedule tick that started it.
    pub tick: Option<TickRef>,
    /// Where the run's progress is kept as it goes, when someone follows it.
    pub recorder: Option<Arc<Recorder>>,
}

impl RunSpec {
    /// A first attempt of `request`, started by `trigger`.
    pub fn new(trigger: Trigger, request: RunRequest) -> RunSpec {
        RunSpec {
            trigger,
            request,
            run_id: None,
            attempt: 1,
            retry_of: None,
            tick: None,
            recorder: None,
        }
    }
}

/// Tells a run to stop: the sender side is kept by whoever may stop it.
#[derive(Debug, Clone)]
pub struct Cancel(watch::Receiver<bool>);

impl Cancel {
    /// A cancel signal and the sender that fires it (`send(true)`).
    pub fn new() -> (watch::Sender<bool>, Cancel) {
        let (sender, receiver) = watch::channel(false);
        (sender, Cancel(receiver))
    }

    /// Waits until the signal fires (forever when its sender is gone unfired).
    pub async fn fired(&mut self) {
        if self.0.wait_for(|stop| *stop).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Whether it fired already.
    pub fn is_fired(&self) -> bool {
        *self.0.borrow()
    }
}

/// A run that ended: its record as stored, and how it ended.
#[derive(Debug)]
pub struct Finished {
    /// The record (also in `_stride/runs/`).
    pub record: RunRecord,
    /// `Ok` when it succeeded.
    pub result: Result<(), RunFailure>,
}

/// Makes one run and records it. With `cancel`, a fired signal stops the run where
/// it is (as a kill would: every commit is whole or absent), releases the lake's
/// lock and records the run canceled.
pub async fn run(pipeline: &Pipeline, spec: RunSpec, cancel: Option<Cancel>) -> Finished {
    let lake = &pipeline.lake;
    let mut record = RunRecord::start(spec.trigger, spec.request.clone());
    if let Some(id) = spec.run_id.clone() {
        record.run_id = id;
    }
    record.attempt = spec.attempt;
    record.retry_of = spec.retry_of.clone();
    record.tick = spec.tick.clone();
    runs::start_capture();
    if let Err(e) = runs::save(lake, &record).await {
        let failure = RunFailure::Record(e);
        end(&mut record, &failure);
        let _ = runs::take_capture();
        // Kept to write with the next record: every attempt has its record.
        runs::save_or_keep(lake, &record).await;
        return Finished {
            record,
            result: Err(failure),
        };
    }
    tracing::info!(
        "run {} started ({}{})",
        record.run_id,
        record.trigger.as_str(),
        match &record.retry_of {
            Some(first) => format!(", attempt {} of run {first}", record.attempt),
            None => String::new(),
        }
    );
    let recorder = spec.recorder.clone().unwrap_or_default();
    let options = RunOptions {
        full_refresh: spec.request.full_refresh,
        select: spec.request.select.clone(),
        run_id: Some(record.run_id.clone()),
        cluster: pipeline.cluster.clone(),
    };
    let result = match cancel {
        Some(mut cancel) => {
            tokio::select! {
                done = work(pipeline, &options, recorder.as_ref()) => done,
                () = cancel.fired() => {
                    if let Err(e) = LakeLock::release_if_mine(lake).await {
                        tracing::warn!("after canceling the run: {e}");
                    }
                    Err(RunFailure::Canceled)
                }
            }
        }
        None => work(pipeline, &options, recorder.as_ref()).await,
    };
    let (sources, models) = recorder.take();
    record.sources = sources;
    record.models = models;
    let result = match result {
        Ok(published) => {
            record.published = published;
            record.end(Status::Success, None);
            Ok(())
        }
        Err(failure) => {
            end(&mut record, &failure);
            Err(failure)
        }
    };
    tracing::info!(
        "run {} {} in {:.2}s",
        record.run_id,
        record.status.as_str(),
        record.elapsed_s()
    );
    let log = runs::take_capture();
    runs::save_or_keep(lake, &record).await;
    if let Err(e) = runs::save_log(lake, &record.run_id, &log).await {
        tracing::warn!("the log of run {} was not kept: {e}", record.run_id);
    }
    Finished { record, result }
}

/// Ends `record` as `failure` says.
fn end(record: &mut RunRecord, failure: &RunFailure) {
    let kind = failure.kind();
    let status = match kind {
        FailureKind::Busy => Status::Skipped,
        FailureKind::Canceled => Status::Canceled,
        FailureKind::Transient | FailureKind::Permanent => Status::Failure,
    };
    record.end(
        status,
        Some((crate::error::one_line(failure), kind.as_str())),
    );
}

/// The run itself, under the lake's lock; the publish's one-line summary.
async fn work(
    pipeline: &Pipeline,
    options: &RunOptions,
    recorder: &Recorder,
) -> Result<Option<String>, RunFailure> {
    let lake = &pipeline.lake;
    let failed = |source| RunFailure::Run {
        lake: lake.url().to_string(),
        source,
    };
    let started = Instant::now();
    let before = lake.traffic();
    let lock = LakeLock::acquire(lake, "stride run")
        .await
        .map_err(|e| match e {
            Error::Locked(_) => RunFailure::Busy(e),
            e => failed(e),
        })?;
    let report = engine::run_with_lock(
        lake,
        &pipeline.project,
        &pipeline.contracts,
        options,
        &lock,
        recorder,
    )
    .await;
    let report = match report {
        Ok(report) => report,
        Err(source) => {
            // The run's own error is the one to report.
            if let Err(released) = lock.release().await {
                tracing::warn!("{released}");
            }
            return Err(failed(source));
        }
    };
    report::checks(&report.checked);
    report::strays(&report.strays);
    let committed = report.models.iter().filter(|m| m.version.is_some()).count();
    let up_to_date = report
        .models
        .iter()
        .filter(|m| m.action == engine::Action::Skipped)
        .count();
    let traffic = lake.traffic().since(&before);
    for (table, bytes, reads) in lake.read_by_table() {
        tracing::debug!(
            "read {:>10} in {reads:>5} requests from {table}",
            output::bytes(bytes)
        );
    }
    tracing::info!(
        "{} models: {} committed, {} already up to date; {} raw files ({} new) in {:.2}s; \
         lake traffic: read {} in {} requests ({} of it raw files), wrote {} in {}",
        report.models.len(),
        committed,
        up_to_date,
        report.raw_files,
        report.new_raw_files,
        started.elapsed().as_secs_f64(),
        output::bytes(traffic.bytes_read),
        traffic.reads,
        output::bytes(traffic.raw_bytes_read),
        output::bytes(traffic.bytes_written),
        traffic.writes
    );
    let published = match &pipeline.publish_to {
        Some(file) => publish::publish_if_changed(lake, &pipeline.project, file)
            .await
            .map(|outcome| Some((file, outcome))),
        None => Ok(None),
    };
    let released = lock.release().await;
    let summary = match published.map_err(RunFailure::Publish)? {
        Some((_, publish::Outcome::Published(published))) => {
            report::publish(&published);
            Some(report::publish_summary(&published))
        }
        Some((file, publish::Outcome::AlreadyCurrent)) => {
            tracing::info!(
                "{} already serves these marts (same lake, tables and versions)",
                file.display()
            );
            Some(format!("{} already served these marts", file.display()))
        }
        Some((file, publish::Outcome::MissingMarts(missing))) => {
            tracing::warn!(
                "not publishing to {}: no table yet for {} (a run without --select builds them)",
                file.display(),
                missing.join(", ")
            );
            Some(format!(
                "not published: no table yet for {}",
                missing.join(", ")
            ))
        }
        None => None,
    };
    released.map_err(failed)?;
    Ok(summary)
}
