//! What has landed: every raw Parquet file under `raw/<table>/`, with its batch date.

use chrono::NaiveDate;
use object_store::path::Path;

use crate::error::{Error, Result};
use crate::lake::{Lake, RAW};
use crate::sources::{PARTITION_COLUMN, SourceTable, Sources};

/// One landed raw file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LandedFile {
    /// The raw table it belongs to.
    pub table: String,
    /// Its `batch_date` partition.
    pub batch_date: NaiveDate,
    /// Its path in the lake's store.
    pub path: Path,
    /// Its size in bytes.
    pub size: u64,
}

/// A file in the raw area that is not part of any raw table, so nothing reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stray {
    /// The raw table whose folder holds it (`None` outside every table's folder).
    pub table: Option<String>,
    /// Its path relative to the lake root.
    pub path: String,
    /// Why it is not read.
    pub reason: String,
}

/// What one raw table's folder holds: its landed files, and the strays.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    /// The landed Parquet files, sorted by batch date and path.
    pub files: Vec<LandedFile>,
    /// Files that are not `batch_date=YYYY-MM-DD/*.parquet` (hidden ones left aside).
    pub strays: Vec<Stray>,
}

/// Lists the landed Parquet files of `table`, sorted by batch date and path.
/// Files outside a `batch_date=YYYY-MM-DD` folder and files not ending in
/// `.parquet` are not part of the table: they are strays, reported, never read.
/// Hidden files and folders (`.` or `_` first, as Spark's `_SUCCESS`) are left
/// aside without a word, like Hive readers do.
pub async fn landed_files(lake: &Lake, table: &SourceTable) -> Result<Vec<LandedFile>> {
    Ok(inventory(lake, table).await?.files)
}

/// [`landed_files`] and the strays of `table`'s folder.
pub async fn inventory(lake: &Lake, table: &SourceTable) -> Result<Inventory> {
    let folder = format!("{RAW}/{}", table.name);
    let prefix = lake.path(&folder);
    let objects = lake.list(&folder).await?;
    let mut inventory = Inventory::default();
    for meta in objects {
        let parts: Vec<String> = meta
            .location
            .prefix_match(&prefix)
            .map(|parts| parts.map(|p| p.as_ref().to_string()).collect())
            .unwrap_or_default();
        if parts.iter().any(|p| p.starts_with(['.', '_'])) {
            continue;
        }
        match batch_date_of(&parts) {
            Ok(batch_date) => inventory.files.push(LandedFile {
                table: table.name.clone(),
                batch_date,
                path: meta.location,
                size: meta.size,
            }),
            Err(reason) => inventory.strays.push(Stray {
                table: Some(table.name.clone()),
                path: lake.relative(&meta.location),
                reason,
            }),
        }
    }
    inventory
        .files
        .sort_by(|a, b| (a.batch_date, &a.path).cmp(&(b.batch_date, &b.path)));
    Ok(inventory)
}

/// The batch date of a file at `parts` under its table's folder, or why it is not
/// a landed file: it must be `batch_date=YYYY-MM-DD/<name>.parquet`.
fn batch_date_of(parts: &[String]) -> std::result::Result<NaiveDate, String> {
    let expected = format!("not `{PARTITION_COLUMN}=YYYY-MM-DD/<name>.parquet`");
    let [folder, file] = parts else {
        return Err(format!("{expected}: not one folder below the table's"));
    };
    if !file.ends_with(".parquet") {
        return Err(format!("{expected}: not a .parquet file"));
    }
    folder
        .strip_prefix(&format!("{PARTITION_COLUMN}="))
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .ok_or_else(|| format!("{expected}: `{folder}` is not a batch folder"))
}

/// The entries right under `raw/` that are not the folder of one of `sources` (a
/// misspelt table, a file dropped at the top, a table no contract declares):
/// nothing reads them.
pub async fn strays_outside_tables(lake: &Lake, sources: &Sources) -> Result<Vec<Stray>> {
    let prefix = lake.path(RAW);
    let listing = lake
        .store()
        .list_with_delimiter(Some(&prefix))
        .await
        .map_err(|source| Error::Store {
            path: lake.object_url(&prefix),
            source,
        })?;
    let tables: Vec<&str> = sources.iter().map(|t| t.name.as_str()).collect();
    let folders = listing.common_prefixes.into_iter().map(|p| (p, true));
    let files = listing.objects.into_iter().map(|o| (o.location, false));
    Ok(folders
        .chain(files)
        .filter_map(|(path, folder)| {
            let name = path.filename()?.to_string();
            if name.starts_with(['.', '_']) || (folder && tables.contains(&name.as_str())) {
                return None;
            }
            let what = if folder { "folder" } else { "file" };
            Some(Stray {
                table: None,
                path: lake.relative(&path) + if folder { "/" } else { "" },
                reason: format!(
                    "a {what} outside every raw table's folder (raw/<table>/ for {})",
                    tables.join(", ")
                ),
            })
        })
        .collect())
}
