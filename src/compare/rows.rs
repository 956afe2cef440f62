//! Two states of one table compared row by row on a key: rows only in one side,
//! rows whose other columns differ (floats within [`FLOAT_TOLERANCE`]), per column
//! how many rows changed and by how much, and a few examples.
//!
//! Over 700 lines with its unit tests (the code is about 640): one comparison
//! query and the reading of its answer, which no other module uses.

use std::collections::BTreeMap;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Int64Type, Schema};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::SessionContext;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Two floats are equal when `|a − b| ≤ FLOAT_TOLERANCE × max(1, |a|, |b|)`:
/// relative for large values, absolute below 1. Sums computed in another order
/// (a rebuild against an incremental merge) differ in the last bits only.
pub const FLOAT_TOLERANCE: f64 = 1e-9;

/// The table names the two sides must be registered under in the session.
pub const FROM_TABLE: &str = "__compare_from";
/// See [`FROM_TABLE`].
pub const TO_TABLE: &str = "__compare_to";

/// How one row differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Only in the `to` side.
    Added,
    /// In both, with other values.
    Changed,
    /// Only in the `from` side.
    Removed,
}

/// What changed in one column, over the rows present on both sides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnChange {
    /// The column.
    pub column: String,
    /// Rows present on both sides whose value differs.
    pub rows_changed: u64,
    /// Numeric columns (not identifiers): Σ (to − from) over those rows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sum_of_change: Option<f64>,
    /// Numeric columns: the column's total in `to` less its total in `from`
    /// (added and removed rows included).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub net_change: Option<f64>,
}

/// One differing row, as printed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Example {
    /// Added, removed or changed.
    pub kind: Kind,
    /// The key columns and their values.
    pub key: BTreeMap<String, String>,
    /// Changed rows: per differing column, its value before and after. Added and
    /// removed rows: every other column, with the value on the side that has it.
    pub columns: Vec<ExampleColumn>,
}

/// One column of an example row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExampleColumn {
    /// The column.
    pub column: String,
    /// Its value in `from` (`None`: the row is not there).
    pub from: Option<String>,
    /// Its value in `to`.
    pub to: Option<String>,
}

/// The comparison of two states of a table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The columns rows were matched on.
    pub key: Vec<String>,
    /// Whether each key value names one row on each side; when not, rows with the
    /// same key are paired in the order of all their columns.
    pub key_unique: bool,
    /// Rows in `from`.
    pub rows_from: u64,
    /// Rows in `to`.
    pub rows_to: u64,
    /// Rows only in `to`.
    pub added: u64,
    /// Rows only in `from`.
    pub removed: u64,
    /// Rows in both whose other columns differ.
    pub changed: u64,
    /// Per compared column (every column but the key that both sides have).
    pub columns: Vec<ColumnChange>,
    /// Columns only `from` has.
    pub columns_removed: Vec<String>,
    /// Columns only `to` has.
    pub columns_added: Vec<String>,
    /// Up to the asked number of examples of each kind.
    pub examples: Vec<Example>,
}

impl Comparison {
    /// No row added, removed or changed, and the same columns.
    pub fn is_equal(&self) -> bool {
        self.added == 0
            && self.removed == 0
            && self.changed == 0
            && self.columns_removed.is_empty()
            && self.columns_added.is_empty()
    }
}

/// How sure the caller is that the key names one row per side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyTrust {
    /// The model's own key (its contract's grain, its `unique_key`): joined on at
    /// once; a join that meets a row twice is done again with rows paired in order.
    Model,
    /// A key given by hand, which may name many rows each (joining on it could
    /// multiply the rows): checked for duplicates first.
    Given,
}

