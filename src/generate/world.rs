//! The simulated shop: customers, catalog, campaigns and their day-by-day changes.
//!
//! Each day draws only from a random generator seeded by (seed, day), and all state
//! lives in [`World`], so replaying days 1..k in memory and then simulating day k+1
//! gives the same rows as simulating all days in one go.
//!
//! Over 700 lines on purpose: one day of the shop is one sequence of draws from
//! one generator, in a fixed order that the seeded lakes (and the tests' expected
//! values) depend on; split across files, that order would be easy to break.

use std::collections::{BTreeMap, VecDeque};

use chrono::{Days, NaiveDate};
use fake::Fake;
use fake::faker::address::en::CityName;
use fake::faker::name::en::{FirstName, LastName};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::Settings;
use super::buffer::TableBuffer;
use crate::error::Result;
use crate::sources::SourceTable;

const MICROS_PER_DAY: i64 = 86_400_000_000;

// Indexes into the per-table arrays, in the order of `super::TABLES`.
const CUSTOMERS: usize = 0;
const PRODUCTS: usize = 1;
const CAMPAIGNS: usize = 2;
const AD_SPEND: usize = 3;
const TOUCHPOINTS: usize = 4;
const ORDERS: usize = 5;
const ORDER_ITEMS: usize = 6;

const PAID_CHANNELS: [&str; 5] = [
    "paid_search",
    "paid_social",
    "display",
    "email",
    "affiliate",
];
/// (channel, weight): how touchpoints split over channels.
const TOUCH_CHANNELS: [(&str, u32); 7] = [
    ("paid_search", 25),
    ("paid_social", 20),
    ("display", 12),
    ("email", 12),
    ("affiliate", 6),
    ("organic_search", 18),
    ("referral", 7),
];
const DEVICES: [(&str, u32); 4] = [("mobile", 50), ("desktop", 30), ("tablet", 8), ("app", 12)];
const LANDING_PAGES: [&str; 8] = [
    "/",
    "/running",
    "/training",
    "/outdoor",
    "/sale",
    "/new-arrivals",
    "/kids",
    "/stores",
];
const COUNTRIES: [(&str, u32); 10] = [
    ("US", 35),
    ("GB", 12),
    ("DE", 12),
    ("FR", 9),
    ("NL", 5),
    ("ES", 6),
    ("IT", 6),
    ("SE", 4),
    ("CA", 6),
    ("AU", 5),
];
const TIERS: [&str; 4] = ["member", "silver", "gold", "platinum"];
const EMAIL_DOMAINS: [&str; 5] = [
    "example.com",
    "mail.example",
    "inbox.example",
    "post.example",
    "web.example",
];
/// (category, subcategories, lowest and highest list price in whole units).
const CATALOG: [(&str, [&str; 5], i64, i64); 3] = [
    (
        "footwear",
        [
            "running shoes",
            "trail shoes",
            "basketball shoes",
            "sneakers",
            "sandals",
        ],
        59,
        189,
    ),
    (
        "apparel",
        ["t-shirts", "hoodies", "shorts", "leggings", "jackets"],
        19,
        129,
    ),
    (
        "equipment",
        ["balls", "bags", "bottles", "yoga mats", "gloves"],
        9,
        79,
    ),
];
const GENDERS: [&str; 4] = ["men", "women", "unisex", "kids"];
const PRODUCT_WORDS: [&str; 12] = [
    "Swift", "Aero", "Pulse", "Stride", "Summit", "Nova", "Flux", "Terra", "Vapor", "Apex",
    "Drift", "Core",
];
const CAMPAIGN_THEMES: [&str; 10] = [
    "Spring Running",
    "Summer Sale",
    "Back to School",
    "Trail Season",
    "Black Friday",
    "New Arrivals",
    "Marathon Prep",
    "Yoga Week",
    "Kids Gear",
    "Loyalty Boost",
];

