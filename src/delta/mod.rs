//! Model outputs as Delta Lake tables: the commits that make a model's result
//! visible ([`write`]; an incremental result by its strategy, [`strategy`]), reading them back now or at an earlier version, the commit
//! log ([`log`]), and compaction and clean-up ([`maintenance`]).

mod deletion_vector;
mod key_set;
mod layout;
mod log;
mod maintenance;
mod stage;
mod strategy;
mod write;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use datafusion::catalog::TableProvider;
use datafusion::execution::SessionState;
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError};

pub use deletion_vector::decode_inline as decode_deletion_vector;
pub use deletion_vector::encode_inline as encode_deletion_vector;
pub use layout::file_properties;
pub use log::{CommitRecord, read_log, stride_commit_before};
pub use maintenance::{optimize, vacuum};
pub use stage::{Staged, commit as commit_staged, stage};
pub use strategy::{Increment, commit_increment, without_deletions};
pub use write::{
    Committed, OP_COLUMN, append, change_feed, change_feed_fields, delete_keys_and_insert,
    has_deletion_vectors, merge, open_or_create_handle, overwrite, record_only, replace_keys,
};

use crate::error::{Error, Result};
use crate::lake::Lake;

/// The key of stride's entry in each commit's `commitInfo`.
pub const COMMIT_INFO_KEY: &str = "stride";

/// Which state of a table to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsOf {
    /// The latest version.
    Latest,
    /// A Delta version number.
    Version(u64),
    /// The latest version committed at or before this time.
    Time(DateTime<Utc>),
}

/// Plans `frame`, the query of `model`, for execution; the physical plan is traced
/// (`RUST_LOG=stride=trace`) so a slow or stuck model can be read off its plan.
pub async fn physical_plan(
    model: &str,
    frame: datafusion::prelude::DataFrame,
) -> datafusion::error::Result<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
    let plan = frame.create_physical_plan().await?;
    tracing::trace!(
        "{model}: plan\n{}",
        datafusion::physical_plan::displayable(plan.as_ref()).indent(true)
    );
    Ok(plan)
}

/// Opens the Delta table of `model` at its latest version, or `None` when it has
/// never been committed.
pub async fn open(lake: &Lake, model: &str) -> Result<Option<DeltaTable>> {
    open_as_of(lake, model, AsOf::Latest).await
}

/// Opens the Delta table of `model` as of `as_of`; `None` when the table does not
/// exist or did not exist yet at that point.
pub async fn open_as_of(lake: &Lake, model: &str, as_of: AsOf) -> Result<Option<DeltaTable>> {
    if !lake
        .folder_exists(&format!("{}/_delta_log", lake.model_folder(model)))
        .await?
    {
        return Ok(None);
    }
    let mut table = handle(lake, model).await?;
    let Some(latest) = table.version() else {
        return Ok(None);
    };
    match as_of {
        AsOf::Latest => {}
        AsOf::Version(version) if version > latest => return Ok(None),
        AsOf::Version(version) => table
            .load_version(version)
            .await
            .map_err(|e| Error::in_model(model, e))?,
        AsOf::Time(time) => {
            let at = log::version_at(&table, time.timestamp_millis())
                .await
                .map_err(|e| Error::in_model(model, e))?;
            match at {
                None => return Ok(None),
                Some(version) if version == latest => {}
                Some(version) => table
                    .load_version(version)
                    .await
                    .map_err(|e| Error::in_model(model, e))?,
            }
        }
    }
    Ok(Some(table))
}

