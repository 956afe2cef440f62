//! Publishing the marts to DuckDB: the file serves every mart exactly as its Delta
//! table, with the SPEC types; a reader in the middle of a query or a process
//! holding the file never blocks a run; and the file opens in the DuckDB release
//! Metabase's driver bundles (checked with that release's own Python package, not
//! with stride's DuckDB). What readers see across publishes: `tests/serving.rs`.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Lines, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

use common::served::{
    assert_file_equals_tables, current_publish, delta_versions, duck, duckdb_python,
    published_lake, synced, synced_versions,
};
use common::{
    LakeArgs, MARTS, python, query, query_args, stride, stride_command, stride_ok, temp_lake,
};
use serde_json::Value;

fn bytes_of(path: &Path) -> Vec<u8> {
    std::fs::read(path).expect("read file")
}

#[test]
fn every_mart_in_the_duckdb_file_equals_its_delta_table_row_for_row() {
    let lake = published_lake("5", "0.05");
    assert_file_equals_tables(lake.path(), "DuckDB file vs Delta tables");
    // The sync table names the version each mart was read at, and its rows.
    let versions = delta_versions(lake.path());
    for (mart, (version, rows)) in synced(lake.path()) {
        assert_eq!(Some(&version), versions.get(&mart), "{mart} version");
        let count = query(lake.path(), &format!("select count(*) as n from {mart}"));
        assert_eq!(count[0]["n"].as_i64(), Some(rows), "{mart} rows");
    }
    assert_eq!(synced(lake.path()).len(), MARTS.len());
}

#[test]
fn row_counts_and_column_sums_match_on_a_larger_lake() {
    let lake = published_lake("12", "0.3");
    // Numeric columns of each mart (money and counts exact, floats to 1e-6 relative).
    let numeric: [(&str, &[&str]); 9] = [
        (
            "fct_orders",
            &[
                "order_id",
                "customer_id",
                "item_count",
                "gross_revenue",
                "discount_amount",
                "net_revenue",
                "shipping_amount",
            ],
        ),
        (
            "fct_attribution",
            &[
                "order_id",
                "touchpoint_id",
                "campaign_id",
                "credit",
                "attributed_revenue",
            ],
        ),
        ("mart_channel_daily", &["conversions", "attributed_revenue"]),
        (
            "mart_campaign_performance",
            &[
                "campaign_id",
                "spend",
                "impressions",
                "clicks",
                "conversions",
                "attributed_revenue",
                "roas",
                "cpa",
            ],
        ),
        (
            "dim_customers",
            &["customer_id", "lifetime_orders", "lifetime_revenue"],
        ),
        ("dim_products", &["product_id", "list_price"]),
        ("dim_campaigns", &["campaign_id", "daily_budget"]),
        (
            "mart_acquisition_ltv",
            &["customers", "lifetime_revenue", "avg_lifetime_revenue"],
        ),
        (
            "mart_channel_data_driven",
            &[
                "journeys",
                "removal_effect",
                "share",
                "conversions",
                "attributed_revenue",
                "spend",
                "roas",
            ],
        ),
    ];
    for (mart, columns) in numeric {
        let sums: Vec<String> = columns
            .iter()
            .map(|c| format!("cast(sum({c}) as double) as {c}"))
            .collect();
        let sql = format!("select count(*) as n, {} from {mart}", sums.join(", "));
        let delta = &query(lake.path(), &sql)[0];
        let duck = &duck(lake.path(), &sql)[0];
        assert_eq!(delta["n"], duck["n"], "{mart} rows");
        assert!(
            delta["n"].as_i64().unwrap_or_default() > 0,
            "{mart} has rows"
        );
        for column in columns.iter() {
            let (a, b) = (delta[*column].as_f64(), duck[*column].as_f64());
            match (a, b) {
                (Some(a), Some(b)) => assert!(
                    (a - b).abs() <= 1e-6 * a.abs().max(1.0),
                    "{mart}.{column}: Delta {a} vs DuckDB {b}"
                ),
                _ => assert_eq!(delta.get(*column), duck.get(*column), "{mart}.{column}"),
            }
        }
    }
}

