//! What models read of a raw table: exactly the loaded files, each without the
//! rows the ledger set aside from it by `_seq` (quarantined, or a redelivery of a
//! row another file loads), with one copy of a change written several times into
//! one file, and without rows that have no `_seq` (the `not_null(_seq)` rule
//! always quarantines them).

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::Int64Array;
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use datafusion::catalog::{MemorySchemaProvider, TableProvider};
use datafusion::common::{JoinType, TableReference};
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::logical_expr::{col, lit};
use datafusion::prelude::SessionContext;

use super::ledger::{Ledger, SetAside, file_key, loaded_files};
use crate::engine::new_session;
use crate::error::Result;
use crate::lake::Lake;
use crate::land::LandedFile;
use crate::sources::{PARTITION_COLUMN, SOURCE_SCHEMA, SourceTable};

/// A session with the lake's store and an empty `raw` schema, where the source
/// checks register what each table loads.
pub fn sources_session(lake: &Lake) -> Result<SessionContext> {
    let ctx = new_session();
    let catalog = ctx
        .catalog("datafusion")
        .ok_or_else(|| datafusion::error::DataFusionError::Plan("no default catalog".into()))?;
    catalog.register_schema(SOURCE_SCHEMA, Arc::new(MemorySchemaProvider::new()))?;
    ctx.register_object_store(lake.url(), Arc::clone(lake.store()));
    Ok(ctx)
}

/// Registers (or replaces) `raw.<table>` in `ctx` as the rows `ledger` loads from
/// `landed`, and returns the files it loads.
pub fn register_loaded(
    ctx: &SessionContext,
    lake: &Lake,
    table: &SourceTable,
    landed: &[LandedFile],
    ledger: &Ledger,
) -> Result<Vec<LandedFile>> {
    let loaded = loaded_files(lake, landed, ledger);
    let name = TableReference::partial(SOURCE_SCHEMA, table.name.as_str());
    // It may stand for what landed until now (a query session's listing table).
    ctx.deregister_table(name.clone())?;
    ctx.register_table(
        name,
        admitted_table(ctx, lake, table, &loaded, &ledger.set_aside())?,
    )?;
    Ok(loaded)
}

/// The column set-aside sequence numbers are joined on.
const EXCLUDED_SEQ: &str = "__excluded_seq";

/// A table over the loaded rows of `files`, less the rows `set_aside` names (by
/// `_seq`, from every file or from one) and rows whose `_seq` is null, with one copy
/// of each row a file holds several identical copies of.
pub fn admitted_table(
    ctx: &SessionContext,
    lake: &Lake,
    table: &SourceTable,
    files: &[LandedFile],
    set_aside: &SetAside,
) -> Result<Arc<dyn TableProvider>> {
    let (whole, own): (Vec<&LandedFile>, Vec<&LandedFile>) = files.iter().partition(|f| {
        let key = file_key(lake, f);
        !set_aside.per_file.contains_key(&key) && !set_aside.repeated.contains_key(&key)
    });
    let whole: Vec<LandedFile> = whole.into_iter().cloned().collect();
    let mut frame = without_seqs(
        ctx,
        ctx.read_table(files_table(lake, table, &whole)?)?,
        &set_aside.everywhere,
    )?;
    for file in own {
        let key = file_key(lake, file);
        let mut seqs = set_aside.everywhere.clone();
        seqs.extend(set_aside.per_file.get(&key).into_iter().flatten());
        let rows = ctx.read_table(files_table(lake, table, std::slice::from_ref(file))?)?;
        let repeated: Vec<i64> = set_aside
            .repeated
            .get(&key)
            .into_iter()
            .flatten()
            .filter(|s| !seqs.contains(s))
            .copied()
            .collect();
        if repeated.is_empty() {
            frame = frame.union(without_seqs(ctx, rows, &seqs)?)?;
            continue;
        }
        // The copies are identical, so one row of each is what the file delivers.
        let mut left_out = seqs;
        left_out.extend(&repeated);
        let once = rows
            .clone()
            .join(
                seq_list(ctx, &repeated)?,
                JoinType::LeftSemi,
                &["_seq"],
                &[EXCLUDED_SEQ],
                None,
            )?
            .distinct()?;
        frame = frame
            .union(without_seqs(ctx, rows, &left_out)?)?
            .union(once)?;
    }
    Ok(frame.into_view())
}

