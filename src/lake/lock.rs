//! One writer at a time: `stride run`, `generate`, `sync`, `optimize`, `vacuum`
//! and `quarantine replay` hold `_stride/run.lock` in the lake while they change
//! it, all through [`LakeLock::acquire`]. The lock is created with a conditional
//! put (create only if absent), so two processes cannot both take it.
//!
//! The holder is one acquisition, not a process: each carries a token, and a
//! process that runs several things at once (`stride serve`: its run queue and a
//! quarantine replay asked for through the API) is refused its own lock while the
//! acquisition that took it is alive, as any other process would be. A lock this
//! very process left (a release that failed while the store was down) is free once
//! the acquisition that took it has ended.
//!
//! A lock left by a killed process on this host is taken over once that process is
//! gone, and the takeover is conditional too, so of several processes that found
//! the same stale lock exactly one takes it: on S3 it is a put on the condition
//! that the lock is still the stale one (`If-Match` its e-tag); on a local lake,
//! where the store has no such put, takeovers take turns under an OS file lock
//! (`_stride/run.lock.takeover`) and each replaces the lock only if it still holds
//! the stale bytes. A lock from another host must be removed by hand.

use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::lake::{Lake, STATE};

/// The lock object, in the lake's `_stride/` folder.
pub const LOCK_FILE: &str = "run.lock";

/// The object `stride serve` holds for as long as it serves a lake, so a second
/// one refuses to start (same rules as the run lock).
pub const SERVE_LOCK_FILE: &str = "serve.lock";

/// The object `stride verify` holds while it rebuilds into its scratch folder, so
/// a second verify, or `vacuum`, leaves that folder alone (same rules).
pub const VERIFY_LOCK_FILE: &str = "verify.lock";

/// The file local takeovers lock in turn (never removed).
const TAKEOVER_FILE: &str = "run.lock.takeover";

/// A test hook: with this set to a folder, a process about to take over a stale
/// lock writes `<pid>.taking-over` there and waits for `<pid>.go`.
pub const BEFORE_TAKEOVER: &str = "STRIDE_TEST_BEFORE_TAKEOVER";
/// A test hook: with this set to a folder, a process that took the lock writes
/// `<pid>.held` there and waits for `<pid>.release` before going on.
pub const HOLD_LOCK: &str = "STRIDE_TEST_HOLD_LOCK";

/// Who holds the lock.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Holder {
    pid: u32,
    host: String,
    command: String,
    since: String,
    /// Tells this process from an earlier one with the same pid on the same host
    /// (a restarted container is pid 1 every time).
    #[serde(default)]
    process: String,
    /// This acquisition, unique in the process (see [`live`]).
    #[serde(default)]
    token: String,
}

/// The tokens of the locks this process holds now, taken and not yet given back.
fn live() -> &'static std::sync::Mutex<std::collections::HashSet<String>> {
    static LIVE: std::sync::OnceLock<std::sync::Mutex<std::collections::HashSet<String>>> =
        std::sync::OnceLock::new();
    LIVE.get_or_init(Default::default)
}

/// Whether an acquisition of this process with `token` still holds its lock.
fn is_live(token: &str) -> bool {
    live().lock().is_ok_and(|held| held.contains(token))
}

fn set_live(token: &str, held: bool) {
    if let Ok(mut tokens) = live().lock() {
        if held {
            tokens.insert(token.to_string());
        } else {
            tokens.remove(token);
        }
    }
}

/// A token no other acquisition of this process has.
fn new_token() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}-{n}", process_id())
}

/// The lock as one read found it: its holder, its bytes and its version.
struct Found {
    holder: Holder,
    bytes: bytes::Bytes,
    e_tag: Option<String>,
    version: Option<String>,
}

/// The held lock; released by [`LakeLock::release`] (a killed holder leaves it for
/// the next process to take over).
#[derive(Debug)]
pub struct LakeLock {
    lake: Lake,
    file: &'static str,
    /// The lock's bytes as this acquisition wrote them: it removes only those.
    body: Vec<u8>,
    token: String,
    released: bool,
}

/// How many times a process looks at the lock again when another one changed it
/// under its eyes (released it, or took it over first).
const ATTEMPTS: usize = 4;

impl LakeLock {
    /// Takes the lake's lock for `command`, or fails naming the holder.
    pub async fn acquire(lake: &Lake, command: &str) -> Result<LakeLock> {
        Self::acquire_file(lake, LOCK_FILE, command).await
    }

