//! The attribution semantics of SPEC section 3, checked on a small lake written by
//! hand. Expected credits and revenues are worked out in the comments, not by stride.
//!
//! Every order is placed at T = 2026-03-31 12:00:00 UTC unless said otherwise.
//! Batch 1 (2026-03-31) creates everything; batch 2 (2026-04-01) carries the
//! later changes: deletions, a status change, a restated spend day, a duplicate.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use V::{D, I, M, S, Ts};
use common::{V, assert_close, change, land, num, order, query, row, stride_ok, text, touch};

const T: &str = "2026-03-31T12:00:00Z";
const B1: &str = "2026-03-31";
const B2: &str = "2026-04-01";

fn customer(id: i64, city: &'static str) -> Vec<V> {
    vec![
        I(id),
        S("someone@example.com"),
        S("Ada"),
        S("Lovelace"),
        S("GB"),
        S(city),
        S("member"),
        Ts("2026-01-01T00:00:00Z"),
    ]
}

fn line(
    order: i64,
    line: i64,
    product: i64,
    qty: i64,
    price: &'static str,
    discount: &'static str,
) -> Vec<V> {
    vec![I(order), I(line), I(product), I(qty), M(price), M(discount)]
}

/// Lands the fixture lake described in the module comment.
fn land_fixture(lake: &Path) {
    let mut seq = 0;
    let mut next = || {
        seq += 1;
        seq
    };

    // Customers 1..=12; customer 3 moves city in batch 2; customer 12 is erased in batch 2.
    let mut customers: Vec<Vec<V>> = (1..=12)
        .map(|id| {
            row(
                change("c", next(), 1, "2026-01-01T00:00:00Z"),
                customer(id, "London"),
            )
        })
        .collect();
    customers.push(row(
        change("c", next(), 1, "2026-01-01T00:00:00Z"),
        customer(1, "London"),
    )); // duplicate delivery
    land(lake, "customers", B1, "part-a.parquet", &customers);
    land(
        lake,
        "customers",
        B2,
        "part-b.parquet",
        &[
            row(change("u", 100, 2, B2_AT), customer(3, "Leeds")),
            row(change("d", 101, 2, B2_AT), customer(12, "London")),
        ],
    );

    land(
        lake,
        "products",
        B1,
        "products.parquet",
        &[
            row(
                change("c", 1, 1, T),
                vec![
                    I(1),
                    S("SKU-1"),
                    S("Swift Tee"),
                    S("apparel"),
                    S("t-shirts"),
                    S("men"),
                    M("10.00"),
                    D("2025-01-01"),
                ],
            ),
            row(
                change("c", 2, 1, T),
                vec![
                    I(2),
                    S("SKU-2"),
                    S("Aero Shoe"),
                    S("footwear"),
                    S("running shoes"),
                    S("women"),
                    M("100.00"),
                    D("2025-01-01"),
                ],
            ),
        ],
    );

    let campaign = |id: i64, channel: &'static str| {
        row(
            change("c", id, 1, T),
            vec![
                I(id),
                S("Campaign"),
                S(channel),
                D("2026-03-01"),
                D("2026-04-30"),
                M("100.00"),
            ],
        )
    };
    land(
        lake,
        "campaigns",
        B1,
        "campaigns.parquet",
        &[
            campaign(1, "paid_search"),
            campaign(2, "email"),
            campaign(3, "paid_social"),
            campaign(4, "display"),
            campaign(5, "affiliate"),
            campaign(6, "display"), // no spend, no touches: still listed
        ],
    );

    // Campaign 1 spends 100.00 on March 1 (restated to 50.00 in batch 2) and 30.00 on March 2.
    land(
        lake,
        "ad_spend",
        B1,
        "spend.parquet",
        &[
            row(
                change("c", 1, 1, T),
                vec![I(1), D("2026-03-01"), I(1000), I(10), M("100.00")],
            ),
            row(
                change("c", 2, 1, T),
                vec![I(1), D("2026-03-02"), I(500), I(5), M("30.00")],
            ),
        ],
    );
    land(
        lake,
        "ad_spend",
        B2,
        "spend.parquet",
        &[row(
            change("u", 3, 2, B2_AT),
            vec![I(1), D("2026-03-01"), I(800), I(8), M("50.00")],
        )],
    );

    let tp = |id, customer, campaign, channel, at| {
        row(
            change("c", id, 1, at),
            touch(id, customer, campaign, channel, at),
        )
    };
    land(
        lake,
        "touchpoints",
        B1,
        "touches-1.parquet",
        &[
            // B: n = 1
            tp(201, 2, Some(1), "paid_search", "2026-03-30T12:00:00Z"),
            // C: the window's two ends, and one microsecond outside each
            tp(301, 3, Some(1), "paid_search", "2026-03-01T12:00:00Z"),
            tp(
                302,
                3,
                Some(1),
                "paid_search",
                "2026-03-01T11:59:59.999999Z",
            ),
            tp(303, 3, Some(2), "email", T),
            tp(304, 3, Some(2), "email", "2026-03-31T12:00:00.000001Z"),
            // D: n = 3 at 14, 7 and 0 days before the order
            tp(401, 4, None, "organic_search", "2026-03-17T12:00:00Z"),
            tp(402, 4, None, "referral", "2026-03-24T12:00:00Z"),
            tp(403, 4, Some(4), "display", T),
            // E: n = 5 at 5, 4, 3, 2 and 1 days before the order
            tp(501, 5, Some(5), "affiliate", "2026-03-26T12:00:00Z"),
            tp(502, 5, Some(5), "affiliate", "2026-03-27T12:00:00Z"),
            tp(503, 5, Some(5), "affiliate", "2026-03-28T12:00:00Z"),
            tp(504, 5, Some(5), "affiliate", "2026-03-29T12:00:00Z"),
            tp(505, 5, Some(5), "affiliate", "2026-03-30T12:00:00Z"),
            // F: a tie on touched_at, broken by touchpoint_id (601 first)
            tp(602, 6, None, "referral", "2026-03-31T11:00:00Z"),
            tp(601, 6, Some(2), "email", "2026-03-31T11:00:00Z"),
            // G: 701 is delivered twice; 702 is deleted in batch 2
            tp(701, 7, Some(3), "paid_social", "2026-03-29T12:00:00Z"),
            tp(702, 7, Some(3), "paid_social", "2026-03-30T12:00:00Z"),
            // I: an order without lines
            tp(901, 9, Some(1), "paid_search", "2026-03-30T12:00:00Z"),
            // J: the only touch of an order cancelled in batch 2
            tp(1001, 10, Some(3), "paid_social", "2026-03-30T12:00:00Z"),
        ],
    );
    land(
        lake,
        "touchpoints",
        B2,
        "touches-2.parquet",
        &[
            row(
                change("c", 2001, 2, B2_AT),
                touch(701, 7, Some(3), "paid_social", "2026-03-29T12:00:00Z"),
            ),
            row(
                change("d", 2002, 2, B2_AT),
                touch(702, 7, Some(3), "paid_social", "2026-03-30T12:00:00Z"),
            ),
        ],
    );

    let o = |id, customer, at, status| row(change("c", id, 1, at), order(id, customer, at, status));
    land(
        lake,
        "orders",
        B1,
        "orders.parquet",
        &[
            o(101, 1, T, "placed"),
            o(102, 2, T, "placed"),
            o(103, 3, T, "placed"),
            o(104, 4, T, "placed"),
            o(105, 5, T, "delivered"),
            o(106, 6, T, "placed"),
            o(107, 7, T, "placed"),
            o(108, 8, T, "placed"),
            o(109, 9, T, "placed"),
            o(110, 10, T, "placed"),
            o(112, 12, T, "placed"),
            o(113, 2, "2026-04-01T12:00:00Z", "placed"),
        ],
    );
    land(
        lake,
        "orders",
        B2,
        "orders.parquet",
        &[
            row(change("u", 1001, 2, B2_AT), order(102, 2, T, "shipped")),
            row(change("d", 1002, 2, B2_AT), order(108, 8, T, "placed")),
            row(change("u", 1003, 2, B2_AT), order(110, 10, T, "cancelled")),
        ],
    );

    let l =
        |seq, o, n, p, q, price, disc| row(change("c", seq, 1, T), line(o, n, p, q, price, disc));
    land(
        lake,
        "order_items",
        B1,
        "items.parquet",
        &[
            l(1, 101, 1, 1, 1, "10.00", "0.00"),
            l(2, 102, 1, 1, 2, "10.00", "5.00"), // gross 20.00, net 15.00
            l(3, 103, 1, 2, 1, "100.00", "0.00"),
            l(4, 104, 1, 1, 1, "10.00", "0.00"),
            l(5, 105, 1, 1, 1, "10.00", "0.00"),
            l(6, 106, 1, 1, 1, "10.00", "0.00"),
            l(7, 107, 1, 1, 1, "10.00", "0.00"),
            l(8, 108, 1, 1, 1, "10.00", "0.00"),
            l(9, 110, 1, 1, 1, "10.00", "0.00"),
            l(10, 112, 1, 1, 1, "10.00", "0.00"),
            l(11, 113, 1, 1, 1, "10.00", "0.00"),
        ],
    );
}

