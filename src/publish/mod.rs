//! Publishing the marts (SPEC section 4) to the DuckDB file Metabase reads.
//!
//! The file holds views, not rows: each mart, and the sync table [`SYNC_TABLE`], is
//! a view over Parquet files in the publishes folder next to the file, read through
//! the link `current` ([`folder`]). A publish writes every mart at its latest Delta
//! version into a new sub-folder ([`mart_files`]), checks the files with DuckDB,
//! then replaces `current` in one rename. So a reader configured with the file's
//! path, keeping its connections (Metabase's pool, DuckDB's instance cache), sees
//! the new marts on its next query, all of them from the same publish; a failed or
//! killed publish leaves what readers see as it was. The file is rewritten only
//! when the views change ([`views`]).
//!
//! The sync table records which lake, Delta table (by id), version and commit
//! (a hash of its log entry) each mart was read from, so a run publishes again
//! whenever any of them differs from what is served, and only then.

pub(crate) mod arrow_bridge;
mod changes;
mod folder;
mod mart_files;
mod read;
mod staging;
mod sync_table;
pub(crate) mod types;
mod views;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use deltalake::DeltaTable;

pub use folder::{CURRENT, GRACE_ENV};
pub use read::query;
pub use sync_table::SYNC_TABLE;

use crate::delta;
use crate::engine::new_session;
use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::models::Project;
use crate::progress;
use folder::PublishFolder;
use staging::failure;
pub use sync_table::MartIdentity;
use sync_table::SyncRow;
use views::View;

/// The DuckDB file used when `--duckdb` (or `STRIDE_DUCKDB`) does not name one.
pub const DEFAULT_DUCKDB: &str = "./warehouse/stride.duckdb";

/// One published mart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedMart {
    /// The mart (table) name.
    pub mart: String,
    /// The Delta version it was read at.
    pub version: u64,
    /// Its rows, as read from Delta and as counted by DuckDB in the files.
    pub rows: u64,
    /// How its files were written.
    pub written: Written,
}

/// What a publish did.
#[derive(Debug, Clone)]
pub struct PublishReport {
    /// The served file.
    pub file: PathBuf,
    /// The marts, in project order.
    pub marts: Vec<PublishedMart>,
    /// The size of the new publish's files.
    pub bytes: u64,
    /// Whether the DuckDB file itself was written anew (its views changed).
    pub views_rewritten: bool,
    /// Wall time.
    pub elapsed: Duration,
}

/// A mart's table opened at the version to publish.
struct MartTable {
    name: String,
    table: DeltaTable,
    identity: MartIdentity,
    /// The key its changes are published by ([`changes`]).
    key: Option<String>,
}

/// What [`publish_if_changed`] did.
#[derive(Debug)]
pub enum Outcome {
    /// A new publish is served.
    Published(PublishReport),
    /// Every mart is served from the same lake, table, version and commit already.
    AlreadyCurrent,
    /// These marts have no table yet (a first run limited by `--select`).
    MissingMarts(Vec<String>),
}

/// Publishes every mart of `project` to the DuckDB file `target`. The caller holds
/// the lake lock, so the marts are read at one consistent set of versions.
pub async fn publish(lake: &Lake, project: &Project, target: &Path) -> Result<PublishReport> {
    let marts = open_marts(lake, project, target).await?;
    if let Some(missing) = missing(&marts).first() {
        return Err(failure(
            target,
            format!("mart {missing} has no Delta table yet (run `stride run` first)"),
        ));
    }
    let marts: Vec<MartTable> = marts.into_iter().filter_map(|(_, t)| t).collect();
    let views = views_of(&marts, target).await?;
    let folder = PublishFolder::lock(target)?;
    write_publish(&folder, &marts, &views).await
}

/// [`publish`], unless every mart is already served from the same lake, Delta
/// table and version (and the file's views are as they should be), or some mart
/// has no table yet; the marts' tables are opened once for both.
pub async fn publish_if_changed(lake: &Lake, project: &Project, target: &Path) -> Result<Outcome> {
    let marts = open_marts(lake, project, target).await?;
    let missing = missing(&marts);
    if !missing.is_empty() {
        return Ok(Outcome::MissingMarts(missing));
    }
    let marts: Vec<MartTable> = marts.into_iter().filter_map(|(_, t)| t).collect();
    let folder = PublishFolder::lock(target)?;
    let wanted: BTreeMap<String, MartIdentity> = marts
        .iter()
        .map(|m| (m.name.clone(), m.identity.clone()))
        .collect();
    let views = views_of(&marts, target).await?;
    let served = folder
        .current()
        .and_then(|c| sync_table::read_identities(&c));
    if served.as_ref() == Some(&wanted)
        && views::served_match(folder.file(), &views, |t| folder.served_glob(t))
    {
        return Ok(Outcome::AlreadyCurrent);
    }
    write_publish(&folder, &marts, &views)
        .await
        .map(Outcome::Published)
}

