//! The data-driven models of SPEC 3a on a small lake written by hand: the journeys
//! (`int_journeys`) and `mart_channel_data_driven`. Expected values are worked out
//! in the comments, not by stride.
//!
//! Channels: A = paid_search (campaign 1), B = email (campaign 2), C = display
//! (campaign 3). The run uses `--vars '{"dda_window_days": 60}'`.
//!
//! Batch 1. The horizon H is customer 8's order at 2026-06-30 12:00 (no touchpoint:
//! no journey). Window: [2026-05-02, 2026-06-30]; an unconverted journey is open
//! when it ends after H − 30 days = 2026-05-31 12:00.
//! - C1: A 06-01, A 06-02, B 06-05, C 06-10; order 101 (placed, 10.00) 06-12:
//!   path A > B > C (the repeat merged), converts.
//! - C2: A at 05-02 08:00, no order: ends on the window's first day, closed: A, null.
//! - C3: referral 02-01 and 03-03 (exactly 30 days apart: one journey, before the
//!   window), then B 05-05, B 05-06, C 05-06 (more than 30 days later: a new
//!   journey): B > C, null.
//! - C4: A 06-15, C 06-18; order 104 (delivered, 20.00) 06-20: A > C, converts.
//! - C5: C at 06-25, no order: still open, left out.
//! - C6: referral at 05-01 23:59:59, no order: ends the day before the window.
//! - C7: paid_social 04-05; order 107 04-10, cancelled: a journey that does not
//!   convert, before the window.
//! - C9: organic_search 03-01 00:00 and 03-31 00:00:01 (30 days and a second
//!   apart): two journeys.
//!
//! The window's journeys are then exactly A>B>C (converts), A, B>C, A>C (converts):
//! the chain worked out in `src/data_driven/chain.rs`'s tests. markov: removal
//! effects 2/3, 2/3, 1, shares 2/7, 2/7, 3/7; shapley: φ = 5/36, 5/36, 2/9 of
//! P(conv) = 1/2, so effects 5/18, 5/18, 4/9 and the same shares. 2 conversions
//! worth 30.00: conversions = 2 × share, attributed_revenue = 30 × share.
//! Spend in the window: A 100.00 (05-10; the 04-01 day is outside), B none, C 30.00.
//!
//! Batch 2: customer 8 orders again at 07-26 12:00 (no touch). H moves there: the
//! window is [05-28, 07-26] and H − 30 days = 06-26 12:00, so C5's journey closes;
//! C2's and C3's leave the window. Journeys: A>B>C (conv), A>C (conv), C (null).
//! start→A 2, start→C 1; A→B 1, A→C 1; B→C 1; C→conv 2, C→null 1:
//! P(C) = P(B) = P(A) = 2/3, P(conv) = 2/3 · 2/3 + 1/3 · 2/3 = 2/3.
//! Without A: P = 1/3 · 2/3 = 2/9 (RE 2/3); without B: P(A) = 1/2 · 2/3 = 1/3,
//! P = 2/3 · 1/3 + 1/3 · 2/3 = 4/9 (RE 1/3); without C: 0 (RE 1).
//! markov shares 1/3, 1/6, 1/2 (Σ RE = 2).

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use V::{D, I, M, S};
use common::{V, assert_close, change, land, num, order, query, row, stride_ok, text, touch};

const B1: &str = "2026-06-30";
const B2: &str = "2026-07-26";
const AT1: &str = "2026-06-30T12:00:00Z";
const AT2: &str = "2026-07-26T12:00:00Z";
const VARS: &str = r#"{"dda_window_days": 60}"#;

fn campaign(id: i64, channel: &'static str) -> Vec<V> {
    row(
        change("c", id, 1, AT1),
        vec![
            I(id),
            S("Campaign"),
            S(channel),
            D("2026-01-01"),
            D("2026-12-31"),
            M("100.00"),
        ],
    )
}

