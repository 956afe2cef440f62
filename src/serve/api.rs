//! The JSON API of `stride serve` (every path under `/api`; the README lists them
//! with their answers). Reads are open on a loopback bind, to requests that name
//! the server as loopback does (Host `localhost`, `127.0.0.1` or `[::1]` with its
//! port: a rebound name is refused); with a token set, every
//! request but `/api/health` needs it (`Authorization: Bearer TOKEN`), and a
//! state-changing request is refused when it comes from another site or as a form
//! (what a browser sends cross-site without asking).

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Server;
use super::status;
use crate::error::Error;
use crate::output::Format;
use crate::run_history::{self, RunRecord, RunRequest, Trigger};

/// The routes, with the token and cross-site checks in front of them.
pub fn router(server: Arc<Server>) -> Router {
    Router::new()
        .route("/api/health", get(health))
        .route("/api/runs", get(list_runs).post(start_run))
        .route("/api/runs/{id}", get(show_run))
        .route("/api/runs/{id}/log", get(run_log))
        .route("/api/schedules", get(schedules))
        .route("/api/lineage", get(lineage))
        .route("/api/models/{model}", get(model))
        .route("/api/models/{model}/versions", get(versions))
        .route("/api/models/{model}/rows", get(rows))
        .route("/api/models/{model}/diff", get(diff))
        .route("/api/verify", get(verify_state).post(start_verify))
        .route("/api/freshness", get(freshness))
        .route("/api/contracts", get(contracts))
        .route("/api/analyses", get(analyses))
        .route("/api/analyses/{name}", get(analysis))
        .route("/api/tests", post(run_tests))
        .route("/api/quarantine/replay", post(replay))
        .route("/api/{*rest}", any(not_found))
        .merge(super::ui::router())
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(Arc::clone(&server), guard))
        .with_state(server)
}

/// An answer with an error: `{"error": "..."}` and a status.
fn refuse(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

/// A library error as a 500; a model that does not exist as a 404, a bad
/// selection or setting as a 400, a lake another process holds as a 409.
fn failed(error: Error) -> Response {
    let status = match &error {
        Error::UnknownModel(_) => StatusCode::NOT_FOUND,
        Error::Model { source, .. } if matches!(**source, Error::TimeTravel(_)) => {
            StatusCode::NOT_FOUND
        }
        Error::TimeTravel(_) => StatusCode::NOT_FOUND,
        Error::Select(_) | Error::Setting { .. } | Error::Diff(_) | Error::Compare(_) => {
            StatusCode::BAD_REQUEST
        }
        Error::Locked(_) | Error::Verify(_) => StatusCode::CONFLICT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    refuse(status, crate::error::one_line(&error))
}

fn answer(result: crate::Result<Value>) -> Response {
    match result {
        Ok(value) => Json(value).into_response(),
        Err(e) => failed(e),
    }
}

async fn guard(State(server): State<Arc<Server>>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    let headers = request.headers();
    // Without a token the server trusts loopback; a page of another site whose
    // name was made to resolve to 127.0.0.1 (DNS rebinding) would be same-origin
    // to it, so a request must name this server as loopback does.
    if server.options.token.is_none() {
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
        if !host.is_some_and(|h| names_this_loopback(h, server.options.bind)) {
            return refuse(
                StatusCode::MISDIRECTED_REQUEST,
                format!(
                    "refused: Host {} is not this server; without a token it answers only \
                     to localhost, 127.0.0.1 and [::1] on port {}",
                    host.map_or_else(|| "(none)".to_string(), |h| format!("`{h}`")),
                    server.options.bind.port()
                ),
            );
        }
    }
    // The pages and their assets hold no data: they ask for the token and send it
    // with every API call.
    if let Some(token) = &server.options.token
        && path.starts_with("/api/")
        && path != "/api/health"
        && !has_token(headers, token)
    {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "this stride serve needs its token: Authorization: Bearer TOKEN",
        );
    }
    if request.method() != Method::GET
        && request.method() != Method::HEAD
        && let Some(reason) = cross_site(headers)
    {
        return refuse(StatusCode::FORBIDDEN, reason);
    }
    next.run(request).await
}

/// Whether the Host header `host` names the server listening on loopback at
/// `bind`: `localhost`, `127.0.0.1`, `[::1]` or the bound address, with the bound
/// port (or no port when that is 80).
fn names_this_loopback(host: &str, bind: std::net::SocketAddr) -> bool {
    let host = host.trim().to_ascii_lowercase();
    let (name, port) = match host.rfind(':') {
        // A colon inside brackets is part of an IPv6 address, not a port.
        Some(at) if !host[at..].contains(']') => (&host[..at], Some(&host[at + 1..])),
        _ => (host.as_str(), None),
    };
    let port_matches = match port {
        Some(port) => port.parse::<u16>().is_ok_and(|p| p == bind.port()),
        None => bind.port() == 80,
    };
    let bound = match bind.ip() {
        std::net::IpAddr::V4(ip) => ip.to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
    };
    port_matches && ["localhost", "127.0.0.1", "[::1]", bound.as_str()].contains(&name)
}

/// Compares in time that does not depend on where the first difference is.
fn has_token(headers: &HeaderMap, token: &str) -> bool {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    given.len() == token.len()
        && given
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

/// Why a state-changing request looks like another site's (a form post or a
/// browser's cross-site request), or `None`.
fn cross_site(headers: &HeaderMap) -> Option<&'static str> {
    let value = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_ascii_lowercase)
    };
    if value(header::HeaderName::from_static("sec-fetch-site"))
        .is_some_and(|site| site == "cross-site" || site == "same-site")
    {
        return Some("refused: a request from another site");
    }
    if let (Some(origin), Some(host)) = (value(header::ORIGIN), value(header::HOST)) {
        let origin_host = origin.split("://").nth(1).unwrap_or(&origin);
        if origin_host != host {
            return Some("refused: the request's Origin is not this server");
        }
    }
    let form = value(header::CONTENT_TYPE).is_some_and(|t| {
        t.starts_with("application/x-www-form-urlencoded")
            || t.starts_with("multipart/form-data")
            || t.starts_with("text/plain")
    });
    form.then_some("refused: send JSON (Content-Type: application/json), not a form")
}

