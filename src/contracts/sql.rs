//! Each rule as SQL: a query selecting the rows that break it, and (for sources) the
//! reason written next to a quarantined row.

use minijinja::{Environment, Value, context};

use super::{Rule, RuleKind, Subject, number};
use crate::sources::{self, SOURCE_SCHEMA};

/// The change-log columns a source redelivery may differ in.
const REDELIVERY_COLUMNS: [&str; 1] = ["_seq"];

/// A query over `table` (a SQL table reference) selecting the rows that break
/// `rule`. `columns` are the table's columns; for a source's `unique` rule the
/// payload of a row is all of them but `_seq`.
pub fn failing_rows_sql(
    rule: &Rule,
    table: &str,
    subject: Subject,
    columns: &[String],
) -> std::result::Result<String, String> {
    Ok(match &rule.kind {
        RuleKind::NotNull { column } => {
            format!("select * from {table} where {} is null", ident(column))
        }
        RuleKind::AcceptedValues { column, values } => {
            let list: Vec<String> = values.iter().map(|v| literal(v)).collect();
            format!(
                "select * from {table} where {c} is not null and {c} not in ({})",
                list.join(", "),
                c = ident(column)
            )
        }
        RuleKind::Range { column, bounds } => {
            let c = ident(column);
            let mut broken = Vec::new();
            if let Some(v) = bounds.min {
                broken.push(format!("{c} < {}", number(v)));
            }
            if let Some(v) = bounds.greater_than {
                broken.push(format!("{c} <= {}", number(v)));
            }
            if let Some(v) = bounds.max {
                broken.push(format!("{c} > {}", number(v)));
            }
            if let Some(v) = bounds.less_than {
                broken.push(format!("{c} >= {}", number(v)));
            }
            format!("select * from {table} where {}", broken.join(" or "))
        }
        RuleKind::Relationship { column, to, field } => {
            let c = ident(column);
            format!(
                "select * from {table} where {c} is not null and {c} not in \
                 (select {f} from {target} where {f} is not null)",
                f = ident(field),
                target = target(to)
            )
        }
        RuleKind::Expression { sql } => {
            format!("select * from {table} where not ({sql})")
        }
        RuleKind::Unique { columns: key } => unique_sql(table, subject, key, columns),
        RuleKind::Check { sql } => render_check(sql, table)?,
    })
}

/// A SQL expression, over a row of [`failing_rows_sql`]'s result, saying why it
/// broke `rule` (`quantity = -2 breaks quantity > 0`).
pub fn reason_sql(rule: &Rule) -> String {
    match &rule.kind {
        RuleKind::NotNull { column } => literal(&format!("{column} is null")),
        RuleKind::AcceptedValues { column, values } => format!(
            "concat({}, cast({} as varchar), {})",
            literal(&format!("{column} = ")),
            ident(column),
            literal(&format!(" is not one of {}", values.join(", ")))
        ),
        RuleKind::Range { column, bounds } => format!(
            "concat({}, cast({} as varchar), {})",
            literal(&format!("{column} = ")),
            ident(column),
            literal(&format!(" breaks {}", bounds.describe(column)))
        ),
        RuleKind::Relationship { column, to, field } => format!(
            "concat({}, cast({} as varchar), {})",
            literal(&format!("{column} = ")),
            ident(column),
            literal(&format!(" is not a {field} of {to}"))
        ),
        RuleKind::Expression { sql } => literal(&format!("not true: {sql}")),
        RuleKind::Unique { columns } => {
            let mut parts = vec![literal(&format!("{} = ", columns.join(", ")))];
            for (i, column) in columns.iter().enumerate() {
                if i > 0 {
                    parts.push(literal(", "));
                }
                parts.push(format!(
                    "coalesce(cast({} as varchar), 'null')",
                    ident(column)
                ));
            }
            parts.push(literal(" comes more than once in batch "));
            parts.push("coalesce(cast(_batch_id as varchar), 'null')".to_string());
            parts.push(literal(" with different payloads"));
            format!("concat({})", parts.join(", "))
        }
        RuleKind::Check { .. } => literal(&format!("check {} failed", rule.name)),
    }
}

/// Models: rows whose key is not unique. Sources: rows of one batch (`_batch_id`)
/// that share the key but not the payload; exact redeliveries pass.
fn unique_sql(table: &str, subject: Subject, key: &[String], columns: &[String]) -> String {
    let mut group: Vec<String> = key.iter().map(|c| ident(c)).collect();
    let having = match subject {
        Subject::Model => "count(*) > 1".to_string(),
        Subject::Source => {
            if !key.iter().any(|k| k == "_batch_id") {
                group.push(ident("_batch_id"));
            }
            let payload: Vec<String> = columns
                .iter()
                .filter(|c| !REDELIVERY_COLUMNS.contains(&c.as_str()) && !c.starts_with("__"))
                .map(|c| format!("coalesce(cast({} as varchar), '\\N')", ident(c)))
                .collect();
            format!("count(distinct concat_ws('|', {})) > 1", payload.join(", "))
        }
    };
    let on: Vec<String> = group
        .iter()
        .map(|c| format!("(t.{c} is not distinct from d.{c})"))
        .collect();
    format!(
        "select t.* from {table} as t inner join \
         (select {g} from {table} group by {g} having {having}) as d on {on}",
        g = group.join(", "),
        on = on.join(" and ")
    )
}

/// The table a relationship points to: `raw.<table>` for a source, else the model.
fn target(to: &str) -> String {
    match sources::find(to) {
        Some(table) => format!("{SOURCE_SCHEMA}.{}", table.name),
        None => ident(to),
    }
}

/// Renders a `check` query: `{{ this }}` is the table checked, `{{ ref('m') }}` a
/// model, `{{ source('raw', 't') }}` a raw table.
fn render_check(sql: &str, table: &str) -> std::result::Result<String, String> {
    let mut env = Environment::new();
    env.add_function("ref", |name: String| Value::from_safe_string(ident(&name)));
    env.add_function("source", |_schema: String, name: String| {
        Value::from_safe_string(format!("{SOURCE_SCHEMA}.{}", ident(&name)))
    });
    env.render_str(
        sql,
        context! { this => Value::from_safe_string(table.to_string()) },
    )
    .map_err(|e| format!("cannot render its SQL: {e}"))
}

/// A quoted SQL identifier.
pub(crate) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A quoted SQL string literal.
pub(crate) fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}
