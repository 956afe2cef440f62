//! `stride quarantine replay`: judges the quarantined rows and refused files again
//! with the contracts as they are now (after a fix to a contract, or once a late
//! product has landed). What passes is released: the ledger stops excluding it, and
//! the next run rebuilds the staging models of that table so it reaches the marts.

use arrow::array::AsArray;
use arrow::compute::concat_batches;
use chrono::NaiveDate;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::admit::{JudgedFile, REASON_COLUMN, RULE_COLUMN, file_entry, judge_new};
use super::file::{FileRead, read_file};
use super::ledger::{FileEntry, Ledger, file_key, read_ledger, write_ledger};
use super::redelivery::{SEQ_ALREADY_LOADED, SEQ_CONFLICTING_COPIES};
use super::view::{register_loaded, sources_session};
use crate::contracts::{Contract, Contracts};
use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::land::{self, LandedFile};
use crate::sources::SourceTable;

/// What a replay did to one raw table.
#[derive(Debug, Clone, Default)]
pub struct Replayed {
    /// The raw table.
    pub table: String,
    /// Quarantined rows that now pass and will be loaded.
    pub rows_released: u64,
    /// Rows still quarantined.
    pub rows_quarantined: u64,
    /// Refused files that can now be read (their rows judged like new ones).
    pub files_admitted: usize,
    /// Files still refused.
    pub files_refused: usize,
}

/// Replays the quarantine of every raw table, or of `only`.
pub async fn replay(
    lake: &Lake,
    contracts: &Contracts,
    only: Option<&str>,
) -> Result<Vec<Replayed>> {
    if let Some(table) = only
        && contracts.sources().find(table).is_none()
    {
        return Err(Error::Setting {
            setting: "--table".into(),
            reason: format!("`{table}` is not a raw table"),
        });
    }
    let ctx = sources_session(lake)?;
    let mut report = Vec::new();
    for table in contracts.sources() {
        let landed = land::landed_files(lake, table).await?;
        let mut ledger = read_ledger(lake, &table.name).await?;
        if only.is_none_or(|t| t == table.name) {
            let contract = contracts.get(&table.name);
            let mut done = Replayed {
                table: table.name.to_string(),
                ..Replayed::default()
            };
            let mut replaced = Vec::new();
            let generation = ledger.replays + 1;
            let keys: Vec<String> = ledger.files.keys().cloned().collect();
            for key in keys {
                let Some(entry) = ledger.files.get(&key).cloned() else {
                    continue;
                };
                let updated = if entry.gone.is_some() {
                    None
                } else if entry.refused.is_some() {
                    let file = landed.iter().find(|f| file_key(lake, f) == key);
                    match file {
                        Some(file) => {
                            replay_refused(lake, &ctx, table, contract, &ledger, file).await?
                        }
                        None => None,
                    }
                } else if let Some(rows_path) = &entry.rows_file {
                    let judged = JudgedAgain {
                        table,
                        contract,
                        ledger: &ledger,
                        generation,
                    };
                    replay_rows(lake, &ctx, &judged, &key, rows_path, &entry).await?
                } else {
                    None
                };
                if let Some(new_entry) = updated {
                    if entry.refused.is_some() && new_entry.refused.is_none() {
                        done.files_admitted += 1;
                    } else {
                        done.rows_released += entry
                            .rows_quarantined
                            .saturating_sub(new_entry.rows_quarantined);
                    }
                    if let Some(old) = &entry.rows_file
                        && new_entry.rows_file.as_ref() != Some(old)
                    {
                        replaced.push(old.clone());
                    }
                    ledger.files.insert(key, new_entry);
                }
            }
            if done.rows_released > 0 || done.files_admitted > 0 {
                ledger.replays = generation;
                write_ledger(lake, &ledger).await?;
                for old in replaced {
                    lake.delete(&old).await?;
                }
            }
            done.rows_quarantined = ledger
                .files
                .values()
                .filter(|e| e.is_loaded())
                .map(|e| e.rows_quarantined)
                .sum();
            done.files_refused = ledger
                .files
                .values()
                .filter(|e| e.refused.is_some() && e.gone.is_none())
                .count();
            report.push(done);
        }
        register_loaded(&ctx, lake, table, &landed, &ledger)?;
    }
    Ok(report)
}

