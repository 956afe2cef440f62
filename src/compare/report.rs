//! Comparisons printed for people: a summary line, the columns that changed and
//! the example rows side by side.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, ContentArrangement, Table};

use super::diff::{Diff, RunDiff};
use super::rows::{Comparison, Kind};
use super::served::{ServedState, ServedVerdict};
use super::verify::{Verdict, Verification};

fn new_table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.iter().copied());
    table
}

/// A number of the reports: integers as integers, others to 6 significant places.
fn number(value: f64) -> String {
    if value == value.trunc() && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        let text = format!("{value:.6}");
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// The counts, the changed columns and the examples of one comparison; `from`
/// and `to` name the two sides (`current`/`rebuilt`, `v3`/`v4`).
pub fn comparison(c: &Comparison, from: &str, to: &str) -> String {
    let mut out = format!(
        "rows: {} in {from}, {} in {to}; {} only in {to} (added), {} only in {from} (removed), {} changed\n",
        c.rows_from, c.rows_to, c.added, c.removed, c.changed
    );
    if !c.key_unique {
        out.push_str(&format!(
            "the key ({}) is not unique: rows sharing it were paired in the order of their columns\n",
            c.key.join(", ")
        ));
    }
    if !c.columns_added.is_empty() {
        out.push_str(&format!(
            "columns only in {to}: {}\n",
            c.columns_added.join(", ")
        ));
    }
    if !c.columns_removed.is_empty() {
        out.push_str(&format!(
            "columns only in {from}: {}\n",
            c.columns_removed.join(", ")
        ));
    }
    let touched: Vec<_> = c
        .columns
        .iter()
        .filter(|col| col.rows_changed > 0 || col.net_change.is_some_and(|n| n.abs() > 0.0))
        .collect();
    if c.added + c.removed + c.changed > 0 && !touched.is_empty() {
        let mut table = new_table(&[
            "column",
            "rows changed",
            "Σ change (changed rows)",
            "net change of total",
        ]);
        for col in touched {
            table.add_row(vec![
                col.column.clone(),
                col.rows_changed.to_string(),
                col.sum_of_change.map(number).unwrap_or_default(),
                col.net_change.map(number).unwrap_or_default(),
            ]);
        }
        for i in 1..4 {
            if let Some(column) = table.column_mut(i) {
                column.set_cell_alignment(CellAlignment::Right);
            }
        }
        out.push_str(&format!("{table}\n"));
    }
    if !c.examples.is_empty() {
        let mut table = new_table(&["change", "key", "column", from, to]);
        for example in &c.examples {
            let key = example
                .key
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ");
            let kind = match example.kind {
                Kind::Added => "added",
                Kind::Removed => "removed",
                Kind::Changed => "changed",
            };
            for (i, column) in example.columns.iter().enumerate() {
                let (kind, key) = if i == 0 {
                    (kind.to_string(), key.clone())
                } else {
                    (String::new(), String::new())
                };
                table.add_row(vec![
                    kind,
                    key,
                    column.column.clone(),
                    column.from.clone().unwrap_or_default(),
                    column.to.clone().unwrap_or_default(),
                ]);
            }
        }
        out.push_str(&format!("examples:\n{table}\n"));
    }
    out
}

/// `stride verify`'s report.
pub fn verification(v: &Verification) -> String {
    let mut out = format!(
        "rebuilt {} models ({} compared{}) from {} raw files in {:.1}s; compared in {:.1}s \
         (floats equal within {:e} relative, absolute below 1)\n",
        v.models.len() + v.rebuilt_upstream.len(),
        v.models.len(),
        if v.rebuilt_upstream.is_empty() {
            String::new()
        } else {
            format!(", {} upstream", v.rebuilt_upstream.len())
        },
        v.raw_files,
        v.rebuild_s,
        (v.elapsed_s - v.rebuild_s).max(0.0),
        v.float_tolerance
    );
    let mut table = new_table(&[
        "model",
        "version",
        "verdict",
        "rows",
        "only current",
        "only rebuilt",
        "differ",
    ]);
    for m in &v.models {
        let c = &m.comparison;
        let count = |f: fn(&Comparison) -> u64| f(c).to_string();
        table.add_row(vec![
            m.model.clone(),
            m.version.to_string(),
            match m.verdict {
                Verdict::Equal => "equal".to_string(),
                Verdict::Differs => "DIFFERS".to_string(),
            },
            count(|c| c.rows_from),
            count(|c| c.removed),
            count(|c| c.added),
            count(|c| c.changed),
        ]);
    }
    for i in [1, 3, 4, 5, 6] {
        if let Some(column) = table.column_mut(i) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    out.push_str(&format!("{table}\n"));
    for m in v.models.iter().filter(|m| m.verdict == Verdict::Differs) {
        let c = &m.comparison;
        out.push_str(&format!(
            "\n{} (version {}) differs from its rebuild, rows matched on {} ({}):\n",
            m.model,
            m.version,
            c.key.join(", "),
            m.key_source
        ));
        out.push_str(&comparison(c, "current", "rebuilt"));
    }
    let files: usize = v.sources.iter().map(|s| s.files).sum();
    let mismatched: Vec<String> = v
        .sources
        .iter()
        .flat_map(|s| {
            s.mismatched.iter().map(move |m| {
                format!(
                    "  raw.{} {}: its ledger says {} rows are loaded, models read {}\n",
                    s.table, m.file, m.ledger, m.read
                )
            })
        })
        .collect();
    if mismatched.is_empty() {
        out.push_str(&format!(
            "\nraw files: each of {files} loads the rows its ledger says\n"
        ));
    } else {
        out.push_str(&format!(
            "\nraw files: {} of {files} do not load the rows their ledger says:\n{}",
            mismatched.len(),
            mismatched.concat()
        ));
    }
    if !v.served.is_empty() {
        out.push('\n');
        out.push_str(&served(&v.served));
    }
    out
}

/// The served marts against the table versions they claim.
fn served(verdicts: &[ServedVerdict]) -> String {
    let mut table = new_table(&["served mart", "version", "verdict", "rows", "why"]);
    for s in verdicts {
        table.add_row(vec![
            s.mart.clone(),
            s.version.to_string(),
            match s.state {
                ServedState::Equal => "equal",
                ServedState::Differs => "DIFFERS",
                ServedState::NotCompared => "not compared",
            }
            .to_string(),
            s.comparison
                .as_ref()
                .map(|c| c.rows_to.to_string())
                .unwrap_or_default(),
            s.reason.clone().unwrap_or_default(),
        ]);
    }
    for i in [1, 3] {
        if let Some(column) = table.column_mut(i) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    let mut out = format!("{table}\n");
    for s in verdicts.iter().filter(|s| s.state == ServedState::Differs) {
        if let Some(c) = &s.comparison {
            out.push_str(&format!(
                "\nserved {} differs from version {} of its table, rows matched on {}:\n",
                s.mart,
                s.version,
                c.key.join(", ")
            ));
            out.push_str(&comparison(c, "table", "served"));
        }
    }
    out
}

/// `stride diff MODEL`'s report.
pub fn diff(d: &Diff) -> String {
    let from = d
        .from_version
        .map_or("no table".to_string(), |v| format!("v{v}"));
    let to = format!("v{}", d.to_version);
    let mut out = format!(
        "{}: {from} → {to}, rows matched on {} ({})\n",
        d.model,
        d.comparison.key.join(", "),
        d.key_source
    );
    out.push_str(&comparison(&d.comparison, &from, &to));
    out
}

/// `stride diff --run`'s report: a line per mart, then each changed one.
pub fn run_diff(r: &RunDiff) -> String {
    let mut out = format!("run {}\n", r.run_id);
    let mut table = new_table(&[
        "mart",
        "action",
        "versions",
        "added",
        "removed",
        "changed",
        "columns changed",
    ]);
    for mart in &r.marts {
        let c = &mart.diff.comparison;
        let columns = c
            .columns
            .iter()
            .filter(|col| col.rows_changed > 0)
            .map(|col| match col.sum_of_change {
                Some(sum) => format!("{} ({}, Σ {})", col.column, col.rows_changed, number(sum)),
                None => format!("{} ({})", col.column, col.rows_changed),
            })
            .collect::<Vec<_>>()
            .join(", ");
        table.add_row(vec![
            mart.diff.model.clone(),
            mart.action.clone(),
            format!(
                "{} → v{}",
                mart.diff
                    .from_version
                    .map_or("none".to_string(), |v| format!("v{v}")),
                mart.diff.to_version
            ),
            c.added.to_string(),
            c.removed.to_string(),
            c.changed.to_string(),
            columns,
        ]);
    }
    for i in 3..6 {
        if let Some(column) = table.column_mut(i) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    out.push_str(&format!("{table}\n"));
    if !r.unchanged.is_empty() {
        out.push_str(&format!("unchanged: {}\n", r.unchanged.join(", ")));
    }
    out
}
