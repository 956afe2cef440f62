//! SPEC invariants 1–3 on real child processes: incremental runs give the marts of a
//! full refresh, a run with nothing new writes nothing, a run killed at any point is
//! picked up exactly, and every version stays readable.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use V::{D, I, M, S, Ts};
use common::{
    V, assert_same_marts, customer, land, marts, marts_via, order, query, stride, stride_command,
    stride_ok, tee, temp_lake, touch,
};

/// The marts one full run over a copy of `lake`'s raw files gives.
fn full_refresh_marts(lake: &Path) -> BTreeMap<&'static str, Vec<String>> {
    let copy = temp_lake();
    common::copy_dir(&lake.join("raw"), &copy.path().join("raw"));
    stride_ok(copy.path(), &["run", "--full-refresh"]);
    marts(copy.path())
}

/// The number of commits in each model table's log.
fn versions(lake: &Path) -> BTreeMap<String, usize> {
    let mut found = BTreeMap::new();
    for entry in std::fs::read_dir(lake.join("warehouse")).expect("warehouse") {
        let path = entry.expect("entry").path();
        let log = path.join("_delta_log");
        let commits = std::fs::read_dir(&log)
            .expect("log")
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".json"))
            })
            .count();
        found.insert(
            path.file_name()
                .expect("name")
                .to_string_lossy()
                .to_string(),
            commits,
        );
    }
    found
}

// ---------------------------------------------------------------------------
// Generated data, lateness up to 10 days.

#[test]
fn generated_batches_run_one_by_one_equal_a_full_refresh() {
    let lake = temp_lake();
    let gen_args = [
        "generate",
        "--scale",
        "0.05",
        "--max-lateness-days",
        "10",
        "--days",
    ];
    let generate = |days: &str| {
        let mut args = gen_args.to_vec();
        args.push(days);
        stride_ok(lake.path(), &args);
    };
    generate("4");
    stride_ok(lake.path(), &["run"]);
    // Day by day, then two days at a time: returns, cancellations, restated spend and
    // late touches land on orders of earlier batches.
    for step in ["1", "1", "1", "1", "1", "2", "2", "3", "1", "1", "1"] {
        generate(step);
        stride_ok(lake.path(), &["run"]);
    }
    let incremental = marts(lake.path());
    assert!(
        incremental["fct_attribution"].len() > 1000,
        "a real workload"
    );
    assert_same_marts(
        &incremental,
        &full_refresh_marts(lake.path()),
        "after 22 batches",
    );

    // --full-refresh on the same lake rebuilds in place and changes nothing.
    stride_ok(lake.path(), &["run", "--full-refresh"]);
    assert_same_marts(&marts(lake.path()), &incremental, "after --full-refresh");
}

// ---------------------------------------------------------------------------
// Hand-written batches: each case of SPEC invariant 1 in its own batch.

/// Change-log rows with a strictly increasing `_seq` per table.
#[derive(Default)]
struct Feed {
    seq: HashMap<&'static str, i64>,
}

impl Feed {
    fn row(
        &mut self,
        table: &'static str,
        op: &'static str,
        batch: i64,
        at: &'static str,
        payload: Vec<V>,
    ) -> Vec<V> {
        let seq = self.seq.entry(table).or_default();
        *seq += 1;
        [vec![S(op), I(*seq), I(batch), Ts(at)], payload].concat()
    }
}

fn item(order: i64, line: i64, product: i64, qty: i64, price: &'static str) -> Vec<V> {
    vec![I(order), I(line), I(product), I(qty), M(price), M("0.00")]
}

fn spend(campaign: i64, day: &'static str, amount: &'static str) -> Vec<V> {
    vec![I(campaign), D(day), I(1000), I(10), M(amount)]
}

/// Lands one batch (one file per table given) and runs; then checks the marts
/// against a full refresh of the same raw files.
fn land_and_check(lake: &Path, date: &str, tables: &[(&str, Vec<Vec<V>>)], what: &str) {
    for (table, rows) in tables {
        land(lake, table, date, "part-0.parquet", rows);
    }
    stride_ok(lake, &["run"]);
    assert_same_marts(&marts(lake), &full_refresh_marts(lake), what);
}

