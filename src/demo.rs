//! `stride demo`: the main job on the embedded lake. Generates 30 days at scale 1 if
//! the lake is empty, runs every model, and prints the headline answers from the
//! saved analyses in `queries/analyses/`, and, when the data contracts set rows or
//! files aside, how many per table.

use anyhow::Context;

use crate::delta::AsOf;
use crate::engine;
use crate::generate::{self, Request};
use crate::ops::{self, Lakehouse, RunSpec};
use crate::output;
use crate::quarantine;
use crate::run_history::{RunRequest, Trigger};

/// The analyses the demo prints, with their titles.
const HEADLINES: [(&str, &str); 4] = [
    (
        "revenue_by_channel_last_7_days",
        "Attributed revenue by channel, last 7 days, under each attribution model",
    ),
    (
        "channel_share_data_driven",
        "Each channel's share of conversions: last touch beside the data-driven models",
    ),
    (
        "top_campaigns_by_roas",
        "Top 10 campaigns by ROAS (linear attribution)",
    ),
    (
        "acquisition_channel_ltv",
        "Customer lifetime value by acquisition channel",
    ),
];

/// Runs the demo on the lakehouse's lake (a recorded run, trigger `cli`).
pub async fn demo(lakehouse: &Lakehouse, faults: Option<f64>) -> anyhow::Result<()> {
    let (lake, project, contracts) = (&lakehouse.lake, &lakehouse.project, &lakehouse.contracts);
    if !generate::lake_has_raw_data(lake).await? {
        tracing::info!("{} is empty: generating 30 days at scale 1", lake.url());
        let request = Request {
            days: 30,
            faults,
            ..Request::default()
        };
        ops::generate(lake, &request)
            .await
            .with_context(|| format!("generate into {}", lake.url()))?;
    }
    let run = RunSpec::new(Trigger::Cli, RunRequest::default());
    lakehouse.run(run, None).await.result?;
    let session = engine::query_session(lake, project, AsOf::Latest).await?;
    for (name, title) in HEADLINES {
        let analysis = project
            .analysis(name)
            .with_context(|| format!("analysis queries/analyses/{name}.sql is missing"))?;
        let sql = analysis.render()?;
        let batches = engine::query(&session, &sql)
            .await
            .with_context(|| format!("analysis {}", analysis.file))?;
        println!("\n{title}\n{}", output::table(&batches)?);
    }
    let ledgers = quarantine::ledgers(lake, contracts.sources(), None).await?;
    if ledgers
        .iter()
        .any(|l| l.files.values().any(|e| e.rows_quarantined > 0))
    {
        println!(
            "\nWhat the data contracts set aside (`stride quarantine list` for each file)\n{}",
            output::table(&[quarantine::summary_batch(&ledgers)?])?
        );
    }
    Ok(())
}
