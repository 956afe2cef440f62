//! What readers of the served DuckDB file see across publishes: a reader that keeps
//! its connections (Metabase's pool and DuckDB's instance cache) sees every publish
//! on its next query, never marts of two publishes at once; the served marts are
//! always those of the last run, whichever lake or table made them; and a publish
//! killed at any step leaves what readers see as it was.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Lines, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use common::served::{
    assert_file_equals_tables, current_publish, delta_versions, duckdb_python, publish_folders,
    published_lake, synced_versions,
};
use common::{LakeArgs, MARTS, assert_same_marts, marts, stride_command, stride_ok, temp_lake};
use serde_json::Value;

const READER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/common/reader.py");

/// A running `reader.py` on one DuckDB file.
struct Reader {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Reader {
    /// Starts a reader of `file` and waits until it holds its connection.
    fn start(file: &Path) -> Reader {
        let mut child = Command::new(duckdb_python())
            .arg(READER)
            .arg(file)
            .arg(MARTS.join(","))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python runs");
        let stdin = child.stdin.take().expect("stdin");
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut reader = Reader {
            child,
            stdin,
            lines,
        };
        reader.answer("ready");
        reader
    }

    /// Sends `command` and returns the JSON of the answer line that starts with
    /// `prefix` (lines without it are skipped).
    fn ask(&mut self, command: &str, prefix: &str) -> Value {
        let line = self.tell(command, prefix);
        serde_json::from_str(line.trim()).unwrap_or_else(|e| panic!("{prefix} {line}: {e}"))
    }

    /// Sends `command` and returns the rest of the answer line starting with `prefix`.
    fn tell(&mut self, command: &str, prefix: &str) -> String {
        writeln!(self.stdin, "{command}").expect("write to the reader");
        self.answer(prefix)
    }

    /// The rest of the next line that starts with `prefix`.
    fn answer(&mut self, prefix: &str) -> String {
        for line in self.lines.by_ref() {
            let line = line.expect("utf-8 from the reader");
            if let Some(rest) = line.strip_prefix(prefix) {
                return rest.to_string();
            }
        }
        let status = self.child.wait().expect("reader exits");
        panic!("the reader ended ({status}) before answering {prefix}");
    }

    fn look(&mut self) -> Value {
        self.ask("look", "look ")
    }

    fn finish(mut self) {
        drop(self.stdin);
        assert!(self.child.wait().expect("reader exits").success());
    }
}

/// What a reader that has never opened the file before sees: a new process.
fn fresh_look(file: &Path) -> Value {
    let mut reader = Reader::start(file);
    let seen = reader.look();
    reader.finish();
    seen
}

/// The versions a reader's look saw, as `stride history` gives them.
fn seen_versions(seen: &Value) -> BTreeMap<String, i64> {
    seen["versions"]
        .as_object()
        .expect("versions")
        .iter()
        .map(|(mart, v)| (mart.clone(), v.as_i64().unwrap_or(-1)))
        .collect()
}

#[test]
fn a_reader_keeping_its_connections_sees_every_publish_and_never_two_at_once() {
    let lake = published_lake("3", "0.05");
    let file = lake.path().duckdb_file();
    let mut reader = Reader::start(&file);
    let mut before = reader.look();
    assert_eq!(seen_versions(&before), delta_versions(lake.path()));
    reader.tell("hammer", "hammering");

    for run in 1..=3 {
        stride_ok(lake.path(), &["generate", "--days", "1"]);
        stride_ok(lake.path(), &["run"]);
        let seen = reader.look();
        // The new versions and rows, on the next query, without reconnecting.
        assert_eq!(
            seen_versions(&seen),
            delta_versions(lake.path()),
            "run {run}"
        );
        assert_ne!(seen["versions"], before["versions"], "run {run}");
        assert_eq!(seen["one_publish"], Value::Bool(true), "run {run}");
        assert_eq!(seen["publishes"].as_array().map(Vec::len), Some(1));
        // The same rows as a reader that opens the file for the first time, and
        // those are the Delta tables' rows.
        assert_eq!(seen["marts"], fresh_look(&file)["marts"], "run {run}");
        assert_file_equals_tables(lake.path(), &format!("after run {run}"));
        before = seen;
    }

    // Queries that ran while the runs published: each saw one publish. One that
    // DuckDB was binding at the very moment of a switch may fail (it listed the old
    // publish's file, then found `current` moved); it never mixes the two. A race
    // rarely lands between two scans: the next test puts the switch at each point.
    let hammered = reader.ask("stop", "hammered ");
    reader.finish();
    eprintln!("queries while the runs published: {hammered}");
    assert_eq!(hammered["mixed"], 0, "{hammered}");
    assert!(
        hammered["one_publish"].as_u64().unwrap_or_default() > 0,
        "{hammered}"
    );
    for error in hammered["errors"].as_array().expect("errors") {
        let error = error.as_str().unwrap_or_default();
        assert!(
            error.contains("No such file or directory") || error.contains("No files found"),
            "{error}"
        );
    }
}

const CUT_POINTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/common/cut_points.py");

#[test]
fn one_statement_sees_one_publish_wherever_current_moves_during_it() {
    // Publish A: three days; publish B: a fourth, so every mart changes and the
    // keyed marts gain changes (their empty `@added`/`@removed` files of A are not
    // empty in B).
    let lake = published_lake("3", "0.05");
    let file = lake.path().duckdb_file();
    let a = current_publish(&file).expect("publish A");
    stride_ok(lake.path(), &["generate", "--days", "1"]);
    stride_ok(lake.path(), &["run"]);
    let b = current_publish(&file).expect("publish B");
    assert_ne!(a, b);
    let out = Command::new(duckdb_python())
        .arg(CUT_POINTS)
        .arg(&file)
        .args([&a, &b])
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tally: Value = serde_json::from_str(stdout.trim()).expect("JSON");
    eprintln!("switches of current inside one statement: {tally}");
    // Between every two scans of a statement over every mart, and between its
    // binding and its execution: the old publish, the new one, or a retry.
    assert_eq!(tally["mixed"], Value::Array(vec![]), "{tally:#}");
    let labels = tally["labels"].as_array().map_or(0, Vec::len);
    assert!(labels > MARTS.len(), "every view's scans were cut: {tally}");
    assert_eq!(
        tally["cuts"].as_u64(),
        Some(2 * (labels as u64 + 1)),
        "{tally}"
    );
    // A switch before a statement's first scan is bound leaves it all of B; a later
    // one finds A's files gone from `current` when it executes: a retry. No cut
    // leaves it all of A, since every cut moves `current` before execution.
    assert!(tally["B"].as_u64() > Some(0), "{tally}");
    assert!(tally["error"].as_u64() > Some(0), "{tally}");
}

/// The served marts, read through `stride query --engine duckdb --duckdb file` run
/// on `lake` (the engine reads only the file).
fn served_marts(lake: &Path, file: &Path) -> BTreeMap<&'static str, Vec<String>> {
    let file = file.to_string_lossy().to_string();
    common::marts_via(lake, &["--engine", "duckdb", "--duckdb", &file])
}

