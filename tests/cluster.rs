//! The models on an Apache DataFusion Ballista cluster: a scheduler and two
//! executors on loopback (in this test process, then as the processes a user
//! starts), every model's table equal to a local run's, full and incremental,
//! with late data, deletes and deletion vectors; an executor killed mid-run.

mod common;

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::s3::free_port;
use common::serving::signal;
use common::{copy_dir, query, stride_command, stride_ok, temp_lake};
use serde_json::Value;
use stride::cluster::{ExecutorOptions, SchedulerOptions, run_executor, run_scheduler};
use stride::config::S3Settings;

/// Waits until something listens on `port`.
fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} never listened on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A scheduler and two executors in this process, each on its own runtime
/// thread, shared by the tests of this file; their work folders.
struct InProcess {
    address: String,
    work_dirs: Vec<PathBuf>,
    _folder: tempfile::TempDir,
}

fn in_process_cluster() -> &'static InProcess {
    static CLUSTER: OnceLock<InProcess> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let folder = tempfile::tempdir().expect("temp dir");
        let scheduler = free_port();
        let bind: SocketAddr = format!("127.0.0.1:{scheduler}").parse().expect("address");
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().expect("runtime");
            let options = SchedulerOptions {
                bind,
                executor_timeout_secs: 10,
                s3: S3Settings::default(),
            };
            if let Err(e) = runtime.block_on(run_scheduler(options)) {
                eprintln!("scheduler: {e}");
            }
        });
        wait_for_port(scheduler, "the scheduler");
        let mut work_dirs = Vec::new();
        for name in ["a", "b"] {
            let port = free_port();
            let work_dir = folder.path().join(format!("executor-{name}"));
            work_dirs.push(work_dir.clone());
            let options = ExecutorOptions {
                scheduler: ("127.0.0.1".to_string(), scheduler),
                bind: format!("127.0.0.1:{port}").parse().expect("address"),
                external_host: None,
                vcores: 2,
                memory: Some(1 << 30),
                work_dir,
                id: Some(format!("executor-{name}")),
                s3: S3Settings::default(),
            };
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Runtime::new().expect("runtime");
                if let Err(e) = runtime.block_on(run_executor(options)) {
                    eprintln!("executor: {e}");
                }
            });
            wait_for_port(port, "an executor");
        }
        // Executors register with their first request for work.
        std::thread::sleep(Duration::from_millis(500));
        InProcess {
            address: format!("df://127.0.0.1:{scheduler}"),
            work_dirs,
            _folder: folder,
        }
    })
}

/// The models with a Delta table in `lake`.
fn stored_models(lake: &Path) -> Vec<String> {
    let mut models: Vec<String> = std::fs::read_dir(lake.join("warehouse"))
        .expect("warehouse")
        .map(|e| e.expect("entry").file_name().to_string_lossy().to_string())
        .collect();
    models.sort();
    models
}

/// The models whose Delta log has written a deletion vector.
fn with_deletion_vectors(lake: &Path) -> Vec<String> {
    stored_models(lake)
        .into_iter()
        .filter(|m| {
            let log = lake.join("warehouse").join(m).join("_delta_log");
            std::fs::read_dir(log).expect("log").any(|e| {
                std::fs::read_to_string(e.expect("entry").path())
                    .is_ok_and(|text| text.contains("\"deletionVector\":{"))
            })
        })
        .collect()
}

/// A value as compared: floats to 9 significant digits (a sum over other
/// partitions may differ in its last bits), everything else as printed.
fn canonical(value: &Value) -> String {
    match value {
        Value::Number(n) if n.is_f64() => {
            let x = n.as_f64().unwrap_or_default();
            if x == 0.0 {
                "0".to_string()
            } else {
                format!("{x:.8e}")
            }
        }
        other => other.to_string(),
    }
}

