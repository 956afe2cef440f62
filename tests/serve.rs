//! `stride serve` and the run history: records of every run (local and S3, across
//! restarts, a killed run read as interrupted), cron schedules with one catch-up
//! after downtime, the sensor for new batches, retries of transient failures only,
//! one run at a time, graceful shutdown, and the JSON API checked against the CLI.
//! The tests wait on events (a record, a gate file), with generous deadlines.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::s3::{S3Server, free_port};
use common::serving::{PATIENCE, Serving, http, runs, same_within_float_sums, signal, stop};
use common::{LakeArgs, assert_same_marts, marts, stride, stride_command, stride_ok};
use serde_json::Value;

/// The lock's test hook: a process that took the run lock writes `<pid>.held` in
/// this folder and waits for `<pid>.release`.
const HOLD_LOCK: &str = "STRIDE_TEST_HOLD_LOCK";

const SMALL: [&str; 4] = ["--scale", "0.05", "--seed", "7"];

fn generate(lake: &(impl LakeArgs + ?Sized), days: &str) {
    let mut args = vec!["generate", "--days", days];
    args.extend(SMALL);
    stride_ok(lake, &args);
}

fn field<'a>(record: &'a Value, name: &str) -> &'a str {
    record[name].as_str().unwrap_or("")
}

