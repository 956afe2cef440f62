//! A model's result computed, checked against its contract and committed with its
//! strategy (a rebuild's staged files, merge, append, delete+insert).

use super::changes::register_changes;
use super::graph::register;
use super::plan::ModelPlan;
use super::*;

/// Registers the model's `changes()` tables, plans its SELECT and commits the result.
pub(super) async fn execute(
    run: &RunContext,
    model: &Model,
    current: Option<Found>,
    upstream: &HashMap<String, Found>,
    plan: &ModelPlan,
) -> Result<(DeltaTable, Committed, Placement)> {
    let fail = |e: datafusion::error::DataFusionError| Error::in_model(&model.name, e);
    for input in &model.changes {
        register_changes(run, model, input, upstream, plan).await?;
    }
    // `{{ this }}`: the model's table as the last run left it.
    if let Some(found) = &current {
        register(run, model, &found.table).await?;
    }
    let sql = model.render(&RenderContext {
        is_incremental: plan.incremental,
    })?;
    let frame = run.ctx.sql(&sql).await.map_err(fail)?;
    let (frame, placement) = run.place(model, frame)?;
    let has_op = frame.schema().has_column_with_unqualified_name(OP_COLUMN);
    let info = plan.state.to_json()?;
    let table = match (plan.incremental, current) {
        (true, Some(found)) => found.table,
        (_, current) => {
            let (table, committed) =
                rebuild(run, model, current.map(|f| f.table), frame, has_op, info).await?;
            return Ok((table, committed, placement));
        }
    };
    // The checked rows are held until the commit has written them.
    let (frame, checked) = held_and_checked(run, model, frame, has_op).await?;
    let state = run.ctx.state();
    check_fits_table(model, frame.schema().as_arrow(), &table)?;
    // Held, so the key check and the commit read one computation (delete+insert
    // reads its result twice).
    let (frame, _held) = match checked {
        None if model.strategy != Strategy::Append => {
            let held = materialize(&model.name, frame).await?;
            let frame = run.ctx.read_table(Arc::clone(&held.table)).map_err(fail)?;
            (frame, Some(held))
        }
        held => (frame, held),
    };
    if model.strategy != Strategy::Append {
        check_key_columns(model, &frame)?;
        check_keys_present(model, frame.clone()).await?;
    }
    let increment = delta::Increment {
        model: &model.name,
        strategy: model.strategy,
        unique_key: &model.unique_key,
        info,
    };
    let (table, committed) = delta::commit_increment(table, increment, frame, &state).await?;
    Ok((table, committed, placement))
}

/// Replaces the whole of `model`'s table (`table`, `None` when it has none yet)
/// with `frame`'s rows. They are written by parallel writers into files that are
/// not yet the table's ([`delta::stage`]), checked against the model's contract
/// in those files, then committed in one version; nothing is held in memory. A
/// result whose columns differ from the table's goes through delta-rs's overwrite,
/// which changes the table's schema, after its contract is checked on the result
/// held ([`check_result`]).
pub(super) async fn rebuild(
    run: &RunContext,
    model: &Model,
    table: Option<DeltaTable>,
    frame: DataFrame,
    has_op: bool,
    info: serde_json::Value,
) -> Result<(DeltaTable, Committed)> {
    let fail = |e: datafusion::error::DataFusionError| Error::in_model(&model.name, e);
    let state = run.ctx.state();
    let deletion_vectors = model.materialization == Materialization::Incremental
        && model.strategy == Strategy::DeleteInsert;
    let table = match table {
        Some(table) => table,
        None => delta::open_or_create_handle(&run.lake, &model.name).await?,
    };
    let rows = delta::without_deletions(frame.clone(), has_op).map_err(fail)?;
    let types = rows.schema().as_arrow().clone();
    let started = Instant::now();
    if let Some(staged) = delta::stage(&model.name, table, rows, &state).await? {
        let written = run.ctx.read_table(staged.provider()?).map_err(fail)?;
        if let Err(e) = check_keys_present(model, written).await {
            staged.discard().await;
            return Err(e);
        }
        if let Some(contract) = run.contracts.get(&model.name) {
            let checked = run.ctx.read_table(staged.provider()?).map_err(fail)?;
            let computed = format!(
                "{} rows computed and written in {:.2}s",
                staged.rows(),
                started.elapsed().as_secs_f64()
            );
            if let Err(e) =
                contracts::check_rows(&run.ctx, &model.name, contract, checked, &types, &computed)
                    .await
            {
                staged.discard().await;
                return Err(e);
            }
        }
        let rows_added = staged.rows();
        let (table, rows_removed) = delta::commit_staged(staged, info, deletion_vectors).await?;
        let version = delta::version_of(&table);
        return Ok((
            table,
            Committed {
                version,
                rows_added,
                rows_removed,
            },
        ));
    }
    // The checked rows are held until the commit has written them.
    let (frame, _checked) = held_and_checked(run, model, frame, has_op).await?;
    let frame = delta::without_deletions(frame, has_op).map_err(fail)?;
    check_keys_present(model, frame.clone()).await?;
    delta::overwrite(
        &run.lake,
        &model.name,
        frame,
        &state,
        info,
        deletion_vectors,
    )
    .await
}

/// `frame` computed once and checked against the model's contract, if it has one;
/// returns the rows to commit and what holds them (keep it until the commit).
pub(super) async fn held_and_checked(
    run: &RunContext,
    model: &Model,
    frame: DataFrame,
    has_op: bool,
) -> Result<(DataFrame, Option<Materialized>)> {
    let Some(contract) = run.contracts.get(&model.name) else {
        return Ok((frame, None));
    };
    let held = check_result(run, model, contract, frame, has_op).await?;
    let frame = run
        .ctx
        .read_table(Arc::clone(&held.table))
        .map_err(|e| Error::in_model(&model.name, e))?;
    Ok((frame, Some(held)))
}

