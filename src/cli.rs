//! The command line of SPEC section 6: argument parsing and one function per command.
//! Errors become `anyhow` errors with context here, at the edge.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use chrono::NaiveDate;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::bench;
use crate::compare;
use crate::config::Settings;
use crate::contracts::{Contracts, ContractsSource, Status};
use crate::delta::AsOf;
use crate::demo;
use crate::engine;
use crate::generate::Request;
use crate::lake::Lake;
use crate::models::{Project, ProjectSource};
use crate::orchestrate::{self, Pipeline, RunSpec};
use crate::output::{self, Format};
use crate::publish::{self, DEFAULT_DUCKDB};
use crate::quarantine;
use crate::runs::{self, RunRequest, Trigger};
use crate::serve::{self, RetryPolicy, SensorSettings, ServeOptions};

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
    Generate {
        /// How many daily batches to land.
        #[arg(long, default_value_t = 1)]
        days: u32,
        /// The batch_date of batch 1 (only for a new lake; default 2026-01-01).
        #[arg(long, value_name = "YYYY-MM-DD")]
        start_date: Option<NaiveDate>,
        /// Volume: 1.0 is ~2,000 customers, 30,000 touchpoints, 3,000 orders a day
        /// (only for a new lake; default 1).
        #[arg(long)]
        scale: Option<f64>,
        /// Seed of every random choice (default 42).
        #[arg(long)]
        seed: Option<u64>,
        /// The most days a touchpoint may arrive after it happened (default 3).
        #[arg(long)]
        max_lateness_days: Option<u32>,
        /// Also land bad input, for the data contracts to catch: this share of each
        /// table's rows as extra rows that break a rule (null keys, negative
        /// quantities, unknown products, conflicting duplicates, values out of their
        /// set), and one bad file a day (truncated, wrong type, `+00:00` time zone,
        /// extra or missing column, empty, not Parquet). The good rows are those of
        /// the same lake without faults.
        #[arg(long, value_name = "RATE")]
        faults: Option<f64>,
    },
    /// Bring every model up to date with all landed batches; commit Delta versions.
    Run {
        /// Rebuild the models (the selected ones and everything downstream of them)
        /// from all landed batches instead of applying what changed.
        #[arg(long)]
        full_refresh: bool,
        /// Only these models: names, `+model` (and what it reads), `model+` (and
        /// what reads it), separated by spaces or commas.
        #[arg(long, short, value_name = "SEL")]
        select: Option<String>,
        /// Do not publish the marts to the DuckDB file after the run.
        #[arg(long)]
        no_sync: bool,
        /// The DuckDB file the marts are published to.
        #[arg(long, env = "STRIDE_DUCKDB", default_value = DEFAULT_DUCKDB, value_name = "PATH")]
        duckdb: PathBuf,
        /// Run the models' queries on this cluster (`stride cluster scheduler`);
        /// results come back here to be checked and committed.
        #[arg(long, env = "STRIDE_CLUSTER", value_name = "df://HOST:PORT")]
        cluster: Option<String>,
        /// With --cluster: a model whose query has not begun to return rows after
        /// this many seconds fails (0: no limit).
        #[arg(long, env = "STRIDE_CLUSTER_TIMEOUT", value_name = "SECONDS",
              default_value_t = crate::cluster::DEFAULT_QUERY_TIMEOUT_SECS)]
        cluster_timeout: u64,
    },
    /// Run SQL over the sources (raw.<table>) and the models (by name).
    #[command(
        after_help = "`table_at('model', N)` (or a timestamp instead of N) reads one \
                            model at another version, next to the others. The run history \
                            is `stride.runs` (a row per run) and `stride.run_models` (a row \
                            per model of a run). With `--engine duckdb` the SQL runs on the \
                            published DuckDB file instead (the marts only, read-only)."
    )]
    Query {
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
    },
    /// Publish the marts to the DuckDB file Metabase reads (its views switch to the new
    /// marts all at once).
    Sync {
        /// The DuckDB file.
        #[arg(long, env = "STRIDE_DUCKDB", default_value = DEFAULT_DUCKDB, value_name = "PATH")]
        duckdb: PathBuf,
    },
    /// The Delta versions of a model: version, time, operation, rows, batches consumed.
    History {
        /// The model.
        model: String,
        /// How to print the result: table, csv or json.
        #[arg(long, value_enum, default_value_t = Format::Table, hide_possible_values = true)]
        format: Format,
    },
    /// Prove the incremental tables equal a rebuild: rebuild the models from the
    /// raw files their current versions consumed, in a scratch folder of the lake,
    /// and compare each with its current table (exit 1 when any differs).
    Verify {
        /// Only these models (see `run --select`); the models they read are rebuilt too.
        #[arg(long, short, value_name = "SEL")]
        select: Option<String>,
        /// Example rows shown per kind of difference and model.
        #[arg(long, default_value_t = 5, value_name = "N")]
        examples: usize,
        /// How to print the report: table or json.
        #[arg(long, value_enum, default_value_t = ReportFormat::Table, hide_possible_values = true)]
        format: ReportFormat,
        /// The DuckDB file whose served marts are compared with the table versions
        /// they claim (skipped when nothing is published there).
        #[arg(long, env = "STRIDE_DUCKDB", default_value = DEFAULT_DUCKDB, value_name = "PATH")]
        duckdb: PathBuf,
    },
    /// What changed in a model between two versions (default: its last change), or
    /// in each mart a run committed (`--run`).
    #[command(
        after_help = "Rows are matched on the model's key: its contract's first \
                            `unique` rule, else its unique_key, else every column that is \
                            not a float (an aggregate's grouping columns). Floats are \
                            equal within 1e-9 relative (absolute below 1)."
    )]
    Diff {
        /// The model.
        #[arg(required_unless_present = "run", conflicts_with = "run")]
        model: Option<String>,
        /// The older version: a number or a time (2026-11-27T10:00:00Z).
        #[arg(long, value_name = "VERSION|TIMESTAMP")]
        from: Option<String>,
        /// The newer version (default: the latest).
        #[arg(long, value_name = "VERSION|TIMESTAMP")]
        to: Option<String>,
        /// Match rows on these columns (comma-separated) instead of the model's key.
        #[arg(long, value_name = "COLS")]
        key: Option<String>,
        /// What the run RUN_ID changed in each mart it committed.
        #[arg(long, value_name = "RUN_ID", conflicts_with_all = ["from", "to", "key"])]
        run: Option<String>,
        /// Example rows shown per kind of change.
        #[arg(long, default_value_t = 5, value_name = "N")]
        examples: usize,
        /// How to print the report: table or json.
        #[arg(long, value_enum, default_value_t = ReportFormat::Table, hide_possible_values = true)]
        format: ReportFormat,
    },
    /// Compact the small files incremental runs leave in the model tables.
    Optimize {
        /// Only these models (see `run --select`).
        #[arg(long, short, value_name = "SEL")]
        select: Option<String>,
    },
    /// Delete table files that no version from the last N hours reads.
    Vacuum {
        /// Keep every file a version from the last N hours reads (Delta's default is
        /// 168, a week); older versions can no longer be read afterwards.
        #[arg(long, default_value_t = 168, value_name = "N")]
        retain_hours: u64,
        /// Only these models (see `run --select`).
        #[arg(long, short, value_name = "SEL")]
        select: Option<String>,
    },
    /// Run the data contracts on the current tables and print each rule's outcome.
    Test {
        /// Only these: model selectors (see `run --select`) and `raw.<table>` or
        /// `source:<table>` for sources.
        #[arg(long, short, value_name = "SEL")]
        select: Option<String>,
        /// How to print the outcomes: table, csv or json.
        #[arg(long, value_enum, default_value_t = Format::Table, hide_possible_values = true)]
        format: Format,
    },
    /// Run a role of a cluster (Apache DataFusion Ballista) that `run --cluster`
    /// and `query --cluster` send the models' queries to.
    Cluster {
        #[command(subcommand)]
        role: ClusterRole,
    },
    /// The rows and files the source contracts set aside, and their replay.
    Quarantine {
        #[command(subcommand)]
        action: QuarantineAction,
    },
    /// Benchmark DataFusion against DuckDB on the same data and SQL: the project's
    /// pipeline, its models, its analyses, and TPC-H.
    #[command(args_conflicts_with_subcommands = true)]
    Bench {
        #[command(subcommand)]
        action: Option<BenchAction>,
        /// What to run: pipeline, models, analyses, tpch or all.
        #[arg(long, value_enum, default_value_t = bench::Suite::All, hide_possible_values = true)]
        suite: bench::Suite,
        /// The engines, comma-separated: datafusion, duckdb.
        #[arg(
            long,
            value_enum,
            value_delimiter = ',',
            default_value = "datafusion,duckdb",
            hide_possible_values = true
        )]
        engines: Vec<bench::EngineKind>,
        /// Timed runs per query and engine, after a first (cold) run reported apart.
        #[arg(long, default_value_t = 5, value_name = "N")]
        iterations: usize,
        /// Threads for each engine [default: the machine's cores].
        #[arg(long, value_name = "N")]
        threads: Option<usize>,
        /// A memory limit for each engine (4GiB, 512MB) [default: none].
        #[arg(long, value_name = "SIZE")]
        memory_limit: Option<String>,
        /// Only this query (a TPC-H `q06`, a model or an analysis); repeatable.
        #[arg(long, value_name = "NAME")]
        query: Vec<String>,
        /// The TPC-H scale factor (1 is about 1 GB of data as text).
        #[arg(long, default_value_t = 1.0, value_name = "SF")]
        scale_factor: f64,
        /// How to print the report: table or json.
        #[arg(long, value_enum, default_value_t = ReportFormat::Table, hide_possible_values = true)]
        format: ReportFormat,
        /// Also write the report as JSON to this file.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Also draw the medians as a bar chart (SVG, log scale) to this file.
        #[arg(long, value_name = "FILE")]
        svg: Option<PathBuf>,
    },
    /// The run history: every run's trigger, status, times and what it did.
    #[command(args_conflicts_with_subcommands = true)]
    Runs {
        #[command(subcommand)]
        action: Option<RunsAction>,
        /// The newest N runs.
        #[arg(long, default_value_t = 20, value_name = "N")]
        limit: usize,
        /// How to print them: table, csv or json.
        #[arg(long, value_enum, default_value_t = Format::Table, hide_possible_values = true)]
        format: Format,
    },
    /// Keep the marts fresh: runs on cron schedules and when new batches land, one
    /// at a time, with retries of transient failures, a run history and a JSON API.
    Serve {
        /// Where the API listens. Any address but loopback needs --token.
        #[arg(
            long,
            env = "STRIDE_BIND",
            default_value = "127.0.0.1:3030",
            value_name = "ADDR"
        )]
        bind: std::net::SocketAddr,
        /// The token API requests must carry (`Authorization: Bearer TOKEN`; at
        /// least 16 characters). Without it, a loopback bind answers anyone local.
        #[arg(
            long,
            env = "STRIDE_TOKEN",
            hide_env_values = true,
            value_name = "TOKEN"
        )]
        token: Option<String>,
        /// A run at each tick of this cron expression: 5 fields (minute hour day
        /// month weekday), or 6 with seconds first; UTC, or `CRON_TZ=Europe/Paris
        /// 0 6 * * *`. Repeatable.
        #[arg(long, value_name = "CRON")]
        schedule: Vec<String>,
        /// Start a run when raw files land that no run has consumed yet.
        #[arg(long)]
        watch: bool,
        /// Seconds between two looks at the raw area (with --watch).
        #[arg(long, default_value_t = 30.0, value_name = "SECONDS")]
        watch_interval: f64,
        /// Seconds landing must have been quiet before the sensor starts a run.
        #[arg(long, default_value_t = 60.0, value_name = "SECONDS")]
        quiet_period: f64,
        /// Attempts of a run that fails on a transient error (the store unreachable
        /// or throttling, I/O), the first included.
        #[arg(long, default_value_t = 4, value_name = "N")]
        attempts: u32,
        /// Seconds before the first retry; each next waits twice as long (±25%).
        #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
        retry_delay: f64,
        /// Seconds a shutdown (SIGTERM, SIGINT) waits for the run going before it
        /// cancels it.
        #[arg(long, default_value_t = 30.0, value_name = "SECONDS")]
        grace_period: f64,
        /// Do not publish the marts to the DuckDB file after each run.
        #[arg(long)]
        no_sync: bool,
        /// The DuckDB file the marts are published to.
        #[arg(long, env = "STRIDE_DUCKDB", default_value = DEFAULT_DUCKDB, value_name = "PATH")]
        duckdb: PathBuf,
    },
    /// The main job: generate 30 days if the lake is empty, run, print the headline answers.
    Demo {
        /// Generate with bad input mixed in (see `generate --faults`).
        #[arg(long, value_name = "RATE")]
        faults: Option<f64>,
        /// The DuckDB file the marts are published to.
        #[arg(long, env = "STRIDE_DUCKDB", default_value = DEFAULT_DUCKDB, value_name = "PATH")]
        duckdb: PathBuf,
    },
}

