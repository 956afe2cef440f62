//! Loading the SQL project: from the copy embedded at build time, or from a folder.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use super::template::{self, Macros, RenderContext, Vars};
use super::{Materialization, Model, Strategy, graph};
use crate::error::{Error, Result};
use crate::sources::{SOURCE_SCHEMA, Sources};

include!(concat!(env!("OUT_DIR"), "/embedded_queries.rs"));

/// The layers whose files are models, in dbt's order.
const MODEL_LAYERS: [&str; 3] = ["staging", "intermediate", "marts"];
/// The folder of saved queries that are not models.
const ANALYSES: &str = "analyses";
/// The folder of macros the models and analyses may import.
const MACROS: &str = "macros";

/// Where the project's SQL files come from.
#[derive(Debug, Clone)]
pub enum ProjectSource {
    /// The `queries/` folder compiled into this binary.
    Embedded,
    /// A `queries/`-shaped folder on disk.
    Folder(PathBuf),
}

/// A saved query under `analyses/`, never materialized. stride's own analyses are
/// plain SQL on the marts (so they paste into Metabase); `ref()` still renders.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// The file stem.
    pub name: String,
    /// The file, relative to the project root.
    pub file: String,
    template: String,
    macros: Arc<Macros>,
    vars: Arc<Vars>,
}

impl Analysis {
    /// The SQL with every `ref()` resolved.
    pub fn render(&self) -> Result<String> {
        template::render(
            &self.file,
            &self.name,
            &self.template,
            &self.macros,
            &self.vars,
            &RenderContext::default(),
        )
        .map(|r| r.sql)
    }
}

/// The models in dependency order, and the analyses.
#[derive(Debug, Clone)]
pub struct Project {
    models: Vec<Model>,
    analyses: Vec<Analysis>,
    sources: Sources,
}

impl Project {
    /// Loads, parses and orders the project over the raw tables `sources` (which
    /// the source contracts declare), with the project's variables `vars`; an
    /// unknown reference, a cycle or a variable without a value fails here, naming
    /// the file, before anything runs.
    pub fn load(source: &ProjectSource, sources: &Sources, vars: &Vars) -> Result<Project> {
        let files = match source {
            ProjectSource::Embedded => EMBEDDED_QUERIES
                .iter()
                .map(|(path, text)| (path.to_string(), text.to_string()))
                .collect(),
            ProjectSource::Folder(root) => read_folder(root)?,
        };
        Project::from_files_with(files, sources, vars)
    }

    /// Builds the project from (relative path, text) pairs, without variables.
    pub fn from_files(files: Vec<(String, String)>, sources: &Sources) -> Result<Project> {
        Project::from_files_with(files, sources, &Vars::new())
    }

