//! `stride test`: every contract run on the current tables, like `dbt test`: the
//! rules of each source on the rows models read (plus its freshness and what its
//! quarantine holds), and the rules of each model on its latest Delta version.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use chrono::Utc;

use super::query::query_session;
use super::select::select;
use crate::contracts::{
    Contract, Contracts, RuleOutcome, Severity, Status, Subject, check_table, check_types,
    freshness_outcome,
};
use crate::delta::AsOf;
use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::land;
use crate::models::Project;
use crate::quarantine::{self, register_loaded};
use crate::sources::{SOURCE_SCHEMA, Sources};

/// Runs the contracts `selection` picks (all without one): model names with dbt's
/// `+` operators, and sources as `raw.<table>` or `source:<table>`.
pub async fn test(
    lake: &Lake,
    project: &Project,
    contracts: &Contracts,
    selection: Option<&str>,
) -> Result<Vec<RuleOutcome>> {
    let chosen = chosen(project, contracts, selection)?;
    // Models at their latest versions, as `stride query` sees them; `raw.<table>`
    // then becomes the rows the ledgers load, as models see them.
    let session = query_session(lake, project, AsOf::Latest).await?;
    let ctx = &session.ctx;
    let mut outcomes = Vec::new();
    for table in contracts.sources() {
        let landed = land::landed_files(lake, table).await?;
        let ledger = quarantine::read_ledger(lake, &table.name).await?;
        // Files no run has checked yet are not loaded yet either.
        let loaded = register_loaded(ctx, lake, table, &landed, &ledger)?;
        let Some(contract) = contracts
            .get(&table.name)
            .filter(|c| chosen.contains(&c.name))
        else {
            continue;
        };
        let name = format!("{SOURCE_SCHEMA}.{}", table.name);
        outcomes.extend(check_table(ctx, contract, &name).await);
        let newest = loaded.iter().map(|f| f.batch_date).max();
        outcomes.extend(freshness_outcome(contract, newest, Utc::now().date_naive()));
        outcomes.push(quarantine_outcome(contract, &ledger));
    }

    for model in project.models() {
        let Some(contract) = contracts
            .get(&model.name)
            .filter(|c| c.subject == Subject::Model && chosen.contains(&c.name))
        else {
            continue;
        };
        let table_name = format!("\"{}\"", model.name);
        match ctx.table(table_name.as_str()).await {
            Ok(frame) => {
                outcomes.push(check_types(contract, frame.schema().as_arrow()));
                outcomes.extend(check_table(ctx, contract, &table_name).await);
            }
            Err(_) => outcomes.push(RuleOutcome {
                table: model.name.clone(),
                rule: "table exists".into(),
                severity: Severity::Error,
                status: Status::Error,
                failing: 0,
                sample: vec!["no table yet: `stride run` builds it".into()],
                elapsed: Default::default(),
            }),
        }
    }
    Ok(outcomes)
}

/// The names of the contracts to run.
fn chosen(
    project: &Project,
    contracts: &Contracts,
    selection: Option<&str>,
) -> Result<BTreeSet<String>> {
    let Some(selection) = selection else {
        return Ok(contracts.all().iter().map(|c| c.name.clone()).collect());
    };
    let mut names = BTreeSet::new();
    let mut models = Vec::new();
    for selector in selection.split([' ', ',']).filter(|s| !s.is_empty()) {
        let source = selector
            .strip_prefix("source:")
            .or_else(|| selector.strip_prefix(&format!("{SOURCE_SCHEMA}.")));
        match source {
            Some(table) if contracts.sources().find(table).is_some() => {
                names.insert(table.to_string());
            }
            Some(_) => return Err(Error::Select(format!("`{selector}` names no raw table"))),
            None => models.push(selector),
        }
    }
    if !models.is_empty() {
        names.extend(select(project.models(), &models.join(" "))?);
    }
    Ok(names)
}

