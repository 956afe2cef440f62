//! The run history in the lake: `_stride/runs/<run_id>.json` (the record, written
//! when the run starts and replaced whole when it ends: object stores cannot
//! append) and `_stride/runs/<run_id>.log` (what the run logged).

use futures::{StreamExt, TryStreamExt, stream};

use super::record::{RunRecord, Status, is_run_id};
use crate::error::{Error, Result};
use crate::lake::{Lake, LakeLock, host_name, process_is_gone};

/// The folder of the run history, relative to the lake root.
pub const RUNS: &str = "_stride/runs";

/// A record still `started` this long after it started, by a process on another
/// host that does not hold the lake's lock, is taken for dead.
const OTHER_HOST_PATIENCE: chrono::Duration = chrono::Duration::seconds(60);

fn record_path(run_id: &str) -> String {
    format!("{RUNS}/{run_id}.json")
}

fn log_path(run_id: &str) -> String {
    format!("{RUNS}/{run_id}.log")
}

/// Final records that could not be written (the store was down when the run
/// ended); each later write tries them again first, so a serving process that
/// outlives the outage records every attempt.
static UNSAVED: std::sync::Mutex<Vec<RunRecord>> = std::sync::Mutex::new(Vec::new());

/// Writes `record` whole (readers see the old one or the new one), after any
/// record kept back by [`save_or_keep`].
pub async fn save(lake: &Lake, record: &RunRecord) -> Result<()> {
    let kept: Vec<RunRecord> =
        std::mem::take(&mut *UNSAVED.lock().unwrap_or_else(|e| e.into_inner()));
    for (i, old) in kept.iter().enumerate() {
        if let Err(e) = put(lake, old).await {
            UNSAVED
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(kept[i..].iter().cloned());
            return Err(e);
        }
    }
    put(lake, record).await
}

/// [`save`]; when the store does not take it, keeps the record to write with the
/// next one (and says so).
pub async fn save_or_keep(lake: &Lake, record: &RunRecord) {
    if let Err(e) = save(lake, record).await {
        tracing::warn!(
            "the record of run {} could not be written yet ({e}); it is written with the next",
            record.run_id
        );
        let mut kept = UNSAVED.lock().unwrap_or_else(|e| e.into_inner());
        kept.retain(|r| r.run_id != record.run_id);
        kept.push(record.clone());
    }
}

async fn put(lake: &Lake, record: &RunRecord) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(record)?;
    lake.put(&record_path(&record.run_id), bytes).await
}

/// Writes the run's log.
pub async fn save_log(lake: &Lake, run_id: &str, log: &str) -> Result<()> {
    lake.put(&log_path(run_id), log.as_bytes().to_vec()).await
}

/// The run's log, `None` when it has none (yet).
pub async fn load_log(lake: &Lake, run_id: &str) -> Result<Option<String>> {
    if !is_run_id(run_id) {
        return Ok(None);
    }
    Ok(lake
        .get(&log_path(run_id))
        .await?
        .map(|b| String::from_utf8_lossy(&b).into_owned()))
}

/// One run's record, `None` when there is no such run.
pub async fn load(lake: &Lake, run_id: &str) -> Result<Option<RunRecord>> {
    if !is_run_id(run_id) {
        return Ok(None);
    }
    let Some(bytes) = lake.get(&record_path(run_id)).await? else {
        return Ok(None);
    };
    let record = parse(lake, run_id, &bytes)?;
    let holder = LakeLock::run_lock_holder(lake).await?;
    Ok(Some(settle(record, holder.as_ref())))
}

/// The newest `limit` runs (all with `None`), newest first.
pub async fn list(lake: &Lake, limit: Option<usize>) -> Result<Vec<RunRecord>> {
    let ids = run_ids(lake).await?;
    let take = limit.unwrap_or(ids.len());
    let holder = LakeLock::run_lock_holder(lake).await?;
    let holder = holder.as_ref();
    stream::iter(ids.into_iter().take(take))
        .map(|id| async move {
            let bytes = lake.get(&record_path(&id)).await?;
            bytes
                .map(|b| parse(lake, &id, &b).map(|r| settle(r, holder)))
                .transpose()
        })
        .buffered(8)
        .try_filter_map(|r| std::future::ready(Ok(r)))
        .try_collect()
        .await
}

/// The run ids in the lake, newest first.
async fn run_ids(lake: &Lake) -> Result<Vec<String>> {
    if !lake.folder_exists(RUNS).await? {
        return Ok(Vec::new());
    }
    let listed = lake.list(RUNS).await?;
    let mut ids: Vec<String> = listed
        .iter()
        .filter_map(|meta| {
            let name = meta.location.filename()?;
            let id = name.strip_suffix(".json")?;
            is_run_id(id).then(|| id.to_string())
        })
        .collect();
    ids.sort_unstable_by(|a, b| b.cmp(a));
    Ok(ids)
}

fn parse(lake: &Lake, run_id: &str, bytes: &[u8]) -> Result<RunRecord> {
    serde_json::from_slice(bytes).map_err(|e| Error::Setting {
        setting: lake.object_url(&lake.path(&record_path(run_id))),
        reason: format!("not a run record: {e}"),
    })
}

/// A record left `started` by a process that is gone reads as failed
/// ("interrupted"): on this host when its process is gone; from another host when
/// it does not hold the lake's lock and started over a minute ago.
fn settle(mut record: RunRecord, holder: Option<&(String, u32, String)>) -> RunRecord {
    if record.status.is_final() {
        return record;
    }
    let gone = if record.host == host_name() {
        process_is_gone(&record.host, record.pid, &record.process)
    } else {
        let holds = holder.is_some_and(|(host, pid, _)| *host == record.host && *pid == record.pid);
        !holds && chrono::Utc::now() - record.started_at > OTHER_HOST_PATIENCE
    };
    if gone {
        record.status = Status::Failure;
        record.error = Some(format!(
            "interrupted: its process (pid {} on {}) stopped before the run ended",
            record.pid, record.host
        ));
        record.error_kind = Some("interrupted".to_string());
    }
    record
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run_history::record::{RunRequest, Trigger};

    #[test]
    fn a_started_record_whose_process_is_gone_reads_as_interrupted() {
        let mut record = RunRecord::start(Trigger::Cli, RunRequest::default());
        assert_eq!(settle(record.clone(), None).status, Status::Started);
        record.process = "an earlier process".to_string();
        let settled = settle(record, None);
        assert_eq!(settled.status, Status::Failure);
        assert_eq!(settled.error_kind.as_deref(), Some("interrupted"));
    }
}
