//! A `stride serve` process for the tests: started on a free loopback port, asked
//! over plain HTTP/1.1, stopped with a signal; killed if a test fails first.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::s3::free_port;
use super::{LakeArgs, stride_command, stride_ok};

/// `stride runs --format json`: every run record, newest first.
pub fn runs(lake: &(impl LakeArgs + ?Sized)) -> Vec<Value> {
    let out = stride_ok(lake, &["runs", "--limit", "1000", "--format", "json"]);
    serde_json::from_slice(&out.stdout).expect("runs as JSON")
}

/// Only reached when something hangs.
pub const PATIENCE: Duration = Duration::from_secs(180);

/// A serving process and its port; SIGKILLed when dropped (a test that failed).
pub struct Serving {
    /// The process.
    pub child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl Serving {
    pub fn start(lake: &(impl LakeArgs + ?Sized), args: &[&str], env: &[(&str, &Path)]) -> Serving {
        let port = free_port();
        let bind = format!("127.0.0.1:{port}");
        let mut command = stride_command(lake);
        command
            .args(["serve", "--bind", &bind])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("stride serve starts");
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("stride serve exited at start: {status}");
            }
            if http(port, "GET", "/api/health", &[], "").0 == 200 {
                break;
            }
            assert!(Instant::now() < deadline, "stride serve did not answer");
            std::thread::sleep(Duration::from_millis(100));
        }
        Serving { child, port }
    }

    pub fn get(&self, path: &str) -> Value {
        let (status, body) = http(self.port, "GET", path, &[], "");
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).expect("JSON")
    }

    /// GETs `path` until `done` holds for its answer; returns that answer.
    pub fn wait_until(&self, what: &str, path: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let answer = self.get(path);
            if done(&answer) {
                return answer;
            }
            assert!(Instant::now() < deadline, "waited for {what}: {answer:#}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until no run goes or waits (retries included).
    pub fn wait_idle(&self) {
        self.wait_until("no run going or queued", "/api/health", |h| {
            h["running"].is_null() && h["queued"].is_null()
        });
    }

    pub fn post_run(&self, body: &str) -> Value {
        let (status, answer) = http(
            self.port,
            "POST",
            "/api/runs",
            &[("Content-Type", "application/json")],
            body,
        );
        assert_eq!(status, 202, "POST /api/runs: {answer}");
        serde_json::from_str(&answer).expect("JSON")
    }

    /// SIGTERM, then the exit status, within `within`.
    pub fn terminate(mut self, within: Duration) -> (std::process::ExitStatus, Duration) {
        let started = Instant::now();
        signal(self.child.id(), libc::SIGTERM);
        let deadline = started + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return (status, started.elapsed());
            }
            assert!(
                Instant::now() < deadline,
                "stride serve did not stop within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// SIGTERM; the process must exit 0.
pub fn stop(serving: Serving) {
    let (status, _) = serving.terminate(PATIENCE);
    assert!(status.success(), "stride serve exited with {status}");
}

pub fn signal(pid: u32, signal: i32) {
    let pid = i32::try_from(pid).expect("pid");
    // SAFETY: kill(2) on a child this test started.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "kill {pid}");
}

/// One HTTP/1.1 request on loopback: (status, body). It names the server as
/// `127.0.0.1:PORT` unless `headers` give a `Host`.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(120)));
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("host"))
    {
        request.push_str(&format!("Host: 127.0.0.1:{port}\r\n"));
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    if stream.write_all(request.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut response = String::new();
    if stream.read_to_string(&mut response).is_err() {
        return (0, String::new());
    }
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Equal JSON, numbers within 1e-9 relative (a float sum may add in another order
/// from one execution to the next).
pub fn same_within_float_sums(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_within_float_sums(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_within_float_sums(v, w)))
        }
        _ => a == b,
    }
}
