//! Reading contract files: TOML into [`Contract`]s. The source contracts declare
//! the raw tables ([`Sources`]); the model contracts are checked against the
//! project's models before anything runs.
//!
//! Over 700 lines with its unit tests (the code is about 500).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use arrow::datatypes::{DataType, TimeUnit};
use serde::Deserialize;

use super::{Bounds, Column, Contract, Freshness, Rule, RuleKind, Severity, Subject};
use crate::error::{Error, Result};
use crate::models::Project;
use crate::sources::{SourceTable, Sources, UTC};

include!(concat!(env!("OUT_DIR"), "/embedded_contracts.rs"));

/// Where the contract files come from.
#[derive(Debug, Clone)]
pub enum ContractsSource {
    /// The `data_contracts/` folder compiled into this binary.
    Embedded,
    /// A folder of `.toml` contract files on disk.
    Folder(PathBuf),
}

/// Every contract of the project, by the table it guards, and the raw tables the
/// source contracts declare.
#[derive(Debug, Clone, Default)]
pub struct Contracts {
    by_name: BTreeMap<String, Contract>,
    sources: Sources,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ContractFile {
    source: Option<String>,
    model: Option<String>,
    #[allow(dead_code)]
    description: Option<String>,
    key: Option<Vec<String>>,
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
    /// Reads every contract file. Each is checked on its own (format, types, rule
    /// columns; a source contract must declare a change-log table with its key);
    /// the source contracts become the project's raw tables.
    pub fn read(source: &ContractsSource) -> Result<Contracts> {
        let files = match source {
            ContractsSource::Embedded => EMBEDDED_CONTRACTS
                .iter()
                .map(|(path, text)| (path.to_string(), text.to_string()))
                .collect(),
            ContractsSource::Folder(root) => read_folder(root)?,
        };
        Contracts::from_files(files)
    }

    /// Builds the contracts from (file name, TOML text) pairs.
    pub fn from_files(files: Vec<(String, String)>) -> Result<Contracts> {
        let mut by_name: BTreeMap<String, Contract> = BTreeMap::new();
        let mut tables = Vec::new();
        for (file, text) in files {
            let (contract, table) = parse(&file, &text)?;
            if let Some(other) = by_name.get(&contract.name) {
                return Err(Error::Contract {
                    file,
                    problem: format!("{} already has a contract in {}", other.name, other.file),
                });
            }
            tables.extend(table);
            by_name.insert(contract.name.clone(), contract);
        }
        let names: HashSet<String> = tables.iter().map(|t| t.name.clone()).collect();
        for contract in by_name.values_mut() {
            for rule in &mut contract.rules {
                if let RuleKind::Relationship { to, to_source, .. } = &mut rule.kind {
                    *to_source = names.contains(to.as_str());
                }
            }
        }
        let sources = Sources::new(check_order(tables, &by_name)?);
        Ok(Contracts { by_name, sources })
    }

    /// Checks the contracts against `project`: a model contract must name one of
    /// its models, and a relationship must point to a raw table or to a model
    /// (for a model contract, one the model reads). Fails naming the file.
    pub fn check(&self, project: &Project) -> Result<()> {
        for contract in self.by_name.values() {
            let invalid = |problem: String| Error::Contract {
                file: contract.file.clone(),
                problem,
            };
            let name = &contract.name;
            if contract.subject == Subject::Model && project.model(name).is_err() {
                return Err(invalid(format!("`{name}` is not a model of the project")));
            }
            for rule in &contract.rules {
                let RuleKind::Relationship { to, to_source, .. } = &rule.kind else {
                    continue;
                };
                if *to_source {
                    continue;
                }
                if project.model(to).is_err() {
                    return Err(invalid(format!(
                        "rule `{}`: `{to}` is neither a raw table nor a model",
                        rule.name
                    )));
                }
                // Checked before its commit, a model can only be compared with what
                // the run has already brought up to date: the models it reads.
                if contract.subject == Subject::Model && !reads(project, name, to) {
                    return Err(invalid(format!(
                        "rule `{}`: {name} does not read `{to}` (directly or through other \
                         models), so `{to}` may not be up to date when {name} is checked",
                        rule.name
                    )));
                }
            }
        }
        Ok(())
    }

    /// The raw tables the source contracts declare.
    pub fn sources(&self) -> &Sources {
        &self.sources
    }

    /// The contract of a source table or model, if it has one.
    pub fn get(&self, name: &str) -> Option<&Contract> {
        self.by_name.get(name)
    }

    /// Every contract, sources first (in check order), then models by name.
    pub fn all(&self) -> Vec<&Contract> {
        let mut all: Vec<&Contract> = self
            .sources
            .iter()
            .filter_map(|t| self.by_name.get(&t.name))
            .collect();
        all.extend(
            self.by_name
                .values()
                .filter(|c| c.subject == Subject::Model),
        );
        all
    }
}

/// The raw tables in the order their new files are checked: each after the raw
/// tables its relationships point to (so it sees the rows they load in the same
/// check), otherwise by name. Relationships among raw tables that go round in a
/// circle are refused.
fn check_order(
    mut pending: Vec<SourceTable>,
    contracts: &BTreeMap<String, Contract>,
) -> Result<Vec<SourceTable>> {
    pending.sort_by(|a, b| a.name.cmp(&b.name));
    let points_to = |table: &SourceTable| -> Vec<String> {
        let Some(contract) = contracts.get(&table.name) else {
            return Vec::new();
        };
        contract
            .rules
            .iter()
            .filter_map(|rule| match &rule.kind {
                RuleKind::Relationship {
                    to,
                    to_source: true,
                    ..
                } if *to != table.name => Some(to.clone()),
                _ => None,
            })
            .collect()
    };
    let mut ordered: Vec<SourceTable> = Vec::new();
    while !pending.is_empty() {
        let ready = pending.iter().position(|table| {
            points_to(table)
                .iter()
                .all(|to| ordered.iter().any(|t| &t.name == to))
        });
        let Some(index) = ready else {
            let circle: Vec<&str> = pending.iter().map(|t| t.name.as_str()).collect();
            let file = contracts
                .get(&pending[0].name)
                .map(|c| c.file.clone())
                .unwrap_or_default();
            return Err(Error::Contract {
                file,
                problem: format!(
                    "the relationships of the raw tables {} go round in a circle (or point \
                     into one): each raw table is checked after the raw tables it points to",
                    circle.join(", ")
                ),
            });
        };
        ordered.push(pending.remove(index));
    }
    Ok(ordered)
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

/// One contract file: its contract and, for a source contract, the raw table it
/// declares.
fn parse(file: &str, text: &str) -> Result<(Contract, Option<SourceTable>)> {
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
    if columns.is_empty() {
        return Err(invalid("list the table's columns under [[columns]]".into()));
    }
    let table = match subject {
        Subject::Source => {
            let declared = columns
                .iter()
                .map(|c| (c.name.clone(), c.data_type.clone()))
                .collect();
            let key = parsed.key.unwrap_or_default();
            Some(SourceTable::new(&name, key, declared).map_err(invalid)?)
        }
        Subject::Model if parsed.key.is_some() => {
            return Err(invalid(
                "`key` declares a raw table's key; it applies to source contracts only".into(),
            ));
        }
        Subject::Model => None,
    };
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
    let contract = Contract {
        name,
        subject,
        file: file.to_string(),
        columns,
        rules,
        freshness: parsed.freshness,
    };
    Ok((contract, table))
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
            // Known once every source contract is read.
            to_source: false,
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

/// The shipped project and contracts, checked, for tests.
#[cfg(test)]
pub(crate) fn shipped_project() -> (Project, Contracts) {
    use crate::models::ProjectSource;
    let contracts =
        Contracts::read(&ContractsSource::Embedded).expect("the shipped contracts read");
    let project = Project::load(
        &ProjectSource::Embedded,
        contracts.sources(),
        &Default::default(),
    )
    .expect("the shipped project loads");
    contracts
        .check(&project)
        .expect("the shipped contracts hold");
    (project, contracts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::DataType::{Date32, Decimal128, Int32, Int64, Utf8};

    /// A raw table as SPEC section 2 lists it: name, key, payload columns.
    type SpecTable = (
        &'static str,
        Vec<&'static str>,
        Vec<(&'static str, DataType)>,
    );

    /// SPEC section 2, written out: each raw table, its key and its payload columns.
    fn spec_section_2() -> Vec<SpecTable> {
        let ts = crate::sources::timestamp_type;
        let money = || Decimal128(12, 2);
        vec![
            (
                "customers",
                vec!["customer_id"],
                vec![
                    ("customer_id", Int64),
                    ("email", Utf8),
                    ("first_name", Utf8),
                    ("last_name", Utf8),
                    ("country", Utf8),
                    ("city", Utf8),
                    ("loyalty_tier", Utf8),
                    ("signup_at", ts()),
                ],
            ),
            (
                "products",
                vec!["product_id"],
                vec![
                    ("product_id", Int64),
                    ("sku", Utf8),
                    ("product_name", Utf8),
                    ("category", Utf8),
                    ("subcategory", Utf8),
                    ("gender", Utf8),
                    ("list_price", money()),
                    ("launched_on", Date32),
                ],
            ),
            (
                "campaigns",
                vec!["campaign_id"],
                vec![
                    ("campaign_id", Int64),
                    ("campaign_name", Utf8),
                    ("channel", Utf8),
                    ("start_date", Date32),
                    ("end_date", Date32),
                    ("daily_budget", money()),
                ],
            ),
            (
                "ad_spend",
                vec!["campaign_id", "spend_date"],
                vec![
                    ("campaign_id", Int64),
                    ("spend_date", Date32),
                    ("impressions", Int64),
                    ("clicks", Int64),
                    ("spend", money()),
                ],
            ),
            (
                "touchpoints",
                vec!["touchpoint_id"],
                vec![
                    ("touchpoint_id", Int64),
                    ("customer_id", Int64),
                    ("campaign_id", Int64),
                    ("channel", Utf8),
                    ("touched_at", ts()),
                    ("device", Utf8),
                    ("landing_page", Utf8),
                ],
            ),
            (
                "orders",
                vec!["order_id"],
                vec![
                    ("order_id", Int64),
                    ("customer_id", Int64),
                    ("ordered_at", ts()),
                    ("status", Utf8),
                    ("shipping_amount", money()),
                ],
            ),
            (
                "order_items",
                vec!["order_id", "line_number"],
                vec![
                    ("order_id", Int64),
                    ("line_number", Int32),
                    ("product_id", Int64),
                    ("quantity", Int32),
                    ("unit_price", money()),
                    ("discount_amount", money()),
                ],
            ),
        ]
    }

    #[test]
    fn the_shipped_source_contracts_declare_spec_section_2() {
        let (project, contracts) = shipped_project();
        let spec = spec_section_2();
        assert_eq!(contracts.sources().len(), spec.len());
        for (name, key, payload) in spec {
            let table = contracts.sources().find(name).expect(name);
            assert_eq!(table.key, key, "{name}");
            let columns: Vec<(String, DataType)> = table
                .columns()
                .map(|(n, t)| (n.to_string(), t.clone()))
                .collect();
            let expected: Vec<(String, DataType)> = crate::sources::change_columns()
                .into_iter()
                .chain(payload)
                .map(|(n, t)| (n.to_string(), t))
                .collect();
            assert_eq!(columns, expected, "{name}");
        }
        for mart in project.models().iter().filter(|m| m.publish) {
            assert!(contracts.get(&mart.name).is_some(), "{}", mart.name);
        }
        // order_items.product_id → products: products are checked first.
        let order: Vec<&str> = contracts
            .sources()
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        let at = |name: &str| order.iter().position(|t| *t == name);
        assert!(at("products") < at("order_items"), "{order:?}");
    }

    #[test]
    fn raw_tables_are_checked_after_those_they_point_to_and_circles_are_refused() {
        let source = |name: &str, to: &str| {
            let rule = if to.is_empty() {
                String::new()
            } else {
                format!(
                    "[[rules]]\nname = \"r\"\n\
                     relationship = {{ column = \"id\", to = \"{to}\", field = \"id\" }}\n"
                )
            };
            let text = format!(
                "source = \"{name}\"\nkey = [\"id\"]\ncolumns = [\n\
                 {{ name = \"_op\", type = \"utf8\" }},\n\
                 {{ name = \"_seq\", type = \"int64\" }},\n\
                 {{ name = \"_batch_id\", type = \"int64\" }},\n\
                 {{ name = \"_changed_at\", type = \"timestamp\" }},\n\
                 {{ name = \"id\", type = \"int64\" }},\n]\n{rule}"
            );
            (format!("{name}.toml"), text)
        };
        let contracts =
            Contracts::from_files(vec![source("a", "c"), source("b", ""), source("c", "b")])
                .expect("loads");
        let order: Vec<&str> = contracts
            .sources()
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(order, ["b", "c", "a"]);
        let err =
            Contracts::from_files(vec![source("a", "b"), source("b", "a")]).expect_err("a circle");
        assert!(err.to_string().contains("circle"), "{err}");
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
        let (project, _) = shipped_project();
        let bad = |text: &str| {
            Contracts::from_files(vec![("x.toml".into(), text.into())])
                .and_then(|contracts| contracts.check(&project))
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
        assert!(message.contains("change log"), "{message}");
        let message = bad(&format!(
            "model = \"fct_orders\"\nkey = [\"order_id\"]\n{columns}"
        ));
        assert!(message.contains("source contracts only"), "{message}");
    }
}
