//! Test helpers: run the real `stride` binary on a temporary lake, write raw change
//! batches by hand (with this file's own copy of the SPEC schemas, not stride's), and
//! read marts back as JSON.

#![allow(dead_code)]

pub mod browser;
pub mod python;
pub mod s3;
pub mod served;
pub mod serving;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Date32Builder, Decimal128Builder, Int32Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, NaiveDate};
use parquet::arrow::ArrowWriter;
use serde_json::Value;

/// A column type of SPEC section 2.
#[derive(Clone, Copy)]
pub enum T {
    I64,
    I32,
    Str,
    Ts,
    Money,
    Date,
}

/// A cell value, written the way a person reads it.
#[derive(Clone, Debug)]
pub enum V {
    I(i64),
    S(&'static str),
    /// RFC 3339 instant, e.g. "2026-03-01T12:00:00.000001Z".
    Ts(&'static str),
    /// Decimal text with two places, e.g. "19.99".
    M(&'static str),
    /// ISO date.
    D(&'static str),
    Null,
}

const CHANGE: [(&str, T); 4] = [
    ("_op", T::Str),
    ("_seq", T::I64),
    ("_batch_id", T::I64),
    ("_changed_at", T::Ts),
];

/// The payload columns of each raw table (SPEC section 2).
pub fn payload(table: &str) -> Vec<(&'static str, T)> {
    match table {
        "customers" => vec![
            ("customer_id", T::I64),
            ("email", T::Str),
            ("first_name", T::Str),
            ("last_name", T::Str),
            ("country", T::Str),
            ("city", T::Str),
            ("loyalty_tier", T::Str),
            ("signup_at", T::Ts),
        ],
        "products" => vec![
            ("product_id", T::I64),
            ("sku", T::Str),
            ("product_name", T::Str),
            ("category", T::Str),
            ("subcategory", T::Str),
            ("gender", T::Str),
            ("list_price", T::Money),
            ("launched_on", T::Date),
        ],
        "campaigns" => vec![
            ("campaign_id", T::I64),
            ("campaign_name", T::Str),
            ("channel", T::Str),
            ("start_date", T::Date),
            ("end_date", T::Date),
            ("daily_budget", T::Money),
        ],
        "ad_spend" => vec![
            ("campaign_id", T::I64),
            ("spend_date", T::Date),
            ("impressions", T::I64),
            ("clicks", T::I64),
            ("spend", T::Money),
        ],
        "touchpoints" => vec![
            ("touchpoint_id", T::I64),
            ("customer_id", T::I64),
            ("campaign_id", T::I64),
            ("channel", T::Str),
            ("touched_at", T::Ts),
            ("device", T::Str),
            ("landing_page", T::Str),
        ],
        "orders" => vec![
            ("order_id", T::I64),
            ("customer_id", T::I64),
            ("ordered_at", T::Ts),
            ("status", T::Str),
            ("shipping_amount", T::Money),
        ],
        "order_items" => vec![
            ("order_id", T::I64),
            ("line_number", T::I32),
            ("product_id", T::I64),
            ("quantity", T::I32),
            ("unit_price", T::Money),
            ("discount_amount", T::Money),
        ],
        other => panic!("no raw table {other}"),
    }
}

fn micros(ts: &str) -> i64 {
    DateTime::parse_from_rfc3339(ts)
        .unwrap_or_else(|e| panic!("bad timestamp {ts}: {e}"))
        .timestamp_micros()
}

fn days(date: &str) -> i32 {
    let d = NaiveDate::parse_from_str(date, "%Y-%m-%d").expect("ISO date");
    (d - NaiveDate::default()).num_days() as i32
}

fn cents(money: &str) -> i128 {
    let (whole, frac) = money.split_once('.').unwrap_or((money, "00"));
    let negative = whole.starts_with('-');
    let value = whole
        .trim_start_matches('-')
        .parse::<i128>()
        .expect("money")
        * 100
        + format!("{frac:0<2}").parse::<i128>().expect("money");
    if negative { -value } else { value }
}

/// Builds a record batch of `table` from rows of (change columns..., payload...).
pub fn batch(table: &str, rows: &[Vec<V>]) -> RecordBatch {
    batch_of(table, &payload(table), rows)
}

/// Builds a record batch of a change-log table with these `payload` columns (a
/// table stride does not ship, say) from rows of (change columns..., payload...).
pub fn batch_of(table: &str, payload: &[(&str, T)], rows: &[Vec<V>]) -> RecordBatch {
    let columns: Vec<(&str, T)> = CHANGE.iter().chain(payload).copied().collect();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    let mut fields = Vec::new();
    for (index, (name, kind)) in columns.iter().enumerate() {
        let cell = |row: &Vec<V>| row.get(index).cloned().unwrap_or(V::Null);
        let array: ArrayRef = match kind {
            T::I64 => {
                let mut b = Int64Builder::new();
                for row in rows {
                    match cell(row) {
                        V::I(v) => b.append_value(v),
                        V::Null => b.append_null(),
                        other => panic!("{table}.{name}: {other:?} is not Int64"),
                    }
                }
                Arc::new(b.finish())
            }
            T::I32 => {
                let mut b = Int32Builder::new();
                for row in rows {
                    match cell(row) {
                        V::I(v) => b.append_value(v as i32),
                        V::Null => b.append_null(),
                        other => panic!("{table}.{name}: {other:?} is not Int32"),
                    }
                }
                Arc::new(b.finish())
            }
            T::Str => {
                let mut b = StringBuilder::new();
                for row in rows {
                    match cell(row) {
                        V::S(v) => b.append_value(v),
                        V::Null => b.append_null(),
                        other => panic!("{table}.{name}: {other:?} is not Utf8"),
                    }
                }
                Arc::new(b.finish())
            }
            T::Ts => {
                let mut b = TimestampMicrosecondBuilder::new();
                for row in rows {
                    match cell(row) {
                        V::Ts(v) => b.append_value(micros(v)),
                        V::Null => b.append_null(),
                        other => panic!("{table}.{name}: {other:?} is not a timestamp"),
                    }
                }
                Arc::new(b.finish().with_timezone("UTC"))
            }
            T::Money => {
                let mut b = Decimal128Builder::new();
                for row in rows {
                    match cell(row) {
                        V::M(v) => b.append_value(cents(v)),
                        V::Null => b.append_null(),
                        other => panic!("{table}.{name}: {other:?} is not money"),
                    }
                }
                Arc::new(b.finish().with_precision_and_scale(12, 2).expect("12,2"))
            }
            T::Date => {
                let mut b = Date32Builder::new();
                for row in rows {
                    match cell(row) {
                        V::D(v) => b.append_value(days(v)),
                        V::Null => b.append_null(),
                        other => panic!("{table}.{name}: {other:?} is not a date"),
                    }
                }
                Arc::new(b.finish())
            }
        };
        fields.push(Field::new(*name, array.data_type().clone(), true));
        arrays.push(array);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).expect("valid batch")
}

/// The folder of `table`'s batch for `batch_date` in the lake at `lake`.
pub fn batch_dir(lake: &Path, table: &str, batch_date: &str) -> PathBuf {
    lake.join("raw")
        .join(table)
        .join(format!("batch_date={batch_date}"))
}

/// Writes `rows` as one Parquet file of `table` in the batch of `batch_date`.
pub fn land(lake: &Path, table: &str, batch_date: &str, file: &str, rows: &[Vec<V>]) {
    let dir = batch_dir(lake, table, batch_date);
    std::fs::create_dir_all(&dir).expect("batch folder");
    write_parquet(&dir.join(file), &batch(table, rows));
}

/// Writes `rows` as one Parquet file of a change-log table with these `payload`
/// columns, in the batch of `batch_date`.
pub fn land_of(
    lake: &Path,
    table: &str,
    payload: &[(&str, T)],
    batch_date: &str,
    file: &str,
    rows: &[Vec<V>],
) {
    let dir = batch_dir(lake, table, batch_date);
    std::fs::create_dir_all(&dir).expect("batch folder");
    write_parquet(&dir.join(file), &batch_of(table, payload, rows));
}

/// Writes a record batch as a Parquet file.
pub fn write_parquet(path: &Path, batch: &RecordBatch) {
    let file = File::create(path).expect("create parquet file");
    let mut writer = ArrowWriter::try_new(file, batch.schema(), None).expect("writer");
    writer.write(batch).expect("write");
    writer.close().expect("close");
}

/// A timestamp type with an arbitrary zone, for wrong-zone fixtures.
pub fn timestamp_in(zone: &str) -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some(zone.into()))
}

/// What tells stride where a lake is: `--lake` and, for S3, `--config`.
pub trait LakeArgs {
    /// The global arguments that select this lake.
    fn lake_args(&self) -> Vec<OsString>;

    /// The DuckDB file `run` and `sync` publish this lake's marts to (`STRIDE_DUCKDB`),
    /// so tests never write to `./warehouse/` of the working folder.
    fn duckdb_file(&self) -> PathBuf;
}

impl LakeArgs for Path {
    fn lake_args(&self) -> Vec<OsString> {
        vec!["--lake".into(), self.into()]
    }

    /// Inside the (temporary) lake folder, outside the lake's own layout.
    fn duckdb_file(&self) -> PathBuf {
        self.join("stride.duckdb")
    }
}

impl LakeArgs for str {
    fn lake_args(&self) -> Vec<OsString> {
        vec!["--lake".into(), self.into()]
    }

    /// One file per lake URL under the build folder's test space, reused by reruns.
    fn duckdb_file(&self) -> PathBuf {
        let name: String = self
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.duckdb"))
    }
}

impl LakeArgs for PathBuf {
    fn lake_args(&self) -> Vec<OsString> {
        self.as_path().lake_args()
    }

    fn duckdb_file(&self) -> PathBuf {
        self.as_path().duckdb_file()
    }
}

/// A `stride` command on `lake`, with the caller's environment kept out of it.
pub fn stride_command(lake: &(impl LakeArgs + ?Sized)) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_stride"));
    command.args(lake.lake_args());
    for name in [
        "STRIDE_LAKE",
        "STRIDE_QUERIES",
        "STRIDE_CONTRACTS",
        "STRIDE_CONFIG",
        "RUST_LOG",
        "RUST_BACKTRACE",
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ALLOW_HTTP",
    ] {
        command.env_remove(name);
    }
    command.env("STRIDE_DUCKDB", lake.duckdb_file());
    command
}

/// Runs `stride --lake <lake> <args>` and returns its output.
pub fn stride(lake: &(impl LakeArgs + ?Sized), args: &[&str]) -> Output {
    stride_command(lake)
        .args(args)
        .output()
        .expect("the stride binary runs")
}

/// Runs stride and fails the test, with its stderr, unless it exits 0.
pub fn stride_ok(lake: &(impl LakeArgs + ?Sized), args: &[&str]) -> Output {
    let out = stride(lake, args);
    assert!(
        out.status.success(),
        "stride {args:?} failed ({:?}):\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `sql` through `stride query --format json` and returns the rows.
pub fn query(lake: &(impl LakeArgs + ?Sized), sql: &str) -> Vec<serde_json::Map<String, Value>> {
    let out = stride_ok(lake, &["query", sql, "--format", "json"]);
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "query output is not JSON ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    rows.into_iter()
        .map(|row| match row {
            Value::Object(map) => map,
            other => panic!("not a row: {other}"),
        })
        .collect()
}

/// A column of a query row as f64 (numbers and decimal strings both accepted).
pub fn num(row: &serde_json::Map<String, Value>, column: &str) -> f64 {
    match row.get(column) {
        Some(Value::Number(n)) => n.as_f64().expect("finite"),
        Some(Value::String(s)) => s
            .parse()
            .unwrap_or_else(|_| panic!("{column}={s} is not a number")),
        other => panic!("{column} is {other:?} in {row:?}"),
    }
}

/// A column of a query row as text (null as "null").
pub fn text(row: &serde_json::Map<String, Value>, column: &str) -> String {
    match row.get(column) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "null".to_string(),
        Some(other) => other.to_string(),
    }
}

/// Asserts two floats agree to 1e-9.
#[track_caller]
pub fn assert_close(actual: f64, expected: f64, what: &str) {
    assert!(
        (actual - expected).abs() < 1e-9,
        "{what}: got {actual}, expected {expected}"
    );
}

/// A fresh temporary lake folder.
pub fn temp_lake() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// Runs `stride query <args> --format json` and returns the rows.
pub fn query_args(
    lake: &(impl LakeArgs + ?Sized),
    args: &[&str],
) -> Vec<serde_json::Map<String, Value>> {
    // `--format` first, so `args` may end with `-- SQL`.
    let mut all = vec!["query", "--format", "json"];
    all.extend_from_slice(args);
    let out = stride_ok(lake, &all);
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).expect("json rows");
    rows.into_iter()
        .filter_map(|row| match row {
            Value::Object(map) => Some(map),
            _ => None,
        })
        .collect()
}

/// The nine marts of SPEC section 4.
pub const MARTS: [&str; 9] = [
    "fct_orders",
    "fct_attribution",
    "mart_channel_daily",
    "mart_campaign_performance",
    "dim_customers",
    "dim_products",
    "dim_campaigns",
    "mart_acquisition_ltv",
    "mart_channel_data_driven",
];

/// The payload of a `touchpoints` row (mobile, landing page `/`).
pub fn touch(
    id: i64,
    customer: i64,
    campaign: Option<i64>,
    channel: &'static str,
    at: &'static str,
) -> Vec<V> {
    vec![
        V::I(id),
        V::I(customer),
        campaign.map_or(V::Null, V::I),
        V::S(channel),
        V::Ts(at),
        V::S("mobile"),
        V::S("/"),
    ]
}

/// The payload of an `orders` row (shipping 4.95).
pub fn order(id: i64, customer: i64, at: &'static str, status: &'static str) -> Vec<V> {
    vec![
        V::I(id),
        V::I(customer),
        V::Ts(at),
        V::S(status),
        V::M("4.95"),
    ]
}

/// Every mart as sorted CSV lines: equal maps mean equal marts, row for row.
pub fn marts(lake: &(impl LakeArgs + ?Sized)) -> BTreeMap<&'static str, Vec<String>> {
    marts_via(lake, &[])
}

