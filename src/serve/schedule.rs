//! `--schedule "CRON"`: a run at each tick of a cron expression (5 fields, or 6 with
//! seconds first), in UTC or in the time zone of a `CRON_TZ=Zone/City ` prefix.
//! Every tick is recorded with what came of it. The last tick is kept in the lake
//! (`_stride/schedules/<key>.json`), so ticks missed while nothing served the lake
//! give one catch-up run when serving starts again, never one per missed tick.

use std::collections::VecDeque;
use std::str::FromStr;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use serde::{Deserialize, Serialize};

use super::queue::Queue;
use super::sensor::unconsumed;
use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::run_history::{self, RunRequest, Status, TickRef, Trigger};
use crate::sources::Sources;

/// How many ticks the API shows and the lake keeps per schedule.
const KEPT: usize = 50;

/// The most missed ticks counted (a schedule every second, down for a year).
const MAX_COUNTED: u64 = 100_000;

/// One tick and what came of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tick {
    /// The time the cron expression named.
    pub scheduled_for: DateTime<Utc>,
    /// When it was handled.
    pub at: DateTime<Utc>,
    /// `started`, `skipped: a run was going`, `skipped: nothing new`,
    /// `catch-up` (started, standing for missed ticks) or `not started: …`.
    pub outcome: String,
    /// The run it started or joined.
    pub run_id: Option<String>,
    /// Ticks missed while nothing served the lake (catch-up only).
    #[serde(default)]
    pub missed: u64,
}

/// What the lake keeps of a schedule.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Kept {
    schedule: String,
    last_tick: Option<DateTime<Utc>>,
    ticks: VecDeque<Tick>,
}

/// A parsed `--schedule`.
#[derive(Debug)]
pub struct Schedule {
    /// The expression as given.
    pub expression: String,
    cron: Cron,
    /// Its time zone.
    pub zone: Tz,
    kept: Mutex<Kept>,
}

impl Schedule {
    /// Parses `expression` (`[CRON_TZ=Zone ]fields`); the error names the setting.
    pub fn parse(expression: &str) -> Result<Schedule> {
        let bad = |reason: String| Error::Setting {
            setting: format!("--schedule \"{expression}\""),
            reason,
        };
        let text = expression.trim();
        let (zone, fields) = match text
            .strip_prefix("CRON_TZ=")
            .or_else(|| text.strip_prefix("TZ="))
        {
            Some(rest) => {
                let (zone, fields) = rest
                    .split_once(char::is_whitespace)
                    .ok_or_else(|| bad("no cron fields after the time zone".into()))?;
                let zone = Tz::from_str(zone).map_err(|_| {
                    bad(format!(
                        "unknown time zone `{zone}` (use e.g. Europe/Paris)"
                    ))
                })?;
                (zone, fields.trim())
            }
            None => (Tz::UTC, text),
        };
        let count = fields.split_whitespace().count();
        if !(5..=6).contains(&count) {
            return Err(bad(format!(
                "{count} fields; a cron expression has 5 (minute hour day month weekday), \
                 or 6 with seconds first"
            )));
        }
        let cron = Cron::from_str(fields).map_err(|e| bad(e.to_string()))?;
        Ok(Schedule {
            expression: expression.to_string(),
            cron,
            zone,
            kept: Mutex::new(Kept {
                schedule: expression.to_string(),
                ..Kept::default()
            }),
        })
    }

    /// The first tick after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_next_occurrence(&after.with_timezone(&self.zone), false)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// The recorded ticks, newest first.
    pub fn ticks(&self) -> Vec<Tick> {
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.ticks.iter().rev().cloned().collect()
    }

    /// Where the lake keeps this schedule.
    fn path(&self) -> String {
        // FNV-1a: a stable name from the expression, whatever characters it has.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in self.expression.bytes() {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
        format!("_stride/schedules/{hash:016x}.json")
    }

