//! Reading the published DuckDB file: `stride query --engine duckdb`, and which
//! mart versions it holds. The file is opened read-only, as Metabase opens it.

use std::collections::BTreeMap;
use std::path::Path;

use arrow::record_batch::RecordBatch;
use duckdb::{AccessMode, Config, Connection};

use super::SYNC_TABLE;
use super::arrow_bridge::from_duckdb;
use super::types::quote;
use crate::error::{Error, Result};

/// Opens `file` read-only, or fails naming it.
fn open_read_only(file: &Path) -> Result<Connection> {
    let fail = |problem: String| Error::DuckDbFile {
        file: file.display().to_string(),
        problem,
    };
    if !file.is_file() {
        return Err(fail(
            "no such file (publish the marts with `stride sync` or `stride run`)".into(),
        ));
    }
    let config = Config::default()
        .access_mode(AccessMode::ReadOnly)
        .map_err(|e| fail(e.to_string()))?;
    Connection::open_with_flags(file, config).map_err(|e| fail(e.to_string()))
}

/// Runs `sql` on the DuckDB file `file`, read-only.
pub fn query(file: &Path, sql: &str) -> Result<Vec<RecordBatch>> {
    let conn = open_read_only(file)?;
    let fail = |e: duckdb::Error| {
        Error::Query(Box::new(Error::DuckDbFile {
            file: file.display().to_string(),
            problem: e.to_string(),
        }))
    };
    let mut statement = conn.prepare(sql).map_err(fail)?;
    let batches = statement.query_arrow([]).map_err(fail)?;
    batches.map(from_duckdb).collect()
}

/// The Delta version of each mart the file at `file` holds, from its sync table;
/// `None` when there is no file.
pub fn published_versions(file: &Path) -> Result<Option<BTreeMap<String, u64>>> {
    if !file.exists() {
        return Ok(None);
    }
    let conn = open_read_only(file)?;
    let fail = |e: duckdb::Error| Error::DuckDbFile {
        file: file.display().to_string(),
        problem: e.to_string(),
    };
    let mut statement = conn
        .prepare(&format!(
            "SELECT mart, delta_version FROM {}",
            quote(SYNC_TABLE)
        ))
        .map_err(fail)?;
    let rows = statement
        .query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })
        .map_err(fail)?;
    let mut versions = BTreeMap::new();
    for row in rows {
        let (mart, version) = row.map_err(fail)?;
        versions.insert(mart, u64::try_from(version).unwrap_or_default());
    }
    Ok(Some(versions))
}
