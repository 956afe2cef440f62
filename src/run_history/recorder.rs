//! Fills a run's record from the engine's events as the run goes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use super::record::{ModelRun, SourceRun};
use crate::engine::{ModelOutcome, RunEvents};
use crate::quarantine::TableCheck;

/// What the recorder saw so far.
#[derive(Debug, Default)]
struct Seen {
    planned: Vec<String>,
    checked: bool,
    starts: HashMap<String, Instant>,
    sources: Vec<SourceRun>,
    models: Vec<ModelRun>,
}

/// A run's state while it goes.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Progress {
    /// Whether the landed files have been checked.
    pub checked: bool,
    /// The models the run will run, once known.
    pub planned: Vec<String>,
    /// The checks per raw table.
    pub sources: Vec<SourceRun>,
    /// The models done or going.
    pub models: Vec<ModelRun>,
}

/// Collects the per-table checks and per-model outcomes of one run.
#[derive(Debug)]
pub struct Recorder {
    started: Instant,
    seen: Mutex<Seen>,
}

impl Recorder {
    /// A recorder for a run starting now.
    pub fn new() -> Recorder {
        Recorder {
            started: Instant::now(),
            seen: Mutex::new(Seen::default()),
        }
    }

    /// Where the run is now, for a page that follows it: the models finished so
    /// far plus those going (action `running`), without taking them.
    pub fn progress(&self) -> Progress {
        self.with(|seen| {
            let mut models = seen.models.clone();
            let mut going: Vec<(&String, &Instant)> = seen
                .starts
                .iter()
                .filter(|(name, _)| !seen.models.iter().any(|m| &m.model == *name))
                .collect();
            going.sort_by_key(|(_, start)| **start);
            for (name, start) in going {
                models.push(ModelRun {
                    model: name.clone(),
                    action: "running".to_string(),
                    start_offset_ms: millis(start.saturating_duration_since(self.started)),
                    elapsed_ms: millis(start.elapsed()),
                    ..ModelRun::default()
                });
            }
            Progress {
                checked: seen.checked,
                planned: seen.planned.clone(),
                sources: seen.sources.clone(),
                models,
            }
        })
    }

    /// The checks and models seen, in the order they finished.
    pub fn take(&self) -> (Vec<SourceRun>, Vec<ModelRun>) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        (
            std::mem::take(&mut seen.sources),
            std::mem::take(&mut seen.models),
        )
    }

    fn with<T>(&self, f: impl FnOnce(&mut Seen) -> T) -> T {
        // A panic elsewhere while the lock was held leaves the data usable.
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut seen)
    }

    /// (offset from the run's start, elapsed) of `model`, in milliseconds.
    fn timing(&self, seen: &Seen, model: &str) -> (u64, u64) {
        let now = Instant::now();
        let start = seen.starts.get(model).copied().unwrap_or(now);
        (
            millis(start.saturating_duration_since(self.started)),
            millis(now.saturating_duration_since(start)),
        )
    }
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl RunEvents for Recorder {
    fn planned(&self, models: &[String]) {
        self.with(|seen| seen.planned = models.to_vec());
    }

    fn checked(&self, checked: &[TableCheck]) {
        self.with(|seen| {
            seen.checked = true;
            seen.sources = checked
                .iter()
                .map(|c| SourceRun {
                    table: c.table.clone(),
                    files: c.files,
                    rows_read: c.rows_read,
                    rows_loaded: c.rows_loaded,
                    rows_quarantined: c.rows_quarantined,
                    rows_redelivered: c.rows_redelivered,
                    files_refused: c.refused.len(),
                })
                .collect();
        });
    }

    fn model_started(&self, model: &str) {
        self.with(|seen| {
            seen.starts.insert(model.to_string(), Instant::now());
        });
    }

    fn model_finished(&self, outcome: &ModelOutcome) {
        self.with(|seen| {
            let (offset, elapsed) = self.timing(seen, &outcome.model);
            seen.models.push(ModelRun {
                model: outcome.model.clone(),
                action: outcome.action.as_str().to_string(),
                start_offset_ms: offset,
                elapsed_ms: elapsed,
                version: outcome.version,
                rows_added: outcome.rows.map(|r| r.0),
                rows_removed: outcome.rows.map(|r| r.1),
                error: None,
                ran_on: match &outcome.placement {
                    None | Some(crate::cluster::Placement::Local) => None,
                    Some(placement) => Some(placement.describe()),
                },
            });
        });
    }

    fn model_failed(&self, model: &str, error: &str) {
        self.with(|seen| {
            let (offset, elapsed) = self.timing(seen, model);
            seen.models.push(ModelRun {
                model: model.to_string(),
                action: "failed".to_string(),
                start_offset_ms: offset,
                elapsed_ms: elapsed,
                error: Some(error.to_string()),
                ..ModelRun::default()
            });
        });
    }

    fn model_blocked(&self, model: &str, failed: &str) {
        self.with(|seen| {
            let offset = millis(self.started.elapsed());
            seen.models.push(ModelRun {
                model: model.to_string(),
                action: "not run".to_string(),
                start_offset_ms: offset,
                error: Some(format!("{failed} failed")),
                ..ModelRun::default()
            });
        });
    }
}
