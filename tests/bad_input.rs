//! A corpus of bad input, written here (not by stride's generator): bad rows mixed
//! into good files, and bad files next to good ones. Nothing panics, the good rows
//! of the same batch load, every row read is either loaded or quarantined with its
//! rule, and the marts equal those of the same lake without the bad input.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use common::{
    V, assert_same_marts, batch, batch_dir, land, marts, stride, stride_ok, write_parquet,
};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

const DAY: &str = "2026-01-01";
const AT: &str = "2026-01-01T09:00:00Z";
const ORDERED: &str = "2026-01-01T12:00:00Z";

fn customer(seq: i64, id: i64) -> Vec<V> {
    vec![
        V::S("c"),
        V::I(seq),
        V::I(1),
        V::Ts(AT),
        V::I(id),
        V::S("a@example.com"),
        V::S("Ada"),
        V::S("Lovelace"),
        V::S("GB"),
        V::S("London"),
        V::S("member"),
        V::Ts(AT),
    ]
}

fn product(seq: i64, id: i64, price: &'static str) -> Vec<V> {
    vec![
        V::S("c"),
        V::I(seq),
        V::I(1),
        V::Ts(AT),
        V::I(id),
        V::S("SKU"),
        V::S("Runner"),
        V::S("footwear"),
        V::S("running"),
        V::S("unisex"),
        V::M(price),
        V::D("2025-06-01"),
    ]
}

fn order(seq: i64, id: Option<i64>, customer: i64, status: &'static str) -> Vec<V> {
    vec![
        V::S("c"),
        V::I(seq),
        V::I(1),
        V::Ts(ORDERED),
        id.map_or(V::Null, V::I),
        V::I(customer),
        V::Ts(ORDERED),
        V::S(status),
        V::M("4.95"),
    ]
}

fn item(
    seq: i64,
    order: i64,
    line: i64,
    product: i64,
    quantity: i64,
    price: &'static str,
) -> Vec<V> {
    vec![
        V::S("c"),
        V::I(seq),
        V::I(1),
        V::Ts(ORDERED),
        V::I(order),
        V::I(line),
        V::I(product),
        V::I(quantity),
        V::M(price),
        V::M("0.00"),
    ]
}

fn touch(seq: i64, id: Option<i64>, customer: i64) -> Vec<V> {
    vec![
        V::S("c"),
        V::I(seq),
        V::I(1),
        V::Ts(AT),
        id.map_or(V::Null, V::I),
        V::I(customer),
        V::Null,
        V::S("organic_search"),
        V::Ts(AT),
        V::S("mobile"),
        V::S("/"),
    ]
}

/// The good rows, landed the same way in both lakes.
fn good_rows() -> BTreeMap<&'static str, Vec<Vec<V>>> {
    BTreeMap::from([
        ("customers", vec![customer(1, 1), customer(2, 2)]),
        (
            "products",
            vec![product(1, 1, "10.00"), product(2, 2, "25.00")],
        ),
        ("touchpoints", vec![touch(1, Some(1), 1)]),
        (
            "orders",
            vec![
                order(1, Some(1), 1, "placed"),
                order(2, Some(2), 2, "shipped"),
                order(3, Some(3), 2, "placed"),
            ],
        ),
        (
            "order_items",
            vec![item(1, 1, 1, 1, 2, "10.00"), item(2, 2, 1, 2, 1, "25.00")],
        ),
    ])
}

/// The bad rows added to the good files of the faulty lake, with the rule each
/// must be quarantined for.
fn bad_rows() -> BTreeMap<&'static str, Vec<(Vec<V>, &'static str)>> {
    BTreeMap::from([
        (
            "orders",
            vec![
                (order(10, None, 1, "placed"), "not_null(order_id)"),
                (order(11, Some(11), 1, "lost"), "status_accepted"),
            ],
        ),
        (
            "order_items",
            vec![
                (item(10, 1, 2, 1, -1, "10.00"), "quantity_positive"),
                (item(11, 1, 3, 99, 1, "10.00"), "product_exists"),
                // Order 3's only line, twice at the same time with different
                // payloads: which one is true cannot be told, so both are set aside.
                (item(12, 3, 1, 1, 1, "10.00"), "key_consistent_in_batch"),
                (item(13, 3, 1, 1, 4, "10.00"), "key_consistent_in_batch"),
            ],
        ),
        (
            "touchpoints",
            vec![(touch(10, None, 2), "not_null(touchpoint_id)")],
        ),
    ])
}

