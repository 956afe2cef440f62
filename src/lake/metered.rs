//! Counts what crosses the wire to the lake: bytes and requests read and written.
//! A run reports them, so "an incremental run fetches only the new files and the
//! columns it needs" is a figure, not a claim.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result, UploadPart,
};

/// How the table folders of raw files start (`raw/orders`).
const RAW_PREFIX: &str = "raw/";

/// Bytes and requests that went through a [`MeteredStore`].
#[derive(Debug, Default)]
pub struct Traffic {
    bytes_read: AtomicU64,
    raw_bytes_read: AtomicU64,
    reads: AtomicU64,
    bytes_written: AtomicU64,
    writes: AtomicU64,
    /// Bytes and GET requests per table (`raw/orders`, `warehouse/fct_orders`).
    read_by_table: Mutex<BTreeMap<String, (u64, u64)>>,
}

/// A reading of [`Traffic`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrafficTotals {
    /// Bytes fetched by GET requests (whole objects and ranges).
    pub bytes_read: u64,
    /// The part of `bytes_read` that came from raw files (`raw/`).
    pub raw_bytes_read: u64,
    /// GET requests (a `get_ranges` call counts once, as the store coalesces it).
    pub reads: u64,
    /// Bytes sent by PUT requests and multipart parts.
    pub bytes_written: u64,
    /// PUT requests and multipart parts.
    pub writes: u64,
}

impl Traffic {
    /// The totals so far.
    pub fn totals(&self) -> TrafficTotals {
        TrafficTotals {
            bytes_read: self.bytes_read.load(Ordering::Relaxed),
            raw_bytes_read: self.raw_bytes_read.load(Ordering::Relaxed),
            reads: self.reads.load(Ordering::Relaxed),
            bytes_written: self.bytes_written.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
        }
    }

    /// Bytes and GET requests per table folder (`raw/orders`,
    /// `warehouse/fct_orders`), largest first.
    pub fn read_by_table(&self) -> Vec<(String, u64, u64)> {
        let by_table = self.read_by_table.lock().unwrap_or_else(|e| e.into_inner());
        let mut rows: Vec<(String, u64, u64)> = by_table
            .iter()
            .map(|(table, (bytes, reads))| (table.clone(), *bytes, *reads))
            .collect();
        rows.sort_by_key(|row| std::cmp::Reverse(row.1));
        rows
    }

    fn read(&self, table: String, bytes: u64) {
        self.bytes_read.fetch_add(bytes, Ordering::Relaxed);
        self.reads.fetch_add(1, Ordering::Relaxed);
        if table.starts_with(RAW_PREFIX) {
            self.raw_bytes_read.fetch_add(bytes, Ordering::Relaxed);
        }
        let mut by_table = self.read_by_table.lock().unwrap_or_else(|e| e.into_inner());
        let entry = by_table.entry(table).or_default();
        entry.0 += bytes;
        entry.1 += 1;
    }

    fn wrote(&self, bytes: u64) {
        self.bytes_written.fetch_add(bytes, Ordering::Relaxed);
        self.writes.fetch_add(1, Ordering::Relaxed);
    }
}

impl TrafficTotals {
    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &TrafficTotals) -> TrafficTotals {
        TrafficTotals {
            bytes_read: self.bytes_read.saturating_sub(earlier.bytes_read),
            raw_bytes_read: self.raw_bytes_read.saturating_sub(earlier.raw_bytes_read),
            reads: self.reads.saturating_sub(earlier.reads),
            bytes_written: self.bytes_written.saturating_sub(earlier.bytes_written),
            writes: self.writes.saturating_sub(earlier.writes),
        }
    }
}

/// An object store that counts the traffic of the store it wraps.
#[derive(Debug)]
pub struct MeteredStore {
    inner: Arc<dyn ObjectStore>,
    traffic: Arc<Traffic>,
    /// The lake root inside `inner`, so reads are counted per table under it.
    root: Path,
}

impl MeteredStore {
    /// Wraps `inner`, whose lake starts at `root`; the counts go to `traffic`.
    pub fn new(inner: Arc<dyn ObjectStore>, root: Path, traffic: Arc<Traffic>) -> MeteredStore {
        MeteredStore {
            inner,
            traffic,
            root,
        }
    }

    /// The table folder `location` is in: its first two parts under the root.
    fn table_of(&self, location: &Path) -> String {
        let parts: Vec<_> = match location.prefix_match(&self.root) {
            Some(rest) => rest.take(2).collect(),
            None => location.parts().take(2).collect(),
        };
        parts
            .iter()
            .map(|part| part.as_ref())
            .collect::<Vec<_>>()
            .join("/")
    }
}

impl std::fmt::Display for MeteredStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Metered({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for MeteredStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.traffic.wrote(payload.content_length() as u64);
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        let upload = self.inner.put_multipart_opts(location, opts).await?;
        Ok(Box::new(MeteredUpload {
            upload,
            traffic: Arc::clone(&self.traffic),
        }))
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        // A HEAD request reports the object's range but carries no body.
        let head = options.head;
        let result = self.inner.get_opts(location, options).await?;
        if !head {
            self.traffic.read(
                self.table_of(location),
                result.range.end - result.range.start,
            );
        }
        Ok(result)
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        let found = self.inner.get_ranges(location, ranges).await?;
        self.traffic.read(
            self.table_of(location),
            found.iter().map(|bytes| bytes.len() as u64).sum(),
        );
        Ok(found)
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
}

/// A multipart upload whose parts are counted as writes.
#[derive(Debug)]
struct MeteredUpload {
    upload: Box<dyn MultipartUpload>,
    traffic: Arc<Traffic>,
}

#[async_trait]
impl MultipartUpload for MeteredUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        self.traffic.wrote(data.content_length() as u64);
        self.upload.put_part(data)
    }

    async fn complete(&mut self) -> Result<PutResult> {
        self.upload.complete().await
    }

    async fn abort(&mut self) -> Result<()> {
        self.upload.abort().await
    }
}
