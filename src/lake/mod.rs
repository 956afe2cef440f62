//! The lake: one root URL in object storage and the layout of SPEC section 1.
//!
//! Every byte stride reads or writes in the lake goes through [`object_store`], so a
//! local folder and an S3 bucket behave the same to the rest of the code.

mod lock;
mod metered;
pub mod s3;

use std::sync::Arc;

use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use url::Url;

use crate::config::S3Settings;
use crate::error::{Error, Result};

pub use lock::{
    LakeLock, SERVE_LOCK_FILE, VERIFY_LOCK_FILE, host_name, process_id, process_is_gone,
};
pub use metered::{MeteredStore, Request, RequestCount, Traffic, TrafficTotals};

/// Folder of landed change batches: `raw/<table>/batch_date=YYYY-MM-DD/*.parquet`.
pub const RAW: &str = "raw";
/// Folder of the Delta tables, one per materialized model: `warehouse/<model>/`.
pub const WAREHOUSE: &str = "warehouse";
/// Folder of rows rejected by source contracts: `quarantine/<table>/`.
pub const QUARANTINE: &str = "quarantine";
/// Folder of stride's own bookkeeping (the generator's settings and progress, the
/// lock of the process changing the lake).
pub const STATE: &str = "_stride";

/// An opened lake: where it is, and the object store that reaches it.
#[derive(Debug, Clone)]
pub struct Lake {
    /// The lake root, always ending in `/` (e.g. `file:///home/me/lake/`).
    url: Url,
    /// The store serving the root's scheme and authority (the file system, a bucket).
    store: Arc<dyn ObjectStore>,
    /// The lake root as a path inside `store`.
    root: Path,
    /// What went through `store`.
    traffic: Arc<Traffic>,
    /// The S3 endpoint, for messages and [`Lake::identity`] (`None` for a local lake).
    endpoint: Option<String>,
    /// The folder of the models' Delta tables: [`WAREHOUSE`], or a scratch folder
    /// for a rebuild nothing else reads (see [`Lake::with_warehouse`]).
    warehouse: String,
}

impl Lake {
    /// Opens the lake at `location`: a local path, a `file://` URL or
    /// `s3://bucket/prefix` (reached with `s3`). Nothing is contacted yet; see
    /// [`Lake::check_reachable`].
    pub fn open(location: &str, s3: &S3Settings) -> Result<Lake> {
        let url = parse_location(location)?;
        let bad = |reason: String| Error::LakeLocation {
            location: location.to_string(),
            reason,
        };
        let traffic = Arc::new(Traffic::default());
        let (store, root, endpoint): (Arc<dyn ObjectStore>, Path, Option<String>) =
            match url.scheme() {
                "file" => {
                    let root = Path::from_url_path(url.path()).map_err(|e| bad(e.to_string()))?;
                    (Arc::new(LocalFileSystem::new()), root, None)
                }
                "s3" | "s3a" => {
                    let bucket = url
                        .host_str()
                        .filter(|b| !b.is_empty())
                        .ok_or_else(|| bad("no bucket: use s3://bucket/prefix".to_string()))?;
                    let root = Path::from_url_path(url.path()).map_err(|e| bad(e.to_string()))?;
                    s3::register_delta_log_store();
                    let store = s3::store(bucket, s3)?;
                    (Arc::new(store), root, Some(s3::endpoint_name(s3)))
                }
                other => {
                    return Err(bad(format!(
                        "scheme `{other}` is not supported (use a local folder, file:// or s3://)"
                    )));
                }
            };
        let http = endpoint.is_some();
        let store = Arc::new(MeteredStore::new(
            store,
            root.clone(),
            Arc::clone(&traffic),
            http,
        ));
        Ok(Lake {
            url,
            store,
            root,
            traffic,
            endpoint,
            warehouse: WAREHOUSE.to_string(),
        })
    }

    /// The same lake (same store, raw files, ledgers and bookkeeping) whose models'
    /// tables live under `folder` instead of `warehouse/`: a rebuild written there
    /// is seen by nothing that reads the served tables.
    pub fn with_warehouse(&self, folder: &str) -> Lake {
        Lake {
            warehouse: folder.trim_matches('/').to_string(),
            ..self.clone()
        }
    }