/// Every stored model's rows (sorted), read with `extra` query arguments.
fn tables(lake: &Path, extra: &[&str]) -> BTreeMap<String, Vec<String>> {
    stored_models(lake)
        .into_iter()
        .map(|model| {
            let sql = format!("select * from {model}");
            let mut args = vec!["query", sql.as_str(), "--format", "json"];
            args.extend_from_slice(extra);
            let out = stride_ok(lake, &args);
            let rows: Vec<serde_json::Map<String, Value>> =
                serde_json::from_slice(&out.stdout).expect("rows as JSON");
            let mut lines: Vec<String> = rows
                .iter()
                .map(|row| {
                    row.iter()
                        .map(|(k, v)| format!("{k}={}", canonical(v)))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .collect();
            lines.sort();
            (model, lines)
        })
        .collect()
}

#[track_caller]
fn assert_same_tables(
    cluster: &BTreeMap<String, Vec<String>>,
    local: &BTreeMap<String, Vec<String>>,
    when: &str,
) {
    assert_eq!(
        cluster.keys().collect::<Vec<_>>(),
        local.keys().collect::<Vec<_>>(),
        "{when}: the same models have tables"
    );
    for (model, rows) in local {
        let other = &cluster[model];
        if rows != other {
            let only_cluster: Vec<&String> =
                other.iter().filter(|l| !rows.contains(l)).take(3).collect();
            let only_local: Vec<&String> =
                rows.iter().filter(|l| !other.contains(l)).take(3).collect();
            panic!(
                "{when}: {model} differs ({} rows on the cluster, {} locally)\n\
                 cluster only: {only_cluster:#?}\nlocal only: {only_local:#?}",
                other.len(),
                rows.len()
            );
        }
    }
}

/// The placement of each model the last run computed, from its record.
fn placements_of_last_run(lake: &Path) -> Vec<(String, String)> {
    // Run ids sort by start time.
    let last = std::fs::read_dir(lake.join("_stride/runs"))
        .expect("run records")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .max()
        .expect("a run record");
    let record = std::fs::read_to_string(&last).expect("run record");
    let record: Value = serde_json::from_str(&record).expect("record JSON");
    record["models"]
        .as_array()
        .expect("models")
        .iter()
        .filter(|m| m["version"].is_u64())
        .map(|m| {
            (
                m["model"].as_str().unwrap_or_default().to_string(),
                m["ran_on"].as_str().unwrap_or("(none)").to_string(),
            )
        })
        .collect()
}

#[track_caller]
fn assert_all_ran_on_the_cluster(lake: &Path, when: &str) {
    let placements = placements_of_last_run(lake);
    assert!(!placements.is_empty(), "{when}: the run computed models");
    let elsewhere: Vec<&(String, String)> = placements
        .iter()
        .filter(|(_, on)| on != "cluster")
        .collect();
    assert!(
        elsewhere.is_empty(),
        "{when}: models that did not run on the cluster: {elsewhere:?}"
    );
}

/// Files below `folder`, recursively.
fn files_below(folder: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return 0;
    };
    entries
        .map(|e| e.expect("entry").path())
        .map(|p| if p.is_dir() { files_below(&p) } else { 1 })
        .sum()
}

fn generate(lake: &Path, days: &str) {
    stride_ok(
        lake,
        &[
            "generate",
            "--scale",
            "0.05",
            "--max-lateness-days",
            "6",
            "--faults",
            "0.02",
            "--days",
            days,
        ],
    );
}

/// The raw files (and the generator's state) of `from` also in `to`.
fn deliver(from: &Path, to: &Path) {
    copy_dir(&from.join("raw"), &to.join("raw"));
}

#[test]
fn every_model_on_the_cluster_equals_the_local_run_full_and_incremental() {
    let cluster = in_process_cluster();
    let local = temp_lake();
    let remote = temp_lake();
    generate(local.path(), "3");
    deliver(local.path(), remote.path());
    stride_ok(local.path(), &["run"]);
    stride_ok(remote.path(), &["run", "--cluster", &cluster.address]);
    assert_all_ran_on_the_cluster(remote.path(), "first run");
    assert_same_tables(
        &tables(remote.path(), &[]),
        &tables(local.path(), &[]),
        "after the first run",
    );

    // Late touchpoints, returns and cancellations (deletes), restated spend land
    // on orders of earlier batches; deletion vectors accumulate.
    for (step, days) in ["1", "2", "1"].into_iter().enumerate() {
        generate(local.path(), days);
        deliver(local.path(), remote.path());
        stride_ok(local.path(), &["run"]);
        stride_ok(remote.path(), &["run", "--cluster", &cluster.address]);
        assert_all_ran_on_the_cluster(remote.path(), &format!("incremental run {step}"));
        assert_same_tables(
            &tables(remote.path(), &[]),
            &tables(local.path(), &[]),
            &format!("after incremental run {step}"),
        );
    }
    assert!(
        !with_deletion_vectors(remote.path()).is_empty(),
        "the incremental runs wrote deletion vectors, which the cluster then read"
    );

    // A full refresh on the cluster gives the same tables again.
    stride_ok(
        remote.path(),
        &["run", "--full-refresh", "--cluster", &cluster.address],
    );
    assert_all_ran_on_the_cluster(remote.path(), "full refresh");
    assert_same_tables(
        &tables(remote.path(), &[]),
        &tables(local.path(), &[]),
        "after a full refresh on the cluster",
    );
    for work_dir in &cluster.work_dirs {
        assert!(
            files_below(work_dir) > 0,
            "{} ran tasks (it holds their shuffle files)",
            work_dir.display()
        );
    }
}

#[test]
fn a_table_with_deletion_vectors_reads_the_same_on_the_cluster() {
    let cluster = in_process_cluster();
    let lake = temp_lake();
    generate(lake.path(), "3");
    stride_ok(lake.path(), &["run"]);
    for _ in 0..2 {
        generate(lake.path(), "1");
        stride_ok(lake.path(), &["run"]);
    }
    let with_vectors = with_deletion_vectors(lake.path());
    assert!(!with_vectors.is_empty(), "some table has deletion vectors");
    let on_cluster = tables(lake.path(), &["--cluster", &cluster.address]);
    let here = tables(lake.path(), &[]);
    for model in &with_vectors {
        assert_eq!(
            on_cluster[model].len(),
            here[model].len(),
            "{model}: deleted rows are absent on the cluster too"
        );
        assert_eq!(on_cluster[model], here[model], "{model}: the same rows");
        let count = query(lake.path(), &format!("select count(*) as n from {model}"));
        assert_eq!(
            common::count(&count[0], "n") as usize,
            here[model].len(),
            "{model}: the row count the log gives"
        );
    }
}

/// How many tasks the executor whose log is `log` has received.
fn tasks_received(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .map(|text| text.matches(TASK_RECEIVED).count())
        .unwrap_or_default()
}

/// A `stride cluster …` process, stopped by pid when dropped.
struct Role(Child);

impl Drop for Role {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A role's log says each task an executor receives (Ballista's own line).
const TASK_RECEIVED: &str = "Received task";

fn role(args: &[&str], log: &Path) -> Role {
    let log = std::fs::File::create(log).expect("log file");
    let child = Command::new(env!("CARGO_BIN_EXE_stride"))
        .args(["cluster"])
        .args(args)
        .env("RUST_LOG", "stride=info,ballista_executor=info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("stride cluster starts");
    Role(child)
}

#[test]
fn processes_a_user_starts_run_the_models_and_survive_a_killed_executor() {
    let folder = tempfile::tempdir().expect("temp dir");
    let scheduler = free_port();
    let scheduler_address = format!("127.0.0.1:{scheduler}");
    let mut scheduler_process = role(
        &[
            "scheduler",
            "--bind",
            &scheduler_address,
            "--executor-timeout",
            "6",
        ],
        &folder.path().join("scheduler.log"),
    );
    wait_for_port(scheduler, "stride cluster scheduler");
    let mut executors = Vec::new();
    for name in ["one", "two"] {
        let port = free_port();
        let bind = format!("127.0.0.1:{port}");
        let work_dir = folder.path().join(name);
        executors.push(role(
            &[
                "executor",
                "--scheduler",
                &scheduler_address,
                "--bind",
                &bind,
                "--vcores",
                "2",
                "--memory",
                "1GiB",
                "--work-dir",
                &work_dir.display().to_string(),
                "--id",
                name,
            ],
            &folder.path().join(format!("{name}.log")),
        ));
        wait_for_port(port, "stride cluster executor");
    }
    std::thread::sleep(Duration::from_millis(500));
    let address = format!("df://{scheduler_address}");

    // A small lake, run on the cluster through STRIDE_CLUSTER.
    let local = temp_lake();
    let remote = temp_lake();
    generate(local.path(), "2");
    deliver(local.path(), remote.path());
    stride_ok(local.path(), &["run"]);
    let out = stride_command(remote.path())
        .arg("run")
        .env("STRIDE_CLUSTER", &address)
        .output()
        .expect("stride runs");
    assert!(
        out.status.success(),
        "stride run on the cluster: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_all_ran_on_the_cluster(remote.path(), "run through STRIDE_CLUSTER");
    assert_same_tables(
        &tables(remote.path(), &[]),
        &tables(local.path(), &[]),
        "processes",
    );

    // One executor killed (SIGKILL) while a full refresh runs: the run completes
    // on the other one or fails naming the cluster; either way the next run is
    // exact.
    // Ballista may leave a job waiting forever for a lost executor's work: the
    // time limit turns that into a failed run.
    let run = stride_command(remote.path())
        .args(["run", "--full-refresh", "--cluster", &address])
        .env("STRIDE_CLUSTER_TIMEOUT", "30")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("stride run starts");
    // Killed once it works on this run: when its log shows a task received after
    // the ones of the runs before.
    let log_of_one = folder.path().join("one.log");
    let tasks_before = tasks_received(&log_of_one);
    let mut run = run;
    let deadline = Instant::now() + Duration::from_secs(120);
    while tasks_received(&log_of_one) == tasks_before {
        assert!(
            run.try_wait().expect("wait").is_none(),
            "the full refresh ended before executor one received a task of it"
        );
        assert!(Instant::now() < deadline, "executor one received no task");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        run.try_wait().expect("wait").is_none(),
        "the run is still going when executor one is killed"
    );
    let killed = executors.remove(0);
    signal(killed.0.id(), libc::SIGKILL);
    drop(killed);
    let finished = run.wait_with_output().expect("the run ends");
    let stderr = String::from_utf8_lossy(&finished.stderr);
    eprintln!(
        "the run with a killed executor {}",
        if finished.status.success() {
            "completed on the other one"
        } else {
            "failed"
        }
    );
    if !finished.status.success() {
        assert!(
            stderr.contains("cluster") || stderr.contains("executor"),
            "a failed run says the cluster failed it: {stderr}"
        );
        stride_ok(remote.path(), &["run", "--cluster", &address]);
    }
    assert_same_tables(
        &tables(remote.path(), &[]),
        &tables(local.path(), &[]),
        "after an executor was killed",
    );

    // Stopped by pid.
    for process in executors
        .iter_mut()
        .chain(std::iter::once(&mut scheduler_process))
    {
        signal(process.0.id(), libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    for process in executors
        .iter_mut()
        .chain(std::iter::once(&mut scheduler_process))
    {
        loop {
            if process.0.try_wait().expect("wait").is_some() {
                break;
            }
            assert!(Instant::now() < deadline, "a role did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
