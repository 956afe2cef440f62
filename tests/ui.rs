//! The pages of `stride serve` in a real headless browser: Debian's Chromium and
//! ChromeDriver, driven by Python Selenium (tests/common/pages.py reads what the
//! pages show, from the DOM). Each page loads with no console error and no request
//! leaving the server; what the pages show is checked against the command line:
//! freshness and lineage states, a run's Gantt against its record, every chart's
//! numbers against the same analysis run by `stride query`, time travel against
//! `stride query --version`, and "Run now" starting exactly one run. Screenshots
//! of every page land in `<build folder>/tmp/screenshots/`.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use common::serving::{Serving, http, runs, same_within_float_sums, stop};
use common::{LakeArgs, query_args, stride, stride_ok};
use serde_json::Value;

/// The raw tables of SPEC section 2.
const RAW_TABLES: [&str; 7] = [
    "orders",
    "order_items",
    "customers",
    "products",
    "campaigns",
    "ad_spend",
    "touchpoints",
];

const SMALL: [&str; 4] = ["--scale", "0.05", "--seed", "11"];

fn generate(lake: &(impl LakeArgs + ?Sized), days: &str, extra: &[&str]) {
    let mut args = vec!["generate", "--days", days];
    args.extend(SMALL);
    args.extend(extra);
    stride_ok(lake, &args);
}

/// What `scenario` of tests/common/pages.py read from the pages. Unless `strict`
/// is false, no page logged a console error or asked anything of another host.
fn pages(serving: &Serving, scenario: &str, args: &[&str], strict: bool) -> Value {
    let python = common::browser::python();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/common/pages.py");
    let base = format!("http://127.0.0.1:{}", serving.port);
    let out = Command::new(python)
        .arg(script)
        .arg(scenario)
        .arg(&base)
        .arg(common::browser::screenshots_dir())
        .args(args)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "pages.py {scenario} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "pages.py printed no JSON ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    if strict {
        assert_eq!(seen["console_errors"], Value::Array(vec![]), "{scenario}");
        assert_eq!(seen["foreign_requests"], Value::Array(vec![]), "{scenario}");
    }
    seen
}

/// The model names of the SQL project, from its files.
fn project_models() -> BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("queries");
    let mut models = BTreeSet::new();
    for folder in ["staging", "intermediate", "marts"] {
        for entry in std::fs::read_dir(root.join(folder)).expect("queries folder") {
            let name = entry.expect("entry").file_name();
            let name = name.to_string_lossy();
            if let Some(stem) = name.strip_suffix(".sql")
                && !stem.ends_with(".duckdb")
            {
                models.insert(stem.to_string());
            }
        }
    }
    models
}

/// The views of the project (they have no state of their own).
fn views() -> BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("queries");
    project_models()
        .into_iter()
        .filter(|m| {
            ["staging", "intermediate", "marts"].iter().any(|f| {
                std::fs::read_to_string(root.join(f).join(format!("{m}.sql")))
                    .is_ok_and(|sql| sql.contains("materialized='view'"))
            })
        })
        .collect()
}

fn ids(object: &Value) -> BTreeSet<String> {
    object
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

/// Every key of `object` whose value is not `state`.
fn not_in_state(object: &Value, state: &str, except: &BTreeSet<String>) -> Vec<String> {
    object
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(id, s)| *s != state && !except.contains(*id))
        .map(|(id, s)| format!("{id}={s}"))
        .collect()
}

