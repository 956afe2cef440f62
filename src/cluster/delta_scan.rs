//! A scan of one Delta table version that executors can run: the version's active
//! files, pinned when the plan is made, read as plain Parquet, with each file's
//! deletion vector applied on the executor as a row selection of the Parquet
//! reader. delta-rs's own scan node cannot be sent to executors; this one is
//! described by a few paths, sizes and inline bitmaps ([`ScanSpec`]).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{Statistics, internal_datafusion_err};
use datafusion::config::ConfigOptions;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::parquet::ParquetAccessPlan;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfig, FileScanConfigBuilder};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::filter_pushdown::{
    ChildPushdownResult, FilterDescription, FilterPushdownPhase, FilterPushdownPropagation,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, ReplaceChildrenOptions,
};
use deltalake::DeltaTable;
use deltalake::kernel::StorageType;
use futures::TryStreamExt;
use object_store::ObjectStore;
use object_store::path::Path;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions, RowSelection};
#[allow(deprecated)]
use parquet::arrow::async_reader::ParquetObjectReader;
use roaring::RoaringTreemap;
use serde::{Deserialize, Serialize};

use crate::delta;
use crate::error::{Error, Result};

/// One active file of the version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScanFile {
    /// Its path in the store, as object_store writes it.
    pub path: String,
    /// Bytes.
    pub size: u64,
    /// Rows in the file (from the log's statistics), deleted ones included.
    pub rows: Option<u64>,
    /// The deletion vector, Z85 as it is inline in the log.
    pub deletion_vector: Option<String>,
    /// Rows the deletion vector removes.
    pub deleted: u64,
}

/// Which rows of a file a scan reads, by a bitmap of file positions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowsOfFile {
    /// The bitmap, Z85 as a deletion vector is inline in the log.
    pub vector: String,
    /// Read only the rows the bitmap marks (a change feed's rows deleted or
    /// restored by one commit), instead of the rows it does not mark (a deletion
    /// vector applied).
    pub marked: bool,
}

impl RowsOfFile {
    /// A deletion vector applied: the rows it does not mark.
    pub fn not_deleted(vector: String) -> RowsOfFile {
        RowsOfFile {
            vector,
            marked: false,
        }
    }
}

/// What a [`DeltaScan`] reads: everything an executor needs, and nothing secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScanSpec {
    /// The model, for messages.
    pub model: String,
    /// The table version the files are the active files of.
    pub version: u64,
    /// The store serving the files: `file://` or `s3://bucket`.
    pub store: String,
    /// The files.
    pub files: Vec<ScanFile>,
}

/// A Delta table version as a DataFusion table whose scan runs on executors.
#[derive(Debug, Clone)]
pub struct DeltaScan {
    spec: Arc<ScanSpec>,
    schema: SchemaRef,
    /// Filters evaluated while the Parquet files are decoded (see
    /// [`DeltaScan::with_row_filters`]).
    row_filters: bool,
}

impl DeltaScan {
    /// The active files of `table` at the version it is loaded at, read with
    /// `schema` (the schema delta-rs's own provider gives the table, so a query
    /// plans the same either way). Fails, naming the model, for what executors
    /// cannot read yet: partitioned tables and deletion vectors kept in files.
    pub fn try_new(model: &str, table: &DeltaTable, schema: SchemaRef) -> Result<DeltaScan> {
        let unsupported = |reason: String| read_in_client(model, reason);
        let (store, root) = location_for_executors(model, table)?;
        let snapshot = table.snapshot().map_err(|e| Error::in_model(model, e))?;
        let mut files = Vec::new();
        for file in snapshot.log_data().iter() {
            let relative = file.path();
            let path = if relative.contains("://") {
                return Err(unsupported(format!(
                    "file {relative} lies outside the table's folder"
                )));
            } else {
                Path::parse(format!("{root}/{relative}"))
                    .map_err(|e| unsupported(format!("file {relative}: {e}")))?
            };
            let (deletion_vector, deleted) = match file.deletion_vector_descriptor() {
                None => (None, 0),
                Some(dv) if dv.storage_type == StorageType::Inline => (
                    Some(dv.path_or_inline_dv.clone()),
                    dv.cardinality.max(0) as u64,
                ),
                Some(_) => return Err(unsupported(vector_in_file(&relative))),
            };
            files.push(ScanFile {
                path: path.to_string(),
                size: file.size().max(0) as u64,
                rows: file.num_records().map(|n| n as u64),
                deletion_vector,
                deleted,
            });
        }
        Ok(DeltaScan {
            spec: Arc::new(ScanSpec {
                model: model.to_string(),
                version: delta::version_of(table),
                store,
                files,
            }),
            schema,
            row_filters: false,
        })
    }

