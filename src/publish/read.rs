//! Reading the published DuckDB file: `stride query --engine duckdb`. The file is
//! opened read-only, as Metabase opens it.

use std::path::Path;

use arrow::record_batch::RecordBatch;
use duckdb::{AccessMode, Config, Connection};

use super::arrow_bridge::from_duckdb;
use crate::error::{Error, Result};

/// Opens `file` read-only, as Metabase does, or fails naming it.
pub(super) fn open_read_only(file: &Path) -> Result<Connection> {
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