const B2_AT: &str = "2026-04-01T08:00:00Z";

fn run_fixture() -> tempfile::TempDir {
    let lake = common::temp_lake();
    land_fixture(lake.path());
    stride_ok(lake.path(), &["run"]);
    lake
}

type Key = (i64, String, String);

/// (order_id, model, touchpoint_id or "null") -> (channel, credit, attributed_revenue)
fn attribution(lake: &Path) -> BTreeMap<Key, (String, f64, f64)> {
    query(lake, "select * from fct_attribution")
        .iter()
        .map(|r| {
            (
                (
                    num(r, "order_id") as i64,
                    text(r, "model"),
                    text(r, "touchpoint_id"),
                ),
                (
                    text(r, "channel"),
                    num(r, "credit"),
                    num(r, "attributed_revenue"),
                ),
            )
        })
        .collect()
}

const MODELS: [&str; 5] = [
    "first_touch",
    "last_touch",
    "linear",
    "time_decay",
    "position_based",
];

#[test]
fn attribution_credits_match_hand_worked_values() {
    let lake = run_fixture();
    let actual = attribution(lake.path());
    let mut expected: BTreeMap<Key, (String, f64, f64)> = BTreeMap::new();
    let mut put =
        |order: i64, model: &str, touch: Option<i64>, channel: &str, credit: f64, net: f64| {
            let key = (
                order,
                model.to_string(),
                touch.map_or("null".to_string(), |t| t.to_string()),
            );
            expected.insert(key, (channel.to_string(), credit, credit * net));
        };
    for model in MODELS {
        // A, and 112 whose customer was erased: n = 0, all to direct.
        put(101, model, None, "direct", 1.0, 10.0);
        put(112, model, None, "direct", 1.0, 10.0);
        // B and 113 (customer 2's second order, 201 is 2 days before it): n = 1.
        put(102, model, Some(201), "paid_search", 1.0, 15.0);
        put(113, model, Some(201), "paid_search", 1.0, 10.0);
        // G: the duplicate of 701 counts once, deleted 702 not at all: n = 1.
        put(107, model, Some(701), "paid_social", 1.0, 10.0);
        // I: no lines, so net 0; credit is still given.
        put(109, model, Some(901), "paid_search", 1.0, 0.0);
    }
    // C: n = 2 (301 at exactly T − 30 days, 303 at exactly T; 302 and 304 are 1 µs outside).
    put(103, "first_touch", Some(301), "paid_search", 1.0, 100.0);
    put(103, "last_touch", Some(303), "email", 1.0, 100.0);
    for model in ["linear", "position_based"] {
        put(103, model, Some(301), "paid_search", 0.5, 100.0);
        put(103, model, Some(303), "email", 0.5, 100.0);
    }
    // time decay: w(30 d) = 2^(−30/7) = 0.05127095975047737, w(0) = 1.
    put(
        103,
        "time_decay",
        Some(301),
        "paid_search",
        0.04877045187536304,
        100.0,
    );
    put(
        103,
        "time_decay",
        Some(303),
        "email",
        0.9512295481246369,
        100.0,
    );
    // D: n = 3 at Δ = 14, 7, 0 days: weights 1/4, 1/2, 1, total 7/4.
    put(104, "first_touch", Some(401), "organic_search", 1.0, 10.0);
    put(104, "last_touch", Some(403), "display", 1.0, 10.0);
    for (touch, channel, decay, position) in [
        (401, "organic_search", 1.0 / 7.0, 0.4),
        (402, "referral", 2.0 / 7.0, 0.2),
        (403, "display", 4.0 / 7.0, 0.4),
    ] {
        put(104, "linear", Some(touch), channel, 1.0 / 3.0, 10.0);
        put(104, "time_decay", Some(touch), channel, decay, 10.0);
        put(104, "position_based", Some(touch), channel, position, 10.0);
    }
    // E: n = 5 at Δ = 5..1 days; position 0.4, 0.2/3 ×3, 0.4; decay 2^(−d/7) normalised.
    put(105, "first_touch", Some(501), "affiliate", 1.0, 10.0);
    put(105, "last_touch", Some(505), "affiliate", 1.0, 10.0);
    let decay = [
        0.16246959900256916,
        0.1793809805495259,
        0.19805265957725765,
        0.2186678645944595,
        0.24142889627618785,
    ];
    let position = [0.4, 0.2 / 3.0, 0.2 / 3.0, 0.2 / 3.0, 0.4];
    for i in 0..5 {
        let touch = Some(501 + i as i64);
        put(105, "linear", touch, "affiliate", 0.2, 10.0);
        put(105, "time_decay", touch, "affiliate", decay[i], 10.0);
        put(105, "position_based", touch, "affiliate", position[i], 10.0);
    }
    // F: 601 and 602 at the same instant; 601 is first by id.
    put(106, "first_touch", Some(601), "email", 1.0, 10.0);
    put(106, "last_touch", Some(602), "referral", 1.0, 10.0);
    for model in ["linear", "time_decay", "position_based"] {
        put(106, model, Some(601), "email", 0.5, 10.0);
        put(106, model, Some(602), "referral", 0.5, 10.0);
    }
    // 108 (deleted) and 110 (cancelled in batch 2) earn nothing.

    let actual_keys: Vec<&Key> = actual.keys().collect();
    let expected_keys: Vec<&Key> = expected.keys().collect();
    assert_eq!(
        actual_keys, expected_keys,
        "the set of credited (order, model, touchpoint)"
    );
    for (key, (channel, credit, revenue)) in &expected {
        let (got_channel, got_credit, got_revenue) = &actual[key];
        assert_eq!(got_channel, channel, "{key:?} channel");
        assert_close(*got_credit, *credit, &format!("{key:?} credit"));
        assert_close(
            *got_revenue,
            *revenue,
            &format!("{key:?} attributed_revenue"),
        );
    }
}

