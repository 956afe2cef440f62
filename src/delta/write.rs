//! The commits that make a model's result visible. Each writes Parquet files first
//! and then one Delta commit, the only step that publishes them: a failure or a kill
//! before it leaves the previous version in place (and orphan files that `vacuum`
//! removes). stride's record of what the version consumed rides in the same commit.

use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::common::ScalarValue;
use datafusion::execution::SessionState;
use datafusion::logical_expr::{Expr, col, lit};
use datafusion::prelude::DataFrame;
use deltalake::delta_datafusion::DeltaCdfTableProvider;
use deltalake::kernel::Action;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::operations::write::SchemaMode;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::{DeltaTable, DeltaTableError, TableProperty};

use super::deletion_vector::delete_actions;
use super::key_set::{KeySet, Keys};
use super::{COMMIT_INFO_KEY, version_of};
use crate::error::{Error, Result};
use crate::lake::Lake;

/// The table after a commit, with what it made visible.
fn committed(table: DeltaTable, rows_added: u64, rows_removed: u64) -> (DeltaTable, Committed) {
    let version = version_of(&table);
    (
        table,
        Committed {
            version,
            rows_added,
            rows_removed,
        },
    )
}

/// What one commit made visible.
#[derive(Debug, Clone)]
pub struct Committed {
    /// The new table version.
    pub version: u64,
    /// Rows the commit added (inserted, or written by an overwrite).
    pub rows_added: u64,
    /// Rows the commit removed (deleted, replaced or overwritten).
    pub rows_removed: u64,
}

/// Every commit carries stride's record, and is tried once: stride holds the lake
/// lock, so a version someone else took is not ours to resolve. On S3 it is either
/// a foreign writer or our own put that landed although its answer was lost, and
/// retrying could commit the same rows twice; failing leaves the next run to
/// read the log and carry on exactly once.
/// `operation_metrics`, when given, become the commit's `operationMetrics` (for
/// commits stride builds from actions; delta-rs's own operations add theirs).
pub(super) fn properties(
    info: serde_json::Value,
    operation_metrics: Option<serde_json::Value>,
) -> CommitProperties {
    let mut metadata = vec![(COMMIT_INFO_KEY.to_string(), info)];
    metadata.extend(operation_metrics.map(|m| ("operationMetrics".to_string(), m)));
    // Expired log entries are cleaned up by `vacuum` (maintenance.rs), not here: on
    // every commit delta-rs's clean-up lists the whole `_delta_log` (a request per
    // 1,000 entries), whatever it finds to remove.
    CommitProperties::default()
        .with_metadata(metadata)
        .with_max_retries(0)
        .with_cleanup_expired_logs(Some(false))
}

/// `model`'s table, or a handle to create it when it has none yet (its folder made).
pub async fn open_or_create_handle(lake: &Lake, model: &str) -> Result<DeltaTable> {
    lake.ensure_folder(&lake.model_folder(model))?;
    super::handle(lake, model).await
}

/// Replaces the contents of `model`'s table with the rows of `frame`, streamed into
/// Parquet. A new table is created with the change data feed on, so the models
/// downstream can read what later incremental commits changed.
///
/// With `deletion_vectors`, a new table also gets the deletion-vectors feature, so
/// [`delete_keys_and_insert`] can remove rows without rewriting files.
pub async fn overwrite(
    lake: &Lake,
    model: &str,
    frame: DataFrame,
    state: &SessionState,
    info: serde_json::Value,
    deletion_vectors: bool,
) -> Result<(DeltaTable, Committed)> {
    let fail = |e: DeltaTableError| Error::in_model(model, e);
    let table = open_or_create_handle(lake, model).await?;
    let rows_before = if table.version().is_some() {
        super::row_count(&table)
    } else {
        0
    };
    let table = table
        .write(Vec::new())
        .with_input_plan(frame.into_unoptimized_plan())
        .with_session_state(Arc::new(state.clone()))
        .with_save_mode(SaveMode::Overwrite)
        .with_schema_mode(SchemaMode::Overwrite)
        .with_table_name(model)
        .with_configuration(table_properties(deletion_vectors))
        .with_writer_properties(super::file_properties())
        .with_commit_properties(properties(info, None))
        .await
        .map_err(fail)?;
    let rows_added = super::row_count(&table);
    Ok(committed(table, rows_added, rows_before))
}

