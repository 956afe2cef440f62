//! The benchmark's report: every figure as JSON, a table per suite with a footer
//! (totals, the geometric mean of the time ratios, wins, mismatches), and
//! `stride bench compare` between two JSON reports.

use comfy_table::{Cell, CellAlignment, Table, presets::UTF8_FULL_CONDENSED};
use serde::{Deserialize, Serialize};

use super::engine::EngineKind;
use crate::error::{Error, Result};

/// The whole report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// Where and how it was measured.
    pub header: Header,
    /// One entry per suite run.
    pub suites: Vec<SuiteReport>,
}

/// The machine, the engines and the settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Header {
    /// Each engine's version.
    pub engines: Vec<String>,
    /// The CPU model.
    pub cpu: String,
    /// Logical cores.
    pub cores: usize,
    /// Memory of the machine, bytes.
    pub memory_bytes: u64,
    /// Threads given to each engine.
    pub threads: usize,
    /// Memory limit given to each engine, bytes.
    pub memory_limit_bytes: Option<u64>,
    /// Timed runs per query and engine, after the cold one.
    pub iterations: usize,
    /// The significant digits numbers are compared to.
    pub significant_digits: usize,
}

/// One suite's results.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SuiteReport {
    /// `pipeline`, `models`, `analyses` or `tpch`.
    pub suite: String,
    /// What it ran on.
    pub data: String,
    /// Seconds spent loading the tables into each engine (not in the query times).
    pub load_seconds: Vec<(EngineKind, f64)>,
    /// One entry per query.
    pub queries: Vec<QueryReport>,
}

/// One query's results on every engine.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueryReport {
    /// The query's name.
    pub name: String,
    /// Whether DuckDB ran its own text of it (a dialect difference).
    pub dialect_text: bool,
    /// Whether row order was compared.
    pub ordered: bool,
    /// ✓ same answers, ✗ different, - not compared (an engine did not answer).
    pub check: String,
    /// The first differing row, when ✗.
    pub difference: Option<String>,
    /// Each engine's figures.
    pub engines: Vec<EngineFigures>,
}

/// One engine's figures for one query.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EngineFigures {
    /// The engine.
    pub engine: EngineKind,
    /// Rows of the answer.
    pub rows: Option<u64>,
    /// The first run, ms.
    pub cold_ms: Option<f64>,
    /// Every timed run, ms.
    pub runs_ms: Vec<f64>,
    /// The fastest timed run, ms.
    pub min_ms: Option<f64>,
    /// The median timed run, ms.
    pub median_ms: Option<f64>,
    /// The slowest timed run, ms.
    pub max_ms: Option<f64>,
    /// Standard deviation over mean of the timed runs.
    pub cv: Option<f64>,
    /// Peak resident memory above the start of the run, bytes.
    pub peak_memory_bytes: u64,
    /// A hash of the normalised answer, to compare runs made apart.
    pub answer_hash: Option<String>,
    /// Why the engine could not run it.
    pub error: Option<String>,
}

impl EngineFigures {
    /// Empty figures for `engine`.
    pub fn new(engine: EngineKind) -> EngineFigures {
        EngineFigures {
            engine,
            rows: None,
            cold_ms: None,
            runs_ms: Vec::new(),
            min_ms: None,
            median_ms: None,
            max_ms: None,
            cv: None,
            peak_memory_bytes: 0,
            answer_hash: None,
            error: None,
        }
    }

    /// Fills min, median, max and CV from the timed runs (the cold run stands in
    /// when there are none).
    pub fn summarise(&mut self) {
        let mut runs = self.runs_ms.clone();
        if runs.is_empty() {
            runs.extend(self.cold_ms);
        }
        if runs.is_empty() || self.error.is_some() {
            return;
        }
        runs.sort_by(f64::total_cmp);
        let n = runs.len();
        let median = if n % 2 == 1 {
            runs[n / 2]
        } else {
            (runs[n / 2 - 1] + runs[n / 2]) / 2.0
        };
        let mean = runs.iter().sum::<f64>() / n as f64;
        let variance = runs.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / n as f64;
        self.min_ms = runs.first().copied();
        self.max_ms = runs.last().copied();
        self.median_ms = Some(median);
        self.cv = (mean > 0.0).then(|| variance.sqrt() / mean);
    }
}

impl Report {
    /// Whether some query gave different answers on two engines.
    pub fn mismatches(&self) -> Vec<String> {
        self.suites
            .iter()
            .flat_map(|s| {
                s.queries
                    .iter()
                    .filter(|q| q.check == "✗")
                    .map(move |q| format!("{} {}", s.suite, q.name))
            })
            .collect()
    }

