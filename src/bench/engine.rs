//! The two engines a benchmark compares, each holding the same tables: Apache
//! DataFusion (configured as `stride run` configures it) and an in-memory DuckDB.
//! Both get the same thread count and memory limit.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use datafusion::catalog::MemorySchemaProvider;
use datafusion::common::TableReference;
use datafusion::datasource::MemTable;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::SessionContext;

use super::workload::{Step, StepKind};
use crate::error::{Error, Result};
use crate::publish::arrow_bridge::from_duckdb;
use crate::publish::types::quote;

/// Which engine.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// Apache DataFusion, as stride runs its models.
    Datafusion,
    /// DuckDB, in memory.
    Duckdb,
}

impl EngineKind {
    /// The name in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            EngineKind::Datafusion => "datafusion",
            EngineKind::Duckdb => "duckdb",
        }
    }
}

/// What both engines are given: threads and an optional memory limit in bytes.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Threads (DataFusion's partitions, DuckDB's `threads`).
    pub threads: usize,
    /// A memory limit in bytes for each engine, if any.
    pub memory: Option<u64>,
}

/// One engine with tables loaded.
pub enum Engine {
    /// DataFusion with the tables as in-memory tables.
    DataFusion(SessionContext),
    /// DuckDB in memory, with a folder for the Parquet files it loads from.
    DuckDb {
        conn: duckdb::Connection,
        spool: PathBuf,
    },
}

impl Engine {
    /// A fresh engine of `kind` with `limits`; DuckDB loads tables through Parquet
    /// files under `spool`.
    pub fn new(kind: EngineKind, limits: Limits, spool: &Path) -> Result<Engine> {
        match kind {
            EngineKind::Datafusion => {
                let session = crate::engine::new_session();
                let mut config = session.copied_config();
                config.options_mut().execution.target_partitions = limits.threads.max(1);
                let mut runtime = RuntimeEnvBuilder::new();
                if let Some(bytes) = limits.memory {
                    runtime = runtime.with_memory_limit(bytes as usize, 1.0);
                }
                let state = SessionStateBuilder::new_from_existing(session.state())
                    .with_config(config)
                    .with_runtime_env(Arc::new(runtime.build()?))
                    .build();
                Ok(Engine::DataFusion(SessionContext::new_with_state(state)))
            }
            EngineKind::Duckdb => {
                let conn = duckdb::Connection::open_in_memory().map_err(duck)?;
                let mut settings = format!("set threads = {};", limits.threads.max(1));
                if let Some(bytes) = limits.memory {
                    settings.push_str(&format!(" set memory_limit = '{bytes}B';"));
                }
                conn.execute_batch(&settings).map_err(duck)?;
                std::fs::create_dir_all(spool)?;
                Ok(Engine::DuckDb {
                    conn,
                    spool: spool.to_path_buf(),
                })
            }
        }
    }

    /// The engine's version string.
    pub fn version(&self) -> String {
        match self {
            Engine::DataFusion(_) => format!("DataFusion {}", datafusion::DATAFUSION_VERSION),
            Engine::DuckDb { conn, .. } => conn
                .query_row("select version()", [], |row| row.get::<_, String>(0))
                .map(|v| format!("DuckDB {v}"))
                .unwrap_or_else(|_| "DuckDB".into()),
        }
    }

    /// Loads `batches` as the table `name` (`schema.table` or `table`).
    pub async fn load(
        &mut self,
        name: &str,
        batches: &[RecordBatch],
        schema: &SchemaRef,
    ) -> Result<()> {
        let (namespace, table) = split_name(name);
        match self {
            Engine::DataFusion(ctx) => {
                let provider = MemTable::try_new(Arc::clone(schema), vec![batches.to_vec()])?;
                register(ctx, name, Arc::new(provider))?;
            }
            Engine::DuckDb { conn, spool } => {
                // DuckDB's own Parquet reader takes every Arrow type stride uses.
                // Instants go in as UTC wall-clock TIMESTAMPs: the bundled DuckDB has
                // no time-zone extension, so a TIMESTAMPTZ cannot even become a DATE.
                let file = spool.join(format!("{}.parquet", name.replace(['.', '/'], "_")));
                let (schema, batches) = without_time_zones(schema, batches)?;
                write_parquet(&file, &schema, &batches)?;
                create_duckdb_schema(conn, namespace)?;
                conn.execute_batch(&format!(
                    "create or replace table {} as select * from read_parquet({})",
                    qualified(namespace, table),
                    crate::publish::types::literal(&file.display().to_string())
                ))
                .map_err(duck)?;
                let _ = std::fs::remove_file(&file);
            }
        }
        Ok(())
    }

