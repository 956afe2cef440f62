//! The ledger of one raw table (`quarantine/<table>/_ledger.json`): every landed
//! file checked so far, what was loaded from it and what was quarantined. A file is
//! checked once; every later run, incremental or full, loads exactly what the
//! ledger says, so a contract change or a late product never makes two runs
//! disagree. The ledger is written in one put after the quarantine files it names,
//! so it is the commit point of a check.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::lake::{Lake, QUARANTINE, RAW};
use crate::land::LandedFile;

/// What stride decided about each landed file of one raw table.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Ledger {
    /// The raw table.
    pub table: String,
    /// How many replays released rows or files; a staging model that read the
    /// table before a replay is rebuilt.
    #[serde(default)]
    pub replays: u64,
    /// Per file (relative to `raw/<table>/`), the decision.
    pub files: BTreeMap<String, FileEntry>,
}

/// The decision about one landed file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct FileEntry {
    /// Its `batch_date` partition (YYYY-MM-DD).
    pub batch_date: String,
    /// Rows in the file (0 when it could not be read).
    pub rows_read: u64,
    /// Rows models read.
    pub rows_loaded: u64,
    /// Rows set aside: in the quarantine file, or all of them when the file is refused.
    pub rows_quarantined: u64,
    /// Rows skipped because an identical row with the same `_seq` was already
    /// loaded (a redelivery): rows read = loaded + quarantined + redelivered.
    #[serde(default)]
    pub rows_redelivered: u64,
    /// Why the whole file was refused (never loaded at all), when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    /// A copy of a refused file, relative to the lake root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused_copy: Option<String>,
    /// The Parquet file of its quarantined rows, relative to the lake root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows_file: Option<String>,
    /// Quarantined rows per rule.
    #[serde(default)]
    pub rules: BTreeMap<String, u64>,
    /// Rows of `warn` rules, loaded but reported.
    #[serde(default)]
    pub warnings: BTreeMap<String, u64>,
    /// The `_seq` of each quarantined row that has one: models leave these out.
    #[serde(default)]
    pub quarantined_seqs: Vec<i64>,
    /// The `_seq` of each redelivered row: models leave these out of this file (the
    /// row is read from the file that delivered it first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redelivered_seqs: Vec<i64>,
    /// The smallest and greatest `_seq` of the rows loaded from this file (none
    /// when nothing is loaded): tells a late or repeated delivery without reading
    /// the files again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq_range: Option<(i64, i64)>,
    /// When it was checked (RFC 3339).
    pub checked_at: String,
}

impl FileEntry {
    /// Whether models read this file at all.
    pub fn is_loaded(&self) -> bool {
        self.refused.is_none()
    }
}

/// A file's name relative to its table folder (`batch_date=…/x.parquet`), the key
/// of the ledger and of the models' records.
pub fn file_key(lake: &Lake, file: &LandedFile) -> String {
    let relative = lake.relative(&file.path);
    let prefix = format!("{RAW}/{}/", file.table);
    relative
        .strip_prefix(&prefix)
        .map(str::to_string)
        .unwrap_or(relative)
}

/// The ledger's place, relative to the lake root.
pub fn ledger_path(table: &str) -> String {
    format!("{QUARANTINE}/{table}/_ledger.json")
}

/// Reads the ledger of `table` (empty when nothing was checked yet).
pub async fn read_ledger(lake: &Lake, table: &str) -> Result<Ledger> {
    let path = ledger_path(table);
    match lake.get(&path).await? {
        None => Ok(Ledger {
            table: table.to_string(),
            ..Ledger::default()
        }),
        Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::RawFile {
            file: lake.object_url(&lake.path(&path)),
            problem: format!("the quarantine ledger cannot be read ({e})"),
        }),
    }
}

/// Writes the ledger of its table in one put.
pub async fn write_ledger(lake: &Lake, ledger: &Ledger) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(ledger)?;
    lake.put(&ledger_path(&ledger.table), bytes).await
}

impl Ledger {
    /// Per loaded file with rows models must leave out (quarantined or
    /// redelivered), their `_seq`s, sorted.
    pub fn excluded_seqs(&self) -> BTreeMap<String, Vec<i64>> {
        self.files
            .iter()
            .filter(|(_, e)| e.is_loaded())
            .filter_map(|(key, e)| {
                let mut seqs: Vec<i64> = e
                    .quarantined_seqs
                    .iter()
                    .chain(&e.redelivered_seqs)
                    .copied()
                    .collect();
                seqs.sort_unstable();
                seqs.dedup();
                (!seqs.is_empty()).then(|| (key.clone(), seqs))
            })
            .collect()
    }

    /// The `_seq` range loaded from the file `key`, when it is known.
    pub fn seq_range(&self, key: &str) -> Option<(i64, i64)> {
        self.files
            .get(key)
            .filter(|e| e.is_loaded())
            .and_then(|e| e.seq_range)
    }
}

/// The files of `landed` that `ledger` loads: checked and not refused.
pub fn loaded_files(lake: &Lake, landed: &[LandedFile], ledger: &Ledger) -> Vec<LandedFile> {
    landed
        .iter()
        .filter(|f| {
            ledger
                .files
                .get(&file_key(lake, f))
                .is_some_and(FileEntry::is_loaded)
        })
        .cloned()
        .collect()
}
