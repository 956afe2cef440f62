//! Why a run did not succeed, and whether trying again can help: a store that did
//! not answer, throttled or broke off is transient (retried with backoff); a
//! contract violation, a model's SQL or a bad setting is not (the same input gives
//! the same failure).

use crate::error::Error;

/// How a run ended without success.
#[derive(Debug, thiserror::Error)]
pub enum RunFailure {
    /// Another process holds the lake's lock: nothing was run.
    #[error(transparent)]
    Busy(Error),
    /// The checks or a model failed.
    #[error("run on {lake}")]
    Run {
        /// The lake's URL.
        lake: String,
        /// What failed.
        #[source]
        source: Error,
    },
    /// The models are committed; publishing them failed.
    #[error("the run's models are committed; `stride sync` publishes them")]
    Publish(#[source] Error),
    /// The run's record could not be written, so it did not start.
    #[error("run history: the run's record could not be written, so it did not start")]
    Record(#[source] Error),
    /// A shutdown stopped it.
    #[error("canceled: stride serve was stopped during the run")]
    Canceled,
}

/// The kinds a record's `error_kind` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Worth another attempt.
    Transient,
    /// The same input fails the same way.
    Permanent,
    /// The lake was busy.
    Busy,
    /// Stopped by a shutdown.
    Canceled,
}

impl FailureKind {
    /// Its name in records.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Transient => "transient",
            FailureKind::Permanent => "permanent",
            FailureKind::Busy => "busy",
            FailureKind::Canceled => "canceled",
        }
    }
}

impl RunFailure {
    /// Whether trying again can help.
    pub fn kind(&self) -> FailureKind {
        match self {
            RunFailure::Busy(_) => FailureKind::Busy,
            RunFailure::Canceled => FailureKind::Canceled,
            RunFailure::Run { source, .. }
            | RunFailure::Publish(source)
            | RunFailure::Record(source) => {
                if is_transient(source) {
                    FailureKind::Transient
                } else {
                    FailureKind::Permanent
                }
            }
        }
    }
}

/// Whether `error` comes from the store or the network rather than from the input,
/// the project or the settings.
pub fn is_transient(error: &Error) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    let mut transient = false;
    while let Some(e) = current {
        // A model's error holds its cause boxed, and the box is what the chain shows.
        let ours = e
            .downcast_ref::<Error>()
            .or_else(|| e.downcast_ref::<Box<Error>>().map(|b| &**b));
        if let Some(ours) = ours {
            match ours {
                Error::ContractViolation { .. }
                | Error::Contract { .. }
                | Error::ModelFile { .. }
                | Error::Setting { .. }
                | Error::Select(_)
                | Error::UnknownModel(_)
                | Error::Schema(_)
                | Error::RawFile { .. }
                | Error::LakeLocation { .. } => return false,
                Error::Unreachable { .. } | Error::CommitRace | Error::Task(_) => transient = true,
                _ => {}
            }
        }
        if let Some(store) = e.downcast_ref::<object_store::Error>() {
            transient |= !matches!(
                store,
                object_store::Error::NotFound { .. }
                    | object_store::Error::AlreadyExists { .. }
                    | object_store::Error::InvalidPath { .. }
                    | object_store::Error::NotSupported { .. }
                    | object_store::Error::NotImplemented { .. }
                    | object_store::Error::UnknownConfigurationKey { .. }
                    | object_store::Error::PermissionDenied { .. }
                    | object_store::Error::Unauthenticated { .. }
            );
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            transient |= matches!(
                io.kind(),
                ConnectionRefused
                    | ConnectionReset
                    | ConnectionAborted
                    | NotConnected
                    | TimedOut
                    | BrokenPipe
                    | UnexpectedEof
                    | Interrupted
                    | WouldBlock
            );
        }
        transient |= looks_like_the_network(&e.to_string());
        current = e.source();
    }
    transient
}

/// Errors that reach stride only as text (wrapped by a library that keeps no
/// source) still say what happened.
fn looks_like_the_network(text: &str) -> bool {
    const SIGNS: [&str; 10] = [
        "connection refused",
        "connection reset",
        "error sending request",
        "timed out",
        "operation timed out",
        "dns error",
        "broken pipe",
        "service unavailable",
        "slowdown",
        "too many requests",
    ];
    let text = text.to_ascii_lowercase();
    SIGNS.iter().any(|s| text.contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_contract_violation_is_not_retried_even_when_its_text_mentions_the_network() {
        let violation = Error::in_model(
            "fct_orders",
            Error::ContractViolation {
                file: "data_contracts/fct_orders.toml".into(),
                problem: "order_id not_null: 3 rows (sample: connection refused)".into(),
            },
        );
        assert!(!is_transient(&violation));
    }

    #[test]
    fn a_store_that_does_not_answer_is_retried() {
        let down = Error::Store {
            path: "s3://lake/_stride/runs/x.json".into(),
            source: object_store::Error::Generic {
                store: "S3",
                source: Box::new(std::io::Error::new(
                    std::io::ErrorKind::ConnectionRefused,
                    "tcp connect error",
                )),
            },
        };
        assert!(is_transient(&Error::in_model("stg_orders", down)));
        let bad_sql = Error::in_model(
            "stg_orders",
            Error::ModelFile {
                file: "queries/stg_orders.sql".into(),
                problem: "syntax error".into(),
            },
        );
        assert!(!is_transient(&bad_sql));
    }
}
