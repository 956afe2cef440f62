//! The model graph of one run: models started as their inputs are ready, a few at
//! a time, each planned and executed, what became of it told to the run's observers;
//! a failed model stops its dependents.

use super::commit::execute;
use super::plan::{inventory, plan_model};
use super::*;

/// Runs `models` (in dependency order) as their inputs become ready. A failed model
/// stops its dependents; independent branches still finish; the first failure is
/// returned at the end.
pub(super) async fn execute_graph(
    run: &Arc<RunContext>,
    models: &[Model],
    to_run: &BTreeSet<String>,
    mut found: HashMap<String, Found>,
    events: &dyn RunEvents,
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
    let bar = progress::bar(to_run.len() as u64, "run");
    let planned: Vec<String> = models
        .iter()
        .filter(|m| to_run.contains(&m.name))
        .map(|m| m.name.clone())
        .collect();
    events.planned(&planned);

    loop {
        while running.len() < CONCURRENT_MODELS {
            let Some(model) = ready.pop() else { break };
            let run = Arc::clone(run);
            let model = model.clone();
            let selected = to_run.contains(&model.name);
            if selected {
                events.model_started(&model.name);
            }
            let current = found.get(&model.name).cloned();
            let upstream: HashMap<String, Found> = run
                .inputs
                .stored_of
                .get(&model.name)
                .into_iter()
                .flatten()
                .filter_map(|name| found.get(name).map(|f| (name.clone(), f.clone())))
                .collect();
            running.spawn(async move {
                let name = model.name.clone();
                let result = if selected {
                    run_model(&run, &model, current, &upstream).await
                } else {
                    register_unselected(&run, &model, current.as_ref())
                        .await
                        .map(|()| (None, None))
                };
                (name, selected, result)
            });
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        let (name, selected, result) = joined.map_err(|e| Error::Task(e.to_string()))?;
        if selected {
            bar.inc(1);
        }
        match result {
            Ok((outcome, table)) => {
                if let Some(table) = table {
                    found.insert(name.clone(), table);
                }
                if let Some(outcome) = outcome {
                    bar.suspend(|| events.model_finished(&outcome));
                    outcomes.push(outcome);
                }
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
                let cause = crate::error::one_line_in_model(&error);
                bar.suspend(|| events.model_failed(&name, &cause));
                for dependent in descendants(models, &name) {
                    if to_run.contains(&dependent) {
                        bar.suspend(|| events.model_blocked(&dependent, &name));
                    }
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

/// Makes a model that is not selected readable by the selected ones: its table at
/// its latest version, or its view.
pub(super) async fn register_unselected(
    run: &RunContext,
    model: &Model,
    current: Option<&Found>,
) -> Result<()> {
    if model.materialization.is_stored() {
        if let Some(found) = current {
            let provider = run.provider(&model.name, &found.table).await?;
            run.ctx
                .register_table(model.name.as_str(), provider)
                .map_err(|e| Error::in_model(&model.name, e))?;
        }
        return Ok(());
    }
    let sql = model.render(&RenderContext::default())?;
    // A view over a model that was never run cannot be planned; nothing selected
    // can read it then either.
    if let Ok(frame) = run.ctx.sql(&sql).await {
        run.ctx
            .register_table(model.name.as_str(), frame.into_view())
            .map_err(|e| Error::in_model(&model.name, e))?;
    }
    Ok(())
}

pub(super) type ModelResult = Result<(Option<ModelOutcome>, Option<Found>)>;

/// Decides what to do with one selected model and does it.
pub(super) async fn run_model(
    run: &RunContext,
    model: &Model,
    current: Option<Found>,
    upstream: &HashMap<String, Found>,
) -> ModelResult {
    let started = Instant::now();
    if !model.materialization.is_stored() {
        let sql = model.render(&RenderContext::default())?;
        let frame = run
            .ctx
            .sql(&sql)
            .await
            .map_err(|e| Error::in_model(&model.name, e))?;
        run.ctx
            .register_table(model.name.as_str(), frame.into_view())
            .map_err(|e| Error::in_model(&model.name, e))?;
        let outcome = outcome(model, Action::View, None, started, None);
        return Ok((Some(outcome), None));
    }

    let last = current
        .as_ref()
        .and_then(|f| f.last.as_ref())
        .map(|l| &l.state);
    let lake = inventory(run, model, last, upstream).await?;
    let plan = plan_model(model, last, &lake);
    let Some(plan) = plan else {
        if let Some(found) = &current {
            register(run, model, &found.table).await?;
        }
        let outcome = outcome(model, Action::Skipped, None, started, None);
        return Ok((Some(outcome), current));
    };
    if !plan.reasons.is_empty() {
        tracing::debug!(
            "{} rebuilt in full: {}",
            model.name,
            plan.reasons.join(", ")
        );
    }
    for table in &plan.late {
        tracing::debug!(
            "{}: raw.{table} delivered changes older than some it read already",
            model.name
        );
    }
    let (table, committed, placement) = execute(run, model, current, upstream, &plan).await?;
    crate::test_hooks::abort_at(crate::test_hooks::ABORT_AFTER_COMMIT, &model.name);
    register(run, model, &table).await?;
    let last = Some(LastCommit {
        version: committed.version,
        state: plan.state.clone(),
    });
    let action = if plan.incremental {
        Action::Incremental
    } else {
        Action::Full
    };
    let outcome = outcome(model, action, Some(committed), started, Some(placement));
    Ok((Some(outcome), Some(Found { table, last })))
}

pub(super) fn outcome(
    model: &Model,
    action: Action,
    committed: Option<Committed>,
    started: Instant,
    placement: Option<Placement>,
) -> ModelOutcome {
    ModelOutcome {
        placement,
        model: model.name.clone(),
        materialization: model.materialization,
        action,
        version: committed.as_ref().map(|c| c.version),
        rows: committed.map(|c| (c.rows_added, c.rows_removed)),
        elapsed: started.elapsed(),
    }
}

pub(super) async fn register(run: &RunContext, model: &Model, table: &DeltaTable) -> Result<()> {
    let provider = run.provider(&model.name, table).await?;
    // `{{ this }}` may have registered the previous version under the same name.
    run.ctx
        .deregister_table(model.name.as_str())
        .map_err(|e| Error::in_model(&model.name, e))?;
    run.ctx
        .register_table(model.name.as_str(), provider)
        .map_err(|e| Error::in_model(&model.name, e))?;
    Ok(())
}
