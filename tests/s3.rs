//! S3 lakes (SPEC section 1: `s3://bucket/prefix`) against a real S3-protocol
//! server on loopback (`s3s-fs`, started by the tests): the whole pipeline gives
//! the marts of a local lake fed the same batches; faults give one clear line and
//! leave the lake consistent; two writers racing on one table cannot both commit.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::s3::{ACCESS_KEY, FlakyProxy, S3Lake, S3Server, SECRET_KEY};
use common::{LakeArgs, assert_same_marts, marts, query, stride, stride_command, stride_ok};

const GENERATE: [&str; 9] = [
    "generate",
    "--days",
    "4",
    "--scale",
    "0.05",
    "--seed",
    "11",
    "--max-lateness-days",
    "3",
];

/// Every file under `folder`, relative, with its size: "unchanged" means equal.
fn listing(folder: &Path) -> Vec<(String, u64)> {
    let mut found = Vec::new();
    let mut stack = vec![folder.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let size = entry.metadata().map(|m| m.len()).unwrap_or_default();
                let relative = path.strip_prefix(folder).unwrap_or(&path);
                found.push((relative.display().to_string(), size));
            }
        }
    }
    found.sort();
    found
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The bytes of raw files a run says it read ("... requests (1.2 MiB of it raw
/// files)").
fn raw_bytes_read(out: &std::process::Output) -> f64 {
    let text = stderr(out);
    let after = text
        .split(" requests (")
        .nth(1)
        .unwrap_or_else(|| panic!("no traffic line in:\n{text}"));
    let mut words = after.split_whitespace();
    let value: f64 = words.next().and_then(|v| v.parse().ok()).expect("a number");
    let unit = match words.next() {
        Some("B") => 1.0,
        Some("KiB") => 1024.0,
        Some("MiB") => 1024.0 * 1024.0,
        Some("GiB") => 1024.0 * 1024.0 * 1024.0,
        other => panic!("unit {other:?}"),
    };
    value * unit
}

#[test]
fn an_s3_lake_gives_the_marts_of_a_local_lake_fed_the_same_batches() {
    let server = S3Server::start();
    let s3 = server.lake("lake", "shop/prod");
    let local = common::temp_lake();
    let local = local.path();

    stride_ok(&s3, &GENERATE);
    stride_ok(local, &GENERATE);
    let bucket = server.bucket_folder("lake");
    assert_eq!(
        listing(&bucket.join("shop/prod/raw")),
        listing(&local.join("raw")),
        "generate lands the same files on S3 as on a local lake"
    );

    stride_ok(&s3, &["run"]);
    stride_ok(local, &["run"]);
    assert!(
        bucket
            .join("shop/prod/warehouse/fct_orders/_delta_log/00000000000000000000.json")
            .is_file(),
        "the Delta tables are in the bucket under the prefix"
    );
    assert_same_marts(&marts(&s3), &marts(local), "after the first run");

    // Two more days, run incrementally on both.
    let landed_before = listing(&bucket.join("shop/prod/raw"));
    let more = ["generate", "--days", "2"];
    stride_ok(&s3, &more);
    stride_ok(local, &more);
    let new_bytes: u64 = listing(&bucket.join("shop/prod/raw"))
        .into_iter()
        .filter(|file| !landed_before.contains(file))
        .map(|(_, size)| size)
        .sum();
    let incremental = stride_ok(&s3, &["run"]);
    stride_ok(local, &["run"]);
    assert_same_marts(&marts(&s3), &marts(local), "after an incremental run");
    let rebuild = stride_ok(&s3, &["run", "--full-refresh"]);
    // The contract check reads each new file whole once; the staging models read
    // them again (`changes()` joined with itself reads a file twice, footers
    // included). No earlier file is read: the rebuild reads all five days.
    assert!(
        raw_bytes_read(&incremental) <= 5.0 * new_bytes as f64
            && raw_bytes_read(&incremental) < raw_bytes_read(&rebuild),
        "an incremental run reads only the new raw files ({new_bytes} bytes):\n{}\n{}",
        stderr(&incremental),
        stderr(&rebuild)
    );
    assert_same_marts(&marts(&s3), &marts(local), "after a full refresh");

    // Time travel and history read the same versions.
    for args in [
        vec![
            "query",
            "select count(*) as n from fct_orders",
            "--version",
            "0",
        ],
        vec![
            "query",
            "select order_id, net_revenue from fct_orders order by 1 limit 5",
            "--version",
            "0",
        ],
    ] {
        let mut with_format = args.clone();
        with_format.extend(["--format", "csv"]);
        assert_eq!(
            stride_ok(&s3, &with_format).stdout,
            stride_ok(local, &with_format).stdout,
            "{args:?}"
        );
    }
    let history = |lake: &dyn LakeArgs| -> Vec<(String, String, String)> {
        let out = stride_command(lake)
            .args(["history", "stg_orders", "--format", "json"])
            .output()
            .expect("runs");
        let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("json");
        rows.iter()
            .map(|r| {
                (
                    r["version"].to_string(),
                    r["operation"].to_string(),
                    r["batches"].to_string(),
                )
            })
            .collect()
    };
    stride_ok(local, &["run", "--full-refresh"]);
    let s3_history = history(&s3);
    assert_eq!(s3_history, history(&local.to_path_buf()));
    assert_eq!(s3_history.len(), 3, "{s3_history:?}");

    // Maintenance works in the bucket and changes no answer.
    stride_ok(&s3, &["optimize"]);
    stride_ok(&s3, &["vacuum", "--retain-hours", "0"]);
    assert_same_marts(&marts(&s3), &marts(local), "after optimize and vacuum");
    let out = stride_ok(&s3, &["run"]);
    assert!(stderr(&out).contains("0 committed"), "{}", stderr(&out));
}

#[test]
fn secrets_never_reach_logs_errors_or_help() {
    let server = S3Server::start();
    let lake = server.lake("lake", "quiet");
    let out = stride_ok(
        &lake,
        &["-vv", "generate", "--days", "1", "--scale", "0.02"],
    );
    let out2 = stride_ok(&lake, &["-v", "run"]);
    // -vv logs every library at trace level, delta-rs's store setup included.
    let out3 = stride_ok(&lake, &["-vv", "history", "fct_orders"]);
    let wrong = S3Lake::new(
        "s3://lake/quiet",
        &server.endpoint(),
        ACCESS_KEY,
        "wr0ng-but-also-secret",
    );
    let failed = stride(&wrong, &["-v", "run"]);
    let help = stride_command(&lake)
        .arg("--help")
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .output()
        .expect("runs");
    for (what, text) in [
        ("generate -vv", stderr(&out)),
        ("run -v", stderr(&out2)),
        ("history -vv", stderr(&out3)),
        ("--help", String::from_utf8_lossy(&help.stdout).into_owned()),
    ] {
        assert!(
            !text.contains(SECRET_KEY),
            "{what} printed the secret:\n{text}"
        );
    }
    let text = stderr(&failed);
    assert!(!text.contains("wr0ng-but-also-secret"), "{text}");
}

#[test]
fn the_aws_variables_alone_reach_the_lake_as_in_docker_compose() {
    let server = S3Server::start();
    let env = [
        ("AWS_ENDPOINT_URL", server.endpoint()),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_string()),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_string()),
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_ALLOW_HTTP", "true".to_string()),
    ];
    let with_env = |args: &[&str]| {
        let out = stride_command("s3://lake/env")
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("runs");
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        out
    };
    with_env(&["generate", "--days", "2", "--scale", "0.02"]);
    with_env(&["run"]);
    let out = with_env(&[
        "query",
        "select count(*) as n from fct_orders",
        "--format",
        "csv",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    let n: u64 = text
        .lines()
        .nth(1)
        .and_then(|l| l.parse().ok())
        .expect("a count");
    assert!(n > 0, "{text}");
    assert!(
        server
            .bucket_folder("lake")
            .join("env/warehouse/fct_orders/_delta_log")
            .is_dir()
    );
}

#[test]
fn an_unreachable_endpoint_fails_fast_with_one_line() {
    // A port nothing listens on.
    let endpoint = format!("http://127.0.0.1:{}", common::s3::free_port());
    let lake = S3Lake::new("s3://lake/x", &endpoint, ACCESS_KEY, SECRET_KEY);
    let started = Instant::now();
    let out = stride(&lake, &["run"]);
    let took = started.elapsed();
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert_eq!(text.lines().count(), 1, "one line:\n{text}");
    assert!(
        text.starts_with("error: lake s3://lake/x/: cannot connect to http://127.0.0.1:"),
        "{text}"
    );
    assert!(took < Duration::from_secs(15), "took {took:?}");
}

#[test]
fn refused_credentials_and_a_missing_bucket_are_named_and_change_nothing() {
    let server = S3Server::start();
    let good = server.lake("lake", "p");
    stride_ok(&good, &["generate", "--days", "1", "--scale", "0.02"]);
    let bucket = server.bucket_folder("lake");
    let before = listing(&bucket);

    let wrong = S3Lake::new("s3://lake/p", &server.endpoint(), "nobody", SECRET_KEY);
    for args in [vec!["run"], vec!["generate"], vec!["query", "select 1"]] {
        let out = stride(&wrong, &args);
        let text = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {text}");
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(
            text.contains("refused the credentials") && text.contains("AWS_ACCESS_KEY_ID"),
            "{args:?}: {text}"
        );
    }

    let missing = server.lake("no-such-bucket", "p");
    let out = stride(&missing, &["run"]);
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("bucket `no-such-bucket` does not exist"),
        "{text}"
    );
    assert_eq!(listing(&bucket), before, "nothing was written");
}

