//! What each model does in a run (skip, incremental, full rebuild). The run first
//! gathers what the lake holds for the model's inputs ([`inventory`]: what each
//! stored input committed since the model read it, each raw table's landed files
//! and ledger); the decision itself ([`plan_model`]) is a pure function of the
//! model, its last commit and that inventory.

use super::*;

/// What a stored model will do in this run.
#[derive(Debug)]
pub(super) struct ModelPlan {
    pub(super) incremental: bool,
    /// Why it is rebuilt in full (empty for an incremental run, and for a `table`
    /// model rebuilt only because its input changed).
    pub(super) reasons: Vec<String>,
    /// Per raw table, the files it has not read yet (all files on a full rebuild).
    pub(super) new_files: BTreeMap<String, Vec<LandedFile>>,
    /// Per stored input, the version consumed before (incremental runs).
    pub(super) consumed: BTreeMap<String, u64>,
    /// Raw tables whose unread files carry changes no newer than some the model
    /// already read (a late or out-of-order delivery): `changes()` of such a table
    /// holds the whole history of the keys those files touch.
    pub(super) late: BTreeSet<String>,
    /// The record committed with the result.
    pub(super) state: ModelState,
}

/// What the lake holds for one model's inputs, as the run found it.
#[derive(Debug, Default)]
pub(super) struct Inventory {
    /// `--full-refresh` picked the model.
    pub(super) full_refresh: bool,
    /// Per stored input, what it committed.
    pub(super) inputs: BTreeMap<String, InputCommits>,
    /// Per raw table the model reads, its landed files and what its ledger says.
    pub(super) sources: BTreeMap<String, SourceFiles>,
    /// The run's id, recorded with the result.
    pub(super) run_id: Option<String>,
}

/// What one stored input committed.
#[derive(Debug, Default)]
pub(super) struct InputCommits {
    /// Its newest data version.
    pub(super) version: u64,
    /// The batches its newest data commit records.
    pub(super) batches: BTreeSet<String>,
    /// The records of its commits after the version the model read, when that
    /// version is older than `version`.
    pub(super) since: Vec<ModelState>,
}

/// One raw table's landed files and its ledger's view of them.
#[derive(Debug, Default)]
pub(super) struct SourceFiles {
    /// Each landed file with its key (its path below `raw/<table>/`).
    pub(super) files: Vec<(String, LandedFile)>,
    /// Per loaded file's key, the `_seq` range the ledger records for it.
    pub(super) seq_ranges: BTreeMap<String, (i64, i64)>,
    /// The ledger's generation (replays plus revisions).
    pub(super) generation: u64,
}

/// Gathers what [`plan_model`] decides from: an error when the model reads a
/// stored model that has never been run.
pub(super) async fn inventory(
    run: &RunContext,
    model: &Model,
    last: Option<&ModelState>,
    upstream: &HashMap<String, Found>,
) -> Result<Inventory> {
    let empty = BTreeSet::new();
    let mut inventory = Inventory {
        full_refresh: run.full_refresh.contains(&model.name),
        run_id: run.run_id.clone(),
        ..Inventory::default()
    };
    for input in run.inputs.stored_of.get(&model.name).unwrap_or(&empty) {
        let Some(found) = upstream.get(input) else {
            return Err(Error::in_model(
                &model.name,
                Error::Select(format!(
                    "it reads {input}, which has never been run; select +{}",
                    model.name
                )),
            ));
        };
        let version = found
            .last
            .as_ref()
            .map_or_else(|| delta::version_of(&found.table), |l| l.version);
        let mut since = Vec::new();
        if let Some(before) = last.and_then(|l| l.refs.get(input)).copied()
            && before < version
        {
            let commits = commits_after(&found.table, before, found.last.as_ref()).await;
            let commits = commits.map_err(|e| Error::in_model(&model.name, e))?;
            since = commits.into_iter().map(|(_, state)| state).collect();
        }
        let batches = found.last.as_ref().map(|l| l.state.batches.clone());
        let commits = InputCommits {
            version,
            batches: batches.unwrap_or_default(),
            since,
        };
        inventory.inputs.insert(input.clone(), commits);
    }
    for table in run.inputs.sources_of.get(&model.name).unwrap_or(&empty) {
        let landed = run.sources.files.get(table.as_str());
        let ledger = run.sources.ledgers.get(table.as_str());
        let files: Vec<(String, LandedFile)> = landed
            .into_iter()
            .flatten()
            .map(|f| (file_key(&run.lake, f), f.clone()))
            .collect();
        let seq_ranges = files
            .iter()
            .filter_map(|(key, _)| Some((key.clone(), ledger?.seq_range(key)?)))
            .collect();
        let source = SourceFiles {
            files,
            seq_ranges,
            generation: ledger.map_or(0, |l| l.generation()),
        };
        inventory.sources.insert(table.clone(), source);
    }
    Ok(inventory)
}