/// The properties of a new model table: always the change data feed, and deletion
/// vectors when asked.
pub(super) fn table_properties(
    deletion_vectors: bool,
) -> Vec<(&'static str, Option<&'static str>)> {
    let mut properties = vec![(TableProperty::EnableChangeDataFeed.as_ref(), Some("true"))];
    if deletion_vectors {
        properties.push((TableProperty::EnableDeletionVectors.as_ref(), Some("true")));
    }
    properties
}

/// Whether `table` was created with the deletion-vectors feature.
pub fn has_deletion_vectors(table: &DeltaTable) -> bool {
    table.snapshot().is_ok_and(|s| {
        s.metadata()
            .configuration()
            .get(TableProperty::EnableDeletionVectors.as_ref())
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    })
}

/// Marks every row whose `key` is one of `keys` as deleted (deletion vectors) and
/// appends `rows`, in one commit. Only the key column of the files whose key range
/// may hold a key is read; no file is rewritten.
pub async fn delete_keys_and_insert(
    table: DeltaTable,
    model: &str,
    key: &str,
    keys: Vec<ScalarValue>,
    rows: Vec<RecordBatch>,
    info: serde_json::Value,
) -> Result<(DeltaTable, Committed)> {
    let fail = |e: DeltaTableError| Error::in_model(model, e);
    let keys = Arc::new(Keys::new(&keys));
    let started = std::time::Instant::now();
    let deletion = delete_actions(&table, model, key, Arc::clone(&keys)).await?;
    tracing::debug!(
        "{model}: {} keys located in {:.2}s",
        keys.len(),
        started.elapsed().as_secs_f64()
    );
    let mut actions = deletion.actions;
    let schema = table.snapshot().map_err(fail)?.snapshot().arrow_schema();
    let in_model = |e: Error| Error::in_model(model, e);
    let deleted: Vec<RecordBatch> = deletion
        .rows
        .iter()
        .map(|b| conform(b, &schema))
        .collect::<Result<_>>()
        .map_err(in_model)?;
    let inserted: Vec<RecordBatch> = rows
        .iter()
        .filter(|b| b.num_rows() > 0)
        .map(|b| conform(b, &schema))
        .collect::<Result<_>>()
        .map_err(in_model)?;
    let rows_removed: u64 = deleted.iter().map(|b| b.num_rows() as u64).sum();
    let rows_added: u64 = inserted.iter().map(|b| b.num_rows() as u64).sum();
    if !inserted.is_empty() {
        let mut writer = RecordBatchWriter::for_table(&table)
            .map_err(fail)?
            .with_writer_properties(super::file_properties());
        for batch in inserted.iter().cloned() {
            writer.write(batch).await.map_err(fail)?;
        }
        actions.extend(
            writer
                .flush()
                .await
                .map_err(fail)?
                .into_iter()
                .map(Action::Add),
        );
    }
    // The change data feed of this commit, written out: delta-rs 1.1 cannot derive
    // it from deletion vectors in files of more than one row group.
    if let Some(cdc) = write_change_data(&table, &schema, &deleted, &inserted)
        .await
        .map_err(in_model)?
    {
        actions.push(cdc);
    }
    let operation = DeltaOperation::Write {
        mode: SaveMode::Overwrite,
        partition_by: None,
        predicate: Some(format!("{key} in ({} keys)", keys.len())),
    };
    let metrics = Metrics {
        rows_added,
        rows_removed,
    };
    let table = commit_actions(table, model, actions, operation, info, metrics).await?;
    Ok(committed(table, rows_added, rows_removed))
}

