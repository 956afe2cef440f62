//! `stride run`: brings every model up to date with the landed batches, in
//! dependency order, running models that do not depend on each other concurrently.
//!
//! Each stored model reads what it consumed from its own last commit (see
//! [`super::state`]) and decides:
//! - nothing new among its inputs: skipped, no new version;
//! - a full rebuild (first run, `--full-refresh`, changed SQL, an input rebuilt, a
//!   `table` model with new input): its SELECT over all input, overwritten;
//! - otherwise, for an `incremental` model: its SELECT with `is_incremental()`
//!   true, where `changes(...)` holds only what its inputs changed since its last
//!   commit, applied with its strategy.
//!
//! The record of what it consumed is committed with its data, so a run killed at
//! any point is picked up by the next one exactly where the tables say it stopped.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::AsArray;
use arrow::compute::filter_record_batch;
use arrow::record_batch::RecordBatch;
use datafusion::common::{ScalarValue, TableReference};
use datafusion::datasource::MemTable;
use datafusion::logical_expr::{Expr, col, lit};
use datafusion::prelude::{DataFrame, SessionContext};
use deltalake::DeltaTable;
use futures::{StreamExt, TryStreamExt, stream};
use tokio::task::JoinSet;

use super::materialize::{Materialized, materialize};
use super::select::{descendants, select};
use super::session::{new_session, register_pinned_sources};
use super::state::{LastCommit, ModelState, commits_after, last_commit};
use crate::cluster::{Cluster, Placement};
use crate::contracts::{self, Contract, Contracts};
use crate::delta::{self, Committed};
use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::lake::LakeLock;
use crate::land::{self, LandedFile};
use crate::models::{
    CHANGES_SCHEMA, Materialization, Model, Project, RenderContext, Strategy, changes_table,
};
use crate::progress;
use crate::quarantine::{self, Admitted, TableCheck, admitted_table, file_key};
use crate::sources::{SOURCE_SCHEMA, SourceTable};

/// How many models may execute at once. DataFusion already spreads one query over
/// every core; a few models at once hide the latency of commits and small models.
const CONCURRENT_MODELS: usize = 3;

/// The column that marks a result row as a deletion.
const OP_COLUMN: &str = "_op";

/// What the run was asked to do.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Rebuild the selected models (all, without `select`) and everything
    /// downstream of them from all landed batches.
    pub full_refresh: bool,
    /// dbt-style selection (`model`, `+model`, `model+`); `None` runs every model.
    pub select: Option<String>,
    /// The run's id, recorded in each commit it makes.
    pub run_id: Option<String>,
    /// Where the models' queries run: `None` in this process, else on a cluster.
    pub cluster: Option<Cluster>,
}

/// What a run tells its observer as it goes (the run history records it). Every
/// method has a default that ignores the event.
pub trait RunEvents: Send + Sync {
    /// These models will be run (or looked at), in dependency order.
    fn planned(&self, _models: &[String]) {}
    /// The landed files were checked against their contracts.
    fn checked(&self, _checked: &[TableCheck]) {}
    /// A model started.
    fn model_started(&self, _model: &str) {}
    /// A model finished.
    fn model_finished(&self, _outcome: &ModelOutcome) {}
    /// A model failed with this error (its causes on one line).
    fn model_failed(&self, _model: &str, _error: &str) {}
    /// A model was not run because a model it reads failed.
    fn model_blocked(&self, _model: &str, _failed: &str) {}
}

/// Events nobody listens to.
pub struct NoEvents;

impl RunEvents for NoEvents {}

/// What a run did to one model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A view, registered for the models downstream.
    View,
    /// Nothing new among its inputs: no new version.
    Skipped,
    /// Rebuilt from all of its input.
    Full,
    /// Brought up to date with what its inputs changed.
    Incremental,
}

impl Action {
    /// A word for logs and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::View => "view",
            Action::Skipped => "up to date",
            Action::Full => "full",
            Action::Incremental => "incremental",
        }
    }
}

/// What happened to one model.
#[derive(Debug, Clone)]
pub struct ModelOutcome {
    /// The model name.
    pub model: String,
    /// How it is kept.
    pub materialization: Materialization,
    /// What the run did.
    pub action: Action,
    /// The Delta version committed, when one was.
    pub version: Option<u64>,
    /// Rows added and removed by that commit.
    pub rows: Option<(u64, u64)>,
    /// Wall time of planning, executing and committing it.
    pub elapsed: Duration,
    /// Where its query ran (`None` for a view or a model left as it was).
    pub placement: Option<Placement>,
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    /// Raw files landed when the run started.
    pub raw_files: usize,
    /// Raw files checked against their contracts by this run (new since the last).
    pub new_raw_files: usize,
    /// Per raw table with new files: rows read = loaded + quarantined.
    pub checked: Vec<TableCheck>,
    /// Files in the raw area that belong to no table, so nothing read them.
    pub strays: Vec<land::Stray>,
    /// The models that finished, in the order they finished.
    pub models: Vec<ModelOutcome>,
}

/// A stored model's table as the run found it.
#[derive(Debug, Clone)]
struct Found {
    table: DeltaTable,
    last: Option<LastCommit>,
}