/// Decides whether `model` runs, and how, from its last commit's record (`None`:
/// no table yet) and what the lake holds; `None` when nothing it reads changed.
pub(super) fn plan_model(
    model: &Model,
    last: Option<&ModelState>,
    lake: &Inventory,
) -> Option<ModelPlan> {
    let mut reasons: Vec<String> = Vec::new();
    if lake.full_refresh {
        reasons.push("--full-refresh".to_string());
    }
    match last {
        None => reasons.push("no table yet".to_string()),
        Some(last) => {
            if last.fingerprint != model.fingerprint {
                reasons.push("its SQL changed".to_string());
            }
            if last.materialization != model.materialization.as_str() {
                reasons.push("its materialization changed".to_string());
            }
        }
    }

    // What each stored input committed since this model last read it.
    let mut batches = BTreeSet::new();
    let mut inputs_changed = false;
    let mut refs = BTreeMap::new();
    let mut consumed = BTreeMap::new();
    for (input, commits) in &lake.inputs {
        refs.insert(input.clone(), commits.version);
        match last.and_then(|l| l.refs.get(input)).copied() {
            Some(before) if before == commits.version => {}
            Some(before) if before < commits.version => {
                inputs_changed = true;
                for state in &commits.since {
                    if state.refresh == "full" {
                        reasons.push(format!("{input} was rebuilt"));
                    }
                    batches.extend(state.batches.iter().cloned());
                }
                consumed.insert(input.clone(), before);
            }
            _ => {
                inputs_changed = true;
                reasons.push(format!("{input} is not the table it read"));
                batches.extend(commits.batches.iter().cloned());
            }
        }
    }

    let mut sources = BTreeMap::new();
    let mut new_files = BTreeMap::new();
    let mut source_replays = BTreeMap::new();
    let mut late = BTreeSet::new();
    for (table, landed) in &lake.sources {
        let read = last.and_then(|l| l.sources.get(table));
        let mut unread: Vec<&(String, LandedFile)> = Vec::new();
        let mut names = BTreeSet::new();
        for landed_file in &landed.files {
            let (name, file) = landed_file;
            if !read.is_some_and(|r| r.contains(name)) {
                batches.insert(file.batch_date.to_string());
                unread.push(landed_file);
            }
            names.insert(name.clone());
        }
        if read.is_some_and(|r| !r.is_subset(&names)) {
            reasons.push(format!("files of raw.{table} it read are gone"));
        }
        let replays_read = last
            .and_then(|l| l.replays.get(table))
            .copied()
            .unwrap_or_default();
        if last.is_some() && landed.generation != replays_read {
            reasons.push(format!(
                "what raw.{table} loads changed (quarantined rows replayed, or a file that delivered rows first is gone)"
            ));
        }
        source_replays.insert(table.clone(), landed.generation);
        if !unread.is_empty() {
            inputs_changed = true;
            let range = |key: &String| landed.seq_ranges.get(key).copied();
            let newest_read = read
                .into_iter()
                .flatten()
                .filter_map(range)
                .map(|r| r.1)
                .max();
            let oldest_unread = unread
                .iter()
                .filter_map(|(k, _)| range(k))
                .map(|r| r.0)
                .min();
            if let (Some(newest), Some(oldest)) = (newest_read, oldest_unread)
                && oldest <= newest
            {
                late.insert(table.clone());
            }
        }
        let unread = unread.into_iter().map(|(_, f)| f.clone()).collect();
        new_files.insert(table.clone(), unread);
        sources.insert(table.clone(), names);
    }

    let full =
        !reasons.is_empty() || (inputs_changed && model.materialization == Materialization::Table);
    if !full && !inputs_changed {
        return None;
    }
    if full {
        // A rebuild reads every file and every row of its inputs.
        for (table, landed) in &lake.sources {
            let all = landed.files.iter().map(|(_, f)| f.clone()).collect();
            new_files.insert(table.clone(), all);
        }
    }
    let state = ModelState {
        model: model.name.clone(),
        materialization: model.materialization.as_str().to_string(),
        refresh: if full { "full" } else { "incremental" }.to_string(),
        fingerprint: model.fingerprint.clone(),
        stride_version: env!("CARGO_PKG_VERSION").to_string(),
        sources,
        refs,
        batches,
        replays: source_replays,
        run_id: lake.run_id.clone(),
    };
    Some(ModelPlan {
        incremental: !full,
        reasons,
        new_files,
        consumed,
        late,
        state,
    })
}

#[cfg(test)]
mod tests {
    //! Each reason a model runs, on inventories written by hand.

    use super::*;
    use crate::contracts::ContractsSource;
    use crate::models::ProjectSource;