/// The rows of one daily batch, one buffer per raw table in `super::TABLES` order.
pub struct DayBatch {
    /// The batch number (1 = first day).
    pub batch_id: u32,
    /// The day the batch covers (its `batch_date`).
    pub date: NaiveDate,
    /// The change rows, per raw table.
    pub tables: Vec<TableBuffer>,
}

struct Customer {
    id: i64,
    email: String,
    first_name: String,
    last_name: String,
    country: &'static str,
    city: String,
    tier: &'static str,
    signup_at: i64,
    alive: bool,
}

struct Product {
    id: i64,
    sku: String,
    name: String,
    category: &'static str,
    subcategory: &'static str,
    gender: &'static str,
    list_price: i64,
    launched_on: i32,
}

struct Campaign {
    id: i64,
    name: String,
    channel: &'static str,
    start_date: i32,
    end_date: i32,
    daily_budget: i64,
}

#[derive(Clone)]
struct Touch {
    id: i64,
    customer_id: i64,
    campaign_id: Option<i64>,
    channel: &'static str,
    touched_at: i64,
    device: &'static str,
    landing_page: &'static str,
}

#[derive(Clone)]
struct Spend {
    campaign_id: i64,
    spend_date: i32,
    impressions: i64,
    clicks: i64,
    spend: i64,
}

#[derive(Clone)]
struct Item {
    line_number: i32,
    product_id: i64,
    quantity: i32,
    unit_price: i64,
    discount: i64,
}

enum Change {
    Status(&'static str),
    Delete(Vec<Item>),
}

/// A future change to an order, with the order's row image.
struct OrderEvent {
    order_id: i64,
    customer_id: i64,
    ordered_at: i64,
    shipping: i64,
    change: Change,
}

/// The whole simulated shop between two days.
pub struct World {
    settings: Settings,
    /// The raw tables written, in `super::TABLES` order.
    tables: Vec<SourceTable>,
    seq: [i64; 7],
    customers: Vec<Customer>,
    /// The first customer id created on each day, to pick recent sign-ups.
    first_customer_of_day: Vec<i64>,
    products: Vec<Product>,
    campaigns: Vec<Campaign>,
    next_touchpoint_id: i64,
    next_order_id: i64,
    /// Touchpoints waiting for the batch that delivers them (late and duplicate deliveries).
    deliveries: BTreeMap<u32, Vec<Touch>>,
    /// Order status changes and deletions waiting for their day.
    order_events: BTreeMap<u32, Vec<OrderEvent>>,
    /// Customers touched on each of the last 7 days, the likeliest buyers.
    recent_touchers: VecDeque<Vec<i64>>,
    /// Ad spend rows of the last 3 days, which may be restated.
    recent_spend: VecDeque<Vec<Spend>>,
}

impl World {
    /// A shop before its first day, landing `tables` (in `super::TABLES` order).
    pub fn new(settings: Settings, tables: Vec<SourceTable>) -> Self {
        World {
            settings,
            tables,
            seq: [0; 7],
            customers: Vec::new(),
            first_customer_of_day: Vec::new(),
            products: Vec::new(),
            campaigns: Vec::new(),
            next_touchpoint_id: 1,
            next_order_id: 1,
            deliveries: BTreeMap::new(),
            order_events: BTreeMap::new(),
            recent_touchers: VecDeque::new(),
            recent_spend: VecDeque::new(),
        }
    }