/// [`marts`] with more `stride query` arguments (`--engine duckdb`).
pub fn marts_via(
    lake: &(impl LakeArgs + ?Sized),
    query_args: &[&str],
) -> BTreeMap<&'static str, Vec<String>> {
    MARTS
        .iter()
        .map(|mart| {
            let sql = format!("select * from {mart}");
            let mut args = vec!["query", sql.as_str(), "--format", "csv"];
            args.extend_from_slice(query_args);
            let out = stride_ok(lake, &args);
            let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(str::to_string)
                .collect();
            lines.sort();
            (*mart, lines)
        })
        .collect()
}

/// Fails with the first rows that differ when two lakes' marts are not equal.
#[track_caller]
pub fn assert_same_marts(
    actual: &BTreeMap<&'static str, Vec<String>>,
    expected: &BTreeMap<&'static str, Vec<String>>,
    when: &str,
) {
    for mart in MARTS {
        let (a, e) = (&actual[mart], &expected[mart]);
        if a != e {
            let only_a: Vec<&String> = a.iter().filter(|l| !e.contains(l)).take(5).collect();
            let only_e: Vec<&String> = e.iter().filter(|l| !a.contains(l)).take(5).collect();
            panic!(
                "{when}: {mart} differs ({} rows vs {}).\nfirst only: {only_a:#?}\nsecond only: {only_e:#?}",
                a.len(),
                e.len()
            );
        }
    }
}