/// Writes `deleted` and `inserted` as one change-data file (with `_change_type`)
/// under `_change_data/`, and returns its action; `None` when both are empty.
async fn write_change_data(
    table: &DeltaTable,
    schema: &arrow::datatypes::SchemaRef,
    deleted: &[RecordBatch],
    inserted: &[RecordBatch],
) -> Result<Option<Action>> {
    use arrow::array::StringArray;
    use arrow::datatypes::{DataType, Field, Schema};
    use object_store::ObjectStoreExt;
    use parquet::arrow::ArrowWriter;

    if deleted.is_empty() && inserted.is_empty() {
        return Ok(None);
    }
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new("_change_type", DataType::Utf8, false));
    let cdc_schema = Arc::new(Schema::new(fields));
    let mut buffer = Vec::new();
    let mut writer = ArrowWriter::try_new(
        &mut buffer,
        cdc_schema.clone(),
        Some(super::file_properties()),
    )?;
    for (batches, kind) in [(deleted, "delete"), (inserted, "insert")] {
        for batch in batches {
            let mut columns = batch.columns().to_vec();
            columns.push(Arc::new(StringArray::from(vec![kind; batch.num_rows()])));
            writer.write(&RecordBatch::try_new(cdc_schema.clone(), columns)?)?;
        }
    }
    writer.close()?;
    let stamp = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let relative = format!(
        "_change_data/cdc-{stamp:020}-{}.snappy.parquet",
        std::process::id()
    );
    let size = buffer.len() as i64;
    let store = table.log_store().object_store(None);
    store
        .put(
            &object_store::path::Path::from(relative.as_str()),
            buffer.into(),
        )
        .await
        .map_err(|source| Error::Store {
            path: relative.clone(),
            source,
        })?;
    Ok(Some(Action::Cdc(deltalake::kernel::AddCDCFile {
        path: relative,
        size,
        partition_values: Default::default(),
        data_change: false,
        tags: None,
    })))
}

