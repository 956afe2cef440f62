//! Moving record batches between stride's Arrow (59, DataFusion's) and the Arrow the
//! `duckdb` crate is built on (58). No `duckdb` release uses arrow 59, so batches
//! cross through the Arrow C data interface, which both versions implement with the
//! same `#[repr(C)]` structs: the buffers are handed over, not copied.

use arrow::array::{Array, StructArray};
use arrow::ffi::{FFI_ArrowArray, FFI_ArrowSchema};
use arrow::record_batch::RecordBatch;
use duckdb::arrow as duck_arrow;

use crate::error::Result;

/// A batch of DuckDB's Arrow.
pub type DuckBatch = duck_arrow::record_batch::RecordBatch;

/// Hands `batch` to DuckDB's Arrow.
pub fn to_duckdb(batch: &RecordBatch) -> Result<DuckBatch> {
    let data = StructArray::from(batch.clone()).into_data();
    let (mut array, mut schema) = arrow::ffi::to_ffi(&data)?;
    // SAFETY: `FFI_ArrowArray`/`FFI_ArrowSchema` of both arrow versions are the C data
    // interface's `ArrowArray`/`ArrowSchema` structs (`#[repr(C)]`, same fields).
    // `from_raw` moves each value out and leaves an empty (released) one behind, so
    // the buffers are released once, by the receiving side.
    let imported = unsafe {
        let array = duck_arrow::ffi::FFI_ArrowArray::from_raw(
            (&mut array as *mut FFI_ArrowArray).cast::<duck_arrow::ffi::FFI_ArrowArray>(),
        );
        let schema = duck_arrow::ffi::FFI_ArrowSchema::from_raw(
            (&mut schema as *mut FFI_ArrowSchema).cast::<duck_arrow::ffi::FFI_ArrowSchema>(),
        );
        duck_arrow::ffi::from_ffi(array, &schema)
    }
    .map_err(|e| arrow::error::ArrowError::CDataInterface(e.to_string()))?;
    Ok(DuckBatch::from(duck_arrow::array::StructArray::from(
        imported,
    )))
}

/// Takes a batch DuckDB returned into stride's Arrow.
pub fn from_duckdb(batch: DuckBatch) -> Result<RecordBatch> {
    let data = duck_arrow::array::Array::into_data(duck_arrow::array::StructArray::from(batch));
    let (mut array, mut schema) = duck_arrow::ffi::to_ffi(&data)
        .map_err(|e| arrow::error::ArrowError::CDataInterface(e.to_string()))?;
    // SAFETY: as in `to_duckdb`, in the other direction.
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
        ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int64Array,
        StringArray, TimestampMicrosecondArray,
    };

    use super::*;

    #[test]
    fn a_batch_crosses_both_ways_unchanged() {
        let columns: Vec<(&str, ArrayRef)> = vec![
            (
                "id",
                Arc::new(Int64Array::from(vec![Some(1), None, Some(3)])),
            ),
            (
                "name",
                Arc::new(StringArray::from(vec![Some("a"), Some("b"), None])),
            ),
            (
                "flag",
                Arc::new(BooleanArray::from(vec![true, false, true])),
            ),
            (
                "day",
                Arc::new(Date32Array::from(vec![20_000, 20_001, 20_002])),
            ),
            (
                "money",
                Arc::new(
                    Decimal128Array::from(vec![Some(1234), None, Some(-5)])
                        .with_precision_and_scale(12, 2)
                        .unwrap(),
                ),
            ),
            (
                "at",
                Arc::new(TimestampMicrosecondArray::from(vec![1, 2, 3]).with_timezone("UTC")),
            ),
            ("share", Arc::new(Float64Array::from(vec![0.5, 0.25, 1.0]))),
        ];
        let batch = RecordBatch::try_from_iter(columns).unwrap();
        let duck = to_duckdb(&batch).unwrap();
        assert_eq!(duck.num_rows(), 3);
        assert_eq!(
            duck.schema().field(4).data_type().to_string(),
            "Decimal128(12, 2)"
        );
        let back = from_duckdb(duck).unwrap();
        assert_eq!(back, batch);
    }
}
