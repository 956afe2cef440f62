//! The documentation cannot drift from the product: `docs/cli.md` lists exactly the
//! commands and options `stride --help` prints, and every relative link in the
//! README and `docs/` leads to a file of the repository; the README stays short
//! and no page links into one of its sections.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// What `stride <words> --help` prints.
fn help(words: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_stride"))
        .args(words)
        .arg("--help")
        .output()
        .expect("the stride binary runs");
    assert!(out.status.success(), "stride {words:?} --help failed");
    String::from_utf8(out.stdout).expect("utf-8 help")
}

/// The lines of a help section (`Commands:`, `Options:`) up to the next blank line.
fn section<'a>(text: &'a str, title: &str) -> Vec<&'a str> {
    text.lines()
        .skip_while(|line| *line != title)
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        .collect()
}

/// The long names of the options a help text lists (`--lake`, `--verbose`, …).
fn options_in_help(text: &str) -> BTreeSet<String> {
    section(text, "Options:")
        .iter()
        .filter_map(|line| long_names(line.split("  ").find(|p| p.contains("--"))?).pop())
        .collect()
}

/// Every `--name` in `text`.
fn long_names(text: &str) -> Vec<String> {
    text.match_indices("--")
        .map(|(at, _)| {
            let name: String = text[at + 2..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            format!("--{name}")
        })
        .filter(|name| name.len() > 2)
        .collect()
}

/// Each command as the user types it (`run`, `quarantine list`) with the options
/// its help lists besides the global ones.
fn commands_in_help(
    words: &[&str],
    global: &BTreeSet<String>,
) -> BTreeMap<String, BTreeSet<String>> {
    let text = help(words);
    let mut found = BTreeMap::new();
    let commands: Vec<String> = section(&text, "Commands:")
        .iter()
        .filter_map(|line| line.split_whitespace().next().map(str::to_string))
        .filter(|name| name != "help")
        .collect();
    let own: BTreeSet<String> = options_in_help(&text)
        .into_iter()
        .filter(|o| !global.contains(o))
        .collect();
    // A command with options of its own is listed even when it has subcommands too
    // (`bench` and `bench compare`); a mere group (`quarantine`) is not.
    if !words.is_empty() && (commands.is_empty() || !own.is_empty()) {
        found.insert(words.join(" "), own);
    }
    for command in commands {
        let mut deeper = words.to_vec();
        deeper.push(&command);
        found.extend(commands_in_help(&deeper, global));
    }
    found
}

/// The sections of `docs/cli.md` (`Global options`, then each `stride <command>`)
/// with the options named in the first cell of their tables' rows.
fn commands_in_docs() -> BTreeMap<String, BTreeSet<String>> {
    let text = std::fs::read_to_string(root().join("docs/cli.md")).expect("docs/cli.md");
    let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut current = None;
    for line in text.lines() {
        if let Some(title) = line.strip_prefix("## ") {
            let title = title.trim_matches('`');
            let name = title.strip_prefix("stride ").unwrap_or(title).to_string();
            found.entry(name.clone()).or_default();
            current = Some(name);
        } else if let (Some(name), Some(row)) = (&current, line.strip_prefix("| `-")) {
            let first_cell = row.split(" | ").next().unwrap_or_default();
            let names = long_names(&format!("-{first_cell}"));
            found.entry(name.clone()).or_default().extend(names);
        }
    }
    found
}

#[test]
fn docs_cli_lists_every_command_and_option_of_the_help_and_no_other() {
    let top = options_in_help(&help(&[]));
    // The options every command takes: those of the top level that a command's
    // help lists too (`--version` is the top level's own).
    let global: BTreeSet<String> = top
        .intersection(&options_in_help(&help(&["generate"])))
        .cloned()
        .collect();
    assert!(
        global.contains("--lake") && global.contains("--help"),
        "{global:?}"
    );
    let mut in_help = commands_in_help(&[], &global);
    in_help.insert("Global options".to_string(), top);
    let in_docs = commands_in_docs();
    let names = |map: &BTreeMap<String, BTreeSet<String>>| map.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        names(&in_docs),
        names(&in_help),
        "docs/cli.md sections against the commands of `stride --help`"
    );
    for (command, options) in &in_help {
        assert_eq!(
            &in_docs[command], options,
            "docs/cli.md options of `{command}` against its --help"
        );
    }
}

/// The targets of the Markdown links in `text`: `[label](target)`.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut in_code = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else {
                break;
            };
            targets.push(after[..end].trim().to_string());
            rest = &after[end..];
        }
    }
    targets
}

/// The Markdown files readers are sent to: the README, `docs/` and the contracts' README.
fn documentation() -> Vec<PathBuf> {
    let mut files = vec![
        root().join("README.md"),
        root().join("data_contracts/README.md"),
    ];
    for entry in std::fs::read_dir(root().join("docs")).expect("docs/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    files.sort();
    files
}

#[test]
fn every_relative_link_leads_to_a_file_of_the_repository() {
    let repository = root().canonicalize().expect("repository root");
    let mut broken = Vec::new();
    for file in documentation() {
        let text = std::fs::read_to_string(&file).expect("readable");
        for target in link_targets(&text) {
            let external = ["http://", "https://", "mailto:"]
                .iter()
                .any(|scheme| target.starts_with(scheme));
            if external || target.starts_with('#') {
                continue;
            }
            let path = target.split('#').next().unwrap_or_default();
            let resolved = file.parent().expect("a folder").join(path);
            let inside = resolved
                .canonicalize()
                .is_ok_and(|found| found.starts_with(&repository));
            if !inside {
                broken.push(format!("{}: {target}", file.display()));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "links that lead nowhere in the repository:\n{}",
        broken.join("\n")
    );
}

/// The most lines the README may have: what a newcomer reads in five minutes.
/// Reference material belongs in `docs/`.
const README_MAX_LINES: usize = 200;

#[test]
fn the_readme_stays_short_and_no_page_points_into_it() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let lines = readme.lines().count();
    assert!(
        lines <= README_MAX_LINES,
        "README.md has {lines} lines, more than {README_MAX_LINES}: move reference material to docs/"
    );
    // A page that links to a section of the README makes the README the home of
    // reference material again; pages link to pages.
    let mut into_readme = Vec::new();
    for file in documentation() {
        let text = std::fs::read_to_string(&file).expect("readable");
        for target in link_targets(&text) {
            let path = target.split('#').next().unwrap_or_default();
            let is_readme = file
                .parent()
                .expect("a folder")
                .join(path)
                .canonicalize()
                .is_ok_and(|found| {
                    found == root().join("README.md").canonicalize().expect("README")
                });
            if is_readme && target.contains('#') {
                into_readme.push(format!("{}: {target}", file.display()));
            }
        }
    }
    assert!(
        into_readme.is_empty(),
        "links into a section of the README (link the docs page instead):\n{}",
        into_readme.join("\n")
    );
}