#[test]
fn a_server_that_dies_mid_run_leaves_a_lake_the_next_run_completes() {
    let mut server = S3Server::start();
    let lake = server.lake("lake", "p");
    let local = common::temp_lake();
    let local = local.path();
    let generate = ["generate", "--days", "6", "--scale", "0.2", "--seed", "3"];
    stride_ok(&lake, &generate);
    stride_ok(local, &generate);
    stride_ok(local, &["run"]);

    // Stop the server at several points of a run (once it holds the lock, after
    // its first commit, after its fifth): each time the run fails with one line,
    // and what it left stays readable.
    let bucket = server.bucket_folder("lake").join("p");
    let mut failures = 0;
    for point in [RunPoint::Locked, RunPoint::Commits(1), RunPoint::Commits(5)] {
        let commits_before = commits_in(&bucket.join("warehouse"));
        let mut child = stride_command(&lake)
            .arg("run")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("stride runs");
        wait_until_run_reaches(&mut child, &bucket, point, commits_before);
        server.stop();
        let out = child.wait_with_output().expect("waits");
        let text = stderr(&out);
        if !out.status.success() {
            failures += 1;
            assert_eq!(out.status.code(), Some(1), "{text}");
            let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("error:")).collect();
            assert_eq!(errors.len(), 1, "{text}");
            assert!(
                !text.contains("stack backtrace")
                    && !text.lines().any(|l| l.starts_with("thread '")),
                "no panic dump:\n{text}"
            );
        }
        server.resume();
        stride_ok(&lake, &["query", "select count(*) from raw.orders"]);
    }
    assert_eq!(failures, 3, "every stop landed inside a run");

    // The next run takes over the dead run's lock and ends where a run that was
    // never interrupted ends.
    stride_ok(&lake, &["run"]);
    assert_same_marts(&marts(&lake), &marts(local), "after the interrupted runs");
}

