//! `stride sync`: publish the marts to the DuckDB file.

use std::path::PathBuf;

use super::{Checked, Exit, Globals};
use crate::publish::DEFAULT_DUCKDB;

/// The arguments of `stride sync`.
#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// The DuckDB file.
    #[arg(long, env = "STRIDE_DUCKDB", default_value = DEFAULT_DUCKDB, value_name = "PATH")]
    duckdb: PathBuf,
}

/// Publishes under the lake's lock.
pub async fn sync(args: SyncArgs, globals: &Globals) -> anyhow::Result<Exit> {
    let lakehouse = globals.lakehouse(Checked::No).await?;
    lakehouse.sync(&args.duckdb).await?;
    Ok(Exit::Success)
}
