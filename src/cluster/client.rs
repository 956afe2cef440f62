//! The client side of a cluster: the session a run or a query sends its plans
//! through, whether a plan can be sent, and its results read back as a local
//! table so the run checks and commits them as it does its own.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use ballista_core::extension::{SessionConfigExt, SessionStateExt};
use datafusion::catalog::{Session, TableProvider};
use datafusion::execution::SessionState;
use datafusion::execution::SessionStateBuilder;
use datafusion::logical_expr::{Expr, LogicalPlan, TableType};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext};
use datafusion_proto::logical_plan::AsLogicalPlan;
use datafusion_proto::protobuf::LogicalPlanNode;

use super::change_feed::ChangeFeedScan;
use super::codec::{StrideLogicalCodec, StridePhysicalCodec};
use super::delta_scan::DeltaScan;
use super::parse_address;
use crate::error::{Error, Result};

/// Where a model's query ran.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Placement {
    /// In the run's own process (no cluster asked for).
    #[default]
    Local,
    /// On the cluster's executors.
    Cluster,
    /// In the run's own process although a cluster was asked for, and why.
    LocalBecause(String),
}

impl Placement {
    /// `cluster`, `local`, or `local: <why>`.
    pub fn describe(&self) -> String {
        match self {
            Placement::Local => "local".to_string(),
            Placement::Cluster => "cluster".to_string(),
            Placement::LocalBecause(why) => format!("local: {why}"),
        }
    }
}

/// A cluster to send queries to.
#[derive(Clone)]
pub struct Cluster {
    address: String,
    host: String,
    port: u16,
    state: SessionState,
    timeout: Option<Duration>,
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("address", &self.address)
            .finish()
    }
}

/// The session settings every role and the client agree on: stride's own
/// (`crate::engine::session_config`), Ballista's, and the ones Ballista needs off
/// to give right answers across stages.
pub fn cluster_config() -> SessionConfig {
    let config = crate::engine::session_config()
        .upgrade_for_ballista()
        .with_ballista_logical_extension_codec(Arc::new(StrideLogicalCodec::default()))
        .with_ballista_physical_extension_codec(Arc::new(StridePhysicalCodec::default()))
        .with_ballista_grpc_client_max_message_size(super::roles::PLAN_MESSAGE_BYTES as usize);
    // A dynamic filter made by one stage (a join's build side, a TopK) is never
    // filled in for a scan in another: the scan waits forever
    // (apache/datafusion-ballista#1375). Setting the umbrella option sets the
    // join, TopK and aggregate ones too.
    config.set_bool("datafusion.optimizer.enable_dynamic_filter_pushdown", false)
}

impl Cluster {
    /// A client of the scheduler at `address` (`df://host:port`). Nothing is
    /// contacted yet; see [`Cluster::check_reachable`].
    pub fn connect(address: &str) -> Result<Cluster> {
        let (host, port) = parse_address(address)?;
        let state = SessionStateBuilder::new()
            .with_default_features()
            .with_config(cluster_config())
            .build()
            .upgrade_for_ballista(format!("http://{host}:{port}"))?;
        Ok(Cluster {
            address: format!("df://{host}:{port}"),
            host,
            port,
            state,
            timeout: None,
        })
    }

    /// The same cluster, on which a query whose results have not begun to come
    /// back after `timeout` fails (none: no limit). A bound is the guard against a
    /// job that never ends: Ballista 55's adaptive planner can leave a job waiting
    /// forever after an executor running it is lost.
    pub fn with_timeout(mut self, timeout: Option<Duration>) -> Cluster {
        self.timeout = timeout;
        self
    }