/// A refused file read again: a new entry when it can be read now.
async fn replay_refused(
    lake: &Lake,
    ctx: &datafusion::prelude::SessionContext,
    table: &SourceTable,
    contract: Option<&Contract>,
    ledger: &Ledger,
    file: &LandedFile,
) -> Result<Option<FileEntry>> {
    let FileRead::Rows(batches) = read_file(lake, table, file).await? else {
        return Ok(None);
    };
    let rows = concat_batches(&table.schema(), &batches)?;
    let key = file_key(lake, file);
    // Judged like a new file: its rows may repeat what other files loaded since.
    let files = [(key.clone(), rows.num_rows())];
    let verdicts = judge_new(ctx, lake, table, contract, ledger, &rows, &files).await?;
    let raw_file = lake.relative(&file.path);
    let judged = JudgedFile {
        table: &table.name,
        key: &key,
        raw_file: &raw_file,
        batch_date: file.batch_date,
    };
    let mut entry = file_entry(lake, &judged, &rows, &verdicts, None).await?;
    entry.size = Some(file.size);
    Ok(Some(entry))
}

/// What quarantined rows are judged again against, and the replay's generation
/// (the new quarantine file's name).
struct JudgedAgain<'a> {
    table: &'a SourceTable,
    contract: Option<&'a Contract>,
    ledger: &'a Ledger,
    generation: u64,
}

/// The quarantined rows of one file judged again: a new entry when some now pass.
/// They are judged like new rows: one whose `_seq` another file loaded since is a
/// redelivery (or a conflict), not a second copy of that change.
async fn replay_rows(
    lake: &Lake,
    ctx: &datafusion::prelude::SessionContext,
    judged: &JudgedAgain<'_>,
    key: &str,
    rows_path: &str,
    entry: &FileEntry,
) -> Result<Option<FileEntry>> {
    let table = judged.table;
    let Some(bytes) = lake.get(rows_path).await? else {
        return Err(Error::RawFile {
            file: lake.object_url(&lake.path(rows_path)),
            problem: "the quarantine ledger names this file, but it is gone".into(),
        });
    };
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)?.build()?;
    let schema = table.schema();
    let mut batches = Vec::new();
    // A row quarantined because its `_seq` came with other values stays
    // quarantined: no contract change makes two values of one change both true.
    let mut repeated: Vec<(String, String)> = Vec::new();
    for batch in reader {
        let batch = batch?;
        let rule = batch
            .column_by_name(RULE_COLUMN)
            .and_then(|c| c.as_string_opt::<i32>());
        let reason = batch
            .column_by_name(REASON_COLUMN)
            .and_then(|c| c.as_string_opt::<i32>());
        for i in 0..batch.num_rows() {
            let rule = rule.map(|r| r.value(i).to_string()).unwrap_or_default();
            let reason = reason.map(|r| r.value(i).to_string()).unwrap_or_default();
            repeated.push((rule, reason));
        }
        batches.push(batch.project(&(0..schema.fields().len()).collect::<Vec<_>>())?);
    }
    let rows = concat_batches(&schema, &batches)?;
    let files = [(key.to_string(), rows.num_rows())];
    let mut verdicts = judge_new(
        ctx,
        lake,
        table,
        judged.contract,
        judged.ledger,
        &rows,
        &files,
    )
    .await?;
    for (row, (rule, reason)) in repeated.into_iter().enumerate() {
        if rule == SEQ_ALREADY_LOADED || rule == SEQ_CONFLICTING_COPIES {
            verdicts.redelivered.remove(&row);
            verdicts.rejected.insert(row, (rule, reason));
        }
    }
    if verdicts.rejected.len() as u64 == entry.rows_quarantined {
        return Ok(None);
    }
    let batch_date = NaiveDate::parse_from_str(&entry.batch_date, "%Y-%m-%d").unwrap_or_default();
    let raw_file = format!("{}/{}/{key}", crate::lake::RAW, table.name);
    let file = JudgedFile {
        table: &table.name,
        key,
        raw_file: &raw_file,
        batch_date,
    };
    let again = file_entry(lake, &file, &rows, &verdicts, Some(judged.generation)).await?;
    // `again` counts only the rows that were quarantined; the rest of the entry
    // stands.
    let mut new_entry = again.clone();
    new_entry.rows_read = entry.rows_read;
    new_entry.rows_loaded = entry.rows_loaded + again.rows_loaded;
    new_entry.rows_redelivered = entry.rows_redelivered + again.rows_redelivered;
    new_entry.warnings = entry.warnings.clone();
    new_entry.size = entry.size;
    new_entry.redelivered_seqs = [entry.redelivered_seqs.clone(), again.redelivered_seqs].concat();
    new_entry.repeated_seqs = [entry.repeated_seqs.clone(), again.repeated_seqs].concat();
    new_entry.redelivered_from = entry.redelivered_from.clone();
    for (origin, seqs) in again.redelivered_from {
        new_entry
            .redelivered_from
            .entry(origin)
            .or_default()
            .extend(seqs);
    }
    new_entry.seq_range = match (entry.seq_range, again.seq_range) {
        (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
        (old, new) => old.or(new),
    };
    Ok(Some(new_entry))
}
