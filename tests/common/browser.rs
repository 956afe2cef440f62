//! A real headless browser for the tests: Debian's Chromium and chromedriver,
//! driven through Python Selenium, so tests can look at stride's pages the way
//! a person's browser shows them. The tests install all of it themselves (apt
//! as root, pip into a virtualenv under the build folder), so `cargo test`
//! needs nothing installed by hand. `browser.py` beside this file is the Python
//! side that test scripts import.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The Selenium release the tests use: the newest 4.x whose dependencies the
/// package index here can satisfy (4.52.0 wants a certifi it does not have).
pub const SELENIUM_VERSION: &str = "4.51.0";

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const APT_INSTALL: [&str; 7] = [
    "install",
    "-y",
    "-q",
    "chromium",
    "chromium-driver",
    "fonts-dejavu-core",
    // Wait for another apt (a machine's own setup, say) instead of failing.
    "-oDPkg::Lock::Timeout=600",
];

/// The Python interpreter of the "selenium" virtualenv, with Chromium and
/// chromedriver installed on the machine, ready to run a script that does
/// `import browser` (see [`script_path`]). Installs what is missing the first
/// time, once per test process and one process at a time.
pub fn python() -> PathBuf {
    static READY: OnceLock<PathBuf> = OnceLock::new();
    READY
        .get_or_init(|| {
            // Test binaries (or nextest's one process per test) may start
            // together: apt and pip must not run twice at once.
            let _lock = lock(&Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser.lock"));
            install_chromium();
            let package = format!("selenium=={SELENIUM_VERSION}");
            // Checking the version makes a changed pin reinstall the venv.
            let check = format!(
                "import selenium, sys; sys.exit(selenium.__version__ != '{SELENIUM_VERSION}')"
            );
            super::python::python("selenium", &[package.as_str()], &check)
        })
        .clone()
}

/// The Python library test scripts import as `browser` (open, waits, console
/// errors, requests, screenshots, timings); pass its folder to the script so
/// it can put it on `sys.path`.
pub fn script_path() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/common/browser.py"
    ))
}

/// The folder under the build folder where tests save screenshots, kept after
/// the run so a person can look at what a failing test saw.
pub fn screenshots_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// An exclusive lock on `path`, held until the returned file is dropped.
fn lock(path: &Path) -> File {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    }
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("cannot open lock file {}: {e}", path.display()));
    loop {
        // SAFETY: the descriptor belongs to `file`, which outlives the call.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return file;
        }
        let error = std::io::Error::last_os_error();
        assert!(
            error.kind() == std::io::ErrorKind::Interrupted,
            "cannot lock {}: {error}",
            path.display()
        );
    }
}

/// Installs Debian's chromium and chromium-driver unless both are there.
fn install_chromium() {
    let present = || Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
    if present() {
        return;
    }
    eprintln!("installing chromium and chromium-driver with apt-get (once per machine)");
    if let Err(first) = apt(&APT_INSTALL) {
        // A fresh machine has no package lists yet.
        apt(&["update", "-q"]).unwrap_or_else(|e| {
            panic!("apt-get install chromium failed:\n{first}\nthen apt-get update failed:\n{e}")
        });
        apt(&APT_INSTALL).unwrap_or_else(|e| {
            panic!("apt-get install chromium failed, even after apt-get update:\n{e}")
        });
    }
    assert!(
        present(),
        "apt-get installed chromium, yet {CHROMIUM} or {CHROMEDRIVER} is missing"
    );
}

/// Runs `apt-get args`; on failure, the command and the end of its output.
fn apt(args: &[&str]) -> Result<(), String> {
    let out = Command::new("apt-get")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output()
        .unwrap_or_else(|e| panic!("apt-get does not run (is this Debian, as root?): {e}"));
    if out.status.success() {
        return Ok(());
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(30)..].join("\n");
    Err(format!(
        "apt-get {} ({}):\n{tail}",
        args.join(" "),
        out.status
    ))
}