/// What the source's quarantine holds: a warning while rows or files sit there.
fn quarantine_outcome(contract: &Contract, ledger: &quarantine::Ledger) -> RuleOutcome {
    let started = Instant::now();
    let rows: u64 = ledger.files.values().map(|e| e.rows_quarantined).sum();
    let refused = ledger
        .files
        .values()
        .filter(|e| e.refused.is_some())
        .count();
    let mut sample = Vec::new();
    match refused {
        0 => {}
        1 => sample.push("1 file refused whole".into()),
        n => sample.push(format!("{n} files refused whole")),
    }
    if rows > 0 {
        sample.push("see `stride quarantine list`".to_string());
    }
    RuleOutcome {
        table: contract.name.clone(),
        rule: "quarantine is empty".into(),
        severity: Severity::Warn,
        status: if rows > 0 || refused > 0 {
            Status::Warn
        } else {
            Status::Pass
        },
        failing: rows,
        sample,
        elapsed: started.elapsed(),
    }
}

/// The outcomes as rows: rule, model (`raw.<table>` for one of `sources`), status,
/// failing rows, seconds, detail.
pub fn outcomes_batch(outcomes: &[RuleOutcome], sources: &Sources) -> Result<RecordBatch> {
    let text = |f: &dyn Fn(&RuleOutcome) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(outcomes.iter().map(f)))
    };
    let schema = Arc::new(Schema::new(vec![
        Field::new("rule", DataType::Utf8, false),
        Field::new("model", DataType::Utf8, false),
        Field::new("status", DataType::Utf8, false),
        Field::new("failing_rows", DataType::UInt64, false),
        Field::new("seconds", DataType::Float64, false),
        Field::new("detail", DataType::Utf8, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        text(&|o| o.rule.clone()),
        text(&|o| match sources.find(&o.table) {
            Some(_) => format!("{SOURCE_SCHEMA}.{}", o.table),
            None => o.table.clone(),
        }),
        text(&|o| o.status.as_str().to_string()),
        Arc::new(UInt64Array::from_iter_values(
            outcomes.iter().map(|o| o.failing),
        )),
        Arc::new(Float64Array::from_iter_values(
            outcomes
                .iter()
                .map(|o| (o.elapsed.as_secs_f64() * 1000.0).round() / 1000.0),
        )),
        text(&|o| {
            let mut detail = o.sample.join("; ");
            if detail.chars().count() > 160 {
                detail = detail.chars().take(157).collect::<String>() + "...";
            }
            detail
        }),
    ];
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// Where the outcome of the last `stride test` of a table is kept.
fn last_test_path(table: &str) -> String {
    format!("_stride/tests/{table}.json")
}

/// Keeps the outcomes of a `stride test` per table tested (`_stride/tests/<table>.json`:
/// when, and each rule's row as `stride test --format json` prints it), so the
/// model's page can show how its contract last fared.
pub async fn save_test(lake: &Lake, outcomes: &[RuleOutcome], sources: &Sources) -> Result<()> {
    let tested_at = Utc::now();
    let tables: BTreeSet<&str> = outcomes.iter().map(|o| o.table.as_str()).collect();
    for table in tables {
        let mine: Vec<RuleOutcome> = outcomes
            .iter()
            .filter(|o| o.table == table)
            .cloned()
            .collect();
        let batch = outcomes_batch(&mine, sources)?;
        let rows: serde_json::Value = serde_json::from_str(&crate::output::render(
            &[batch],
            crate::output::Format::Json,
        )?)?;
        let failed = mine.iter().filter(|o| o.is_blocking()).count();
        let warned = mine.iter().filter(|o| o.status == Status::Warn).count();
        let record = serde_json::json!({
            "table": table,
            "tested_at": tested_at,
            "passed": mine.len() - failed - warned,
            "warned": warned,
            "failed": failed,
            "outcomes": rows,
        });
        lake.put(&last_test_path(table), serde_json::to_vec_pretty(&record)?)
            .await?;
    }
    Ok(())
}

/// The outcome of the last `stride test` that covered `table`, as [`save_test`]
/// kept it; `None` when none did.
pub async fn last_test(lake: &Lake, table: &str) -> Result<Option<serde_json::Value>> {
    match lake.get(&last_test_path(table)).await? {
        Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
        None => Ok(None),
    }
}
