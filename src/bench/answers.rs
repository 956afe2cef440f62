//! Whether two engines gave the same answer. Each result is normalised (integers
//! widened (a scale-0 decimal is an integer), floating and decimal numbers to 6
//! significant digits, times as
//! microseconds since the epoch, column names ignored), its rows sorted unless the
//! query orders them, and hashed; a mismatch keeps the first differing row.

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, TimeUnit};
use arrow::record_batch::RecordBatch;

use crate::error::Result;

/// The significant digits numbers are compared to: engines sum in different
/// orders and round decimal averages differently, but agree to this precision.
pub const SIGNIFICANT_DIGITS: usize = 6;

/// A normalised answer: its rows as text, in the order compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The rows, each as tab-separated normalised values.
    pub rows: Vec<String>,
}

impl Answer {
    /// Normalises `batches`; rows are sorted unless `ordered`.
    pub fn of(batches: &[RecordBatch], ordered: bool) -> Result<Answer> {
        let mut rows = Vec::new();
        for batch in batches {
            let columns: Vec<Vec<String>> = batch
                .columns()
                .iter()
                .map(normalise)
                .collect::<Result<_>>()?;
            for row in 0..batch.num_rows() {
                let cells: Vec<&str> = columns.iter().map(|c| c[row].as_str()).collect();
                rows.push(cells.join("\t"));
            }
        }
        if !ordered {
            rows.sort_unstable();
        }
        Ok(Answer { rows })
    }

    /// A stable hash of the answer (FNV-1a, hex).
    pub fn hash(&self) -> String {
        crate::models::fingerprint(&self.rows.join("\n"))
    }

    /// The first place `other` differs from this answer, in words.
    pub fn first_difference(&self, other: &Answer, mine: &str, theirs: &str) -> Option<String> {
        if self == other {
            return None;
        }
        let at = self
            .rows
            .iter()
            .zip(&other.rows)
            .position(|(a, b)| a != b)
            .unwrap_or(self.rows.len().min(other.rows.len()));
        let row = |answer: &Answer| {
            answer
                .rows
                .get(at)
                .cloned()
                .unwrap_or_else(|| "(no row)".into())
        };
        Some(format!(
            "row {} of {} ({mine}) / {} ({theirs}): {mine} [{}] vs {theirs} [{}]",
            at + 1,
            self.rows.len(),
            other.rows.len(),
            row(self),
            row(other)
        ))
    }
}

/// One column as normalised text values.
fn normalise(column: &ArrayRef) -> Result<Vec<String>> {
    let len = column.len();
    let text = |column: &ArrayRef| -> Result<Vec<String>> {
        let strings = cast(column, &DataType::Utf8)?;
        let strings = strings.as_string::<i32>();
        Ok((0..len)
            .map(|i| {
                if strings.is_null(i) {
                    "∅".to_string()
                } else {
                    strings.value(i).to_string()
                }
            })
            .collect())
    };
    match column.data_type() {
        // DuckDB's HUGEINT sums arrive as DECIMAL(38,0): integers, as the other
        // engine's Int64 sums.
        DataType::Decimal128(_, 0) | DataType::Decimal256(_, 0) => text(column),
        DataType::Float16
        | DataType::Float32
        | DataType::Float64
        | DataType::Decimal32(_, _)
        | DataType::Decimal64(_, _)
        | DataType::Decimal128(_, _)
        | DataType::Decimal256(_, _) => {
            let floats = cast(column, &DataType::Float64)?;
            let floats = floats.as_primitive::<arrow::datatypes::Float64Type>();
            Ok((0..len)
                .map(|i| {
                    if floats.is_null(i) {
                        "∅".to_string()
                    } else {
                        number(floats.value(i))
                    }
                })
                .collect())
        }
        DataType::Timestamp(_, _) => {
            let micros = cast(column, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
            text(&cast(&micros, &DataType::Int64)?)
        }
        data_type if data_type.is_integer() => text(&cast(column, &DataType::Int64)?),
        _ => text(column),
    }
}

/// `value` to [`SIGNIFICANT_DIGITS`] significant digits, the same text for equal
/// rounded values (and 0 for -0).
fn number(value: f64) -> String {
    if value == 0.0 {
        return "0".into();
    }
    if !value.is_finite() {
        return value.to_string();
    }
    format!("{value:.prec$e}", prec = SIGNIFICANT_DIGITS - 1)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Decimal128Array, Float64Array, Int32Array, Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};

    use super::*;

    fn batch(columns: Vec<ArrayRef>) -> RecordBatch {
        let fields: Vec<Field> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| Field::new(format!("c{i}"), c.data_type().clone(), true))
            .collect();
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("batch")
    }

    #[test]
    fn engines_types_and_sums_agree_after_normalising() {
        // DataFusion: Int64 and an exact decimal average; DuckDB: Int32 and a double.
        let datafusion = batch(vec![
            Arc::new(Int64Array::from(vec![2, 1])),
            Arc::new(
                Decimal128Array::from(vec![Some(25_507_134), None])
                    .with_precision_and_scale(19, 6)
                    .expect("decimal"),
            ),
        ]);
        let duckdb = batch(vec![
            Arc::new(Int32Array::from(vec![1, 2])),
            Arc::new(Float64Array::from(vec![None, Some(25.507_134_18)])),
        ]);
        let a = Answer::of(&[datafusion], false).expect("normalised");
        let b = Answer::of(&[duckdb], false).expect("normalised");
        assert_eq!(a, b);
        assert_eq!(a.hash(), b.hash());
    }

    #[test]
    fn a_changed_value_is_shown_with_its_row() {
        let one = batch(vec![Arc::new(StringArray::from(vec!["a", "b"]))]);
        let other = batch(vec![Arc::new(StringArray::from(vec!["a", "c"]))]);
        let a = Answer::of(&[one], true).expect("normalised");
        let b = Answer::of(&[other], true).expect("normalised");
        let difference = a
            .first_difference(&b, "datafusion", "duckdb")
            .expect("differs");
        assert!(difference.starts_with("row 2 of 2"), "{difference}");
        assert!(
            difference.contains("[b]") && difference.contains("[c]"),
            "{difference}"
        );
    }
}
