//! The one way commands print their answers: rows as a table, CSV or JSON rows;
//! reports as text for people or their JSON form.

use serde::Serialize;

use crate::output::{self, Format};
use arrow::record_batch::RecordBatch;

/// How `stride bench`, `verify` and `diff` print their reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ReportFormat {
    /// Tables for people.
    #[default]
    Table,
    /// Every figure as JSON.
    Json,
}

impl From<ReportFormat> for Format {
    fn from(format: ReportFormat) -> Format {
        match format {
            ReportFormat::Table => Format::Table,
            ReportFormat::Json => Format::Json,
        }
    }
}

/// Something a command answers with, as text in a format.
pub(super) trait Answer {
    /// The text of it in `format`.
    fn render(&self, format: Format) -> anyhow::Result<String>;
}

impl Answer for [RecordBatch] {
    fn render(&self, format: Format) -> anyhow::Result<String> {
        Ok(output::render(self, format)?)
    }
}

/// A report: JSON from its serde form, otherwise the text `text` makes of it.
pub(super) struct Report<'a, T: ?Sized>(pub &'a T, pub fn(&T, Format) -> anyhow::Result<String>);

impl<T: Serialize + ?Sized> Answer for Report<'_, T> {
    fn render(&self, format: Format) -> anyhow::Result<String> {
        match format {
            Format::Json => Ok(format!("{}\n", serde_json::to_string_pretty(self.0)?)),
            other => (self.1)(self.0, other),
        }
    }
}

/// Prints `answer` to stdout in `format`.
pub(super) fn emit(
    answer: &(impl Answer + ?Sized),
    format: impl Into<Format>,
) -> anyhow::Result<()> {
    print!("{}", answer.render(format.into())?);
    Ok(())
}
