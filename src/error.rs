//! The typed errors of the stride library. Each variant names the file, model or
//! setting at fault, so the one-line message at the CLI edge says where to look.

use thiserror::Error;

/// Anything that can go wrong inside stride.
#[derive(Debug, Error)]
pub enum Error {
    /// The lake location (`--lake`, `STRIDE_LAKE`) cannot be used.
    #[error("lake location `{location}`: {reason}")]
    LakeLocation { location: String, reason: String },

    /// The lake's store cannot be used at all (endpoint, credentials, bucket).
    #[error("lake {lake}: {problem}")]
    Unreachable { lake: String, problem: String },

    /// Reading or writing an object in the lake failed.
    #[error("object store, {path}")]
    Store {
        path: String,
        #[source]
        source: object_store::Error,
    },

    /// A raw file does not follow SPEC section 2.
    #[error("raw file {file}: {problem}")]
    RawFile { file: String, problem: String },

    /// A model file under `queries/` cannot be parsed, rendered or placed in the graph.
    #[error("model file {file}: {problem}")]
    ModelFile { file: String, problem: String },

    /// A model failed while it was planned, executed or committed.
    #[error("model {model}")]
    Model {
        model: String,
        #[source]
        source: Box<Error>,
    },

    /// A contract file under `data_contracts/` cannot be read or does not fit the
    /// tables it guards.
    #[error("contract file {file}: {problem}")]
    Contract { file: String, problem: String },

    /// A model's result broke an `error` rule of its contract; it was not committed.
    #[error("contract {file}: {problem} (not committed; the models that read it were skipped)")]
    ContractViolation { file: String, problem: String },

    /// A model was asked for that the project does not have.
    #[error("unknown model `{0}`")]
    UnknownModel(String),

    /// `stride generate` cannot continue the lake as asked.
    #[error("generate: {0}")]
    Generate(String),

    /// A setting (flag, environment variable or config file entry) is invalid.
    #[error("setting {setting}: {reason}")]
    Setting { setting: String, reason: String },

    /// Another process is changing the lake.
    #[error("lake is locked: {0}")]
    Locked(String),

    /// A cluster role (scheduler, executor) failed, or a query sent to the cluster.
    #[error("cluster: {0}")]
    Cluster(String),

    /// Another writer committed the table version this commit was to create.
    #[error(
        "another writer committed to this table first; this run's commit was not made \
         (nothing of it is visible) and the next run redoes it"
    )]
    CommitRace,

    /// A model's result does not fit its table (a column, a type, a value that does
    /// not fit); it is not written.
    #[error("the result does not fit the table: {0}; nothing was written")]
    Schema(String),

    /// A `--select` expression names nothing or cannot be parsed.
    #[error("--select: {0}")]
    Select(String),

    /// A time-travel request cannot be served.
    #[error("time travel: {0}")]
    TimeTravel(String),

    /// `stride verify` cannot rebuild or compare the tables as asked.
    #[error("verify: {0}")]
    Verify(String),

    /// `stride diff` cannot compare the versions asked for.
    #[error("diff: {0}")]
    Diff(String),

    /// Two states of a table cannot be compared (a key column is missing).
    #[error("compare {0}")]
    Compare(String),

    /// A model's task ended without a result (it panicked or was cancelled).
    #[error("a model task stopped unexpectedly: {0}")]
    Task(String),

    /// Publishing the marts to the DuckDB file failed; readers are served a complete
    /// publish (the one before, unless the failure came after the switch to this one).
    #[error("publish to {file}: {problem} (nothing half-written is served)")]
    Publish { file: String, problem: String },

    /// The published DuckDB file cannot be opened or read.
    #[error("DuckDB file {file}: {problem}")]
    DuckDbFile { file: String, problem: String },

    /// `stride bench` cannot set up a suite, read a report, or write its output.
    #[error("bench: {0}")]
    Bench(String),

    /// A query given on the command line failed.
    #[error("query")]
    Query(#[source] Box<Error>),

    #[error(transparent)]
    DataFusion(#[from] datafusion::error::DataFusionError),

    #[error(transparent)]
    Delta(#[from] deltalake::DeltaTableError),

    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),

    #[error(transparent)]
    Parquet(#[from] parquet::errors::ParquetError),

    #[error(transparent)]
    Json(#[from] serde_json::Error),

    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The result type of the stride library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an error that happened while working on `model`.
    pub fn in_model(model: &str, source: impl Into<Error>) -> Error {
        let source = match source.into() {
            // stride commits with no delta-rs retries (it holds the lake lock, so a
            // taken version means a foreign writer or a commit of ours that landed
            // although its answer was lost); delta-rs reports that as "0 attempts".
            Error::Delta(deltalake::DeltaTableError::Transaction {
                source: deltalake::kernel::transaction::TransactionError::MaxCommitAttempts(_),
            }) => Error::CommitRace,
            other => other,
        };
        Error::Model {
            model: model.to_string(),
            source: Box::new(source),
        }
    }
}

/// `error` and its causes, outermost first.
pub fn causes<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(error), |e| e.source())
}

/// An error and its causes on one line, outermost first (the CLI's `error:` line,
/// a run record's error, the API's answers). Libraries often repeat their source's
/// text in their own message; a cause already said is not said twice.
pub fn one_line(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = String::new();
    for e in causes(error) {
        let text = e.to_string().replace('\n', " ");
        if !text.is_empty() && !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
    }
    line
}

/// [`one_line`] of a model's error without its first `model X:`, for lines that
/// name the model already.
pub fn one_line_in_model(error: &Error) -> String {
    match error {
        Error::Model { source, .. } => one_line(source.as_ref()),
        other => one_line(other),
    }
}
