//! Execution on Apache DataFusion: the session that sees raw sources and models,
//! the run that brings every model up to date (with the lake lock, selection and
//! the per-model record of what was consumed), the data tests, history and ad-hoc
//! queries.

mod build;
mod data_tests;
mod history;
mod join_filters;
mod maintain;
mod materialize;
mod query;
mod select;
mod session;
mod state;

pub use build::{
    Action, ModelOutcome, NoEvents, RunEvents, RunOptions, RunReport, RunRequest, rebuild_pinned,
    run_with_lock,
};
pub use data_tests::{last_test, outcomes_batch, save_test, test};
pub use history::{HistoryRow, history, history_batch};
pub use maintain::{Maintained, optimize, vacuum};
pub use query::{QuerySession, parse_time, query, query_session, query_session_on};
pub use select::{ancestors, descendants, select as select_models};
pub use session::{new_session, session_config};
pub use state::ModelState;
pub use state::{LastCommit, last_commit};

/// Checks a `--select` expression against the project's models (the API checks a
/// request before queuing it).
pub fn check_selection(models: &[crate::models::Model], selection: &str) -> crate::Result<()> {
    select::select(models, selection).map(|_| ())
}
