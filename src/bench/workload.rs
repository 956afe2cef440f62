//! What a suite hands the benchmark: the tables both engines load, and the queries
//! timed on them. A query is one or more steps (the pipeline suite creates every
//! model in turn); its answer is the last step's rows or, for a pipeline, the tables
//! it names.

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;

use super::engine::EngineKind;

/// A table both engines load before the queries run.
pub struct Table {
    /// `table` or `schema.table`.
    pub name: String,
    /// Its schema, in the types both engines read alike.
    pub schema: SchemaRef,
    /// Its rows.
    pub batches: Vec<RecordBatch>,
}

/// What a step does with its SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepKind {
    /// Returns rows.
    Select,
    /// Creates (or replaces) this table from the rows.
    CreateTable(String),
    /// Creates (or replaces) this view.
    CreateView(String),
}

/// One SQL statement of a query.
#[derive(Debug, Clone)]
pub struct Step {
    /// The SQL, as both engines get it where they accept it.
    pub sql: String,
    /// DuckDB's own text, where its dialect needs one.
    pub duckdb_sql: Option<String>,
    /// What the step does.
    pub kind: StepKind,
}

impl Step {
    /// A step returning the rows of `sql`.
    pub fn select(sql: String) -> Step {
        Step {
            sql,
            duckdb_sql: None,
            kind: StepKind::Select,
        }
    }

    /// The text `kind` runs.
    pub fn sql_for(&self, kind: EngineKind) -> &str {
        match (kind, &self.duckdb_sql) {
            (EngineKind::Duckdb, Some(sql)) => sql,
            _ => &self.sql,
        }
    }
}

/// A timed unit of a suite.
pub struct Query {
    /// Its name in the report (`q01`, `fct_orders`, `pipeline`).
    pub name: String,
    /// The steps, run in order; the time is theirs together.
    pub steps: Vec<Step>,
    /// For a pipeline: the tables whose rows are its answer. Otherwise empty, and the
    /// answer is the last step's rows.
    pub answer_tables: Vec<String>,
    /// Whether the answer's row order is part of it (a top-level ORDER BY).
    pub ordered: bool,
}

impl Query {
    /// Whether some step runs another text on DuckDB.
    pub fn has_dialect_text(&self) -> bool {
        self.steps.iter().any(|s| s.duckdb_sql.is_some())
    }
}

/// A suite ready to run: its tables and queries.
pub struct Workload {
    /// `pipeline`, `models`, `analyses` or `tpch`.
    pub suite: String,
    /// What the suite ran on, for the report (`lake ./lake`, `TPC-H SF 1`).
    pub data: String,
    /// The tables both engines load.
    pub tables: Vec<Table>,
    /// The queries, in order.
    pub queries: Vec<Query>,
}

/// Whether `sql` orders its result at the top (so row order is part of the answer),
/// as DataFusion plans it; `false` when it cannot be planned.
pub async fn orders_its_result(ctx: &SessionContext, sql: &str) -> bool {
    let Ok(plan) = ctx.state().create_logical_plan(sql).await else {
        return false;
    };
    let mut node = &plan;
    loop {
        match node {
            LogicalPlan::Sort(_) => return true,
            LogicalPlan::Projection(p) => node = p.input.as_ref(),
            LogicalPlan::Limit(l) => node = l.input.as_ref(),
            LogicalPlan::SubqueryAlias(a) => node = a.input.as_ref(),
            _ => return false,
        }
    }
}