fn attribution_of(lake: &Path, order: i64) -> Vec<(String, String)> {
    query(
        lake,
        &format!(
            "select model, channel from fct_attribution where order_id = {order} \
             and model in ('first_touch', 'last_touch') order by model"
        ),
    )
    .iter()
    .map(|r| (common::text(r, "model"), common::text(r, "channel")))
    .collect()
}

#[test]
fn hand_written_late_and_changed_data_equal_a_full_refresh() {
    let lake = temp_lake();
    let lake = lake.path();
    let mut f = Feed::default();
    let at = "2026-03-01T20:00:00Z";

    // Batch 1, 2026-03-01: four customers, four orders. Order 4 has no touch (direct).
    land(
        lake,
        "customers",
        "2026-03-01",
        "part-0.parquet",
        &(1..=4)
            .map(|c| f.row("customers", "c", 1, at, customer(c, "member")))
            .collect::<Vec<_>>(),
    );
    land(
        lake,
        "products",
        "2026-03-01",
        "part-0.parquet",
        &[f.row("products", "c", 1, at, tee())],
    );
    land(
        lake,
        "campaigns",
        "2026-03-01",
        "part-0.parquet",
        &[
            f.row(
                "campaigns",
                "c",
                1,
                at,
                vec![
                    I(1),
                    S("Search"),
                    S("paid_search"),
                    D("2026-02-01"),
                    D("2026-06-30"),
                    M("100.00"),
                ],
            ),
            f.row(
                "campaigns",
                "c",
                1,
                at,
                vec![
                    I(2),
                    S("Mail"),
                    S("email"),
                    D("2026-02-01"),
                    D("2026-06-30"),
                    M("50.00"),
                ],
            ),
        ],
    );
    land(
        lake,
        "ad_spend",
        "2026-03-01",
        "part-0.parquet",
        &[f.row("ad_spend", "c", 1, at, spend(1, "2026-03-01", "100.00"))],
    );
    land(
        lake,
        "touchpoints",
        "2026-03-01",
        "part-0.parquet",
        &[
            f.row(
                "touchpoints",
                "c",
                1,
                at,
                touch(1, 1, Some(1), "paid_search", "2026-02-27T10:00:00Z"),
            ),
            f.row(
                "touchpoints",
                "c",
                1,
                at,
                touch(2, 2, Some(2), "email", "2026-02-28T10:00:00Z"),
            ),
            f.row(
                "touchpoints",
                "c",
                1,
                at,
                touch(3, 3, None, "organic_search", "2026-02-25T10:00:00Z"),
            ),
        ],
    );
    land(
        lake,
        "orders",
        "2026-03-01",
        "part-0.parquet",
        &[
            f.row(
                "orders",
                "c",
                1,
                at,
                order(1, 1, "2026-03-01T12:00:00Z", "placed"),
            ),
            f.row(
                "orders",
                "c",
                1,
                at,
                order(2, 2, "2026-03-01T13:00:00Z", "delivered"),
            ),
            f.row(
                "orders",
                "c",
                1,
                at,
                order(3, 3, "2026-03-01T14:00:00Z", "placed"),
            ),
            f.row(
                "orders",
                "c",
                1,
                at,
                order(4, 4, "2026-03-01T15:00:00Z", "placed"),
            ),
        ],
    );
    land(
        lake,
        "order_items",
        "2026-03-01",
        "part-0.parquet",
        &[
            f.row("order_items", "c", 1, at, item(1, 1, 1, 2, "10.00")),
            f.row("order_items", "c", 1, at, item(2, 1, 1, 10, "10.00")),
            f.row("order_items", "c", 1, at, item(3, 1, 1, 1, "10.00")),
            f.row("order_items", "c", 1, at, item(4, 1, 1, 3, "10.00")),
        ],
    );
    stride_ok(lake, &["run"]);
    assert_eq!(
        attribution_of(lake, 4),
        [
            ("first_touch".into(), "direct".into()),
            ("last_touch".into(), "direct".into())
        ]
    );

    // Batch 2, 2026-03-21: a touchpoint 20 days late, before order 4: it stops being direct.
    let at = "2026-03-21T08:00:00Z";
    land_and_check(
        lake,
        "2026-03-21",
        &[(
            "touchpoints",
            vec![f.row(
                "touchpoints",
                "c",
                2,
                at,
                touch(4, 4, Some(1), "paid_search", "2026-03-01T08:00:00Z"),
            )],
        )],
        "a touchpoint 20 days late",
    );
    assert_eq!(
        attribution_of(lake, 4),
        [
            ("first_touch".into(), "paid_search".into()),
            ("last_touch".into(), "paid_search".into())
        ]
    );

    // Batch 3, 2026-05-15: order 2, ten weeks old, is returned: it loses its credit.
    let at = "2026-05-15T08:00:00Z";
    land_and_check(
        lake,
        "2026-05-15",
        &[(
            "orders",
            vec![
                f.row(
                    "orders",
                    "u",
                    3,
                    at,
                    order(2, 2, "2026-03-01T13:00:00Z", "returned"),
                ),
                f.row(
                    "orders",
                    "u",
                    3,
                    at,
                    order(3, 3, "2026-03-01T14:00:00Z", "shipped"),
                ),
            ],
        )],
        "a status change of an old order",
    );
    assert!(attribution_of(lake, 2).is_empty());

    // Batch 4: customer 3 is erased; customer 1 changes tier. Order 3 stays in the facts.
    let at = "2026-05-16T08:00:00Z";
    land_and_check(
        lake,
        "2026-05-16",
        &[(
            "customers",
            vec![
                f.row("customers", "d", 4, at, customer(3, "member")),
                f.row("customers", "u", 4, at, customer(1, "gold")),
            ],
        )],
        "a deleted customer",
    );
    assert_eq!(
        query(lake, "select * from dim_customers where customer_id = 3").len(),
        0
    );
    assert_eq!(
        query(lake, "select * from fct_orders where order_id = 3").len(),
        1
    );

    // Batch 5: the spend of 2026-03-01 is restated.
    let at = "2026-05-17T08:00:00Z";
    land_and_check(
        lake,
        "2026-05-17",
        &[(
            "ad_spend",
            vec![f.row("ad_spend", "u", 5, at, spend(1, "2026-03-01", "80.00"))],
        )],
        "a restated spend day",
    );

    // Batch 6: a duplicate delivery of touchpoint 1, touchpoint 3 deleted (order 3
    // becomes direct), a line of order 1 changed, a new order 5 for customer 1.
    let at = "2026-05-18T08:00:00Z";
    land_and_check(
        lake,
        "2026-05-18",
        &[
            (
                "touchpoints",
                vec![
                    f.row(
                        "touchpoints",
                        "c",
                        6,
                        at,
                        touch(1, 1, Some(1), "paid_search", "2026-02-27T10:00:00Z"),
                    ),
                    f.row(
                        "touchpoints",
                        "d",
                        6,
                        at,
                        touch(3, 3, None, "organic_search", "2026-02-25T10:00:00Z"),
                    ),
                    f.row(
                        "touchpoints",
                        "c",
                        6,
                        at,
                        touch(5, 1, Some(2), "email", "2026-05-17T10:00:00Z"),
                    ),
                ],
            ),
            (
                "order_items",
                vec![
                    f.row("order_items", "u", 6, at, item(1, 1, 1, 3, "10.00")),
                    f.row("order_items", "c", 6, at, item(5, 1, 1, 1, "10.00")),
                    f.row("order_items", "c", 6, at, item(6, 1, 1, 1, "10.00")),
                    f.row("order_items", "c", 6, at, item(6, 2, 1, 2, "10.00")),
                ],
            ),
            (
                "orders",
                vec![
                    f.row(
                        "orders",
                        "c",
                        6,
                        at,
                        order(5, 1, "2026-05-18T07:00:00Z", "placed"),
                    ),
                    f.row(
                        "orders",
                        "c",
                        6,
                        at,
                        order(6, 2, "2026-05-18T06:00:00Z", "placed"),
                    ),
                ],
            ),
        ],
        "a duplicate delivery, a deleted touchpoint, a changed line",
    );
    assert_eq!(
        attribution_of(lake, 3),
        [
            ("first_touch".into(), "direct".into()),
            ("last_touch".into(), "direct".into())
        ]
    );

    // Batch 7: touchpoint 1 is moved out of order 1's window; order 5 is deleted.
    let at = "2026-05-19T08:00:00Z";
    land_and_check(
        lake,
        "2026-05-19",
        &[
            (
                "touchpoints",
                vec![f.row(
                    "touchpoints",
                    "u",
                    7,
                    at,
                    touch(1, 1, Some(1), "paid_search", "2026-01-15T10:00:00Z"),
                )],
            ),
            (
                "orders",
                vec![f.row(
                    "orders",
                    "d",
                    7,
                    at,
                    order(5, 1, "2026-05-18T07:00:00Z", "placed"),
                )],
            ),
            (
                "order_items",
                vec![
                    f.row("order_items", "d", 7, at, item(5, 1, 1, 1, "10.00")),
                    f.row("order_items", "u", 7, at, item(6, 2, 1, 5, "10.00")),
                ],
            ),
        ],
        "a moved touchpoint, a deleted order, one line of two changed",
    );
    let items = |lake: &Path| {
        common::num(
            &query(lake, "select item_count from fct_orders where order_id = 6")[0],
            "item_count",
        )
    };
    assert_eq!(items(lake), 6.0, "line 1 (1) kept, line 2 now 5");

    // Batch 8: one line of a two-line order is deleted; the other stays.
    let at = "2026-05-20T08:00:00Z";
    land_and_check(
        lake,
        "2026-05-20",
        &[(
            "order_items",
            vec![f.row("order_items", "d", 8, at, item(6, 1, 1, 1, "10.00"))],
        )],
        "one line of two deleted",
    );
    assert_eq!(items(lake), 5.0);
    assert_eq!(
        attribution_of(lake, 1),
        [
            ("first_touch".into(), "direct".into()),
            ("last_touch".into(), "direct".into())
        ]
    );
    assert!(attribution_of(lake, 5).is_empty());
}

