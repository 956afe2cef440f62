//! The run history: one record per run (`stride run`, `demo`, and the runs
//! `stride serve` starts) under `_stride/runs/` in the lake, local or S3 alike.
//! Each Delta commit a run makes carries its run id, so versions and runs link
//! both ways.

mod log;
mod record;
mod recorder;
mod store;
mod table;

pub use log::{CaptureLayer, start_capture, take_capture};
pub use record::{
    ModelRun, RunRecord, RunRequest, SourceRun, Status, TickRef, Trigger, is_run_id, new_run_id,
};
pub use recorder::{Progress, Recorder};
pub use store::{RUNS, list, load, load_log, save, save_log, save_or_keep};
pub use table::{models_batch, register, runs_batch};
