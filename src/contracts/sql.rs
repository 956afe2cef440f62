//! Each rule as SQL: a query selecting the rows that break it, and (for sources) the
//! reason written next to a quarantined row.

use minijinja::{Environment, Value, context};

use super::key_hash::KEY_HASH;
use super::{Rule, RuleKind, Subject};
use crate::sources::SOURCE_SCHEMA;

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
    if let Some(condition) = row_condition(rule) {
        return Ok(format!("select * from {table} where {condition}"));
    }
    Ok(match &rule.kind {
        RuleKind::Relationship {
            column,
            to,
            field,
            to_source,
        } => {
            let c = ident(column);
            format!(
                "select * from {table} where {c} is not null and {c} not in \
                 (select {f} from {target} where {f} is not null)",
                f = ident(field),
                target = if *to_source {
                    format!("{SOURCE_SCHEMA}.{}", ident(to))
                } else {
                    ident(to)
                }
            )
        }
        RuleKind::Unique { columns: key } => unique_sql(table, subject, key, columns),
        RuleKind::Check { sql } => render_check(sql, table)?,
        RuleKind::NotNull { .. }
        | RuleKind::AcceptedValues { .. }
        | RuleKind::Range { .. }
        | RuleKind::Expression { .. } => return Err("a row rule without a condition".into()),
    })
}

/// For a rule that judges each row by itself (not null, accepted values, range,
/// expression), the condition a breaking row meets; `None` for the others.
pub fn row_condition(rule: &Rule) -> Option<String> {
    Some(match &rule.kind {
        RuleKind::NotNull { column } => format!("{} is null", ident(column)),
        RuleKind::AcceptedValues { column, values } => {
            let list: Vec<String> = values.iter().map(|v| literal(v)).collect();
            format!(
                "({c} is not null and {c} not in ({}))",
                list.join(", "),
                c = ident(column)
            )
        }
        RuleKind::Range { column, bounds } => {
            let c = ident(column);
            format!("({c} is not null and not ({}))", bounds.describe(&c))
        }
        RuleKind::Expression { sql } => format!("(not ({sql}))"),
        RuleKind::Unique { .. } | RuleKind::Relationship { .. } | RuleKind::Check { .. } => {
            return None;
        }
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
        RuleKind::Relationship {
            column, to, field, ..
        } => format!(
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
    if subject == Subject::Source && !key.iter().any(|k| k == "_batch_id") {
        group.push(ident("_batch_id"));
    }
    let g = group.join(", ");
    let on = |left: &str, right: &str| -> String {
        group
            .iter()
            .map(|c| format!("({left}.{c} is not distinct from {right}.{c})"))
            .collect::<Vec<_>>()
            .join(" and ")
    };
    // The rows whose key may come more than once: those whose key hash does (one
    // number per row to group by); the exact test then runs on those few rows.
    // Each join names its small side first: DataFusion builds its hash table on the
    // left input unless statistics tell it to swap, and a spilled result has none.
    let repeated = format!(
        "(select t.* from \
         (select h from (select {KEY_HASH}({g}) as h from {table}) as hashed \
          group by h having count(*) > 1) as r \
         inner join (select *, {KEY_HASH}({g}) as __key_hash from {table}) as t \
         on r.h = t.__key_hash)"
    );
    match subject {
        Subject::Model => format!(
            "select c.* from \
             (select {g} from {repeated} as k group by {g} having count(*) > 1) as d \
             inner join {repeated} as c on {}",
            on("c", "d")
        ),
        Subject::Source => {
            // Among those, a key's payloads differ when some column's min and max
            // differ, or it is null in some rows only.
            let differs: Vec<String> = columns
                .iter()
                .filter(|c| !REDELIVERY_COLUMNS.contains(&c.as_str()) && !c.starts_with("__"))
                .filter(|c| !key.contains(c))
                .map(|c| {
                    let c = ident(c);
                    format!(
                        "(min({c}) is distinct from max({c})) \
                         or (count({c}) > 0 and count({c}) < count(*))"
                    )
                })
                .collect();
            let differs = if differs.is_empty() {
                "false".to_string()
            } else {
                differs.join(" or ")
            };
            format!(
                "select c.* from \
                 (select {g} from {repeated} as k group by {g} having {differs}) as d \
                 inner join {repeated} as c on {}",
                on("c", "d")
            )
        }
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