// ---------------------------------------------------------------------------
// Exactly once.

fn small_lake(days: &str) -> tempfile::TempDir {
    let lake = temp_lake();
    stride_ok(
        lake.path(),
        &["generate", "--scale", "0.05", "--days", days],
    );
    lake
}

#[test]
fn a_run_with_nothing_new_writes_no_version() {
    let lake = small_lake("3");
    stride_ok(lake.path(), &["run"]);
    let before = versions(lake.path());
    let out = stride_ok(lake.path(), &["run"]);
    assert_eq!(versions(lake.path()), before);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("0 committed"), "{log}");

    // Compaction is not new data either.
    stride_ok(lake.path(), &["generate", "--scale", "0.05", "--days", "1"]);
    stride_ok(lake.path(), &["run"]);
    stride_ok(lake.path(), &["optimize"]);
    let compacted = versions(lake.path());
    stride_ok(lake.path(), &["run"]);
    assert_eq!(versions(lake.path()), compacted);
    // New data after a compaction: the change feed across the compaction is exact.
    stride_ok(lake.path(), &["generate", "--scale", "0.05", "--days", "1"]);
    stride_ok(lake.path(), &["run"]);
    assert_same_marts(
        &marts(lake.path()),
        &full_refresh_marts(lake.path()),
        "after optimize and a new batch",
    );
}

