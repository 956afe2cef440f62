//! Running a contract on a table registered in a DataFusion session: each rule's
//! failing rows counted, with a sample of up to five, and the time it took.
//!
//! Over 700 lines with its unit tests (the code is about 350).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Int64Type, Schema};
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use chrono::NaiveDate;
use datafusion::prelude::SessionContext;

use super::key_hash::register_key_hash;
use super::sql::row_condition;
use super::{Contract, Freshness, Rule, Severity, failing_rows_sql};

/// How many offending rows a failure shows.
pub const SAMPLE_ROWS: usize = 5;

/// How a rule fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// No row breaks it.
    Pass,
    /// Rows break a `warn` rule.
    Warn,
    /// Rows break an `error` rule.
    Fail,
    /// The rule could not be run (its SQL does not plan, a table is missing).
    Error,
}

impl Status {
    /// The word dbt prints.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
            Status::Error => "ERROR",
        }
    }
}

/// One rule run on one table.
#[derive(Debug, Clone)]
pub struct RuleOutcome {
    /// The source or model.
    pub table: String,
    /// The rule's name.
    pub rule: String,
    /// Its severity.
    pub severity: Severity,
    /// How it fared.
    pub status: Status,
    /// Rows that break it.
    pub failing: u64,
    /// Up to [`SAMPLE_ROWS`] of them, as `(column=value, …)`, or the error.
    pub sample: Vec<String>,
    /// Time taken.
    pub elapsed: Duration,
}

impl RuleOutcome {
    fn new(contract: &Contract, rule: &str, severity: Severity) -> RuleOutcome {
        RuleOutcome {
            table: contract.name.clone(),
            rule: rule.to_string(),
            severity,
            status: Status::Pass,
            failing: 0,
            sample: Vec::new(),
            elapsed: Duration::ZERO,
        }
    }

    fn failed(mut self, failing: u64, sample: Vec<String>) -> RuleOutcome {
        self.failing = failing;
        self.sample = sample;
        if failing > 0 {
            self.status = match self.severity {
                Severity::Error => Status::Fail,
                Severity::Warn => Status::Warn,
            };
        }
        self
    }

    /// Whether this outcome blocks a commit or fails `stride test`.
    pub fn is_blocking(&self) -> bool {
        matches!(self.status, Status::Fail | Status::Error)
    }

    /// One line for messages: `rule r (error) failed on 3 rows: (a=1, b=2); …`.
    pub fn describe(&self) -> String {
        match self.status {
            Status::Error => format!(
                "rule `{}` could not run: {}",
                self.rule,
                self.sample.join("; ")
            ),
            _ => format!(
                "rule `{}` ({}) failed on {} row{}: {}",
                self.rule,
                self.severity.as_str(),
                self.failing,
                if self.failing == 1 { "" } else { "s" },
                self.sample.join("; ")
            ),
        }
    }
}

/// Runs every rule of `contract` on `table` (a SQL table reference registered in
/// `ctx`, with the contract's columns). Rules are run one after another, so a
/// failure of one never hides another.
pub async fn check_table(
    ctx: &SessionContext,
    contract: &Contract,
    table: &str,
) -> Vec<RuleOutcome> {
    register_key_hash(ctx);
    let columns: Vec<String> = contract.columns.iter().map(|c| c.name.clone()).collect();
    // The rules that judge rows one by one are counted in one scan; a failing one
    // is then counted and sampled on its own. The others run one query each.
    let counted = count_row_rules(ctx, contract, table)
        .await
        .unwrap_or_default();
    let mut outcomes = Vec::new();
    for rule in &contract.rules {
        let outcome = match counted.get(&rule.name) {
            Some((0, elapsed)) => RuleOutcome {
                elapsed: *elapsed,
                ..RuleOutcome::new(contract, &rule.name, rule.severity)
            },
            _ => check_rule(ctx, contract, rule, table, &columns).await,
        };
        outcomes.push(outcome);
    }
    outcomes
}

