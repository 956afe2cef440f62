//! The cluster's roles, run by this same binary so every role has the same
//! DataFusion, the same functions and stride's codecs: `stride cluster scheduler`
//! plans what clients send and hands out tasks; `stride cluster executor` runs
//! them, reading the lake itself ([`LakeStores`]).
//!
//! Executors ask the scheduler for work (Ballista's pull mode): they need no port
//! of their own but the Arrow Flight one that serves their results.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use ballista_core::config::TaskSchedulingPolicy;
use ballista_core::extension::{
    ballista_aggregate_functions, ballista_scalar_functions, ballista_window_functions,
};
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::{SchedulerConfig, TaskDistributionPolicy};
use ballista_scheduler::scheduler_process::start_server;
use datafusion::execution::SessionState;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::prelude::SessionConfig;

use super::client::cluster_config;
use super::codec::{StrideLogicalCodec, StridePhysicalCodec};
use super::stores::LakeStores;
use crate::config::S3Settings;
use crate::error::{Error, Result};

/// The largest gRPC message between the roles and clients (Ballista's default is
/// 16 MiB): a plan may carry a change feed as rows.
pub const PLAN_MESSAGE_BYTES: u32 = 256 << 20;

/// How to run the scheduler.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// Where it listens for clients and executors.
    pub bind: SocketAddr,
    /// An executor that has not asked for work for this long is taken for dead
    /// and its tasks are run again elsewhere.
    pub executor_timeout_secs: u64,
    /// How the scheduler itself reaches an S3 lake (it lists files while planning).
    pub s3: S3Settings,
}

/// How to run an executor.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler's host and port.
    pub scheduler: (String, u16),
    /// The address its Arrow Flight service listens on (results and shuffles).
    pub bind: SocketAddr,
    /// The host name others reach it by (default: the bind address's host).
    pub external_host: Option<String>,
    /// Tasks at once (0: one per core).
    pub vcores: usize,
    /// Memory its tasks may use before spilling, in bytes (`None`: Ballista's
    /// default, 70% of the machine's).
    pub memory: Option<u64>,
    /// Where shuffle files and spills go.
    pub work_dir: PathBuf,
    /// Its id at the scheduler (default: a random one).
    pub id: Option<String>,
    /// How it reaches an S3 lake.
    pub s3: S3Settings,
}

/// The functions every role knows: DataFusion's (with the nested ones, which
/// Ballista's default registry leaves out) and stride's.
fn role_state(config: SessionConfig, runtime: Arc<RuntimeEnv>) -> SessionState {
    let mut scalar = ballista_scalar_functions();
    scalar.push(Arc::new(crate::contracts::key_hash_udf()));
    let mut aggregate = ballista_aggregate_functions();
    aggregate.push(Arc::new(crate::data_driven::data_driven_attribution_udaf()));
    SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_optimizer_rules(ballista_core::optimizer::ballista_default_optimizer_rules())
        .with_scalar_functions(scalar)
        .with_aggregate_functions(aggregate)
        .with_window_functions(ballista_window_functions())
        .build()
}

fn cluster_error(role: &str, e: impl std::fmt::Display) -> Error {
    Error::Cluster(format!("{role}: {e}"))
}

/// Runs a scheduler until the process is interrupted.
pub async fn run_scheduler(options: SchedulerOptions) -> Result<()> {
    let runtime = RuntimeEnvBuilder::new()
        .with_object_store_registry(Arc::new(LakeStores::new(options.s3.clone())))
        .build_arc()?;
    let timeout = options.executor_timeout_secs.max(6);
    let config = SchedulerConfig {
        bind_host: options.bind.ip().to_string(),
        external_host: options.bind.ip().to_string(),
        bind_port: options.bind.port(),
        scheduling_policy: TaskSchedulingPolicy::PullStaged,
        // One task to each executor in turn, so a job uses every executor.
        task_distribution: TaskDistributionPolicy::RoundRobin,
        executor_timeout_seconds: timeout,
        expire_dead_executor_interval_seconds: 2,
        // A plan may carry a change feed (one run's changes of a model) as rows.
        grpc_server_max_decoding_message_size: PLAN_MESSAGE_BYTES,
        grpc_server_max_encoding_message_size: PLAN_MESSAGE_BYTES,
        grpc_client_max_message_size: PLAN_MESSAGE_BYTES,
        no_executors_grace_period_seconds: timeout,
        override_session_builder: Some(Arc::new(move |config| {
            Ok(role_state(config, Arc::clone(&runtime)))
        })),
        override_config_producer: Some(Arc::new(cluster_config)),
        override_logical_codec: Some(Arc::new(StrideLogicalCodec::default())),
        override_physical_codec: Some(Arc::new(StridePhysicalCodec::default())),
        ..SchedulerConfig::default()
    };
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(|e| cluster_error("scheduler", e))?;
    tracing::info!(
        "scheduler listening on df://{} (executors: stride cluster executor --scheduler {})",
        options.bind,
        options.bind
    );
    tokio::select! {
        served = start_server(cluster, options.bind, Arc::new(config)) => {
            served.map_err(|e| cluster_error(&format!("scheduler on {}", options.bind), e))
        }
        _ = tokio::signal::ctrl_c() => {
            tracing::info!("scheduler stopped");
            Ok(())
        }
    }
}

