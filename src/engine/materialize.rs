//! A model's result computed once and held for both its contract check and its
//! commit, so the rows checked are exactly the rows committed. Up to
//! [`MEMORY_BUDGET`] it stays in memory; a larger result (a full rebuild of
//! `fct_attribution` at scale 10 is 45 million rows) is spilled to an uncompressed
//! Parquet file on local disk, which each check then scans for only the columns
//! it needs, so memory stays bounded.

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::DataFrame;
use futures::StreamExt;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::error::{Error, Result};

/// Results up to this many bytes of Arrow arrays are held in memory.
pub const MEMORY_BUDGET: usize = 512 << 20;

/// A computed result: a table to read it from, and the spill file if there is one
/// (removed when this is dropped).
pub struct Materialized {
    /// The rows.
    pub table: Arc<dyn TableProvider>,
    /// Rows held.
    pub rows: usize,
    spill: Option<Spill>,
}

impl Materialized {
    /// Whether the rows went to disk.
    pub fn spilled(&self) -> bool {
        self.spill.is_some()
    }
}

struct Spill(PathBuf);

impl Drop for Spill {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Computes `frame` once (for `model`).
pub async fn materialize(model: &str, frame: DataFrame) -> Result<Materialized> {
    let schema = Arc::new(frame.schema().as_arrow().clone());
    let task = frame.task_ctx();
    let plan = crate::delta::physical_plan(model, frame).await?;
    let mut stream = datafusion::physical_plan::execute_stream(plan, Arc::new(task))?;
    let mut batches: Vec<RecordBatch> = Vec::new();
    let mut bytes = 0;
    let mut rows = 0;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        bytes += batch.get_array_memory_size();
        rows += batch.num_rows();
        batches.push(batch);
        if bytes > MEMORY_BUDGET {
            break;
        }
    }
    if bytes <= MEMORY_BUDGET {
        let table = MemTable::try_new(schema, vec![batches])?;
        return Ok(Materialized {
            table: Arc::new(table),
            rows,
            spill: None,
        });
    }
    let path = std::env::temp_dir().join(format!(
        "stride-{}-{model}-{}.parquet",
        std::process::id(),
        uuid_like()
    ));
    let spill = Spill(path.clone());
    let io = |e: std::io::Error| {
        Error::Io(std::io::Error::new(
            e.kind(),
            format!("{}: {e}", path.display()),
        ))
    };
    let file = File::create(&path).map_err(io)?;
    // Uncompressed: the file lives for one check and is read from the page cache.
    let properties = WriterProperties::builder()
        .set_compression(Compression::UNCOMPRESSED)
        .build();
    let mut writer = ArrowWriter::try_new(file, Arc::clone(&schema), Some(properties))?;
    for batch in batches.drain(..) {
        writer.write(&batch)?;
    }
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        rows += batch.num_rows();
        writer.write(&batch)?;
    }
    writer.close()?;
    tracing::debug!(
        "{model}: result of {rows} rows spilled to {}",
        path.display()
    );
    let url = ListingTableUrl::parse(format!("file://{}", path.display()))?;
    let options =
        ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let config = ListingTableConfig::new(url)
        .with_listing_options(options)
        .with_schema(schema);
    Ok(Materialized {
        table: Arc::new(ListingTable::try_new(config)?),
        rows,
        spill: Some(spill),
    })
}

/// A name part unique within this process.
fn uuid_like() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
