//! What the API tells about the lake, each answer built from the same library
//! calls as the command that prints it: lineage, a model's versions (`stride
//! history`), freshness, contracts and quarantine (`stride quarantine list`), and
//! the saved analyses over the current marts (`stride query`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use arrow::record_batch::RecordBatch;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::contracts::Subject;
use crate::delta::{self, AsOf};
use crate::engine;
use crate::error::{Error, Result};
use crate::land;
use crate::models::{Materialization, RenderContext};
use crate::ops::Lakehouse;
use crate::output::{self, Format};
use crate::quarantine;
use crate::run_history::{self, RunRecord};

/// Batches as the JSON `--format json` prints (an array of row objects).
pub fn json_rows(batches: &[RecordBatch]) -> Result<Value> {
    Ok(serde_json::from_str(&output::render(
        batches,
        Format::Json,
    )?)?)
}

/// The graph: sources and models (with materialization, latest version and how
/// the latest run that ran them left them), and the edges between them.
pub async fn lineage(lakehouse: &Lakehouse) -> Result<Value> {
    let lake = &lakehouse.lake;
    let recent = run_history::list(lake, Some(50)).await?;
    let waiting = waiting(lakehouse).await?;
    let upstream = upstream_sources(lakehouse);
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    for table in lakehouse.project.sources().iter() {
        let files_waiting = waiting.get(&table.name).map_or(0, |w| w.files);
        nodes.push(json!({
            "id": format!("raw.{}", table.name),
            "name": table.name,
            "kind": "source",
            "state": if files_waiting > 0 { "stale" } else { "fresh" },
            "files_waiting": files_waiting,
        }));
    }
    for model in lakehouse.project.models() {
        let version = if model.materialization.is_stored() {
            delta::open(lake, &model.name)
                .await?
                .and_then(|t| t.version())
        } else {
            None
        };
        let (last_run_id, last_status) = last_run_of(&recent, &model.name);
        let state = model_state(
            model,
            version.is_some(),
            last_status.as_deref(),
            upstream.get(&model.name).unwrap_or(&BTreeSet::new()),
            &waiting,
        );
        nodes.push(json!({
            "id": model.name,
            "name": model.name,
            "kind": "model",
            "file": model.file,
            "state": state,
            "materialization": model.materialization.as_str(),
            "published": model.publish,
            "latest_version": version,
            "last_run_id": last_run_id,
            "last_run_status": last_status,
        }));
        for source in &model.sources {
            edges.push(json!({"from": format!("raw.{source}"), "to": model.name}));
        }
        for parent in &model.refs {
            edges.push(json!({"from": parent, "to": model.name}));
        }
    }
    Ok(json!({"nodes": nodes, "edges": edges}))
}

/// The newest run (of `recent`, newest first) that ran `model`, and how it left it:
/// `success`, `failed` or `not run`.
fn last_run_of(recent: &[RunRecord], model: &str) -> (Option<String>, Option<String>) {
    for record in recent {
        if let Some(m) = record.models.iter().find(|m| m.model == model) {
            let status = match m.action.as_str() {
                "failed" | "not run" => m.action.clone(),
                _ => "success".to_string(),
            };
            return (Some(record.run_id.clone()), Some(status));
        }
    }
    (None, None)
}

/// `stride history MODEL --format json`.
pub async fn versions(lakehouse: &Lakehouse, model: &str) -> Result<Value> {
    lakehouse.project.model(model)?;
    let rows = engine::history(&lakehouse.lake, model).await?;
    json_rows(&[engine::history_batch(&rows)?])
}

