//! stride: an e-commerce marketing-attribution lakehouse in one binary.
//!
//! The modules follow the data's path: [`generate`] makes raw change batches,
//! [`land`] puts them in the [`lake`], [`quarantine`] checks each landed file once
//! against its [`contracts`] and sets aside what breaks them, [`models`] reads the
//! SQL project and its graph, [`engine`] executes it on DataFusion and checks each
//! result against its contract, [`delta`] commits each model as a Delta table,
//! [`publish`] serves the marts to DuckDB readers such as Metabase, and [`output`]
//! prints answers. [`compare`] proves the incremental tables equal a rebuild
//! (`verify`) and says what changed between versions (`diff`). [`ops`] is the
//! operations layer: one [`ops::Lakehouse`] whose methods make a recorded run of
//! all that (the [`run_history`]) and the other operations; [`serve`] keeps the
//! marts fresh by itself (schedules, a sensor, retries, a JSON API), and [`cli`]
//! is the command line on top, parsing and printing only.

pub mod bench;
pub mod cli;
pub mod cluster;
pub mod compare;
pub mod config;
pub mod contracts;
pub mod data_driven;
pub mod delta;
pub mod demo;
pub mod engine;
pub mod error;
pub mod generate;
pub mod lake;
pub mod land;
pub mod models;
pub mod ops;
pub mod output;
pub mod progress;
pub mod publish;
pub mod quarantine;
pub mod run_history;
pub mod serve;
pub mod sources;
pub mod test_hooks;

pub use error::{Error, Result};
