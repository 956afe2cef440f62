//! `stride run`: one recorded run (trigger `cli`), then, unless `--no-sync`, the
//! publish of the marts under the same lake lock.

use std::path::PathBuf;

use super::{Checked, Exit, Globals};
use crate::cluster::{self, Cluster};
use crate::ops::RunSpec;
use crate::publish::DEFAULT_DUCKDB;
use crate::run_history::{RunRequest, Trigger};

/// The arguments of `stride run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Rebuild the models (the selected ones and everything downstream of them)
    /// from all landed batches instead of applying what changed.
    #[arg(long)]
    full_refresh: bool,
    /// Only these models: names, `+model` (and what it reads), `model+` (and
    /// what reads it), separated by spaces or commas.
    #[arg(long, short, value_name = "SEL")]
    select: Option<String>,
    /// Do not publish the marts to the DuckDB file after the run.
    #[arg(long)]
    no_sync: bool,
    /// The DuckDB file the marts are published to.
    #[arg(long, env = "STRIDE_DUCKDB", default_value = DEFAULT_DUCKDB, value_name = "PATH")]
    duckdb: PathBuf,
    /// Run the models' queries on this cluster (`stride cluster scheduler`);
    /// results come back here to be checked and committed.
    #[arg(long, env = "STRIDE_CLUSTER", value_name = "df://HOST:PORT")]
    cluster: Option<String>,
    /// With --cluster: a model whose query has not begun to return rows after
    /// this many seconds fails (0: no limit).
    #[arg(long, env = "STRIDE_CLUSTER_TIMEOUT", value_name = "SECONDS",
          default_value_t = cluster::DEFAULT_QUERY_TIMEOUT_SECS)]
    cluster_timeout: u64,
}

/// The cluster `--cluster` names, checked to be listening, with the time its
/// queries may take to begin returning rows (`timeout_secs`, 0: no limit); `None`
/// without one.
pub(super) async fn connect(
    address: Option<&str>,
    timeout_secs: u64,
) -> anyhow::Result<Option<Cluster>> {
    let Some(address) = address.filter(|a| !a.is_empty()) else {
        return Ok(None);
    };
    let timeout = (timeout_secs > 0).then(|| std::time::Duration::from_secs(timeout_secs));
    let cluster = Cluster::connect(address)?.with_timeout(timeout);
    cluster.check_reachable().await?;
    tracing::info!(
        "models' queries run on the cluster at {}",
        cluster.address()
    );
    Ok(Some(cluster))
}

/// Makes the run; its failure is the command's error.
pub async fn run(args: RunArgs, globals: &Globals) -> anyhow::Result<Exit> {
    let lakehouse = globals
        .lakehouse(Checked::Yes)
        .await?
        .publishing_to((!args.no_sync).then_some(args.duckdb))
        .on_cluster(connect(args.cluster.as_deref(), args.cluster_timeout).await?);
    let request = RunRequest {
        select: args.select,
        full_refresh: args.full_refresh,
    };
    let finished = lakehouse
        .run(RunSpec::new(Trigger::Cli, request), None)
        .await;
    finished.result?;
    Ok(Exit::Success)
}