/// Everything a model task needs to know, shared by the run.
struct RunContext {
    ctx: SessionContext,
    lake: Lake,
    /// What the raw tables load: the admitted files and their ledgers.
    sources: Admitted,
    contracts: Contracts,
    full_refresh: BTreeSet<String>,
    /// Per model, the raw tables it reads directly or through views.
    sources_of: HashMap<String, BTreeSet<String>>,
    /// Per model, the stored models it reads directly or through views.
    stored_inputs_of: HashMap<String, BTreeSet<String>>,
    /// The run's id, for the commits' records.
    run_id: Option<String>,
    /// The cluster queries are sent to, if any.
    cluster: Option<Cluster>,
}

/// How many listings or table logs a run reads at once.
const CONCURRENT_READS: usize = 8;

/// Runs the models of `project` on the lake. The caller holds the lake's lock (and
/// can publish the marts under it before anyone else commits).
pub async fn run_with_lock(
    lake: &Lake,
    project: &Project,
    contracts: &Contracts,
    options: &RunOptions,
    _lock: &LakeLock,
    events: &dyn RunEvents,
) -> Result<RunReport> {
    let models = project.models();
    // Listings and log reads are independent requests: on S3 each costs a round
    // trip, so they go out together (8 at a time) instead of one after another.
    let sources = project.sources();
    let inventories: BTreeMap<String, land::Inventory> = stream::iter(sources)
        .map(|table| async move {
            Ok::<_, Error>((table.name.clone(), land::inventory(lake, table).await?))
        })
        .buffer_unordered(CONCURRENT_READS)
        .try_collect()
        .await?;
    let mut strays = land::strays_outside_tables(lake, sources).await?;
    let mut landed: BTreeMap<String, Vec<LandedFile>> = BTreeMap::new();
    for (table, inventory) in inventories {
        strays.extend(inventory.strays);
        landed.insert(table, inventory.files);
    }
    let to_run: BTreeSet<String> = match &options.select {
        Some(selection) => {
            let mut chosen = select(models, selection)?;
            if options.full_refresh {
                for name in chosen.clone() {
                    chosen.extend(descendants(models, &name));
                }
            }
            chosen
        }
        None => models.iter().map(|m| m.name.clone()).collect(),
    };
    let full_refresh = if options.full_refresh {
        to_run.clone()
    } else {
        BTreeSet::new()
    };

    let opened: Vec<Option<(String, Found)>> = stream::iter(models)
        .filter(|m| std::future::ready(m.materialization.is_stored()))
        .map(|model| async move {
            let Some(table) = delta::open(lake, &model.name).await? else {
                return Ok::<_, Error>(None);
            };
            let last = last_commit(&table).await?;
            Ok(Some((model.name.clone(), Found { table, last })))
        })
        .buffer_unordered(CONCURRENT_READS)
        .try_collect()
        .await?;
    let found: HashMap<String, Found> = opened.into_iter().flatten().collect();

    let (sources_of, stored_inputs_of) = input_closure(models);
    // Every landed file is checked once against its contract before any model
    // reads it; models read only what the check loaded.
    let mut admitted = quarantine::admit(lake, contracts, &landed).await?;
    let checked = std::mem::take(&mut admitted.checked);
    events.checked(&checked);
    let new_raw_files = checked.iter().map(|c| c.files).sum();

    let ctx = new_session();
    register_pinned_sources(&ctx, lake, sources, &admitted.files, &admitted.ledgers)?;
    let run = Arc::new(RunContext {
        ctx,
        lake: lake.clone(),
        sources: admitted,
        contracts: contracts.clone(),
        full_refresh,
        sources_of,
        stored_inputs_of,
        run_id: options.run_id.clone(),
        cluster: options.cluster.clone(),
    });
    let outcomes = execute_graph(&run, models, &to_run, found, events).await?;
    Ok(RunReport {
        raw_files: landed.values().map(Vec::len).sum(),
        new_raw_files,
        checked,
        strays,
        models: outcomes,
    })
}

/// Rebuilds `to_run` (names of models, in any order) in full on `lake` from
/// exactly the raw files and ledgers of `admitted`, without checking or recording
/// anything in the raw tables' ledgers: what `stride verify` builds in its
/// scratch warehouse. Each result is checked against its contract and committed
/// to `lake`'s warehouse as a run would.
pub async fn rebuild_pinned(
    lake: &Lake,
    project: &Project,
    contracts: &Contracts,
    admitted: Admitted,
    to_run: &BTreeSet<String>,
) -> Result<Vec<ModelOutcome>> {
    let models = project.models();
    let (sources_of, stored_inputs_of) = input_closure(models);
    let ctx = new_session();
    register_pinned_sources(
        &ctx,
        lake,
        project.sources(),
        &admitted.files,
        &admitted.ledgers,
    )?;
    let run = Arc::new(RunContext {
        ctx,
        lake: lake.clone(),
        sources: admitted,
        contracts: contracts.clone(),
        full_refresh: to_run.clone(),
        sources_of,
        stored_inputs_of,
        run_id: None,
        cluster: None,
    });
    execute_graph(&run, models, to_run, HashMap::new(), &NoEvents).await
}

impl RunContext {
    /// How the run's queries read `table` (model `model`): delta-rs's scan in this
    /// process; on a cluster, stride's scan of the same version, which executors
    /// can run (or delta-rs's, with the reason logged, when they cannot).
    async fn provider(
        &self,
        model: &str,
        table: &DeltaTable,
    ) -> Result<Arc<dyn datafusion::catalog::TableProvider>> {
        let provider = delta::provider(table, &self.ctx.state())
            .await
            .map_err(|e| Error::in_model(model, e))?;
        Ok(match &self.cluster {
            None => provider,
            Some(cluster) => cluster.readable(model, table, provider),
        })
    }

