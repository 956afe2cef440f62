//! `stride test`: the data contracts on the current tables.

use super::emit::emit;
use super::{Checked, Exit, Globals};
use crate::contracts::Status;
use crate::engine;
use crate::output::Format;

/// The arguments of `stride test`.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Only these: model selectors (see `run --select`) and `raw.<table>` or
    /// `source:<table>` for sources.
    #[arg(long, short, value_name = "SEL")]
    select: Option<String>,
    /// How to print the outcomes: table, csv or json.
    #[arg(long, value_enum, default_value_t = Format::Table, hide_possible_values = true)]
    format: Format,
}

/// Prints every rule's outcome and the tally; exit 1 when a blocking rule failed.
pub async fn test(args: TestArgs, globals: &Globals) -> anyhow::Result<Exit> {
    let lakehouse = globals.lakehouse(Checked::Yes).await?;
    let outcomes = lakehouse.test(args.select.as_deref()).await?;
    let sources = lakehouse.project.sources();
    emit(
        &[engine::outcomes_batch(&outcomes, sources)?][..],
        args.format,
    )?;
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|o| o.is_blocking())
        .map(|o| format!("{} {}", o.table, o.rule))
        .collect();
    let warned = outcomes.iter().filter(|o| o.status == Status::Warn).count();
    tracing::info!(
        "{} rules: {} passed, {} warned, {} failed",
        outcomes.len(),
        outcomes.len() - failed.len() - warned,
        warned,
        failed.len()
    );
    Ok(Exit::failure_if(!failed.is_empty(), || {
        format!("data tests failed: {}", failed.join(", "))
    }))
}