/// `batch` with the table's column order and types (a plan may read strings as
/// views, or make a column nullable that the table holds without nulls). A value
/// the table's type cannot hold is an error naming the column and the value, never
/// a NULL: Arrow's default (`safe`) cast would store one silently.
pub(super) fn conform(
    batch: &RecordBatch,
    schema: &arrow::datatypes::SchemaRef,
) -> Result<RecordBatch> {
    let columns = schema
        .fields()
        .iter()
        .map(|field| {
            let column = batch.column_by_name(field.name()).ok_or_else(|| {
                Error::Schema(format!("the result has no column `{}`", field.name()))
            })?;
            cast_exactly(column, field)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// `column` cast to `field`'s type, or an error naming a value that does not fit.
fn cast_exactly(
    column: &arrow::array::ArrayRef,
    field: &arrow::datatypes::Field,
) -> Result<arrow::array::ArrayRef> {
    use arrow::array::Array;
    if column.data_type() == field.data_type() {
        return Ok(Arc::clone(column));
    }
    let cast = arrow::compute::cast(column, field.data_type())?;
    let lost = (0..column.len()).find(|&i| column.is_valid(i) && cast.is_null(i));
    if let Some(row) = lost {
        let value = arrow::util::display::array_value_to_string(column, row)
            .unwrap_or_else(|_| "?".to_string());
        return Err(Error::Schema(format!(
            "column `{}`: the value {value} ({}) does not fit the table's type {}",
            field.name(),
            column.data_type(),
            field.data_type()
        )));
    }
    Ok(cast)
}

/// The columns Delta's change data feed adds to a table's own, with the types the
/// feed reads them as: every `changes(ref(...))` a model reads has exactly these,
/// whether it holds a feed, a whole table (a rebuild) or nothing.
pub fn change_feed_fields() -> [arrow::datatypes::Field; 3] {
    use arrow::datatypes::{DataType, Field, TimeUnit};
    [
        Field::new("_change_type", DataType::Utf8, true),
        Field::new("_commit_version", DataType::UInt64, true),
        Field::new(
            "_commit_timestamp",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            true,
        ),
    ]
}

/// Appends the rows of `frame` to `table`.
pub async fn append(
    table: DeltaTable,
    model: &str,
    frame: DataFrame,
    state: &SessionState,
    info: serde_json::Value,
) -> Result<(DeltaTable, Committed)> {
    let before = super::row_count(&table);
    let table = table
        .write(Vec::new())
        .with_input_plan(frame.into_unoptimized_plan())
        .with_session_state(Arc::new(state.clone()))
        .with_save_mode(SaveMode::Append)
        .with_writer_properties(super::file_properties())
        .with_commit_properties(properties(info, None))
        .await
        .map_err(|e| Error::in_model(model, e))?;
    let after = super::row_count(&table);
    Ok(committed(table, after.saturating_sub(before), 0))
}

/// Delta MERGE of `frame` into `table` on `unique_key`. When `frame` has an `_op`
/// column, matched rows with `_op = 'd'` are deleted and such rows are never
/// inserted; `_op` is not stored.
pub async fn merge(
    table: DeltaTable,
    model: &str,
    frame: DataFrame,
    unique_key: &[String],
    state: &SessionState,
    info: serde_json::Value,
) -> Result<(DeltaTable, Committed)> {
    let fail = |e: DeltaTableError| Error::in_model(model, e);
    let has_op = frame.schema().has_column_with_unqualified_name(OP_COLUMN);
    let columns: Vec<String> = frame
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|name| name != OP_COLUMN)
        .collect();
    let on = unique_key
        .iter()
        .map(|k| col(format!("target.{k}")).eq(col(format!("source.{k}"))))
        .reduce(Expr::and)
        .ok_or_else(|| Error::in_model(model, DeltaTableError::generic("no unique_key")))?;
    let deleted = col(format!("source.{OP_COLUMN}")).eq(lit("d"));
    let before = version_of(&table);
    let record = info.clone();
    let mut builder = table
        .merge(frame, on)
        .with_source_alias("source")
        .with_target_alias("target")
        .with_session_state(Arc::new(state.clone()))
        .with_writer_properties(super::file_properties())
        .with_commit_properties(properties(info, None));
    if has_op {
        builder = builder
            .when_matched_delete(|delete| delete.predicate(deleted.clone()))
            .map_err(fail)?;
    }
    builder = builder
        .when_matched_update(|mut update| {
            for column in &columns {
                update = update.update(column.as_str(), col(format!("source.{column}")));
            }
            update
        })
        .map_err(fail)?
        .when_not_matched_insert(|mut insert| {
            if has_op {
                insert = insert.predicate(Expr::Not(Box::new(deleted.clone())));
            }
            for column in &columns {
                insert = insert.set(column.as_str(), col(format!("source.{column}")));
            }
            insert
        })
        .map_err(fail)?;
    let (table, metrics) = builder.await.map_err(fail)?;
    if version_of(&table) == before {
        // delta-rs commits nothing when no row changed; the record still must be
        // committed, or the next run reads the same changes again and the model
        // stays behind the inputs it has in fact consumed.
        return record_only(table, model, record).await;
    }
    Ok(committed(
        table,
        (metrics.num_target_rows_inserted + metrics.num_target_rows_updated) as u64,
        (metrics.num_target_rows_deleted + metrics.num_target_rows_updated) as u64,
    ))
}

/// The column that marks a result row as a deletion (`'d'`).
pub const OP_COLUMN: &str = "_op";

/// Removes every row of `table` whose `key` is one of `keys`, and inserts `rows`, in
/// one commit (Delta's replaceWhere). Only files holding one of the keys are
/// rewritten.
pub async fn replace_keys(
    table: DeltaTable,
    model: &str,
    key: &str,
    keys: Vec<ScalarValue>,
    rows: Vec<RecordBatch>,
    state: &SessionState,
    info: serde_json::Value,
) -> Result<(DeltaTable, Committed)> {
    let before = super::row_count(&table);
    let added: usize = rows.iter().map(RecordBatch::num_rows).sum();
    let predicate = key_predicate(key, keys);
    let table = table
        .write(rows)
        .with_session_state(Arc::new(state.clone()))
        .with_save_mode(SaveMode::Overwrite)
        .with_replace_where(predicate)
        .with_writer_properties(super::file_properties())
        .with_commit_properties(properties(info, None))
        .await
        .map_err(|e| Error::in_model(model, e))?;
    let after = super::row_count(&table);
    Ok(committed(
        table,
        added as u64,
        (before + added as u64).saturating_sub(after),
    ))
}

/// `key IN (keys)` as a hash lookup, with the keys' overall range in front: file
/// statistics can prune on a range (the lookup itself cannot be used for pruning).
fn key_predicate(key: &str, mut keys: Vec<ScalarValue>) -> Expr {
    keys.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    keys.dedup();
    let (Some(low), Some(high)) = (keys.first().cloned(), keys.last().cloned()) else {
        return lit(false);
    };
    let lookup = Arc::new(KeySet::udf(Arc::new(Keys::new(&keys))));
    col(key)
        .gt_eq(lit(low))
        .and(col(key).lt_eq(lit(high)))
        .and(lookup.call(vec![col(key)]))
}

/// Commits no data, only stride's record: for a model whose inputs changed without
/// changing any of its rows, so the next run does not read those changes again.
pub async fn record_only(
    table: DeltaTable,
    model: &str,
    info: serde_json::Value,
) -> Result<(DeltaTable, Committed)> {
    let operation = DeltaOperation::Write {
        mode: SaveMode::Append,
        partition_by: None,
        predicate: None,
    };
    let table = commit_actions(
        table,
        model,
        Vec::new(),
        operation,
        info,
        Metrics::default(),
    )
    .await?;
    Ok(committed(table, 0, 0))
}

/// Rows a commit made of actions added and removed, for its `operationMetrics`.
#[derive(Debug, Clone, Copy, Default)]
struct Metrics {
    rows_added: u64,
    rows_removed: u64,
}

/// A commit's `operationMetrics`, under the names delta-rs's WRITE and DELETE use.
pub(super) fn operation_metrics(
    rows_added: u64,
    rows_removed: u64,
    files_added: usize,
) -> serde_json::Value {
    serde_json::json!({
        "num_added_rows": rows_added,
        "num_deleted_rows": rows_removed,
        "num_added_files": files_added,
    })
}

/// Commits `actions` with stride's record and the operation's metrics (under the
/// names delta-rs's WRITE and DELETE use, so `history` and other Delta readers
/// show the rows it added and removed), and returns the table at the new version.
async fn commit_actions(
    table: DeltaTable,
    model: &str,
    actions: Vec<Action>,
    operation: DeltaOperation,
    info: serde_json::Value,
    metrics: Metrics,
) -> Result<DeltaTable> {
    let fail = |e: DeltaTableError| Error::in_model(model, e);
    let snapshot = table.snapshot().map_err(fail)?;
    let files_added = actions
        .iter()
        .filter(|a| matches!(a, Action::Add(_)))
        .count();
    let operation_metrics =
        operation_metrics(metrics.rows_added, metrics.rows_removed, files_added);
    let commit = CommitBuilder::from(properties(info, Some(operation_metrics)))
        .with_actions(actions)
        .build(Some(snapshot), table.log_store(), operation)
        .await
        .map_err(fail)?;
    // The commit hands back the table's state at its version, as delta-rs's own
    // operations use it: loading that version again would read the log again.
    let mut table = table.clone();
    table.state = Some(commit.snapshot);
    Ok(table)
}

/// What `table` changed after version `after` up to its loaded version (Delta's
/// change data feed): its columns plus `_change_type` (`insert`, `delete`,
/// `update_preimage`, `update_postimage`), `_commit_version`, `_commit_timestamp`.
pub fn change_feed(table: &DeltaTable, after: u64) -> Result<Arc<dyn TableProvider>> {
    let builder = table
        .clone()
        .scan_cdf()
        .with_starting_version(after + 1)
        .with_ending_version(version_of(table));
    Ok(Arc::new(DeltaCdfTableProvider::try_new(builder)?))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Int64Array, StringViewArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use arrow::record_batch::RecordBatch;

    use super::conform;

    fn one_column(name: &str, array: ArrayRef) -> RecordBatch {
        let schema = Schema::new(vec![Field::new(name, array.data_type().clone(), true)]);
        RecordBatch::try_new(Arc::new(schema), vec![array]).expect("batch")
    }

    #[test]
    fn a_value_that_does_not_fit_is_an_error_naming_column_and_value() {
        let batch = one_column(
            "quantity",
            Arc::new(Int64Array::from(vec![Some(3), None, Some(3_000_000_000)])),
        );
        let table = Arc::new(Schema::new(vec![Field::new(
            "quantity",
            DataType::Int32,
            true,
        )]));
        let error = conform(&batch, &table)
            .expect_err("3000000000 is not an Int32")
            .to_string();
        assert!(
            error.contains("`quantity`") && error.contains("3000000000") && error.contains("Int32"),
            "{error}"
        );
    }

    #[test]
    fn string_layouts_and_nulls_pass_unchanged() {
        let batch = one_column(
            "status",
            Arc::new(StringViewArray::from(vec![Some("placed"), None])),
        );
        let table = Arc::new(Schema::new(vec![Field::new(
            "status",
            DataType::Utf8,
            true,
        )]));
        let conformed = conform(&batch, &table).expect("strings fit");
        assert_eq!(conformed.column(0).data_type(), &DataType::Utf8);
        assert_eq!(conformed.column(0).null_count(), 1);
    }
}