/// Compares the tables registered in `ctx` as [`FROM_TABLE`] and [`TO_TABLE`],
/// matching rows on `key`, with up to `examples` example rows of each kind.
/// `label` names what is compared in errors (a model).
pub async fn compare(
    ctx: &SessionContext,
    label: &str,
    key: &[String],
    trust: KeyTrust,
    examples: usize,
) -> Result<Comparison> {
    let fail = |problem: String| Error::Compare(format!("{label}: {problem}"));
    let from = ctx.table(FROM_TABLE).await?.schema().as_arrow().clone();
    let to = ctx.table(TO_TABLE).await?.schema().as_arrow().clone();
    for column in key {
        for (side, schema) in [("from", &from), ("to", &to)] {
            if schema.field_with_name(column).is_err() {
                return Err(fail(format!(
                    "key column `{column}` is not in the {side} side (its columns: {})",
                    names(schema).join(", ")
                )));
            }
        }
    }
    let common: Vec<&arrow::datatypes::Field> = to
        .fields()
        .iter()
        .map(|f| f.as_ref())
        .filter(|f| from.field_with_name(f.name()).is_ok())
        .collect();
    let values: Vec<&arrow::datatypes::Field> = common
        .iter()
        .copied()
        .filter(|f| !key.contains(f.name()))
        .collect();
    let columns_removed: Vec<String> = names(&from)
        .into_iter()
        .filter(|n| to.field_with_name(n).is_err())
        .collect();
    let columns_added: Vec<String> = names(&to)
        .into_iter()
        .filter(|n| from.field_with_name(n).is_err())
        .collect();

    let rows_from = row_count(ctx, FROM_TABLE).await?;
    let rows_to = row_count(ctx, TO_TABLE).await?;
    let all: Vec<String> = common.iter().map(|f| quote(f.name())).collect();
    // One join, as if the key named one row on each side. A row met more than
    // once in it says the key does not: then again, rows sharing a key paired in
    // the order of their columns. (A check for duplicates first would cost two
    // more passes over every table.)
    let checked = match trust {
        KeyTrust::Model => None,
        KeyTrust::Given => {
            Some(is_unique(ctx, FROM_TABLE, key).await? && is_unique(ctx, TO_TABLE, key).await?)
        }
    };
    // No key at all: rows paired in the order of their columns (never every row
    // with every row).
    let checked = if key.is_empty() { Some(false) } else { checked };
    // A large table is compared in parts (by a hash of its key), so that the
    // join's hash table holds a part of it at a time.
    let parts = if key.is_empty() {
        1
    } else {
        rows_from.max(rows_to) / ROWS_PER_PART + 1
    };
    if parts > 1 {
        crate::contracts::register_key_hash(ctx);
    }
    let mut found = in_parts(
        ctx,
        key,
        &values,
        &all,
        checked == Some(false),
        parts,
        examples,
    )
    .await?;
    let key_unique =
        checked.unwrap_or(found.0.from_rows == rows_from && found.0.to_rows == rows_to);
    if checked.is_none() && !key_unique {
        found = in_parts(ctx, key, &values, &all, true, parts, examples).await?;
    }
    let (
        Totals {
            differing,
            added,
            removed,
            columns,
            ..
        },
        examples,
    ) = found;
    ctx.deregister_table(DIFF_VIEW)?;

    Ok(Comparison {
        key: key.to_vec(),
        key_unique,
        rows_from,
        rows_to,
        added,
        removed,
        changed: differing - added - removed,
        columns,
        columns_removed,
        columns_added,
        examples,
    })
}

/// The view of the join of the two sides, row by row, that the summary and the
/// examples read.
const DIFF_VIEW: &str = "__compare_diff";

/// What one pass over the join counted.
struct Totals {
    /// Rows of the join that hold a `from` row (its rows, once each when the key
    /// is unique).
    from_rows: u64,
    /// Rows of the join that hold a `to` row.
    to_rows: u64,
    /// Rows added, removed or changed.
    differing: u64,
    added: u64,
    removed: u64,
    columns: Vec<ColumnChange>,
}

/// Rows of the larger side above which it is compared in parts.
const ROWS_PER_PART: u64 = 8_000_000;

/// [`joined`] over each of `parts` parts of the rows (by their key's hash), with
/// up to `examples` example rows of each kind, summed up.
async fn in_parts(
    ctx: &SessionContext,
    key: &[String],
    values: &[&arrow::datatypes::Field],
    all: &[String],
    in_order: bool,
    parts: u64,
    examples: usize,
) -> Result<(Totals, Vec<Example>)> {
    let mut sum = Totals {
        from_rows: 0,
        to_rows: 0,
        differing: 0,
        added: 0,
        removed: 0,
        columns: Vec::new(),
    };
    let mut shown: Vec<Example> = Vec::new();
    for part in 0..parts {
        let filter = (parts > 1).then(|| {
            let key: Vec<String> = key.iter().map(|k| quote(k)).collect();
            format!(
                " where {}({}) % {parts} = {part}",
                crate::contracts::KEY_HASH,
                key.join(", ")
            )
        });
        let totals = joined(
            ctx,
            key,
            values,
            all,
            in_order,
            filter.as_deref().unwrap_or(""),
        )
        .await?;
        if totals.differing > 0 && examples > 0 {
            for example in example_query(ctx, key, values, examples).await? {
                let of_kind = shown.iter().filter(|e| e.kind == example.kind).count();
                if of_kind < examples {
                    shown.push(example);
                }
            }
        }
        sum.from_rows += totals.from_rows;
        sum.to_rows += totals.to_rows;
        sum.differing += totals.differing;
        sum.added += totals.added;
        sum.removed += totals.removed;
        if sum.columns.is_empty() {
            sum.columns = totals.columns;
        } else {
            for (total, part) in sum.columns.iter_mut().zip(totals.columns) {
                total.rows_changed += part.rows_changed;
                total.sum_of_change = total
                    .sum_of_change
                    .zip(part.sum_of_change)
                    .map(|(a, b)| a + b);
                total.net_change = total.net_change.zip(part.net_change).map(|(a, b)| a + b);
            }
        }
    }
    shown.sort_by_key(|e| e.kind as u8);
    Ok((sum, shown))
}

