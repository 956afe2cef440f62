//! Timing one query on the engines, as DataFusion's `dfbench` and ClickBench do:
//! a first (cold) run reported apart, then N timed runs with the engines
//! alternated, each run's wall time and the process's peak memory above what it
//! held before the run.

use std::time::Instant;

use arrow::record_batch::RecordBatch;

use super::answers::{Answer, AnswerBuilder};
use super::engine::{Engine, EngineKind};
use super::report::{EngineFigures, QueryReport};
use super::workload::{Query, StepKind};
use crate::error::{Error, Result};

/// A test hook: the name of a query whose DuckDB answer is altered, so a test can
/// see a mismatch reported (`STRIDE_TEST_BENCH_ALTER=q06`).
const ALTER_HOOK: &str = "STRIDE_TEST_BENCH_ALTER";

/// Runs `query` on every engine (cold, then `iterations` timed runs alternating
/// the engines) and checks that their answers agree.
pub async fn measure(
    query: &Query,
    engines: &mut [(EngineKind, Engine)],
    iterations: usize,
) -> QueryReport {
    let mut figures: Vec<EngineFigures> = engines
        .iter()
        .map(|(kind, _)| EngineFigures::new(*kind))
        .collect();
    let mut answers: Vec<Option<Answer>> = vec![None; engines.len()];
    for (index, (kind, engine)) in engines.iter_mut().enumerate() {
        match timed_run(query, engine, *kind).await {
            Ok((ms, peak, batches)) => {
                figures[index].cold_ms = Some(ms);
                figures[index].peak_memory_bytes = peak;
                match answer_of(query, engine, *kind, batches).await {
                    Ok(answer) => {
                        figures[index].rows = Some(answer.len() as u64);
                        figures[index].answer_hash = Some(answer.hash());
                        answers[index] = Some(answer);
                    }
                    Err(e) => figures[index].error = Some(e.to_string()),
                }
            }
            Err(e) => figures[index].error = Some(e.to_string()),
        }
    }
    for iteration in 0..iterations {
        let count = engines.len();
        for turn in 0..count {
            // Alternate which engine goes first, so neither always runs on a
            // cache the other warmed.
            let index = if iteration % 2 == 0 {
                turn
            } else {
                count - 1 - turn
            };
            if figures[index].error.is_some() {
                continue;
            }
            let (kind, engine) = &mut engines[index];
            match timed_run(query, engine, *kind).await {
                Ok((ms, peak, _)) => {
                    figures[index].runs_ms.push(ms);
                    figures[index].peak_memory_bytes = figures[index].peak_memory_bytes.max(peak);
                }
                Err(e) => figures[index].error = Some(e.to_string()),
            }
        }
    }
    for figure in &mut figures {
        figure.summarise();
    }
    let (check, difference) = compare_answers(engines, &answers);
    QueryReport {
        name: query.name.clone(),
        dialect_text: query.has_dialect_text(),
        ordered: query.ordered,
        check,
        difference,
        engines: figures,
    }
}

/// One run of every step: milliseconds, peak memory above the start, the last rows.
async fn timed_run(
    query: &Query,
    engine: &mut Engine,
    kind: EngineKind,
) -> Result<(f64, u64, Vec<RecordBatch>)> {
    let before = memory::reset_peak();
    let started = Instant::now();
    let mut last = Vec::new();
    for step in &query.steps {
        last = engine.execute(step, kind).await?;
    }
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let peak = memory::peak().saturating_sub(before);
    Ok((ms, peak, last))
}

/// The answer of a run: its rows, or the tables a pipeline names (read untimed,
/// one at a time, so only one table's rows are held at once).
async fn answer_of(
    query: &Query,
    engine: &mut Engine,
    kind: EngineKind,
    rows: Vec<RecordBatch>,
) -> Result<Answer> {
    let ordered = query.ordered
        && query
            .steps
            .last()
            .is_some_and(|s| s.kind == StepKind::Select);
    let alter =
        kind == EngineKind::Duckdb && std::env::var(ALTER_HOOK).is_ok_and(|q| q == query.name);
    let mut answer = AnswerBuilder::new(ordered);
    if query.answer_tables.is_empty() {
        answer.add(&if alter { altered(rows)? } else { rows })?;
    } else {
        drop(rows);
        for (index, table) in query.answer_tables.iter().enumerate() {
            let batches = engine.read(table, kind).await?;
            answer.add(&if alter && index == 0 {
                altered(batches)?
            } else {
                batches
            })?;
        }
    }
    Ok(answer.finish())
}

/// The rows with the first row's first column replaced by its successor or a marker.
fn altered(rows: Vec<RecordBatch>) -> Result<Vec<RecordBatch>> {
    let Some(first) = rows.first() else {
        return Ok(rows);
    };
    let column = arrow::compute::cast(first.column(0), &arrow::datatypes::DataType::Utf8)?;
    let strings = arrow::array::AsArray::as_string::<i32>(&column);
    let mut values: Vec<Option<String>> = strings.iter().map(|v| v.map(str::to_string)).collect();
    if let Some(value) = values.first_mut() {
        *value = Some(format!("{}~altered", value.clone().unwrap_or_default()));
    }
    let mut columns = first.columns().to_vec();
    columns[0] = std::sync::Arc::new(arrow::array::StringArray::from(values));
    let fields: Vec<arrow::datatypes::Field> = first
        .schema()
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let data_type = if i == 0 {
                arrow::datatypes::DataType::Utf8
            } else {
                f.data_type().clone()
            };
            arrow::datatypes::Field::new(f.name(), data_type, true)
        })
        .collect();
    let schema = std::sync::Arc::new(arrow::datatypes::Schema::new(fields));
    let mut out = vec![RecordBatch::try_new(schema, columns).map_err(Error::from)?];
    out.extend(rows.into_iter().skip(1));
    Ok(out)
}

/// ✓ when every engine that ran agrees with the first, ✗ with the first
/// differing row otherwise; `-` when fewer than two engines answered.
fn compare_answers(
    engines: &[(EngineKind, Engine)],
    answers: &[Option<Answer>],
) -> (String, Option<String>) {
    let given: Vec<(EngineKind, &Answer)> = engines
        .iter()
        .zip(answers)
        .filter_map(|((kind, _), answer)| answer.as_ref().map(|a| (*kind, a)))
        .collect();
    let Some(((first_kind, first), rest)) = given.split_first() else {
        return ("-".into(), None);
    };
    if rest.is_empty() {
        return ("-".into(), None);
    }
    for (kind, answer) in rest {
        if let Some(difference) = first.first_difference(answer, first_kind.as_str(), kind.as_str())
        {
            return ("✗".into(), Some(difference));
        }
    }
    ("✓".into(), None)
}

/// The process's peak resident memory, reset before each run (Linux: writing 5 to
/// `/proc/self/clear_refs` resets `VmHWM`). Elsewhere both read 0.
mod memory {
    /// Resets the peak and returns the memory resident now, in bytes.
    pub fn reset_peak() -> u64 {
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        status_bytes("VmRSS:")
    }

    /// The peak resident memory since the last reset, in bytes.
    pub fn peak() -> u64 {
        status_bytes("VmHWM:")
    }

    fn status_bytes(key: &str) -> u64 {
        let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
            return 0;
        };
        status
            .lines()
            .find_map(|line| line.strip_prefix(key))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .map_or(0, |kib| kib * 1024)
    }
}