    /// Takes the lock object `file` (in `_stride/`) for `command`, or fails
    /// naming the holder.
    pub async fn acquire_file(lake: &Lake, file: &'static str, command: &str) -> Result<LakeLock> {
        let me = Holder {
            pid: std::process::id(),
            host: host_name(),
            command: command.to_string(),
            since: chrono::Utc::now().to_rfc3339(),
            process: process_id(),
            token: new_token(),
        };
        let body = serde_json::to_vec_pretty(&me)?;
        let path = lake.path(&lock_path(file));
        // Live before the put: another acquisition of this process that finds the
        // lock between our put and our return must see it held.
        set_live(&me.token, true);
        let taken = Self::take(lake, file, &me, &body).await;
        match taken {
            Ok(true) => {
                let lock = LakeLock {
                    lake: lake.clone(),
                    file,
                    body,
                    token: me.token,
                    released: false,
                };
                if file == LOCK_FILE {
                    wait_at_gate(HOLD_LOCK, "held", "release").await;
                }
                Ok(lock)
            }
            Ok(false) => {
                set_live(&me.token, false);
                Err(Error::Locked(format!(
                    "could not take {}: other processes kept changing it",
                    lake.object_url(&path)
                )))
            }
            Err(e) => {
                set_live(&me.token, false);
                Err(e)
            }
        }
    }

