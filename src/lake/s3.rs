//! `s3://bucket/prefix` lakes: the `object_store` client for an S3-compatible store,
//! the Delta log store that commits to it, and plain-words explanations of its
//! failures (unreachable endpoint, refused credentials, missing bucket).
//!
//! Delta commits use S3's conditional put (`If-None-Match: *`), which AWS S3 and
//! MinIO support: two writers cannot both create version N of a table, and no
//! rename or lock table (DynamoDB) is needed.

use std::sync::{Arc, Once};

use deltalake::logstore::{
    LogStore, LogStoreFactory, ObjectStoreRef, StorageConfig, default_logstore, logstore_factories,
};
use object_store::aws::{AmazonS3, AmazonS3Builder, S3ConditionalPut};
use object_store::client::{HttpError, HttpErrorKind};
use object_store::{BackoffConfig, ClientOptions, RetryConfig};
use url::Url;

use crate::config::S3Settings;
use crate::error::{Error, Result};

/// The S3 client for `bucket`, from `settings` (file and environment).
pub fn store(bucket: &str, settings: &S3Settings) -> Result<AmazonS3> {
    let setting_error = |reason: String| Error::Setting {
        setting: "[s3] in stride.toml / AWS_* variables".to_string(),
        reason,
    };
    let limits = settings.limits();
    let mut builder = AmazonS3Builder::new()
        // First: `with_client_options` replaces what `with_allow_http` sets.
        .with_client_options(
            ClientOptions::new()
                .with_connect_timeout(limits.connect_timeout)
                .with_timeout(limits.request_timeout),
        )
        .with_bucket_name(bucket)
        .with_region(settings.region.as_deref().unwrap_or("us-east-1"))
        .with_allow_http(settings.allow_http.unwrap_or(false))
        .with_virtual_hosted_style_request(settings.virtual_hosted_style.unwrap_or(false))
        // Explicit, though it is object_store's default: Delta commits and the lake
        // lock rely on create-if-absent puts.
        .with_conditional_put(S3ConditionalPut::ETagMatch)
        .with_retry(RetryConfig {
            backoff: BackoffConfig {
                init_backoff: std::time::Duration::from_millis(200),
                max_backoff: std::time::Duration::from_secs(4),
                base: 2.0,
            },
            max_retries: limits.max_retries,
            retry_timeout: limits.retry_timeout,
        });
    if let Some(endpoint) = &settings.endpoint {
        builder = builder.with_endpoint(endpoint.trim_end_matches('/'));
    }
    match (&settings.access_key_id, &settings.secret_access_key) {
        (Some(id), Some(secret)) => {
            builder = builder
                .with_access_key_id(id)
                .with_secret_access_key(secret.expose());
            if let Some(token) = &settings.session_token {
                builder = builder.with_token(token.expose());
            }
        }
        (None, None) if settings.endpoint.is_none() => {
            // AWS proper: the instance or container role, as the AWS tools do.
        }
        (None, None) => {
            return Err(setting_error(
                "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY \
                 (or access_key_id and secret_access_key under [s3])"
                    .to_string(),
            ));
        }
        (Some(_), None) => {
            return Err(setting_error(
                "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not".to_string(),
            ));
        }
        (None, Some(_)) => {
            return Err(setting_error(
                "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not".to_string(),
            ));
        }
    }
    // object_store's messages would not say which setting is wrong; these do, and
    // never include a value that could be a secret.
    builder.build().map_err(|e| setting_error(e.to_string()))
}

/// Lets delta-rs open `s3://` tables with the store stride hands it; the log store
/// is delta-rs's default one, which commits with a create-if-absent put.
pub fn register_delta_log_store() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for scheme in ["s3://", "s3a://"] {
            if let Ok(url) = Url::parse(scheme) {
                logstore_factories().insert(url, Arc::new(ConditionalPutLogStore));
            }
        }
    });
}

/// delta-rs's default log store: commit `N.json` only if it does not exist yet.
struct ConditionalPutLogStore;

impl LogStoreFactory for ConditionalPutLogStore {
    fn with_options(
        &self,
        prefixed_store: ObjectStoreRef,
        root_store: ObjectStoreRef,
        location: &Url,
        options: &StorageConfig,
    ) -> deltalake::DeltaResult<Arc<dyn LogStore>> {
        Ok(default_logstore(
            prefixed_store,
            root_store,
            location,
            options,
        ))
    }
}

/// Says in plain words why a request to the store failed, when the cause is one a
/// user fixes in their settings: an endpoint that cannot be reached, credentials
/// the server refuses, a bucket that does not exist.
pub fn explain(error: &object_store::Error, bucket: &str, endpoint: &str) -> Option<String> {
    let text = chain_text(error);
    // The S3 error code when the server sent one, for the message.
    let code = |codes: &[&'static str]| codes.iter().find(|code| text.contains(*code)).copied();
    let with_code = |code: Option<&str>| code.map(|c| format!(" ({c})")).unwrap_or_default();
    if let Some(code) = code(&["NoSuchBucket"]) {
        return Some(format!(
            "bucket `{bucket}` does not exist at {endpoint} ({code})"
        ));
    }
    // A code the server sent decides before the HTTP status object_store mapped.
    let refused = code(&["InvalidAccessKeyId", "SignatureDoesNotMatch", "NotSignedUp"]);
    let denied = code(&["AccessDenied"]);
    if refused.is_some()
        || (denied.is_none() && matches!(error, object_store::Error::Unauthenticated { .. }))
    {
        return Some(format!(
            "{endpoint} refused the credentials{}: check AWS_ACCESS_KEY_ID and \
             AWS_SECRET_ACCESS_KEY",
            with_code(refused)
        ));
    }
    if denied.is_some() || matches!(error, object_store::Error::PermissionDenied { .. }) {
        return Some(format!(
            "{endpoint} denied access to bucket `{bucket}`{}",
            with_code(denied)
        ));
    }
    let http = crate::error::causes(error).find_map(|e| e.downcast_ref::<HttpError>())?;
    let tries = retries_said(&text);
    match http.kind() {
        HttpErrorKind::Connect => Some(format!(
            "cannot connect to {endpoint}{tries}: is the server up and AWS_ENDPOINT_URL right?"
        )),
        HttpErrorKind::Timeout => Some(format!("{endpoint} did not answer in time{tries}")),
        HttpErrorKind::Request | HttpErrorKind::Interrupted => Some(format!(
            "the connection to {endpoint} failed{tries}: {}",
            deepest(error)
        )),
        _ => None,
    }
}

/// The endpoint to name in messages.
pub fn endpoint_name(settings: &S3Settings) -> String {
    settings
        .endpoint
        .clone()
        .unwrap_or_else(|| "AWS S3".to_string())
}

fn chain_text(error: &object_store::Error) -> String {
    crate::error::causes(error)
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join(" | ")
}

fn deepest(error: &object_store::Error) -> String {
    crate::error::causes(error)
        .last()
        .map(|e| e.to_string())
        .unwrap_or_default()
}

/// object_store says "after N retries" when it retried; keep that part.
fn retries_said(text: &str) -> String {
    text.find("after ")
        .and_then(|at| {
            let rest = &text[at..];
            rest.find(" retries")
                .map(|end| format!(" ({})", &rest[..end + 8]))
        })
        .unwrap_or_default()
}