/// Up to `examples` rows of each kind of [`DIFF_VIEW`]'s differing rows.
async fn example_query(
    ctx: &SessionContext,
    key: &[String],
    values: &[&arrow::datatypes::Field],
    examples: usize,
) -> Result<Vec<Example>> {
    let order = if key.is_empty() {
        "__kind".to_string()
    } else {
        key.iter().map(|k| quote(k)).collect::<Vec<_>>().join(", ")
    };
    let batches = ctx
        .sql(&format!(
            "select * from (select *, row_number() over (partition by __kind order by {order}) \
             as __example from {DIFF_VIEW} where __differs) where __example <= {examples} \
             order by __kind, {order}"
        ))
        .await?
        .collect()
        .await?;
    example_rows(&batches, key, values)
}

/// Joins the two sides on `key` (and, with `in_order`, on each row's rank among
/// the rows sharing its key), registers the join as [`DIFF_VIEW`] and counts what
/// differs, per column too.
async fn joined(
    ctx: &SessionContext,
    key: &[String],
    values: &[&arrow::datatypes::Field],
    all: &[String],
    in_order: bool,
    filter: &str,
) -> Result<Totals> {
    let mut join_key: Vec<String> = key.iter().map(|k| quote(k)).collect();
    let common_list = all.join(", ");
    let side = |table: &str| {
        if in_order {
            let partition = if key.is_empty() {
                String::new()
            } else {
                format!("partition by {} ", join_key.join(", "))
            };
            format!(
                "(select {common_list}, 1 as __side, \
                 row_number() over ({partition}order by {common_list}) as __n from {table}{filter})"
            )
        } else {
            format!("(select {common_list}, 1 as __side from {table}{filter})")
        }
    };
    let (from_side, to_side) = (side(FROM_TABLE), side(TO_TABLE));
    if in_order {
        join_key.push("__n".to_string());
    }
    let on = if join_key.is_empty() {
        "true".to_string()
    } else {
        join_key
            .iter()
            .map(|k| format!("(f.{k} is not distinct from t.{k})"))
            .collect::<Vec<_>>()
            .join(" and ")
    };
    let differs: Vec<String> = values
        .iter()
        .map(|f| {
            let c = quote(f.name());
            if is_float(f.data_type()) {
                format!(
                    "(not coalesce((f.{c} is not distinct from t.{c}) or (abs(f.{c} - t.{c}) <= \
                     {FLOAT_TOLERANCE:e} * greatest(abs(f.{c}), abs(t.{c}), 1.0)), false))"
                )
            } else {
                format!("(f.{c} is distinct from t.{c})")
            }
        })
        .collect();
    let mut select = Vec::new();
    for k in key {
        let k = quote(k);
        select.push(format!("coalesce(t.{k}, f.{k}) as {k}"));
    }
    select.push(
        "case when f.__side is null then 'added' when t.__side is null then 'removed' \
         else 'changed' end as __kind"
            .to_string(),
    );
    select.push("f.__side is not null as __in_from".to_string());
    select.push("t.__side is not null as __in_to".to_string());
    let any_differs = if differs.is_empty() {
        "false".to_string()
    } else {
        differs.join(" or ")
    };
    select.push(format!(
        "(f.__side is null or t.__side is null or {any_differs}) as __differs"
    ));
    for (i, (field, test)) in values.iter().zip(&differs).enumerate() {
        let c = quote(field.name());
        select.push(format!(
            "(f.__side is not null and t.__side is not null and {test}) as __d{i}"
        ));
        select.push(format!("f.{c} as __f{i}"));
        select.push(format!("t.{c} as __t{i}"));
    }
    let sql = format!(
        "select {} from {from_side} f full outer join {to_side} t on {on}",
        select.join(", ")
    );
    let diff = ctx.sql(&sql).await?;
    ctx.deregister_table(DIFF_VIEW)?;
    ctx.register_table(DIFF_VIEW, diff.into_view())?;

    // Counting every row of the join is cheap; the per-column figures are summed
    // over the differing rows only (none, usually).
    let counts = sum_row(
        ctx,
        &format!(
            "select sum(case when __in_from then 1 else 0 end) as from_rows, \
             sum(case when __in_to then 1 else 0 end) as to_rows, \
             sum(case when __differs then 1 else 0 end) as differing, \
             sum(case when __kind = 'added' then 1 else 0 end) as added, \
             sum(case when __kind = 'removed' then 1 else 0 end) as removed \
             from {DIFF_VIEW}"
        ),
    )
    .await?;
    let count = |row: &BTreeMap<String, Option<f64>>, name: &str| {
        row.get(name).copied().flatten().unwrap_or(0.0) as u64
    };
    let differing = count(&counts, "differing");
    let mut per_column = BTreeMap::new();
    if differing > 0 && !values.is_empty() {
        let mut sums = Vec::new();
        for (i, field) in values.iter().enumerate() {
            sums.push(format!("sum(case when __d{i} then 1 else 0 end) as c{i}"));
            if is_measure(field) {
                sums.push(format!(
                    "sum(case when __d{i} then cast(__t{i} as double) - cast(__f{i} as double) end) as s{i}"
                ));
                sums.push(format!(
                    "coalesce(sum(cast(__t{i} as double)), 0) - coalesce(sum(cast(__f{i} as double)), 0) as n{i}"
                ));
            }
        }
        per_column = sum_row(
            ctx,
            &format!(
                "select {} from {DIFF_VIEW} where __differs",
                sums.join(", ")
            ),
        )
        .await?;
    }
    let read = |name: &str| per_column.get(name).copied().flatten().unwrap_or(0.0);
    let columns = values
        .iter()
        .enumerate()
        .map(|(i, field)| {
            let numeric = is_measure(field);
            ColumnChange {
                column: field.name().clone(),
                rows_changed: read(&format!("c{i}")) as u64,
                sum_of_change: numeric.then(|| read(&format!("s{i}"))),
                net_change: numeric.then(|| read(&format!("n{i}"))),
            }
        })
        .collect();
    Ok(Totals {
        from_rows: count(&counts, "from_rows"),
        to_rows: count(&counts, "to_rows"),
        differing,
        added: count(&counts, "added"),
        removed: count(&counts, "removed"),
        columns,
    })
}

