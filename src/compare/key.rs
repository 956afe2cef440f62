//! Which columns identify a row of a model, for matching two states of its table.

use arrow::datatypes::{DataType, Schema};

use crate::contracts::{Contracts, RuleKind};
use crate::models::{Model, Strategy};

/// The key rows of `model` are matched on, and where it came from: the first
/// `unique` rule of its contract (the grain the contract guarantees); else its
/// `unique_key` when it merges on it (then it names one row); else, as a
/// `delete+insert` key names a group of rows (an order's lines), that key with
/// every other column that is not a float; else every column that is not a float
/// (an aggregate's grouping columns: its measures are floats).
pub fn model_key(
    model: &Model,
    contracts: &Contracts,
    schema: &Schema,
) -> (Vec<String>, &'static str) {
    let declared = contracts.get(&model.name).and_then(|contract| {
        contract.rules.iter().find_map(|rule| match &rule.kind {
            RuleKind::Unique { columns } => Some(columns.clone()),
            _ => None,
        })
    });
    if let Some(columns) = declared {
        return (columns, "its contract's unique rule");
    }
    if !model.unique_key.is_empty() && model.strategy == Strategy::Merge {
        return (model.unique_key.clone(), "its unique_key");
    }
    let not_floats = schema
        .fields()
        .iter()
        .filter(|f| {
            !matches!(
                f.data_type(),
                DataType::Float16 | DataType::Float32 | DataType::Float64
            )
        })
        .map(|f| f.name().clone());
    if !model.unique_key.is_empty() {
        let mut key = model.unique_key.clone();
        key.extend(not_floats.filter(|c| !model.unique_key.contains(c)));
        return (
            key,
            "its unique_key (a group of rows) and its other columns that are not floats",
        );
    }
    (not_floats.collect(), "its columns that are not floats")
}

/// `--key a,b` as column names.
pub fn parse_key(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect()
}
