//! The raw source tables of SPEC section 2: their names, keys and Arrow schemas.
//!
//! Every raw table is a change log; these definitions are the one place the
//! generator, the landing checks and the query engine learn what a raw file must hold.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// The time zone every raw timestamp carries (exactly this string).
pub const UTC: &str = "UTC";

/// The schema name raw sources are registered under (`raw.orders`, `{{ source('raw', 'orders') }}`).
pub const SOURCE_SCHEMA: &str = "raw";

/// The Hive-style partition column of every raw table.
pub const PARTITION_COLUMN: &str = "batch_date";

/// The change-log columns every raw row carries before its payload.
pub const CHANGE_COLUMNS: [&str; 4] = ["_op", "_seq", "_batch_id", "_changed_at"];

/// One raw change-log table: its name, the columns of its key and its payload columns.
#[derive(Debug, Clone, Copy)]
pub struct SourceTable {
    /// Table name, also the folder under `raw/`.
    pub name: &'static str,
    /// Columns that identify one entity.
    pub key: &'static [&'static str],
    /// Payload columns after the four change-log columns.
    columns: &'static [(&'static str, Kind)],
}

/// The logical column types SPEC section 2 uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int64,
    Int32,
    Utf8,
    Timestamp,
    Money,
    Date,
}

impl Kind {
    /// The exact Arrow type a raw file must use for this kind.
    pub fn data_type(self) -> DataType {
        match self {
            Kind::Int64 => DataType::Int64,
            Kind::Int32 => DataType::Int32,
            Kind::Utf8 => DataType::Utf8,
            Kind::Timestamp => timestamp_type(),
            Kind::Money => money_type(),
            Kind::Date => DataType::Date32,
        }
    }

    /// Whether a file's Arrow type is acceptable for this kind. Strings may come
    /// as any of Arrow's string layouts, since writers differ; everything else is exact.
    pub fn accepts(self, found: &DataType) -> bool {
        match self {
            Kind::Utf8 => matches!(
                found,
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            ),
            _ => *found == self.data_type(),
        }
    }
}

/// Timestamp(Microsecond, "UTC"): the only timestamp type raw files may use.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into()))
}

/// Decimal128(12, 2): the only money type raw files may use.
pub fn money_type() -> DataType {
    DataType::Decimal128(12, 2)
}

const CHANGE_KINDS: [Kind; 4] = [Kind::Utf8, Kind::Int64, Kind::Int64, Kind::Timestamp];

/// `customers` (key customer_id).
pub const CUSTOMERS: SourceTable = SourceTable {
    name: "customers",
    key: &["customer_id"],
    columns: &[
        ("customer_id", Kind::Int64),
        ("email", Kind::Utf8),
        ("first_name", Kind::Utf8),
        ("last_name", Kind::Utf8),
        ("country", Kind::Utf8),
        ("city", Kind::Utf8),
        ("loyalty_tier", Kind::Utf8),
        ("signup_at", Kind::Timestamp),
    ],
};

/// `products` (key product_id).
pub const PRODUCTS: SourceTable = SourceTable {
    name: "products",
    key: &["product_id"],
    columns: &[
        ("product_id", Kind::Int64),
        ("sku", Kind::Utf8),
        ("product_name", Kind::Utf8),
        ("category", Kind::Utf8),
        ("subcategory", Kind::Utf8),
        ("gender", Kind::Utf8),
        ("list_price", Kind::Money),
        ("launched_on", Kind::Date),
    ],
};

/// `campaigns` (key campaign_id).
pub const CAMPAIGNS: SourceTable = SourceTable {
    name: "campaigns",
    key: &["campaign_id"],
    columns: &[
        ("campaign_id", Kind::Int64),
        ("campaign_name", Kind::Utf8),
        ("channel", Kind::Utf8),
        ("start_date", Kind::Date),
        ("end_date", Kind::Date),
        ("daily_budget", Kind::Money),
    ],
};

/// `ad_spend` (key campaign_id, spend_date); a later `u` restates a day.
pub const AD_SPEND: SourceTable = SourceTable {
    name: "ad_spend",
    key: &["campaign_id", "spend_date"],
    columns: &[
        ("campaign_id", Kind::Int64),
        ("spend_date", Kind::Date),
        ("impressions", Kind::Int64),
        ("clicks", Kind::Int64),
        ("spend", Kind::Money),
    ],
};

/// `touchpoints` (key touchpoint_id).
pub const TOUCHPOINTS: SourceTable = SourceTable {
    name: "touchpoints",
    key: &["touchpoint_id"],
    columns: &[
        ("touchpoint_id", Kind::Int64),
        ("customer_id", Kind::Int64),
        ("campaign_id", Kind::Int64),
        ("channel", Kind::Utf8),
        ("touched_at", Kind::Timestamp),
        ("device", Kind::Utf8),
        ("landing_page", Kind::Utf8),
    ],
};

/// `orders` (key order_id).
pub const ORDERS: SourceTable = SourceTable {
    name: "orders",
    key: &["order_id"],
    columns: &[
        ("order_id", Kind::Int64),
        ("customer_id", Kind::Int64),
        ("ordered_at", Kind::Timestamp),
        ("status", Kind::Utf8),
        ("shipping_amount", Kind::Money),
    ],
};

/// `order_items` (key order_id, line_number).
pub const ORDER_ITEMS: SourceTable = SourceTable {
    name: "order_items",
    key: &["order_id", "line_number"],
    columns: &[
        ("order_id", Kind::Int64),
        ("line_number", Kind::Int32),
        ("product_id", Kind::Int64),
        ("quantity", Kind::Int32),
        ("unit_price", Kind::Money),
        ("discount_amount", Kind::Money),
    ],
};

/// All raw tables, in the order the generator lands them.
pub const ALL: [SourceTable; 7] = [
    CUSTOMERS,
    PRODUCTS,
    CAMPAIGNS,
    AD_SPEND,
    TOUCHPOINTS,
    ORDERS,
    ORDER_ITEMS,
];

/// Looks a raw table up by name.
pub fn find(name: &str) -> Option<SourceTable> {
    ALL.into_iter().find(|t| t.name == name)
}

impl SourceTable {
    /// Every column a raw file must have, change-log columns first, with its kind.
    pub fn columns(&self) -> impl Iterator<Item = (&'static str, Kind)> + '_ {
        CHANGE_COLUMNS
            .into_iter()
            .zip(CHANGE_KINDS)
            .chain(self.columns.iter().copied())
    }

    /// The Arrow schema of a raw file (without the partition column). Columns are
    /// nullable so that files from any writer read; null keys are a contract matter.
    pub fn schema(&self) -> SchemaRef {
        let fields: Vec<Field> = self
            .columns()
            .map(|(name, kind)| Field::new(name, kind.data_type(), true))
            .collect();
        Arc::new(Schema::new(fields))
    }
}
