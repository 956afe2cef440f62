//! The DuckDB side of a publish, on a thread of its own (the `duckdb` crate is
//! blocking): it creates each mart's table with its declared types, appends the
//! batches it is sent, then checkpoints so the file is complete without a
//! write-ahead log.

use std::collections::BTreeMap;
use std::path::Path;

use duckdb::Connection;
use tokio::sync::mpsc::Receiver;

use super::arrow_bridge::DuckBatch;
use super::staging::failure;
use super::types::{create_table_sql, quote};
use crate::error::Result;

/// The test hook: `STRIDE_ABORT_PUBLISH_AFTER=<mart>` kills the process once that
/// mart is written to the new file, before the swap.
pub const ABORT_AFTER_ENV: &str = "STRIDE_ABORT_PUBLISH_AFTER";

/// What the reading side sends.
pub enum Message {
    /// Start the table `name` with `columns` (name, DuckDB type, nullable).
    Table {
        name: String,
        columns: Vec<(String, String, bool)>,
    },
    /// Rows of the table last started.
    Batch(DuckBatch),
}

/// Writes the database at `path` from `messages`; `target` names the served file
/// in errors. Returns the rows each table holds, counted by DuckDB.
pub fn write(
    path: &Path,
    target: &Path,
    messages: Receiver<Message>,
) -> Result<BTreeMap<String, u64>> {
    let fail = |what: String, e: duckdb::Error| failure(target, format!("{what}: {e}"));
    let conn = Connection::open(path).map_err(|e| fail(format!("create {}", path.display()), e))?;
    let tables = load(&conn, messages, &fail)?;
    let mut rows = BTreeMap::new();
    for name in tables {
        let count: i64 = conn
            .query_row(
                &format!("SELECT count(*) FROM {}", quote(&name)),
                [],
                |row| row.get(0),
            )
            .map_err(|e| fail(format!("count {name}"), e))?;
        rows.insert(name, u64::try_from(count).unwrap_or_default());
    }
    conn.execute_batch("CHECKPOINT")
        .map_err(|e| fail("checkpoint".into(), e))?;
    conn.close().map_err(|(_, e)| fail("close".into(), e))?;
    Ok(rows)
}

/// Creates and fills the tables `messages` describe; returns their names.
fn load(
    conn: &Connection,
    mut messages: Receiver<Message>,
    fail: &impl Fn(String, duckdb::Error) -> crate::error::Error,
) -> Result<Vec<String>> {
    let abort_after = std::env::var(ABORT_AFTER_ENV).ok();
    let mut tables: Vec<String> = Vec::new();
    let mut current: Option<(String, duckdb::Appender<'_>)> = None;
    while let Some(message) = messages.blocking_recv() {
        match message {
            Message::Table { name, columns } => {
                if let Some((done, appender)) = current.take() {
                    finish_table(&done, appender, abort_after.as_deref(), fail)?;
                }
                conn.execute_batch(&create_table_sql(&name, &columns))
                    .map_err(|e| fail(format!("create table {name}"), e))?;
                let appender = conn
                    .appender(&name)
                    .map_err(|e| fail(format!("append to {name}"), e))?;
                tables.push(name.clone());
                current = Some((name, appender));
            }
            Message::Batch(batch) => {
                let Some((name, appender)) = current.as_mut() else {
                    return Err(crate::error::Error::Task(
                        "rows sent before their table".into(),
                    ));
                };
                appender
                    .append_record_batch(batch)
                    .map_err(|e| fail(format!("append to {name}"), e))?;
            }
        }
    }
    if let Some((done, appender)) = current.take() {
        finish_table(&done, appender, abort_after.as_deref(), fail)?;
    }
    Ok(tables)
}

fn finish_table(
    name: &str,
    mut appender: duckdb::Appender<'_>,
    abort_after: Option<&str>,
    fail: &impl Fn(String, duckdb::Error) -> crate::error::Error,
) -> Result<()> {
    appender
        .flush()
        .map_err(|e| fail(format!("append to {name}"), e))?;
    drop(appender);
    if abort_after == Some(name) {
        tracing::warn!("{ABORT_AFTER_ENV}={name}: aborting the process");
        std::process::abort();
    }
    Ok(())
}
