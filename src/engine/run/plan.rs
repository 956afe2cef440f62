//! What each model does in a run (skip, incremental, full rebuild), decided from
//! its last commit and what its inputs committed or landed since.

use super::*;

/// What a stored model will do in this run.
pub(super) struct ModelPlan {
    pub(super) incremental: bool,
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

/// Decides whether `model` runs, and how; `None` when nothing it reads changed.
pub(super) async fn plan_model(
    run: &RunContext,
    model: &Model,
    current: Option<&Found>,
    upstream: &HashMap<String, Found>,
) -> Result<Option<ModelPlan>> {
    let fail = |e: Error| Error::in_model(&model.name, e);
    let last = current.and_then(|f| f.last.as_ref());
    let empty = BTreeSet::new();
    let stored_inputs = run.inputs.stored_of.get(&model.name).unwrap_or(&empty);
    let source_tables = run.inputs.sources_of.get(&model.name).unwrap_or(&empty);

    let mut reasons: Vec<String> = Vec::new();
    if run.full_refresh.contains(&model.name) {
        reasons.push("--full-refresh".to_string());
    }
    match last {
        None => reasons.push("no table yet".to_string()),
        Some(last) => {
            if last.state.fingerprint != model.fingerprint {
                reasons.push("its SQL changed".to_string());
            }
            if last.state.materialization != model.materialization.as_str() {
                reasons.push("its materialization changed".to_string());
            }
        }
    }

    // What each stored input committed since this model last read it.
    let mut batches = BTreeSet::new();
    let mut inputs_changed = false;
    let mut refs = BTreeMap::new();
    let mut consumed = BTreeMap::new();
    for input in stored_inputs {
        let Some(found) = upstream.get(input) else {
            return Err(Error::in_model(
                &model.name,
                Error::Select(format!(
                    "it reads {input}, which has never been run; select +{}",
                    model.name
                )),
            ));
        };
        let data_version = found
            .last
            .as_ref()
            .map_or_else(|| delta::version_of(&found.table), |l| l.version);
        refs.insert(input.clone(), data_version);
        let before = last.and_then(|l| l.state.refs.get(input)).copied();
        match before {
            Some(before) if before == data_version => {}
            Some(before) if before < data_version => {
                inputs_changed = true;
                for (_, state) in commits_after(&found.table, before).await.map_err(fail)? {
                    if state.refresh == "full" {
                        reasons.push(format!("{input} was rebuilt"));
                    }
                    batches.extend(state.batches);
                }
                consumed.insert(input.clone(), before);
            }
            _ => {
                inputs_changed = true;
                reasons.push(format!("{input} is not the table it read"));
                if let Some(l) = &found.last {
                    batches.extend(l.state.batches.iter().cloned());
                }
            }
        }
    }

    let mut sources = BTreeMap::new();
    let mut new_files = BTreeMap::new();
    let mut source_replays = BTreeMap::new();
    let mut late = BTreeSet::new();
    for table in source_tables {
        let files = run
            .sources
            .files
            .get(table.as_str())
            .cloned()
            .unwrap_or_default();
        let read = last.and_then(|l| l.state.sources.get(table));
        let mut unread = Vec::new();
        let mut names = BTreeSet::new();
        for file in files {
            let name = file_key(&run.lake, &file);
            if !read.is_some_and(|r| r.contains(&name)) {
                batches.insert(file.batch_date.to_string());
                unread.push(file);
            }
            names.insert(name);
        }
        if read.is_some_and(|r| !r.is_subset(&names)) {
            reasons.push(format!("files of raw.{table} it read are gone"));
        }
        let replays = run
            .sources
            .ledgers
            .get(table.as_str())
            .map_or(0, |l| l.generation());
        let replays_read = last
            .and_then(|l| l.state.replays.get(table))
            .copied()
            .unwrap_or_default();
        if last.is_some() && replays != replays_read {
            reasons.push(format!(
                "what raw.{table} loads changed (quarantined rows replayed, or a file that delivered rows first is gone)"
            ));
        }
        source_replays.insert(table.clone(), replays);
        if !unread.is_empty() {
            inputs_changed = true;
            if let (Some(read), Some(ledger)) = (read, run.sources.ledgers.get(table.as_str())) {
                let newest_read = read
                    .iter()
                    .filter_map(|k| ledger.seq_range(k))
                    .map(|r| r.1)
                    .max();
                let oldest_unread = unread
                    .iter()
                    .filter_map(|f| ledger.seq_range(&file_key(&run.lake, f)))
                    .map(|r| r.0)
                    .min();
                if let (Some(newest), Some(oldest)) = (newest_read, oldest_unread)
                    && oldest <= newest
                {
                    tracing::debug!(
                        "{}: raw.{table} delivered changes from _seq {oldest}, older than _seq {newest} it read already",
                        model.name
                    );
                    late.insert(table.clone());
                }
            }
        }
        sources.insert(table.clone(), names);
        new_files.insert(table.clone(), unread);
    }

    let full =
        !reasons.is_empty() || (inputs_changed && model.materialization == Materialization::Table);
    if !full && !inputs_changed {
        return Ok(None);
    }
    if full && !reasons.is_empty() {
        tracing::debug!("{} rebuilt in full: {}", model.name, reasons.join(", "));
    }
    if full {
        // A rebuild reads every file and every row of its inputs.
        for table in source_tables {
            let all = run
                .sources
                .files
                .get(table.as_str())
                .cloned()
                .unwrap_or_default();
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
        run_id: run.run_id.clone(),
    };
    Ok(Some(ModelPlan {
        incremental: !full,
        new_files,
        consumed,
        late,
        state,
    }))
}
