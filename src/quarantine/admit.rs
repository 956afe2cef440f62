//! Checking the landed files no run has checked yet, before any model reads them:
//! refused files and rows breaking an `error` rule go to `quarantine/<table>/`,
//! the rest is loaded, and the ledger records the decision once and for all.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::BooleanArray;
use arrow::array::{ArrayRef, Date32Array, RecordBatch, StringArray, UInt32Array};
use arrow::compute::{concat_batches, filter_record_batch, take_record_batch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use chrono::{NaiveDate, Utc};
use datafusion::prelude::SessionContext;
use futures::{StreamExt, TryStreamExt, stream};

use super::file::{FileRead, read_file};
use super::ledger::{FileEntry, Ledger, file_key, read_ledger, write_ledger};
use super::redelivery::{fill_seq_ranges, sort_out};
use super::rows::{Verdicts, judge};
use super::view::{register_loaded, sources_session};
use crate::contracts::{Contract, Contracts};
use crate::error::{Error, Result};
use crate::lake::{Lake, QUARANTINE};
use crate::land::{self, LandedFile};
use crate::sources::SourceTable;

/// How many landed files are read at once.
const CONCURRENT_FILES: usize = 8;
/// Rows judged together, at least: a chunk ends with the first batch past this.
const CHUNK_ROWS: usize = 2_000_000;

/// The columns a quarantined row carries after its own.
pub const RULE_COLUMN: &str = "_rule";
/// Why the row broke the rule.
pub const REASON_COLUMN: &str = "_reason";
/// The landed file it came from (relative to the lake root).
pub const FILE_COLUMN: &str = "_file";
/// The batch date of that file.
pub const BATCH_DATE_COLUMN: &str = "_batch_date";

/// What the raw tables hold for the models after the check.
#[derive(Debug, Clone, Default)]
pub struct Admitted {
    /// Per raw table, the landed files models read (refused files left out).
    pub files: BTreeMap<String, Vec<LandedFile>>,
    /// Per raw table, its ledger as the check left it: what each file loads,
    /// which rows it sets aside, the `_seq` range it loads.
    pub ledgers: BTreeMap<String, Arc<Ledger>>,
    /// What this check did, for the tables that had new files.
    pub checked: Vec<TableCheck>,
}

/// What one check did to one raw table: rows read = loaded + quarantined.
#[derive(Debug, Clone, Default)]
pub struct TableCheck {
    /// The raw table.
    pub table: String,
    /// New files checked.
    pub files: usize,
    /// Files refused whole, with the reason.
    pub refused: Vec<(String, String)>,
    /// Rows in the new files (as their footers say, for refused files).
    pub rows_read: u64,
    /// Rows loaded.
    pub rows_loaded: u64,
    /// Rows quarantined (all rows of refused files included).
    pub rows_quarantined: u64,
    /// Rows skipped as redeliveries of rows already loaded.
    pub rows_redelivered: u64,
    /// Rows quarantined per rule (rows of refused files not included).
    pub rules: BTreeMap<String, u64>,
    /// Loaded rows that broke a `warn` rule, per rule.
    pub warnings: BTreeMap<String, u64>,
}

/// Checks every landed file the ledgers do not know yet (tables in the contracts'
/// check order, so a relationship sees the rows its target table loaded in the
/// same check), writes
/// the quarantine and the ledgers, and returns what models may read.
pub async fn admit(
    lake: &Lake,
    contracts: &Contracts,
    landed: &BTreeMap<String, Vec<LandedFile>>,
) -> Result<Admitted> {
    let ctx = sources_session(lake)?;
    let mut admitted = Admitted::default();
    for table in contracts.sources() {
        let files = landed
            .get(&table.name)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut ledger = read_ledger(lake, &table.name).await?;
        // A file gone from `raw/` loads nothing, and is no longer "already loaded"
        // for the rows that follow.
        let present: BTreeMap<String, u64> =
            files.iter().map(|f| (file_key(lake, f), f.size)).collect();
        let reconciled = ledger.reconcile(&present, &Utc::now().to_rfc3339());
        let new: Vec<&LandedFile> = ledger.unchecked(lake, files).collect();
        if !new.is_empty() {
            fill_seq_ranges(&ctx, lake, table, &mut ledger).await?;
            let check = check_files(
                lake,
                &ctx,
                table,
                contracts.get(&table.name),
                &new,
                &mut ledger,
            )
            .await?;
            admitted.checked.push(check);
        }
        if reconciled || !new.is_empty() {
            write_ledger(lake, &ledger).await?;
        }
        let loaded = register_loaded(&ctx, lake, table, files, &ledger)?;
        admitted.files.insert(table.name.clone(), loaded);
        admitted
            .ledgers
            .insert(table.name.clone(), Arc::new(ledger.clone()));
    }
    Ok(admitted)
}

/// One readable file waiting to be judged.
struct Readable<'a> {
    file: &'a LandedFile,
    rows: RecordBatch,
}

