//! One run at a time: requests that arrive while a run goes (or within a moment of
//! each other) merge into one queued run; the runner takes it when the lake is
//! free, and retries transient failures with exponential backoff and jitter.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use serde::Serialize;
use tokio::sync::Notify;

use crate::ops::{Cancel, FailureKind, Lakehouse, RunSpec};
use crate::run_history::{Recorder, RunRecord, RunRequest, Status, TickRef, Trigger, new_run_id};

/// Requests that arrive this close together become one run.
const GATHER: Duration = Duration::from_millis(500);

/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// How retries go.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all (1: no retry).
    pub attempts: u32,
    /// The wait before the first retry; each next one doubles it (with ±25% jitter).
    pub first_delay: Duration,
}

impl RetryPolicy {
    /// The wait before attempt `next` (2 for the first retry).
    pub fn delay(&self, next: u32) -> Duration {
        let doubled = self
            .first_delay
            .saturating_mul(1u32 << (next.saturating_sub(2)).min(16));
        let base = doubled.min(MAX_BACKOFF);
        let jitter: f64 = rand::rng().random_range(0.75..1.25);
        base.mul_f64(jitter)
    }
}

/// A run waiting its turn.
#[derive(Debug, Clone, Serialize)]
pub struct Queued {
    /// The id it will run under.
    pub run_id: String,
    /// What started it (the first request's trigger).
    pub trigger: Trigger,
    /// What it will do: every merged request's work.
    pub request: RunRequest,
    /// The schedule tick behind it.
    pub tick: Option<TickRef>,
    /// When the first request came.
    pub queued_at: DateTime<Utc>,
    /// How many requests it stands for.
    pub requests: u32,
}

impl Running {
    /// How the API shows it before its record is written (the moment between
    /// leaving the queue and the run's first write).
    pub fn as_record(&self) -> RunRecord {
        let mut record = RunRecord::start(self.trigger, self.request.clone());
        record.run_id = self.run_id.clone();
        record.attempt = self.attempt;
        record.started_at = self.started_at;
        if self.attempt > 1 {
            record.retry_of = Some(self.first_run_id.clone());
        }
        record
    }
}

impl Queued {
    /// How the API shows it, next to the stored records.
    pub fn as_record(&self) -> RunRecord {
        let mut record = RunRecord::start(self.trigger, self.request.clone());
        record.run_id = self.run_id.clone();
        record.status = Status::Queued;
        record.started_at = self.queued_at;
        record.tick = self.tick.clone();
        record
    }
}

/// The run going now.
#[derive(Debug, Clone, Serialize)]
pub struct Running {
    /// The current attempt's id.
    pub run_id: String,
    /// The first attempt's id.
    pub first_run_id: String,
    /// Its attempt number.
    pub attempt: u32,
    /// When it (the attempt) started.
    pub started_at: DateTime<Utc>,
    /// What started it.
    pub trigger: Trigger,
    /// What it does.
    pub request: RunRequest,
    /// Its progress so far.
    #[serde(skip)]
    pub recorder: Arc<Recorder>,
}

/// The queue's state.
#[derive(Debug, Default)]
struct State {
    queued: Option<Queued>,
    running: Option<Running>,
    closed: bool,
}

/// What [`Queue::submit`] did.
#[derive(Debug, Clone, Serialize)]
pub struct Submitted {
    /// The run the request will be part of.
    pub run_id: String,
    /// Whether it joined a run queued already.
    pub merged: bool,
}

/// The single queue of a serving process.
#[derive(Debug, Default)]
pub struct Queue {
    state: Mutex<State>,
    wake: Notify,
}

impl Queue {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a run, or merges the request into the one queued; `None` once the
    /// queue is closed (shutting down).
    pub fn submit(
        &self,
        trigger: Trigger,
        request: RunRequest,
        tick: Option<TickRef>,
    ) -> Option<Submitted> {
        let mut state = self.state();
        if state.closed {
            return None;
        }
        if let Some(queued) = state.queued.as_mut() {
            queued.request = queued.request.merge(&request);
            queued.requests += 1;
            return Some(Submitted {
                run_id: queued.run_id.clone(),
                merged: true,
            });
        }
        let now = Utc::now();
        let run_id = new_run_id(now);
        state.queued = Some(Queued {
            run_id: run_id.clone(),
            trigger,
            request,
            tick,
            queued_at: now,
            requests: 1,
        });
        drop(state);
        self.wake.notify_one();
        Some(Submitted {
            run_id,
            merged: false,
        })
    }

    /// The run waiting, if any.
    pub fn queued(&self) -> Option<Queued> {
        self.state().queued.clone()
    }