/// Why `model` has no table at `as_of`, in words that name the model and what it
/// has instead: no table yet, no such version (and the latest), or a time before
/// its first version (and when that was committed). Like Delta and Spark, a time
/// before the first version is not read as the first version.
pub async fn no_version_explained(lake: &Lake, model: &str, as_of: AsOf) -> String {
    let table = match open(lake, model).await {
        Ok(Some(table)) => table,
        Ok(None) => return format!("model {model} has no table yet (run it first)"),
        Err(e) => return format!("model {model}: {e}"),
    };
    let latest = version_of(&table);
    match as_of {
        AsOf::Latest => format!("model {model} has no table yet (run it first)"),
        AsOf::Version(v) => {
            format!("model {model} has no version {v}: its latest version is {latest}")
        }
        AsOf::Time(t) => {
            let first = log::first_commit(&table).await.ok().flatten();
            match first {
                Some((version, at)) => format!(
                    "model {model} did not exist yet at {}: its first version ({version}) \
                     was committed at {}",
                    t.format("%Y-%m-%d %H:%M:%S%.3f UTC"),
                    at.format("%Y-%m-%d %H:%M:%S%.3f UTC")
                ),
                None => format!(
                    "model {model} has no version committed at or before {}",
                    t.format("%Y-%m-%d %H:%M:%S%.3f UTC")
                ),
            }
        }
    }
}

/// `model`'s table, loaded when it exists and empty (ready to be created) when it
/// does not. delta-rs reads and commits through the lake's own store, so local and
/// S3 lakes share its settings (retries, timeouts) and its traffic count.
pub async fn handle(lake: &Lake, model: &str) -> Result<DeltaTable> {
    let url = lake.model_url(model);
    let mut table = DeltaTableBuilder::from_url(url.clone())
        .and_then(|builder| {
            builder
                .with_storage_backend(Arc::clone(lake.store()), url)
                .build()
        })
        .map_err(|e| Error::in_model(model, e))?;
    match table.load().await {
        Ok(()) | Err(DeltaTableError::NotATable(_)) => Ok(table),
        Err(e) => Err(Error::in_model(model, e)),
    }
}

/// The Arrow type a Delta table stores a column of type `arrow` as (an unsigned
/// integer as a signed one, any timestamp in microseconds, any string layout as
/// `Utf8`): what a full rebuild of a model makes of its result's columns. A type
/// Delta has no mapping for is returned as it is.
pub fn stored_type(arrow: &arrow::datatypes::DataType) -> arrow::datatypes::DataType {
    use deltalake::kernel::DataType as DeltaType;
    use deltalake::kernel::engine::arrow_conversion::{TryFromArrow, TryFromKernel};
    DeltaType::try_from_arrow(arrow)
        .and_then(|delta| arrow::datatypes::DataType::try_from_kernel(&delta))
        .unwrap_or_else(|_| arrow.clone())
}

/// A DataFusion provider reading `table` at the version it is loaded at.
pub async fn provider(table: &DeltaTable, state: &SessionState) -> Result<Arc<dyn TableProvider>> {
    table.update_datafusion_session(state)?;
    Ok(table.table_provider().await?)
}

/// The table's version number (tables stride opens always have one).
pub fn version_of(table: &DeltaTable) -> u64 {
    table.version().unwrap_or_default()
}

/// A fingerprint of `table`'s commit `version`: the SHA-256 of its log entry, in
/// hex; `None` when the entry cannot be read (gone after a checkpoint and log
/// clean-up). Two tables' versions with one fingerprint hold the same change.
pub async fn commit_fingerprint(table: &DeltaTable, version: u64) -> Option<String> {
    use sha2::Digest;
    let entry = table
        .log_store()
        .read_commit_entry(version)
        .await
        .ok()
        .flatten()?;
    let digest = sha2::Sha256::digest(&entry);
    Some(digest.iter().map(|b| format!("{b:02x}")).collect())
}

/// Rows in the table at its loaded version, from the file statistics in the log,
/// less the rows deletion vectors remove.
pub fn row_count(table: &DeltaTable) -> u64 {
    table.snapshot().map_or(0, |snapshot| {
        snapshot
            .log_data()
            .iter()
            .map(|file| {
                let deleted = file
                    .deletion_vector_descriptor()
                    .map_or(0, |dv| dv.cardinality.max(0) as u64);
                (file.num_records().unwrap_or(0) as u64).saturating_sub(deleted)
            })
            .sum()
    })
}
