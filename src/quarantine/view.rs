//! What models read of a raw table: exactly the loaded files, without the rows
//! whose `_seq` the ledger quarantined (and without rows that have no `_seq`, which
//! the `not_null(_seq)` rule always quarantines).

use std::sync::Arc;

use arrow::array::Int64Array;
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use datafusion::catalog::{MemorySchemaProvider, TableProvider};
use datafusion::common::{JoinType, TableReference};
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::logical_expr::col;
use datafusion::prelude::SessionContext;

use super::ledger::{Ledger, loaded_files};
use crate::engine::new_session;
use crate::error::Result;
use crate::lake::Lake;
use crate::land::LandedFile;
use crate::sources::{SOURCE_SCHEMA, SourceTable};

/// A session with the lake's store and an empty `raw` schema, where the source
/// checks register what each table loads.
pub fn sources_session(lake: &Lake) -> Result<SessionContext> {
    let ctx = new_session();
    let catalog = ctx
        .catalog("datafusion")
        .ok_or_else(|| datafusion::error::DataFusionError::Plan("no default catalog".into()))?;
    catalog.register_schema(SOURCE_SCHEMA, Arc::new(MemorySchemaProvider::new()))?;
    ctx.register_object_store(lake.url(), Arc::clone(lake.store()));
    Ok(ctx)
}

/// Registers (or replaces) `raw.<table>` in `ctx` as the rows `ledger` loads from
/// `landed`, and returns the files it loads.
pub fn register_loaded(
    ctx: &SessionContext,
    lake: &Lake,
    table: &SourceTable,
    landed: &[LandedFile],
    ledger: &Ledger,
) -> Result<Vec<LandedFile>> {
    let loaded = loaded_files(lake, landed, ledger);
    let name = TableReference::partial(SOURCE_SCHEMA, table.name);
    // It may stand for what landed until now (a query session's listing table).
    ctx.deregister_table(name.clone())?;
    ctx.register_table(
        name,
        admitted_table(ctx, lake, table, &loaded, &ledger.quarantined_seqs())?,
    )?;
    Ok(loaded)
}

/// The column quarantined sequence numbers are joined on.
const QUARANTINED_SEQ: &str = "__quarantined_seq";

/// A table over the loaded rows of `files`: rows whose `_seq` is in `quarantined`
/// or is null are left out.
pub fn admitted_table(
    ctx: &SessionContext,
    lake: &Lake,
    table: &SourceTable,
    files: &[LandedFile],
    quarantined: &[i64],
) -> Result<Arc<dyn TableProvider>> {
    let all = files_table(lake, table, files)?;
    let frame = ctx.read_table(all)?.filter(col("_seq").is_not_null())?;
    if quarantined.is_empty() {
        return Ok(frame.into_view());
    }
    let schema = Arc::new(Schema::new(vec![Field::new(
        QUARANTINED_SEQ,
        DataType::Int64,
        false,
    )]));
    let seqs = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![Arc::new(Int64Array::from(quarantined.to_vec()))],
    )?;
    let seqs = ctx.read_table(Arc::new(MemTable::try_new(schema, vec![vec![seqs]])?))?;
    let admitted = frame.join(
        seqs,
        JoinType::LeftAnti,
        &["_seq"],
        &[QUARANTINED_SEQ],
        None,
    )?;
    Ok(admitted.into_view())
}

/// A table over exactly `files` of the raw table `table` (an empty table when there
/// are none).
pub fn files_table(
    lake: &Lake,
    table: &SourceTable,
    files: &[LandedFile],
) -> Result<Arc<dyn TableProvider>> {
    if files.is_empty() {
        return Ok(Arc::new(MemTable::try_new(table.schema(), vec![vec![]])?));
    }
    let urls = files
        .iter()
        .map(|f| ListingTableUrl::parse(lake.object_url(&f.path)))
        .collect::<datafusion::error::Result<Vec<_>>>()?;
    let options =
        ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(options)
        .with_schema(table.schema());
    Ok(Arc::new(ListingTable::try_new(config)?))
}
