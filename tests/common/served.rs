//! Reading what a publish serves: the DuckDB file through `stride query --engine
//! duckdb`, and through DuckDB's own Python package at the release Metabase's
//! driver bundles, as an outside reader would.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{
    LakeArgs, MARTS, assert_same_marts, marts, marts_via, python, query_args, stride_ok, temp_lake,
};

/// The DuckDB of the Metabase driver pinned in docker-compose.yml
/// (motherduckdb/metabase_duckdb_driver 1.5.3.0 bundles duckdb_jdbc 1.5.3.0).
pub const METABASE_DUCKDB: &str = "duckdb==1.5.3";

/// The Python interpreter with [`METABASE_DUCKDB`] installed (and numpy, which
/// DuckDB's Python functions need).
pub fn duckdb_python() -> PathBuf {
    python::python(
        "duckdb-venv",
        &[METABASE_DUCKDB, "numpy==2.3.5"],
        "import duckdb, numpy",
    )
}

/// A small lake, generated (seed 5) and run, which publishes.
pub fn published_lake(days: &str, scale: &str) -> tempfile::TempDir {
    let lake = temp_lake();
    stride_ok(
        lake.path(),
        &["generate", "--days", days, "--scale", scale, "--seed", "5"],
    );
    stride_ok(lake.path(), &["run"]);
    assert!(
        lake.path().duckdb_file().is_file(),
        "run published the file"
    );
    lake
}

/// Rows of `sql` on the published file.
pub fn duck(lake: &Path, sql: &str) -> Vec<serde_json::Map<String, Value>> {
    query_args(lake, &[sql, "--engine", "duckdb"])
}

/// mart -> (Delta version, rows) as the file's sync table records them.
pub fn synced(lake: &Path) -> BTreeMap<String, (i64, i64)> {
    duck(
        lake,
        "select mart, delta_version, row_count from _stride_sync",
    )
    .iter()
    .map(|row| {
        (
            row["mart"].as_str().unwrap_or_default().to_string(),
            (
                row["delta_version"].as_i64().unwrap_or(-1),
                row["row_count"].as_i64().unwrap_or(-1),
            ),
        )
    })
    .collect()
}

/// mart -> Delta version, as the file's sync table records them.
pub fn synced_versions(lake: &Path) -> BTreeMap<String, i64> {
    synced(lake)
        .into_iter()
        .map(|(mart, (version, _))| (mart, version))
        .collect()
}

/// mart -> latest Delta version, from `stride history`.
pub fn delta_versions(lake: &Path) -> BTreeMap<String, i64> {
    MARTS
        .iter()
        .map(|mart| {
            let out = stride_ok(lake, &["history", mart, "--format", "json"]);
            let rows: Vec<Value> = serde_json::from_slice(&out.stdout).expect("history json");
            let latest = rows
                .iter()
                .filter_map(|r| r["version"].as_i64())
                .max()
                .expect("a version");
            (mart.to_string(), latest)
        })
        .collect()
}

/// Fails unless every mart in the published file equals its Delta table, row for row.
#[track_caller]
pub fn assert_file_equals_tables(lake: &Path, when: &str) {
    assert_same_marts(
        &marts_via(lake, &["--engine", "duckdb"]),
        &marts(lake),
        when,
    );
}

/// `<file>.publishes`, the publishes folder of the DuckDB file `file`.
fn publishes_of(file: &Path) -> PathBuf {
    let mut root = file.as_os_str().to_owned();
    root.push(".publishes");
    PathBuf::from(root)
}

/// The publish folders next to the DuckDB file `file` (the link `current` and the
/// lock left out).
pub fn publish_folders(file: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(publishes_of(file))
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The publish `current` names, next to the DuckDB file `file`.
pub fn current_publish(file: &Path) -> Option<String> {
    std::fs::read_link(publishes_of(file).join("current"))
        .ok()
        .map(|target| target.to_string_lossy().to_string())
}

/// Lands, in the newest orders batch, the deletion of the `nth` eligible order (by
/// id); returns its id.
pub fn delete_an_eligible_order(lake: &Path, nth: usize) -> i64 {
    let found = super::query(
        lake,
        &format!(
            "select o.order_id, o.customer_id, cast(o.ordered_at as varchar) as ordered_at, \
             o.status, (select max(_seq) from raw.orders) as seq, \
             (select max(_batch_id) from raw.orders) as batch, \
             (select cast(max(batch_date) as varchar) from raw.orders) as day \
             from fct_orders o where o.is_eligible order by o.order_id limit 1 offset {nth}"
        ),
    );
    let row = &found[0];
    let id = row["order_id"].as_i64().expect("order_id");
    let customer = row["customer_id"].as_i64().expect("customer_id");
    let seq = row["seq"].as_i64().expect("seq");
    let batch = row["batch"].as_i64().expect("batch");
    let at: &'static str = Box::leak(super::text(row, "ordered_at").into_boxed_str());
    let status: &'static str = Box::leak(super::text(row, "status").into_boxed_str());
    let day = super::text(row, "day");
    super::land(
        lake,
        "orders",
        &day,
        &format!("deletion-{id}.parquet"),
        &[super::row(
            super::change("d", seq + 1, batch, "2026-03-01T00:00:00Z"),
            super::order(id, customer, at, status),
        )],
    );
    id
}
