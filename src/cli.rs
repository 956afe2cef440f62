//! The command line of SPEC section 6: argument parsing and one function per command.
//! Errors become `anyhow` errors with context here, at the edge.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use chrono::NaiveDate;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::demo;
use crate::engine::{self, RunOptions};
use crate::generate::{self, Request};
use crate::lake::Lake;
use crate::models::{Project, ProjectSource};
use crate::output::{self, Format};

/// stride: raw change batches in, attribution marts out.
#[derive(Debug, Parser)]
#[command(name = "stride", version, about, long_about = None)]
pub struct Cli {
    /// The lake root: a local folder or a file:// URL.
    #[arg(long, global = true, env = "STRIDE_LAKE", default_value = "./lake")]
    pub lake: String,

    /// Read the SQL project from this folder instead of the copy built into the binary.
    #[arg(long, global = true, env = "STRIDE_QUERIES", value_name = "DIR")]
    pub queries: Option<PathBuf>,

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
        /// Volume: 1.0 is ~2,000 customers, 30,000 touchpoints, 3,000 orders a day.
        #[arg(long)]
        scale: Option<f64>,
        /// Seed of every random choice (default 42).
        #[arg(long)]
        seed: Option<u64>,
        /// The most days a touchpoint may arrive after it happened (default 3).
        #[arg(long)]
        max_lateness_days: Option<u32>,
    },
    /// Bring every model up to date with all landed batches; commit Delta versions.
    Run {
        /// Rebuild every model from all landed batches.
        #[arg(long)]
        full_refresh: bool,
    },
    /// Run SQL over the sources (raw.<table>) and the models (by name).
    Query {
        /// The SQL to run.
        sql: String,
        /// How to print the result.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// The main job: generate 30 days if the lake is empty, run, print the headline answers.
    Demo,
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
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .without_time()
        .try_init();
}

/// Runs the parsed command.
pub async fn execute(cli: Cli) -> anyhow::Result<()> {
    let lake = Lake::open(&cli.lake).context("--lake")?;
    let source = match &cli.queries {
        Some(dir) => ProjectSource::Folder(dir.clone()),
        None => ProjectSource::Embedded,
    };
    match cli.command {
        Command::Generate {
            days,
            start_date,
            scale,
            seed,
            max_lateness_days,
        } => {
            let request = Request {
                days,
                seed,
                scale,
                start_date,
                max_lateness_days,
            };
            generate_command(&lake, &request).await
        }
        Command::Run { full_refresh } => {
            let project = Project::load(&source)?;
            run_command(&lake, &project, &RunOptions { full_refresh }).await
        }
        Command::Query { sql, format } => {
            let project = Project::load(&source)?;
            let ctx = engine::query_session(&lake, &project).await?;
            let batches = engine::query(&ctx, &sql).await?;
            print!("{}", output::render(&batches, format)?);
            Ok(())
        }
        Command::Demo => {
            let project = Project::load(&source)?;
            demo::demo(&lake, &project).await
        }
    }
}

/// `stride generate`.
pub async fn generate_command(lake: &Lake, request: &Request) -> anyhow::Result<()> {
    let started = Instant::now();
    let report = generate::generate(lake, request)
        .await
        .with_context(|| format!("generate into {}", lake.url()))?;
    let rows: Vec<String> = report
        .rows
        .iter()
        .map(|(table, n)| format!("{table} {n}"))
        .collect();
    tracing::info!(
        "landed batches {}..={} ({} to {}) in {:.2}s: {}",
        report.batches.start(),
        report.batches.end(),
        report.dates.0,
        report.dates.1,
        started.elapsed().as_secs_f64(),
        rows.join(", ")
    );
    Ok(())
}

/// `stride run`.
pub async fn run_command(
    lake: &Lake,
    project: &Project,
    options: &RunOptions,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let report = engine::run(lake, project, options)
        .await
        .with_context(|| format!("run on {}", lake.url()))?;
    let stored = report.models.iter().filter(|m| m.version.is_some()).count();
    tracing::info!(
        "ran {} models ({} Delta tables, {} views) over {} raw files in {:.2}s",
        report.models.len(),
        stored,
        report.models.len() - stored,
        report.raw_files,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