    /// Simulates day `day` (1-based) and returns the batch that lands for it.
    pub fn simulate_day(&mut self, day: u32) -> Result<DayBatch> {
        let date = self.settings.start_date + Days::new(u64::from(day - 1));
        let mut rng = ChaCha8Rng::seed_from_u64(
            self.settings.seed ^ u64::from(day).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        let mut day = Day {
            batch_id: day,
            date: days_since_epoch(date),
            start: i64::from(days_since_epoch(date)) * MICROS_PER_DAY,
            tables: self
                .tables
                .iter()
                .map(TableBuffer::new)
                .collect::<Result<_>>()?,
        };
        self.products(&mut rng, &mut day);
        self.campaigns(&mut rng, &mut day);
        self.ad_spend(&mut rng, &mut day);
        self.customers(&mut rng, &mut day);
        self.touchpoints(&mut rng, &mut day);
        self.orders(&mut rng, &mut day);
        Ok(DayBatch {
            batch_id: day.batch_id,
            date,
            tables: day.tables,
        })
    }

    /// `base` events a day at scale 1, scaled; the fraction is drawn at random, so
    /// rare events (an erasure request) still happen at small scales.
    fn scaled(&self, rng: &mut ChaCha8Rng, base: f64) -> usize {
        let expected = (base * self.settings.scale).max(0.0);
        let whole = expected.floor();
        whole as usize + usize::from(rng.random_bool(expected - whole))
    }

    fn next_seq(&mut self, table: usize) -> i64 {
        self.seq[table] += 1;
        self.seq[table]
    }

    fn products(&mut self, rng: &mut ChaCha8Rng, day: &mut Day) {
        let new_products = if day.batch_id == 1 {
            240
        } else {
            usize::from(rng.random_bool(0.3))
        };
        for _ in 0..new_products {
            let id = self.products.len() as i64 + 1;
            let (category, subcategories, low, high) = *CATALOG.choose(rng).unwrap_or(&CATALOG[0]);
            let subcategory = *subcategories.choose(rng).unwrap_or(&subcategories[0]);
            let product = Product {
                id,
                sku: format!("SKU-{:03}-{id:05}", category[..3].to_uppercase()),
                name: format!(
                    "{} {} {}",
                    PRODUCT_WORDS.choose(rng).unwrap_or(&"Core"),
                    PRODUCT_WORDS.choose(rng).unwrap_or(&"Core"),
                    subcategory
                ),
                category,
                subcategory,
                gender: GENDERS.choose(rng).unwrap_or(&"unisex"),
                list_price: rng.random_range(low..=high) * 100 + 95,
                launched_on: day.date - rng.random_range(0..400),
            };
            let changed_at = day.at(rng);
            self.emit_product('c', changed_at, &product, day);
            self.products.push(product);
        }
        for index in 0..self.products.len() {
            if day.batch_id > 1 && rng.random_bool(0.01) {
                let factor = rng.random_range(0.8..1.15);
                let price = &mut self.products[index].list_price;
                *price = ((*price as f64 * factor / 100.0).round() as i64).max(1) * 100 - 5;
                let changed_at = day.at(rng);
                let seq = self.next_seq(PRODUCTS);
                emit_product(seq, 'u', changed_at, &self.products[index], day);
            }
        }
    }

    fn emit_product(&mut self, op: char, changed_at: i64, product: &Product, day: &mut Day) {
        let seq = self.next_seq(PRODUCTS);
        emit_product(seq, op, changed_at, product, day);
    }

    fn campaigns(&mut self, rng: &mut ChaCha8Rng, day: &mut Day) {
        let new_campaigns = if day.batch_id == 1 {
            PAID_CHANNELS.len() * 6
        } else {
            usize::from(rng.random_bool(0.25))
        };
        for n in 0..new_campaigns {
            let id = self.campaigns.len() as i64 + 1;
            let channel = if day.batch_id == 1 {
                PAID_CHANNELS[n % PAID_CHANNELS.len()]
            } else {
                *PAID_CHANNELS.choose(rng).unwrap_or(&PAID_CHANNELS[0])
            };
            let start_date = if day.batch_id == 1 {
                day.date - rng.random_range(0..30)
            } else {
                day.date
            };
            let campaign = Campaign {
                id,
                name: format!(
                    "{} {} #{id}",
                    CAMPAIGN_THEMES.choose(rng).unwrap_or(&"Always On"),
                    channel.replace('_', " ")
                ),
                channel,
                start_date,
                end_date: start_date + rng.random_range(30..90),
                daily_budget: ((rng.random_range(2_000.0..10_000.0) * self.settings.scale).round()
                    as i64)
                    .max(1)
                    * 100,
            };
            let changed_at = day.at(rng);
            let seq = self.next_seq(CAMPAIGNS);
            emit_campaign(seq, 'c', changed_at, &campaign, day);
            self.campaigns.push(campaign);
        }
        if day.batch_id == 1 {
            return;
        }
        for index in 0..self.campaigns.len() {
            let campaign = &mut self.campaigns[index];
            let changed = if rng.random_bool(0.02) {
                let factor = rng.random_range(0.7..1.4);
                campaign.daily_budget =
                    ((campaign.daily_budget as f64 * factor / 100.0).round() as i64).max(1) * 100;
                true
            } else if campaign.end_date - day.date == 2 && rng.random_bool(0.3) {
                campaign.end_date += 30;
                true
            } else {
                false
            };
            if changed {
                let changed_at = day.at(rng);
                let seq = self.next_seq(CAMPAIGNS);
                emit_campaign(seq, 'u', changed_at, &self.campaigns[index], day);
            }
        }
    }

    fn ad_spend(&mut self, rng: &mut ChaCha8Rng, day: &mut Day) {
        let mut today = Vec::new();
        for campaign in &self.campaigns {
            if campaign.start_date > day.date || campaign.end_date < day.date {
                continue;
            }
            let spend = (campaign.daily_budget as f64 * rng.random_range(0.7..1.05)) as i64;
            today.push(spend_row(rng, campaign.id, day.date, spend));
        }
        // Platforms restate recent days: same key, a later `u` with new figures.
        let mut restated = Vec::new();
        for past_day in &self.recent_spend {
            for row in past_day {
                if rng.random_bool(0.05) {
                    let spend = (row.spend as f64 * rng.random_range(0.9..1.1)) as i64;
                    restated.push(spend_row(rng, row.campaign_id, row.spend_date, spend));
                }
            }
        }
        for (op, row) in today
            .iter()
            .map(|row| ('c', row))
            .chain(restated.iter().map(|row| ('u', row)))
        {
            let changed_at = day.at(rng);
            let seq = self.next_seq(AD_SPEND);
            day.tables[AD_SPEND]
                .row(op, seq, i64::from(day.batch_id), changed_at)
                .int64(row.campaign_id)
                .date(row.spend_date)
                .int64(row.impressions)
                .int64(row.clicks)
                .money(row.spend);
        }
        self.recent_spend.push_front(today);
        self.recent_spend.truncate(3);
    }

    fn customers(&mut self, rng: &mut ChaCha8Rng, day: &mut Day) {
        self.first_customer_of_day
            .push(self.customers.len() as i64 + 1);
        let existing = self.customers.len();
        for _ in 0..self.scaled(rng, 2_000.0) {
            let id = self.customers.len() as i64 + 1;
            let first_name: String = FirstName().fake_with_rng(rng);
            let last_name: String = LastName().fake_with_rng(rng);
            let email = format!(
                "{}.{}{id}@{}",
                first_name.to_lowercase().replace(' ', ""),
                last_name.to_lowercase().replace(' ', ""),
                EMAIL_DOMAINS.choose(rng).unwrap_or(&EMAIL_DOMAINS[0])
            );
            let customer = Customer {
                id,
                email,
                first_name,
                last_name,
                country: weighted(rng, &COUNTRIES),
                city: CityName().fake_with_rng(rng),
                tier: "member",
                signup_at: day.at(rng),
                alive: true,
            };
            let seq = self.next_seq(CUSTOMERS);
            emit_customer(seq, 'c', customer.signup_at, &customer, day);
            self.customers.push(customer);
        }
        if existing == 0 {
            return;
        }
        // Tier and city changes, then erasure requests.
        for _ in 0..self.scaled(rng, 20.0) {
            let index = rng.random_range(0..existing);
            if !self.customers[index].alive {
                continue;
            }
            if rng.random_bool(0.5) {
                let tier = &mut self.customers[index].tier;
                let position = TIERS.iter().position(|t| t == tier).unwrap_or(0);
                *tier = TIERS[(position + 1).min(TIERS.len() - 1)];
            } else {
                self.customers[index].city = CityName().fake_with_rng(rng);
            }
            let changed_at = day.at(rng);
            let seq = self.next_seq(CUSTOMERS);
            emit_customer(seq, 'u', changed_at, &self.customers[index], day);
        }
        for _ in 0..self.scaled(rng, 2.0) {
            let index = rng.random_range(0..existing);
            if !self.customers[index].alive {
                continue;
            }
            self.customers[index].alive = false;
            let changed_at = day.at(rng);
            let seq = self.next_seq(CUSTOMERS);
            emit_customer(seq, 'd', changed_at, &self.customers[index], day);
        }
    }

    /// A living customer: half the time one who signed up in the last 30 days.
    fn pick_customer(&self, rng: &mut ChaCha8Rng) -> Option<&Customer> {
        let recent_from = self
            .first_customer_of_day
            .iter()
            .rev()
            .nth(29)
            .copied()
            .unwrap_or(1);
        let highest = self.customers.len() as i64;
        // At tiny scales there may be no customer yet, or none in the last 30 days.
        if highest == 0 {
            return None;
        }
        let lowest = if rng.random_bool(0.5) && recent_from <= highest {
            recent_from
        } else {
            1
        };
        (0..3)
            .map(|_| rng.random_range(lowest..=highest))
            .map(|id| &self.customers[(id - 1) as usize])
            .find(|c| c.alive)
    }

    fn touchpoints(&mut self, rng: &mut ChaCha8Rng, day: &mut Day) {
        let mut touchers = Vec::new();
        for _ in 0..self.scaled(rng, 30_000.0) {
            let Some(customer) = self.pick_customer(rng) else {
                continue;
            };
            let customer_id = customer.id;
            let touched_at = day.at_or_after(rng, customer.signup_at);
            let mut channel = weighted(rng, &TOUCH_CHANNELS);
            let mut campaign_id = None;
            if PAID_CHANNELS.contains(&channel) {
                let live: Vec<&Campaign> = self
                    .campaigns
                    .iter()
                    .filter(|c| c.channel == channel && c.start_date <= day.date)
                    .collect();
                match live.choose(rng) {
                    Some(c) => campaign_id = Some(c.id),
                    None => channel = "organic_search",
                }
            }
            let touch = Touch {
                id: self.next_touchpoint_id,
                customer_id,
                campaign_id,
                channel,
                touched_at,
                device: weighted(rng, &DEVICES),
                landing_page: LANDING_PAGES.choose(rng).unwrap_or(&"/"),
            };
            self.next_touchpoint_id += 1;
            touchers.push(customer_id);
            // Ad platforms report late: a quarter of touches arrive days after they happen.
            let lateness = if self.settings.max_lateness_days > 0 && rng.random_bool(0.25) {
                rng.random_range(1..=self.settings.max_lateness_days)
            } else {
                0
            };
            let delivered = day.batch_id + lateness;
            if rng.random_bool(0.02) {
                let again = delivered + u32::from(rng.random_bool(0.5));
                self.deliveries
                    .entry(again)
                    .or_default()
                    .push(touch.clone());
            }
            self.deliveries.entry(delivered).or_default().push(touch);
        }
        self.recent_touchers.push_front(touchers);
        self.recent_touchers.truncate(7);

        for touch in self.deliveries.remove(&day.batch_id).unwrap_or_default() {
            let seq = self.next_seq(TOUCHPOINTS);
            let changed_at = touch.touched_at;
            day.tables[TOUCHPOINTS]
                .row('c', seq, i64::from(day.batch_id), changed_at)
                .int64(touch.id)
                .int64(touch.customer_id)
                .int64_opt(touch.campaign_id)
                .utf8(touch.channel)
                .timestamp(touch.touched_at)
                .utf8(touch.device)
                .utf8(touch.landing_page);
        }
    }

    /// A buyer: mostly someone touched in the last week, otherwise anyone.
    fn pick_buyer(&self, rng: &mut ChaCha8Rng) -> Option<&Customer> {
        if rng.random_bool(0.7) {
            let recent = self.recent_touchers.iter().filter(|d| !d.is_empty());
            let days: Vec<&Vec<i64>> = recent.collect();
            let ids = days.choose(rng)?;
            let id = *ids.choose(rng)?;
            Some(&self.customers[(id - 1) as usize]).filter(|c| c.alive)
        } else {
            self.pick_customer(rng)
        }
    }

    fn orders(&mut self, rng: &mut ChaCha8Rng, day: &mut Day) {
        for _ in 0..self.scaled(rng, 3_000.0) {
            let Some(buyer) = self.pick_buyer(rng) else {
                continue;
            };
            let customer_id = buyer.id;
            let ordered_at = day.at_or_after(rng, buyer.signup_at);
            let order_id = self.next_order_id;
            self.next_order_id += 1;
            let shipping = *[0, 495, 995].choose(rng).unwrap_or(&0);
            let seq = self.next_seq(ORDERS);
            day.tables[ORDERS]
                .row('c', seq, i64::from(day.batch_id), ordered_at)
                .int64(order_id)
                .int64(customer_id)
                .timestamp(ordered_at)
                .utf8("placed")
                .money(shipping);
            let mut items = Vec::new();
            for line_number in 1..=rng.random_range(1..=4) {
                let product = self.products.choose(rng);
                let (product_id, unit_price) = product.map_or((1, 995), |p| (p.id, p.list_price));
                let quantity = *[1, 1, 1, 2, 2, 3].choose(rng).unwrap_or(&1);
                let discount = if rng.random_bool(0.25) {
                    unit_price * i64::from(quantity) * rng.random_range(10..=30) / 100
                } else {
                    0
                };
                let item = Item {
                    line_number,
                    product_id,
                    quantity,
                    unit_price,
                    discount,
                };
                let seq = self.next_seq(ORDER_ITEMS);
                emit_item(seq, 'c', ordered_at, order_id, &item, day);
                items.push(item);
            }
            let event = |change| OrderEvent {
                order_id,
                customer_id,
                ordered_at,
                shipping,
                change,
            };
            let roll: f64 = rng.random();
            if roll < 0.002 {
                let on = day.batch_id + rng.random_range(1..=3);
                self.schedule(on, event(Change::Delete(items)));
            } else if roll < 0.05 {
                let on = day.batch_id + rng.random_range(0..=1);
                self.schedule(on, event(Change::Status("cancelled")));
            } else {
                let shipped = day.batch_id + rng.random_range(1..=2);
                let delivered = shipped + rng.random_range(1..=4);
                self.schedule(shipped, event(Change::Status("shipped")));
                self.schedule(delivered, event(Change::Status("delivered")));
                // Returns come weeks later, and now and then months later.
                let returned = if rng.random_bool(0.07) {
                    Some(delivered + rng.random_range(3..=25))
                } else if rng.random_bool(0.005) {
                    Some(delivered + rng.random_range(60..=120))
                } else {
                    None
                };
                if let Some(on) = returned {
                    self.schedule(on, event(Change::Status("returned")));
                }
            }
        }
        for event in self.order_events.remove(&day.batch_id).unwrap_or_default() {
            let changed_at = day.at_or_after(rng, event.ordered_at);
            let seq = self.next_seq(ORDERS);
            let (op, status) = match &event.change {
                Change::Status(status) => ('u', *status),
                Change::Delete(_) => ('d', "placed"),
            };
            day.tables[ORDERS]
                .row(op, seq, i64::from(day.batch_id), changed_at)
                .int64(event.order_id)
                .int64(event.customer_id)
                .timestamp(event.ordered_at)
                .utf8(status)
                .money(event.shipping);
            if let Change::Delete(items) = &event.change {
                for item in items {
                    let seq = self.next_seq(ORDER_ITEMS);
                    emit_item(seq, 'd', changed_at, event.order_id, item, day);
                }
            }
        }
    }

    fn schedule(&mut self, day: u32, event: OrderEvent) {
        self.order_events.entry(day).or_default().push(event);
    }
}

/// The day being simulated.
struct Day {
    batch_id: u32,
    /// Days since the Unix epoch.
    date: i32,
    /// Midnight UTC in microseconds since the epoch.
    start: i64,
    tables: Vec<TableBuffer>,
}

impl Day {
    /// A random instant of the day.
    fn at(&self, rng: &mut ChaCha8Rng) -> i64 {
        self.start + rng.random_range(0..MICROS_PER_DAY)
    }