    /// The folder of `model`'s Delta table, relative to the lake root.
    pub fn model_folder(&self, model: &str) -> String {
        format!("{}/{model}", self.warehouse)
    }

    /// Fails fast, in plain words, when an S3 lake cannot be used: the endpoint
    /// is unreachable, the credentials are refused or the bucket is missing. One
    /// LIST request; a local lake needs no check.
    pub async fn check_reachable(&self) -> Result<()> {
        let Some(endpoint) = &self.endpoint else {
            return Ok(());
        };
        match self.store.list_with_delimiter(Some(&self.root)).await {
            Ok(_) => Ok(()),
            Err(source) => {
                let bucket = self.url.host_str().unwrap_or_default();
                match s3::explain(&source, bucket, endpoint) {
                    Some(problem) => Err(Error::Unreachable {
                        lake: self.url.to_string(),
                        problem,
                    }),
                    None => Err(Error::Store {
                        path: self.url.to_string(),
                        source,
                    }),
                }
            }
        }
    }

    /// Bytes and requests read from and written to the lake so far.
    pub fn traffic(&self) -> TrafficTotals {
        self.traffic.totals()
    }

    /// Bytes and GET requests so far per table folder, largest first.
    pub fn read_by_table(&self) -> Vec<(String, u64, u64)> {
        self.traffic.read_by_table()
    }

    /// Whether the lake is on the local file system.
    pub fn is_local(&self) -> bool {
        self.url.scheme() == "file"
    }

    /// What tells this lake from another in a publish's record: its URL, and for
    /// an S3 lake the endpoint too (the same `s3://bucket/prefix` on two servers
    /// is two lakes).
    pub fn identity(&self) -> String {
        match &self.endpoint {
            None => self.url.to_string(),
            Some(endpoint) => format!("{} at {endpoint}", self.url),
        }
    }

    /// The lake root URL, ending in `/`.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The object store that serves the lake.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The store path of `relative` (e.g. `raw/orders`) under the lake root.
    pub fn path(&self, relative: &str) -> Path {
        relative
            .split('/')
            .filter(|part| !part.is_empty())
            .fold(self.root.clone(), |path, part| path.join(part))
    }

    /// The URL of the folder `relative` under the lake root, ending in `/`.
    pub fn folder_url(&self, relative: &str) -> Url {
        let mut url = self.url.clone();
        let trimmed = relative.trim_matches('/');
        url.set_path(&format!("{}{}/", self.url.path(), trimmed));
        url
    }

    /// The URL of the Delta table of `model`.
    pub fn model_url(&self, model: &str) -> Url {
        self.folder_url(&self.model_folder(model))
    }

    /// The URL of the folder holding the raw files of `table`.
    pub fn raw_table_url(&self, table: &str) -> Url {
        self.folder_url(&format!("{RAW}/{table}"))
    }

    /// A path relative to the lake root, for messages (`raw/orders/…/x.parquet`).
    pub fn relative(&self, path: &Path) -> String {
        let full = path.as_ref();
        let root = self.root.as_ref();
        full.strip_prefix(root)
            .map(|rest| rest.trim_start_matches('/').to_string())
            .unwrap_or_else(|| full.to_string())
    }

    /// Makes sure the folder `relative` exists where the store needs folders to exist
    /// (a local file system); object stores have no folders, so it does nothing there.
    pub fn ensure_folder(&self, relative: &str) -> Result<()> {
        if self.is_local()
            && let Ok(local) = self.folder_url(relative).to_file_path()
        {
            std::fs::create_dir_all(&local).map_err(|e| Error::LakeLocation {
                location: local.display().to_string(),
                reason: e.to_string(),
            })?;
        }
        Ok(())
    }

    /// Whether any object exists under the folder `relative`.
    pub async fn folder_exists(&self, relative: &str) -> Result<bool> {
        use futures::StreamExt;
        let prefix = self.path(relative);
        match self.store.list(Some(&prefix)).next().await {
            None => Ok(false),
            Some(Ok(_)) => Ok(true),
            Some(Err(source)) => Err(Error::Store {
                path: self.object_url(&prefix),
                source,
            }),
        }
    }