/// Per source, the newest batch landed and the newest consumed by a run; per mart,
/// its latest version, when it was committed and the newest batch in it; ages in
/// seconds.
pub async fn freshness(lakehouse: &Lakehouse) -> Result<Value> {
    let lake = &lakehouse.lake;
    let now = Utc::now();
    let age = |t: Option<DateTime<Utc>>| t.map(|t| (now - t).num_milliseconds() as f64 / 1000.0);
    let mut sources = Vec::new();
    let mut waiting = HashMap::new();
    for table in lakehouse.project.sources().iter() {
        let landed = land::landed_files(lake, table).await?;
        let newest_landed = landed.iter().map(|f| f.batch_date).max();
        let ledger = quarantine::read_ledger(lake, &table.name).await?;
        let consumed = ledger.files.values().filter(|e| e.is_loaded());
        let newest_consumed = consumed.clone().map(|e| e.batch_date.clone()).max();
        let last_checked = consumed
            .filter_map(|e| DateTime::parse_from_rfc3339(&e.checked_at).ok())
            .map(|t| t.with_timezone(&Utc))
            .max();
        let behind = Waiting::of(ledger.unchecked(lake, &landed));
        sources.push(json!({
            "table": table.name,
            "state": if behind.files == 0 { "fresh" } else { "stale" },
            "newest_batch_landed": newest_landed.map(|d| d.to_string()),
            "newest_batch_consumed": newest_consumed,
            "files_waiting": behind.files,
            "batches_behind": behind.batches,
            "last_consumed_at": last_checked,
            "age_s": age(last_checked),
        }));
        waiting.insert(table.name.clone(), behind);
    }
    let upstream = upstream_sources(lakehouse);
    let recent = run_history::list(lake, Some(50)).await?;
    let mut marts = Vec::new();
    for model in lakehouse.project.models().iter().filter(|m| m.publish) {
        let history = match delta::open(lake, &model.name).await? {
            Some(_) => engine::history(lake, &model.name).await?,
            None => Vec::new(),
        };
        let latest = history.last();
        let newest_batch = history.iter().flat_map(|r| r.batches.iter()).max().cloned();
        let (_, last_status) = last_run_of(&recent, &model.name);
        let reads = upstream.get(&model.name).cloned().unwrap_or_default();
        let batches_behind = reads
            .iter()
            .filter_map(|t| waiting.get(t))
            .map(|w| w.batches)
            .max()
            .unwrap_or(0);
        marts.push(json!({
            "mart": model.name,
            "state": model_state(model, latest.is_some(), last_status.as_deref(), &reads, &waiting),
            "batches_behind": batches_behind,
            "version": latest.map(|r| r.version),
            "committed_at": latest.and_then(|r| r.time),
            "newest_batch": newest_batch,
            "age_s": age(latest.and_then(|r| r.time)),
        }));
    }
    Ok(json!({"sources": sources, "marts": marts}))
}

/// Every contract (table, kind, file, rule count), the quarantine counts per raw
/// table, and `stride quarantine list --format json`.
pub async fn contracts(lakehouse: &Lakehouse) -> Result<Value> {
    let lake = &lakehouse.lake;
    let sources = lakehouse.contracts.sources();
    let ledgers = quarantine::ledgers(lake, sources, None).await?;
    let strays = quarantine::strays(lake, sources, None).await?;
    // Per raw table, the totals the demo prints (`table` is `raw.<name>`).
    let totals = json_rows(&[quarantine::summary_batch(&ledgers)?])?;
    let counts: BTreeMap<String, Value> = totals
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|row| Some((row["table"].as_str()?.to_string(), row.clone())))
        .collect();
    let tables: Vec<Value> = lakehouse
        .contracts
        .all()
        .into_iter()
        .map(|c| {
            json!({
                "table": c.name,
                "kind": match c.subject { Subject::Source => "source", Subject::Model => "model" },
                "file": c.file,
                "columns": c.columns.len(),
                "rules": c.rules.len(),
                "quarantine": counts.get(&format!("raw.{}", c.name)),
            })
        })
        .collect();
    let list = json_rows(&[quarantine::list_batch(&ledgers, &strays, false)?])?;
    Ok(json!({"contracts": tables, "quarantine": list}))
}

/// Each saved analysis of `queries/analyses/` run over the current marts: its
/// name, file, SQL, columns and rows (as `stride query SQL --format json` prints
/// them).
pub async fn analyses(lakehouse: &Lakehouse) -> Result<Value> {
    let session = engine::query_session(&lakehouse.lake, &lakehouse.project, AsOf::Latest).await?;
    let mut answers = Vec::new();
    for analysis in lakehouse.project.analyses() {
        answers.push(run_analysis(&session, analysis).await?.0);
    }
    Ok(Value::Array(answers))
}

/// Per raw table, the files landed that no run has checked yet and the batches
/// they make up.
struct Waiting {
    files: usize,
    batches: usize,
}

impl Waiting {
    fn of<'f>(unchecked: impl Iterator<Item = &'f land::LandedFile>) -> Waiting {
        let mut files = 0;
        let mut batches = BTreeSet::new();
        for file in unchecked {
            files += 1;
            batches.insert(file.batch_date);
        }
        Waiting {
            files,
            batches: batches.len(),
        }
    }
}