    /// Builds the project from (relative path, text) pairs with the variables `vars`.
    pub fn from_files_with(
        files: Vec<(String, String)>,
        sources: &Sources,
        vars: &Vars,
    ) -> Result<Project> {
        let vars = Arc::new(vars.clone());
        let macros: Arc<Macros> = files
            .iter()
            .filter(|(file, _)| split(file).is_some_and(|(layer, _)| layer == MACROS))
            .cloned()
            .collect::<Vec<_>>()
            .into();
        // A macro can change any model that imports it.
        let macro_text: String = macros.iter().map(|(_, text)| text.as_str()).collect();
        let mut models = Vec::new();
        let mut analyses = Vec::new();
        let mut seen: HashMap<String, String> = HashMap::new();
        // `<model>.duckdb.sql`: DuckDB's text of the model next to it, for `stride bench`.
        let mut duckdb_texts: HashMap<String, (String, String)> = HashMap::new();
        for (file, text) in &files {
            if let Some(stem) = file.strip_suffix(".duckdb.sql") {
                duckdb_texts.insert(format!("{stem}.sql"), (file.clone(), text.clone()));
            }
        }
        for (file, text) in files {
            if file.ends_with(".duckdb.sql") {
                continue;
            }
            let Some((layer, stem)) = split(&file) else {
                continue;
            };
            let (layer, stem) = (layer.to_string(), stem.to_string());
            let (layer, stem) = (layer.as_str(), stem.as_str());
            if layer == ANALYSES {
                analyses.push(Analysis {
                    name: stem.to_string(),
                    file,
                    template: text,
                    macros: Arc::clone(&macros),
                    vars: Arc::clone(&vars),
                });
                continue;
            }
            if !MODEL_LAYERS.contains(&layer) {
                continue;
            }
            if let Some(other) = seen.insert(stem.to_string(), file.clone()) {
                return Err(Error::ModelFile {
                    file,
                    problem: format!("model name `{stem}` is already used by {other}"),
                });
            }
            // Render both ways: a ref or source may appear only under is_incremental().
            let mut found = template::render(
                &file,
                stem,
                &text,
                &macros,
                &vars,
                &RenderContext::default(),
            )?;
            let incremental = template::render(
                &file,
                stem,
                &text,
                &macros,
                &vars,
                &RenderContext {
                    is_incremental: true,
                },
            )?;
            for name in incremental.refs {
                if !found.refs.contains(&name) {
                    found.refs.push(name);
                }
            }
            for name in incremental.sources {
                if !found.sources.contains(&name) {
                    found.sources.push(name);
                }
            }
            for name in incremental.changes {
                if !found.changes.contains(&name) {
                    found.changes.push(name);
                }
            }
            for read in incremental.vars {
                if !found.vars.contains(&read) {
                    found.vars.push(read);
                }
            }
            check_sources(&file, &found.sources, sources)?;
            let materialization = found.materialization.ok_or_else(|| Error::ModelFile {
                file: file.clone(),
                problem: "no {{ config(materialized=...) }} header".to_string(),
            })?;
            if found.publish && !materialization.is_stored() {
                return Err(Error::ModelFile {
                    file,
                    problem: "publish=true needs a stored model (materialized='table' or \
                              'incremental'): the DuckDB file serves Delta tables"
                        .to_string(),
                });
            }
            if materialization == Materialization::Incremental && found.unique_key.is_empty() {
                return Err(Error::ModelFile {
                    file,
                    problem: "an incremental model needs unique_key in its config".to_string(),
                });
            }
            let strategy = found.strategy.unwrap_or(Strategy::Merge);
            if strategy == Strategy::DeleteInsert && found.unique_key.len() != 1 {
                return Err(Error::ModelFile {
                    file,
                    problem:
                        "incremental_strategy='delete+insert' needs a unique_key of one column"
                            .to_string(),
                });
            }
            if let Some(input) = found
                .changes
                .iter()
                .find(|c| !c.starts_with(&format!("{SOURCE_SCHEMA}.")) && !found.refs.contains(c))
            {
                return Err(Error::ModelFile {
                    file,
                    problem: format!(
                        "changes('{input}') takes ref('model') or source('raw', 'table')"
                    ),
                });
            }
            let duckdb_template = duckdb_texts.remove(&file).map(|(_, text)| text);
            models.push(Model {
                name: stem.to_string(),
                file,
                materialization,
                unique_key: found.unique_key,
                strategy,
                refs: found.refs,
                sources: found.sources,
                changes: found.changes,
                publish: found.publish,
                fingerprint: super::fingerprint(&format!(
                    "{text}{macro_text}{}",
                    found
                        .vars
                        .iter()
                        .map(|(name, value)| format!("\nvar {name} = {value}"))
                        .collect::<String>()
                )),
                duckdb_template,
                template: text,
                macros: Arc::clone(&macros),
                vars: Arc::clone(&vars),
            });
        }
        if let Some((_, (file, _))) = duckdb_texts.into_iter().next() {
            return Err(Error::ModelFile {
                problem: format!(
                    "DuckDB's text of a model, but no model {} next to it",
                    file.replace(".duckdb.sql", ".sql")
                ),
                file,
            });
        }
        let models = graph::order_models(models)?;
        let names: Vec<&str> = models.iter().map(|m| m.name.as_str()).collect();
        for analysis in &analyses {
            let found = template::render(
                &analysis.file,
                &analysis.name,
                &analysis.template,
                &macros,
                &vars,
                &RenderContext::default(),
            )?;
            check_sources(&analysis.file, &found.sources, sources)?;
            if let Some(unknown) = found.refs.iter().find(|r| !names.contains(&r.as_str())) {
                return Err(Error::ModelFile {
                    file: analysis.file.clone(),
                    problem: format!("ref('{unknown}') names no model"),
                });
            }
        }
        analyses.sort_by(|a, b| a.file.cmp(&b.file));
        Ok(Project {
            models,
            analyses,
            sources: sources.clone(),
        })
    }

