//! `stride verify`: proof, on the lake's own data, that the incremental tables
//! equal a rebuild. The selected models (and the models they read) are rebuilt in
//! full from exactly the raw files their current versions consumed, into a scratch
//! warehouse under `_stride/verify/<id>/` that nothing else reads, and each is
//! compared row by row with its current version. Each raw file the rebuild read
//! is counted as models read it against what its ledger entry says it loads, and
//! each mart served in the DuckDB file is compared with the table version it
//! claims. The served tables and their history are only read.
//!
//! One verify at a time holds `_stride/verify.lock` (runs go on meanwhile: the
//! current versions are pinned when it starts). The scratch folder is removed at
//! the end, after a failure too; what a killed verify left is removed by the next
//! verify or `stride vacuum`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use deltalake::DeltaTable;
use futures::{StreamExt, TryStreamExt, stream};
use serde::{Deserialize, Serialize};

use super::key::model_key;
use super::rows::{Comparison, FLOAT_TOLERANCE, FROM_TABLE, KeyTrust, TO_TABLE, compare};
use super::served::{ServedState, ServedVerdict, served};
use crate::contracts::Contracts;
use crate::delta;
use crate::engine::{self, LastCommit};
use crate::error::{Error, Result};
use crate::lake::{Lake, LakeLock, STATE, VERIFY_LOCK_FILE};
use crate::land::{self, LandedFile};
use crate::models::Project;
use crate::quarantine::{self, Admitted, Ledger, LoadedCount, file_key};

/// The folder of the scratch warehouses, relative to the lake root.
pub const VERIFY_FOLDER: &str = "_stride/verify";

/// Where the last verification's report is kept (for `stride serve`'s pages).
const LAST_REPORT: &str = "verify.json";

/// How many objects are deleted at once when a scratch folder is removed.
const CONCURRENT_DELETES: usize = 16;

/// Whether a model's current table equals its rebuild.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Same keys, same rows, same columns.
    Equal,
    /// Something differs.
    Differs,
}

/// One model's verdict.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelVerdict {
    /// The model.
    pub model: String,
    /// The version of its table compared (the latest when the verify started).
    pub version: u64,
    /// Equal or differs.
    pub verdict: Verdict,
    /// Where the key came from (`its contract's unique rule`, …).
    pub key_source: String,
    /// The comparison, current table as `from`, rebuild as `to`.
    pub comparison: Comparison,
}

/// What a verify found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verification {
    /// Its id (also the name of its scratch folder).
    pub id: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Seconds it took, rebuild and comparison.
    pub elapsed_s: f64,
    /// Seconds of the rebuild alone.
    pub rebuild_s: f64,
    /// The `--select` it was given.
    pub select: Option<String>,
    /// Floats were equal within this (see [`FLOAT_TOLERANCE`]).
    pub float_tolerance: f64,
    /// Models rebuilt to feed the compared ones, not compared themselves.
    pub rebuilt_upstream: Vec<String>,
    /// Raw files the rebuild read.
    pub raw_files: usize,
    /// Per compared model, in dependency order.
    pub models: Vec<ModelVerdict>,
    /// Per raw table the rebuild read, the files whose rows as models read them
    /// are not the rows their ledger entry says it loads (none in a sound lake).
    #[serde(default)]
    pub sources: Vec<SourceVerdict>,
    /// Per mart served in the DuckDB file, whether its view equals the table
    /// version it claims (none when nothing is published there).
    #[serde(default)]
    pub served: Vec<ServedVerdict>,
}

/// One raw table's loaded files, read as models read them, against its ledger.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceVerdict {
    /// The raw table.
    pub table: String,
    /// Loaded files counted.
    pub files: usize,
    /// Rows models read of them.
    pub rows: u64,
    /// The files whose two counts differ.
    pub mismatched: Vec<LoadedCount>,
}

impl Verification {
    /// The models that differ.
    pub fn differing(&self) -> Vec<&ModelVerdict> {
        self.models
            .iter()
            .filter(|m| m.verdict == Verdict::Differs)
            .collect()
    }

    /// What is wrong besides the models: raw tables whose files do not load what
    /// their ledger says, served marts that differ from the version they claim.
    pub fn other_problems(&self) -> Vec<String> {
        let raw = self
            .sources
            .iter()
            .filter(|s| !s.mismatched.is_empty())
            .map(|s| format!("raw.{} ({} files)", s.table, s.mismatched.len()));
        let served = self
            .served
            .iter()
            .filter(|s| s.state == ServedState::Differs)
            .map(|s| format!("served {}", s.mart));
        raw.chain(served).collect()
    }

