//! Embeds the SQL project under `queries/` and the contracts under `data_contracts/`
//! in the binary, so `stride` runs from any folder; `--queries DIR` and
//! `--contracts DIR` still read them from disk.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let root =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    embed(
        &root.join("queries"),
        "sql",
        "EMBEDDED_QUERIES",
        "embedded_queries.rs",
    );
    embed(
        &root.join("data_contracts"),
        "toml",
        "EMBEDDED_CONTRACTS",
        "embedded_contracts.rs",
    );
}

/// Writes `OUT_DIR/<target>` defining `constant`: every `.<extension>` file under
/// `folder` as (path relative to `folder`, text).
fn embed(folder: &Path, extension: &str, constant: &str, target: &str) {
    println!("cargo:rerun-if-changed={}", folder.display());
    // A binary built without the project or its contracts would refuse every
    // model (or check nothing): fail the build instead, naming the folder.
    assert!(
        folder.is_dir(),
        "{} is missing: stride embeds it (copy it into the build context)",
        folder.display()
    );
    let mut files = Vec::new();
    collect(folder, extension, &mut files);
    files.sort();
    let mut out = format!(
        "/// Every `.{extension}` file under `{}/`: (relative path, text).\npub const {constant}: &[(&str, &str)] = &[\n",
        folder
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    );
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
        let relative = file
            .strip_prefix(folder)
            .expect("collected under the folder")
            .to_string_lossy()
            .replace('\\', "/");
        writeln!(
            out,
            "    ({relative:?}, include_str!({:?})),",
            file.display().to_string()
        )
        .expect("writing to a String");
    }
    out.push_str("];\n");
    let target = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join(target);
    std::fs::write(target, out).expect("OUT_DIR is writable");
}

fn collect(dir: &Path, extension: &str, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        println!("cargo:rerun-if-changed={}", path.display());
        if path.is_dir() {
            collect(&path, extension, files);
        } else if path.extension().is_some_and(|e| e == extension) {
            files.push(path);
        }
    }
}