    /// A random instant of the day, not before `earliest`.
    fn at_or_after(&self, rng: &mut ChaCha8Rng, earliest: i64) -> i64 {
        let from = earliest.max(self.start);
        let end = (self.start + MICROS_PER_DAY).max(from + 1);
        rng.random_range(from..end)
    }
}

fn days_since_epoch(date: NaiveDate) -> i32 {
    (date - NaiveDate::default()).num_days() as i32
}

fn weighted<T: Copy>(rng: &mut ChaCha8Rng, choices: &[(T, u32)]) -> T {
    let total: u32 = choices.iter().map(|(_, w)| w).sum();
    let mut roll = rng.random_range(0..total);
    for (value, weight) in choices {
        if roll < *weight {
            return *value;
        }
        roll -= weight;
    }
    choices[choices.len() - 1].0
}

fn spend_row(rng: &mut ChaCha8Rng, campaign_id: i64, spend_date: i32, spend: i64) -> Spend {
    let impressions = (spend as f64 / 100.0 / rng.random_range(2.0..12.0) * 1_000.0) as i64;
    let clicks = (impressions as f64 * rng.random_range(0.005..0.03)) as i64;
    Spend {
        campaign_id,
        spend_date,
        impressions,
        clicks,
        spend,
    }
}

fn emit_customer(seq: i64, op: char, changed_at: i64, c: &Customer, day: &mut Day) {
    day.tables[CUSTOMERS]
        .row(op, seq, i64::from(day.batch_id), changed_at)
        .int64(c.id)
        .utf8(&c.email)
        .utf8(&c.first_name)
        .utf8(&c.last_name)
        .utf8(c.country)
        .utf8(&c.city)
        .utf8(c.tier)
        .timestamp(c.signup_at);
}

fn emit_product(seq: i64, op: char, changed_at: i64, p: &Product, day: &mut Day) {
    day.tables[PRODUCTS]
        .row(op, seq, i64::from(day.batch_id), changed_at)
        .int64(p.id)
        .utf8(&p.sku)
        .utf8(&p.name)
        .utf8(p.category)
        .utf8(p.subcategory)
        .utf8(p.gender)
        .money(p.list_price)
        .date(p.launched_on);
}

fn emit_campaign(seq: i64, op: char, changed_at: i64, c: &Campaign, day: &mut Day) {
    day.tables[CAMPAIGNS]
        .row(op, seq, i64::from(day.batch_id), changed_at)
        .int64(c.id)
        .utf8(&c.name)
        .utf8(c.channel)
        .date(c.start_date)
        .date(c.end_date)
        .money(c.daily_budget);
}

fn emit_item(seq: i64, op: char, changed_at: i64, order_id: i64, item: &Item, day: &mut Day) {
    day.tables[ORDER_ITEMS]
        .row(op, seq, i64::from(day.batch_id), changed_at)
        .int64(order_id)
        .int32(item.line_number)
        .int64(item.product_id)
        .int32(item.quantity)
        .money(item.unit_price)
        .money(item.discount);
}