    /// The report as tables, one per suite, after a header.
    pub fn render(&self) -> String {
        let h = &self.header;
        let mut out = format!(
            "{} · {} · {} cores, {:.1} GiB · {} threads each{} · cold run + {} timed runs, engines alternated · numbers compared to {} significant digits\n",
            h.engines.join(" vs "),
            h.cpu,
            h.cores,
            h.memory_bytes as f64 / f64::from(1u32 << 30),
            h.threads,
            h.memory_limit_bytes
                .map(|b| format!(", memory limit {:.1} GiB", b as f64 / f64::from(1u32 << 30)))
                .unwrap_or_default(),
            h.iterations,
            h.significant_digits,
        );
        for suite in &self.suites {
            out.push_str(&suite.render());
        }
        out
    }
}

impl SuiteReport {
    fn render(&self) -> String {
        let engines: Vec<EngineKind> = self
            .queries
            .first()
            .map(|q| q.engines.iter().map(|e| e.engine).collect())
            .unwrap_or_default();
        let mut table = Table::new();
        table.load_preset(UTF8_FULL_CONDENSED);
        let mut header = vec!["query".to_string(), "rows".to_string()];
        for engine in &engines {
            header.push(format!("{} first (ms)", engine.as_str()));
            header.push(format!("{} median (ms) ± CV", engine.as_str()));
            header.push(format!("{} peak MiB", engine.as_str()));
        }
        if engines.len() == 2 {
            header.push("faster".into());
        }
        header.push("check".into());
        table.set_header(header);
        for query in &self.queries {
            let mut row: Vec<Cell> = vec![
                Cell::new(format!(
                    "{}{}",
                    query.name,
                    if query.dialect_text {
                        " (DuckDB text)"
                    } else {
                        ""
                    }
                )),
                Cell::new(rows_of(query)).set_alignment(CellAlignment::Right),
            ];
            for figures in &query.engines {
                match &figures.error {
                    Some(error) => {
                        row.push(Cell::new(format!("error: {}", shorten(error, 30))));
                        row.push(Cell::new(""));
                        row.push(Cell::new(""));
                    }
                    None => {
                        row.push(right(figures.cold_ms.map(ms).unwrap_or_default()));
                        row.push(right(format!(
                            "{} ± {:.0}%",
                            figures.median_ms.map(ms).unwrap_or_default(),
                            figures.cv.unwrap_or_default() * 100.0
                        )));
                        row.push(right(format!(
                            "{:.1}",
                            figures.peak_memory_bytes as f64 / f64::from(1u32 << 20)
                        )));
                    }
                }
            }
            if engines.len() == 2 {
                row.push(Cell::new(faster(query).unwrap_or_default()));
            }
            row.push(Cell::new(&query.check));
            table.add_row(row);
        }
        let mut out = format!("\n{} on {}\n{table}\n", self.suite, self.data);
        for (engine, seconds) in &self.load_seconds {
            out.push_str(&format!(
                "loading the tables into {}: {seconds:.2} s\n",
                engine.as_str()
            ));
        }
        out.push_str(&self.footer(&engines));
        for query in &self.queries {
            for figures in &query.engines {
                if let Some(error) = &figures.error {
                    out.push_str(&format!(
                        "! {} could not run {}: {}\n",
                        figures.engine.as_str(),
                        query.name,
                        error.lines().next().unwrap_or_default()
                    ));
                }
            }
        }
        for query in self.queries.iter().filter(|q| q.difference.is_some()) {
            out.push_str(&format!(
                "✗ {}: {}\n",
                query.name,
                query.difference.clone().unwrap_or_default()
            ));
        }
        out
    }

    /// Totals of the medians, the geometric mean of the ratios, wins and mismatches.
    fn footer(&self, engines: &[EngineKind]) -> String {
        let mut out = String::new();
        for engine in engines {
            let (total, ran) = self.queries.iter().fold((0.0, 0), |(t, n), q| {
                match q
                    .engines
                    .iter()
                    .find(|e| e.engine == *engine)
                    .and_then(|e| e.median_ms)
                {
                    Some(m) => (t + m, n + 1),
                    None => (t, n),
                }
            });
            out.push_str(&format!(
                "{}: {ran} of {} queries ran, medians total {}\n",
                engine.as_str(),
                self.queries.len(),
                ms(total)
            ));
        }
        if let [first, second] = engines {
            let ratios: Vec<f64> = self
                .queries
                .iter()
                .filter_map(|q| ratio(q, *first, *second))
                .collect();
            if !ratios.is_empty() {
                let geomean =
                    (ratios.iter().map(|r| r.ln()).sum::<f64>() / ratios.len() as f64).exp();
                let wins = ratios.iter().filter(|r| **r < 1.0).count();
                out.push_str(&format!(
                    "geometric mean of {a}/{b} median ratios: {geomean:.2} ({a} faster on {wins}, {b} on {} of {})\n",
                    ratios.len() - wins,
                    ratios.len(),
                    a = first.as_str(),
                    b = second.as_str(),
                ));
            }
        }
        let mismatches = self.queries.iter().filter(|q| q.check == "✗").count();
        out.push_str(&format!("answers: {mismatches} mismatches\n"));
        out
    }
}

