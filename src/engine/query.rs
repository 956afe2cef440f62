//! Ad-hoc SQL over every raw source (`raw.<table>`) and every model (by name).

use arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;

use super::session::{new_session, register_sources};
use crate::delta;
use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::models::{Project, RenderContext};

/// A session that sees the raw sources and each model at its latest committed
/// version; views are planned over them. Models never run are not registered.
pub async fn query_session(lake: &Lake, project: &Project) -> Result<SessionContext> {
    let ctx = new_session();
    register_sources(&ctx, lake).await?;
    let state = ctx.state();
    for model in project.models() {
        if model.materialization.is_stored() {
            if let Some(table) = delta::open(lake, &model.name).await? {
                let provider = delta::provider(&table, &state).await?;
                ctx.register_table(model.name.as_str(), provider)?;
            }
        } else {
            let sql = model.render(&RenderContext::default())?;
            match ctx.sql(&sql).await {
                Ok(frame) => {
                    ctx.register_table(model.name.as_str(), frame.into_view())?;
                }
                // A view over a model that was never run cannot be planned yet.
                Err(e) => tracing::debug!("view {} not available: {e}", model.name),
            }
        }
    }
    Ok(ctx)
}

/// Runs `sql` and collects its result.
pub async fn query(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>> {
    let run = async {
        let frame = ctx.sql(sql).await?;
        frame.collect().await
    };
    run.await.map_err(|e| Error::Query(Box::new(e.into())))
}
