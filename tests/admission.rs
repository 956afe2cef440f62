//! Admission of change logs, as a class: seeded random change streams of
//! `raw.customers` (creates, updates, deletes; a change written twice into one
//! file, copied into other files, redelivered with a new `_seq`; conflicting copies
//! of one `_seq` in one file or in a later file; key conflicts and bad `_op`s that
//! the contract quarantines; late files; files removed and landed again), landed
//! in random file splits and run at random boundaries. After every run the staging
//! table must equal the current state worked out by a few lines here from the SPEC
//! (the greatest loaded `_seq` per key unless it deletes), and nothing may vanish:
//! per file, rows read = loaded + quarantined + redelivered, and the rows models
//! read of it are the rows its ledger says it loads.
//!
//! `STRIDE_ADMISSION_CASES` (default 300) sets how many cases the suite runs;
//! `benches/admission.sh` runs more.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use stride::config::S3Settings;
use stride::contracts::{Contracts, ContractsSource};
use stride::engine::{NoEvents, RunOptions, RunRequest, run_with_lock};
use stride::lake::{Lake, LakeLock};
use stride::models::{Project, ProjectSource};

const TABLE: &str = "customers";
const CITIES: [&str; 4] = ["London", "Paris", "Lyon", "Oslo"];
const TIERS: [&str; 4] = ["member", "silver", "gold", "platinum"];
/// 2026-01-01T00:00:00Z in microseconds.
const DAY_ONE: i64 = 1_767_225_600_000_000;
const DAY: i64 = 86_400_000_000;

/// One raw row of `customers` (the columns the test varies; the rest are fixed).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Change {
    op: &'static str,
    seq: i64,
    batch: i64,
    at: i64,
    customer: i64,
    city: &'static str,
    tier: &'static str,
}

/// One landed file: where, what, and when it is there.
#[derive(Debug, Clone)]
struct File {
    day: i64,
    name: String,
    rows: Vec<Change>,
    /// Landed before this run.
    lands: usize,
    /// Removed before this run (then landed again before the second, if any).
    removed: Option<(usize, Option<usize>)>,
}

impl File {
    fn present_at(&self, run: usize) -> bool {
        run >= self.lands
            && match self.removed {
                Some((gone, back)) => run < gone || back.is_some_and(|b| run >= b),
                None => true,
            }
    }

    fn key(&self) -> String {
        format!("batch_date={}/{}", date_of(self.day), self.name)
    }
}

/// A case: its files, how many runs, and what the reference needs to know.
#[derive(Debug)]
struct Case {
    files: Vec<File>,
    runs: usize,
    /// The `_seq`s delivered again with other values in a later run, with their
    /// first delivery (which stays loaded: its file is never removed).
    first_delivery: BTreeMap<i64, Change>,
    /// `_seq`s the contract or the admission quarantines wherever they come:
    /// copies in one file that differ, key conflicts, bad `_op`s.
    never_loaded: BTreeSet<i64>,
}

fn date_of(day: i64) -> String {
    (chrono::NaiveDate::from_ymd_opt(2026, 1, 1).expect("date") + chrono::Days::new(day as u64 - 1))
        .to_string()
}

