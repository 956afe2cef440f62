//! Settings that are not flags: the lake location and how to reach S3, read from
//! `stride.toml` (or `--config FILE`) and overridden by the standard environment
//! variables, the way the AWS tools read them.
//!
//! Precedence, highest first: command-line flag, environment variable, config file,
//! built-in default. Secrets are kept in [`Secret`], whose `Debug` prints `***`, so
//! they cannot reach a log line or an error message by accident.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result};

/// The config file read when `--config` is not given and it exists.
pub const DEFAULT_CONFIG_FILE: &str = "stride.toml";

/// Everything `stride.toml` and the environment can set.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The lake root from the config file (`lake = "s3://bucket/prefix"`).
    pub lake: Option<String>,
    /// How to reach an `s3://` lake.
    pub s3: S3Settings,
    /// The project's variables from the `[vars]` table (`--vars` overrides them).
    pub vars: crate::models::Vars,
}

/// How to reach an S3-compatible store (MinIO, AWS S3, ...).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Settings {
    /// `AWS_ENDPOINT_URL`: the server, e.g. `http://localhost:9000` for MinIO; unset
    /// for AWS S3.
    pub endpoint: Option<String>,
    /// `AWS_REGION` (or `AWS_DEFAULT_REGION`); `us-east-1` when unset.
    pub region: Option<String>,
    /// `AWS_ACCESS_KEY_ID`.
    pub access_key_id: Option<String>,
    /// `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: Option<Secret>,
    /// `AWS_SESSION_TOKEN`, for temporary credentials.
    pub session_token: Option<Secret>,
    /// `AWS_ALLOW_HTTP`: allow a plain-http endpoint (MinIO on a private network).
    pub allow_http: Option<bool>,
    /// `AWS_VIRTUAL_HOSTED_STYLE_REQUEST`: `bucket.host/key` addressing instead of
    /// the path style (`host/bucket/key`) that MinIO needs; off by default.
    pub virtual_hosted_style: Option<bool>,
    /// `STRIDE_S3_MAX_RETRIES`: retries of a failed request (5xx, dropped
    /// connection, timeout) before the command fails.
    pub max_retries: Option<usize>,
    /// `STRIDE_S3_RETRY_TIMEOUT_SECS`: no retry starts this long after the first try.
    pub retry_timeout_secs: Option<u64>,
    /// `STRIDE_S3_CONNECT_TIMEOUT_SECS`: how long one connection attempt may take.
    pub connect_timeout_secs: Option<u64>,
    /// `STRIDE_S3_REQUEST_TIMEOUT_SECS`: how long one request may take in all.
    pub request_timeout_secs: Option<u64>,
}

/// A secret value: usable, never printed.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Retry and timeout limits with their defaults applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Retries of one request.
    pub max_retries: usize,
    /// No retry starts after this.
    pub retry_timeout: Duration,
    /// One connection attempt.
    pub connect_timeout: Duration,
    /// One request in all.
    pub request_timeout: Duration,
}

impl S3Settings {
    /// The retry and timeout limits: an unreachable endpoint fails in a few seconds
    /// (4 retries, backoff 0.2 s doubling), a short outage is ridden out.
    pub fn limits(&self) -> Limits {
        Limits {
            max_retries: self.max_retries.unwrap_or(4),
            retry_timeout: Duration::from_secs(self.retry_timeout_secs.unwrap_or(15)),
            connect_timeout: Duration::from_secs(self.connect_timeout_secs.unwrap_or(3)),
            request_timeout: Duration::from_secs(self.request_timeout_secs.unwrap_or(120)),
        }
    }
}

/// The config file's shape.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    lake: Option<String>,
    #[serde(default)]
    s3: S3Settings,
    #[serde(default)]
    vars: crate::models::Vars,
}