/// The commit time of each version of `model` as `stride history` shows it
/// (`2026-11-27 10:00:00.123 UTC`), in RFC 3339 (`2026-11-27T10:00:00.123Z`),
/// oldest first.
pub fn commit_times(lake: &(impl LakeArgs + ?Sized), model: &str) -> Vec<String> {
    let out = stride_ok(lake, &["history", model, "--format", "json"]);
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).expect("history as JSON");
    rows.iter()
        .map(|r| {
            let shown = r["time"].as_str().expect("a commit time");
            let bare = shown.strip_suffix(" UTC").expect("times in UTC");
            format!("{}Z", bare.replacen(' ', "T", 1))
        })
        .collect()
}

/// `select count(*) from <model>` as of `time` (`--as-of`).
pub fn count_as_of(lake: &(impl LakeArgs + ?Sized), model: &str, time: &str) -> f64 {
    let sql = format!("select count(*) as n from {model}");
    let rows = query_args(lake, &[sql.as_str(), "--as-of", time]);
    num(&rows[0], "n")
}

/// Copies the folder `from` to `to`, recursively (a `cp -r`).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let path = entry.expect("entry").path();
        let target = to.join(path.file_name().expect("name"));
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).expect("copy");
        }
    }
}

/// A copy of the project's folder `name` (queries or data_contracts) to change;
/// the folder lives as long as the returned directory.
pub fn copy_of(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let to = dir.path().join(name);
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join(name), &to);
    (dir, to)
}

