//! `--watch`: a run when raw files land that no run has consumed yet, once landing
//! has been quiet for the quiet period. A set of files starts at most one run (a
//! run that fails on them is not started again and again by the sensor).

use std::collections::{BTreeSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::queue::Queue;
use crate::error::Result;
use crate::lake::{Lake, LakeLock};
use crate::land;
use crate::quarantine::{file_key, read_ledger};
use crate::run_history::{RunRequest, Trigger};
use crate::sources::Sources;

/// How many evaluations the API shows.
const KEPT: usize = 50;

/// The raw files landed that no run has checked yet (`table/batch_date=…/file`,
/// with their sizes, so a file still growing counts as a change).
pub async fn unconsumed(lake: &Lake, sources: &Sources) -> Result<BTreeSet<(String, u64)>> {
    let mut new = BTreeSet::new();
    for table in sources.iter() {
        let landed = land::landed_files(lake, table).await?;
        if landed.is_empty() {
            continue;
        }
        let ledger = read_ledger(lake, &table.name).await?;
        for file in ledger.unchecked(lake, &landed) {
            let key = file_key(lake, file);
            new.insert((format!("{}/{key}", table.name), file.size));
        }
    }
    Ok(new)
}

/// The sensor's settings.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct SensorSettings {
    /// Seconds between two looks at the raw area.
    pub interval_s: f64,
    /// Seconds landing must have been quiet before a run starts.
    pub quiet_period_s: f64,
}

/// One look at the raw area.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// When.
    pub at: DateTime<Utc>,
    /// Raw files no run has consumed.
    pub new_files: usize,
    /// `nothing new`, `waiting for landing to be quiet`, `started run <id>`,
    /// `already started a run for these files`, or the error.
    pub outcome: String,
}

/// What the sensor remembers between looks.
#[derive(Debug, Default)]
struct Memory {
    files: BTreeSet<(String, u64)>,
    unchanged_since: Option<Instant>,
    started_for: BTreeSet<(String, u64)>,
    evaluations: VecDeque<Evaluation>,
}

/// The sensor of one serving process.
#[derive(Debug)]
pub struct Sensor {
    /// Its settings.
    pub settings: SensorSettings,
    memory: Mutex<Memory>,
}

impl Sensor {
    /// A sensor with `settings` that has seen nothing yet.
    pub fn new(settings: SensorSettings) -> Sensor {
        Sensor {
            settings,
            memory: Mutex::new(Memory::default()),
        }
    }

    /// The latest evaluations, newest first.
    pub fn evaluations(&self) -> Vec<Evaluation> {
        let memory = self.memory.lock().unwrap_or_else(|e| e.into_inner());
        memory.evaluations.iter().rev().cloned().collect()
    }

    /// Looks at the raw area once; starts a run when new files have been still for
    /// the quiet period.
    pub async fn evaluate(&self, lake: &Lake, sources: &Sources, queue: &Queue) {
        let found = unconsumed(lake, sources).await;
        // A writer holding the lake (`stride generate`, say) may still be landing.
        let landing = matches!(LakeLock::run_lock_holder(lake).await, Ok(Some(_)));
        let mut memory = self.memory.lock().unwrap_or_else(|e| e.into_inner());
        let (new_files, outcome) = match found {
            Err(e) => (0, format!("could not list the raw files: {e}")),
            Ok(files) if files.is_empty() => {
                memory.files.clear();
                memory.unchanged_since = None;
                (0, "nothing new".to_string())
            }
            Ok(files) => {
                let n = files.len();
                if files != memory.files || landing {
                    memory.files = files;
                    memory.unchanged_since = Some(Instant::now());
                }
                let quiet = Duration::from_secs_f64(self.settings.quiet_period_s);
                let still = memory
                    .unchanged_since
                    .map_or(Duration::ZERO, |t| t.elapsed());
                if memory.files == memory.started_for {
                    (n, "already started a run for these files".to_string())
                } else if still < quiet {
                    (n, "waiting for landing to be quiet".to_string())
                } else {
                    match queue.submit(Trigger::Sensor, RunRequest::default(), None) {
                        Some(submitted) => {
                            memory.started_for = memory.files.clone();
                            tracing::info!(
                                "sensor: {n} new raw files, quiet for {:.1}s: run {}",
                                still.as_secs_f64(),
                                submitted.run_id
                            );
                            (n, format!("started run {}", submitted.run_id))
                        }
                        None => (n, "not started: shutting down".to_string()),
                    }
                }
            }
        };
        memory.evaluations.push_back(Evaluation {
            at: Utc::now(),
            new_files,
            outcome,
        });
        while memory.evaluations.len() > KEPT {
            memory.evaluations.pop_front();
        }
    }
}
