//! `stride demo`: the main job on the embedded default.

use std::path::PathBuf;

use super::{Checked, Exit, Globals};
use crate::publish::DEFAULT_DUCKDB;

/// The arguments of `stride demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Generate with bad input mixed in (see `generate --faults`).
    #[arg(long, value_name = "RATE")]
    faults: Option<f64>,
    /// The DuckDB file the marts are published to.
    #[arg(long, env = "STRIDE_DUCKDB", default_value = DEFAULT_DUCKDB, value_name = "PATH")]
    duckdb: PathBuf,
}

/// Generates if the lake is empty, runs, prints the headline answers.
pub async fn demo(args: DemoArgs, globals: &Globals) -> anyhow::Result<Exit> {
    let lakehouse = globals.lakehouse(Checked::Yes).await?;
    let lakehouse = lakehouse.publishing_to(Some(args.duckdb));
    crate::demo::demo(&lakehouse, args.faults).await?;
    Ok(Exit::Success)
}