#[test]
fn an_endpoint_down_until_after_the_first_failed_request_is_ridden_out() {
    let mut server = S3Server::start();
    let patient = server.lake("lake", "p").with_retries(8, 20);
    stride_ok(&patient, &["generate", "--days", "1", "--scale", "0.02"]);
    stride_ok(&patient, &["run"]);
    server.stop();
    let mut child = stride_command(&patient)
        .args([
            "query",
            "select count(*) as n from raw.orders",
            "--format",
            "json",
        ])
        .env("RUST_LOG", "stride=info,object_store=info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("stride runs");
    // The server comes back once the client has seen it down and is backing off.
    let stderr_pipe = child.stderr.take().expect("stderr");
    let lines = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut seen = Vec::new();
        let mut reader = std::io::BufReader::new(stderr_pipe);
        let mut line = String::new();
        let mut failed_once = None;
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            if failed_once.is_none() && line.contains("Encountered transport error") {
                failed_once = Some(seen.len());
            }
            seen.push(std::mem::take(&mut line));
            if failed_once.is_some() {
                break;
            }
        }
        (reader, seen, failed_once)
    });
    let (mut reader, mut seen, failed_once) = lines.join().expect("stderr reader");
    assert!(
        failed_once.is_some(),
        "no request failed:\n{}",
        seen.concat()
    );
    server.resume();
    let status = child.wait().expect("waits");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut reader, &mut rest).expect("stderr");
    seen.push(rest);
    assert!(status.success(), "{}", seen.concat());
    let rows = query(&patient, "select count(*) as n from raw.orders");
    assert!(common::num(&rows[0], "n") > 0.0);
}