async fn check_files(
    lake: &Lake,
    ctx: &SessionContext,
    table: &SourceTable,
    contract: Option<&Contract>,
    new: &[&LandedFile],
    ledger: &mut Ledger,
) -> Result<TableCheck> {
    let mut check = TableCheck {
        table: table.name.clone(),
        files: new.len(),
        ..TableCheck::default()
    };
    let schema = table.schema();
    let mut chunk: Vec<Readable> = Vec::new();
    let mut chunk_rows = 0;
    // Files are read a window at a time and judged in chunks of whole batches, so
    // memory holds about one chunk however much has landed, and the rows of one
    // batch are always judged together (a `unique` rule compares them).
    for window in new.chunks(CONCURRENT_FILES) {
        let reads: Vec<(&LandedFile, FileRead)> = stream::iter(window.iter().copied())
            .map(|file| async move { Ok::<_, Error>((file, read_file(lake, table, file).await?)) })
            .buffered(CONCURRENT_FILES)
            .try_collect()
            .await?;
        for (file, read) in reads {
            match read {
                FileRead::Refused {
                    reason,
                    rows,
                    bytes,
                } => {
                    let entry = refuse(lake, file, &reason, rows, bytes).await?;
                    check.rows_read += rows;
                    check.rows_quarantined += rows;
                    check.refused.push((file_key(lake, file), reason));
                    ledger.files.insert(file_key(lake, file), entry);
                }
                FileRead::Rows(batches) => {
                    let new_batch = chunk
                        .last()
                        .is_some_and(|r| r.file.batch_date != file.batch_date);
                    if chunk_rows >= CHUNK_ROWS && new_batch {
                        judge_chunk(lake, ctx, table, contract, &chunk, ledger, &mut check).await?;
                        chunk.clear();
                        chunk_rows = 0;
                    }
                    let rows = concat_batches(&schema, &batches)?;
                    chunk_rows += rows.num_rows();
                    chunk.push(Readable { file, rows });
                }
            }
        }
    }
    if !chunk.is_empty() {
        judge_chunk(lake, ctx, table, contract, &chunk, ledger, &mut check).await?;
    }
    Ok(check)
}

/// The ledger entry of a refused file, after copying it to `quarantine/<table>/refused/`.
async fn refuse(
    lake: &Lake,
    file: &LandedFile,
    reason: &str,
    rows: u64,
    bytes: bytes::Bytes,
) -> Result<FileEntry> {
    let key = file_key(lake, file);
    let copy = format!("{QUARANTINE}/{}/refused/{key}", file.table);
    lake.put(&copy, bytes.to_vec()).await?;
    tracing::warn!("raw file {} refused: {reason}", lake.object_url(&file.path));
    Ok(FileEntry {
        batch_date: file.batch_date.to_string(),
        rows_read: rows,
        rows_loaded: 0,
        rows_quarantined: rows,
        refused: Some(reason.to_string()),
        refused_copy: Some(copy),
        size: Some(file.size),
        checked_at: Utc::now().to_rfc3339(),
        ..FileEntry::default()
    })
}

