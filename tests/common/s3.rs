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

    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.port
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
    /// Holds the DuckDB file the marts are published to.
    serving: tempfile::TempDir,
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
            serving: tempfile::tempdir().expect("temp dir"),
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

    fn duckdb_file(&self) -> std::path::PathBuf {
        self.serving.path().join("stride.duckdb")
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}

/// A TCP proxy in front of an S3 server that answers the first request of every
/// `every`-th connection with `503 Slow Down` itself (and closes it), and passes
/// every other connection through untouched: transient server errors on demand.
pub struct FlakyProxy {
    port: u16,
    injected: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl FlakyProxy {
    /// Starts the proxy for the server on `target` (a loopback port).
    pub fn start(target: u16, every: usize) -> FlakyProxy {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy binds");
        let port = listener.local_addr().expect("address").port();
        let injected = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&injected);
        std::thread::spawn(move || {
            for (n, client) in listener.incoming().enumerate() {
                let Ok(client) = client else { continue };
                if (n + 1) % every == 0 {
                    count.fetch_add(1, Ordering::SeqCst);
                    std::thread::spawn(move || refuse_with_503(client));
                } else {
                    std::thread::spawn(move || pass_through(client, target));
                }
            }
        });
        FlakyProxy { port, injected }
    }

    /// The endpoint URL of the proxy.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// How many requests were answered with a 503 so far.
    pub fn injected(&self) -> usize {
        self.injected.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Reads one request (head and `Content-Length` body), answers 503, closes.
fn refuse_with_503(mut client: TcpStream) {
    use std::io::{Read, Write};
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match client.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let length: usize = text
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    if client.read_exact(&mut body).is_err() {
        return;
    }
    let reply = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code>\
                 <Message>injected by the test</Message></Error>";
    let _ = write!(
        client,
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{reply}",
        reply.len()
    );
}

/// Copies bytes both ways between `client` and the server until either side closes.
fn pass_through(client: TcpStream, target: u16) {
    let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
        return;
    };
    let (Ok(mut client_read), Ok(mut server_write)) = (client.try_clone(), server.try_clone())
    else {
        return;
    };
    let upstream = std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_read, &mut server_write);
        let _ = server_write.shutdown(std::net::Shutdown::Write);
    });
    let (mut server_read, mut client_write) = (server, client);
    let _ = std::io::copy(&mut server_read, &mut client_write);
    let _ = client_write.shutdown(std::net::Shutdown::Write);
    let _ = upstream.join();
}