    /// The run going, if any.
    pub fn running(&self) -> Option<Running> {
        self.state().running.clone()
    }

    /// Whether a run is going or waiting.
    pub fn is_busy(&self) -> bool {
        let state = self.state();
        state.queued.is_some() || state.running.is_some()
    }

    /// Whether the queue takes no more requests (shutting down).
    pub fn is_closed(&self) -> bool {
        self.state().closed
    }

    /// Takes no more requests; drops the one waiting.
    pub fn close(&self) {
        let mut state = self.state();
        state.closed = true;
        state.queued = None;
        drop(state);
        self.wake.notify_one();
    }

    fn set_running(&self, running: Option<Running>) {
        self.state().running = running;
    }

    /// Waits for a queued run (after the gathering moment); `None` once closed.
    async fn next(&self) -> Option<Queued> {
        loop {
            let notified = self.wake.notified();
            {
                let state = self.state();
                if state.closed {
                    return None;
                }
                if state.queued.is_some() {
                    break;
                }
            }
            notified.await;
        }
        tokio::time::sleep(GATHER).await;
        let mut state = self.state();
        if state.closed {
            return None;
        }
        state.queued.take()
    }
}

/// Takes queued runs one at a time until the queue closes; `cancel` stops the run
/// going.
pub async fn runner(lakehouse: &Lakehouse, queue: &Queue, retry: RetryPolicy, cancel: Cancel) {
    while let Some(queued) = queue.next().await {
        let first = queued.run_id.clone();
        let mut spec = RunSpec {
            trigger: queued.trigger,
            request: queued.request.clone(),
            run_id: Some(first.clone()),
            attempt: 1,
            retry_of: None,
            tick: queued.tick.clone(),
            recorder: None,
        };
        loop {
            let run_id = spec
                .run_id
                .clone()
                .unwrap_or_else(|| new_run_id(Utc::now()));
            spec.run_id = Some(run_id.clone());
            let recorder = Arc::new(Recorder::new());
            spec.recorder = Some(Arc::clone(&recorder));
            queue.set_running(Some(Running {
                run_id,
                first_run_id: first.clone(),
                attempt: spec.attempt,
                started_at: Utc::now(),
                trigger: spec.trigger,
                request: spec.request.clone(),
                recorder,
            }));
            let finished = lakehouse.run(spec.clone(), Some(cancel.clone())).await;
            let Err(failure) = &finished.result else {
                break;
            };
            let message = crate::error::one_line(failure);
            if failure.kind() != FailureKind::Transient
                || spec.attempt >= retry.attempts
                || cancel.is_fired()
            {
                tracing::warn!("run {} ended: {message}", finished.record.run_id);
                break;
            }
            let delay = retry.delay(spec.attempt + 1);
            tracing::warn!(
                "run {} failed on a transient error ({message}); attempt {} of {} in {:.1}s",
                finished.record.run_id,
                spec.attempt + 1,
                retry.attempts,
                delay.as_secs_f64()
            );
            let mut waiting = cancel.clone();
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = waiting.fired() => break,
            }
            if queue.is_closed() {
                tracing::warn!("not retrying run {first}: stride serve is stopping");
                break;
            }
            spec = RunSpec {
                trigger: Trigger::Retry,
                request: spec.request.clone(),
                run_id: None,
                attempt: spec.attempt + 1,
                retry_of: Some(first.clone()),
                tick: spec.tick.clone(),
                recorder: None,
            };
        }
        queue.set_running(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_its_jitter_and_is_capped() {
        let policy = RetryPolicy {
            attempts: 10,
            first_delay: Duration::from_secs(2),
        };
        for (next, base) in [(2, 2.0), (3, 4.0), (4, 8.0), (12, 300.0)] {
            let d = policy.delay(next).as_secs_f64();
            assert!(d >= base * 0.75 && d <= base * 1.25, "attempt {next}: {d}");
        }
    }

    #[test]
    fn requests_while_one_waits_merge_into_it() {
        let queue = Queue::default();
        let a = queue.submit(Trigger::Manual, RunRequest::default(), None);
        let b = queue.submit(
            Trigger::Sensor,
            RunRequest {
                select: None,
                full_refresh: true,
            },
            None,
        );
        let (Some(a), Some(b)) = (a, b) else {
            panic!("the queue is open");
        };
        assert_eq!(a.run_id, b.run_id);
        assert!(!a.merged && b.merged);
        let queued = queue.queued().map(|q| (q.requests, q.request.full_refresh));
        assert_eq!(queued, Some((2, true)));
        queue.close();
        assert!(
            queue
                .submit(Trigger::Manual, RunRequest::default(), None)
                .is_none()
        );
    }
}
