//! Compaction and clean-up of model tables. Incremental runs add small files;
//! `optimize` rewrites them into fewer large ones (a commit without data change);
//! `vacuum` deletes files no version within the retention period needs, which ends
//! time travel to the versions that read them.

use chrono::Duration;
use deltalake::DeltaTable;

use crate::error::{Error, Result};

/// Compacts `table`'s small files; returns (files removed, files added).
pub async fn optimize(table: DeltaTable, model: &str) -> Result<(DeltaTable, u64, u64)> {
    let (table, metrics) = table
        .optimize()
        .with_writer_properties(super::file_properties())
        .await
        .map_err(|e| Error::in_model(model, e))?;
    Ok((table, metrics.num_files_removed, metrics.num_files_added))
}

/// Deletes the files of `table` that no version newer than `retain_hours` ago reads,
/// and the log entries older than the table's log retention (30 days unless its
/// `delta.logRetentionDuration` says otherwise) that a checkpoint covers; returns
/// how many data files were deleted. Runs' commits leave the log alone, so this
/// is where it is kept short.
pub async fn vacuum(table: DeltaTable, model: &str, retain_hours: u64) -> Result<usize> {
    let hours = i64::try_from(retain_hours).unwrap_or(i64::MAX / 3_600_000);
    let (table, metrics) = table
        .vacuum()
        .with_retention_period(Duration::hours(hours))
        .with_enforce_retention_duration(false)
        .await
        .map_err(|e| Error::in_model(model, e))?;
    let cleans_up = table
        .snapshot()
        .is_ok_and(|s| s.table_config().enable_expired_log_cleanup.unwrap_or(true));
    if cleans_up {
        deltalake::checkpoints::cleanup_metadata(&table, None)
            .await
            .map_err(|e| Error::in_model(model, e))?;
    }
    Ok(metrics.files_deleted.len())
}
