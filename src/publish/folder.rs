//! The publishes folder next to the served DuckDB file, `<file>.publishes/`:
//!
//! ```text
//! stride.duckdb                    views only (see `views`)
//! stride.duckdb.publishes/
//!   current -> 20261130T101500.123456Z           the served publish (a relative link)
//!   20261130T101500.123456Z/<table>/<table>-20261130T101500.123456Z.parquet
//!   20261130T091500.654321Z/...    served before; kept for the grace period
//!   .lock                          held by the publish in progress
//! ```
//!
//! A publish fills a new sub-folder that nothing reads, then replaces `current` in
//! one `rename`: every reader's next query resolves the views' paths through the new
//! link, so all marts switch together. A query already running keeps reading the
//! files it opened. A publish served before is marked with the time it stopped
//! being served and removed once the grace period has passed: on a local Linux file
//! system an open file stays readable after it is removed, but not on every file
//! system a reader may use (network shares), so the files stay a while. A
//! sub-folder that was never served (a failed or killed publish) is removed by the
//! next publish, which holds the lock, so no publish can still be writing it.

use std::fs::{self, File, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::staging::failure;
use crate::error::Result;

/// The link naming the served publish.
pub const CURRENT: &str = "current";

/// The file a publish holds locked while it runs.
const LOCK: &str = ".lock";

/// The file in a publish that was served and no longer is: when it was retired, in
/// milliseconds since the epoch.
const RETIRED: &str = ".retired";

/// How long a retired publish is kept for queries that started before the switch,
/// unless `STRIDE_PUBLISH_GRACE_SECONDS` says otherwise.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(600);

/// The setting that changes [`DEFAULT_GRACE`].
pub const GRACE_ENV: &str = "STRIDE_PUBLISH_GRACE_SECONDS";

/// The publishes folder of one DuckDB file, locked for one publish at a time.
#[derive(Debug)]
pub struct PublishFolder {
    /// The served DuckDB file, as an absolute path.
    file: PathBuf,
    /// `<file>.publishes`, absolute.
    root: PathBuf,
    /// Held (locked) for as long as this value lives.
    _lock: File,
}

impl PublishFolder {
    /// Opens (creating it) the publishes folder of the DuckDB file `target` and
    /// takes its lock, waiting while another process publishes to the same file.
    pub fn lock(target: &Path) -> Result<PublishFolder> {
        let fail = |what: String, e: std::io::Error| failure(target, format!("{what}: {e}"));
        let name = target
            .file_name()
            .and_then(|name| name.to_str())
            .ok_or_else(|| failure(target, "the path does not end in a file name".into()))?;
        let parent = match target.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&parent).map_err(|e| fail(format!("create {}", parent.display()), e))?;
        // Views name their files by absolute path: a reader resolves a relative one
        // against its own working folder, not the DuckDB file's.
        let parent = fs::canonicalize(&parent)
            .map_err(|e| fail(format!("resolve {}", parent.display()), e))?;
        let file = parent.join(name);
        let root = parent.join(format!("{name}.publishes"));
        if let Some(c) = root
            .to_string_lossy()
            .chars()
            .find(|c| "*?[]{}".contains(*c))
        {
            return Err(failure(
                target,
                format!(
                    "{} has `{c}` in it, which DuckDB would read as a file pattern in the \
                     views' paths; publish to a path without *?[]{{}}",
                    root.display()
                ),
            ));
        }
        fs::create_dir_all(&root).map_err(|e| fail(format!("create {}", root.display()), e))?;
        let lock_path = root.join(LOCK);
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| fail(format!("open {}", lock_path.display()), e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                tracing::info!(
                    "waiting for another publish to {} to finish",
                    file.display()
                );
                lock.lock()
                    .map_err(|e| fail(format!("lock {}", lock_path.display()), e))?;
            }
            Err(TryLockError::Error(e)) => {
                return Err(fail(format!("lock {}", lock_path.display()), e));
            }
        }
        Ok(PublishFolder {
            file,
            root,
            _lock: lock,
        })
    }

    /// The served DuckDB file (absolute).
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The Parquet files of `table` in the served publish, as the views name them.
    pub fn served_glob(&self, table: &str) -> String {
        glob(&self.root.join(CURRENT), table)
    }

    /// The served publish's folder, `None` before the first publish.
    pub fn current(&self) -> Option<PathBuf> {
        let target = fs::read_link(self.root.join(CURRENT)).ok()?;
        let folder = self.root.join(target);
        folder.is_dir().then_some(folder)
    }

    /// Creates the folder of a new publish, named for the time it starts.
    pub fn create_publish(&self) -> Result<PathBuf> {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ").to_string();
        let mut folder = self.root.join(&stamp);
        let mut n = 1;
        while folder.exists() {
            folder = self.root.join(format!("{stamp}-{n}"));
            n += 1;
        }
        fs::create_dir(&folder)
            .map_err(|e| failure(&self.file, format!("create {}: {e}", folder.display())))?;
        Ok(folder)
    }

    /// Makes `publish` the served one: marks the publish served now as retired, then
    /// replaces `current` with a link to `publish` in one rename, and flushes the
    /// folder so the switch survives a crash.
    pub fn switch_to(&self, publish: &Path) -> Result<()> {
        let fail = |what: String, e: std::io::Error| failure(&self.file, format!("{what}: {e}"));
        let name = publish
            .file_name()
            .ok_or_else(|| failure(&self.file, format!("{} has no name", publish.display())))?;
        if let Some(served) = self.current().filter(|served| served != publish) {
            // Marked before the switch: a publish killed in between leaves the mark
            // on the served publish, where it is ignored and later rewritten.
            let retired = served.join(RETIRED);
            fs::write(&retired, millis_since_epoch(SystemTime::now()).to_string())
                .map_err(|e| fail(format!("write {}", retired.display()), e))?;
        }
        let link = self
            .root
            .join(format!(".{CURRENT}.{}.tmp", std::process::id()));
        remove_file_if_present(&link).map_err(|e| fail(format!("remove {}", link.display()), e))?;
        std::os::unix::fs::symlink(name, &link)
            .map_err(|e| fail(format!("create the link {}", link.display()), e))?;
        fs::rename(&link, self.root.join(CURRENT))
            .map_err(|e| fail(format!("replace {}", self.root.join(CURRENT).display()), e))?;
        sync_folder(&self.root);
        Ok(())
    }

    /// Removes what no reader can need any more: publishes retired longer than
    /// `grace` ago, publishes that were never served, and stray links. Failures are
    /// logged, not raised: the publish they follow is complete.
    pub fn remove_old(&self, grace: Duration) {
        let Ok(entries) = fs::read_dir(&self.root) else {
            return;
        };
        let served = self.current();
        let now = millis_since_epoch(SystemTime::now());
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().to_string();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let stale = if kind.is_symlink() {
                name.starts_with(&format!(".{CURRENT}.")) && name.ends_with(".tmp")
            } else if kind.is_dir() {
                Some(&path) != served.as_ref()
                    && retired_at(&path).is_none_or(|at| {
                        now.saturating_sub(at) >= grace.as_millis().try_into().unwrap_or(u64::MAX)
                    })
            } else {
                false
            };
            if !stale {
                continue;
            }
            let removed = if kind.is_dir() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            match removed {
                Ok(()) => tracing::debug!("removed {}", path.display()),
                Err(e) => tracing::warn!("could not remove {}: {e}", path.display()),
            }
        }
    }
}

