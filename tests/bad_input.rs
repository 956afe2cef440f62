//! A raw file that cannot be read as SPEC section 2 says stops the run before any
//! commit, with exit status 1 and a message naming the file and the problem.

mod common;

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use common::{V, batch_dir, land, stride, stride_ok};

fn valid_orders(lake: &Path) {
    land(
        lake,
        "orders",
        "2026-01-01",
        "good.parquet",
        &[vec![
            V::S("c"),
            V::I(1),
            V::I(1),
            V::Ts("2026-01-01T10:00:00Z"),
            V::I(1),
            V::I(1),
            V::Ts("2026-01-01T10:00:00Z"),
            V::S("placed"),
            V::M("0.00"),
        ]],
    );
}

/// Runs stride on the lake and checks the failure: exit 1, the file and the problem
/// named, no Delta table written.
fn assert_refused(lake: &Path, file: &str, problem: &str) {
    let out = stride(lake, &["run"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(file), "message names {file}: {stderr}");
    assert!(stderr.contains(problem), "message says {problem}: {stderr}");
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{stderr}"
    );
    assert!(!lake.join("warehouse").exists(), "nothing was committed");
}

#[test]
fn a_file_that_is_not_parquet_stops_the_run() {
    let lake = common::temp_lake();
    valid_orders(lake.path());
    let dir = batch_dir(lake.path(), "orders", "2026-01-02");
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("broken.parquet"), b"this is not parquet").expect("write");
    assert_refused(
        lake.path(),
        "batch_date=2026-01-02/broken.parquet",
        "not a readable Parquet file",
    );
}

#[test]
fn a_file_missing_a_column_stops_the_run() {
    let lake = common::temp_lake();
    valid_orders(lake.path());
    let schema = Arc::new(Schema::new(vec![
        Field::new("_op", DataType::Utf8, true),
        Field::new("order_id", DataType::Int64, true),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(vec!["c"])),
            Arc::new(Int64Array::from(vec![2])),
        ],
    )
    .expect("batch");
    let dir = batch_dir(lake.path(), "orders", "2026-01-02");
    std::fs::create_dir_all(&dir).expect("dir");
    common::write_parquet(&dir.join("short.parquet"), &batch);
    assert_refused(
        lake.path(),
        "short.parquet",
        "missing required column `_seq`",
    );
}

#[test]
fn a_column_of_the_wrong_type_stops_the_run() {
    let lake = common::temp_lake();
    valid_orders(lake.path());
    // ordered_at in the wrong time zone: "+00:00" is not the SPEC's "UTC".
    let good = common::batch(
        "orders",
        &[vec![
            V::S("c"),
            V::I(2),
            V::I(2),
            V::Ts("2026-01-02T10:00:00Z"),
            V::I(2),
            V::I(1),
            V::Ts("2026-01-02T10:00:00Z"),
            V::S("placed"),
            V::M("0.00"),
        ]],
    );
    let mut fields: Vec<Field> = good
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    let mut columns = good.columns().to_vec();
    fields[6] = Field::new("ordered_at", common::timestamp_in("+00:00"), true);
    columns[6] = Arc::new(
        columns[6]
            .as_any()
            .downcast_ref::<arrow::array::TimestampMicrosecondArray>()
            .expect("timestamp")
            .clone()
            .with_timezone("+00:00"),
    );
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("batch");
    let dir = batch_dir(lake.path(), "orders", "2026-01-02");
    std::fs::create_dir_all(&dir).expect("dir");
    common::write_parquet(&dir.join("zoned.parquet"), &batch);
    assert_refused(
        lake.path(),
        "zoned.parquet",
        "column `ordered_at` has type Timestamp(µs, \"+00:00\")",
    );
}

#[test]
fn a_valid_lake_still_runs() {
    let lake = common::temp_lake();
    valid_orders(lake.path());
    stride_ok(lake.path(), &["run"]);
    assert!(lake.path().join("warehouse/fct_orders/_delta_log").exists());
}