/// A point of a run to kill it at.
#[derive(Debug, Clone, Copy)]
enum KillPoint {
    /// It holds the lake's lock.
    Locked,
    /// It made this many Delta commits.
    Commits(usize),
    /// Its publish made a publish folder.
    Publishing,
}

/// How many entries a folder holds (0 when it does not exist).
fn entries(folder: &Path) -> usize {
    std::fs::read_dir(folder).map_or(0, |d| d.count())
}

#[test]
fn runs_killed_at_any_point_end_like_an_uninterrupted_run() {
    let lake = small_lake("4");
    stride_ok(lake.path(), &["run"]);
    stride_ok(lake.path(), &["generate", "--scale", "0.05", "--days", "3"]);
    let expected = full_refresh_marts(lake.path());

    // SIGKILL at points of a run, each time on what the last kill left: once it
    // holds the lock, after its first commit, its second, its fourth, and once its
    // publish has begun.
    let publishes = common::LakeArgs::duckdb_file(lake.path()).with_extension("duckdb.publishes");
    let points = [
        KillPoint::Locked,
        KillPoint::Commits(1),
        KillPoint::Commits(2),
        KillPoint::Commits(4),
        KillPoint::Publishing,
    ];
    for point in points {
        let commits_before = versions(lake.path()).values().sum::<usize>();
        let publishes_before = entries(&publishes);
        let mut child = stride_command(lake.path())
            .arg("run")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn stride run");
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            let reached = match point {
                KillPoint::Locked => lake.path().join("_stride/run.lock").exists(),
                KillPoint::Commits(n) => {
                    versions(lake.path()).values().sum::<usize>() >= commits_before + n
                }
                KillPoint::Publishing => entries(&publishes) > publishes_before,
            };
            if reached {
                break;
            }
            assert!(
                child.try_wait().expect("wait").is_none(),
                "the run ended before {point:?}"
            );
            assert!(
                std::time::Instant::now() < deadline,
                "never reached {point:?}"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        // Any lake state a kill leaves must stay readable.
        stride_ok(lake.path(), &["query", "select count(*) from raw.orders"]);
    }
    stride_ok(lake.path(), &["run"]);
    assert_same_marts(&marts(lake.path()), &expected, "after the kills");
    // Kills also landed in publishes; the file holds the same marts.
    assert_same_marts(
        &marts_via(lake.path(), &["--engine", "duckdb"]),
        &expected,
        "the DuckDB file after the kills",
    );

    // Deterministic crash points: abort right after each model's commit in turn,
    // with a new batch each time, then let the next run finish.
    for model in [
        "stg_orders",
        "stg_touchpoints",
        "int_order_revenue",
        "int_order_touches",
        "fct_attribution",
        "int_attribution_daily",
        "dim_customers",
    ] {
        stride_ok(lake.path(), &["generate", "--scale", "0.05", "--days", "1"]);
        let out = stride_command(lake.path())
            .arg("run")
            .env("STRIDE_ABORT_AFTER_COMMIT", model)
            .output()
            .expect("run");
        assert!(!out.status.success(), "the run aborted after {model}");
        stride_ok(lake.path(), &["run"]);
        assert_same_marts(
            &marts(lake.path()),
            &full_refresh_marts(lake.path()),
            &format!("after an abort following {model}'s commit"),
        );
    }
}

#[test]
fn a_second_writer_is_refused_while_the_lake_is_locked() {
    let lake = small_lake("2");
    let state = lake.path().join("_stride");
    std::fs::create_dir_all(&state).expect("state");
    // A live process (this test) on this host holds the lock.
    let holder = serde_json::json!({
        "pid": std::process::id(),
        "host": std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "localhost".into()),
        "command": "stride run",
        "since": "2026-11-27T00:00:00Z",
    });
    std::fs::write(state.join("run.lock"), holder.to_string()).expect("lock");
    for args in [&["run"][..], &["generate", "--days", "1"][..]] {
        let out = stride(lake.path(), args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("locked") && err.contains("run.lock"), "{err}");
    }
    assert!(
        !lake.path().join("warehouse").exists(),
        "nothing was written"
    );
    std::fs::remove_file(state.join("run.lock")).expect("unlock");

    // Two runs started together: they never interleave; every one that fails says
    // why, and the lake ends as one run leaves it.
    let spawn = || {
        stride_command(lake.path())
            .arg("run")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn")
    };
    let (a, b) = (spawn(), spawn());
    let outs = [
        a.wait_with_output().expect("a"),
        b.wait_with_output().expect("b"),
    ];
    assert!(outs.iter().any(|o| o.status.success()));
    for out in outs.iter().filter(|o| !o.status.success()) {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("locked"), "{err}");
    }
    stride_ok(lake.path(), &["run"]);
    assert_same_marts(
        &marts(lake.path()),
        &full_refresh_marts(lake.path()),
        "after two concurrent runs",
    );
}

