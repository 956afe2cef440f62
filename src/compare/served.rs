//! The published marts against the tables they say they come from: for each mart
//! the served DuckDB file holds, the lake, table and commit its sync table names
//! must be this lake's, and the rows its view returns must equal that version of
//! the table, row for row. A publish defect (a stale base, changes stacked on the
//! wrong one, a file from another timeline) is then caught by `stride verify` too.

use std::path::Path;
use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use serde::{Deserialize, Serialize};

use super::key::model_key;
use super::rows::{Comparison, FROM_TABLE, KeyTrust, TO_TABLE, compare};
use crate::contracts::Contracts;
use crate::delta::{self, AsOf};
use crate::engine;
use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::models::Project;
use crate::publish::{HeldServe, MartIdentity};

/// How a served mart compares with the table version it claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServedState {
    /// The view returns exactly that version's rows.
    Equal,
    /// It does not, or it claims a version this lake's table does not have.
    Differs,
    /// Nothing to compare with here: the mart comes from another lake, or the
    /// version it claims can no longer be read (vacuumed).
    NotCompared,
}

/// One served mart's verdict.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServedVerdict {
    /// The mart.
    pub mart: String,
    /// The Delta version the served file says it holds.
    pub version: u64,
    /// Equal, differs or not compared.
    pub state: ServedState,
    /// Why it differs or was not compared, when not by its rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The comparison, table version as `from`, served view as `to`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison: Option<Comparison>,
}

impl ServedVerdict {
    fn without_rows(
        mart: &str,
        identity: &MartIdentity,
        state: ServedState,
        reason: String,
    ) -> Self {
        ServedVerdict {
            mart: mart.to_string(),
            version: identity.version,
            state,
            reason: Some(reason),
            comparison: None,
        }
    }
}

/// Compares every mart served in the DuckDB file `file` with the version of this
/// lake's table it claims, with up to `examples` example rows per kind of
/// difference; empty when nothing is published there.
pub async fn served(
    lake: &Lake,
    project: &Project,
    contracts: &Contracts,
    file: &Path,
    examples: usize,
) -> Result<Vec<ServedVerdict>> {
    let Some(held) = HeldServe::hold(file)? else {
        tracing::info!(
            "verify: nothing is published at {}, so no served mart is compared",
            file.display()
        );
        return Ok(Vec::new());
    };
    let mut verdicts = Vec::new();
    for (mart, identity) in held.identities() {
        let verdict =
            served_mart(lake, project, contracts, &held, mart, identity, examples).await?;
        tracing::info!(
            "verify: served {mart} (v{}) {}",
            identity.version,
            match verdict.state {
                ServedState::Equal => "equal".to_string(),
                ServedState::Differs => "DIFFERS".to_string(),
                ServedState::NotCompared => format!(
                    "not compared: {}",
                    verdict.reason.as_deref().unwrap_or_default()
                ),
            }
        );
        verdicts.push(verdict);
    }
    Ok(verdicts)
}

async fn served_mart(
    lake: &Lake,
    project: &Project,
    contracts: &Contracts,
    held: &HeldServe,
    mart: &str,
    identity: &MartIdentity,
    examples: usize,
) -> Result<ServedVerdict> {
    let without_rows =
        |state, reason: String| ServedVerdict::without_rows(mart, identity, state, reason);
    if identity.lake != lake.identity() {
        return Ok(without_rows(
            ServedState::NotCompared,
            format!("served from another lake ({})", identity.lake),
        ));
    }
    let Ok(model) = project.model(mart) else {
        return Ok(without_rows(
            ServedState::Differs,
            "the project has no such model".to_string(),
        ));
    };
    let table = match delta::open_as_of(lake, mart, AsOf::Version(identity.version)).await? {
        Some(table) => table,
        None => {
            return Ok(without_rows(
                ServedState::Differs,
                format!(
                    "this lake's table has no version {}: the served mart is not from its history",
                    identity.version
                ),
            ));
        }
    };
    let table_id = table
        .snapshot()
        .map(|s| s.metadata().id().to_string())
        .map_err(|e| Error::in_model(mart, e))?;
    if table_id != identity.table_id {
        return Ok(without_rows(
            ServedState::Differs,
            format!(
                "served from the Delta table {}, but this lake's table is {table_id}",
                identity.table_id
            ),
        ));
    }
    match delta::commit_fingerprint(&table, identity.version).await {
        Some(commit) if commit == identity.commit => {}
        Some(_) => {
            return Ok(without_rows(
                ServedState::Differs,
                format!(
                    "version {} of this lake's table is another commit than the one served \
                     (a lake restored from a backup and run forward?)",
                    identity.version
                ),
            ));
        }
        None => {
            return Ok(without_rows(
                ServedState::NotCompared,
                format!(
                    "the log entry of version {} can no longer be read",
                    identity.version
                ),
            ));
        }
    }
    let ctx = engine::new_session();
    let provider = delta::provider(&table, &ctx.state()).await?;
    let schema = provider.schema();
    ctx.register_table(FROM_TABLE, provider)?;
    let rows = held.rows(mart)?;
    ctx.register_table(TO_TABLE, Arc::new(as_table(&schema, rows)?))?;
    let (key, _) = model_key(model, contracts, &schema);
    let comparison = match compare(&ctx, mart, &key, KeyTrust::Model, examples).await {
        Ok(comparison) => comparison,
        // A version whose files `stride vacuum` deleted cannot be read.
        Err(e) if e.to_string().contains("not found") || e.to_string().contains("No such file") => {
            return Ok(without_rows(
                ServedState::NotCompared,
                format!(
                    "version {} can no longer be read ({})",
                    identity.version,
                    crate::error::one_line(&e)
                ),
            ));
        }
        Err(e) => return Err(e),
    };
    Ok(ServedVerdict {
        mart: mart.to_string(),
        version: identity.version,
        state: if comparison.is_equal() {
            ServedState::Equal
        } else {
            ServedState::Differs
        },
        reason: None,
        comparison: Some(comparison),
    })
}

/// The served rows as a table whose columns have the types the Delta table gives
/// them (DuckDB names a time zone or a string type its own way); a column the
/// table does not have is kept as it is.
fn as_table(schema: &SchemaRef, rows: Vec<RecordBatch>) -> Result<MemTable> {
    let Some(first) = rows.first() else {
        return Ok(MemTable::try_new(Arc::clone(schema), vec![vec![]])?);
    };
    let fields: Vec<arrow::datatypes::Field> = first
        .schema()
        .fields()
        .iter()
        .map(|f| match schema.field_with_name(f.name()) {
            Ok(wanted) => f
                .as_ref()
                .clone()
                .with_data_type(wanted.data_type().clone()),
            Err(_) => f.as_ref().clone(),
        })
        .map(|f| f.with_nullable(true))
        .collect();
    let target = Arc::new(Schema::new(fields));
    let cast = rows
        .iter()
        .map(|batch| {
            let columns = batch
                .columns()
                .iter()
                .zip(target.fields())
                .map(|(column, field)| arrow::compute::cast(column, field.data_type()))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            Ok(RecordBatch::try_new(Arc::clone(&target), columns)?)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(MemTable::try_new(target, vec![cast])?)
}