fn land_good(lake: &Path) {
    for (table, rows) in good_rows() {
        land(lake, table, DAY, "part-0.parquet", &rows);
    }
}

/// The bad files next to the good ones, with the reason each is refused for.
fn land_bad_files(lake: &Path) -> Vec<(&'static str, &'static str, &'static str)> {
    let orders = batch_dir(lake, "orders", DAY);
    let items = batch_dir(lake, "order_items", DAY);
    let customers = batch_dir(lake, "customers", DAY);

    // Truncated: a valid file cut in half.
    let mut bytes = Vec::new();
    {
        let rows = batch("orders", &[order(20, Some(20), 1, "placed")]);
        let mut writer =
            parquet::arrow::ArrowWriter::try_new(&mut bytes, rows.schema(), None).expect("writer");
        writer.write(&rows).expect("write");
        writer.close().expect("close");
    }
    bytes.truncate(bytes.len() / 2);
    std::fs::write(orders.join("truncated.parquet"), &bytes).expect("write");

    // Wrong type: quantity as text.
    let good = batch("order_items", &[item(21, 21, 1, 1, 1, "10.00")]);
    write_parquet(
        &items.join("wrong-type.parquet"),
        &replace(&good, "quantity", Arc::new(StringArray::from(vec!["1"]))),
    );

    // `+00:00` instead of `UTC`.
    let good = batch("orders", &[order(22, Some(22), 1, "placed")]);
    let zoned = good
        .column_by_name("ordered_at")
        .expect("ordered_at")
        .as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
        .clone()
        .with_timezone("+00:00");
    write_parquet(
        &orders.join("zoned.parquet"),
        &replace(&good, "ordered_at", Arc::new(zoned)),
    );

    // An extra column.
    let good = batch("customers", &[customer(23, 23)]);
    let mut fields: Vec<Field> = good
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new("loyalty_points", DataType::Utf8, true));
    let mut columns = good.columns().to_vec();
    columns.push(Arc::new(StringArray::from(vec!["12"])));
    let extra = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("batch");
    write_parquet(&customers.join("extra.parquet"), &extra);

    // An empty file.
    std::fs::write(items.join("empty.parquet"), b"").expect("write");

    vec![
        ("orders", "truncated.parquet", "not a readable Parquet file"),
        (
            "order_items",
            "wrong-type.parquet",
            "column `quantity` has type Utf8",
        ),
        ("orders", "zoned.parquet", "Timestamp(µs, \"+00:00\")"),
        (
            "customers",
            "extra.parquet",
            "`loyalty_points` not in the contract",
        ),
        ("order_items", "empty.parquet", "empty file"),
    ]
}

/// `good` with `column` replaced (its field retyped to the new array's type).
fn replace(good: &RecordBatch, column: &str, array: Arc<dyn Array>) -> RecordBatch {
    let schema = good.schema();
    let index = schema.index_of(column).expect("column");
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields[index] = Field::new(column, array.data_type().clone(), true);
    let mut columns = good.columns().to_vec();
    columns[index] = array;
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("batch")
}

