//! An incremental model's result committed with its strategy, in one match: merge by
//! key, append, or delete+insert. A result may mark rows as deletions
//! (`_op = 'd'`); no strategy stores them or the `_op` column.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use datafusion::common::{JoinType, ScalarValue};
use datafusion::datasource::provider_as_source;
use datafusion::execution::SessionState;
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, col, lit};
use datafusion::prelude::{DataFrame, ident};
use deltalake::DeltaTable;

use super::write::{
    Committed, OP_COLUMN, append, delete_keys_and_insert, has_deletion_vectors, merge, record_only,
    replace_keys,
};
use crate::error::{Error, Result};
use crate::models::Strategy;

/// What is committed to an incremental model's table, besides its rows.
pub struct Increment<'a> {
    /// The model's name, for errors.
    pub model: &'a str,
    /// How the rows are applied.
    pub strategy: Strategy,
    /// The columns that identify a row (merge and delete+insert).
    pub unique_key: &'a [String],
    /// stride's record of what this version consumed.
    pub info: serde_json::Value,
}

/// Applies `frame`, a model's incremental result, to its `table` with the model's
/// strategy, in one commit:
/// - merge: rows matching a stored key update it, the others are inserted, and a
///   deletion removes its key;
/// - append: the rows are added as they are (deletions dropped);
/// - delete+insert: every key in the result (deletions included) is cleared, then
///   the result's other rows are inserted.
///
/// delete+insert reads `frame` twice (its keys, then its rows): hand it a result
/// that is held, not one computed again on each read.
pub async fn commit_increment(
    table: DeltaTable,
    increment: Increment<'_>,
    frame: DataFrame,
    state: &SessionState,
) -> Result<(DeltaTable, Committed)> {
    let model = increment.model;
    let fail = |e: datafusion::error::DataFusionError| Error::in_model(model, e);
    let has_op = frame.schema().has_column_with_unqualified_name(OP_COLUMN);
    let info = increment.info;
    match increment.strategy {
        Strategy::Merge => {
            let frame = if has_op {
                deletions_of_stored_keys(&table, increment.unique_key, frame, state)
                    .await
                    .map_err(|e| Error::in_model(model, e))?
            } else {
                frame
            };
            merge(table, model, frame, increment.unique_key, state, info).await
        }
        Strategy::Append => {
            let frame = without_deletions(frame, has_op).map_err(fail)?;
            append(table, model, frame, state, info).await
        }
        Strategy::DeleteInsert => {
            let key = increment
                .unique_key
                .first()
                .map(String::as_str)
                .unwrap_or_default();
            let keys = distinct_keys(frame.clone(), key).await.map_err(fail)?;
            if keys.is_empty() {
                return record_only(table, model, info).await;
            }
            let rows = without_deletions(frame, has_op).map_err(fail)?;
            let schema = Arc::new(rows.schema().as_arrow().clone());
            let mut rows: Vec<RecordBatch> = rows
                .collect()
                .await
                .map_err(fail)?
                .into_iter()
                .filter(|batch| batch.num_rows() > 0)
                .collect();
            if rows.is_empty() {
                // Only deletions: delta-rs needs a (possibly empty) batch to write.
                rows.push(RecordBatch::new_empty(schema));
            }
            if has_deletion_vectors(&table) {
                return delete_keys_and_insert(table, model, key, keys, rows, info).await;
            }
            replace_keys(table, model, key, keys, rows, state, info).await
        }
    }
}

/// The rows to store: deletions (`_op = 'd'`) dropped, `_op` itself dropped.
pub fn without_deletions(frame: DataFrame, has_op: bool) -> datafusion::error::Result<DataFrame> {
    if !has_op {
        return Ok(frame);
    }
    frame
        .filter(col(OP_COLUMN).is_null().or(col(OP_COLUMN).not_eq(lit("d"))))?
        .drop_columns(&[OP_COLUMN])
}

/// The values of column `key` in `frame`, once each, NULL left out.
async fn distinct_keys(frame: DataFrame, key: &str) -> datafusion::error::Result<Vec<ScalarValue>> {
    let mut keys: HashSet<ScalarValue> = HashSet::new();
    for batch in frame.select(vec![ident(key)])?.collect().await? {
        let column = batch.column(0);
        for i in 0..batch.num_rows() {
            keys.insert(ScalarValue::try_from_array(column, i)?);
        }
    }
    Ok(keys.into_iter().filter(|k| !k.is_null()).collect())
}

/// Keeps the deletions (`_op = 'd'`) only for keys the table holds. delta-rs 1.1
/// writes an all-null change-feed row for a source row that no MERGE clause takes,
/// which breaks the table's NOT NULL checks; a deletion of an absent key is such a
/// row.
async fn deletions_of_stored_keys(
    table: &DeltaTable,
    unique_key: &[String],
    frame: DataFrame,
    state: &SessionState,
) -> Result<DataFrame> {
    let provider = super::provider(table, state).await?;
    let keys: Vec<&str> = unique_key.iter().map(String::as_str).collect();
    let plan = LogicalPlanBuilder::scan("stored", provider_as_source(provider), None)?.build()?;
    let stored = DataFrame::new(state.clone(), plan)
        .select_columns(&keys)?
        .alias("stored_keys")?;
    let source = frame.alias("result")?;
    let deleted = col(format!("result.{OP_COLUMN}")).eq(lit("d"));
    let on: Vec<Expr> = keys
        .iter()
        .map(|k| col(format!("result.{k}")).eq(col(format!("stored_keys.{k}"))))
        .collect();
    let upserts = source.clone().filter(
        col(format!("result.{OP_COLUMN}"))
            .is_null()
            .or(Expr::Not(Box::new(deleted.clone()))),
    )?;
    let deletions = source
        .filter(deleted)?
        .join_on(stored, JoinType::LeftSemi, on)?;
    Ok(upserts.union(deletions)?)
}
