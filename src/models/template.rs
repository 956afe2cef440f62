//! dbt-style templating with minijinja: `config()`, `ref()`, `source()`,
//! `is_incremental()`, `this`, `changes()` for what an input changed since the
//! model last ran, `var()` for the project's variables,
//! `exceptions.raise_compiler_error()`, and macros imported from `macros/`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use minijinja::value::Kwargs;
use minijinja::{Environment, ErrorKind, UndefinedBehavior, context};

use super::{Materialization, Strategy};
use crate::error::{Error, Result};
use crate::sources::SOURCE_SCHEMA;

/// The schema that holds each model's view of what its inputs changed.
pub const CHANGES_SCHEMA: &str = "changes";

/// The table `changes(input)` names for `model`: one per (model, input), because each
/// model has consumed its inputs up to its own point.
pub fn changes_table(model: &str, input: &str) -> String {
    format!("{model}__{}", input.replace('.', "__"))
}

/// The project's variables (`--vars`, `[vars]` in `stride.toml`), which templates
/// read with `{{ var('name', default) }}`.
pub type Vars = BTreeMap<String, serde_json::Value>;

/// What a template may ask about the run it is rendered for.
#[derive(Debug, Clone, Copy, Default)]
pub struct RenderContext {
    /// Whether this is an incremental run of an existing table (`is_incremental()`).
    pub is_incremental: bool,
}

/// What rendering a template found out, besides its SQL.
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    pub sql: String,
    pub materialization: Option<Materialization>,
    pub unique_key: Vec<String>,
    pub strategy: Option<Strategy>,
    pub refs: Vec<String>,
    pub sources: Vec<String>,
    /// The inputs read through `changes()`: `raw.<table>` or a model name.
    pub changes: Vec<String>,
    /// `publish=true`: the model is published to the DuckDB file.
    pub publish: bool,
    /// The variables it read, each with the value it got (JSON): part of the
    /// model's fingerprint, so a changed value rebuilds it.
    pub vars: Vec<(String, String)>,
}

/// The project's macro files (`macros/*.sql`, by path), which templates import with
/// `{% from 'macros/x.sql' import name %}`.
pub type Macros = [(String, String)];

