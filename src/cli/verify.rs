//! `stride verify`: prove the incremental tables equal a rebuild.

use std::path::PathBuf;

use super::emit::{Report, ReportFormat, emit};
use super::{Checked, Exit, Globals};
use crate::compare;
use crate::publish::DEFAULT_DUCKDB;

/// The arguments of `stride verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Only these models (see `run --select`); the models they read are rebuilt too.
    #[arg(long, short, value_name = "SEL")]
    select: Option<String>,
    /// Example rows shown per kind of difference and model.
    #[arg(long, default_value_t = 5, value_name = "N")]
    examples: usize,
    /// How to print the report: table or json.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table, hide_possible_values = true)]
    format: ReportFormat,
    /// The DuckDB file whose served marts are compared with the table versions
    /// they claim (skipped when nothing is published there).
    #[arg(long, env = "STRIDE_DUCKDB", default_value = DEFAULT_DUCKDB, value_name = "PATH")]
    duckdb: PathBuf,
}

/// Prints the verification; exit 1 when anything differs.
pub async fn verify(args: VerifyArgs, globals: &Globals) -> anyhow::Result<Exit> {
    let lakehouse = globals.lakehouse(Checked::Yes).await?;
    let lakehouse = lakehouse.publishing_to(Some(args.duckdb));
    let verification = lakehouse
        .verify(args.select.as_deref(), args.examples)
        .await?;
    let text = |v: &_, _| Ok(compare::report::verification(v));
    emit(&Report(&verification, text), args.format)?;
    if let Some(failure) = verification.failure() {
        return Ok(Exit::Failure(failure));
    }
    tracing::info!(
        "verify: all {} models equal their rebuild",
        verification.models.len()
    );
    Ok(Exit::Success)
}