/// The roles of a cluster. Each role reaches the lake itself: a local lake must be
/// at the same path for every process; an S3 lake is reached with the process's
/// own `AWS_*` variables or config file (no credentials travel with a query).
#[derive(Debug, Clone, Subcommand)]
pub enum ClusterRole {
    /// The scheduler: plans the queries clients send and hands out their tasks.
    Scheduler {
        /// Where to listen for clients and executors.
        #[arg(long, default_value = "127.0.0.1:50050", value_name = "HOST:PORT")]
        bind: std::net::SocketAddr,
        /// Seconds after which an executor that stopped asking for work is taken
        /// for dead and its tasks are run again on the others.
        #[arg(long, default_value_t = 30, value_name = "SECS")]
        executor_timeout: u64,
    },
    /// An executor: runs tasks, serves their results over Arrow Flight.
    Executor {
        /// The scheduler's address.
        #[arg(long, value_name = "HOST:PORT")]
        scheduler: String,
        /// Where to serve results and shuffle data.
        #[arg(long, default_value = "127.0.0.1:50051", value_name = "HOST:PORT")]
        bind: std::net::SocketAddr,
        /// The host name the client and other executors reach this one by
        /// [default: the --bind host].
        #[arg(long, value_name = "HOST")]
        external_host: Option<String>,
        /// Tasks at once [default: one per core].
        #[arg(long, default_value_t = 0, value_name = "N")]
        vcores: usize,
        /// Memory its tasks may use before they spill (4GiB, 512MiB)
        /// [default: 70% of the machine's].
        #[arg(long, value_name = "SIZE", value_parser = crate::cluster::parse_size)]
        memory: Option<u64>,
        /// Where shuffle files and spills go [default: a folder under the
        /// system's temporary folder].
        #[arg(long, value_name = "DIR")]
        work_dir: Option<PathBuf>,
        /// This executor's id at the scheduler [default: a random one].
        #[arg(long)]
        id: Option<String>,
    },
}

