//! Execution on Apache DataFusion: the session that sees raw sources and models,
//! the run that brings every model up to date, and ad-hoc queries.

mod query;
mod run;
mod session;

pub use query::{query, query_session};
pub use run::{ModelOutcome, RunOptions, RunReport, run};
pub use session::new_session;