    /// The scan described by `spec`, read with `schema`.
    pub fn from_spec(spec: ScanSpec, schema: SchemaRef) -> DeltaScan {
        DeltaScan {
            spec: Arc::new(spec),
            schema,
            row_filters: false,
        }
    }

    /// The scan with the filters that reach it (a query's own, and the dynamic
    /// filter of a hash join whose build side is ready: the keys an incremental
    /// model looks up) evaluated while the files are decoded. Only the pages of
    /// the other columns that hold rows the filters keep are then fetched (by the
    /// files' page index), so looking a few keys up in a large table reads little
    /// of it; deletion vectors still apply, as row selections the filters refine.
    pub fn with_row_filters(self) -> DeltaScan {
        DeltaScan {
            row_filters: true,
            ..self
        }
    }

    /// What the scan reads.
    pub fn spec(&self) -> &ScanSpec {
        &self.spec
    }

    /// The files as DataFusion's, in `groups` groups of about equal bytes.
    fn file_groups(&self, groups: usize) -> DfResult<Vec<FileGroup>> {
        let mut files = Vec::with_capacity(self.spec.files.len());
        for file in &self.spec.files {
            let mut partitioned = partitioned_file(&file.path, file.size)?;
            if let Some(rows) = file.rows {
                let mut statistics = Statistics::new_unknown(&self.schema);
                statistics.num_rows =
                    Precision::Inexact(rows.saturating_sub(file.deleted) as usize);
                partitioned = partitioned.with_statistics(Arc::new(statistics));
            }
            files.push(partitioned);
        }
        balanced_groups(files, groups)
    }

    fn statistics_of_version(&self) -> Statistics {
        let mut statistics = Statistics::new_unknown(&self.schema);
        if self.spec.files.iter().all(|f| f.rows.is_some()) {
            let rows: u64 = self
                .spec
                .files
                .iter()
                .map(|f| f.rows.unwrap_or_default().saturating_sub(f.deleted))
                .sum();
            statistics.num_rows = Precision::Inexact(rows as usize);
        }
        statistics.total_byte_size =
            Precision::Inexact(self.spec.files.iter().map(|f| f.size as usize).sum());
        statistics
    }
}

/// The error saying why executors cannot read `model`'s table (which the client
/// then reads itself).
pub(super) fn read_in_client(model: &str, reason: String) -> Error {
    Error::in_model(
        model,
        Error::Setting {
            setting: "--cluster".to_string(),
            reason,
        },
    )
}

/// Why a file's deletion vector keeps its table from the executors.
pub(super) fn vector_in_file(path: &str) -> String {
    format!(
        "file {path} has a deletion vector kept in a file \
         (executors apply inline ones; `stride optimize` rewrites it)"
    )
}

/// The store serving `table` (`file://` or `scheme://bucket`) and the table's
/// folder in it, when executors can read the table (it is not partitioned).
pub(super) fn location_for_executors(model: &str, table: &DeltaTable) -> Result<(String, Path)> {
    let url = table.table_url();
    let store = match url.scheme() {
        "file" => "file://".to_string(),
        scheme => format!("{scheme}://{}", url.host_str().unwrap_or_default()),
    };
    let root = Path::from_url_path(url.path())
        .map_err(|e| read_in_client(model, format!("table location {url}: {e}")))?;
    let snapshot = table.snapshot().map_err(|e| Error::in_model(model, e))?;
    if !snapshot.metadata().partition_columns().is_empty() {
        return Err(read_in_client(
            model,
            "a partitioned Delta table is read locally (executors read unpartitioned ones)"
                .to_string(),
        ));
    }
    Ok((store, root))
}

/// A file to read, by its path in the store.
pub(super) fn partitioned_file(path: &str, size: u64) -> DfResult<PartitionedFile> {
    let mut file = PartitionedFile::new(path.to_string(), size);
    file.object_meta.location =
        Path::parse(path).map_err(|e| DataFusionError::External(Box::new(e)))?;
    Ok(file)
}

