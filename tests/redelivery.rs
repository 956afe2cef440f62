//! Change data arrives at least once and not always in order: a raw file landed
//! twice, or a file of older changes landed after newer ones, must leave the marts
//! exactly as if each change had arrived once and in `_seq` order (SPEC section 2:
//! the current state is the row with the greatest `_seq`; SPEC invariant 1).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use V::{I, M, S, Ts};
use common::{V, assert_same_marts, customer, land, marts, query, stride_ok, temp_lake, text};

const GENERATE: [&str; 5] = ["generate", "--scale", "0.05", "--days", "5"];

/// The Parquet files of one batch folder of `table`, sorted (none when the
/// table has no batch that day).
fn batch_files(lake: &Path, table: &str, day: &str) -> Vec<PathBuf> {
    let Ok(folder) = std::fs::read_dir(common::batch_dir(lake, table, day)) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = folder
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .collect();
    files.sort();
    files
}

/// The raw tables of SPEC section 2.
const TABLES: [&str; 7] = [
    "customers",
    "products",
    "campaigns",
    "ad_spend",
    "touchpoints",
    "orders",
    "order_items",
];

/// Lands a second copy of every file of `day` under another name, in the same folder.
fn redeliver(lake: &Path, day: &str) -> usize {
    let mut copied = 0;
    for table in TABLES {
        for file in batch_files(lake, table, day) {
            let stem = file
                .file_stem()
                .expect("stem")
                .to_string_lossy()
                .to_string();
            std::fs::copy(&file, file.with_file_name(format!("{stem}-again.parquet")))
                .expect("copy");
            copied += 1;
        }
    }
    copied
}

/// Moves every table's folder of `day` from `from` to `to` (a late delivery).
fn move_batch(from: &Path, to: &Path, day: &str) {
    for table in TABLES {
        let source = common::batch_dir(from, table, day);
        if source.is_dir() {
            let target = common::batch_dir(to, table, day);
            std::fs::create_dir_all(target.parent().expect("table folder")).expect("mkdir");
            std::fs::rename(&source, &target).expect("move batch");
        }
    }
}

/// The marts of an uninterrupted run over `GENERATE`'s batches, each landed once.
fn clean_marts() -> BTreeMap<&'static str, Vec<String>> {
    let clean = temp_lake();
    stride_ok(clean.path(), &GENERATE);
    stride_ok(clean.path(), &["run"]);
    marts(clean.path())
}

#[test]
fn a_file_delivered_twice_changes_nothing() {
    let lake = temp_lake();
    let lake = lake.path();
    stride_ok(lake, &GENERATE);
    stride_ok(lake, &["run"]);
    let before = marts(lake);

    let copies = redeliver(lake, "2026-01-02");
    assert!(
        copies >= 4,
        "the tables that change daily have a day-2 file"
    );
    let out = stride_ok(lake, &["run"]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("redelivered (already loaded, skipped)"),
        "{log}"
    );
    assert_same_marts(&marts(lake), &before, "after every day-2 file landed again");

    // Each copy is counted as redelivered, row for row; nothing of it is loaded or
    // quarantined, and rows read = loaded + quarantined + redelivered everywhere.
    let entries = common::quarantine_list(lake);
    for entry in &entries {
        assert_eq!(
            common::count(entry, "rows_read"),
            common::count(entry, "rows_loaded")
                + common::count(entry, "rows_quarantined")
                + common::count(entry, "rows_redelivered"),
            "{entry:?}"
        );
        let again = text(entry, "file").ends_with("-again.parquet");
        assert_eq!(
            common::count(entry, "rows_redelivered"),
            if again {
                common::count(entry, "rows_read")
            } else {
                0
            },
            "{entry:?}"
        );
    }
    assert_eq!(
        entries
            .iter()
            .filter(|e| text(e, "file").ends_with("-again.parquet"))
            .count(),
        copies
    );

    // A full refresh reads what the ledger admitted: the same marts.
    stride_ok(lake, &["run", "--full-refresh"]);
    assert_same_marts(&marts(lake), &before, "full refresh after the redelivery");

    // Original and copy new in the same check (a fresh lake over the same files):
    // the first is loaded, the copy skipped.
    let fresh = temp_lake();
    common::copy_dir(&lake.join("raw"), &fresh.path().join("raw"));
    stride_ok(fresh.path(), &["run"]);
    assert_same_marts(&marts(fresh.path()), &before, "both copies in one run");
}