    /// `frame` (model `model`'s query) as the run executes it: sent to the
    /// cluster when there is one and the plan can go, else here.
    fn place(&self, model: &Model, frame: DataFrame) -> Result<(DataFrame, Placement)> {
        match &self.cluster {
            None => Ok((frame, Placement::Local)),
            Some(cluster) => cluster
                .place(&self.ctx, frame, &model.name)
                .map_err(|e| Error::in_model(&model.name, e)),
        }
    }
}

/// For each model, the raw tables and the stored models it reads, looking through
/// views.
type Closure = (
    HashMap<String, BTreeSet<String>>,
    HashMap<String, BTreeSet<String>>,
);

fn input_closure(models: &[Model]) -> Closure {
    let mut sources_of: HashMap<String, BTreeSet<String>> = HashMap::new();
    let mut stored_of: HashMap<String, BTreeSet<String>> = HashMap::new();
    // Models come in dependency order, so every ref is already resolved.
    for model in models {
        let mut raw: BTreeSet<String> = model.sources.iter().cloned().collect();
        let mut stored = BTreeSet::new();
        for parent in &model.refs {
            match models.iter().find(|m| &m.name == parent) {
                Some(p) if p.materialization.is_stored() => {
                    stored.insert(parent.clone());
                }
                Some(_) => {
                    raw.extend(sources_of.get(parent).cloned().unwrap_or_default());
                    stored.extend(stored_of.get(parent).cloned().unwrap_or_default());
                }
                None => {}
            }
        }
        sources_of.insert(model.name.clone(), raw);
        stored_of.insert(model.name.clone(), stored);
    }
    (sources_of, stored_of)
}

