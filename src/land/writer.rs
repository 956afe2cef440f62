//! Writes one raw Parquet file into the lake in a single put, so a reader sees the
//! whole file or none of it (a local put goes through a temporary file and a
//! rename; an S3 PUT is atomic).

use arrow::record_batch::RecordBatch;
use chrono::NaiveDate;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::error::Result;
use crate::lake::{Lake, RAW};
use crate::sources::PARTITION_COLUMN;

/// The folder, relative to the lake root, of one table's batch for `date`.
pub fn batch_folder(table: &str, date: NaiveDate) -> String {
    format!(
        "{RAW}/{table}/{PARTITION_COLUMN}={}",
        date.format("%Y-%m-%d")
    )
}

/// Encodes `batch` as Parquet and puts it at `relative` under the lake root.
pub async fn put_parquet(lake: &Lake, relative: &str, batch: &RecordBatch) -> Result<()> {
    let properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut bytes = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut bytes, batch.schema(), Some(properties))?;
    writer.write(batch)?;
    writer.close()?;
    lake.put(relative, bytes).await
}
