//! What the API tells about the lake, each answer built from the same library
//! calls as the command that prints it: lineage, a model's versions (`stride
//! history`), freshness, contracts and quarantine (`stride quarantine list`), and
//! the saved analyses over the current marts (`stride query`).

use std::collections::BTreeMap;

use arrow::record_batch::RecordBatch;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::contracts::Subject;
use crate::delta::{self, AsOf};
use crate::engine;
use crate::error::{Error, Result};
use crate::land;
use crate::orchestrate::Pipeline;
use crate::output::{self, Format};
use crate::quarantine;
use crate::runs::{self, RunRecord};

/// Batches as the JSON `--format json` prints (an array of row objects).
pub fn json_rows(batches: &[RecordBatch]) -> Result<Value> {
    Ok(serde_json::from_str(&output::render(
        batches,
        Format::Json,
    )?)?)
}

/// The graph: sources and models (with materialization, latest version and how
/// the latest run that ran them left them), and the edges between them.
pub async fn lineage(pipeline: &Pipeline) -> Result<Value> {
    let lake = &pipeline.lake;
    let recent = runs::list(lake, Some(50)).await?;
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    for table in pipeline.project.sources().iter() {
        nodes.push(json!({
            "id": format!("raw.{}", table.name),
            "name": table.name,
            "kind": "source",
        }));
    }
    for model in pipeline.project.models() {
        let version = if model.materialization.is_stored() {
            delta::open(lake, &model.name)
                .await?
                .and_then(|t| t.version())
        } else {
            None
        };
        let (last_run_id, last_status) = last_run_of(&recent, &model.name);
        nodes.push(json!({
            "id": model.name,
            "name": model.name,
            "kind": "model",
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
pub async fn versions(pipeline: &Pipeline, model: &str) -> Result<Value> {
    pipeline.project.model(model)?;
    let rows = engine::history(&pipeline.lake, model).await?;
    json_rows(&[engine::history_batch(&rows)?])
}

/// Per source, the newest batch landed and the newest consumed by a run; per mart,
/// its latest version, when it was committed and the newest batch in it; ages in
/// seconds.
pub async fn freshness(pipeline: &Pipeline) -> Result<Value> {
    let lake = &pipeline.lake;
    let now = Utc::now();
    let age = |t: Option<DateTime<Utc>>| t.map(|t| (now - t).num_milliseconds() as f64 / 1000.0);
    let mut sources = Vec::new();
    for table in pipeline.project.sources().iter() {
        let landed = land::landed_files(lake, table).await?;
        let newest_landed = landed.iter().map(|f| f.batch_date).max();
        let ledger = quarantine::read_ledger(lake, &table.name).await?;
        let consumed = ledger.files.values().filter(|e| e.is_loaded());
        let newest_consumed = consumed.clone().map(|e| e.batch_date.clone()).max();
        let last_checked = consumed
            .filter_map(|e| DateTime::parse_from_rfc3339(&e.checked_at).ok())
            .map(|t| t.with_timezone(&Utc))
            .max();
        let waiting = ledger.unchecked(lake, &landed).count();
        sources.push(json!({
            "table": table.name,
            "newest_batch_landed": newest_landed.map(|d| d.to_string()),
            "newest_batch_consumed": newest_consumed,
            "files_waiting": waiting,
            "last_consumed_at": last_checked,
            "age_s": age(last_checked),
        }));
    }
    let mut marts = Vec::new();
    for model in pipeline.project.models().iter().filter(|m| m.publish) {
        let history = match delta::open(lake, &model.name).await? {
            Some(_) => engine::history(lake, &model.name).await?,
            None => Vec::new(),
        };
        let latest = history.last();
        let newest_batch = history.iter().flat_map(|r| r.batches.iter()).max().cloned();
        marts.push(json!({
            "mart": model.name,
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
pub async fn contracts(pipeline: &Pipeline) -> Result<Value> {
    let lake = &pipeline.lake;
    let sources = pipeline.contracts.sources();
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
    let tables: Vec<Value> = pipeline
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
/// name, file, SQL and rows (as `stride query SQL --format json` prints them).
pub async fn analyses(pipeline: &Pipeline) -> Result<Value> {
    let session = engine::query_session(&pipeline.lake, &pipeline.project, AsOf::Latest).await?;
    let mut answers = Vec::new();
    for analysis in pipeline.project.analyses() {
        let sql = analysis.render()?;
        let rows = match engine::query(&session, &sql).await {
            Ok(batches) => json!({"rows": json_rows(&batches)?}),
            Err(e) => json!({"error": Error::in_model(&analysis.name, e).to_string()}),
        };
        let mut answer = json!({"name": analysis.name, "file": analysis.file, "sql": sql});
        if let (Some(answer), Value::Object(rows)) = (answer.as_object_mut(), rows) {
            answer.extend(rows);
        }
        answers.push(answer);
    }
    Ok(Value::Array(answers))
}
