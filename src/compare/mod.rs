//! Comparing states of the models' tables: [`verify`] rebuilds models from the
//! input their current versions consumed and proves the incremental tables equal
//! the rebuild (and that the served marts are the versions they claim,
//! [`served`]); [`diff`] says what changed in a model between two versions, or
//! in every mart a run committed. Both match rows on a key ([`key`]) and compare
//! them with [`rows`].

pub mod diff;
pub mod key;
pub mod report;
pub mod rows;
pub mod served;
pub mod verify;

pub use diff::{Diff, DiffRequest, MartChange, Point, RunDiff, diff, diff_run};
pub use key::{model_key, parse_key};
pub use rows::{Comparison, FLOAT_TOLERANCE, Kind};
pub use served::{ServedState, ServedVerdict};
pub use verify::{
    ModelVerdict, SourceVerdict, VERIFY_FOLDER, Verdict, Verification, clean_scratch, last_report,
    verify,
};
