//! The command line of SPEC section 6. It only parses and prints: each command's
//! file holds its arguments, their `resolve()` into what the library takes, and a
//! short function that calls the library ([`crate::ops::Lakehouse`] for what
//! changes or inspects a lake) and returns how the command ended as a value.
//! Errors become `anyhow` errors with context here, at the edge.

mod bench;
mod cluster;
mod demo;
mod diff;
mod emit;
mod generate;
mod history;
mod maintain;
mod quarantine;
mod query;
mod run;
mod runs;
mod serve;
mod sync;
mod test;
mod verify;

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{Settings, parse_vars};
use crate::contracts::{Contracts, ContractsSource};
use crate::lake::Lake;
use crate::models::{Project, ProjectSource, Vars};
use crate::ops::Lakehouse;

pub use emit::ReportFormat;
pub use query::QueryEngine;

/// The lake used when neither `--lake`, `STRIDE_LAKE` nor the config file names one.
pub const DEFAULT_LAKE: &str = "./lake";

/// stride: raw change batches in, attribution marts out.
#[derive(Debug, Parser)]
#[command(name = "stride", version, about, long_about = None)]
pub struct Cli {
    /// The lake root: a local folder, a file:// URL or s3://bucket/prefix
    /// [default: `lake` in the config file, else ./lake]. S3 settings come from the
    /// AWS_* variables or the config file's [s3] table.
    #[arg(long, global = true, env = "STRIDE_LAKE")]
    pub lake: Option<String>,

    /// The config file [default: ./stride.toml when it exists].
    #[arg(long, global = true, env = "STRIDE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Read the SQL project from this folder instead of the copy built into the binary.
    #[arg(long, global = true, env = "STRIDE_QUERIES", value_name = "DIR")]
    pub queries: Option<PathBuf>,

    /// Read the data contracts (`*.toml`) from this folder instead of the copy of
    /// `data_contracts/` built into the binary.
    #[arg(long, global = true, env = "STRIDE_CONTRACTS", value_name = "DIR")]
    pub contracts: Option<PathBuf>,

    /// Values for the project's variables, `{{ var('name') }}` in models: a YAML or
    /// JSON mapping, as dbt's flag takes it (`--vars '{"dda_window_days": 30}'`).
    /// They override the config file's [vars] table; a model that reads a changed
    /// value is rebuilt.
    #[arg(long, global = true, env = "STRIDE_VARS", value_name = "YAML")]
    pub vars: Option<String>,

    /// More log output (-v: debug, -vv: trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Land the next N daily batches after the last one in the lake.
    Generate(generate::GenerateArgs),
    /// Bring every model up to date with all landed batches; commit Delta versions.
    Run(run::RunArgs),
    /// Run SQL over the sources (raw.<table>) and the models (by name).
    #[command(after_help = query::AFTER_HELP)]
    Query(query::QueryArgs),
    /// Publish the marts to the DuckDB file Metabase reads (its views switch to the new
    /// marts all at once).
    Sync(sync::SyncArgs),
    /// The Delta versions of a model: version, time, operation, rows, batches consumed.
    History(history::HistoryArgs),
    /// Prove the incremental tables equal a rebuild: rebuild the models from the
    /// raw files their current versions consumed, in a scratch folder of the lake,
    /// and compare each with its current table (exit 1 when any differs).
    Verify(verify::VerifyArgs),
    /// What changed in a model between two versions (default: its last change), or
    /// in each mart a run committed (`--run`).
    #[command(after_help = diff::AFTER_HELP)]
    Diff(diff::DiffArgs),
    /// Compact the small files incremental runs leave in the model tables.
    Optimize(maintain::OptimizeArgs),
    /// Delete table files that no version from the last N hours reads.
    Vacuum(maintain::VacuumArgs),
    /// Run the data contracts on the current tables and print each rule's outcome.
    Test(test::TestArgs),
    /// Run a role of a cluster (Apache DataFusion Ballista) that `run --cluster`
    /// and `query --cluster` send the models' queries to.
    Cluster {
        #[command(subcommand)]
        role: cluster::ClusterRole,
    },
    /// The rows and files the source contracts set aside, and their replay.
    Quarantine {
        #[command(subcommand)]
        action: quarantine::QuarantineAction,
    },
    /// Benchmark DataFusion against DuckDB on the same data and SQL: the project's
    /// pipeline, its models, its analyses, and TPC-H.
    #[command(args_conflicts_with_subcommands = true)]
    Bench(bench::BenchArgs),
    /// The run history: every run's trigger, status, times and what it did.
    #[command(args_conflicts_with_subcommands = true)]
    Runs(runs::RunsArgs),
    /// Keep the marts fresh: runs on cron schedules and when new batches land, one
    /// at a time, with retries of transient failures, a run history and a JSON API.
    Serve(serve::ServeArgs),
    /// The main job: generate 30 days if the lake is empty, run, print the headline answers.
    Demo(demo::DemoArgs),
}