/// The one row of an aggregate query, each column as a float (`None` for null).
async fn sum_row(ctx: &SessionContext, sql: &str) -> Result<BTreeMap<String, Option<f64>>> {
    let batches = ctx.sql(sql).await?.collect().await?;
    let mut row = BTreeMap::new();
    let Some(batch) = batches.iter().find(|b| b.num_rows() > 0) else {
        return Ok(row);
    };
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        let value = if column.is_null(0) {
            None
        } else {
            let floats = arrow::compute::cast(column, &DataType::Float64)?;
            Some(
                floats
                    .as_primitive::<arrow::datatypes::Float64Type>()
                    .value(0),
            )
        };
        row.insert(field.name().clone(), value);
    }
    Ok(row)
}

/// Whether no two rows of `table` share a value of `key`.
async fn is_unique(ctx: &SessionContext, table: &str, key: &[String]) -> Result<bool> {
    let sql = if key.is_empty() {
        format!("select 1 from {table} having count(*) > 1")
    } else {
        let key: Vec<String> = key.iter().map(|k| quote(k)).collect();
        let key = key.join(", ");
        format!("select 1 from {table} group by {key} having count(*) > 1 limit 1")
    };
    let found = ctx.sql(&sql).await?.collect().await?;
    Ok(found.iter().all(|b| b.num_rows() == 0))
}

async fn row_count(ctx: &SessionContext, table: &str) -> Result<u64> {
    let batches = ctx
        .sql(&format!("select count(*) as n from {table}"))
        .await?
        .collect()
        .await?;
    Ok(batches
        .first()
        .and_then(|b| {
            b.column(0)
                .as_primitive_opt::<Int64Type>()
                .map(|c| c.value(0))
        })
        .unwrap_or(0)
        .max(0) as u64)
}

