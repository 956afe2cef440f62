//! Delete-by-key with Delta deletion vectors: the rows to remove are marked in a
//! bitmap attached to their file's `add` action instead of rewriting the file. The
//! cost of removing a few rows from a large file becomes reading its key column.
//!
//! delta-rs 1.1 reads deletion vectors (queries, the change data feed, optimize) but
//! has no operation that writes them; this module writes them as the protocol says:
//! a `RoaringBitmapArray` (magic number, then a portable 64-bit roaring bitmap)
//! stored inline in the log (storage type `i`, Z85-encoded), and a `remove` of the
//! file with its old vector next to an `add` of the same file with the new one.

use std::sync::Arc;

use arrow::array::RecordBatch;
use deltalake::DeltaTable;
use deltalake::kernel::{Action, DeletionVectorDescriptor, StorageType};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use parquet::arrow::ParquetRecordBatchStreamBuilder;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, RowSelection, RowSelector,
};
use parquet::file::metadata::PageIndexPolicy;
// Deprecated in parquet 59 in favour of a hand-written AsyncFileReader; it is the
// reader of the same crate version delta-rs is built with, and does what is needed.
#[allow(deprecated)]
use parquet::arrow::async_reader::ParquetObjectReader;
use roaring::RoaringTreemap;

use super::key_set::Keys;
use crate::error::{Error, Result};

/// The magic number in front of a portable roaring bitmap (Delta protocol).
const PORTABLE_MAGIC: u32 = 1_681_511_377;

/// What deleting some keys from a table takes.
pub struct Deletion {
    /// Per file holding such rows, a `remove` (old vector) and an `add` (new vector).
    pub actions: Vec<Action>,
    /// The rows newly deleted, as they were (for the change data feed).
    pub rows: Vec<RecordBatch>,
}

/// How many files are searched for keys at once (each search is one task).
const FILES_AT_ONCE: usize = 4;

/// A file that may hold keys: what its new `remove`/`add` pair is built from.
struct Candidate {
    remove: deltalake::kernel::Remove,
    add: deltalake::kernel::Add,
    deleted: RoaringTreemap,
    path: Path,
}

/// The actions that mark every row of `table` whose `key` is in `keys` as deleted,
/// and the rows they delete. Files are searched concurrently.
pub async fn delete_actions(
    table: &DeltaTable,
    model: &str,
    key: &str,
    keys: Arc<Keys>,
) -> Result<Deletion> {
    let fail = |e: Error| Error::in_model(model, e);
    let snapshot = table.snapshot().map_err(|e| Error::in_model(model, e))?;
    let mut candidates = Vec::new();
    for file in snapshot.log_data().iter() {
        if !keys.may_be_in(file.stats(), key) {
            continue;
        }
        let deleted = match file.deletion_vector_descriptor() {
            Some(dv) => decode(&dv).map_err(fail)?,
            None => RoaringTreemap::new(),
        };
        // The same add, to carry the new vector (the log's own fields, paths as encoded).
        #[allow(deprecated)]
        let add = file.add_action();
        candidates.push(Candidate {
            remove: file.remove_action(true),
            add,
            deleted,
            path: file.object_store_path(),
        });
    }
    let store = table.log_store().object_store(None);
    let mut searches = futures::stream::iter(candidates.into_iter().map(|candidate| {
        let (store, keys, key) = (store.clone(), Arc::clone(&keys), key.to_string());
        tokio::spawn(async move { search_file(store, &keys, &key, candidate).await })
    }))
    .buffer_unordered(FILES_AT_ONCE);
    let mut actions = Vec::new();
    let mut deleted_rows = Vec::new();
    while let Some(found) = searches.next().await {
        let found = found.map_err(|e| fail(Error::Task(e.to_string())))?;
        if let Some((remove, add, rows)) = found.map_err(fail)? {
            actions.push(Action::Remove(remove));
            actions.push(Action::Add(add));
            deleted_rows.extend(rows);
        }
    }
    Ok(Deletion {
        actions,
        rows: deleted_rows,
    })
}

type Found = Option<(
    deltalake::kernel::Remove,
    deltalake::kernel::Add,
    Vec<RecordBatch>,
)>;

