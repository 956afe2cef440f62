//! A physical optimizer rule that keeps a hash join's dynamic filter from
//! hanging a query.
//!
//! A hash join with a dynamic filter makes each of its output partitions report
//! its build side and then wait until every partition has reported, so the filter
//! it pushes to the probe side's scan is whole. DataFusion 55 counts a partition
//! dropped before it reported only for joins in `Partitioned` mode: a
//! `CollectLeft` join whose output partition is dropped unpolled leaves its other
//! partitions waiting for ever, every task parked. Operators do drop inputs
//! unpolled: a hash join whose partition has an empty build side (an inner, left
//! or semi join then has nothing to return) drops that partition's probe stream,
//! and a limit stops reading once it has its rows. So a `CollectLeft` join under
//! such an operator loses its dynamic filter here; the scans it reached keep a
//! filter that passes every row. Elsewhere (the lookup of an incremental model's
//! changed keys at the top of a plan, where the filter saves the most) it stays.

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::config::ConfigOptions;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::joins::{HashJoinExec, PartitionMode};
use datafusion::physical_plan::replace_children_if_necessary;
use datafusion::physical_plan::union::{InterleaveExec, UnionExec};

/// Removes the dynamic filter of every `CollectLeft` hash join that an operator
/// above it may drop before it is read to the end (see the module's doc).
#[derive(Debug, Default)]
pub struct SafeJoinFilters;