fn land_batch_1(lake: &Path) {
    let customers: Vec<Vec<V>> = (1..=9)
        .map(|id| {
            row(
                change("c", id, 1, "2026-01-01T00:00:00Z"),
                common::customer(id, "member"),
            )
        })
        .collect();
    land(lake, "customers", B1, "customers.parquet", &customers);
    land(
        lake,
        "products",
        B1,
        "products.parquet",
        &[row(change("c", 1, 1, AT1), common::tee())],
    );
    land(
        lake,
        "campaigns",
        B1,
        "campaigns.parquet",
        &[
            campaign(1, "paid_search"),
            campaign(2, "email"),
            campaign(3, "display"),
            campaign(4, "paid_social"),
        ],
    );
    land(
        lake,
        "ad_spend",
        B1,
        "spend.parquet",
        &[
            row(
                change("c", 1, 1, AT1),
                vec![I(1), D("2026-05-10"), I(1000), I(10), M("100.00")],
            ),
            row(
                change("c", 2, 1, AT1),
                vec![I(1), D("2026-04-01"), I(1000), I(10), M("50.00")],
            ),
            row(
                change("c", 3, 1, AT1),
                vec![I(3), D("2026-06-30"), I(300), I(3), M("30.00")],
            ),
        ],
    );
    let mut seq = 0;
    let mut tp = |id, customer, campaign, channel, at| {
        seq += 1;
        row(
            change("c", seq, 1, at),
            touch(id, customer, campaign, channel, at),
        )
    };
    let touches = vec![
        tp(11, 1, Some(1), "paid_search", "2026-06-01T12:00:00Z"),
        tp(12, 1, Some(1), "paid_search", "2026-06-02T12:00:00Z"),
        tp(13, 1, Some(2), "email", "2026-06-05T12:00:00Z"),
        tp(14, 1, Some(3), "display", "2026-06-10T12:00:00Z"),
        tp(21, 2, Some(1), "paid_search", "2026-05-02T08:00:00Z"),
        tp(31, 3, None, "referral", "2026-02-01T00:00:00Z"),
        tp(32, 3, None, "referral", "2026-03-03T00:00:00Z"),
        tp(33, 3, Some(2), "email", "2026-05-05T12:00:00Z"),
        tp(34, 3, Some(2), "email", "2026-05-06T10:00:00Z"),
        tp(35, 3, Some(3), "display", "2026-05-06T12:00:00Z"),
        tp(41, 4, Some(1), "paid_search", "2026-06-15T12:00:00Z"),
        tp(42, 4, Some(3), "display", "2026-06-18T12:00:00Z"),
        tp(51, 5, Some(3), "display", "2026-06-25T12:00:00Z"),
        tp(61, 6, None, "referral", "2026-05-01T23:59:59Z"),
        tp(71, 7, Some(4), "paid_social", "2026-04-05T12:00:00Z"),
        tp(91, 9, None, "organic_search", "2026-03-01T00:00:00Z"),
        tp(92, 9, None, "organic_search", "2026-03-31T00:00:01Z"),
    ];
    land(lake, "touchpoints", B1, "touches.parquet", &touches);
    let o = |seq, id, customer, at, status| {
        row(change("c", seq, 1, at), order(id, customer, at, status))
    };
    land(
        lake,
        "orders",
        B1,
        "orders.parquet",
        &[
            o(1, 101, 1, "2026-06-12T12:00:00Z", "placed"),
            o(2, 104, 4, "2026-06-20T12:00:00Z", "delivered"),
            o(3, 107, 7, "2026-04-10T12:00:00Z", "cancelled"),
            o(4, 108, 8, AT1, "placed"),
        ],
    );
    let line = |seq, order, qty| {
        row(
            change("c", seq, 1, AT1),
            vec![I(order), I(1), I(1), I(qty), M("10.00"), M("0.00")],
        )
    };
    land(
        lake,
        "order_items",
        B1,
        "items.parquet",
        &[
            line(1, 101, 1),
            line(2, 104, 2),
            line(3, 107, 1),
            line(4, 108, 1),
        ],
    );
}

