//! The served DuckDB file: one view per mart, and one for the sync table, each over
//! the Parquet files of the served publish (`<file>.publishes/current/<table>/`).
//!
//! DuckDB binds a view anew for every query, listing its files then, so a reader
//! that keeps its connection (or DuckDB's instance of the file) open sees each new
//! publish on its next query. The file itself changes only when the views do (a
//! mart's columns change, or the file's folder moves): it is then written anew
//! beside the served one and renamed over it ([`Staging`]).

use std::collections::BTreeMap;
use std::path::Path;

use duckdb::Connection;

use super::read::open_read_only;
use super::staging::{Staging, failure};
use super::types::{literal, quote};
use crate::error::Result;

/// One view: a mart or the sync table, with its columns and their DuckDB types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    /// The view's name (the mart's).
    pub name: String,
    /// (column, DuckDB type), in the mart's order.
    pub columns: Vec<(String, String)>,
}

impl View {
    /// The view's query over the Parquet files `glob`: every column by name and
    /// cast to its type, so the view keeps the mart's columns and types whatever a
    /// file holds (DuckDB drops a cast to the type a column already has).
    pub fn select(&self, glob: &str) -> String {
        let columns: Vec<String> = self
            .columns
            .iter()
            .map(|(name, ty)| format!("CAST({0} AS {ty}) AS {0}", quote(name)))
            .collect();
        format!(
            "SELECT {} FROM read_parquet({})",
            columns.join(", "),
            literal(glob)
        )
    }
}

/// Whether the DuckDB file `file` holds exactly `views` (no tables), each reading
/// the files `glob_of(view)` with the columns and types wanted.
pub fn served_match(file: &Path, views: &[View], glob_of: impl Fn(&str) -> String) -> bool {
    if !file.is_file() {
        return false;
    }
    match served_views(file) {
        Ok(served) => {
            served.len() == views.len()
                && views.iter().all(|view| {
                    served.get(&view.name).is_some_and(|served| {
                        served.columns == view.columns
                            && served.sql.contains(&format!(
                                "FROM read_parquet({})",
                                literal(&glob_of(&view.name))
                            ))
                    })
                })
        }
        Err(e) => {
            tracing::debug!("{}: {e}", file.display());
            false
        }
    }
}

/// A view as the served file holds it.
#[derive(Debug, Default)]
struct ServedView {
    /// Its SQL, as DuckDB prints it.
    sql: String,
    /// (column, DuckDB type) as DuckDB binds it now.
    columns: Vec<(String, String)>,
}

/// Every view of the file by name; an error when the file holds tables (an older
/// layout) or cannot be read.
fn served_views(file: &Path) -> Result<BTreeMap<String, ServedView>, String> {
    let conn = open_read_only(file).map_err(|e| e.to_string())?;
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM duckdb_tables()", [], |row| row.get(0))
        .map_err(|e| e.to_string())?;
    if tables > 0 {
        return Err(format!("{tables} tables in the file"));
    }
    let mut views = BTreeMap::new();
    let mut statement = conn
        .prepare("SELECT view_name, sql FROM duckdb_views() WHERE NOT internal")
        .map_err(|e| e.to_string())?;
    let rows = statement
        .query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })
        .map_err(|e| e.to_string())?;
    for row in rows {
        let (name, sql) = row.map_err(|e| e.to_string())?;
        views.insert(
            name,
            ServedView {
                sql,
                columns: Vec::new(),
            },
        );
    }
    // Binds each view, so a view whose files are gone or changed shows here.
    let mut statement = conn
        .prepare(
            "SELECT table_name, column_name, data_type FROM information_schema.columns \
             WHERE table_schema = 'main' ORDER BY table_name, ordinal_position",
        )
        .map_err(|e| e.to_string())?;
    let rows = statement
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
            ))
        })
        .map_err(|e| e.to_string())?;
    for row in rows {
        let (view, column, ty) = row.map_err(|e| e.to_string())?;
        if let Some(served) = views.get_mut(&view) {
            served.columns.push((column, ty));
        }
    }
    Ok(views)
}

/// Checks, with DuckDB, that the files of each view in the publish folder
/// `publish` hold exactly the view's columns with its types; returns the rows of
/// each (read from the files' footers).
pub fn check_publish(target: &Path, views: &[View], publish: &Path) -> Result<Vec<u64>> {
    let fail = |what: String, e: duckdb::Error| failure(target, format!("{what}: {e}"));
    let conn = Connection::open_in_memory().map_err(|e| fail("open DuckDB".into(), e))?;
    let mut counts = Vec::new();
    for view in views {
        let files = literal(&super::folder::glob(publish, &view.name));
        let mut statement = conn
            .prepare(&format!(
                "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet({files}))"
            ))
            .map_err(|e| fail(format!("read the files of {}", view.name), e))?;
        let columns = statement
            .query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })
            .and_then(|rows| rows.collect::<duckdb::Result<Vec<_>>>())
            .map_err(|e| fail(format!("read the files of {}", view.name), e))?;
        if columns != view.columns {
            return Err(failure(
                target,
                format!(
                    "the files written for {} read in DuckDB as {columns:?}, not {:?}",
                    view.name, view.columns
                ),
            ));
        }
        let rows: i64 = conn
            .query_row(
                &format!("SELECT count(*) FROM read_parquet({files})"),
                [],
                |row| row.get(0),
            )
            .map_err(|e| fail(format!("count the rows of {}", view.name), e))?;
        counts.push(u64::try_from(rows).unwrap_or_default());
    }
    Ok(counts)
}

/// Writes a new DuckDB file holding `views` over the files `glob_of(view)` and
/// swaps it in for `target`. The files must be there: DuckDB binds a view when it
/// is created.
pub fn write(target: &Path, views: &[View], glob_of: impl Fn(&str) -> String) -> Result<()> {
    let fail = |what: String, e: duckdb::Error| failure(target, format!("{what}: {e}"));
    let staging = Staging::new(target)?;
    let conn = Connection::open(staging.path())
        .map_err(|e| fail(format!("create {}", staging.path().display()), e))?;
    let mut sql = String::from("BEGIN TRANSACTION;\n");
    for view in views {
        sql.push_str(&format!(
            "CREATE VIEW {} AS {};\n",
            quote(&view.name),
            view.select(&glob_of(&view.name))
        ));
    }
    sql.push_str("COMMIT;\nCHECKPOINT;");
    conn.execute_batch(&sql)
        .map_err(|e| fail("create the views".into(), e))?;
    conn.close().map_err(|(_, e)| fail("close".into(), e))?;
    staging.swap_in()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_names_and_casts_every_column_and_reads_one_glob() {
        let view = View {
            name: "fct_orders".into(),
            columns: vec![
                ("order_id".into(), "BIGINT".into()),
                ("ordered_at".into(), "TIMESTAMP WITH TIME ZONE".into()),
            ],
        };
        assert_eq!(
            view.select("/w/o'k/current/fct_orders/*.parquet"),
            "SELECT CAST(\"order_id\" AS BIGINT) AS \"order_id\", \
             CAST(\"ordered_at\" AS TIMESTAMP WITH TIME ZONE) AS \"ordered_at\" \
             FROM read_parquet('/w/o''k/current/fct_orders/*.parquet')"
        );
    }
}