    /// Runs one step: a query's rows, or a table or view created from one (no rows).
    pub async fn execute(&mut self, step: &Step, kind: EngineKind) -> Result<Vec<RecordBatch>> {
        let sql = step.sql_for(kind);
        match self {
            Engine::DataFusion(ctx) => match &step.kind {
                StepKind::Select => Ok(ctx.sql(sql).await?.collect().await?),
                StepKind::CreateTable(name) => {
                    let frame = ctx.sql(sql).await?;
                    let planned: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
                    let batches = frame.collect().await?;
                    // The batches' own schema: nullability can differ from the plan's.
                    let schema = batches.first().map_or(planned, RecordBatch::schema);
                    register(
                        ctx,
                        name,
                        Arc::new(MemTable::try_new(schema, vec![batches])?),
                    )?;
                    Ok(Vec::new())
                }
                StepKind::CreateView(name) => {
                    let view = ctx.sql(sql).await?.into_view();
                    register(ctx, name, view)?;
                    Ok(Vec::new())
                }
            },
            Engine::DuckDb { conn, .. } => match &step.kind {
                StepKind::Select => {
                    let mut statement = conn.prepare(sql).map_err(duck)?;
                    let batches = statement.query_arrow([]).map_err(duck)?;
                    batches.map(from_duckdb).collect()
                }
                StepKind::CreateTable(name) | StepKind::CreateView(name) => {
                    let what = if matches!(step.kind, StepKind::CreateView(_)) {
                        "view"
                    } else {
                        "table"
                    };
                    let (namespace, table) = split_name(name);
                    create_duckdb_schema(conn, namespace)?;
                    conn.execute_batch(&format!(
                        "create or replace {what} {} as {sql}",
                        qualified(namespace, table)
                    ))
                    .map_err(duck)?;
                    Ok(Vec::new())
                }
            },
        }
    }

    /// Reads a whole table (or view) back, for checking answers.
    pub async fn read(&mut self, name: &str, kind: EngineKind) -> Result<Vec<RecordBatch>> {
        let (namespace, table) = split_name(name);
        let step = Step::select(format!("select * from {}", qualified(namespace, table)));
        self.execute(&step, kind).await
    }
}

/// The batches with the types both engines read alike: string views as strings,
/// millisecond timestamps as microseconds. Returns the new schema too.
pub fn common_types(
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    cast_all(schema, batches, |data_type| match data_type {
        DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
        DataType::Timestamp(_, zone) => DataType::Timestamp(TimeUnit::Microsecond, zone.clone()),
        other => other.clone(),
    })
}

/// The batches with every UTC timestamp as a timestamp without zone (same values).
fn without_time_zones(
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    cast_all(schema, batches, |data_type| match data_type {
        DataType::Timestamp(unit, Some(_)) => DataType::Timestamp(*unit, None),
        other => other.clone(),
    })
}

/// The batches with each column cast to `target` of its type, all nullable.
fn cast_all(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    target: impl Fn(&DataType) -> DataType,
) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| Field::new(f.name(), target(f.data_type()), true))
        .collect();
    let cast_schema: SchemaRef = Arc::new(Schema::new(fields));
    let converted = batches
        .iter()
        .map(|batch| {
            let columns = batch
                .columns()
                .iter()
                .zip(cast_schema.fields())
                .map(|(column, field)| cast(column, field.data_type()))
                .collect::<arrow::error::Result<Vec<_>>>()?;
            Ok(RecordBatch::try_new(Arc::clone(&cast_schema), columns)?)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((cast_schema, converted))
}

fn write_parquet(file: &Path, schema: &SchemaRef, batches: &[RecordBatch]) -> Result<()> {
    let out = std::fs::File::create(file)?;
    let mut writer = parquet::arrow::ArrowWriter::try_new(out, Arc::clone(schema), None)?;
    for batch in batches {
        writer.write(batch)?;
    }
    writer.close()?;
    Ok(())
}

fn split_name(name: &str) -> (Option<&str>, &str) {
    match name.split_once('.') {
        Some((namespace, table)) => (Some(namespace), table),
        None => (None, name),
    }
}

fn table_reference(namespace: Option<&str>, table: &str) -> TableReference {
    match namespace {
        Some(namespace) => TableReference::partial(namespace.to_string(), table.to_string()),
        None => TableReference::bare(table.to_string()),
    }
}

fn qualified(namespace: Option<&str>, table: &str) -> String {
    match namespace {
        Some(namespace) => format!("{}.{}", quote(namespace), quote(table)),
        None => quote(table),
    }
}

/// Registers `provider` in DataFusion as `name` (`schema.table` or `table`), in
/// place of what had that name.
fn register(
    ctx: &SessionContext,
    name: &str,
    provider: Arc<dyn datafusion::catalog::TableProvider>,
) -> Result<()> {
    let (namespace, table) = split_name(name);
    if let Some(namespace) = namespace {
        ensure_schema(ctx, namespace)?;
    }
    let reference = table_reference(namespace, table);
    ctx.deregister_table(reference.clone())?;
    ctx.register_table(reference, provider)?;
    Ok(())
}

/// Creates DuckDB's schema `namespace`, if a name has one.
fn create_duckdb_schema(conn: &duckdb::Connection, namespace: Option<&str>) -> Result<()> {
    if let Some(namespace) = namespace {
        conn.execute_batch(&format!("create schema if not exists {}", quote(namespace)))
            .map_err(duck)?;
    }
    Ok(())
}

fn ensure_schema(ctx: &SessionContext, namespace: &str) -> Result<()> {
    let catalog = ctx
        .catalog("datafusion")
        .ok_or_else(|| Error::Bench("DataFusion has no default catalog".into()))?;
    if catalog.schema(namespace).is_none() {
        catalog.register_schema(namespace, Arc::new(MemorySchemaProvider::new()))?;
    }
    Ok(())
}

fn duck(e: duckdb::Error) -> Error {
    Error::Bench(format!("DuckDB: {e}"))
}
