//! `stride diff`: what changed in a model's table between two versions (rows
//! added, removed and changed, per column how many and by how much), or in every
//! mart one run committed.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use datafusion::datasource::MemTable;
use serde::Serialize;

use super::key::model_key;
use super::rows::{Comparison, FROM_TABLE, KeyTrust, TO_TABLE, compare};
use crate::contracts::Contracts;
use crate::delta::{self, AsOf};
use crate::engine;
use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::models::Project;
use crate::run_history;

/// A version of a table, as given on the command line: a number or a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    /// A Delta version number.
    Version(u64),
    /// The latest version committed at or before this time.
    Time(DateTime<Utc>),
}

impl Point {
    /// `3` or `2026-11-27T10:00:00Z` (any form `--as-of` takes).
    pub fn parse(text: &str) -> Result<Point> {
        match text.trim().parse::<u64>() {
            Ok(version) => Ok(Point::Version(version)),
            Err(_) => Ok(Point::Time(engine::parse_time(text.trim())?)),
        }
    }

    fn as_of(self) -> AsOf {
        match self {
            Point::Version(v) => AsOf::Version(v),
            Point::Time(t) => AsOf::Time(t),
        }
    }
}

/// Which versions of a model [`diff`] compares, on which key, with how many
/// example rows per kind of change.
#[derive(Debug, Clone, Default)]
pub struct DiffRequest {
    /// The older version (default: the one before the newer one's data commit).
    pub from: Option<Point>,
    /// The newer version (default: the latest).
    pub to: Option<Point>,
    /// The columns rows are matched on (default: the model's key).
    pub key: Option<Vec<String>>,
    /// Example rows per kind of change.
    pub examples: usize,
}

/// What changed in one model between two versions.
#[derive(Debug, Clone, Serialize)]
pub struct Diff {
    /// The model.
    pub model: String,
    /// The older version (`None`: before the table existed, so every row is added).
    pub from_version: Option<u64>,
    /// The newer version.
    pub to_version: u64,
    /// Where the key came from (`--key`, `its contract's unique rule`, …).
    pub key_source: String,
    /// The comparison.
    pub comparison: Comparison,
}

/// Compares `model`'s table at `from` with it at `to`, on `key` (the model's key
/// without one; see [`model_key`]). `to` defaults to the latest version, `from`
/// to the version before `to`'s data commit (so a compaction in between does not
/// hide the last change).
pub async fn diff(
    lake: &Lake,
    project: &Project,
    contracts: &Contracts,
    model: &str,
    request: DiffRequest,
) -> Result<Diff> {
    let DiffRequest {
        from,
        to,
        key,
        examples,
    } = request;
    let found = project.model(model)?;
    if !found.materialization.is_stored() {
        return Err(Error::Diff(format!(
            "{model} is a view: it has no versions to compare"
        )));
    }
    let Some(latest) = delta::open(lake, model).await? else {
        return Err(Error::Diff(format!(
            "model {model} has no table yet: run `stride run` first"
        )));
    };
    let to_table = match to {
        None => latest,
        Some(point) => open_at(lake, model, point).await?,
    };
    let to_version = delta::version_of(&to_table);
    let from_table = match from {
        Some(point) => Some(open_at(lake, model, point).await?),
        None => {
            let data = delta::stride_commit_before(&to_table, to_version, 0)
                .await?
                .map_or(to_version, |(v, _)| v);
            match data.checked_sub(1) {
                Some(previous) => delta::open_as_of(lake, model, AsOf::Version(previous)).await?,
                None => None,
            }
        }
    };
    let from_version = from_table.as_ref().map(delta::version_of);
    let ctx = engine::new_session();
    let state = ctx.state();
    let to_provider = delta::provider(&to_table, &state).await?;
    let schema = to_provider.schema();
    ctx.register_table(TO_TABLE, to_provider)?;
    match &from_table {
        Some(table) => {
            ctx.register_table(FROM_TABLE, delta::provider(table, &state).await?)?;
        }
        None => {
            let empty = MemTable::try_new(Arc::clone(&schema), vec![vec![]])?;
            ctx.register_table(FROM_TABLE, Arc::new(empty))?;
        }
    }
    let (key, key_source, trust) = match key {
        Some(columns) => (columns, "--key".to_string(), KeyTrust::Given),
        None => {
            let (columns, source) = model_key(found, contracts, &schema);
            (columns, source.to_string(), KeyTrust::Model)
        }
    };
    let comparison = compare(&ctx, model, &key, trust, examples).await?;
    Ok(Diff {
        model: model.to_string(),
        from_version,
        to_version,
        key_source,
        comparison,
    })
}

/// `model`'s table at `point`, or an error naming the model and what exists.
async fn open_at(lake: &Lake, model: &str, point: Point) -> Result<deltalake::DeltaTable> {
    if let Some(table) = delta::open_as_of(lake, model, point.as_of()).await? {
        return Ok(table);
    }
    Err(Error::TimeTravel(
        delta::no_version_explained(lake, model, point.as_of()).await,
    ))
}

/// What one run changed in one mart.
#[derive(Debug, Clone, Serialize)]
pub struct MartChange {
    /// The run's action on it (`full`, `incremental`).
    pub action: String,
    /// The change.
    pub diff: Diff,
}

/// What one run changed in the marts.
#[derive(Debug, Clone, Serialize)]
pub struct RunDiff {
    /// The run.
    pub run_id: String,
    /// Per mart (published model) the run committed, in the record's order.
    pub marts: Vec<MartChange>,
    /// Marts the run looked at and left as they were.
    pub unchanged: Vec<String>,
}

/// What the run `run_id` changed in each mart it committed: each committed
/// version against the one before it.
pub async fn diff_run(
    lake: &Lake,
    project: &Project,
    contracts: &Contracts,
    run_id: &str,
    examples: usize,
) -> Result<RunDiff> {
    let record = run_history::load(lake, run_id).await?.ok_or_else(|| {
        Error::Diff(format!(
            "no run {run_id} in this lake's history (`stride runs` lists them)"
        ))
    })?;
    let mut marts = Vec::new();
    let mut unchanged = Vec::new();
    for model in &record.models {
        let Ok(found) = project.model(&model.model) else {
            continue;
        };
        if !found.publish {
            continue;
        }
        let Some(version) = model.version else {
            unchanged.push(model.model.clone());
            continue;
        };
        // The run's commit is a data commit, so the default `from` is the version
        // before it (no table before version 0: every row added).
        let diff = diff(
            lake,
            project,
            contracts,
            &model.model,
            DiffRequest {
                to: Some(Point::Version(version)),
                examples,
                ..DiffRequest::default()
            },
        )
        .await?;
        marts.push(MartChange {
            action: model.action.clone(),
            diff,
        });
    }
    Ok(RunDiff {
        run_id: record.run_id,
        marts,
        unchanged,
    })
}