#[test]
fn redelivered_and_out_of_order_files_of_every_table_equal_an_uninterrupted_run() {
    let lake = temp_lake();
    let lake = lake.path();
    let held = temp_lake();
    stride_ok(lake, &GENERATE);
    // Day 3 of every table is held back and lands after days 4 and 5 were run; day 2
    // of every table lands twice.
    move_batch(lake, held.path(), "2026-01-03");
    redeliver(lake, "2026-01-02");
    stride_ok(lake, &["run"]);
    move_batch(held.path(), lake, "2026-01-03");
    redeliver(lake, "2026-01-04");
    stride_ok(lake, &["run"]);

    let incremental = marts(lake);
    assert!(
        common::quarantine_list(lake)
            .iter()
            .all(|e| common::count(e, "rows_quarantined") == 0),
        "nothing is quarantined: every repeated row was identical"
    );
    assert_same_marts(
        &incremental,
        &clean_marts(),
        "late and repeated vs once, in order",
    );
    stride_ok(lake, &["run", "--full-refresh"]);
    assert_same_marts(&marts(lake), &incremental, "incremental vs full refresh");
}

fn change(op: &'static str, seq: i64, batch: i64, payload: Vec<V>) -> Vec<V> {
    [
        vec![S(op), I(seq), I(batch), Ts("2026-01-01T00:00:00Z")],
        payload,
    ]
    .concat()
}

fn order_status(lake: &Path, order: i64) -> Option<String> {
    query(
        lake,
        &format!("select status from fct_orders where order_id = {order}"),
    )
    .first()
    .map(|r| text(r, "status"))
}

fn customer_tier(lake: &Path, customer: i64) -> Option<String> {
    query(
        lake,
        &format!("select loyalty_tier from dim_customers where customer_id = {customer}"),
    )
    .first()
    .map(|r| text(r, "loyalty_tier"))
}

#[test]
fn a_late_file_cannot_put_an_entity_back_to_an_older_state() {
    let lake = temp_lake();
    let lake = lake.path();
    let order = |id, status| common::order(id, 1, "2026-01-01T10:00:00Z", status);
    let item = vec![I(1), I(1), I(7), I(2), M("10.00"), M("0.00")];
    let product = vec![
        I(7),
        S("SKU-7"),
        S("Runner"),
        S("footwear"),
        S("road"),
        S("unisex"),
        M("10.00"),
        V::D("2025-01-01"),
    ];
    // Day 1: customer 1 (member), order 1 placed. Day 3: order 1 delivered,
    // customer 1 deleted. Day 2 (landed last): order 1 shipped, customer 1 made
    // silver, customer 2 and order 2 created.
    land(
        lake,
        "products",
        "2026-01-01",
        "p.parquet",
        &[change("c", 1, 1, product)],
    );
    land(
        lake,
        "customers",
        "2026-01-01",
        "c.parquet",
        &[change("c", 1, 1, customer(1, "member"))],
    );
    land(
        lake,
        "orders",
        "2026-01-01",
        "o.parquet",
        &[change("c", 1, 1, order(1, "placed"))],
    );
    land(
        lake,
        "order_items",
        "2026-01-01",
        "i.parquet",
        &[change("c", 1, 1, item)],
    );
    land(
        lake,
        "orders",
        "2026-01-03",
        "o.parquet",
        &[change("u", 3, 3, order(1, "delivered"))],
    );
    land(
        lake,
        "customers",
        "2026-01-03",
        "c.parquet",
        &[change("d", 3, 3, customer(1, "member"))],
    );
    stride_ok(lake, &["run"]);
    assert_eq!(order_status(lake, 1).as_deref(), Some("delivered"));
    assert_eq!(customer_tier(lake, 1), None, "customer 1 is deleted");

    land(
        lake,
        "orders",
        "2026-01-02",
        "o.parquet",
        &[
            change("u", 2, 2, order(1, "shipped")),
            change(
                "c",
                4,
                2,
                common::order(2, 2, "2026-01-02T09:00:00Z", "placed"),
            ),
        ],
    );
    land(
        lake,
        "customers",
        "2026-01-02",
        "c.parquet",
        &[
            change("u", 2, 2, customer(1, "silver")),
            change("c", 4, 2, customer(2, "gold")),
        ],
    );
    stride_ok(lake, &["run"]);
    assert_eq!(
        order_status(lake, 1).as_deref(),
        Some("delivered"),
        "the late `shipped` (_seq 2) is older than `delivered` (_seq 3)"
    );
    assert_eq!(
        customer_tier(lake, 1),
        None,
        "the late update does not undo the deletion"
    );
    assert_eq!(
        order_status(lake, 2).as_deref(),
        Some("placed"),
        "new keys of a late file load"
    );
    assert_eq!(customer_tier(lake, 2).as_deref(), Some("gold"));
    let incremental = marts(lake);
    stride_ok(lake, &["run", "--full-refresh"]);
    assert_same_marts(
        &marts(lake),
        &incremental,
        "late file: incremental vs full refresh",
    );

    // The same `_seq` again with other values is not a redelivery: it is
    // quarantined, and the loaded change stands.
    land(
        lake,
        "orders",
        "2026-01-04",
        "o.parquet",
        &[change("u", 3, 3, order(1, "returned"))],
    );
    stride_ok(lake, &["run"]);
    assert_eq!(order_status(lake, 1).as_deref(), Some("delivered"));
    let entry = common::quarantine_list(lake)
        .into_iter()
        .find(|e| text(e, "file") == "batch_date=2026-01-04/o.parquet")
        .expect("the day-4 file is in the ledger");
    assert_eq!(common::count(&entry, "rows_quarantined"), 1, "{entry:?}");
    assert!(
        text(&entry, "reason").contains("seq_already_loaded"),
        "{entry:?}"
    );
    // A replay does not release it: no contract change makes both values true.
    stride_ok(lake, &["quarantine", "replay"]);
    stride_ok(lake, &["run"]);
    assert_eq!(order_status(lake, 1).as_deref(), Some("delivered"));
}