async fn waiting(lakehouse: &Lakehouse) -> Result<HashMap<String, Waiting>> {
    let lake = &lakehouse.lake;
    let mut waiting = HashMap::new();
    for table in lakehouse.project.sources().iter() {
        let landed = land::landed_files(lake, table).await?;
        let ledger = quarantine::read_ledger(lake, &table.name).await?;
        waiting.insert(
            table.name.clone(),
            Waiting::of(ledger.unchecked(lake, &landed)),
        );
    }
    Ok(waiting)
}

/// Per model, the raw tables it reads, directly or through the models it reads.
fn upstream_sources(lakehouse: &Lakehouse) -> HashMap<String, BTreeSet<String>> {
    let mut upstream: HashMap<String, BTreeSet<String>> = HashMap::new();
    // Models come in dependency order: every parent is already resolved.
    for model in lakehouse.project.models() {
        let mut raw: BTreeSet<String> = model.sources.iter().cloned().collect();
        for parent in &model.refs {
            raw.extend(upstream.get(parent).cloned().unwrap_or_default());
        }
        upstream.insert(model.name.clone(), raw);
    }
    upstream
}

/// How a model stands: `view` (computed when read), `failed` (the latest run that
/// ran it failed on it or on a model it reads), `missing` (never built), `stale`
/// (raw files it reads have landed that no run has checked) or `fresh`.
fn model_state(
    model: &crate::models::Model,
    built: bool,
    last_status: Option<&str>,
    upstream: &BTreeSet<String>,
    waiting: &HashMap<String, Waiting>,
) -> &'static str {
    let behind = upstream
        .iter()
        .any(|t| waiting.get(t).is_some_and(|w| w.files > 0));
    if !model.materialization.is_stored() {
        "view"
    } else if matches!(last_status, Some("failed" | "not run")) {
        "failed"
    } else if !built {
        "missing"
    } else if behind {
        "stale"
    } else {
        "fresh"
    }
}

/// One model for its page: what it is (file, materialization, strategy, key,
/// inputs and readers), its SQL as written and rendered, its data contract and the
/// outcome of the last `stride test` that covered it.
pub async fn model(lakehouse: &Lakehouse, name: &str) -> Result<Value> {
    let model = lakehouse.project.model(name)?;
    let lake = &lakehouse.lake;
    let readers: Vec<&str> = lakehouse
        .project
        .models()
        .iter()
        .filter(|m| m.refs.iter().any(|r| r == name))
        .map(|m| m.name.as_str())
        .collect();
    let full = model.render(&RenderContext {
        is_incremental: false,
    })?;
    let incremental = match model.materialization {
        Materialization::Incremental => Some(model.render(&RenderContext {
            is_incremental: true,
        })?),
        _ => None,
    };
    let table = if model.materialization.is_stored() {
        delta::open(lake, name).await?
    } else {
        None
    };
    let columns: Vec<Value> = match &table {
        Some(table) => {
            let schema = table
                .snapshot()
                .map_err(|e| Error::in_model(name, e))?
                .snapshot()
                .arrow_schema();
            schema
                .fields()
                .iter()
                .map(|f| json!({"name": f.name(), "type": f.data_type().to_string(), "nullable": f.is_nullable()}))
                .collect()
        }
        None => Vec::new(),
    };
    let contract = lakehouse.contracts.get(name).map(|c| {
        json!({
            "file": c.file,
            "columns": c.columns.iter().map(|col| json!({
                "name": col.name, "type": col.type_name, "nullable": col.nullable,
            })).collect::<Vec<_>>(),
            "rules": c.rules.iter().map(|r| json!({
                "name": r.name,
                "kind": r.kind.name(),
                "severity": r.severity.as_str(),
                "checks": r.kind.describe(),
            })).collect::<Vec<_>>(),
        })
    });
    let waiting = waiting(lakehouse).await?;
    let upstream = upstream_sources(lakehouse);
    let recent = run_history::list(lake, Some(50)).await?;
    let (last_run_id, last_status) = last_run_of(&recent, name);
    let state = model_state(
        model,
        table.is_some(),
        last_status.as_deref(),
        upstream.get(name).unwrap_or(&BTreeSet::new()),
        &waiting,
    );
    Ok(json!({
        "name": model.name,
        "file": model.file,
        "materialization": model.materialization.as_str(),
        "strategy": (model.materialization == Materialization::Incremental).then(|| model.strategy.as_str()),
        "unique_key": model.unique_key,
        "published": model.publish,
        "refs": model.refs,
        "sources": model.sources,
        "changes": model.changes,
        "readers": readers,
        "state": state,
        "latest_version": table.as_ref().and_then(|t| t.version()),
        "last_run_id": last_run_id,
        "last_run_status": last_status,
        "sql": model.template(),
        "rendered": {"full": full, "incremental": incremental},
        "columns": columns,
        "contract": contract,
        "last_test": engine::last_test(lake, name).await?,
    }))
}