/// The example rows of the diff, formatted.
fn example_rows(
    batches: &[RecordBatch],
    key: &[String],
    values: &[&arrow::datatypes::Field],
) -> Result<Vec<Example>> {
    let options = FormatOptions::default().with_null("null");
    let mut examples = Vec::new();
    for batch in batches {
        let text = |name: &str, row: usize| -> Result<Option<String>> {
            let Some(column) = batch.column_by_name(name) else {
                return Ok(None);
            };
            let formatter = ArrayFormatter::try_new(column.as_ref(), &options)?;
            Ok(Some(formatter.value(row).to_string()))
        };
        let kinds = batch
            .column_by_name("__kind")
            .and_then(|c| c.as_string_opt::<i32>().cloned());
        for row in 0..batch.num_rows() {
            let kind = match kinds.as_ref().map(|k| k.value(row)) {
                Some("added") => Kind::Added,
                Some("removed") => Kind::Removed,
                _ => Kind::Changed,
            };
            let mut key_values = BTreeMap::new();
            for k in key {
                key_values.insert(k.clone(), text(k, row)?.unwrap_or_default());
            }
            let mut columns = Vec::new();
            for (i, field) in values.iter().enumerate() {
                let differs = batch
                    .column_by_name(&format!("__d{i}"))
                    .and_then(|c| c.as_boolean_opt().map(|b| b.is_valid(row) && b.value(row)))
                    .unwrap_or(false);
                if kind == Kind::Changed && !differs {
                    continue;
                }
                let from = (kind != Kind::Added)
                    .then(|| text(&format!("__f{i}"), row))
                    .transpose()?
                    .flatten();
                let to = (kind != Kind::Removed)
                    .then(|| text(&format!("__t{i}"), row))
                    .transpose()?
                    .flatten();
                columns.push(ExampleColumn {
                    column: field.name().clone(),
                    from,
                    to,
                });
            }
            examples.push(Example {
                kind,
                key: key_values,
                columns,
            });
        }
    }
    Ok(examples)
}

fn names(schema: &Schema) -> Vec<String> {
    schema.fields().iter().map(|f| f.name().clone()).collect()
}

/// A column name as a SQL identifier.
pub fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn is_float(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Float16 | DataType::Float32 | DataType::Float64
    )
}

