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

/// Answers of up to this many rows keep their rows' text, so a mismatch can show
/// the first differing row; larger ones keep a 64-bit hash per row only (a mart of
/// 45 million rows would otherwise hold gigabytes of text per engine).
pub const KEEP_ROWS: usize = 200_000;

/// A normalised answer: a hash per row and, for small answers, the rows' text, in
/// the order compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// One hash per row.
    hashes: Vec<u64>,
    /// The rows as tab-separated normalised values, while there are few enough.
    rows: Option<Vec<String>>,
}

/// Builds an [`Answer`] batch by batch, so the batches can be dropped as it goes.
pub struct AnswerBuilder {
    ordered: bool,
    hashes: Vec<u64>,
    rows: Option<Vec<String>>,
}

impl AnswerBuilder {
    /// An empty answer; rows are sorted at the end unless `ordered`.
    pub fn new(ordered: bool) -> AnswerBuilder {
        AnswerBuilder {
            ordered,
            hashes: Vec::new(),
            rows: Some(Vec::new()),
        }
    }

    /// Adds the rows of `batches`.
    pub fn add(&mut self, batches: &[RecordBatch]) -> Result<()> {
        for batch in batches {
            let columns: Vec<Vec<String>> = batch
                .columns()
                .iter()
                .map(normalise)
                .collect::<Result<_>>()?;
            for row in 0..batch.num_rows() {
                let cells: Vec<&str> = columns.iter().map(|c| c[row].as_str()).collect();
                let text = cells.join("\t");
                self.hashes.push(fnv(&text));
                if let Some(rows) = &mut self.rows {
                    if rows.len() < KEEP_ROWS {
                        rows.push(text);
                    } else {
                        self.rows = None;
                    }
                }
            }
        }
        Ok(())
    }

    /// The answer, sorted unless ordered.
    pub fn finish(mut self) -> Answer {
        if !self.ordered {
            match &mut self.rows {
                Some(rows) => {
                    rows.sort_unstable();
                    self.hashes = rows.iter().map(|r| fnv(r)).collect();
                }
                None => self.hashes.sort_unstable(),
            }
        }
        Answer {
            hashes: self.hashes,
            rows: self.rows,
        }
    }
}

impl Answer {
    /// Normalises `batches`; rows are sorted unless `ordered`.
    pub fn of(batches: &[RecordBatch], ordered: bool) -> Result<Answer> {
        let mut builder = AnswerBuilder::new(ordered);
        builder.add(batches)?;
        Ok(builder.finish())
    }

    /// How many rows.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Whether there is no row.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// A stable hash of the whole answer (FNV-1a over the row hashes, hex).
    pub fn hash(&self) -> String {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for row in &self.hashes {
            for byte in row.to_le_bytes() {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        }
        format!("{hash:016x}")
    }

    /// The first place `other` differs from this answer, in words.
    pub fn first_difference(&self, other: &Answer, mine: &str, theirs: &str) -> Option<String> {
        if self.hashes == other.hashes {
            return None;
        }
        let at = self
            .hashes
            .iter()
            .zip(&other.hashes)
            .position(|(a, b)| a != b)
            .unwrap_or(self.len().min(other.len()));
        let (Some(my_rows), Some(their_rows)) = (&self.rows, &other.rows) else {
            return Some(format!(
                "row {} of {} ({mine}) / {} ({theirs}) differs; answers over {KEEP_ROWS} rows \
                 keep row hashes only, so the row is not shown",
                at + 1,
                self.len(),
                other.len()
            ));
        };
        let row = |rows: &Vec<String>| rows.get(at).cloned().unwrap_or_else(|| "(no row)".into());
        Some(format!(
            "row {} of {} ({mine}) / {} ({theirs}): {mine} [{}] vs {theirs} [{}]",
            at + 1,
            self.len(),
            other.len(),
            row(my_rows),
            row(their_rows)
        ))
    }
}

/// FNV-1a of a row's text: stable across builds, unlike std's hasher.
fn fnv(text: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
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
