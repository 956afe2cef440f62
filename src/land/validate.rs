//! Checks that landed raw files can be read as SPEC section 2 says, before any model
//! runs: a file that is not Parquet, lacks a column or has a column of the wrong type
//! stops the run, naming the file and the problem.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::async_reader::MetadataFetch;
use parquet::arrow::parquet_to_arrow_schema;
use parquet::errors::ParquetError;
use parquet::file::metadata::ParquetMetaDataReader;

use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::land::LandedFile;
use crate::sources;

/// How many file footers are read at once (they are small, latency dominates).
const CONCURRENT_FOOTERS: usize = 16;
/// Bytes read from the end of a file in the first request; most footers fit.
const FOOTER_PREFETCH: usize = 64 * 1024;

/// Reads the footer of each file and checks its schema against its table.
pub async fn validate_files(lake: &Lake, files: &[LandedFile]) -> Result<()> {
    futures::stream::iter(files.iter().map(|file| validate_file(lake, file)))
        .buffer_unordered(CONCURRENT_FOOTERS)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

async fn validate_file(lake: &Lake, file: &LandedFile) -> Result<()> {
    let name = lake.object_url(&file.path);
    let invalid = |problem: String| Error::RawFile {
        file: name.clone(),
        problem,
    };
    let table = sources::find(file.table)
        .ok_or_else(|| invalid(format!("unknown raw table `{}`", file.table)))?;
    let fetch = RangeFetch {
        store: Arc::clone(lake.store()),
        path: file.path.clone(),
    };
    let metadata = ParquetMetaDataReader::new()
        .with_prefetch_hint(Some(FOOTER_PREFETCH))
        .load_and_finish(fetch, file.size)
        .await
        .map_err(|e| invalid(format!("not a readable Parquet file ({e})")))?;
    let file_metadata = metadata.file_metadata();
    let schema = parquet_to_arrow_schema(
        file_metadata.schema_descr(),
        file_metadata.key_value_metadata(),
    )
    .map_err(|e| invalid(format!("not a readable Parquet schema ({e})")))?;
    for (column, kind) in table.columns() {
        let field = schema
            .field_with_name(column)
            .map_err(|_| invalid(format!("missing required column `{column}`")))?;
        if !kind.accepts(field.data_type()) {
            return Err(invalid(format!(
                "column `{column}` has type {}, expected {}",
                field.data_type(),
                kind.data_type()
            )));
        }
    }
    Ok(())
}

/// Byte ranges of one object, for the Parquet footer reader.
struct RangeFetch {
    store: Arc<dyn ObjectStore>,
    path: Path,
}

impl MetadataFetch for RangeFetch {
    fn fetch(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        async move {
            self.store
                .get_range(&self.path, range)
                .await
                .map_err(|e| ParquetError::External(Box::new(e)))
        }
        .boxed()
    }
}
