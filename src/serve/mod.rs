//! `stride serve`: the one long-running process a team deploys. It keeps the marts
//! fresh by itself (cron schedules, a sensor for new batches), runs one run at a
//! time (requests that meet merge into one queued run), retries transient failures
//! with backoff, keeps every run's record, answers a JSON API, and on SIGTERM or
//! SIGINT stops cleanly: no new runs, the current one given a grace period, then
//! canceled, the lake's lock released.

mod api;
mod queue;
mod schedule;
mod sensor;
mod status;
mod ui;

pub use queue::RetryPolicy;
pub use schedule::Schedule;
pub use sensor::{SensorSettings, unconsumed};
pub use status::json_rows;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};
use crate::lake::{LakeLock, SERVE_LOCK_FILE};
use crate::ops::{Cancel, Lakehouse};
use queue::Queue;
use sensor::Sensor;

/// How `stride serve` was asked to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Where the API listens.
    pub bind: SocketAddr,
    /// The token requests must carry (required off loopback).
    pub token: Option<String>,
    /// Cron expressions, each a run per tick.
    pub schedules: Vec<String>,
    /// The sensor for new raw files, when on.
    pub sensor: Option<SensorSettings>,
    /// How transient failures are retried.
    pub retry: RetryPolicy,
    /// How long a shutdown waits for the run going before it cancels it.
    pub grace: Duration,
}

/// The state the API and the background tasks share.
#[derive(Debug)]
pub struct Server {
    lakehouse: Lakehouse,
    options: ServeOptions,
    queue: Queue,
    schedules: Vec<Schedule>,
    sensor: Option<Sensor>,
    started_at: DateTime<Utc>,
    stopping: AtomicBool,
    /// The verify started from the API, while it goes, and how the last one ended.
    verifying: std::sync::Mutex<Verifying>,
}

/// The state of `POST /api/verify`'s work.
#[derive(Debug, Default, Clone)]
struct Verifying {
    /// When the verify going now started.
    since: Option<DateTime<Utc>>,
    /// The error the last one stopped with (its report, when it made one, is in the lake).
    error: Option<String>,
}

impl Server {
    fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }
}