/// `stride quarantine` actions.
#[derive(Debug, Subcommand)]
pub enum QuarantineAction {
    /// Per landed file with quarantined or redelivered rows, or refused whole: rows
    /// read, loaded, quarantined, redelivered (skipped), and why; and every stray
    /// file in the raw area, which no table reads.
    List {
        /// Only this raw table.
        #[arg(long)]
        table: Option<String>,
        /// Every checked file, clean ones too.
        #[arg(long)]
        all: bool,
        /// How to print the list: table, csv or json.
        #[arg(long, value_enum, default_value_t = Format::Table, hide_possible_values = true)]
        format: Format,
    },
    /// Judge the quarantined rows and refused files again with the contracts as they
    /// are now; what passes is loaded by the next run.
    Replay {
        /// Only this raw table.
        #[arg(long)]
        table: Option<String>,
    },
}

/// `stride runs` actions.
#[derive(Debug, Subcommand)]
pub enum RunsAction {
    /// One run: its record, and per model what it did.
    Show {
        /// The run id (`stride runs` lists them).
        id: String,
        /// How to print it: table (the record, then its models), csv or json (the
        /// whole record).
        #[arg(long, value_enum, default_value_t = Format::Table, hide_possible_values = true)]
        format: Format,
    },
}

/// `stride bench` actions.
#[derive(Debug, Subcommand)]
pub enum BenchAction {
    /// Per suite, query and engine, the change of the median time between two JSON
    /// reports; exits 1 when something changed beyond the noise.
    Compare {
        /// The earlier report.
        old: PathBuf,
        /// The later report.
        new: PathBuf,
        /// Changes within this many percent (or within twice the runs' CV) are noise.
        #[arg(long, default_value_t = 5.0, value_name = "PCT")]
        threshold: f64,
    },
}

