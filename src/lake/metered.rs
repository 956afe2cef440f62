//! Counts what crosses the wire to the lake: bytes and requests read and written.
//! A run reports them, so "an incremental run fetches only the new files and the
//! columns it needs" is a figure, not a claim.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult,
    RenameOptions, Result, UploadPart,
};

/// How the table folders of raw files start (`raw/orders`).
const RAW_PREFIX: &str = "raw/";

/// The kinds of request an object store answers, as an S3 server counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// A GET of a whole object or of one byte range.
    Get,
    /// A HEAD: an object's size and version, no body.
    Head,
    /// One page of a LIST.
    List,
    /// A PUT of an object, or one part of a multipart upload.
    Put,
    /// A DELETE of one object.
    Delete,
}

const KINDS: usize = 5;

impl Request {
    fn index(self) -> usize {
        self as usize
    }
}

/// Bytes and requests that went through a [`MeteredStore`].
#[derive(Debug, Default)]
pub struct Traffic {
    bytes_read: AtomicU64,
    raw_bytes_read: AtomicU64,
    bytes_written: AtomicU64,
    /// Requests per kind ([`Request`] order).
    requests: [AtomicU64; KINDS],
    /// Microseconds spent waiting on requests, per kind (summed over concurrent
    /// requests, so it can pass the wall time).
    waited_us: [AtomicU64; KINDS],
    /// Bytes and GET requests per table (`raw/orders`, `warehouse/fct_orders`).
    read_by_table: Mutex<BTreeMap<String, (u64, u64)>>,
}

/// Requests of one kind and the time spent waiting on them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestCount {
    /// How many.
    pub count: u64,
    /// Microseconds waited on them, summed.
    pub waited_us: u64,
}

/// A reading of [`Traffic`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrafficTotals {
    /// Bytes fetched by GET requests (whole objects and ranges).
    pub bytes_read: u64,
    /// The part of `bytes_read` that came from raw files (`raw/`).
    pub raw_bytes_read: u64,
    /// GET requests: each HTTP request once (a read of several ranges of one file
    /// is as many requests as the store sends for it).
    pub reads: u64,
    /// Bytes sent by PUT requests and multipart parts.
    pub bytes_written: u64,
    /// PUT requests: uploads, multipart parts, copies (a rename is a copy).
    pub writes: u64,
    /// Every kind of request ([`Request`] order: GET, HEAD, LIST, PUT, DELETE).
    pub requests: [RequestCount; KINDS],
}

