//! A change feed executors can read: what the commits of a Delta table after one
//! version changed, up to the version the table is loaded at, as Delta's change
//! data feed defines it and with the columns delta-rs's `DeltaCdfTableProvider`
//! gives (the table's own, `_change_type`, `_commit_version`,
//! `_commit_timestamp`). The commits are read when the plan is made; the plan
//! carries the files, the executors read them:
//!
//! - a commit with change-data files (`cdc`): those files, whose rows carry their
//!   own `_change_type`;
//! - else its data files: each one added an insert of its rows, each one removed
//!   a delete of its rows, minus the rows its deletion vector had deleted; a file
//!   removed and added again in one commit (a deletion vector updated) is a delete
//!   of the rows the new vector adds and an insert of those it drops.
//!
//! Commit version and time are the same for all rows of a file, so they travel as
//! its partition values, as delta-rs does.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::datatypes::{FieldRef, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::union::UnionExec;
use deltalake::DeltaTable;
use deltalake::kernel::{Action, DeletionVectorDescriptor, StorageType};
use object_store::path::Path;
use roaring::RoaringTreemap;
use serde::{Deserialize, Serialize};

use super::delta_scan::{
    ParquetFiles, RowsOfFile, balanced_groups, location_for_executors, partitioned_file,
    read_in_client, vector_in_file,
};
use crate::delta;
use crate::error::{Error, Result};

/// What the rows of a feed file are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum FeedRows {
    /// A change-data file: each row carries its `_change_type`.
    Recorded,
    /// Rows a commit inserted.
    Inserted,
    /// Rows a commit deleted.
    Deleted,
}

impl FeedRows {
    /// The `_change_type` of the rows of a data file.
    fn change_type(self) -> Option<&'static str> {
        match self {
            FeedRows::Recorded => None,
            FeedRows::Inserted => Some("insert"),
            FeedRows::Deleted => Some("delete"),
        }
    }
}

/// One file of the feed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FeedFile {
    /// Its path in the store.
    pub path: String,
    /// Bytes.
    pub size: u64,
    /// The version whose commit wrote it into the feed.
    pub version: u64,
    /// That commit's time, milliseconds since the epoch.
    pub timestamp_ms: i64,
    /// What its rows are.
    pub rows: FeedRows,
    /// Only these rows of it, when not all.
    pub only: Option<RowsOfFile>,
}

/// What a [`ChangeFeedScan`] reads: everything an executor needs, nothing secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FeedSpec {
    /// The model whose table it is, for messages.
    pub model: String,
    /// The store serving the files: `file://` or `s3://bucket`.
    pub store: String,
    /// The files, in commit order.
    pub files: Vec<FeedFile>,
}

/// A Delta table's change feed over a range of versions, as a DataFusion table
/// whose scan runs on executors.
#[derive(Debug, Clone)]
pub struct ChangeFeedScan {
    spec: Arc<FeedSpec>,
    schema: SchemaRef,
}

impl ChangeFeedScan {
    /// What `table` (model `model`) committed after version `after` up to the
    /// version it is loaded at, read with `schema` (the schema of delta-rs's
    /// change feed of it, so a query plans the same either way). Fails, naming the
    /// model, when a commit of the range is gone from the log, when the table does
    /// not record its changes, and for what executors cannot read yet
    /// (partitioned tables, deletion vectors kept in files).
    pub async fn try_new(
        model: &str,
        table: &DeltaTable,
        after: u64,
        schema: SchemaRef,
    ) -> Result<ChangeFeedScan> {
        let unsupported = |reason: String| read_in_client(model, reason);
        let (store, root) = location_for_executors(model, table)?;
        let until = delta::version_of(table);
        let mut files = Vec::new();
        for version in after + 1..=until {
            let bytes = table
                .log_store()
                .read_commit_entry(version)
                .await
                .map_err(|e| Error::in_model(model, e))?
                .ok_or_else(|| {
                    Error::in_model(
                        model,
                        Error::Setting {
                            setting: "change feed".to_string(),
                            reason: format!(
                                "version {version} is gone from the table's log \
                                 (a full refresh reads the table whole)"
                            ),
                        },
                    )
                })?;
            let actions = deltalake::logstore::get_actions(version, &bytes)
                .map_err(|e| Error::in_model(model, e))?;
            let commit = feed_of_commit(version, version == after + 1, actions)
                .map_err(|e| Error::in_model(model, e))?;
            for file in commit {
                let relative = Path::from_url_path(&file.path)
                    .map_err(|e| unsupported(format!("file {}: {e}", file.path)))?;
                if file.path.contains("://") {
                    return Err(unsupported(format!(
                        "file {} lies outside the table's folder",
                        file.path
                    )));
                }
                let path: Path = root.parts().chain(relative.parts()).collect();
                files.push(FeedFile {
                    path: path.to_string(),
                    ..file
                });
            }
        }
        Ok(ChangeFeedScan {
            spec: Arc::new(FeedSpec {
                model: model.to_string(),
                store,
                files,
            }),
            schema,
        })
    }