/// Runs `models` (in dependency order) as their inputs become ready. A failed model
/// stops its dependents; independent branches still finish; the first failure is
/// returned at the end.
async fn execute_graph(
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
                .stored_inputs_of
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
                    bar.suspend(|| log_outcome(&outcome));
                    events.model_finished(&outcome);
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
                bar.suspend(|| tracing::error!("model {name} failed: {cause}"));
                events.model_failed(&name, &cause);
                for dependent in descendants(models, &name) {
                    bar.suspend(|| tracing::warn!("model {dependent} skipped: {name} failed"));
                    if to_run.contains(&dependent) {
                        events.model_blocked(&dependent, &name);
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
async fn register_unselected(
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

type ModelResult = Result<(Option<ModelOutcome>, Option<Found>)>;

/// Decides what to do with one selected model and does it.
async fn run_model(
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

    let plan = plan_model(run, model, current.as_ref(), upstream).await?;
    let Some(plan) = plan else {
        if let Some(found) = &current {
            register(run, model, &found.table).await?;
        }
        let outcome = outcome(model, Action::Skipped, None, started, None);
        return Ok((Some(outcome), current));
    };
    let (table, committed, placement) = execute(run, model, current, upstream, &plan).await?;
    abort_if_asked(&model.name);
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

/// A deterministic crash point for the crash-safety tests: with
/// `STRIDE_ABORT_AFTER_COMMIT=<model>`, the process aborts (no clean-up, like a
/// SIGKILL) right after that model's commit.
pub const ABORT_AFTER_COMMIT: &str = "STRIDE_ABORT_AFTER_COMMIT";

fn abort_if_asked(model: &str) {
    if std::env::var(ABORT_AFTER_COMMIT).is_ok_and(|m| m == model) {
        eprintln!("{ABORT_AFTER_COMMIT}={model}: aborting");
        std::process::abort();
    }
}

fn outcome(
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

async fn register(run: &RunContext, model: &Model, table: &DeltaTable) -> Result<()> {
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

/// What a stored model will do in this run.
struct ModelPlan {
    incremental: bool,
    /// Per raw table, the files it has not read yet (all files on a full rebuild).
    new_files: BTreeMap<String, Vec<LandedFile>>,
    /// Per stored input, the version consumed before (incremental runs).
    consumed: BTreeMap<String, u64>,
    /// Raw tables whose unread files carry changes no newer than some the model
    /// already read (a late or out-of-order delivery): `changes()` of such a table
    /// holds the whole history of the keys those files touch.
    late: BTreeSet<String>,
    /// The record committed with the result.
    state: ModelState,
}

/// Decides whether `model` runs, and how; `None` when nothing it reads changed.
async fn plan_model(
    run: &RunContext,
    model: &Model,
    current: Option<&Found>,
    upstream: &HashMap<String, Found>,
) -> Result<Option<ModelPlan>> {
    let fail = |e: Error| Error::in_model(&model.name, e);
    let last = current.and_then(|f| f.last.as_ref());
    let empty = BTreeSet::new();
    let stored_inputs = run.stored_inputs_of.get(&model.name).unwrap_or(&empty);
    let source_tables = run.sources_of.get(&model.name).unwrap_or(&empty);

    let mut reasons: Vec<String> = Vec::new();
    if run.full_refresh.contains(&model.name) {
        reasons.push("--full-refresh".to_string());
    }
    match last {
        None => reasons.push("no table yet".to_string()),
        Some(last) => {
            if last.state.fingerprint != model.fingerprint {
                reasons.push("its SQL changed".to_string());
            }
            if last.state.materialization != model.materialization.as_str() {
                reasons.push("its materialization changed".to_string());
            }
        }
    }

    // What each stored input committed since this model last read it.
    let mut batches = BTreeSet::new();
    let mut inputs_changed = false;
    let mut refs = BTreeMap::new();
    let mut consumed = BTreeMap::new();
    for input in stored_inputs {
        let Some(found) = upstream.get(input) else {
            return Err(Error::in_model(
                &model.name,
                Error::Select(format!(
                    "it reads {input}, which has never been run; select +{}",
                    model.name
                )),
            ));
        };
        let data_version = found
            .last
            .as_ref()
            .map_or_else(|| delta::version_of(&found.table), |l| l.version);
        refs.insert(input.clone(), data_version);
        let before = last.and_then(|l| l.state.refs.get(input)).copied();
        match before {
            Some(before) if before == data_version => {}
            Some(before) if before < data_version => {
                inputs_changed = true;
                for (_, state) in commits_after(&found.table, before).await.map_err(fail)? {
                    if state.refresh == "full" {
                        reasons.push(format!("{input} was rebuilt"));
                    }
                    batches.extend(state.batches);
                }
                consumed.insert(input.clone(), before);
            }
            _ => {
                inputs_changed = true;
                reasons.push(format!("{input} is not the table it read"));
                if let Some(l) = &found.last {
                    batches.extend(l.state.batches.iter().cloned());
                }
            }
        }
    }

    let mut sources = BTreeMap::new();
    let mut new_files = BTreeMap::new();
    let mut source_replays = BTreeMap::new();
    let mut late = BTreeSet::new();
    for table in source_tables {
        let files = run
            .sources
            .files
            .get(table.as_str())
            .cloned()
            .unwrap_or_default();
        let read = last.and_then(|l| l.state.sources.get(table));
        let mut unread = Vec::new();
        let mut names = BTreeSet::new();
        for file in files {
            let name = file_key(&run.lake, &file);
            if !read.is_some_and(|r| r.contains(&name)) {
                batches.insert(file.batch_date.to_string());
                unread.push(file);
            }
            names.insert(name);
        }
        if read.is_some_and(|r| !r.is_subset(&names)) {
            reasons.push(format!("files of raw.{table} it read are gone"));
        }
        let replays = run
            .sources
            .ledgers
            .get(table.as_str())
            .map_or(0, |l| l.generation());
        let replays_read = last
            .and_then(|l| l.state.replays.get(table))
            .copied()
            .unwrap_or_default();
        if last.is_some() && replays != replays_read {
            reasons.push(format!(
                "what raw.{table} loads changed (quarantined rows replayed, or a file that delivered rows first is gone)"
            ));
        }
        source_replays.insert(table.clone(), replays);
        if !unread.is_empty() {
            inputs_changed = true;
            if let (Some(read), Some(ledger)) = (read, run.sources.ledgers.get(table.as_str())) {
                let newest_read = read
                    .iter()
                    .filter_map(|k| ledger.seq_range(k))
                    .map(|r| r.1)
                    .max();
                let oldest_unread = unread
                    .iter()
                    .filter_map(|f| ledger.seq_range(&file_key(&run.lake, f)))
                    .map(|r| r.0)
                    .min();
                if let (Some(newest), Some(oldest)) = (newest_read, oldest_unread)
                    && oldest <= newest
                {
                    tracing::debug!(
                        "{}: raw.{table} delivered changes from _seq {oldest}, older than _seq {newest} it read already",
                        model.name
                    );
                    late.insert(table.clone());
                }
            }
        }
        sources.insert(table.clone(), names);
        new_files.insert(table.clone(), unread);
    }

    let full =
        !reasons.is_empty() || (inputs_changed && model.materialization == Materialization::Table);
    if !full && !inputs_changed {
        return Ok(None);
    }
    if full && !reasons.is_empty() {
        tracing::debug!("{} rebuilt in full: {}", model.name, reasons.join(", "));
    }
    if full {
        // A rebuild reads every file and every row of its inputs.
        for table in source_tables {
            let all = run
                .sources
                .files
                .get(table.as_str())
                .cloned()
                .unwrap_or_default();
            new_files.insert(table.clone(), all);
        }
    }
    let state = ModelState {
        model: model.name.clone(),
        materialization: model.materialization.as_str().to_string(),
        refresh: if full { "full" } else { "incremental" }.to_string(),
        fingerprint: model.fingerprint.clone(),
        stride_version: env!("CARGO_PKG_VERSION").to_string(),
        sources,
        refs,
        batches,
        replays: source_replays,
        run_id: run.run_id.clone(),
    };
    Ok(Some(ModelPlan {
        incremental: !full,
        new_files,
        consumed,
        late,
        state,
    }))
}

/// Registers the model's `changes()` tables, plans its SELECT and commits the result.
async fn execute(
    run: &RunContext,
    model: &Model,
    current: Option<Found>,
    upstream: &HashMap<String, Found>,
    plan: &ModelPlan,
) -> Result<(DeltaTable, Committed, Placement)> {
    let fail = |e: datafusion::error::DataFusionError| Error::in_model(&model.name, e);
    for input in &model.changes {
        register_changes(run, model, input, upstream, plan).await?;
    }
    // `{{ this }}`: the model's table as the last run left it.
    if let Some(found) = &current {
        register(run, model, &found.table).await?;
    }
    let sql = model.render(&RenderContext {
        is_incremental: plan.incremental,
    })?;
    let frame = run.ctx.sql(&sql).await.map_err(fail)?;
    let (frame, placement) = run.place(model, frame)?;
    let has_op = frame.schema().has_column_with_unqualified_name(OP_COLUMN);
    let info = plan.state.to_json()?;
    let table = match (plan.incremental, current) {
        (true, Some(found)) => found.table,
        (_, current) => {
            let (table, committed) =
                rebuild(run, model, current.map(|f| f.table), frame, has_op, info).await?;
            return Ok((table, committed, placement));
        }
    };
    // The checked rows are held until the commit has written them.
    let (frame, checked) = held_and_checked(run, model, frame, has_op).await?;
    let state = run.ctx.state();
    check_fits_table(model, frame.schema().as_arrow(), &table)?;
    let (table, committed) = match model.strategy {
        Strategy::Merge => {
            // Held, so the key check and the merge read one computation.
            let (frame, _held) = match checked {
                Some(held) => (frame, held),
                None => {
                    let held = materialize(&model.name, frame).await?;
                    let frame = run.ctx.read_table(Arc::clone(&held.table)).map_err(fail)?;
                    (frame, held)
                }
            };
            check_keys_present(model, frame.clone()).await?;
            let frame = if has_op {
                deletions_of_stored_keys(run, model, frame, &table)
                    .await
                    .map_err(fail)?
            } else {
                frame
            };
            delta::merge(table, &model.name, frame, &model.unique_key, &state, info).await
        }
        Strategy::Append => {
            let frame = without_deletions(frame, has_op).map_err(fail)?;
            delta::append(table, &model.name, frame, &state, info).await
        }
        Strategy::DeleteInsert => delete_insert(table, model, frame, has_op, &state, info).await,
    }?;
    Ok((table, committed, placement))
}

/// Replaces the whole of `model`'s table (`table`, `None` when it has none yet)
/// with `frame`'s rows. They are written by parallel writers into files that are
/// not yet the table's ([`delta::stage`]), checked against the model's contract
/// in those files, then committed in one version; nothing is held in memory. A
/// result whose columns differ from the table's goes through delta-rs's overwrite,
/// which changes the table's schema, after its contract is checked on the result
/// held ([`check_result`]).
async fn rebuild(
    run: &RunContext,
    model: &Model,
    table: Option<DeltaTable>,
    frame: DataFrame,
    has_op: bool,
    info: serde_json::Value,
) -> Result<(DeltaTable, Committed)> {
    let fail = |e: datafusion::error::DataFusionError| Error::in_model(&model.name, e);
    let state = run.ctx.state();
    let deletion_vectors = model.materialization == Materialization::Incremental
        && model.strategy == Strategy::DeleteInsert;
    let table = match table {
        Some(table) => table,
        None => delta::open_or_create_handle(&run.lake, &model.name).await?,
    };
    let rows = without_deletions(frame.clone(), has_op).map_err(fail)?;
    let types = rows.schema().as_arrow().clone();
    let started = Instant::now();
    if let Some(staged) = delta::stage(&model.name, table, rows, &state).await? {
        let written = run.ctx.read_table(staged.provider()?).map_err(fail)?;
        if let Err(e) = check_keys_present(model, written).await {
            staged.discard().await;
            return Err(e);
        }
        if let Some(contract) = run.contracts.get(&model.name) {
            let checked = run.ctx.read_table(staged.provider()?).map_err(fail)?;
            let computed = format!(
                "{} rows computed and written in {:.2}s",
                staged.rows(),
                started.elapsed().as_secs_f64()
            );
            if let Err(e) = check_rows(run, model, contract, checked, &types, &computed).await {
                staged.discard().await;
                return Err(e);
            }
        }
        let rows_added = staged.rows();
        let (table, rows_removed) = delta::commit_staged(staged, info, deletion_vectors).await?;
        let version = delta::version_of(&table);
        return Ok((
            table,
            Committed {
                version,
                rows_added,
                rows_removed,
            },
        ));
    }
    // The checked rows are held until the commit has written them.
    let (frame, _checked) = held_and_checked(run, model, frame, has_op).await?;
    let frame = without_deletions(frame, has_op).map_err(fail)?;
    check_keys_present(model, frame.clone()).await?;
    delta::overwrite(
        &run.lake,
        &model.name,
        frame,
        &state,
        info,
        deletion_vectors,
    )
    .await
}

/// `frame` computed once and checked against the model's contract, if it has one;
/// returns the rows to commit and what holds them (keep it until the commit).
async fn held_and_checked(
    run: &RunContext,
    model: &Model,
    frame: DataFrame,
    has_op: bool,
) -> Result<(DataFrame, Option<Materialized>)> {
    let Some(contract) = run.contracts.get(&model.name) else {
        return Ok((frame, None));
    };
    let held = check_result(run, model, contract, frame, has_op).await?;
    let frame = run
        .ctx
        .read_table(Arc::clone(&held.table))
        .map_err(|e| Error::in_model(&model.name, e))?;
    Ok((frame, Some(held)))
}

/// Fails, before anything is written, when an incremental result's columns differ
/// from its table's in name or type (the incremental branch of a model's SQL must
/// give what its full branch gave): each column's type must be the one the table
/// holds once Delta has stored it (see [`delta::stored_type`]); nullability may
/// differ.
fn check_fits_table(
    model: &Model,
    result: &arrow::datatypes::Schema,
    table: &DeltaTable,
) -> Result<()> {
    let fail = |problem: String| Error::in_model(&model.name, Error::Schema(problem));
    let stored = table
        .snapshot()
        .map_err(|e| Error::in_model(&model.name, e))?
        .snapshot()
        .arrow_schema();
    let columns: Vec<&arrow::datatypes::Field> = result
        .fields()
        .iter()
        .map(|f| f.as_ref())
        .filter(|f| f.name() != OP_COLUMN)
        .collect();
    for field in stored.fields() {
        let Some(found) = columns.iter().find(|f| f.name() == field.name()) else {
            return Err(fail(format!(
                "the incremental result has no column `{}`, which the table has",
                field.name()
            )));
        };
        if delta::stored_type(found.data_type()) != delta::stored_type(field.data_type()) {
            return Err(fail(format!(
                "column `{}` is {} in the incremental result but {} in the table \
                 (the incremental and full branches of {} must give the same types)",
                field.name(),
                found.data_type(),
                field.data_type(),
                model.file
            )));
        }
    }
    if let Some(extra) = columns
        .iter()
        .find(|f| stored.field_with_name(f.name()).is_err())
    {
        return Err(fail(format!(
            "the incremental result has a column `{}` the table does not have \
             (the incremental and full branches of {} must give the same columns)",
            extra.name(),
            model.file
        )));
    }
    Ok(())
}

/// Runs the model's contract on its result before the commit. The result is
/// computed once ([`materialize`]: in memory, or spilled to local disk when large),
/// checked (deletion rows left out), and handed on to the commit. An `error` rule
/// that fails stops the model here, so nothing of it is committed and the models
/// that read it are skipped.
async fn check_result(
    run: &RunContext,
    model: &Model,
    contract: &Contract,
    frame: DataFrame,
    has_op: bool,
) -> Result<Materialized> {
    let fail = |e: datafusion::error::DataFusionError| Error::in_model(&model.name, e);
    let started = Instant::now();
    let result = materialize(&model.name, frame)
        .await
        .map_err(|e| Error::in_model(&model.name, e))?;
    let computed = started.elapsed();
    let checked = without_deletions(
        run.ctx
            .read_table(Arc::clone(&result.table))
            .map_err(fail)?,
        has_op,
    )
    .map_err(fail)?;
    let types = checked.schema().as_arrow().clone();
    let held = if result.spilled() {
        " (spilled to disk)"
    } else {
        ""
    };
    let computed = format!(
        "{} rows computed in {:.2}s{held}",
        result.rows,
        computed.as_secs_f64()
    );
    check_rows(run, model, contract, checked, &types, &computed).await?;
    Ok(result)
}

/// Checks `rows`, the rows of `model` about to be committed, against its contract,
/// and the result's columns `types` against the contract's types; `computed` says
/// how the rows came to be, for the log. An `error` rule that fails is the error.
async fn check_rows(
    run: &RunContext,
    model: &Model,
    contract: &Contract,
    checked: DataFrame,
    types: &arrow::datatypes::Schema,
    computed: &str,
) -> Result<()> {
    let fail = |e: datafusion::error::DataFusionError| Error::in_model(&model.name, e);
    let started = Instant::now();
    let name = format!("__checked_{}", model.name);
    let mut outcomes = vec![contracts::check_types(contract, types)];
    run.ctx
        .register_table(name.as_str(), checked.into_view())
        .map_err(fail)?;
    outcomes.extend(contracts::check_table(&run.ctx, contract, &format!("\"{name}\"")).await);
    run.ctx.deregister_table(name.as_str()).map_err(fail)?;
    tracing::debug!(
        "{}: result of {computed}, {} contract rules checked in {:.2}s",
        model.name,
        outcomes.len(),
        started.elapsed().as_secs_f64()
    );
    for outcome in &outcomes {
        tracing::trace!(
            "{}: rule {} {} in {:.3}s",
            model.name,
            outcome.rule,
            outcome.status.as_str(),
            outcome.elapsed.as_secs_f64()
        );
    }
    for warned in outcomes
        .iter()
        .filter(|o| o.status == contracts::Status::Warn)
    {
        tracing::warn!("model {}: {}", model.name, warned.describe());
    }
    let blocking: Vec<&contracts::RuleOutcome> =
        outcomes.iter().filter(|o| o.is_blocking()).collect();
    if let Some(first) = blocking.first() {
        for other in &blocking[1..] {
            tracing::error!("model {}: {}", model.name, other.describe());
        }
        let more = match blocking.len() {
            1 => String::new(),
            n => format!(" (and {} more rules, logged above)", n - 1),
        };
        return Err(Error::in_model(
            &model.name,
            Error::ContractViolation {
                file: contract.file.clone(),
                problem: format!("{}{more}", first.describe()),
            },
        ));
    }
    Ok(())
}

/// Keeps the deletions (`_op = 'd'`) only for keys the table holds. delta-rs 1.1
/// writes an all-null change-feed row for a source row that no MERGE clause takes,
/// which breaks the table's NOT NULL checks; a deletion of an absent key is such a
/// row.
async fn deletions_of_stored_keys(
    run: &RunContext,
    model: &Model,
    frame: DataFrame,
    table: &DeltaTable,
) -> datafusion::error::Result<DataFrame> {
    let provider = delta::provider(table, &run.ctx.state())
        .await
        .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
    let keys: Vec<&str> = model.unique_key.iter().map(String::as_str).collect();
    let stored = run
        .ctx
        .read_table(provider)?
        .select_columns(&keys)?
        .alias("stored_keys")?;
    let source = frame.alias("result")?;
    let deleted = col(format!("result.{OP_COLUMN}")).eq(lit("d"));
    let on: Vec<datafusion::logical_expr::Expr> = keys
        .iter()
        .map(|k| col(format!("result.{k}")).eq(col(format!("stored_keys.{k}"))))
        .collect();
    let upserts = source.clone().filter(
        col(format!("result.{OP_COLUMN}"))
            .is_null()
            .or(Expr::Not(Box::new(deleted.clone()))),
    )?;
    let deletions =
        source
            .filter(deleted)?
            .join_on(stored, datafusion::common::JoinType::LeftSemi, on)?;
    upserts.union(deletions)
}

/// Fails when a row of `rows` (a result of `model`) has a NULL in a column of its
/// `unique_key`. An incremental model finds the rows a change replaces by key, and
/// NULL equals nothing: such a row would be inserted again by every incremental
/// run and never replaced or deleted, so a result with one is refused in every
/// run rather than left to grow.
async fn check_keys_present(model: &Model, rows: DataFrame) -> Result<()> {
    if model.materialization != Materialization::Incremental || model.unique_key.is_empty() {
        return Ok(());
    }
    let fail = |e: datafusion::error::DataFusionError| Error::in_model(&model.name, e);
    for key in &model.unique_key {
        if !rows.schema().has_column_with_unqualified_name(key) {
            continue;
        }
        let nulls = rows
            .clone()
            .filter(datafusion::prelude::ident(key.as_str()).is_null())
            .map_err(fail)?
            .limit(0, Some(1))
            .map_err(fail)?
            .count()
            .await
            .map_err(fail)?;
        if nulls > 0 {
            return Err(null_key(model, key));
        }
    }
    Ok(())
}

/// The error of a result whose `unique_key` column `key` holds a NULL.
fn null_key(model: &Model, key: &str) -> Error {
    Error::in_model(
        &model.name,
        Error::ModelFile {
            file: model.file.clone(),
            problem: format!(
                "unique_key `{key}` is NULL in a row of the result; an incremental model \
                 replaces rows by key and NULL matches no key, so that row would be added \
                 again by every run: give the key a value (coalesce) or leave such rows out"
            ),
        },
    )
}

/// The rows to store: deletions (`_op = 'd'`) dropped, `_op` itself dropped.
fn without_deletions(frame: DataFrame, has_op: bool) -> datafusion::error::Result<DataFrame> {
    if !has_op {
        return Ok(frame);
    }
    frame
        .filter(col(OP_COLUMN).is_null().or(col(OP_COLUMN).not_eq(lit("d"))))?
        .drop_columns(&[OP_COLUMN])
}

/// delete+insert: every key in the result (deletions included) is cleared, then the
/// result's other rows are inserted, in one commit.
async fn delete_insert(
    table: DeltaTable,
    model: &Model,
    frame: DataFrame,
    has_op: bool,
    state: &datafusion::execution::SessionState,
    info: serde_json::Value,
) -> Result<(DeltaTable, Committed)> {
    let fail = |e: datafusion::error::DataFusionError| Error::in_model(&model.name, e);
    let key = model
        .unique_key
        .first()
        .map(String::as_str)
        .unwrap_or_default();
    let started = Instant::now();
    let batches = frame.collect().await.map_err(fail)?;
    tracing::debug!(
        "{}: result computed in {:.2}s",
        model.name,
        started.elapsed().as_secs_f64()
    );
    let mut keys: HashSet<ScalarValue> = HashSet::new();
    let mut rows: Vec<RecordBatch> = Vec::new();
    let mut stored_schema = None;
    for batch in batches {
        let Some(column) = batch.column_by_name(key) else {
            return Err(Error::in_model(
                &model.name,
                Error::ModelFile {
                    file: model.file.clone(),
                    problem: format!("unique_key `{key}` is not a column of the result"),
                },
            ));
        };
        if column.null_count() > 0 {
            return Err(null_key(model, key));
        }
        for i in 0..batch.num_rows() {
            keys.insert(ScalarValue::try_from_array(column, i).map_err(fail)?);
        }
        if has_op {
            let Some(op) = batch.column_by_name(OP_COLUMN) else {
                continue;
            };
            let op = op.as_string_opt::<i32>().ok_or_else(|| {
                Error::in_model(
                    &model.name,
                    Error::ModelFile {
                        file: model.file.clone(),
                        problem: "`_op` must be a string column".to_string(),
                    },
                )
            })?;
            let keep: arrow::array::BooleanArray =
                op.iter().map(|v| Some(v != Some("d"))).collect();
            let kept = filter_record_batch(&batch, &keep)?;
            let index = kept.schema().index_of(OP_COLUMN)?;
            let mut kept = kept;
            kept.remove_column(index);
            stored_schema = Some(kept.schema());
            if kept.num_rows() > 0 {
                rows.push(kept);
            }
        } else if batch.num_rows() > 0 {
            rows.push(batch);
        }
    }
    let keys: Vec<ScalarValue> = keys.into_iter().filter(|k| !k.is_null()).collect();
    if rows.is_empty()
        && let Some(schema) = stored_schema
    {
        // Only deletions: delta-rs needs a (possibly empty) batch to write.
        rows.push(RecordBatch::new_empty(schema));
    }
    if keys.is_empty() {
        return delta::record_only(table, &model.name, info).await;
    }
    if delta::has_deletion_vectors(&table) {
        return delta::delete_keys_and_insert(table, &model.name, key, keys, rows, info).await;
    }
    delta::replace_keys(table, &model.name, key, keys, rows, state, info).await
}

/// Registers `changes(input)` for `model`: the raw files it has not read, or what a
/// stored input committed since the version it read (all of it on a rebuild).
async fn register_changes(
    run: &RunContext,
    model: &Model,
    input: &str,
    upstream: &HashMap<String, Found>,
    plan: &ModelPlan,
) -> Result<()> {
    let fail = |e: datafusion::error::DataFusionError| Error::in_model(&model.name, e);
    let name = TableReference::partial(CHANGES_SCHEMA, changes_table(&model.name, input));
    if let Some(table) = input.strip_prefix(&format!("{SOURCE_SCHEMA}.")) {
        let source = run
            .contracts
            .sources()
            .find(table)
            .ok_or_else(|| Error::UnknownModel(input.to_string()))?;
        let files = plan.new_files.get(table).cloned().unwrap_or_default();
        let set_aside = run
            .sources
            .ledgers
            .get(&source.name)
            .map(|l| l.set_aside())
            .unwrap_or_default();
        let provider = admitted_table(&run.ctx, &run.lake, source, &files, &set_aside)?;
        let provider = if plan.incremental && plan.late.contains(table) {
            let all = run
                .sources
                .files
                .get(&source.name)
                .cloned()
                .unwrap_or_default();
            let history = admitted_table(&run.ctx, &run.lake, source, &all, &set_aside)?;
            history_of_touched_keys(&run.ctx, source, history, provider).map_err(fail)?
        } else {
            provider
        };
        run.ctx.register_table(name, provider).map_err(fail)?;
        return Ok(());
    }
    let consumed = plan.consumed.get(input).copied();
    match (plan.incremental, consumed) {
        (true, Some(after)) => {
            let found = upstream
                .get(input)
                .ok_or_else(|| Error::UnknownModel(input.to_string()))?;
            let provider = delta::change_feed(&found.table, after)
                .map_err(|e| Error::in_model(&model.name, e))?;
            let provider = match &run.cluster {
                Some(cluster) => {
                    cluster
                        .changes_readable(input, &found.table, after, provider)
                        .await
                }
                None => provider,
            };
            run.ctx.register_table(name, provider).map_err(fail)?;
        }
        (true, None) => {
            // The input has not changed since this model read it.
            let provider = run.ctx.table_provider(input).await.map_err(fail)?;
            let schema = change_schema(&provider.schema());
            let empty = MemTable::try_new(schema, vec![vec![]]).map_err(fail)?;
            run.ctx
                .register_table(name, Arc::new(empty))
                .map_err(fail)?;
        }
        (false, _) => {
            // A whole table read as a change feed: every row an insert.
            let [change_type, version, timestamp] = delta::change_feed_fields();
            let null = |field: &arrow::datatypes::Field| {
                ScalarValue::try_from(field.data_type()).map(|v| lit(v).alias(field.name()))
            };
            let frame = run.ctx.table(input).await.map_err(fail)?;
            let mut columns: Vec<Expr> = frame
                .schema()
                .columns()
                .into_iter()
                .map(Expr::Column)
                .collect();
            columns.push(lit("insert").alias(change_type.name()));
            columns.push(null(&version).map_err(fail)?);
            columns.push(null(&timestamp).map_err(fail)?);
            let frame = frame.select(columns).map_err(fail)?;
            run.ctx
                .register_table(name, frame.into_view())
                .map_err(fail)?;
        }
    }
    Ok(())
}

/// The rows of `history` (every admitted change of a raw table) whose key is among
/// the keys of `landed` (the changes not read yet). Over these, the latest change
/// of each key is its current state whatever order the files arrived in, so a
/// late file cannot put a key back to an older state.
fn history_of_touched_keys(
    ctx: &SessionContext,
    source: &SourceTable,
    history: Arc<dyn datafusion::catalog::TableProvider>,
    landed: Arc<dyn datafusion::catalog::TableProvider>,
) -> datafusion::error::Result<Arc<dyn datafusion::catalog::TableProvider>> {
    let keys: Vec<&str> = source.key.iter().map(String::as_str).collect();
    let touched = ctx
        .read_table(landed)?
        .select_columns(&keys)?
        .distinct()?
        .alias("touched")?;
    let on: Vec<Expr> = keys
        .iter()
        .map(|k| col(format!("history.{k}")).eq(col(format!("touched.{k}"))))
        .collect();
    let rows = ctx.read_table(history)?.alias("history")?.join_on(
        touched,
        datafusion::common::JoinType::LeftSemi,
        on,
    )?;
    Ok(rows.into_view())
}

/// A model's schema with the change feed's columns added.
fn change_schema(schema: &arrow::datatypes::SchemaRef) -> arrow::datatypes::SchemaRef {
    use arrow::datatypes::{Field, Schema};
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.extend(delta::change_feed_fields());
    Arc::new(Schema::new(fields))
}

fn log_outcome(outcome: &ModelOutcome) {
    let rows = match outcome.rows {
        Some((added, removed)) => format!("+{added} -{removed}"),
        None => "-".to_string(),
    };
    let version = outcome.version.map(|v| format!("v{v}")).unwrap_or_default();
    let placement = match &outcome.placement {
        Some(Placement::Local) | None => String::new(),
        Some(placement) => format!("  [{}]", placement.describe()),
    };
    tracing::info!(
        "{:<28} {:<11} {:<11} {:>20} {:<5} {:>7.2}s{placement}",
        outcome.model,
        outcome.materialization.as_str(),
        outcome.action.as_str(),
        rows,
        version,
        outcome.elapsed.as_secs_f64()
    );
}