impl Traffic {
    /// The totals so far.
    pub fn totals(&self) -> TrafficTotals {
        let requests: [RequestCount; KINDS] = std::array::from_fn(|i| RequestCount {
            count: self.requests[i].load(Ordering::Relaxed),
            waited_us: self.waited_us[i].load(Ordering::Relaxed),
        });
        TrafficTotals {
            bytes_read: self.bytes_read.load(Ordering::Relaxed),
            raw_bytes_read: self.raw_bytes_read.load(Ordering::Relaxed),
            reads: requests[Request::Get.index()].count,
            bytes_written: self.bytes_written.load(Ordering::Relaxed),
            writes: requests[Request::Put.index()].count,
            requests,
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

    /// One request of `kind`, answered after `waited`.
    fn request(&self, kind: Request, waited: Duration) {
        self.requests[kind.index()].fetch_add(1, Ordering::Relaxed);
        self.waited_us[kind.index()].fetch_add(waited.as_micros() as u64, Ordering::Relaxed);
    }

    fn read(&self, table: String, bytes: u64) {
        self.bytes_read.fetch_add(bytes, Ordering::Relaxed);
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
            requests: std::array::from_fn(|i| RequestCount {
                count: self.requests[i]
                    .count
                    .saturating_sub(earlier.requests[i].count),
                waited_us: self.requests[i]
                    .waited_us
                    .saturating_sub(earlier.requests[i].waited_us),
            }),
        }
    }

    /// Requests of `kind`.
    pub fn of(&self, kind: Request) -> RequestCount {
        self.requests[kind.index()]
    }

    /// Every request, of every kind.
    pub fn total_requests(&self) -> u64 {
        self.requests.iter().map(|r| r.count).sum()
    }

    /// The requests per kind for a log line: `312 GET 2.1s, 40 LIST 0.3s, …`
    /// (kinds with none left out; the time is summed over concurrent requests).
    pub fn describe_requests(&self) -> String {
        let kinds = [
            (Request::Get, "GET"),
            (Request::Head, "HEAD"),
            (Request::List, "LIST"),
            (Request::Put, "PUT"),
            (Request::Delete, "DELETE"),
        ];
        let parts: Vec<String> = kinds
            .iter()
            .filter(|(kind, _)| self.of(*kind).count > 0)
            .map(|(kind, name)| {
                let r = self.of(*kind);
                format!("{} {name} {:.2}s", r.count, r.waited_us as f64 / 1e6)
            })
            .collect();
        if parts.is_empty() {
            "no requests".to_string()
        } else {
            parts.join(", ")
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
    /// Whether `inner` answers over HTTP, where a read of several ranges is one
    /// GET per run of nearby ranges (a local file is read in one call).
    http: bool,
    /// Raw files as the last listing of their folder gave them, over HTTP: a raw
    /// file never changes once landed, so a HEAD of one is answered from here.
    /// DataFusion sends a HEAD for each file of a listing of file paths at each
    /// scan, which on S3 is a round trip per raw file and scan.
    listed_raw: Arc<Mutex<HashMap<Path, ObjectMeta>>>,
}

impl MeteredStore {
    /// Wraps `inner`, whose lake starts at `root`; the counts go to `traffic`.
    /// `http`: `inner` is an object store reached over HTTP (S3), not a local disk.
    pub fn new(
        inner: Arc<dyn ObjectStore>,
        root: Path,
        traffic: Arc<Traffic>,
        http: bool,
    ) -> MeteredStore {
        MeteredStore {
            inner,
            traffic,
            root,
            http,
            listed_raw: Arc::default(),
        }
    }

    /// The listing of `prefix`, counted, with the raw files it finds kept for HEADs.
    fn listing(
        &self,
        prefix: Option<&Path>,
        listing: BoxStream<'static, Result<ObjectMeta>>,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        let listing = metered_list(listing, Arc::clone(&self.traffic));
        let raw_area = RAW_PREFIX.trim_end_matches('/');
        let lists_raw = self.http
            && prefix.is_some_and(|p| self.table_of(p).split('/').next() == Some(raw_area));
        if !lists_raw {
            return listing;
        }
        let listed = Arc::clone(&self.listed_raw);
        listing
            .inspect(move |found| {
                if let Ok(meta) = found {
                    let mut listed = listed.lock().unwrap_or_else(|e| e.into_inner());
                    listed.insert(meta.location.clone(), meta.clone());
                }
            })
            .boxed()
    }

    /// A HEAD of a raw file the last listing of its folder found, answered from it.
    fn listed_head(&self, location: &Path, options: &GetOptions) -> Option<GetResult> {
        let plain = options.head
            && options.if_match.is_none()
            && options.if_none_match.is_none()
            && options.if_modified_since.is_none()
            && options.if_unmodified_since.is_none()
            && options.range.is_none()
            && options.version.is_none();
        if !plain || !self.http {
            return None;
        }
        let listed = self.listed_raw.lock().unwrap_or_else(|e| e.into_inner());
        let meta = listed.get(location)?.clone();
        Some(GetResult {
            payload: GetResultPayload::Stream(futures::stream::empty().boxed()),
            range: 0..meta.size,
            meta,
            attributes: Default::default(),
        })
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
        let bytes = payload.content_length() as u64;
        let started = Instant::now();
        let result = self.inner.put_opts(location, payload, opts).await;
        self.traffic.request(Request::Put, started.elapsed());
        self.traffic.wrote(bytes);
        result
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
        if let Some(known) = self.listed_head(location, &options) {
            return Ok(known);
        }
        // A HEAD request reports the object's range but carries no body.
        let kind = if options.head {
            Request::Head
        } else {
            Request::Get
        };
        let started = Instant::now();
        let result = self.inner.get_opts(location, options).await;
        let waited = started.elapsed();
        self.traffic.request(kind, waited);
        let result = result
            .inspect_err(|e| tracing::trace!("{kind:?} {location} failed in {waited:.1?}: {e}"))?;
        let bytes = result.range.end - result.range.start;
        tracing::trace!("{kind:?} {location} {:?} in {waited:.1?}", result.range);
        if kind == Request::Get {
            self.traffic.read(self.table_of(location), bytes);
        }
        Ok(result)
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        if self.http {
            // What an HTTP store does itself (one GET per run of nearby ranges, a
            // few at a time), through this store so that each GET is counted.
            return object_store::coalesce_ranges(
                ranges,
                |range| self.get_range(location, range),
                object_store::OBJECT_STORE_COALESCE_DEFAULT,
            )
            .await;
        }
        let started = Instant::now();
        let found = self.inner.get_ranges(location, ranges).await;
        self.traffic.request(Request::Get, started.elapsed());
        let found = found?;
        let bytes = found.iter().map(|bytes| bytes.len() as u64).sum();
        tracing::trace!(
            "Get {location} {} ranges, {bytes} bytes in {:.1?}",
            ranges.len(),
            started.elapsed()
        );
        self.traffic.read(self.table_of(location), bytes);
        Ok(found)
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        let traffic = Arc::clone(&self.traffic);
        let mut last = Instant::now();
        self.inner
            .delete_stream(locations)
            .inspect(move |deleted| {
                let now = Instant::now();
                if deleted.is_ok() {
                    traffic.request(Request::Delete, now - last);
                }
                last = now;
            })
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        tracing::trace!("LIST {}", prefix.map(Path::as_ref).unwrap_or_default());
        self.listing(prefix, self.inner.list(prefix))
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        tracing::trace!(
            "LIST {} after {offset}",
            prefix.map(Path::as_ref).unwrap_or_default()
        );
        self.listing(prefix, self.inner.list_with_offset(prefix, offset))
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        tracing::trace!(
            "LIST {}/ (one level)",
            prefix.map(Path::as_ref).unwrap_or_default()
        );
        let started = Instant::now();
        let result = self.inner.list_with_delimiter(prefix).await;
        self.traffic.request(Request::List, started.elapsed());
        result
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        let started = Instant::now();
        let result = self.inner.copy_opts(from, to, options).await;
        self.traffic.request(Request::Put, started.elapsed());
        result
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        // On S3 a rename is a copy and a delete.
        let started = Instant::now();
        let result = self.inner.rename_opts(from, to, options).await;
        self.traffic.request(Request::Put, started.elapsed());
        self.traffic.request(Request::Delete, Duration::ZERO);
        result
    }
}

/// Objects an S3 LIST returns per page.
const LIST_PAGE: u64 = 1000;

/// `listing`, with its requests counted when it ends or is dropped: one LIST per
/// page of [`LIST_PAGE`] objects (at least one), and the time from its start.
fn metered_list(
    listing: BoxStream<'static, Result<ObjectMeta>>,
    traffic: Arc<Traffic>,
) -> BoxStream<'static, Result<ObjectMeta>> {
    struct Counted {
        traffic: Arc<Traffic>,
        started: Instant,
        objects: u64,
    }
    impl Drop for Counted {
        fn drop(&mut self) {
            let pages = self.objects / LIST_PAGE + 1;
            let waited = self.started.elapsed();
            for _ in 0..pages {
                self.traffic.request(Request::List, waited / pages as u32);
            }
        }
    }
    let mut counted = Counted {
        traffic,
        started: Instant::now(),
        objects: 0,
    };
    listing
        .inspect(move |found| {
            // The whole struct moves in (not just the field), so that it drops,
            // and counts, with the stream.
            let counted = &mut counted;
            if found.is_ok() {
                counted.objects += 1;
            }
        })
        .boxed()
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
        self.traffic.request(Request::Put, Duration::ZERO);
        self.upload.put_part(data)
    }

    async fn complete(&mut self) -> Result<PutResult> {
        self.upload.complete().await
    }

    async fn abort(&mut self) -> Result<()> {
        self.upload.abort().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;

    fn metered(http: bool) -> (MeteredStore, Arc<Traffic>) {
        let traffic = Arc::new(Traffic::default());
        let store = MeteredStore::new(
            Arc::new(InMemory::new()),
            Path::from("lake"),
            Arc::clone(&traffic),
            http,
        );
        (store, traffic)
    }

    fn count(traffic: &Traffic, kind: Request) -> u64 {
        traffic.totals().of(kind).count
    }

    #[tokio::test]
    async fn each_kind_of_request_is_counted_once() {
        let (store, traffic) = metered(true);
        for name in ["a", "b", "c"] {
            store
                .put(
                    &Path::from(format!("lake/raw/t/{name}")),
                    vec![1u8; 10].into(),
                )
                .await
                .unwrap();
        }
        store.get(&Path::from("lake/raw/t/a")).await.unwrap();
        store.head(&Path::from("lake/raw/t/a")).await.unwrap();
        let listed: Vec<_> = store.list(Some(&Path::from("lake"))).collect().await;
        assert_eq!(listed.len(), 3);
        store.delete(&Path::from("lake/raw/t/a")).await.unwrap();
        assert_eq!(count(&traffic, Request::Put), 3);
        assert_eq!(count(&traffic, Request::Get), 1);
        assert_eq!(count(&traffic, Request::Head), 1);
        assert_eq!(count(&traffic, Request::List), 1);
        assert_eq!(count(&traffic, Request::Delete), 1);
        let totals = traffic.totals();
        assert_eq!(totals.total_requests(), 7);
        assert_eq!((totals.bytes_read, totals.raw_bytes_read), (10, 10));
        assert_eq!(totals.bytes_written, 30);
        assert_eq!(
            totals
                .describe_requests()
                .split(", ")
                .collect::<Vec<_>>()
                .len(),
            5
        );
    }

    #[tokio::test]
    async fn a_read_of_ranges_is_one_get_per_run_of_nearby_ranges_over_http() {
        let file = Path::from("lake/warehouse/m/part.parquet");
        let ranges = [0..10, 20..30, (3 << 20)..(3 << 20) + 10];
        for (http, gets) in [(true, 2), (false, 1)] {
            let (store, traffic) = metered(http);
            store.put(&file, vec![7u8; 4 << 20].into()).await.unwrap();
            let found = store.get_ranges(&file, &ranges).await.unwrap();
            assert_eq!(found.iter().map(|b| b.len()).sum::<usize>(), 30);
            assert_eq!(count(&traffic, Request::Get), gets, "http: {http}");
        }
    }

    #[tokio::test]
    async fn a_listing_counts_a_request_per_page_even_when_dropped_early() {
        let (store, traffic) = metered(true);
        for i in 0..2_500 {
            store
                .put(&Path::from(format!("lake/raw/t/{i:05}")), vec![0u8].into())
                .await
                .unwrap();
        }
        let all: Vec<_> = store.list(Some(&Path::from("lake/raw"))).collect().await;
        assert_eq!(all.len(), 2_500);
        assert_eq!(count(&traffic, Request::List), 3);
        let first = store.list(Some(&Path::from("lake/raw"))).next().await;
        assert!(first.is_some());
        assert_eq!(count(&traffic, Request::List), 4);
    }

    #[tokio::test]
    async fn a_head_of_a_listed_raw_file_over_http_is_answered_from_the_listing() {
        let raw = Path::from("lake/raw/orders/batch_date=2026-01-01/a.parquet");
        let model = Path::from("lake/warehouse/m/part.parquet");
        for (http, heads) in [(true, 2), (false, 3)] {
            let (store, traffic) = metered(http);
            store.put(&raw, vec![1u8; 12].into()).await.unwrap();
            store.put(&model, vec![1u8; 5].into()).await.unwrap();
            // Not listed yet: asked of the store.
            assert_eq!(store.head(&raw).await.unwrap().size, 12);
            let listed: Vec<_> = store
                .list(Some(&Path::from("lake/raw/orders")))
                .collect()
                .await;
            assert_eq!(listed.len(), 1);
            assert_eq!(store.head(&raw).await.unwrap().size, 12);
            // Only raw files are kept: a model's files change.
            let _: Vec<_> = store
                .list(Some(&Path::from("lake/warehouse")))
                .collect()
                .await;
            assert_eq!(store.head(&model).await.unwrap().size, 5);
            assert_eq!(count(&traffic, Request::Head), heads, "http: {http}");
        }
    }
}
