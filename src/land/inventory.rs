//! What has landed: every raw Parquet file under `raw/<table>/`, with its batch date.

use chrono::NaiveDate;
use futures::TryStreamExt;
use object_store::path::Path;

use crate::error::{Error, Result};
use crate::lake::{Lake, RAW};
use crate::sources::{PARTITION_COLUMN, SourceTable};

/// One landed raw file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LandedFile {
    /// The raw table it belongs to.
    pub table: &'static str,
    /// Its `batch_date` partition.
    pub batch_date: NaiveDate,
    /// Its path in the lake's store.
    pub path: Path,
    /// Its size in bytes.
    pub size: u64,
}

/// Lists the landed Parquet files of `table`, sorted by batch date and path.
/// Files outside a `batch_date=YYYY-MM-DD` folder, hidden files and files not
/// ending in `.parquet` are not part of the table and are skipped, like Hive readers do.
pub async fn landed_files(lake: &Lake, table: &SourceTable) -> Result<Vec<LandedFile>> {
    let prefix = lake.path(&format!("{RAW}/{}", table.name));
    let objects: Vec<_> = lake
        .store()
        .list(Some(&prefix))
        .try_collect()
        .await
        .map_err(|source| Error::Store {
            path: lake.object_url(&prefix),
            source,
        })?;
    let mut files: Vec<LandedFile> = objects
        .into_iter()
        .filter_map(|meta| {
            let file_name = meta.location.filename()?;
            if file_name.starts_with(['.', '_']) || !file_name.ends_with(".parquet") {
                return None;
            }
            let batch_date = meta
                .location
                .parts()
                .filter_map(|part| {
                    part.as_ref()
                        .strip_prefix(&format!("{PARTITION_COLUMN}="))
                        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                })
                .next()?;
            Some(LandedFile {
                table: table.name,
                batch_date,
                path: meta.location,
                size: meta.size,
            })
        })
        .collect();
    files.sort_by(|a, b| (a.batch_date, &a.path).cmp(&(b.batch_date, &b.path)));
    Ok(files)
}
