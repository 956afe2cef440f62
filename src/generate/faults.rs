//! Bad input for the data contracts to catch (`generate --faults RATE`): extra rows
//! that each break one rule of their table's contract, and one bad file a day.
//!
//! Faults never touch a good row: bad rows are copies of good ones given keys and
//! `_seq` values of their own (far above the generator's), then broken. So a lake
//! with faults, once its quarantine has taken the bad input, loads exactly the rows
//! of the same lake generated without faults.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray, UInt32Array, new_null_array};
use arrow::compute::{cast, concat_batches, take_record_batch};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::common::ScalarValue;

use crate::error::Result;
use crate::sources::SourceTable;

/// Keys of bad rows start here (the generator's own stay far below).
const FAULT_KEY_BASE: i64 = 1 << 40;
/// `_seq` of bad rows starts here.
const FAULT_SEQ_BASE: i64 = 1 << 50;
/// Room per batch for the keys and `_seq` of its bad rows.
const PER_BATCH: i64 = 1 << 20;

/// The kinds of bad file, one landed per day in turn.
const FILE_FAULTS: [FileFault; 7] = [
    FileFault::Truncated,
    FileFault::WrongType,
    FileFault::WrongTimeZone,
    FileFault::ExtraColumn,
    FileFault::MissingColumn,
    FileFault::Empty,
    FileFault::NotParquet,
];

#[derive(Debug, Clone, Copy)]
enum FileFault {
    Truncated,
    WrongType,
    WrongTimeZone,
    ExtraColumn,
    MissingColumn,
    Empty,
    NotParquet,
}

impl FileFault {
    fn name(self) -> &'static str {
        match self {
            FileFault::Truncated => "truncated",
            FileFault::WrongType => "wrong-type",
            FileFault::WrongTimeZone => "wrong-time-zone",
            FileFault::ExtraColumn => "extra-column",
            FileFault::MissingColumn => "missing-column",
            FileFault::Empty => "empty",
            FileFault::NotParquet => "not-parquet",
        }
    }
}

