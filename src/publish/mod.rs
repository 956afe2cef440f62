//! Publishing the marts (SPEC section 4) to the DuckDB file Metabase reads.
//!
//! Each mart is read from its Delta table at its latest version and written, with
//! its own column types, into a new DuckDB file ([`writer`]) that replaces the served
//! one in one rename ([`staging`]): readers see the old marts or the new ones, never
//! a mix, and a failed publish leaves the old file. The table [`SYNC_TABLE`] in the
//! file records which Delta version of each mart it holds.

mod arrow_bridge;
mod read;
mod staging;
mod types;
mod writer;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{ArrayRef, Int64Array, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use deltalake::DeltaTable;
use futures::StreamExt;
use tokio::sync::mpsc;

pub use read::{published_versions, query};
pub use writer::ABORT_AFTER_ENV;

use crate::delta;
use crate::engine::new_session;
use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::models::Project;
use crate::progress;
use staging::{Staging, failure};
use writer::Message;

/// The DuckDB file used when `--duckdb` (or `STRIDE_DUCKDB`) does not name one.
pub const DEFAULT_DUCKDB: &str = "./warehouse/stride.duckdb";

/// The table in the DuckDB file that says what it holds: one row per mart with its
/// Delta version, that version's commit time and its rows, and when and from which
/// lake it was published.
pub const SYNC_TABLE: &str = "_stride_sync";

/// The folder of `queries/` whose models are the published marts.
const MARTS_FOLDER: &str = "marts/";

/// Batches in flight between the Delta reader and the DuckDB writer.
const CHANNEL_DEPTH: usize = 4;

/// One published mart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedMart {
    /// The mart (table) name.
    pub mart: String,
    /// The Delta version it was read at.
    pub version: u64,
    /// Its rows, as read from Delta and as counted by DuckDB.
    pub rows: u64,
}

/// What a publish did.
#[derive(Debug, Clone)]
pub struct PublishReport {
    /// The served file.
    pub file: PathBuf,
    /// The marts, in project order.
    pub marts: Vec<PublishedMart>,
    /// The new file's size.
    pub bytes: u64,
    /// Wall time.
    pub elapsed: Duration,
}

/// A mart's table opened at the version to publish.
struct MartTable {
    name: String,
    table: DeltaTable,
    version: u64,
}

/// What [`publish_if_changed`] did.
#[derive(Debug)]
pub enum Outcome {
    /// A new file was swapped in.
    Published(PublishReport),
    /// The file already holds every mart at its current version.
    AlreadyCurrent,
    /// These marts have no table yet (a first run limited by `--select`).
    MissingMarts(Vec<String>),
}

/// Publishes every mart of `project` to the DuckDB file `target`. The caller holds
/// the lake lock, so the marts are read at one consistent set of versions.
pub async fn publish(lake: &Lake, project: &Project, target: &Path) -> Result<PublishReport> {
    let marts = open_marts(lake, project, target).await?;
    if let Some(missing) = missing(&marts).first() {
        return Err(failure(
            target,
            format!("mart {missing} has no Delta table yet (run `stride run` first)"),
        ));
    }
    write_file(
        lake,
        marts.into_iter().filter_map(|(_, t)| t).collect(),
        target,
    )
    .await
}

/// [`publish`], unless the file already holds the marts' current versions or some
/// mart has no table yet; the marts' tables are opened once for both.
pub async fn publish_if_changed(lake: &Lake, project: &Project, target: &Path) -> Result<Outcome> {
    let marts = open_marts(lake, project, target).await?;
    let missing = missing(&marts);
    if !missing.is_empty() {
        return Ok(Outcome::MissingMarts(missing));
    }
    let tables: Vec<MartTable> = marts.into_iter().filter_map(|(_, t)| t).collect();
    let versions: BTreeMap<String, u64> =
        tables.iter().map(|m| (m.name.clone(), m.version)).collect();
    if is_current(target, &versions) {
        return Ok(Outcome::AlreadyCurrent);
    }
    write_file(lake, tables, target)
        .await
        .map(Outcome::Published)
}

/// Writes `marts` into a new file and swaps it in for `target`.
async fn write_file(lake: &Lake, marts: Vec<MartTable>, target: &Path) -> Result<PublishReport> {
    let started = Instant::now();
    let staging = Staging::new(target)?;
    let (sender, receiver) = mpsc::channel(CHANNEL_DEPTH);
    let path = staging.path().to_path_buf();
    let target_path = target.to_path_buf();
    let writer = tokio::task::spawn_blocking(move || writer::write(&path, &target_path, receiver));

    let sent = send_marts(lake, &marts, target, &sender).await;
    drop(sender);
    let written = writer
        .await
        .map_err(|e| failure(target, format!("the DuckDB writer stopped: {e}")))?;
    // The writer's own error explains a send that failed because it stopped.
    let counted = written?;
    let read_rows = sent?;

    let mut published = Vec::new();
    for (mart, rows) in marts.iter().zip(read_rows) {
        let in_duckdb = counted.get(&mart.name).copied().unwrap_or_default();
        if in_duckdb != rows {
            return Err(failure(
                target,
                format!(
                    "mart {} has {rows} rows in Delta but {in_duckdb} in the new file",
                    mart.name
                ),
            ));
        }
        published.push(PublishedMart {
            mart: mart.name.clone(),
            version: mart.version,
            rows,
        });
    }
    let bytes = std::fs::metadata(staging.path())
        .map(|m| m.len())
        .unwrap_or_default();
    staging.swap_in()?;
    Ok(PublishReport {
        file: target.to_path_buf(),
        marts: published,
        bytes,
        elapsed: started.elapsed(),
    })
}

