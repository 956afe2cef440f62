//! `stride query`: SQL over the lake (DataFusion) or over the published file (DuckDB).

use std::path::PathBuf;

use anyhow::Context;

use super::emit::emit;
use super::run::connect;
use super::{Checked, Exit, Globals};
use crate::delta::AsOf;
use crate::engine;
use crate::output::Format;
use crate::publish::{self, DEFAULT_DUCKDB};
use crate::run_history;

/// What `stride query --help` says after the options.
pub const AFTER_HELP: &str = "`table_at('model', N)` (or a timestamp instead of N) reads one \
                            model at another version, next to the others. The run history \
                            is `stride.runs` (a row per run) and `stride.run_models` (a row \
                            per model of a run). With `--engine duckdb` the SQL runs on the \
                            published DuckDB file instead (the marts only, read-only).";

/// Which engine `stride query` runs the SQL on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum QueryEngine {
    /// Apache DataFusion over the lake's sources and Delta tables.
    #[default]
    Datafusion,
    /// DuckDB over the published file.
    Duckdb,
}

/// The arguments of `stride query`.
#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    /// The SQL to run.
    sql: String,
    /// How to print the result: table, csv or json.
    #[arg(long, value_enum, default_value_t = Format::Table, hide_possible_values = true)]
    format: Format,
    /// Read every model at this Delta version.
    #[arg(long, conflicts_with = "as_of", value_name = "N")]
    version: Option<u64>,
    /// Read every model as of this time (2026-11-27T10:00:00Z).
    #[arg(long, value_name = "TIMESTAMP")]
    as_of: Option<String>,
    /// Where the SQL runs: datafusion (over the lake) or duckdb (over the published file).
    #[arg(long, value_enum, default_value_t = QueryEngine::Datafusion,
          hide_possible_values = true, conflicts_with_all = ["version", "as_of"])]
    engine: QueryEngine,
    /// The DuckDB file `--engine duckdb` reads.
    #[arg(long, env = "STRIDE_DUCKDB", default_value = DEFAULT_DUCKDB, value_name = "PATH")]
    duckdb: PathBuf,
    /// Run the query on this cluster (`stride cluster scheduler`).
    #[arg(long, env = "STRIDE_CLUSTER", value_name = "df://HOST:PORT")]
    cluster: Option<String>,
    /// With --cluster: fail when the query has not begun to return rows after
    /// this many seconds (0: no limit).
    #[arg(long, env = "STRIDE_CLUSTER_TIMEOUT", value_name = "SECONDS",
          default_value_t = crate::cluster::DEFAULT_QUERY_TIMEOUT_SECS)]
    cluster_timeout: u64,
}

impl QueryArgs {
    /// The versions the models are read at.
    fn as_of(&self) -> anyhow::Result<AsOf> {
        Ok(match (self.version, &self.as_of) {
            (Some(v), _) => AsOf::Version(v),
            (None, Some(text)) => AsOf::Time(engine::parse_time(text).context("--as-of")?),
            (None, None) => AsOf::Latest,
        })
    }
}

/// Runs the SQL and prints its rows.
pub async fn query(args: QueryArgs, globals: &Globals) -> anyhow::Result<Exit> {
    // The published file needs no lake (Metabase's host may not reach it).
    if args.engine == QueryEngine::Duckdb {
        emit(&publish::query(&args.duckdb, &args.sql)?[..], args.format)?;
        return Ok(Exit::Success);
    }
    let lake = globals.lake().await?;
    let (project, _) = globals.project(Checked::No)?;
    let as_of = args.as_of()?;
    let cluster = connect(args.cluster.as_deref(), args.cluster_timeout).await?;
    let session = engine::query_session_on(&lake, &project, as_of, cluster).await?;
    run_history::register(&session.ctx, &lake, &args.sql).await?;
    emit(&engine::query(&session, &args.sql).await?[..], args.format)?;
    Ok(Exit::Success)
}
