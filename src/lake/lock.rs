//! One writer at a time: `stride run`, `generate`, `optimize` and `vacuum` hold
//! `_stride/run.lock` in the lake while they change it. The lock is created with a
//! conditional put (create only if absent), so two processes cannot both take it.
//! A lock left by a killed process on this host is taken over once that process is
//! gone; a lock from another host must be removed by hand.

use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::lake::{Lake, STATE};

/// The lock object, relative to the lake root.
pub const LOCK_FILE: &str = "run.lock";

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
}

/// The held lock; released by [`LakeLock::release`] (a killed holder leaves it for
/// the next process to take over).
#[derive(Debug)]
pub struct LakeLock {
    lake: Lake,
    released: bool,
}

impl LakeLock {
    /// Takes the lake's lock for `command`, or fails naming the holder.
    pub async fn acquire(lake: &Lake, command: &str) -> Result<LakeLock> {
        let me = Holder {
            pid: std::process::id(),
            host: host_name(),
            command: command.to_string(),
            since: chrono::Utc::now().to_rfc3339(),
            process: process_id(),
        };
        let body = serde_json::to_vec_pretty(&me)?;
        let path = lake.path(&lock_path());
        for _ in 0..2 {
            let options = PutOptions {
                mode: PutMode::Create,
                ..PutOptions::default()
            };
            match lake
                .store()
                .put_opts(&path, PutPayload::from(body.clone()), options)
                .await
            {
                Ok(_) => {
                    return Ok(LakeLock {
                        lake: lake.clone(),
                        released: false,
                    });
                }
                Err(object_store::Error::AlreadyExists { .. }) => {
                    let holder = read_holder(lake).await?;
                    match holder {
                        Some(h) if is_gone(&h) => {
                            tracing::warn!(
                                "taking over the lock of {} (pid {} on {}, since {}), which is no longer running",
                                h.command,
                                h.pid,
                                h.host,
                                h.since
                            );
                            remove(lake).await?;
                        }
                        // Removed between our put and our read: try again.
                        None => {}
                        Some(h) => {
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
                    }
                }
                Err(source) => {
                    return Err(Error::Store {
                        path: lake.object_url(&path),
                        source,
                    });
                }
            }
        }
        Err(Error::Locked(format!(
            "could not take {}",
            lake.object_url(&path)
        )))
    }

    /// Gives the lock back.
    pub async fn release(mut self) -> Result<()> {
        self.released = true;
        remove(&self.lake).await
    }
}

impl Drop for LakeLock {
    fn drop(&mut self) {
        if !self.released {
            // An error path: the process is about to exit; a lock left behind by this
            // (live) pid would block the next run until this process is gone, so
            // remove it now, best effort, without waiting on the runtime.
            if let Ok(local) = self.lake.folder_url(STATE).to_file_path() {
                let _ = std::fs::remove_file(local.join(LOCK_FILE));
            } else if let Ok(runtime) = tokio::runtime::Handle::try_current()
                && runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread
            {
                // An object store is only reached through the runtime; bounded, so
                // an unreachable store cannot hang the exit.
                let lake = self.lake.clone();
                tokio::task::block_in_place(|| {
                    runtime.block_on(async move {
                        let _ =
                            tokio::time::timeout(std::time::Duration::from_secs(5), remove(&lake))
                                .await;
                    })
                });
            }
        }
    }
}

fn lock_path() -> String {
    format!("{STATE}/{LOCK_FILE}")
}

async fn read_holder(lake: &Lake) -> Result<Option<Holder>> {
    let Some(bytes) = lake.get(&lock_path()).await? else {
        return Ok(None);
    };
    // An unreadable lock is treated as held by an unknown live process.
    Ok(Some(serde_json::from_slice(&bytes).unwrap_or(Holder {
        pid: 0,
        host: "unknown host".to_string(),
        command: "an unknown process".to_string(),
        since: "an unknown time".to_string(),
        process: String::new(),
    })))
}

async fn remove(lake: &Lake) -> Result<()> {
    let path = lake.path(&lock_path());
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
    if holder.host != host_name() || holder.pid == 0 {
        return false;
    }
    if holder.pid == std::process::id() {
        return !holder.process.is_empty() && holder.process != process_id();
    }
    cfg!(target_os = "linux") && !std::path::Path::new(&format!("/proc/{}", holder.pid)).exists()
}

/// This process's identity: pid plus start time, fixed at first use.
fn process_id() -> String {
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

fn host_name() -> String {
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
