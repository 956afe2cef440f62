//! `stride bench [compare OLD NEW]`: DataFusion against DuckDB on the same data and
//! SQL, and the changes between two reports.

use std::path::PathBuf;

use anyhow::Context;

use super::emit::{Report, ReportFormat, emit};
use super::{Checked, Exit, Globals};
use crate::bench;

/// The arguments of `stride bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
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
}

/// `stride bench` actions.
#[derive(Debug, clap::Subcommand)]
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

impl BenchArgs {
    /// What to measure, with the output files checked to be writable first.
    fn resolve(&self) -> anyhow::Result<bench::Options> {
        bench::check_writable(&self.output, "--output")?;
        bench::check_writable(&self.svg, "--svg")?;
        let cores = || std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(bench::Options {
            suite: self.suite,
            engines: self.engines.clone(),
            iterations: self.iterations,
            limits: bench::Limits {
                threads: self.threads.unwrap_or_else(cores),
                memory: self
                    .memory_limit
                    .as_deref()
                    .map(bench::parse_size)
                    .transpose()?,
            },
            queries: self.query.clone(),
            scale_factor: self.scale_factor,
        })
    }
}

/// Writes `contents` to the file `flag` names, if it names one.
fn write(path: &Option<PathBuf>, flag: &str, contents: &str) -> anyhow::Result<()> {
    if let Some(path) = path {
        std::fs::write(path, contents).with_context(|| format!("{flag} {}", path.display()))?;
    }
    Ok(())
}

/// Benchmarks (exit 1 when the engines disagree), or compares two reports (exit 1
/// when a median changed beyond the noise).
pub async fn bench(args: BenchArgs, globals: &Globals) -> anyhow::Result<Exit> {
    if let Some(BenchAction::Compare {
        old,
        new,
        threshold,
    }) = &args.action
    {
        let (text, changed) =
            bench::compare(&bench::read(old)?, &bench::read(new)?, threshold / 100.0);
        print!("{text}");
        return Ok(Exit::failure_if(changed > 0, || {
            format!("{changed} medians changed beyond the noise")
        }));
    }
    let options = args.resolve()?;
    let lake = globals.lake().await?;
    let (project, _) = globals.project(Checked::No)?;
    let report = bench::run(&lake, &project, &options).await?;
    emit(&Report(&report, |r, _| Ok(r.render())), args.format)?;
    write(
        &args.output,
        "--output",
        &serde_json::to_string_pretty(&report)?,
    )?;
    write(&args.svg, "--svg", &bench::chart(&report))?;
    let mismatches = report.mismatches();
    Ok(Exit::failure_if(!mismatches.is_empty(), || {
        format!(
            "the engines gave different answers to {} queries: {}",
            mismatches.len(),
            mismatches.join(", ")
        )
    }))
}
