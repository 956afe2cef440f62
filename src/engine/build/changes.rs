//! `changes(input)`: what an input changed since the model last read it, registered
//! for the model's SQL (new raw files, or a stored model's change feed).

use super::plan::ModelPlan;
use super::*;

/// Registers `changes(input)` for `model`: the raw files it has not read, or what a
/// stored input committed since the version it read (all of it on a rebuild).
pub(super) async fn register_changes(
    run: &RunContext,
    model: &Model,
    input: &str,
    upstream: &HashMap<String, Found>,
    plan: &ModelPlan,
) -> Result<()> {
    let fail = |e: datafusion::error::DataFusionError| Error::in_model(&model.name, e);
    let name = TableReference::partial(CHANGES_SCHEMA, changes_table(&model.name, input));
    if let Some(table) = input.strip_prefix(&format!("{SOURCE_SCHEMA}.")) {
        let source = run
            .contracts
            .sources()
            .find(table)
            .ok_or_else(|| Error::UnknownModel(input.to_string()))?;
        let files = plan.new_files.get(table).cloned().unwrap_or_default();
        let set_aside = run
            .sources
            .ledgers
            .get(&source.name)
            .map(|l| l.set_aside())
            .unwrap_or_default();
        let provider = admitted_table(&run.ctx, &run.lake, source, &files, &set_aside)?;
        let provider = if plan.incremental && plan.late.contains(table) {
            let all = run
                .sources
                .files
                .get(&source.name)
                .cloned()
                .unwrap_or_default();
            let history = admitted_table(&run.ctx, &run.lake, source, &all, &set_aside)?;
            history_of_touched_keys(&run.ctx, source, history, provider).map_err(fail)?
        } else {
            provider
        };
        run.ctx.register_table(name, provider).map_err(fail)?;
        return Ok(());
    }
    let consumed = plan.consumed.get(input).copied();
    match (plan.incremental, consumed) {
        (true, Some(after)) => {
            let found = upstream
                .get(input)
                .ok_or_else(|| Error::UnknownModel(input.to_string()))?;
            let provider = delta::change_feed(&found.table, after)
                .map_err(|e| Error::in_model(&model.name, e))?;
            let provider = match &run.cluster {
                Some(cluster) => {
                    cluster
                        .changes_readable(input, &found.table, after, provider)
                        .await
                }
                None => provider,
            };
            run.ctx.register_table(name, provider).map_err(fail)?;
        }
        (true, None) => {
            // The input has not changed since this model read it.
            let provider = run.ctx.table_provider(input).await.map_err(fail)?;
            let schema = change_schema(&provider.schema());
            let empty = MemTable::try_new(schema, vec![vec![]]).map_err(fail)?;
            run.ctx
                .register_table(name, Arc::new(empty))
                .map_err(fail)?;
        }
        (false, _) => {
            // A whole table read as a change feed: every row an insert.
            let [change_type, version, timestamp] = delta::change_feed_fields();
            let null = |field: &arrow::datatypes::Field| {
                ScalarValue::try_from(field.data_type()).map(|v| lit(v).alias(field.name()))
            };
            let frame = run.ctx.table(input).await.map_err(fail)?;
            let mut columns: Vec<Expr> = frame
                .schema()
                .columns()
                .into_iter()
                .map(Expr::Column)
                .collect();
            columns.push(lit("insert").alias(change_type.name()));
            columns.push(null(&version).map_err(fail)?);
            columns.push(null(&timestamp).map_err(fail)?);
            let frame = frame.select(columns).map_err(fail)?;
            run.ctx
                .register_table(name, frame.into_view())
                .map_err(fail)?;
        }
    }
    Ok(())
}

/// The rows of `history` (every admitted change of a raw table) whose key is among
/// the keys of `landed` (the changes not read yet). Over these, the latest change
/// of each key is its current state whatever order the files arrived in, so a
/// late file cannot put a key back to an older state.
pub(super) fn history_of_touched_keys(
    ctx: &SessionContext,
    source: &SourceTable,
    history: Arc<dyn datafusion::catalog::TableProvider>,
    landed: Arc<dyn datafusion::catalog::TableProvider>,
) -> datafusion::error::Result<Arc<dyn datafusion::catalog::TableProvider>> {
    let keys: Vec<&str> = source.key.iter().map(String::as_str).collect();
    let touched = ctx
        .read_table(landed)?
        .select_columns(&keys)?
        .distinct()?
        .alias("touched")?;
    let on: Vec<Expr> = keys
        .iter()
        .map(|k| col(format!("history.{k}")).eq(col(format!("touched.{k}"))))
        .collect();
    let rows = ctx.read_table(history)?.alias("history")?.join_on(
        touched,
        datafusion::common::JoinType::LeftSemi,
        on,
    )?;
    Ok(rows.into_view())
}

/// A model's schema with the change feed's columns added.
pub(super) fn change_schema(schema: &arrow::datatypes::SchemaRef) -> arrow::datatypes::SchemaRef {
    use arrow::datatypes::{Field, Schema};
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.extend(delta::change_feed_fields());
    Arc::new(Schema::new(fields))
}
