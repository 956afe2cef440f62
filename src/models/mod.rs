//! The SQL project under `queries/`: one model per `.sql` file in dbt's layers
//! (`staging/`, `intermediate/`, `marts/`), plus `analyses/` that are not models.
//!
//! Macros shared by models live in `macros/` (dbt's folder) and are imported with
//! `{% from 'macros/<file>.sql' import <name> %}`.
//!
//! A model file starts with `{{ config(materialized='table', ...) }}` and holds one
//! SELECT that names its inputs with `{{ ref('model') }}` and
//! `{{ source('raw', 'table') }}`; the graph of those references decides the run order.

mod graph;
mod project;
mod template;

pub use graph::order_models;
pub use project::{Analysis, Project, ProjectSource};
pub use template::{CHANGES_SCHEMA, RenderContext, Vars, changes_table};

/// How a model's result is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Materialization {
    /// Registered as a DataFusion view; recomputed by every reader.
    View,
    /// Rebuilt as a Delta table on every run.
    Table,
    /// A Delta table brought up to date with what changed (see the README).
    Incremental,
}

impl Materialization {
    /// Whether the model is stored as a Delta table in `warehouse/`.
    pub fn is_stored(self) -> bool {
        !matches!(self, Materialization::View)
    }

    /// The name used in model headers.
    pub fn as_str(self) -> &'static str {
        match self {
            Materialization::View => "view",
            Materialization::Table => "table",
            Materialization::Incremental => "incremental",
        }
    }
}

/// How an incremental run applies a model's result to its table.
///
/// A result with an `_op` column is a change set: rows with `_op = 'd'` remove
/// their key and are not stored; `_op` itself is never stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Delta MERGE on `unique_key`: matched rows are updated (or deleted), new rows
    /// inserted.
    Merge,
    /// Every row whose `unique_key` appears in the result is removed (with deletion
    /// vectors), then the result's rows are inserted, in one commit (for keys with
    /// many rows).
    DeleteInsert,
    /// The result's rows are appended.
    Append,
}

impl Strategy {
    /// The name used in model headers.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Merge => "merge",
            Strategy::DeleteInsert => "delete+insert",
            Strategy::Append => "append",
        }
    }
}

/// One model of the project.
#[derive(Debug, Clone)]
pub struct Model {
    /// The model name: the file stem, unique across the project.
    pub name: String,
    /// The file, relative to the project root, for messages (`marts/fct_orders.sql`).
    pub file: String,
    /// How the result is kept.
    pub materialization: Materialization,
    /// The columns that identify a row, from `unique_key`.
    pub unique_key: Vec<String>,
    /// How incremental runs apply the result (incremental models only).
    pub strategy: Strategy,
    /// The models this one reads through `ref()`, on full and incremental runs.
    pub refs: Vec<String>,
    /// The raw tables this one reads through `source()`.
    pub sources: Vec<String>,
    /// The inputs it reads through `changes()`: `raw.<table>` or a model name.
    pub changes: Vec<String>,
    /// Whether `stride sync` (and every `run`) publishes it to the DuckDB file:
    /// `config(publish=true)`, as dbt configs say what a model is for.
    pub publish: bool,
    /// A fingerprint of the SQL template and the project's macros: a changed model
    /// is rebuilt in full.
    pub fingerprint: String,
    /// The SQL template.
    template: String,
    /// DuckDB's own text of the template, from `<model>.duckdb.sql` next to the
    /// model's file, for `stride bench` where the dialects differ.
    duckdb_template: Option<String>,
    /// The project's macros.
    macros: std::sync::Arc<template::Macros>,
    /// The project's variables.
    vars: std::sync::Arc<Vars>,
}

impl Model {
    /// The SQL template as written in its file.
    pub fn template(&self) -> &str {
        &self.template
    }

    /// Renders the model's SELECT for one run.
    pub fn render(&self, context: &RenderContext) -> crate::error::Result<String> {
        template::render(
            &self.file,
            &self.name,
            &self.template,
            &self.macros,
            &self.vars,
            context,
        )
        .map(|r| r.sql)
    }

    /// Renders DuckDB's own text of the model, when the project has one.
    pub fn render_for_duckdb(
        &self,
        context: &RenderContext,
    ) -> crate::error::Result<Option<String>> {
        let Some(duckdb) = &self.duckdb_template else {
            return Ok(None);
        };
        let file = self.file.replace(".sql", ".duckdb.sql");
        template::render(&file, &self.name, duckdb, &self.macros, &self.vars, context)
            .map(|r| Some(r.sql))
    }
}

/// FNV-1a of `text` in hex: stable across builds and platforms, unlike std's hasher.
pub fn fingerprint(text: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}