/// A point of a run to wait for.
#[derive(Debug, Clone, Copy)]
enum RunPoint {
    /// It holds the lake's lock.
    Locked,
    /// It made this many Delta commits.
    Commits(usize),
}

/// Delta commits (log entries) under `warehouse`.
fn commits_in(warehouse: &Path) -> usize {
    let Ok(tables) = std::fs::read_dir(warehouse) else {
        return 0;
    };
    tables
        .filter_map(|t| std::fs::read_dir(t.ok()?.path().join("_delta_log")).ok())
        .flatten()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".json"))
        })
        .count()
}

/// Waits until the run `child` on the lake stored at `lake_folder` reaches `point`
/// (`commits_before` commits were there when it started); fails if it ends first.
fn wait_until_run_reaches(
    child: &mut std::process::Child,
    lake_folder: &Path,
    point: RunPoint,
    commits_before: usize,
) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let reached = match point {
            RunPoint::Locked => lake_folder.join("_stride/run.lock").exists(),
            RunPoint::Commits(n) => {
                commits_in(&lake_folder.join("warehouse")) >= commits_before + n
            }
        };
        if reached {
            return;
        }
        assert!(
            child.try_wait().expect("status").is_none(),
            "the run ended before {point:?}"
        );
        assert!(Instant::now() < deadline, "the run never reached {point:?}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn server_errors_during_a_run_are_retried() {
    let server = S3Server::start();
    // Every third connection's first request gets a 503.
    let proxy = FlakyProxy::start(server.port(), 3);
    let flaky =
        S3Lake::new("s3://lake/p", &proxy.endpoint(), ACCESS_KEY, SECRET_KEY).with_retries(6, 20);
    let local = common::temp_lake();
    let local = local.path();
    let generate = ["generate", "--days", "3", "--scale", "0.05", "--seed", "5"];
    stride_ok(&flaky, &generate);
    stride_ok(local, &generate);
    stride_ok(&flaky, &["run"]);
    stride_ok(local, &["run"]);
    stride_ok(&flaky, &["generate", "--days", "1"]);
    stride_ok(local, &["generate", "--days", "1"]);
    stride_ok(&flaky, &["run"]);
    stride_ok(local, &["run"]);
    eprintln!("503s injected: {}", proxy.injected());
    assert!(proxy.injected() > 0, "no 503 was injected");
    assert_same_marts(&marts(&flaky), &marts(local), "through a flaky endpoint");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writers_racing_on_one_table_cannot_both_commit() {
    use deltalake::kernel::transaction::TransactionError;
    use deltalake::logstore::CommitOrBytes;
    use stride::config::S3Settings;

    let server = S3Server::start();
    let lake_args = server.lake("lake", "race");
    stride_ok(&lake_args, &["generate", "--days", "2", "--scale", "0.02"]);
    stride_ok(&lake_args, &["run", "--select", "stg_orders"]);

    let settings: S3Settings = toml::from_str(&format!(
        "endpoint = \"{}\"\nallow_http = true\naccess_key_id = \"{ACCESS_KEY}\"\n\
         secret_access_key = \"{SECRET_KEY}\"\n",
        server.endpoint()
    ))
    .expect("settings");
    let lake = stride::lake::Lake::open(&lake_args.url, &settings).expect("lake opens");
    let model = "stg_orders";

    // Two stride commits from two writers that both read version 0.
    let first = stride::delta::handle(&lake, model).await.expect("opens");
    let second = stride::delta::handle(&lake, model).await.expect("opens");
    assert_eq!(first.version(), Some(0));
    let ctx = stride::engine::new_session();
    let state = ctx.state();
    let rows = |table: &deltalake::DeltaTable| {
        let ctx = ctx.clone();
        let state = state.clone();
        let table = table.clone();
        async move {
            let provider = stride::delta::provider(&table, &state)
                .await
                .expect("provider");
            ctx.read_table(provider)
                .expect("frame")
                .limit(0, Some(3))
                .expect("limit")
        }
    };
    let (frame_a, frame_b) = (rows(&first).await, rows(&second).await);
    let info = serde_json::json!({"writer": "test"});
    // The first commits version 1; the second, still at version 0, must not
    // commit over it nor beside it.
    let won = stride::delta::append(first, model, frame_a, &state, info.clone()).await;
    let lost = stride::delta::append(second, model, frame_b, &state, info).await;
    assert!(won.is_ok(), "{:?}", won.err());
    let Err(loser) = lost else {
        panic!("the second writer must fail")
    };
    let cause = std::error::Error::source(&loser).map(|s| s.to_string());
    assert!(
        loser.to_string().contains(model)
            && cause
                .as_deref()
                .is_some_and(|c| c.contains("another writer committed")),
        "{loser}: {cause:?}"
    );

    // Below delta-rs's own check: the store refuses to create a version that
    // exists. This is the conditional put (If-None-Match) delta-rs commits with.
    // s3s-fs checks and then writes, so the two puts are made one after the
    // other here; MinIO and AWS S3 decide them atomically.
    let table = stride::delta::handle(&lake, model).await.expect("opens");
    assert_eq!(table.version(), Some(1));
    let store = table.log_store();
    let commit = |writer: &str| {
        CommitOrBytes::LogBytes(
            format!(
                "{{\"commitInfo\":{{\"timestamp\":1,\"operation\":\"RACE\",\"writer\":\"{writer}\"}}}}\n"
            )
            .into(),
        )
    };
    let op = uuid::Uuid::new_v4();
    let x = store.write_commit_entry(2, commit("x"), op).await;
    let y = store.write_commit_entry(2, commit("y"), op).await;
    assert!(x.is_ok(), "{x:?}");
    assert!(
        matches!(y, Err(TransactionError::VersionAlreadyExists(2))),
        "{y:?}"
    );
    let bytes = store
        .read_commit_entry(2)
        .await
        .expect("reads")
        .expect("version 2 exists");
    assert!(
        String::from_utf8_lossy(&bytes).contains("\"x\""),
        "the first put stays"
    );

    // The table stays readable, with the winner's rows.
    let n = query(&lake_args, "select count(*) as n from stg_orders");
    let total = common::num(&n[0], "n");
    let out = stride_ok(&lake_args, &["history", model, "--format", "json"]);
    let history: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(history.len(), 3, "{history:?}");
    assert!(total > 0.0);
}

/// Every raw table's files of one batch folder under `raw` (none when absent).
fn batch_folders(raw: &Path, day: &str) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(raw)
        .expect("raw folder")
        .map(|e| e.expect("entry").path().join(format!("batch_date={day}")))
        .filter(|p| p.is_dir())
        .collect()
}