/// Renders `template` (from `file`, for the model `this`) and records the calls it made.
pub fn render(
    file: &str,
    this: &str,
    template: &str,
    macros: &Macros,
    vars: &Vars,
    run: &RenderContext,
) -> Result<Rendered> {
    let found = Arc::new(Mutex::new(Rendered::default()));
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(true);

    let seen = Arc::clone(&found);
    env.add_function(
        "ref",
        move |name: String| -> Result<String, minijinja::Error> {
            let mut seen = seen.lock().map_err(|_| poisoned())?;
            if !seen.refs.contains(&name) {
                seen.refs.push(name.clone());
            }
            Ok(name)
        },
    );

    let seen = Arc::clone(&found);
    env.add_function(
        "source",
        move |source: String, table: String| -> Result<String, minijinja::Error> {
            if source != SOURCE_SCHEMA {
                return Err(minijinja::Error::new(
                    ErrorKind::InvalidOperation,
                    format!("unknown source `{source}` (the only source is `{SOURCE_SCHEMA}`)"),
                ));
            }
            let mut seen = seen.lock().map_err(|_| poisoned())?;
            if !seen.sources.contains(&table) {
                seen.sources.push(table.clone());
            }
            Ok(format!("{SOURCE_SCHEMA}.{table}"))
        },
    );

    let seen = Arc::clone(&found);
    let model = this.to_string();
    env.add_function(
        "changes",
        move |input: String| -> Result<String, minijinja::Error> {
            let mut seen = seen.lock().map_err(|_| poisoned())?;
            if !seen.changes.contains(&input) {
                seen.changes.push(input.clone());
            }
            Ok(format!(
                "{CHANGES_SCHEMA}.{}",
                changes_table(&model, &input)
            ))
        },
    );

    let seen = Arc::clone(&found);
    env.add_function(
        "config",
        move |options: Kwargs| -> Result<String, minijinja::Error> {
            let mut seen = seen.lock().map_err(|_| poisoned())?;
            if let Some(kind) = options.get::<Option<String>>("materialized")? {
                seen.materialization = Some(match kind.as_str() {
                    "view" => Materialization::View,
                    "table" => Materialization::Table,
                    "incremental" => Materialization::Incremental,
                    other => {
                        return Err(minijinja::Error::new(
                            ErrorKind::InvalidOperation,
                            format!(
                                "materialized='{other}' is not one of 'view', 'table', 'incremental'"
                            ),
                        ));
                    }
                });
            }
            if let Some(key) = options.get::<Option<minijinja::Value>>("unique_key")? {
                seen.unique_key = match key.as_str() {
                    Some(one) => vec![one.to_string()],
                    None => key
                        .try_iter()?
                        .map(|v| v.as_str().map(str::to_string).unwrap_or_default())
                        .collect(),
                };
            }
            if let Some(strategy) = options.get::<Option<String>>("incremental_strategy")? {
                seen.strategy = Some(match strategy.as_str() {
                    "merge" => Strategy::Merge,
                    "delete+insert" => Strategy::DeleteInsert,
                    "append" => Strategy::Append,
                    other => {
                        return Err(minijinja::Error::new(
                            ErrorKind::InvalidOperation,
                            format!(
                                "incremental_strategy='{other}' is not one of 'merge', 'delete+insert', 'append'"
                            ),
                        ));
                    }
                });
            }
            if let Some(publish) = options.get::<Option<bool>>("publish")? {
                seen.publish = publish;
            }
            options.assert_all_used()?;
            Ok(String::new())
        },
    );

    let incremental = run.is_incremental;
    env.add_function("is_incremental", move || incremental);

    let seen = Arc::clone(&found);
    let values = vars.clone();
    env.add_function(
        "var",
        move |name: String,
              default: Option<minijinja::Value>|
              -> Result<minijinja::Value, minijinja::Error> {
            let value = match values.get(&name) {
                Some(set) => minijinja::Value::from_serialize(set),
                None => default.ok_or_else(|| {
                    minijinja::Error::new(
                        ErrorKind::UndefinedError,
                        format!(
                            "var('{name}') has no value and no default: set it with \
                             --vars '{{\"{name}\": …}}' or under [vars] in stride.toml"
                        ),
                    )
                })?,
            };
            let mut seen = seen.lock().map_err(|_| poisoned())?;
            let shown = serde_json::to_string(&value).unwrap_or_else(|_| value.to_string());
            if !seen.vars.iter().any(|(n, _)| *n == name) {
                seen.vars.push((name, shown));
            }
            Ok(value)
        },
    );
    env.add_global(
        "exceptions",
        minijinja::Value::from_iter([(
            "raise_compiler_error",
            minijinja::Value::from_function(
                |message: String| -> Result<String, minijinja::Error> {
                    Err(minijinja::Error::new(ErrorKind::InvalidOperation, message))
                },
            ),
        )]),
    );

    let bad = |e: minijinja::Error| Error::ModelFile {
        file: file.to_string(),
        problem: describe(&e),
    };
    for (path, text) in macros {
        env.add_template_owned(path.clone(), text.clone())
            .map_err(|e| Error::ModelFile {
                file: path.clone(),
                problem: describe(&e),
            })?;
    }
    env.add_template_owned(file.to_string(), template.to_string())
        .map_err(bad)?;
    let sql = env
        .get_template(file)
        .and_then(|t| t.render(context! { this => this }))
        .map_err(bad)?;
    drop(env);
    let mut rendered = Arc::try_unwrap(found)
        .ok()
        .and_then(|m| m.into_inner().ok())
        .unwrap_or_default();
    rendered.sql = sql;
    Ok(rendered)
}