    /// Why the verification fails (`stride verify` exits 1 with it), or `None` when
    /// every model equals its rebuild and everything else holds what it says.
    pub fn failure(&self) -> Option<String> {
        let differing: Vec<&str> = self.differing().iter().map(|m| m.model.as_str()).collect();
        if !differing.is_empty() {
            return Some(format!(
                "verify: {} differ from a rebuild from the same input: {}",
                differing.len(),
                differing.join(", ")
            ));
        }
        let problems = self.other_problems();
        if !problems.is_empty() {
            return Some(format!(
                "verify: the models equal their rebuild, but these do not hold what they \
                 say: {}",
                problems.join(", ")
            ));
        }
        None
    }
}

/// A stored model's current table, pinned at the start.
struct Current {
    table: DeltaTable,
    last: LastCommit,
}

/// Rebuilds the stored models `select` picks (all stored models without it) and
/// compares each with its current table, with up to `examples` example rows of
/// each kind of difference per model. An error when the rebuild cannot be made or
/// would not be comparable (a model is behind its inputs: run first).
/// With `served_file`, the marts served there are compared with the table
/// versions they claim too.
pub async fn verify(
    lake: &Lake,
    project: &Project,
    contracts: &Contracts,
    select: Option<&str>,
    examples: usize,
    served_file: Option<&Path>,
) -> Result<Verification> {
    let lock = LakeLock::acquire_file(lake, VERIFY_LOCK_FILE, "stride verify").await?;
    let removed = remove_scratch(lake).await?;
    if removed > 0 {
        tracing::info!(
            "removed {removed} files a verify that stopped early left in {VERIFY_FOLDER}/"
        );
    }
    let started_at = Utc::now();
    let id = verify_id(started_at);
    let scratch = lake.with_warehouse(&format!("{VERIFY_FOLDER}/{id}/warehouse"));
    let result = verify_into(
        lake, &scratch, project, contracts, select, examples, started_at,
    )
    .await;
    // The scratch tables go whatever happened; a failure to remove them is logged
    // (the next verify or vacuum removes them) and does not hide the result.
    if let Err(e) = remove_scratch(lake).await {
        tracing::warn!(
            "scratch tables left in {VERIFY_FOLDER}/{id}/ (the next verify or vacuum removes them): {e}"
        );
    }
    lock.release().await?;
    let mut verification = result?;
    if let Some(file) = served_file {
        verification.served = served(lake, project, contracts, file, examples).await?;
    }
    verification.elapsed_s = (Utc::now() - started_at).num_milliseconds() as f64 / 1000.0;
    if let Err(e) = save_report(lake, &verification).await {
        tracing::warn!("the verify report was not kept in {STATE}/{LAST_REPORT}: {e}");
    }
    Ok(verification)
}

/// A verify's id, from its start: the name of its scratch folder.
fn verify_id(started_at: DateTime<Utc>) -> String {
    started_at.format("%Y%m%dT%H%M%S%.3fZ").to_string()
}