/// How `stride bench`, `verify` and `diff` print their reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ReportFormat {
    /// Tables for people.
    #[default]
    Table,
    /// Every figure as JSON.
    Json,
}

/// Which engine `stride query` runs the SQL on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum QueryEngine {
    /// Apache DataFusion over the lake's sources and Delta tables.
    #[default]
    Datafusion,
    /// DuckDB over the published file.
    Duckdb,
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
        .with(runs::CaptureLayer)
        .try_init();
}

/// Runs the parsed command.
pub async fn execute(cli: Cli) -> anyhow::Result<()> {
    // The published file needs no lake (Metabase's host may not reach it).
    if let Command::Query {
        sql,
        format,
        engine: QueryEngine::Duckdb,
        duckdb,
        ..
    } = &cli.command
    {
        let batches = publish::query(duckdb, sql)?;
        print!("{}", output::render(&batches, *format)?);
        return Ok(());
    }
    let settings = Settings::load(cli.config.as_deref())?;
    // The roles need no lake of their own: plans name the files they read.
    if let Command::Cluster { role } = &cli.command {
        return cluster_role(role.clone(), &settings).await;
    }
    let location = cli
        .lake
        .or(settings.lake.clone())
        .unwrap_or_else(|| DEFAULT_LAKE.to_string());
    let lake = Lake::open(&location, &settings.s3).context("--lake")?;
    lake.check_reachable().await?;
    let source = match &cli.queries {
        Some(dir) => ProjectSource::Folder(dir.clone()),
        None => ProjectSource::Embedded,
    };
    let contracts_source = match &cli.contracts {
        Some(dir) => ContractsSource::Folder(dir.clone()),
        None => ContractsSource::Embedded,
    };
    // The source contracts declare the raw tables the models read, so every
    // command that knows the project reads the contracts first.
    let load_project = || -> anyhow::Result<(Project, Contracts)> {
        let contracts = Contracts::read(&contracts_source)?;
        let project = Project::load(&source, contracts.sources())?;
        Ok((project, contracts))
    };
    // Commands that apply the contracts also check them against the project.
    let load = || -> anyhow::Result<(Project, Contracts)> {
        let (project, contracts) = load_project()?;
        contracts.check(&project)?;
        Ok((project, contracts))
    };
    match cli.command {
        Command::Generate {
            days,
            start_date,
            scale,
            seed,
            max_lateness_days,
            faults,
        } => {
            let request = Request {
                days,
                seed,
                scale,
                start_date,
                max_lateness_days,
                faults,
            };
            orchestrate::generate(&lake, &request)
                .await
                .with_context(|| format!("generate into {}", lake.url()))?;
            Ok(())
        }
        Command::Run {
            full_refresh,
            select,
            no_sync,
            duckdb,
            cluster,
            cluster_timeout,
        } => {
            let (project, contracts) = load()?;
            let pipeline = Pipeline {
                lake,
                project,
                contracts,
                publish_to: (!no_sync).then_some(duckdb),
                cluster: connect(cluster.as_deref(), cluster_timeout).await?,
            };
            let request = RunRequest {
                select,
                full_refresh,
            };
            run_command(&pipeline, request).await
        }
        Command::Sync { duckdb } => {
            let (project, _) = load_project()?;
            Ok(orchestrate::sync(&lake, &project, &duckdb).await?)
        }
        Command::Query {
            sql,
            format,
            version,
            as_of,
            cluster,
            cluster_timeout,
            ..
        } => {
            let (project, _) = load_project()?;
            let as_of = match (version, as_of) {
                (Some(v), _) => AsOf::Version(v),
                (None, Some(text)) => AsOf::Time(engine::parse_time(&text).context("--as-of")?),
                (None, None) => AsOf::Latest,
            };
            let cluster = connect(cluster.as_deref(), cluster_timeout).await?;
            let session = engine::query_session_on(&lake, &project, as_of, cluster).await?;
            runs::register(&session.ctx, &lake, &sql).await?;
            let batches = engine::query(&session, &sql).await?;
            print!("{}", output::render(&batches, format)?);
            Ok(())
        }
        Command::History { model, format } => {
            let (project, _) = load_project()?;
            project.model(&model)?;
            let rows = engine::history(&lake, &model).await?;
            let batch = engine::history_batch(&rows)?;
            print!("{}", output::render(&[batch], format)?);
            Ok(())
        }
        Command::Optimize { select } => {
            let (project, _) = load_project()?;
            for done in engine::optimize(&lake, &project, select.as_deref()).await? {
                tracing::info!(
                    "{:<28} compacted {} files into {}",
                    done.model,
                    done.files_removed,
                    done.files_added
                );
            }
            Ok(())
        }
        Command::Vacuum {
            retain_hours,
            select,
        } => {
            let (project, _) = load_project()?;
            for done in engine::vacuum(&lake, &project, select.as_deref(), retain_hours).await? {
                tracing::info!("{:<28} deleted {} files", done.model, done.files_removed);
            }
            Ok(())
        }
        Command::Verify {
            select,
            examples,
            format,
            duckdb,
        } => {
            let (project, contracts) = load()?;
            let verification = compare::verify(
                &lake,
                &project,
                &contracts,
                select.as_deref(),
                examples,
                Some(&duckdb),
            )
            .await?;
            match format {
                ReportFormat::Table => print!("{}", compare::report::verification(&verification)),
                ReportFormat::Json => println!("{}", serde_json::to_string_pretty(&verification)?),
            }
            let differing: Vec<&str> = verification
                .differing()
                .iter()
                .map(|m| m.model.as_str())
                .collect();
            if !differing.is_empty() {
                anyhow::bail!(
                    "verify: {} differ from a rebuild from the same input: {}",
                    differing.len(),
                    differing.join(", ")
                );
            }
            let problems = verification.other_problems();
            if !problems.is_empty() {
                anyhow::bail!(
                    "verify: the models equal their rebuild, but these do not hold what they \
                     say: {}",
                    problems.join(", ")
                );
            }
            tracing::info!(
                "verify: all {} models equal their rebuild",
                verification.models.len()
            );
            Ok(())
        }
        Command::Diff {
            model,
            from,
            to,
            key,
            run,
            examples,
            format,
        } => {
            let (project, contracts) = load()?;
            if let Some(run_id) = run {
                let changed =
                    compare::diff_run(&lake, &project, &contracts, &run_id, examples).await?;
                match format {
                    ReportFormat::Table => print!("{}", compare::report::run_diff(&changed)),
                    ReportFormat::Json => println!("{}", serde_json::to_string_pretty(&changed)?),
                }
                return Ok(());
            }
            let model = model.context("diff needs a MODEL or --run RUN_ID")?;
            let point =
                |text: Option<String>, flag: &str| -> anyhow::Result<Option<compare::Point>> {
                    text.map(|t| compare::Point::parse(&t).with_context(|| flag.to_string()))
                        .transpose()
                };
            let changed = compare::diff(
                &lake,
                &project,
                &contracts,
                &model,
                point(from, "--from")?,
                point(to, "--to")?,
                key.as_deref().map(compare::parse_key),
                examples,
            )
            .await?;
            match format {
                ReportFormat::Table => print!("{}", compare::report::diff(&changed)),
                ReportFormat::Json => println!("{}", serde_json::to_string_pretty(&changed)?),
            }
            Ok(())
        }
        Command::Test { select, format } => {
            let (project, contracts) = load()?;
            let outcomes = engine::test(&lake, &project, &contracts, select.as_deref()).await?;
            // Kept for the model pages of `stride serve`; the test's answer stands
            // even when the lake does not take it.
            if let Err(e) = engine::save_test(&lake, &outcomes, project.sources()).await {
                tracing::warn!("the test outcomes were not kept in the lake: {e}");
            }
            print!(
                "{}",
                output::render(
                    &[engine::outcomes_batch(&outcomes, project.sources())?],
                    format
                )?
            );
            let failed: Vec<String> = outcomes
                .iter()
                .filter(|o| o.is_blocking())
                .map(|o| format!("{} {}", o.table, o.rule))
                .collect();
            let warned = outcomes.iter().filter(|o| o.status == Status::Warn).count();
            tracing::info!(
                "{} rules: {} passed, {} warned, {} failed",
                outcomes.len(),
                outcomes.len() - failed.len() - warned,
                warned,
                failed.len()
            );
            if !failed.is_empty() {
                anyhow::bail!("data tests failed: {}", failed.join(", "));
            }
            Ok(())
        }
        Command::Quarantine { action } => match action {
            QuarantineAction::List { table, all, format } => {
                let contracts = Contracts::read(&contracts_source)?;
                let sources = contracts.sources();
                let ledgers = quarantine::ledgers(&lake, sources, table.as_deref()).await?;
                let strays = quarantine::strays(&lake, sources, table.as_deref()).await?;
                print!(
                    "{}",
                    output::render(&[quarantine::list_batch(&ledgers, &strays, all)?], format)?
                );
                Ok(())
            }
            QuarantineAction::Replay { table } => {
                let (_, contracts) = load()?;
                for done in orchestrate::replay(&lake, &contracts, table.as_deref()).await? {
                    tracing::info!(
                        "raw.{}: {} rows released, {} files admitted; {} rows still quarantined, {} files still refused",
                        done.table,
                        done.rows_released,
                        done.files_admitted,
                        done.rows_quarantined,
                        done.files_refused
                    );
                }
                Ok(())
            }
        },
        Command::Bench {
            action:
                Some(BenchAction::Compare {
                    old,
                    new,
                    threshold,
                }),
            ..
        } => {
            let (text, changed) =
                bench::compare(&bench::read(&old)?, &bench::read(&new)?, threshold / 100.0);
            print!("{text}");
            if changed > 0 {
                anyhow::bail!("{changed} medians changed beyond the noise");
            }
            Ok(())
        }
        Command::Bench {
            action: None,
            suite,
            engines,
            iterations,
            threads,
            memory_limit,
            query,
            scale_factor,
            format,
            output,
            svg,
        } => {
            bench::check_writable(&output, "--output")?;
            bench::check_writable(&svg, "--svg")?;
            let options = bench::Options {
                suite,
                engines,
                iterations,
                limits: bench::Limits {
                    threads: threads.unwrap_or_else(|| {
                        std::thread::available_parallelism().map_or(1, |n| n.get())
                    }),
                    memory: memory_limit.as_deref().map(bench::parse_size).transpose()?,
                },
                queries: query,
                scale_factor,
            };
            let (project, _) = load_project()?;
            let report = bench::run(&lake, &project, &options).await?;
            let json = serde_json::to_string_pretty(&report)?;
            match format {
                ReportFormat::Table => print!("{}", report.render()),
                ReportFormat::Json => println!("{json}"),
            }
            if let Some(path) = &output {
                std::fs::write(path, &json)
                    .with_context(|| format!("--output {}", path.display()))?;
            }
            if let Some(path) = &svg {
                std::fs::write(path, bench::chart(&report))
                    .with_context(|| format!("--svg {}", path.display()))?;
            }
            let mismatches = report.mismatches();
            if !mismatches.is_empty() {
                anyhow::bail!(
                    "the engines gave different answers to {} queries: {}",
                    mismatches.len(),
                    mismatches.join(", ")
                );
            }
            Ok(())
        }
        Command::Cluster { role } => cluster_role(role, &settings).await,
        Command::Demo { faults, duckdb } => {
            let (project, contracts) = load()?;
            let pipeline = Pipeline {
                lake,
                project,
                contracts,
                publish_to: Some(duckdb),
                cluster: None,
            };
            demo::demo(&pipeline, faults).await
        }
        Command::Runs {
            action: Some(RunsAction::Show { id, format }),
            ..
        } => {
            let record = runs::load(&lake, &id)
                .await?
                .with_context(|| format!("no run {id} in {}", lake.url()))?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&record)?),
                _ => {
                    let records = [record];
                    print!(
                        "{}",
                        output::render(&[runs::runs_batch(&records)?], format)?
                    );
                    print!(
                        "{}",
                        output::render(&[runs::models_batch(&records)?], format)?
                    );
                }
            }
            Ok(())
        }
        Command::Runs {
            action: None,
            limit,
            format,
        } => {
            let records = runs::list(&lake, Some(limit)).await?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&records)?),
                _ => print!(
                    "{}",
                    output::render(&[runs::runs_batch(&records)?], format)?
                ),
            }
            Ok(())
        }
        Command::Serve {
            bind,
            token,
            schedule,
            watch,
            watch_interval,
            quiet_period,
            attempts,
            retry_delay,
            grace_period,
            no_sync,
            duckdb,
        } => {
            let (project, contracts) = load()?;
            let seconds = |value: f64, setting: &str| -> anyhow::Result<std::time::Duration> {
                std::time::Duration::try_from_secs_f64(value)
                    .ok()
                    .filter(|d| !d.is_zero() || setting == "--grace-period")
                    .with_context(|| format!("{setting} {value}: not a positive number of seconds"))
            };
            let options = ServeOptions {
                bind,
                token,
                schedules: schedule,
                sensor: if watch {
                    seconds(watch_interval, "--watch-interval")?;
                    seconds(quiet_period, "--quiet-period")?;
                    Some(SensorSettings {
                        interval_s: watch_interval,
                        quiet_period_s: quiet_period,
                    })
                } else {
                    None
                },
                retry: RetryPolicy {
                    attempts: attempts.max(1),
                    first_delay: seconds(retry_delay, "--retry-delay")?,
                },
                grace: seconds(grace_period, "--grace-period")?,
            };
            let pipeline = Pipeline {
                lake,
                project,
                contracts,
                publish_to: (!no_sync).then_some(duckdb),
                cluster: None,
            };
            Ok(serve::serve(pipeline, options).await?)
        }
    }
}