// ---------------------------------------------------------------------------
// Time travel, history, selection.

#[test]
fn old_versions_stay_readable_and_history_lists_their_batches() {
    let lake = small_lake("2");
    stride_ok(lake.path(), &["run"]);
    let first = query(lake.path(), "select count(*) as n from fct_orders");
    // The first version's commit time as `history` shows it: `--as-of` that time
    // is that version, whatever happens to the files later.
    let cut = common::commit_times(lake.path(), "fct_orders")[0].clone();
    stride_ok(lake.path(), &["generate", "--scale", "0.05", "--days", "1"]);
    stride_ok(lake.path(), &["run"]);
    let now = query(lake.path(), "select count(*) as n from fct_orders");
    assert_ne!(first, now, "the third batch adds orders");

    let at_v0 = common::query_args(
        lake.path(),
        &["select count(*) as n from fct_orders", "--version", "0"],
    );
    assert_eq!(at_v0, first);
    let as_of = common::query_args(
        lake.path(),
        &["select count(*) as n from fct_orders", "--as-of", &cut],
    );
    assert_eq!(as_of, first);
    // One table at a version next to the current one: what the last run added.
    let added = query(
        lake.path(),
        "select count(*) as n from fct_orders \
         where order_id not in (select order_id from table_at('fct_orders', 0))",
    );
    let expected = common::num(&now[0], "n") - common::num(&first[0], "n");
    assert_eq!(common::num(&added[0], "n"), expected);

    let out = stride_ok(lake.path(), &["history", "stg_orders", "--format", "json"]);
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0]["batches"], "2026-01-01, 2026-01-02");
    assert_eq!(rows[1]["batches"], "2026-01-03");
    assert!(
        rows[0]["operation"]
            .as_str()
            .is_some_and(|o| o.contains("full"))
    );
    assert!(
        rows[1]["operation"]
            .as_str()
            .is_some_and(|o| o.contains("incremental"))
    );
    assert_eq!(
        rows[1]["rows"].as_u64(),
        Some(common::num(
            &query(lake.path(), "select count(*) as n from stg_orders")[0],
            "n"
        ) as u64)
    );

    // A version that does not exist is named.
    let out = stride(
        lake.path(),
        &["query", "select * from fct_orders", "--version", "99"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("fct_orders") && err.contains("99"), "{err}");

    // vacuum with no retention keeps the latest version whole and ends time travel
    // to the versions whose files it deleted (a `table` model rewrites its files on
    // every run; the tables with deletion vectors keep theirs).
    stride_ok(lake.path(), &["vacuum", "--retain-hours", "0"]);
    assert_eq!(
        query(lake.path(), "select count(*) as n from fct_orders"),
        now
    );
    let out = stride(
        lake.path(),
        &[
            "query",
            "select sum(conversions) from mart_channel_daily",
            "--version",
            "0",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "version 0's files are gone");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("vacuum"), "{err}");
    stride_ok(lake.path(), &["generate", "--scale", "0.05", "--days", "1"]);
    stride_ok(lake.path(), &["run"]);
    assert_same_marts(
        &marts(lake.path()),
        &full_refresh_marts(lake.path()),
        "after vacuum and a new batch",
    );
}

