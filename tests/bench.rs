//! `stride bench` at tiny scales: it works, both engines answer, and the answers
//! are checked (benchmarks themselves stay out of the tests' timings).

mod common;

use std::path::Path;

use common::{stride, stride_ok};
use serde_json::Value;

/// Runs `stride bench` on `lake` with `args` plus `-o <json>`; the JSON report.
fn bench(lake: &Path, args: &[&str], json: &Path) -> (std::process::Output, Value) {
    let json_arg = json.to_str().expect("utf-8 path");
    let out = stride(lake, &[&["bench"], args, &["-o", json_arg]].concat());
    let report = std::fs::read_to_string(json)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or(Value::Null);
    (out, report)
}

/// One query of a report: its name, its check, and each engine with its error.
type QueryOutcome = (String, String, Vec<(String, Option<String>)>);

/// Every query of the report's only suite.
fn queries(report: &Value) -> Vec<QueryOutcome> {
    report["suites"][0]["queries"]
        .as_array()
        .expect("queries")
        .iter()
        .map(|q| {
            let engines = q["engines"]
                .as_array()
                .expect("engines")
                .iter()
                .map(|e| {
                    (
                        e["engine"].as_str().unwrap_or_default().to_string(),
                        e["error"].as_str().map(str::to_string),
                    )
                })
                .collect();
            (
                q["name"].as_str().unwrap_or_default().to_string(),
                q["check"].as_str().unwrap_or_default().to_string(),
                engines,
            )
        })
        .collect()
}

#[test]
fn tpch_runs_all_22_queries_on_both_engines_with_the_same_answers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("tpch.json");
    let svg = dir.path().join("tpch.svg");
    let svg_arg = svg.to_str().expect("utf-8 path");
    let tiny = [
        "--suite",
        "tpch",
        "--scale-factor",
        "0.01",
        "--iterations",
        "1",
    ];
    let (out, report) = bench(
        dir.path(),
        &[&tiny[..], &["--svg", svg_arg]].concat(),
        &json,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all = queries(&report);
    assert_eq!(all.len(), 22);
    for (name, check, engines) in &all {
        assert_eq!(check, "✓", "{name}");
        let names: Vec<&str> = engines.iter().map(|(e, _)| e.as_str()).collect();
        assert_eq!(names, ["datafusion", "duckdb"], "{name}");
        assert!(
            engines.iter().all(|(_, error)| error.is_none()),
            "{name}: {engines:?}"
        );
    }
    assert!(
        report["header"]["engines"][0]
            .as_str()
            .unwrap_or_default()
            .starts_with("DataFusion 55")
    );
    assert!(
        report["header"]["engines"][1]
            .as_str()
            .unwrap_or_default()
            .starts_with("DuckDB v1.5")
    );

    // The chart: well-formed, one bar per engine and query.
    let text = std::fs::read_to_string(&svg).expect("svg written");
    assert!(
        text.contains("<svg") && text.trim_end().ends_with("</svg>"),
        "{text}"
    );
    assert_eq!(text.matches("class=\"bar\"").count(), 44);
    assert_balanced(&text);

    // A report compared with itself: no change.
    let json_arg = json.to_str().expect("utf-8 path");
    let compared = stride_ok(dir.path(), &["bench", "compare", json_arg, json_arg]);
    let printed = String::from_utf8_lossy(&compared.stdout);
    assert!(printed.contains("0 changes beyond noise"), "{printed}");
    assert!(
        !printed.contains("faster") && !printed.contains("slower"),
        "{printed}"
    );

    // One answer altered (a test hook): ✗ with the differing row, and exit 1.
    let altered = dir.path().join("altered.json");
    let mut command = common::stride_command(dir.path());
    command
        .env("STRIDE_TEST_BENCH_ALTER", "q06")
        .args(["bench", "--query", "q06", "--query", "q01", "-o"])
        .arg(&altered)
        .args(tiny);
    let out = command.output().expect("the stride binary runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("tpch q06"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("✗ q06: row 1 of 1") && stdout.contains("~altered"),
        "{stdout}"
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&altered).expect("json")).expect("json");
    let checks: Vec<(String, String)> = queries(&report)
        .into_iter()
        .map(|(n, c, _)| (n, c))
        .collect();
    assert_eq!(
        checks,
        [
            ("q01".to_string(), "✓".to_string()),
            ("q06".to_string(), "✗".to_string())
        ]
    );
}

#[test]
fn the_models_suite_lists_every_model_for_both_engines() {
    let lake = common::temp_lake();
    let lake = lake.path();
    stride_ok(lake, &["generate", "--scale", "0.05", "--days", "3"]);
    stride_ok(lake, &["run", "--no-sync"]);
    let json = lake.join("models.json");
    let (out, report) = bench(lake, &["--suite", "models", "--iterations", "1"], &json);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all = queries(&report);
    let names: Vec<&str> = all.iter().map(|(n, _, _)| n.as_str()).collect();
    // mart_channel_data_driven calls stride's own aggregate, which DuckDB lacks:
    // the suite leaves it out and says so.
    for model in common::MARTS
        .iter()
        .filter(|m| **m != "mart_channel_data_driven")
    {
        assert!(names.contains(model), "{model} in {names:?}");
    }
    assert_eq!(all.len(), 21, "every stored model but one: {names:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("mart_channel_data_driven left out") && stderr.contains("DuckDB"),
        "{stderr}"
    );
    for (name, check, engines) in &all {
        assert_eq!(engines.len(), 2, "{name}");
        // DataFusion runs every model, as `stride run` does.
        assert_eq!(engines[0].0, "datafusion");
        assert!(engines[0].1.is_none(), "{name}: {:?}", engines[0].1);
        // DuckDB answers the same, or says why it could not run the model.
        assert!(
            check == "✓" || engines[1].1.is_some(),
            "{name}: {check} {engines:?}"
        );
    }
}

/// Fails unless every element of `xml` is closed (self-closing ones aside).
fn assert_balanced(xml: &str) {
    let mut open: Vec<String> = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find('<') {
        let end = rest[start..].find('>').expect("a closed tag") + start;
        let tag = &rest[start + 1..end];
        rest = &rest[end + 1..];
        if tag.starts_with('?') || tag.starts_with('!') || tag.ends_with('/') {
            continue;
        }
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| !c.is_whitespace())
            .collect();
        if tag.starts_with('/') {
            assert_eq!(
                open.pop().as_deref(),
                Some(name.as_str()),
                "closing </{name}>"
            );
        } else {
            open.push(name);
        }
    }
    assert!(open.is_empty(), "unclosed: {open:?}");
}