/// Judges the rows of several files together and writes each file's quarantined
/// rows and ledger entry.
async fn judge_chunk(
    lake: &Lake,
    ctx: &SessionContext,
    table: &SourceTable,
    contract: Option<&Contract>,
    chunk: &[Readable<'_>],
    ledger: &mut Ledger,
    check: &mut TableCheck,
) -> Result<()> {
    let batches: Vec<RecordBatch> = chunk.iter().map(|r| r.rows.clone()).collect();
    let all = concat_batches(&table.schema(), &batches)?;
    let files: Vec<(String, usize)> = chunk
        .iter()
        .map(|r| (file_key(lake, r.file), r.rows.num_rows()))
        .collect();
    let verdicts = judge_new(ctx, lake, table, contract, ledger, &all, &files).await?;
    let mut start = 0;
    for readable in chunk {
        let end = start + readable.rows.num_rows();
        let key = file_key(lake, readable.file);
        let raw_file = lake.relative(&readable.file.path);
        let judged = JudgedFile {
            table: &readable.file.table,
            key: &key,
            raw_file: &raw_file,
            batch_date: readable.file.batch_date,
        };
        let entry = file_entry(
            lake,
            &judged,
            &readable.rows,
            &verdicts.slice(start..end),
            None,
        )
        .await?;
        let mut entry = entry;
        entry.size = Some(readable.file.size);
        check.rows_read += entry.rows_read;
        check.rows_loaded += entry.rows_loaded;
        check.rows_quarantined += entry.rows_quarantined;
        check.rows_redelivered += entry.rows_redelivered;
        for (rule, n) in &entry.rules {
            *check.rules.entry(rule.clone()).or_default() += n;
        }
        for (rule, n) in &entry.warnings {
            *check.warnings.entry(rule.clone()).or_default() += n;
        }
        ledger.files.insert(key, entry);
        start = end;
    }
    Ok(())
}

/// Judges rows new to the ledger (from `files`: ledger key, row count, in order):
/// rows repeating a loaded `_seq` are sorted out first (a redelivery is skipped,
/// other values are quarantined), the rest are judged by the contract.
pub(super) async fn judge_new(
    ctx: &SessionContext,
    lake: &Lake,
    table: &SourceTable,
    contract: Option<&Contract>,
    ledger: &Ledger,
    rows: &RecordBatch,
    files: &[(String, usize)],
) -> Result<Verdicts> {
    let repeated = sort_out(ctx, lake, table, ledger, rows, files).await?;
    let none_repeated = repeated.redelivered.is_empty() && repeated.conflicting.is_empty();
    let mut verdicts = match contract {
        Some(contract) if none_repeated => judge(ctx, contract, rows).await?,
        Some(contract) => {
            let kept: Vec<usize> = (0..rows.num_rows())
                .filter(|i| !repeated.contains(*i))
                .collect();
            let mask: BooleanArray = (0..rows.num_rows())
                .map(|i| Some(!repeated.contains(i)))
                .collect();
            let selected = filter_record_batch(rows, &mask)?;
            judge(ctx, contract, &selected).await?.renumbered(&kept)
        }
        None => Verdicts::default(),
    };
    verdicts.rejected.extend(repeated.conflicting);
    verdicts.redelivered = repeated.redelivered;
    Ok(verdicts)
}

/// Where a judged file came from: what its ledger entry and quarantine file name.
pub(super) struct JudgedFile<'a> {
    /// Its raw table.
    pub table: &'a str,
    /// Its ledger key (`batch_date=…/x.parquet`).
    pub key: &'a str,
    /// Its path relative to the lake root (the `_file` of its quarantined rows).
    pub raw_file: &'a str,
    /// Its batch date.
    pub batch_date: NaiveDate,
}

/// The ledger entry of a file whose `rows` were judged as `verdicts`, after writing
/// its quarantined rows (to a new file name for a replay's `generation`).
pub(super) async fn file_entry(
    lake: &Lake,
    file: &JudgedFile<'_>,
    rows: &RecordBatch,
    verdicts: &Verdicts,
    generation: Option<u64>,
) -> Result<FileEntry> {
    let rejected: Vec<(usize, &(String, String))> =
        verdicts.rejected.iter().map(|(row, v)| (*row, v)).collect();
    let mut rules: BTreeMap<String, u64> = BTreeMap::new();
    for (_, (rule, _)) in &rejected {
        *rules.entry(rule.clone()).or_default() += 1;
    }
    let rows_read = rows.num_rows() as u64;
    let redelivered = verdicts.redelivered.len() as u64;
    let elsewhere = || {
        verdicts
            .redelivered
            .iter()
            .filter_map(|(row, origin)| Some((*row, origin.as_ref()?)))
    };
    let mut redelivered_from: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (row, origin) in elsewhere() {
        if let Some(seq) = seqs_at(rows, std::iter::once(row)).first() {
            redelivered_from
                .entry(origin.clone())
                .or_default()
                .push(*seq);
        }
    }
    for seqs in redelivered_from.values_mut() {
        seqs.sort_unstable();
        seqs.dedup();
    }
    let own = verdicts
        .redelivered
        .iter()
        .filter(|(_, origin)| origin.is_none())
        .map(|(row, _)| *row);
    let mut entry = FileEntry {
        batch_date: file.batch_date.to_string(),
        rows_read,
        rows_loaded: rows_read - rejected.len() as u64 - redelivered,
        rows_quarantined: rejected.len() as u64,
        rows_redelivered: redelivered,
        redelivered_seqs: seqs_at(rows, elsewhere().map(|(row, _)| row)),
        redelivered_from,
        repeated_seqs: seqs_at(rows, own),
        seq_range: loaded_seq_range(rows, verdicts),
        rules,
        warnings: verdicts
            .warned
            .iter()
            .map(|(rule, rows)| (rule.clone(), rows.len() as u64))
            .filter(|(_, n)| *n > 0)
            .collect(),
        checked_at: Utc::now().to_rfc3339(),
        ..FileEntry::default()
    };
    if !rejected.is_empty() {
        let quarantined = quarantine_rows(rows, &rejected, file.raw_file, file.batch_date)?;
        entry.quarantined_seqs = seqs_of(&quarantined);
        let path = rows_file(file.table, file.key, generation);
        land::put_parquet(lake, &path, &quarantined).await?;
        entry.rows_file = Some(path);
        tracing::debug!(
            "raw file {}: {} of {rows_read} rows quarantined",
            file.raw_file,
            rejected.len()
        );
    }
    Ok(entry)
}