async fn not_found() -> Response {
    refuse(
        StatusCode::NOT_FOUND,
        "no such endpoint (see the README for the API)",
    )
}

async fn health(State(server): State<Arc<Server>>) -> Response {
    Json(json!({
        "status": if server.is_stopping() { "stopping" } else { "ok" },
        "stride_version": env!("CARGO_PKG_VERSION"),
        "lake": server.lakehouse.lake.url().to_string(),
        "started_at": server.started_at,
        "uptime_s": (chrono::Utc::now() - server.started_at).num_milliseconds() as f64 / 1000.0,
        "running": server.queue.running(),
        "queued": server.queue.queued(),
    }))
    .into_response()
}

#[derive(Debug, Deserialize)]
struct ListParams {
    limit: Option<usize>,
}

async fn list_runs(
    State(server): State<Arc<Server>>,
    Query(params): Query<ListParams>,
) -> Response {
    let limit = params.limit.unwrap_or(20);
    let mut records: Vec<RunRecord> = server
        .queue
        .queued()
        .map(|q| q.as_record())
        .into_iter()
        .collect();
    match run_history::list(&server.lakehouse.lake, Some(limit)).await {
        Ok(stored) => records.extend(stored),
        Err(e) => return failed(e),
    }
    records.truncate(limit);
    let records: Vec<Value> = records
        .into_iter()
        .map(|r| with_progress(&server, r))
        .collect();
    Json(records).into_response()
}

/// The record as JSON; for the run going, with what it has done so far
/// (`planned` models, `checked`, and the models done or `running`).
fn with_progress(server: &Server, record: RunRecord) -> Value {
    let running = server
        .queue
        .running()
        .filter(|r| r.run_id == record.run_id && !record.status.is_final());
    let mut value = serde_json::to_value(&record).unwrap_or(Value::Null);
    if let (Some(running), Value::Object(fields)) = (running, &mut value) {
        let progress = running.recorder.progress();
        fields.insert("sources".into(), json!(progress.sources));
        fields.insert("models".into(), json!(progress.models));
        fields.insert("planned".into(), json!(progress.planned));
        fields.insert("checked".into(), json!(progress.checked));
    }
    value
}