/// Rewrites the Parquet file `path` with every row written twice (one after the
/// other, as a sink that retried its last write does).
fn write_every_row_twice(path: &Path) -> usize {
    let file = std::fs::File::open(path).expect("open");
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("parquet")
        .build()
        .expect("reader");
    let batches: Vec<arrow::record_batch::RecordBatch> =
        reader.collect::<Result<_, _>>().expect("rows");
    let schema = batches.first().expect("a batch").schema();
    let once = arrow::compute::concat_batches(&schema, &batches).expect("concat");
    let twice = arrow::compute::concat_batches(&schema, [&once, &once]).expect("concat");
    common::write_parquet(path, &twice);
    once.num_rows()
}

/// The ledger rows of `lake` whose file is `key` (`batch_date=…/x.parquet`).
fn entry_of(lake: &Path, table: &str, key: &str) -> serde_json::Map<String, serde_json::Value> {
    common::quarantine_list(lake)
        .into_iter()
        .find(|e| text(e, "table") == table && text(e, "file") == key)
        .unwrap_or_else(|| panic!("raw.{table} {key} is in the ledger"))
}

fn order_change(
    op: &'static str,
    seq: i64,
    batch: i64,
    order: i64,
    status: &'static str,
) -> Vec<V> {
    change(
        op,
        seq,
        batch,
        common::order(order, 1, "2026-01-01T10:00:00Z", status),
    )
}

fn staged_status(lake: &Path, order: i64) -> Option<String> {
    query(
        lake,
        &format!("select status from stg_orders where order_id = {order}"),
    )
    .first()
    .map(|r| text(r, "status"))
}

/// A lake where order 1 was placed on day 1 and shipped on day 2 (one file a day,
/// `o.parquet`), run once.
fn placed_then_shipped() -> tempfile::TempDir {
    let dir = temp_lake();
    let lake = dir.path();
    land(
        lake,
        "orders",
        "2026-01-01",
        "o.parquet",
        &[order_change("c", 1, 1, 1, "placed")],
    );
    land(
        lake,
        "orders",
        "2026-01-02",
        "o.parquet",
        &[order_change("u", 2, 2, 1, "shipped")],
    );
    stride_ok(lake, &["run"]);
    assert_eq!(staged_status(lake, 1).as_deref(), Some("shipped"));
    dir
}

