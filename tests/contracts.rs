//! Model contracts are checked on each result before its Delta commit: an `error`
//! rule that fails blocks exactly that model and the models that read it, names the
//! model, the rule and up to five offending rows, and exits 1; the other branches
//! still commit. `warn` rules are reported only.

mod common;

use std::path::Path;

use common::{stride, stride_ok};
use serde_json::Value;

/// Every stored model of the shipped project.
const STORED: [&str; 22] = [
    "stg_customers",
    "stg_products",
    "stg_campaigns",
    "stg_ad_spend",
    "stg_touchpoints",
    "stg_orders",
    "stg_order_items",
    "int_order_revenue",
    "int_order_touches",
    "int_customer_acquisition",
    "int_attribution_daily",
    "fct_orders",
    "fct_attribution",
    "mart_channel_daily",
    "mart_campaign_performance",
    "dim_customers",
    "dim_products",
    "dim_campaigns",
    "mart_acquisition_ltv",
    "int_order_journeys",
    "int_unconverted_journeys",
    "mart_channel_data_driven",
];

/// Each stored model with its number of Delta versions, from `stride history`.
fn versions(lake: &Path) -> Vec<(String, usize)> {
    STORED
        .iter()
        .map(|model| {
            let out = stride(lake, &["history", model, "--format", "json"]);
            let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap_or_default();
            (model.to_string(), rows.len())
        })
        .collect()
}

/// The shipped contracts with one more rule appended to `dim_customers.toml`.
fn contracts_with(extra_rule: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("data_contracts");
    for entry in std::fs::read_dir(&shipped).expect("data_contracts") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            let mut text = std::fs::read_to_string(&path).expect("read");
            if path.file_name().is_some_and(|n| n == "dim_customers.toml") {
                text.push_str(extra_rule);
            }
            std::fs::write(dir.path().join(path.file_name().expect("name")), text).expect("write");
        }
    }
    dir
}

/// The Parquet data files of the Delta table in `folder` (its log left out).
fn data_files(folder: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(folder)
        .expect("table folder")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|name| name.ends_with(".parquet"))
        .collect();
    names.sort();
    names
}

const NO_MEMBERS: &str =
    "\n[[rules]]\nname = \"no_member_tier\"\nexpression = \"loyalty_tier <> 'member'\"\n";