/// The grace period for retired publishes: [`GRACE_ENV`] in seconds, else
/// [`DEFAULT_GRACE`].
pub fn grace() -> Result<Duration> {
    match std::env::var(GRACE_ENV) {
        Ok(text) => text
            .trim()
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|e| crate::error::Error::Setting {
                setting: GRACE_ENV.into(),
                reason: format!("`{text}` is not a number of seconds: {e}"),
            }),
        Err(_) => Ok(DEFAULT_GRACE),
    }
}

/// The Parquet files of `table` under the publish folder `publish`.
pub fn glob(publish: &Path, table: &str) -> String {
    format!("{}/{table}/*.parquet", publish.display())
}

/// Flushes every file and folder under `folder` (and `folder` itself) to disk, so
/// a publish made visible after a crash has all its bytes.
pub fn sync_tree(folder: &Path) -> std::io::Result<()> {
    for entry in fs::read_dir(folder)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            sync_tree(&entry.path())?;
        } else {
            File::open(entry.path())?.sync_all()?;
        }
    }
    sync_folder(folder);
    Ok(())
}

/// Removes `folder` and what it holds, if it is there.
pub fn remove_folder_if_present(folder: &Path) -> std::io::Result<()> {
    match fs::remove_dir_all(folder) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Bytes in the files under `folder`.
pub fn size_of(folder: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(folder) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => size_of(&entry.path()),
            Ok(_) => entry.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

/// Flushes a folder's entries; some file systems refuse, and then the entries are
/// still written, only later.
pub fn sync_folder(folder: &Path) {
    if let Err(e) = File::open(folder).and_then(|dir| dir.sync_all()) {
        tracing::debug!("sync of {}: {e}", folder.display());
    }
}

/// When the publish in `folder` was retired, `None` when it never was.
fn retired_at(folder: &Path) -> Option<u64> {
    fs::read_to_string(folder.join(RETIRED))
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn millis_since_epoch(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis().try_into().unwrap_or(u64::MAX))
}

/// Removes `path`; a file that is not there is no error.
pub fn remove_file_if_present(path: &Path) -> std::io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publish_with_file(folder: &PublishFolder) -> PathBuf {
        let publish = folder.create_publish().unwrap();
        fs::create_dir(publish.join("m")).unwrap();
        fs::write(publish.join("m/a.parquet"), b"x").unwrap();
        publish
    }

    #[test]
    fn a_switch_moves_current_and_retires_the_served_publish() {
        let dir = tempfile::tempdir().unwrap();
        let folder = PublishFolder::lock(&dir.path().join("stride.duckdb")).unwrap();
        assert_eq!(folder.current(), None);
        let first = publish_with_file(&folder);
        folder.switch_to(&first).unwrap();
        assert_eq!(folder.current().as_ref(), Some(&first));
        let link = fs::read_link(dir.path().join("stride.duckdb.publishes/current")).unwrap();
        assert!(link.is_relative(), "{}", link.display());
        assert!(retired_at(&first).is_none());

        let second = publish_with_file(&folder);
        folder.switch_to(&second).unwrap();
        assert_eq!(folder.current().as_ref(), Some(&second));
        assert!(retired_at(&first).is_some());
        assert!(
            folder
                .served_glob("m")
                .ends_with("stride.duckdb.publishes/current/m/*.parquet")
        );
    }

    #[test]
    fn old_publishes_go_after_the_grace_period_and_never_served_ones_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let folder = PublishFolder::lock(&dir.path().join("stride.duckdb")).unwrap();
        let first = publish_with_file(&folder);
        folder.switch_to(&first).unwrap();
        let second = publish_with_file(&folder);
        folder.switch_to(&second).unwrap();
        let abandoned = publish_with_file(&folder);

        folder.remove_old(Duration::from_secs(600));
        assert!(first.is_dir(), "retired a moment ago: kept");
        assert!(!abandoned.exists(), "never served: removed");
        assert!(second.is_dir(), "served: kept");

        folder.remove_old(Duration::ZERO);
        assert!(!first.exists());
        assert!(second.is_dir());
    }

    #[test]
    fn a_second_publish_to_the_same_file_waits_for_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("stride.duckdb");
        let held = PublishFolder::lock(&target).unwrap();
        let lock = File::options()
            .write(true)
            .open(dir.path().join("stride.duckdb.publishes/.lock"))
            .unwrap();
        assert!(matches!(lock.try_lock(), Err(TryLockError::WouldBlock)));
        drop(held);
        assert!(lock.try_lock().is_ok());
    }
}
