//! What every raw source has in common (SPEC section 2): the change-log columns,
//! the partition column, the schema `raw` they are queried under. The tables
//! themselves (names, keys, payload columns) are declared by the source contracts
//! in `data_contracts/`, so a new source is a file and a folder of Parquet.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// The time zone every raw timestamp carries (exactly this string).
pub const UTC: &str = "UTC";

/// The schema name raw sources are registered under (`raw.orders`, `{{ source('raw', 'orders') }}`).
pub const SOURCE_SCHEMA: &str = "raw";

/// The Hive-style partition column of every raw table.
pub const PARTITION_COLUMN: &str = "batch_date";

/// The change-log columns every raw row carries before its payload.
pub const CHANGE_COLUMNS: [&str; 4] = ["_op", "_seq", "_batch_id", "_changed_at"];

/// The change-log columns with their types, in order.
pub fn change_columns() -> [(&'static str, DataType); 4] {
    let [op, seq, batch_id, changed_at] = CHANGE_COLUMNS;
    [
        (op, DataType::Utf8),
        (seq, DataType::Int64),
        (batch_id, DataType::Int64),
        (changed_at, timestamp_type()),
    ]
}

/// Timestamp(Microsecond, "UTC"): the only timestamp type raw files may use.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into()))
}

/// Whether a file's Arrow type is acceptable where a table declares `expected`.
/// Strings may come in any of Arrow's string layouts, since writers differ;
/// everything else must be exact (a `+00:00` time zone is not `UTC`).
pub fn accepts(expected: &DataType, found: &DataType) -> bool {
    match expected {
        DataType::Utf8 => matches!(
            found,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        ),
        _ => found == expected,
    }
}

/// One raw change-log table, as its source contract declares it.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceTable {
    /// Table name, also the folder under `raw/`.
    pub name: String,
    /// Columns that identify one entity.
    pub key: Vec<String>,
    /// Every column, change-log columns first.
    columns: Vec<(String, DataType)>,
}

impl SourceTable {
    /// A table named `name` with its `key` and every column in order. Refused,
    /// with the reason, unless the name can be a folder and a SQL name, the four
    /// change-log columns come first with their SPEC types, names are unique, no
    /// column is the partition column, and the key names payload columns.
    pub fn new(
        name: &str,
        key: Vec<String>,
        columns: Vec<(String, DataType)>,
    ) -> Result<SourceTable, String> {
        if !is_plain_name(name) {
            return Err(format!(
                "`{name}` cannot name a raw table: use lower-case letters, digits and `_`, \
                 starting with a letter"
            ));
        }
        let expected = change_columns();
        let starts_right = columns.len() > expected.len()
            && columns
                .iter()
                .zip(&expected)
                .all(|((n, t), (en, et))| n == en && t == et);
        if !starts_right {
            return Err(format!(
                "a raw table is a change log: its columns must start with {} and then \
                 list at least one payload column",
                expected
                    .iter()
                    .map(|(n, t)| format!("{n} {t}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        for (index, (column, _)) in columns.iter().enumerate() {
            if columns[..index].iter().any(|(other, _)| other == column) {
                return Err(format!("column `{column}` is listed twice"));
            }
            if column == PARTITION_COLUMN {
                return Err(format!(
                    "`{PARTITION_COLUMN}` is the partition of every raw table (its folder \
                     name), not a column of its files"
                ));
            }
        }
        if key.is_empty() {
            return Err("give the table's key: `key = [\"<column>\", …]`".into());
        }
        for column in &key {
            let payload = columns[expected.len()..].iter().any(|(n, _)| n == column);
            if !payload {
                return Err(format!(
                    "key column `{column}` is not a payload column of the table"
                ));
            }
        }
        Ok(SourceTable {
            name: name.to_string(),
            key,
            columns,
        })
    }

    /// Every column a raw file must have, change-log columns first, with its type.
    pub fn columns(&self) -> impl Iterator<Item = (&str, &DataType)> + '_ {
        self.columns.iter().map(|(n, t)| (n.as_str(), t))
    }

    /// The Arrow schema of a raw file (without the partition column). Columns are
    /// nullable so that files from any writer read; null keys are a contract matter.
    pub fn schema(&self) -> SchemaRef {
        let fields: Vec<Field> = self
            .columns()
            .map(|(name, data_type)| Field::new(name, data_type.clone(), true))
            .collect();
        Arc::new(Schema::new(fields))
    }
}

/// The raw tables of a project, in the order their files are checked: a table
/// after those its contract's relationships point to. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    tables: Arc<Vec<SourceTable>>,
}

impl Sources {
    /// The registry of `tables`, in the order given.
    pub fn new(tables: Vec<SourceTable>) -> Sources {
        Sources {
            tables: Arc::new(tables),
        }
    }

    /// Looks a raw table up by name.
    pub fn find(&self, name: &str) -> Option<&SourceTable> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// Every raw table, in check order.
    pub fn iter(&self) -> std::slice::Iter<'_, SourceTable> {
        self.tables.iter()
    }

    /// How many raw tables there are.
    pub fn len(&self) -> usize {
        self.tables.len()
    }

    /// Whether the project has no raw table.
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }
}

impl<'a> IntoIterator for &'a Sources {
    type Item = &'a SourceTable;
    type IntoIter = std::slice::Iter<'a, SourceTable>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Whether `name` is safe as a folder under `raw/` and a SQL identifier unquoted.
fn is_plain_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(payload: &[(&str, DataType)]) -> Vec<(String, DataType)> {
        change_columns()
            .into_iter()
            .chain(payload.iter().cloned())
            .map(|(n, t)| (n.to_string(), t))
            .collect()
    }

    #[test]
    fn a_table_must_be_a_change_log_with_a_payload_key() {
        let good = columns(&[("return_id", DataType::Int64)]);
        let key = vec!["return_id".to_string()];
        assert!(SourceTable::new("returns", key.clone(), good.clone()).is_ok());
        let refused = |name: &str, key: Vec<String>, columns: Vec<(String, DataType)>| {
            SourceTable::new(name, key, columns).expect_err("refused")
        };
        assert!(refused("Returns", key.clone(), good.clone()).contains("lower-case"));
        assert!(refused("returns", vec![], good.clone()).contains("key"));
        assert!(refused("returns", vec!["_seq".into()], good.clone()).contains("payload"));
        let mut no_log = good.clone();
        no_log.remove(1);
        assert!(refused("returns", key.clone(), no_log).contains("_seq Int64"));
        let partition = columns(&[
            ("return_id", DataType::Int64),
            ("batch_date", DataType::Date32),
        ]);
        assert!(refused("returns", key.clone(), partition).contains("partition"));
        let twice = columns(&[
            ("return_id", DataType::Int64),
            ("return_id", DataType::Utf8),
        ]);
        assert!(refused("returns", key, twice).contains("twice"));
    }

    #[test]
    fn strings_may_come_in_any_layout_the_rest_exactly() {
        assert!(accepts(&DataType::Utf8, &DataType::LargeUtf8));
        assert!(accepts(&DataType::Utf8, &DataType::Utf8View));
        assert!(!accepts(&DataType::Int64, &DataType::Int32));
        let offset = DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()));
        assert!(!accepts(&timestamp_type(), &offset));
    }
}
