//! Open formats (SPEC section 5.6), checked with other tools: raw files written by
//! pyarrow (other names, row orders, row-group sizes and compression) give the same
//! marts as stride's own files, and the Delta tables open in delta-rs Python with the
//! SPEC's columns. The Python packages are installed by the test into a virtualenv
//! under the build folder, so `cargo test` needs nothing installed by hand.

mod common;

use std::path::Path;

use common::{MARTS, python, query, stride_ok};

const PYTHON_PACKAGES: [&str; 2] = ["pyarrow==26.0.1", "deltalake==1.6.6"];

/// Runs `script` with `args` in a virtualenv with pyarrow and deltalake.
fn run_python(script: &str, args: &[&Path]) -> String {
    let python = python::python(
        "interop-venv",
        &PYTHON_PACKAGES,
        "import pyarrow, deltalake",
    );
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    python::run(&python, script, &args)
}

/// Rewrites every raw file of lake argv[1] into lake argv[2] the way another writer
/// might: rows shuffled, split in two files with other names, small row groups,
/// another codec each time.
const REWRITE_RAW: &str = r#"
import os, random, sys
import pyarrow.parquet as pq
src, dst = sys.argv[1], sys.argv[2]
rng = random.Random(5)
codecs = ["gzip", "zstd", "none", "brotli", "lz4"]
n = 0
for root, _, files in os.walk(os.path.join(src, "raw")):
    for name in sorted(files):
        table = pq.read_table(os.path.join(root, name))
        order = list(range(table.num_rows))
        rng.shuffle(order)
        table = table.take(order)
        half = table.num_rows // 2
        out_dir = os.path.join(dst, os.path.relpath(root, src))
        os.makedirs(out_dir, exist_ok=True)
        for i, part in enumerate([table.slice(0, half), table.slice(half)]):
            codec = codecs[n % len(codecs)]
            n += 1
            pq.write_table(part, os.path.join(out_dir, f"export-{n:04d}-{i}.{codec}.parquet"),
                           row_group_size=17, compression=codec)
print(n)
"#;

#[test]
fn pyarrow_written_raw_files_give_the_same_marts() {
    let ours = common::temp_lake();
    stride_ok(
        ours.path(),
        &["generate", "--days", "8", "--scale", "0.05", "--seed", "21"],
    );
    let theirs = common::temp_lake();
    let written = run_python(REWRITE_RAW, &[ours.path(), theirs.path()]);
    assert!(
        written.trim().parse::<u32>().unwrap_or(0) > 40,
        "files written: {written}"
    );
    stride_ok(ours.path(), &["run"]);
    stride_ok(theirs.path(), &["run"]);
    for mart in MARTS {
        let sql = format!("select * from {mart} order by 1, 2, 3, 4");
        let a = query(ours.path(), &sql);
        let b = query(theirs.path(), &sql);
        assert!(!a.is_empty(), "{mart} has rows");
        assert_eq!(
            a, b,
            "{mart} differs between stride-written and pyarrow-written raw files"
        );
    }
}

/// Prints `table column type` for each mart's Delta table, as delta-rs Python reads it
/// with its Rust engine (`QueryBuilder`), which applies deletion vectors;
/// `to_pyarrow_table()` refuses tables with the deletion-vectors feature.
const READ_DELTA: &str = r#"
import sys
import pyarrow as pa
from deltalake import DeltaTable, QueryBuilder
lake = sys.argv[1]
for mart in sys.argv[2].split(","):
    dt = DeltaTable(f"{lake}/warehouse/{mart}")
    table = pa.table(QueryBuilder().register("t", dt).execute("select * from t").read_all())
    print(f"{mart} __rows__ {table.num_rows}")
    for field in table.schema:
        kind = str(field.type).replace("large_string", "string").replace("string_view", "string")
        print(f"{mart} {field.name} {kind}")
# deltalake 1.6 aborts in its thread-pool teardown at interpreter exit ("terminate
# called without an active exception"); everything has been read by now.
sys.stdout.flush()
import os
os._exit(0)
"#;