/// `first`'s median over `second`'s, when both ran.
fn ratio(query: &QueryReport, first: EngineKind, second: EngineKind) -> Option<f64> {
    let median = |kind| query.engines.iter().find(|e| e.engine == kind)?.median_ms;
    let (a, b) = (median(first)?, median(second)?);
    (a > 0.0 && b > 0.0).then_some(a / b)
}

/// Which engine is faster, and by how much (`duckdb 2.3×`).
fn faster(query: &QueryReport) -> Option<String> {
    let [a, b] = [query.engines.first()?, query.engines.get(1)?];
    let (ma, mb) = (a.median_ms?, b.median_ms?);
    if ma <= 0.0 || mb <= 0.0 {
        return None;
    }
    Some(if ma <= mb {
        format!("{} {:.1}×", a.engine.as_str(), mb / ma)
    } else {
        format!("{} {:.1}×", b.engine.as_str(), ma / mb)
    })
}

fn rows_of(query: &QueryReport) -> String {
    query
        .engines
        .iter()
        .find_map(|e| e.rows)
        .map(|r| r.to_string())
        .unwrap_or_default()
}

fn ms(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

fn right(text: String) -> Cell {
    Cell::new(text).set_alignment(CellAlignment::Right)
}

fn shorten(text: &str, most: usize) -> String {
    let line = text.lines().next().unwrap_or_default();
    if line.chars().count() <= most {
        line.to_string()
    } else {
        format!("{}…", line.chars().take(most).collect::<String>())
    }
}

/// Reads a JSON report written by `stride bench -o`.
pub fn read(path: &std::path::Path) -> Result<Report> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Bench(format!("cannot read {}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| {
        Error::Bench(format!(
            "{} is not a stride bench report: {e}",
            path.display()
        ))
    })
}

/// Per suite, query and engine, the change of the median from `old` to `new`;
/// a change within `threshold` (a share, 0.05 for 5%) or within the runs' own
/// spread (twice the larger CV) is noise.
pub fn compare(old: &Report, new: &Report, threshold: f64) -> (String, usize) {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(vec![
        "suite",
        "query",
        "engine",
        "old median (ms)",
        "new median (ms)",
        "change",
        "verdict",
    ]);
    let mut changed = 0;
    for suite in &new.suites {
        let before = old.suites.iter().find(|s| s.suite == suite.suite);
        for query in &suite.queries {
            let earlier = before.and_then(|s| s.queries.iter().find(|q| q.name == query.name));
            for figures in &query.engines {
                let old_figures =
                    earlier.and_then(|q| q.engines.iter().find(|e| e.engine == figures.engine));
                let (old_median, new_median) =
                    (old_figures.and_then(|f| f.median_ms), figures.median_ms);
                let (change, verdict) = match (old_median, new_median) {
                    (Some(a), Some(b)) if a > 0.0 => {
                        let change = b / a - 1.0;
                        let spread = 2.0
                            * old_figures
                                .and_then(|f| f.cv)
                                .unwrap_or(0.0)
                                .max(figures.cv.unwrap_or(0.0));
                        let verdict = if change.abs() <= threshold.max(spread) {
                            "no change"
                        } else if change < 0.0 {
                            changed += 1;
                            "faster"
                        } else {
                            changed += 1;
                            "slower"
                        };
                        (format!("{:+.1}%", change * 100.0), verdict)
                    }
                    (None, Some(_)) => ("".into(), "new"),
                    (Some(_), None) => ("".into(), "no longer runs"),
                    _ => ("".into(), "-"),
                };
                table.add_row(vec![
                    Cell::new(&suite.suite),
                    Cell::new(&query.name),
                    Cell::new(figures.engine.as_str()),
                    right(old_median.map(ms).unwrap_or_default()),
                    right(new_median.map(ms).unwrap_or_default()),
                    right(change),
                    Cell::new(verdict),
                ]);
            }
        }
    }
    (
        format!(
            "{table}\n{changed} changes beyond noise (threshold {:.0}%)\n",
            threshold * 100.0
        ),
        changed,
    )
}