/// `stride verify` passes, and a full refresh leaves every mart as it is.
fn assert_verified_and_as_a_full_refresh(lake: &Path) {
    stride_ok(lake, &["verify"]);
    let incremental = marts(lake);
    stride_ok(lake, &["run", "--full-refresh"]);
    assert_same_marts(&marts(lake), &incremental, "full refresh");
}

#[test]
fn a_change_written_twice_into_one_file_is_loaded_once() {
    let lake = temp_lake();
    let lake = lake.path();
    stride_ok(lake, &GENERATE);
    let mut doubled = Vec::new();
    for table in TABLES {
        for file in batch_files(lake, table, "2026-01-02") {
            let rows = write_every_row_twice(&file);
            let key = format!(
                "batch_date=2026-01-02/{}",
                file.file_name().expect("name").to_string_lossy()
            );
            doubled.push((table, key, rows as u64));
        }
    }
    assert!(
        doubled.iter().any(|(t, _, _)| *t == "orders"),
        "{doubled:?}"
    );
    stride_ok(lake, &["run"]);
    assert_same_marts(
        &marts(lake),
        &clean_marts(),
        "every day-2 row written twice",
    );

    // One copy of each is loaded, the other counted as redelivered: the ledger's
    // loaded rows are what models read (verify counts them file by file).
    for (table, key, rows) in &doubled {
        let entry = entry_of(lake, table, key);
        assert_eq!(common::count(&entry, "rows_read"), 2 * rows, "{entry:?}");
        assert_eq!(common::count(&entry, "rows_loaded"), *rows, "{entry:?}");
        assert_eq!(
            common::count(&entry, "rows_redelivered"),
            *rows,
            "{entry:?}"
        );
        assert_eq!(common::count(&entry, "rows_quarantined"), 0, "{entry:?}");
    }
    let verified = stride_ok(lake, &["verify"]);
    let report = String::from_utf8_lossy(&verified.stdout);
    assert!(
        report.contains("loads the rows its ledger says"),
        "{report}"
    );
    stride_ok(lake, &["run", "--full-refresh"]);
    assert_same_marts(&marts(lake), &clean_marts(), "full refresh");
}

#[test]
fn copies_of_one_seq_in_one_file_load_once_when_identical_and_are_all_quarantined_when_not() {
    let lake = temp_lake();
    let lake = lake.path();
    land(
        lake,
        "orders",
        "2026-01-01",
        "o.parquet",
        &[
            order_change("c", 1, 1, 1, "placed"),
            order_change("c", 2, 1, 2, "placed"),
        ],
    );
    stride_ok(lake, &["run"]);
    // Day 2: _seq 3 twice with two statuses (nobody can tell which is the change),
    // _seq 4 twice alike (one change written twice).
    land(
        lake,
        "orders",
        "2026-01-02",
        "o.parquet",
        &[
            order_change("u", 3, 2, 1, "shipped"),
            order_change("u", 4, 2, 2, "shipped"),
            order_change("u", 3, 2, 1, "cancelled"),
            order_change("u", 4, 2, 2, "shipped"),
        ],
    );
    stride_ok(lake, &["run"]);
    assert_eq!(staged_status(lake, 1).as_deref(), Some("placed"));
    assert_eq!(staged_status(lake, 2).as_deref(), Some("shipped"));
    let entry = entry_of(lake, "orders", "batch_date=2026-01-02/o.parquet");
    assert_eq!(common::count(&entry, "rows_read"), 4, "{entry:?}");
    assert_eq!(common::count(&entry, "rows_loaded"), 1, "{entry:?}");
    assert_eq!(common::count(&entry, "rows_quarantined"), 2, "{entry:?}");
    assert_eq!(common::count(&entry, "rows_redelivered"), 1, "{entry:?}");
    assert_eq!(
        text(&entry, "reason"),
        "seq_conflicting_copies: 2",
        "{entry:?}"
    );
    // A replay keeps both: no contract change makes two values of one change true.
    stride_ok(lake, &["quarantine", "replay"]);
    stride_ok(lake, &["run"]);
    assert_eq!(staged_status(lake, 1).as_deref(), Some("placed"));
    assert_verified_and_as_a_full_refresh(lake);
}

