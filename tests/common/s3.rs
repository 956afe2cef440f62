//! A real S3-protocol server on loopback for the tests: `s3s-fs`, which serves a
//! folder (each top-level folder is a bucket) and implements conditional writes.
//! The test installs it once per build folder with `cargo install`, so `cargo
//! test` needs nothing installed by hand; its own build folder keeps stride's
//! dependency features untouched.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::LakeArgs;

/// The access key the test server accepts.
pub const ACCESS_KEY: &str = "stride-test";
/// The secret key the test server accepts; tests check it never gets printed.
pub const SECRET_KEY: &str = "s3cr3t-n3ver-pr1nted";

const S3S_FS: &str = "s3s-fs@0.14.1";

/// The `s3s-fs` binary, installed on first use.
fn binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let tools = Path::new(env!("CARGO_TARGET_TMPDIR")).join("s3s-fs");
        let binary = tools.join("bin/s3s-fs");
        if !binary.exists() {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
            let status = Command::new(cargo)
                .args(["install", "--locked", "--quiet", "--features", "binary"])
                .arg("--root")
                .arg(&tools)
                .arg("--target-dir")
                .arg(tools.join("build"))
                .arg(S3S_FS)
                .env_remove("CARGO_TARGET_DIR")
                .status()
                .expect("cargo runs");
            assert!(status.success(), "cargo install {S3S_FS}");
        }
        binary
    })
}

/// A running `s3s-fs` serving a temporary folder; stopped when dropped.
pub struct S3Server {
    child: Option<Child>,
    port: u16,
    root: tempfile::TempDir,
}

impl S3Server {
    /// Starts a server on a free loopback port with one bucket, `lake`.
    pub fn start() -> S3Server {
        let root = tempfile::tempdir().expect("temp dir");
        let mut server = S3Server {
            child: None,
            port: free_port(),
            root,
        };
        server.create_bucket("lake");
        server.resume();
        server
    }

    /// Starts the server again (same port, same data) after [`S3Server::stop`].
    pub fn resume(&mut self) {
        let child = Command::new(binary())
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(self.root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("s3s-fs starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "s3s-fs did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server (its data stays).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Makes a bucket (a top-level folder of the served root).
    pub fn create_bucket(&self, name: &str) {
        std::fs::create_dir_all(self.root.path().join(name)).expect("bucket folder");
    }

    /// The endpoint URL.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The folder behind bucket `bucket`, to look at what the server stored.
    pub fn bucket_folder(&self, bucket: &str) -> PathBuf {
        self.root.path().join(bucket)
    }

    /// A lake at `s3://<bucket>/<prefix>` on this server, with the right settings.
    pub fn lake(&self, bucket: &str, prefix: &str) -> S3Lake {
        S3Lake::new(
            &format!("s3://{bucket}/{prefix}"),
            &self.endpoint(),
            ACCESS_KEY,
            SECRET_KEY,
        )
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An `s3://` lake and the config file that reaches it.
pub struct S3Lake {
    /// The lake URL.
    pub url: String,
    config: tempfile::NamedTempFile,
    /// The config file without the retry limits.
    settings: String,
}

impl S3Lake {
    /// A lake at `url` on `endpoint` with these credentials, and quick retries so a
    /// dead endpoint fails fast.
    pub fn new(url: &str, endpoint: &str, access_key: &str, secret_key: &str) -> S3Lake {
        let config = tempfile::Builder::new()
            .suffix(".toml")
            .tempfile()
            .expect("config file");
        let lake = S3Lake {
            url: url.to_string(),
            config,
            settings: format!(
                "[s3]\nendpoint = \"{endpoint}\"\nregion = \"us-east-1\"\nallow_http = true\n\
                 access_key_id = \"{access_key}\"\nsecret_access_key = \"{secret_key}\"\n\
                 connect_timeout_secs = 2\n"
            ),
        };
        lake.with_retries(2, 5)
    }

    /// The same lake with other retry limits.
    pub fn with_retries(self, max_retries: u32, timeout_secs: u32) -> S3Lake {
        std::fs::write(
            self.config.path(),
            format!(
                "{}max_retries = {max_retries}\nretry_timeout_secs = {timeout_secs}\n",
                self.settings
            ),
        )
        .expect("write config");
        self
    }
}

impl LakeArgs for S3Lake {
    fn lake_args(&self) -> Vec<std::ffi::OsString> {
        vec![
            "--lake".into(),
            self.url.clone().into(),
            "--config".into(),
            self.config.path().into(),
        ]
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}
