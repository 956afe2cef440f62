//! The SQL project under `queries/`: one model per `.sql` file in dbt's layers
//! (`staging/`, `intermediate/`, `marts/`), plus `analyses/` that are not models.
//!
//! A model file starts with `{{ config(materialized='table', ...) }}` and holds one
//! SELECT that names its inputs with `{{ ref('model') }}` and
//! `{{ source('raw', 'table') }}`; the graph of those references decides the run order.

mod graph;
mod project;
mod template;

pub use graph::order_models;
pub use project::{Analysis, Project, ProjectSource};
pub use template::RenderContext;

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
    /// The models this one reads through `ref()`.
    pub refs: Vec<String>,
    /// The raw tables this one reads through `source()`.
    pub sources: Vec<String>,
    /// The SQL template.
    template: String,
}

impl Model {
    /// Renders the model's SELECT for one run.
    pub fn render(&self, context: &RenderContext) -> crate::error::Result<String> {
        template::render(&self.file, &self.name, &self.template, context).map(|r| r.sql)
    }
}