#[test]
fn a_file_removed_and_corrected_under_another_name_loads_the_correction() {
    let lake = placed_then_shipped();
    let lake = lake.path();

    // The day-2 file was wrong: it is deleted and a fixed one, with the same _seq,
    // lands under another name. The gone file's rows are not "already loaded".
    std::fs::remove_file(common::batch_dir(lake, "orders", "2026-01-02").join("o.parquet"))
        .expect("remove");
    land(
        lake,
        "orders",
        "2026-01-02",
        "o-fixed.parquet",
        &[order_change("u", 2, 2, 1, "cancelled")],
    );
    stride_ok(lake, &["run"]);
    assert_eq!(staged_status(lake, 1).as_deref(), Some("cancelled"));
    let fixed = entry_of(lake, "orders", "batch_date=2026-01-02/o-fixed.parquet");
    assert_eq!(common::count(&fixed, "rows_loaded"), 1, "{fixed:?}");
    assert_eq!(common::count(&fixed, "rows_quarantined"), 0, "{fixed:?}");
    let gone = entry_of(lake, "orders", "batch_date=2026-01-02/o.parquet");
    assert!(
        text(&gone, "reason").starts_with("gone from raw/"),
        "{gone:?}"
    );
    assert_verified_and_as_a_full_refresh(lake);
}

#[test]
fn a_file_replaced_under_its_own_name_is_checked_anew() {
    let lake = placed_then_shipped();
    let lake = lake.path();
    // The day-2 file is written again in place, corrected and with one more order.
    land(
        lake,
        "orders",
        "2026-01-02",
        "o.parquet",
        &[
            order_change("u", 2, 2, 1, "cancelled"),
            order_change("c", 3, 2, 2, "placed"),
        ],
    );
    let out = stride_ok(lake, &["run"]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("replaced by a file of another size"), "{log}");
    assert_eq!(staged_status(lake, 1).as_deref(), Some("cancelled"));
    assert_eq!(staged_status(lake, 2).as_deref(), Some("placed"));
    let entry = entry_of(lake, "orders", "batch_date=2026-01-02/o.parquet");
    assert_eq!(common::count(&entry, "rows_loaded"), 2, "{entry:?}");
    assert_verified_and_as_a_full_refresh(lake);
}

#[test]
fn when_the_file_that_loaded_a_change_is_removed_its_copy_loads_it() {
    let lake = temp_lake();
    let lake = lake.path();
    let rows = [
        order_change("c", 1, 1, 1, "placed"),
        order_change("c", 2, 1, 2, "placed"),
    ];
    land(lake, "orders", "2026-01-01", "a.parquet", &rows);
    land(lake, "orders", "2026-01-01", "b.parquet", &rows);
    stride_ok(lake, &["run"]);
    let b = "batch_date=2026-01-01/b.parquet";
    assert_eq!(
        common::count(&entry_of(lake, "orders", b), "rows_redelivered"),
        2
    );

    // a.parquet goes: b.parquet's copies are what delivers the two orders now.
    let a_path = common::batch_dir(lake, "orders", "2026-01-01").join("a.parquet");
    let a_bytes = std::fs::read(&a_path).expect("read");
    std::fs::remove_file(&a_path).expect("remove");
    stride_ok(lake, &["run"]);
    assert_eq!(staged_status(lake, 1).as_deref(), Some("placed"));
    assert_eq!(staged_status(lake, 2).as_deref(), Some("placed"));
    let entry = entry_of(lake, "orders", b);
    assert_eq!(common::count(&entry, "rows_loaded"), 2, "{entry:?}");
    assert_eq!(common::count(&entry, "rows_redelivered"), 0, "{entry:?}");
    stride_ok(lake, &["verify"]);

    // Landed again, a.parquet is checked anew: its rows are b's, redelivered.
    std::fs::write(&a_path, a_bytes).expect("land again");
    stride_ok(lake, &["run"]);
    let again = entry_of(lake, "orders", "batch_date=2026-01-01/a.parquet");
    assert_eq!(common::count(&again, "rows_loaded"), 0, "{again:?}");
    assert_eq!(common::count(&again, "rows_redelivered"), 2, "{again:?}");
    assert_eq!(
        query(lake, "select count(*) as n from stg_orders")[0]["n"],
        serde_json::json!(2)
    );
    stride_ok(lake, &["verify"]);
}
