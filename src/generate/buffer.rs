//! Column buffers that collect one batch of change rows for a raw table and turn
//! them into an Arrow record batch with exactly the schema its source contract declares.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Date32Builder, Decimal128Builder, Int32Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::record_batch::RecordBatch;

use arrow::datatypes::{DataType, TimeUnit};

use crate::error::{Error, Result};
use crate::sources::{SourceTable, UTC};

enum Column {
    Int64(Int64Builder),
    Int32(Int32Builder),
    Utf8(StringBuilder),
    Timestamp(TimestampMicrosecondBuilder),
    Money(Decimal128Builder, u8, i8),
    Date(Date32Builder),
}

impl Column {
    /// A builder for a column of `data_type`, if the generator writes that type.
    fn for_type(data_type: &DataType) -> Option<Column> {
        Some(match data_type {
            DataType::Int64 => Column::Int64(Int64Builder::new()),
            DataType::Int32 => Column::Int32(Int32Builder::new()),
            DataType::Utf8 => Column::Utf8(StringBuilder::new()),
            DataType::Timestamp(TimeUnit::Microsecond, Some(zone)) if zone.as_ref() == UTC => {
                Column::Timestamp(TimestampMicrosecondBuilder::new())
            }
            DataType::Decimal128(precision, scale) => {
                Column::Money(Decimal128Builder::new(), *precision, *scale)
            }
            DataType::Date32 => Column::Date(Date32Builder::new()),
            _ => return None,
        })
    }
}

/// The change rows of one raw table in one batch, appended column by column in
/// the table's column order.
pub struct TableBuffer {
    table: SourceTable,
    columns: Vec<Column>,
    rows: usize,
}

impl TableBuffer {
    /// An empty buffer for `table`; fails on a column type the generator does
    /// not write.
    pub fn new(table: &SourceTable) -> Result<Self> {
        let columns = table
            .columns()
            .map(|(name, data_type)| {
                Column::for_type(data_type).ok_or_else(|| {
                    Error::Generate(format!(
                        "raw.{}: the generator does not write column `{name}` of type {data_type}",
                        table.name
                    ))
                })
            })
            .collect::<Result<_>>()?;
        Ok(TableBuffer {
            table: table.clone(),
            columns,
            rows: 0,
        })
    }

    /// How many rows the buffer holds.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether the buffer holds no row.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Starts a row with its change-log columns; the payload follows through [`Row`].
    pub fn row(&mut self, op: char, seq: i64, batch_id: i64, changed_at: i64) -> Row<'_> {
        self.rows += 1;
        let mut row = Row {
            columns: &mut self.columns,
            next: 0,
        };
        row.utf8(op.encode_utf8(&mut [0; 4]))
            .int64(seq)
            .int64(batch_id)
            .timestamp(changed_at);
        row
    }

    /// Builds the record batch; the buffer is empty afterwards.
    pub fn finish(&mut self) -> Result<RecordBatch> {
        let arrays: Vec<ArrayRef> = self
            .columns
            .iter_mut()
            .map(|column| -> Result<ArrayRef> {
                Ok(match column {
                    Column::Int64(b) => Arc::new(b.finish()),
                    Column::Int32(b) => Arc::new(b.finish()),
                    Column::Utf8(b) => Arc::new(b.finish()),
                    Column::Timestamp(b) => Arc::new(b.finish().with_timezone(UTC)),
                    Column::Money(b, precision, scale) => {
                        Arc::new(b.finish().with_precision_and_scale(*precision, *scale)?)
                    }
                    Column::Date(b) => Arc::new(b.finish()),
                })
            })
            .collect::<Result<_>>()?;
        self.rows = 0;
        Ok(RecordBatch::try_new(self.table.schema(), arrays)?)
    }
}

/// One row being appended; each call fills the next column.
pub struct Row<'a> {
    columns: &'a mut [Column],
    next: usize,
}

impl Row<'_> {
    fn column(&mut self) -> &mut Column {
        let column = &mut self.columns[self.next];
        self.next += 1;
        column
    }

    /// Appends an Int64 value (or null).
    pub fn int64_opt(&mut self, value: Option<i64>) -> &mut Self {
        match self.column() {
            Column::Int64(b) => b.append_option(value),
            _ => unreachable!("column kinds follow the table definition"),
        }
        self
    }

    /// Appends an Int64 value.
    pub fn int64(&mut self, value: i64) -> &mut Self {
        self.int64_opt(Some(value))
    }

    /// Appends an Int32 value.
    pub fn int32(&mut self, value: i32) -> &mut Self {
        match self.column() {
            Column::Int32(b) => b.append_value(value),
            _ => unreachable!("column kinds follow the table definition"),
        }
        self
    }

    /// Appends a string.
    pub fn utf8(&mut self, value: &str) -> &mut Self {
        match self.column() {
            Column::Utf8(b) => b.append_value(value),
            _ => unreachable!("column kinds follow the table definition"),
        }
        self
    }

    /// Appends a UTC timestamp in microseconds since the epoch.
    pub fn timestamp(&mut self, micros: i64) -> &mut Self {
        match self.column() {
            Column::Timestamp(b) => b.append_value(micros),
            _ => unreachable!("column kinds follow the table definition"),
        }
        self
    }

    /// Appends an amount of money in cents.
    pub fn money(&mut self, cents: i64) -> &mut Self {
        match self.column() {
            Column::Money(b, ..) => b.append_value(i128::from(cents)),
            _ => unreachable!("column kinds follow the table definition"),
        }
        self
    }

    /// Appends a date as days since the epoch.
    pub fn date(&mut self, days: i32) -> &mut Self {
        match self.column() {
            Column::Date(b) => b.append_value(days),
            _ => unreachable!("column kinds follow the table definition"),
        }
        self
    }
}