#[test]
fn orders_carry_revenue_status_and_first_order_flags() {
    let lake = run_fixture();
    let rows = query(lake.path(), "select * from fct_orders order by order_id");
    let ids: Vec<i64> = rows.iter().map(|r| num(r, "order_id") as i64).collect();
    // 108 was deleted; every other order stays, whatever its status or its customer.
    assert_eq!(ids, [101, 102, 103, 104, 105, 106, 107, 109, 110, 112, 113]);
    let by_id = |id: i64| {
        rows.iter()
            .find(|r| num(r, "order_id") as i64 == id)
            .expect("order")
    };

    let o102 = by_id(102); // 2 × 10.00 − 5.00, shipped in batch 2
    assert_eq!(text(o102, "status"), "shipped");
    assert_eq!(num(o102, "item_count"), 2.0);
    assert_eq!(num(o102, "gross_revenue"), 20.0);
    assert_eq!(num(o102, "discount_amount"), 5.0);
    assert_eq!(num(o102, "net_revenue"), 15.0);
    assert_eq!(num(o102, "shipping_amount"), 4.95);
    assert_eq!(text(o102, "is_eligible"), "true");
    assert_eq!(text(o102, "is_first_order"), "true");
    assert_eq!(text(o102, "order_date"), "2026-03-31");

    let o109 = by_id(109); // no lines: zeros
    assert_eq!(num(o109, "item_count"), 0.0);
    assert_eq!(num(o109, "gross_revenue"), 0.0);
    assert_eq!(num(o109, "net_revenue"), 0.0);

    let o110 = by_id(110); // cancelled later: not eligible, still its customer's first order
    assert_eq!(text(o110, "status"), "cancelled");
    assert_eq!(text(o110, "is_eligible"), "false");
    assert_eq!(text(o110, "is_first_order"), "true");

    assert_eq!(text(by_id(113), "is_first_order"), "false");
}