/// A column whose change can be summed: numeric, and not an identifier
/// (`customer_id`: summing ids means nothing).
fn is_measure(field: &arrow::datatypes::Field) -> bool {
    let name = field.name();
    field.data_type().is_numeric() && name != "id" && !name.ends_with("_id")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Float64Array, Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};
    use datafusion::datasource::MemTable;

    use super::*;

    fn table(ids: Vec<Option<i64>>, names: Vec<&str>, values: Vec<f64>) -> Arc<MemTable> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, false),
            Field::new("value", DataType::Float64, false),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int64Array::from(ids)),
                Arc::new(StringArray::from(names)),
                Arc::new(Float64Array::from(values)),
            ],
        )
        .expect("batch");
        Arc::new(MemTable::try_new(schema, vec![vec![batch]]).expect("table"))
    }

    async fn compared(from: Arc<MemTable>, to: Arc<MemTable>, key: &[&str]) -> Comparison {
        let ctx = SessionContext::new();
        ctx.register_table(FROM_TABLE, from).expect("from");
        ctx.register_table(TO_TABLE, to).expect("to");
        let key: Vec<String> = key.iter().map(|k| k.to_string()).collect();
        compare(&ctx, "t", &key, KeyTrust::Model, 10)
            .await
            .expect("compared")
    }

    #[tokio::test]
    async fn floats_within_the_tolerance_and_null_keys_match() {
        // A null key matches a null key; 1e6 and 1e6 + 1e-4 are equal (relative
        // 1e-10), 0.1 + 0.2 and 0.3 are equal (absolute below 1).
        let from = table(
            vec![None, Some(1), Some(2)],
            vec!["a", "b", "c"],
            vec![1e6, 0.1 + 0.2, 5.0],
        );
        let to = table(
            vec![None, Some(1), Some(2)],
            vec!["a", "b", "c"],
            vec![1e6 + 1e-4, 0.3, 5.0],
        );
        let c = compared(from, to, &["id"]).await;
        assert!(c.is_equal(), "{c:?}");
        assert!(c.key_unique);
    }

    #[tokio::test]
    async fn added_removed_and_changed_rows_are_counted_with_their_change() {
        let from = table(
            vec![Some(1), Some(2), Some(3)],
            vec!["a", "b", "c"],
            vec![1.0, 2.0, 3.0],
        );
        let to = table(
            vec![Some(1), Some(2), Some(4)],
            vec!["a", "B", "d"],
            vec![1.5, 2.0, 10.0],
        );
        let c = compared(from, to, &["id"]).await;
        assert_eq!((c.added, c.removed, c.changed), (1, 1, 2));
        let value = c
            .columns
            .iter()
            .find(|col| col.column == "value")
            .expect("value");
        assert_eq!(value.rows_changed, 1);
        assert_eq!(value.sum_of_change, Some(0.5));
        // 1.5 + 2 + 10 − (1 + 2 + 3)
        assert_eq!(value.net_change, Some(7.5));
        let name = c
            .columns
            .iter()
            .find(|col| col.column == "name")
            .expect("name");
        assert_eq!((name.rows_changed, name.sum_of_change), (1, None));
        let kinds: Vec<Kind> = c.examples.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [Kind::Added, Kind::Changed, Kind::Changed, Kind::Removed]
        );
        let second = &c.examples[2];
        assert_eq!(second.key["id"], "2");
        assert_eq!(second.columns.len(), 1);
        assert_eq!(
            (
                second.columns[0].from.as_deref(),
                second.columns[0].to.as_deref()
            ),
            (Some("b"), Some("B"))
        );
    }

    #[tokio::test]
    async fn a_key_that_is_not_unique_pairs_rows_in_order() {
        let from = table(vec![Some(1), Some(1)], vec!["a", "b"], vec![1.0, 2.0]);
        let to = table(
            vec![Some(1), Some(1), Some(1)],
            vec!["a", "b", "c"],
            vec![1.0, 2.0, 3.0],
        );
        let c = compared(Arc::clone(&from), Arc::clone(&to), &["id"]).await;
        assert!(!c.key_unique);
        assert_eq!((c.added, c.removed, c.changed), (1, 0, 0));
        // A key given by hand is checked before the join: the same answer.
        let ctx = SessionContext::new();
        ctx.register_table(FROM_TABLE, from).expect("from");
        ctx.register_table(TO_TABLE, to).expect("to");
        let c = compare(&ctx, "t", &["id".to_string()], KeyTrust::Given, 10)
            .await
            .expect("compared");
        assert!(!c.key_unique);
        assert_eq!((c.added, c.removed, c.changed), (1, 0, 0));
    }

    #[tokio::test]
    async fn a_table_compared_in_parts_gives_the_same_answer() {
        let from = table(
            vec![Some(1), Some(2), Some(3), Some(5)],
            vec!["a", "b", "c", "e"],
            vec![1.0, 2.0, 3.0, 5.0],
        );
        let to = table(
            vec![Some(1), Some(2), Some(4), Some(5)],
            vec!["a", "B", "d", "e"],
            vec![1.5, 2.0, 10.0, 5.0],
        );
        let ctx = SessionContext::new();
        ctx.register_table(FROM_TABLE, from).expect("from");
        ctx.register_table(TO_TABLE, to).expect("to");
        crate::contracts::register_key_hash(&ctx);
        let schema = ctx
            .table(TO_TABLE)
            .await
            .expect("to")
            .schema()
            .as_arrow()
            .clone();
        let values: Vec<&arrow::datatypes::Field> =
            schema.fields().iter().skip(1).map(|f| f.as_ref()).collect();
        let all: Vec<String> = ["id", "name", "value"].iter().map(|c| quote(c)).collect();
        let key = vec!["id".to_string()];
        let (whole, whole_examples) = in_parts(&ctx, &key, &values, &all, false, 1, 10)
            .await
            .expect("whole");
        let (parts, part_examples) = in_parts(&ctx, &key, &values, &all, false, 3, 10)
            .await
            .expect("parts");
        assert_eq!((parts.from_rows, parts.to_rows), (4, 4));
        assert_eq!(
            (parts.differing, parts.added, parts.removed),
            (whole.differing, whole.added, whole.removed)
        );
        assert_eq!(parts.columns, whole.columns);
        let kinds = |e: &[Example]| {
            let mut k: Vec<(Kind, String)> =
                e.iter().map(|x| (x.kind, x.key["id"].clone())).collect();
            k.sort_by(|a, b| (a.0 as u8, &a.1).cmp(&(b.0 as u8, &b.1)));
            k
        };
        assert_eq!(kinds(&part_examples), kinds(&whole_examples));
    }
}