/// The rows a page shows of a table: the columns in order (name, type) and the
/// rows as `stride query --format json` prints them.
pub fn table_json(batches: &[RecordBatch]) -> Result<Value> {
    let columns: Vec<Value> = batches
        .first()
        .map(|b| {
            b.schema()
                .fields()
                .iter()
                .map(|f| json!({"name": f.name(), "type": f.data_type().to_string()}))
                .collect()
        })
        .unwrap_or_default();
    Ok(json!({"columns": columns, "rows": json_rows(batches)?}))
}

/// The SQL that shows the first `limit` rows of `model` in a stable order: by its
/// unique key, else by every column.
pub fn first_rows_sql(model: &crate::models::Model, columns: usize, limit: usize) -> String {
    let order = if model.unique_key.is_empty() {
        (1..=columns.max(1))
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    } else {
        model
            .unique_key
            .iter()
            .map(|k| format!("\"{k}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "select * from \"{}\" order by {order} limit {limit}",
        model.name
    )
}

/// The first `limit` rows of `name` at `version` (latest without one): time travel
/// for the model page. The answer names the SQL and version, so the same rows come
/// from `stride query --version V "SQL"`.
pub async fn rows(
    lakehouse: &Lakehouse,
    name: &str,
    version: Option<u64>,
    limit: usize,
) -> Result<Value> {
    let model = lakehouse.project.model(name)?;
    let lake = &lakehouse.lake;
    let ctx = engine::new_session();
    let (session, at) = if model.materialization.is_stored() {
        let as_of = version.map_or(AsOf::Latest, AsOf::Version);
        let table = delta::open_as_of(lake, name, as_of).await?.ok_or_else(|| {
            let why = match version {
                Some(v) => format!("no version {v} (its versions: stride history {name})"),
                None => "no table yet: run it first".into(),
            };
            Error::in_model(name, Error::TimeTravel(why))
        })?;
        let at = table.version();
        let provider = delta::provider(&table, &ctx.state()).await?;
        ctx.register_table(name, provider)?;
        (None, at)
    } else {
        // A view is computed from the latest versions of what it reads.
        let session = engine::query_session(lake, &lakehouse.project, AsOf::Latest).await?;
        (Some(session), None)
    };
    let ctx = session.as_ref().map_or(&ctx, |s| &s.ctx);
    let width = ctx.table(name).await?.schema().fields().len();
    let sql = first_rows_sql(model, width, limit);
    let batches = ctx.sql(&sql).await?.collect().await?;
    let mut answer = table_json(&batches)?;
    if let Value::Object(fields) = &mut answer {
        fields.insert("model".into(), json!(name));
        fields.insert("version".into(), json!(at));
        fields.insert("sql".into(), json!(sql));
    }
    Ok(answer)
}

/// One saved analysis over the current marts, as the API answers it (`name`,
/// `file`, `sql`, `columns` and `rows`, or its `error`), and its rows.
async fn run_analysis(
    session: &engine::QuerySession,
    analysis: &crate::models::Analysis,
) -> Result<(Value, Result<Vec<RecordBatch>>)> {
    let sql = analysis.render()?;
    let mut answer = json!({"name": analysis.name, "file": analysis.file, "sql": sql});
    let batches = engine::query(session, &sql)
        .await
        .map_err(|e| Error::in_model(&analysis.name, e));
    match (&mut answer, &batches) {
        (Value::Object(fields), Ok(batches)) => {
            if let Value::Object(table) = table_json(batches)? {
                fields.extend(table);
            }
        }
        (Value::Object(fields), Err(e)) => {
            fields.insert("error".into(), json!(e.to_string()));
        }
        _ => {}
    }
    Ok((answer, batches))
}

/// One saved analysis, as JSON (one item of [`analyses`]) or as the CSV `stride
/// query --format csv` prints (its error, when it fails).
pub async fn analysis(lakehouse: &Lakehouse, name: &str, format: Format) -> Result<String> {
    let Some(analysis) = lakehouse.project.analysis(name) else {
        return Err(Error::UnknownModel(format!("analysis {name}")));
    };
    let session = engine::query_session(&lakehouse.lake, &lakehouse.project, AsOf::Latest).await?;
    let (answer, batches) = run_analysis(&session, analysis).await?;
    match format {
        Format::Json => Ok(answer.to_string()),
        _ => output::render(&batches?, format),
    }
}
