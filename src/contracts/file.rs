//! Reading contract files: TOML into [`Contract`]s, checked against the raw schemas
//! of SPEC section 2 and the project's models before anything runs.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use arrow::datatypes::{DataType, TimeUnit};
use serde::Deserialize;

use super::{Bounds, Column, Contract, Freshness, Rule, RuleKind, Severity, Subject};
use crate::error::{Error, Result};
use crate::models::Project;
use crate::sources::{self, UTC};

include!(concat!(env!("OUT_DIR"), "/embedded_contracts.rs"));

/// Where the contract files come from.
#[derive(Debug, Clone)]
pub enum ContractsSource {
    /// The `data_contracts/` folder compiled into this binary.
    Embedded,
    /// A folder of `.toml` contract files on disk.
    Folder(PathBuf),
}

/// Every contract of the project, by the table it guards.
#[derive(Debug, Clone, Default)]
pub struct Contracts {
    by_name: BTreeMap<String, Contract>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ContractFile {
    source: Option<String>,
    model: Option<String>,
    #[allow(dead_code)]
    description: Option<String>,
    freshness: Option<Freshness>,
    #[serde(default)]
    columns: Vec<ColumnFile>,
    #[serde(default)]
    rules: Vec<RuleFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ColumnFile {
    name: String,
    #[serde(rename = "type")]
    type_name: String,
    #[serde(default = "yes")]
    nullable: bool,
    #[allow(dead_code)]
    description: Option<String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    name: String,
    #[serde(default)]
    severity: Severity,
    #[allow(dead_code)]
    description: Option<String>,
    unique: Option<Vec<String>>,
    accepted_values: Option<AcceptedValuesFile>,
    range: Option<RangeFile>,
    relationship: Option<RelationshipFile>,
    expression: Option<String>,
    check: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AcceptedValuesFile {
    column: String,
    values: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RangeFile {
    column: String,
    min: Option<f64>,
    max: Option<f64>,
    greater_than: Option<f64>,
    less_than: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RelationshipFile {
    column: String,
    to: String,
    field: String,
}

impl Contracts {
    /// Loads the contract files and checks each against the sources and `project`:
    /// a contract for an unknown table, a source contract whose columns differ from
    /// SPEC section 2, or a rule naming an unknown column fails, naming the file.
    pub fn load(source: &ContractsSource, project: &Project) -> Result<Contracts> {
        let files = match source {
            ContractsSource::Embedded => EMBEDDED_CONTRACTS
                .iter()
                .map(|(path, text)| (path.to_string(), text.to_string()))
                .collect(),
            ContractsSource::Folder(root) => read_folder(root)?,
        };
        Contracts::from_files(files, project)
    }

    /// Builds the contracts from (file name, TOML text) pairs.
    pub fn from_files(files: Vec<(String, String)>, project: &Project) -> Result<Contracts> {
        let mut by_name = BTreeMap::new();
        for (file, text) in files {
            let contract = parse(&file, &text, project)?;
            if let Some(other) = by_name.insert(contract.name.clone(), contract) {
                return Err(Error::Contract {
                    file,
                    problem: format!("{} already has a contract in {}", other.name, other.file),
                });
            }
        }
        Ok(Contracts { by_name })
    }

    /// The contract of a source table or model, if it has one.
    pub fn get(&self, name: &str) -> Option<&Contract> {
        self.by_name.get(name)
    }

    /// Every contract, sources first (in SPEC order), then models by name.
    pub fn all(&self) -> Vec<&Contract> {
        let mut all: Vec<&Contract> = sources::ALL
            .iter()
            .filter_map(|t| self.by_name.get(t.name))
            .collect();
        all.extend(
            self.by_name
                .values()
                .filter(|c| c.subject == Subject::Model),
        );
        all
    }
}

fn read_folder(root: &Path) -> Result<Vec<(String, String)>> {
    let setting = || "--contracts".to_string();
    let entries = std::fs::read_dir(root).map_err(|e| Error::Setting {
        setting: setting(),
        reason: format!("cannot read {}: {e}", root.display()),
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).map_err(|e| Error::Contract {
                file: path.display().to_string(),
                problem: e.to_string(),
            })?;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            files.push((name, text));
        }
    }
    files.sort();
    Ok(files)
}

fn parse(file: &str, text: &str, project: &Project) -> Result<Contract> {
    let invalid = |problem: String| Error::Contract {
        file: file.to_string(),
        problem,
    };
    let parsed: ContractFile = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
    let (name, subject) = match (parsed.source, parsed.model) {
        (Some(source), None) => (source, Subject::Source),
        (None, Some(model)) => (model, Subject::Model),
        _ => {
            return Err(invalid(
                "set exactly one of `source = \"<raw table>\"` or `model = \"<model>\"`".into(),
            ));
        }
    };
    let mut columns = Vec::new();
    for column in parsed.columns {
        let data_type = parse_type(&column.type_name)
            .ok_or_else(|| invalid(format!("column `{}`: unknown type `{}` (int64, int32, float64, boolean, utf8, date, timestamp, decimal(p,s))", column.name, column.type_name)))?;
        columns.push(Column {
            name: column.name,
            data_type,
            type_name: column.type_name,
            nullable: column.nullable,
        });
    }
    match subject {
        Subject::Source => {
            let table = sources::find(&name)
                .ok_or_else(|| invalid(format!("`{name}` is not a raw table of SPEC section 2")))?;
            let expected: Vec<(String, DataType)> = table
                .columns()
                .map(|(n, k)| (n.to_string(), k.data_type()))
                .collect();
            let found: Vec<(String, DataType)> = columns
                .iter()
                .map(|c| (c.name.clone(), c.data_type.clone()))
                .collect();
            if expected != found {
                return Err(invalid(format!(
                    "the columns must be SPEC section 2's for {name}, in order: {}",
                    expected
                        .iter()
                        .map(|(n, t)| format!("{n} {t}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        Subject::Model => {
            project
                .model(&name)
                .map_err(|_| invalid(format!("`{name}` is not a model of the project")))?;
        }
    }
    if columns.is_empty() {
        return Err(invalid("list the table's columns under [[columns]]".into()));
    }
    let known: HashSet<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    let mut rules: Vec<Rule> = columns
        .iter()
        .filter(|c| !c.nullable)
        .map(|c| Rule {
            name: format!("not_null({})", c.name),
            severity: Severity::Error,
            kind: RuleKind::NotNull {
                column: c.name.clone(),
            },
        })
        .collect();
    for rule in parsed.rules {
        let kind = rule_kind(&rule).map_err(|p| invalid(format!("rule `{}`: {p}", rule.name)))?;
        for column in kind_columns(&kind) {
            if !known.contains(column) {
                return Err(invalid(format!(
                    "rule `{}` names column `{column}`, which is not among the columns",
                    rule.name
                )));
            }
        }
        if subject == Subject::Source && matches!(kind, RuleKind::Check { .. }) {
            return Err(invalid(format!(
                "rule `{}`: `check` rules are for models; a source rule must judge single rows",
                rule.name
            )));
        }
        if let RuleKind::Relationship { to, .. } = &kind
            && sources::find(to).is_none()
        {
            if project.model(to).is_err() {
                return Err(invalid(format!(
                    "rule `{}`: `{to}` is neither a raw table nor a model",
                    rule.name
                )));
            }
            // Checked before its commit, a model can only be compared with what
            // the run has already brought up to date: the models it reads.
            if subject == Subject::Model && !reads(project, &name, to) {
                return Err(invalid(format!(
                    "rule `{}`: {name} does not read `{to}` (directly or through other \
                     models), so `{to}` may not be up to date when {name} is checked",
                    rule.name
                )));
            }
        }
        if rules.iter().any(|r| r.name == rule.name) {
            return Err(invalid(format!("two rules are named `{}`", rule.name)));
        }
        rules.push(Rule {
            name: rule.name,
            severity: rule.severity,
            kind,
        });
    }
    if parsed.freshness.is_some() && subject == Subject::Model {
        return Err(invalid("freshness applies to sources only".into()));
    }
    Ok(Contract {
        name,
        subject,
        file: file.to_string(),
        columns,
        rules,
        freshness: parsed.freshness,
    })
}

/// Whether `model` reads `other`, directly or through other models.
fn reads(project: &Project, model: &str, other: &str) -> bool {
    let mut pending = vec![model.to_string()];
    let mut seen = HashSet::new();
    while let Some(current) = pending.pop() {
        let Ok(found) = project.model(&current) else {
            continue;
        };
        for parent in &found.refs {
            if parent == other {
                return true;
            }
            if seen.insert(parent.clone()) {
                pending.push(parent.clone());
            }
        }
    }
    false
}

fn rule_kind(rule: &RuleFile) -> std::result::Result<RuleKind, String> {
    let mut kinds = Vec::new();
    if let Some(columns) = &rule.unique {
        if columns.is_empty() {
            return Err("`unique` needs at least one column".into());
        }
        kinds.push(RuleKind::Unique {
            columns: columns.clone(),
        });
    }
    if let Some(a) = &rule.accepted_values {
        kinds.push(RuleKind::AcceptedValues {
            column: a.column.clone(),
            values: a.values.clone(),
        });
    }
    if let Some(r) = &rule.range {
        let bounds = Bounds {
            min: r.min,
            max: r.max,
            greater_than: r.greater_than,
            less_than: r.less_than,
        };
        if bounds == Bounds::default() {
            return Err("`range` needs min, max, greater_than or less_than".into());
        }
        kinds.push(RuleKind::Range {
            column: r.column.clone(),
            bounds,
        });
    }
    if let Some(r) = &rule.relationship {
        kinds.push(RuleKind::Relationship {
            column: r.column.clone(),
            to: r.to.clone(),
            field: r.field.clone(),
        });
    }
    if let Some(sql) = &rule.expression {
        kinds.push(RuleKind::Expression { sql: sql.clone() });
    }
    if let Some(sql) = &rule.check {
        kinds.push(RuleKind::Check { sql: sql.clone() });
    }
    match kinds.len() {
        1 => Ok(kinds.remove(0)),
        0 => Err(
            "give one of unique, accepted_values, range, relationship, expression, check".into(),
        ),
        _ => Err(
            "give only one of unique, accepted_values, range, relationship, expression, check"
                .into(),
        ),
    }
}

fn kind_columns(kind: &RuleKind) -> Vec<&str> {
    match kind {
        RuleKind::NotNull { column }
        | RuleKind::AcceptedValues { column, .. }
        | RuleKind::Range { column, .. }
        | RuleKind::Relationship { column, .. } => vec![column.as_str()],
        RuleKind::Unique { columns } => columns.iter().map(String::as_str).collect(),
        RuleKind::Expression { .. } | RuleKind::Check { .. } => Vec::new(),
    }
}

/// The Arrow type of a contract type name.
pub fn parse_type(name: &str) -> Option<DataType> {
    let name = name.trim().to_ascii_lowercase();
    Some(match name.as_str() {
        "int64" => DataType::Int64,
        "int32" => DataType::Int32,
        "float64" => DataType::Float64,
        "boolean" => DataType::Boolean,
        "utf8" => DataType::Utf8,
        "date" => DataType::Date32,
        "timestamp" => DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into())),
        other => {
            let inner = other.strip_prefix("decimal(")?.strip_suffix(')')?;
            let (p, s) = inner.split_once(',')?;
            DataType::Decimal128(p.trim().parse().ok()?, s.trim().parse().ok()?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::ProjectSource;

    fn project() -> Project {
        Project::load(&ProjectSource::Embedded).expect("the shipped project loads")
    }

    #[test]
    fn shipped_contracts_load_one_per_source_and_mart() {
        let project = project();
        let contracts = Contracts::load(&ContractsSource::Embedded, &project).expect("load");
        for table in &sources::ALL {
            assert!(contracts.get(table.name).is_some(), "{}", table.name);
        }
        for mart in project
            .models()
            .iter()
            .filter(|m| m.file.starts_with("marts/"))
        {
            assert!(contracts.get(&mart.name).is_some(), "{}", mart.name);
        }
    }

    #[test]
    fn types_parse() {
        assert_eq!(
            parse_type("decimal(12, 2)"),
            Some(DataType::Decimal128(12, 2))
        );
        assert_eq!(parse_type("Int64"), Some(DataType::Int64));
        assert_eq!(parse_type("text"), None);
    }

    #[test]
    fn mistakes_name_the_file_and_the_rule() {
        let project = project();
        let bad = |text: &str| {
            Contracts::from_files(vec![("x.toml".into(), text.into())], &project)
                .expect_err("refused")
                .to_string()
        };
        let columns = "[[columns]]\nname = \"order_id\"\ntype = \"int64\"\n";
        let message = bad(&format!(
            "model = \"fct_orders\"\n{columns}[[rules]]\nname = \"r\"\nrange = {{ column = \"nope\", min = 0 }}\n"
        ));
        assert!(
            message.contains("x.toml") && message.contains("`nope`"),
            "{message}"
        );
        let message = bad(&format!("model = \"no_such_model\"\n{columns}"));
        assert!(message.contains("no_such_model"), "{message}");
        let message = bad(&format!(
            "model = \"fct_orders\"\n{columns}[[rules]]\nname = \"r\"\n"
        ));
        assert!(message.contains("give one of"), "{message}");
        let message = bad(&format!(
            "model = \"fct_orders\"\n{columns}[[rules]]\nname = \"r\"\nrelationship = {{ column = \"order_id\", to = \"fct_attribution\", field = \"order_id\" }}\n"
        ));
        assert!(
            message.contains("does not read `fct_attribution`"),
            "{message}"
        );
        let message = bad("source = \"orders\"\n[[columns]]\nname = \"_op\"\ntype = \"utf8\"\n");
        assert!(message.contains("SPEC section 2"), "{message}");
    }
}