/// Whether the file at `target` already holds exactly these mart versions.
fn is_current(target: &Path, versions: &BTreeMap<String, u64>) -> bool {
    match published_versions(target) {
        Ok(Some(held)) => held == *versions,
        Ok(None) => false,
        Err(e) => {
            tracing::debug!("{}: {e}", target.display());
            false
        }
    }
}

/// Every model under `queries/marts/` with its table at the latest version, `None`
/// when it has no table yet.
async fn open_marts(
    lake: &Lake,
    project: &Project,
    target: &Path,
) -> Result<Vec<(String, Option<MartTable>)>> {
    let mut marts = Vec::new();
    for model in project
        .models()
        .iter()
        .filter(|m| m.file.starts_with(MARTS_FOLDER))
    {
        if !model.materialization.is_stored() {
            return Err(failure(
                target,
                format!(
                    "mart {} is a view; marts are published from their Delta tables",
                    model.name
                ),
            ));
        }
        let table = delta::open(lake, &model.name)
            .await?
            .map(|table| MartTable {
                name: model.name.clone(),
                version: delta::version_of(&table),
                table,
            });
        marts.push((model.name.clone(), table));
    }
    if marts.is_empty() {
        return Err(failure(
            target,
            format!("the project has no models under queries/{MARTS_FOLDER}"),
        ));
    }
    Ok(marts)
}

/// The marts without a table.
fn missing(marts: &[(String, Option<MartTable>)]) -> Vec<String> {
    marts
        .iter()
        .filter(|(_, table)| table.is_none())
        .map(|(name, _)| name.clone())
        .collect()
}

/// Streams every mart, then the sync table, to the writer. Returns the rows read per
/// mart. A failed send means the writer stopped; its error is the one reported.
async fn send_marts(
    lake: &Lake,
    marts: &[MartTable],
    target: &Path,
    sender: &mpsc::Sender<Message>,
) -> Result<Vec<u64>> {
    let stopped = || failure(target, "the DuckDB writer stopped".into());
    let ctx = new_session();
    let state = ctx.state();
    let bar = progress::bar(marts.len() as u64, "publish");
    let mut read_rows = Vec::new();
    for mart in marts {
        bar.set_message(mart.name.clone());
        let in_mart = |e: Error| Error::in_model(&mart.name, e);
        let provider = delta::provider(&mart.table, &state)
            .await
            .map_err(in_mart)?;
        let schema = provider.schema();
        let columns = schema
            .fields()
            .iter()
            .map(|field| {
                types::duckdb_type(field)
                    .map(|ty| (field.name().clone(), ty, field.is_nullable()))
                    .ok_or_else(|| {
                        failure(
                            target,
                            format!(
                                "mart {} column {} has type {}, which stride does not publish",
                                mart.name,
                                field.name(),
                                field.data_type()
                            ),
                        )
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        let table = Message::Table {
            name: mart.name.clone(),
            columns,
        };
        sender.send(table).await.map_err(|_| stopped())?;
        let mut stream = ctx
            .read_table(provider)
            .map_err(|e| in_mart(e.into()))?
            .execute_stream()
            .await
            .map_err(|e| in_mart(e.into()))?;
        let mut rows = 0u64;
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|e| in_mart(e.into()))?;
            if batch.num_rows() == 0 {
                continue;
            }
            rows += batch.num_rows() as u64;
            let batch = arrow_bridge::to_duckdb(&batch)?;
            sender
                .send(Message::Batch(batch))
                .await
                .map_err(|_| stopped())?;
        }
        read_rows.push(rows);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let sync = sync_table(lake, marts, &read_rows)?;
    let columns = sync
        .schema()
        .fields()
        .iter()
        .filter_map(|f| types::duckdb_type(f).map(|ty| (f.name().clone(), ty, f.is_nullable())))
        .collect();
    sender
        .send(Message::Table {
            name: SYNC_TABLE.to_string(),
            columns,
        })
        .await
        .map_err(|_| stopped())?;
    sender
        .send(Message::Batch(arrow_bridge::to_duckdb(&sync)?))
        .await
        .map_err(|_| stopped())?;
    Ok(read_rows)
}

/// The rows of [`SYNC_TABLE`].
fn sync_table(lake: &Lake, marts: &[MartTable], rows: &[u64]) -> Result<RecordBatch> {
    let utc = || DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let schema = Arc::new(Schema::new(vec![
        Field::new("mart", DataType::Utf8, false),
        Field::new("delta_version", DataType::Int64, false),
        Field::new("delta_committed_at", utc(), true),
        Field::new("row_count", DataType::Int64, false),
        Field::new("lake", DataType::Utf8, false),
        Field::new("published_at", utc(), false),
        Field::new("stride_version", DataType::Utf8, false),
    ]));
    let now = chrono::Utc::now().timestamp_micros();
    let n = marts.len();
    let committed_at = marts.iter().map(|m| {
        m.table
            .snapshot()
            .ok()
            .and_then(|s| s.version_timestamp(m.version))
            .map(|ms| ms * 1000)
    });
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            marts.iter().map(|m| m.name.as_str()),
        )),
        Arc::new(Int64Array::from_iter_values(
            marts.iter().map(|m| m.version as i64),
        )),
        Arc::new(TimestampMicrosecondArray::from_iter(committed_at).with_timezone("UTC")),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| *r as i64))),
        Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
            lake.url().as_str(),
            n,
        ))),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(std::iter::repeat_n(now, n))
                .with_timezone("UTC"),
        ),
        Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
            env!("CARGO_PKG_VERSION"),
            n,
        ))),
    ];
    Ok(RecordBatch::try_new(schema, columns)?)
}
