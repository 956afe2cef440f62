//! `stride optimize` and `stride vacuum` over every stored model (or a selection),
//! holding the lake lock so they never race a run.

use super::select::select;
use crate::delta;
use crate::error::Result;
use crate::lake::Lake;
use crate::lake::LakeLock;
use crate::models::Project;

/// What maintenance did to one model.
#[derive(Debug, Clone)]
pub struct Maintained {
    /// The model.
    pub model: String,
    /// Files removed from the table (optimize) or deleted from storage (vacuum).
    pub files_removed: u64,
    /// Files added (optimize).
    pub files_added: u64,
}

/// The stored models `selection` picks (all without one) that have a table.
async fn tables(
    lake: &Lake,
    project: &Project,
    selection: Option<&str>,
) -> Result<Vec<(String, deltalake::DeltaTable)>> {
    let chosen = match selection {
        Some(s) => Some(select(project.models(), s)?),
        None => None,
    };
    let mut found = Vec::new();
    for model in project.models() {
        if !model.materialization.is_stored()
            || chosen.as_ref().is_some_and(|c| !c.contains(&model.name))
        {
            continue;
        }
        if let Some(table) = delta::open(lake, &model.name).await? {
            found.push((model.name.clone(), table));
        }
    }
    Ok(found)
}

/// Compacts the small files of each model's table, under the lake's lock `_lock`.
pub async fn optimize(
    lake: &Lake,
    project: &Project,
    selection: Option<&str>,
    _lock: &LakeLock,
) -> Result<Vec<Maintained>> {
    let mut done = Vec::new();
    for (model, table) in tables(lake, project, selection).await? {
        let (_, removed, added) = delta::optimize(table, &model).await?;
        done.push(Maintained {
            model,
            files_removed: removed,
            files_added: added,
        });
    }
    Ok(done)
}

/// Deletes the files no version from the last `retain_hours` hours reads, under
/// the lake's lock `_lock`.
pub async fn vacuum(
    lake: &Lake,
    project: &Project,
    selection: Option<&str>,
    retain_hours: u64,
    _lock: &LakeLock,
) -> Result<Vec<Maintained>> {
    let mut done = Vec::new();
    for (model, table) in tables(lake, project, selection).await? {
        let deleted = delta::vacuum(table, &model, retain_hours).await?;
        done.push(Maintained {
            model,
            files_removed: deleted as u64,
            files_added: 0,
        });
    }
    // What a verify that stopped early left (unless one is going now).
    let scratch = crate::compare::clean_scratch(lake).await?;
    if scratch > 0 {
        tracing::info!("removed {scratch} scratch files a stopped `stride verify` left");
    }
    Ok(done)
}
