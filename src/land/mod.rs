//! Landing raw change batches in the lake, finding what has landed, and checking
//! that each landed file is a Parquet file that follows SPEC section 2.

mod inventory;
mod validate;
mod writer;

pub use inventory::{LandedFile, landed_files};
pub use validate::validate_files;
pub use writer::{batch_folder, put_parquet};