/// How one bad row breaks its table's contract.
#[derive(Debug, Clone)]
enum RowFault {
    /// The key is null.
    NullKey,
    /// Two rows of one key and change time with different payloads.
    Conflict,
    /// A column set to a value its contract refuses.
    Value(&'static str, ScalarValue),
}

/// The row faults of a table, in turn.
fn row_faults(table: &str) -> Vec<RowFault> {
    let money = |cents: i128| ScalarValue::Decimal128(Some(cents), 12, 2);
    let text = |value: &str| ScalarValue::Utf8(Some(value.to_string()));
    let mut faults = vec![RowFault::NullKey, RowFault::Conflict];
    faults.extend(match table {
        "customers" => vec![RowFault::Value("loyalty_tier", text("diamond"))],
        "products" => vec![RowFault::Value("list_price", money(-100))],
        "campaigns" => vec![RowFault::Value("channel", text("tv"))],
        "ad_spend" => vec![RowFault::Value("spend", money(-500))],
        "touchpoints" => vec![RowFault::Value("device", text("fridge"))],
        "orders" => vec![RowFault::Value("status", text("lost"))],
        "order_items" => vec![
            RowFault::Value("quantity", ScalarValue::Int32(Some(-1))),
            RowFault::Value("product_id", ScalarValue::Int64(Some(FAULT_KEY_BASE - 1))),
        ],
        _ => Vec::new(),
    });
    faults
}

/// `good` with `rate` × its rows (at least one) of bad rows appended.
pub fn with_bad_rows(
    table: &SourceTable,
    good: RecordBatch,
    batch_id: u32,
    rate: f64,
) -> Result<RecordBatch> {
    if rate <= 0.0 || good.num_rows() == 0 {
        return Ok(good);
    }
    let wanted = ((good.num_rows() as f64 * rate).ceil() as usize).max(1);
    let faults = row_faults(&table.name);
    let mut bad = vec![good.clone()];
    let mut next = 0;
    for i in 0..wanted {
        let fault = &faults[(batch_id as usize + i) % faults.len()];
        let template = (i * 7919) % good.num_rows();
        let row = fake(table, &good, template, batch_id, next)?;
        next += 1;
        match fault {
            RowFault::NullKey => {
                let key = table.key.first().map_or("_seq", String::as_str);
                bad.push(set(&row, key, None)?);
            }
            RowFault::Conflict => {
                let second = fake(table, &good, template, batch_id, next)?;
                next += 1;
                let second = with_key_of(&second, &row, table)?;
                let op = ScalarValue::Utf8(Some("u".into()));
                let first = set(&row, "_op", Some(ScalarValue::Utf8(Some("c".into()))))?;
                bad.push(first);
                bad.push(set(&second, "_op", Some(op))?);
            }
            RowFault::Value(column, value) => bad.push(set(&row, column, Some(value.clone()))?),
        }
    }
    Ok(concat_batches(&good.schema(), &bad)?)
}

/// Row `template` of `good` with a key and `_seq` of its own (`n`-th of the batch).
fn fake(
    table: &SourceTable,
    good: &RecordBatch,
    template: usize,
    batch_id: u32,
    n: usize,
) -> Result<RecordBatch> {
    let row = take_record_batch(good, &UInt32Array::from(vec![template as u32]))?;
    let offset = i64::from(batch_id) * PER_BATCH + n as i64;
    let row = set(
        &row,
        "_seq",
        Some(ScalarValue::Int64(Some(FAULT_SEQ_BASE + offset))),
    )?;
    match table.key.first() {
        Some(key) => set(
            &row,
            key,
            Some(ScalarValue::Int64(Some(FAULT_KEY_BASE + offset))),
        ),
        None => Ok(row),
    }
}

/// `row` with the key column of `other`.
fn with_key_of(row: &RecordBatch, other: &RecordBatch, table: &SourceTable) -> Result<RecordBatch> {
    let Some(key) = table.key.first() else {
        return Ok(row.clone());
    };
    let Some(value) = other.column_by_name(key) else {
        return Ok(row.clone());
    };
    let value = ScalarValue::try_from_array(value, 0)?;
    let changed_at = other
        .column_by_name("_changed_at")
        .map(|c| ScalarValue::try_from_array(c, 0))
        .transpose()?;
    let row = set(row, key, Some(value))?;
    set(&row, "_changed_at", changed_at)
}

/// A one-row batch with `column` set to `value` (null for `None`).
fn set(row: &RecordBatch, column: &str, value: Option<ScalarValue>) -> Result<RecordBatch> {
    let schema = row.schema();
    let Ok(index) = schema.index_of(column) else {
        return Ok(row.clone());
    };
    let data_type = schema.field(index).data_type().clone();
    let array: ArrayRef = match value {
        None => new_null_array(&data_type, 1),
        Some(value) => cast(&value.to_array_of_size(1)?, &data_type)?,
    };
    let mut columns = row.columns().to_vec();
    columns[index] = array;
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// The bad file of batch `batch_id`, made from `good` (a day of `table`): its file
/// name and bytes.
pub fn bad_file(
    table: &SourceTable,
    good: &RecordBatch,
    batch_id: u32,
) -> Result<(String, Vec<u8>)> {
    let fault = FILE_FAULTS[(batch_id as usize).saturating_sub(1) % FILE_FAULTS.len()];
    let name = format!("faulty-{}-{batch_id:06}.parquet", fault.name());
    let rows = good.num_rows().min(5);
    let mut fakes = Vec::new();
    for i in 0..rows {
        fakes.push(fake(table, good, i, batch_id, PER_BATCH as usize / 2 + i)?);
    }
    let batch = concat_batches(&good.schema(), &fakes)?;
    let bytes = match fault {
        FileFault::Truncated => {
            let mut bytes = parquet_bytes(&batch)?;
            bytes.truncate(bytes.len() / 2);
            bytes
        }
        FileFault::WrongType => parquet_bytes(&retyped(&batch, "_seq", DataType::Utf8)?)?,
        FileFault::WrongTimeZone => parquet_bytes(&retyped(
            &batch,
            "_changed_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
        )?)?,
        FileFault::ExtraColumn => {
            let mut fields: Vec<Field> = batch
                .schema()
                .fields()
                .iter()
                .map(|f| f.as_ref().clone())
                .collect();
            fields.push(Field::new("source_system", DataType::Utf8, true));
            let mut columns = batch.columns().to_vec();
            columns.push(Arc::new(StringArray::from(vec![
                "legacy";
                batch.num_rows()
            ])));
            parquet_bytes(&RecordBatch::try_new(
                Arc::new(Schema::new(fields)),
                columns,
            )?)?
        }
        FileFault::MissingColumn => {
            let keep: Vec<usize> = (0..batch.num_columns() - 1).collect();
            parquet_bytes(&batch.project(&keep)?)?
        }
        FileFault::Empty => Vec::new(),
        FileFault::NotParquet => b"_op,_seq\nc,1\n".to_vec(),
    };
    Ok((name, bytes))
}

/// `batch` with `column` cast to `to`.
fn retyped(batch: &RecordBatch, column: &str, to: DataType) -> Result<RecordBatch> {
    let schema = batch.schema();
    let index = schema.index_of(column)?;
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields[index] = Field::new(column, to.clone(), true);
    let mut columns = batch.columns().to_vec();
    columns[index] = cast(&columns[index], &to)?;
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

fn parquet_bytes(batch: &RecordBatch) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let mut writer = parquet::arrow::ArrowWriter::try_new(&mut bytes, batch.schema(), None)?;
    writer.write(batch)?;
    writer.close()?;
    Ok(bytes)
}
