//! `stride bench`: DataFusion against DuckDB on the same data and the same SQL.
//!
//! A suite ([`workload`]) gives the tables both engines load and the queries to
//! time: the project's `pipeline`, its `models`, its `analyses`, or `tpch`. Each
//! query is timed on both engines ([`measure`]: a cold run, then N runs with the
//! engines alternated), its answers compared ([`answers`]), and the figures
//! reported as tables, JSON and an SVG chart ([`report`], [`svg`]).

pub mod answers;
pub mod engine;
pub mod measure;
mod project_suites;
pub mod report;
pub mod svg;
mod tpch;
pub mod workload;

use std::path::PathBuf;
use std::time::Instant;

pub use engine::{EngineKind, Limits};
pub use report::{Report, compare, read};

use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::models::Project;
use engine::Engine;
use report::{Header, SuiteReport};
use workload::Workload;

/// Which suite to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Suite {
    /// The whole project as one full refresh from the raw tables.
    Pipeline,
    /// Each stored model's SELECT on its current inputs.
    Models,
    /// The saved analyses over the current marts.
    Analyses,
    /// The 22 TPC-H queries on generated data.
    Tpch,
    /// All of the above.
    All,
}

/// What to run and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// The suite.
    pub suite: Suite,
    /// The engines, in the order reported.
    pub engines: Vec<EngineKind>,
    /// Timed runs per query and engine after the cold one.
    pub iterations: usize,
    /// Threads and memory limit for each engine.
    pub limits: Limits,
    /// Only these queries (by name), when not empty.
    pub queries: Vec<String>,
    /// The TPC-H scale factor.
    pub scale_factor: f64,
}

/// Runs the suites of `options` on `lake` and `project` (TPC-H needs neither).
pub async fn run(lake: &Lake, project: &Project, options: &Options) -> Result<Report> {
    if options.engines.is_empty() {
        return Err(Error::Bench("--engines: name at least one engine".into()));
    }
    let suites = match options.suite {
        Suite::All => vec![Suite::Pipeline, Suite::Models, Suite::Analyses, Suite::Tpch],
        one => vec![one],
    };
    let spool = std::env::temp_dir().join(format!("stride-bench-{}", std::process::id()));
    let mut versions = Vec::new();
    let mut reports = Vec::new();
    for suite in suites {
        let workload = match suite {
            Suite::Pipeline => project_suites::pipeline(lake, project).await?,
            Suite::Models => project_suites::models(lake, project, &options.queries).await?,
            Suite::Analyses => project_suites::analyses(lake, project, &options.queries).await?,
            Suite::Tpch => tpch::workload(options.scale_factor, &options.queries).await?,
            Suite::All => continue,
        };
        tracing::info!(
            "{}: {} tables, {} queries on {}",
            workload.suite,
            workload.tables.len(),
            workload.queries.len(),
            workload.data
        );
        let (report, engine_versions) = run_workload(workload, options, &spool).await;
        let _ = std::fs::remove_dir_all(&spool);
        let report = report?;
        if versions.is_empty() {
            versions = engine_versions;
        }
        reports.push(report);
    }
    Ok(Report {
        header: header(versions, options),
        suites: reports,
    })
}

