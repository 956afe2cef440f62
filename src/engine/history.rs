//! `stride history MODEL`: the versions of a model's Delta table.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use chrono::{DateTime, Utc};

use crate::delta;
use crate::error::{Error, Result};
use crate::lake::Lake;

/// One version, as `stride history` lists it.
#[derive(Debug, Clone)]
pub struct HistoryRow {
    /// The Delta version.
    pub version: u64,
    /// Commit time, UTC.
    pub time: Option<DateTime<Utc>>,
    /// The Delta operation, with stride's refresh kind (`WRITE (full)`).
    pub operation: String,
    /// Rows added and removed by the version.
    pub rows_added: Option<u64>,
    /// Rows removed by the version.
    pub rows_removed: Option<u64>,
    /// Rows in the table after it.
    pub rows: Option<u64>,
    /// The batch dates whose data reached the model in this version.
    pub batches: Vec<String>,
    /// The run that committed it (`stride runs show RUN_ID`).
    pub run_id: Option<String>,
}

/// The versions of `model`, oldest first.
pub async fn history(lake: &Lake, model: &str) -> Result<Vec<HistoryRow>> {
    let table = delta::open(lake, model).await?.ok_or_else(|| {
        Error::in_model(
            model,
            Error::TimeTravel("no table yet: run it first".into()),
        )
    })?;
    let records = delta::read_log(&table)
        .await
        .map_err(|e| Error::in_model(model, e))?;
    Ok(records
        .into_iter()
        .map(|r| {
            // A text field of stride's record in the commit.
            let text = |field: &str| {
                r.stride
                    .as_ref()
                    .and_then(|s| s.get(field))
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
            };
            let (refresh, run_id) = (text("refresh"), text("run_id"));
            let batches = r
                .stride
                .as_ref()
                .and_then(|s| s.get("batches"))
                .and_then(|b| b.as_array())
                .map(|b| {
                    b.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            HistoryRow {
                run_id,
                version: r.version,
                time: r.timestamp_ms.and_then(DateTime::from_timestamp_millis),
                operation: match refresh {
                    Some(kind) => format!("{} ({kind})", r.operation),
                    None => r.operation,
                },
                rows_added: r.rows_added.or(Some(0)).filter(|_| r.rows_total.is_some()),
                rows_removed: r.rows_removed,
                rows: r.rows_total,
                batches,
            }
        })
        .collect())
}

/// The history as a table, for printing.
pub fn history_batch(rows: &[HistoryRow]) -> Result<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("version", DataType::UInt64, false),
        Field::new("time", DataType::Utf8, true),
        Field::new("operation", DataType::Utf8, false),
        Field::new("rows_added", DataType::UInt64, true),
        Field::new("rows_removed", DataType::UInt64, true),
        Field::new("rows", DataType::UInt64, true),
        Field::new("batches", DataType::Utf8, false),
        Field::new("run_id", DataType::Utf8, true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(UInt64Array::from_iter_values(
            rows.iter().map(|r| r.version),
        )),
        Arc::new(StringArray::from_iter(rows.iter().map(|r| {
            r.time
                .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string())
        }))),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.operation.as_str()),
        )),
        Arc::new(UInt64Array::from_iter(rows.iter().map(|r| r.rows_added))),
        Arc::new(UInt64Array::from_iter(rows.iter().map(|r| r.rows_removed))),
        Arc::new(UInt64Array::from_iter(rows.iter().map(|r| r.rows))),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| summarize_batches(&r.batches)),
        )),
        Arc::new(StringArray::from_iter(
            rows.iter().map(|r| r.run_id.as_deref()),
        )),
    ];
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// `2026-01-01..2026-01-30 (30)` for a run of dates, or the dates themselves.
fn summarize_batches(batches: &[String]) -> String {
    match batches {
        [] => String::new(),
        [one] => one.clone(),
        [first, .., last] if batches.len() > 3 => {
            format!("{first}..{last} ({})", batches.len())
        }
        _ => batches.join(", "),
    }
}
