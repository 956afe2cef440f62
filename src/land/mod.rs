//! Landing raw change batches in the lake and finding what has landed (the checks
//! against the contracts are [`crate::quarantine`]'s).

mod inventory;
mod writer;

pub use inventory::{Inventory, LandedFile, Stray, inventory, landed_files, strays_outside_tables};
pub use writer::{batch_folder, put_parquet};