fn generate(seed: u64) -> Case {
    let mut rng = StdRng::seed_from_u64(seed);
    let days = rng.random_range(1..=4i64);
    let runs = rng.random_range(1..=4usize);
    let customers = rng.random_range(2..=6i64);
    let mut seq = 0i64;
    let mut at = 0i64;
    let next = |seq: &mut i64, at: &mut i64| {
        *seq += 1;
        *at += 1_000_000;
        (*seq, *at)
    };
    let mut first_delivery = BTreeMap::new();
    let mut never_loaded = BTreeSet::new();
    // Seqs no copy may be made of (their fate depends on which copy comes first).
    let mut no_copy: BTreeSet<i64> = BTreeSet::new();
    // Files no later fault adds a row to (one replaced in place must stay smaller
    // than its replacement).
    let mut sealed: BTreeSet<usize> = BTreeSet::new();
    let mut files: Vec<File> = Vec::new();
    let mut exists = BTreeSet::new();
    for day in 1..=days {
        let count = rng.random_range(1..=6);
        let mut rows = Vec::new();
        for _ in 0..count {
            let (s, t) = next(&mut seq, &mut at);
            let customer = rng.random_range(1..=customers);
            let op = if !exists.contains(&customer) {
                "c"
            } else if rng.random_bool(0.15) {
                "d"
            } else {
                "u"
            };
            if op == "d" {
                exists.remove(&customer);
            } else {
                exists.insert(customer);
            }
            let change = Change {
                op,
                seq: s,
                batch: day,
                at: DAY_ONE + (day - 1) * DAY + t,
                customer,
                city: CITIES[rng.random_range(0..CITIES.len())],
                tier: TIERS[rng.random_range(0..TIERS.len())],
            };
            rows.push(change);
        }
        // Split into 1 to 3 files.
        let parts = rng.random_range(1..=3usize).min(rows.len());
        let mut split: Vec<Vec<Change>> = vec![Vec::new(); parts];
        for (i, row) in rows.into_iter().enumerate() {
            let part = if i < parts {
                i
            } else {
                rng.random_range(0..parts)
            };
            split[part].push(row);
        }
        for (i, rows) in split.into_iter().enumerate() {
            files.push(File {
                day,
                name: format!("part-{i}.parquet"),
                rows,
                lands: rng.random_range(0..runs),
                removed: None,
            });
        }
    }
    let other_city = |city: &str| {
        CITIES
            .iter()
            .copied()
            .find(|c| *c != city)
            .unwrap_or("Rome")
    };
    let mut extra = 0;
    let mut new_file = |rng: &mut StdRng, files: &mut Vec<File>, day: i64, lands: usize| {
        extra += 1;
        files.push(File {
            day,
            name: format!("extra-{extra}.parquet"),
            rows: Vec::new(),
            lands,
            removed: None,
        });
        let _ = rng;
        files.len() - 1
    };
    let pick_row = |rng: &mut StdRng, files: &[File], no_copy: &BTreeSet<i64>| {
        let candidates: Vec<(usize, usize)> = files
            .iter()
            .enumerate()
            .flat_map(|(f, file)| (0..file.rows.len()).map(move |r| (f, r)))
            .filter(|(f, r)| !no_copy.contains(&files[*f].rows[*r].seq))
            .collect();
        (!candidates.is_empty()).then(|| candidates[rng.random_range(0..candidates.len())])
    };

    // Copies of one `_seq` in one file with other values: all quarantined.
    if rng.random_bool(0.3)
        && let Some((f, r)) = pick_row(&mut rng, &files, &no_copy)
    {
        let original = files[f].rows[r].clone();
        no_copy.insert(original.seq);
        never_loaded.insert(original.seq);
        let conflicting = Change {
            city: other_city(original.city),
            ..original
        };
        files[f].rows.push(conflicting);
    }
    // Two changes of one key at one time in one batch with other payloads: the
    // contract's key_consistent_in_batch quarantines both.
    if rng.random_bool(0.3) {
        let f = rng.random_range(0..files.len());
        let day = files[f].day;
        let customer = rng.random_range(1..=customers);
        let (s1, t) = next(&mut seq, &mut at);
        let (s2, _) = next(&mut seq, &mut at);
        for (s, city) in [(s1, "London"), (s2, "Paris")] {
            let change = Change {
                op: "u",
                seq: s,
                batch: day,
                at: DAY_ONE + (day - 1) * DAY + t,
                customer,
                city,
                tier: "gold",
            };
            never_loaded.insert(s);
            no_copy.insert(s);
            files[f].rows.push(change);
        }
    }
    // A `_seq` loaded in one run, delivered again with other values in a later
    // run: quarantined, and the loaded change stands.
    if runs > 1
        && rng.random_bool(0.3)
        && let Some((f, r)) = pick_row(&mut rng, &files, &no_copy)
        && files[f].lands + 1 < runs
    {
        let original = files[f].rows[r].clone();
        no_copy.insert(original.seq);
        first_delivery.insert(original.seq, original.clone());
        let lands = rng.random_range(files[f].lands + 1..runs);
        let g = new_file(&mut rng, &mut files, original.batch, lands);
        files[g].rows.push(Change {
            city: other_city(original.city),
            ..original
        });
        // Its first delivery must stay, or the conflicting copy would be all
        // there is (and it stays quarantined).
        files[f].name = format!("kept-{}", files[f].name);
    }
    // A file found wrong: removed, and a corrected one (the same `_seq`s, other
    // values) landed under another name once it is gone.
    if runs > 1 && rng.random_bool(0.3) {
        let clean: Vec<usize> = (0..files.len())
            .filter(|&f| !files[f].name.starts_with("kept-") && files[f].lands + 1 < runs)
            .filter(|&f| files[f].rows.iter().all(|r| !no_copy.contains(&r.seq)))
            .collect();
        if !clean.is_empty() {
            let f = clean[rng.random_range(0..clean.len())];
            sealed.insert(f);
            let gone = rng.random_range(files[f].lands + 1..runs);
            files[f].removed = Some((gone, None));
            let fixed: Vec<Change> = files[f]
                .rows
                .iter()
                .map(|r| Change {
                    city: other_city(r.city),
                    ..r.clone()
                })
                .collect();
            no_copy.extend(fixed.iter().map(|r| r.seq));
            let day = files[f].day;
            if rng.random_bool(0.5) {
                // Written again in place, between two runs, with one more change
                // (so its size differs, which is how stride tells).
                let (s, t) = next(&mut seq, &mut at);
                let mut fixed = fixed;
                fixed.push(Change {
                    op: "u",
                    seq: s,
                    batch: day,
                    at: DAY_ONE + (day - 1) * DAY + t,
                    customer: 1,
                    city: "Rome",
                    tier: "silver",
                });
                let name = files[f].name.clone();
                files.push(File {
                    day,
                    name,
                    rows: fixed,
                    lands: gone,
                    removed: None,
                });
            } else {
                let lands = rng.random_range(gone..runs);
                let g = new_file(&mut rng, &mut files, day, lands);
                files[g].rows = fixed;
            }
        }
    }
    // A change with a bad `_op`: the contract quarantines it (and its copies).
    let open: Vec<usize> = (0..files.len()).filter(|f| !sealed.contains(f)).collect();
    if rng.random_bool(0.2) && !open.is_empty() {
        let f = open[rng.random_range(0..open.len())];
        let day = files[f].day;
        let (s, t) = next(&mut seq, &mut at);
        let change = Change {
            op: "x",
            seq: s,
            batch: day,
            at: DAY_ONE + (day - 1) * DAY + t,
            customer: 1,
            city: "Oslo",
            tier: "member",
        };
        never_loaded.insert(s);
        files[f].rows.push(change);
    }
    // Identical copies: in the same file, in another file of any day and run, and
    // the same change again with a new `_seq` (SPEC section 2's duplicate).
    for _ in 0..rng.random_range(0..=4) {
        let Some((f, r)) = pick_row(&mut rng, &files, &no_copy) else {
            break;
        };
        let row = files[f].rows[r].clone();
        match rng.random_range(0..3) {
            0 => files[f].rows.push(row),
            1 => {
                let target = if rng.random_bool(0.5) && !open.is_empty() {
                    open[rng.random_range(0..open.len())]
                } else {
                    let day = rng.random_range(1..=days);
                    let lands = rng.random_range(0..runs);
                    new_file(&mut rng, &mut files, day, lands)
                };
                files[target].rows.push(row);
            }
            _ => {
                if never_loaded.contains(&row.seq) {
                    continue;
                }
                let (s, _) = next(&mut seq, &mut at);
                let day = rng.random_range(row.batch..=days);
                let lands = rng.random_range(0..runs);
                let target = new_file(&mut rng, &mut files, day, lands);
                let again = Change {
                    seq: s,
                    batch: day,
                    ..row
                };
                files[target].rows.push(again);
            }
        }
    }
    // Files removed, some landed again later.
    for file in files.iter_mut() {
        if file.name.starts_with("kept-")
            || file.removed.is_some()
            || file.lands + 1 >= runs
            || !rng.random_bool(0.25)
        {
            continue;
        }
        let gone = rng.random_range(file.lands + 1..runs);
        let back =
            (gone + 1 < runs && rng.random_bool(0.5)).then(|| rng.random_range(gone + 1..runs));
        file.removed = Some((gone, back));
    }
    files.retain(|f| !f.rows.is_empty());
    Case {
        files,
        runs,
        first_delivery,
        never_loaded,
    }
}

