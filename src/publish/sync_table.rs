//! The sync table, `_stride_sync`: one row per mart saying what a publish holds
//! (which lake, which Delta table, which version and commit, how many rows, when). Readers
//! query it as a view like the marts; a publish reads it back from the served
//! Parquet files to tell whether the marts it would publish are served already.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int64Array, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::Result;

/// The table's name, in the DuckDB file and in a publish's folder.
pub const SYNC_TABLE: &str = "_stride_sync";

/// What identifies the data of a published mart: the same lake, the same Delta
/// table (its id changes when the table is deleted and made again), version and
/// commit. Version numbers alone do not identify content: a lake restored from a
/// backup taken at v7 makes a new v8 with the table's id, so the commit's own
/// bytes are part of the identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MartIdentity {
    /// The lake: its URL, and for S3 the endpoint too (a mirror at the same
    /// `s3://bucket/prefix` on another server is another lake).
    pub lake: String,
    /// The Delta table's id (`metaData.id`).
    pub table_id: String,
    /// The Delta version.
    pub version: u64,
    /// The SHA-256 of that version's commit entry (`_delta_log/<version>.json`),
    /// in hex; empty when it cannot be read, which matches nothing.
    pub commit: String,
}

impl MartIdentity {
    /// Whether `self` (a served identity) holds the same rows as `other`.
    pub fn same_data(&self, other: &MartIdentity) -> bool {
        self == other && !self.commit.is_empty()
    }
}

/// One row of the sync table.
#[derive(Debug, Clone)]
pub struct SyncRow {
    /// The mart.
    pub mart: String,
    /// Where its rows come from.
    pub identity: MartIdentity,
    /// When that version was committed, in microseconds since the epoch.
    pub committed_at: Option<i64>,
    /// The rows published.
    pub rows: u64,
}

/// The sync table of a publish with `rows`, made now, named `publish`.
pub fn batch(rows: &[SyncRow], publish: &str) -> Result<RecordBatch> {
    let utc = || DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let schema = Arc::new(Schema::new(vec![
        Field::new("mart", DataType::Utf8, false),
        Field::new("delta_version", DataType::Int64, false),
        Field::new("delta_committed_at", utc(), true),
        Field::new("row_count", DataType::Int64, false),
        Field::new("lake", DataType::Utf8, false),
        Field::new("delta_table_id", DataType::Utf8, false),
        Field::new("delta_commit", DataType::Utf8, false),
        Field::new("publish_id", DataType::Utf8, false),
        Field::new("published_at", utc(), false),
        Field::new("stride_version", DataType::Utf8, false),
    ]));
    let now = chrono::Utc::now().timestamp_micros();
    let n = rows.len();
    let strings = |f: &dyn Fn(&SyncRow) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
    };
    let constant = |value: &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(std::iter::repeat_n(value, n)))
    };
    let columns: Vec<ArrayRef> = vec![
        strings(&|r| r.mart.as_str()),
        Arc::new(Int64Array::from_iter_values(
            rows.iter()
                .map(|r| i64::try_from(r.identity.version).unwrap_or(i64::MAX)),
        )),
        Arc::new(
            TimestampMicrosecondArray::from_iter(rows.iter().map(|r| r.committed_at))
                .with_timezone("UTC"),
        ),
        Arc::new(Int64Array::from_iter_values(
            rows.iter()
                .map(|r| i64::try_from(r.rows).unwrap_or(i64::MAX)),
        )),
        strings(&|r| r.identity.lake.as_str()),
        strings(&|r| r.identity.table_id.as_str()),
        strings(&|r| r.identity.commit.as_str()),
        constant(publish),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(std::iter::repeat_n(now, n))
                .with_timezone("UTC"),
        ),
        constant(env!("CARGO_PKG_VERSION")),
    ];
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// What the publish in `folder` holds, mart by mart, from its sync table; `None`
/// when it has none that says so (an older layout, or files gone).
pub fn read_identities(folder: &Path) -> Option<BTreeMap<String, MartIdentity>> {
    let mut held = BTreeMap::new();
    for entry in fs::read_dir(folder.join(SYNC_TABLE)).ok()? {
        let path = entry.ok()?.path();
        if path.extension().is_none_or(|e| e != "parquet") {
            continue;
        }
        let reader = ParquetRecordBatchReaderBuilder::try_new(fs::File::open(&path).ok()?)
            .ok()?
            .build()
            .ok()?;
        for batch in reader {
            let batch = batch.ok()?;
            let text = |name: &str| {
                batch
                    .column_by_name(name)?
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .cloned()
            };
            let (marts, lakes, ids) = (text("mart")?, text("lake")?, text("delta_table_id")?);
            // A publish of an earlier stride has no commit column: it matches nothing.
            let commits = text("delta_commit");
            let versions = batch
                .column_by_name("delta_version")?
                .as_any()
                .downcast_ref::<Int64Array>()?
                .clone();
            for i in 0..batch.num_rows() {
                let identity = MartIdentity {
                    lake: lakes.value(i).to_string(),
                    table_id: ids.value(i).to_string(),
                    version: u64::try_from(versions.value(i)).ok()?,
                    commit: commits
                        .as_ref()
                        .map(|c| c.value(i).to_string())
                        .unwrap_or_default(),
                };
                held.insert(marts.value(i).to_string(), identity);
            }
        }
    }
    (!held.is_empty()).then_some(held)
}
