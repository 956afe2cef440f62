//! Reading a table's commit log: stride's record in each commit, and what each
//! version added and removed, for `stride history` and for finding what a model has
//! consumed.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use deltalake::DeltaTable;

use super::COMMIT_INFO_KEY;
use crate::error::{Error, Result};

/// One version of a table, as its commit recorded it.
#[derive(Debug, Clone)]
pub struct CommitRecord {
    /// The Delta version.
    pub version: u64,
    /// Commit time, milliseconds since the epoch.
    pub timestamp_ms: Option<i64>,
    /// The Delta operation (`WRITE`, `MERGE`, `OPTIMIZE`, ...).
    pub operation: String,
    /// Rows in the table after this version (from file statistics).
    pub rows_total: Option<u64>,
    /// Rows this version added, by the operation's own metrics.
    pub rows_added: Option<u64>,
    /// Rows this version removed (the change in the total, net of those added).
    pub rows_removed: Option<u64>,
    /// stride's entry in `commitInfo`, when stride wrote the commit.
    pub stride: Option<serde_json::Value>,
    /// Whether the commit changed data (compaction and clean-up do not).
    pub data_change: bool,
}

/// The latest version of `table` (up to its loaded one) committed at or before
/// `time_ms`, by the commit's own time (`commitInfo.timestamp`, what `history`
/// shows); `None` when its first version came later. File modification times are
/// not used: a copied, restored or synced lake keeps its commits' times, not its
/// files'. Commit times grow with versions (one writer at a time holds the lake),
/// so a binary search reads a handful of commits.
pub async fn version_at(table: &DeltaTable, time_ms: i64) -> Result<Option<u64>> {
    let store = table.log_store();
    let (mut low, mut high) = (0u64, super::version_of(table));
    let mut found = None;
    while low <= high {
        let middle = low + (high - low) / 2;
        let committed = match store.read_commit_entry(middle).await? {
            Some(bytes) => Some(commit_time(&bytes).ok_or_else(|| {
                Error::TimeTravel(format!(
                    "version {middle} of {} records no commit time",
                    table.table_url()
                ))
            })?),
            // Log clean-up removed it: older than every commit still listed.
            None => None,
        };
        match committed {
            Some(at) if at > time_ms => match middle.checked_sub(1) {
                Some(below) => high = below,
                None => break,
            },
            Some(_) => {
                found = Some(middle);
                low = middle + 1;
            }
            None => low = middle + 1,
        }
    }
    Ok(found)
}

/// The oldest version of `table` whose commit is still in the log, and its commit
/// time.
pub async fn first_commit(table: &DeltaTable) -> Result<Option<(u64, DateTime<Utc>)>> {
    let store = table.log_store();
    for version in 0..=super::version_of(table) {
        if let Some(bytes) = store.read_commit_entry(version).await? {
            let at = commit_time(&bytes).and_then(DateTime::from_timestamp_millis);
            return Ok(at.map(|at| (version, at)));
        }
    }
    Ok(None)
}

/// `commitInfo.timestamp` of a commit file, in milliseconds since the epoch.
fn commit_time(commit: &[u8]) -> Option<i64> {
    commit
        .split(|b| *b == b'\n')
        .filter_map(|line| serde_json::from_slice::<serde_json::Value>(line).ok())
        .find_map(|action| action.get("commitInfo")?.get("timestamp")?.as_i64())
}