    /// The scheduler's address, `df://host:port`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Fails in plain words when nothing listens at the scheduler's address.
    pub async fn check_reachable(&self) -> Result<()> {
        let target = format!("{}:{}", self.host, self.port);
        let connected = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::TcpStream::connect(&target),
        )
        .await;
        match connected {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(Error::Setting {
                setting: "--cluster".to_string(),
                reason: format!(
                    "no scheduler reachable at {} ({e}); start one with `stride cluster scheduler`",
                    self.address
                ),
            }),
            Err(_) => Err(Error::Setting {
                setting: "--cluster".to_string(),
                reason: format!("the scheduler at {} did not answer in 5 s", self.address),
            }),
        }
    }

    /// Whether `frame`'s plan can be sent to the cluster: `Err` says what in it
    /// cannot (a table only this process can read). The plan checked is the one
    /// sent: optimized as the cluster session optimizes it (subqueries turned
    /// into joins, views inlined).
    pub fn can_send(&self, frame: &DataFrame) -> std::result::Result<(), String> {
        let first_line = |e: &dyn std::fmt::Display| {
            let text = e.to_string();
            text.lines().next().unwrap_or(&text).to_string()
        };
        let optimized = self
            .state
            .optimize(frame.logical_plan())
            .map_err(|e| first_line(&e))?;
        let codec = StrideLogicalCodec::default();
        LogicalPlanNode::try_from_logical_plan(&optimized, &codec)
            .map(|_| ())
            .map_err(|e| first_line(&e))
    }

    /// How queries sent here read `table` (model `model`, `provider` being
    /// delta-rs's scan of it): stride's scan of the same version, which executors
    /// can run; delta-rs's, with the reason logged, when they cannot (the plans
    /// reading it then run in this process).
    pub fn readable(
        &self,
        model: &str,
        table: &deltalake::DeltaTable,
        provider: Arc<dyn TableProvider>,
    ) -> Arc<dyn TableProvider> {
        match DeltaScan::try_new(model, table, provider.schema()) {
            Ok(scan) => Arc::new(scan),
            Err(e) => {
                tracing::warn!("{}", crate::error::one_line_in_model(&e));
                provider
            }
        }
    }

    /// How queries sent here read the change feed of `table` (model `model`) after
    /// version `after`, `feed` being delta-rs's: stride's feed of the same
    /// versions, which executors can read; delta-rs's, with the reason logged,
    /// when they cannot (the plans reading it then run in this process).
    pub async fn changes_readable(
        &self,
        model: &str,
        table: &deltalake::DeltaTable,
        after: u64,
        feed: Arc<dyn TableProvider>,
    ) -> Arc<dyn TableProvider> {
        match ChangeFeedScan::try_new(model, table, after, feed.schema()).await {
            Ok(scan) => Arc::new(scan),
            Err(e) => {
                tracing::warn!("{}", crate::error::one_line_in_model(&e));
                feed
            }
        }
    }

    /// `frame` as it will be executed: on the cluster when its plan can be sent
    /// (`what` names it in the log), else in this process with the reason logged.
    pub fn place(
        &self,
        local: &SessionContext,
        frame: DataFrame,
        what: &str,
    ) -> Result<(DataFrame, Placement)> {
        match self.can_send(&frame) {
            Ok(()) => Ok((self.remote(local, frame, what)?, Placement::Cluster)),
            Err(why) => {
                tracing::warn!("{what} runs in this process: {why}");
                Ok((frame, Placement::LocalBecause(why)))
            }
        }
    }

    /// `frame` run on the cluster, as a frame of `local` reading its results:
    /// each time it is executed, its plan is sent to the scheduler and the
    /// result partitions are fetched from the executors.
    /// `what` names the results in the log line that says how much was fetched.
    pub fn remote(
        &self,
        local: &SessionContext,
        frame: DataFrame,
        what: &str,
    ) -> Result<DataFrame> {
        let plan = frame.logical_plan().clone();
        let schema = Arc::new(plan.schema().as_arrow().clone());
        let results = ClusterResults {
            plan,
            schema,
            state: self.state.clone(),
            what: what.to_string(),
            address: self.address.clone(),
            timeout: self.timeout,
        };
        Ok(local.read_table(Arc::new(results))?)
    }
}

