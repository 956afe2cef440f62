//! A set of key values, tested a column at a time. Deletes by key use it twice: to
//! find the rows a deletion vector marks, and as `key IN (many keys)` in a
//! replaceWhere, where an IN list of tens of thousands of values is rewritten by
//! delta-rs into a chain of comparisons evaluated per row.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::{Array, AsArray, BooleanArray};
use arrow::datatypes::{DataType, Int64Type};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// Key values, with a fast path for 64-bit integers (every key of this project).
#[derive(Debug)]
pub struct Keys {
    integers: HashSet<i64>,
    others: HashSet<ScalarValue>,
}

impl Keys {
    /// The set of `keys` (nulls are never a key).
    pub fn new(keys: &[ScalarValue]) -> Keys {
        let mut integers = HashSet::new();
        let mut others = HashSet::new();
        for key in keys.iter().filter(|k| !k.is_null()) {
            match key {
                ScalarValue::Int64(Some(v)) => {
                    integers.insert(*v);
                }
                other => {
                    others.insert(other.clone());
                }
            }
        }
        Keys { integers, others }
    }

    /// How many keys there are.
    pub fn len(&self) -> usize {
        self.integers.len() + self.others.len()
    }

    /// The smallest and largest key, when every key is a 64-bit integer.
    pub fn range(&self) -> Option<(i64, i64)> {
        if !self.others.is_empty() {
            return None;
        }
        Some((*self.integers.iter().min()?, *self.integers.iter().max()?))
    }

    /// For each value of `array`, whether it is one of the keys.
    pub fn mask(&self, array: &dyn Array) -> datafusion::common::Result<BooleanArray> {
        if let Some(values) = array.as_primitive_opt::<Int64Type>() {
            return Ok(values
                .iter()
                .map(|v| Some(v.is_some_and(|v| self.integers.contains(&v))))
                .collect());
        }
        (0..array.len())
            .map(|i| {
                ScalarValue::try_from_array(array, i)
                    .map(|v| Some(!v.is_null() && self.others.contains(&v)))
            })
            .collect()
    }

    /// Whether a file whose Delta statistics are `stats` may hold one of the keys
    /// in its column `key`.
    pub fn may_be_in(&self, stats: Option<String>, key: &str) -> bool {
        let (Some((low, high)), Some(stats)) = (self.range(), stats) else {
            return true;
        };
        let Ok(stats) = serde_json::from_str::<serde_json::Value>(&stats) else {
            return true;
        };
        let bound = |side: &str| {
            stats
                .get(side)
                .and_then(|m| m.get(key))
                .and_then(|v| v.as_i64())
        };
        match (bound("minValues"), bound("maxValues")) {
            (Some(min), Some(max)) => max >= low && min <= high,
            _ => true,
        }
    }
}

/// Distinguishes one key set function from another (each replace has its own).
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// A one-argument SQL function: true when the argument is one of the keys.
#[derive(Debug)]
pub struct KeySet {
    id: u64,
    name: String,
    signature: Signature,
    keys: Arc<Keys>,
}

impl KeySet {
    /// A function testing membership in `keys`.
    pub fn udf(keys: Arc<Keys>) -> ScalarUDF {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        ScalarUDF::from(KeySet {
            id,
            name: format!("stride_key_in_{id}"),
            signature: Signature::any(1, Volatility::Immutable),
            keys,
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

    fn return_type(&self, _arg_types: &[DataType]) -> datafusion::common::Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::common::Result<ColumnarValue> {
        let rows = args.number_rows;
        let Some(argument) = args.args.into_iter().next() else {
            return Ok(ColumnarValue::Scalar(ScalarValue::Boolean(Some(false))));
        };
        let array = argument.into_array(rows)?;
        let found = self.keys.mask(array.as_ref())?;
        Ok(ColumnarValue::Array(Arc::new(found) as Arc<dyn Array>))
    }
}