/// The reference: the current state of each customer after run `run`, from the
/// files present then. A `_seq` is loaded when a present file holds it and nothing
/// quarantines it wherever it comes: its copies are alike, but for one delivered
/// again with other values, whose first delivery stays. Each customer's state is
/// its loaded row with the greatest `_seq`, unless that row deletes it.
fn expected(case: &Case, run: usize) -> BTreeMap<i64, (String, String)> {
    let mut loaded: BTreeMap<i64, &Change> = BTreeMap::new();
    for file in case.files.iter().filter(|f| f.present_at(run)) {
        for row in file
            .rows
            .iter()
            .filter(|r| !case.never_loaded.contains(&r.seq))
        {
            let row = case.first_delivery.get(&row.seq).unwrap_or(row);
            let before = loaded.insert(row.seq, row);
            assert!(
                before.is_none_or(|b| b == row),
                "copies of _seq {} differ",
                row.seq
            );
        }
    }
    let mut latest: BTreeMap<i64, &Change> = BTreeMap::new();
    for row in loaded.values() {
        latest.insert(row.customer, row);
    }
    latest
        .into_iter()
        .filter(|(_, row)| row.op != "d")
        .map(|(customer, row)| (customer, (row.city.to_string(), row.tier.to_string())))
        .collect()
}