    /// The feed described by `spec`, read with `schema`.
    pub fn from_spec(spec: FeedSpec, schema: SchemaRef) -> ChangeFeedScan {
        ChangeFeedScan {
            spec: Arc::new(spec),
            schema,
        }
    }

    /// What the feed reads.
    pub fn spec(&self) -> &FeedSpec {
        &self.spec
    }

    /// The feed's files in as few scans as can be: one per kind of rows, and
    /// another when a path comes again (a file read in part under two commits),
    /// since a scan reads a path's rows one way.
    fn scans(&self) -> Vec<(FeedRows, Vec<&FeedFile>)> {
        let mut scans: Vec<(FeedRows, BTreeSet<&str>, Vec<&FeedFile>)> = Vec::new();
        for file in &self.spec.files {
            let free = scans
                .iter_mut()
                .find(|(rows, paths, _)| *rows == file.rows && !paths.contains(file.path.as_str()));
            match free {
                Some((_, paths, files)) => {
                    paths.insert(&file.path);
                    files.push(file);
                }
                None => scans.push((file.rows, BTreeSet::from([file.path.as_str()]), vec![file])),
            }
        }
        scans.sort_by_key(|(rows, _, _)| *rows);
        scans
            .into_iter()
            .map(|(rows, _, files)| (rows, files))
            .collect()
    }
}

/// The feed files of one commit (paths relative to the table, as in the log).
/// `first`: the first commit of the range, which must say the feed is on when it
/// changes the table's settings.
fn feed_of_commit(version: u64, first: bool, actions: Vec<Action>) -> Result<Vec<FeedFile>> {
    let mut timestamp_ms = 0;
    let mut recorded = Vec::new();
    let mut added = Vec::new();
    let mut removed: BTreeMap<String, deltalake::kernel::Remove> = BTreeMap::new();
    let feed_off = |reason: String| Error::Setting {
        setting: "change feed".to_string(),
        reason,
    };
    for action in actions {
        match action {
            Action::CommitInfo(info) => {
                timestamp_ms = info.in_commit_timestamp.or(info.timestamp).unwrap_or(0);
            }
            Action::Cdc(file) => recorded.push(file),
            Action::Metadata(metadata) => {
                match metadata.configuration().get("delta.enableChangeDataFeed") {
                    Some(on)
                        if on.eq_ignore_ascii_case("false")
                            || (first && !on.eq_ignore_ascii_case("true")) =>
                    {
                        return Err(feed_off(format!(
                            "version {version} turns the table's change data feed off"
                        )));
                    }
                    None if first => {
                        return Err(feed_off(format!(
                            "version {version} leaves the table's change data feed off"
                        )));
                    }
                    _ => {}
                }
            }
            Action::Add(add) if add.data_change => added.push(add),
            Action::Remove(remove) if remove.data_change => {
                removed.insert(remove.path.clone(), remove);
            }
            _ => {}
        }
    }
    let file = |path: String, size: i64, rows: FeedRows, only: Option<RowsOfFile>| FeedFile {
        path,
        size: size.max(0) as u64,
        version,
        timestamp_ms,
        rows,
        only,
    };
    if !recorded.is_empty() {
        return Ok(recorded
            .into_iter()
            .map(|cdc| file(cdc.path, cdc.size, FeedRows::Recorded, None))
            .collect());
    }
    let mut files = Vec::new();
    for add in added {
        let now = deleted_rows(add.deletion_vector.as_ref(), &add.path)?;
        match removed.remove(&add.path) {
            Some(remove) => {
                // The same file with a new deletion vector.
                let before = deleted_rows(remove.deletion_vector.as_ref(), &add.path)?;
                for (rows, changed) in [
                    (FeedRows::Deleted, &now - &before),
                    (FeedRows::Inserted, &before - &now),
                ] {
                    if !changed.is_empty() {
                        let only = RowsOfFile {
                            vector: delta::encode_deletion_vector(&changed)?,
                            marked: true,
                        };
                        files.push(file(add.path.clone(), add.size, rows, Some(only)));
                    }
                }
            }
            None => {
                let only = not_deleted(add.deletion_vector.as_ref(), &add.path)?;
                files.push(file(add.path, add.size, FeedRows::Inserted, only));
            }
        }
    }
    for (path, remove) in removed {
        // Its rows as they were when it was removed: those its vector had deleted
        // were deleted by an earlier commit. (delta-rs 1.1 reads the deleted ones
        // here instead; stride's own commits never remove a file with a vector
        // outside a commit that writes change-data files.)
        let size = remove.size.ok_or_else(|| Error::Setting {
            setting: "change feed".to_string(),
            reason: format!("version {version} removes {path} without its size"),
        })?;
        let only = not_deleted(remove.deletion_vector.as_ref(), &path)?;
        files.push(file(path, size, FeedRows::Deleted, only));
    }
    Ok(files)
}

