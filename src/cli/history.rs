//! `stride history`: the Delta versions of a model.

use super::emit::emit;
use super::{Checked, Exit, Globals};
use crate::engine;
use crate::output::Format;

/// The arguments of `stride history`.
#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// The model.
    model: String,
    /// How to print the result: table, csv or json.
    #[arg(long, value_enum, default_value_t = Format::Table, hide_possible_values = true)]
    format: Format,
}

/// Prints the model's versions.
pub async fn history(args: HistoryArgs, globals: &Globals) -> anyhow::Result<Exit> {
    let lake = globals.lake().await?;
    let (project, _) = globals.project(Checked::No)?;
    project.model(&args.model)?;
    let rows = engine::history(&lake, &args.model).await?;
    emit(&[engine::history_batch(&rows)?][..], args.format)?;
    Ok(Exit::Success)
}
