//! `key IN (many keys)` as a hash-set lookup. A replaceWhere over tens of thousands
//! of keys written as an IN list is rewritten by delta-rs into a chain of
//! comparisons, evaluated per row; this function tests each row in one lookup.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::{Array, AsArray, BooleanArray};
use arrow::datatypes::{DataType, Int64Type};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// Distinguishes one key set from another (each replace has its own).
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// A one-argument function: true when the argument is one of the keys.
#[derive(Debug)]
pub struct KeySet {
    id: u64,
    name: String,
    signature: Signature,
    integers: HashSet<i64>,
    others: HashSet<ScalarValue>,
}

impl KeySet {
    /// A function testing membership in `keys`.
    pub fn udf(keys: &[ScalarValue]) -> ScalarUDF {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let mut integers = HashSet::new();
        let mut others = HashSet::new();
        for key in keys {
            match key {
                ScalarValue::Int64(Some(v)) => {
                    integers.insert(*v);
                }
                other => {
                    others.insert(other.clone());
                }
            }
        }
        ScalarUDF::from(KeySet {
            id,
            name: format!("stride_key_in_{id}"),
            signature: Signature::any(1, Volatility::Immutable),
            integers,
            others,
        })
    }
}

impl PartialEq for KeySet {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for KeySet {}

impl Hash for KeySet {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.id.hash(state);
    }
}

impl ScalarUDFImpl for KeySet {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let Some(argument) = args.args.into_iter().next() else {
            return Ok(ColumnarValue::Scalar(ScalarValue::Boolean(Some(false))));
        };
        let array = argument.into_array(rows)?;
        let found: BooleanArray = match array.as_primitive_opt::<Int64Type>() {
            Some(values) => values
                .iter()
                .map(|v| Some(v.is_some_and(|v| self.integers.contains(&v))))
                .collect(),
            None => (0..array.len())
                .map(|i| {
                    ScalarValue::try_from_array(&array, i)
                        .map(|v| Some(!v.is_null() && self.others.contains(&v)))
                })
                .collect::<Result<BooleanArray>>()?,
        };
        Ok(ColumnarValue::Array(Arc::new(found) as Arc<dyn Array>))
    }
}