async fn show_run(State(server): State<Arc<Server>>, Path(id): Path<String>) -> Response {
    if let Some(queued) = server.queue.queued().filter(|q| q.run_id == id) {
        return Json(queued.as_record()).into_response();
    }
    match run_history::load(&server.lakehouse.lake, &id).await {
        Ok(Some(record)) => Json(with_progress(&server, record)).into_response(),
        Ok(None) => match server.queue.running().filter(|r| r.run_id == id) {
            Some(running) => Json(with_progress(&server, running.as_record())).into_response(),
            None => refuse(StatusCode::NOT_FOUND, format!("no run {id}")),
        },
        Err(e) => failed(e),
    }
}

async fn run_log(State(server): State<Arc<Server>>, Path(id): Path<String>) -> Response {
    match run_history::load_log(&server.lakehouse.lake, &id).await {
        Ok(Some(log)) => {
            ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], log).into_response()
        }
        Ok(None) => refuse(StatusCode::NOT_FOUND, format!("no log for run {id} (yet)")),
        Err(e) => failed(e),
    }
}

/// The body of `POST /api/runs` (all optional; an empty body runs everything).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StartBody {
    select: Option<String>,
    #[serde(default)]
    full_refresh: bool,
}

async fn start_run(State(server): State<Arc<Server>>, body: axum::body::Bytes) -> Response {
    let body: StartBody = match json_body(&body, r#"{"select": "...", "full_refresh": false}"#) {
        Ok(body) => body,
        Err(why) => return refuse(StatusCode::BAD_REQUEST, why),
    };
    if let Some(select) = &body.select
        && let Err(e) = crate::engine::check_selection(server.lakehouse.project.models(), select)
    {
        return refuse(StatusCode::BAD_REQUEST, e.to_string());
    }
    let request = RunRequest {
        select: body.select,
        full_refresh: body.full_refresh,
    };
    match server.queue.submit(Trigger::Manual, request, None) {
        Some(submitted) => (
            StatusCode::ACCEPTED,
            Json(
                json!({"run_id": submitted.run_id, "status": "queued", "merged": submitted.merged}),
            ),
        )
            .into_response(),
        None => refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "stride serve is shutting down",
        ),
    }
}

async fn schedules(State(server): State<Arc<Server>>) -> Response {
    let now = chrono::Utc::now();
    let schedules: Vec<Value> = server
        .schedules
        .iter()
        .map(|s| {
            json!({
                "schedule": s.expression,
                "timezone": s.zone.name(),
                "next_tick": if server.is_stopping() { None } else { s.next_after(now) },
                "ticks": s.ticks(),
            })
        })
        .collect();
    let sensor = server.sensor.as_ref().map(|s| {
        json!({
            "interval_s": s.settings.interval_s,
            "quiet_period_s": s.settings.quiet_period_s,
            "evaluations": s.evaluations(),
        })
    });
    Json(json!({"schedules": schedules, "sensor": sensor})).into_response()
}

async fn lineage(State(server): State<Arc<Server>>) -> Response {
    answer(status::lineage(&server.lakehouse).await)
}

async fn versions(State(server): State<Arc<Server>>, Path(model): Path<String>) -> Response {
    answer(status::versions(&server.lakehouse, &model).await)
}

async fn model(State(server): State<Arc<Server>>, Path(model): Path<String>) -> Response {
    in_own_thread(move || async move { status::model(&server.lakehouse, &model).await }).await
}

#[derive(Debug, Deserialize)]
struct RowsParams {
    version: Option<u64>,
    limit: Option<usize>,
}

/// Rows a page may ask for at once.
const MAX_ROWS: usize = 500;

async fn rows(
    State(server): State<Arc<Server>>,
    Path(model): Path<String>,
    Query(params): Query<RowsParams>,
) -> Response {
    let limit = params.limit.unwrap_or(20).clamp(1, MAX_ROWS);
    in_own_thread(move || async move {
        status::rows(&server.lakehouse, &model, params.version, limit).await
    })
    .await
}

#[derive(Debug, Deserialize)]
struct AnalysisParams {
    format: Option<String>,
}