/// Every version of `table` up to its loaded one, oldest first. Commits whose log file
/// is gone (log clean-up) are left out, and totals are unknown from then on.
pub async fn read_log(table: &DeltaTable) -> Result<Vec<CommitRecord>> {
    let store = table.log_store();
    let latest = super::version_of(table);
    let mut file_rows: HashMap<String, u64> = HashMap::new();
    let mut total: Option<u64> = Some(0);
    let mut records = Vec::new();
    for version in 0..=latest {
        let Some(bytes) = store.read_commit_entry(version).await? else {
            total = None;
            continue;
        };
        let mut record = CommitRecord {
            version,
            timestamp_ms: None,
            operation: String::new(),
            rows_total: None,
            rows_added: None,
            rows_removed: None,
            stride: None,
            data_change: false,
        };
        let (mut physical_added, mut physical_removed) = (0u64, 0u64);
        let mut removed_known = true;
        let mut adds = Vec::new();
        let mut removes = Vec::new();
        for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let action: serde_json::Value = serde_json::from_slice(line)?;
            if let Some(info) = action.get("commitInfo") {
                record.timestamp_ms = info.get("timestamp").and_then(|t| t.as_i64());
                record.operation = info
                    .get("operation")
                    .and_then(|o| o.as_str())
                    .unwrap_or_default()
                    .to_string();
                record.rows_added = logical_rows_added(info);
                record.stride = info.get(COMMIT_INFO_KEY).cloned();
            } else if let Some(add) = action.get("add") {
                adds.push(add.clone());
            } else if let Some(remove) = action.get("remove") {
                removes.push(remove.clone());
            }
        }
        // Removes first: a deletion vector update removes and re-adds the same path.
        for remove in &removes {
            record.data_change |= flag(remove, "dataChange");
            match remove
                .get("path")
                .and_then(|p| p.as_str())
                .and_then(|p| file_rows.remove(p))
            {
                Some(rows) => physical_removed += rows,
                None => removed_known = false,
            }
        }
        for add in &adds {
            let rows = add_rows(add).saturating_sub(deleted_rows(add));
            physical_added += rows;
            record.data_change |= flag(add, "dataChange");
            if let Some(path) = add.get("path").and_then(|p| p.as_str()) {
                file_rows.insert(path.to_string(), rows);
            }
        }
        total = match (total, removed_known) {
            (Some(t), true) => Some((t + physical_added).saturating_sub(physical_removed)),
            _ => None,
        };
        record.rows_total = total;
        if let (Some(before), Some(after)) = (
            records
                .last()
                .and_then(|r: &CommitRecord| r.rows_total)
                .or((version == 0).then_some(0)),
            total,
        ) {
            let added = record.rows_added.unwrap_or(0);
            record.rows_removed = Some((before + added).saturating_sub(after));
        }
        records.push(record);
    }
    Ok(records)
}

/// The newest commit at or before `version`, and not before `floor`, that stride
/// wrote with data (a run's commit, not compaction or clean-up), with its stride
/// entry. Each version looked at is one read of the log.
pub async fn stride_commit_before(
    table: &DeltaTable,
    version: u64,
    floor: u64,
) -> Result<Option<(u64, serde_json::Value)>> {
    let store = table.log_store();
    let mut current = Some(version).filter(|v| *v >= floor);
    while let Some(v) = current {
        if let Some(bytes) = store.read_commit_entry(v).await? {
            for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                let action: serde_json::Value = serde_json::from_slice(line)?;
                if let Some(entry) = action
                    .get("commitInfo")
                    .and_then(|i| i.get(COMMIT_INFO_KEY))
                    && entry.get("model").is_some()
                {
                    return Ok(Some((v, entry.clone())));
                }
            }
        }
        current = v.checked_sub(1).filter(|v| *v >= floor);
    }
    Ok(None)
}

fn flag(action: &serde_json::Value, name: &str) -> bool {
    action.get(name).and_then(|v| v.as_bool()).unwrap_or(true)
}

/// The rows an add action's deletion vector removes.
fn deleted_rows(add: &serde_json::Value) -> u64 {
    add.get("deletionVector")
        .and_then(|dv| dv.get("cardinality"))
        .and_then(|c| c.as_u64())
        .unwrap_or(0)
}

/// numRecords from an add action's statistics (a JSON string inside the JSON).
fn add_rows(add: &serde_json::Value) -> u64 {
    add.get("stats")
        .and_then(|s| s.as_str())
        .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
        .and_then(|s| s.get("numRecords").and_then(|n| n.as_u64()))
        .unwrap_or(0)
}

/// Rows the operation itself says it added: new rows of a write, inserted plus
/// updated rows of a merge.
fn logical_rows_added(info: &serde_json::Value) -> Option<u64> {
    let metrics = info.get("operationMetrics")?;
    let get = |name: &str| metrics.get(name).and_then(|v| v.as_u64());
    if let Some(inserted) = get("num_target_rows_inserted") {
        return Some(inserted + get("num_target_rows_updated").unwrap_or(0));
    }
    get("num_added_rows")
}