/// `stride run` on `lake`, publishing to `file`; returns its stderr.
fn run_into(lake: &Path, file: &Path) -> String {
    let out = stride_command(lake)
        .arg("run")
        .arg("--duckdb")
        .arg(file)
        .output()
        .expect("stride runs");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stderr}");
    stderr
}

#[test]
fn two_lakes_published_to_one_path_serve_the_last_run() {
    let shared = temp_lake();
    let file = shared.path().join("served/stride.duckdb");
    let (a, b) = (temp_lake(), temp_lake());
    // The same days at the same scale: the same Delta versions, other rows.
    for (lake, seed) in [(&a, "5"), (&b, "6")] {
        stride_ok(
            lake.path(),
            &["generate", "--days", "3", "--scale", "0.05", "--seed", seed],
        );
    }
    run_into(a.path(), &file);
    assert_same_marts(&served_marts(a.path(), &file), &marts(a.path()), "A");
    let stderr = run_into(b.path(), &file);
    assert!(stderr.contains("published 9 marts"), "{stderr}");
    assert_same_marts(&served_marts(b.path(), &file), &marts(b.path()), "B");
    assert_ne!(marts(a.path()), marts(b.path()), "the lakes differ");
    // A again, with nothing new in A: its marts are served again.
    let stderr = run_into(a.path(), &file);
    assert!(stderr.contains("published 9 marts"), "{stderr}");
    assert_same_marts(&served_marts(a.path(), &file), &marts(a.path()), "A again");
}