/// Reads the key column of one file; when rows hold keys not yet deleted, returns
/// the file's `remove`/`add` pair with the grown vector, and those rows.
async fn search_file(
    store: Arc<dyn object_store::ObjectStore>,
    keys: &Keys,
    key: &str,
    candidate: Candidate,
) -> Result<Found> {
    let Candidate {
        remove,
        mut add,
        mut deleted,
        path,
    } = candidate;
    #[allow(deprecated)]
    let mut reader = ParquetObjectReader::new(Arc::clone(&store), path.clone())
        .with_file_size(add.size.max(0) as u64);
    // The footer is read once for both passes, with the offset index: reading the
    // deleted rows then fetches only the pages that hold them, not whole columns.
    let options = ArrowReaderOptions::new().with_offset_index_policy(PageIndexPolicy::Optional);
    let metadata = ArrowReaderMetadata::load_async(&mut reader, options).await?;
    let builder = ParquetRecordBatchStreamBuilder::new_with_metadata(reader, metadata.clone());
    let Some(index) = builder
        .parquet_schema()
        .columns()
        .iter()
        .position(|c| c.name() == key)
    else {
        return Err(Error::Setting {
            setting: format!("unique_key `{key}`"),
            reason: format!("not a column of {path}"),
        });
    };
    let mask = ProjectionMask::leaves(builder.parquet_schema(), [index]);
    let mut stream = builder.with_projection(mask).build()?;
    let mut row: u64 = 0;
    let mut newly = Vec::new();
    while let Some(batch) = stream.next().await {
        let batch: RecordBatch = batch?;
        let matches = keys.mask(batch.column(0).as_ref())?;
        for matched in matches.values().iter() {
            if matched && deleted.insert(row) {
                newly.push(row);
            }
            row += 1;
        }
    }
    if newly.is_empty() {
        return Ok(None);
    }
    let rows = read_rows(store, &path, metadata, &newly, row).await?;
    add.data_change = true;
    add.deletion_vector = Some(encode(&deleted)?);
    Ok(Some((remove, add, rows)))
}

/// The rows at `positions` (ascending) of the file at `path` with `total` rows,
/// whose footer is `metadata`.
async fn read_rows(
    store: Arc<dyn object_store::ObjectStore>,
    path: &Path,
    metadata: ArrowReaderMetadata,
    positions: &[u64],
    total: u64,
) -> Result<Vec<RecordBatch>> {
    let mut selectors = Vec::new();
    let mut cursor = 0u64;
    for &position in positions {
        if position > cursor {
            selectors.push(RowSelector::skip((position - cursor) as usize));
        }
        selectors.push(RowSelector::select(1));
        cursor = position + 1;
    }
    if total > cursor {
        selectors.push(RowSelector::skip((total - cursor) as usize));
    }
    #[allow(deprecated)]
    let reader = ParquetObjectReader::new(store, path.clone());
    let stream = ParquetRecordBatchStreamBuilder::new_with_metadata(reader, metadata)
        .with_row_selection(RowSelection::from(selectors))
        .build()?;
    Ok(stream.try_collect().await?)
}

/// An inline descriptor for `bitmap`.
fn encode(bitmap: &RoaringTreemap) -> Result<DeletionVectorDescriptor> {
    let mut bytes = PORTABLE_MAGIC.to_le_bytes().to_vec();
    bitmap.serialize_into(&mut bytes)?;
    Ok(DeletionVectorDescriptor {
        storage_type: StorageType::Inline,
        path_or_inline_dv: z85::encode(&bytes),
        offset: None,
        size_in_bytes: i32::try_from(bytes.len()).unwrap_or(i32::MAX),
        cardinality: i64::try_from(bitmap.len()).unwrap_or(i64::MAX),
    })
}

/// The rows an inline descriptor (written by [`encode`]) marks as deleted.
fn decode(dv: &DeletionVectorDescriptor) -> Result<RoaringTreemap> {
    if dv.storage_type != StorageType::Inline {
        return Err(Error::Setting {
            setting: "deletion vector".to_string(),
            reason: "stored in a file; stride only updates inline vectors (run `stride optimize`)"
                .to_string(),
        });
    }
    decode_inline(&dv.path_or_inline_dv)
}

/// `bitmap` as the Z85 text of an inline deletion vector.
pub fn encode_inline(bitmap: &RoaringTreemap) -> Result<String> {
    Ok(encode(bitmap)?.path_or_inline_dv)
}

/// The rows (file positions) an inline deletion vector (its Z85 text in the log)
/// removes.
pub fn decode_inline(z85_text: &str) -> Result<RoaringTreemap> {
    let unsupported = |why: &str| Error::Setting {
        setting: "deletion vector".to_string(),
        reason: why.to_string(),
    };
    let bytes = z85::decode(z85_text).map_err(|_| unsupported("not Z85"))?;
    let (magic, bitmap) = bytes
        .split_at_checked(4)
        .ok_or_else(|| unsupported("too short"))?;
    if magic != PORTABLE_MAGIC.to_le_bytes() {
        return Err(unsupported("not a portable roaring bitmap"));
    }
    Ok(RoaringTreemap::deserialize_from(bitmap)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_vectors_round_trip() {
        let bitmap: RoaringTreemap = [0u64, 3, 4, 1_000_000, 5_000_000_000].into_iter().collect();
        let dv = encode(&bitmap).expect("encodes");
        assert_eq!(dv.cardinality, 5);
        assert_eq!(decode(&dv).expect("decodes"), bitmap);
    }
}