#[test]
fn customers_acquisition_and_ltv_follow_first_orders() {
    let lake = run_fixture();
    let customers = query(
        lake.path(),
        "select * from dim_customers order by customer_id",
    );
    let ids: Vec<i64> = customers
        .iter()
        .map(|r| num(r, "customer_id") as i64)
        .collect();
    assert_eq!(ids, (1..=11).collect::<Vec<_>>(), "customer 12 was erased");
    let by_id = |id: i64| {
        customers
            .iter()
            .find(|r| num(r, "customer_id") as i64 == id)
            .expect("customer")
    };

    assert_eq!(text(by_id(3), "city"), "Leeds", "the latest change wins");
    let expectations = [
        // (customer, acquisition channel, lifetime orders, lifetime revenue)
        (1, "direct", 1.0, 10.0),
        (2, "paid_search", 2.0, 25.0),
        (3, "paid_search", 1.0, 100.0),
        (4, "organic_search", 1.0, 10.0),
        (5, "affiliate", 1.0, 10.0),
        (6, "email", 1.0, 10.0),
        (7, "paid_social", 1.0, 10.0),
        (9, "paid_search", 1.0, 0.0),
        (10, "paid_social", 0.0, 0.0), // its only order was cancelled
    ];
    for (id, channel, orders, revenue) in expectations {
        let c = by_id(id);
        assert_eq!(text(c, "acquisition_channel"), channel, "customer {id}");
        assert_eq!(num(c, "lifetime_orders"), orders, "customer {id}");
        assert_eq!(num(c, "lifetime_revenue"), revenue, "customer {id}");
        assert_eq!(
            text(c, "first_order_at"),
            "2026-03-31T12:00:00Z",
            "customer {id}"
        );
    }
    for id in [8, 11] {
        let c = by_id(id); // 8's only order was deleted; 11 never ordered
        assert_eq!(text(c, "first_order_at"), "null", "customer {id}");
        assert_eq!(text(c, "acquisition_channel"), "null", "customer {id}");
        assert_eq!(num(c, "lifetime_orders"), 0.0, "customer {id}");
        assert_eq!(num(c, "lifetime_revenue"), 0.0, "customer {id}");
    }

    let ltv = query(
        lake.path(),
        "select * from mart_acquisition_ltv order by acquisition_channel",
    );
    let got: Vec<(String, f64, f64, f64)> = ltv
        .iter()
        .map(|r| {
            (
                text(r, "acquisition_channel"),
                num(r, "customers"),
                num(r, "lifetime_revenue"),
                num(r, "avg_lifetime_revenue"),
            )
        })
        .collect();
    let expected = [
        ("affiliate", 1.0, 10.0, 10.0),
        ("direct", 1.0, 10.0, 10.0),
        ("email", 1.0, 10.0, 10.0),
        ("organic_search", 1.0, 10.0, 10.0),
        ("paid_search", 3.0, 125.0, 125.0 / 3.0), // customers 2, 3, 9
        ("paid_social", 2.0, 10.0, 5.0),          // customers 7, 10
    ];
    assert_eq!(got.len(), expected.len(), "{got:?}");
    for ((channel, customers, revenue, avg), expected) in got.iter().zip(expected) {
        assert_eq!(channel, expected.0);
        assert_eq!(*customers, expected.1, "{channel}");
        assert_eq!(*revenue, expected.2, "{channel}");
        assert_close(*avg, expected.3, channel);
    }
}