async fn analysis(
    State(server): State<Arc<Server>>,
    Path(name): Path<String>,
    Query(params): Query<AnalysisParams>,
) -> Response {
    let (format, content_type) = match params.format.as_deref() {
        None | Some("json") => (Format::Json, "application/json"),
        Some("csv") => (Format::Csv, "text/csv; charset=utf-8"),
        Some(other) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                format!("format {other}: use json or csv"),
            );
        }
    };
    if server.lakehouse.project.analysis(&name).is_none() {
        return refuse(
            StatusCode::NOT_FOUND,
            format!("no analysis `{name}` in queries/analyses/"),
        );
    }
    let file = format!("attachment; filename=\"{name}.csv\"");
    let done = super::on_own_thread(move || async move {
        status::analysis(&server.lakehouse, &name, format).await
    });
    match done.await {
        Ok(Ok(text)) if format == Format::Csv => (
            [
                (header::CONTENT_TYPE, content_type.to_string()),
                (header::CONTENT_DISPOSITION, file),
            ],
            text,
        )
            .into_response(),
        Ok(Ok(text)) => ([(header::CONTENT_TYPE, content_type)], text).into_response(),
        Ok(Err(e)) => failed(e),
        Err(e) => refuse(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

#[derive(Debug, Deserialize)]
struct DiffParams {
    from: Option<String>,
    to: Option<String>,
    key: Option<String>,
    examples: Option<usize>,
}

/// Most example rows a diff answers with, per kind of change.
const MAX_EXAMPLES: usize = 100;

/// `stride diff MODEL` as JSON: `from`/`to` are versions or times.
async fn diff(
    State(server): State<Arc<Server>>,
    Path(model): Path<String>,
    Query(params): Query<DiffParams>,
) -> Response {
    use crate::compare::{self, Point};
    let point = |text: Option<&String>| text.map(|t| Point::parse(t)).transpose();
    let (from, to) = match (point(params.from.as_ref()), point(params.to.as_ref())) {
        (Ok(from), Ok(to)) => (from, to),
        (Err(e), _) | (_, Err(e)) => {
            return refuse(StatusCode::BAD_REQUEST, crate::error::one_line(&e));
        }
    };
    let examples = params.examples.unwrap_or(10).min(MAX_EXAMPLES);
    let key = params.key.as_deref().map(compare::parse_key);
    in_own_thread(move || async move {
        let diff = server
            .lakehouse
            .diff(&model)
            .from(from)
            .to(to)
            .key(key)
            .examples(examples)
            .await?;
        Ok(serde_json::to_value(diff)?)
    })
    .await
}

/// The body of `POST /api/verify`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyBody {
    select: Option<String>,
    examples: Option<usize>,
}

/// Starts `stride verify` (of a selection) in the background: 202, or 409 while
/// one goes. `GET /api/verify` follows it and gives the last report.
async fn start_verify(State(server): State<Arc<Server>>, body: axum::body::Bytes) -> Response {
    let body: VerifyBody = match json_body(&body, r#"{"select": "..."}"#) {
        Ok(body) => body,
        Err(why) => return refuse(StatusCode::BAD_REQUEST, why),
    };
    if let Some(selection) = &body.select
        && let Err(e) = crate::engine::check_selection(server.lakehouse.project.models(), selection)
    {
        return failed(e);
    }
    {
        let Ok(mut state) = server.verifying.lock() else {
            return refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the verify state is unusable",
            );
        };
        if let Some(since) = state.since {
            return refuse(
                StatusCode::CONFLICT,
                format!("a verify started at {since} is going"),
            );
        }
        state.since = Some(chrono::Utc::now());
        state.error = None;
    }
    let worker = Arc::clone(&server);
    let watcher = Arc::clone(&server);
    tokio::spawn(async move {
        let examples = body.examples.unwrap_or(5).min(MAX_EXAMPLES);
        let done = super::on_own_thread(move || async move {
            let result = worker
                .lakehouse
                .verify(body.select.as_deref(), examples)
                .await;
            if let Ok(mut state) = worker.verifying.lock() {
                state.since = None;
                state.error = result.err().map(|e| crate::error::one_line(&e));
            }
        });
        if let Err(e) = done.await {
            tracing::error!("the verify stopped: {e}");
            if let Ok(mut state) = watcher.verifying.lock() {
                state.since = None;
                state.error = Some(format!("the verify stopped: {e}"));
            }
        }
    });
    (StatusCode::ACCEPTED, Json(json!({"status": "started"}))).into_response()
}

/// Whether a verify goes, how the last one started here ended, and the last report.
async fn verify_state(State(server): State<Arc<Server>>) -> Response {
    let state = server
        .verifying
        .lock()
        .map(|s| s.clone())
        .unwrap_or_default();
    let last = match crate::compare::last_report(&server.lakehouse.lake).await {
        Ok(last) => last,
        Err(e) => return failed(e),
    };
    Json(json!({
        "running": state.since.is_some(),
        "since": state.since,
        "error": state.error,
        "last": last,
    }))
    .into_response()
}