async fn verify_into(
    lake: &Lake,
    scratch: &Lake,
    project: &Project,
    contracts: &Contracts,
    select: Option<&str>,
    examples: usize,
    started_at: DateTime<Utc>,
) -> Result<Verification> {
    let id = verify_id(started_at);
    let models = project.models();
    let chosen: BTreeSet<String> = match select {
        Some(selection) => engine::select_models(models, selection)?,
        None => models.iter().map(|m| m.name.clone()).collect(),
    };
    let compared: Vec<String> = models
        .iter()
        .filter(|m| m.materialization.is_stored() && chosen.contains(&m.name))
        .map(|m| m.name.clone())
        .collect();
    if compared.is_empty() {
        return Err(Error::Verify(
            "the selection names no stored model (views have no table to verify)".to_string(),
        ));
    }
    let mut closure: BTreeSet<String> = compared.iter().cloned().collect();
    for name in &compared {
        closure.extend(engine::ancestors(models, name));
    }
    let stored: Vec<&crate::models::Model> = models
        .iter()
        .filter(|m| m.materialization.is_stored() && closure.contains(&m.name))
        .collect();

    let opened: Vec<(String, Current)> = stream::iter(stored.iter().copied())
        .map(|model| async move {
            let name = model.name.clone();
            let Some(table) = delta::open(lake, &name).await? else {
                return Err(Error::Verify(format!(
                    "model {name} has no table yet: run `stride run` first"
                )));
            };
            let Some(last) = engine::last_commit(&table).await? else {
                return Err(Error::Verify(format!(
                    "model {name}: its table has no commit of stride's with a record of \
                     what it consumed, so there is nothing to rebuild it from"
                )));
            };
            Ok((name, Current { table, last }))
        })
        .buffered(8)
        .try_collect()
        .await?;
    let current: BTreeMap<String, Current> = opened.into_iter().collect();

    let ledgers: BTreeMap<String, Arc<Ledger>> = stream::iter(project.sources())
        .map(|table| async move {
            let ledger = quarantine::read_ledger(lake, &table.name).await?;
            Ok::<_, Error>((table.name.clone(), Arc::new(ledger)))
        })
        .buffered(8)
        .try_collect()
        .await?;
    let consumed = consistent_input(&stored, &current, &ledgers)?;

    let mut files: BTreeMap<String, Vec<LandedFile>> = BTreeMap::new();
    for table in project.sources() {
        let Some(wanted) = consumed.get(&table.name) else {
            files.insert(table.name.clone(), Vec::new());
            continue;
        };
        let landed = land::inventory(lake, table).await?.files;
        let chosen: Vec<LandedFile> = landed
            .into_iter()
            .filter(|f| wanted.contains(&file_key(lake, f)))
            .collect();
        if chosen.len() != wanted.len() {
            let found: BTreeSet<String> = chosen.iter().map(|f| file_key(lake, f)).collect();
            let gone: Vec<&String> = wanted.difference(&found).take(3).collect();
            return Err(Error::Verify(format!(
                "raw files the current tables consumed are gone from raw/{}/ ({}), \
                 so they cannot be rebuilt",
                table.name,
                gone.iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        files.insert(table.name.clone(), chosen);
    }
    let raw_files = files.values().map(Vec::len).sum();
    let sources = loaded_as_the_ledgers_say(lake, project, &files, &ledgers).await?;
    tracing::info!(
        "verify: rebuilding {} models from {raw_files} raw files into {VERIFY_FOLDER}/{id}/",
        closure.len()
    );
    let rebuild_started = Instant::now();
    let admitted = Admitted {
        files,
        ledgers,
        checked: Vec::new(),
    };
    engine::rebuild_pinned(
        scratch,
        project,
        contracts,
        admitted,
        &closure,
        &crate::ops::report::RunLog,
    )
    .await
    .map_err(|e| {
        Error::Verify(format!(
            "the rebuild failed: {}",
            crate::error::one_line_in_model(&e)
        ))
    })?;
    let rebuild_s = rebuild_started.elapsed().as_secs_f64();

    let mut verdicts = Vec::new();
    for name in &compared {
        let Some(found) = current.get(name) else {
            continue;
        };
        let model = project.model(name)?;
        let rebuilt = delta::open(scratch, name)
            .await?
            .ok_or_else(|| Error::Verify(format!("the rebuild made no table for {name}")))?;
        let ctx = engine::new_session();
        let state = ctx.state();
        ctx.register_table(FROM_TABLE, delta::provider(&found.table, &state).await?)?;
        ctx.register_table(TO_TABLE, delta::provider(&rebuilt, &state).await?)?;
        let schema = ctx.table(FROM_TABLE).await?.schema().as_arrow().clone();
        let (key, key_source) = model_key(model, contracts, &schema);
        let comparison: Comparison = compare(&ctx, name, &key, KeyTrust::Model, examples).await?;
        let verdict = if comparison.is_equal() {
            Verdict::Equal
        } else {
            Verdict::Differs
        };
        tracing::info!(
            "verify: {name} {}",
            if verdict == Verdict::Equal {
                "equal"
            } else {
                "DIFFERS"
            }
        );
        verdicts.push(ModelVerdict {
            model: name.clone(),
            version: delta::version_of(&found.table),
            verdict,
            key_source: key_source.to_string(),
            comparison,
        });
    }
    Ok(Verification {
        id,
        started_at,
        elapsed_s: 0.0,
        rebuild_s,
        select: select.map(str::to_string),
        float_tolerance: FLOAT_TOLERANCE,
        rebuilt_upstream: closure
            .iter()
            .filter(|m| !compared.contains(m))
            .filter(|m| current.contains_key(m.as_str()))
            .cloned()
            .collect(),
        raw_files,
        models: verdicts,
        sources,
        served: Vec::new(),
    })
}

/// Per raw table, its `files` read one at a time as models read them, against
/// what `ledgers` say each loads.
async fn loaded_as_the_ledgers_say(
    lake: &Lake,
    project: &Project,
    files: &BTreeMap<String, Vec<LandedFile>>,
    ledgers: &BTreeMap<String, Arc<Ledger>>,
) -> Result<Vec<SourceVerdict>> {
    let ctx = quarantine::sources_session(lake)?;
    let mut verdicts = Vec::new();
    for table in project.sources() {
        let (Some(files), Some(ledger)) = (files.get(&table.name), ledgers.get(&table.name)) else {
            continue;
        };
        if files.is_empty() {
            continue;
        }
        let counts = quarantine::loaded_per_file(&ctx, lake, table, files, ledger).await?;
        let verdict = SourceVerdict {
            table: table.name.clone(),
            files: counts.len(),
            rows: counts.iter().map(|c| c.read).sum(),
            mismatched: counts.into_iter().filter(|c| c.read != c.ledger).collect(),
        };
        if !verdict.mismatched.is_empty() {
            tracing::warn!(
                "verify: raw.{}: {} files do not load what their ledger says",
                verdict.table,
                verdict.mismatched.len()
            );
        }
        verdicts.push(verdict);
    }
    Ok(verdicts)
}

/// Per raw table, the files the current tables consumed, once it is sure a
/// rebuild from them is comparable with every current table: each model ran with
/// its present SQL, read the latest data version of each model it reads, and
/// every model reading a raw table consumed the same files of it (and saw the
/// same quarantine replays). Otherwise the lake is mid-update and a verify would
/// report differences that the next run removes: an error saying so.
fn consistent_input(
    stored: &[&crate::models::Model],
    current: &BTreeMap<String, Current>,
    ledgers: &BTreeMap<String, Arc<Ledger>>,
) -> Result<BTreeMap<String, BTreeSet<String>>> {
    let mut problems = Vec::new();
    let mut consumed: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();
    for model in stored {
        let Some(found) = current.get(&model.name) else {
            continue;
        };
        let state = &found.last.state;
        if state.fingerprint != model.fingerprint {
            problems.push(format!(
                "{}: its SQL ({}) changed since its version {}",
                model.name, model.file, found.last.version
            ));
        }
        for (input, read) in &state.refs {
            if let Some(upstream) = current.get(input)
                && upstream.last.version != *read
            {
                problems.push(format!(
                    "{}: it read {input} at version {read}, which is now at version {}",
                    model.name, upstream.last.version
                ));
            }
        }
        for (table, files) in &state.sources {
            let replays = ledgers.get(table).map_or(0, |l| l.generation());
            if state.replays.get(table).copied().unwrap_or_default() != replays {
                problems.push(format!(
                    "{}: quarantined rows of raw.{table} were replayed since it ran",
                    model.name
                ));
            }
            match consumed.get(table) {
                None => {
                    consumed.insert(table.clone(), (model.name.clone(), files.clone()));
                }
                Some((other, theirs)) if theirs != files => problems.push(format!(
                    "{} consumed {} files of raw.{table} and {other} {}",
                    model.name,
                    files.len(),
                    theirs.len()
                )),
                Some(_) => {}
            }
        }
    }
    if !problems.is_empty() {
        return Err(Error::Verify(format!(
            "the tables are not all up to date with each other, so a rebuild would not \
             be comparable; run `stride run` first ({})",
            problems.join("; ")
        )));
    }
    Ok(consumed
        .into_iter()
        .map(|(table, (_, files))| (table, files))
        .collect())
}

/// Deletes every object under [`VERIFY_FOLDER`]; the caller holds the verify lock.
/// Returns how many there were.
async fn remove_scratch(lake: &Lake) -> Result<usize> {
    let objects = lake.list(VERIFY_FOLDER).await?;
    let count = objects.len();
    stream::iter(objects)
        .map(|meta| async move { lake.delete(&lake.relative(&meta.location)).await })
        .buffer_unordered(CONCURRENT_DELETES)
        .try_collect::<Vec<()>>()
        .await?;
    if lake.is_local()
        && let Ok(folder) = lake.folder_url(VERIFY_FOLDER).to_file_path()
        && folder.exists()
    {
        // The file system keeps empty folders; the store does not list them.
        std::fs::remove_dir_all(&folder)?;
    }
    Ok(count)
}

/// Removes what a verify that stopped early left in the lake, unless a verify is
/// going now (then its folder is in use and left alone). Returns the number of
/// files removed. `stride vacuum` calls it.
pub async fn clean_scratch(lake: &Lake) -> Result<usize> {
    let lock = match LakeLock::acquire_file(lake, VERIFY_LOCK_FILE, "stride vacuum").await {
        Ok(lock) => lock,
        Err(Error::Locked(holder)) => {
            tracing::info!("a verify is going ({holder}); its scratch tables are left alone");
            return Ok(0);
        }
        Err(e) => return Err(e),
    };
    let removed = remove_scratch(lake).await;
    lock.release().await?;
    removed
}

async fn save_report(lake: &Lake, verification: &Verification) -> Result<()> {
    lake.put(
        &format!("{STATE}/{LAST_REPORT}"),
        serde_json::to_vec_pretty(verification)?,
    )
    .await
}

/// The last verification's report, when a verify has finished on this lake.
pub async fn last_report(lake: &Lake) -> Result<Option<Verification>> {
    match lake.get(&format!("{STATE}/{LAST_REPORT}")).await? {
        Some(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
        None => Ok(None),
    }
}
