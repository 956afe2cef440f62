//! Python tools that check stride's files from outside (pyarrow, delta-rs Python,
//! DuckDB's own Python package), installed by the tests into virtualenvs under the
//! build folder, so `cargo test` needs nothing installed by hand.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// The interpreter of virtualenv `name` with `packages` installed, made once per
/// build folder; `imports` is the import line that proves it is ready.
pub fn python(name: &str, packages: &[&str], imports: &str) -> PathBuf {
    static MADE: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let mut made = MADE
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(python) = made.get(name) {
        return python.clone();
    }
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let python = venv.join("bin/python");
    let ready = || {
        Command::new(&python)
            .args(["-c", imports])
            .status()
            .is_ok_and(|s| s.success())
    };
    if !ready() {
        let created = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 runs");
        assert!(created.success(), "python3 -m venv {}", venv.display());
        let installed = Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(packages)
            .status()
            .expect("pip runs");
        assert!(installed.success(), "pip install {packages:?}");
        assert!(ready(), "`{imports}` works after the install");
    }
    made.insert(name.to_string(), python.clone());
    python
}

/// Runs `script` with `args` and returns its stdout, failing the test with its
/// stderr when it fails.
pub fn run(python: &Path, script: &str, args: &[&OsStr]) -> String {
    let out = Command::new(python)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "python failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
