//! The run history as tables: for `stride runs` to print, and for `stride query`
//! as `stride.runs` (one row per run) and `stride.run_models` (one per model of a
//! run).

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray, TimestampMillisecondArray,
    UInt32Array, UInt64Array,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::catalog::MemorySchemaProvider;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use super::record::RunRecord;
use crate::error::{Error, Result};
use crate::lake::Lake;

/// The schema `stride query` finds the run history in.
pub const SCHEMA: &str = "stride";

fn time(field: &str) -> Field {
    Field::new(
        field,
        DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        true,
    )
}

/// One row per run, newest first.
pub fn runs_batch(records: &[RunRecord]) -> Result<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("run_id", DataType::Utf8, false),
        Field::new("trigger", DataType::Utf8, false),
        Field::new("attempt", DataType::UInt32, false),
        Field::new("retry_of", DataType::Utf8, true),
        Field::new("status", DataType::Utf8, false),
        time("started_at"),
        time("ended_at"),
        Field::new("elapsed_s", DataType::Float64, false),
        Field::new("select", DataType::Utf8, true),
        Field::new("full_refresh", DataType::Boolean, false),
        Field::new("models_committed", DataType::UInt64, false),
        Field::new("host", DataType::Utf8, false),
        Field::new("pid", DataType::UInt32, false),
        Field::new("error", DataType::Utf8, true),
    ]));
    let text = |f: fn(&RunRecord) -> Option<String>| -> ArrayRef {
        Arc::new(records.iter().map(f).collect::<StringArray>())
    };
    let columns: Vec<ArrayRef> = vec![
        text(|r| Some(r.run_id.clone())),
        text(|r| Some(r.trigger.as_str().to_string())),
        Arc::new(UInt32Array::from_iter_values(
            records.iter().map(|r| r.attempt),
        )),
        text(|r| r.retry_of.clone()),
        text(|r| Some(r.status.as_str().to_string())),
        Arc::new(
            records
                .iter()
                .map(|r| Some(r.started_at.timestamp_millis()))
                .collect::<TimestampMillisecondArray>()
                .with_timezone("UTC"),
        ),
        Arc::new(
            records
                .iter()
                .map(|r| r.ended_at.map(|t| t.timestamp_millis()))
                .collect::<TimestampMillisecondArray>()
                .with_timezone("UTC"),
        ),
        Arc::new(Float64Array::from_iter_values(
            records.iter().map(RunRecord::elapsed_s),
        )),
        text(|r| r.options.select.clone()),
        Arc::new(
            records
                .iter()
                .map(|r| Some(r.options.full_refresh))
                .collect::<BooleanArray>(),
        ),
        Arc::new(UInt64Array::from_iter_values(records.iter().map(|r| {
            r.models.iter().filter(|m| m.version.is_some()).count() as u64
        }))),
        text(|r| Some(r.host.clone())),
        Arc::new(UInt32Array::from_iter_values(records.iter().map(|r| r.pid))),
        text(|r| r.error.clone()),
    ];
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// One row per model of each run, in the order the models finished.
pub fn models_batch(records: &[RunRecord]) -> Result<RecordBatch> {
    let rows: Vec<(&RunRecord, &super::record::ModelRun)> = records
        .iter()
        .flat_map(|r| r.models.iter().map(move |m| (r, m)))
        .collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("run_id", DataType::Utf8, false),
        Field::new("model", DataType::Utf8, false),
        Field::new("action", DataType::Utf8, false),
        Field::new("start_offset_ms", DataType::UInt64, false),
        Field::new("elapsed_ms", DataType::UInt64, false),
        Field::new("version", DataType::UInt64, true),
        Field::new("rows_added", DataType::UInt64, true),
        Field::new("rows_removed", DataType::UInt64, true),
        Field::new("error", DataType::Utf8, true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(
            rows.iter()
                .map(|(r, _)| Some(r.run_id.as_str()))
                .collect::<StringArray>(),
        ),
        Arc::new(
            rows.iter()
                .map(|(_, m)| Some(m.model.as_str()))
                .collect::<StringArray>(),
        ),
        Arc::new(
            rows.iter()
                .map(|(_, m)| Some(m.action.as_str()))
                .collect::<StringArray>(),
        ),
        Arc::new(UInt64Array::from_iter_values(
            rows.iter().map(|(_, m)| m.start_offset_ms),
        )),
        Arc::new(UInt64Array::from_iter_values(
            rows.iter().map(|(_, m)| m.elapsed_ms),
        )),
        Arc::new(rows.iter().map(|(_, m)| m.version).collect::<UInt64Array>()),
        Arc::new(
            rows.iter()
                .map(|(_, m)| m.rows_added)
                .collect::<UInt64Array>(),
        ),
        Arc::new(
            rows.iter()
                .map(|(_, m)| m.rows_removed)
                .collect::<UInt64Array>(),
        ),
        Arc::new(
            rows.iter()
                .map(|(_, m)| m.error.as_deref())
                .collect::<StringArray>(),
        ),
    ];
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// Registers `stride.runs` and `stride.run_models` in `ctx` when `sql` names the
/// `stride` schema (reading the history costs a listing and a read per run).
pub async fn register(ctx: &SessionContext, lake: &Lake, sql: &str) -> Result<()> {
    if !sql.to_ascii_lowercase().contains(&format!("{SCHEMA}.")) {
        return Ok(());
    }
    let records = super::store::list(lake, None).await?;
    let catalog = ctx
        .catalog("datafusion")
        .ok_or_else(|| Error::Task("the query session has no default catalog".into()))?;
    catalog.register_schema(SCHEMA, Arc::new(MemorySchemaProvider::new()))?;
    for (name, batch) in [
        ("runs", runs_batch(&records)?),
        ("run_models", models_batch(&records)?),
    ] {
        let table = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
        ctx.register_table(format!("{SCHEMA}.{name}").as_str(), Arc::new(table))?;
    }
    Ok(())
}