/// Per row rule of `contract`, its failing rows on `table`, from one scan (each
/// rule is given an equal share of the scan's time). A scan that cannot run
/// leaves every rule to its own query, which reports the problem.
async fn count_row_rules(
    ctx: &SessionContext,
    contract: &Contract,
    table: &str,
) -> std::result::Result<HashMap<String, (u64, Duration)>, String> {
    let started = Instant::now();
    let conditions: Vec<(&Rule, String)> = contract
        .rules
        .iter()
        .filter_map(|rule| row_condition(rule).map(|c| (rule, c)))
        .collect();
    if conditions.is_empty() {
        return Ok(HashMap::new());
    }
    let counts: Vec<String> = conditions
        .iter()
        .map(|(_, condition)| format!("count(*) filter (where {condition})"))
        .collect();
    let batches = ctx
        .sql(&format!("select {} from {table}", counts.join(", ")))
        .await
        .map_err(|e| e.to_string())?
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    let batch = batches.first().ok_or("no result")?;
    let share = started.elapsed() / conditions.len() as u32;
    let mut found = HashMap::new();
    for (i, (rule, _)) in conditions.iter().enumerate() {
        let Some(counts) = batch
            .column(i)
            .as_primitive_opt::<Int64Type>()
            .filter(|a| !a.is_empty())
        else {
            continue;
        };
        found.insert(rule.name.clone(), (counts.value(0).max(0) as u64, share));
    }
    Ok(found)
}

async fn check_rule(
    ctx: &SessionContext,
    contract: &Contract,
    rule: &Rule,
    table: &str,
    columns: &[String],
) -> RuleOutcome {
    let started = Instant::now();
    let outcome = RuleOutcome::new(contract, &rule.name, rule.severity);
    let mut outcome = match failing_rows(ctx, rule, contract, table, columns).await {
        Ok((failing, sample)) => outcome.failed(failing, sample),
        Err(problem) => RuleOutcome {
            status: Status::Error,
            sample: vec![problem],
            ..outcome
        },
    };
    outcome.elapsed = started.elapsed();
    outcome
}

async fn failing_rows(
    ctx: &SessionContext,
    rule: &Rule,
    contract: &Contract,
    table: &str,
    columns: &[String],
) -> std::result::Result<(u64, Vec<String>), String> {
    let sql = failing_rows_sql(rule, table, contract.subject, columns)?;
    let count = ctx
        .sql(&format!("select count(*) from ({sql}) as failing"))
        .await
        .map_err(|e| e.to_string())?
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    let failing = count
        .first()
        .filter(|b| b.num_rows() > 0)
        .and_then(|b| {
            b.column(0)
                .as_primitive_opt::<Int64Type>()
                .map(|a| a.value(0))
        })
        .unwrap_or(0)
        .max(0) as u64;
    if failing == 0 {
        return Ok((0, Vec::new()));
    }
    let sample = ctx
        .sql(&format!(
            "select * from ({sql}) as failing limit {SAMPLE_ROWS}"
        ))
        .await
        .map_err(|e| e.to_string())?
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    Ok((failing, render_rows(&sample)))
}

/// Rows as `(column=value, …)`, hiding stride's internal columns (`__row`).
pub fn render_rows(batches: &[RecordBatch]) -> Vec<String> {
    let options = FormatOptions::default().with_null("null");
    let mut rows = Vec::new();
    for batch in batches {
        let schema = batch.schema();
        let formatters: Vec<_> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect();
        for row in 0..batch.num_rows() {
            let cells: Vec<String> = schema
                .fields()
                .iter()
                .zip(&formatters)
                .filter(|(field, _)| !field.name().starts_with("__"))
                .map(|(field, formatter)| match formatter {
                    Ok(f) => format!("{}={}", field.name(), f.value(row)),
                    Err(_) => format!("{}=?", field.name()),
                })
                .collect();
            rows.push(format!("({})", cells.join(", ")));
        }
    }
    rows
}

/// The contract's column list against a table's schema: a missing, extra or
/// differently typed column is a failure of the rule `columns`.
pub fn check_types(contract: &Contract, schema: &Schema) -> RuleOutcome {
    let started = Instant::now();
    let mut problems = Vec::new();
    for column in &contract.columns {
        match schema.field_with_name(&column.name) {
            Err(_) => problems.push(format!("column `{}` is missing", column.name)),
            Ok(field) if !same_type(field.data_type(), &column.data_type) => {
                problems.push(format!(
                    "column `{}` is {}, the contract says {}",
                    column.name,
                    field.data_type(),
                    column.type_name
                ))
            }
            Ok(_) => {}
        }
    }
    for field in schema.fields() {
        let name = field.name();
        if !name.starts_with("__") && !contract.columns.iter().any(|c| &c.name == name) {
            problems.push(format!("column `{name}` is not in the contract"));
        }
    }
    let failing = problems.len() as u64;
    let mut outcome =
        RuleOutcome::new(contract, "columns", Severity::Error).failed(failing, problems);
    outcome.elapsed = started.elapsed();
    outcome
}

/// Whether a column of type `found` has the contract's type: strings may use any
/// of Arrow's layouts (DataFusion computes `Utf8View`, Delta stores a string).
fn same_type(found: &DataType, expected: &DataType) -> bool {
    let string =
        |t: &DataType| matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
    found == expected || (string(found) && string(expected))
}