impl PhysicalOptimizerRule for SafeJoinFilters {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        rewrite(plan, false)
    }

    fn name(&self) -> &str {
        "safe_join_dynamic_filters"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `plan` with the hazardous filters removed; `may_be_dropped` says whether an
/// operator above `plan` may drop it unpolled.
fn rewrite(plan: Arc<dyn ExecutionPlan>, may_be_dropped: bool) -> Result<Arc<dyn ExecutionPlan>> {
    let children = plan
        .children()
        .into_iter()
        .enumerate()
        .map(|(index, child)| {
            rewrite(
                Arc::clone(child),
                may_be_dropped || drops_unpolled(plan.as_ref(), index),
            )
        })
        .collect::<Result<Vec<_>>>()?;
    let plan = replace_children_if_necessary(plan, children)?;
    if !may_be_dropped {
        return Ok(plan);
    }
    match plan.downcast_ref::<HashJoinExec>() {
        Some(join)
            if *join.partition_mode() == PartitionMode::CollectLeft
                && !join.dynamic_expressions_produced().is_empty() =>
        {
            tracing::trace!(
                "a hash join under an operator that may drop it runs without its dynamic filter"
            );
            join.builder().reset_state().build_exec()
        }
        _ => Ok(plan),
    }
}

/// Whether `parent` may drop its input `index` before reading it to the end: a
/// hash join's probe side (skipped when the build side is empty), any input of
/// another kind of join, and the input of an operator with a row limit.
fn drops_unpolled(parent: &dyn ExecutionPlan, index: usize) -> bool {
    if parent.fetch().is_some() {
        return true;
    }
    if parent.downcast_ref::<HashJoinExec>().is_some() {
        return index == 1;
    }
    let combines_inputs = parent.downcast_ref::<UnionExec>().is_some()
        || parent.downcast_ref::<InterleaveExec>().is_some();
    parent.children().len() > 1 && !combines_inputs
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use arrow::array::{Int64Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::common::NullEquality;
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    use datafusion::datasource::file_format::FileFormat;
    use datafusion::datasource::file_format::parquet::ParquetFormat;
    use datafusion::datasource::listing::PartitionedFile;
    use datafusion::datasource::memory::MemorySourceConfig;
    use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
    use datafusion::datasource::table_schema::TableSchema;
    use datafusion::execution::object_store::ObjectStoreUrl;
    use datafusion::logical_expr::JoinType;
    use datafusion::physical_expr::expressions::col;
    use datafusion::physical_optimizer::filter_pushdown::FilterPushdown;
    use datafusion::physical_plan::{collect, displayable};
    use datafusion::prelude::{SessionConfig, SessionContext};
    use parquet::arrow::ArrowWriter;

    use super::*;

    fn int(name: &str) -> Field {
        Field::new(name, DataType::Int64, false)
    }

    /// Writes `batch` to `path`, returning the file as a scan reads it.
    fn parquet_file(path: &std::path::Path, batch: &RecordBatch) -> PartitionedFile {
        let file = std::fs::File::create(path).expect("created");
        let mut writer = ArrowWriter::try_new(file, batch.schema(), None).expect("writer");
        writer.write(batch).expect("written");
        writer.close().expect("closed");
        let size = std::fs::metadata(path).expect("metadata").len();
        let path = path
            .to_str()
            .expect("a UTF-8 temp path")
            .trim_start_matches('/');
        PartitionedFile::new(path.to_string(), size)
    }

    /// The shape of an incremental model's lookup (`int_order_touches`): the
    /// affected orders (hash-partitioned in two, one partition empty) left-joined,
    /// partition by partition, to a `CollectLeft` join of customers and touches
    /// whose probe side is a Parquet scan of two files. The dynamic filters are
    /// made as DataFusion makes them (its filter pushdown after optimization).
    fn lookup_plan(folder: &std::path::Path, config: &SessionConfig) -> Arc<dyn ExecutionPlan> {
        let keys: SchemaRef = Arc::new(Schema::new(vec![int("order_id")]));
        let affected =
            RecordBatch::try_new(Arc::clone(&keys), vec![Arc::new(Int64Array::from(vec![7]))])
                .expect("batch");
        let affected = MemorySourceConfig::try_new_exec(&[vec![affected], vec![]], keys, None)
            .expect("affected orders");
        let customers: SchemaRef = Arc::new(Schema::new(vec![int("customer_id")]));
        let customers = MemorySourceConfig::try_new_exec(
            &[vec![
                RecordBatch::try_new(
                    Arc::clone(&customers),
                    vec![Arc::new(Int64Array::from(vec![1, 2]))],
                )
                .expect("batch"),
            ]],
            customers,
            None,
        )
        .expect("customers");
        let touches: SchemaRef = Arc::new(Schema::new(vec![
            int("customer_id"),
            int("order_id"),
            Field::new("touch", DataType::Utf8, false),
        ]));
        let batch = |customer: Vec<i64>, order: Vec<i64>, touch: Vec<&str>| {
            RecordBatch::try_new(
                Arc::clone(&touches),
                vec![
                    Arc::new(Int64Array::from(customer)),
                    Arc::new(Int64Array::from(order)),
                    Arc::new(StringArray::from(touch)),
                ],
            )
            .expect("batch")
        };
        // Each file holds the orders of one hash partition of the affected keys.
        let first = parquet_file(
            &folder.join("touches-0.parquet"),
            &batch(vec![1, 1], vec![7, 7], vec!["a", "b"]),
        );
        let second = parquet_file(
            &folder.join("touches-1.parquet"),
            &batch(vec![2], vec![8], vec!["c"]),
        );
        let mut options = config.options().execution.parquet.clone();
        options.pushdown_filters = true;
        let format =
            ParquetFormat::default().with_options(datafusion::config::TableParquetOptions {
                global: options,
                ..Default::default()
            });
        let source = format.file_source(TableSchema::builder(Arc::clone(&touches)).build());
        let scan = datafusion::datasource::source::DataSourceExec::from_data_source(
            FileScanConfigBuilder::new(ObjectStoreUrl::local_filesystem(), source)
                .with_file_groups(vec![
                    FileGroup::new(vec![first]),
                    FileGroup::new(vec![second]),
                ])
                .build(),
        );
        let inner = HashJoinExec::try_new(
            customers,
            scan,
            vec![(
                col("customer_id", &customers_schema()).expect("column"),
                col("customer_id", &touches).expect("column"),
            )],
            None,
            &JoinType::Inner,
            Some(vec![2, 3]),
            PartitionMode::CollectLeft,
            NullEquality::NullEqualsNothing,
            false,
        )
        .expect("inner join");
        let inner_schema = inner.schema();
        let lookup = HashJoinExec::try_new(
            affected,
            Arc::new(inner),
            vec![(
                col("order_id", &Schema::new(vec![int("order_id")])).expect("column"),
                col("order_id", &inner_schema).expect("column"),
            )],
            None,
            &JoinType::Left,
            Some(vec![0, 2]),
            PartitionMode::Partitioned,
            NullEquality::NullEqualsNothing,
            false,
        )
        .expect("lookup join");
        FilterPushdown::new_post_optimization()
            .optimize(Arc::new(lookup), config.options())
            .expect("filters pushed down")
    }

    fn customers_schema() -> Schema {
        Schema::new(vec![int("customer_id")])
    }

    /// How many dynamic filters the plan's `CollectLeft` hash joins make.
    fn produced_filters(plan: &Arc<dyn ExecutionPlan>) -> usize {
        let mut produced = 0;
        plan.apply(|node| {
            if node
                .downcast_ref::<HashJoinExec>()
                .is_some_and(|join| *join.partition_mode() == PartitionMode::CollectLeft)
            {
                produced += node.dynamic_expressions_produced().len();
            }
            Ok(TreeNodeRecursion::Continue)
        })
        .expect("walked");
        produced
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lookup_whose_inner_join_may_be_dropped_finishes_with_every_row() {
        let folder = tempfile::tempdir().expect("temp dir");
        let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(2));
        let plan = lookup_plan(folder.path(), &ctx.copied_config());
        assert_eq!(
            produced_filters(&plan),
            1,
            "the inner join makes a dynamic filter:\n{}",
            displayable(plan.as_ref()).indent(true)
        );
        let plan = SafeJoinFilters
            .optimize(plan, ctx.copied_config().options())
            .expect("rule applied");
        let shown = displayable(plan.as_ref()).indent(true).to_string();
        assert_eq!(
            produced_filters(&plan),
            0,
            "the inner join's is gone:\n{shown}"
        );
        let result = tokio::time::timeout(Duration::from_secs(30), collect(plan, ctx.task_ctx()))
            .await
            .unwrap_or_else(|_| panic!("the query hangs; its plan:\n{shown}"))
            .expect("runs");
        let mut rows = pretty_format_batches(&result)
            .expect("shown")
            .to_string()
            .lines()
            .filter(|line| line.starts_with("| 7"))
            .map(str::to_string)
            .collect::<Vec<_>>();
        rows.sort();
        assert_eq!(
            rows,
            ["| 7        | a     |", "| 7        | b     |"],
            "{shown}"
        );
    }

    #[tokio::test]
    async fn a_join_no_operator_may_drop_keeps_its_dynamic_filter() {
        let folder = tempfile::tempdir().expect("temp dir");
        let config = SessionConfig::new().with_target_partitions(2);
        let plan = lookup_plan(folder.path(), &config);
        // The inner join run on its own: nothing above it may drop it.
        let kept = SafeJoinFilters
            .optimize(Arc::clone(plan.children()[1]), config.options())
            .expect("rule applied");
        assert_eq!(
            produced_filters(&kept),
            1,
            "{}",
            displayable(kept.as_ref()).indent(true)
        );
    }
}
