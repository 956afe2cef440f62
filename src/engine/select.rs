//! `--select`: dbt's node selection over the model graph. A selector is a model
//! name, optionally with `+` in front (and everything it reads) and/or behind (and
//! everything that reads it); several selectors, separated by spaces or commas,
//! select the union.

use std::collections::BTreeSet;

use crate::error::{Error, Result};
use crate::models::Model;

/// The names of the models `selection` picks out of `models`.
pub fn select(models: &[Model], selection: &str) -> Result<BTreeSet<String>> {
    let mut chosen = BTreeSet::new();
    let selectors: Vec<&str> = selection
        .split([' ', ','])
        .filter(|s| !s.is_empty())
        .collect();
    if selectors.is_empty() {
        return Err(Error::Select("no model given".to_string()));
    }
    for selector in selectors {
        let upstream = selector.starts_with('+');
        let downstream = selector.ends_with('+');
        let name = selector.trim_matches('+');
        if !models.iter().any(|m| m.name == name) {
            return Err(Error::Select(format!("`{selector}` names no model")));
        }
        chosen.insert(name.to_string());
        if upstream {
            chosen.extend(ancestors(models, name));
        }
        if downstream {
            chosen.extend(descendants(models, name));
        }
    }
    Ok(chosen)
}

/// Every model that reads `name`, directly or through other models.
pub fn descendants(models: &[Model], name: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut frontier = vec![name.to_string()];
    while let Some(current) = frontier.pop() {
        for model in models.iter().filter(|m| m.refs.contains(&current)) {
            if found.insert(model.name.clone()) {
                frontier.push(model.name.clone());
            }
        }
    }
    found
}

/// Every model `name` reads, directly or through other models.
pub fn ancestors(models: &[Model], name: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut frontier = vec![name.to_string()];
    while let Some(current) = frontier.pop() {
        if let Some(model) = models.iter().find(|m| m.name == current) {
            for parent in &model.refs {
                if found.insert(parent.clone()) {
                    frontier.push(parent.clone());
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::Project;

    fn project() -> Project {
        let file = |path: &str, text: &str| (path.to_string(), text.to_string());
        Project::from_files(
            vec![
                file(
                    "staging/a.sql",
                    "{{ config(materialized='table') }} select 1 as x",
                ),
                file(
                    "intermediate/b.sql",
                    "{{ config(materialized='table') }} select * from {{ ref('a') }}",
                ),
                file(
                    "marts/c.sql",
                    "{{ config(materialized='table') }} select * from {{ ref('b') }}",
                ),
                file(
                    "marts/d.sql",
                    "{{ config(materialized='table') }} select * from {{ ref('a') }}",
                ),
            ],
            &crate::sources::Sources::default(),
        )
        .expect("project")
    }

    fn names(set: BTreeSet<String>) -> Vec<String> {
        set.into_iter().collect()
    }

    #[test]
    fn graph_operators_follow_dbt() {
        let p = project();
        assert_eq!(names(select(p.models(), "b").expect("b")), ["b"]);
        assert_eq!(names(select(p.models(), "b+").expect("b+")), ["b", "c"]);
        assert_eq!(names(select(p.models(), "+b").expect("+b")), ["a", "b"]);
        assert_eq!(
            names(select(p.models(), "+b+, d").expect("+b+ d")),
            ["a", "b", "c", "d"]
        );
        assert_eq!(
            names(select(p.models(), "a+").expect("a+")),
            ["a", "b", "c", "d"]
        );
    }

    #[test]
    fn unknown_names_are_refused() {
        let p = project();
        let err = select(p.models(), "b+ nope+").expect_err("unknown");
        assert!(err.to_string().contains("nope+"), "{err}");
        assert!(select(p.models(), " , ").is_err());
    }
}
