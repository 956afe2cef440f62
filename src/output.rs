//! Printing query results: a comfy-table for people, CSV and JSON for scripts.

use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, CellAlignment, ContentArrangement, Table};

use crate::error::Result;

/// The formats `stride query --format` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// A table drawn for a terminal.
    #[default]
    Table,
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON array of objects, one object per row.
    Json,
}

/// Renders `batches` in `format`.
pub fn render(batches: &[RecordBatch], format: Format) -> Result<String> {
    match format {
        Format::Table => table(batches),
        Format::Csv => {
            let mut out = Vec::new();
            {
                let mut writer = arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(&mut out);
                for batch in batches {
                    writer.write(batch)?;
                }
            }
            Ok(String::from_utf8_lossy(&out).into_owned())
        }
        Format::Json => {
            let mut writer = arrow::json::ArrayWriter::new(Vec::new());
            let refs: Vec<&RecordBatch> = batches.iter().collect();
            writer.write_batches(&refs)?;
            writer.finish()?;
            let out = writer.into_inner();
            if out.is_empty() {
                return Ok("[]\n".to_string());
            }
            Ok(format!("{}\n", String::from_utf8_lossy(&out)))
        }
    }
}

/// A terminal table; numbers are right-aligned, nulls shown as empty cells.
pub fn table(batches: &[RecordBatch]) -> Result<String> {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    let Some(first) = batches.first() else {
        return Ok("(no rows)\n".to_string());
    };
    let schema = first.schema();
    table.set_header(schema.fields().iter().map(|f| Cell::new(f.name())));
    let options = FormatOptions::default().with_display_error(true);
    let mut rows = 0;
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            rows += 1;
            table.add_row(formatters.iter().zip(batch.columns()).map(|(f, column)| {
                let cell = Cell::new(f.value(row).to_string());
                if column.data_type().is_numeric() {
                    cell.set_alignment(CellAlignment::Right)
                } else {
                    cell
                }
            }));
        }
    }
    Ok(format!("{table}\n({rows} rows)\n"))
}

/// A byte count for people: `812 B`, `3.4 KiB`, `27.0 MiB`, `1.20 GiB`.
pub fn bytes(n: u64) -> String {
    const KIB: f64 = 1024.0;
    let value = n as f64;
    if value < KIB {
        format!("{n} B")
    } else if value < KIB * KIB {
        format!("{:.1} KiB", value / KIB)
    } else if value < KIB * KIB * KIB {
        format!("{:.1} MiB", value / KIB / KIB)
    } else {
        format!("{:.2} GiB", value / KIB / KIB / KIB)
    }
}