/// A source's freshness: the age in days of its newest batch on `today`.
pub fn freshness_outcome(
    contract: &Contract,
    newest_batch: Option<NaiveDate>,
    today: NaiveDate,
) -> Option<RuleOutcome> {
    let Freshness {
        warn_after_days,
        error_after_days,
    } = contract.freshness?;
    let mut outcome = RuleOutcome::new(contract, "freshness", Severity::Warn);
    let Some(newest) = newest_batch else {
        outcome.status = Status::Fail;
        outcome.severity = Severity::Error;
        outcome.sample = vec!["no batch has landed".into()];
        return Some(outcome);
    };
    let age = (today - newest).num_days();
    let describe = format!("newest batch {newest} is {age} days old");
    if error_after_days.is_some_and(|limit| age > i64::from(limit)) {
        outcome.severity = Severity::Error;
        outcome.status = Status::Fail;
        outcome.sample = vec![describe];
    } else if warn_after_days.is_some_and(|limit| age > i64::from(limit)) {
        outcome.status = Status::Warn;
        outcome.sample = vec![describe];
    }
    Some(outcome)
}

#[cfg(test)]
mod tests {
    //! One test per rule kind, each on a table that passes and one that fails; the
    //! failing rows are counted by hand from the fixtures.

    use std::sync::Arc;

    use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
    use arrow::datatypes::Field;
    use datafusion::datasource::MemTable;

    use super::*;
    use crate::contracts::{Bounds, Column, RuleKind, Subject};

    fn rule(name: &str, kind: RuleKind) -> Rule {
        Rule {
            name: name.into(),
            severity: Severity::Error,
            kind,
        }
    }

    fn contract(subject: Subject, columns: &[(&str, DataType)], rules: Vec<Rule>) -> Contract {
        Contract {
            name: "t".into(),
            subject,
            file: "t.toml".into(),
            columns: columns
                .iter()
                .map(|(name, data_type)| Column {
                    name: name.to_string(),
                    data_type: data_type.clone(),
                    type_name: data_type.to_string(),
                    nullable: true,
                })
                .collect(),
            rules,
            freshness: None,
        }
    }