/// (rows_added, rows_removed, rows) of the last version `history` lists for `model`.
fn last_commit_rows(lake: &Path, model: &str) -> (u64, u64, u64) {
    let out = stride_ok(lake, &["history", model, "--format", "json"]);
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("json");
    let last = rows.last().expect("a version");
    let count = |c: &str| last[c].as_u64().unwrap_or_else(|| panic!("{c} in {last}"));
    (count("rows_added"), count("rows_removed"), count("rows"))
}

#[test]
fn history_counts_the_rows_each_strategy_added_and_removed() {
    let lake = temp_lake();
    let lake = lake.path();
    let mut f = Feed::default();
    let at = "2026-03-01T20:00:00Z";
    let product = tee();
    land(
        lake,
        "customers",
        "2026-03-01",
        "c.parquet",
        &[f.row("customers", "c", 1, at, customer(1, "member"))],
    );
    land(
        lake,
        "products",
        "2026-03-01",
        "p.parquet",
        &[f.row("products", "c", 1, at, product)],
    );
    land(
        lake,
        "orders",
        "2026-03-01",
        "o.parquet",
        &[f.row("orders", "c", 1, at, order(1, 1, at, "placed"))],
    );
    land(
        lake,
        "order_items",
        "2026-03-01",
        "i.parquet",
        &[f.row("order_items", "c", 1, at, item(1, 1, 1, 2, "10.00"))],
    );
    land(
        lake,
        "ad_spend",
        "2026-03-01",
        "s.parquet",
        &[f.row("ad_spend", "c", 1, at, spend(1, "2026-03-01", "50.00"))],
    );
    stride_ok(lake, &["run"]);

    // Batch 2: order 1 delivered, order 2 placed on another day; the spend of 1 March
    // restated, 2 March's added.
    let next = "2026-03-02T20:00:00Z";
    land(
        lake,
        "orders",
        "2026-03-02",
        "o.parquet",
        &[
            f.row("orders", "u", 2, next, order(1, 1, at, "delivered")),
            f.row("orders", "c", 2, next, order(2, 1, next, "placed")),
        ],
    );
    land(
        lake,
        "ad_spend",
        "2026-03-02",
        "s.parquet",
        &[
            f.row("ad_spend", "u", 2, next, spend(1, "2026-03-01", "55.00")),
            f.row("ad_spend", "c", 2, next, spend(1, "2026-03-02", "60.00")),
        ],
    );
    stride_ok(lake, &["run"]);

    // delete+insert (deletion vectors): order 1's row replaced, order 2's inserted.
    assert_eq!(last_commit_rows(lake, "stg_orders"), (2, 1, 2));
    assert_eq!(last_commit_rows(lake, "fct_orders"), (2, 1, 2));
    // merge: 1 March's row updated (one out, one in), 2 March's inserted.
    assert_eq!(last_commit_rows(lake, "stg_ad_spend"), (2, 1, 2));
    // table: rebuilt; each order is credited to `direct` under the five models,
    // one row per order date, channel and model: 5 rows before, 10 after.
    assert_eq!(last_commit_rows(lake, "mart_channel_daily"), (10, 5, 10));
}