/// Loads the workload's tables into fresh engines and measures every query.
async fn run_workload(
    mut workload: Workload,
    options: &Options,
    spool: &std::path::Path,
) -> (Result<SuiteReport>, Vec<String>) {
    let mut engines: Vec<(EngineKind, Engine)> = Vec::new();
    let mut load_seconds = Vec::new();
    for kind in &options.engines {
        let started = Instant::now();
        let engine = match load(*kind, &workload, options.limits, spool).await {
            Ok(engine) => engine,
            Err(e) => return (Err(e), Vec::new()),
        };
        load_seconds.push((*kind, started.elapsed().as_secs_f64()));
        engines.push((*kind, engine));
    }
    // The engines hold the tables now (DataFusion shares these buffers, DuckDB has
    // its own copy): drop the workload's, or a big lake is held twice.
    workload.tables.clear();
    let versions = engines.iter().map(|(_, e)| e.version()).collect();
    let bar = crate::progress::bar(workload.queries.len() as u64, &workload.suite);
    let mut queries = Vec::new();
    for query in &workload.queries {
        queries.push(measure::measure(query, &mut engines, options.iterations).await);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let report = SuiteReport {
        suite: workload.suite.clone(),
        data: workload.data.clone(),
        load_seconds,
        queries,
    };
    (Ok(report), versions)
}

/// A fresh engine of `kind` holding the workload's tables.
async fn load(
    kind: EngineKind,
    workload: &Workload,
    limits: Limits,
    spool: &std::path::Path,
) -> Result<Engine> {
    let mut engine = Engine::new(kind, limits, &spool.join(kind.as_str()))?;
    for table in &workload.tables {
        engine
            .load(&table.name, &table.batches, &table.schema)
            .await
            .map_err(|e| {
                Error::Bench(format!(
                    "loading {} into {}: {e}",
                    table.name,
                    kind.as_str()
                ))
            })?;
    }
    Ok(engine)
}

/// The machine and the settings, for the report's header.
fn header(engines: Vec<String>, options: &Options) -> Header {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|rest| rest.trim_start_matches([' ', '\t', ':']).trim().to_string())
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let memory_bytes = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024);
    Header {
        engines,
        cpu,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        memory_bytes,
        threads: options.limits.threads,
        memory_limit_bytes: options.limits.memory,
        iterations: options.iterations,
        significant_digits: answers::SIGNIFICANT_DIGITS,
    }
}

/// The chart of a report: one group per query (`suite/query` when there are
/// several suites), one bar per engine, the median in ms.
pub fn chart(report: &Report) -> String {
    let engines: Vec<String> = report
        .suites
        .iter()
        .flat_map(|s| s.queries.first())
        .flat_map(|q| q.engines.iter().map(|e| e.engine.as_str().to_string()))
        .fold(Vec::new(), |mut all, e| {
            if !all.contains(&e) {
                all.push(e);
            }
            all
        });
    let several = report.suites.len() > 1;
    let groups: Vec<svg::Group> = report
        .suites
        .iter()
        .flat_map(|suite| {
            suite.queries.iter().map(|query| svg::Group {
                label: if several {
                    format!("{}/{}", suite.suite, query.name)
                } else {
                    query.name.clone()
                },
                values: engines
                    .iter()
                    .map(|e| {
                        query
                            .engines
                            .iter()
                            .find(|f| f.engine.as_str() == e)
                            .and_then(|f| f.median_ms)
                    })
                    .collect(),
            })
        })
        .collect();
    svg::grouped_bars(
        "stride bench: median time per query",
        "ms",
        &engines,
        &groups,
    )
}

/// Parses a memory size: `4GiB`, `512MB`, `2G`, `1048576` (bytes).
pub fn parse_size(text: &str) -> Result<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().map_err(|_| Error::Setting {
        setting: "--memory-limit".into(),
        reason: format!("`{text}` is not a size (4GiB, 512MB, 2G, bytes)"),
    })?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(Error::Setting {
                setting: "--memory-limit".into(),
                reason: format!("unknown unit `{other}` (B, KB, KiB, MB, MiB, GB, GiB)"),
            });
        }
    };
    Ok((value * scale) as u64)
}

/// Where `-o` and `--svg` write, checked before the benchmark runs.
pub fn check_writable(path: &Option<PathBuf>, setting: &str) -> Result<()> {
    if let Some(path) = path {
        let folder = path.parent().filter(|p| !p.as_os_str().is_empty());
        if let Some(folder) = folder
            && !folder.is_dir()
        {
            return Err(Error::Setting {
                setting: setting.into(),
                reason: format!("{} does not exist", folder.display()),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_their_units() {
        assert_eq!(parse_size("1048576").expect("bytes"), 1_048_576);
        assert_eq!(parse_size("4GiB").expect("GiB"), 4 << 30);
        assert_eq!(parse_size("512MB").expect("MB"), 512_000_000);
        assert!(parse_size("lots").is_err());
        assert!(parse_size("3 parsecs").is_err());
    }
}