fn land_batch_2(lake: &Path) {
    land(
        lake,
        "orders",
        B2,
        "orders.parquet",
        &[row(change("c", 5, 2, AT2), order(109, 8, AT2, "placed"))],
    );
    land(
        lake,
        "order_items",
        B2,
        "items.parquet",
        &[row(
            change("c", 5, 2, AT2),
            vec![I(109), I(1), I(1), I(1), M("10.00"), M("0.00")],
        )],
    );
}

fn run(lake: &Path, extra: &[&str]) {
    let mut args = vec!["run", "--vars", VARS];
    args.extend_from_slice(extra);
    stride_ok(lake, &args);
}

/// (customer, ended_at) -> (path, converts, conversion_value, order_id or "null")
fn journeys(lake: &Path) -> BTreeMap<(i64, String), (String, bool, f64, String)> {
    query(lake, "select * from int_journeys")
        .iter()
        .map(|r| {
            (
                (num(r, "customer_id") as i64, text(r, "ended_at")),
                (
                    text(r, "path"),
                    text(r, "converts") == "true",
                    num(r, "conversion_value"),
                    text(r, "order_id"),
                ),
            )
        })
        .collect()
}

/// (model, channel) -> the mart's row
fn mart(lake: &Path) -> BTreeMap<(String, String), serde_json::Map<String, serde_json::Value>> {
    query(lake, "select * from mart_channel_data_driven")
        .into_iter()
        .map(|r| ((text(&r, "model"), text(&r, "channel")), r))
        .collect()
}

#[test]
fn journeys_follow_spec_3a() {
    let lake = common::temp_lake();
    land_batch_1(lake.path());
    run(lake.path(), &[]);
    let found = journeys(lake.path());
    let j = |path: &str, converts: bool, value: f64, order: &str| {
        (path.to_string(), converts, value, order.to_string())
    };
    let mut expected = BTreeMap::new();
    let mut at = |customer: i64, ended: &str, journey| {
        expected.insert((customer, ended.to_string()), journey);
    };
    at(
        1,
        "2026-06-12T12:00:00Z",
        j("paid_search > email > display", true, 10.0, "101"),
    );
    at(
        2,
        "2026-05-02T08:00:00Z",
        j("paid_search", false, 0.0, "null"),
    );
    at(3, "2026-03-03T00:00:00Z", j("referral", false, 0.0, "null"));
    at(
        3,
        "2026-05-06T12:00:00Z",
        j("email > display", false, 0.0, "null"),
    );
    at(
        4,
        "2026-06-20T12:00:00Z",
        j("paid_search > display", true, 20.0, "104"),
    );
    at(5, "2026-06-25T12:00:00Z", j("display", false, 0.0, "null"));
    at(6, "2026-05-01T23:59:59Z", j("referral", false, 0.0, "null"));
    at(
        7,
        "2026-04-10T12:00:00Z",
        j("paid_social", false, 0.0, "107"),
    );
    at(
        9,
        "2026-03-01T00:00:00Z",
        j("organic_search", false, 0.0, "null"),
    );
    at(
        9,
        "2026-03-31T00:00:01Z",
        j("organic_search", false, 0.0, "null"),
    );
    let found: BTreeMap<(i64, String), (String, bool, f64, String)> = found
        .into_iter()
        .map(|((c, ended), v)| ((c, ended.replace(".000000", "").replace("+00:00", "Z")), v))
        .collect();
    assert_eq!(found, expected);
}

fn assert_row(
    rows: &BTreeMap<(String, String), serde_json::Map<String, serde_json::Value>>,
    model: &str,
    channel: &str,
    expected: [f64; 5],
) {
    let row = rows
        .get(&(model.to_string(), channel.to_string()))
        .unwrap_or_else(|| panic!("no row for {model} {channel}: {rows:?}"));
    let what = |column: &str| format!("{model} {channel} {column}");
    assert_close(num(row, "journeys"), expected[0], &what("journeys"));
    assert_close(
        num(row, "removal_effect"),
        expected[1],
        &what("removal_effect"),
    );
    assert_close(num(row, "share"), expected[2], &what("share"));
    assert_close(num(row, "conversions"), expected[3], &what("conversions"));
    assert_close(
        num(row, "attributed_revenue"),
        expected[4],
        &what("attributed_revenue"),
    );
}