/// Where the quarantined rows of the file `key` of `table` go; a replay writes a
/// new file (`generation`) before the ledger points at it.
pub(super) fn rows_file(table: &str, key: &str, generation: Option<u64>) -> String {
    let stem = key.strip_suffix(".parquet").unwrap_or(key);
    match generation {
        None => format!("{QUARANTINE}/{table}/rows/{stem}.parquet"),
        Some(n) => format!("{QUARANTINE}/{table}/rows/{stem}.replay-{n}.parquet"),
    }
}

/// The schema of a quarantine file: the table's columns, then rule, reason, file
/// and batch date.
pub fn quarantine_schema(table: &SchemaRef) -> SchemaRef {
    let mut fields: Vec<Field> = table.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new(RULE_COLUMN, DataType::Utf8, false));
    fields.push(Field::new(REASON_COLUMN, DataType::Utf8, false));
    fields.push(Field::new(FILE_COLUMN, DataType::Utf8, false));
    fields.push(Field::new(BATCH_DATE_COLUMN, DataType::Date32, false));
    Arc::new(Schema::new(fields))
}

/// The rows `rejected` of `rows`, with their rule, reason, file and batch date.
pub(super) fn quarantine_rows(
    rows: &RecordBatch,
    rejected: &[(usize, &(String, String))],
    file: &str,
    batch_date: NaiveDate,
) -> Result<RecordBatch> {
    let indices = UInt32Array::from_iter_values(rejected.iter().map(|(row, _)| *row as u32));
    let taken = take_record_batch(rows, &indices)?;
    let n = rejected.len();
    let days = (batch_date - chrono::DateTime::UNIX_EPOCH.date_naive()).num_days() as i32;
    let mut columns: Vec<ArrayRef> = taken.columns().to_vec();
    columns.push(Arc::new(StringArray::from_iter_values(
        rejected.iter().map(|(_, (rule, _))| rule.as_str()),
    )));
    columns.push(Arc::new(StringArray::from_iter_values(
        rejected.iter().map(|(_, (_, reason))| reason.as_str()),
    )));
    columns.push(Arc::new(StringArray::from_iter_values(
        std::iter::repeat_n(file, n),
    )));
    columns.push(Arc::new(Date32Array::from(vec![days; n])));
    Ok(RecordBatch::try_new(
        quarantine_schema(&rows.schema()),
        columns,
    )?)
}

/// The non-null `_seq` values of rows `at` of `rows`.
fn seqs_at(rows: &RecordBatch, at: impl Iterator<Item = usize>) -> Vec<i64> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::Int64Type;
    let Some(seqs) = rows
        .column_by_name("_seq")
        .and_then(|c| c.as_primitive_opt::<Int64Type>())
    else {
        return Vec::new();
    };
    at.filter(|&i| seqs.is_valid(i))
        .map(|i| seqs.value(i))
        .collect()
}

/// The smallest and greatest `_seq` of the rows `verdicts` loads.
fn loaded_seq_range(rows: &RecordBatch, verdicts: &Verdicts) -> Option<(i64, i64)> {
    let loaded = (0..rows.num_rows())
        .filter(|i| !verdicts.rejected.contains_key(i) && !verdicts.redelivered.contains_key(i));
    let seqs = seqs_at(rows, loaded);
    Some((*seqs.iter().min()?, *seqs.iter().max()?))
}

/// The non-null `_seq` values of quarantined rows.
pub(super) fn seqs_of(rows: &RecordBatch) -> Vec<i64> {
    use arrow::array::AsArray;
    use arrow::datatypes::Int64Type;
    rows.column_by_name("_seq")
        .and_then(|c| c.as_primitive_opt::<Int64Type>())
        .map(|seqs| seqs.iter().flatten().collect())
        .unwrap_or_default()
}
