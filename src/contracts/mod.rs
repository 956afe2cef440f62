//! Data contracts: the files in `data_contracts/`, one per raw source and one per
//! mart, that say what a table must hold. A source's rules decide which landed rows
//! are loaded and which are quarantined ([`crate::quarantine`]); a model's rules run
//! on its result before the Delta commit ([`check`], [`before_commit`]); `stride test` runs them all on
//! the current tables.
//!
//! The format is TOML, documented in `data_contracts/README.md`.

mod before_commit;
mod check;
mod file;
mod key_hash;
mod sql;

pub use before_commit::check_rows;
pub use check::{RuleOutcome, Status, check_table, check_types, freshness_outcome};
#[cfg(test)]
pub(crate) use file::shipped_project;
pub use file::{Contracts, ContractsSource};
pub use key_hash::{KEY_HASH, key_hash_udf, register_key_hash};
pub use sql::{failing_rows_sql, reason_sql};

use arrow::datatypes::DataType;

/// What a broken rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Sources: the row is quarantined. Models: the result is not committed.
    #[default]
    Error,
    /// Reported only.
    Warn,
}

impl Severity {
    /// The word used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warn => "warn",
        }
    }
}

/// Whether a contract guards a raw source or a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// A raw table, which the contract declares.
    Source,
    /// A model of the SQL project.
    Model,
}

/// One table's contract.
#[derive(Debug, Clone)]
pub struct Contract {
    /// The source table or model it guards.
    pub name: String,
    /// Source or model.
    pub subject: Subject,
    /// The contract file, relative to `data_contracts/`.
    pub file: String,
    /// Every column, in order, with its type and whether it may be null.
    pub columns: Vec<Column>,
    /// The rules, `not_null` ones (from the columns) first.
    pub rules: Vec<Rule>,
    /// Sources: how old the newest batch may be.
    pub freshness: Option<Freshness>,
}

/// A column of a contract.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Its name.
    pub name: String,
    /// Its Arrow type.
    pub data_type: DataType,
    /// The type as written in the contract (`decimal(12,2)`).
    pub type_name: String,
    /// Whether it may be null.
    pub nullable: bool,
}

/// One rule of a contract.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Its name, unique in the contract (`quantity_positive`, `not_null(order_id)`).
    pub name: String,
    /// What breaking it does.
    pub severity: Severity,
    /// What it checks.
    pub kind: RuleKind,
}

/// What a rule checks. Every kind but [`RuleKind::Check`] judges single rows, so a
/// source row that breaks it can be quarantined on its own.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleKind {
    /// The column is never null.
    NotNull { column: String },
    /// Models: no two rows share these columns. Sources: rows of one batch that
    /// share these columns carry the same payload (a redelivery), else all of them
    /// break the rule.
    Unique { columns: Vec<String> },
    /// The column is null or one of these values.
    AcceptedValues { column: String, values: Vec<String> },
    /// The column is null or within the bounds.
    Range { column: String, bounds: Bounds },
    /// The column is null or found in `to.field` (a source or a model).
    Relationship {
        column: String,
        to: String,
        field: String,
        /// Whether `to` is a raw table (`raw.<to>`) rather than a model.
        to_source: bool,
    },
    /// A SQL expression over one row that must not be false.
    Expression { sql: String },
    /// Models only: a SQL query over `{{ this }}` (and `{{ ref('model') }}`) whose
    /// rows are the failures, like a dbt singular test.
    Check { sql: String },
}

impl RuleKind {
    /// What the rule checks, in one line (`quantity > 0`, `customer_id in
    /// raw.customers.customer_id`), for pages and listings.
    pub fn describe(&self) -> String {
        match self {
            RuleKind::NotNull { column } => format!("{column} is not null"),
            RuleKind::Unique { columns } => format!("unique ({})", columns.join(", ")),
            RuleKind::AcceptedValues { column, values } => {
                format!("{column} in ({})", values.join(", "))
            }
            RuleKind::Range { column, bounds } => bounds.describe(column),
            RuleKind::Relationship {
                column,
                to,
                field,
                to_source,
            } => {
                if *to_source {
                    let raw = crate::sources::SOURCE_SCHEMA;
                    format!("{column} found in {raw}.{to}.{field}")
                } else {
                    format!("{column} found in {to}.{field}")
                }
            }
            RuleKind::Expression { sql } | RuleKind::Check { sql } => {
                sql.split_whitespace().collect::<Vec<_>>().join(" ")
            }
        }
    }

    /// The kind's name as contracts write it.
    pub fn name(&self) -> &'static str {
        match self {
            RuleKind::NotNull { .. } => "not_null",
            RuleKind::Unique { .. } => "unique",
            RuleKind::AcceptedValues { .. } => "accepted_values",
            RuleKind::Range { .. } => "range",
            RuleKind::Relationship { .. } => "relationship",
            RuleKind::Expression { .. } => "expression",
            RuleKind::Check { .. } => "check",
        }
    }
}

/// The bounds of a range rule; each is optional.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bounds {
    /// `column >= min`.
    pub min: Option<f64>,
    /// `column <= max`.
    pub max: Option<f64>,
    /// `column > greater_than`.
    pub greater_than: Option<f64>,
    /// `column < less_than`.
    pub less_than: Option<f64>,
}

impl Bounds {
    /// The bounds as SQL comparisons on `column` (`quantity > 0 and quantity <= 100`);
    /// `column` is written as given, so a caller building SQL passes it quoted.
    pub fn describe(&self, column: &str) -> String {
        let bounds = [
            (self.min, ">="),
            (self.greater_than, ">"),
            (self.max, "<="),
            (self.less_than, "<"),
        ];
        bounds
            .iter()
            .filter_map(|(value, op)| value.map(|v| format!("{column} {op} {}", number(v))))
            .collect::<Vec<_>>()
            .join(" and ")
    }
}

/// A number as a SQL literal (`0`, `1.000000001`).
fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value}")
    }
}

/// How old a source's newest batch may be, in days (like dbt's source freshness).
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Freshness {
    /// Older than this: a warning.
    pub warn_after_days: Option<u32>,
    /// Older than this: an error.
    pub error_after_days: Option<u32>,
}

impl Contract {
    /// The rules whose failures can be told row by row (all but `check`).
    pub fn row_rules(&self) -> impl Iterator<Item = &Rule> {
        self.rules
            .iter()
            .filter(|r| !matches!(r.kind, RuleKind::Check { .. }))
    }
}
