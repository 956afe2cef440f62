//! `stride generate`: lands realistic, deterministic daily change batches.
//!
//! The settings of the first call (seed, scale, start date, lateness) are recorded
//! in the lake with the number of batches landed. A later call replays the landed
//! days in memory and lands the next ones, so 30 days made in one call or in six
//! are the same rows, byte for byte.

mod buffer;
mod faults;
mod world;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::contracts::{Contracts, ContractsSource};
use crate::error::{Error, Result};
use crate::lake::{Lake, LakeLock, STATE};
use crate::land;
use crate::progress;
use crate::sources::SourceTable;

use world::World;

/// Where the generator records its settings and progress, relative to the lake root.
fn state_file() -> String {
    format!("{STATE}/generator.json")
}

/// The settings that decide every generated row.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Seed of every random choice.
    pub seed: u64,
    /// 1.0 is about 2,000 new customers, 30,000 touchpoints and 3,000 orders a day.
    pub scale: f64,
    /// The `batch_date` of batch 1.
    pub start_date: NaiveDate,
    /// The most days a touchpoint may arrive after it happened.
    pub max_lateness_days: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            seed: 42,
            scale: 1.0,
            start_date: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default(),
            max_lateness_days: 3,
        }
    }
}

/// What the user asked of `stride generate`; unset options keep the lake's recorded
/// settings (or the defaults on an empty lake).
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub days: u32,
    pub seed: Option<u64>,
    pub scale: Option<f64>,
    pub start_date: Option<NaiveDate>,
    pub max_lateness_days: Option<u32>,
    /// Bad input to add (see [`faults`]): the share of extra bad rows per table,
    /// plus one bad file a day. Not recorded: each call chooses.
    pub faults: Option<f64>,
}

/// The generator's record in the lake.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    settings: Settings,
    batches_landed: u32,
}

/// What a call landed.
#[derive(Debug, Clone)]
pub struct Report {
    /// The first and last batch ids landed by this call.
    pub batches: std::ops::RangeInclusive<u32>,
    /// The first and last batch dates landed by this call.
    pub dates: (NaiveDate, NaiveDate),
    /// Rows landed per raw table, in [`TABLES`] order.
    pub rows: Vec<(String, usize)>,
    /// The settings used.
    pub settings: Settings,
}