/// The rows of a table the page showed equal `rows` (as `stride query --format
/// json` prints them) in `columns` order; floats within 1e-9 relative.
fn assert_table_equals(shown: &Value, rows: &[serde_json::Map<String, Value>], what: &str) {
    let columns: Vec<String> = shown["columns"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: no table on the page"))
        .iter()
        .map(|c| c.as_str().unwrap_or("").to_string())
        .collect();
    if let Some(first) = rows.first() {
        let mut expected: Vec<&String> = first.keys().collect();
        let mut got: Vec<&String> = columns.iter().collect();
        expected.sort();
        got.sort();
        // arrow's JSON leaves null fields out of a row, so these may only shrink.
        assert!(
            expected.iter().all(|c| got.contains(c)),
            "{what}: page columns {columns:?}, query columns {expected:?}"
        );
    }
    let expected: Vec<Value> = rows
        .iter()
        .map(|row| {
            Value::Array(
                columns
                    .iter()
                    .map(|c| row.get(c).cloned().unwrap_or(Value::Null))
                    .collect(),
            )
        })
        .collect();
    let got = shown["rows"].clone();
    assert!(
        same_within_float_sums(&got, &Value::Array(expected.clone())),
        "{what}: the page shows\n{got:#}\nstride query gives\n{expected:#?}"
    );
}

#[test]
fn every_page_loads_clean_and_shows_the_lake_as_the_cli_sees_it() {
    let lake = common::temp_lake();
    let lake = lake.path();
    generate(lake, "8", &["--faults", "0.02"]);
    stride_ok(lake, &["run"]);
    let serving = Serving::start(lake, &[], &[]);
    let seen = pages(&serving, "tour", &[], true);

    for (page, shown) in seen["pages"].as_object().expect("pages") {
        assert_eq!(shown["errors"], Value::Array(vec![]), "{page} shows errors");
        assert_ne!(shown["overflows"], true, "{page} is wider than the window");
    }

    // Lineage: every source and model, all fresh after the run (views are views).
    let mut expected: BTreeSet<String> = RAW_TABLES.iter().map(|t| format!("raw.{t}")).collect();
    expected.extend(project_models());
    assert_eq!(ids(&seen["lineage"]), expected);
    let views = views();
    assert!(!views.is_empty());
    assert_eq!(
        not_in_state(&seen["lineage"], "fresh", &views),
        Vec::<String>::new()
    );
    for view in &views {
        assert_eq!(seen["lineage"][view], "view");
    }
    let marts: BTreeSet<String> = common::MARTS.iter().map(|m| m.to_string()).collect();
    assert_eq!(ids(&seen["marts"]), marts);
    assert_eq!(
        not_in_state(&seen["marts"], "fresh", &BTreeSet::new()),
        Vec::<String>::new()
    );
    // Pointing at fct_orders lights what it reads, not what it does not.
    let up: Vec<&str> = seen["lit"]["up"]
        .as_array()
        .expect("lit")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for reads in ["raw.orders", "stg_orders", "int_order_revenue"] {
        assert!(up.contains(&reads), "fct_orders reads {reads}: {up:?}");
    }
    assert!(!up.contains(&"mart_channel_daily"), "{up:?}");
    // At three times the project's size the graph is still drawn without overlaps,
    // its names at a readable size (it scrolls rather than shrinking further).
    let tripled = &seen["lineage_3x"];
    assert_eq!(
        tripled["nodes"].as_u64(),
        Some(3 * expected.len() as u64),
        "{tripled}"
    );
    assert_eq!(tripled["overlaps"], 0, "{tripled}");
    assert!(
        tripled["smallest_text_px"]
            .as_f64()
            .is_some_and(|px| px >= 8.0),
        "{tripled}"
    );

    // Every chart's numbers equal the analysis run by `stride query`.
    let analyses = Path::new(env!("CARGO_MANIFEST_DIR")).join("queries/analyses");
    let mut checked = 0;
    for entry in std::fs::read_dir(&analyses).expect("analyses") {
        let path = entry.expect("entry").path();
        let name = path.file_stem().and_then(|s| s.to_str()).expect("name");
        let sql = std::fs::read_to_string(&path).expect("read analysis");
        let rows = query_args(lake, &["--", &sql]);
        assert!(!rows.is_empty(), "{name} has rows");
        assert_table_equals(&seen["analyses"][name], &rows, name);
        checked += 1;
    }
    assert!(checked >= 5, "the marts page has every analysis");
    let week = &seen["analyses"]["revenue_by_channel_last_7_days"]["rows"];
    let month = &seen["analyses"]["revenue_by_channel_last_30_days"]["rows"];
    assert_ne!(
        week, month,
        "the window chosen on the page changes the numbers"
    );

    // The latest run's page: one bar per model of its record, in order; rows read
    // = loaded + quarantined + redelivered per raw table, as the record says.
    let record = &runs(lake)[0];
    assert_eq!(seen["run"]["run_id"], record["run_id"]);
    let recorded: Vec<(&Value, &Value)> = record["models"]
        .as_array()
        .expect("models")
        .iter()
        .map(|m| (&m["model"], &m["action"]))
        .collect();
    let bars: Vec<(&Value, &Value)> = seen["run"]["gantt"]
        .as_array()
        .expect("gantt")
        .iter()
        .map(|b| (&b["model"], &b["action"]))
        .collect();
    assert_eq!(bars, recorded);
    for bar in seen["run"]["gantt"].as_array().expect("gantt") {
        let (left, width) = (bar["left"].as_f64(), bar["width"].as_f64());
        assert!(
            left.zip(width)
                .is_some_and(|(l, w)| l >= 0.0 && w > 0.0 && l + w <= 100.5),
            "{bar}"
        );
    }
    let checked_rows = seen["run"]["checked"]["rows"].as_array().expect("checked");
    let sources = record["sources"].as_array().expect("sources");
    assert_eq!(checked_rows.len(), sources.len());
    let mut quarantined = 0;
    for (shown, source) in checked_rows.iter().zip(sources) {
        assert_eq!(
            shown[0],
            format!("raw.{}", source["table"].as_str().unwrap_or(""))
        );
        let n = |i: usize| shown[i].as_u64().expect("a count");
        assert_eq!(
            n(2),
            n(3) + n(4) + n(5),
            "read = loaded + quarantined + redelivered"
        );
        assert_eq!(shown[2], source["rows_read"]);
        assert_eq!(shown[4], source["rows_quarantined"]);
        quarantined += n(4);
    }
    assert!(quarantined > 0, "the faults put rows in quarantine");
    stop(serving);
}

#[test]
fn marts_show_stale_after_a_landing_and_run_now_in_the_browser_makes_them_fresh() {
    let lake = common::temp_lake();
    let lake = lake.path();
    generate(lake, "2", &[]);
    stride_ok(lake, &["run"]);
    let serving = Serving::start(lake, &[], &[]);
    generate(lake, "1", &[]);

    let stale = pages(&serving, "states", &[], true);
    let views = views();
    assert_eq!(
        not_in_state(&stale["marts"], "stale", &BTreeSet::new()),
        Vec::<String>::new()
    );
    assert_eq!(
        not_in_state(&stale["sources"], "stale", &BTreeSet::new()),
        Vec::<String>::new()
    );
    assert_eq!(
        not_in_state(&stale["lineage"], "stale", &views),
        Vec::<String>::new()
    );

    let before = runs(lake).len();
    let clicked = pages(&serving, "run-now", &[], true);
    assert_eq!(clicked["status"], "success", "{clicked:#}");
    assert_eq!(clicked["errors"], Value::Array(vec![]));
    serving.wait_idle();
    let records = runs(lake);
    assert_eq!(records.len(), before + 1, "exactly one run: {records:#?}");
    assert_eq!(records[0]["run_id"], clicked["run_id"]);
    assert_eq!(records[0]["trigger"], "manual");

    let fresh = pages(&serving, "states", &[], true);
    assert_eq!(
        not_in_state(&fresh["marts"], "fresh", &BTreeSet::new()),
        Vec::<String>::new()
    );
    assert_eq!(
        not_in_state(&fresh["lineage"], "fresh", &views),
        Vec::<String>::new()
    );
    stop(serving);
}

#[test]
fn a_failed_run_shows_the_failed_model_and_its_error() {
    let lake = common::temp_lake();
    let lake = lake.path();
    generate(lake, "1", &[]);
    let (_keep, queries) = common::queries_with_a_broken_mart();
    let queries_arg = queries.to_str().expect("utf-8 path");
    let failed = stride(lake, &["--queries", queries_arg, "run"]);
    assert!(!failed.status.success(), "the broken model fails the run");
    let record = runs(lake).remove(0);

    let serving = Serving::start(lake, &[], &[("STRIDE_QUERIES", queries.as_path())]);
    let run_id = record["run_id"].as_str().expect("id");
    let seen = pages(&serving, "run", &[run_id], true);
    let bars: Vec<&Value> = seen["gantt"].as_array().expect("gantt").iter().collect();
    let models = record["models"].as_array().expect("models");
    assert_eq!(bars.len(), models.len());
    for (bar, model) in bars.iter().zip(models) {
        assert_eq!(bar["model"], model["model"]);
        assert_eq!(bar["action"], model["action"]);
        if let Some(error) = model["error"].as_str() {
            assert_eq!(bar["error"], error, "the page shows the model's error");
        }
    }
    let failed_bar = bars
        .iter()
        .find(|b| b["model"] == "mart_channel_daily")
        .expect("a bar for the failed model");
    assert_eq!(failed_bar["action"], "failed");
    assert!(
        failed_bar["error"]
            .as_str()
            .is_some_and(|e| e.contains("no_such_column")),
        "{failed_bar}"
    );
    let shown_errors = seen["errors"].as_array().expect("errors");
    assert!(
        shown_errors
            .iter()
            .any(|e| e.as_str().is_some_and(|e| e.contains("mart_channel_daily"))),
        "the run's error is on the page: {shown_errors:?}"
    );
    let states = pages(&serving, "states", &[], true);
    assert_eq!(states["lineage"]["mart_channel_daily"], "failed");
    stop(serving);
}

#[test]
fn time_travel_diff_and_verify_in_the_browser_match_the_cli() {
    let lake = common::temp_lake();
    let lake = lake.path();
    generate(lake, "2", &[]);
    stride_ok(lake, &["run"]);
    generate(lake, "1", &[]);
    stride_ok(lake, &["run"]);
    let serving = Serving::start(lake, &[], &[]);
    let sql = "select * from \"fct_orders\" order by \"order_id\" limit 20";
    for version in ["0", "1"] {
        let seen = pages(&serving, "time-travel", &["fct_orders", version], true);
        let rows = query_args(lake, &["--version", version, sql]);
        assert_eq!(rows.len(), 20);
        assert_table_equals(&seen, &rows, &format!("fct_orders at version {version}"));
        let command = seen["command"].as_str().unwrap_or("");
        assert!(
            command.contains(&format!("--version {version}")) && command.contains(sql),
            "{command}"
        );
    }
    let old = query_args(lake, &["--version", "0", sql]);
    let new = query_args(lake, &["--version", "1", sql]);
    assert_ne!(old, new, "the versions differ in their first rows");

    // The page's diff of the two versions is `stride diff`'s; a verify started
    // on the overview ends with every model equal to its rebuild.
    let seen = pages(&serving, "compare", &["fct_orders", "0", "1"], true);
    let out = stride_ok(
        lake,
        &[
            "diff",
            "fct_orders",
            "--from",
            "0",
            "--to",
            "1",
            "--examples",
            "10",
            "--format",
            "json",
        ],
    );
    let diff: Value = serde_json::from_slice(&out.stdout).expect("diff as JSON");
    let c = &diff["comparison"];
    for kind in ["added", "removed", "changed"] {
        assert_eq!(
            seen["counts"][kind], c[kind],
            "{kind}: page {seen:#} cli {c:#}"
        );
    }
    assert!(c["added"].as_u64().unwrap_or(0) + c["changed"].as_u64().unwrap_or(0) > 0);
    let keys = |examples: Vec<String>| examples.into_iter().collect::<BTreeSet<String>>();
    let page_keys = keys(
        seen["examples"]
            .as_array()
            .expect("examples")
            .iter()
            .filter(|e| !e["kind"].is_null())
            .map(|e| {
                format!(
                    "{} {}",
                    e["kind"].as_str().unwrap_or(""),
                    e["key"].as_str().unwrap_or("")
                )
            })
            .collect(),
    );
    let cli_keys = keys(
        c["examples"]
            .as_array()
            .expect("examples")
            .iter()
            .map(|e| {
                format!(
                    "{} order_id={}",
                    e["kind"].as_str().unwrap_or(""),
                    e["key"]["order_id"].as_str().unwrap_or("")
                )
            })
            .collect(),
    );
    assert_eq!(page_keys, cli_keys);
    assert_eq!(seen["command"], "stride diff fct_orders --from 0 --to 1");
    assert_eq!(seen["verdict"], "equal", "{seen:#}");
    stop(serving);
}

#[test]
fn a_server_with_a_token_asks_for_it_and_the_assets_stay_on_the_server() {
    let lake = common::temp_lake();
    let lake = lake.path();
    generate(lake, "1", &[]);
    stride_ok(lake, &["run"]);
    let secret = "a-test-token-0123456789";
    let serving = Serving::start(lake, &["--token", secret], &[]);
    // The 401 of the first call is logged by the browser: expected here.
    let seen = pages(&serving, "token", &[secret], false);
    assert_eq!(seen["asked"], true);
    assert_eq!(seen["errors"], Value::Array(vec![]));
    assert_eq!(seen["foreign_requests"], Value::Array(vec![]));

    // The shell is public and locked down; the data is not.
    let (status, body) = http(serving.port, "GET", "/", &[], "");
    assert_eq!(status, 200);
    assert!(body.contains("/assets/app.js"));
    let (status, _) = http(serving.port, "GET", "/api/freshness", &[], "");
    assert_eq!(status, 401);
    let auth = format!("Bearer {secret}");
    // The CSV download is what `stride query --format csv` prints.
    let (status, csv) = http(
        serving.port,
        "GET",
        "/api/analyses/acquisition_channel_ltv?format=csv",
        &[("Authorization", &auth)],
        "",
    );
    assert_eq!(status, 200);
    let sql = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("queries/analyses/acquisition_channel_ltv.sql"),
    )
    .expect("analysis");
    let printed = stride_ok(lake, &["query", "--format", "csv", "--", &sql]);
    assert_eq!(csv, String::from_utf8_lossy(&printed.stdout));
    // Replay from the quarantine page: judged again, nothing to release here.
    let (status, replayed) = http(
        serving.port,
        "POST",
        "/api/quarantine/replay",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        "{}",
    );
    assert_eq!(status, 200, "{replayed}");
    let replayed: Value = serde_json::from_str(&replayed).expect("JSON");
    assert_eq!(replayed.as_array().map(Vec::len), Some(RAW_TABLES.len()));
    stop(serving);
}