impl Settings {
    /// Reads `explicit` (which must exist) or else `./stride.toml` (if it exists),
    /// then applies the environment.
    pub fn load(explicit: Option<&Path>) -> Result<Settings> {
        Settings::load_with(explicit, |name| std::env::var(name).ok())
    }

    /// [`Settings::load`] with the environment given as a lookup, for tests.
    pub fn load_with(
        explicit: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings> {
        let file = match explicit {
            Some(path) => read_file(path)?,
            None if Path::new(DEFAULT_CONFIG_FILE).is_file() => {
                read_file(&PathBuf::from(DEFAULT_CONFIG_FILE))?
            }
            None => File::default(),
        };
        let mut s3 = file.s3;
        overlay_env(&mut s3, &env)?;
        Ok(Settings {
            lake: file.lake,
            s3,
            vars: file.vars,
        })
    }
}

/// The project's variables given as `--vars`: a YAML mapping (JSON is YAML), as
/// dbt's flag takes it: `{"dda_window_days": 30}` or `{dda_window_days: 30}`.
pub fn parse_vars(text: &str) -> Result<crate::models::Vars> {
    let refused = |reason: String| Error::Setting {
        setting: "--vars".to_string(),
        reason,
    };
    let value: serde_json::Value =
        serde_norway::from_str(text).map_err(|e| refused(e.to_string()))?;
    match value {
        serde_json::Value::Object(map) => Ok(map.into_iter().collect()),
        serde_json::Value::Null => Ok(Default::default()),
        other => Err(refused(format!(
            "`{other}` is not a mapping of variable names to values (like '{{\"dda_window_days\": 30}}')"
        ))),
    }
}

fn read_file(path: &Path) -> Result<File> {
    let setting = || format!("--config {}", path.display());
    let text = std::fs::read_to_string(path).map_err(|e| Error::Setting {
        setting: setting(),
        reason: e.to_string(),
    })?;
    toml::from_str(&text).map_err(|e| Error::Setting {
        setting: setting(),
        // toml's message spans lines (a snippet with a caret); keep the first.
        reason: e.message().lines().next().unwrap_or_default().to_string()
            + &e.span()
                .map(|span| format!(" (at byte {})", span.start))
                .unwrap_or_default(),
    })
}

/// Environment variables override the file, as in the AWS tools.
fn overlay_env(s3: &mut S3Settings, env: &impl Fn(&str) -> Option<String>) -> Result<()> {
    let get = |name: &str| env(name).filter(|v| !v.is_empty());
    if let Some(v) = get("AWS_ENDPOINT_URL").or_else(|| get("AWS_ENDPOINT")) {
        s3.endpoint = Some(v);
    }
    if let Some(v) = get("AWS_REGION").or_else(|| get("AWS_DEFAULT_REGION")) {
        s3.region = Some(v);
    }
    if let Some(v) = get("AWS_ACCESS_KEY_ID") {
        s3.access_key_id = Some(v);
    }
    if let Some(v) = get("AWS_SECRET_ACCESS_KEY") {
        s3.secret_access_key = Some(Secret(v));
    }
    if let Some(v) = get("AWS_SESSION_TOKEN") {
        s3.session_token = Some(Secret(v));
    }
    if let Some(v) = get("AWS_ALLOW_HTTP") {
        s3.allow_http = Some(parse_bool("AWS_ALLOW_HTTP", &v)?);
    }
    if let Some(v) = get("AWS_VIRTUAL_HOSTED_STYLE_REQUEST") {
        s3.virtual_hosted_style = Some(parse_bool("AWS_VIRTUAL_HOSTED_STYLE_REQUEST", &v)?);
    }
    if let Some(v) = get("STRIDE_S3_MAX_RETRIES") {
        s3.max_retries = Some(parse_number("STRIDE_S3_MAX_RETRIES", &v)?);
    }
    if let Some(v) = get("STRIDE_S3_RETRY_TIMEOUT_SECS") {
        s3.retry_timeout_secs = Some(parse_number("STRIDE_S3_RETRY_TIMEOUT_SECS", &v)?);
    }
    if let Some(v) = get("STRIDE_S3_CONNECT_TIMEOUT_SECS") {
        s3.connect_timeout_secs = Some(parse_number("STRIDE_S3_CONNECT_TIMEOUT_SECS", &v)?);
    }
    if let Some(v) = get("STRIDE_S3_REQUEST_TIMEOUT_SECS") {
        s3.request_timeout_secs = Some(parse_number("STRIDE_S3_REQUEST_TIMEOUT_SECS", &v)?);
    }
    Ok(())
}

fn parse_bool(name: &str, value: &str) -> Result<bool> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(Error::Setting {
            setting: name.to_string(),
            reason: format!("`{value}` is not true or false"),
        }),
    }
}