/// A copy of `queries/` whose `mart_channel_daily` selects a column that does not
/// exist (`no_such_column`): a run with it fails on that model.
pub fn queries_with_a_broken_mart() -> (tempfile::TempDir, PathBuf) {
    let (dir, queries) = copy_of("queries");
    let broken = queries.join("marts/mart_channel_daily.sql");
    let sql = std::fs::read_to_string(&broken).expect("read model");
    std::fs::write(&broken, sql.replacen("select", "select no_such_column,", 1)).expect("write");
    (dir, queries)
}

/// `stride quarantine list --all` as JSON rows: one per checked file, then strays.
pub fn quarantine_list(lake: &Path) -> Vec<serde_json::Map<String, Value>> {
    let out = stride_ok(lake, &["quarantine", "list", "--all", "--format", "json"]);
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).expect("json");
    rows.into_iter()
        .filter_map(|r| r.as_object().cloned())
        .collect()
}

/// A count column of a JSON row.
pub fn count(row: &serde_json::Map<String, Value>, column: &str) -> u64 {
    row[column]
        .as_u64()
        .unwrap_or_else(|| panic!("{column} in {row:?}"))
}

/// The payload of a `customers` row (Ada Lovelace, London) with `tier`.
pub fn customer(id: i64, tier: &'static str) -> Vec<V> {
    vec![
        V::I(id),
        V::S("a@example.com"),
        V::S("Ada"),
        V::S("Lovelace"),
        V::S("GB"),
        V::S("London"),
        V::S(tier),
        V::Ts("2026-01-01T00:00:00Z"),
    ]
}

/// The four change-log columns of a raw row (`_op`, `_seq`, `_batch_id`,
/// `_changed_at`), to put before its payload with [`row`].
pub fn change(op: &'static str, seq: i64, batch: i64, at: &'static str) -> Vec<V> {
    vec![V::S(op), V::I(seq), V::I(batch), V::Ts(at)]
}

/// A raw row: its change-log columns, then its payload.
pub fn row(head: Vec<V>, payload: Vec<V>) -> Vec<V> {
    head.into_iter().chain(payload).collect()
}

/// The payload of product 1, a tee at 10.00.
pub fn tee() -> Vec<V> {
    vec![
        V::I(1),
        V::S("SKU-1"),
        V::S("Tee"),
        V::S("apparel"),
        V::S("t-shirts"),
        V::S("men"),
        V::M("10.00"),
        V::D("2025-01-01"),
    ]
}
