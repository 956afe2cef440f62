//! The lake's lock when its holder was killed: of the processes that find the
//! stale lock, exactly one takes it over, on local and S3 lakes. The processes are
//! stepped through the takeover by the lock's test hooks (a file each writes when it
//! gets somewhere, a file each waits for), so the tests wait on events, not time.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use common::s3::S3Server;
use common::{LakeArgs, stride_command};

/// Makes the folder-based hooks of the lock (see `src/lake/lock.rs`).
const BEFORE_TAKEOVER: &str = "STRIDE_TEST_BEFORE_TAKEOVER";
const HOLD_LOCK: &str = "STRIDE_TEST_HOLD_LOCK";

/// A command that takes the lock and changes the lake a little.
const WRITE: [&str; 5] = ["generate", "--days", "1", "--scale", "0.01"];

/// Long enough for a loaded machine; only reached when something hangs.
const PATIENCE: Duration = Duration::from_secs(120);

fn spawn(lake: &(impl LakeArgs + ?Sized), hooks: &[(&str, &Path)]) -> Child {
    let mut command = stride_command(lake);
    command
        .args(WRITE)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (name, folder) in hooks {
        command.env(name, folder);
    }
    command.spawn().expect("stride starts")
}

fn gate(folder: &Path, child: &Child, name: &str) -> PathBuf {
    folder.join(format!("{}.{name}", child.id()))
}

fn open(path: PathBuf) {
    std::fs::write(path, b"").expect("open the gate");
}

/// Waits until `path` exists.
fn wait_for(path: &Path) {
    let deadline = Instant::now() + PATIENCE;
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until `child` exits, failing if `held` appears first (it took the lock).
fn wait_for_exit(child: Child, held: &Path) -> Output {
    let mut child = child;
    let deadline = Instant::now() + PATIENCE;
    loop {
        if child.try_wait().expect("child status").is_some() {
            return child.wait_with_output().expect("child output");
        }
        assert!(
            !held.exists(),
            "a second process holds the lock ({})",
            held.display()
        );
        assert!(Instant::now() < deadline, "the process never exited");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Leaves a stale lock: a writer killed while it holds the lock.
fn stale_lock(lake: &(impl LakeArgs + ?Sized), gates: &Path) {
    let mut holder = spawn(lake, &[(HOLD_LOCK, gates)]);
    wait_for(&gate(gates, &holder, "held"));
    holder.kill().expect("kill the holder");
    holder.wait().expect("the holder is gone");
}

/// Two processes read the same stale lock and stop before replacing it; the first
/// replaces it and holds it; the second must then fail naming the first.
fn exactly_one_takes_over(lake: &(impl LakeArgs + ?Sized)) {
    let gates = tempfile::tempdir().expect("temp dir");
    let gates = gates.path();
    stale_lock(lake, gates);
    let hooks = [(BEFORE_TAKEOVER, gates), (HOLD_LOCK, gates)];
    let first = spawn(lake, &hooks);
    let second = spawn(lake, &hooks);
    wait_for(&gate(gates, &first, "taking-over"));
    wait_for(&gate(gates, &second, "taking-over"));
    open(gate(gates, &first, "go"));
    wait_for(&gate(gates, &first, "held"));
    open(gate(gates, &second, "go"));
    let second_held = gate(gates, &second, "held");
    let refused = wait_for_exit(second, &second_held);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{err}");
    assert!(
        err.contains("is changing this lake") && err.contains(&format!("pid {}", first.id())),
        "the second names the first as the holder:\n{err}"
    );
    open(gate(gates, &first, "release"));
    let done = first.wait_with_output().expect("first output");
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
}

#[test]
fn a_stale_lock_is_taken_over_by_exactly_one_process_on_a_local_lake() {
    let lake = common::temp_lake();
    exactly_one_takes_over(lake.path());
}

#[test]
fn a_stale_lock_is_taken_over_by_exactly_one_process_on_s3() {
    let server = S3Server::start();
    let lake = server.lake("lake", "locked");
    exactly_one_takes_over(&lake);
}

#[test]
fn fifty_races_for_a_stale_lock_have_one_winner_each() {
    let lake = common::temp_lake();
    let lake = lake.path();
    for round in 0..50 {
        let gates = tempfile::tempdir().expect("temp dir");
        let gates = gates.path();
        stale_lock(lake, gates);
        let racers = [
            spawn(lake, &[(HOLD_LOCK, gates)]),
            spawn(lake, &[(HOLD_LOCK, gates)]),
        ];
        let held: Vec<PathBuf> = racers.iter().map(|c| gate(gates, c, "held")).collect();
        let release: Vec<PathBuf> = racers.iter().map(|c| gate(gates, c, "release")).collect();
        let mut racers: Vec<Option<Child>> = racers.into_iter().map(Some).collect();
        // The winner holds the lock until released; the loser fails on its own.
        let deadline = Instant::now() + PATIENCE;
        let loser = loop {
            assert!(
                !(held[0].exists() && held[1].exists()),
                "round {round}: both processes hold the lock"
            );
            let exited = racers.iter_mut().position(|c| {
                c.as_mut()
                    .is_some_and(|c| c.try_wait().expect("status").is_some())
            });
            if let Some(i) = exited {
                break i;
            }
            assert!(Instant::now() < deadline, "round {round}: nobody finished");
            std::thread::sleep(Duration::from_millis(5));
        };
        let winner = 1 - loser;
        let lost = racers[loser]
            .take()
            .expect("the loser")
            .wait_with_output()
            .expect("output");
        let err = String::from_utf8_lossy(&lost.stderr);
        assert_eq!(lost.status.code(), Some(1), "round {round}: {err}");
        assert!(err.contains("locked"), "round {round}: {err}");
        assert!(!held[loser].exists(), "round {round}");
        wait_for(&held[winner]);
        open(release[winner].clone());
        let won = racers[winner]
            .take()
            .expect("the winner")
            .wait_with_output()
            .expect("output");
        assert!(
            won.status.success(),
            "round {round}: {}",
            String::from_utf8_lossy(&won.stderr)
        );
    }
}
