//! Writing one mart (or the sync table) into the Parquet file its view reads.
//!
//! One file per table and publish, on purpose: DuckDB opens a view's first file
//! when it binds the query and the others only as it reaches them, by the path it
//! listed, which goes through `current`. A query still running when `current`
//! moves would then open the new publish's folder and not find the old names in it.
//! With one file, a query opens it at once and reads it to the end, whatever
//! happens to `current` meanwhile. DataFusion's Parquet writer still encodes the
//! columns of the file in parallel. The file is named for its publish, so a reader
//! never meets a path it has seen before with other contents behind it.

use std::fs;
use std::path::{Path, PathBuf};

use arrow::array::{Array, UInt64Array};
use datafusion::common::config::TableParquetOptions;
use datafusion::dataframe::{DataFrame, DataFrameWriteOptions};

use crate::error::{Error, Result};

/// Compression of the published files: cheap to encode and to decode, which is
/// what a file written once and read by every dashboard query wants.
const COMPRESSION: &str = "snappy";

/// Writes every row of `rows` into one Parquet file, `<folder>/<name>.parquet`
/// (`folder` is created); returns the file and the number of rows written.
pub async fn write(rows: DataFrame, folder: &Path, name: &str) -> Result<(PathBuf, u64)> {
    fs::create_dir_all(folder)?;
    let file = folder.join(format!("{name}.parquet"));
    let mut options = TableParquetOptions::default();
    options.global.compression = Some(COMPRESSION.into());
    let written = rows
        .write_parquet(
            &file.display().to_string(),
            DataFrameWriteOptions::new().with_single_file_output(true),
            Some(options),
        )
        .await?;
    let mut count = 0u64;
    for batch in &written {
        let column = batch
            .column_by_name("count")
            .and_then(|c| c.as_any().downcast_ref::<UInt64Array>())
            .ok_or_else(|| Error::Task("the Parquet writer reported no row count".into()))?;
        count += column.iter().flatten().sum::<u64>();
    }
    if !file.is_file() {
        return Err(Error::Task(format!(
            "the Parquet writer did not write {}",
            file.display()
        )));
    }
    Ok((file, count))
}
