//! Publishing a keyed mart by what changed, so a publish after an incremental run
//! costs what the run changed, not the mart's size.
//!
//! A mart kept by one key (an incremental model with a one-column `unique_key`,
//! `merge` or `delete+insert`) is served as three files: its base (every row at some
//! version), the keys whose rows changed since that version (`<mart>@removed`), and
//! those keys' rows now (`<mart>@added`); its view reads the base less the removed
//! keys, plus the added rows. Both strategies replace every row of a key they touch,
//! so a key's rows now are the rows the last commit touching it inserted, which the
//! table's change data feed holds. A publish after incremental commits therefore
//! reads the feed of those commits and the served added rows, writes the two small
//! files anew and serves the base file as it is.
//!
//! The mart is published whole again (a new base, nothing added or removed) when
//! anything else happened: a rebuild, a commit stride did not make incrementally or
//! that changed the table's schema, a NULL key, or changes grown past a fifth of the
//! base, which keeps what a reader's queries pay for the changes small.

use std::path::{Path, PathBuf};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::JoinType;
use datafusion::functions_aggregate::expr_fn::max;
use datafusion::logical_expr::{Expr, cast, ident, lit};
use datafusion::prelude::{DataFrame, ParquetReadOptions, SessionContext};
use deltalake::DeltaTable;

use super::mart_files;
use super::views::{added_folder, removed_folder};
use crate::delta;
use crate::error::{Error, Result};
use crate::models::{Materialization, Model, Strategy};

/// Changes are published while the added rows and removed keys together stay under
/// this share of the base's rows.
const MAX_CHANGES_SHARE: u64 = 5;

/// The key a mart's changes are published by, `None` when it is published whole.
pub fn key_of(model: &Model) -> Option<String> {
    let keyed = model.materialization == Materialization::Incremental
        && matches!(model.strategy, Strategy::Merge | Strategy::DeleteInsert);
    match model.unique_key.as_slice() {
        [key] if keyed => Some(key.clone()),
        _ => None,
    }
}

/// The files a served publish holds for a mart published with its changes.
#[derive(Debug, Clone)]
pub struct ServedChanges {
    /// The served publish's folder.
    publish: PathBuf,
    /// The added rows' file.
    added: PathBuf,
    /// The removed keys' file.
    removed: PathBuf,
}

impl ServedChanges {
    /// The served files of `mart` in the publish folder `served`, `None` unless
    /// each of its three folders holds exactly one file.
    pub fn find(served: &Path, mart: &str) -> Option<ServedChanges> {
        mart_files::only_file(&served.join(mart))?;
        Some(ServedChanges {
            publish: served.to_path_buf(),
            added: mart_files::only_file(&served.join(added_folder(mart)))?,
            removed: mart_files::only_file(&served.join(removed_folder(mart)))?,
        })
    }
}

/// Whether every commit of `table` after version `after`, up to its loaded
/// version, is one of stride's incremental commits or changed no data (compaction,
/// clean-up, a commit of stride's record alone): then the change data feed holds
/// all that changed. A missing commit, a rebuild or a schema change is `false`.
pub async fn only_incremental_commits(table: &DeltaTable, after: u64) -> Result<bool> {
    let store = table.log_store();
    for version in after + 1..=delta::version_of(table) {
        let Some(commit) = store.read_commit_entry(version).await? else {
            return Ok(false);
        };
        let mut incremental = false;
        let mut data_change = false;
        for line in commit.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let action: serde_json::Value = serde_json::from_slice(line)?;
            if action.get("metaData").is_some() || action.get("protocol").is_some() {
                return Ok(false);
            }
            if let Some(info) = action.get("commitInfo") {
                incremental = info
                    .get(delta::COMMIT_INFO_KEY)
                    .and_then(|s| s.get("refresh"))
                    .and_then(|r| r.as_str())
                    == Some("incremental");
            }
            for kind in ["add", "remove"] {
                data_change |= action
                    .get(kind)
                    .is_some_and(|a| a.get("dataChange").and_then(|d| d.as_bool()) != Some(false));
            }
        }
        if data_change && !incremental {
            return Ok(false);
        }
    }
    Ok(true)
}

/// What [`write`] published.
#[derive(Debug, Clone, Copy)]
pub struct WrittenChanges {
    /// Rows in the added rows' file.
    pub added: u64,
    /// Keys in the removed keys' file.
    pub removed: u64,
}

