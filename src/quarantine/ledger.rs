//! The ledger of one raw table (`quarantine/<table>/_ledger.json`): every landed
//! file checked so far, what was loaded from it and what was quarantined. A file is
//! checked once; every later run, incremental or full, loads exactly what the
//! ledger says, so a contract change or a late product never makes two runs
//! disagree. The ledger is written in one put after the quarantine files it names,
//! so it is the commit point of a check.

use std::collections::{BTreeMap, BTreeSet};

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
    /// How many times what loaded files load changed without a replay: a file that
    /// delivered rows first went from `raw/`, so a copy of them elsewhere is loaded
    /// instead, or an entry of an earlier stride was checked again. Read with
    /// `replays` (see [`Ledger::generation`]).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub revisions: u64,
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
    /// The `_seq` of each row skipped because another file loads that `_seq` (a
    /// redelivery): models leave these out of this file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redelivered_seqs: Vec<i64>,
    /// The same rows by the file that loads them (ledger key → `_seq`s): when that
    /// file goes from `raw/`, the copy here is loaded instead.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub redelivered_from: BTreeMap<String, Vec<i64>>,
    /// The `_seq` of each further identical copy of a row this file loads itself
    /// (a change written twice into one file): models read one copy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repeated_seqs: Vec<i64>,
    /// The smallest and greatest `_seq` of the rows loaded from this file (none
    /// when nothing is loaded): tells a late or repeated delivery without reading
    /// the files again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq_range: Option<(i64, i64)>,
    /// When it was checked (RFC 3339).
    pub checked_at: String,
    /// When a run found it gone from `raw/` (RFC 3339), or replaced by a file of
    /// another size: nothing of it is loaded any more, and a file under its name is
    /// checked anew.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gone: Option<String>,
    /// Its size in bytes when it was checked (a file of another size under its
    /// name is another file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl FileEntry {
    /// Whether models read this file at all: not refused, not gone.
    pub fn is_loaded(&self) -> bool {
        self.refused.is_none() && self.gone.is_none()
    }

    /// Whether an earlier stride wrote this entry's redeliveries, without the file
    /// each came from (it also counted a change written twice into one file as
    /// redelivered, which left both copies out).
    fn has_redeliveries_without_origin(&self) -> bool {
        !self.redelivered_seqs.is_empty() && self.redelivered_from.is_empty()
    }

    /// Loads its copy of `seq`, which another file loaded until now: the first
    /// copy is loaded, any further copy is a repeat within this file.
    fn load_instead(&mut self, seq: i64) {
        let copies = self.redelivered_seqs.iter().filter(|&&s| s == seq).count() as u64;
        if copies == 0 {
            return;
        }
        self.redelivered_seqs.retain(|&s| s != seq);
        for seqs in self.redelivered_from.values_mut() {
            seqs.retain(|&s| s != seq);
        }
        self.redelivered_from.retain(|_, seqs| !seqs.is_empty());
        self.repeated_seqs
            .extend(std::iter::repeat_n(seq, (copies - 1) as usize));
        self.rows_loaded += 1;
        self.rows_redelivered -= 1;
        self.seq_range = Some(match self.seq_range {
            Some((low, high)) => (low.min(seq), high.max(seq)),
            None => (seq, seq),
        });
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
    /// The files of `landed` that no run has checked yet (not in this ledger, or
    /// landed again after they were found gone).
    pub fn unchecked<'s, 'f: 's>(
        &'s self,
        lake: &'s Lake,
        landed: &'f [LandedFile],
    ) -> impl Iterator<Item = &'f LandedFile> + 's {
        landed.iter().filter(move |f| {
            self.files
                .get(&file_key(lake, f))
                .is_none_or(|e| e.gone.is_some())
        })
    }

    /// What readers compare to tell whether the ledger's decisions changed since
    /// they read it: replays plus revisions.
    pub fn generation(&self) -> u64 {
        self.replays + self.revisions
    }

    /// Brings the ledger in line with the files `present` in `raw/` (ledger key →
    /// size): a file no longer there, or there with another size than when it was
    /// checked (replaced), is marked gone, and each row it loaded that a present
    /// file holds a copy of is loaded from the first such file instead (nothing a
    /// copy still delivers vanishes); a replaced file is then checked anew. Entries
    /// of an earlier stride that kept redeliveries without their origin are
    /// dropped, so their files are checked again. True when the ledger changed.
    pub fn reconcile(&mut self, present: &BTreeMap<String, u64>, now: &str) -> bool {
        let gone: Vec<String> = self
            .files
            .iter()
            .filter(|(key, e)| {
                e.gone.is_none()
                    && match present.get(key.as_str()) {
                        None => true,
                        Some(size) => e.size.is_some_and(|checked| checked != *size),
                    }
            })
            .map(|(key, _)| key.clone())
            .collect();
        let replaced = gone.iter().any(|key| present.contains_key(key.as_str()));
        let outdated: Vec<String> = self
            .files
            .iter()
            .filter(|(key, e)| {
                e.is_loaded()
                    && present.contains_key(key.as_str())
                    && e.has_redeliveries_without_origin()
            })
            .map(|(key, _)| key.clone())
            .collect();
        if gone.is_empty() && outdated.is_empty() {
            return false;
        }
        // A replaced file is read again by models that read it under its name.
        let mut loads_changed = !outdated.is_empty() || replaced;
        for key in &outdated {
            tracing::info!(
                "raw.{} {key}: checked again (its ledger entry predates the origin of redeliveries)",
                self.table
            );
            self.files.remove(key);
        }
        for key in &gone {
            let Some(entry) = self.files.get_mut(key) else {
                continue;
            };
            entry.gone = Some(now.to_string());
            let not_loaded: BTreeSet<i64> = entry.quarantined_seqs.iter().copied().collect();
            // Per `_seq` the gone file loaded, the present files holding a copy, in
            // key order (the order files are checked in).
            let mut copies: BTreeMap<i64, Vec<String>> = BTreeMap::new();
            for (other, e) in self.files.iter().filter(|(_, e)| e.is_loaded()) {
                for &seq in e.redelivered_from.get(key).into_iter().flatten() {
                    if !not_loaded.contains(&seq) {
                        copies.entry(seq).or_default().push(other.clone());
                    }
                }
            }
            for (seq, holders) in copies {
                let Some((first, rest)) = holders.split_first() else {
                    continue;
                };
                if let Some(e) = self.files.get_mut(first) {
                    e.load_instead(seq);
                }
                for other in rest {
                    if let Some(e) = self.files.get_mut(other) {
                        if let Some(seqs) = e.redelivered_from.get_mut(key) {
                            seqs.retain(|&s| s != seq);
                        }
                        e.redelivered_from.retain(|_, seqs| !seqs.is_empty());
                        e.redelivered_from
                            .entry(first.clone())
                            .or_default()
                            .push(seq);
                    }
                }
                loads_changed = true;
            }
            if present.contains_key(key.as_str()) {
                tracing::warn!(
                    "raw.{} {key}: replaced by a file of another size since it was checked; \
                     checked anew",
                    self.table
                );
            } else {
                tracing::info!("raw.{} {key}: gone from raw/, no longer loaded", self.table);
            }
        }
        if loads_changed {
            self.revisions += 1;
        }
        true
    }

    /// The rows models leave out (quarantined or redelivered), by `_seq`, and the
    /// repeats they read once: from
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
        for (key, entry) in self.files.iter().filter(|(_, e)| e.is_loaded()) {
            if !entry.repeated_seqs.is_empty() {
                let mut seqs = entry.repeated_seqs.clone();
                seqs.sort_unstable();
                seqs.dedup();
                set_aside.repeated.insert(key.clone(), seqs);
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
    /// Per file, the `_seq`s it holds several identical copies of: one is read.
    pub repeated: BTreeMap<String, Vec<i64>>,
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

    fn loaded(rows: u64, range: (i64, i64)) -> FileEntry {
        FileEntry {
            rows_read: rows,
            rows_loaded: rows,
            seq_range: Some(range),
            ..FileEntry::default()
        }
    }

    /// A file that holds, besides what it loads, copies of `seqs` that `origin`
    /// loads (`copies` of each).
    fn with_copies(mut entry: FileEntry, origin: &str, seqs: &[i64], copies: usize) -> FileEntry {
        for &seq in seqs {
            entry
                .redelivered_seqs
                .extend(std::iter::repeat_n(seq, copies));
            entry.rows_read += copies as u64;
            entry.rows_redelivered += copies as u64;
        }
        entry
            .redelivered_from
            .insert(origin.to_string(), seqs.to_vec());
        entry
    }

    fn present(keys: &[&str]) -> BTreeMap<String, u64> {
        keys.iter().map(|k| (k.to_string(), 100)).collect()
    }

    #[test]
    fn a_gone_file_loads_nothing_and_its_copies_elsewhere_load_instead() {
        let mut ledger = Ledger::default();
        // a loads _seq 1..=3 (2 was quarantined there); b holds copies of 1 and 2
        // (two of 1), c holds a copy of 1.
        let mut a = loaded(2, (1, 3));
        a.quarantined_seqs = vec![2];
        ledger.files.insert("a".into(), a);
        ledger.files.insert(
            "b".into(),
            with_copies(loaded(1, (10, 10)), "a", &[1, 2], 1),
        );
        let b = ledger.files.get_mut("b").expect("b");
        b.redelivered_seqs.push(1);
        b.rows_read += 1;
        b.rows_redelivered += 1;
        ledger
            .files
            .insert("c".into(), with_copies(loaded(1, (20, 20)), "a", &[1], 1));

        assert!(
            !ledger.reconcile(&present(&["a", "b", "c"]), "now"),
            "nothing gone"
        );
        assert!(ledger.reconcile(&present(&["b", "c"]), "now"));
        assert_eq!(ledger.revisions, 1);
        let a = &ledger.files["a"];
        assert!(!a.is_loaded() && a.gone.as_deref() == Some("now"));
        // b, first in file order, loads _seq 1 (one copy; the other is a repeat);
        // the copy of 2 stays redelivered: a never loaded it.
        let b = &ledger.files["b"];
        assert_eq!(b.rows_loaded, 2);
        assert_eq!(b.repeated_seqs, vec![1]);
        assert_eq!(b.redelivered_seqs, vec![2]);
        assert_eq!(
            b.rows_read,
            b.rows_loaded + b.rows_quarantined + b.rows_redelivered
        );
        assert_eq!(b.seq_range, Some((1, 10)));
        // c's copy is now one of b's.
        let c = &ledger.files["c"];
        assert_eq!(
            c.redelivered_from,
            BTreeMap::from([("b".to_string(), vec![1])])
        );
        assert_eq!(c.rows_loaded, 1);
        // Once gone, always: a second look changes nothing.
        assert!(!ledger.reconcile(&present(&["b", "c"]), "later"));
    }

    #[test]
    fn a_file_of_another_size_under_a_checked_name_is_another_file() {
        let mut ledger = Ledger::default();
        let mut a = loaded(2, (1, 2));
        a.size = Some(100);
        ledger.files.insert("a".into(), a);
        assert!(!ledger.reconcile(&present(&["a"]), "now"), "the same size");
        let resized = BTreeMap::from([("a".to_string(), 120)]);
        assert!(ledger.reconcile(&resized, "now"));
        assert!(ledger.files["a"].gone.is_some());
        assert_eq!(ledger.revisions, 1, "models that read it read it again");
    }

    #[test]
    fn entries_with_redeliveries_of_unknown_origin_are_checked_again() {
        let mut ledger = Ledger::default();
        let mut old = loaded(1, (1, 1));
        old.redelivered_seqs = vec![1];
        old.rows_read = 2;
        old.rows_redelivered = 1;
        ledger.files.insert("old".into(), old);
        ledger.files.insert("fine".into(), loaded(3, (2, 4)));
        assert!(ledger.reconcile(&present(&["old", "fine"]), "now"));
        assert!(
            !ledger.files.contains_key("old"),
            "checked again as a new file"
        );
        assert!(ledger.files.contains_key("fine"));
        assert_eq!(ledger.revisions, 1);
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