/// Writes `marts` into a new publish, checks it against `views`, serves it, then
/// rewrites the file's views if they changed and removes publishes no reader needs.
async fn write_publish(
    folder: &PublishFolder,
    marts: &[MartTable],
    views: &[View],
) -> Result<PublishReport> {
    let started = Instant::now();
    let target = folder.file();
    let grace = folder::grace()?;
    folder.remove_old(grace);
    let publish = folder.create_publish()?;
    let filled = fill(folder, marts, views, &publish).await;
    let (rows, how) = match filled {
        Ok(filled) => filled,
        Err(e) => {
            // Never served, so no reader can have it open.
            if let Err(removal) = std::fs::remove_dir_all(&publish) {
                tracing::debug!("remove {}: {removal}", publish.display());
            }
            return Err(e);
        }
    };
    folder.switch_to(&publish)?;
    abort_if_asked(CURRENT);
    let views_rewritten = !views::served_match(target, views, |t| folder.served_glob(t));
    if views_rewritten {
        views::write(target, views, |t| folder.served_glob(t))?;
    }
    folder.remove_old(grace);
    Ok(PublishReport {
        file: target.to_path_buf(),
        marts: rows
            .into_iter()
            .zip(how)
            .map(|(row, written)| PublishedMart {
                mart: row.mart,
                version: row.identity.version,
                rows: row.rows,
                written,
            })
            .collect(),
        bytes: folder::size_of(&publish),
        views_rewritten,
        elapsed: started.elapsed(),
    })
}

/// Writes every mart and the sync table into the folder `publish`, flushes it, and
/// has DuckDB read it back; returns the sync table's rows and how each mart was
/// written.
/// A mart served at the same version is served from the same files; a keyed mart
/// changed only by incremental commits gets its changes ([`changes`]); any other
/// is written whole.
async fn fill(
    folder: &PublishFolder,
    marts: &[MartTable],
    views: &[View],
    publish: &Path,
) -> Result<(Vec<SyncRow>, Vec<Written>)> {
    let target = folder.file();
    let publish_id = publish
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let served = folder.current();
    let served_marts = served
        .as_deref()
        .and_then(sync_table::read_identities)
        .unwrap_or_default();

    let ctx = new_session();
    let bar = progress::bar(marts.len() as u64, "publish");
    let mut sync_rows = Vec::new();
    let mut how = Vec::new();
    for (mart, view) in marts.iter().zip(views) {
        bar.set_message(mart.name.clone());
        let in_mart = |e: Error| Error::in_model(&mart.name, e);
        let before = served.as_deref().zip(served_marts.get(&mart.name));
        let (rows, written) = publish_mart(&ctx, mart, view, before, publish, &publish_id)
            .await
            .map_err(in_mart)?;
        abort_if_asked(&mart.name);
        sync_rows.push(SyncRow {
            mart: mart.name.clone(),
            identity: mart.identity.clone(),
            committed_at: mart
                .table
                .snapshot()
                .ok()
                .and_then(|s| s.version_timestamp(mart.identity.version))
                .map(|ms| ms * 1000),
            rows,
        });
        how.push(written);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let sync = ctx.read_batch(sync_table::batch(&sync_rows, &publish_id)?)?;
    mart_files::write(
        sync,
        &publish.join(SYNC_TABLE),
        &format!("{SYNC_TABLE}-{publish_id}"),
    )
    .await?;
    abort_if_asked(SYNC_TABLE);
    folder::sync_tree(publish)
        .map_err(|e| failure(target, format!("flush {}: {e}", publish.display())))?;

    // DuckDB itself reads the new files before any reader is sent to them.
    let counted = views::check_publish(target, views, publish)?;
    for ((row, view), in_duckdb) in sync_rows.iter().zip(views).zip(&counted) {
        if row.rows != *in_duckdb {
            return Err(failure(
                target,
                format!(
                    "mart {} has {} rows in Delta but {in_duckdb} in its new files",
                    view.name, row.rows
                ),
            ));
        }
    }
    Ok((sync_rows, how))
}

/// How a publish served one mart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Every row written into a new file.
    Whole,
    /// The served files again: the mart is at the version they hold.
    Reused,
    /// The rows added and the keys removed since its base, written anew; the base
    /// served again.
    Changes {
        /// Rows in the added rows' file.
        added: u64,
        /// Keys in the removed keys' file.
        removed: u64,
    },
}

