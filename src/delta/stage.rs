//! A full rebuild written by several Parquet writers at once, readable before the
//! one commit that makes it the table's rows.
//!
//! delta-rs's own overwrite feeds every partition of a plan into one writer, so a
//! table's Parquet is encoded on one thread. Here each partition of the result's
//! plan has its own writer; the files they write ([`Staged`]) are not part of the
//! table until [`commit`] adds them (and removes every file of the version before)
//! in one Delta commit. Until then they can be read, which is how a model's
//! contract is checked on exactly the rows that will be committed without holding
//! or spilling them; a failed check deletes them ([`Staged::discard`]).

use std::num::NonZeroU64;
use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::SessionState;
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::{
    ExecutionPlan, ExecutionPlanProperties, Partitioning, execute_stream_partitioned,
};
use datafusion::prelude::DataFrame;
use deltalake::datafile::writer::{DeltaWriter, WriterConfig};
use deltalake::kernel::engine::arrow_conversion::{TryFromArrow, TryFromKernel};
use deltalake::kernel::transaction::CommitBuilder;
use deltalake::kernel::{Action, Add, StructType};
use deltalake::operations::create::CreateBuilder;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::{DeltaTable, DeltaTableError};
use futures::StreamExt;
use object_store::ObjectStoreExt;

use super::write::{conform, operation_metrics, properties, table_properties};
use super::{stored_type, version_of};
use crate::error::{Error, Result};

/// Files are closed at this size, so a large result is several files.
const TARGET_FILE_SIZE: u64 = 128 << 20;

/// A rebuild of a table that held fewer rows than this is written by one writer.
const ONE_WRITER_ROWS: u64 = 1_000_000;

/// A rebuild's files, written and not yet committed.
pub struct Staged {
    model: String,
    /// The table, loaded, or a handle to create it.
    table: DeltaTable,
    /// The files, as the commit will add them.
    adds: Vec<Add>,
    /// The files' columns (the table's).
    schema: SchemaRef,
    /// Rows written.
    rows: u64,
}

impl Staged {
    /// Rows written.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// A table reading exactly the staged files, through a session that serves the
    /// lake's URL (as a run's does).
    pub fn provider(&self) -> Result<Arc<dyn TableProvider>> {
        if self.adds.is_empty() {
            let empty = MemTable::try_new(Arc::clone(&self.schema), vec![Vec::new()])?;
            return Ok(Arc::new(empty));
        }
        let root = self.table.table_url().as_str().trim_end_matches('/');
        let urls = self
            .adds
            .iter()
            .map(|add| ListingTableUrl::parse(format!("{root}/{}", add.path)))
            .collect::<datafusion::error::Result<Vec<_>>>()?;
        let options =
            ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
        let config = ListingTableConfig::new_with_multi_paths(urls)
            .with_listing_options(options)
            .with_schema(Arc::clone(&self.schema));
        Ok(Arc::new(ListingTable::try_new(config)?))
    }

    /// Deletes the staged files (best effort: a file left behind is not part of the
    /// table, and `vacuum` removes it).
    pub async fn discard(self) {
        let store = self.table.log_store().object_store(None);
        for add in &self.adds {
            let path = object_store::path::Path::from(add.path.as_str());
            if let Err(e) = store.delete(&path).await {
                tracing::debug!("{}: remove the staged {}: {e}", self.model, add.path);
            }
        }
    }
}

