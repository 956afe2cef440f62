//! How the scheduler and executors reach the lake: local files through the file
//! system they share with the client, S3 buckets with the settings and `AWS_*`
//! variables of the process itself. Nothing about storage, credentials least of
//! all, travels with a plan: only URLs do.

use std::sync::{Arc, Mutex};

use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use object_store::ObjectStore;
use url::Url;

use crate::config::S3Settings;
use crate::lake::s3;

/// An object store registry that opens an `s3://bucket` store the first time a
/// plan names the bucket (with this process's S3 settings), and serves `file://`
/// from the local file system.
#[derive(Debug)]
pub struct LakeStores {
    known: DefaultObjectStoreRegistry,
    settings: S3Settings,
    /// Serializes the opening of a bucket so two tasks do not build two clients.
    opening: Mutex<()>,
}

impl LakeStores {
    /// A registry reaching S3 with `settings`.
    pub fn new(settings: S3Settings) -> LakeStores {
        LakeStores {
            known: DefaultObjectStoreRegistry::new(),
            settings,
            opening: Mutex::new(()),
        }
    }
}

impl ObjectStoreRegistry for LakeStores {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.known.register_store(url, store)
    }

    fn deregister_store(&self, url: &Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        self.known.deregister_store(url)
    }

    fn get_store(&self, url: &Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        if let Ok(store) = self.known.get_store(url) {
            return Ok(store);
        }
        let bucket = match url.scheme() {
            "s3" | "s3a" => url.host_str().unwrap_or_default(),
            _ => return self.known.get_store(url),
        };
        let _opening = self
            .opening
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Ok(store) = self.known.get_store(url) {
            return Ok(store);
        }
        let store: Arc<dyn ObjectStore> = Arc::new(
            s3::store(bucket, &self.settings)
                .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?,
        );
        tracing::info!(
            "reaching s3://{bucket} at {}",
            s3::endpoint_name(&self.settings)
        );
        self.known.register_store(url, Arc::clone(&store));
        Ok(store)
    }
}
