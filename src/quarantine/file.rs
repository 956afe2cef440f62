//! Reading one landed file whole, with its schema checked against the table's
//! contract: a file that is not Parquet, is cut short, lacks a column, has one too
//! many, or types one differently (a `+00:00` time zone included) is refused whole
//! with the reason, so it can never be half loaded.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::land::LandedFile;
use crate::sources::{self, SourceTable};

/// What reading a landed file gave.
pub enum FileRead {
    /// Every row, in the table's schema (strings as `Utf8`, columns in contract order).
    Rows(Vec<RecordBatch>),
    /// Why the whole file is refused, its row count when the footer says it, and
    /// its bytes (copied to the quarantine as they are).
    Refused {
        reason: String,
        rows: u64,
        bytes: Bytes,
    },
}

/// Reads `file` whole (one GET) and checks its schema against `table` (as its
/// source contract declares it). Only a failure of the store
/// itself is an error; anything wrong with the file is a [`FileRead::Refused`].
pub async fn read_file(lake: &Lake, table: &SourceTable, file: &LandedFile) -> Result<FileRead> {
    let bytes = lake
        .get(&lake.relative(&file.path))
        .await?
        .ok_or_else(|| Error::RawFile {
            file: lake.object_url(&file.path),
            problem: "listed, then gone before it was read".into(),
        })?;
    Ok(match decode(table, bytes.clone()) {
        Ok(rows) => FileRead::Rows(rows),
        Err((reason, rows)) => FileRead::Refused {
            reason,
            rows,
            bytes,
        },
    })
}

/// The file's rows in the table's schema, or why it is refused and how many rows
/// its footer counts.
fn decode(table: &SourceTable, bytes: Bytes) -> Result<Vec<RecordBatch>, (String, u64)> {
    if bytes.is_empty() {
        return Err(("an empty file (0 bytes), not Parquet".into(), 0));
    }
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .map_err(|e| (format!("not a readable Parquet file ({e})"), 0))?;
    let rows = builder.metadata().file_metadata().num_rows().max(0) as u64;
    check_schema(table, builder.schema()).map_err(|problem| (problem, rows))?;
    let reader = builder
        .build()
        .map_err(|e| (format!("cannot be read ({e})"), rows))?;
    let target = table.schema();
    let mut normalized = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| {
            (
                format!("cannot be read to the end, truncated or corrupt ({e})"),
                rows,
            )
        })?;
        let batch =
            normalize(&batch, &target).map_err(|e| (format!("cannot be read ({e})"), rows))?;
        normalized.push(batch);
    }
    Ok(normalized)
}

/// The file's columns against the table's: all present, none extra, each typed as
/// the contract says (strings in any Arrow layout).
fn check_schema(table: &SourceTable, schema: &SchemaRef) -> Result<(), String> {
    for (column, expected) in table.columns() {
        let field = schema
            .field_with_name(column)
            .map_err(|_| format!("missing required column `{column}`"))?;
        if !sources::accepts(expected, field.data_type()) {
            return Err(format!(
                "column `{column}` has type {}, expected {expected}",
                field.data_type(),
            ));
        }
    }
    let extra: Vec<&str> = schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .filter(|name| !table.columns().any(|(column, _)| column == *name))
        .collect();
    if !extra.is_empty() {
        return Err(format!(
            "column{} `{}` not in the contract",
            if extra.len() == 1 { "" } else { "s" },
            extra.join("`, `")
        ));
    }
    Ok(())
}

/// The batch with the table's columns in order and strings cast to `Utf8`.
fn normalize(batch: &RecordBatch, target: &SchemaRef) -> arrow::error::Result<RecordBatch> {
    let columns = target
        .fields()
        .iter()
        .map(|field| {
            let column = batch.column_by_name(field.name()).ok_or_else(|| {
                arrow::error::ArrowError::SchemaError(format!("no column {}", field.name()))
            })?;
            if column.data_type() == field.data_type() {
                Ok(Arc::clone(column))
            } else {
                arrow::compute::cast(column, field.data_type())
            }
        })
        .collect::<arrow::error::Result<Vec<_>>>()?;
    RecordBatch::try_new(Arc::clone(target), columns)
}