#[test]
fn campaign_performance_lists_every_campaign_with_restated_spend() {
    let lake = run_fixture();
    let rows = query(
        lake.path(),
        "select * from mart_campaign_performance where model = 'linear' order by campaign_id",
    );
    let ids: Vec<i64> = rows.iter().map(|r| num(r, "campaign_id") as i64).collect();
    assert_eq!(ids, [1, 2, 3, 4, 5, 6]);
    // Campaign 1: spend 50.00 (restated) + 30.00; linear credit 102: 1 (15.00), 113: 1 (10.00),
    // 103's touch 301: 0.5 (50.00), 109: 1 (0.00) → 3.5 conversions, 75.00 revenue.
    let c1 = &rows[0];
    assert_eq!(num(c1, "spend"), 80.0);
    assert_eq!(num(c1, "impressions"), 1300.0);
    assert_eq!(num(c1, "clicks"), 13.0);
    assert_close(num(c1, "conversions"), 3.5, "conversions");
    assert_close(num(c1, "attributed_revenue"), 75.0, "attributed_revenue");
    assert_close(num(c1, "roas"), 75.0 / 80.0, "roas");
    assert_close(num(c1, "cpa"), 80.0 / 3.5, "cpa");
    // Campaign 2: no spend rows; 303: 0.5 (50.00) + 601: 0.5 (5.00).
    let c2 = &rows[1];
    assert_eq!(num(c2, "spend"), 0.0);
    assert_close(num(c2, "conversions"), 1.0, "conversions");
    assert_close(num(c2, "attributed_revenue"), 55.0, "attributed_revenue");
    assert_eq!(text(c2, "roas"), "null", "no spend: no roas");
    assert_close(num(c2, "cpa"), 0.0, "cpa");
    // Campaign 6: nothing at all, still listed.
    let c6 = &rows[5];
    assert_eq!(num(c6, "conversions"), 0.0);
    assert_eq!(text(c6, "roas"), "null");
    assert_eq!(text(c6, "cpa"), "null");
    let all = query(
        lake.path(),
        "select count(*) as n from mart_campaign_performance",
    );
    assert_eq!(num(&all[0], "n"), 30.0, "6 campaigns × 5 models");
}

