//! `stride verify` (incremental tables against a rebuild from the same input),
//! `stride diff` (what changed between two versions) and time travel before a
//! table existed. The diff's expected rows are worked out by hand in the comments.

mod common;

use std::path::Path;

use V::{D, I, M, S};
use common::{V, change, land, order, row, stride, stride_ok, touch};
use serde_json::Value;

const B1: &str = "2026-03-01";
const B2: &str = "2026-03-02";
const T1: &str = "2026-03-01T10:00:00Z";
const T2: &str = "2026-03-02T09:00:00Z";

/// A comparison's rows (added, removed, changed).
fn counts(c: &Value) -> (Option<u64>, Option<u64>, Option<u64>) {
    (
        c["added"].as_u64(),
        c["removed"].as_u64(),
        c["changed"].as_u64(),
    )
}

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Batch 1: customers 1 and 2; campaigns 1 (paid_search) and 2 (email); customer
/// 1 touched by paid_search on Feb 28, customer 2 by email on Feb 27; order 10
/// (customer 1, placed, 1 × 50.00) and order 11 (customer 2, delivered, 1 × 30.00),
/// both on 2026-03-01.
fn land_batch_1(lake: &Path) {
    let customer = |id: i64| row(change("c", id, 1, T1), common::customer(id, "member"));
    land(
        lake,
        "customers",
        B1,
        "c.parquet",
        &[customer(1), customer(2)],
    );
    land(
        lake,
        "products",
        B1,
        "p.parquet",
        &[row(change("c", 1, 1, T1), common::tee())],
    );
    let campaign = |id: i64, channel: &'static str| {
        row(
            change("c", id, 1, T1),
            vec![
                I(id),
                S("Campaign"),
                S(channel),
                D("2026-02-01"),
                D("2026-04-30"),
                M("100.00"),
            ],
        )
    };
    land(
        lake,
        "campaigns",
        B1,
        "k.parquet",
        &[campaign(1, "paid_search"), campaign(2, "email")],
    );
    land(
        lake,
        "ad_spend",
        B1,
        "s.parquet",
        &[row(
            change("c", 1, 1, T1),
            vec![I(1), D("2026-02-28"), I(100), I(10), M("20.00")],
        )],
    );
    land(
        lake,
        "touchpoints",
        B1,
        "t.parquet",
        &[
            row(
                change("c", 1, 1, T1),
                touch(501, 1, Some(1), "paid_search", "2026-02-28T10:00:00Z"),
            ),
            row(
                change("c", 2, 1, T1),
                touch(502, 2, Some(2), "email", "2026-02-27T10:00:00Z"),
            ),
        ],
    );
    land(
        lake,
        "orders",
        B1,
        "o.parquet",
        &[
            row(change("c", 1, 1, T1), order(10, 1, T1, "placed")),
            row(change("c", 2, 1, T1), order(11, 2, T1, "delivered")),
        ],
    );
    land(
        lake,
        "order_items",
        B1,
        "i.parquet",
        &[
            row(
                change("c", 1, 1, T1),
                vec![I(10), I(1), I(1), I(1), M("50.00"), M("0.00")],
            ),
            row(
                change("c", 2, 1, T1),
                vec![I(11), I(1), I(1), I(1), M("30.00"), M("0.00")],
            ),
        ],
    );
}

/// Batch 2: order 11 is returned; order 12 is new (customer 1, placed at
/// 2026-03-01T20:00Z, 2 × 19.99 less 5.00 discount: gross 39.98, net 34.98).
fn land_batch_2(lake: &Path) {
    land(
        lake,
        "orders",
        B2,
        "o.parquet",
        &[
            row(change("u", 3, 2, T2), order(11, 2, T1, "returned")),
            row(
                change("c", 4, 2, T2),
                order(12, 1, "2026-03-01T20:00:00Z", "placed"),
            ),
        ],
    );
    land(
        lake,
        "order_items",
        B2,
        "i.parquet",
        &[row(
            change("c", 3, 2, T2),
            vec![I(12), I(1), I(1), I(2), M("19.99"), M("5.00")],
        )],
    );
}