fn batch_of(rows: &[Change]) -> RecordBatch {
    let utc = || DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let schema = Arc::new(Schema::new(vec![
        Field::new("_op", DataType::Utf8, false),
        Field::new("_seq", DataType::Int64, false),
        Field::new("_batch_id", DataType::Int64, false),
        Field::new("_changed_at", utc(), false),
        Field::new("customer_id", DataType::Int64, false),
        Field::new("email", DataType::Utf8, false),
        Field::new("first_name", DataType::Utf8, true),
        Field::new("last_name", DataType::Utf8, true),
        Field::new("country", DataType::Utf8, true),
        Field::new("city", DataType::Utf8, true),
        Field::new("loyalty_tier", DataType::Utf8, true),
        Field::new("signup_at", utc(), false),
    ]));
    let text = |f: &dyn Fn(&Change) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
    };
    let int = |f: &dyn Fn(&Change) -> i64| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(rows.iter().map(f)))
    };
    let time = |f: &dyn Fn(&Change) -> i64| -> ArrayRef {
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(rows.iter().map(f)).with_timezone("UTC"),
        )
    };
    RecordBatch::try_new(
        schema,
        vec![
            text(&|c| c.op.to_string()),
            int(&|c| c.seq),
            int(&|c| c.batch),
            time(&|c| c.at),
            int(&|c| c.customer),
            text(&|c| format!("c{}@example.com", c.customer)),
            text(&|_| "Ada".to_string()),
            text(&|_| "Lovelace".to_string()),
            text(&|_| "GB".to_string()),
            text(&|c| c.city.to_string()),
            text(&|c| c.tier.to_string()),
            time(&|_| DAY_ONE),
        ],
    )
    .expect("batch")
}

fn path_of(lake: &Path, file: &File) -> std::path::PathBuf {
    lake.join("raw")
        .join(TABLE)
        .join(format!("batch_date={}", date_of(file.day)))
        .join(&file.name)
}

fn write(lake: &Path, file: &File) {
    let path = path_of(lake, file);
    std::fs::create_dir_all(path.parent().expect("folder")).expect("mkdir");
    let batch = batch_of(&file.rows);
    let out = std::fs::File::create(&path).expect("create");
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(out, batch.schema(), None).expect("writer");
    writer.write(&batch).expect("write");
    writer.close().expect("close");
}

/// Makes the raw folder what `case` has landed before run `run`; `written` says
/// which of the files sharing a path is there now.
fn land_for(
    lake: &Path,
    case: &Case,
    run: usize,
    written: &mut BTreeMap<std::path::PathBuf, usize>,
) {
    let mut paths: BTreeMap<std::path::PathBuf, Option<usize>> = BTreeMap::new();
    for (i, file) in case.files.iter().enumerate() {
        let wanted = paths.entry(path_of(lake, file)).or_default();
        if file.present_at(run) {
            *wanted = Some(i);
        }
    }
    for (path, wanted) in paths {
        match wanted {
            Some(i) if written.get(&path) != Some(&i) => {
                write(lake, &case.files[i]);
                written.insert(path, i);
            }
            Some(_) => {}
            None => {
                if written.remove(&path).is_some() {
                    std::fs::remove_file(&path).expect("remove");
                }
            }
        }
    }
}