/// Serves `mart` (read by `view`) in the publish folder `publish`, given the
/// served publish and what it holds of the mart (`before`); returns the mart's
/// rows and how it was written.
async fn publish_mart(
    ctx: &datafusion::prelude::SessionContext,
    mart: &MartTable,
    view: &View,
    before: Option<(&Path, &MartIdentity)>,
    publish: &Path,
    publish_id: &str,
) -> Result<(u64, Written)> {
    let same_table = before.filter(|(_, identity)| {
        identity.lake == mart.identity.lake && identity.table_id == mart.identity.table_id
    });
    if let Some((served, identity)) = same_table {
        // The served version must be one of this table's own versions, commit for
        // commit (a restored lake has other commits under the same numbers).
        let base_is_ours = !identity.commit.is_empty()
            && delta::commit_fingerprint(&mart.table, identity.version)
                .await
                .is_some_and(|c| c == identity.commit);
        // A mart served with changes is not whole in its own folder.
        let all_served = view
            .folders()
            .iter()
            .all(|folder| mart_files::only_file(&served.join(folder)).is_some())
            && (view.key.is_some() || !served.join(views::removed_folder(&mart.name)).exists());
        if identity.same_data(&mart.identity) && all_served {
            let mut rows = 0;
            for folder in view.folders() {
                let reused = mart_files::reuse(&served.join(&folder), &publish.join(&folder))?;
                if folder == mart.name {
                    rows = reused;
                }
            }
            if view.key.is_some() {
                rows = delta::row_count(&mart.table);
            }
            return Ok((rows, Written::Reused));
        }
        if let (Some(key), Some(changes)) =
            (&view.key, changes::ServedChanges::find(served, &mart.name))
            && identity.version < mart.identity.version
            && base_is_ours
            && changes::only_incremental_commits(&mart.table, identity.version).await?
        {
            let provider = delta::provider(&mart.table, &ctx.state()).await?;
            let keyed = changes::KeyedMart {
                name: &mart.name,
                table: &mart.table,
                schema: provider.schema(),
                key,
            };
            let written =
                changes::write(ctx, &keyed, identity.version, &changes, publish, publish_id).await;
            match written {
                Ok(Some(written)) => {
                    return Ok((
                        delta::row_count(&mart.table),
                        Written::Changes {
                            added: written.added,
                            removed: written.removed,
                        },
                    ));
                }
                Ok(None) => {}
                // The feed may be gone (vacuumed): the mart is written whole.
                Err(e) => {
                    tracing::info!("{}: changes not readable ({e}), published whole", mart.name);
                    for folder in view.folders() {
                        folder::remove_folder_if_present(&publish.join(folder))?;
                    }
                }
            }
        }
    }
    let provider = delta::provider(&mart.table, &ctx.state()).await?;
    let schema = provider.schema();
    let rows = ctx.read_table(provider)?;
    let (_, written) = mart_files::write(
        rows,
        &publish.join(&mart.name),
        &format!("{}-{publish_id}", mart.name),
    )
    .await?;
    if view.key.is_some() {
        // Nothing added or removed yet: files of no rows, so the view binds.
        let empty = arrow::record_batch::RecordBatch::new_empty(schema.clone());
        let key = view.key.as_deref().unwrap_or_default();
        let keys = empty.project(&[schema.index_of(key)?])?;
        for (folder, batch) in [
            (views::added_folder(&mart.name), empty),
            (views::removed_folder(&mart.name), keys),
        ] {
            mart_files::write(
                ctx.read_batch(batch)?,
                &publish.join(&folder),
                &format!("{folder}-{publish_id}"),
            )
            .await?;
        }
    }
    Ok((written, Written::Whole))
}