/// The body of `POST /api/tests`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestBody {
    select: Option<String>,
}

/// `stride test` (of a selection): every outcome as `stride test --format json`
/// prints it, kept for the model pages as the CLI keeps it.
async fn run_tests(State(server): State<Arc<Server>>, body: axum::body::Bytes) -> Response {
    let body: TestBody = match json_body(&body, r#"{"select": "..."}"#) {
        Ok(body) => body,
        Err(why) => return refuse(StatusCode::BAD_REQUEST, why),
    };
    in_own_thread(move || async move {
        let lakehouse = &server.lakehouse;
        let outcomes = lakehouse.test(body.select.as_deref()).await?;
        let sources = lakehouse.project.sources();
        status::json_rows(&[crate::engine::outcomes_batch(&outcomes, sources)?])
    })
    .await
}

/// The body of `POST /api/quarantine/replay`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayBody {
    table: Option<String>,
}

/// `stride quarantine replay [TABLE]` under the lake's lock (409 while a run holds
/// it): the quarantined rows and refused files judged again by the contracts this
/// server loaded; what now passes is loaded by the next run.
async fn replay(State(server): State<Arc<Server>>, body: axum::body::Bytes) -> Response {
    let body: ReplayBody = match json_body(&body, r#"{"table": "..."}"#) {
        Ok(body) => body,
        Err(why) => return refuse(StatusCode::BAD_REQUEST, why),
    };
    in_own_thread(move || async move {
        let replayed = server.lakehouse.replay(body.table.as_deref()).await?;
        let tables: Vec<Value> = replayed
            .iter()
            .map(|r| {
                json!({
                    "table": r.table,
                    "rows_released": r.rows_released,
                    "rows_quarantined": r.rows_quarantined,
                    "files_admitted": r.files_admitted,
                    "files_refused": r.files_refused,
                })
            })
            .collect();
        Ok(Value::Array(tables))
    })
    .await
}

/// A JSON body (an empty one is the default), or why it is refused (`shape` says
/// what the endpoint takes).
fn json_body<T: serde::de::DeserializeOwned + Default>(
    body: &[u8],
    shape: &str,
) -> Result<T, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| format!("the body must be {shape}: {e}"))
}

/// Runs an engine call on a thread of its own (see [`super::on_own_thread`]) and
/// answers with its JSON.
async fn in_own_thread<F, Fut>(make: F) -> Response
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = crate::Result<Value>>,
{
    match super::on_own_thread(make).await {
        Ok(result) => answer(result),
        Err(e) => refuse(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn freshness(State(server): State<Arc<Server>>) -> Response {
    answer(status::freshness(&server.lakehouse).await)
}

async fn contracts(State(server): State<Arc<Server>>) -> Response {
    answer(status::contracts(&server.lakehouse).await)
}

async fn analyses(State(server): State<Arc<Server>>) -> Response {
    in_own_thread(move || async move { status::analyses(&server.lakehouse).await }).await
}

#[cfg(test)]
mod tests {
    use super::names_this_loopback;

    #[test]
    fn without_a_token_only_loopback_names_with_the_port_are_this_server() {
        let bind: std::net::SocketAddr = "127.0.0.1:3030".parse().expect("address");
        for host in [
            "localhost:3030",
            "127.0.0.1:3030",
            "[::1]:3030",
            "LOCALHOST:3030",
        ] {
            assert!(names_this_loopback(host, bind), "{host}");
        }
        for host in [
            "rebind.example:3030",
            "localhost:3031",
            "localhost",
            "127.0.0.1",
            "localhost.evil.example:3030",
            "127.0.0.1.nip.io:3030",
            "[::1]",
            "",
        ] {
            assert!(!names_this_loopback(host, bind), "{host}");
        }
        let v6: std::net::SocketAddr = "[::1]:8080".parse().expect("address");
        assert!(names_this_loopback("[::1]:8080", v6));
        let other: std::net::SocketAddr = "127.0.0.2:80".parse().expect("address");
        assert!(names_this_loopback("127.0.0.2", other));
        assert!(names_this_loopback("localhost", other));
    }
}