#[test]
fn channel_daily_sums_credits_per_day_channel_and_model() {
    let lake = run_fixture();
    let rows = query(
        lake.path(),
        "select * from mart_channel_daily where model = 'linear' order by order_date, channel",
    );
    let got: Vec<(String, String, f64, f64)> = rows
        .iter()
        .map(|r| {
            (
                text(r, "order_date"),
                text(r, "channel"),
                num(r, "conversions"),
                num(r, "attributed_revenue"),
            )
        })
        .collect();
    // Linear, March 31: direct 101 + 112; paid_search 102 (1, 15), 103's 301 (0.5, 50), 109 (1, 0);
    // email 103's 303 (0.5, 50) + 106's 601 (0.5, 5); organic/referral/display from 104 (1/3 each),
    // referral also 106's 602 (0.5, 5); affiliate 105 (1, 10); paid_social 107 (1, 10).
    // April 1: paid_search 113 (1, 10).
    let expected = [
        ("2026-03-31", "affiliate", 1.0, 10.0),
        ("2026-03-31", "direct", 2.0, 20.0),
        ("2026-03-31", "display", 1.0 / 3.0, 10.0 / 3.0),
        ("2026-03-31", "email", 1.0, 55.0),
        ("2026-03-31", "organic_search", 1.0 / 3.0, 10.0 / 3.0),
        ("2026-03-31", "paid_search", 2.5, 65.0),
        ("2026-03-31", "paid_social", 1.0, 10.0),
        ("2026-03-31", "referral", 1.0 / 3.0 + 0.5, 10.0 / 3.0 + 5.0),
        ("2026-04-01", "paid_search", 1.0, 10.0),
    ];
    assert_eq!(got.len(), expected.len(), "{got:?}");
    for (got, expected) in got.iter().zip(expected) {
        assert_eq!((got.0.as_str(), got.1.as_str()), (expected.0, expected.1));
        assert_close(
            got.2,
            expected.2,
            &format!("{} {} conversions", got.0, got.1),
        );
        assert_close(got.3, expected.3, &format!("{} {} revenue", got.0, got.1));
    }
}