    /// Every object under the folder `relative` (at any depth).
    pub async fn list(&self, relative: &str) -> Result<Vec<object_store::ObjectMeta>> {
        use futures::TryStreamExt;
        let prefix = self.path(relative);
        self.store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|source| Error::Store {
                path: self.object_url(&prefix),
                source,
            })
    }

    /// Writes `bytes` at `relative` in one put: readers see the whole object or none.
    pub async fn put(&self, relative: &str, bytes: Vec<u8>) -> Result<()> {
        let path = self.path(relative);
        self.store
            .put(&path, bytes.into())
            .await
            .map_err(|source| Error::Store {
                path: self.object_url(&path),
                source,
            })?;
        Ok(())
    }

    /// Reads the object at `relative`, or `None` when there is none.
    pub async fn get(&self, relative: &str) -> Result<Option<bytes::Bytes>> {
        let path = self.path(relative);
        let store_error = |source| Error::Store {
            path: self.object_url(&path),
            source,
        };
        match self.store.get(&path).await {
            Ok(found) => Ok(Some(found.bytes().await.map_err(store_error)?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(source) => Err(store_error(source)),
        }
    }

    /// Deletes the object at `relative`; an object already gone is not an error.
    pub async fn delete(&self, relative: &str) -> Result<()> {
        let path = self.path(relative);
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(source) => Err(Error::Store {
                path: self.object_url(&path),
                source,
            }),
        }
    }

    /// The URL of one object, for messages that must name a file exactly.
    pub fn object_url(&self, path: &Path) -> String {
        format!("{}{}", self.url, self.relative(path))
    }
}

/// Turns `--lake` into an absolute URL ending in `/`.
fn parse_location(location: &str) -> Result<Url> {
    let bad = |reason: String| Error::LakeLocation {
        location: location.to_string(),
        reason,
    };
    let mut url = if location.contains("://") {
        Url::parse(location).map_err(|e| bad(e.to_string()))?
    } else {
        let absolute = std::path::absolute(location).map_err(|e| bad(e.to_string()))?;
        Url::from_directory_path(&absolute)
            .map_err(|()| bad("not an absolute local path".to_string()))?
    };
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_become_file_urls_ending_in_slash() {
        let lake = Lake::open("/tmp/some lake", &S3Settings::default()).expect("local path opens");
        assert_eq!(lake.url().as_str(), "file:///tmp/some%20lake/");
        assert_eq!(
            lake.model_url("fct_orders").as_str(),
            "file:///tmp/some%20lake/warehouse/fct_orders/"
        );
        let path = lake.path("raw/orders/batch_date=2026-01-01/a.parquet");
        assert_eq!(
            lake.relative(&path),
            "raw/orders/batch_date=2026-01-01/a.parquet"
        );
    }

    #[test]
    fn unsupported_scheme_names_the_location() {
        let err = Lake::open("ftp://host/x", &S3Settings::default()).expect_err("ftp is refused");
        assert!(err.to_string().contains("ftp://host/x"), "{err}");
    }

    #[test]
    fn s3_lakes_need_a_bucket_and_credentials_for_an_endpoint() {
        let none = S3Settings::default();
        let err = Lake::open("s3:///prefix", &none).expect_err("no bucket");
        assert!(err.to_string().contains("no bucket"), "{err}");
        let minio = S3Settings {
            endpoint: Some("http://127.0.0.1:9000".into()),
            ..S3Settings::default()
        };
        let err = Lake::open("s3://b/p", &minio).expect_err("no credentials");
        assert!(err.to_string().contains("AWS_ACCESS_KEY_ID"), "{err}");
        let lake = Lake::open("s3://b/p", &none).expect("AWS with a role opens");
        assert_eq!(lake.model_url("m").as_str(), "s3://b/p/warehouse/m/");
        assert_eq!(lake.relative(&lake.path("raw/x")), "raw/x");
    }
}