    /// Puts the lock `body` for `me`, taking over a stale one; false when others
    /// kept changing it.
    async fn take(lake: &Lake, file: &'static str, me: &Holder, body: &[u8]) -> Result<bool> {
        let path = lake.path(&lock_path(file));
        for _ in 0..ATTEMPTS {
            let options = PutOptions {
                mode: PutMode::Create,
                ..PutOptions::default()
            };
            let taken = match lake
                .store()
                .put_opts(&path, PutPayload::from(body.to_vec()), options)
                .await
            {
                Ok(_) => true,
                Err(object_store::Error::AlreadyExists { .. }) => {
                    // Released between our put and our read: try again.
                    let Some(found) = read_lock(lake, file).await? else {
                        continue;
                    };
                    let h = &found.holder;
                    let ours = h.host == me.host && h.pid == me.pid && h.process == me.process;
                    if ours && is_live(&h.token) {
                        return Err(Error::Locked(format!(
                            "{} (this process, since {}) is changing this lake",
                            h.command, h.since
                        )));
                    }
                    // Otherwise this very process left it (a release that failed
                    // while the store was down): its acquisition has ended.
                    if !ours && !is_gone(h) {
                        return Err(Error::Locked(format!(
                            "{} (pid {} on {}, since {}) is changing this lake; \
                             if it is no longer running, delete {}",
                            h.command,
                            h.pid,
                            h.host,
                            h.since,
                            lake.object_url(&path)
                        )));
                    }
                    tracing::warn!(
                        "taking over the lock of {} (pid {} on {}, since {}), which is no longer running",
                        h.command,
                        h.pid,
                        h.host,
                        h.since
                    );
                    wait_at_gate(BEFORE_TAKEOVER, "taking-over", "go").await;
                    // Another process may have taken it over first: then look again.
                    take_over(lake, file, &found, body).await?
                }
                Err(source) => {
                    return Err(Error::Store {
                        path: lake.object_url(&path),
                        source,
                    });
                }
            };
            if taken {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Gives the lock back (removes it, unless another acquisition holds it now).
    pub async fn release(mut self) -> Result<()> {
        self.released = true;
        let removed = remove_if_holding(&self.lake, self.file, &self.body).await;
        set_live(&self.token, false);
        removed
    }

    /// Removes the run lock if this process left it and no acquisition of this
    /// process holds it: after a run's work was stopped (its future dropped with
    /// the lock inside it, whose own removal may have failed).
    pub async fn release_if_mine(lake: &Lake) -> Result<()> {
        match read_lock(lake, LOCK_FILE).await? {
            Some(found)
                if found.holder.host == host_name()
                    && found.holder.pid == std::process::id()
                    && found.holder.process == process_id()
                    && !is_live(&found.holder.token) =>
            {
                remove_if_holding(lake, LOCK_FILE, &found.bytes).await
            }
            _ => Ok(()),
        }
    }

    /// Who holds the run lock now: (host, pid, process), or `None` when nobody does.
    pub async fn run_lock_holder(lake: &Lake) -> Result<Option<(String, u32, String)>> {
        Ok(read_lock(lake, LOCK_FILE)
            .await?
            .map(|f| (f.holder.host, f.holder.pid, f.holder.process)))
    }
}

impl Drop for LakeLock {
    fn drop(&mut self) {
        if !self.released {
            // An error path, or a run stopped: a lock left behind by this (live) pid
            // would block the next run, so remove it now, best effort, without
            // waiting on the runtime, and only while it is still this one.
            if let Ok(local) = self.lake.folder_url(STATE).to_file_path() {
                let path = local.join(self.file);
                if std::fs::read(&path).is_ok_and(|now| now == self.body) {
                    let _ = std::fs::remove_file(path);
                }
            } else if let Ok(runtime) = tokio::runtime::Handle::try_current()
                && runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread
            {
                // An object store is only reached through the runtime; bounded, so
                // an unreachable store cannot hang the exit.
                let lake = self.lake.clone();
                let file = self.file;
                let body = std::mem::take(&mut self.body);
                tokio::task::block_in_place(|| {
                    runtime.block_on(async move {
                        let _ = tokio::time::timeout(
                            std::time::Duration::from_secs(5),
                            remove_if_holding(&lake, file, &body),
                        )
                        .await;
                    })
                });
            }
            set_live(&self.token, false);
        }
    }
}

fn lock_path(file: &str) -> String {
    format!("{STATE}/{file}")
}

/// The lock as it is now, `None` when there is none.
async fn read_lock(lake: &Lake, file: &str) -> Result<Option<Found>> {
    let path = lake.path(&lock_path(file));
    let store_error = |source| Error::Store {
        path: lake.object_url(&path),
        source,
    };
    let got = match lake.store().get(&path).await {
        Ok(got) => got,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(source) => return Err(store_error(source)),
    };
    let (e_tag, version) = (got.meta.e_tag.clone(), got.meta.version.clone());
    let bytes = match got.bytes().await {
        Ok(bytes) => bytes,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(source) => return Err(store_error(source)),
    };
    // An unreadable lock is treated as held by an unknown live process.
    let holder = serde_json::from_slice(&bytes).unwrap_or(Holder {
        pid: 0,
        host: "unknown host".to_string(),
        command: "an unknown process".to_string(),
        since: "an unknown time".to_string(),
        process: String::new(),
        token: String::new(),
    });
    Ok(Some(Found {
        holder,
        bytes,
        e_tag,
        version,
    }))
}

/// Replaces the stale lock `stale` with `body`, only if the lock is still `stale`;
/// true when this process now holds the lock.
async fn take_over(lake: &Lake, file: &str, stale: &Found, body: &[u8]) -> Result<bool> {
    let path = lake.path(&lock_path(file));
    if let Ok(folder) = lake.folder_url(STATE).to_file_path() {
        return take_over_local(lake, file, &folder, stale, body).await;
    }
    let Some(e_tag) = stale.e_tag.clone() else {
        return Err(Error::Locked(format!(
            "the stale lock {} has no e-tag to replace it on; delete it by hand",
            lake.object_url(&path)
        )));
    };
    let options = PutOptions {
        mode: PutMode::Update(UpdateVersion {
            e_tag: Some(e_tag),
            version: stale.version.clone(),
        }),
        ..PutOptions::default()
    };
    match lake
        .store()
        .put_opts(&path, PutPayload::from(body.to_vec()), options)
        .await
    {
        Ok(_) => Ok(true),
        // Someone changed or removed the lock first; or our own put landed and its
        // answer was lost (a retry then fails the condition): the lock says which.
        Err(
            object_store::Error::Precondition { .. }
            | object_store::Error::NotFound { .. }
            | object_store::Error::AlreadyExists { .. },
        ) => Ok(read_lock(lake, file)
            .await?
            .is_some_and(|now| now.bytes.as_ref() == body)),
        Err(source) => Err(Error::Store {
            path: lake.object_url(&path),
            source,
        }),
    }
}

/// [`take_over`] on a local lake: under the takeover file's OS lock, the stale lock
/// is removed only if it still holds the bytes read, then created anew (create only
/// if absent, as every acquisition does).
async fn take_over_local(
    lake: &Lake,
    file: &str,
    folder: &std::path::Path,
    stale: &Found,
    body: &[u8],
) -> Result<bool> {
    let guard_path = folder.join(TAKEOVER_FILE);
    let io = |e: std::io::Error| {
        Error::Io(std::io::Error::new(
            e.kind(),
            format!("{}: {e}", guard_path.display()),
        ))
    };
    let guard = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&guard_path)
        .map_err(io)?;
    // Held by another takeover for as long as it reads, removes and creates a file.
    let guard = tokio::task::spawn_blocking(move || guard.lock().map(|()| guard))
        .await
        .map_err(|e| Error::Task(e.to_string()))?
        .map_err(io)?;
    let lock_file = folder.join(file);
    let still_stale = match std::fs::read(&lock_file) {
        Ok(now) => now == stale.bytes.as_ref(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(io(e)),
    };
    let taken = if still_stale {
        remove(lake, file).await?;
        let options = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        let path = lake.path(&lock_path(file));
        match lake
            .store()
            .put_opts(&path, PutPayload::from(body.to_vec()), options)
            .await
        {
            Ok(_) => true,
            Err(object_store::Error::AlreadyExists { .. }) => false,
            Err(source) => {
                return Err(Error::Store {
                    path: lake.object_url(&path),
                    source,
                });
            }
        }
    } else {
        false
    };
    drop(guard);
    Ok(taken)
}

/// The test hooks [`BEFORE_TAKEOVER`] and [`HOLD_LOCK`]: when `variable` names a
/// folder, writes `<pid>.<reached>` there and waits until `<pid>.<go>` appears.
async fn wait_at_gate(variable: &str, reached: &str, go: &str) {
    let Some(folder) = std::env::var_os(variable).map(std::path::PathBuf::from) else {
        return;
    };
    let pid = std::process::id();
    let _ = std::fs::write(folder.join(format!("{pid}.{reached}")), b"");
    let go = folder.join(format!("{pid}.{go}"));
    while !go.exists() {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Removes the lock `file` if it still holds `body` (this acquisition's bytes):
/// a lock another acquisition took over since is left to it. The caller is still
/// live while it removes, so nobody takes the lock over between the read and the
/// delete (only a gone holder's lock is taken over).
async fn remove_if_holding(lake: &Lake, file: &str, body: &[u8]) -> Result<()> {
    match read_lock(lake, file).await? {
        Some(found) if found.bytes.as_ref() == body => remove(lake, file).await,
        _ => Ok(()),
    }
}

async fn remove(lake: &Lake, file: &str) -> Result<()> {
    let path = lake.path(&lock_path(file));
    match lake.store().delete(&path).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(source) => Err(Error::Store {
            path: lake.object_url(&path),
            source,
        }),
    }
}

/// Whether the holder is certainly not running: same host, and its pid is gone or
/// is this process's pid reused by an earlier process.
fn is_gone(holder: &Holder) -> bool {
    process_is_gone(&holder.host, holder.pid, &holder.process)
}

/// Whether the process `pid` (identity `process`) of `host` is certainly not
/// running: same host, and its pid is gone or is this process's pid reused by an
/// earlier process.
pub fn process_is_gone(host: &str, pid: u32, process: &str) -> bool {
    if host != host_name() || pid == 0 {
        return false;
    }
    if pid == std::process::id() {
        return !process.is_empty() && process != process_id();
    }
    cfg!(target_os = "linux") && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// This process's identity: pid plus start time, fixed at first use.
pub fn process_id() -> String {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        format!("{}-{started}", std::process::id())
    })
    .clone()
}

/// This host's name (`/etc/hostname`, else `$HOSTNAME`).
pub fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(pid: u32, process: &str) -> Holder {
        Holder {
            pid,
            host: host_name(),
            command: "stride run".to_string(),
            since: "now".to_string(),
            process: process.to_string(),
            token: String::new(),
        }
    }

    #[test]
    fn a_lock_with_this_pid_is_stale_only_when_an_earlier_process_wrote_it() {
        let me = std::process::id();
        assert!(
            !is_gone(&holder(me, &process_id())),
            "this process's own lock"
        );
        assert!(
            is_gone(&holder(me, "1-12345")),
            "a restarted container's old lock"
        );
        assert!(
            !is_gone(&holder(me, "")),
            "a lock from a stride without the field"
        );
        let other_host = Holder {
            host: "elsewhere".to_string(),
            ..holder(me, "1-12345")
        };
        assert!(
            !is_gone(&other_host),
            "another host's lock is never taken over"
        );
    }
}