#[test]
fn a_broken_model_contract_blocks_that_model_and_its_dependents_only() {
    let lake = common::temp_lake();
    stride_ok(lake.path(), &["generate", "--days", "2", "--scale", "0.03"]);
    stride_ok(lake.path(), &["run"]);
    let before = versions(lake.path());

    stride_ok(lake.path(), &["generate", "--days", "1"]);
    let broken = contracts_with(NO_MEMBERS);
    let contracts = broken.path().to_str().expect("utf-8 path");
    let out = stride(lake.path(), &["--contracts", contracts, "run"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let error: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(error.len(), 1, "{stderr}");
    let error = error[0];
    assert!(error.contains("model dim_customers"), "{error}");
    assert!(
        error.contains("rule `no_member_tier` (error) failed on"),
        "{error}"
    );
    assert!(error.contains("dim_customers.toml"), "{error}");
    assert_eq!(
        error.matches("(customer_id=").count(),
        5,
        "five sample rows: {error}"
    );
    assert!(error.contains("loyalty_tier=member"), "{error}");

    // dim_customers and mart_acquisition_ltv (which reads it) kept their versions;
    // the other branches committed the new batch.
    let blocked = ["dim_customers", "mart_acquisition_ltv"];
    let after = versions(lake.path());
    for ((model, was), (_, now)) in before.iter().zip(&after) {
        if blocked.contains(&model.as_str()) {
            assert_eq!(now, was, "{model} was not committed");
        }
    }
    for model in [
        "stg_customers",
        "int_customer_acquisition",
        "fct_orders",
        "fct_attribution",
        "mart_channel_daily",
    ] {
        let (_, was) = before.iter().find(|(m, _)| m == model).expect("model");
        let (_, now) = after.iter().find(|(m, _)| m == model).expect("model");
        assert_eq!(*now, was + 1, "{model} committed");
    }
    assert!(
        stderr.contains("mart_acquisition_ltv skipped: dim_customers failed"),
        "{stderr}"
    );

    // `stride test` with that contract fails on the rule, naming it.
    let out = stride(
        lake.path(),
        &[
            "--contracts",
            contracts,
            "test",
            "--select",
            "dim_customers",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let outcomes: Vec<Value> = serde_json::from_slice(&out.stdout).expect("json");
    let failed: Vec<&Value> = outcomes.iter().filter(|o| o["status"] == "FAIL").collect();
    assert_eq!(failed.len(), 1, "{outcomes:#?}");
    assert_eq!(failed[0]["rule"], "no_member_tier");
    assert!(failed[0]["failing_rows"].as_u64().unwrap_or_default() > 0);
    assert!(String::from_utf8_lossy(&out.stderr).contains("dim_customers no_member_tier"));

    // A rebuild is checked in the files it has written, before its commit: the
    // failure keeps the table's version and removes those files.
    let table = lake.path().join("warehouse/dim_customers");
    let files = data_files(&table);
    let out = stride(
        lake.path(),
        &[
            "--contracts",
            contracts,
            "run",
            "--full-refresh",
            "--select",
            "dim_customers",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("rule `no_member_tier` (error) failed on"),
        "{stderr}"
    );
    assert_eq!(versions(lake.path()), after, "nothing committed");
    assert_eq!(data_files(&table), files, "the rebuild's files removed");

    // As a warning it only warns; the held-back models catch up.
    let warned =
        contracts_with(&NO_MEMBERS.replace("expression", "severity = \"warn\"\nexpression"));
    let out = stride_ok(
        lake.path(),
        &[
            "--contracts",
            warned.path().to_str().expect("utf-8 path"),
            "run",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("WARN") && stderr.contains("rule `no_member_tier` (warn)"),
        "{stderr}"
    );
    for ((model, was), (_, now)) in before.iter().zip(versions(lake.path())) {
        if blocked.contains(&model.as_str()) {
            assert_eq!(now, was + 1, "{model} caught up");
        }
    }
    stride_ok(lake.path(), &["test"]);
}

#[test]
fn a_contract_file_that_does_not_fit_is_refused_before_anything_runs() {
    let lake = common::temp_lake();
    let broken = contracts_with(
        "\n[[rules]]\nname = \"x\"\nrange = { column = \"no_such_column\", min = 0 }\n",
    );
    let out = stride(
        lake.path(),
        &[
            "--contracts",
            broken.path().to_str().expect("utf-8 path"),
            "run",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("dim_customers.toml") && stderr.contains("`no_such_column`"),
        "{stderr}"
    );
    assert!(!lake.path().join("warehouse").exists());
}

/// The payload of `returns`, a raw table stride does not ship.
const RETURNS: [(&str, common::T); 5] = [
    ("return_id", common::T::I64),
    ("order_id", common::T::I64),
    ("returned_at", common::T::Ts),
    ("reason", common::T::Str),
    ("refund_amount", common::T::Money),
];

const RETURNS_CONTRACT: &str = r#"
source = "returns"
description = "Returns of orders and the refund of each."
key = ["return_id"]
columns = [
  { name = "_op",           type = "utf8", nullable = false },
  { name = "_seq",          type = "int64", nullable = false },
  { name = "_batch_id",     type = "int64", nullable = false },
  { name = "_changed_at",   type = "timestamp", nullable = false },
  { name = "return_id",     type = "int64", nullable = false },
  { name = "order_id",      type = "int64", nullable = false },
  { name = "returned_at",   type = "timestamp", nullable = false },
  { name = "reason",        type = "utf8", nullable = false },
  { name = "refund_amount", type = "decimal(12,2)", nullable = false },
]

[[rules]]
name = "refund_not_negative"
range = { column = "refund_amount", min = 0 }

[[rules]]
name = "order_known"
relationship = { column = "order_id", to = "orders", field = "order_id" }
"#;

const STG_RETURNS: &str = "\
{{ config(materialized='incremental', unique_key='return_id', incremental_strategy='delete+insert') }}
with latest as (
    select return_id, max(_seq) as latest_seq
    from {{ changes(source('raw', 'returns')) }}
    group by return_id
)
select landed.return_id, landed.order_id, landed.reason, landed.refund_amount, landed._op
from latest
inner join {{ changes(source('raw', 'returns')) }} as landed
    on landed.return_id = latest.return_id and landed._seq = latest.latest_seq
";

const MART_REFUNDS: &str = "\
{{ config(materialized='table', publish=true) }}
select r.reason, count(*) as returns, sum(r.refund_amount) as refunded
from {{ ref('stg_returns') }} as r
inner join {{ ref('stg_orders') }} as o on o.order_id = r.order_id
group by r.reason
";

/// `(reason, returns, refunded)` of the refunds mart, by reason.
fn refunds(lake: &Path, args: &[&str]) -> Vec<(String, f64, f64)> {
    let sql = "select reason, returns, cast(refunded as double) as refunded \
               from mart_refunds_by_reason order by reason";
    common::query_args(lake, &[args, &["--", sql]].concat())
        .iter()
        .map(|r| {
            (
                common::text(r, "reason"),
                common::num(r, "returns"),
                common::num(r, "refunded"),
            )
        })
        .collect()
}

#[test]
fn a_new_source_is_a_contract_and_a_folder_of_parquet() {
    use common::V::{self, I, M, S, Ts};
    // A copy of the project and of its contracts, extended with files only.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let queries = tempfile::tempdir().expect("temp dir");
    let contracts = tempfile::tempdir().expect("temp dir");
    common::copy_dir(&root.join("queries"), queries.path());
    common::copy_dir(&root.join("data_contracts"), contracts.path());
    std::fs::write(contracts.path().join("returns.toml"), RETURNS_CONTRACT).expect("contract");
    std::fs::write(queries.path().join("staging/stg_returns.sql"), STG_RETURNS).expect("model");
    std::fs::write(
        queries.path().join("marts/mart_refunds_by_reason.sql"),
        MART_REFUNDS,
    )
    .expect("model");
    let q = queries.path().to_str().expect("utf-8 path");
    let c = contracts.path().to_str().expect("utf-8 path");
    let project = ["--queries", q, "--contracts", c];

    let lake = common::temp_lake();
    let lake = lake.path();
    let change = |op: &'static str, seq: i64, batch: i64, payload: Vec<V>| -> Vec<V> {
        [
            vec![S(op), I(seq), I(batch), Ts("2026-02-01T08:00:00Z")],
            payload,
        ]
        .concat()
    };
    let at = "2026-02-01T10:00:00Z";
    let ret = |id: i64, order: i64, reason: &'static str, refund: &'static str| {
        vec![I(id), I(order), Ts(at), S(reason), M(refund)]
    };
    common::land(
        lake,
        "orders",
        "2026-02-01",
        "orders.parquet",
        &[
            change("c", 1, 1, common::order(1, 1, at, "delivered")),
            change("c", 2, 1, common::order(2, 2, at, "delivered")),
        ],
    );
    common::land_of(
        lake,
        "returns",
        &RETURNS,
        "2026-02-01",
        "returns.parquet",
        &[
            change("c", 1, 1, ret(10, 1, "damaged", "20.00")),
            change("c", 2, 1, ret(11, 2, "too_small", "35.50")),
            change("u", 3, 1, ret(10, 1, "damaged", "25.00")),
            // No order 99: quarantined under order_known.
            change("c", 4, 1, ret(12, 99, "damaged", "5.00")),
            // A negative refund: quarantined under refund_not_negative.
            change("c", 5, 1, ret(13, 1, "too_small", "-5.00")),
            change("c", 6, 1, ret(14, 2, "too_small", "10.00")),
        ],
    );

    // The shipped contracts know no `returns`: the model's file is named, nothing runs.
    let out = stride(lake, &["--queries", q, "run"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("stg_returns.sql") && stderr.contains("returns.toml"),
        "{stderr}"
    );

    stride_ok(lake, &[&project[..], &["run"]].concat());
    // Return 10 at its update; 11 and 14; 12 and 13 quarantined.
    assert_eq!(
        refunds(lake, &project),
        vec![
            ("damaged".to_string(), 1.0, 25.0),
            ("too_small".to_string(), 2.0, 45.5)
        ]
    );
    let out = stride_ok(
        lake,
        &[&project[..], &["quarantine", "list", "--format", "json"]].concat(),
    );
    let listed: Vec<serde_json::Map<String, Value>> =
        serde_json::from_slice::<Vec<Value>>(&out.stdout)
            .expect("json")
            .into_iter()
            .filter_map(|r| r.as_object().cloned())
            .collect();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(common::text(&listed[0], "table"), "returns");
    assert_eq!(common::count(&listed[0], "rows_read"), 6);
    assert_eq!(common::count(&listed[0], "rows_loaded"), 4);
    assert_eq!(
        common::text(&listed[0], "reason"),
        "order_known: 1, refund_not_negative: 1"
    );

    // The next day deletes return 11 and restates 14: an incremental run follows.
    common::land_of(
        lake,
        "returns",
        &RETURNS,
        "2026-02-02",
        "returns.parquet",
        &[
            change("d", 7, 2, ret(11, 2, "too_small", "35.50")),
            change("u", 8, 2, ret(14, 2, "too_small", "12.00")),
        ],
    );
    stride_ok(lake, &[&project[..], &["run"]].concat());
    let expected = vec![
        ("damaged".to_string(), 1.0, 25.0),
        ("too_small".to_string(), 1.0, 12.0),
    ];
    assert_eq!(refunds(lake, &project), expected);
    // Published to DuckDB by its config, checked by `stride test`, and a full
    // refresh gives the same rows.
    let published = common::query_args(
        lake,
        &[
            "--engine",
            "duckdb",
            "--",
            "select count(*) as n from mart_refunds_by_reason",
        ],
    );
    assert_eq!(common::num(&published[0], "n"), 2.0);
    stride_ok(
        lake,
        &[&project[..], &["test", "--select", "source:returns"]].concat(),
    );
    stride_ok(lake, &[&project[..], &["run", "--full-refresh"]].concat());
    assert_eq!(refunds(lake, &project), expected);
}