#[test]
fn mart_columns_have_the_duckdb_type_of_their_spec_type() {
    let lake = published_lake("3", "0.05");
    // SPEC section 2/4 types and their DuckDB types: Int64 -> BIGINT, Utf8 -> VARCHAR,
    // Timestamp(us, "UTC") -> TIMESTAMP WITH TIME ZONE, Date32 -> DATE, money
    // Decimal(p,2) -> DECIMAL(p,2), Float64 (credit, attributed revenue, ratios) ->
    // DOUBLE, flags -> BOOLEAN.
    const TS: &str = "TIMESTAMP WITH TIME ZONE";
    let expected: [(&str, &[(&str, &str)]); 9] = [
        (
            "fct_orders",
            &[
                ("order_id", "BIGINT"),
                ("customer_id", "BIGINT"),
                ("ordered_at", TS),
                ("order_date", "DATE"),
                ("status", "VARCHAR"),
                ("item_count", "BIGINT"),
                ("gross_revenue", "DECIMAL(18,2)"),
                ("discount_amount", "DECIMAL(18,2)"),
                ("net_revenue", "DECIMAL(18,2)"),
                ("shipping_amount", "DECIMAL(18,2)"),
                ("is_eligible", "BOOLEAN"),
                ("is_first_order", "BOOLEAN"),
            ],
        ),
        (
            "fct_attribution",
            &[
                ("order_id", "BIGINT"),
                ("order_date", "DATE"),
                ("model", "VARCHAR"),
                ("touchpoint_id", "BIGINT"),
                ("channel", "VARCHAR"),
                ("campaign_id", "BIGINT"),
                ("credit", "DOUBLE"),
                ("attributed_revenue", "DOUBLE"),
            ],
        ),
        (
            "mart_channel_daily",
            &[
                ("order_date", "DATE"),
                ("channel", "VARCHAR"),
                ("model", "VARCHAR"),
                ("conversions", "DOUBLE"),
                ("attributed_revenue", "DOUBLE"),
            ],
        ),
        (
            "mart_campaign_performance",
            &[
                ("campaign_id", "BIGINT"),
                ("campaign_name", "VARCHAR"),
                ("channel", "VARCHAR"),
                ("model", "VARCHAR"),
                ("spend", "DECIMAL(18,2)"),
                ("impressions", "BIGINT"),
                ("clicks", "BIGINT"),
                ("conversions", "DOUBLE"),
                ("attributed_revenue", "DOUBLE"),
                ("roas", "DOUBLE"),
                ("cpa", "DOUBLE"),
            ],
        ),
        (
            "dim_customers",
            &[
                ("customer_id", "BIGINT"),
                ("email", "VARCHAR"),
                ("first_name", "VARCHAR"),
                ("last_name", "VARCHAR"),
                ("country", "VARCHAR"),
                ("city", "VARCHAR"),
                ("loyalty_tier", "VARCHAR"),
                ("signup_at", TS),
                ("first_order_at", TS),
                ("acquisition_channel", "VARCHAR"),
                ("lifetime_orders", "BIGINT"),
                ("lifetime_revenue", "DECIMAL(18,2)"),
            ],
        ),
        (
            "dim_products",
            &[
                ("product_id", "BIGINT"),
                ("sku", "VARCHAR"),
                ("product_name", "VARCHAR"),
                ("category", "VARCHAR"),
                ("subcategory", "VARCHAR"),
                ("gender", "VARCHAR"),
                ("list_price", "DECIMAL(12,2)"),
                ("launched_on", "DATE"),
            ],
        ),
        (
            "dim_campaigns",
            &[
                ("campaign_id", "BIGINT"),
                ("campaign_name", "VARCHAR"),
                ("channel", "VARCHAR"),
                ("start_date", "DATE"),
                ("end_date", "DATE"),
                ("daily_budget", "DECIMAL(12,2)"),
            ],
        ),
        (
            "mart_acquisition_ltv",
            &[
                ("acquisition_channel", "VARCHAR"),
                ("customers", "BIGINT"),
                ("lifetime_revenue", "DECIMAL(18,2)"),
                ("avg_lifetime_revenue", "DOUBLE"),
            ],
        ),
        (
            "mart_channel_data_driven",
            &[
                ("window_start", "DATE"),
                ("window_end", "DATE"),
                ("model", "VARCHAR"),
                ("channel", "VARCHAR"),
                ("journeys", "BIGINT"),
                ("removal_effect", "DOUBLE"),
                ("share", "DOUBLE"),
                ("conversions", "DOUBLE"),
                ("attributed_revenue", "DOUBLE"),
                ("spend", "DECIMAL(18,2)"),
                ("roas", "DOUBLE"),
            ],
        ),
    ];
    for (mart, columns) in expected {
        let rows = duck(
            lake.path(),
            &format!(
                "select column_name, data_type from information_schema.columns \
                 where table_schema = 'main' and table_name = '{mart}' order by ordinal_position"
            ),
        );
        let actual: Vec<(String, String)> = rows
            .iter()
            .map(|r| {
                (
                    r["column_name"].as_str().unwrap_or_default().to_string(),
                    r["data_type"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let expected: Vec<(String, String)> = columns
            .iter()
            .map(|(c, t)| (c.to_string(), t.to_string()))
            .collect();
        assert_eq!(actual, expected, "{mart}");
    }
}

/// Holds the published file open read-only (as Metabase does) with a query half
/// read, until told to go on; then reopens it. Prints `ready <rows in the sync
/// table's fct_attribution row>`, then `read <rows fetched>`, then `reopened <versions>`.
const SLOW_READER: &str = r#"
import sys, duckdb
path = sys.argv[1]
con = duckdb.connect(path, read_only=True)
con.execute("SET enable_progress_bar = false")
expected = con.execute("select row_count from _stride_sync where mart = 'fct_attribution'").fetchone()[0]
cur = con.execute("select * from fct_attribution")
fetched = len(cur.fetchmany(100))
print("ready", expected, flush=True)
sys.stdin.readline()
while True:
    rows = cur.fetchmany(10000)
    if not rows:
        break
    fetched += len(rows)
print("read", fetched, flush=True)
con.close()
con = duckdb.connect(path, read_only=True)
con.execute("SET enable_progress_bar = false")
versions = con.execute("select string_agg(mart || '=' || delta_version, ',' order by mart) from _stride_sync").fetchone()[0]
print("reopened", versions, flush=True)
"#;

/// Holds the file open read-write (DuckDB's exclusive lock) until stdin closes.
const LOCKING_WRITER: &str = r#"
import sys, duckdb
con = duckdb.connect(sys.argv[1])
print("locked", flush=True)
sys.stdin.readline()
"#;

/// Starts `script` on `file` with DuckDB 1.5.3, stdin piped, and its stdout as lines.
fn spawn_duckdb_python(script: &str, file: &Path) -> (Child, Lines<BufReader<ChildStdout>>) {
    let mut child = Command::new(duckdb_python())
        .arg("-c")
        .arg(script)
        .arg(file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python runs");
    let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    (child, lines)
}

/// The rest of the next line of `lines` that starts with `prefix`; other lines (a
/// progress bar, a warning) are skipped.
fn line_after(lines: &mut Lines<BufReader<ChildStdout>>, prefix: &str) -> String {
    lines
        .map(|line| line.expect("utf-8"))
        .find_map(|line| line.strip_prefix(prefix).map(str::to_string))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?}"))
}

/// [`synced_versions`] as `mart=version,...` (sorted), the reader script's format.
fn versions_text(lake: &Path) -> String {
    synced_versions(lake)
        .iter()
        .map(|(mart, version)| format!("{mart}={version}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn a_reader_holding_the_old_file_neither_blocks_nor_breaks_a_run() {
    let lake = published_lake("4", "0.1");
    let file = lake.path().duckdb_file();
    let before = versions_text(lake.path());

    let (mut reader, mut lines) = spawn_duckdb_python(SLOW_READER, &file);
    let ready = line_after(&mut lines, "ready ");
    let expected_rows: i64 = ready
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("reader said ready {ready:?}"));

    // A run that commits new versions publishes while the reader is mid-query.
    stride_ok(lake.path(), &["generate", "--days", "1"]);
    let run = stride_ok(lake.path(), &["run"]);
    assert!(
        String::from_utf8_lossy(&run.stderr).contains("published 9 marts"),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let after = versions_text(lake.path());
    assert_ne!(before, after, "the run published new versions");

    // The reader finishes its query on the old file, then sees the new one.
    let mut stdin = reader.stdin.take().expect("stdin");
    writeln!(stdin, "go").expect("write to reader");
    assert_eq!(
        line_after(&mut lines, "read "),
        expected_rows.to_string(),
        "the old query completes on the old marts"
    );
    assert_eq!(line_after(&mut lines, "reopened "), after);
    assert!(reader.wait().expect("reader exits").success());

    // A process holding the file read-write (an exclusive DuckDB lock) does not
    // block a publish either.
    let (mut writer, mut lines) = spawn_duckdb_python(LOCKING_WRITER, &file);
    line_after(&mut lines, "locked");
    stride_ok(lake.path(), &["generate", "--days", "1"]);
    stride_ok(lake.path(), &["run"]);
    drop(writer.stdin.take());
    assert!(writer.wait().expect("writer exits").success());
    assert_ne!(versions_text(lake.path()), after);
    assert_file_equals_tables(lake.path(), "after publishing past a locked file");
}

#[test]
fn a_publish_that_cannot_write_names_the_file_and_keeps_the_run() {
    let lake = published_lake("2", "0.05");
    // The folder of the DuckDB file is a regular file.
    let blocker = lake.path().join("not-a-folder");
    std::fs::write(&blocker, b"x").expect("write");
    let target = blocker.join("stride.duckdb");
    stride_ok(lake.path(), &["generate", "--days", "1"]);
    let out = stride_command(lake.path())
        .args(["run", "--duckdb"])
        .arg(&target)
        .output()
        .expect("stride runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains(&*target.to_string_lossy()), "{stderr}");
    assert!(errors[0].contains("stride sync"), "{stderr}");
    // The models were committed: a second run has nothing to do, and a sync to the
    // usual file publishes the new versions.
    let again = stride_ok(lake.path(), &["run", "--no-sync"]);
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("0 committed"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    stride_ok(lake.path(), &["sync"]);
    assert_eq!(synced_versions(lake.path()), delta_versions(lake.path()));
}

#[test]
fn a_run_with_nothing_new_leaves_the_published_file_alone() {
    let lake = published_lake("2", "0.05");
    let file = lake.path().duckdb_file();
    let served = current_publish(&file);
    assert!(served.is_some());
    let old = bytes_of(&file);
    let modified = std::fs::metadata(&file)
        .and_then(|m| m.modified())
        .expect("mtime");
    let out = stride_ok(lake.path(), &["run"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already serves these marts"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(bytes_of(&file), old);
    assert_eq!(
        std::fs::metadata(&file).and_then(|m| m.modified()).ok(),
        Some(modified)
    );
    assert_eq!(current_publish(&file), served);
}

#[test]
fn the_file_opens_read_only_in_the_duckdb_release_metabase_bundles() {
    let lake = published_lake("3", "0.05");
    let script = r#"
import sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
print(con.execute("select library_version from pragma_version()").fetchone()[0])
for (mart,) in con.execute("select mart from _stride_sync order by mart").fetchall():
    print(mart, con.execute(f"select count(*) from {mart}").fetchone()[0])
"#;
    let file = lake.path().duckdb_file();
    let out = python::run(&duckdb_python(), script, &[file.as_os_str()]);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("v1.5.3"), "{out}");
    let counted: BTreeMap<String, i64> = lines
        .filter_map(|l| l.split_once(' '))
        .map(|(m, n)| (m.to_string(), n.parse().unwrap_or(-1)))
        .collect();
    let recorded: BTreeMap<String, i64> = synced(lake.path())
        .into_iter()
        .map(|(m, (_, rows))| (m, rows))
        .collect();
    assert_eq!(counted, recorded);
    assert_eq!(counted.len(), MARTS.len());
}

#[test]
fn the_saved_analyses_give_the_same_answers_on_both_engines() {
    let lake = published_lake("10", "0.1");
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("queries/analyses");
    let mut checked = 0;
    for entry in std::fs::read_dir(&folder).expect("analyses") {
        let path = entry.expect("entry").path();
        let sql = std::fs::read_to_string(&path).expect("read analysis");
        assert!(
            !sql.contains("{{"),
            "{} pastes into Metabase as is",
            path.display()
        );
        // The files start with `--` comments, so the SQL goes after `--`.
        let delta = query_args(lake.path(), &["--", &sql]);
        let duck = query_args(lake.path(), &["--engine", "duckdb", "--", &sql]);
        assert!(!delta.is_empty(), "{} has rows", path.display());
        assert_eq!(delta.len(), duck.len(), "{}", path.display());
        for (a, b) in delta.iter().zip(&duck) {
            assert_eq!(
                a.keys().collect::<Vec<_>>(),
                b.keys().collect::<Vec<_>>(),
                "{}",
                path.display()
            );
            for (column, value) in a {
                let other = &b[column];
                let as_number = |v: &Value| match v {
                    Value::Number(n) => n.as_f64(),
                    Value::String(s) => s.parse::<f64>().ok(),
                    _ => None,
                };
                match (as_number(value), as_number(other)) {
                    // Sums of doubles in another order may round to the other cent.
                    (Some(x), Some(y)) => {
                        assert!(
                            (x - y).abs() <= 0.011,
                            "{} {column}: {x} vs {y}",
                            path.display()
                        )
                    }
                    _ => assert_eq!(value, other, "{} {column}", path.display()),
                }
            }
        }
        checked += 1;
    }
    assert_eq!(
        checked,
        std::fs::read_dir(&folder).expect("analyses").count()
    );
}

#[test]
fn query_on_a_missing_duckdb_file_says_how_to_make_it() {
    let lake = temp_lake();
    let out = stride(lake.path(), &["query", "select 1", "--engine", "duckdb"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("stride sync"), "{stderr}");
    assert!(
        stderr.contains(&*lake.path().duckdb_file().to_string_lossy()),
        "{stderr}"
    );
    let usage = stride(
        lake.path(),
        &["query", "select 1", "--engine", "duckdb", "--version", "1"],
    );
    assert_eq!(
        usage.status.code(),
        Some(2),
        "time travel is for the lake's tables"
    );
}

#[test]
fn a_first_run_limited_to_some_models_publishes_nothing_and_succeeds() {
    let lake = temp_lake();
    stride_ok(lake.path(), &["generate", "--days", "2", "--scale", "0.05"]);
    let out = stride_ok(lake.path(), &["run", "--select", "stg_orders"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not publishing"), "{stderr}");
    assert!(stderr.contains("fct_orders"), "{stderr}");
    assert!(!lake.path().duckdb_file().exists());
    // `sync` asked for explicitly is an error naming the missing mart.
    let sync = stride(lake.path(), &["sync"]);
    assert_eq!(sync.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&sync.stderr).contains("has no Delta table yet"));
}

#[test]
fn the_models_config_decides_what_is_published() {
    // A copy of the project: an intermediate model published, a mart not.
    let queries = tempfile::tempdir().expect("temp dir");
    common::copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("queries"),
        queries.path(),
    );
    let edit = |file: &str, from: &str, to: &str| {
        let path = queries.path().join(file);
        let text = std::fs::read_to_string(&path).expect("model");
        assert!(text.contains(from), "{file}");
        std::fs::write(&path, text.replacen(from, to, 1)).expect("write model");
    };
    edit(
        "intermediate/int_order_revenue.sql",
        "incremental_strategy='delete+insert'",
        "incremental_strategy='delete+insert', publish=true",
    );
    edit("marts/dim_products.sql", ", publish=true", "");
    let q = queries.path().to_str().expect("utf-8 path");
    let lake = common::temp_lake();
    stride_ok(
        lake.path(),
        &["--queries", q, "generate", "--days", "2", "--scale", "0.02"],
    );
    stride_ok(lake.path(), &["--queries", q, "run"]);

    let sql = "select count(*) as n from int_order_revenue";
    let served = query_args(lake.path(), &["--engine", "duckdb", "--", sql]);
    let stored = query_args(lake.path(), &["--queries", q, "--", sql]);
    assert_eq!(served, stored, "int_order_revenue is served");
    let out = stride(
        lake.path(),
        &["query", "select * from dim_products", "--engine", "duckdb"],
    );
    assert_eq!(out.status.code(), Some(1), "dim_products is not served");
}

/// The data files the served publish holds in `folder` (a mart's, or its
/// `@added` / `@removed` changes'), after checking it also holds the pad.
fn served_files(file: &Path, folder: &str) -> Vec<String> {
    let mut root = file.as_os_str().to_owned();
    root.push(".publishes");
    let mut names: Vec<String> = std::fs::read_dir(Path::new(&root).join("current").join(folder))
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default();
    // A file of no rows beside the data, so that no scan is of one file.
    assert!(
        names.iter().any(|n| n == "pad.parquet"),
        "{folder}: {names:?}"
    );
    names.retain(|n| n != "pad.parquet");
    names.sort();
    names
}

/// Rows in the served file of `folder`, counted by DuckDB.
fn served_rows(lake: &Path, folder: &str) -> i64 {
    let files = served_files(&lake.duckdb_file(), folder);
    assert_eq!(files.len(), 1, "{folder}: {files:?}");
    let mut root = lake.duckdb_file().into_os_string();
    root.push(".publishes");
    let path = Path::new(&root)
        .join("current")
        .join(folder)
        .join(&files[0]);
    let rows = duck(
        lake,
        &format!(
            "select count(*) as n from read_parquet('{}')",
            path.display()
        ),
    );
    rows[0]["n"].as_i64().unwrap_or(-1)
}

#[test]
fn a_publish_after_incremental_runs_writes_the_changes_and_serves_the_base_again() {
    let lake = temp_lake();
    stride_ok(
        lake.path(),
        &["generate", "--days", "20", "--scale", "0.05", "--seed", "5"],
    );
    stride_ok(lake.path(), &["run"]);
    let file = lake.path().duckdb_file();
    let base = served_files(&file, "fct_attribution");
    assert_eq!(served_rows(lake.path(), "fct_attribution@added"), 0);
    assert_eq!(served_rows(lake.path(), "fct_attribution@removed"), 0);
    for day in 0..2 {
        stride_ok(lake.path(), &["generate", "--days", "1"]);
        let out = stride_ok(lake.path(), &["-v", "run"]);
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(
            log.lines()
                .any(|l| l.contains("fct_attribution") && l.contains("changes written")),
            "day {day}: {log}"
        );
        // The file's views stay as they are, so readers holding it see the publish.
        assert!(!log.contains("wrote the views"), "day {day}: {log}");
        assert_file_equals_tables(lake.path(), "after a publish of changes");
        assert_eq!(
            served_files(&file, "fct_attribution"),
            base,
            "the base again"
        );
        assert!(served_rows(lake.path(), "fct_attribution@added") > 0);
        assert!(served_rows(lake.path(), "fct_attribution@removed") > 0);
        for (mart, (_, rows)) in synced(lake.path()) {
            let count = duck(lake.path(), &format!("select count(*) as n from {mart}"));
            assert_eq!(count[0]["n"].as_i64(), Some(rows), "{mart} rows");
        }
    }
    // Compaction, then a vacuum that deletes every file no current version reads,
    // then a key deleted at the source, each between publishes: what readers see
    // stays the tables' rows, and `stride verify` proves the served versions too.
    stride_ok(lake.path(), &["optimize"]);
    stride_ok(lake.path(), &["generate", "--days", "1"]);
    stride_ok(lake.path(), &["run"]);
    assert_file_equals_tables(lake.path(), "after optimize and a day");
    stride_ok(lake.path(), &["vacuum", "--retain-hours", "0"]);
    stride_ok(lake.path(), &["generate", "--days", "1"]);
    stride_ok(lake.path(), &["run"]);
    assert_file_equals_tables(lake.path(), "after vacuum and a day");
    let deleted = common::served::delete_an_eligible_order(lake.path(), 0);
    let out = stride_ok(lake.path(), &["-v", "run"]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.lines()
            .any(|l| l.contains("fct_attribution") && l.contains("changes written")),
        "{log}"
    );
    assert_file_equals_tables(lake.path(), "after a key deletion");
    let served = duck(
        lake.path(),
        &format!("select count(*) as n from fct_attribution where order_id = {deleted}"),
    );
    assert_eq!(served[0]["n"].as_i64(), Some(0), "order {deleted} is gone");
    assert!(served_rows(lake.path(), "fct_attribution@removed") > 0);
    let verified = stride_ok(lake.path(), &["verify", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&verified.stdout).expect("JSON");
    let served = report["served"].as_array().expect("served marts");
    assert_eq!(served.len(), common::MARTS.len(), "{report:#}");
    assert!(served.iter().all(|m| m["state"] == "equal"), "{report:#}");

    // A rebuild is published whole: a new base, nothing added or removed.
    stride_ok(lake.path(), &["run", "--full-refresh"]);
    assert_file_equals_tables(lake.path(), "after a rebuild");
    assert_ne!(served_files(&file, "fct_attribution"), base);
    assert_eq!(served_rows(lake.path(), "fct_attribution@added"), 0);
    assert_eq!(served_rows(lake.path(), "fct_attribution@removed"), 0);
}