#[test]
fn as_of_picks_versions_by_commit_time_on_a_copied_lake_too() {
    let lake = small_lake("2");
    stride_ok(lake.path(), &["run"]);
    stride_ok(lake.path(), &["generate", "--scale", "0.05", "--days", "1"]);
    stride_ok(lake.path(), &["run"]);
    let times = common::commit_times(lake.path(), "fct_orders");
    assert_eq!(times.len(), 2, "{times:?}");
    let count = |lake: &Path, version: usize| {
        common::num(
            &common::query_args(
                lake,
                &[
                    "select count(*) as n from fct_orders",
                    "--version",
                    &version.to_string(),
                ],
            )[0],
            "n",
        )
    };
    // A copy (`cp -r`, a restore, a sync) has new file times and the same commits.
    let copy = temp_lake();
    common::copy_dir(lake.path(), copy.path());
    for lake in [copy.path(), lake.path()] {
        for (version, time) in times.iter().enumerate() {
            assert_eq!(
                common::count_as_of(lake, "fct_orders", time),
                count(lake, version),
                "--as-of {time} is version {version} in {}",
                lake.display()
            );
        }
        // Before the first commit there is no version to read: an error naming
        // the model, not the first version.
        let out = stride(
            lake,
            &[
                "query",
                "select count(*) from fct_orders",
                "--as-of",
                "2000-01-01T00:00:00Z",
            ],
        );
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("fct_orders") && err.contains("2000-01-01"),
            "{err}"
        );
    }
    // The time as `history` prints it is taken as it is.
    let printed = format!(
        "{} UTC",
        times[1].trim_end_matches('Z').replacen('T', " ", 1)
    );
    assert_eq!(
        common::count_as_of(lake.path(), "fct_orders", &printed),
        count(lake.path(), 1)
    );
}