fn two_batch_lake() -> tempfile::TempDir {
    let lake = common::temp_lake();
    land_batch_1(lake.path());
    stride_ok(lake.path(), &["run"]);
    land_batch_2(lake.path());
    stride_ok(lake.path(), &["run"]);
    lake
}

#[test]
fn diff_of_fct_orders_names_the_returned_and_the_new_order() {
    let lake = two_batch_lake();
    let out = stride_ok(lake.path(), &["diff", "fct_orders", "--format", "json"]);
    let diff = json(&out);
    // The default: the previous version against the latest.
    assert_eq!(diff["from_version"], 0, "{diff:#}");
    assert_eq!(diff["to_version"], 1, "{diff:#}");
    let c = &diff["comparison"];
    assert_eq!(c["key"], serde_json::json!(["order_id"]));
    assert_eq!(
        (c["rows_from"].as_u64(), c["rows_to"].as_u64()),
        (Some(2), Some(3))
    );
    assert_eq!(counts(c), (Some(1), Some(0), Some(1)), "{c:#}");
    let column = |name: &str| {
        c["columns"]
            .as_array()
            .and_then(|cols| cols.iter().find(|col| col["column"] == name))
            .unwrap_or_else(|| panic!("no column {name} in {c:#}"))
            .clone()
    };
    // Order 11: delivered → returned, so no longer eligible; nothing else moves.
    assert_eq!(column("status")["rows_changed"], 1);
    assert_eq!(column("is_eligible")["rows_changed"], 1);
    for unchanged in ["net_revenue", "gross_revenue", "ordered_at", "customer_id"] {
        assert_eq!(column(unchanged)["rows_changed"], 0, "{unchanged}");
    }
    // The total of net_revenue grows by order 12's 34.98; gross by 39.98.
    let net = column("net_revenue")["net_change"]
        .as_f64()
        .expect("numeric");
    assert!((net - 34.98).abs() < 1e-9, "net change {net}");
    let gross = column("gross_revenue")["net_change"]
        .as_f64()
        .expect("numeric");
    assert!((gross - 39.98).abs() < 1e-9, "gross change {gross}");

    let examples = c["examples"].as_array().expect("examples");
    let added = examples
        .iter()
        .find(|e| e["kind"] == "added")
        .expect("an added example");
    assert_eq!(added["key"]["order_id"], "12");
    let value = |e: &Value, col: &str, side: &str| -> Value {
        e["columns"]
            .as_array()
            .and_then(|cols| cols.iter().find(|c| c["column"] == col))
            .map(|c| c[side].clone())
            .unwrap_or(Value::Null)
    };
    assert_eq!(value(added, "net_revenue", "to"), "34.98");
    assert_eq!(value(added, "item_count", "to"), "2");
    let changed = examples
        .iter()
        .find(|e| e["kind"] == "changed")
        .expect("a changed example");
    assert_eq!(changed["key"]["order_id"], "11");
    let columns: Vec<&str> = changed["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .filter_map(|c| c["column"].as_str())
        .collect();
    assert_eq!(columns, ["status", "is_eligible"]);
    assert_eq!(value(changed, "status", "from"), "delivered");
    assert_eq!(value(changed, "status", "to"), "returned");

    // The table report says the same in words.
    let out = stride_ok(
        lake.path(),
        &["diff", "fct_orders", "--from", "0", "--to", "1"],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("1 only in v1 (added), 0 only in v0 (removed), 1 changed"),
        "{text}"
    );
}

#[test]
fn diff_of_an_aggregate_mart_reports_the_changed_groups() {
    let lake = two_batch_lake();
    let out = stride_ok(
        lake.path(),
        &[
            "diff",
            "mart_channel_daily",
            "--examples",
            "20",
            "--format",
            "json",
        ],
    );
    let diff = json(&out);
    let c = &diff["comparison"];
    // Its contract's grain: one row per (order_date, channel, model).
    assert_eq!(
        c["key"],
        serde_json::json!(["order_date", "channel", "model"])
    );
    // Order 11's email credit is gone (its only group, under each of the 5 models);
    // order 12 (customer 1, touched by paid_search on Feb 28) joins order 10's
    // paid_search groups: conversions 1 → 2, revenue 50.00 → 84.98.
    assert_eq!(counts(c), (Some(0), Some(5), Some(5)), "{c:#}");
    let examples = c["examples"].as_array().expect("examples");
    for e in examples {
        assert_eq!(e["key"]["order_date"], "2026-03-01");
        match e["kind"].as_str() {
            Some("removed") => assert_eq!(e["key"]["channel"], "email"),
            Some("changed") => {
                assert_eq!(e["key"]["channel"], "paid_search");
                let cols = e["columns"].as_array().expect("columns");
                let revenue = cols
                    .iter()
                    .find(|c| c["column"] == "attributed_revenue")
                    .expect("revenue changed");
                assert_eq!(
                    (revenue["from"].as_str(), revenue["to"].as_str()),
                    (Some("50.0"), Some("84.98"))
                );
            }
            other => panic!("unexpected {other:?} in {e:#}"),
        }
    }
    let models: std::collections::BTreeSet<&str> = examples
        .iter()
        .filter_map(|e| e["key"]["model"].as_str())
        .collect();
    assert_eq!(models.len(), 5, "{models:?}");
    let conversions = c["columns"]
        .as_array()
        .and_then(|cols| cols.iter().find(|c| c["column"] == "conversions"))
        .expect("conversions");
    assert_eq!(conversions["rows_changed"], 5);
    // 5 groups gain one conversion each.
    assert!((conversions["sum_of_change"].as_f64().expect("sum") - 5.0).abs() < 1e-9);
}

#[test]
fn diff_of_a_run_summarises_each_mart_it_committed() {
    let lake = two_batch_lake();
    let runs = common::query(
        lake.path(),
        "select run_id from stride.runs order by started_at",
    );
    let last = common::text(&runs[runs.len() - 1], "run_id");
    let out = stride_ok(lake.path(), &["diff", "--run", &last, "--format", "json"]);
    let summary = json(&out);
    let marts = summary["marts"].as_array().expect("marts");
    let fct_orders = marts
        .iter()
        .find(|m| m["diff"]["model"] == "fct_orders")
        .expect("fct_orders changed");
    let c = &fct_orders["diff"]["comparison"];
    assert_eq!(
        (c["added"].as_u64(), c["changed"].as_u64()),
        (Some(1), Some(1))
    );
    // Products and campaigns had no new batch: the run left them alone.
    let unchanged = summary["unchanged"].as_array().expect("unchanged");
    assert!(unchanged.iter().any(|m| m == "dim_products"), "{summary:#}");
    let out = stride(lake.path(), &["diff", "--run", "20200101T000000.000Z-0000"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no run 20200101T000000.000Z-0000"));
}

#[test]
fn time_travel_before_the_first_version_is_an_error_naming_the_model() {
    let lake = two_batch_lake();
    let times = common::commit_times(lake.path(), "fct_orders");
    let out = stride(
        lake.path(),
        &[
            "query",
            "--as-of",
            "2020-01-01T00:00:00Z",
            "select count(*) from fct_orders",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let first = times[0].replacen('T', " ", 1).replace('Z', " UTC");
    assert!(
        err.contains("model fct_orders did not exist yet at 2020-01-01 00:00:00.000 UTC")
            && err.contains(&format!("its first version (0) was committed at {first}")),
        "{err}"
    );
    // Between the two versions: the older one (2 orders, then 3).
    let between = chrono::DateTime::parse_from_rfc3339(&times[1]).expect("time")
        - chrono::Duration::milliseconds(1);
    let between = between.to_rfc3339();
    assert_eq!(
        common::count_as_of(lake.path(), "fct_orders", &between),
        2.0
    );
    assert_eq!(
        common::count_as_of(lake.path(), "fct_orders", &times[1]),
        3.0
    );
    // diff --from before the first version: the same error.
    let out = stride(lake.path(), &["diff", "fct_orders", "--from", "2020-01-01"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did not exist yet"));
}

/// A lake built day by day by the generator (late touchpoints, deletions,
/// restated spend, redeliveries and some refused rows), one run per day.
fn incremental_lake() -> tempfile::TempDir {
    let lake = common::temp_lake();
    let args = ["generate", "--days", "3", "--scale", "0.03", "--seed", "5"];
    stride_ok(lake.path(), &args);
    stride_ok(lake.path(), &["run"]);
    for _ in 0..5 {
        stride_ok(lake.path(), &["generate", "--days", "1"]);
        stride_ok(lake.path(), &["run"]);
    }
    lake
}

fn versions(lake: &Path) -> Vec<(String, usize)> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(lake.join("warehouse")).expect("warehouse") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .to_string();
        let commits = std::fs::read_dir(path.join("_delta_log"))
            .map(|d| d.count())
            .unwrap_or(0);
        all.push((name, commits));
    }
    all.sort();
    all
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_finds_exactly_the_row_altered_behind_strides_back() {
    let lake = incremental_lake();
    let out = stride_ok(lake.path(), &["verify", "--format", "json"]);
    let report = json(&out);
    let models = report["models"].as_array().expect("models");
    assert!(
        models.len() >= 15,
        "every stored model compared: {report:#}"
    );
    for m in models {
        assert_eq!(m["verdict"], "equal", "{:#}", m);
    }
    let served = report["served"].as_array().expect("served marts");
    assert_eq!(served.len(), common::MARTS.len(), "{report:#}");
    assert!(served.iter().all(|m| m["state"] == "equal"), "{report:#}");
    assert!(
        report["sources"].as_array().is_some_and(
            |s| s.len() == 7 && s.iter().all(|t| t["mismatched"] == Value::Array(vec![]))
        ),
        "{report:#}"
    );
    assert!(
        !lake.path().join("_stride/verify").exists(),
        "scratch removed"
    );

    // A Delta commit that is not stride's: one linear credit grows by 1/8.
    let picked = common::query(
        lake.path(),
        "select order_id, touchpoint_id, credit from fct_attribution \
         where model = 'linear' and touchpoint_id is not null order by order_id, touchpoint_id limit 1",
    );
    let order_id = common::num(&picked[0], "order_id") as i64;
    let touchpoint = common::num(&picked[0], "touchpoint_id") as i64;
    let url = url::Url::from_directory_path(lake.path().join("warehouse/fct_attribution"))
        .expect("table url");
    let table = deltalake::open_table(url).await.expect("open");
    let (_, metrics) = table
        .update()
        .with_predicate(format!(
            "order_id = {order_id} and model = 'linear' and touchpoint_id = {touchpoint}"
        ))
        .with_update("credit", "credit + 0.125")
        .await
        .expect("update one credit");
    assert_eq!(metrics.num_updated_rows, 1);

    let out = stride(lake.path(), &["verify", "--format", "json"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("1 differ from a rebuild from the same input: fct_attribution"),
        "{stderr}"
    );
    let report = json(&out);
    let differing: Vec<&Value> = report["models"]
        .as_array()
        .expect("models")
        .iter()
        .filter(|m| m["verdict"] != "equal")
        .collect();
    assert_eq!(differing.len(), 1, "{report:#}");
    let c = &differing[0]["comparison"];
    assert_eq!(differing[0]["model"], "fct_attribution");
    assert_eq!(counts(c), (Some(0), Some(0), Some(1)), "{c:#}");
    let changed: Vec<&Value> = c["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .filter(|col| col["rows_changed"] != 0)
        .collect();
    assert_eq!(changed.len(), 1, "{c:#}");
    assert_eq!(changed[0]["column"], "credit");
    // The rebuild's credit is 1/8 below the altered one.
    assert!((changed[0]["sum_of_change"].as_f64().expect("sum") + 0.125).abs() < 1e-12);
    let example = &c["examples"][0];
    assert_eq!(example["key"]["order_id"], order_id.to_string());
    assert_eq!(example["key"]["touchpoint_id"], touchpoint.to_string());
    assert_eq!(example["key"]["model"], "linear");
    assert!(
        !lake.path().join("_stride/verify").exists(),
        "scratch removed"
    );
}

#[test]
fn a_verify_killed_halfway_changes_nothing_and_the_next_one_cleans_up() {
    let lake = incremental_lake();
    let before = versions(lake.path());
    let out = common::stride_command(lake.path())
        .args(["verify"])
        .env("STRIDE_ABORT_AFTER_COMMIT", "int_order_revenue")
        .output()
        .expect("stride runs");
    assert!(!out.status.success(), "the verify was to abort");
    let scratch = lake.path().join("_stride/verify");
    assert!(
        scratch.exists(),
        "the killed verify left its scratch tables"
    );
    assert_eq!(versions(lake.path()), before, "served tables untouched");

    let out = stride_ok(lake.path(), &["verify"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("DIFFERS"), "{text}");
    assert!(!scratch.exists(), "the next verify removed what was left");
    assert_eq!(versions(lake.path()), before, "served tables untouched");

    // `vacuum` also removes what a killed verify left.
    let out = common::stride_command(lake.path())
        .args(["verify", "--select", "fct_orders"])
        .env("STRIDE_ABORT_AFTER_COMMIT", "stg_orders")
        .output()
        .expect("stride runs");
    assert!(!out.status.success());
    assert!(scratch.exists());
    stride_ok(lake.path(), &["vacuum"]);
    assert!(!scratch.exists(), "vacuum removed the scratch tables");
}

#[test]
fn verify_refuses_a_lake_whose_tables_are_behind_each_other() {
    let lake = incremental_lake();
    stride_ok(lake.path(), &["generate", "--days", "1"]);
    stride_ok(lake.path(), &["run", "--select", "stg_orders"]);
    let out = stride(lake.path(), &["verify"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("run `stride run` first") && err.contains("it read stg_orders at version"),
        "{err}"
    );
    // New files no run has read yet are not an obstacle: they are left out.
    stride_ok(lake.path(), &["run"]);
    stride_ok(lake.path(), &["generate", "--days", "1"]);
    stride_ok(lake.path(), &["verify"]);
}

#[test]
fn verify_finds_a_served_mart_that_is_not_the_version_it_claims() {
    use common::LakeArgs;
    let lake = incremental_lake();
    // The served dim_products loses a row behind stride's back (a publish defect
    // would look the same to a reader): its file is written anew without it.
    let mut folder = lake.path().duckdb_file().into_os_string();
    folder.push(".publishes/current/dim_products");
    let data = std::fs::read_dir(&folder)
        .expect("served folder")
        .map(|e| e.expect("entry").path())
        .find(|p| p.file_name().is_some_and(|n| n != "pad.parquet"))
        .expect("the data file");
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(&data).expect("open"),
    )
    .expect("parquet")
    .build()
    .expect("reader");
    let batches: Vec<arrow::record_batch::RecordBatch> =
        reader.collect::<Result<_, _>>().expect("rows");
    let all = arrow::compute::concat_batches(&batches[0].schema(), &batches).expect("concat");
    let shorter = all.slice(1, all.num_rows() - 1);
    let replaced = data.with_extension("tmp");
    common::write_parquet(&replaced, &shorter);
    std::fs::rename(&replaced, &data).expect("replace");

    let out = stride(lake.path(), &["verify", "--format", "json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("served dim_products"), "{stderr}");
    let report = json(&out);
    for m in report["models"].as_array().expect("models") {
        assert_eq!(m["verdict"], "equal", "the tables are sound: {m:#}");
    }
    let differing: Vec<&Value> = report["served"]
        .as_array()
        .expect("served")
        .iter()
        .filter(|m| m["state"] != "equal")
        .collect();
    assert_eq!(differing.len(), 1, "{report:#}");
    assert_eq!(differing[0]["mart"], "dim_products");
    // The row is in the table's version and not in the served view.
    assert_eq!(
        counts(&differing[0]["comparison"]),
        (Some(0), Some(1), Some(0)),
        "{report:#}"
    );
}
