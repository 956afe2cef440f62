//! `stride optimize` and `stride vacuum`: table maintenance under the lake's lock.

use super::{Checked, Exit, Globals};

/// The arguments of `stride optimize`.
#[derive(Debug, clap::Args)]
pub struct OptimizeArgs {
    /// Only these models (see `run --select`).
    #[arg(long, short, value_name = "SEL")]
    select: Option<String>,
}

/// The arguments of `stride vacuum`.
#[derive(Debug, clap::Args)]
pub struct VacuumArgs {
    /// Keep every file a version from the last N hours reads (Delta's default is
    /// 168, a week); older versions can no longer be read afterwards.
    #[arg(long, default_value_t = 168, value_name = "N")]
    retain_hours: u64,
    /// Only these models (see `run --select`).
    #[arg(long, short, value_name = "SEL")]
    select: Option<String>,
}

/// Compacts the selected tables' small files.
pub async fn optimize(args: OptimizeArgs, globals: &Globals) -> anyhow::Result<Exit> {
    let lakehouse = globals.lakehouse(Checked::No).await?;
    lakehouse.optimize(args.select.as_deref()).await?;
    Ok(Exit::Success)
}

/// Deletes the files no recent version reads.
pub async fn vacuum(args: VacuumArgs, globals: &Globals) -> anyhow::Result<Exit> {
    let lakehouse = globals.lakehouse(Checked::No).await?;
    lakehouse
        .vacuum(args.select.as_deref(), args.retain_hours)
        .await?;
    Ok(Exit::Success)
}