    /// A model of the shipped project: `stg_orders` is incremental over
    /// raw.orders, `mart_channel_daily` a table over `int_attribution_daily`.
    fn model(name: &str) -> Model {
        let contracts = Contracts::read(&ContractsSource::Embedded).expect("contracts");
        let project = Project::load(
            &ProjectSource::Embedded,
            contracts.sources(),
            &Default::default(),
        )
        .expect("project");
        project.model(name).expect("model").clone()
    }

    /// The raw.orders file of day `day`, with its key.
    fn file(day: u32) -> (String, LandedFile) {
        let date = chrono::NaiveDate::from_ymd_opt(2026, 1, day).expect("date");
        let key = format!("batch_date={date}/part-{day}.parquet");
        let landed = LandedFile {
            table: "orders".into(),
            batch_date: date,
            path: format!("raw/orders/{key}").into(),
            size: 100,
        };
        (key, landed)
    }

    /// raw.orders holding the files of `days`, each with `_seq`s 100·day..100·day+99.
    fn orders(days: &[u32], generation: u64) -> Inventory {
        let files: Vec<(String, LandedFile)> = days.iter().map(|d| file(*d)).collect();
        let seq_ranges = files
            .iter()
            .zip(days)
            .map(|((key, _), d)| (key.clone(), (100 * *d as i64, 100 * *d as i64 + 99)))
            .collect();
        let source = SourceFiles {
            files,
            seq_ranges,
            generation,
        };
        Inventory {
            sources: BTreeMap::from([("orders".to_string(), source)]),
            ..Inventory::default()
        }
    }

    /// The record of `model`'s last commit, as it ran from nothing yet.
    fn recorded(model: &Model, refresh: &str) -> ModelState {
        ModelState {
            model: model.name.clone(),
            materialization: model.materialization.as_str().to_string(),
            refresh: refresh.into(),
            fingerprint: model.fingerprint.clone(),
            ..ModelState::default()
        }
    }

    /// The record `model`'s last commit kept after reading the files of `days`.
    fn read(model: &Model, days: &[u32], generation: u64) -> ModelState {
        let files = days.iter().map(|d| file(*d).0).collect();
        let mut state = recorded(model, "incremental");
        state.sources.insert("orders".into(), files);
        state.replays.insert("orders".into(), generation);
        state
    }

    /// `mart_channel_daily`'s input at version `version`, with the records of the
    /// commits after the one it read.
    fn input(version: u64, since: &[&str]) -> Inventory {
        let since = since
            .iter()
            .map(|refresh| ModelState {
                refresh: refresh.to_string(),
                batches: dates(&["2026-01-03"]),
                ..ModelState::default()
            })
            .collect();
        let commits = InputCommits {
            version,
            batches: dates(&["2026-01-01"]),
            since,
        };
        Inventory {
            inputs: BTreeMap::from([("int_attribution_daily".to_string(), commits)]),
            ..Inventory::default()
        }
    }

    /// The record of `mart_channel_daily` after reading its input at `version`.
    fn read_input(model: &Model, version: u64) -> ModelState {
        let mut state = recorded(model, "full");
        state.refs.insert("int_attribution_daily".into(), version);
        state
    }

    fn dates(days: &[&str]) -> BTreeSet<String> {
        days.iter().map(|d| d.to_string()).collect()
    }

    fn new_days(plan: &ModelPlan) -> Vec<u32> {
        use chrono::Datelike;
        plan.new_files["orders"]
            .iter()
            .map(|f| f.batch_date.day())
            .collect()
    }

    #[test]
    fn a_model_without_a_table_is_built_in_full_from_every_file() {
        let m = model("stg_orders");
        let plan = plan_model(&m, None, &orders(&[1, 2], 0)).expect("runs");
        assert!(!plan.incremental);
        assert_eq!(plan.reasons, ["no table yet"]);
        assert_eq!(new_days(&plan), [1, 2]);
        assert_eq!(plan.state.refresh, "full");
        assert_eq!(plan.state.batches.len(), 2);
    }

    #[test]
    fn nothing_new_is_skipped() {
        let m = model("stg_orders");
        let last = read(&m, &[1, 2], 0);
        assert!(plan_model(&m, Some(&last), &orders(&[1, 2], 0)).is_none());
    }

    #[test]
    fn a_new_file_is_applied_incrementally_and_alone() {
        let m = model("stg_orders");
        let last = read(&m, &[1, 2], 0);
        let plan = plan_model(&m, Some(&last), &orders(&[1, 2, 3], 0)).expect("runs");
        assert!(plan.incremental);
        assert!(plan.reasons.is_empty());
        assert_eq!(new_days(&plan), [3]);
        assert_eq!(plan.state.batches, dates(&["2026-01-03"]));
        assert_eq!(
            plan.state.sources["orders"].len(),
            3,
            "all files consumed so far"
        );
        assert!(plan.late.is_empty());
    }