/// A keyed mart to publish: its name, its table at the version to publish, that
/// table's columns and the key its changes are made by.
pub struct KeyedMart<'a> {
    /// The mart.
    pub name: &'a str,
    /// Its table, at the version to publish.
    pub table: &'a DeltaTable,
    /// The table's columns.
    pub schema: SchemaRef,
    /// The key (its `unique_key`).
    pub key: &'a str,
}

/// Writes the changes of `mart` since version `served_version` on top of the served
/// changes `served`, into the publish folder `publish` (named `publish_id`), and
/// serves the base there as it is. `None` (and nothing left in `publish`) when the
/// mart must be published whole.
pub async fn write(
    ctx: &SessionContext,
    mart: &KeyedMart<'_>,
    served_version: u64,
    served: &ServedChanges,
    publish: &Path,
    publish_id: &str,
) -> Result<Option<WrittenChanges>> {
    let KeyedMart {
        name: mart,
        table,
        schema,
        key,
    } = mart;
    let (mart, key) = (*mart, *key);
    let key_type = schema
        .field_with_name(key)
        .map_err(|_| Error::Task(format!("mart {mart} has no column `{key}`, its unique_key")))?
        .data_type()
        .clone();
    let feed = ctx.read_table(delta::change_feed(table, served_version)?)?;
    // The last version that touched each key: that commit's rows are the key's now.
    let touched = feed
        .clone()
        .aggregate(
            vec![ident(key).alias(TOUCHED_KEY)],
            vec![max(ident("_commit_version")).alias(TOUCHED_AT)],
        )?
        .collect()
        .await?;
    if touched.iter().any(|batch| batch.column(0).null_count() > 0) {
        return Ok(None);
    }
    if touched.iter().all(|batch| batch.num_rows() == 0) {
        // Commits without rows (stride's record alone, compaction): served as it is.
        let mut rows = Vec::new();
        for folder in [added_folder(mart), removed_folder(mart), mart.to_string()] {
            rows.push(mart_files::reuse(
                &served.publish.join(&folder),
                &publish.join(&folder),
            )?);
        }
        return Ok(Some(WrittenChanges {
            added: rows[0],
            removed: rows[1],
        }));
    }
    let touched = ctx.read_batches(touched)?;

    let columns = |frame: DataFrame| -> Result<DataFrame> {
        let exprs: Vec<Expr> = schema
            .fields()
            .iter()
            .map(|f| cast(ident(f.name()), f.data_type().clone()).alias(f.name()))
            .collect();
        Ok(frame.select(exprs)?)
    };
    let now = feed
        .filter(ident("_change_type").in_list(vec![lit("insert"), lit("update_postimage")], false))?
        .join_on(
            touched.clone(),
            JoinType::Inner,
            [
                ident(key).eq(ident(TOUCHED_KEY)),
                ident("_commit_version").eq(ident(TOUCHED_AT)),
            ],
        )?;
    let served_added = ctx
        .read_parquet(path_text(&served.added), ParquetReadOptions::default())
        .await?
        .join_on(
            touched.clone(),
            JoinType::LeftAnti,
            [ident(key).eq(ident(TOUCHED_KEY))],
        )?;
    let added = columns(now)?.union(columns(served_added)?)?;
    let removed = ctx
        .read_parquet(path_text(&served.removed), ParquetReadOptions::default())
        .await?
        .select(vec![cast(ident(key), key_type.clone()).alias(key)])?
        .union(touched.select(vec![cast(ident(TOUCHED_KEY), key_type).alias(key)])?)?
        .distinct()?;

    let added_folder = publish.join(added_folder(mart));
    let removed_folder = publish.join(removed_folder(mart));
    let (_, added) =
        mart_files::write(added, &added_folder, &format!("{mart}@added-{publish_id}")).await?;
    let (_, removed) = mart_files::write(
        removed,
        &removed_folder,
        &format!("{mart}@removed-{publish_id}"),
    )
    .await?;
    let base = served.publish.join(mart);
    let base_rows = mart_files::only_file(&base)
        .map(|file| mart_files::rows_in(&file))
        .transpose()?
        .unwrap_or_default();
    if (added + removed).saturating_mul(MAX_CHANGES_SHARE) > base_rows {
        for folder in [added_folder, removed_folder] {
            std::fs::remove_dir_all(&folder)?;
        }
        return Ok(None);
    }
    mart_files::reuse(&base, &publish.join(mart))?;
    Ok(Some(WrittenChanges { added, removed }))
}

/// The column of touched keys, named apart from every mart column.
const TOUCHED_KEY: &str = "__stride_touched_key";
/// The column of the last version that touched a key.
const TOUCHED_AT: &str = "__stride_touched_at";

fn path_text(path: &Path) -> String {
    path.display().to_string()
}
