//! Scale-out on Apache DataFusion Ballista: the same models planned by stride and
//! executed on a cluster of a scheduler and executors, all roles of this binary.
//!
//! - [`roles`]: `stride cluster scheduler` and `stride cluster executor`, each with
//!   stride's codecs, functions and lake access ([`stores`]).
//! - [`client`]: the session a run or a query sends its plans through, and the
//!   check of whether a plan can be sent at all.
//! - [`delta_scan`]: a scan of one Delta table version's active files that
//!   executors can run (deletion vectors applied there as Parquet row selections).
//! - [`change_feed`]: a table's change feed over a range of versions that
//!   executors can read (`changes()` of a stored model in an incremental run).
//! - [`codec`]: how those scans and in-memory tables cross the wire.

mod change_feed;
mod client;
mod codec;
mod delta_scan;
mod roles;
mod stores;

pub use change_feed::ChangeFeedScan;
pub use client::{Cluster, Placement};
pub use codec::{StrideLogicalCodec, StridePhysicalCodec};
pub use delta_scan::DeltaScan;
pub use roles::{ExecutorOptions, SchedulerOptions, parse_size, run_executor, run_scheduler};
pub use stores::LakeStores;

/// The scheduler's port when an address names none (Ballista's default).
pub const DEFAULT_SCHEDULER_PORT: u16 = 50050;

/// How long a query sent to a cluster may take to begin returning rows, in
/// seconds, unless told otherwise (`--cluster-timeout`): an hour, well above the
/// slowest model measured, and a bound on a job Ballista never ends.
pub const DEFAULT_QUERY_TIMEOUT_SECS: u64 = 3600;

/// The executor's Arrow Flight port when none is given (Ballista's default).
pub const DEFAULT_EXECUTOR_PORT: u16 = 50051;

/// Where a scheduler listens, from `df://host:port`, `http://host:port` or
/// `host:port` (the port defaults to [`DEFAULT_SCHEDULER_PORT`]).
pub fn parse_address(address: &str) -> crate::Result<(String, u16)> {
    let bad = |reason: &str| crate::Error::Setting {
        setting: "--cluster".to_string(),
        reason: format!("`{address}`: {reason} (expected df://HOST:PORT)"),
    };
    let rest = ["df://", "http://", "grpc://"]
        .iter()
        .find_map(|scheme| address.strip_prefix(scheme))
        .unwrap_or(address)
        .trim_end_matches('/');
    if rest.is_empty() || rest.contains('/') || rest.contains("://") {
        return Err(bad("not a scheduler address"));
    }
    match rest.rsplit_once(':') {
        Some((host, port)) => {
            let port = port.parse().map_err(|_| bad("the port is not a number"))?;
            if host.is_empty() {
                return Err(bad("no host"));
            }
            Ok((host.to_string(), port))
        }
        None => Ok((rest.to_string(), DEFAULT_SCHEDULER_PORT)),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_address;

    #[test]
    fn scheduler_addresses_are_read_with_or_without_scheme_and_port() {
        let read = |a: &str| parse_address(a).expect(a);
        assert_eq!(read("df://10.0.0.5:50050"), ("10.0.0.5".into(), 50050));
        assert_eq!(read("http://sched:7000/"), ("sched".into(), 7000));
        assert_eq!(read("localhost"), ("localhost".into(), 50050));
        for bad in ["df://", "df://host:port", "s3://bucket/x", ":50050"] {
            let error = parse_address(bad).expect_err(bad).to_string();
            assert!(
                error.contains("--cluster") && error.contains(bad),
                "{error}"
            );
        }
    }
}
