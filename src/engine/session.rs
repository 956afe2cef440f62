//! The DataFusion session: configuration, raw sources (what their checks
//! admitted) under the `raw` schema, and models registered by name.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::catalog::MemorySchemaProvider;
use datafusion::common::TableReference;
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use deltalake::delta_datafusion::planner::DeltaPlanner;
use futures::{StreamExt, TryStreamExt, stream};

use super::join_filters::SafeJoinFilters;
use crate::error::Result;
use crate::lake::Lake;
use crate::land::{self, LandedFile};
use crate::models::CHANGES_SCHEMA;
use crate::quarantine::{self, Ledger, admitted_table};
use crate::sources::{SOURCE_SCHEMA, SourceTable, Sources};

/// A session configured for stride ([`session_config`]), with delta-rs's query
/// planner so Delta writes can plan their own nodes, hash joins' dynamic filters
/// kept where they cannot hang a query ([`SafeJoinFilters`]), and stride's
/// aggregate `data_driven_attribution` for the data-driven models.
pub fn new_session() -> SessionContext {
    let state = SessionStateBuilder::new()
        .with_default_features()
        .with_config(session_config())
        .with_query_planner(DeltaPlanner::new())
        .with_physical_optimizer_rule(Arc::new(SafeJoinFilters))
        .build();
    let ctx = SessionContext::new_with_state(state);
    ctx.register_udaf(crate::data_driven::data_driven_attribution_udaf());
    ctx
}

/// stride's DataFusion settings, shared by local sessions and every role of a
/// cluster. Strings stay `Utf8` (not `Utf8View`) so that model outputs have the
/// plain types other Delta readers and DuckDB expect.
pub fn session_config() -> SessionConfig {
    let mut config = SessionConfig::new()
        // Measured with `stride bench --suite pipeline` and `run --full-refresh`:
        // 32768-row batches take 4-6% off a full refresh (scale 1 and 10), same
        // peak memory, no change to an incremental day (docs/performance.md).
        .with_batch_size(32 * 1024)
        .with_information_schema(true)
        .with_default_catalog_and_schema("datafusion", "public");
    let options = config.options_mut();
    apply_datafusion_environment(options);
    options.execution.parquet.schema_force_view_types = false;
    options.sql_parser.map_string_types_to_utf8view = false;
    // delta-rs's own session turns hash-join IN-list pushdown off: it can panic on
    // dictionary-encoded join keys (partition columns are dictionary-encoded).
    options.optimizer.hash_join_inlist_pushdown_max_size = 0;
    options
        .optimizer
        .hash_join_inlist_pushdown_max_distinct_values = 0;
    config
}

/// DataFusion's own environment variables (`DATAFUSION_EXECUTION_BATCH_SIZE=16384`
/// for `datafusion.execution.batch_size`), so a setting can be tried on a run or
/// a benchmark without a rebuild. The settings stride depends on (below) still win;
/// a value DataFusion refuses is logged and left out.
fn apply_datafusion_environment(options: &mut datafusion::config::ConfigOptions) {
    for entry in options.entries() {
        let variable = entry.key.to_uppercase().replace('.', "_");
        let Ok(value) = std::env::var(&variable) else {
            continue;
        };
        match options.set(&entry.key, &value) {
            Ok(()) => tracing::info!("DataFusion: {} = {value} (from {variable})", entry.key),
            Err(e) => tracing::warn!("{variable}={value} left out: {e}"),
        }
    }
}

/// Registers every raw table of `sources` as `raw.<table>`: the rows its
/// ledger admitted (refused files, quarantined and redelivered rows left out, as a
/// run reads them), with `batch_date` as a last column. Files no run has checked
/// yet are not read; the log says how many.
pub async fn register_admitted_sources(
    ctx: &SessionContext,
    lake: &Lake,
    sources: &Sources,
) -> Result<()> {
    let catalog = ctx
        .catalog("datafusion")
        .ok_or_else(|| datafusion::error::DataFusionError::Plan("no default catalog".into()))?;
    catalog.register_schema(SOURCE_SCHEMA, Arc::new(MemorySchemaProvider::new()))?;
    ctx.register_object_store(lake.url(), Arc::clone(lake.store()));
    // A listing and a ledger per table: on S3 each is a round trip, so all go at once.
    let found: Vec<(&SourceTable, Vec<LandedFile>, Ledger)> = stream::iter(sources)
        .map(|table| async move {
            let landed = land::landed_files(lake, table).await?;
            let ledger = quarantine::read_ledger(lake, &table.name).await?;
            Ok::<_, crate::error::Error>((table, landed, ledger))
        })
        .buffered(sources.len().max(1))
        .try_collect()
        .await?;
    for (table, landed, ledger) in found {
        let unchecked = ledger.unchecked(lake, &landed).count();
        if unchecked > 0 {
            tracing::info!(
                "raw.{}: {unchecked} landed files no run has checked yet are not read",
                table.name
            );
        }
        let loaded = quarantine::loaded_files(lake, &landed, &ledger);
        let provider = quarantine::admitted_table_with_batch_date(
            ctx,
            lake,
            table,
            &loaded,
            &ledger.set_aside(),
        )?;
        ctx.register_table(
            TableReference::partial(SOURCE_SCHEMA, table.name.as_str()),
            provider,
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
    sources: &Sources,
    files: &BTreeMap<String, Vec<LandedFile>>,
    ledgers: &BTreeMap<String, Arc<Ledger>>,
) -> Result<()> {
    let catalog = ctx
        .catalog("datafusion")
        .ok_or_else(|| datafusion::error::DataFusionError::Plan("no default catalog".into()))?;
    catalog.register_schema(SOURCE_SCHEMA, Arc::new(MemorySchemaProvider::new()))?;
    catalog.register_schema(CHANGES_SCHEMA, Arc::new(MemorySchemaProvider::new()))?;
    ctx.register_object_store(lake.url(), Arc::clone(lake.store()));
    for table in sources {
        let landed = files
            .get(&table.name)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let set_aside = ledgers
            .get(&table.name)
            .map(|l| l.set_aside())
            .unwrap_or_default();
        let provider = admitted_table(ctx, lake, table, landed, &set_aside)?;
        ctx.register_table(
            TableReference::partial(SOURCE_SCHEMA, table.name.as_str()),
            provider,
        )?;
    }
    Ok(())
}
