//! One run, as `stride run`, `stride demo` and `stride serve` all do it: write its
//! record, take the lake's lock, check the new raw files, bring the models up to
//! date, publish the marts under the same lock, and write the record again with
//! how it ended.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::watch;

use super::failure::{FailureKind, RunFailure};
use super::{Lakehouse, report, under_lock};
use crate::engine::{self, RunOptions};
use crate::error::Error;
use crate::lake::LakeLock;
use crate::output;
use crate::publish;
use crate::run_history::{self, Recorder, RunRecord, RunRequest, Status, TickRef, Trigger};

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

impl Lakehouse {
    /// Makes one run and records it. With `cancel`, a fired signal stops the run
    /// where it is (as a kill would: every commit is whole or absent), releases the
    /// lake's lock and records the run canceled.
    pub async fn run(&self, spec: RunSpec, cancel: Option<Cancel>) -> Finished {
        run(self, spec, cancel).await
    }
}

async fn run(lakehouse: &Lakehouse, spec: RunSpec, cancel: Option<Cancel>) -> Finished {
    let lake = &lakehouse.lake;
    let mut record = RunRecord::start(spec.trigger, spec.request.clone());
    if let Some(id) = spec.run_id.clone() {
        record.run_id = id;
    }
    record.attempt = spec.attempt;
    record.retry_of = spec.retry_of.clone();
    record.tick = spec.tick.clone();
    run_history::start_capture();
    if let Err(e) = run_history::save(lake, &record).await {
        let failure = RunFailure::Record(e);
        end(&mut record, &failure);
        let _ = run_history::take_capture();
        // Kept to write with the next record: every attempt has its record.
        run_history::save_or_keep(lake, &record).await;
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
        request: spec.request.clone(),
        run_id: Some(record.run_id.clone()),
        cluster: lakehouse.cluster.clone(),
    };
    let result = match cancel {
        Some(mut cancel) => {
            tokio::select! {
                done = work(lakehouse, &options, recorder.as_ref()) => done,
                () = cancel.fired() => {
                    if let Err(e) = LakeLock::release_if_mine(lake).await {
                        tracing::warn!("after canceling the run: {e}");
                    }
                    Err(RunFailure::Canceled)
                }
            }
        }
        None => work(lakehouse, &options, recorder.as_ref()).await,
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
    let log = run_history::take_capture();
    run_history::save_or_keep(lake, &record).await;
    if let Err(e) = run_history::save_log(lake, &record.run_id, &log).await {
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
    lakehouse: &Lakehouse,
    options: &RunOptions,
    recorder: &Recorder,
) -> Result<Option<String>, RunFailure> {
    let lake = &lakehouse.lake;
    let failed = |source| RunFailure::Run {
        lake: lake.url().to_string(),
        source,
    };
    let started = Instant::now();
    let before = lake.traffic();
    let lock_failed = |e| match e {
        Error::Locked(_) => RunFailure::Busy(e),
        e => failed(e),
    };
    under_lock(lake, "stride run", lock_failed, async |lock| {
        let report = engine::run_with_lock(
            lake,
            &lakehouse.project,
            &lakehouse.contracts,
            options,
            lock,
            &(report::RunLog, recorder),
        )
        .await
        .map_err(failed)?;
        totals(lake, &report, started, &before);
        let Some(file) = &lakehouse.publish_to else {
            return Ok(None);
        };
        let before = lake.traffic();
        let published = publish::publish_if_changed(lake, &lakehouse.project, file)
            .await
            .map_err(RunFailure::Publish)?;
        let summary = summary(file, published);
        tracing::info!(
            "publish lake traffic: {}",
            report::traffic(&lake.traffic().since(&before))
        );
        Ok(Some(summary))
    })
    .await
}

/// Logs what the run checked and committed, and the lake traffic since `before`.
fn totals(
    lake: &crate::lake::Lake,
    report: &engine::RunReport,
    started: Instant,
    before: &crate::lake::TrafficTotals,
) {
    report::checks(&report.checked);
    report::strays(&report.strays);
    let committed = report.models.iter().filter(|m| m.version.is_some()).count();
    let up_to_date = report
        .models
        .iter()
        .filter(|m| m.action == engine::Action::Skipped)
        .count();
    let traffic = lake.traffic().since(before);
    for (table, bytes, reads) in lake.read_by_table() {
        tracing::debug!(
            "read {:>10} in {reads:>5} requests from {table}",
            output::bytes(bytes)
        );
    }
    tracing::info!(
        "{} models: {} committed, {} already up to date; {} raw files ({} new) in {:.2}s; \
         lake traffic: {}",
        report.models.len(),
        committed,
        up_to_date,
        report.raw_files,
        report.new_raw_files,
        started.elapsed().as_secs_f64(),
        report::traffic(&traffic)
    );
}

/// Logs what a run's publish did; its one line for the run's record.
fn summary(file: &std::path::Path, outcome: publish::Outcome) -> String {
    let file = file.display();
    match outcome {
        publish::Outcome::Published(published) => {
            report::publish(&published);
            report::publish_summary(&published)
        }
        publish::Outcome::AlreadyCurrent => {
            tracing::info!("{file} already serves these marts (same lake, tables and versions)");
            format!("{file} already served these marts")
        }
        publish::Outcome::MissingMarts(missing) => {
            tracing::warn!(
                "not publishing to {file}: no table yet for {} (a run without --select builds them)",
                missing.join(", ")
            );
            format!("not published: no table yet for {}", missing.join(", "))
        }
    }
}
