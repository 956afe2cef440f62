//! `stride serve`: keep the marts fresh, with the API and the pages.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use super::{Checked, Exit, Globals};
use crate::error::Error;
use crate::publish::DEFAULT_DUCKDB;
use crate::serve::{self, RetryPolicy, SensorSettings, ServeOptions};

/// The arguments of `stride serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Where the API listens. Any address but loopback needs --token.
    #[arg(
        long,
        env = "STRIDE_BIND",
        default_value = "127.0.0.1:3030",
        value_name = "ADDR"
    )]
    bind: std::net::SocketAddr,
    /// The token API requests must carry (`Authorization: Bearer TOKEN`; at
    /// least 16 characters). Without it, a loopback bind answers anyone local.
    #[arg(
        long,
        env = "STRIDE_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    token: Option<String>,
    /// A run at each tick of this cron expression: 5 fields (minute hour day
    /// month weekday), or 6 with seconds first; UTC, or `CRON_TZ=Europe/Paris
    /// 0 6 * * *`. Repeatable.
    #[arg(long, value_name = "CRON")]
    schedule: Vec<String>,
    /// Start a run when raw files land that no run has consumed yet.
    #[arg(long)]
    watch: bool,
    /// Seconds between two looks at the raw area (with --watch).
    #[arg(long, default_value_t = 30.0, value_name = "SECONDS")]
    watch_interval: f64,
    /// Seconds landing must have been quiet before the sensor starts a run.
    #[arg(long, default_value_t = 60.0, value_name = "SECONDS")]
    quiet_period: f64,
    /// Attempts of a run that fails on a transient error (the store unreachable
    /// or throttling, I/O), the first included.
    #[arg(long, default_value_t = 4, value_name = "N")]
    attempts: u32,
    /// Seconds before the first retry; each next waits twice as long (±25%).
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
    retry_delay: f64,
    /// Seconds a shutdown (SIGTERM, SIGINT) waits for the run going before it
    /// cancels it.
    #[arg(long, default_value_t = 30.0, value_name = "SECONDS")]
    grace_period: f64,
    /// Do not publish the marts to the DuckDB file after each run.
    #[arg(long)]
    no_sync: bool,
    /// The DuckDB file the marts are published to.
    #[arg(long, env = "STRIDE_DUCKDB", default_value = DEFAULT_DUCKDB, value_name = "PATH")]
    duckdb: PathBuf,
}

/// `value` seconds, as `setting` gives them; `zero_ok` when 0 means "at once".
fn seconds(value: f64, setting: &str, zero_ok: bool) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| zero_ok || !d.is_zero())
        .with_context(|| format!("{setting} {value}: not a positive number of seconds"))
}

impl ServeArgs {
    /// The server's options, every setting checked: a bind beyond loopback needs a
    /// token, a token has at least 16 characters, durations are positive.
    fn resolve(&self) -> anyhow::Result<ServeOptions> {
        if !self.bind.ip().is_loopback() && self.token.is_none() {
            return Err(Error::Setting {
                setting: "--bind".into(),
                reason: format!(
                    "{} is not a loopback address: serving it needs a token (--token or STRIDE_TOKEN)",
                    self.bind
                ),
            }
            .into());
        }
        if self.token.as_deref().is_some_and(|t| t.len() < 16) {
            return Err(Error::Setting {
                setting: "--token".into(),
                reason: "a token has at least 16 characters".into(),
            }
            .into());
        }
        let sensor = match self.watch {
            true => {
                seconds(self.watch_interval, "--watch-interval", false)?;
                seconds(self.quiet_period, "--quiet-period", false)?;
                Some(SensorSettings {
                    interval_s: self.watch_interval,
                    quiet_period_s: self.quiet_period,
                })
            }
            false => None,
        };
        Ok(ServeOptions {
            bind: self.bind,
            token: self.token.clone(),
            schedules: self.schedule.clone(),
            sensor,
            retry: RetryPolicy {
                attempts: self.attempts.max(1),
                first_delay: seconds(self.retry_delay, "--retry-delay", false)?,
            },
            grace: seconds(self.grace_period, "--grace-period", true)?,
        })
    }
}

/// Serves until SIGTERM or SIGINT.
pub async fn serve(args: ServeArgs, globals: &Globals) -> anyhow::Result<Exit> {
    let lakehouse = globals.lakehouse(Checked::Yes).await?;
    let options = args.resolve()?;
    let lakehouse = lakehouse.publishing_to((!args.no_sync).then_some(args.duckdb));
    serve::serve(lakehouse, options).await?;
    Ok(Exit::Success)
}
