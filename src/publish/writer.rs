//! The DuckDB side of a publish, on threads of its own (the `duckdb` crate is
//! blocking): it creates each mart's table with its declared types, appends the
//! batches it is sent, then checkpoints so the file is complete without a
//! write-ahead log.
//!
//! DuckDB compresses rows in the thread that appends them, which is most of the
//! work, so each table is filled by several appenders at once, one per connection
//! to the new database, batches dealt round-robin (plain inserts do not conflict).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::mpsc::{Receiver as WorkerReceiver, SyncSender, sync_channel};

use duckdb::Connection;
use tokio::sync::mpsc::Receiver;

use super::arrow_bridge::DuckBatch;
use super::staging::failure;
use super::types::{create_table_sql, quote};
use crate::error::{Error, Result};

/// The test hook: `STRIDE_ABORT_PUBLISH_AFTER=<mart>` kills the process once that
/// mart has been sent to the new file, before the swap.
pub const ABORT_AFTER_ENV: &str = "STRIDE_ABORT_PUBLISH_AFTER";

/// At most this many appenders fill a table at once.
const MAX_APPENDERS: usize = 4;

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

/// What an appender thread is told.
enum Work {
    /// Append to this table from now on.
    Table(String),
    /// Rows for the current table.
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
    let appenders = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_APPENDERS);
    let tables = std::thread::scope(|scope| {
        let mut workers = Vec::new();
        for _ in 0..appenders {
            let worker_conn = conn.try_clone().map_err(|e| fail("connect".into(), e))?;
            let (sender, receiver) = sync_channel::<Work>(2);
            let fail = &fail;
            let handle = scope.spawn(move || append(&worker_conn, receiver, fail));
            workers.push((sender, handle));
        }
        let dealt = deal(&conn, messages, &workers, &fail);
        // Closing the channels ends the workers; their own errors come first.
        let handles: Vec<_> = workers.into_iter().map(|(_, handle)| handle).collect();
        for handle in handles {
            handle
                .join()
                .map_err(|_| failure(target, "a DuckDB appender thread panicked".into()))??;
        }
        dealt
    })?;
    let appended = std::time::Instant::now();
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
    tracing::debug!(
        "counted and checkpointed in {:.2}s",
        appended.elapsed().as_secs_f64()
    );
    conn.close().map_err(|(_, e)| fail("close".into(), e))?;
    Ok(rows)
}

/// Creates each table the messages describe and deals its batches to the workers;
/// returns the tables' names.
fn deal(
    conn: &Connection,
    mut messages: Receiver<Message>,
    workers: &[(
        SyncSender<Work>,
        std::thread::ScopedJoinHandle<'_, Result<()>>,
    )],
    fail: &impl Fn(String, duckdb::Error) -> Error,
) -> Result<Vec<String>> {
    let abort_after = std::env::var(ABORT_AFTER_ENV).ok();
    let stopped = || Error::Task("a DuckDB appender stopped".into());
    let mut tables: Vec<String> = Vec::new();
    let mut next = 0;
    while let Some(message) = messages.blocking_recv() {
        match message {
            Message::Table { name, columns } => {
                abort_if_asked(abort_after.as_deref(), tables.last());
                conn.execute_batch(&create_table_sql(&name, &columns))
                    .map_err(|e| fail(format!("create table {name}"), e))?;
                for (sender, _) in workers {
                    sender
                        .send(Work::Table(name.clone()))
                        .map_err(|_| stopped())?;
                }
                tables.push(name);
            }
            Message::Batch(batch) => {
                if tables.is_empty() {
                    return Err(Error::Task("rows sent before their table".into()));
                }
                workers[next % workers.len()]
                    .0
                    .send(Work::Batch(batch))
                    .map_err(|_| stopped())?;
                next += 1;
            }
        }
    }
    abort_if_asked(abort_after.as_deref(), tables.last());
    Ok(tables)
}

/// One appender thread: appends what it is dealt to the current table.
fn append(
    conn: &Connection,
    work: WorkerReceiver<Work>,
    fail: &impl Fn(String, duckdb::Error) -> Error,
) -> Result<()> {
    let mut current: Option<(String, duckdb::Appender<'_>)> = None;
    // One transaction per table and thread: DuckDB then compresses full row groups
    // as they fill, in this thread, instead of committing every flush and
    // compressing in (serial) checkpoints.
    let finish = |current: Option<(String, duckdb::Appender<'_>)>| -> Result<()> {
        if let Some((name, mut appender)) = current {
            appender
                .flush()
                .map_err(|e| fail(format!("append to {name}"), e))?;
            drop(appender);
            conn.execute_batch("COMMIT")
                .map_err(|e| fail(format!("commit {name}"), e))?;
        }
        Ok(())
    };
    for item in work {
        match item {
            Work::Table(name) => {
                finish(current.take())?;
                conn.execute_batch("BEGIN TRANSACTION")
                    .map_err(|e| fail(format!("begin {name}"), e))?;
                let appender = conn
                    .appender(&name)
                    .map_err(|e| fail(format!("append to {name}"), e))?;
                current = Some((name, appender));
            }
            Work::Batch(batch) => {
                let Some((name, appender)) = current.as_mut() else {
                    return Err(Error::Task("rows dealt before their table".into()));
                };
                appender
                    .append_record_batch(batch)
                    .map_err(|e| fail(format!("append to {name}"), e))?;
            }
        }
    }
    finish(current.take())
}

/// Kills the process when `done` is the mart the test hook names.
fn abort_if_asked(abort_after: Option<&str>, done: Option<&String>) {
    if let (Some(wanted), Some(done)) = (abort_after, done)
        && wanted == done
    {
        tracing::warn!("{ABORT_AFTER_ENV}={done}: aborting the process");
        std::process::abort();
    }
}