/// The rows of a plan executed on the cluster.
#[derive(Debug)]
struct ClusterResults {
    plan: LogicalPlan,
    schema: SchemaRef,
    state: SessionState,
    what: String,
    address: String,
    timeout: Option<Duration>,
}

#[async_trait]
impl TableProvider for ClusterResults {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let remote = self.state.create_physical_plan(&self.plan).await?;
        let remote: Arc<dyn ExecutionPlan> = Arc::new(Fetched {
            what: self.what.clone(),
            address: self.address.clone(),
            timeout: self.timeout,
            input: remote,
            context: self.state.task_ctx(),
        });
        let Some(projection) = projection else {
            return Ok(remote);
        };
        let exprs: Vec<(Arc<dyn datafusion::physical_expr::PhysicalExpr>, String)> = projection
            .iter()
            .map(|&i| {
                let field = self.schema.field(i);
                let column = datafusion::physical_expr::expressions::Column::new(field.name(), i);
                (
                    Arc::new(column) as Arc<dyn datafusion::physical_expr::PhysicalExpr>,
                    field.name().clone(),
                )
            })
            .collect();
        Ok(Arc::new(ProjectionExec::try_new(exprs, remote)?))
    }
}

/// The results of a plan run on the cluster. It is executed with the cluster
/// session's settings, not those of the local session reading it: Ballista sends
/// the settings of the context that executes its node along with the plan, and
/// the local ones (dynamic filters on) give wrong plans across stages. The log
/// says how many rows and bytes each query brought back. Results that have not
/// begun to come back within `timeout` are an error.
#[derive(Debug)]
struct Fetched {
    what: String,
    address: String,
    timeout: Option<Duration>,
    input: Arc<dyn ExecutionPlan>,
    context: Arc<datafusion::execution::TaskContext>,
}

impl datafusion::physical_plan::DisplayAs for Fetched {
    fn fmt_as(
        &self,
        _t: datafusion::physical_plan::DisplayFormatType,
        f: &mut fmt::Formatter,
    ) -> fmt::Result {
        write!(f, "Fetched: {}", self.what)
    }
}

impl ExecutionPlan for Fetched {
    fn name(&self) -> &str {
        "Fetched"
    }

    fn properties(&self) -> &Arc<datafusion::physical_plan::PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(
            &Arc<dyn datafusion::physical_expr::PhysicalExpr>,
        ) -> datafusion::error::Result<
            datafusion::common::tree_node::TreeNodeRecursion,
        >,
    ) -> datafusion::error::Result<datafusion::common::tree_node::TreeNodeRecursion> {
        Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
        _options: datafusion::physical_plan::ReplaceChildrenOptions,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        match children.len() {
            1 => Ok(Arc::new(Fetched {
                what: self.what.clone(),
                address: self.address.clone(),
                timeout: self.timeout,
                input: children.swap_remove(0),
                context: Arc::clone(&self.context),
            })),
            n => Err(datafusion::error::DataFusionError::Internal(format!(
                "Fetched takes one input, not {n}"
            ))),
        }
    }

    #[allow(deprecated)]
    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            datafusion::physical_plan::ReplaceChildrenOptions::new(
                datafusion::physical_plan::ChildrenPropertiesMode::Recompute,
            ),
        )
    }

    #[allow(deprecated)]
    fn with_new_children_and_same_properties(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        self.with_new_children(children)
    }

    fn execute(
        &self,
        partition: usize,
        _context: Arc<datafusion::execution::TaskContext>,
    ) -> datafusion::error::Result<datafusion::execution::SendableRecordBatchStream> {
        Ok(Box::pin(Counting {
            inner: self.input.execute(partition, Arc::clone(&self.context))?,
            what: self.what.clone(),
            rows: 0,
            bytes: 0,
            started: std::time::Instant::now(),
            deadline: self.timeout.map(|limit| Deadline {
                limit,
                address: self.address.clone(),
                timer: Box::pin(tokio::time::sleep(limit)),
            }),
            ended: false,
        }))
    }
}

