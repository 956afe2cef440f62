//! Model outputs as Delta Lake tables: the commit that makes a model's result
//! visible, and the table providers that read them back.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::execution::SessionState;
use datafusion::logical_expr::LogicalPlan;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::operations::write::SchemaMode;
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, DeltaTableError};
use futures::StreamExt;

use crate::error::{Error, Result};
use crate::lake::{Lake, WAREHOUSE};

/// The key of stride's entry in each commit's `commitInfo`.
pub const COMMIT_INFO_KEY: &str = "stride";

/// What one commit made visible.
#[derive(Debug, Clone)]
pub struct Committed {
    /// The new table version.
    pub version: u64,
    /// Rows written by the commit.
    pub rows: u64,
}

/// Opens the Delta table of `model`, or `None` when it has never been committed.
pub async fn open(lake: &Lake, model: &str) -> Result<Option<DeltaTable>> {
    if !lake.folder_exists(&log_folder(model)).await? {
        return Ok(None);
    }
    let table = DeltaTable::try_from_url(lake.model_url(model))
        .await
        .map_err(|e| Error::in_model(model, e))?;
    Ok(table.version().is_some().then_some(table))
}

/// Replaces the contents of `model`'s table with the rows of `plan`, streamed from
/// DataFusion into Parquet files; the Delta commit at the end is the only step that
/// makes them visible, so a failure before it leaves the previous version in place.
pub async fn overwrite(
    lake: &Lake,
    model: &str,
    plan: LogicalPlan,
    state: &SessionState,
    info: serde_json::Value,
) -> Result<(DeltaTable, Committed)> {
    let fail = |e: DeltaTableError| Error::in_model(model, e);
    lake.ensure_folder(&format!("{WAREHOUSE}/{model}"))?;
    let table = DeltaTable::try_from_url(lake.model_url(model))
        .await
        .map_err(fail)?;
    let table = table
        .write(Vec::new())
        .with_input_plan(plan)
        .with_session_state(Arc::new(state.clone()))
        .with_save_mode(SaveMode::Overwrite)
        .with_schema_mode(SchemaMode::Overwrite)
        .with_table_name(model)
        .with_commit_properties(
            CommitProperties::default().with_metadata([(COMMIT_INFO_KEY.to_string(), info)]),
        )
        .await
        .map_err(fail)?;
    let version = table.version().unwrap_or_default();
    let rows = last_commit_rows(&table).await.map_err(fail)?;
    Ok((table, Committed { version, rows }))
}

/// The folder of `model`'s Delta log, relative to the lake root.
fn log_folder(model: &str) -> String {
    format!("{WAREHOUSE}/{model}/_delta_log")
}

/// A DataFusion provider reading `table` at the version it is loaded at.
pub async fn provider(table: &DeltaTable, state: &SessionState) -> Result<Arc<dyn TableProvider>> {
    table.update_datafusion_session(state)?;
    Ok(table.table_provider().await?)
}

async fn last_commit_rows(table: &DeltaTable) -> Result<u64, DeltaTableError> {
    let mut history = table.history(Some(1));
    if let Some(info) = history.next().await {
        let info = info?;
        return Ok(metric(&info.info, "num_added_rows"));
    }
    Ok(0)
}

fn metric(info: &HashMap<String, serde_json::Value>, name: &str) -> u64 {
    info.get("operationMetrics")
        .and_then(|m| m.get(name))
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0)
}