/// `files` in at most `groups` groups of about equal bytes, largest files first
/// (the order is fixed, so a plan is the same each time it is made).
pub(super) fn balanced_groups(
    mut files: Vec<PartitionedFile>,
    groups: usize,
) -> DfResult<Vec<FileGroup>> {
    files.sort_by(|a, b| {
        b.object_meta
            .size
            .cmp(&a.object_meta.size)
            .then_with(|| a.object_meta.location.cmp(&b.object_meta.location))
    });
    let groups = groups.clamp(1, files.len().max(1));
    let mut filled: Vec<(u64, Vec<PartitionedFile>)> = vec![(0, Vec::new()); groups];
    for file in files {
        let lightest = filled
            .iter_mut()
            .min_by_key(|(bytes, _)| *bytes)
            .ok_or_else(|| internal_datafusion_err!("no file group"))?;
        lightest.0 += file.object_meta.size;
        lightest.1.push(file);
    }
    Ok(filled
        .into_iter()
        .filter(|(_, files)| !files.is_empty())
        .map(|(_, files)| FileGroup::new(files))
        .collect())
}

#[async_trait]
impl TableProvider for DeltaScan {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn statistics(&self) -> Option<Statistics> {
        Some(self.statistics_of_version())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        if self.spec.files.is_empty() {
            // A scan of no file groups has no partitions, which a join above it
            // cannot take; an empty table is one empty partition.
            let schema = match projection {
                Some(columns) => Arc::new(self.schema.project(columns)?),
                None => Arc::clone(&self.schema),
            };
            return Ok(Arc::new(EmptyExec::new(schema)));
        }
        let read_in_part = self
            .spec
            .files
            .iter()
            .filter_map(|f| {
                let vector = f.deletion_vector.clone()?;
                Some((f.path.clone(), RowsOfFile::not_deleted(vector)))
            })
            .collect();
        ParquetFiles {
            model: &self.spec.model,
            store: &self.spec.store,
            schema: Arc::clone(&self.schema).into(),
            groups: self.file_groups(state.config().target_partitions())?,
            statistics: Some(self.statistics_of_version()),
            read_in_part,
            row_filters: self.row_filters,
        }
        .scan(state, projection, limit)
        .await
    }
}

/// Parquet files for executors to read: where, with which columns, in which
/// partitions, and which of them only in part.
pub(super) struct ParquetFiles<'a> {
    /// The model, for messages.
    pub model: &'a str,
    /// The store serving them: `file://` or `s3://bucket`.
    pub store: &'a str,
    /// The columns in the files, and those given as partition values.
    pub schema: TableSchema,
    /// The partitions.
    pub groups: Vec<FileGroup>,
    /// Rows and bytes, when known.
    pub statistics: Option<Statistics>,
    /// Per path, the rows read of a file read in part.
    pub read_in_part: BTreeMap<String, RowsOfFile>,
    /// Whether filters pushed into the scan are evaluated while decoding.
    pub row_filters: bool,
}

impl ParquetFiles<'_> {
    /// DataFusion's Parquet scan of the files, under a [`DeletionVectorsExec`]
    /// when some are read in part.
    pub(super) async fn scan(
        self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let mut options = state.table_options().parquet.clone();
        options.global.pushdown_filters |= self.row_filters;
        let format = ParquetFormat::default().with_options(options);
        let source = format.file_source(self.schema);
        let mut config = FileScanConfigBuilder::new(ObjectStoreUrl::parse(self.store)?, source)
            .with_file_groups(self.groups);
        if let Some(statistics) = self.statistics {
            config = config.with_statistics(statistics);
        }
        let config = config
            .with_projection_indices(projection.cloned())?
            .with_limit(limit)
            .build();
        let scan = format.create_physical_plan(state, config).await?;
        if self.read_in_part.is_empty() {
            return Ok(scan);
        }
        Ok(Arc::new(DeletionVectorsExec::new(
            self.model.to_string(),
            Arc::new(self.read_in_part),
            scan,
        )))
    }
}

/// A Parquet scan some of whose files are read in part, by a bitmap of rows: a
/// Delta version's files with deletion vectors (the rows not deleted), or a change
/// feed's files of which one commit deleted or restored some rows (those rows). On
/// the executor each such file's bitmap is decoded and becomes a row selection of
/// the reader, so rows left out are never decoded. Its child is a plain
/// `DataSourceExec`, which Ballista splits into tasks as it splits any scan; a path
/// appears once in it.
#[derive(Debug, Clone)]
pub struct DeletionVectorsExec {
    model: String,
    /// Per file path, the rows of it read.
    deletion_vectors: Arc<BTreeMap<String, RowsOfFile>>,
    input: Arc<dyn ExecutionPlan>,
}

