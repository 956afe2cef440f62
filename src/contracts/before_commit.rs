//! A model's contract run on the rows it is about to commit: every rule and the
//! column types, with the warnings logged and the first broken `error` rule as the
//! error (the others logged), so nothing of a result that breaks one is committed.

use datafusion::prelude::{DataFrame, SessionContext};

use super::{Contract, RuleOutcome, Status, check_table, check_types};
use crate::error::{Error, Result};

/// Checks `rows`, the rows of `model` about to be committed, against its contract
/// in `ctx`, and the result's columns `types` against the contract's types;
/// `computed` says how the rows came to be, for the log. An `error` rule that fails
/// is the error, naming the contract file.
pub async fn check_rows(
    ctx: &SessionContext,
    model: &str,
    contract: &Contract,
    rows: DataFrame,
    types: &arrow::datatypes::Schema,
    computed: &str,
) -> Result<()> {
    let fail = |e: datafusion::error::DataFusionError| Error::in_model(model, e);
    let started = std::time::Instant::now();
    let name = format!("__checked_{model}");
    let mut outcomes = vec![check_types(contract, types)];
    ctx.register_table(name.as_str(), rows.into_view())
        .map_err(fail)?;
    outcomes.extend(check_table(ctx, contract, &format!("\"{name}\"")).await);
    ctx.deregister_table(name.as_str()).map_err(fail)?;
    tracing::debug!(
        "{model}: result of {computed}, {} contract rules checked in {:.2}s",
        outcomes.len(),
        started.elapsed().as_secs_f64()
    );
    for outcome in &outcomes {
        tracing::trace!(
            "{model}: rule {} {} in {:.3}s",
            outcome.rule,
            outcome.status.as_str(),
            outcome.elapsed.as_secs_f64()
        );
    }
    for warned in outcomes.iter().filter(|o| o.status == Status::Warn) {
        tracing::warn!("model {model}: {}", warned.describe());
    }
    let blocking: Vec<&RuleOutcome> = outcomes.iter().filter(|o| o.is_blocking()).collect();
    if let Some(first) = blocking.first() {
        for other in &blocking[1..] {
            tracing::error!("model {model}: {}", other.describe());
        }
        let more = match blocking.len() {
            1 => String::new(),
            n => format!(" (and {} more rules, logged above)", n - 1),
        };
        return Err(Error::in_model(
            model,
            Error::ContractViolation {
                file: contract.file.clone(),
                problem: format!("{}{more}", first.describe()),
            },
        ));
    }
    Ok(())
}