    /// The raw tables the models may read with `source('raw', …)`.
    pub fn sources(&self) -> &Sources {
        &self.sources
    }

    /// The models, each after every model it reads.
    pub fn models(&self) -> &[Model] {
        &self.models
    }

    /// The model called `name`.
    pub fn model(&self, name: &str) -> Result<&Model> {
        self.models
            .iter()
            .find(|m| m.name == name)
            .ok_or_else(|| Error::UnknownModel(name.to_string()))
    }

    /// The saved analyses, by file name.
    pub fn analyses(&self) -> &[Analysis] {
        &self.analyses
    }

    /// The analysis called `name`.
    pub fn analysis(&self, name: &str) -> Option<&Analysis> {
        self.analyses.iter().find(|a| a.name == name)
    }
}

/// Fails, naming `file`, when it reads a raw table no source contract declares.
fn check_sources(file: &str, read: &[String], sources: &Sources) -> Result<()> {
    match read.iter().find(|t| sources.find(t).is_none()) {
        Some(table) => Err(Error::ModelFile {
            file: file.to_string(),
            problem: format!(
                "source('{SOURCE_SCHEMA}', '{table}'): no source contract declares a raw \
                 table `{table}` (add data_contracts/{table}.toml)"
            ),
        }),
        None => Ok(()),
    }
}

/// (layer, stem) of `staging/stg_orders.sql`.
fn split(file: &str) -> Option<(&str, &str)> {
    let (layer, rest) = file.split_once('/')?;
    let name = rest.rsplit('/').next()?;
    Some((layer, name.strip_suffix(".sql")?))
}

