//! Judging landed rows against a source contract: for each row, the first `error`
//! rule it breaks (in the contract's order) and why, and the `warn` rules broken.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, UInt64Type};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use crate::contracts::{Contract, Severity, failing_rows_sql, reason_sql, register_key_hash};
use crate::error::{Error, Result};

/// The row number column added while rows are judged.
const ROW: &str = "__row";
/// The table name the judged rows are registered under.
const CHECKED: &str = "__checked_rows";

/// What the rules said about a set of rows.
#[derive(Debug, Default)]
pub struct Verdicts {
    /// Per row breaking an `error` rule: that rule and the reason.
    pub rejected: BTreeMap<usize, (String, String)>,
    /// Per `warn` rule, the rows breaking it (they are loaded).
    pub warned: BTreeMap<String, BTreeSet<usize>>,
    /// Rows skipped because an identical copy is loaded: by the file named, or
    /// (`None`) by an earlier row of their own file.
    pub redelivered: BTreeMap<usize, Option<String>>,
}

impl Verdicts {
    /// The verdicts of rows `range`, numbered from 0 (one file of a judged chunk).
    pub fn slice(&self, range: std::ops::Range<usize>) -> Verdicts {
        let start = range.start;
        Verdicts {
            rejected: self
                .rejected
                .range(range.clone())
                .map(|(row, verdict)| (row - start, verdict.clone()))
                .collect(),
            warned: self
                .warned
                .iter()
                .map(|(rule, rows)| {
                    let rows = rows.range(range.clone()).map(|row| row - start).collect();
                    (rule.clone(), rows)
                })
                .collect(),
            redelivered: self
                .redelivered
                .range(range.clone())
                .map(|(row, origin)| (row - start, origin.clone()))
                .collect(),
        }
    }

    /// These verdicts, judged over a selection of rows, renumbered to the rows
    /// they were selected from (`original[i]` is the number of selected row `i`).
    pub fn renumbered(self, original: &[usize]) -> Verdicts {
        let at = |row: usize| original.get(row).copied().unwrap_or(row);
        Verdicts {
            rejected: self
                .rejected
                .into_iter()
                .map(|(row, verdict)| (at(row), verdict))
                .collect(),
            warned: self
                .warned
                .into_iter()
                .map(|(rule, rows)| (rule, rows.into_iter().map(at).collect()))
                .collect(),
            redelivered: self
                .redelivered
                .into_iter()
                .map(|(row, origin)| (at(row), origin))
                .collect(),
        }
    }
}

/// Runs every row rule of `contract` over `rows` (the table's schema). `ctx` holds
/// `raw.<table>` for the tables relationships point to.
pub async fn judge(
    ctx: &SessionContext,
    contract: &Contract,
    rows: &RecordBatch,
) -> Result<Verdicts> {
    let mut verdicts = Verdicts::default();
    if rows.num_rows() == 0 {
        return Ok(verdicts);
    }
    register_key_hash(ctx);
    let numbered = with_row_numbers(rows)?;
    let table = MemTable::try_new(numbered.schema(), vec![vec![numbered]])?;
    ctx.deregister_table(CHECKED)?;
    ctx.register_table(CHECKED, Arc::new(table))?;
    let columns: Vec<String> = contract.columns.iter().map(|c| c.name.clone()).collect();
    let fail = |rule: &str, problem: String| Error::Contract {
        file: contract.file.clone(),
        problem: format!("rule `{rule}` cannot run: {problem}"),
    };
    for rule in contract.row_rules() {
        let started = std::time::Instant::now();
        let failing = failing_rows_sql(rule, CHECKED, contract.subject, &columns)
            .map_err(|p| fail(&rule.name, p))?;
        let sql = format!(
            "select \"{ROW}\", {} as reason from ({failing}) as failing",
            reason_sql(rule)
        );
        let batches = ctx
            .sql(&sql)
            .await
            .map_err(|e| fail(&rule.name, e.to_string()))?
            .collect()
            .await
            .map_err(|e| fail(&rule.name, e.to_string()))?;
        let mut warned = BTreeSet::new();
        for batch in &batches {
            let numbers = batch
                .column(0)
                .as_primitive_opt::<UInt64Type>()
                .ok_or_else(|| fail(&rule.name, "row numbers lost".into()))?;
            let reasons = arrow::compute::cast(batch.column(1), &DataType::Utf8)?;
            let reasons = reasons.as_string::<i32>();
            for i in 0..batch.num_rows() {
                let row = numbers.value(i) as usize;
                match rule.severity {
                    Severity::Error => {
                        let reason = if reasons.is_valid(i) {
                            reasons.value(i).to_string()
                        } else {
                            rule.name.clone()
                        };
                        verdicts
                            .rejected
                            .entry(row)
                            .or_insert_with(|| (rule.name.clone(), reason));
                    }
                    Severity::Warn => {
                        warned.insert(row);
                    }
                }
            }
        }
        if !warned.is_empty() {
            verdicts.warned.insert(rule.name.clone(), warned);
        }
        tracing::debug!(
            "raw.{} rule {}: {:.3}s over {} rows",
            contract.name,
            rule.name,
            started.elapsed().as_secs_f64(),
            rows.num_rows()
        );
    }
    ctx.deregister_table(CHECKED)?;
    Ok(verdicts)
}

fn with_row_numbers(rows: &RecordBatch) -> Result<RecordBatch> {
    let mut fields: Vec<Field> = rows
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new(ROW, DataType::UInt64, false));
    let mut columns = rows.columns().to_vec();
    columns.push(Arc::new(UInt64Array::from_iter_values(
        0..rows.num_rows() as u64,
    )));
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}
