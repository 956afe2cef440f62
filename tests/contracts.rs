//! Model contracts are checked on each result before its Delta commit: an `error`
//! rule that fails blocks exactly that model and the models that read it, names the
//! model, the rule and up to five offending rows, and exits 1; the other branches
//! still commit. `warn` rules are reported only.

mod common;

use std::path::Path;

use common::{stride, stride_ok};
use serde_json::Value;

/// Every stored model of the shipped project.
const STORED: [&str; 19] = [
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