/// The views the file should hold: one per mart with its columns' DuckDB types,
/// then the sync table's.
async fn views_of(marts: &[MartTable], target: &Path) -> Result<Vec<View>> {
    let ctx = new_session();
    let state = ctx.state();
    let mut views = Vec::new();
    for mart in marts {
        let provider = delta::provider(&mart.table, &state)
            .await
            .map_err(|e| Error::in_model(&mart.name, e))?;
        views.push(view_of(
            &mart.name,
            &provider.schema(),
            mart.key.clone(),
            target,
        )?);
    }
    let sync = sync_table::batch(&[], "")?;
    views.push(view_of(SYNC_TABLE, &sync.schema(), None, target)?);
    Ok(views)
}

fn view_of(
    name: &str,
    schema: &arrow::datatypes::Schema,
    key: Option<String>,
    target: &Path,
) -> Result<View> {
    let columns = schema
        .fields()
        .iter()
        .map(|field| {
            types::duckdb_type(field)
                .map(|ty| (field.name().clone(), ty))
                .ok_or_else(|| {
                    failure(
                        target,
                        format!(
                            "mart {name} column {} has type {}, which stride does not publish",
                            field.name(),
                            field.data_type()
                        ),
                    )
                })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(View {
        name: name.to_string(),
        columns,
        key,
    })
}

/// Every model under `queries/marts/` with its table at the latest version, `None`
/// when it has no table yet.
async fn open_marts(
    lake: &Lake,
    project: &Project,
    target: &Path,
) -> Result<Vec<(String, Option<MartTable>)>> {
    let mut marts = Vec::new();
    for model in project.models().iter().filter(|m| m.publish) {
        if !model.materialization.is_stored() {
            return Err(failure(
                target,
                format!(
                    "mart {} is a view; marts are published from their Delta tables",
                    model.name
                ),
            ));
        }
        let table = match delta::open(lake, &model.name).await? {
            Some(table) => {
                let table_id = table
                    .snapshot()
                    .map(|s| s.metadata().id().to_string())
                    .map_err(|e| Error::in_model(&model.name, e))?;
                let version = delta::version_of(&table);
                Some(MartTable {
                    name: model.name.clone(),
                    key: changes::key_of(model),
                    identity: MartIdentity {
                        lake: lake.identity(),
                        table_id,
                        version,
                        commit: delta::commit_fingerprint(&table, version)
                            .await
                            .unwrap_or_default(),
                    },
                    table,
                })
            }
            None => None,
        };
        marts.push((model.name.clone(), table));
    }
    if marts.is_empty() {
        return Err(failure(
            target,
            "the project has no model with config(publish=true)".to_string(),
        ));
    }
    Ok(marts)
}

/// A served DuckDB file held still while it is read: the publishes folder's lock
/// is held, so no publish switches its marts meanwhile (one waits until this is
/// dropped). `stride verify` compares what readers see with the tables.
pub struct HeldServe {
    folder: PublishFolder,
    served: BTreeMap<String, MartIdentity>,
}

impl HeldServe {
    /// Holds the file `target` still; `None` when nothing is published to it.
    pub fn hold(target: &Path) -> Result<Option<HeldServe>> {
        if !target.is_file() {
            return Ok(None);
        }
        let folder = PublishFolder::lock(target)?;
        let Some(served) = folder
            .current()
            .and_then(|c| sync_table::read_identities(&c))
        else {
            return Ok(None);
        };
        Ok(Some(HeldServe { folder, served }))
    }

    /// The served file (absolute).
    pub fn file(&self) -> &Path {
        self.folder.file()
    }

    /// What the served publish says it holds, mart by mart (its sync table).
    pub fn identities(&self) -> &BTreeMap<String, MartIdentity> {
        &self.served
    }

    /// The rows a reader of the file gets from `mart`'s view.
    pub fn rows(&self, mart: &str) -> Result<Vec<arrow::record_batch::RecordBatch>> {
        read::query(
            self.folder.file(),
            &format!("SELECT * FROM {}", types::quote(mart)),
        )
    }
}

/// The marts without a table.
fn missing(marts: &[(String, Option<MartTable>)]) -> Vec<String> {
    marts
        .iter()
        .filter(|(_, table)| table.is_none())
        .map(|(name, _)| name.clone())
        .collect()
}

/// Kills the process when `step` is the one the publish test hook names.
fn abort_if_asked(step: &str) {
    crate::test_hooks::abort_at(crate::test_hooks::ABORT_PUBLISH_AFTER, step);
}
