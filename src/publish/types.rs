//! The DuckDB column type of each Arrow type a mart can have, so the published
//! views keep the marts' types: DECIMAL stays DECIMAL(p,s), a UTC timestamp stays
//! a TIMESTAMP WITH TIME ZONE, a date stays DATE. The names are the ones DuckDB
//! itself reports (`information_schema.columns`), so a served view's columns can be
//! compared with the ones a publish wants.

use arrow::datatypes::{DataType, Field, TimeUnit};

/// The DuckDB type for `field`, or `None` when a mart should never have its type.
pub fn duckdb_type(field: &Field) -> Option<String> {
    let name = match field.data_type() {
        DataType::Boolean => "BOOLEAN".to_string(),
        DataType::Int8 => "TINYINT".to_string(),
        DataType::Int16 => "SMALLINT".to_string(),
        DataType::Int32 => "INTEGER".to_string(),
        DataType::Int64 => "BIGINT".to_string(),
        DataType::Float32 => "FLOAT".to_string(),
        DataType::Float64 => "DOUBLE".to_string(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "VARCHAR".to_string(),
        DataType::Date32 => "DATE".to_string(),
        // DuckDB's DECIMAL goes up to 38 digits, as Decimal128 does.
        DataType::Decimal128(precision, scale) if *scale >= 0 => {
            format!("DECIMAL({precision},{scale})")
        }
        // An instant (SPEC: UTC); DuckDB keeps it as microseconds since the epoch.
        DataType::Timestamp(TimeUnit::Microsecond, Some(_)) => {
            "TIMESTAMP WITH TIME ZONE".to_string()
        }
        DataType::Timestamp(TimeUnit::Microsecond, None) => "TIMESTAMP".to_string(),
        _ => return None,
    };
    Some(name)
}

/// A quoted SQL identifier.
pub fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A quoted SQL string literal.
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_types_map_to_their_duckdb_types() {
        let cases = [
            (DataType::Decimal128(12, 2), Some("DECIMAL(12,2)")),
            (
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                Some("TIMESTAMP WITH TIME ZONE"),
            ),
            (DataType::Date32, Some("DATE")),
            (DataType::Int64, Some("BIGINT")),
            (DataType::Int32, Some("INTEGER")),
            (DataType::Float64, Some("DOUBLE")),
            (DataType::Utf8, Some("VARCHAR")),
            (DataType::Boolean, Some("BOOLEAN")),
            (DataType::Timestamp(TimeUnit::Nanosecond, None), None),
            (DataType::Binary, None),
        ];
        for (data_type, expected) in cases {
            let field = Field::new("c", data_type.clone(), true);
            assert_eq!(duckdb_type(&field).as_deref(), expected, "{data_type}");
        }
    }

    #[test]
    fn names_and_strings_are_quoted() {
        assert_eq!(quote("we\"ird"), r#""we""ird""#);
        assert_eq!(literal("/srv/o'brien/x"), "'/srv/o''brien/x'");
    }
}