fn parse_number<T: std::str::FromStr>(name: &str, value: &str) -> Result<T> {
    value.parse().map_err(|_| Error::Setting {
        setting: name.to_string(),
        reason: format!("`{value}` is not a whole number"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn vars_come_from_the_file_and_the_flag_in_yaml_or_json() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("stride.toml");
        std::fs::write(&path, "[vars]\ndda_window_days = 60\n").expect("write config");
        let settings = Settings::load_with(Some(&path), env(&[])).expect("loads");
        assert_eq!(settings.vars["dda_window_days"], serde_json::json!(60));
        let json = parse_vars(r#"{"dda_window_days": 30}"#).expect("json");
        let yaml = parse_vars("{dda_window_days: 30}").expect("yaml");
        assert_eq!(json, yaml);
        assert_eq!(json["dda_window_days"], serde_json::json!(30));
        let err = parse_vars("[30]").expect_err("not a mapping").to_string();
        assert!(err.contains("--vars") && err.contains("mapping"), "{err}");
        let err = parse_vars("{dda_window_days: [")
            .expect_err("broken")
            .to_string();
        assert!(err.contains("--vars"), "{err}");
    }

    #[test]
    fn environment_overrides_the_file_and_secrets_do_not_print() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("stride.toml");
        std::fs::write(
            &path,
            "lake = \"s3://b/p\"\n[s3]\nendpoint = \"http://file:9000\"\nregion = \"eu-west-1\"\n\
             secret_access_key = \"from-file-secret\"\nmax_retries = 7\n",
        )
        .expect("write config");
        let settings = Settings::load_with(
            Some(&path),
            env(&[
                ("AWS_ENDPOINT_URL", "http://env:9000"),
                ("AWS_ALLOW_HTTP", "true"),
            ]),
        )
        .expect("loads");
        assert_eq!(settings.lake.as_deref(), Some("s3://b/p"));
        assert_eq!(settings.s3.endpoint.as_deref(), Some("http://env:9000"));
        assert_eq!(settings.s3.region.as_deref(), Some("eu-west-1"));
        assert_eq!(settings.s3.allow_http, Some(true));
        assert_eq!(settings.s3.limits().max_retries, 7);
        let printed = format!("{settings:?}");
        assert!(!printed.contains("from-file-secret"), "{printed}");
    }

    #[test]
    fn bad_entries_name_the_file_or_variable() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("x.toml");
        std::fs::write(&path, "[s3]\nendpont = \"x\"\n").expect("write config");
        let err = Settings::load_with(Some(&path), env(&[])).expect_err("typo refused");
        let text = err.to_string();
        assert!(
            text.contains("x.toml") && text.contains("endpont"),
            "{text}"
        );

        let err = Settings::load_with(None, env(&[("AWS_ALLOW_HTTP", "maybe")]))
            .expect_err("bad bool refused");
        assert!(err.to_string().contains("AWS_ALLOW_HTTP"), "{err}");

        let missing = dir.path().join("absent.toml");
        let err = Settings::load_with(Some(&missing), env(&[])).expect_err("missing file");
        assert!(err.to_string().contains("absent.toml"), "{err}");
    }
}
