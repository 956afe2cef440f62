//! What each committed version of a model consumed, stored in the same Delta commit
//! as its data (`commitInfo.stride`), so the record can never disagree with the
//! table: the raw files it has read, the version of every model it read, the
//! batches that reached it, and whether it was a full rebuild.

use std::collections::{BTreeMap, BTreeSet};

use deltalake::DeltaTable;
use serde::{Deserialize, Serialize};

use crate::delta;
use crate::error::Result;

/// stride's record in one commit.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ModelState {
    /// The model.
    pub model: String,
    /// `table` or `incremental`.
    pub materialization: String,
    /// `full` (rebuilt from all input) or `incremental` (applied what changed).
    pub refresh: String,
    /// The fingerprint of the model's SQL when it ran.
    pub fingerprint: String,
    /// The stride release that wrote it.
    pub stride_version: String,
    /// Per raw table it reads, every file consumed so far (relative to
    /// `raw/<table>/`).
    pub sources: BTreeMap<String, BTreeSet<String>>,
    /// Per stored model it reads, the version consumed.
    pub refs: BTreeMap<String, u64>,
    /// The batch dates whose data first reached this model in this version.
    pub batches: BTreeSet<String>,
    /// Per raw table it reads, the generation of its ledger it has seen (replays
    /// plus revisions, [`crate::quarantine::Ledger::generation`]): a change since
    /// means a rebuild, to load what the ledger loads now.
    #[serde(default)]
    pub replays: BTreeMap<String, u64>,
    /// The run that made the commit (its record is `_stride/runs/<run_id>.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
}

impl ModelState {
    /// The value stored in `commitInfo`.
    pub fn to_json(&self) -> Result<serde_json::Value> {
        Ok(serde_json::to_value(self)?)
    }
}

/// The last data commit stride made to a table, with its record.
#[derive(Debug, Clone)]
pub struct LastCommit {
    /// Its version.
    pub version: u64,
    /// What it consumed.
    pub state: ModelState,
}

/// The newest commit stride made with data to `table` (maintenance commits are
/// skipped), or `None` when there is none or its record cannot be read (then the
/// model is rebuilt in full).
pub async fn last_commit(table: &DeltaTable) -> Result<Option<LastCommit>> {
    let latest = delta::version_of(table);
    let Some((version, entry)) = delta::stride_commit_before(table, latest, 0).await? else {
        return Ok(None);
    };
    Ok(serde_json::from_value::<ModelState>(entry)
        .ok()
        .map(|state| LastCommit { version, state }))
}

/// The records of stride's data commits to `table` after version `after`, up to
/// the loaded version, oldest first. `newest`, the table's last data commit when
/// the caller holds it already, is not read again: the walk down the log starts
/// below it and stops at `after`.
pub async fn commits_after(
    table: &DeltaTable,
    after: u64,
    newest: Option<&LastCommit>,
) -> Result<Vec<(u64, ModelState)>> {
    let mut found = Vec::new();
    let mut version = Some(delta::version_of(table));
    if let Some(newest) = newest.filter(|n| n.version > after) {
        found.push((newest.version, newest.state.clone()));
        version = newest.version.checked_sub(1);
    }
    while let Some(below) = version.filter(|v| *v > after) {
        let Some((v, entry)) = delta::stride_commit_before(table, below, after + 1).await? else {
            break;
        };
        if let Ok(state) = serde_json::from_value::<ModelState>(entry) {
            found.push((v, state));
        }
        version = v.checked_sub(1);
    }
    found.reverse();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::Lake;

    fn record(n: u64) -> ModelState {
        ModelState {
            model: "m".to_string(),
            fingerprint: format!("run {n}"),
            ..ModelState::default()
        }
    }

    /// Data commits and maintenance commits (no model in stride's entry) mixed;
    /// for every `after`, the records after it, read with and without the newest
    /// one in hand, against the list the test kept of what it committed.
    #[tokio::test]
    async fn commits_after_reads_the_same_records_with_or_without_the_newest_in_hand() {
        let dir = tempfile::tempdir().expect("temp dir");
        let location = dir.path().to_str().expect("utf-8 path");
        let lake = Lake::open(location, &Default::default()).expect("lake");
        let ctx = crate::engine::new_session();
        let frame = ctx.sql("select 1 as id").await.expect("frame");
        let (mut table, first) = delta::overwrite(
            &lake,
            "m",
            frame,
            &ctx.state(),
            record(0).to_json().unwrap(),
            false,
        )
        .await
        .expect("first commit");
        let mut data = vec![(first.version, record(0))];
        for n in 1..=7 {
            let (info, is_data) = match n % 3 {
                0 => (serde_json::json!({ "maintenance": n }), false),
                _ => (record(n).to_json().unwrap(), true),
            };
            let (next, committed) = delta::record_only(table, "m", info).await.expect("commit");
            table = next;
            if is_data {
                data.push((committed.version, record(n)));
            }
        }
        // A maintenance commit last, so the newest data commit is below the table's version.
        table = delta::record_only(table, "m", serde_json::json!({ "maintenance": "last" }))
            .await
            .expect("commit")
            .0;
        let newest = last_commit(&table)
            .await
            .expect("read")
            .expect("a data commit");
        let (last_version, last_record) = data.last().cloned().expect("data");
        assert_eq!(
            (newest.version, &newest.state),
            (last_version, &last_record)
        );
        for after in 0..=delta::version_of(&table) {
            let expected: Vec<(u64, ModelState)> =
                data.iter().filter(|(v, _)| *v > after).cloned().collect();
            let walked = commits_after(&table, after, None).await.expect("walk");
            let known = commits_after(&table, after, Some(&newest))
                .await
                .expect("walk");
            assert_eq!(walked, expected, "after {after}, walking the whole log");
            assert_eq!(known, expected, "after {after}, with the newest in hand");
        }
    }
}