/// The `_rule` of each row in a quarantine file, by `_seq`.
fn quarantined_rules(lake: &Path, table: &str) -> BTreeMap<i64, String> {
    let file = lake.join(format!(
        "quarantine/{table}/rows/batch_date={DAY}/part-0.parquet"
    ));
    let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
        .expect("parquet")
        .build()
        .expect("reader");
    let mut rules = BTreeMap::new();
    for batch in reader {
        let batch = batch.expect("batch");
        for column in ["_rule", "_reason", "_file", "_batch_date"] {
            assert!(
                batch.column_by_name(column).is_some(),
                "{column} in {}",
                file.display()
            );
        }
        let seqs = batch
            .column_by_name("_seq")
            .expect("_seq")
            .as_primitive::<arrow::datatypes::Int64Type>()
            .clone();
        let rule = batch
            .column_by_name("_rule")
            .expect("_rule")
            .as_string::<i32>()
            .clone();
        let source = batch
            .column_by_name("_file")
            .expect("_file")
            .as_string::<i32>()
            .clone();
        for i in 0..batch.num_rows() {
            assert_eq!(
                source.value(i),
                format!("raw/{table}/batch_date={DAY}/part-0.parquet")
            );
            rules.insert(seqs.value(i), rule.value(i).to_string());
        }
    }
    rules
}

#[test]
fn bad_rows_and_files_are_quarantined_and_the_good_rows_load() {
    let clean = common::temp_lake();
    land_good(clean.path());
    stride_ok(clean.path(), &["run"]);

    let faulty = common::temp_lake();
    let good = good_rows();
    let bad = bad_rows();
    for (table, rows) in &good {
        let mut all: Vec<Vec<V>> = rows.clone();
        all.extend(
            bad.get(table)
                .into_iter()
                .flatten()
                .map(|(row, _)| row.clone()),
        );
        land(faulty.path(), table, DAY, "part-0.parquet", &all);
    }
    let refused = land_bad_files(faulty.path());
    let out = stride(faulty.path(), &["run"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("panick"), "{stderr}");

    // The marts are those of the lake without the bad input.
    assert_same_marts(
        &marts(faulty.path()),
        &marts(clean.path()),
        "faulty vs clean",
    );

    // Each bad row is quarantined for its rule, with its columns kept.
    for (table, rows) in &bad {
        let expected: BTreeMap<i64, String> = rows
            .iter()
            .map(|(row, rule)| match row[1] {
                V::I(seq) => (seq, rule.to_string()),
                _ => unreachable!("every fixture row has a _seq"),
            })
            .collect();
        assert_eq!(quarantined_rules(faulty.path(), table), expected, "{table}");
    }

    // Rows read = loaded + quarantined, for every file; the counts are the fixtures'.
    let entries = common::quarantine_list(faulty.path());
    for entry in &entries {
        assert_eq!(
            common::count(entry, "rows_read"),
            common::count(entry, "rows_loaded") + common::count(entry, "rows_quarantined"),
            "{entry:?}"
        );
    }
    for (table, rows) in &good {
        let entry = entries
            .iter()
            .find(|e| {
                e["table"] == *table && e["file"] == format!("batch_date={DAY}/part-0.parquet")
            })
            .unwrap_or_else(|| panic!("{table} is in the ledger"));
        let bad_count = bad.get(table).map_or(0, Vec::len) as u64;
        assert_eq!(
            common::count(entry, "rows_loaded"),
            rows.len() as u64,
            "{table}"
        );
        assert_eq!(
            common::count(entry, "rows_quarantined"),
            bad_count,
            "{table}"
        );
    }
    // The run says it too, per table: 6 rows of the good file and 1 in the
    // wrong-type file (the empty file has none).
    let said = stderr.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        said.contains("raw.order_items 3 new files: 7 rows read = 2 loaded + 5 quarantined"),
        "{stderr}"
    );

    // Each bad file is refused whole, with its reason, and copied aside.
    for (table, file, reason) in refused {
        let entry = entries
            .iter()
            .find(|e| e["table"] == table && e["file"] == format!("batch_date={DAY}/{file}"))
            .unwrap_or_else(|| panic!("{file} is in the ledger"));
        let text = entry["reason"].as_str().unwrap_or_default();
        assert!(
            text.starts_with("file refused: ") && text.contains(reason),
            "{file}: {text}"
        );
        assert_eq!(common::count(entry, "rows_loaded"), 0, "{file}");
        assert!(stderr.contains(file), "the run names {file}: {stderr}");
        assert!(
            faulty
                .path()
                .join(format!(
                    "quarantine/{table}/refused/batch_date={DAY}/{file}"
                ))
                .exists(),
            "{file} copied"
        );
    }

    // A second run has nothing new to check or commit.
    let again = stride_ok(faulty.path(), &["run"]);
    let again = String::from_utf8_lossy(&again.stderr);
    assert!(
        again.contains("0 committed") && !again.contains("new file"),
        "{again}"
    );
}

