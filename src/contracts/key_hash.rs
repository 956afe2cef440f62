//! `stride_key_hash(col, …)`: one 64-bit hash of several columns (nulls hash
//! alike). A `unique` rule first groups a table by this single number, which is
//! far cheaper in time and memory than grouping by the columns themselves (a
//! string among them), then checks the few rows whose hash repeats exactly.

use std::sync::Arc;

use arrow::array::{ArrayRef, UInt64Array};
use arrow::datatypes::DataType;
use datafusion::common::hash_utils::{RandomState, create_hashes};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;

/// The function's SQL name.
pub const KEY_HASH: &str = "stride_key_hash";

#[derive(Debug, PartialEq, Eq, Hash)]
struct KeyHash {
    signature: Signature,
}

impl ScalarUDFImpl for KeyHash {
    fn name(&self) -> &str {
        KEY_HASH
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::UInt64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let arrays: Vec<ArrayRef> = args
            .args
            .iter()
            .map(|a| a.to_array(rows))
            .collect::<Result<_>>()?;
        let mut hashes = vec![0u64; rows];
        create_hashes(&arrays, &RandomState::default(), &mut hashes)?;
        Ok(ColumnarValue::Array(Arc::new(UInt64Array::from(hashes))))
    }
}

/// Makes `stride_key_hash` callable in `ctx`'s SQL.
pub fn register_key_hash(ctx: &SessionContext) {
    ctx.register_udf(key_hash_udf());
}

/// `stride_key_hash` as a function to register (every cluster role has it).
pub fn key_hash_udf() -> ScalarUDF {
    ScalarUDF::from(KeyHash {
        signature: Signature::variadic_any(Volatility::Immutable),
    })
}
