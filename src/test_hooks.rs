//! The test hooks: environment variables that make the process abort at a chosen
//! point, as a kill would, so the tests can prove every commit and publish is
//! whole or absent. Unset (as in any real use), they do nothing.

/// `STRIDE_ABORT_AFTER_COMMIT=<model>`: the process aborts (no clean-up, like a
/// kill) right after that model's commit, before anything else of the run.
pub const ABORT_AFTER_COMMIT: &str = "STRIDE_ABORT_AFTER_COMMIT";

/// `STRIDE_ABORT_PUBLISH_AFTER=<step>`: the process aborts once that step of a
/// publish is done: a mart's files (its name), the sync table's (`_stride_sync`),
/// the switch of `current` (`current`).
pub const ABORT_PUBLISH_AFTER: &str = "STRIDE_ABORT_PUBLISH_AFTER";

/// Aborts the process when `hook` is set to `point`.
pub fn abort_at(hook: &str, point: &str) {
    if std::env::var(hook).is_ok_and(|v| v == point) {
        tracing::warn!("{hook}={point}: aborting the process");
        std::process::abort();
    }
}