/// The Z85 text of a file's deletion vector (none without one); only inline
/// vectors, which executors decode.
fn inline_vector(vector: Option<&DeletionVectorDescriptor>, path: &str) -> Result<Option<String>> {
    match vector {
        None => Ok(None),
        Some(dv) if dv.storage_type == StorageType::Inline => {
            Ok(Some(dv.path_or_inline_dv.clone()))
        }
        Some(_) => Err(Error::Setting {
            setting: "--cluster".to_string(),
            reason: vector_in_file(path),
        }),
    }
}

/// The rows a deletion vector marks (none without one).
fn deleted_rows(vector: Option<&DeletionVectorDescriptor>, path: &str) -> Result<RoaringTreemap> {
    match inline_vector(vector, path)? {
        None => Ok(RoaringTreemap::new()),
        Some(text) => delta::decode_deletion_vector(&text),
    }
}

/// The rows of a file its vector leaves: all without one.
fn not_deleted(
    vector: Option<&DeletionVectorDescriptor>,
    path: &str,
) -> Result<Option<RowsOfFile>> {
    Ok(inline_vector(vector, path)?.map(RowsOfFile::not_deleted))
}

#[async_trait]
impl TableProvider for ChangeFeedScan {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let fields = self.schema.fields();
        let feed_columns = delta::change_feed_fields().len();
        let Some(own) = fields.len().checked_sub(feed_columns) else {
            return Err(datafusion::error::DataFusionError::Internal(format!(
                "the change feed of {} has no change columns",
                self.spec.model
            )));
        };
        let table_columns: Vec<FieldRef> = fields[..own].to_vec();
        let change_type = Arc::clone(&fields[own]);
        let commit_columns: Vec<FieldRef> = fields[own + 1..].to_vec();
        let mut plans: Vec<Arc<dyn ExecutionPlan>> = Vec::new();
        for (rows, files) in self.scans() {
            // Either way the columns come in the feed's own order (the table's,
            // `_change_type`, then version and time), so `projection` applies as is.
            let table_schema = match rows {
                FeedRows::Recorded => {
                    let mut in_file = table_columns.clone();
                    in_file.push(Arc::clone(&change_type));
                    TableSchema::builder(Arc::new(Schema::new(in_file)))
                        .with_table_partition_cols(commit_columns.clone())
                        .build()
                }
                FeedRows::Inserted | FeedRows::Deleted => {
                    let mut partition = vec![Arc::clone(&change_type)];
                    partition.extend(commit_columns.iter().cloned());
                    TableSchema::builder(Arc::new(Schema::new(table_columns.clone())))
                        .with_table_partition_cols(partition)
                        .build()
                }
            };
            let mut partitioned = Vec::with_capacity(files.len());
            let mut read_in_part = BTreeMap::new();
            for file in &files {
                let mut values = Vec::new();
                if let Some(change_type) = rows.change_type() {
                    values.push(ScalarValue::Utf8(Some(change_type.to_string())));
                }
                values.push(ScalarValue::UInt64(Some(file.version)));
                values.push(ScalarValue::TimestampMillisecond(
                    Some(file.timestamp_ms),
                    None,
                ));
                partitioned
                    .push(partitioned_file(&file.path, file.size)?.with_partition_values(values));
                if let Some(only) = &file.only {
                    read_in_part.insert(file.path.clone(), only.clone());
                }
            }
            let files = ParquetFiles {
                model: &self.spec.model,
                store: &self.spec.store,
                schema: table_schema,
                groups: balanced_groups(partitioned, state.config().target_partitions())?,
                statistics: None,
                read_in_part,
                row_filters: false,
            };
            plans.push(files.scan(state, projection, limit).await?);
        }
        if plans.is_empty() {
            let schema = match projection {
                Some(indices) => Arc::new(self.schema.project(indices)?),
                None => Arc::clone(&self.schema),
            };
            return Ok(Arc::new(EmptyExec::new(schema)));
        }
        UnionExec::try_new(plans)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion::catalog::TableProvider;
    use datafusion::prelude::SessionContext;
    use datafusion_proto::bytes::{
        logical_plan_from_bytes_with_extension_codec, logical_plan_to_bytes_with_extension_codec,
        physical_plan_from_bytes_with_extension_codec, physical_plan_to_bytes_with_extension_codec,
    };
    use deltalake::DeltaTable;
    use deltalake::kernel::Action;
    use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
    use deltalake::protocol::{DeltaOperation, SaveMode};
    use roaring::RoaringTreemap;