    /// Reads what the lake kept of this schedule; returns the ticks missed since
    /// its last tick up to `now` (the latest one, and how many).
    pub async fn restore(
        &self,
        lake: &Lake,
        now: DateTime<Utc>,
    ) -> Result<Option<(DateTime<Utc>, u64)>> {
        let Some(bytes) = lake.get(&self.path()).await? else {
            return Ok(None);
        };
        let kept: Kept = serde_json::from_slice(&bytes).map_err(|e| Error::Setting {
            setting: lake.object_url(&lake.path(&self.path())),
            reason: format!("not a schedule's record: {e}"),
        })?;
        let last = kept.last_tick;
        *self.kept.lock().unwrap_or_else(|e| e.into_inner()) = Kept {
            schedule: self.expression.clone(),
            ..kept
        };
        let Some(mut at) = last else {
            return Ok(None);
        };
        let (mut missed, mut latest) = (0, None);
        while let Some(next) = self.next_after(at) {
            if next > now || missed >= MAX_COUNTED {
                break;
            }
            missed += 1;
            latest = Some(next);
            at = next;
        }
        Ok(latest.map(|t| (t, missed)))
    }

    /// Handles the tick `scheduled_for` (`missed` > 0 for a catch-up): starts a run
    /// unless one is going or nothing is new, records the tick, keeps it in the lake.
    pub async fn tick(
        &self,
        lake: &Lake,
        sources: &Sources,
        queue: &Queue,
        scheduled_for: DateTime<Utc>,
        missed: u64,
    ) {
        let (outcome, run_id) = if queue.is_busy() {
            (
                "skipped: a run was going".to_string(),
                queue.running().map(|r| r.run_id),
            )
        } else if nothing_new(lake, sources).await {
            ("skipped: nothing new".to_string(), None)
        } else {
            let tick = TickRef {
                schedule: self.expression.clone(),
                scheduled_for,
                missed,
            };
            match queue.submit(Trigger::Schedule, RunRequest::default(), Some(tick)) {
                Some(s) if missed > 0 => (
                    format!("catch-up for {missed} missed ticks"),
                    Some(s.run_id),
                ),
                Some(s) => ("started".to_string(), Some(s.run_id)),
                None => ("not started: shutting down".to_string(), None),
            }
        };
        tracing::info!(
            "schedule \"{}\": tick {} {outcome}",
            self.expression,
            scheduled_for.to_rfc3339()
        );
        let body = {
            let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
            kept.last_tick = Some(scheduled_for);
            kept.ticks.push_back(Tick {
                scheduled_for,
                at: Utc::now(),
                outcome,
                run_id,
                missed,
            });
            while kept.ticks.len() > KEPT {
                kept.ticks.pop_front();
            }
            serde_json::to_vec_pretty(&*kept)
        };
        let saved = match body {
            Ok(body) => lake.put(&self.path(), body).await,
            Err(e) => Err(e.into()),
        };
        if let Err(e) = saved {
            tracing::warn!(
                "schedule \"{}\": tick not kept in the lake: {e}",
                self.expression
            );
        }
    }
}

/// Nothing to do: no raw file waits, and the latest run succeeded (a failed one is
/// worth another try at the next tick).
async fn nothing_new(lake: &Lake, sources: &Sources) -> bool {
    let waiting = match unconsumed(lake, sources).await {
        Ok(files) => !files.is_empty(),
        Err(_) => return false,
    };
    if waiting {
        return false;
    }
    match run_history::list(lake, Some(1)).await {
        Ok(latest) => latest.first().is_some_and(|r| r.status == Status::Success),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn ticks_follow_the_expression_in_its_time_zone() {
        let utc = Schedule::parse("0 6 * * *").ok();
        let paris = Schedule::parse("CRON_TZ=Europe/Paris 0 6 * * *").ok();
        let (Some(utc), Some(paris)) = (utc, paris) else {
            panic!("both parse");
        };
        let now = at("2026-12-01T10:00:00Z");
        assert_eq!(utc.next_after(now), Some(at("2026-12-02T06:00:00Z")));
        // 06:00 in Paris is 05:00 UTC in winter.
        assert_eq!(paris.next_after(now), Some(at("2026-12-02T05:00:00Z")));
        let seconds = Schedule::parse("*/5 * * * * *").ok();
        assert_eq!(
            seconds.and_then(|s| s.next_after(now)),
            Some(at("2026-12-01T10:00:05Z"))
        );
    }

    #[test]
    fn a_bad_expression_names_the_setting() {
        for bad in ["0 6 * *", "CRON_TZ=Mars/Base 0 6 * * *", "61 * * * *"] {
            let message = Schedule::parse(bad)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(message.contains("--schedule"), "{bad}: {message}");
        }
    }
}