/// A stream that counts what passes and logs the totals at its end, and fails
/// when nothing has come by its deadline.
struct Counting {
    inner: datafusion::execution::SendableRecordBatchStream,
    what: String,
    rows: usize,
    bytes: usize,
    started: std::time::Instant,
    /// Until the first batch (or the end) arrives.
    deadline: Option<Deadline>,
    ended: bool,
}

/// How long a query on the cluster may take to return its first rows.
struct Deadline {
    limit: Duration,
    address: String,
    timer: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl futures::Stream for Counting {
    type Item = datafusion::error::Result<arrow::record_batch::RecordBatch>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use futures::StreamExt;
        if self.ended {
            return std::task::Poll::Ready(None);
        }
        let polled = self.inner.poll_next_unpin(cx);
        if polled.is_ready() {
            self.deadline = None;
        }
        let expired = self
            .deadline
            .as_mut()
            .is_some_and(|d| d.timer.as_mut().poll(cx).is_ready());
        if let (true, Some(deadline)) = (expired, &self.deadline) {
            let error = datafusion::error::DataFusionError::Execution(format!(
                "the cluster at {} returned no results for {} within {} s \
                 (--cluster-timeout); its job may be waiting for an executor that \
                 was lost: check the executors, then run again",
                deadline.address,
                self.what,
                deadline.limit.as_secs()
            ));
            self.ended = true;
            return std::task::Poll::Ready(Some(Err(error)));
        }
        match &polled {
            std::task::Poll::Ready(Some(Ok(batch))) => {
                self.rows += batch.num_rows();
                self.bytes += batch
                    .columns()
                    .iter()
                    .map(|c| c.to_data().get_slice_memory_size().unwrap_or_default())
                    .sum::<usize>();
            }
            std::task::Poll::Ready(None) => tracing::info!(
                "{}: {} rows, {:.1} MiB fetched from the cluster in {:.2}s",
                self.what,
                self.rows,
                self.bytes as f64 / f64::from(1 << 20),
                self.started.elapsed().as_secs_f64()
            ),
            _ => {}
        }
        polled
    }
}

impl datafusion::physical_plan::RecordBatchStream for Counting {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
    use futures::StreamExt;

    use super::{Counting, Deadline};

    fn waiting_forever(timeout: Option<Duration>) -> Counting {
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, true)]));
        let never = futures::stream::pending();
        Counting {
            inner: Box::pin(RecordBatchStreamAdapter::new(schema, never)),
            what: "fct_orders".to_string(),
            rows: 0,
            bytes: 0,
            started: std::time::Instant::now(),
            deadline: timeout.map(|limit| Deadline {
                limit,
                address: "df://scheduler:50050".to_string(),
                timer: Box::pin(tokio::time::sleep(limit)),
            }),
            ended: false,
        }
    }

    #[tokio::test]
    async fn a_query_that_never_returns_fails_at_its_time_limit() {
        let mut results = waiting_forever(Some(Duration::from_millis(50)));
        let first = tokio::time::timeout(Duration::from_secs(10), results.next())
            .await
            .expect("the limit ends the wait");
        let error = first.expect("an item").expect_err("an error").to_string();
        assert!(
            error.contains("df://scheduler:50050")
                && error.contains("fct_orders")
                && error.contains("--cluster-timeout"),
            "{error}"
        );
        assert!(results.next().await.is_none(), "the stream ends after it");
        // Without a limit it waits.
        let mut unbounded = waiting_forever(None);
        let waited = tokio::time::timeout(Duration::from_millis(200), unbounded.next()).await;
        assert!(waited.is_err(), "no limit, no error");
    }
}
