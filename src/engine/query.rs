//! Ad-hoc SQL over every raw source (`raw.<table>`) and every model (by name), now
//! or as of a past version or time, plus `table_at('model', version_or_time)` to
//! read one model at another version next to the others.

use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use chrono::{DateTime, Utc};
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::Expr;
use datafusion::prelude::SessionContext;

use super::session::{new_session, register_admitted_sources};
use crate::cluster::Cluster;
use crate::delta::{self, AsOf};
use crate::error::{Error, Result};
use crate::lake::{Lake, WAREHOUSE};
use crate::models::{Project, RenderContext};

/// A session that sees the raw sources (what the checks admitted) and each model as of
/// `as_of`; views are planned over them. Models without a version at that point
/// are not registered, and are named if the query fails.
pub async fn query_session(lake: &Lake, project: &Project, as_of: AsOf) -> Result<QuerySession> {
    query_session_on(lake, project, as_of, None).await
}

/// [`query_session`] whose queries run on `cluster` when one is given (models
/// read through stride's Delta scan, which executors can run).
pub async fn query_session_on(
    lake: &Lake,
    project: &Project,
    as_of: AsOf,
    cluster: Option<Cluster>,
) -> Result<QuerySession> {
    let ctx = new_session();
    register_admitted_sources(&ctx, lake, project.sources()).await?;
    ctx.register_udtf("table_at", Arc::new(TableAt { lake: lake.clone() }));
    let state = ctx.state();
    let mut missing = Vec::new();
    for model in project.models() {
        if model.materialization.is_stored() {
            match delta::open_as_of(lake, &model.name, as_of).await? {
                Some(table) => {
                    let provider = delta::provider(&table, &state).await?;
                    let provider = match &cluster {
                        None => provider,
                        Some(cluster) => cluster.readable(&model.name, &table, provider),
                    };
                    ctx.register_table(model.name.as_str(), provider)?;
                }
                None => missing.push((
                    model.name.clone(),
                    delta::no_version_explained(lake, &model.name, as_of).await,
                )),
            }
        } else {
            let sql = model.render(&RenderContext::default())?;
            match ctx.sql(&sql).await {
                Ok(frame) => {
                    ctx.register_table(model.name.as_str(), frame.into_view())?;
                }
                // A view over a model that has no table (yet) cannot be planned.
                Err(e) => {
                    tracing::debug!("view {} not available: {e}", model.name);
                    missing.push((
                        model.name.clone(),
                        format!(
                            "view {} cannot be planned: a model it reads has no table",
                            model.name
                        ),
                    ));
                }
            }
        }
    }
    Ok(QuerySession {
        ctx,
        missing,
        cluster,
    })
}

/// A query session, and the models it could not offer.
pub struct QuerySession {
    /// The DataFusion session.
    pub ctx: SessionContext,
    /// The models not registered, and why.
    missing: Vec<(String, String)>,
    /// Where queries run (`None`: here).
    cluster: Option<Cluster>,
}

/// Runs `sql` and collects its result.
pub async fn query(session: &QuerySession, sql: &str) -> Result<Vec<RecordBatch>> {
    let run = async {
        let frame = session.ctx.sql(sql).await?;
        let Some(cluster) = &session.cluster else {
            return frame.collect().await;
        };
        let (frame, _) = cluster
            .place(&session.ctx, frame, "the query")
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        frame.collect().await
    };
    run.await.map_err(|e| {
        let text = e.to_string();
        let hint = session
            .missing
            .iter()
            .find(|(model, _)| mentions(&text, model));
        match hint {
            Some((_, why)) => Error::Query(Box::new(Error::TimeTravel(why.clone()))),
            // A version older than the vacuum retention refers to deleted files.
            None if text.contains("not found") && text.contains(WAREHOUSE) => {
                Error::Query(Box::new(Error::TimeTravel(format!(
                    "{text} (a file of this version was deleted by `stride vacuum`: \
                     versions older than its retention can no longer be read)"
                ))))
            }
            None => Error::Query(Box::new(e.into())),
        }
    })
}

/// Whether an error's text names `model` as a whole word (`fct_orders`, not
/// `fct_orders_daily`).
fn mentions(text: &str, model: &str) -> bool {
    text.match_indices(model).any(|(at, _)| {
        let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
        let before = text[..at].chars().next_back().is_none_or(|c| !word(c));
        let after = text[at + model.len()..]
            .chars()
            .next()
            .is_none_or(|c| !word(c));
        before && after
    })
}

/// `table_at('model', 3)` or `table_at('model', '2026-11-27T10:00:00Z')`: one model's
/// table at a Delta version or as of a time.
#[derive(Debug)]
struct TableAt {
    lake: Lake,
}

impl TableFunctionImpl for TableAt {
    fn call_with_args(
        &self,
        args: TableFunctionArgs,
    ) -> datafusion::error::Result<Arc<dyn TableProvider>> {
        let usage = || {
            DataFusionError::Plan(
                "table_at takes a model name and a version number or a timestamp: \
                 table_at('fct_orders', 3)"
                    .to_string(),
            )
        };
        let [Expr::Literal(model, _), Expr::Literal(at, _)] = args.exprs() else {
            return Err(usage());
        };
        let (ScalarValue::Utf8(Some(model)) | ScalarValue::LargeUtf8(Some(model))) = model else {
            return Err(usage());
        };
        let as_of = match at {
            ScalarValue::Int64(Some(v)) if *v >= 0 => AsOf::Version(*v as u64),
            ScalarValue::Utf8(Some(text)) | ScalarValue::LargeUtf8(Some(text)) => {
                AsOf::Time(parse_time(text).map_err(|e| DataFusionError::Plan(e.to_string()))?)
            }
            _ => return Err(usage()),
        };
        let lake = self.lake.clone();
        let model = model.clone();
        // Table functions are planned synchronously; the Delta log is read on this
        // worker thread without stalling the runtime.
        let table = tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current()
                .block_on(async { delta::open_as_of(&lake, &model, as_of).await })
        })
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let Some(table) = table else {
            let why = tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current()
                    .block_on(delta::no_version_explained(&lake, &model, as_of))
            });
            return Err(DataFusionError::Plan(format!("table_at: {why}")));
        };
        table
            .update_datafusion_session(args.session())
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let provider = tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(table.table_provider().into_future())
        })
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
        Ok(provider)
    }
}

/// An RFC 3339 time (`2026-11-27T10:00:00Z`), or a date-time taken as UTC
/// (`2026-11-27 10:00:00`), or a date (midnight UTC).
pub fn parse_time(text: &str) -> Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    // `history` prints times as `2026-11-27 10:00:00.123 UTC`: taken as they are.
    let naive = text.strip_suffix(" UTC").unwrap_or(text);
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(naive, format) {
            return Ok(t.and_utc());
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    Err(Error::TimeTravel(format!(
        "`{text}` is not a timestamp (use 2026-11-27T10:00:00Z)"
    )))
}
