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
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::operations::write::SchemaMode;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::{DeltaTable, DeltaTableError, TableProperty};

use super::key_set::KeySet;
use super::{COMMIT_INFO_KEY, version_of};
use crate::error::{Error, Result};
use crate::lake::{Lake, WAREHOUSE};

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

fn properties(info: serde_json::Value) -> CommitProperties {
    CommitProperties::default().with_metadata([(COMMIT_INFO_KEY.to_string(), info)])
}

async fn open_or_create_handle(lake: &Lake, model: &str) -> Result<DeltaTable> {
    lake.ensure_folder(&format!("{WAREHOUSE}/{model}"))?;
    DeltaTable::try_from_url(lake.model_url(model))
        .await
        .map_err(|e| Error::in_model(model, e))
}

/// Replaces the contents of `model`'s table with the rows of `frame`, streamed into
/// Parquet. A new table is created with the change data feed on, so the models
/// downstream can read what later incremental commits changed.
pub async fn overwrite(
    lake: &Lake,
    model: &str,
    frame: DataFrame,
    state: &SessionState,
    info: serde_json::Value,
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
        .with_configuration([(TableProperty::EnableChangeDataFeed.as_ref(), Some("true"))])
        .with_commit_properties(properties(info))
        .await
        .map_err(fail)?;
    let rows_added = super::row_count(&table);
    Ok((
        table.clone(),
        Committed {
            version: version_of(&table),
            rows_added,
            rows_removed: rows_before,
        },
    ))
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
        .with_commit_properties(properties(info))
        .await
        .map_err(|e| Error::in_model(model, e))?;
    let after = super::row_count(&table);
    Ok((
        table.clone(),
        Committed {
            version: version_of(&table),
            rows_added: after.saturating_sub(before),
            rows_removed: 0,
        },
    ))
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
    let mut builder = table
        .merge(frame, on)
        .with_source_alias("source")
        .with_target_alias("target")
        .with_session_state(Arc::new(state.clone()))
        .with_commit_properties(properties(info));
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
    Ok((
        table.clone(),
        Committed {
            version: version_of(&table),
            rows_added: (metrics.num_target_rows_inserted + metrics.num_target_rows_updated) as u64,
            rows_removed: (metrics.num_target_rows_deleted + metrics.num_target_rows_updated)
                as u64,
        },
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
        .with_commit_properties(properties(info))
        .await
        .map_err(|e| Error::in_model(model, e))?;
    let after = super::row_count(&table);
    Ok((
        table.clone(),
        Committed {
            version: version_of(&table),
            rows_added: added as u64,
            rows_removed: (before + added as u64).saturating_sub(after),
        },
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
    let lookup = Arc::new(KeySet::udf(&keys));
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
    let fail = |e: DeltaTableError| Error::in_model(model, e);
    let snapshot = table.snapshot().map_err(fail)?;
    let commit = CommitBuilder::from(properties(info))
        .with_actions(Vec::new())
        .build(
            Some(snapshot),
            table.log_store(),
            DeltaOperation::Write {
                mode: SaveMode::Append,
                partition_by: None,
                predicate: None,
            },
        )
        .await
        .map_err(fail)?;
    let mut table = table.clone();
    table.load_version(commit.version).await.map_err(fail)?;
    Ok((
        table,
        Committed {
            version: commit.version,
            rows_added: 0,
            rows_removed: 0,
        },
    ))
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