fn poisoned() -> minijinja::Error {
    minijinja::Error::new(ErrorKind::InvalidOperation, "template state poisoned")
}

/// One line: the template error with its line number.
fn describe(error: &minijinja::Error) -> String {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        message.push_str(&format!(": {inner}"));
        source = inner.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_ref_and_source_are_recorded() {
        let template = "{{ config(materialized='incremental', unique_key=['order_id', 'line_number']) }}\
            select * from {{ ref('stg_orders') }} join {{ source('raw', 'order_items') }} using (order_id)\
            {% if is_incremental() %} where x > (select max(x) from {{ this }}){% endif %}";
        let r = render(
            "m.sql",
            "m",
            template,
            &[],
            &Vars::new(),
            &RenderContext::default(),
        )
        .expect("renders");
        assert_eq!(r.materialization, Some(Materialization::Incremental));
        assert_eq!(r.unique_key, ["order_id", "line_number"]);
        assert_eq!(r.refs, ["stg_orders"]);
        assert_eq!(r.sources, ["order_items"]);
        assert!(
            r.sql.contains("from stg_orders join raw.order_items"),
            "{}",
            r.sql
        );
        assert!(!r.sql.contains("max(x)"));
        let r = render(
            "m.sql",
            "m",
            template,
            &[],
            &Vars::new(),
            &RenderContext {
                is_incremental: true,
            },
        )
        .expect("renders");
        assert!(r.sql.contains("select max(x) from m"), "{}", r.sql);
    }

    #[test]
    fn unknown_config_option_is_refused() {
        let err = render(
            "x.sql",
            "x",
            "{{ config(materialized='table', colour='blue') }} select 1",
            &[],
            &Vars::new(),
            &RenderContext::default(),
        )
        .expect_err("unknown option");
        assert!(err.to_string().contains("colour"), "{err}");
    }

    #[test]
    fn vars_are_read_with_their_defaults_and_recorded() {
        let template = "{{ config(materialized='table') }} select {{ var('days', 90) - 1 }} as d, \
            '{{ var('label', 'none') }}' as l";
        let none = Vars::new();
        let r = render(
            "m.sql",
            "m",
            template,
            &[],
            &none,
            &RenderContext::default(),
        )
        .expect("renders");
        assert!(r.sql.contains("select 89 as d, 'none' as l"), "{}", r.sql);
        assert_eq!(
            r.vars,
            [
                ("days".to_string(), "90".to_string()),
                ("label".to_string(), "\"none\"".to_string())
            ]
        );
        let set: Vars = [("days".to_string(), serde_json::json!(30))]
            .into_iter()
            .collect();
        let r =
            render("m.sql", "m", template, &[], &set, &RenderContext::default()).expect("renders");
        assert!(r.sql.contains("select 29 as d"), "{}", r.sql);
        assert_eq!(r.vars[0], ("days".to_string(), "30".to_string()));
    }

    #[test]
    fn a_var_without_value_or_default_names_itself_and_the_file() {
        let err = render(
            "marts/m.sql",
            "m",
            "{{ config(materialized='table') }} select {{ var('window') }}",
            &[],
            &Vars::new(),
            &RenderContext::default(),
        )
        .expect_err("no value");
        let message = err.to_string();
        assert!(
            message.contains("marts/m.sql") && message.contains("var('window')"),
            "{message}"
        );
    }

    #[test]
    fn raise_compiler_error_fails_the_render_with_its_message() {
        let err = render(
            "m.sql",
            "m",
            "{% if var('days', 0) < 1 %}{{ exceptions.raise_compiler_error('days must be at least 1') }}{% endif %}",
            &[],
            &Vars::new(),
            &RenderContext::default(),
        )
        .expect_err("raised");
        assert!(err.to_string().contains("days must be at least 1"), "{err}");
    }
}