#[test]
fn the_mart_gives_hand_worked_effects_and_follows_the_horizon() {
    let lake = common::temp_lake();
    land_batch_1(lake.path());
    run(lake.path(), &[]);
    let rows = mart(lake.path());
    assert_eq!(rows.len(), 6, "two models × three channels: {rows:?}");
    let share = |k: f64| [k * 2.0, k * 30.0];
    for (channel, journeys, effect, markov) in [
        ("paid_search", 3.0, 2.0 / 3.0, 2.0 / 7.0),
        ("email", 2.0, 2.0 / 3.0, 2.0 / 7.0),
        ("display", 3.0, 1.0, 3.0 / 7.0),
    ] {
        let [conversions, revenue] = share(markov);
        assert_row(
            &rows,
            "markov",
            channel,
            [journeys, effect, markov, conversions, revenue],
        );
    }
    for (channel, journeys, phi) in [
        ("paid_search", 3.0, 5.0 / 36.0),
        ("email", 2.0, 5.0 / 36.0),
        ("display", 3.0, 2.0 / 9.0),
    ] {
        let [conversions, revenue] = share(phi * 2.0);
        assert_row(
            &rows,
            "shapley",
            channel,
            [journeys, phi * 2.0, phi * 2.0, conversions, revenue],
        );
    }
    let search = &rows[&("markov".to_string(), "paid_search".to_string())];
    assert_eq!(text(search, "window_start"), "2026-05-02");
    assert_eq!(text(search, "window_end"), "2026-06-30");
    assert_close(num(search, "spend"), 100.0, "paid_search spend");
    assert_close(
        num(search, "roas"),
        30.0 * 2.0 / 7.0 / 100.0,
        "paid_search roas",
    );
    let email = &rows[&("markov".to_string(), "email".to_string())];
    assert_close(num(email, "spend"), 0.0, "email spend");
    assert_eq!(text(email, "roas"), "null");
    let display = &rows[&("shapley".to_string(), "display".to_string())];
    assert_close(
        num(display, "roas"),
        30.0 * 4.0 / 9.0 / 30.0,
        "display roas",
    );

    // The next day moves the horizon: C5's journey closes, C2's and C3's leave.
    land_batch_2(lake.path());
    run(lake.path(), &[]);
    let rows = mart(lake.path());
    assert_eq!(rows.len(), 6, "{rows:?}");
    for (channel, journeys, effect, markov) in [
        ("paid_search", 2.0, 2.0 / 3.0, 1.0 / 3.0),
        ("email", 1.0, 1.0 / 3.0, 1.0 / 6.0),
        ("display", 3.0, 1.0, 0.5),
    ] {
        assert_row(
            &rows,
            "markov",
            channel,
            [journeys, effect, markov, markov * 2.0, markov * 30.0],
        );
    }
    let incremental = common::marts(lake.path());
    run(lake.path(), &["--full-refresh"]);
    assert_eq!(
        common::marts(lake.path()),
        incremental,
        "incremental = full refresh"
    );
}

#[test]
fn a_changed_window_rebuilds_the_mart_and_a_bad_one_is_refused() {
    let lake = common::temp_lake();
    land_batch_1(lake.path());
    run(lake.path(), &[]);
    let sixty = mart(lake.path());
    // One day, [06-30, 06-30]: no journey ends in it (C8's order has no touchpoint).
    stride_ok(lake.path(), &["run", "--vars", "{dda_window_days: 1}"]);
    assert!(mart(lake.path()).is_empty(), "{:?}", mart(lake.path()));
    run(lake.path(), &[]);
    assert_eq!(mart(lake.path()), sixty);

    let out = common::stride(lake.path(), &["run", "--vars", "{dda_window_days: 0}"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("mart_channel_data_driven") && stderr.contains("dda_window_days must be"),
        "{stderr}"
    );
    let out = common::stride(lake.path(), &["run", "--vars", "[60]"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("--vars"), "{stderr}");
    assert_eq!(mart(lake.path()), sixty, "nothing changed");
}
