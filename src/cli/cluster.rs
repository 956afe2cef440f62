//! `stride cluster scheduler|executor`: a role of a cluster, run until interrupted.
//! The roles need no lake of their own: plans name the files they read.

use std::path::PathBuf;

use anyhow::Context;

use super::{Exit, Globals};
use crate::cluster::{self, ExecutorOptions, SchedulerOptions};
use crate::config::S3Settings;

/// The roles of a cluster. Each role reaches the lake itself: a local lake must be
/// at the same path for every process; an S3 lake is reached with the process's
/// own `AWS_*` variables or config file (no credentials travel with a query).
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ClusterRole {
    /// The scheduler: plans the queries clients send and hands out their tasks.
    Scheduler {
        /// Where to listen for clients and executors.
        #[arg(long, default_value = "127.0.0.1:50050", value_name = "HOST:PORT")]
        bind: std::net::SocketAddr,
        /// Seconds after which an executor that stopped asking for work is taken
        /// for dead and its tasks are run again on the others.
        #[arg(long, default_value_t = 30, value_name = "SECS")]
        executor_timeout: u64,
    },
    /// An executor: runs tasks, serves their results over Arrow Flight.
    Executor(ExecutorArgs),
}

/// The arguments of `stride cluster executor`.
#[derive(Debug, Clone, clap::Args)]
pub struct ExecutorArgs {
    /// The scheduler's address.
    #[arg(long, value_name = "HOST:PORT")]
    scheduler: String,
    /// Where to serve results and shuffle data.
    #[arg(long, default_value = "127.0.0.1:50051", value_name = "HOST:PORT")]
    bind: std::net::SocketAddr,
    /// The host name the client and other executors reach this one by
    /// [default: the --bind host].
    #[arg(long, value_name = "HOST")]
    external_host: Option<String>,
    /// Tasks at once [default: one per core].
    #[arg(long, default_value_t = 0, value_name = "N")]
    vcores: usize,
    /// Memory its tasks may use before they spill (4GiB, 512MiB)
    /// [default: 70% of the machine's].
    #[arg(long, value_name = "SIZE", value_parser = cluster::parse_size)]
    memory: Option<u64>,
    /// Where shuffle files and spills go [default: a folder under the
    /// system's temporary folder].
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,
    /// This executor's id at the scheduler [default: a random one].
    #[arg(long)]
    id: Option<String>,
}

impl ExecutorArgs {
    /// The executor's options, reaching the lake with `s3`.
    fn resolve(self, s3: S3Settings) -> anyhow::Result<ExecutorOptions> {
        let work_dir = self.work_dir.unwrap_or_else(|| {
            std::env::temp_dir().join(format!("stride-executor-{}", self.bind.port()))
        });
        Ok(ExecutorOptions {
            scheduler: cluster::parse_address(&self.scheduler).context("--scheduler")?,
            bind: self.bind,
            external_host: self.external_host,
            vcores: self.vcores,
            memory: self.memory,
            work_dir,
            id: self.id,
            s3,
        })
    }
}

/// Runs the role until interrupted.
pub async fn cluster(role: ClusterRole, globals: &Globals) -> anyhow::Result<Exit> {
    let s3 = globals.settings()?.s3;
    match role {
        ClusterRole::Scheduler {
            bind,
            executor_timeout,
        } => {
            let options = SchedulerOptions {
                bind,
                executor_timeout_secs: executor_timeout,
                s3,
            };
            cluster::run_scheduler(options).await?;
        }
        ClusterRole::Executor(args) => {
            let options = args.resolve(s3)?;
            cluster::run_executor(options).await?;
        }
    }
    Ok(Exit::Success)
}
