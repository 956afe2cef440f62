//! `stride runs [show ID]`: the run history.

use anyhow::Context;

use super::emit::{Report, emit};
use super::{Exit, Globals};
use crate::output::{self, Format};
use crate::run_history::{self, RunRecord};

/// The arguments of `stride runs`.
#[derive(Debug, clap::Args)]
pub struct RunsArgs {
    #[command(subcommand)]
    action: Option<RunsAction>,
    /// The newest N runs.
    #[arg(long, default_value_t = 20, value_name = "N")]
    limit: usize,
    /// How to print them: table, csv or json.
    #[arg(long, value_enum, default_value_t = Format::Table, hide_possible_values = true)]
    format: Format,
}

/// `stride runs` actions.
#[derive(Debug, clap::Subcommand)]
pub enum RunsAction {
    /// One run: its record, and per model what it did.
    Show {
        /// The run id (`stride runs` lists them).
        id: String,
        /// How to print it: table (the record, then its models), csv or json (the
        /// whole record).
        #[arg(long, value_enum, default_value_t = Format::Table, hide_possible_values = true)]
        format: Format,
    },
}

/// The runs as rows: one per run.
fn runs_text(records: &[RunRecord], format: Format) -> anyhow::Result<String> {
    Ok(output::render(
        &[run_history::runs_batch(records)?],
        format,
    )?)
}

/// One run as rows: its record, then its models.
fn run_text(record: &RunRecord, format: Format) -> anyhow::Result<String> {
    let records = std::slice::from_ref(record);
    let runs = output::render(&[run_history::runs_batch(records)?], format)?;
    let models = output::render(&[run_history::models_batch(records)?], format)?;
    Ok(runs + &models)
}

/// Prints the newest runs, or one run.
pub async fn runs(args: RunsArgs, globals: &Globals) -> anyhow::Result<Exit> {
    let lake = globals.lake().await?;
    match args.action {
        Some(RunsAction::Show { id, format }) => {
            let record = run_history::load(&lake, &id)
                .await?
                .with_context(|| format!("no run {id} in {}", lake.url()))?;
            emit(&Report(&record, run_text), format)?;
        }
        None => {
            let records = run_history::list(&lake, Some(args.limit)).await?;
            emit(&Report(&records[..], runs_text), args.format)?;
        }
    }
    Ok(Exit::Success)
}
