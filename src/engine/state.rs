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
    let Some((version, entry)) = delta::stride_commit_before(table, latest).await? else {
        return Ok(None);
    };
    Ok(serde_json::from_value::<ModelState>(entry)
        .ok()
        .map(|state| LastCommit { version, state }))
}

/// The records of stride's data commits to `table` after version `after`, up to
/// the loaded version, oldest first.
pub async fn commits_after(table: &DeltaTable, after: u64) -> Result<Vec<(u64, ModelState)>> {
    let latest = delta::version_of(table);
    let mut found = Vec::new();
    let mut version = latest;
    while version > after {
        match delta::stride_commit_before(table, version).await? {
            Some((v, entry)) if v > after => {
                if let Ok(state) = serde_json::from_value::<ModelState>(entry) {
                    found.push((v, state));
                }
                let Some(previous) = v.checked_sub(1) else {
                    break;
                };
                version = previous;
            }
            _ => break,
        }
    }
    found.reverse();
    Ok(found)
}
