//! Writing one mart (or the sync table) into the Parquet file its view reads.
//!
//! One data file per table and publish, named for the publish that wrote it and
//! never written again: a later publish serving the same rows links it into its
//! own folder under the same name ([`reuse`]), so a reader never meets a path it
//! has seen before with other contents behind it.
//!
//! That is what keeps one query on one publish. DuckDB binds a statement's scans
//! one after another (each lists its glob and opens its first file, through
//! `current`) and opens the files again by the listed path when it executes them;
//! if `current` moved in between, a listed name is either in the new publish with
//! the same bytes or missing (the query fails, and is asked again). Two things
//! would let a scan answer from what it read at bind, and so from the old publish
//! while another scan reads the new one, and both are ruled out here:
//! - a file with no row group, which DuckDB never opens again: an empty table is
//!   written as one row group of no rows ([`write_empty`]);
//! - a scan of a single file, which DuckDB may answer from the footer it read at
//!   bind (`count(*)`, `min`, `max`, a filter its statistics rule out): every
//!   folder also holds [`PAD`], a file of no rows, so no scan is of one file.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, UInt64Array};
use arrow::datatypes::SchemaRef;
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
    let schema = SchemaRef::new(rows.schema().as_arrow().clone());
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
        if count > 0 {
            return Err(Error::Task(format!(
                "the Parquet writer did not write {}",
                file.display()
            )));
        }
        // No rows: a file with the columns alone, so the view still binds.
        write_empty(&file, Arc::clone(&schema))?;
    }
    write_pad(folder, schema)?;
    Ok((file, count))
}

/// The file of no rows in every served folder (see the module's documentation).
pub const PAD: &str = "pad.parquet";

/// Writes [`PAD`] into `folder` (created) with the columns of `schema`.
pub fn write_pad(folder: &Path, schema: SchemaRef) -> Result<()> {
    fs::create_dir_all(folder)?;
    write_empty(&folder.join(PAD), schema)
}

/// Writes a Parquet file of no rows with the columns of `schema`, as one row group
/// of no rows: DuckDB opens such a file again when it executes a scan (a file with
/// no row group at all it answers from its footer read at bind).
fn write_empty(file: &Path, schema: SchemaRef) -> Result<()> {
    let out = fs::File::create(file)?;
    let writer = parquet::arrow::ArrowWriter::try_new(out, schema, None)?;
    let (mut file_writer, columns) = writer.into_serialized_writer()?;
    let mut row_group = file_writer.next_row_group()?;
    for column in columns.create_column_writers(0)? {
        column.close()?.append_to_row_group(&mut row_group)?;
    }
    row_group.close()?;
    file_writer.close()?;
    Ok(())
}

/// Serves the files of `from` (a folder of the served publish) in the folder `to`
/// of a new publish, under the same names: hard links where the file system allows
/// them, copies otherwise. A file is never written again once published, so
/// sharing it between publishes is safe; it is deleted with the last publish that
/// holds it. Returns the files' rows (from their footers).
pub fn reuse(from: &Path, to: &Path) -> Result<u64> {
    fs::create_dir_all(to)?;
    let mut rows = 0u64;
    for entry in fs::read_dir(from)? {
        let source = entry?.path();
        if source.extension().is_none_or(|e| e != "parquet") {
            continue;
        }
        let Some(name) = source.file_name() else {
            continue;
        };
        let target = to.join(name);
        if fs::hard_link(&source, &target).is_err() {
            fs::copy(&source, &target)?;
        }
        rows += rows_in(&target)?;
    }
    Ok(rows)
}

/// The rows of the Parquet file `file`, from its footer.
pub fn rows_in(file: &Path) -> Result<u64> {
    let reader = parquet::file::reader::SerializedFileReader::new(fs::File::open(file)?)?;
    use parquet::file::reader::FileReader;
    Ok(u64::try_from(reader.metadata().file_metadata().num_rows()).unwrap_or_default())
}

/// The one data file in `folder` ([`PAD`] aside), `None` when it holds none or
/// more than one.
pub fn only_file(folder: &Path) -> Option<PathBuf> {
    let mut files = fs::read_dir(folder)
        .ok()?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "parquet"))
        .filter(|path| path.file_name().is_none_or(|name| name != PAD));
    let file = files.next()?;
    files.next().is_none().then_some(file)
}
