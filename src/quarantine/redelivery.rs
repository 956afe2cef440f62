//! Changes delivered more than once. Change data arrives at least once: a file can
//! land twice (a re-run extract, a replicated bucket, a copy under a second name),
//! or one change can be written twice into one file (a sink that retried), so a
//! `_seq` can arrive again. Before new rows are judged, every `_seq` that comes
//! more than once (already loaded from an earlier file, or several times among the
//! new rows) is sorted out:
//! - copies identical to the row loaded with their `_seq` are redeliveries,
//!   skipped and counted, and the ledger names the file that loads the row;
//! - a copy that differs from the loaded row is quarantined under
//!   [`SEQ_ALREADY_LOADED`] (the loaded row stays: models have read it);
//! - copies among the new rows, none loaded yet: identical ones are one change,
//!   whose first copy is judged and the others skipped; if any two differ, no one
//!   can tell which is the change, and every copy is quarantined under
//!   [`SEQ_CONFLICTING_COPIES`].
//!
//! What models read therefore holds each `_seq` once, whatever was delivered twice,
//! and every copy is counted: rows read = loaded + quarantined + redelivered.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use arrow::array::{Array, AsArray, Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Int64Type, Schema};
use arrow::row::{RowConverter, Rows, SortField};
use chrono::NaiveDate;
use datafusion::common::JoinType;
use datafusion::datasource::MemTable;
use datafusion::logical_expr::{col, lit};
use datafusion::prelude::SessionContext;

use super::ledger::Ledger;
use super::view::admitted_table;
use crate::error::Result;
use crate::lake::{Lake, RAW};
use crate::land::LandedFile;
use crate::sources::SourceTable;

/// The rule a row breaks when its `_seq` was loaded before with other values.
pub const SEQ_ALREADY_LOADED: &str = "seq_already_loaded";

/// The rule every copy of a `_seq` breaks when new rows carry it more than once
/// with different values.
pub const SEQ_CONFLICTING_COPIES: &str = "seq_conflicting_copies";

/// The column the new rows' `_seq`s are joined on.
const NEW_SEQ: &str = "__new_seq";

/// What sorting out repeated `_seq`s found among new rows.
#[derive(Debug, Default)]
pub struct Repeated {
    /// Rows skipped because an identical copy of their row is loaded: by the file
    /// named, or (`None`) by an earlier row of their own file.
    pub redelivered: BTreeMap<usize, Option<String>>,
    /// Rows quarantined for their `_seq`: the rule and the reason.
    pub conflicting: BTreeMap<usize, (String, String)>,
}

impl Repeated {
    /// Whether row `i` is sorted out (not judged, not loaded as new).
    pub fn contains(&self, i: usize) -> bool {
        self.redelivered.contains_key(&i) || self.conflicting.contains_key(&i)
    }
}

/// Sorts out the rows of `rows` whose `_seq` comes more than once. `files` names
/// the files the rows come from, in order, as (ledger key, row count); `ledger`
/// holds what earlier files loaded.
pub async fn sort_out(
    ctx: &SessionContext,
    lake: &Lake,
    table: &SourceTable,
    ledger: &Ledger,
    rows: &RecordBatch,
    files: &[(String, usize)],
) -> Result<Repeated> {
    let mut repeated = Repeated::default();
    let Some(seqs) = rows
        .column_by_name("_seq")
        .and_then(|c| c.as_primitive_opt::<Int64Type>())
    else {
        return Ok(repeated);
    };
    let (Some(low), Some(high)) = (seqs.iter().flatten().min(), seqs.iter().flatten().max()) else {
        return Ok(repeated);
    };
    let earlier = loaded_rows(ctx, lake, table, ledger, files, seqs, (low, high)).await?;
    if earlier.is_empty() && !repeats_within(seqs) {
        // The usual case: nothing loaded overlaps, and no `_seq` comes twice.
        return Ok(repeated);
    }
    // `_seq` → (which batch, which row) among the loaded rows.
    let mut loaded: HashMap<i64, (usize, usize)> = HashMap::new();
    for (index, (_, batch)) in earlier.iter().enumerate() {
        let Some(batch_seqs) = batch
            .column_by_name("_seq")
            .and_then(|c| c.as_primitive_opt::<Int64Type>())
        else {
            continue;
        };
        for (row, seq) in batch_seqs.iter().enumerate() {
            if let Some(seq) = seq {
                loaded.entry(seq).or_insert((index, row));
            }
        }
    }
    let owners: Vec<&str> = files
        .iter()
        .flat_map(|(key, n)| std::iter::repeat_n(key.as_str(), *n))
        .collect();
    let owner = |i: usize| owners.get(i).copied().unwrap_or_default();
    // The new rows of each `_seq` that comes more than once, in delivery order.
    let mut copies: HashMap<i64, Vec<usize>> = HashMap::new();
    for (i, seq) in seqs.iter().enumerate() {
        if let Some(seq) = seq {
            copies.entry(seq).or_default().push(i);
        }
    }
    copies.retain(|seq, rows| rows.len() > 1 || loaded.contains_key(seq));
    if copies.is_empty() {
        return Ok(repeated);
    }
    let converter = RowConverter::new(
        rows.schema()
            .fields()
            .iter()
            .map(|f| SortField::new(f.data_type().clone()))
            .collect(),
    )?;
    let new_rows = converter.convert_columns(rows.columns())?;
    let earlier_rows: Vec<Rows> = earlier
        .iter()
        .map(|(_, batch)| converter.convert_columns(batch.columns()))
        .collect::<std::result::Result<_, _>>()?;
    for (seq, at) in copies {
        if let Some(&(batch, row)) = loaded.get(&seq) {
            let from = earlier[batch].0.as_str();
            for i in at {
                if new_rows.row(i) == earlier_rows[batch].row(row) {
                    repeated.redelivered.insert(i, Some(from.to_string()));
                } else {
                    repeated.conflicting.insert(
                        i,
                        (
                            SEQ_ALREADY_LOADED.to_string(),
                            format!("_seq {seq} was already loaded from {from} with other values"),
                        ),
                    );
                }
            }
            continue;
        }
        let Some((&first, others)) = at.split_first() else {
            continue;
        };
        if others
            .iter()
            .all(|&i| new_rows.row(i) == new_rows.row(first))
        {
            for &i in others {
                let origin = (owner(i) != owner(first)).then(|| owner(first).to_string());
                repeated.redelivered.insert(i, origin);
            }
        } else {
            let mut in_files: Vec<&str> = at.iter().map(|&i| owner(i)).collect();
            in_files.dedup();
            let reason = format!(
                "_seq {seq} comes {} times with different values (in {})",
                at.len(),
                in_files.join(", ")
            );
            for i in at {
                repeated
                    .conflicting
                    .insert(i, (SEQ_CONFLICTING_COPIES.to_string(), reason.clone()));
            }
        }
    }
    Ok(repeated)
}