/// `stride run`: one recorded run (trigger `cli`), then, unless `--no-sync`, the
/// publish of the marts under the same lake lock.
/// The cluster `--cluster` names, checked to be listening, with the time its
/// queries may take to begin returning rows (`timeout_secs`, 0: no limit); `None`
/// without one.
async fn connect(
    address: Option<&str>,
    timeout_secs: u64,
) -> anyhow::Result<Option<crate::cluster::Cluster>> {
    let Some(address) = address.filter(|a| !a.is_empty()) else {
        return Ok(None);
    };
    let timeout = (timeout_secs > 0).then(|| std::time::Duration::from_secs(timeout_secs));
    let cluster = crate::cluster::Cluster::connect(address)?.with_timeout(timeout);
    cluster.check_reachable().await?;
    tracing::info!(
        "models' queries run on the cluster at {}",
        cluster.address()
    );
    Ok(Some(cluster))
}

/// `stride cluster scheduler|executor`: runs until interrupted.
async fn cluster_role(role: ClusterRole, settings: &Settings) -> anyhow::Result<()> {
    use crate::cluster::{ExecutorOptions, SchedulerOptions};
    match role {
        ClusterRole::Scheduler {
            bind,
            executor_timeout,
        } => Ok(crate::cluster::run_scheduler(SchedulerOptions {
            bind,
            executor_timeout_secs: executor_timeout,
            s3: settings.s3.clone(),
        })
        .await?),
        ClusterRole::Executor {
            scheduler,
            bind,
            external_host,
            vcores,
            memory,
            work_dir,
            id,
        } => {
            let scheduler = crate::cluster::parse_address(&scheduler).context("--scheduler")?;
            let work_dir = work_dir.unwrap_or_else(|| {
                std::env::temp_dir().join(format!("stride-executor-{}", bind.port()))
            });
            Ok(crate::cluster::run_executor(ExecutorOptions {
                scheduler,
                bind,
                external_host,
                vcores,
                memory,
                work_dir,
                id,
                s3: settings.s3.clone(),
            })
            .await?)
        }
    }
}

pub async fn run_command(pipeline: &Pipeline, request: RunRequest) -> anyhow::Result<()> {
    let finished = orchestrate::run(pipeline, RunSpec::new(Trigger::Cli, request), None).await;
    Ok(finished.result?)
}
