//! `stride quarantine list|replay`: what the source contracts set aside, and its
//! replay.

use super::emit::emit;
use super::{Checked, Exit, Globals};
use crate::output::Format;
use crate::quarantine;

/// `stride quarantine` actions.
#[derive(Debug, clap::Subcommand)]
pub enum QuarantineAction {
    /// Per landed file with quarantined or redelivered rows, or refused whole: rows
    /// read, loaded, quarantined, redelivered (skipped), and why; and every stray
    /// file in the raw area, which no table reads.
    List {
        /// Only this raw table.
        #[arg(long)]
        table: Option<String>,
        /// Every checked file, clean ones too.
        #[arg(long)]
        all: bool,
        /// How to print the list: table, csv or json.
        #[arg(long, value_enum, default_value_t = Format::Table, hide_possible_values = true)]
        format: Format,
    },
    /// Judge the quarantined rows and refused files again with the contracts as they
    /// are now; what passes is loaded by the next run.
    Replay {
        /// Only this raw table.
        #[arg(long)]
        table: Option<String>,
    },
}

/// Lists the quarantine (the contracts alone say which tables there are), or
/// replays it under the lake's lock.
pub async fn quarantine(action: QuarantineAction, globals: &Globals) -> anyhow::Result<Exit> {
    match action {
        QuarantineAction::List { table, all, format } => {
            let lake = globals.lake().await?;
            let contracts = globals.contracts()?;
            let sources = contracts.sources();
            let ledgers = quarantine::ledgers(&lake, sources, table.as_deref()).await?;
            let strays = quarantine::strays(&lake, sources, table.as_deref()).await?;
            emit(
                &[quarantine::list_batch(&ledgers, &strays, all)?][..],
                format,
            )?;
        }
        QuarantineAction::Replay { table } => {
            let lakehouse = globals.lakehouse(Checked::Yes).await?;
            lakehouse.replay(table.as_deref()).await?;
        }
    }
    Ok(Exit::Success)
}
