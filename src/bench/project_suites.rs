//! The suites over the SQL project and a lake: `pipeline` (every model as a full
//! refresh from the raw tables, in dependency order), `models` (each stored model's
//! SELECT on its inputs as they are now) and `analyses` (the saved queries over the
//! current marts). Inputs are read once through stride's own query session (raw
//! tables as the contracts admitted them, models at their latest version) and
//! handed to both engines as the same Arrow data.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;

use super::engine::common_types;
use super::workload::{Query, Step, StepKind, Table, Workload, orders_its_result};
use crate::data_driven::DATA_DRIVEN_ATTRIBUTION;
use crate::delta::AsOf;
use crate::engine::{QuerySession, query_session};
use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::models::{CHANGES_SCHEMA, Model, Project, RenderContext, changes_table};
use crate::sources::SOURCE_SCHEMA;

/// Whether DuckDB can run `model`: not when it calls one of stride's own functions
/// (the data-driven models' solver). Such a model is left out of the suites, with a
/// line saying so.
fn duckdb_can_run(model: &Model) -> bool {
    let stride_only = model.template().contains(DATA_DRIVEN_ATTRIBUTION);
    if stride_only {
        tracing::info!(
            "{} left out: it calls {DATA_DRIVEN_ATTRIBUTION}(), stride's own aggregate, \
             which DuckDB does not have",
            model.name
        );
    }
    !stride_only
}

/// Every stored model's full-refresh SELECT, on its inputs as they are now (but
/// those DuckDB cannot run).
pub async fn models(lake: &Lake, project: &Project, only: &[String]) -> Result<Workload> {
    let session = query_session(lake, project, AsOf::Latest).await?;
    let mut tables: BTreeMap<String, Table> = BTreeMap::new();
    let mut queries = Vec::new();
    for model in project
        .models()
        .iter()
        .filter(|m| m.materialization.is_stored())
    {
        if (!only.is_empty() && !only.contains(&model.name)) || !duckdb_can_run(model) {
            continue;
        }
        for input in &model.refs {
            read_whole(&session, &mut tables, input, &quoted(input)).await?;
        }
        for source in &model.sources {
            let name = format!("{SOURCE_SCHEMA}.{source}");
            read_whole(&session, &mut tables, &name, &name).await?;
        }
        for input in &model.changes {
            let name = format!("{CHANGES_SCHEMA}.{}", changes_table(&model.name, input));
            read_once(&session, &mut tables, &name, &whole_as_changes(input)).await?;
        }
        let full = RenderContext::default();
        queries.push(Query {
            name: model.name.clone(),
            steps: vec![Step {
                sql: model.render(&full)?,
                duckdb_sql: model.render_for_duckdb(&full)?,
                kind: StepKind::Select,
            }],
            answer_tables: Vec::new(),
            ordered: false,
        });
    }
    Ok(Workload {
        suite: "models".into(),
        data: format!("lake {}", lake.url()),
        tables: tables.into_values().collect(),
        queries,
    })
}

/// The whole project as one full refresh from the raw tables: every model created
/// in dependency order (but those DuckDB cannot run); the answer is the published
/// marts.
pub async fn pipeline(lake: &Lake, project: &Project) -> Result<Workload> {
    let session = query_session(lake, project, AsOf::Latest).await?;
    let mut tables: BTreeMap<String, Table> = BTreeMap::new();
    let mut steps = Vec::new();
    let runnable: Vec<&Model> = project
        .models()
        .iter()
        .filter(|m| duckdb_can_run(m))
        .collect();
    for model in runnable.iter().copied() {
        for source in &model.sources {
            let name = format!("{SOURCE_SCHEMA}.{source}");
            read_whole(&session, &mut tables, &name, &name).await?;
        }
        for input in &model.changes {
            let name = format!("{CHANGES_SCHEMA}.{}", changes_table(&model.name, input));
            steps.push(Step {
                sql: whole_as_changes(input),
                duckdb_sql: None,
                kind: StepKind::CreateView(name),
            });
        }
        steps.push(model_step(model)?);
    }
    let stored = runnable
        .iter()
        .filter(|m| m.materialization.is_stored())
        .count();
    Ok(Workload {
        suite: "pipeline".into(),
        data: format!("lake {}", lake.url()),
        tables: tables.into_values().collect(),
        queries: vec![Query {
            name: format!("full refresh ({} models, {stored} stored)", runnable.len()),
            steps,
            answer_tables: runnable
                .iter()
                .filter(|m| m.publish)
                .map(|m| m.name.clone())
                .collect(),
            ordered: false,
        }],
    })
}

/// The saved analyses over the current marts.
pub async fn analyses(lake: &Lake, project: &Project, only: &[String]) -> Result<Workload> {
    let session = query_session(lake, project, AsOf::Latest).await?;
    let mut tables: BTreeMap<String, Table> = BTreeMap::new();
    for mart in project.models().iter().filter(|m| m.publish) {
        read_whole(&session, &mut tables, &mart.name, &quoted(&mart.name)).await?;
    }
    let mut queries = Vec::new();
    for analysis in project.analyses() {
        if !only.is_empty() && !only.contains(&analysis.name) {
            continue;
        }
        let sql = analysis.render()?;
        queries.push(Query {
            name: analysis.name.clone(),
            ordered: orders_its_result(&session.ctx, &sql).await,
            steps: vec![Step::select(sql)],
            answer_tables: Vec::new(),
        });
    }
    Ok(Workload {
        suite: "analyses".into(),
        data: format!("lake {}", lake.url()),
        tables: tables.into_values().collect(),
        queries,
    })
}

/// The step that creates `model`: a table for a stored model, a view for a view.
fn model_step(model: &Model) -> Result<Step> {
    let full = RenderContext::default();
    let sql = model.render(&full)?;
    let duckdb_sql = model.render_for_duckdb(&full)?;
    let kind = if model.materialization.is_stored() {
        StepKind::CreateTable(model.name.clone())
    } else {
        StepKind::CreateView(model.name.clone())
    };
    Ok(Step {
        sql,
        duckdb_sql,
        kind,
    })
}

/// `changes(input)` on a full refresh: a raw table whole, or a model whole with
/// the change-feed columns of an insert.
fn whole_as_changes(input: &str) -> String {
    if input.starts_with(&format!("{SOURCE_SCHEMA}.")) {
        format!("select * from {input}")
    } else {
        format!(
            "select *, 'insert' as _change_type, cast(null as bigint) as _commit_version, \
             cast(null as timestamp) as _commit_timestamp from {}",
            quoted(input)
        )
    }
}

/// Reads the whole of `reference` into `tables` as `name`, unless already there.
async fn read_whole(
    session: &QuerySession,
    tables: &mut BTreeMap<String, Table>,
    name: &str,
    reference: &str,
) -> Result<()> {
    read_once(session, tables, name, &format!("select * from {reference}")).await
}

/// Reads `sql` through the session into `tables` as `name`, unless already there.
async fn read_once(
    session: &QuerySession,
    tables: &mut BTreeMap<String, Table>,
    name: &str,
    sql: &str,
) -> Result<()> {
    if tables.contains_key(name) {
        return Ok(());
    }
    let frame = session
        .ctx
        .sql(sql)
        .await
        .map_err(|e| Error::Bench(format!("reading {name}: {e}")))?;
    let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
    let batches = frame.collect().await?;
    let (schema, batches) = common_types(&schema, &batches)?;
    tables.insert(
        name.to_string(),
        Table {
            name: name.to_string(),
            schema,
            batches,
        },
    );
    Ok(())
}

fn quoted(name: &str) -> String {
    crate::publish::types::quote(name)
}