    #[test]
    fn a_changed_sql_rebuilds_in_full() {
        let m = model("stg_orders");
        let mut last = read(&m, &[1, 2], 0);
        last.fingerprint = "an older SQL".into();
        let plan = plan_model(&m, Some(&last), &orders(&[1, 2], 0)).expect("runs");
        assert!(!plan.incremental);
        assert_eq!(plan.reasons, ["its SQL changed"]);
        assert_eq!(new_days(&plan), [1, 2]);
    }

    #[test]
    fn a_changed_materialization_rebuilds_in_full() {
        let m = model("stg_orders");
        let mut last = read(&m, &[1], 0);
        last.materialization = "table".into();
        let plan = plan_model(&m, Some(&last), &orders(&[1], 0)).expect("runs");
        assert_eq!(plan.reasons, ["its materialization changed"]);
    }

    #[test]
    fn full_refresh_rebuilds_even_with_nothing_new() {
        let m = model("stg_orders");
        let last = read(&m, &[1], 0);
        let mut lake = orders(&[1], 0);
        lake.full_refresh = true;
        let plan = plan_model(&m, Some(&last), &lake).expect("runs");
        assert_eq!(plan.reasons, ["--full-refresh"]);
    }

    #[test]
    fn a_file_it_read_that_is_gone_rebuilds_in_full() {
        let m = model("stg_orders");
        let last = read(&m, &[1, 2], 0);
        let plan = plan_model(&m, Some(&last), &orders(&[2], 0)).expect("runs");
        assert_eq!(plan.reasons, ["files of raw.orders it read are gone"]);
        assert_eq!(new_days(&plan), [2]);
    }

    #[test]
    fn a_replay_of_its_raw_table_rebuilds_in_full() {
        let m = model("stg_orders");
        let last = read(&m, &[1], 0);
        let plan = plan_model(&m, Some(&last), &orders(&[1], 1)).expect("runs");
        assert!(!plan.incremental);
        assert_eq!(plan.reasons.len(), 1);
        assert!(plan.reasons[0].starts_with("what raw.orders loads changed"));
        assert_eq!(plan.state.replays["orders"], 1);
    }

    #[test]
    fn late_files_are_applied_incrementally_and_marked_late() {
        let m = model("stg_orders");
        // Day 1's file arrives after day 2's was read: its _seqs are older.
        let last = read(&m, &[2], 0);
        let plan = plan_model(&m, Some(&last), &orders(&[1, 2], 0)).expect("runs");
        assert!(plan.incremental);
        assert_eq!(new_days(&plan), [1]);
        assert_eq!(plan.late, BTreeSet::from(["orders".to_string()]));
    }

    #[test]
    fn a_table_model_is_rebuilt_whenever_its_input_changed() {
        let m = model("mart_channel_daily");
        assert_eq!(m.materialization, Materialization::Table);
        let last = read_input(&m, 4);
        assert!(plan_model(&m, Some(&last), &input(4, &[])).is_none());
        let plan = plan_model(&m, Some(&last), &input(5, &["incremental"])).expect("runs");
        assert!(!plan.incremental);
        assert!(plan.reasons.is_empty(), "rebuilt because it is a table");
        assert_eq!(plan.state.refs["int_attribution_daily"], 5);
        assert_eq!(plan.state.batches, dates(&["2026-01-03"]));
    }

    #[test]
    fn an_input_rebuilt_or_replaced_rebuilds_in_full() {
        let m = model("mart_channel_daily");
        let last = read_input(&m, 4);
        let plan = plan_model(&m, Some(&last), &input(6, &["incremental", "full"])).expect("runs");
        assert_eq!(plan.reasons, ["int_attribution_daily was rebuilt"]);
        // A version older than the one it read: not the table it read.
        let plan = plan_model(&m, Some(&last), &input(2, &[])).expect("runs");
        assert_eq!(
            plan.reasons,
            ["int_attribution_daily is not the table it read"]
        );
        assert_eq!(plan.state.batches, dates(&["2026-01-01"]));
    }

    #[test]
    fn an_incremental_model_applies_what_its_input_committed_since() {
        let m = model("stg_orders");
        let mut last = read(&m, &[1], 0);
        last.refs.insert("int_attribution_daily".into(), 4);
        let mut lake = orders(&[1], 0);
        lake.inputs = input(5, &["incremental"]).inputs;
        let plan = plan_model(&m, Some(&last), &lake).expect("runs");
        assert!(plan.incremental);
        assert_eq!(plan.consumed["int_attribution_daily"], 4);
        assert!(new_days(&plan).is_empty());
    }
}
