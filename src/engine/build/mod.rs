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
//!
//! Here: the run's types, its context and its two entry points ([`run_with_lock`],
//! [`rebuild_pinned`]). The steps of each model, in order: [`graph`] starts it when
//! its inputs are ready, [`plan`] decides what it does, [`changes`] registers what
//! its inputs changed, [`commit`] computes, checks and commits its result.

mod changes;
mod commit;
mod graph;
mod plan;

use graph::execute_graph;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::common::{ScalarValue, TableReference};
use datafusion::datasource::MemTable;
use datafusion::logical_expr::{Expr, col, lit};
use datafusion::prelude::{DataFrame, SessionContext};
use deltalake::DeltaTable;
use futures::{StreamExt, TryStreamExt, stream};
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;

use super::materialize::{Materialized, materialize};
use super::select::{descendants, select};
use super::session::{new_session, register_pinned_sources};
use super::state::{LastCommit, ModelState, commits_after, last_commit};
use crate::cluster::{Cluster, DeltaScan, Placement};
use crate::contracts::{self, Contract, Contracts};
use crate::delta::{self, Committed, OP_COLUMN};
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

/// What a run is asked to do (kept in its record).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRequest {
    /// dbt-style selection; none runs every model.
    pub select: Option<String>,
    /// Rebuild the selection from all landed batches.
    pub full_refresh: bool,
}

impl RunRequest {
    /// One request that does what both do (requests that wait together run once).
    pub fn merge(&self, other: &RunRequest) -> RunRequest {
        let select = match (&self.select, &other.select) {
            (Some(a), Some(b)) if a == b => Some(a.clone()),
            (Some(a), Some(b)) => Some(format!("{a} {b}")),
            _ => None,
        };
        RunRequest {
            select,
            full_refresh: self.full_refresh || other.full_refresh,
        }
    }
}

/// How the engine makes a run: what it was asked, the id its commits carry, and
/// where its queries run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The selection and whether it is rebuilt in full.
    pub request: RunRequest,
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

impl<T: RunEvents + ?Sized> RunEvents for &T {
    fn planned(&self, models: &[String]) {
        (**self).planned(models)
    }
    fn checked(&self, checked: &[TableCheck]) {
        (**self).checked(checked)
    }
    fn model_started(&self, model: &str) {
        (**self).model_started(model)
    }
    fn model_finished(&self, outcome: &ModelOutcome) {
        (**self).model_finished(outcome)
    }
    fn model_failed(&self, model: &str, error: &str) {
        (**self).model_failed(model, error)
    }
    fn model_blocked(&self, model: &str, failed: &str) {
        (**self).model_blocked(model, failed)
    }
}

