//! Source admission: each landed raw file is checked once, before any model reads
//! it, against its table's contract. A file that cannot be read as the contract
//! says is refused whole; rows breaking an `error` rule are quarantined under
//! `quarantine/<table>/rows/` with the rule, the reason, the file and the batch;
//! everything else is loaded. A per-table ledger records each decision, so the rows
//! in = loaded + quarantined for every file, and every later run (incremental or
//! full) reads exactly the same rows.

mod admit;
mod file;
mod ledger;
mod redelivery;
mod replay;
mod rows;
mod view;

pub use admit::{
    Admitted, BATCH_DATE_COLUMN, FILE_COLUMN, REASON_COLUMN, RULE_COLUMN, TableCheck, admit,
    quarantine_schema,
};
pub use ledger::{FileEntry, Ledger, SetAside, file_key, ledger_path, loaded_files, read_ledger};
pub use redelivery::{SEQ_ALREADY_LOADED, SEQ_CONFLICTING_COPIES};
pub use replay::{Replayed, replay};
pub use view::{
    LoadedCount, admitted_table, admitted_table_with_batch_date, files_table, loaded_per_file,
    register_loaded, sources_session,
};

use crate::error::Result;
use crate::lake::Lake;
use crate::sources::Sources;

/// The ledgers of every raw table of `sources` (or of `only`), by table name.
pub async fn ledgers(lake: &Lake, sources: &Sources, only: Option<&str>) -> Result<Vec<Ledger>> {
    let mut all = Vec::new();
    for table in sources {
        if only.is_none_or(|t| t == table.name) {
            all.push(read_ledger(lake, &table.name).await?);
        }
    }
    Ok(all)
}

/// The stray files of every raw table's folder (or of `only`'s), and, for all
/// tables, those outside every table's folder.
pub async fn strays(
    lake: &Lake,
    sources: &Sources,
    only: Option<&str>,
) -> Result<Vec<crate::land::Stray>> {
    let mut found = Vec::new();
    if only.is_none() {
        found.extend(crate::land::strays_outside_tables(lake, sources).await?);
    }
    for table in sources {
        if only.is_none_or(|t| t == table.name) {
            found.extend(crate::land::inventory(lake, table).await?.strays);
        }
    }
    Ok(found)
}

/// The ledgers as rows for `stride quarantine list`: one per file with quarantined
/// or redelivered rows or refused whole (every checked file with `all`), then one
/// per stray file (its path from the lake root; nothing read from it).
pub fn list_batch(
    ledgers: &[Ledger],
    strays: &[crate::land::Stray],
    all: bool,
) -> Result<arrow::record_batch::RecordBatch> {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, StringArray, UInt64Array};
    use arrow::datatypes::{DataType, Field, Schema};

    let rows: Vec<(&str, &String, &FileEntry)> = ledgers
        .iter()
        .flat_map(|l| {
            l.files
                .iter()
                .map(move |(key, e)| (l.table.as_str(), key, e))
        })
        .filter(|(_, _, e)| {
            all || e.rows_quarantined > 0 || e.rows_redelivered > 0 || !e.is_loaded()
        })
        .collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("table", DataType::Utf8, false),
        Field::new("file", DataType::Utf8, false),
        Field::new("rows_read", DataType::UInt64, false),
        Field::new("rows_loaded", DataType::UInt64, false),
        Field::new("rows_quarantined", DataType::UInt64, false),
        Field::new("rows_redelivered", DataType::UInt64, false),
        Field::new("reason", DataType::Utf8, false),
    ]));
    let text_and_strays = |entry: &dyn Fn(&(&str, &String, &FileEntry)) -> String,
                           stray: &dyn Fn(&crate::land::Stray) -> String|
     -> ArrayRef {
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(entry).chain(strays.iter().map(stray)),
        ))
    };
    let count_and_zeros = |f: &dyn Fn(&FileEntry) -> u64| -> ArrayRef {
        Arc::new(UInt64Array::from_iter_values(
            rows.iter()
                .map(|(_, _, e)| f(e))
                .chain(std::iter::repeat_n(0, strays.len())),
        ))
    };
    let columns: Vec<ArrayRef> = vec![
        text_and_strays(&|(t, _, _)| t.to_string(), &|s| {
            s.table.clone().unwrap_or_else(|| "-".into())
        }),
        text_and_strays(&|(_, k, _)| k.to_string(), &|s| s.path.clone()),
        count_and_zeros(&|e| e.rows_read),
        count_and_zeros(&|e| e.rows_loaded),
        count_and_zeros(&|e| e.rows_quarantined),
        count_and_zeros(&|e| e.rows_redelivered),
        text_and_strays(
            &|(_, _, e)| match (&e.refused, &e.gone) {
                (Some(reason), _) => format!("file refused: {reason}"),
                (None, Some(since)) => {
                    format!("gone from raw/ since {since}: nothing of it is loaded")
                }
                (None, None) => e
                    .rules
                    .iter()
                    .map(|(rule, n)| format!("{rule}: {n}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            },
            &|s| format!("stray file, not read: {}", s.reason),
        ),
    ];
    Ok(arrow::record_batch::RecordBatch::try_new(schema, columns)?)
}

/// Per raw table: files checked, files refused whole, rows read, loaded and
/// quarantined, and the rules that quarantined them.
pub fn summary_batch(ledgers: &[Ledger]) -> Result<arrow::record_batch::RecordBatch> {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use arrow::array::{ArrayRef, StringArray, UInt64Array};
    use arrow::datatypes::{DataType, Field, Schema};

    let sum = |l: &Ledger, f: &dyn Fn(&FileEntry) -> u64| -> u64 { l.files.values().map(f).sum() };
    let count = |f: &dyn Fn(&Ledger) -> u64| -> ArrayRef {
        Arc::new(UInt64Array::from_iter_values(ledgers.iter().map(f)))
    };
    let rules = ledgers.iter().map(|l| {
        let mut rules: BTreeMap<&str, u64> = BTreeMap::new();
        for entry in l.files.values() {
            for (rule, n) in &entry.rules {
                *rules.entry(rule.as_str()).or_default() += n;
            }
        }
        rules
            .iter()
            .map(|(rule, n)| format!("{rule} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    });
    let schema = Arc::new(Schema::new(vec![
        Field::new("table", DataType::Utf8, false),
        Field::new("files", DataType::UInt64, false),
        Field::new("files_refused", DataType::UInt64, false),
        Field::new("rows_read", DataType::UInt64, false),
        Field::new("rows_loaded", DataType::UInt64, false),
        Field::new("rows_quarantined", DataType::UInt64, false),
        Field::new("rows_redelivered", DataType::UInt64, false),
        Field::new("rules", DataType::Utf8, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            ledgers.iter().map(|l| format!("raw.{}", l.table)),
        )),
        count(&|l| l.files.len() as u64),
        count(&|l| l.files.values().filter(|e| e.refused.is_some()).count() as u64),
        count(&|l| sum(l, &|e| e.rows_read)),
        count(&|l| sum(l, &|e| e.rows_loaded)),
        count(&|l| sum(l, &|e| e.rows_quarantined)),
        count(&|l| sum(l, &|e| e.rows_redelivered)),
        Arc::new(StringArray::from_iter_values(rules)),
    ];
    Ok(arrow::record_batch::RecordBatch::try_new(schema, columns)?)
}