/// How a command ended, for the process's exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// It did what it was asked (exit 0).
    Success,
    /// It ran, and its answer is a failure: this line says which (exit 1).
    Failure(String),
}

impl Exit {
    /// [`Exit::Failure`] with `why` when `failed`, else success.
    fn failure_if(failed: bool, why: impl FnOnce() -> String) -> Exit {
        if failed {
            Exit::Failure(why())
        } else {
            Exit::Success
        }
    }
}

/// Sets up logging to stderr: info for stride by default, more with -v or RUST_LOG.
pub fn init_logging(verbose: u8) {
    let default = match verbose {
        // Libraries log the errors they also return; stride reports those itself.
        0 => "stride=info",
        1 => "stride=debug,warn",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .without_time();
    // The same lines also go to the log of the run going, if any.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(stderr)
        .with(crate::run_history::CaptureLayer)
        .try_init();
}

/// Runs the parsed command: dispatch only.
pub async fn execute(cli: Cli) -> anyhow::Result<Exit> {
    let globals = Globals {
        lake: cli.lake,
        config: cli.config,
        queries: cli.queries,
        contracts: cli.contracts,
        vars: cli.vars,
    };
    let g = &globals;
    match cli.command {
        Command::Generate(args) => generate::generate(args, g).await,
        Command::Run(args) => run::run(args, g).await,
        Command::Query(args) => query::query(args, g).await,
        Command::Sync(args) => sync::sync(args, g).await,
        Command::History(args) => history::history(args, g).await,
        Command::Verify(args) => verify::verify(args, g).await,
        Command::Diff(args) => diff::diff(args, g).await,
        Command::Optimize(args) => maintain::optimize(args, g).await,
        Command::Vacuum(args) => maintain::vacuum(args, g).await,
        Command::Test(args) => test::test(args, g).await,
        Command::Cluster { role } => cluster::cluster(role, g).await,
        Command::Quarantine { action } => quarantine::quarantine(action, g).await,
        Command::Bench(args) => bench::bench(args, g).await,
        Command::Runs(args) => runs::runs(args, g).await,
        Command::Serve(args) => serve::serve(args, g).await,
        Command::Demo(args) => demo::demo(args, g).await,
    }
}

/// The options every command shares, and what they open (each only when the
/// command needs it: the published file needs no lake, a cluster role no project).
#[derive(Debug)]
pub(crate) struct Globals {
    lake: Option<String>,
    config: Option<PathBuf>,
    queries: Option<PathBuf>,
    contracts: Option<PathBuf>,
    vars: Option<String>,
}

/// Whether a command that loads the project also checks the contracts against it
/// (every command that applies them does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Checked {
    Yes,
    No,
}

impl Globals {
    /// The config file's settings.
    fn settings(&self) -> anyhow::Result<Settings> {
        Ok(Settings::load(self.config.as_deref())?)
    }

    /// The lake, checked to be reachable.
    async fn lake(&self) -> anyhow::Result<Lake> {
        let settings = self.settings()?;
        let location = self
            .lake
            .clone()
            .or(settings.lake.clone())
            .unwrap_or_else(|| DEFAULT_LAKE.to_string());
        let lake = Lake::open(&location, &settings.s3).context("--lake")?;
        lake.check_reachable().await?;
        Ok(lake)
    }

    /// The data contracts. The source contracts declare the raw tables the models
    /// read, so every command that knows the project reads them first.
    fn contracts(&self) -> anyhow::Result<Contracts> {
        let source = match &self.contracts {
            Some(dir) => ContractsSource::Folder(dir.clone()),
            None => ContractsSource::Embedded,
        };
        Ok(Contracts::read(&source)?)
    }

    /// The project's variables: the config file's [vars], then `--vars` over them.
    fn vars_in_force(&self) -> anyhow::Result<Vars> {
        let mut vars = self.settings()?.vars;
        if let Some(text) = &self.vars {
            vars.extend(parse_vars(text)?);
        }
        Ok(vars)
    }

    /// The SQL project and its contracts.
    fn project(&self, checked: Checked) -> anyhow::Result<(Project, Contracts)> {
        let contracts = self.contracts()?;
        let source = match &self.queries {
            Some(dir) => ProjectSource::Folder(dir.clone()),
            None => ProjectSource::Embedded,
        };
        let project = Project::load(&source, contracts.sources(), &self.vars_in_force()?)?;
        if checked == Checked::Yes {
            contracts.check(&project)?;
        }
        Ok((project, contracts))
    }

    /// The lake with its project and contracts.
    async fn lakehouse(&self, checked: Checked) -> anyhow::Result<Lakehouse> {
        let lake = self.lake().await?;
        let (project, contracts) = self.project(checked)?;
        Ok(Lakehouse::new(lake, project, contracts))
    }
}