fn read_folder(root: &Path) -> Result<Vec<(String, String)>> {
    let mut files = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| Error::Setting {
            setting: "--queries".to_string(),
            reason: format!("cannot read {}: {e}", dir.display()),
        })?;
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "sql") {
                let text = std::fs::read_to_string(&path)?;
                let relative = path
                    .strip_prefix(root)
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .replace('\\', "/");
                files.push((relative, text));
            }
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, text: &str) -> (String, String) {
        (path.to_string(), text.to_string())
    }

    #[test]
    fn embedded_project_loads_with_every_mart() {
        let (project, _) = crate::contracts::shipped_project();
        let marts = [
            "fct_orders",
            "fct_attribution",
            "mart_channel_daily",
            "mart_campaign_performance",
            "dim_customers",
            "dim_products",
            "dim_campaigns",
            "mart_acquisition_ltv",
            "mart_channel_data_driven",
        ];
        for mart in marts {
            project.model(mart).expect("mart exists");
        }
        // Exactly SPEC section 4's marts say `publish=true`.
        let mut published: Vec<&str> = project
            .models()
            .iter()
            .filter(|m| m.publish)
            .map(|m| m.name.as_str())
            .collect();
        published.sort_unstable();
        let mut expected = marts.to_vec();
        expected.sort_unstable();
        assert_eq!(published, expected);
    }

    #[test]
    fn what_is_published_is_the_models_config_not_its_folder() {
        let project = Project::from_files(
            vec![
                file(
                    "intermediate/a.sql",
                    "{{ config(materialized='table', publish=true) }} select 1 as x",
                ),
                file(
                    "marts/b.sql",
                    "{{ config(materialized='table') }} select * from {{ ref('a') }}",
                ),
            ],
            &Sources::default(),
        )
        .expect("loads");
        let published: Vec<&str> = project
            .models()
            .iter()
            .filter(|m| m.publish)
            .map(|m| m.name.as_str())
            .collect();
        assert_eq!(published, vec!["a"]);
        let err = Project::from_files(
            vec![file(
                "marts/v.sql",
                "{{ config(materialized='view', publish=true) }} select 1",
            )],
            &Sources::default(),
        )
        .expect_err("a view cannot be published");
        assert!(
            err.to_string().contains("marts/v.sql") && err.to_string().contains("publish=true"),
            "{err}"
        );
    }

    #[test]
    fn unknown_ref_fails_naming_the_file() {
        let err = Project::from_files(
            vec![file(
                "marts/a.sql",
                "{{ config(materialized='table') }} select * from {{ ref('missing') }}",
            )],
            &Sources::default(),
        )
        .expect_err("unknown ref");
        let text = err.to_string();
        assert!(
            text.contains("marts/a.sql") && text.contains("missing"),
            "{text}"
        );
    }

    #[test]
    fn cycle_fails_naming_the_files() {
        let err = Project::from_files(
            vec![
                file(
                    "marts/a.sql",
                    "{{ config(materialized='table') }} select * from {{ ref('b') }}",
                ),
                file(
                    "marts/b.sql",
                    "{{ config(materialized='view') }} select * from {{ ref('a') }}",
                ),
                file("marts/c.sql", "{{ config(materialized='view') }} select 1"),
            ],
            &Sources::default(),
        )
        .expect_err("cycle");
        let text = err.to_string();
        assert!(
            text.contains("marts/a.sql") && text.contains("marts/b.sql"),
            "{text}"
        );
        assert!(!text.contains("marts/c.sql"), "{text}");
    }

    #[test]
    fn missing_header_is_refused() {
        let err = Project::from_files(vec![file("staging/s.sql", "select 1")], &Sources::default())
            .expect_err("no header");
        assert!(err.to_string().contains("staging/s.sql"), "{err}");
    }

    #[test]
    fn a_source_no_contract_declares_fails_naming_the_file() {
        let err = Project::from_files(
            vec![file(
                "staging/x.sql",
                "{{ config(materialized='view') }} select * from {{ source('raw', 'nope') }}",
            )],
            &Sources::default(),
        )
        .expect_err("unknown table");
        let text = err.to_string();
        assert!(
            text.contains("staging/x.sql") && text.contains("data_contracts/nope.toml"),
            "{text}"
        );
    }

    #[test]
    fn a_duckdb_text_belongs_to_the_model_next_to_it() {
        let model = "{{ config(materialized='table') }} select 1 as x";
        let project = Project::from_files(
            vec![
                file("marts/a.sql", model),
                file(
                    "marts/a.duckdb.sql",
                    "{{ config(materialized='table') }} select 2 as x",
                ),
            ],
            &Sources::default(),
        )
        .expect("loads");
        assert_eq!(project.models().len(), 1);
        let a = project.model("a").expect("a");
        let duckdb = a
            .render_for_duckdb(&RenderContext::default())
            .expect("renders");
        assert!(duckdb.is_some_and(|sql| sql.contains("select 2")));
        let err = Project::from_files(vec![file("marts/b.duckdb.sql", model)], &Sources::default())
            .expect_err("no model next to it");
        assert!(err.to_string().contains("marts/b.sql"), "{err}");
    }
}