#[test]
fn a_replay_loads_rows_whose_fault_was_fixed() {
    let lake = common::temp_lake();
    land_good(lake.path());
    // A line selling product 7, which has not landed yet.
    land(
        lake.path(),
        "order_items",
        "2026-01-02",
        "part-0.parquet",
        &[item(20, 2, 2, 7, 3, "5.00")],
    );
    stride_ok(lake.path(), &["run"]);
    let gross = |lake: &Path| {
        common::query(
            lake,
            "select cast(gross_revenue as double) as g, item_count from fct_orders where order_id = 2",
        )
    };
    let before = gross(lake.path());
    assert_eq!(common::num(&before[0], "g"), 25.0);

    // The product lands; the line stays quarantined until replayed.
    land(
        lake.path(),
        "products",
        "2026-01-03",
        "part-0.parquet",
        &[product(30, 7, "5.00")],
    );
    stride_ok(lake.path(), &["run"]);
    assert_eq!(common::num(&gross(lake.path())[0], "g"), 25.0);

    let out = stride_ok(lake.path(), &["quarantine", "replay"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("raw.order_items: 1 rows released"),
        "{stderr}"
    );
    stride_ok(lake.path(), &["run"]);
    // 25.00 + 3 × 5.00, by hand.
    let after = gross(lake.path());
    assert_eq!(common::num(&after[0], "g"), 40.0);
    assert_eq!(common::num(&after[0], "item_count"), 4.0);
    let entries = common::quarantine_list(lake.path());
    assert!(
        entries
            .iter()
            .all(|e| common::count(e, "rows_quarantined") == 0),
        "{entries:?}"
    );

    // The replayed lake equals one where the product was there all along.
    let fresh = common::temp_lake();
    land_good(fresh.path());
    land(
        fresh.path(),
        "order_items",
        "2026-01-02",
        "part-0.parquet",
        &[item(20, 2, 2, 7, 3, "5.00")],
    );
    land(
        fresh.path(),
        "products",
        "2026-01-01",
        "late.parquet",
        &[product(30, 7, "5.00")],
    );
    stride_ok(fresh.path(), &["run"]);
    assert_same_marts(
        &marts(lake.path()),
        &marts(fresh.path()),
        "replayed vs fresh",
    );
}

#[test]
fn generated_faults_are_all_caught_and_change_no_mart() {
    let clean = common::temp_lake();
    let faulty = common::temp_lake();
    let args = ["generate", "--days", "7", "--scale", "0.03"];
    stride_ok(clean.path(), &args);
    let mut with_faults = args.to_vec();
    with_faults.extend(["--faults", "0.02"]);
    stride_ok(faulty.path(), &with_faults);
    stride_ok(clean.path(), &["run"]);
    let out = stride_ok(faulty.path(), &["run"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_same_marts(
        &marts(faulty.path()),
        &marts(clean.path()),
        "faults vs none",
    );

    let entries = common::quarantine_list(faulty.path());
    let reasons: Vec<&str> = entries
        .iter()
        .filter_map(|e| e["reason"].as_str())
        .collect();
    for expected in [
        "not a readable Parquet file",
        "has type Utf8, expected Int64",
        "\"+00:00\"",
        "not in the contract",
        "missing required column",
        "empty file",
        "not_null(",
        "key_consistent_in_batch",
        "quantity_positive",
        "product_exists",
        "status_accepted",
    ] {
        assert!(
            reasons.iter().any(|r| r.contains(expected)),
            "{expected} in {reasons:#?}"
        );
    }
    let clean_entries = common::quarantine_list(clean.path());
    assert!(
        clean_entries
            .iter()
            .all(|e| common::count(e, "rows_quarantined") == 0)
    );
    assert!(stderr.contains("quarantined"), "{stderr}");

    // On the faulty lake `stride test` judges the rows models read: every rule
    // passes, and each source warns that its quarantine holds rows.
    let out = stride_ok(faulty.path(), &["test", "--format", "json"]);
    let outcomes: Vec<Value> = serde_json::from_slice(&out.stdout).expect("json");
    assert!(
        outcomes
            .iter()
            .all(|o| o["status"] == "PASS" || o["status"] == "WARN")
    );
    let quarantine_warnings = outcomes
        .iter()
        .filter(|o| o["rule"] == "quarantine is empty" && o["status"] == "WARN")
        .count();
    assert_eq!(quarantine_warnings, 7, "{outcomes:#?}");

    // `stride test` passes on the clean lake (warnings only: the data is old).
    let out = stride_ok(clean.path(), &["test", "--format", "json"]);
    let outcomes: Vec<Value> = serde_json::from_slice(&out.stdout).expect("json");
    assert!(outcomes.len() > 100);
    assert!(
        outcomes
            .iter()
            .all(|o| o["status"] == "PASS" || o["status"] == "WARN")
    );
    assert!(
        outcomes
            .iter()
            .filter(|o| o["status"] == "WARN")
            .all(|o| o["rule"] == "freshness"),
        "{outcomes:#?}"
    );
}

/// `select * from raw.<table>` as sorted CSV lines.
fn raw_rows(lake: &Path, table: &str) -> Vec<String> {
    let sql = format!("select * from raw.{table}");
    let out = stride_ok(lake, &["query", &sql, "--format", "csv"]);
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

#[test]
fn raw_tables_in_a_query_hold_what_was_admitted_and_stray_files_are_reported() {
    let clean = common::temp_lake();
    land_good(clean.path());
    stride_ok(clean.path(), &["run"]);

    let faulty = common::temp_lake();
    let lake = faulty.path();
    land_good(lake);
    land_bad_files(lake);
    // Files no raw table holds: outside a batch folder, not Parquet, a misspelt table.
    let good_orders = batch_dir(lake, "orders", DAY).join("part-0.parquet");
    let unpartitioned = lake.join(format!("raw/orders/{DAY}"));
    std::fs::create_dir_all(&unpartitioned).expect("mkdir");
    std::fs::copy(&good_orders, unpartitioned.join("part-0.parquet")).expect("copy");
    std::fs::write(batch_dir(lake, "orders", DAY).join("notes.csv"), "a,b\n").expect("write");
    let misspelt = batch_dir(lake, "ordrs", DAY);
    std::fs::create_dir_all(&misspelt).expect("mkdir");
    std::fs::copy(&good_orders, misspelt.join("part-0.parquet")).expect("copy");
    let strays = [
        format!("raw/orders/{DAY}/part-0.parquet"),
        format!("raw/orders/batch_date={DAY}/notes.csv"),
        "raw/ordrs/".to_string(),
    ];

    let out = stride(lake, &["run"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    for stray in &strays {
        assert!(
            stderr.contains(&format!("stray raw file {stray} not read")),
            "run reports {stray}:\n{stderr}"
        );
    }
    let listed = common::quarantine_list(lake);
    for stray in &strays {
        let entry = listed
            .iter()
            .find(|e| e["file"].as_str() == Some(stray.as_str()))
            .unwrap_or_else(|| panic!("quarantine list names {stray}: {listed:?}"));
        assert!(
            entry["reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("stray file, not read")),
            "{entry:?}"
        );
    }

    // raw.<table> is what the checks admitted: no refused file is read (a truncated
    // one would fail the query, a wrong-typed one would be cast), no stray either.
    for table in [
        "customers",
        "products",
        "orders",
        "order_items",
        "touchpoints",
    ] {
        assert_eq!(
            raw_rows(lake, table),
            raw_rows(clean.path(), table),
            "raw.{table}"
        );
    }
}