/// Runs an executor until the process is interrupted (or its scheduler asks it
/// to stop).
pub async fn run_executor(options: ExecutorOptions) -> Result<()> {
    std::fs::create_dir_all(&options.work_dir).map_err(|e| {
        Error::Io(std::io::Error::new(
            e.kind(),
            format!("work folder {}: {e}", options.work_dir.display()),
        ))
    })?;
    let work_dir = options.work_dir.display().to_string();
    let stores = Arc::new(LakeStores::new(options.s3.clone()));
    let functions_runtime = RuntimeEnvBuilder::new().build_arc()?;
    let functions =
        BallistaFunctionRegistry::from(&role_state(cluster_config(), functions_runtime));
    let runtime_dir = work_dir.clone();
    let (scheduler_host, scheduler_port) = options.scheduler.clone();
    let config = ExecutorProcessConfig {
        executor_id: options
            .id
            .clone()
            .unwrap_or_else(|| ExecutorProcessConfig::default().executor_id),
        bind_host: options.bind.ip().to_string(),
        external_host: Some(
            options
                .external_host
                .clone()
                .unwrap_or_else(|| options.bind.ip().to_string()),
        ),
        port: options.bind.port(),
        scheduler_host,
        scheduler_port,
        // Wait for a scheduler that is still starting.
        scheduler_connect_timeout_seconds: 30,
        vcores: options.vcores,
        task_scheduling_policy: TaskSchedulingPolicy::PullStaged,
        work_dir: Some(work_dir),
        memory_pool_size: options.memory,
        grpc_max_decoding_message_size: PLAN_MESSAGE_BYTES,
        grpc_max_encoding_message_size: PLAN_MESSAGE_BYTES,
        override_config_producer: Some(Arc::new(cluster_config)),
        override_runtime_producer: Some(Arc::new(move |_config| {
            RuntimeEnvBuilder::new()
                .with_object_store_registry(Arc::clone(&stores) as _)
                .with_temp_file_path(runtime_dir.clone())
                .build_arc()
        })),
        override_function_registry: Some(Arc::new(functions)),
        override_logical_codec: Some(Arc::new(StrideLogicalCodec::default())),
        override_physical_codec: Some(Arc::new(StridePhysicalCodec::default())),
        ..ExecutorProcessConfig::default()
    };
    tracing::info!(
        "executor {} serving on {} for the scheduler at df://{}:{}",
        config.executor_id,
        options.bind,
        options.scheduler.0,
        options.scheduler.1
    );
    start_executor_process(Arc::new(config))
        .await
        .map_err(|e| cluster_error(&format!("executor on {}", options.bind), e))
}

/// A size such as `4GiB`, `512MiB`, `2G` or `1048576` (bytes).
pub fn parse_size(text: &str) -> std::result::Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size (e.g. 4GiB, 512MiB)"))?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        other => return Err(format!("`{other}` is not a size unit (use KiB, MiB, GiB)")),
    };
    Ok((number * scale as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_read_with_binary_units() {
        assert_eq!(parse_size("4GiB"), Ok(4 << 30));
        assert_eq!(parse_size("512m"), Ok(512 << 20));
        assert_eq!(parse_size("1.5G"), Ok(3 << 29));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("4 parsecs").is_err());
    }
}