#[test]
fn a_sixth_attribution_model_is_one_entry_in_the_project() {
    // A copy of the project with one more entry in macros/attribution_models.sql:
    // half the credit to the first touch, half to the last (all of it when n = 1).
    let queries = tempfile::tempdir().expect("temp dir");
    common::copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("queries"),
        queries.path(),
    );
    let macros = queries.path().join("macros/attribution_models.sql");
    let text = std::fs::read_to_string(&macros).expect("macro file");
    let entry = "    ('linear', \"1.0 / touch_count\"),\n";
    assert!(text.contains(entry), "the linear entry");
    let sixth = "    ('first_last', \"case when touch_count = 1 then 1.0 \
                 when touch_position = 1 or touch_position = touch_count then 0.5 else 0.0 end\"),\n";
    std::fs::write(&macros, text.replacen(entry, &format!("{entry}{sixth}"), 1))
        .expect("write macro file");
    let q = queries.path().to_str().expect("utf-8 path");

    let lake = common::temp_lake();
    let lake = lake.path();
    let generate = ["--queries", q, "generate", "--scale", "0.05", "--days"];
    stride_ok(lake, &[&generate[..], &["3"]].concat());
    stride_ok(lake, &["--queries", q, "run"]);
    stride_ok(lake, &[&generate[..], &["2"]].concat());
    stride_ok(lake, &["--queries", q, "run"]);

    // Every order credited under it, its credits summing to 1, in every mart.
    let sums = query(
        lake,
        "select order_id, sum(credit) as total from fct_attribution \
         where model = 'first_last' group by order_id",
    );
    let eligible = query(
        lake,
        "select count(*) as n from fct_orders where is_eligible",
    );
    assert_eq!(
        sums.len() as f64,
        num(&eligible[0], "n"),
        "every eligible order"
    );
    for row in &sums {
        assert_close(num(row, "total"), 1.0, "credits of one order");
    }
    for mart in ["mart_channel_daily", "mart_campaign_performance"] {
        let rows = query(
            lake,
            &format!("select count(*) as n from {mart} where model = 'first_last'"),
        );
        assert!(num(&rows[0], "n") > 0.0, "{mart} has first_last rows");
    }
    // The contracts check models against the project's own list: they pass.
    stride_ok(lake, &["--queries", q, "test"]);

    // Incremental runs equal a full refresh of the same files.
    let incremental = common::marts(lake);
    stride_ok(lake, &["--queries", q, "run", "--full-refresh"]);
    common::assert_same_marts(&common::marts(lake), &incremental, "sixth model");
}