impl DeletionVectorsExec {
    /// `input` (a Parquet `DataSourceExec`) reading of each file in
    /// `deletion_vectors` only the rows it says.
    pub fn new(
        model: String,
        deletion_vectors: Arc<BTreeMap<String, RowsOfFile>>,
        input: Arc<dyn ExecutionPlan>,
    ) -> DeletionVectorsExec {
        DeletionVectorsExec {
            model,
            deletion_vectors,
            input,
        }
    }

    /// The model, for messages.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// Per file path, the rows of it read.
    pub fn deletion_vectors(&self) -> &BTreeMap<String, RowsOfFile> {
        &self.deletion_vectors
    }
}

impl DisplayAs for DeletionVectorsExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "DeletionVectorsExec: model={}, files_read_in_part={}",
            self.model,
            self.deletion_vectors.len()
        )
    }
}

impl ExecutionPlan for DeletionVectorsExec {
    fn name(&self) -> &str {
        "DeletionVectorsExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    // Its input must stay the Parquet scan itself: nothing may be put between them
    // (a repartition would hide the files each partition reads).
    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    // Filters pass through to the Parquet scan: removing a file's deleted rows
    // before or after a filter keeps the same rows, and the scan applies both in
    // one pass (the row selection first, then the filter on what it selects).
    fn gather_filters_for_pushdown(
        &self,
        _phase: FilterPushdownPhase,
        parent_filters: Vec<Arc<dyn PhysicalExpr>>,
        _config: &ConfigOptions,
    ) -> DfResult<FilterDescription> {
        FilterDescription::from_children(parent_filters, &self.children())
    }

    fn handle_child_pushdown_result(
        &self,
        _phase: FilterPushdownPhase,
        child_pushdown_result: ChildPushdownResult,
        _config: &ConfigOptions,
    ) -> DfResult<FilterPushdownPropagation<Arc<dyn ExecutionPlan>>> {
        Ok(FilterPushdownPropagation::if_all(child_pushdown_result))
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        if children.len() != 1 {
            return Err(internal_datafusion_err!(
                "DeletionVectorsExec takes one input, not {}",
                children.len()
            ));
        }
        Ok(Arc::new(DeletionVectorsExec {
            input: children.swap_remove(0),
            ..(*self).clone()
        }))
    }

    #[allow(deprecated)]
    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(
                datafusion::physical_plan::ChildrenPropertiesMode::Recompute,
            ),
        )
    }

    #[allow(deprecated)]
    fn with_new_children_and_same_properties(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(datafusion::physical_plan::ChildrenPropertiesMode::Keep),
        )
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        let scan = self
            .input
            .downcast_ref::<DataSourceExec>()
            .and_then(|scan| scan.data_source().downcast_ref::<FileScanConfig>())
            .ok_or_else(|| {
                internal_datafusion_err!(
                    "DeletionVectorsExec of {} reads a Parquet scan, not {}",
                    self.model,
                    self.input.name()
                )
            })?
            .clone();
        let group = scan.file_groups.get(partition).cloned().ok_or_else(|| {
            internal_datafusion_err!("DeletionVectorsExec has no partition {partition}")
        })?;
        let touched = group.iter().any(|f| {
            self.deletion_vectors
                .contains_key(f.object_meta.location.as_ref())
        });
        tracing::debug!(
            "{}: partition {partition} of {} files, deletion vectors applied: {touched}",
            self.model,
            group.len()
        );
        let store = context.runtime_env().object_store(&scan.object_store_url)?;
        // Each partition reads exactly its own files through a scan of its own: the
        // partitions of one Parquet scan share a queue of files, and one running
        // alone would also read the files of a partition run here instead.
        let own_scan = move |files: Vec<PartitionedFile>| {
            let config = FileScanConfigBuilder::from(scan)
                .with_file_groups(vec![FileGroup::new(files)])
                .with_output_partitioning(None)
                .build();
            DataSourceExec::from_data_source(config)
        };
        if !touched {
            return own_scan(group.iter().cloned().collect()).execute(0, context);
        }
        let vectors = Arc::clone(&self.deletion_vectors);
        let model = self.model.clone();
        let schema = self.schema();
        let opened = async move {
            let mut files = Vec::with_capacity(group.len());
            for file in group.iter() {
                let location = file.object_meta.location.as_ref();
                let Some(vector) = vectors.get(location) else {
                    files.push(file.clone());
                    continue;
                };
                let plan = access_plan(&store, file, vector)
                    .await
                    .map_err(|e| e.context(format!("model {model}: file {location}")))?;
                tracing::debug!(
                    "{model}: {location}: {} of {} row groups read in part",
                    (0..plan.len()).filter(|i| plan.should_scan(*i)).count(),
                    plan.len()
                );
                files.push(file.clone().with_extension(plan));
            }
            own_scan(files).execute(0, context)
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            schema,
            futures::stream::once(opened).try_flatten(),
        )))
    }
}