/// Waits until `done` holds for the lake's run records; returns them.
fn wait_for_runs(
    lake: &(impl LakeArgs + ?Sized),
    what: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let records = runs(lake);
        if done(&records) {
            return records;
        }
        assert!(
            Instant::now() < deadline,
            "waited for {what}; the runs are {records:#?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Every raw table's ledger, as bytes, by path.
fn ledger_bytes(lake: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut ledgers = std::collections::BTreeMap::new();
    let Ok(tables) = std::fs::read_dir(lake.join("quarantine")) else {
        return ledgers;
    };
    for table in tables {
        let ledger = table.expect("entry").path().join("_ledger.json");
        if let Ok(bytes) = std::fs::read(&ledger) {
            ledgers.insert(ledger.display().to_string(), bytes);
        }
    }
    ledgers
}

fn is_final(record: &Value) -> bool {
    !matches!(field(record, "status"), "queued" | "started")
}

fn wait_for_file(path: &Path) {
    let deadline = Instant::now() + PATIENCE;
    while !path.exists() {
        assert!(Instant::now() < deadline, "waited for {}", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The marts of a lake that got the same batches and one uninterrupted run.
fn reference_marts(days: &str) -> std::collections::BTreeMap<&'static str, Vec<String>> {
    let lake = common::temp_lake();
    generate(lake.path(), days);
    stride_ok(lake.path(), &["run"]);
    marts(lake.path())
}

#[test]
fn every_run_is_recorded_newest_first_with_its_models_and_errors() {
    let lake = common::temp_lake();
    let lake = lake.path();
    generate(lake, "2");
    stride_ok(lake, &["run"]);
    generate(lake, "1");
    stride_ok(lake, &["run"]);
    let (_keep, queries) = common::queries_with_a_broken_mart();
    let queries = queries.to_str().expect("utf-8 path");
    let failed = stride(lake, &["--queries", queries, "run"]);
    assert!(!failed.status.success(), "the broken model fails the run");

    // A new process reads them: they are in the lake, not in memory.
    let records = runs(lake);
    assert_eq!(records.len(), 3, "{records:#?}");
    let ids: Vec<&str> = records.iter().map(|r| field(r, "run_id")).collect();
    let mut sorted = ids.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(ids, sorted, "newest first");
    let statuses: Vec<&str> = records.iter().map(|r| field(r, "status")).collect();
    assert_eq!(statuses, ["failure", "success", "success"]);
    for record in &records {
        assert_eq!(field(record, "trigger"), "cli");
        assert_eq!(record["attempt"], 1);
        assert!(record["ended_at"].is_string());
    }

    let failure = &records[0];
    assert_eq!(field(failure, "error_kind"), "permanent");
    assert!(
        field(failure, "error").contains("mart_channel_daily"),
        "{failure:#}"
    );
    let models = failure["models"].as_array().expect("models");
    let broken_model = models
        .iter()
        .find(|m| m["model"] == "mart_channel_daily")
        .expect("the broken model is recorded");
    assert_eq!(broken_model["action"], "failed");
    assert!(
        broken_model["error"]
            .as_str()
            .is_some_and(|e| e.contains("no_such_column")),
        "{broken_model:#}"
    );

    // The first run built every model; the second applied one new day.
    let first = &records[2];
    let orders = first["models"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["model"] == "fct_orders"))
        .expect("fct_orders ran");
    assert_eq!(orders["action"], "full");
    assert_eq!(orders["version"], 0);
    assert!(orders["rows_added"].as_u64().is_some_and(|n| n > 0));
    let checked = first["sources"].as_array().expect("sources");
    let orders_raw = checked
        .iter()
        .find(|s| s["table"] == "orders")
        .expect("raw orders checked");
    assert_eq!(
        orders_raw["rows_read"].as_u64(),
        Some(
            orders_raw["rows_loaded"].as_u64().unwrap_or(0)
                + orders_raw["rows_quarantined"].as_u64().unwrap_or(0)
                + orders_raw["rows_redelivered"].as_u64().unwrap_or(0)
        )
    );
    let second = &records[1];
    let incremental = second["models"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["model"] == "fct_orders"))
        .expect("fct_orders ran again");
    assert_eq!(incremental["action"], "incremental");
    assert_eq!(incremental["version"], 1);

    // Versions and runs link both ways.
    let history = stride_ok(lake, &["history", "fct_orders", "--format", "json"]);
    let history: Vec<Value> = serde_json::from_slice(&history.stdout).expect("history");
    let by_run: Vec<&str> = history
        .iter()
        .map(|h| h["run_id"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(by_run, [field(first, "run_id"), field(second, "run_id")]);

    // `runs show` and `stride query` see the same records.
    let shown = stride_ok(
        lake,
        &["runs", "show", field(second, "run_id"), "--format", "json"],
    );
    let shown: Value = serde_json::from_slice(&shown.stdout).expect("record");
    assert_eq!(&shown, second);
    let queried = common::query(
        lake,
        "select run_id, status from stride.runs order by run_id desc",
    );
    let queried: Vec<(String, String)> = queried
        .iter()
        .map(|r| (common::text(r, "run_id"), common::text(r, "status")))
        .collect();
    let listed: Vec<(String, String)> = records
        .iter()
        .map(|r| {
            (
                field(r, "run_id").to_string(),
                field(r, "status").to_string(),
            )
        })
        .collect();
    assert_eq!(queried, listed);
    let per_model = common::query(
        lake,
        "select count(*) as n from stride.run_models where action = 'failed'",
    );
    assert_eq!(common::num(&per_model[0], "n"), 1.0);

    // A run killed while it holds the lake reads as interrupted, never as going.
    let gates = tempfile::tempdir().expect("gates");
    let mut killed = stride_command(lake)
        .arg("run")
        .env(HOLD_LOCK, gates.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("stride run starts");
    wait_for_file(&gates.path().join(format!("{}.held", killed.id())));
    let _ = killed.kill();
    let _ = killed.wait();
    let records = runs(lake);
    assert_eq!(records.len(), 4);
    assert_eq!(field(&records[0], "status"), "failure", "{:#}", records[0]);
    assert_eq!(field(&records[0], "error_kind"), "interrupted");
    // The next run takes the lock over and runs.
    stride_ok(lake, &["run"]);
    assert_eq!(field(&runs(lake)[0], "status"), "success");
}

#[test]
fn the_run_history_lives_in_an_s3_lake_too() {
    let server = S3Server::start();
    let lake = server.lake("lake", "history");
    generate(&lake, "1");
    stride_ok(&lake, &["run"]);
    stride_ok(&lake, &["run"]);
    let records = runs(&lake);
    let statuses: Vec<&str> = records.iter().map(|r| field(r, "status")).collect();
    assert_eq!(statuses, ["success", "success"]);
    // The second run had nothing new: every model up to date, no version.
    assert!(
        records[0]["models"]
            .as_array()
            .is_some_and(|m| m.iter().all(|m| m["version"].is_null())),
        "{:#}",
        records[0]
    );
    let stored = server.bucket_folder("lake").join("history/_stride/runs");
    for record in &records {
        let file = stored.join(format!("{}.json", field(record, "run_id")));
        assert!(file.exists(), "{} in the bucket", file.display());
        assert!(file.with_extension("log").exists(), "its log in the bucket");
    }
}

#[test]
fn a_schedule_starts_runs_and_ticks_missed_while_stopped_give_one_catch_up_run() {
    let lake = common::temp_lake();
    let lake = lake.path();
    generate(lake, "1");
    let every_second = ["--schedule", "* * * * * *"];
    let serving = Serving::start(lake, &every_second, &[]);
    wait_for_runs(lake, "a scheduled run", |r| {
        r.iter()
            .any(|r| field(r, "trigger") == "schedule" && field(r, "status") == "success")
    });
    // Ticks after it find nothing new.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let ticks = serving.get("/api/schedules")["schedules"][0]["ticks"].clone();
        let skipped = ticks
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["outcome"] == "skipped: nothing new"));
        if skipped {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no tick found nothing new: {ticks:#}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (status, _) = serving.terminate(PATIENCE);
    assert!(status.success());

    generate(lake, "1");
    let before = runs(lake).len();
    // Time is the subject here: at least 5 ticks pass while nothing serves.
    std::thread::sleep(Duration::from_secs(7));
    let serving = Serving::start(lake, &every_second, &[]);
    let records = wait_for_runs(lake, "the catch-up run", |r| {
        r.len() > before && r.iter().take(r.len() - before).all(is_final)
    });
    // Once a tick after it finds nothing new, no tick will start a run.
    let schedules = serving.wait_until("a tick after the catch-up", "/api/schedules", |s| {
        s["schedules"][0]["ticks"][0]["outcome"] == "skipped: nothing new"
    });
    serving.wait_idle();
    stop(serving);
    // The missed ticks were handled as one: one tick stands for them all.
    let standing_for_missed: Vec<&Value> = schedules["schedules"][0]["ticks"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter(|t| t["missed"].as_u64().is_some_and(|m| m > 0))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(standing_for_missed.len(), 1, "{schedules:#}");
    assert!(
        standing_for_missed[0]["outcome"]
            .as_str()
            .is_some_and(|o| o.starts_with("catch-up for")),
        "{schedules:#}"
    );
    let records_after = runs(lake);
    let new: Vec<&Value> = records_after
        .iter()
        .take(records_after.len() - before)
        .collect();
    let catch_ups: Vec<&&Value> = new
        .iter()
        .filter(|r| r["tick"]["missed"].as_u64().is_some_and(|m| m > 0))
        .collect();
    assert_eq!(catch_ups.len(), 1, "one catch-up run: {new:#?}");
    assert!(
        catch_ups[0]["tick"]["missed"]
            .as_u64()
            .is_some_and(|m| m >= 5),
        "{:#}",
        catch_ups[0]
    );
    assert_eq!(field(catch_ups[0], "status"), "success");
    // The catch-up consumed the new day; later ticks had nothing new to run.
    assert_eq!(new.len(), 1, "{new:#?}");
    assert!(records.len() > before);
}

#[test]
fn the_sensor_starts_one_run_per_landing_and_none_when_idle() {
    let lake = common::temp_lake();
    let lake = lake.path();
    generate(lake, "1");
    stride_ok(lake, &["run"]);
    let watch = ["--watch", "--watch-interval", "0.3", "--quiet-period", "1"];
    let serving = Serving::start(lake, &watch, &[]);
    let nothing_new = |e: &Value| {
        e["sensor"]["evaluations"].as_array().map_or(0, |e| {
            e.iter().filter(|e| e["outcome"] == "nothing new").count()
        })
    };
    serving.wait_until("three idle looks", "/api/schedules", |s| {
        nothing_new(s) >= 3
    });
    serving.wait_idle();
    assert_eq!(runs(lake).len(), 1, "idle intervals start nothing");
    generate(lake, "1");
    wait_for_runs(lake, "a sensor run", |r| {
        r.iter()
            .any(|r| field(r, "trigger") == "sensor" && is_final(r))
    });
    // Once a look finds nothing new with no run queued, the landing is consumed
    // and the sensor has nothing more to start.
    serving.wait_idle();
    serving.wait_until("a look after the run", "/api/schedules", |s| {
        s["sensor"]["evaluations"][0]["outcome"] == "nothing new"
    });
    serving.wait_idle();
    let records = runs(lake);
    let sensed: Vec<&Value> = records
        .iter()
        .filter(|r| field(r, "trigger") == "sensor")
        .collect();
    assert_eq!(sensed.len(), 1, "{records:#?}");
    assert_eq!(field(sensed[0], "status"), "success");
    let evaluations = serving.get("/api/schedules")["sensor"]["evaluations"].clone();
    assert!(
        evaluations
            .as_array()
            .is_some_and(|e| e.iter().any(|e| e["outcome"] == "nothing new")),
        "{evaluations:#}"
    );
    stop(serving);
}

#[test]
fn a_store_outage_during_a_run_is_retried_and_the_marts_are_exact() {
    let mut server = S3Server::start();
    let lake = server.lake("lake", "retry").with_retries(0, 2);
    generate(&lake, "2");
    let gates = tempfile::tempdir().expect("gates");
    let serving = Serving::start(
        &lake,
        &["--attempts", "8", "--retry-delay", "1"],
        &[(HOLD_LOCK, gates.path())],
    );
    let first = serving.post_run("{}")["run_id"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let pid = serving.child.id();
    wait_for_file(&gates.path().join(format!("{pid}.held")));
    server.stop();
    std::fs::write(gates.path().join(format!("{pid}.release")), b"").expect("release");
    // The first attempt has failed once serve is on its second.
    serving.wait_until("a second attempt", "/api/health", |h| {
        h["running"]["attempt"].as_u64().is_some_and(|n| n >= 2)
    });
    server.resume();
    let records = wait_for_runs(&lake, "a successful retry", |r| {
        r.iter().any(|r| field(r, "status") == "success")
    });
    let attempts: Vec<&Value> = records
        .iter()
        .filter(|r| field(r, "run_id") == first || field(r, "retry_of") == first)
        .collect();
    assert!(attempts.len() >= 2, "{records:#?}");
    assert_eq!(
        attempts.len(),
        records.len(),
        "every run is an attempt of the first"
    );
    let last = attempts[0];
    assert_eq!(field(last, "status"), "success");
    assert_eq!(field(last, "trigger"), "retry");
    let first_attempt = attempts[attempts.len() - 1];
    assert_eq!(field(first_attempt, "run_id"), first);
    assert_eq!(
        field(first_attempt, "status"),
        "failure",
        "{first_attempt:#}"
    );
    assert_eq!(field(first_attempt, "error_kind"), "transient");
    for failed in &attempts[1..] {
        assert_eq!(field(failed, "status"), "failure");
        assert_eq!(field(failed, "error_kind"), "transient");
    }
    stop(serving);
    assert_same_marts(&marts(&lake), &reference_marts("2"), "after the outage");
}

#[test]
fn a_contract_violation_is_not_retried() {
    let lake = common::temp_lake();
    let lake = lake.path();
    generate(lake, "2");
    let (_keep, contracts) = common::copy_of("data_contracts");
    let file = contracts.join("mart_channel_daily.toml");
    let text = std::fs::read_to_string(&file).expect("contract");
    std::fs::write(&file, text.replace(", \"direct\"]", "]")).expect("write");
    let contracts = contracts.to_str().expect("utf-8 path");
    let serving = Serving::start(
        lake,
        &[
            "--contracts",
            contracts,
            "--attempts",
            "5",
            "--retry-delay",
            "0.2",
        ],
        &[],
    );
    serving.post_run("");
    let records = wait_for_runs(lake, "the failed run", |r| r.iter().any(is_final));
    // The runner is idle only after its retries, had there been any.
    serving.wait_idle();
    let records_after = runs(lake);
    assert_eq!(records_after.len(), 1, "no retry: {records_after:#?}");
    assert_eq!(field(&records[0], "status"), "failure");
    assert_eq!(field(&records[0], "error_kind"), "permanent");
    assert!(
        field(&records[0], "error").contains("channel_accepted"),
        "{:#}",
        records[0]
    );
    stop(serving);
}

#[test]
fn one_run_at_a_time_requests_merge_and_a_second_serve_refuses() {
    let lake = common::temp_lake();
    let lake = lake.path();
    generate(lake, "1");
    let gates = tempfile::tempdir().expect("gates");
    let serving = Serving::start(lake, &[], &[(HOLD_LOCK, gates.path())]);
    let port = serving.port;
    let post = move || {
        http(
            port,
            "POST",
            "/api/runs",
            &[("Content-Type", "application/json")],
            "{\"select\": null}",
        )
    };
    let a = std::thread::spawn(post);
    let b = std::thread::spawn(post);
    let answers: Vec<Value> = [a, b]
        .into_iter()
        .map(|t| {
            let (status, body) = t.join().expect("thread");
            assert_eq!(status, 202, "{body}");
            serde_json::from_str(&body).expect("JSON")
        })
        .collect();
    assert_eq!(answers[0]["run_id"], answers[1]["run_id"], "{answers:#?}");
    let pid = serving.child.id();
    wait_for_file(&gates.path().join(format!("{pid}.held")));

    // A run typed by hand while serve runs is refused, and recorded skipped.
    let by_hand = stride(lake, &["run"]);
    assert_eq!(by_hand.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&by_hand.stderr);
    assert!(stderr.contains("lake is locked"), "{stderr}");
    // So is a quarantine replay asked for through the API: the lock is held by the
    // run, not by the process both share. Nothing of the lake changes.
    let lock = lake.join("_stride/run.lock");
    let held_lock = std::fs::read(&lock).expect("the run's lock");
    let ledgers = ledger_bytes(lake);
    let json = ("Content-Type", "application/json");
    let (status, body) = http(port, "POST", "/api/quarantine/replay", &[json], "{}");
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("is changing this lake"), "{body}");
    assert_eq!(std::fs::read(&lock).expect("still locked"), held_lock);
    assert_eq!(ledger_bytes(lake), ledgers, "the replay changed no ledger");
    // Requests while it runs merge into one queued run.
    let c = serving.post_run("{\"full_refresh\": false}");
    let d = serving.post_run("{}");
    assert_eq!(c["merged"], false);
    assert_eq!(d["merged"], true);
    assert_eq!(c["run_id"], d["run_id"]);
    assert_ne!(c["run_id"], answers[0]["run_id"]);

    // A second serve on the lake refuses, naming the first.
    let second = stride(
        lake,
        &["serve", "--bind", &format!("127.0.0.1:{}", free_port())],
    );
    assert_eq!(second.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains("stride serve") && stderr.contains(&format!("pid {pid}")),
        "{stderr}"
    );

    std::fs::write(gates.path().join(format!("{pid}.release")), b"").expect("release");
    let records = wait_for_runs(lake, "both serve runs", |r| {
        r.iter()
            .filter(|r| field(r, "trigger") == "manual" && field(r, "status") == "success")
            .count()
            == 2
    });
    let manual: Vec<&str> = records
        .iter()
        .filter(|r| field(r, "trigger") == "manual")
        .map(|r| field(r, "run_id"))
        .collect();
    assert_eq!(manual.len(), 2, "{records:#?}");
    assert!(manual.contains(&answers[0]["run_id"].as_str().unwrap_or("")));
    assert!(manual.contains(&c["run_id"].as_str().unwrap_or("")));
    let skipped: Vec<&Value> = records
        .iter()
        .filter(|r| field(r, "trigger") == "cli")
        .collect();
    assert_eq!(skipped.len(), 1);
    assert_eq!(field(skipped[0], "status"), "skipped");
    assert_eq!(field(skipped[0], "error_kind"), "busy");
    stop(serving);
}

#[test]
fn sigterm_cancels_the_run_after_the_grace_period_and_the_next_run_is_exact() {
    let lake = common::temp_lake();
    let lake = lake.path();
    generate(lake, "2");
    let gates = tempfile::tempdir().expect("gates");
    let serving = Serving::start(lake, &["--grace-period", "3"], &[(HOLD_LOCK, gates.path())]);
    let id = serving.post_run("{}")["run_id"]
        .as_str()
        .unwrap_or("")
        .to_string();
    wait_for_file(&gates.path().join(format!("{}.held", serving.child.id())));
    // During the grace period the API still answers, and says it is stopping.
    signal(serving.child.id(), libc::SIGTERM);
    let health = serving.wait_until("health to say stopping", "/api/health", |h| {
        h["status"] == "stopping"
    });
    assert_eq!(health["running"]["run_id"], id.as_str());
    let (status, took) = serving.terminate(Duration::from_secs(30));
    assert!(status.success(), "{status}");
    assert!(took < Duration::from_secs(15), "stopped in {took:?}");
    let records = runs(lake);
    assert_eq!(records.len(), 1);
    assert_eq!(field(&records[0], "run_id"), id);
    assert_eq!(field(&records[0], "status"), "canceled");
    assert!(
        !lake.join("_stride/run.lock").exists(),
        "the lock is released"
    );
    assert!(!lake.join("_stride/serve.lock").exists());
    stride_ok(lake, &["run"]);
    assert_same_marts(&marts(lake), &reference_marts("2"), "after a canceled run");
}

#[test]
fn the_api_answers_what_the_cli_prints() {
    let lake = common::temp_lake();
    let lake = lake.path();
    let mut args = vec!["generate", "--days", "3", "--faults", "0.02"];
    args.extend(SMALL);
    stride_ok(lake, &args);
    stride_ok(lake, &["run"]);
    let serving = Serving::start(lake, &["--schedule", "CRON_TZ=Europe/Paris 0 6 * * *"], &[]);
    let health = serving.get("/api/health");
    assert_eq!(health["status"], "ok");

    let id = serving.post_run("{\"select\": \"fct_orders+\"}")["run_id"]
        .as_str()
        .unwrap_or("")
        .to_string();
    wait_for_runs(lake, "the API's run", |r| {
        r.iter().any(|r| field(r, "run_id") == id && is_final(r))
    });
    let listed = serving.get("/api/runs?limit=10");
    assert_eq!(listed, Value::Array(runs(lake)));
    let shown = serving.get(&format!("/api/runs/{id}"));
    let cli = stride_ok(lake, &["runs", "show", &id, "--format", "json"]);
    assert_eq!(
        shown,
        serde_json::from_slice::<Value>(&cli.stdout).expect("JSON")
    );
    assert_eq!(shown["trigger"], "manual");
    assert_eq!(shown["options"]["select"], "fct_orders+");
    let (status, log) = http(serving.port, "GET", &format!("/api/runs/{id}/log"), &[], "");
    assert_eq!(status, 200);
    assert!(log.contains(&format!("run {id} started")), "{log}");
    assert_eq!(
        http(
            serving.port,
            "GET",
            "/api/runs/20990101T000000.000Z-0000",
            &[],
            ""
        )
        .0,
        404
    );

    let versions = serving.get("/api/models/fct_orders/versions");
    let history = stride_ok(lake, &["history", "fct_orders", "--format", "json"]);
    assert_eq!(
        versions,
        serde_json::from_slice::<Value>(&history.stdout).expect("JSON")
    );
    assert_eq!(
        http(serving.port, "GET", "/api/models/nope/versions", &[], "").0,
        404
    );

    let contracts = serving.get("/api/contracts");
    let quarantine = stride_ok(lake, &["quarantine", "list", "--format", "json"]);
    assert_eq!(
        contracts["quarantine"],
        serde_json::from_slice::<Value>(&quarantine.stdout).expect("JSON")
    );
    let orders = contracts["contracts"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["table"] == "orders"))
        .expect("the orders contract");
    assert_eq!(orders["kind"], "source");
    assert!(
        orders["quarantine"]["rows_quarantined"]
            .as_u64()
            .is_some_and(|n| n > 0)
    );

    let analyses = serving.get("/api/analyses");
    let analyses = analyses.as_array().expect("analyses");
    let files = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("queries/analyses"))
        .expect("analyses folder")
        .count();
    assert_eq!(analyses.len(), files);
    for analysis in analyses {
        let sql = analysis["sql"].as_str().expect("sql");
        // The SQL starts with a `--` comment: after `--`, clap takes it as the SQL.
        let out = stride_ok(lake, &["query", "--format", "json", "--", sql]);
        let cli: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert!(
            same_within_float_sums(&analysis["rows"], &cli),
            "{}: {:#} vs {cli:#}",
            analysis["name"],
            analysis["rows"]
        );
    }

    let lineage = serving.get("/api/lineage");
    let nodes = lineage["nodes"].as_array().expect("nodes");
    let fct = nodes
        .iter()
        .find(|n| n["id"] == "fct_orders")
        .expect("fct_orders");
    assert_eq!(fct["materialization"], "incremental");
    assert_eq!(fct["last_run_id"], id.as_str());
    assert_eq!(fct["last_run_status"], "success");
    assert!(fct["latest_version"].as_u64().is_some());
    assert!(
        nodes
            .iter()
            .any(|n| n["id"] == "raw.orders" && n["kind"] == "source")
    );
    let edges = lineage["edges"].as_array().expect("edges");
    assert!(
        edges
            .iter()
            .any(|e| e["from"] == "raw.orders" && e["to"] == "stg_orders")
    );
    assert!(
        edges
            .iter()
            .any(|e| e["from"] == "int_order_revenue" && e["to"] == "fct_orders")
    );

    let freshness = serving.get("/api/freshness");
    let raw_orders = freshness["sources"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["table"] == "orders"))
        .expect("orders freshness");
    assert_eq!(raw_orders["newest_batch_landed"], "2026-01-03");
    assert_eq!(raw_orders["newest_batch_consumed"], "2026-01-03");
    assert_eq!(raw_orders["files_waiting"], 0);
    assert_eq!(
        freshness["marts"].as_array().map(Vec::len),
        Some(common::MARTS.len())
    );

    let schedules = serving.get("/api/schedules");
    let schedule = &schedules["schedules"][0];
    assert_eq!(schedule["timezone"], "Europe/Paris");
    // 06:00 in Paris: 05:00 UTC in winter, 04:00 in summer.
    assert!(
        schedule["next_tick"]
            .as_str()
            .is_some_and(|t| t.contains("T05:00:00") || t.contains("T04:00:00")),
        "{schedule:#}"
    );
    // Without a token, a request must name the server as loopback does: a page of
    // another site whose name was rebound to 127.0.0.1 is refused (421), reads and
    // runs alike, and starts nothing.
    let port = serving.port;
    let rebound = format!("rebind.example:{port}");
    let (status, body) = http(port, "GET", "/api/runs", &[("Host", &rebound)], "");
    assert_eq!(status, 421, "{body}");
    assert!(body.contains("rebind.example"), "{body}");
    let runs_before = runs(lake).len();
    let origin = format!("http://{rebound}");
    let rebinding_post = [
        ("Host", rebound.as_str()),
        ("Origin", origin.as_str()),
        ("Content-Type", "application/json"),
    ];
    let (status, body) = http(
        port,
        "POST",
        "/api/runs",
        &rebinding_post,
        "{\"full_refresh\": true}",
    );
    assert_eq!(status, 421, "{body}");
    assert_eq!(runs(lake).len(), runs_before, "no run was started");
    let local = format!("localhost:{port}");
    assert_eq!(
        http(port, "GET", "/api/runs", &[("Host", &local)], "").0,
        200
    );
    stop(serving);

    // Off loopback a token is required; with one, requests without it are refused.
    let open = stride(
        lake,
        &["serve", "--bind", &format!("0.0.0.0:{}", free_port())],
    );
    assert_eq!(open.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&open.stderr).contains("--bind"));
    let token = "a-token-of-enough-length";
    let guarded = Serving::start(lake, &["--token", token], &[]);
    let bearer = format!("Bearer {token}");
    let json = ("Content-Type", "application/json");
    assert_eq!(
        http(guarded.port, "POST", "/api/runs", &[json], "{}").0,
        401
    );
    assert_eq!(http(guarded.port, "GET", "/api/runs", &[], "").0, 401);
    let form = [
        ("Authorization", bearer.as_str()),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ];
    assert_eq!(
        http(guarded.port, "POST", "/api/runs", &form, "select=x").0,
        403
    );
    let other_site = [
        ("Authorization", bearer.as_str()),
        json,
        ("Origin", "http://evil.example"),
    ];
    assert_eq!(
        http(guarded.port, "POST", "/api/runs", &other_site, "{}").0,
        403
    );
    let allowed = [("Authorization", bearer.as_str()), json];
    assert_eq!(
        http(guarded.port, "POST", "/api/runs", &allowed, "{}").0,
        202
    );
    stop(guarded);
}
