//! `stride generate`: land the next daily batches.

use anyhow::Context;
use chrono::NaiveDate;

use super::{Exit, Globals};
use crate::generate::Request;
use crate::ops;

/// The arguments of `stride generate`.
#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// How many daily batches to land.
    #[arg(long, default_value_t = 1)]
    days: u32,
    /// The batch_date of batch 1 (only for a new lake; default 2026-01-01).
    #[arg(long, value_name = "YYYY-MM-DD")]
    start_date: Option<NaiveDate>,
    /// Volume: 1.0 is ~2,000 customers, 30,000 touchpoints, 3,000 orders a day
    /// (only for a new lake; default 1).
    #[arg(long)]
    scale: Option<f64>,
    /// Seed of every random choice (default 42).
    #[arg(long)]
    seed: Option<u64>,
    /// The most days a touchpoint may arrive after it happened (default 3).
    #[arg(long)]
    max_lateness_days: Option<u32>,
    /// Also land bad input, for the data contracts to catch: this share of each
    /// table's rows as extra rows that break a rule (null keys, negative
    /// quantities, unknown products, conflicting duplicates, values out of their
    /// set), and one bad file a day (truncated, wrong type, `+00:00` time zone,
    /// extra or missing column, empty, not Parquet). The good rows are those of
    /// the same lake without faults.
    #[arg(long, value_name = "RATE")]
    faults: Option<f64>,
}

impl GenerateArgs {
    /// What to generate.
    fn resolve(self) -> Request {
        Request {
            days: self.days,
            seed: self.seed,
            scale: self.scale,
            start_date: self.start_date,
            max_lateness_days: self.max_lateness_days,
            faults: self.faults,
        }
    }
}

/// Lands the batches (landing needs no project).
pub async fn generate(args: GenerateArgs, globals: &Globals) -> anyhow::Result<Exit> {
    let lake = globals.lake().await?;
    ops::generate(&lake, &args.resolve())
        .await
        .with_context(|| format!("generate into {}", lake.url()))?;
    Ok(Exit::Success)
}