/// Writes every row of `frame` into new files of `model`'s table (`table`: loaded,
/// or a handle when it has no version yet), one writer per core (one for a table
/// that held fewer than [`ONE_WRITER_ROWS`] rows), none of them committed yet.
/// `None`, with nothing written, when the table exists with other columns or types
/// than the result's: a rebuild that changes the table's schema goes through
/// delta-rs's overwrite.
pub async fn stage(
    model: &str,
    table: DeltaTable,
    frame: DataFrame,
    state: &SessionState,
) -> Result<Option<Staged>> {
    let fail = |e: DeltaTableError| Error::in_model(model, e);
    let in_model = |e: Error| Error::in_model(model, e);
    let result = frame.schema().as_arrow().clone();
    let schema = match table.version() {
        Some(_) => {
            let stored = table.snapshot().map_err(fail)?.snapshot().arrow_schema();
            if !same_columns(&result, &stored) {
                return Ok(None);
            }
            stored
        }
        None => match delta_schema(&result) {
            Ok(schema) => Arc::new(schema),
            Err(e) => {
                tracing::debug!("{model}: written through delta-rs ({e})");
                return Ok(None);
            }
        },
    };

    let plan = super::physical_plan(model, frame).await?;
    // A small table stays one file: one writer encodes it quickly, and more files
    // only cost its readers requests (a round trip each on S3).
    let small = table.version().is_some() && super::row_count(&table) < ONE_WRITER_ROWS;
    let writers = if small {
        1
    } else {
        state.config().target_partitions().max(1)
    };
    let partitions = plan.output_partitioning().partition_count();
    let plan: Arc<dyn ExecutionPlan> = if writers == 1 && partitions > 1 {
        Arc::new(CoalescePartitionsExec::new(plan))
    } else if partitions < writers {
        Arc::new(RepartitionExec::try_new(
            plan,
            Partitioning::RoundRobinBatch(writers),
        )?)
    } else {
        plan
    };
    let streams = execute_stream_partitioned(plan, state.task_ctx())?;
    let store = table.log_store().object_store(None);
    let config = WriterConfig::new(
        Arc::clone(&schema),
        Vec::new(),
        Some(super::file_properties()),
        NonZeroU64::new(TARGET_FILE_SIZE),
        None,
        Default::default(),
        None,
    );
    let mut tasks = tokio::task::JoinSet::new();
    for mut stream in streams {
        let mut writer = DeltaWriter::new(Arc::clone(&store), config.clone());
        let schema = Arc::clone(&schema);
        tasks.spawn(async move {
            let mut rows = 0u64;
            let written: Result<()> = async {
                while let Some(batch) = stream.next().await {
                    let batch = conform(&batch?, &schema)?;
                    rows += batch.num_rows() as u64;
                    writer.write(&batch).await?;
                }
                Ok(())
            }
            .await;
            match written {
                Ok(()) => Ok((writer.close().await?, rows)),
                Err(e) => {
                    if let Err(abort) = writer.abort().await {
                        tracing::debug!("abort a staged write: {abort}");
                    }
                    Err(e)
                }
            }
        });
    }
    let mut adds = Vec::new();
    let mut rows = 0;
    let mut failed = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok((files, written))) => {
                adds.extend(files);
                rows += written;
            }
            Ok(Err(e)) => failed = failed.or(Some(e)),
            Err(e) => failed = failed.or(Some(Error::Task(e.to_string()))),
        }
    }
    let staged = Staged {
        model: model.to_string(),
        table,
        adds,
        schema,
        rows,
    };
    if let Some(e) = failed {
        staged.discard().await;
        return Err(in_model(e));
    }
    Ok(Some(staged))
}

/// Whether `result` has the columns of the table schema `stored`, each of the type
/// Delta stores it as, and NULLs only where the table allows them.
fn same_columns(result: &Schema, stored: &Schema) -> bool {
    result.fields().len() == stored.fields().len()
        && stored.fields().iter().all(|field| {
            result.field_with_name(field.name()).is_ok_and(|found| {
                stored_type(found.data_type()) == stored_type(field.data_type())
                    && (field.is_nullable() || !found.is_nullable())
            })
        })
}

/// The Arrow schema of a new table made from `result`: its columns, in its order,
/// each of the type Delta stores it as.
fn delta_schema(result: &Schema) -> std::result::Result<Schema, DeltaTableError> {
    let delta = StructType::try_from_arrow(result)?;
    Ok(Schema::try_from_kernel(&delta)?)
}

/// Commits the staged files as the whole of the table, with stride's record `info`:
/// every file of the current version is removed in the same commit. A new table is
/// created by that commit (with the change data feed, and deletion vectors when
/// asked). Returns the table at the new version and the rows it held before.
pub async fn commit(
    staged: Staged,
    info: serde_json::Value,
    deletion_vectors: bool,
) -> Result<(DeltaTable, u64)> {
    let model = staged.model.clone();
    let fail = |e: DeltaTableError| Error::in_model(&model, e);
    let rows_before = if staged.table.version().is_some() {
        super::row_count(&staged.table)
    } else {
        0
    };
    let files = staged.adds.len();
    let metrics = operation_metrics(staged.rows, rows_before, files);
    let adds = staged.adds.iter().cloned().map(Action::Add);
    let committed = match staged.table.version() {
        None => {
            let delta =
                StructType::try_from_arrow(staged.schema.as_ref()).map_err(|e| fail(e.into()))?;
            CreateBuilder::new()
                .with_log_store(staged.table.log_store())
                .with_columns(delta.fields().cloned())
                .with_configuration(table_properties(deletion_vectors))
                .with_table_name(model.clone())
                .with_actions(adds)
                .with_commit_properties(properties(info, Some(metrics)))
                .await
                .map_err(fail)
        }
        Some(_) => {
            let snapshot = staged.table.snapshot().map_err(fail)?;
            let mut actions: Vec<Action> = snapshot
                .log_data()
                .iter()
                .map(|file| Action::Remove(file.remove_action(true)))
                .collect();
            actions.extend(adds);
            let operation = DeltaOperation::Write {
                mode: SaveMode::Overwrite,
                partition_by: None,
                predicate: None,
            };
            let commit = CommitBuilder::from(properties(info, Some(metrics)))
                .with_actions(actions)
                .build(Some(snapshot), staged.table.log_store(), operation)
                .await
                .map_err(fail)?;
            // The state at the new version comes with the commit (see write.rs).
            let mut table = staged.table.clone();
            table.state = Some(commit.snapshot);
            Ok(table)
        }
    };
    // A failed commit leaves the files: on S3 a commit whose answer was lost may
    // have landed, and then they are the table's rows.
    let table = committed?;
    tracing::debug!(
        "{model}: version {} of {} rows in {files} files",
        version_of(&table),
        staged.rows
    );
    Ok((table, rows_before))
}