/// Lands the next `request.days` batches after the last one in the lake, under
/// the lake's lock `_lock`.
pub async fn generate(lake: &Lake, request: &Request, _lock: &LakeLock) -> Result<Report> {
    if request.days == 0 {
        return Err(Error::Setting {
            setting: "--days".into(),
            reason: "must be at least 1".into(),
        });
    }
    let state = match read_state(lake).await? {
        Some(state) => {
            check_same_settings(&state.settings, request)?;
            state
        }
        None => {
            refuse_foreign_raw_data(lake).await?;
            State {
                settings: settings_for(request)?,
                batches_landed: 0,
            }
        }
    };
    let settings = state.settings;
    let tables = shipped_tables()?;
    let mut world = World::new(settings, tables.clone());
    for day in 1..=state.batches_landed {
        world.simulate_day(day)?;
    }
    let first = state.batches_landed + 1;
    let last = state.batches_landed + request.days;
    let mut rows: Vec<(String, usize)> = tables.iter().map(|t| (t.name.clone(), 0)).collect();
    let fault_rate = match request.faults {
        Some(rate) if !(0.0..=1.0).contains(&rate) => {
            return Err(Error::Setting {
                setting: "--faults".into(),
                reason: format!("{rate} is not a share between 0 and 1"),
            });
        }
        other => other.filter(|rate| *rate > 0.0),
    };
    let bar = progress::bar(u64::from(request.days), "generate");
    for day in first..=last {
        let mut batch = world.simulate_day(day)?;
        let mut bad_file = None;
        for (index, table) in tables.iter().enumerate() {
            let buffer = &mut batch.tables[index];
            if buffer.is_empty() {
                continue;
            }
            rows[index].1 += buffer.len();
            let mut record_batch = buffer.finish()?;
            let folder = land::batch_folder(&table.name, batch.date);
            if let Some(rate) = fault_rate {
                if bad_file.is_none() || index == (day as usize * 3) % tables.len() {
                    bad_file = Some((folder.clone(), faults::bad_file(table, &record_batch, day)?));
                }
                record_batch = faults::with_bad_rows(table, record_batch, day, rate)?;
            }
            let file = format!("{folder}/part-{:06}.parquet", batch.batch_id);
            land::put_parquet(lake, &file, &record_batch).await?;
        }
        if let Some((folder, (name, bytes))) = bad_file {
            lake.put(&format!("{folder}/{name}"), bytes).await?;
        }
        write_state(
            lake,
            &State {
                settings,
                batches_landed: day,
            },
        )
        .await?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    let date_of = |batch: u32| settings.start_date + chrono::Days::new(u64::from(batch - 1));
    Ok(Report {
        batches: first..=last,
        dates: (date_of(first), date_of(last.max(first))),
        rows,
        settings,
    })
}

/// The raw tables the generator lands, in the order it simulates them.
pub const TABLES: [&str; 7] = [
    "customers",
    "products",
    "campaigns",
    "ad_spend",
    "touchpoints",
    "orders",
    "order_items",
];

/// The definitions of [`TABLES`], from the source contracts compiled into this
/// binary: the generator writes the shipped project's raw tables, whatever
/// `--contracts` says.
fn shipped_tables() -> Result<Vec<SourceTable>> {
    let contracts = Contracts::read(&ContractsSource::Embedded)?;
    TABLES
        .iter()
        .map(|name| {
            contracts.sources().find(name).cloned().ok_or_else(|| {
                Error::Generate(format!("no shipped source contract declares raw.{name}"))
            })
        })
        .collect()
}

/// Whether the lake holds any landed file of the tables the generator lands.
pub async fn lake_has_raw_data(lake: &Lake) -> Result<bool> {
    for table in shipped_tables()? {
        if !land::landed_files(lake, &table).await?.is_empty() {
            return Ok(true);
        }
    }
    Ok(false)
}

async fn refuse_foreign_raw_data(lake: &Lake) -> Result<()> {
    if lake_has_raw_data(lake).await? {
        return Err(Error::Generate(format!(
            "{} holds raw data that stride generate did not land (no {}); \
             generate only extends lakes it started",
            lake.url(),
            state_file()
        )));
    }
    Ok(())
}

fn settings_for(request: &Request) -> Result<Settings> {
    let defaults = Settings::default();
    let settings = Settings {
        seed: request.seed.unwrap_or(defaults.seed),
        scale: request.scale.unwrap_or(defaults.scale),
        start_date: request.start_date.unwrap_or(defaults.start_date),
        max_lateness_days: request
            .max_lateness_days
            .unwrap_or(defaults.max_lateness_days),
    };
    if !(settings.scale.is_finite() && settings.scale > 0.0) {
        return Err(Error::Setting {
            setting: "--scale".into(),
            reason: format!("must be a positive number, got {}", settings.scale),
        });
    }
    Ok(settings)
}

/// A lake continues with the settings it started with; asking for others would
/// make rows that contradict the landed ones.
fn check_same_settings(recorded: &Settings, request: &Request) -> Result<()> {
    let conflict = |option: &str, recorded: String, asked: String| {
        Err(Error::Setting {
            setting: option.to_string(),
            reason: format!(
                "this lake was generated with {option} {recorded}; continuing it with {asked} \
                 would contradict the landed batches (omit the option or use a new lake)"
            ),
        })
    };
    if let Some(seed) = request.seed.filter(|s| *s != recorded.seed) {
        return conflict("--seed", recorded.seed.to_string(), seed.to_string());
    }
    if let Some(scale) = request.scale.filter(|s| *s != recorded.scale) {
        return conflict("--scale", recorded.scale.to_string(), scale.to_string());
    }
    if let Some(date) = request.start_date.filter(|d| *d != recorded.start_date) {
        return conflict(
            "--start-date",
            recorded.start_date.to_string(),
            date.to_string(),
        );
    }
    if let Some(late) = request
        .max_lateness_days
        .filter(|l| *l != recorded.max_lateness_days)
    {
        return conflict(
            "--max-lateness-days",
            recorded.max_lateness_days.to_string(),
            late.to_string(),
        );
    }
    Ok(())
}

async fn read_state(lake: &Lake) -> Result<Option<State>> {
    let file = state_file();
    let Some(bytes) = lake.get(&file).await? else {
        return Ok(None);
    };
    let state = serde_json::from_slice(&bytes)
        .map_err(|e| Error::Generate(format!("{}{file} is not valid: {e}", lake.url())))?;
    Ok(Some(state))
}

async fn write_state(lake: &Lake, state: &State) -> Result<()> {
    lake.put(&state_file(), serde_json::to_vec_pretty(state)?)
        .await
}
