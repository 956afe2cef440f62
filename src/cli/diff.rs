//! `stride diff`: what changed in a model between two versions, or in each mart a
//! run committed.

use anyhow::Context;

use super::emit::{Report, ReportFormat, emit};
use super::{Checked, Exit, Globals};
use crate::compare::{self, Point};

/// What `stride diff --help` says after the options.
pub const AFTER_HELP: &str = "Rows are matched on the model's key: its contract's first \
                            `unique` rule, else its unique_key, else every column that is \
                            not a float (an aggregate's grouping columns). Floats are \
                            equal within 1e-9 relative (absolute below 1).";

/// The arguments of `stride diff`.
#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The model.
    #[arg(required_unless_present = "run", conflicts_with = "run")]
    model: Option<String>,
    /// The older version: a number or a time (2026-11-27T10:00:00Z).
    #[arg(long, value_name = "VERSION|TIMESTAMP")]
    from: Option<String>,
    /// The newer version (default: the latest).
    #[arg(long, value_name = "VERSION|TIMESTAMP")]
    to: Option<String>,
    /// Match rows on these columns (comma-separated) instead of the model's key.
    #[arg(long, value_name = "COLS")]
    key: Option<String>,
    /// What the run RUN_ID changed in each mart it committed.
    #[arg(long, value_name = "RUN_ID", conflicts_with_all = ["from", "to", "key"])]
    run: Option<String>,
    /// Example rows shown per kind of change.
    #[arg(long, default_value_t = 5, value_name = "N")]
    examples: usize,
    /// How to print the report: table or json.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table, hide_possible_values = true)]
    format: ReportFormat,
}

/// A version given as `flag`.
fn point(text: Option<&str>, flag: &str) -> anyhow::Result<Option<Point>> {
    text.map(|t| Point::parse(t).with_context(|| flag.to_string()))
        .transpose()
}

/// Prints what changed.
pub async fn diff(args: DiffArgs, globals: &Globals) -> anyhow::Result<Exit> {
    let lakehouse = globals.lakehouse(Checked::Yes).await?;
    if let Some(run_id) = &args.run {
        let changed = lakehouse.diff_run(run_id, args.examples).await?;
        let text = |d: &_, _| Ok(compare::report::run_diff(d));
        emit(&Report(&changed, text), args.format)?;
        return Ok(Exit::Success);
    }
    let model = args.model.context("diff needs a MODEL or --run RUN_ID")?;
    let changed = lakehouse
        .diff(&model)
        .from(point(args.from.as_deref(), "--from")?)
        .to(point(args.to.as_deref(), "--to")?)
        .key(args.key.as_deref().map(compare::parse_key))
        .examples(args.examples)
        .await?;
    emit(
        &Report(&changed, |d, _| Ok(compare::report::diff(d))),
        args.format,
    )?;
    Ok(Exit::Success)
}
