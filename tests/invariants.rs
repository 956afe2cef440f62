//! SPEC section 5 invariants on generated data, and the generator's determinism.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{num, query, stride_ok, text};

const SCALE: &str = "0.05";

fn generated_lake(days: &str) -> tempfile::TempDir {
    let lake = common::temp_lake();
    stride_ok(
        lake.path(),
        &["generate", "--days", days, "--scale", SCALE, "--seed", "7"],
    );
    stride_ok(lake.path(), &["run"]);
    lake
}

#[test]
fn credits_of_each_order_and_model_sum_to_one() {
    let lake = generated_lake("12");
    let bad = query(
        lake.path(),
        "select order_id, model, sum(credit) as total from fct_attribution \
         group by order_id, model having abs(sum(credit) - 1.0) > 1e-9",
    );
    assert!(
        bad.is_empty(),
        "orders whose credits do not sum to 1: {bad:?}"
    );
    let pairs = query(
        lake.path(),
        "select count(distinct order_id) as orders, count(distinct model) as models from fct_attribution",
    );
    assert!(
        num(&pairs[0], "orders") > 100.0,
        "the lake has attributed orders"
    );
    assert_eq!(num(&pairs[0], "models"), 5.0);
}

#[test]
fn attributed_revenue_per_model_equals_eligible_net_revenue() {
    let lake = generated_lake("12");
    let eligible = query(
        lake.path(),
        "select cast(sum(net_revenue) as double) as net from fct_orders where is_eligible",
    );
    let net = num(&eligible[0], "net");
    assert!(net > 0.0);
    let per_model = query(
        lake.path(),
        "select model, sum(attributed_revenue) as revenue from fct_attribution group by model",
    );
    let models: std::collections::BTreeSet<String> =
        per_model.iter().map(|r| text(r, "model")).collect();
    assert_eq!(models, five_models(), "every model attributes");
    for row in &per_model {
        let revenue = num(row, "revenue");
        assert!(
            (revenue - net).abs() < 1e-6 * net.max(1.0),
            "{}: attributed {revenue} vs eligible net {net}",
            text(row, "model")
        );
    }
    // The daily mart adds up to the same total.
    let daily = query(
        lake.path(),
        "select model, sum(attributed_revenue) as revenue from mart_channel_daily group by model",
    );
    let models: std::collections::BTreeSet<String> =
        daily.iter().map(|r| text(r, "model")).collect();
    assert_eq!(models, five_models(), "the daily mart holds every model");
    for row in &daily {
        assert!((num(row, "revenue") - net).abs() < 1e-6 * net, "{row:?}");
    }
}

/// The attribution models of SPEC section 3.
fn five_models() -> std::collections::BTreeSet<String> {
    [
        "first_touch",
        "last_touch",
        "linear",
        "time_decay",
        "position_based",
    ]
    .into_iter()
    .map(String::from)
    .collect()
}

#[test]
fn every_eligible_order_is_attributed_under_every_model() {
    let lake = generated_lake("12");
    let missing = query(
        lake.path(),
        "select o.order_id, m.model from fct_orders o \
         cross join (values ('first_touch'), ('last_touch'), ('linear'), ('time_decay'), \
             ('position_based')) as m(model) \
         where o.is_eligible and not exists (select 1 from fct_attribution a \
             where a.order_id = o.order_id and a.model = m.model)",
    );
    assert!(
        missing.is_empty(),
        "eligible orders without credit: {missing:?}"
    );
    let eligible = query(
        lake.path(),
        "select count(*) as n from fct_orders where is_eligible",
    );
    assert!(
        num(&eligible[0], "n") > 100.0,
        "the lake has eligible orders"
    );
    let ineligible = query(
        lake.path(),
        "select count(*) as n from fct_attribution a join fct_orders o using (order_id) where not o.is_eligible",
    );
    assert_eq!(
        num(&ineligible[0], "n"),
        0.0,
        "ineligible orders earn nothing"
    );
    // The generator makes every behaviour of SPEC section 2 appear.
    let statuses = query(
        lake.path(),
        "select distinct status from fct_orders order by status",
    );
    let statuses: Vec<String> = statuses.iter().map(|r| text(r, "status")).collect();
    for status in ["cancelled", "delivered", "placed", "shipped"] {
        assert!(statuses.contains(&status.to_string()), "{statuses:?}");
    }
}

