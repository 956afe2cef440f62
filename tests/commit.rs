//! What a commit stores is what the model computed: an incremental result whose
//! columns do not match its table fails before anything is written (never a value
//! turned into NULL by a cast), and `changes(ref(...))` has one set of column
//! types whichever way it was read.

mod common;

use std::path::{Path, PathBuf};

use common::{stride, stride_ok, temp_lake, text};
use serde_json::Value;

/// A copy of the project's SQL models in a temporary folder, to change.
fn project_copy() -> tempfile::TempDir {
    let copy = tempfile::tempdir().expect("temp dir");
    common::copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("queries"),
        copy.path(),
    );
    copy
}

fn with_queries<'a>(queries: &'a Path, args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["--queries", queries.to_str().expect("utf-8 path")];
    all.extend_from_slice(args);
    all
}

/// `stride query` with the project at `queries`, as JSON rows.
fn query(lake: &Path, queries: &Path, sql: &str) -> Vec<serde_json::Map<String, Value>> {
    let out = stride_ok(
        lake,
        &with_queries(queries, &["query", sql, "--format", "json"]),
    );
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).expect("json rows");
    rows.into_iter()
        .filter_map(|r| r.as_object().cloned())
        .collect()
}

fn commits(lake: &Path, model: &str) -> usize {
    std::fs::read_dir(lake.join(format!("warehouse/{model}/_delta_log")))
        .expect("log")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".json"))
        })
        .count()
}

#[test]
fn an_incremental_result_of_other_types_fails_before_anything_is_written() {
    let queries = project_copy();
    let model: PathBuf = queries.path().join("staging/stg_orders.sql");
    let sql = std::fs::read_to_string(&model).expect("stg_orders.sql");
    // The incremental branch gives shipping_amount as a double, the full branch as
    // the raw decimal.
    let changed = sql.replace(
        "    landed.shipping_amount,",
        "{% if is_incremental() %}\n    cast(landed.shipping_amount as double) as shipping_amount,\n\
         {% else %}\n    landed.shipping_amount,\n{% endif %}",
    );
    assert_ne!(changed, sql, "the model selects landed.shipping_amount");
    std::fs::write(&model, changed).expect("write model");

    let lake = temp_lake();
    let lake = lake.path();
    let q = queries.path();
    stride_ok(
        lake,
        &with_queries(q, &["generate", "--scale", "0.02", "--days", "2"]),
    );
    stride_ok(lake, &with_queries(q, &["run"]));
    let before = commits(lake, "stg_orders");
    stride_ok(lake, &with_queries(q, &["generate", "--days", "1"]));
    let out = stride(lake, &with_queries(q, &["run"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for named in [
        "stg_orders",
        "shipping_amount",
        "Float64",
        "Decimal128(12, 2)",
    ] {
        assert!(stderr.contains(named), "the error names {named}:\n{stderr}");
    }
    assert_eq!(commits(lake, "stg_orders"), before, "nothing was committed");
}

#[test]
fn the_change_feed_columns_have_one_type_on_every_path() {
    let queries = project_copy();
    // A model that stores the types of the change-feed columns it reads: on its
    // first run the input is read whole, later through Delta's change data feed.
    std::fs::write(
        queries.path().join("intermediate/int_feed_columns.sql"),
        "{{ config(materialized='incremental', unique_key='order_id', incremental_strategy='delete+insert') }}\n\
         select order_id, _commit_version,\n\
         arrow_typeof(_commit_version) as version_type,\n\
         arrow_typeof(_commit_timestamp) as timestamp_type\n\
         from {{ changes(ref('stg_orders')) }}\n\
         where _change_type in ('insert', 'update_postimage')\n",
    )
    .expect("write model");
    let lake = temp_lake();
    let lake = lake.path();
    let q = queries.path();
    let types = |lake: &Path| {
        query(
            lake,
            q,
            "select distinct version_type as v, timestamp_type as t from int_feed_columns",
        )
        .iter()
        .map(|r| (text(r, "v"), text(r, "t")))
        .collect::<Vec<_>>()
    };
    stride_ok(
        lake,
        &with_queries(q, &["generate", "--scale", "0.02", "--days", "2"]),
    );
    stride_ok(lake, &with_queries(q, &["run"]));
    let expected = vec![("UInt64".to_string(), "Timestamp(ms)".to_string())];
    assert_eq!(types(lake), expected, "read whole");
    stride_ok(lake, &with_queries(q, &["generate", "--days", "1"]));
    stride_ok(lake, &with_queries(q, &["run"]));
    assert_eq!(types(lake), expected, "read as a change feed");
    let versions = query(
        lake,
        q,
        "select count(*) as n from int_feed_columns where _commit_version is not null",
    );
    assert!(
        common::num(&versions[0], "n") > 0.0,
        "the incremental run stored versions of the feed"
    );
}