/// Both observers hear every event, the first one first (the run's log, then its
/// record).
impl<A: RunEvents, B: RunEvents> RunEvents for (A, B) {
    fn planned(&self, models: &[String]) {
        self.0.planned(models);
        self.1.planned(models);
    }
    fn checked(&self, checked: &[TableCheck]) {
        self.0.checked(checked);
        self.1.checked(checked);
    }
    fn model_started(&self, model: &str) {
        self.0.model_started(model);
        self.1.model_started(model);
    }
    fn model_finished(&self, outcome: &ModelOutcome) {
        self.0.model_finished(outcome);
        self.1.model_finished(outcome);
    }
    fn model_failed(&self, model: &str, error: &str) {
        self.0.model_failed(model, error);
        self.1.model_failed(model, error);
    }
    fn model_blocked(&self, model: &str, failed: &str) {
        self.0.model_blocked(model, failed);
        self.1.model_blocked(model, failed);
    }
}

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
    /// What each model reads, looking through views.
    inputs: Inputs,
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
    let to_run: BTreeSet<String> = match &options.request.select {
        Some(selection) => {
            let mut chosen = select(models, selection)?;
            if options.request.full_refresh {
                for name in chosen.clone() {
                    chosen.extend(descendants(models, &name));
                }
            }
            chosen
        }
        None => models.iter().map(|m| m.name.clone()).collect(),
    };
    let full_refresh = if options.request.full_refresh {
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

    // Every landed file is checked once against its contract before any model
    // reads it; models read only what the check loaded.
    let mut admitted = quarantine::admit(lake, contracts, &landed).await?;
    let checked = std::mem::take(&mut admitted.checked);
    events.checked(&checked);
    let new_raw_files = checked.iter().map(|c| c.files).sum();

    let run = Arc::new(RunContext::new(
        lake,
        project,
        contracts,
        admitted,
        full_refresh,
        options,
    )?);
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
/// to `lake`'s warehouse as a run would; `events` hears how each model went.
pub async fn rebuild_pinned(
    lake: &Lake,
    project: &Project,
    contracts: &Contracts,
    admitted: Admitted,
    to_run: &BTreeSet<String>,
    events: &dyn RunEvents,
) -> Result<Vec<ModelOutcome>> {
    let run = Arc::new(RunContext::new(
        lake,
        project,
        contracts,
        admitted,
        to_run.clone(),
        &RunOptions::default(),
    )?);
    execute_graph(&run, project.models(), to_run, HashMap::new(), events).await
}

impl RunContext {
    /// The context of a run on `lake` whose raw tables load `admitted`: a new
    /// session that sees them pinned, and what each model reads. Both entry points
    /// make theirs here.
    fn new(
        lake: &Lake,
        project: &Project,
        contracts: &Contracts,
        admitted: Admitted,
        full_refresh: BTreeSet<String>,
        options: &RunOptions,
    ) -> Result<Self> {
        let ctx = new_session();
        register_pinned_sources(
            &ctx,
            lake,
            project.sources(),
            &admitted.files,
            &admitted.ledgers,
        )?;
        Ok(RunContext {
            ctx,
            lake: lake.clone(),
            sources: admitted,
            contracts: contracts.clone(),
            full_refresh,
            inputs: Inputs::of(project.models()),
            run_id: options.run_id.clone(),
            cluster: options.cluster.clone(),
        })
    }

    /// How the run's queries read `table` (model `model`): on a local lake,
    /// stride's scan of the version, which evaluates filters while decoding so an
    /// incremental model's lookup of a few keys reads the pages holding them
    /// (delta-rs's own scan takes no filter on a table with deletion vectors), or
    /// delta-rs's when stride's cannot read the table. On object storage,
    /// delta-rs's: filtering while decoding fetches a file's filter columns, then
    /// the other columns' pages, one round trip after the other, and on a network
    /// that costs more than the bytes it saves (measured in docs/performance.md).
    /// On a cluster, stride's scan that executors can run (or delta-rs's, with the
    /// reason logged, when they cannot).
    async fn provider(
        &self,
        model: &str,
        table: &DeltaTable,
    ) -> Result<Arc<dyn datafusion::catalog::TableProvider>> {
        let provider = delta::provider(table, &self.ctx.state())
            .await
            .map_err(|e| Error::in_model(model, e))?;
        Ok(match &self.cluster {
            None if !self.lake.is_local() => provider,
            None => match DeltaScan::try_new(model, table, provider.schema()) {
                Ok(scan) => Arc::new(scan.with_row_filters()),
                Err(e) => {
                    tracing::debug!("{model}: read through delta-rs's scan ({e})");
                    provider
                }
            },
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
#[derive(Debug, Default)]
struct Inputs {
    /// Per model, the raw tables it reads directly or through views.
    sources_of: HashMap<String, BTreeSet<String>>,
    /// Per model, the stored models it reads directly or through views.
    stored_of: HashMap<String, BTreeSet<String>>,
}

impl Inputs {
    /// What each of `models` (in dependency order) reads.
    fn of(models: &[Model]) -> Self {
        let mut inputs = Inputs::default();
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
                        raw.extend(inputs.sources_of.get(parent).cloned().unwrap_or_default());
                        stored.extend(inputs.stored_of.get(parent).cloned().unwrap_or_default());
                    }
                    None => {}
                }
            }
            inputs.sources_of.insert(model.name.clone(), raw);
            inputs.stored_of.insert(model.name.clone(), stored);
        }
        inputs
    }
}