#[test]
fn generated_batches_show_every_behaviour_of_the_spec() {
    let lake = common::temp_lake();
    stride_ok(
        lake.path(),
        &[
            "generate",
            "--days",
            "30",
            "--scale",
            SCALE,
            "--seed",
            "3",
            "--max-lateness-days",
            "5",
        ],
    );
    // `raw.<table>` in a query is what the contract checks admitted.
    stride_ok(lake.path(), &["run"]);
    let checks = [
        (
            "customer updates",
            "select count(*) as n from raw.customers where _op = 'u'",
        ),
        (
            "customer deletions",
            "select count(*) as n from raw.customers where _op = 'd'",
        ),
        (
            "product price changes",
            "select count(*) as n from raw.products where _op = 'u'",
        ),
        (
            "campaign changes",
            "select count(*) as n from raw.campaigns where _op = 'u'",
        ),
        (
            "restated ad spend",
            "select count(*) as n from raw.ad_spend where _op = 'u'",
        ),
        (
            "returned orders",
            "select count(*) as n from raw.orders where status = 'returned'",
        ),
        (
            "cancelled orders",
            "select count(*) as n from raw.orders where status = 'cancelled'",
        ),
        (
            "unpaid touchpoints",
            "select count(*) as n from raw.touchpoints where campaign_id is null and channel in ('organic_search', 'referral')",
        ),
        (
            "duplicate touchpoint deliveries",
            "select count(*) as n from (select touchpoint_id from raw.touchpoints group by touchpoint_id having count(*) > 1)",
        ),
        (
            "late touchpoints",
            "select count(*) as n from raw.touchpoints where batch_date > cast(touched_at as date)",
        ),
    ];
    for (what, sql) in checks {
        let n = num(&query(lake.path(), sql)[0], "n");
        assert!(n > 0.0, "no {what} in 30 generated days");
    }
    let lateness = query(
        lake.path(),
        "select max(batch_date - cast(touched_at as date)) as late from raw.touchpoints",
    );
    let late = text(&lateness[0], "late");
    assert!(
        !late.is_empty() && late != "null",
        "lateness is measurable: {late}"
    );
    let channels = query(
        lake.path(),
        "select distinct channel from raw.campaigns order by channel",
    );
    let channels: Vec<String> = channels.iter().map(|r| text(r, "channel")).collect();
    assert_eq!(
        channels,
        [
            "affiliate",
            "display",
            "email",
            "paid_search",
            "paid_social"
        ]
    );
    let bad_seq = query(
        lake.path(),
        "select count(*) as n from (select _seq from raw.touchpoints group by _seq having count(*) > 1)",
    );
    assert_eq!(num(&bad_seq[0], "n"), 0.0, "_seq is unique per table");
}

/// Every file under `lake/raw`, relative path → bytes.
fn raw_files(lake: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![lake.join("raw")];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("raw folder") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path
                    .strip_prefix(lake)
                    .expect("under lake")
                    .display()
                    .to_string();
                files.insert(relative, std::fs::read(&path).expect("read"));
            }
        }
    }
    files
}

#[test]
fn generator_gives_the_same_bytes_in_one_call_or_several() {
    let once = common::temp_lake();
    stride_ok(
        once.path(),
        &["generate", "--days", "9", "--scale", SCALE, "--seed", "11"],
    );
    let split = common::temp_lake();
    stride_ok(
        split.path(),
        &["generate", "--days", "2", "--scale", SCALE, "--seed", "11"],
    );
    stride_ok(split.path(), &["generate", "--days", "3"]);
    stride_ok(split.path(), &["generate", "--days", "4", "--seed", "11"]);
    let a = raw_files(once.path());
    let b = raw_files(split.path());
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    assert!(
        a.len() >= 9 * 5,
        "about one file per table and day: {}",
        a.len()
    );
    for (name, bytes) in &a {
        assert!(
            bytes == &b[name],
            "{name} differs between one call and three"
        );
    }
    let other_seed = common::temp_lake();
    stride_ok(
        other_seed.path(),
        &["generate", "--days", "2", "--scale", SCALE, "--seed", "12"],
    );
    let c = raw_files(other_seed.path());
    let first = "raw/customers/batch_date=2026-01-01/part-000001.parquet";
    assert_ne!(a[first], c[first], "another seed gives other rows");
}

#[test]
fn continuing_a_lake_with_other_settings_is_refused() {
    let lake = common::temp_lake();
    stride_ok(lake.path(), &["generate", "--days", "1", "--scale", SCALE]);
    let out = common::stride(lake.path(), &["generate", "--days", "1", "--seed", "99"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--seed"), "{stderr}");
}

#[test]
fn same_input_gives_the_same_marts() {
    let a = generated_lake("6");
    let b = generated_lake("6");
    for mart in [
        "mart_channel_daily",
        "mart_campaign_performance",
        "mart_acquisition_ltv",
        "dim_customers",
        "mart_channel_data_driven",
    ] {
        let sql = format!("select * from {mart} order by 1, 2, 3, 4");
        assert_eq!(query(a.path(), &sql), query(b.path(), &sql), "{mart}");
    }
}

#[test]
fn tiny_scales_generate_without_failing() {
    let lake = common::temp_lake();
    stride_ok(
        lake.path(),
        &["generate", "--days", "5", "--scale", "0.0001"],
    );
    stride_ok(lake.path(), &["run"]);
}

#[test]
fn generating_zero_days_is_refused_naming_the_option() {
    let lake = common::temp_lake();
    let out = common::stride(lake.path(), &["generate", "--days", "0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--days"));
}