/// Which rows of `file` to read: every row group in full, but those holding rows
/// `rows` leaves out, which are skipped or read through a row selection.
#[allow(deprecated)]
async fn access_plan(
    store: &Arc<dyn ObjectStore>,
    file: &PartitionedFile,
    rows: &RowsOfFile,
) -> DfResult<ParquetAccessPlan> {
    let marked = delta::decode_deletion_vector(&rows.vector)
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
    let mut reader = ParquetObjectReader::new(Arc::clone(store), file.object_meta.location.clone())
        .with_file_size(file.object_meta.size);
    let metadata = ArrowReaderMetadata::load_async(&mut reader, ArrowReaderOptions::new()).await?;
    let row_groups = metadata.metadata().row_groups();
    let mut plan = ParquetAccessPlan::new_all(row_groups.len());
    let mut first = 0u64;
    for (index, group) in row_groups.iter().enumerate() {
        let in_group = group.num_rows().max(0) as u64;
        let end = first + in_group;
        let marked_here = marked.range_cardinality(first..end);
        let read = if rows.marked {
            marked_here
        } else {
            in_group - marked_here
        };
        if read == 0 {
            plan.skip(index);
        } else if read < in_group {
            plan.scan_selection(index, rows_read(&marked, first, end, rows.marked));
        }
        first = end;
    }
    Ok(plan)
}

/// The rows of `first..end` (file positions) that are in `marked` (`keep_marked`)
/// or that are not, as a selection relative to `first`.
fn rows_read(marked: &RoaringTreemap, first: u64, end: u64, keep_marked: bool) -> RowSelection {
    let mut runs: Vec<std::ops::Range<u64>> = Vec::new();
    for position in marked
        .iter()
        .skip_while(|p| *p < first)
        .take_while(|p| *p < end)
    {
        match runs.last_mut() {
            Some(run) if run.end == position => run.end += 1,
            _ => runs.push(position..position + 1),
        }
    }
    let kept = if keep_marked {
        runs
    } else {
        let mut gaps = Vec::with_capacity(runs.len() + 1);
        let mut from = first;
        for run in runs {
            if run.start > from {
                gaps.push(from..run.start);
            }
            from = run.end;
        }
        if from < end {
            gaps.push(from..end);
        }
        gaps
    };
    let relative = kept
        .into_iter()
        .map(|r| (r.start - first) as usize..(r.end - first) as usize);
    RowSelection::from_consecutive_ranges(relative, (end - first) as usize)
}

#[cfg(test)]
mod tests {
    use parquet::arrow::arrow_reader::RowSelector;
    use roaring::RoaringTreemap;

    use super::rows_read;

    #[test]
    fn the_selection_keeps_exactly_the_rows_not_deleted() {
        let deleted: RoaringTreemap = [3u64, 10, 11, 14, 19, 25].into_iter().collect();
        // The row group of file rows 10..20 keeps 12, 13 and 15..=18.
        let selectors: Vec<RowSelector> = rows_read(&deleted, 10, 20, false).into();
        assert_eq!(
            selectors,
            vec![
                RowSelector::skip(2),
                RowSelector::select(2),
                RowSelector::skip(1),
                RowSelector::select(4),
                RowSelector::skip(1),
            ]
        );
        let untouched: Vec<RowSelector> = rows_read(&RoaringTreemap::new(), 0, 5, false).into();
        assert_eq!(untouched, vec![RowSelector::select(5)]);
        // The same rows from the other side: only 10, 11, 14 and 19.
        let marked: Vec<RowSelector> = rows_read(&deleted, 10, 20, true).into();
        assert_eq!(
            marked,
            vec![
                RowSelector::select(2),
                RowSelector::skip(2),
                RowSelector::select(1),
                RowSelector::skip(4),
                RowSelector::select(1),
            ]
        );
    }
}