#[test]
fn redelivered_and_late_files_on_s3_give_the_marts_of_an_uninterrupted_run() {
    let generate = ["generate", "--days", "5", "--scale", "0.05"];
    let server = S3Server::start();
    let s3 = server.lake("lake", "late");
    stride_ok(&s3, &generate);
    let clean = common::temp_lake();
    stride_ok(clean.path(), &generate);
    stride_ok(clean.path(), &["run"]);

    // Day 3 is held back until days 4 and 5 are run; day 2 lands twice.
    let raw = server.bucket_folder("lake").join("late/raw");
    let held = tempfile::tempdir().expect("temp dir");
    let mut moved = Vec::new();
    for folder in batch_folders(&raw, "2026-01-03") {
        let table = folder.parent().expect("table").file_name().expect("name");
        let aside = held.path().join(table);
        std::fs::rename(&folder, &aside).expect("hold back");
        moved.push((aside, folder));
    }
    for folder in batch_folders(&raw, "2026-01-02") {
        for file in std::fs::read_dir(&folder).expect("batch") {
            let file = file.expect("entry").path();
            let again = file.with_extension("again.parquet");
            std::fs::copy(&file, again).expect("copy");
        }
    }
    stride_ok(&s3, &["run"]);
    for (aside, folder) in moved {
        std::fs::rename(aside, folder).expect("land late");
    }
    let out = stride_ok(&s3, &["run"]);
    assert_same_marts(
        &marts(&s3),
        &marts(clean.path()),
        &format!(
            "late and repeated files on S3 vs once, in order\n{}",
            stderr(&out)
        ),
    );

    // `stride verify` on S3: every table equals its rebuild, and the scratch
    // tables are gone from the bucket afterwards.
    let out = stride_ok(&s3, &["verify"]);
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        !report.contains("DIFFERS") && report.contains("equal"),
        "{report}"
    );
    let scratch = server.bucket_folder("lake").join("late/_stride/verify");
    assert!(
        !scratch.exists() || listing(&scratch).is_empty(),
        "scratch left: {:?}",
        listing(&scratch)
    );
}

#[test]
fn as_of_on_a_synced_s3_lake_picks_versions_by_commit_time() {
    let server = S3Server::start();
    let s3 = server.lake("lake", "original");
    stride_ok(&s3, &["generate", "--days", "2", "--scale", "0.02"]);
    stride_ok(&s3, &["run"]);
    stride_ok(&s3, &["generate", "--days", "1"]);
    stride_ok(&s3, &["run"]);
    let times = common::commit_times(&s3, "fct_orders");
    assert_eq!(times.len(), 2, "{times:?}");
    let counts: Vec<f64> = times
        .iter()
        .map(|t| common::count_as_of(&s3, "fct_orders", t))
        .collect();
    assert_ne!(counts[0], counts[1], "the second run adds orders");
    // The objects copied to another prefix (an `aws s3 sync`): new modification
    // times, the same commits.
    let bucket = server.bucket_folder("lake");
    common::copy_dir(&bucket.join("original"), &bucket.join("synced"));
    let synced = server.lake("lake", "synced");
    for (time, count) in times.iter().zip(&counts) {
        assert_eq!(
            common::count_as_of(&synced, "fct_orders", time),
            *count,
            "{time}"
        );
    }
}