/// Whether a `_seq` comes more than once among `seqs`: one pass when they only
/// grow (how writers usually order a change log), a sort otherwise.
fn repeats_within(seqs: &Int64Array) -> bool {
    let values: Vec<i64> = seqs.iter().flatten().collect();
    if values.windows(2).all(|pair| pair[0] < pair[1]) {
        return false;
    }
    let mut sorted = values;
    sorted.sort_unstable();
    sorted.windows(2).any(|pair| pair[0] == pair[1])
}

/// The loaded rows of earlier files (not among `files`) whose `_seq` is among
/// `seqs`, per file. Only files whose loaded `_seq` range meets `range` are read;
/// in a lake where `_seq` only grows that is none of them.
async fn loaded_rows(
    ctx: &SessionContext,
    lake: &Lake,
    table: &SourceTable,
    ledger: &Ledger,
    files: &[(String, usize)],
    seqs: &Int64Array,
    (low, high): (i64, i64),
) -> Result<Vec<(String, RecordBatch)>> {
    let new: BTreeSet<&str> = files.iter().map(|(key, _)| key.as_str()).collect();
    let set_aside = ledger.set_aside();
    let mut found = Vec::new();
    for (key, entry) in &ledger.files {
        if !entry.is_loaded() || new.contains(key.as_str()) {
            continue;
        }
        match entry.seq_range {
            Some((min, max)) if max < low || min > high => continue,
            None if entry.rows_loaded == 0 => continue,
            _ => {}
        }
        let file = ledger_file(lake, table, key, &entry.batch_date);
        let rows = ctx
            .read_table(admitted_table(ctx, lake, table, &[file], &set_aside)?)?
            .filter(col("_seq").between(lit(low), lit(high)))?
            .join(
                seq_frame(ctx, seqs)?,
                JoinType::LeftSemi,
                &["_seq"],
                &[NEW_SEQ],
                None,
            )?
            .collect()
            .await?;
        for batch in rows.into_iter().filter(|b| b.num_rows() > 0) {
            found.push((key.clone(), batch));
        }
    }
    Ok(found)
}

/// The landed file a ledger key names.
pub(super) fn ledger_file(
    lake: &Lake,
    table: &SourceTable,
    key: &str,
    batch_date: &str,
) -> LandedFile {
    LandedFile {
        table: table.name.clone(),
        batch_date: NaiveDate::parse_from_str(batch_date, "%Y-%m-%d").unwrap_or_default(),
        path: lake.path(&format!("{RAW}/{}/{key}", table.name)),
        size: 0,
    }
}

/// The non-null values of `seqs` as a one-column table.
fn seq_frame(ctx: &SessionContext, seqs: &Int64Array) -> Result<datafusion::prelude::DataFrame> {
    let schema = Arc::new(Schema::new(vec![Field::new(
        NEW_SEQ,
        DataType::Int64,
        false,
    )]));
    let values: Int64Array = seqs.iter().flatten().collect();
    let batch = RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(values)])?;
    Ok(ctx.read_table(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))?)
}

/// Fills in the `_seq` range of loaded files a ledger written before ranges were
/// kept does not have; true when it changed the ledger.
pub async fn fill_seq_ranges(
    ctx: &SessionContext,
    lake: &Lake,
    table: &SourceTable,
    ledger: &mut Ledger,
) -> Result<bool> {
    let missing: Vec<String> = ledger
        .files
        .iter()
        .filter(|(_, e)| e.is_loaded() && e.rows_loaded > 0 && e.seq_range.is_none())
        .map(|(key, _)| key.clone())
        .collect();
    let set_aside = ledger.set_aside();
    for key in &missing {
        let Some(entry) = ledger.files.get(key) else {
            continue;
        };
        let file = ledger_file(lake, table, key, &entry.batch_date);
        let batches = ctx
            .read_table(admitted_table(ctx, lake, table, &[file], &set_aside)?)?
            .aggregate(
                vec![],
                vec![
                    datafusion::functions_aggregate::expr_fn::min(col("_seq")),
                    datafusion::functions_aggregate::expr_fn::max(col("_seq")),
                ],
            )?
            .collect()
            .await?;
        let range = batches.first().and_then(|b| {
            let min = b.column(0).as_primitive_opt::<Int64Type>()?;
            let max = b.column(1).as_primitive_opt::<Int64Type>()?;
            (min.is_valid(0) && max.is_valid(0)).then(|| (min.value(0), max.value(0)))
        });
        if let Some(entry) = ledger.files.get_mut(key) {
            entry.seq_range = range;
        }
    }
    Ok(!missing.is_empty())
}