#[test]
fn a_lake_whose_tables_were_deleted_and_rebuilt_is_published_again() {
    let lake = published_lake("3", "0.05");
    let file = lake.path().duckdb_file();
    let versions = synced_versions(lake.path());
    let publish = current_publish(&file);
    std::fs::remove_dir_all(lake.path().join("warehouse")).expect("delete warehouse/");
    let out = stride_ok(lake.path(), &["run"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The same version numbers as before, in new tables.
    assert_eq!(delta_versions(lake.path()), versions);
    assert!(stderr.contains("published 9 marts"), "{stderr}");
    assert_ne!(current_publish(&file), publish);
    assert_file_equals_tables(lake.path(), "after the rebuild");
}

#[test]
fn a_lake_restored_from_a_backup_and_run_forward_is_published_again() {
    let lake = published_lake("3", "0.05");
    let backup = temp_lake();
    let state = ["raw", "warehouse", "quarantine", "_stride"];
    for folder in state {
        common::copy_dir(&lake.path().join(folder), &backup.path().join(folder));
    }
    // The lake goes on two days, and serves them.
    for _ in 0..2 {
        stride_ok(lake.path(), &["generate", "--days", "1"]);
        stride_ok(lake.path(), &["run"]);
    }
    let served = synced_versions(lake.path());
    // Then it is restored from the backup (the served file stays) and goes on
    // otherwise: two runs, each deleting an order, bring the marts those change to
    // the version numbers served, in the same tables, with other rows.
    for folder in state {
        std::fs::remove_dir_all(lake.path().join(folder)).expect("remove");
        common::copy_dir(&backup.path().join(folder), &lake.path().join(folder));
    }
    // The first without publishing, so the second publishes right at that number.
    common::served::delete_an_eligible_order(lake.path(), 0);
    stride_ok(lake.path(), &["run", "--no-sync"]);
    common::served::delete_an_eligible_order(lake.path(), 1);
    stride_ok(lake.path(), &["run"]);
    let now = synced_versions(lake.path());
    assert_eq!(
        now["fct_orders"], served["fct_orders"],
        "fct_orders is back at the version number the first timeline served"
    );
    assert_file_equals_tables(lake.path(), "after the restored lake ran forward");
    let verified = stride_ok(lake.path(), &["verify", "--format", "json"]);
    let report: Value = serde_json::from_slice(&verified.stdout).expect("JSON");
    let states: Vec<&Value> = report["served"]
        .as_array()
        .expect("served")
        .iter()
        .map(|m| &m["state"])
        .collect();
    assert!(states.iter().all(|s| *s == "equal"), "{report:#}");
    assert_eq!(states.len(), MARTS.len(), "{report:#}");
}

/// `stride sync` on `lake`, killed by the test hook right after `step`.
fn sync_killed_after(lake: &Path, step: &str) {
    let killed = stride_command(lake)
        .arg("sync")
        .env("STRIDE_ABORT_PUBLISH_AFTER", step)
        .output()
        .expect("stride runs");
    assert!(!killed.status.success(), "the hook aborts after {step}");
}

#[test]
fn a_publish_killed_at_every_step_leaves_what_readers_see_and_the_next_recovers() {
    let lake = published_lake("3", "0.05");
    let file = lake.path().duckdb_file();
    stride_ok(lake.path(), &["generate", "--days", "1"]);
    stride_ok(lake.path(), &["run", "--no-sync"]);
    let served = current_publish(&file);
    let old_versions = synced_versions(lake.path());
    let mut reader = Reader::start(&file);
    let old = reader.look();

    let steps = MARTS.iter().copied().chain(["_stride_sync"]);
    for step in steps {
        sync_killed_after(lake.path(), step);
        assert_eq!(reader.look(), old, "killed after {step}");
        assert_eq!(current_publish(&file), served, "killed after {step}");
    }
    assert_eq!(synced_versions(lake.path()), old_versions);
    // The killed publishes left their folders; none was ever served.
    assert!(
        publish_folders(&file).len() > 1,
        "{:?}",
        publish_folders(&file)
    );

    // Killed right after the switch: the switch is the commit, readers see the new
    // publish whole.
    sync_killed_after(lake.path(), "current");
    let new = reader.look();
    assert_eq!(seen_versions(&new), delta_versions(lake.path()));
    assert_eq!(new["one_publish"], Value::Bool(true));

    stride_ok(lake.path(), &["sync"]);
    reader.finish();
    assert_file_equals_tables(lake.path(), "after the next sync");
    // What was never served is gone; the publishes served before stay for the
    // grace period.
    let folders = publish_folders(&file);
    assert_eq!(folders.len(), 3, "{folders:?}");
    assert_eq!(folders.last(), current_publish(&file).as_ref());
}

#[test]
fn retired_publishes_are_removed_after_the_grace_period() {
    let lake = published_lake("2", "0.05");
    let file = lake.path().duckdb_file();
    for _ in 0..2 {
        stride_ok(lake.path(), &["sync"]);
    }
    assert_eq!(publish_folders(&file).len(), 3);
    let out = stride_command(lake.path())
        .arg("sync")
        .env("STRIDE_PUBLISH_GRACE_SECONDS", "0")
        .output()
        .expect("stride runs");
    assert!(out.status.success());
    assert_eq!(
        publish_folders(&file),
        current_publish(&file).into_iter().collect::<Vec<_>>()
    );
}

#[test]
fn a_file_of_tables_is_replaced_by_views_and_a_kill_before_leaves_it() {
    let lake = published_lake("2", "0.05");
    let file = lake.path().duckdb_file();
    // A DuckDB file holding tables, as earlier publishes wrote it.
    std::fs::remove_file(&file).expect("remove the file");
    let out = common::python::run(
        &duckdb_python(),
        "import sys, duckdb\ncon = duckdb.connect(sys.argv[1])\n\
         con.execute('create table fct_orders as select 42 as order_id')\ncon.close()",
        &[file.as_os_str()],
    );
    assert!(out.is_empty(), "{out}");
    sync_killed_after(lake.path(), "current");
    let rows = common::served::duck(lake.path(), "select order_id from fct_orders");
    assert_eq!(
        rows.len(),
        1,
        "the old file is served until the views replace it"
    );

    let out = stride_ok(lake.path(), &["run"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("wrote the views"), "{stderr}");
    assert_file_equals_tables(lake.path(), "after the views replaced the tables");
}
