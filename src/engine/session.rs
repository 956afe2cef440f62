//! The DataFusion session: configuration, raw sources as listing tables under the
//! `raw` schema, and models registered by name.

use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion::catalog::MemorySchemaProvider;
use datafusion::common::TableReference;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use deltalake::delta_datafusion::planner::DeltaPlanner;

use std::collections::BTreeMap;

use crate::quarantine::{Ledger, admitted_table};

use crate::error::Result;
use crate::lake::Lake;
use crate::land::LandedFile;
use crate::models::CHANGES_SCHEMA;
use crate::sources::{self, PARTITION_COLUMN, SOURCE_SCHEMA};

/// A session configured for stride, with delta-rs's query planner so Delta writes
/// can plan their own nodes. Strings stay `Utf8` (not `Utf8View`) so that model
/// outputs have the plain types other Delta readers and DuckDB expect.
pub fn new_session() -> SessionContext {
    let mut config = SessionConfig::new()
        .with_information_schema(true)
        .with_default_catalog_and_schema("datafusion", "public");
    let options = config.options_mut();
    options.execution.parquet.schema_force_view_types = false;
    options.sql_parser.map_string_types_to_utf8view = false;
    // delta-rs's own session turns hash-join IN-list pushdown off: it can panic on
    // dictionary-encoded join keys (partition columns are dictionary-encoded).
    options.optimizer.hash_join_inlist_pushdown_max_size = 0;
    options
        .optimizer
        .hash_join_inlist_pushdown_max_distinct_values = 0;
    let state = SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .with_query_planner(DeltaPlanner::new())
        .build();
    SessionContext::new_with_state(state)
}

/// Registers every raw table of SPEC section 2 as `raw.<table>`, reading the lake's
/// Parquet files directly with `batch_date` as a partition column.
pub async fn register_sources(ctx: &SessionContext, lake: &Lake) -> Result<()> {
    let catalog = ctx
        .catalog("datafusion")
        .ok_or_else(|| datafusion::error::DataFusionError::Plan("no default catalog".into()))?;
    catalog.register_schema(SOURCE_SCHEMA, Arc::new(MemorySchemaProvider::new()))?;
    ctx.register_object_store(lake.url(), Arc::clone(lake.store()));
    for table in &sources::ALL {
        let url = ListingTableUrl::parse(lake.raw_table_url(table.name))?;
        let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
            .with_file_extension(".parquet")
            .with_table_partition_cols(vec![(PARTITION_COLUMN.to_string(), DataType::Date32)]);
        let config = ListingTableConfig::new(url)
            .with_listing_options(options)
            .with_schema(table.schema());
        let provider = ListingTable::try_new(config)?;
        ctx.register_table(
            TableReference::partial(SOURCE_SCHEMA, table.name),
            Arc::new(provider),
        )?;
    }
    Ok(())
}

/// Registers every raw table as `raw.<table>` over the loaded rows of exactly `files`
/// (the files found when the run started), so a batch landing mid-run waits for the next run. Also
/// creates the schema for the models' `changes()` tables.
pub fn register_pinned_sources(
    ctx: &SessionContext,
    lake: &Lake,
    files: &BTreeMap<&'static str, Vec<LandedFile>>,
    ledgers: &BTreeMap<&'static str, Arc<Ledger>>,
) -> Result<()> {
    let catalog = ctx
        .catalog("datafusion")
        .ok_or_else(|| datafusion::error::DataFusionError::Plan("no default catalog".into()))?;
    catalog.register_schema(SOURCE_SCHEMA, Arc::new(MemorySchemaProvider::new()))?;
    catalog.register_schema(CHANGES_SCHEMA, Arc::new(MemorySchemaProvider::new()))?;
    ctx.register_object_store(lake.url(), Arc::clone(lake.store()));
    for table in &sources::ALL {
        let landed = files.get(table.name).map(Vec::as_slice).unwrap_or_default();
        let excluded = ledgers
            .get(table.name)
            .map(|l| l.excluded_seqs())
            .unwrap_or_default();
        let provider = admitted_table(ctx, lake, table, landed, &excluded)?;
        ctx.register_table(TableReference::partial(SOURCE_SCHEMA, table.name), provider)?;
    }
    Ok(())
}
