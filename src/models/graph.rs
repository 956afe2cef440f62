//! The model dependency graph: every `ref()` must name a model, there may be no
//! cycle, and the run order puts each model after everything it reads.

use std::collections::{BTreeMap, BTreeSet};

use super::Model;
use crate::error::{Error, Result};

/// Returns `models` in a dependency order (Kahn's algorithm, ties by name so the
/// order is stable), or the first unknown reference or the cycle, naming files.
pub fn order_models(models: Vec<Model>) -> Result<Vec<Model>> {
    let by_name: BTreeMap<&str, &Model> = models.iter().map(|m| (m.name.as_str(), m)).collect();
    for model in &models {
        if let Some(unknown) = model
            .refs
            .iter()
            .find(|r| !by_name.contains_key(r.as_str()))
        {
            return Err(Error::ModelFile {
                file: model.file.clone(),
                problem: format!("ref('{unknown}') names no model"),
            });
        }
    }
    let mut waiting: BTreeMap<&str, usize> = models
        .iter()
        .map(|m| (m.name.as_str(), m.refs.len()))
        .collect();
    let mut ready: BTreeSet<&str> = waiting
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(name, _)| *name)
        .collect();
    let mut order: Vec<String> = Vec::with_capacity(models.len());
    while let Some(name) = ready.pop_first() {
        waiting.remove(name);
        order.push(name.to_string());
        for model in &models {
            if model.refs.iter().any(|r| r == name)
                && let Some(count) = waiting.get_mut(model.name.as_str())
            {
                *count -= 1;
                if *count == 0 {
                    ready.insert(model.name.as_str());
                }
            }
        }
    }
    if !waiting.is_empty() {
        let files: Vec<&str> = waiting
            .keys()
            .filter_map(|name| by_name.get(name).map(|m| m.file.as_str()))
            .collect();
        return Err(Error::ModelFile {
            file: files.join(", "),
            problem: "these models reference each other in a cycle".to_string(),
        });
    }
    let mut models = models;
    models.sort_by_key(|m| order.iter().position(|n| *n == m.name));
    Ok(models)
}
