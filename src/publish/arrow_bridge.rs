//! Taking record batches from the Arrow the `duckdb` crate is built on (58) into
//! stride's Arrow (59, DataFusion's). No `duckdb` release uses arrow 59, so batches
//! cross through the Arrow C data interface, which both versions implement with the
//! same `#[repr(C)]` structs: the buffers are handed over, not copied.

use arrow::array::StructArray;
use arrow::ffi::{FFI_ArrowArray, FFI_ArrowSchema};
use arrow::record_batch::RecordBatch;
use duckdb::arrow as duck_arrow;

use crate::error::Result;

/// A batch of DuckDB's Arrow.
pub type DuckBatch = duck_arrow::record_batch::RecordBatch;

/// Takes a batch DuckDB returned into stride's Arrow.
pub fn from_duckdb(batch: DuckBatch) -> Result<RecordBatch> {
    let data = duck_arrow::array::Array::into_data(duck_arrow::array::StructArray::from(batch));
    let (mut array, mut schema) = duck_arrow::ffi::to_ffi(&data)
        .map_err(|e| arrow::error::ArrowError::CDataInterface(e.to_string()))?;
    // SAFETY: `FFI_ArrowArray`/`FFI_ArrowSchema` of both arrow versions are the C data
    // interface's `ArrowArray`/`ArrowSchema` structs (`#[repr(C)]`, same fields).
    // `from_raw` moves each value out and leaves an empty (released) one behind, so
    // the buffers are released once, by the receiving side.
    let imported = unsafe {
        let array = FFI_ArrowArray::from_raw(
            (&mut array as *mut duck_arrow::ffi::FFI_ArrowArray).cast::<FFI_ArrowArray>(),
        );
        let schema = FFI_ArrowSchema::from_raw(
            (&mut schema as *mut duck_arrow::ffi::FFI_ArrowSchema).cast::<FFI_ArrowSchema>(),
        );
        arrow::ffi::from_ffi(array, &schema)?
    };
    Ok(RecordBatch::from(StructArray::from(imported)))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int64Array, StringArray,
    };

    use super::*;

    #[test]
    fn a_duckdb_result_arrives_with_its_types_and_values() {
        let conn = duckdb::Connection::open_in_memory().unwrap();
        let mut statement = conn
            .prepare(
                "SELECT * FROM (VALUES \
                 (1::BIGINT, 'a', true, DATE '2024-10-04', 12.34::DECIMAL(12,2), 0.5::DOUBLE), \
                 (NULL, NULL, false, DATE '2024-10-05', -0.05::DECIMAL(12,2), 0.25::DOUBLE)) \
                 t(id, name, flag, day, money, share)",
            )
            .unwrap();
        let batches: Vec<RecordBatch> = statement
            .query_arrow([])
            .unwrap()
            .map(|b| from_duckdb(b).unwrap())
            .collect();
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("id", Arc::new(Int64Array::from(vec![Some(1), None]))),
            ("name", Arc::new(StringArray::from(vec![Some("a"), None]))),
            ("flag", Arc::new(BooleanArray::from(vec![true, false]))),
            ("day", Arc::new(Date32Array::from(vec![20_000, 20_001]))),
            (
                "money",
                Arc::new(
                    Decimal128Array::from(vec![1234, -5])
                        .with_precision_and_scale(12, 2)
                        .unwrap(),
                ),
            ),
            ("share", Arc::new(Float64Array::from(vec![0.5, 0.25]))),
        ];
        let expected = RecordBatch::try_from_iter(columns).unwrap();
        assert_eq!(batches.len(), 1);
        assert_eq!(batches[0].columns(), expected.columns());
    }
}
