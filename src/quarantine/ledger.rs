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
    /// The files of `landed` that no run has checked yet (not in this ledger).
    pub fn unchecked<'s, 'f: 's>(
        &'s self,
        lake: &'s Lake,
        landed: &'f [LandedFile],
    ) -> impl Iterator<Item = &'f LandedFile> + 's {
        landed
            .iter()
            .filter(move |f| !self.files.contains_key(&file_key(lake, f)))
    }

    /// The rows models leave out (quarantined or redelivered), by `_seq`: from
    /// every file at once where no other loaded file's `_seq` range holds the
    /// `_seq` (the usual case, one anti-join), per file otherwise (a redelivered
    /// `_seq` is loaded from the file that brought it first).
    pub fn set_aside(&self) -> SetAside {
        let ranges: Vec<(&str, (i64, i64))> = self
            .files
            .iter()
            .filter(|(_, e)| e.is_loaded())
            .filter_map(|(key, e)| Some((key.as_str(), e.seq_range?)))
            .collect();
        let mut set_aside = SetAside::default();
        for (key, entry) in self.files.iter().filter(|(_, e)| e.is_loaded()) {
            let mut seqs: Vec<i64> = entry
                .quarantined_seqs
                .iter()
                .chain(&entry.redelivered_seqs)
                .copied()
                .collect();
            if seqs.is_empty() {
                continue;
            }
            seqs.sort_unstable();
            seqs.dedup();
            let elsewhere = !entry.redelivered_seqs.is_empty()
                || seqs.iter().any(|s| {
                    ranges
                        .iter()
                        .any(|(other, (low, high))| other != key && low <= s && s <= high)
                });
            if elsewhere {
                set_aside.per_file.insert(key.clone(), seqs);
            } else {
                set_aside.everywhere.extend(seqs);
            }
        }
        set_aside.everywhere.sort_unstable();
        set_aside.everywhere.dedup();
        set_aside
    }

    /// The `_seq` range loaded from the file `key`, when it is known.
    pub fn seq_range(&self, key: &str) -> Option<(i64, i64)> {
        self.files
            .get(key)
            .filter(|e| e.is_loaded())
            .and_then(|e| e.seq_range)
    }
}

/// The `_seq`s of rows models leave out (see [`Ledger::set_aside`]).
#[derive(Debug, Clone, Default)]
pub struct SetAside {
    /// Left out of every file: no other loaded file holds them.
    pub everywhere: Vec<i64>,
    /// Per file (ledger key), left out of that file only.
    pub per_file: BTreeMap<String, Vec<i64>>,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(range: (i64, i64), quarantined: &[i64], redelivered: &[i64]) -> FileEntry {
        FileEntry {
            seq_range: Some(range),
            quarantined_seqs: quarantined.to_vec(),
            redelivered_seqs: redelivered.to_vec(),
            ..FileEntry::default()
        }
    }

    #[test]
    fn rows_are_set_aside_from_every_file_unless_another_file_holds_their_seq() {
        let mut ledger = Ledger::default();
        ledger.files.insert("a".into(), entry((1, 10), &[5], &[]));
        // A copy of part of a: its _seqs are loaded from a.
        ledger.files.insert("b".into(), entry((11, 20), &[], &[3]));
        // A quarantined _seq inside b's range: b may load it, so only c leaves it out.
        ledger.files.insert("c".into(), entry((21, 30), &[15], &[]));
        let set_aside = ledger.set_aside();
        assert_eq!(set_aside.everywhere, vec![5]);
        assert_eq!(
            set_aside.per_file,
            BTreeMap::from([("b".to_string(), vec![3]), ("c".to_string(), vec![15])])
        );
    }
}