#[test]
fn delta_tables_open_in_delta_rs_python_with_spec_columns() {
    let lake = common::temp_lake();
    stride_ok(lake.path(), &["generate", "--days", "4", "--scale", "0.05"]);
    stride_ok(lake.path(), &["run"]);
    // An incremental run, so the tables carry deletion vectors and change data.
    stride_ok(lake.path(), &["generate", "--days", "2"]);
    stride_ok(lake.path(), &["run"]);
    let listing = run_python(READ_DELTA, &[lake.path(), Path::new(&MARTS.join(","))]);
    let mut columns: Vec<String> = Vec::new();
    for line in listing.lines() {
        let parts: Vec<&str> = line.splitn(3, ' ').collect();
        if parts[1] == "__rows__" {
            let count = query(
                lake.path(),
                &format!("select count(*) as n from {}", parts[0]),
            );
            assert_eq!(
                common::num(&count[0], "n") as u64,
                parts[2].parse::<u64>().expect("count"),
                "{} row count in delta-rs Python",
                parts[0]
            );
        } else {
            columns.push(line.to_string());
        }
    }
    let money = "decimal128(18, 2)";
    let ts = "timestamp[us, tz=UTC]";
    let expected: Vec<String> = [
        (
            "fct_orders",
            vec![
                ("order_id", "int64"),
                ("customer_id", "int64"),
                ("ordered_at", ts),
                ("order_date", "date32[day]"),
                ("status", "string"),
                ("item_count", "int64"),
                ("gross_revenue", money),
                ("discount_amount", money),
                ("net_revenue", money),
                ("shipping_amount", money),
                ("is_eligible", "bool"),
                ("is_first_order", "bool"),
            ],
        ),
        (
            "fct_attribution",
            vec![
                ("order_id", "int64"),
                ("order_date", "date32[day]"),
                ("model", "string"),
                ("touchpoint_id", "int64"),
                ("channel", "string"),
                ("campaign_id", "int64"),
                ("credit", "double"),
                ("attributed_revenue", "double"),
            ],
        ),
        (
            "mart_channel_daily",
            vec![
                ("order_date", "date32[day]"),
                ("channel", "string"),
                ("model", "string"),
                ("conversions", "double"),
                ("attributed_revenue", "double"),
            ],
        ),
        (
            "mart_campaign_performance",
            vec![
                ("campaign_id", "int64"),
                ("campaign_name", "string"),
                ("channel", "string"),
                ("model", "string"),
                ("spend", money),
                ("impressions", "int64"),
                ("clicks", "int64"),
                ("conversions", "double"),
                ("attributed_revenue", "double"),
                ("roas", "double"),
                ("cpa", "double"),
            ],
        ),
        (
            "dim_customers",
            vec![
                ("customer_id", "int64"),
                ("email", "string"),
                ("first_name", "string"),
                ("last_name", "string"),
                ("country", "string"),
                ("city", "string"),
                ("loyalty_tier", "string"),
                ("signup_at", ts),
                ("first_order_at", ts),
                ("acquisition_channel", "string"),
                ("lifetime_orders", "int64"),
                ("lifetime_revenue", money),
            ],
        ),
        (
            "dim_products",
            vec![
                ("product_id", "int64"),
                ("sku", "string"),
                ("product_name", "string"),
                ("category", "string"),
                ("subcategory", "string"),
                ("gender", "string"),
                ("list_price", "decimal128(12, 2)"),
                ("launched_on", "date32[day]"),
            ],
        ),
        (
            "dim_campaigns",
            vec![
                ("campaign_id", "int64"),
                ("campaign_name", "string"),
                ("channel", "string"),
                ("start_date", "date32[day]"),
                ("end_date", "date32[day]"),
                ("daily_budget", "decimal128(12, 2)"),
            ],
        ),
        (
            "mart_acquisition_ltv",
            vec![
                ("acquisition_channel", "string"),
                ("customers", "int64"),
                ("lifetime_revenue", money),
                ("avg_lifetime_revenue", "double"),
            ],
        ),
        (
            "mart_channel_data_driven",
            vec![
                ("window_start", "date32[day]"),
                ("window_end", "date32[day]"),
                ("model", "string"),
                ("channel", "string"),
                ("journeys", "int64"),
                ("removal_effect", "double"),
                ("share", "double"),
                ("conversions", "double"),
                ("attributed_revenue", "double"),
                ("spend", money),
                ("roas", "double"),
            ],
        ),
    ]
    .iter()
    .flat_map(|(mart, cols)| cols.iter().map(move |(c, t)| format!("{mart} {c} {t}")))
    .collect();
    assert_eq!(columns, expected);
}