/// Fails, before anything is written, when an incremental result's columns differ
/// from its table's in name or type (the incremental branch of a model's SQL must
/// give what its full branch gave): each column's type must be the one the table
/// holds once Delta has stored it (see [`delta::stored_type`]); nullability may
/// differ.
pub(super) fn check_fits_table(
    model: &Model,
    result: &arrow::datatypes::Schema,
    table: &DeltaTable,
) -> Result<()> {
    let fail = |problem: String| Error::in_model(&model.name, Error::Schema(problem));
    let stored = table
        .snapshot()
        .map_err(|e| Error::in_model(&model.name, e))?
        .snapshot()
        .arrow_schema();
    let columns: Vec<&arrow::datatypes::Field> = result
        .fields()
        .iter()
        .map(|f| f.as_ref())
        .filter(|f| f.name() != OP_COLUMN)
        .collect();
    for field in stored.fields() {
        let Some(found) = columns.iter().find(|f| f.name() == field.name()) else {
            return Err(fail(format!(
                "the incremental result has no column `{}`, which the table has",
                field.name()
            )));
        };
        if delta::stored_type(found.data_type()) != delta::stored_type(field.data_type()) {
            return Err(fail(format!(
                "column `{}` is {} in the incremental result but {} in the table \
                 (the incremental and full branches of {} must give the same types)",
                field.name(),
                found.data_type(),
                field.data_type(),
                model.file
            )));
        }
    }
    if let Some(extra) = columns
        .iter()
        .find(|f| stored.field_with_name(f.name()).is_err())
    {
        return Err(fail(format!(
            "the incremental result has a column `{}` the table does not have \
             (the incremental and full branches of {} must give the same columns)",
            extra.name(),
            model.file
        )));
    }
    Ok(())
}

/// Runs the model's contract on its result before the commit. The result is
/// computed once ([`materialize`]: in memory, or spilled to local disk when large),
/// checked (deletion rows left out), and handed on to the commit. An `error` rule
/// that fails stops the model here, so nothing of it is committed and the models
/// that read it are skipped.
pub(super) async fn check_result(
    run: &RunContext,
    model: &Model,
    contract: &Contract,
    frame: DataFrame,
    has_op: bool,
) -> Result<Materialized> {
    let fail = |e: datafusion::error::DataFusionError| Error::in_model(&model.name, e);
    let started = Instant::now();
    let result = materialize(&model.name, frame)
        .await
        .map_err(|e| Error::in_model(&model.name, e))?;
    let computed = started.elapsed();
    let checked = delta::without_deletions(
        run.ctx
            .read_table(Arc::clone(&result.table))
            .map_err(fail)?,
        has_op,
    )
    .map_err(fail)?;
    let types = checked.schema().as_arrow().clone();
    let held = if result.spilled() {
        " (spilled to disk)"
    } else {
        ""
    };
    let computed = format!(
        "{} rows computed in {:.2}s{held}",
        result.rows,
        computed.as_secs_f64()
    );
    contracts::check_rows(&run.ctx, &model.name, contract, checked, &types, &computed).await?;
    Ok(result)
}

/// Fails when a row of `rows` (a result of `model`) has a NULL in a column of its
/// `unique_key`. An incremental model finds the rows a change replaces by key, and
/// NULL equals nothing: such a row would be inserted again by every incremental
/// run and never replaced or deleted, so a result with one is refused in every
/// run rather than left to grow.
pub(super) async fn check_keys_present(model: &Model, rows: DataFrame) -> Result<()> {
    if model.materialization != Materialization::Incremental || model.unique_key.is_empty() {
        return Ok(());
    }
    let fail = |e: datafusion::error::DataFusionError| Error::in_model(&model.name, e);
    for key in &model.unique_key {
        if !rows.schema().has_column_with_unqualified_name(key) {
            continue;
        }
        let nulls = rows
            .clone()
            .filter(datafusion::prelude::ident(key.as_str()).is_null())
            .map_err(fail)?
            .limit(0, Some(1))
            .map_err(fail)?
            .count()
            .await
            .map_err(fail)?;
        if nulls > 0 {
            return Err(null_key(model, key));
        }
    }
    Ok(())
}

/// Fails when a delete+insert result lacks its `unique_key` column: the keys it
/// clears are that column's values.
pub(super) fn check_key_columns(model: &Model, rows: &DataFrame) -> Result<()> {
    if model.strategy != Strategy::DeleteInsert {
        return Ok(());
    }
    match model
        .unique_key
        .iter()
        .find(|key| !rows.schema().has_column_with_unqualified_name(key))
    {
        None => Ok(()),
        Some(key) => Err(Error::in_model(
            &model.name,
            Error::ModelFile {
                file: model.file.clone(),
                problem: format!("unique_key `{key}` is not a column of the result"),
            },
        )),
    }
}

/// The error of a result whose `unique_key` column `key` holds a NULL.
pub(super) fn null_key(model: &Model, key: &str) -> Error {
    Error::in_model(
        &model.name,
        Error::ModelFile {
            file: model.file.clone(),
            problem: format!(
                "unique_key `{key}` is NULL in a row of the result; an incremental model \
                 replaces rows by key and NULL matches no key, so that row would be added \
                 again by every run: give the key a value (coalesce) or leave such rows out"
            ),
        },
    )
}