/// The staging table: customer → (city, tier).
async fn staged(lake: &Lake) -> BTreeMap<i64, (String, String)> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::Int64Type;
    let Some(table) = stride::delta::open(lake, "stg_customers")
        .await
        .expect("open")
    else {
        return BTreeMap::new();
    };
    let ctx = stride::engine::new_session();
    let provider = stride::delta::provider(&table, &ctx.state())
        .await
        .expect("provider");
    let batches = ctx
        .read_table(provider)
        .expect("read")
        .collect()
        .await
        .expect("rows");
    let mut rows = BTreeMap::new();
    for batch in batches {
        let column = |name: &str| {
            let column = batch.column_by_name(name).expect("column");
            arrow::compute::cast(column, &DataType::Utf8).expect("as text")
        };
        let ids = batch
            .column_by_name("customer_id")
            .and_then(|c| c.as_primitive_opt::<Int64Type>().cloned())
            .expect("customer_id");
        let (cities, tiers) = (column("city"), column("loyalty_tier"));
        let (cities, tiers) = (cities.as_string::<i32>(), tiers.as_string::<i32>());
        for i in 0..batch.num_rows() {
            let previous = rows.insert(
                ids.value(i),
                (cities.value(i).to_string(), tiers.value(i).to_string()),
            );
            assert!(previous.is_none(), "customer {} staged twice", ids.value(i));
            assert!(cities.is_valid(i) && tiers.is_valid(i));
        }
    }
    rows
}

async fn check_case(seed: u64) {
    let case = generate(seed);
    let dir = tempfile::tempdir().expect("temp dir");
    let lake = Lake::open(&dir.path().display().to_string(), &S3Settings::default()).expect("lake");
    let contracts = Contracts::read(&ContractsSource::Embedded).expect("contracts");
    let project = Project::load(
        &ProjectSource::Embedded,
        contracts.sources(),
        &Default::default(),
    )
    .expect("project");
    let source = contracts.sources().find(TABLE).expect("customers").clone();
    let mut written = BTreeMap::new();
    for run in 0..case.runs {
        land_for(dir.path(), &case, run, &mut written);
        let lock = LakeLock::acquire(&lake, "the admission test")
            .await
            .expect("lock");
        let options = RunOptions {
            request: RunRequest {
                select: Some("stg_customers".to_string()),
                ..RunRequest::default()
            },
            ..RunOptions::default()
        };
        run_with_lock(&lake, &project, &contracts, &options, &lock, &NoEvents)
            .await
            .unwrap_or_else(|e| panic!("case {seed} run {run}: {e}\n{case:#?}"));
        lock.release().await.expect("release");

        let want = expected(&case, run);
        let got = staged(&lake).await;
        assert_eq!(
            got, want,
            "case {seed}, after run {run}: staging vs reference\n{case:#?}"
        );

        // Nothing vanishes, file by file.
        let ledger = stride::quarantine::read_ledger(&lake, TABLE)
            .await
            .expect("ledger");
        let landed = stride::land::inventory(&lake, &source)
            .await
            .expect("inventory")
            .files;
        for file in case.files.iter().filter(|f| f.present_at(run)) {
            let entry = ledger
                .files
                .get(&file.key())
                .unwrap_or_else(|| panic!("case {seed}: {} is in the ledger", file.key()));
            assert_eq!(
                entry.rows_read,
                file.rows.len() as u64,
                "case {seed} {}",
                file.key()
            );
            assert_eq!(
                entry.rows_read,
                entry.rows_loaded + entry.rows_quarantined + entry.rows_redelivered,
                "case {seed} run {run} {}: {entry:?}\n{case:#?}",
                file.key()
            );
        }
        let ctx = stride::quarantine::sources_session(&lake).expect("session");
        let counts = stride::quarantine::loaded_per_file(&ctx, &lake, &source, &landed, &ledger)
            .await
            .expect("counts");
        for count in counts {
            assert_eq!(
                count.read, count.ledger,
                "case {seed} run {run} {}: models read what the ledger loads\n{case:#?}",
                count.file
            );
        }
    }
}

fn cases() -> u64 {
    std::env::var("STRIDE_ADMISSION_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(300)
}

/// Runs the cases whose number leaves `part` when divided by `parts`.
fn run_part(part: u64, parts: u64) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        for seed in (0..cases()).filter(|s| s % parts == part) {
            check_case(seed).await;
        }
    });
}

#[test]
fn random_change_streams_stage_the_current_state_and_lose_nothing_part_1() {
    run_part(0, 2);
}

#[test]
fn random_change_streams_stage_the_current_state_and_lose_nothing_part_2() {
    run_part(1, 2);
}