    use super::ChangeFeedScan;
    use crate::cluster::{StrideLogicalCodec, StridePhysicalCodec};
    use crate::delta;
    use crate::lake::Lake;

    fn rows(ids: &[i64]) -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
        ]);
        let names: Vec<String> = ids.iter().map(|id| format!("n{id}")).collect();
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(Int64Array::from(ids.to_vec())),
                Arc::new(StringArray::from(names)),
            ],
        )
        .expect("batch")
    }

    async fn commit(table: &mut DeltaTable, actions: Vec<Action>) {
        let operation = DeltaOperation::Write {
            mode: SaveMode::Append,
            partition_by: None,
            predicate: None,
        };
        let snapshot = table.snapshot().expect("snapshot");
        let done = CommitBuilder::from(CommitProperties::default())
            .with_actions(actions)
            .build(Some(snapshot), table.log_store(), operation)
            .await
            .expect("commit");
        table.load_version(done.version).await.expect("reload");
    }

    /// The only file of `table` holding `id` 1, as its `remove` and `add` actions.
    fn first_file(table: &DeltaTable) -> (deltalake::kernel::Remove, deltalake::kernel::Add) {
        let snapshot = table.snapshot().expect("snapshot");
        let file = snapshot
            .log_data()
            .iter()
            .find(|f| f.num_records() == Some(6))
            .expect("the file of ids 1..=6");
        #[allow(deprecated)]
        let add = file.add_action();
        (file.remove_action(true), add)
    }

    fn vector(positions: &[u64]) -> deltalake::kernel::DeletionVectorDescriptor {
        let bitmap: RoaringTreemap = positions.iter().copied().collect();
        let text = delta::encode_deletion_vector(&bitmap).expect("encodes");
        deltalake::kernel::DeletionVectorDescriptor {
            storage_type: deltalake::kernel::StorageType::Inline,
            path_or_inline_dv: text,
            offset: None,
            size_in_bytes: 0,
            cardinality: bitmap.len() as i64,
        }
    }

    /// `id change_type version` of every row of `provider`, sorted; read after a
    /// trip through stride's codecs (logical plan, then physical plan), as an
    /// executor reads it, when `sent`.
    async fn feed(provider: Arc<dyn TableProvider>, sent: bool) -> Vec<String> {
        let ctx = SessionContext::new_with_config(crate::engine::session_config());
        let frame = ctx
            .read_table(provider)
            .and_then(|f| f.select_columns(&["id", "_change_type", "_commit_version"]))
            .expect("frame");
        if !sent {
            let batches = frame.collect().await.expect("reads");
            return lines_of(&batches);
        }
        let logical = logical_plan_to_bytes_with_extension_codec(
            frame.logical_plan(),
            &StrideLogicalCodec::default(),
        )
        .expect("encodes");
        let logical = logical_plan_from_bytes_with_extension_codec(
            &logical,
            &ctx.task_ctx(),
            &StrideLogicalCodec::default(),
        )
        .expect("decodes");
        let physical = ctx
            .state()
            .create_physical_plan(&logical)
            .await
            .expect("plan");
        let physical =
            physical_plan_to_bytes_with_extension_codec(physical, &StridePhysicalCodec::default())
                .expect("encodes");
        let physical = physical_plan_from_bytes_with_extension_codec(
            &physical,
            &ctx.task_ctx(),
            &StridePhysicalCodec::default(),
        )
        .expect("decodes");
        let batches = datafusion::physical_plan::collect(physical, ctx.task_ctx())
            .await
            .expect("reads");
        lines_of(&batches)
    }

    fn lines_of(batches: &[RecordBatch]) -> Vec<String> {
        let mut lines = Vec::new();
        for batch in batches {
            for row in 0..batch.num_rows() {
                let cells: Vec<String> = batch
                    .columns()
                    .iter()
                    .map(|c| arrow::util::display::array_value_to_string(c, row).expect("displays"))
                    .collect();
                lines.push(cells.join(" "));
            }
        }
        lines.sort();
        lines
    }

    async fn stride_feed(table: &DeltaTable, after: u64) -> Vec<String> {
        let schema = delta::change_feed(table, after).expect("feed").schema();
        let scan = ChangeFeedScan::try_new("t", table, after, schema)
            .await
            .expect("scan");
        feed(Arc::new(scan), true).await
    }

    fn expected(lines: &[&str]) -> Vec<String> {
        let mut lines: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        lines.sort();
        lines
    }

    /// A table whose commits hold every kind of change (change-data files, files
    /// added and removed, a deletion vector changed both ways): the feed's rows,
    /// worked out by hand, and delta-rs's where delta-rs reads them right.
    #[tokio::test(flavor = "multi_thread")]
    async fn the_feed_has_the_rows_each_commit_changed() {
        let folder = tempfile::tempdir().expect("temp dir");
        let location = folder.path().to_str().expect("utf-8 path");
        let lake = Lake::open(location, &Default::default()).expect("lake");
        let ctx = crate::engine::new_session();
        let info = serde_json::json!({});
        // v0: ids 1..=6 in one file (positions 0..=5).
        let frame = ctx.read_batch(rows(&[1, 2, 3, 4, 5, 6])).expect("frame");
        let (table, _) = delta::overwrite(&lake, "t", frame, &ctx.state(), info.clone(), true)
            .await
            .expect("v0");
        // v1: ids 2 and 5 deleted (positions 1 and 4), 7 inserted; stride writes
        // the commit's change-data file.
        let keys = vec![2i64.into(), 5i64.into()];
        let (mut table, _) =
            delta::delete_keys_and_insert(table, "t", "id", keys, vec![rows(&[7])], info)
                .await
                .expect("v1");
        // v2: the vector of the first file becomes {1, 5}: id 6 deleted, id 5 back.
        let (remove, mut add) = first_file(&table);
        add.deletion_vector = Some(vector(&[1, 5]));
        add.data_change = true;
        commit(&mut table, vec![Action::Remove(remove), Action::Add(add)]).await;
        // v3: ids 8 and 9 appended.
        let mut table = table
            .write(vec![rows(&[8, 9])])
            .with_save_mode(SaveMode::Append)
            .await
            .expect("v3");
        // v4: the first file removed, with its vector {1, 5}: ids 1, 3, 4, 5 deleted.
        let (remove, _) = first_file(&table);
        commit(&mut table, vec![Action::Remove(remove)]).await;
        assert_eq!(delta::version_of(&table), 4);

        let all = stride_feed(&table, 0).await;
        assert_eq!(
            all,
            expected(&[
                "2 delete 1",
                "5 delete 1",
                "7 insert 1",
                "6 delete 2",
                "5 insert 2",
                "8 insert 3",
                "9 insert 3",
                "1 delete 4",
                "3 delete 4",
                "4 delete 4",
                "5 delete 4",
            ])
        );
        // delta-rs reads v1..=v3 the same (it reads a removed file's deleted rows
        // instead of its others, so v4 is left out of this comparison).
        let mut until_v3 = table.clone();
        until_v3.load_version(3).await.expect("v3");
        let theirs = feed(delta::change_feed(&until_v3, 0).expect("feed"), false).await;
        assert_eq!(stride_feed(&until_v3, 0).await, theirs);
        assert_eq!(theirs.len(), 7);
        // Nothing after the last version: an empty feed.
        assert!(stride_feed(&table, 4).await.is_empty());
    }
}