    fn register(ctx: &SessionContext, name: &str, columns: Vec<(&str, ArrayRef)>) {
        let fields: Vec<Field> = columns
            .iter()
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
            .collect();
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            columns.into_iter().map(|(_, a)| a).collect(),
        )
        .expect("batch");
        let table = MemTable::try_new(batch.schema(), vec![vec![batch]]).expect("table");
        let _ = ctx.deregister_table(name);
        ctx.register_table(name, Arc::new(table)).expect("register");
    }

    fn ints(values: &[Option<i64>]) -> ArrayRef {
        Arc::new(Int64Array::from(values.to_vec()))
    }

    fn strings(values: &[Option<&str>]) -> ArrayRef {
        Arc::new(StringArray::from(values.to_vec()))
    }

    /// (status, failing rows) of the single rule of `contract` on table `t`.
    async fn run(ctx: &SessionContext, contract: &Contract) -> (Status, u64) {
        let outcomes = check_table(ctx, contract, "t").await;
        assert_eq!(outcomes.len(), 1);
        (outcomes[0].status, outcomes[0].failing)
    }

    #[tokio::test]
    async fn not_null() {
        let ctx = SessionContext::new();
        let c = contract(
            Subject::Model,
            &[("id", DataType::Int64)],
            vec![rule(
                "not_null(id)",
                RuleKind::NotNull {
                    column: "id".into(),
                },
            )],
        );
        register(&ctx, "t", vec![("id", ints(&[Some(1), Some(2)]))]);
        assert_eq!(run(&ctx, &c).await, (Status::Pass, 0));
        register(&ctx, "t", vec![("id", ints(&[Some(1), None, None]))]);
        assert_eq!(run(&ctx, &c).await, (Status::Fail, 2));
    }

    #[tokio::test]
    async fn unique_on_a_model_counts_every_repeated_row_nulls_included() {
        let ctx = SessionContext::new();
        let c = contract(
            Subject::Model,
            &[("id", DataType::Int64), ("m", DataType::Utf8)],
            vec![rule(
                "u",
                RuleKind::Unique {
                    columns: vec!["id".into(), "m".into()],
                },
            )],
        );
        register(
            &ctx,
            "t",
            vec![
                ("id", ints(&[Some(1), Some(1), None])),
                ("m", strings(&[Some("a"), Some("b"), Some("a")])),
            ],
        );
        assert_eq!(run(&ctx, &c).await, (Status::Pass, 0));
        // (1, a) twice and (null, a) twice: four rows.
        register(
            &ctx,
            "t",
            vec![
                ("id", ints(&[Some(1), Some(1), None, None, Some(2)])),
                (
                    "m",
                    strings(&[Some("a"), Some("a"), Some("a"), Some("a"), Some("a")]),
                ),
            ],
        );
        assert_eq!(run(&ctx, &c).await, (Status::Fail, 4));
    }

    #[tokio::test]
    async fn unique_on_a_source_lets_redeliveries_pass_and_catches_conflicts() {
        let ctx = SessionContext::new();
        let columns = [
            ("_seq", DataType::Int64),
            ("_batch_id", DataType::Int64),
            ("id", DataType::Int64),
            ("v", DataType::Utf8),
        ];
        let c = contract(
            Subject::Source,
            &columns,
            vec![rule(
                "u",
                RuleKind::Unique {
                    columns: vec!["id".into()],
                },
            )],
        );
        // Key 1 delivered twice with the same payload (new _seq), and key 2 again
        // in another batch with another payload: both fine.
        register(
            &ctx,
            "t",
            vec![
                ("_seq", ints(&[Some(1), Some(2), Some(3), Some(4)])),
                ("_batch_id", ints(&[Some(1), Some(1), Some(1), Some(2)])),
                ("id", ints(&[Some(1), Some(1), Some(2), Some(2)])),
                ("v", strings(&[Some("x"), Some("x"), Some("y"), Some("z")])),
            ],
        );
        assert_eq!(run(&ctx, &c).await, (Status::Pass, 0));
        // Key 1 twice in batch 1 with different payloads: both rows break it.
        register(
            &ctx,
            "t",
            vec![
                ("_seq", ints(&[Some(1), Some(2), Some(3)])),
                ("_batch_id", ints(&[Some(1), Some(1), Some(1)])),
                ("id", ints(&[Some(1), Some(1), Some(2)])),
                ("v", strings(&[Some("x"), Some("w"), Some("y")])),
            ],
        );
        assert_eq!(run(&ctx, &c).await, (Status::Fail, 2));
    }

    #[tokio::test]
    async fn accepted_values() {
        let ctx = SessionContext::new();
        let c = contract(
            Subject::Model,
            &[("s", DataType::Utf8)],
            vec![rule(
                "a",
                RuleKind::AcceptedValues {
                    column: "s".into(),
                    values: vec!["placed".into(), "it's".into()],
                },
            )],
        );
        register(
            &ctx,
            "t",
            vec![("s", strings(&[Some("placed"), Some("it's"), None]))],
        );
        assert_eq!(run(&ctx, &c).await, (Status::Pass, 0));
        register(
            &ctx,
            "t",
            vec![("s", strings(&[Some("placed"), Some("lost"), Some("")]))],
        );
        assert_eq!(run(&ctx, &c).await, (Status::Fail, 2));
    }

    #[tokio::test]
    async fn range_with_inclusive_and_exclusive_bounds() {
        let ctx = SessionContext::new();
        let c = contract(
            Subject::Model,
            &[("q", DataType::Float64)],
            vec![rule(
                "r",
                RuleKind::Range {
                    column: "q".into(),
                    bounds: Bounds {
                        greater_than: Some(0.0),
                        max: Some(1.0),
                        ..Bounds::default()
                    },
                },
            )],
        );
        let values = |v: Vec<Option<f64>>| -> ArrayRef { Arc::new(Float64Array::from(v)) };
        register(
            &ctx,
            "t",
            vec![("q", values(vec![Some(0.5), Some(1.0), None]))],
        );
        assert_eq!(run(&ctx, &c).await, (Status::Pass, 0));
        // 0 is not > 0; 1.5 is not <= 1; -2 neither.
        register(
            &ctx,
            "t",
            vec![(
                "q",
                values(vec![Some(0.0), Some(1.5), Some(-2.0), Some(0.1)]),
            )],
        );
        assert_eq!(run(&ctx, &c).await, (Status::Fail, 3));
    }

    #[tokio::test]
    async fn relationship() {
        let ctx = SessionContext::new();
        register(
            &ctx,
            "parents",
            vec![("id", ints(&[Some(1), Some(2), None]))],
        );
        let c = contract(
            Subject::Model,
            &[("parent", DataType::Int64)],
            vec![rule(
                "rel",
                RuleKind::Relationship {
                    column: "parent".into(),
                    to: "parents".into(),
                    field: "id".into(),
                    to_source: false,
                },
            )],
        );
        register(&ctx, "t", vec![("parent", ints(&[Some(1), Some(2), None]))]);
        assert_eq!(run(&ctx, &c).await, (Status::Pass, 0));
        register(
            &ctx,
            "t",
            vec![("parent", ints(&[Some(1), Some(3), Some(3), Some(4)]))],
        );
        assert_eq!(run(&ctx, &c).await, (Status::Fail, 3));
    }

    #[tokio::test]
    async fn expression_fails_where_false_not_where_null() {
        let ctx = SessionContext::new();
        let c = contract(
            Subject::Model,
            &[("a", DataType::Int64), ("b", DataType::Int64)],
            vec![rule(
                "e",
                RuleKind::Expression {
                    sql: "a <= b".into(),
                },
            )],
        );
        register(
            &ctx,
            "t",
            vec![
                ("a", ints(&[Some(1), None])),
                ("b", ints(&[Some(1), Some(0)])),
            ],
        );
        assert_eq!(run(&ctx, &c).await, (Status::Pass, 0));
        register(
            &ctx,
            "t",
            vec![
                ("a", ints(&[Some(2), Some(1)])),
                ("b", ints(&[Some(1), Some(1)])),
            ],
        );
        assert_eq!(run(&ctx, &c).await, (Status::Fail, 1));
    }

    #[tokio::test]
    async fn check_query_rows_are_the_failures_and_warn_only_warns() {
        let ctx = SessionContext::new();
        let mut c = contract(
            Subject::Model,
            &[("order_id", DataType::Int64), ("credit", DataType::Float64)],
            vec![rule(
                "credits_sum_to_one",
                RuleKind::Check {
                    sql: "select order_id from {{ this }} group by order_id \
                          having abs(sum(credit) - 1) > 1e-9"
                        .into(),
                },
            )],
        );
        let credits = |v: Vec<f64>| -> ArrayRef { Arc::new(Float64Array::from(v)) };
        // Order 1: 0.4 + 0.2 + 0.4 = 1; order 2: 1.
        register(
            &ctx,
            "t",
            vec![
                ("order_id", ints(&[Some(1), Some(1), Some(1), Some(2)])),
                ("credit", credits(vec![0.4, 0.2, 0.4, 1.0])),
            ],
        );
        assert_eq!(run(&ctx, &c).await, (Status::Pass, 0));
        // Order 1 sums to 0.9, order 2 to 1.1: two failing orders.
        register(
            &ctx,
            "t",
            vec![
                ("order_id", ints(&[Some(1), Some(1), Some(2), Some(2)])),
                ("credit", credits(vec![0.5, 0.4, 1.0, 0.1])),
            ],
        );
        assert_eq!(run(&ctx, &c).await, (Status::Fail, 2));
        c.rules[0].severity = Severity::Warn;
        assert_eq!(run(&ctx, &c).await, (Status::Warn, 2));
        let outcome = &check_table(&ctx, &c, "t").await[0];
        assert!(!outcome.is_blocking());
        assert_eq!(outcome.sample.len(), 2);
    }

    #[test]
    fn columns_must_match_the_contract() {
        let c = contract(
            Subject::Model,
            &[("id", DataType::Int64), ("name", DataType::Utf8)],
            Vec::new(),
        );
        let schema = |fields: Vec<Field>| Schema::new(fields);
        let ok = schema(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8View, true),
        ]);
        assert_eq!(check_types(&c, &ok).status, Status::Pass);
        let bad = schema(vec![
            Field::new("id", DataType::Int32, true),
            Field::new("extra", DataType::Utf8, true),
        ]);
        let outcome = check_types(&c, &bad);
        // id retyped, name missing, extra unknown.
        assert_eq!((outcome.status, outcome.failing), (Status::Fail, 3));
    }

    #[test]
    fn freshness_warns_then_fails_with_age() {
        let mut c = contract(Subject::Source, &[], Vec::new());
        c.freshness = Some(Freshness {
            warn_after_days: Some(2),
            error_after_days: Some(5),
        });
        let day = |d: u32| NaiveDate::from_ymd_opt(2026, 1, d).expect("date");
        let status =
            |newest: Option<NaiveDate>| freshness_outcome(&c, newest, day(10)).map(|o| o.status);
        assert_eq!(status(Some(day(8))), Some(Status::Pass));
        assert_eq!(status(Some(day(7))), Some(Status::Warn));
        assert_eq!(status(Some(day(4))), Some(Status::Fail));
        assert_eq!(status(None), Some(Status::Fail));
    }
}