/// `seqs` as a one-column table, [`EXCLUDED_SEQ`].
fn seq_list(ctx: &SessionContext, seqs: &[i64]) -> Result<datafusion::prelude::DataFrame> {
    let schema = Arc::new(Schema::new(vec![Field::new(
        EXCLUDED_SEQ,
        DataType::Int64,
        false,
    )]));
    let seqs = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![Arc::new(Int64Array::from(seqs.to_vec()))],
    )?;
    Ok(ctx.read_table(Arc::new(MemTable::try_new(schema, vec![vec![seqs]])?))?)
}

/// `rows` less those whose `_seq` is null or one of `seqs`.
fn without_seqs(
    ctx: &SessionContext,
    rows: datafusion::prelude::DataFrame,
    seqs: &[i64],
) -> Result<datafusion::prelude::DataFrame> {
    let rows = rows.filter(col("_seq").is_not_null())?;
    if seqs.is_empty() {
        return Ok(rows);
    }
    Ok(rows.join(
        seq_list(ctx, seqs)?,
        JoinType::LeftAnti,
        &["_seq"],
        &[EXCLUDED_SEQ],
        None,
    )?)
}

/// [`admitted_table`] with each row's batch date as a last column, `batch_date`
/// (Date32), as a Hive-partitioned listing would give it: what `stride query`
/// offers as `raw.<table>`.
pub fn admitted_table_with_batch_date(
    ctx: &SessionContext,
    lake: &Lake,
    table: &SourceTable,
    files: &[LandedFile],
    set_aside: &SetAside,
) -> Result<Arc<dyn TableProvider>> {
    let mut by_date: BTreeMap<chrono::NaiveDate, Vec<LandedFile>> = BTreeMap::new();
    for file in files {
        by_date
            .entry(file.batch_date)
            .or_default()
            .push(file.clone());
    }
    let epoch = chrono::DateTime::UNIX_EPOCH.date_naive();
    let mut frames = by_date.into_iter().map(|(date, files)| {
        let days = (date - epoch).num_days() as i32;
        ctx.read_table(admitted_table(ctx, lake, table, &files, set_aside)?)?
            .with_column(
                PARTITION_COLUMN,
                lit(datafusion::common::ScalarValue::Date32(Some(days))),
            )
            .map_err(crate::error::Error::from)
    });
    let Some(first) = frames.next() else {
        let mut fields: Vec<Field> = table
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new(PARTITION_COLUMN, DataType::Date32, false));
        return Ok(Arc::new(MemTable::try_new(
            Arc::new(Schema::new(fields)),
            vec![vec![]],
        )?));
    };
    let mut all = first?;
    for frame in frames {
        all = all.union(frame?)?;
    }
    Ok(all.into_view())
}

/// A table over exactly `files` of the raw table `table` (an empty table when there
/// are none).
pub fn files_table(
    lake: &Lake,
    table: &SourceTable,
    files: &[LandedFile],
) -> Result<Arc<dyn TableProvider>> {
    if files.is_empty() {
        return Ok(Arc::new(MemTable::try_new(table.schema(), vec![vec![]])?));
    }
    let urls = files
        .iter()
        .map(|f| ListingTableUrl::parse(lake.object_url(&f.path)))
        .collect::<datafusion::error::Result<Vec<_>>>()?;
    let options =
        ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(options)
        .with_schema(table.schema());
    Ok(Arc::new(ListingTable::try_new(config)?))
}

/// What one loaded file gives models, against what its ledger entry says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LoadedCount {
    /// The file's ledger key (`batch_date=…/x.parquet`).
    pub file: String,
    /// Rows its ledger entry says are loaded.
    pub ledger: u64,
    /// Rows models read of it.
    pub read: u64,
}

/// For each of `files` that `ledger` loads, the rows its entry says are loaded and
/// the rows models read of it (each file read alone through [`admitted_table`]):
/// the two are equal in a sound lake.
pub async fn loaded_per_file(
    ctx: &SessionContext,
    lake: &Lake,
    table: &SourceTable,
    files: &[LandedFile],
    ledger: &Ledger,
) -> Result<Vec<LoadedCount>> {
    let set_aside = ledger.set_aside();
    let mut counts = Vec::new();
    for file in loaded_files(lake, files, ledger) {
        let key = file_key(lake, &file);
        let ledger_rows = ledger.files.get(&key).map_or(0, |e| e.rows_loaded);
        let provider = admitted_table(ctx, lake, table, std::slice::from_ref(&file), &set_aside)?;
        let read = ctx.read_table(provider)?.count().await? as u64;
        counts.push(LoadedCount {
            file: key,
            ledger: ledger_rows,
            read,
        });
    }
    Ok(counts)
}
