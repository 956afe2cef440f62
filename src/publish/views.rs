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
    /// For a mart published as a base and its changes ([`super::changes`]), the
    /// key the changes are made by.
    pub key: Option<String>,
}

impl View {
    /// The folders (under a publish) whose files the view reads: the mart's own,
    /// then, for a mart published with its changes, the added rows' and the
    /// removed keys'.
    pub fn folders(&self) -> Vec<String> {
        match &self.key {
            None => vec![self.name.clone()],
            Some(_) => vec![
                self.name.clone(),
                added_folder(&self.name),
                removed_folder(&self.name),
            ],
        }
    }

    /// The view's query over the Parquet files `glob_of(folder)`: every column by
    /// name and cast to its type, so the view keeps the mart's columns and types
    /// whatever a file holds (DuckDB drops a cast to the type a column already
    /// has). A mart with changes reads its base less the removed keys, plus the
    /// added rows; each `read_parquet` reads one folder's data file and its pad
    /// ([`super::mart_files::PAD`]).
    pub fn select(&self, glob_of: impl Fn(&str) -> String) -> String {
        let columns: Vec<String> = self
            .columns
            .iter()
            .map(|(name, ty)| format!("CAST({0} AS {ty}) AS {0}", quote(name)))
            .collect();
        let columns = columns.join(", ");
        let read = |folder: &str| format!("read_parquet({})", literal(&glob_of(folder)));
        match &self.key {
            None => format!("SELECT {columns} FROM {}", read(&self.name)),
            Some(key) => {
                let key = quote(key);
                format!(
                    "SELECT {columns} FROM {} AS base WHERE NOT EXISTS \
                     (SELECT 1 FROM {} AS removed WHERE removed.{key} = base.{key}) \
                     UNION ALL SELECT {columns} FROM {}",
                    read(&self.name),
                    read(&removed_folder(&self.name)),
                    read(&added_folder(&self.name)),
                )
            }
        }
    }
}

/// The folder of a mart's rows added since its base.
pub fn added_folder(mart: &str) -> String {
    format!("{mart}@added")
}

/// The folder of the keys whose base rows a mart no longer holds.
pub fn removed_folder(mart: &str) -> String {
    format!("{mart}@removed")
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
                            && served.key_matches(view)
                            && view.folders().iter().all(|folder| {
                                served.sql.contains(&format!(
                                    "read_parquet({})",
                                    literal(&glob_of(folder))
                                ))
                            })
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

impl ServedView {
    /// Whether the served view reads changes by the key `view` wants, or none when
    /// it wants none.
    fn key_matches(&self, view: &View) -> bool {
        let reads_changes = self.sql.contains(&removed_folder(&view.name));
        match &view.key {
            None => !reads_changes,
            // DuckDB prints an identifier quoted only where it must be.
            Some(key) => {
                reads_changes
                    && (self.sql.contains(&format!("removed.{key} = base.{key}"))
                        || self
                            .sql
                            .contains(&format!("removed.{0} = base.{0}", quote(key))))
            }
        }
    }
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

/// Checks, with DuckDB, that each view over the files of the publish folder
/// `publish` has exactly the view's columns with its types, and returns the rows
/// each view reads there.
pub fn check_publish(target: &Path, views: &[View], publish: &Path) -> Result<Vec<u64>> {
    let fail = |what: String, e: duckdb::Error| failure(target, format!("{what}: {e}"));
    let conn = Connection::open_in_memory().map_err(|e| fail("open DuckDB".into(), e))?;
    let mut counts = Vec::new();
    for view in views {
        let select = view.select(|folder| super::folder::glob(publish, folder));
        let describe = format!("SELECT column_name, column_type FROM (DESCRIBE {select})");
        let mut statement = conn
            .prepare(&describe)
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
            .query_row(&format!("SELECT count(*) FROM ({select})"), [], |row| {
                row.get(0)
            })
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
            view.select(&glob_of)
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
            key: None,
        };
        assert_eq!(
            view.select(|folder| format!("/w/o'k/current/{folder}/*.parquet")),
            "SELECT CAST(\"order_id\" AS BIGINT) AS \"order_id\", \
             CAST(\"ordered_at\" AS TIMESTAMP WITH TIME ZONE) AS \"ordered_at\" \
             FROM read_parquet('/w/o''k/current/fct_orders/*.parquet')"
        );
    }

    #[test]
    fn a_mart_with_changes_reads_its_base_less_the_removed_keys_and_the_added_rows() {
        let view = View {
            name: "fct_orders".into(),
            columns: vec![("order_id".into(), "BIGINT".into())],
            key: Some("order_id".into()),
        };
        assert_eq!(
            view.folders(),
            ["fct_orders", "fct_orders@added", "fct_orders@removed"]
        );
        assert_eq!(
            view.select(|folder| format!("/p/{folder}/*.parquet")),
            "SELECT CAST(\"order_id\" AS BIGINT) AS \"order_id\" \
             FROM read_parquet('/p/fct_orders/*.parquet') AS base WHERE NOT EXISTS \
             (SELECT 1 FROM read_parquet('/p/fct_orders@removed/*.parquet') AS removed \
             WHERE removed.\"order_id\" = base.\"order_id\") \
             UNION ALL SELECT CAST(\"order_id\" AS BIGINT) AS \"order_id\" \
             FROM read_parquet('/p/fct_orders@added/*.parquet')"
        );
    }
}
