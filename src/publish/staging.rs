//! When the views change, the new DuckDB file is built beside the served one under a
//! hidden name and swapped in with one `rename`. A process that holds the old file
//! (DuckDB locks the file it opens, even read-only) is never blocked by it. Until
//! the rename nothing is visible, and a failed or killed publish leaves the served
//! file as it was. The hidden name never collides with `<file>.tmp`, the spill
//! folder DuckDB readers such as Metabase's driver use.

use std::fs;
use std::path::{Path, PathBuf};

use super::folder::{remove_file_if_present, sync_folder};
use crate::error::{Error, Result};

/// A file being built for `target`; removed on drop unless [`Staging::swap_in`] ran.
#[derive(Debug)]
pub struct Staging {
    target: PathBuf,
    path: PathBuf,
    swapped: bool,
}

impl Staging {
    /// Prepares a fresh staging path next to `target` (creating its folder), after
    /// removing what earlier publishes left there when they were killed.
    pub fn new(target: &Path) -> Result<Staging> {
        let folder = folder_of(target);
        fs::create_dir_all(&folder)
            .map_err(|e| failure(target, format!("create {}: {e}", folder.display())))?;
        let name = file_name(target)?;
        remove_abandoned(&folder, &name);
        let path = folder.join(format!(".{name}.{}.tmp", std::process::id()));
        remove_with_wal(&path).map_err(|e| failure(target, e.to_string()))?;
        Ok(Staging {
            target: target.to_path_buf(),
            path,
            swapped: false,
        })
    }

    /// Where the new database is written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes the finished staging file the served one: flush it to disk, drop the
    /// old file's write-ahead log (it belongs to the replaced file and must not be
    /// replayed onto the new one), rename, then flush the folder entry.
    pub fn swap_in(mut self) -> Result<()> {
        let target = self.target.clone();
        let fail = |what: &str, e: std::io::Error| failure(&target, format!("{what}: {e}"));
        if wal_of(&self.path).exists() {
            return Err(failure(
                &target,
                "the new file still has a write-ahead log after its checkpoint".into(),
            ));
        }
        fs::File::open(&self.path)
            .and_then(|file| file.sync_all())
            .map_err(|e| fail("flush the new file", e))?;
        match fs::remove_file(wal_of(&target)) {
            Ok(()) => tracing::warn!(
                "removed {}: the replaced file had unsaved changes from another writer",
                wal_of(&target).display()
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(fail("remove the old write-ahead log", e)),
        }
        fs::rename(&self.path, &target).map_err(|e| fail("rename the new file into place", e))?;
        self.swapped = true;
        // The rename is durable once the folder is.
        sync_folder(&folder_of(&target));
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.swapped {
            let _ = remove_with_wal(&self.path);
        }
    }
}

/// An error about publishing to `target`.
pub fn failure(target: &Path, problem: String) -> Error {
    Error::Publish {
        file: target.display().to_string(),
        problem,
    }
}

/// The folder holding `target` (`.` for a bare file name).
fn folder_of(target: &Path) -> PathBuf {
    match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn file_name(target: &Path) -> Result<String> {
    target
        .file_name()
        .and_then(|name| name.to_str())
        .map(str::to_string)
        .ok_or_else(|| failure(target, "the path does not end in a file name".into()))
}

/// DuckDB's write-ahead log of a database file.
fn wal_of(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(".wal");
    PathBuf::from(name)
}

fn remove_with_wal(path: &Path) -> std::io::Result<()> {
    remove_file_if_present(path)?;
    remove_file_if_present(&wal_of(path))
}

/// Removes `.<name>.<pid>.tmp` files whose process is gone (a publish that was
/// killed). Files of live processes belong to a publish still running.
fn remove_abandoned(folder: &Path, name: &str) {
    let Ok(entries) = fs::read_dir(folder) else {
        return;
    };
    let prefix = format!(".{name}.");
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(rest) = file.to_str().and_then(|f| f.strip_prefix(&prefix)) else {
            continue;
        };
        let Some(pid) = rest
            .strip_suffix(".tmp")
            .or_else(|| rest.strip_suffix(".tmp.wal"))
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !process_alive(pid) {
            tracing::debug!(
                "removing {} left by a killed publish",
                entry.path().display()
            );
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Whether `pid` is a running process; unknown (so assumed alive) without `/proc`.
fn process_alive(pid: u32) -> bool {
    let proc = Path::new("/proc");
    !proc.is_dir() || proc.join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_staging_file_is_removed_and_the_target_kept() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("stride.duckdb");
        fs::write(&target, b"old").unwrap();
        let staging = Staging::new(&target).unwrap();
        fs::write(staging.path(), b"new").unwrap();
        let staged = staging.path().to_path_buf();
        drop(staging);
        assert!(!staged.exists());
        assert_eq!(fs::read(&target).unwrap(), b"old");
    }

    #[test]
    fn swap_in_replaces_the_target_and_its_stale_wal() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("stride.duckdb");
        fs::write(&target, b"old").unwrap();
        fs::write(wal_of(&target), b"old wal").unwrap();
        let staging = Staging::new(&target).unwrap();
        fs::write(staging.path(), b"new").unwrap();
        staging.swap_in().unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"new");
        assert!(!wal_of(&target).exists());
        let left: Vec<_> = fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(left.len(), 1, "{left:?}");
    }

    #[test]
    fn files_of_killed_publishes_are_removed_and_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("stride.duckdb");
        // No process has pid 4,000,000,000; pid 1 is always running.
        let dead = dir.path().join(".stride.duckdb.4000000000.tmp");
        let live = dir.path().join(".stride.duckdb.1.tmp");
        fs::write(&dead, b"x").unwrap();
        fs::write(&live, b"x").unwrap();
        let _staging = Staging::new(&target).unwrap();
        assert!(!dead.exists());
        assert!(live.exists());
    }
}