/// Serves the lake until SIGTERM or SIGINT; returns once the current run is
/// finished or canceled and the locks are released. `options` come checked
/// (the command line's `resolve`: a bind beyond loopback has a token).
pub async fn serve(lakehouse: Lakehouse, options: ServeOptions) -> Result<()> {
    let schedules = options
        .schedules
        .iter()
        .map(|s| Schedule::parse(s))
        .collect::<Result<Vec<_>>>()?;
    let serving = LakeLock::acquire_file(&lakehouse.lake, SERVE_LOCK_FILE, "stride serve").await?;
    let listener = match tokio::net::TcpListener::bind(options.bind).await {
        Ok(listener) => listener,
        Err(e) => {
            serving.release().await?;
            return Err(Error::Setting {
                setting: "--bind".into(),
                reason: format!("cannot listen on {}: {e}", options.bind),
            });
        }
    };
    // Port 0 asks for any free port: the Host check needs the one given.
    let mut options = options;
    if let Ok(bound) = listener.local_addr() {
        options.bind = bound;
    }
    let server = Arc::new(Server {
        sensor: options.sensor.map(Sensor::new),
        lakehouse,
        options,
        queue: Queue::default(),
        schedules,
        started_at: Utc::now(),
        stopping: AtomicBool::new(false),
        verifying: std::sync::Mutex::default(),
    });
    tracing::info!(
        "serving {} on http://{} ({} schedules, sensor {})",
        server.lakehouse.lake.url(),
        server.options.bind,
        server.schedules.len(),
        if server.sensor.is_some() { "on" } else { "off" }
    );

    let (cancel_run, cancel) = Cancel::new();
    let runner = {
        let server = Arc::clone(&server);
        on_own_thread(move || async move {
            queue::runner(
                &server.lakehouse,
                &server.queue,
                server.options.retry,
                cancel,
            )
            .await;
        })
    };
    let mut background = tokio::task::JoinSet::new();
    for index in 0..server.schedules.len() {
        let server = Arc::clone(&server);
        background.spawn(async move { keep_schedule(&server, index).await });
    }
    if server.sensor.is_some() {
        let server = Arc::clone(&server);
        background.spawn(async move { keep_sensor(&server).await });
    }
    // The API answers until the run going has ended (health says `stopping`).
    let (api_done, api_stop) = tokio::sync::oneshot::channel::<()>();
    let http = {
        let app = api::router(Arc::clone(&server));
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = api_stop.await;
                })
                .await
        })
    };

    let mut runner = runner;
    // The runner ends only when the queue closes; sooner, it panicked.
    let broke = tokio::select! {
        () = shutdown_signal() => None,
        ended = &mut runner => Some(ended),
    };
    if let Some(ended) = broke {
        server.queue.close();
        background.abort_all();
        let _ = api_done.send(());
        let _ = tokio::time::timeout(Duration::from_secs(5), http).await;
        serving.release().await?;
        let why = ended.err().map(|e| e.to_string()).unwrap_or_default();
        return Err(Error::Task(format!("the run queue stopped: {why}")));
    }
    tracing::info!(
        "stopping: no new runs; the run going (if any) has {:.0}s to finish",
        server.options.grace.as_secs_f64()
    );
    server.stopping.store(true, Ordering::Relaxed);
    server.queue.close();
    background.abort_all();
    if tokio::time::timeout(server.options.grace, &mut runner)
        .await
        .is_err()
    {
        tracing::warn!("the run did not finish within the grace period: canceling it");
        let _ = cancel_run.send(true);
        // The canceled run writes its record and releases the lock; bounded, so an
        // unreachable store cannot hold the exit.
        if tokio::time::timeout(Duration::from_secs(30), &mut runner)
            .await
            .is_err()
        {
            tracing::warn!("the canceled run did not end within 30 s; stopping without it");
        }
    }
    let _ = api_done.send(());
    let _ = tokio::time::timeout(Duration::from_secs(5), http).await;
    serving.release().await?;
    tracing::info!("stopped");
    Ok(())
}

/// Drives the future `make` returns on a blocking thread of the runtime. For the
/// engine's futures: they are `Send`, but rustc cannot prove it through their
/// higher-ranked borrows (rust-lang/rust#102211), so `tokio::spawn` refuses them.
pub(crate) fn on_own_thread<F, Fut>(make: F) -> tokio::task::JoinHandle<Fut::Output>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future,
    Fut::Output: Send + 'static,
{
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || runtime.block_on(make()))
}

/// Ticks one schedule until the shutdown: a catch-up first when ticks were missed
/// while nothing served the lake, then each tick on time.
async fn keep_schedule(server: &Server, index: usize) {
    let Some(schedule) = server.schedules.get(index) else {
        return;
    };
    let lake = &server.lakehouse.lake;
    let sources = server.lakehouse.project.sources();
    match schedule.restore(lake, Utc::now()).await {
        Ok(Some((latest, missed))) => {
            schedule
                .tick(lake, sources, &server.queue, latest, missed)
                .await;
        }
        Ok(None) => {}
        Err(e) => tracing::warn!("schedule \"{}\": {e}", schedule.expression),
    }
    let mut after = Utc::now();
    while let Some(next) = schedule.next_after(after) {
        let wait = (next - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        tokio::time::sleep(wait).await;
        schedule.tick(lake, sources, &server.queue, next, 0).await;
        after = next;
    }
}

/// Looks at the raw area every interval until the shutdown.
async fn keep_sensor(server: &Server) {
    let Some(sensor) = &server.sensor else {
        return;
    };
    let interval = Duration::from_secs_f64(sensor.settings.interval_s);
    loop {
        sensor
            .evaluate(
                &server.lakehouse.lake,
                server.lakehouse.project.sources(),
                &server.queue,
            )
            .await;
        tokio::time::sleep(interval).await;
    }
}

/// Waits for SIGTERM or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM ({e}); Ctrl-C still stops");
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
