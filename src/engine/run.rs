//! `stride run`: checks the landed raw files, then brings every model up to date in
//! dependency order, running models that do not depend on each other concurrently.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use datafusion::prelude::SessionContext;
use tokio::task::JoinSet;

use super::session::{new_session, register_sources};
use crate::delta;
use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::land;
use crate::models::{Materialization, Model, Project, RenderContext};
use crate::progress;
use crate::sources;

/// How many models may execute at once. DataFusion already spreads one query over
/// every core; a few models at once hide the latency of commits and small models.
const CONCURRENT_MODELS: usize = 3;

/// What the run was asked to do.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Rebuild every model from all landed batches.
    pub full_refresh: bool,
}

/// What happened to one model.
#[derive(Debug, Clone)]
pub struct ModelOutcome {
    /// The model name.
    pub model: String,
    /// How it is kept.
    pub materialization: Materialization,
    /// The Delta version committed, for stored models.
    pub version: Option<u64>,
    /// Rows written, for stored models.
    pub rows: Option<u64>,
    /// Wall time of planning, executing and committing it.
    pub elapsed: Duration,
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    /// Raw files checked before the models ran.
    pub raw_files: usize,
    /// The models that finished, in the order they finished.
    pub models: Vec<ModelOutcome>,
}

/// Runs every model of `project` on the lake.
pub async fn run(lake: &Lake, project: &Project, _options: &RunOptions) -> Result<RunReport> {
    let mut files = Vec::new();
    for table in &sources::ALL {
        files.extend(land::landed_files(lake, table).await?);
    }
    land::validate_files(lake, &files).await?;

    let ctx = new_session();
    register_sources(&ctx, lake).await?;
    let models = execute_graph(&ctx, lake, project.models()).await?;
    Ok(RunReport {
        raw_files: files.len(),
        models,
    })
}

/// Runs `models` (in dependency order) as their inputs become ready. A failed model
/// stops its dependents; independent branches still finish; the first failure is
/// returned at the end.
async fn execute_graph(
    ctx: &SessionContext,
    lake: &Lake,
    models: &[Model],
) -> Result<Vec<ModelOutcome>> {
    let mut waiting_on: HashMap<&str, usize> = models
        .iter()
        .map(|m| (m.name.as_str(), m.refs.len()))
        .collect();
    let mut ready: Vec<&Model> = models.iter().filter(|m| m.refs.is_empty()).collect();
    ready.reverse();
    let mut blocked: HashSet<String> = HashSet::new();
    let mut failures: Vec<Error> = Vec::new();
    let mut outcomes = Vec::new();
    let mut running = JoinSet::new();
    let bar = progress::bar(models.len() as u64, "run");

    loop {
        while running.len() < CONCURRENT_MODELS {
            let Some(model) = ready.pop() else { break };
            let (ctx, lake, model) = (ctx.clone(), lake.clone(), model.clone());
            running.spawn(async move {
                let name = model.name.clone();
                (name, run_model(&ctx, &lake, &model).await)
            });
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        let (name, result) = joined.map_err(|e| Error::Task(e.to_string()))?;
        bar.inc(1);
        match result {
            Ok(outcome) => {
                bar.suspend(|| log_outcome(&outcome));
                outcomes.push(outcome);
                for model in models.iter().filter(|m| m.refs.contains(&name)) {
                    if let Some(count) = waiting_on.get_mut(model.name.as_str()) {
                        *count -= 1;
                        if *count == 0 && !blocked.contains(&model.name) {
                            ready.insert(0, model);
                        }
                    }
                }
            }
            Err(error) => {
                bar.suspend(|| tracing::error!("model {name} failed: {error}"));
                for dependent in dependents_of(models, &name) {
                    bar.suspend(|| tracing::warn!("model {dependent} skipped: {name} failed"));
                    blocked.insert(dependent);
                }
                failures.push(error);
            }
        }
    }
    bar.finish_and_clear();
    match failures.into_iter().next() {
        Some(first) => Err(first),
        None => Ok(outcomes),
    }
}

/// Every model that reads `name`, directly or through other models.
fn dependents_of(models: &[Model], name: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut frontier = vec![name.to_string()];
    while let Some(current) = frontier.pop() {
        for model in models.iter().filter(|m| m.refs.contains(&current)) {
            if !found.contains(&model.name) {
                found.push(model.name.clone());
                frontier.push(model.name.clone());
            }
        }
    }
    found
}

/// Plans one model, then registers it as a view or commits it to Delta and
/// registers the committed table for the models downstream.
async fn run_model(ctx: &SessionContext, lake: &Lake, model: &Model) -> Result<ModelOutcome> {
    let started = Instant::now();
    let sql = model.render(&RenderContext::default())?;
    let frame = ctx
        .sql(&sql)
        .await
        .map_err(|e| Error::in_model(&model.name, e))?;
    let (version, rows) = match model.materialization {
        Materialization::View => {
            ctx.register_table(model.name.as_str(), frame.into_view())
                .map_err(|e| Error::in_model(&model.name, e))?;
            (None, None)
        }
        Materialization::Table | Materialization::Incremental => {
            let state = ctx.state();
            let info = serde_json::json!({
                "model": model.name,
                "materialization": model.materialization.as_str(),
                "stride_version": env!("CARGO_PKG_VERSION"),
            });
            let plan = frame.into_unoptimized_plan();
            let (table, committed) =
                delta::overwrite(lake, &model.name, plan, &state, info).await?;
            let provider = delta::provider(&table, &state)
                .await
                .map_err(|e| Error::in_model(&model.name, e))?;
            ctx.register_table(model.name.as_str(), provider)
                .map_err(|e| Error::in_model(&model.name, e))?;
            (Some(committed.version), Some(committed.rows))
        }
    };
    Ok(ModelOutcome {
        model: model.name.clone(),
        materialization: model.materialization,
        version,
        rows,
        elapsed: started.elapsed(),
    })
}

fn log_outcome(outcome: &ModelOutcome) {
    match (outcome.version, outcome.rows) {
        (Some(version), Some(rows)) => tracing::info!(
            "{:<28} {:<11} {:>10} rows  v{:<4} {:>7.2}s",
            outcome.model,
            outcome.materialization.as_str(),
            rows,
            version,
            outcome.elapsed.as_secs_f64()
        ),
        _ => tracing::info!(
            "{:<28} {:<11} {:>10}       {:<5} {:>7.2}s",
            outcome.model,
            outcome.materialization.as_str(),
            "-",
            "",
            outcome.elapsed.as_secs_f64()
        ),
    }
}