#[test]
fn full_refresh_of_a_selection_rebuilds_it_and_what_depends_on_it() {
    let lake = small_lake("3");
    stride_ok(lake.path(), &["run"]);
    let before = versions(lake.path());
    stride_ok(
        lake.path(),
        &["run", "--full-refresh", "--select", "int_order_revenue+"],
    );
    let after = versions(lake.path());
    for (model, count) in &after {
        let rebuilt = [
            "int_order_revenue",
            "int_order_touches",
            "int_customer_acquisition",
            "fct_orders",
            "fct_attribution",
            "int_attribution_daily",
            "mart_channel_daily",
            "mart_campaign_performance",
            "dim_customers",
            "mart_acquisition_ltv",
            "int_order_journeys",
            "int_unconverted_journeys",
            "mart_channel_data_driven",
        ]
        .contains(&model.as_str());
        let expected = before[model] + usize::from(rebuilt);
        assert_eq!(*count, expected, "{model}");
    }
    assert_same_marts(
        &marts(lake.path()),
        &full_refresh_marts(lake.path()),
        "after a selected full refresh",
    );

    let out = stride(lake.path(), &["run", "--select", "nope+"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope+"));
}

/// A model of touches per campaign keyed on `campaign_id`, which is NULL for unpaid
/// channels; with `coalesced`, only its incremental branch leaves the NULL in.
fn touches_by_campaign(strategy: &str, coalesced: bool) -> String {
    let key = if coalesced {
        "{% if is_incremental() %}campaign_id{% else %}coalesce(campaign_id, -1){% endif %}"
    } else {
        "campaign_id"
    };
    format!(
        "{{{{ config(materialized='incremental', unique_key='campaign_id', \
         incremental_strategy='{strategy}') }}}}\n\
         select {key} as campaign_id, count(*) as touches \
         from {{{{ ref('stg_touchpoints') }}}} group by 1\n"
    )
}

#[test]
fn a_null_unique_key_fails_the_model_in_every_strategy_and_commits_nothing() {
    const MODEL: &str = "int_touches_by_campaign";
    for strategy in ["delete+insert", "merge"] {
        let lake = small_lake("2");
        let lake = lake.path();
        let (_keep, queries) = common::copy_of("queries");
        let file = queries.join(format!("intermediate/{MODEL}.sql"));
        let queries = queries.to_str().expect("utf-8 path");
        let fails_on_the_key = |when: &str| {
            let failed = common::stride(lake, &["--queries", queries, "run"]);
            assert_eq!(failed.status.code(), Some(1), "{strategy}, {when}");
            let stderr = String::from_utf8_lossy(&failed.stderr);
            assert!(
                stderr.contains(MODEL) && stderr.contains("unique_key `campaign_id` is NULL"),
                "{strategy}, {when}: {stderr}"
            );
        };
        // A NULL key in a rebuild: refused, no table made.
        std::fs::write(&file, touches_by_campaign(strategy, false)).expect("write model");
        fails_on_the_key("a rebuild");
        assert!(
            !lake.join(format!("warehouse/{MODEL}/_delta_log")).exists(),
            "{strategy}: nothing of it is committed"
        );
        // A NULL key in an incremental run: refused, no version added.
        std::fs::write(&file, touches_by_campaign(strategy, true)).expect("write model");
        stride_ok(lake, &["--queries", queries, "run"]);
        let before = versions(lake)[MODEL];
        stride_ok(lake, &["generate", "--days", "1"]);
        fails_on_the_key("an incremental run");
        assert_eq!(
            versions(lake)[MODEL],
            before,
            "{strategy}: no version added"
        );
    }
}
