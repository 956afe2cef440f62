//! The operations on a lake that the command line, the demo and `stride serve`
//! share, as methods of one [`Lakehouse`]: a recorded run (its record, the lake's
//! lock, checks, models, publish), the other changes made under the lake's lock
//! (`sync`, quarantine replay, optimize, vacuum), and the reads that answer
//! questions about it (verify, test, diff). Landing generated batches needs no
//! project, so [`generate`] takes the lake alone.

mod diff;
mod failure;
pub(crate) mod report;
mod run;

pub use diff::DiffBuilder;
pub use failure::{FailureKind, RunFailure, is_transient};
pub use run::{Cancel, Finished, RunSpec};

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::cluster::Cluster;
use crate::compare::{self, RunDiff, Verification};
use crate::contracts::{Contracts, RuleOutcome};
use crate::engine::{self, Maintained};
use crate::error::{Error, Result};
use crate::generate::{self, Request};
use crate::lake::{Lake, LakeLock};
use crate::models::Project;
use crate::quarantine::{self, Replayed};

/// A lake with the SQL project and the data contracts that shape it: what every
/// operation works on. Also where a run publishes its marts (`None`: not
/// published) and the cluster its queries run on (`None`: in this process).
#[derive(Debug, Clone)]
pub struct Lakehouse {
    /// The lake.
    pub lake: Lake,
    /// The SQL project.
    pub project: Project,
    /// The data contracts.
    pub contracts: Contracts,
    /// Where the marts are published after a run, and the file `verify` checks.
    pub publish_to: Option<PathBuf>,
    /// The cluster the models' queries run on (`None`: in this process).
    pub cluster: Option<Cluster>,
}

impl Lakehouse {
    /// The lake with its project and contracts; nothing published, no cluster.
    pub fn new(lake: Lake, project: Project, contracts: Contracts) -> Lakehouse {
        Lakehouse {
            lake,
            project,
            contracts,
            publish_to: None,
            cluster: None,
        }
    }

    /// The same, publishing the marts to `file` after each run (`None`: not).
    pub fn publishing_to(mut self, file: Option<PathBuf>) -> Lakehouse {
        self.publish_to = file;
        self
    }

    /// The same, running the models' queries on `cluster` (`None`: here).
    pub fn on_cluster(mut self, cluster: Option<Cluster>) -> Lakehouse {
        self.cluster = cluster;
        self
    }

    /// Publishes the marts to `file` under the lake's lock (`stride sync`).
    pub async fn sync(&self, file: &Path) -> Result<()> {
        let published = under_lock(&self.lake, "stride sync", Error::from, async |_| {
            crate::publish::publish(&self.lake, &self.project, file).await
        })
        .await?;
        report::publish(&published);
        Ok(())
    }

    /// Judges the quarantined rows and refused files again with the contracts as
    /// they are now, under the lake's lock (`stride quarantine replay`).
    pub async fn replay(&self, only: Option<&str>) -> Result<Vec<Replayed>> {
        let replayed = under_lock(
            &self.lake,
            "stride quarantine replay",
            Error::from,
            async |_| quarantine::replay(&self.lake, &self.contracts, only).await,
        )
        .await?;
        report::replayed(&replayed);
        Ok(replayed)
    }

    /// Compacts the small files of the selected models' tables (`stride optimize`).
    pub async fn optimize(&self, select: Option<&str>) -> Result<Vec<Maintained>> {
        let done = under_lock(&self.lake, "stride optimize", Error::from, async |lock| {
            engine::optimize(&self.lake, &self.project, select, lock).await
        })
        .await?;
        report::compacted(&done);
        Ok(done)
    }

    /// Deletes the files no version from the last `retain_hours` hours reads, and
    /// what a verify that stopped early left (`stride vacuum`).
    pub async fn vacuum(&self, select: Option<&str>, retain_hours: u64) -> Result<Vec<Maintained>> {
        let done = under_lock(&self.lake, "stride vacuum", Error::from, async |lock| {
            engine::vacuum(&self.lake, &self.project, select, retain_hours, lock).await
        })
        .await?;
        report::vacuumed(&done);
        Ok(done)
    }

    /// Proves the selected models equal a rebuild from the raw files they consumed,
    /// and the marts served in the publish file equal the versions they claim
    /// (`stride verify`; its own lock, so runs go on meanwhile).
    pub async fn verify(&self, select: Option<&str>, examples: usize) -> Result<Verification> {
        compare::verify(
            &self.lake,
            &self.project,
            &self.contracts,
            select,
            examples,
            self.publish_to.as_deref(),
        )
        .await
    }

    /// Runs the data contracts `select` picks on the current tables and keeps the
    /// outcomes for the model pages (`stride test`). The outcomes stand even when
    /// the lake does not take them: that is logged, not failed.
    pub async fn test(&self, select: Option<&str>) -> Result<Vec<RuleOutcome>> {
        let outcomes = engine::test(&self.lake, &self.project, &self.contracts, select).await?;
        if let Err(e) = engine::save_test(&self.lake, &outcomes, self.project.sources()).await {
            tracing::warn!("the test outcomes were not kept in the lake: {e}");
        }
        Ok(outcomes)
    }

    /// What changed in `model` between two versions: set them on the builder, then
    /// await it (`stride diff MODEL`).
    pub fn diff<'a>(&'a self, model: &'a str) -> DiffBuilder<'a> {
        DiffBuilder::new(self, model)
    }

    /// What the run `run_id` changed in each mart it committed (`stride diff --run`).
    pub async fn diff_run(&self, run_id: &str, examples: usize) -> Result<RunDiff> {
        compare::diff_run(&self.lake, &self.project, &self.contracts, run_id, examples).await
    }
}

/// Lands the next batches under the lake's lock and logs what landed (`stride
/// generate`).
pub async fn generate(lake: &Lake, request: &Request) -> Result<generate::Report> {
    let started = Instant::now();
    let report = under_lock(lake, "stride generate", Error::from, async |lock| {
        generate::generate(lake, request, lock).await
    })
    .await?;
    report::landed(&report, started.elapsed());
    Ok(report)
}

/// Takes the lake's lock for `command`, does `work` under it (the lock is the
/// proof the engine asks for) and releases it whatever happened. The work's own
/// error comes first; a release that fails after it is logged. `failed` turns
/// the lock's errors into the caller's (a run reports a held lock as busy).
pub(crate) async fn under_lock<T, E>(
    lake: &Lake,
    command: &str,
    failed: impl Fn(Error) -> E,
    work: impl AsyncFnOnce(&LakeLock) -> std::result::Result<T, E>,
) -> std::result::Result<T, E> {
    let lock = LakeLock::acquire(lake, command).await.map_err(&failed)?;
    let done = work(&lock).await;
    let released = lock.release().await;
    match (done, released) {
        (Ok(done), Ok(())) => Ok(done),
        (Ok(_), Err(e)) => Err(failed(e)),
        (Err(e), released) => {
            if let Err(release) = released {
                tracing::warn!("{release}");
            }
            Err(e)
        }
    }
}
