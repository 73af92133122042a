//! Configuration manifests: one YAML document per environment declaring the refresh cadences and
//! every table's configuration. `tributary config` validates a manifest, compares it with the
//! table registry ([`plan`]), applies it and exports the registry back into one.
//!
//! ```yaml
//! cadences:
//!   10min:
//!     schedule: "rate(10 minutes)"   # optional; EventBridge rate(...) or cron(...)
//!     batch_size: 5                  # 1..=100
//!     max_concurrency: 4             # 1..=40
//!     table_order: largest_first     # optional: largest_first | table_id
//!     skip_idle: true                # optional, default true
//! tables:
//!   - cadence: 10min                 # required; a cadence defined above
//!     active: true                   # optional, default true
//!     source: {schema: sales, table: orders}
//!     # …every other field of a TableSpec
//! ```
//!
//! A table entry is a [`TableSpec`] plus `cadence` and `active`; its id is
//! `source.schema.source.table`. Every problem found — YAML syntax, unknown, missing or mistyped
//! fields, everything [`TableConfig`] rejects, and the checks only the whole manifest can make
//! (undefined cadences, out-of-range cadence settings, malformed schedules, duplicate table ids,
//! Glue tables and lake locations) — is reported with its line, what is wrong and the fix.
//!
//! The registry stores a table's specification as its canonical JSON ([`canonical_spec_json`]):
//! the parsed [`TableSpec`] serialized again, so every default is explicit and two manifests that
//! mean the same thing store the same text.

pub mod plan;
pub mod yaml_index;

use std::collections::BTreeMap;
use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_yaml_ng::{Mapping, Value};
use thiserror::Error;

use crate::lake::table_config::{SourceSpec, TableConfig, TableConfigError, TableSpec, TargetSpec};
use crate::ports::table_registry::{CadenceSettings, RegisteredTable, TableOrder};
use yaml_index::{Segment, YamlIndex, YamlIndexError, YamlPath};

/// Longest cadence name: the stack names its schedule rule `<prefix>-refresh-<name>`.
const MAX_CADENCE_NAME: usize = 32;

/// A manifest whose every check passed.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The cadences, in name order.
    pub cadences: Vec<CadenceSettings>,
    /// The tables, in the manifest's order.
    pub tables: Vec<ManifestTable>,
}

/// One table of a manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestTable {
    /// `schema.table`.
    pub table_id: String,
    /// The cadence that refreshes it.
    pub cadence: String,
    /// Whether it is refreshed.
    pub active: bool,
    /// Its configuration.
    pub spec: TableSpec,
    /// [`Self::spec`] as canonical JSON, what the registry stores.
    pub spec_json: String,
}

impl ManifestTable {
    /// The registration this entry asks for.
    pub fn registration(&self) -> RegisteredTable {
        RegisteredTable {
            table_id: self.table_id.clone(),
            refresh_cadence: self.cadence.clone(),
            active: self.active,
            spec_json: self.spec_json.clone(),
        }
    }
}

/// One problem of a manifest: where it is, what is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManifestIssue {
    /// Line of the offending entry or field, 1-based.
    pub line: usize,
    /// Path of the offending entry or field, e.g. `tables[3].partition_by[0]` (empty: the whole
    /// document).
    pub path: String,
    /// What is wrong.
    pub problem: String,
    /// How to fix it.
    pub fix: String,
}

impl ManifestIssue {
    /// The issue as `FILE:LINE: path: problem; fix: …`.
    pub fn located(&self, file: &str) -> String {
        format!("{file}:{}: {self}", self.line)
    }
}

impl fmt::Display for ManifestIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        write!(f, "{}; fix: {}", self.problem, self.fix)
    }
}

/// Why a manifest cannot be used, read or written.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ManifestError {
    /// The manifest has problems; every one found is listed, in line order.
    #[error("the manifest has {} problem(s)", .0.len())]
    Invalid(Vec<ManifestIssue>),
    /// A registered table's stored configuration is not a table configuration, so it cannot be
    /// exported.
    #[error(
        "registered table {table_id} has a configuration that is not a table configuration ({problem}); fix: apply a manifest that defines the table"
    )]
    UnreadableRegistration {
        /// The table.
        table_id: String,
        /// What is wrong with its stored configuration.
        problem: String,
    },
    /// The manifest could not be written as YAML.
    #[error("the manifest cannot be written as YAML: {0}")]
    Unwritable(String),
}

/// A cadence as a manifest writes it (its name is the key of its entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CadenceEntry {
    /// EventBridge schedule expression, `rate(…)` or `cron(…)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// Most tables per batch.
    pub batch_size: u32,
    /// Most batches at once.
    pub max_concurrency: u32,
    /// How tables are ordered into batches.
    #[serde(default)]
    pub table_order: TableOrder,
    /// Whether idle tables are left out of scheduled runs.
    #[serde(default = "skip_idle_by_default")]
    pub skip_idle: bool,
}

fn skip_idle_by_default() -> bool {
    true
}

impl CadenceEntry {
    /// The settings of cadence `name`.
    pub fn settings(&self, name: &str) -> CadenceSettings {
        CadenceSettings {
            name: name.to_owned(),
            schedule: self.schedule.clone(),
            batch_size: self.batch_size,
            max_concurrency: self.max_concurrency,
            table_order: self.table_order,
            skip_idle: self.skip_idle,
        }
    }
}

impl From<&CadenceSettings> for CadenceEntry {
    fn from(settings: &CadenceSettings) -> Self {
        CadenceEntry {
            schedule: settings.schedule.clone(),
            batch_size: settings.batch_size,
            max_concurrency: settings.max_concurrency,
            table_order: settings.table_order,
            skip_idle: settings.skip_idle,
        }
    }
}

/// The top level of a manifest.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    cadences: Mapping,
    tables: Vec<Value>,
}

/// The field of a table entry naming its cadence (not a [`TableSpec`] field).
const CADENCE_FIELD: &str = "cadence";
/// The field of a table entry saying whether it is refreshed (not a [`TableSpec`] field).
const ACTIVE_FIELD: &str = "active";

/// The canonical JSON of a table configuration: the specification serialized again, every
/// default explicit (and object keys in a fixed order), so equal configurations store equal text.
pub fn canonical_spec_json(spec: &TableSpec) -> Result<String, serde_json::Error> {
    serde_json::to_value(spec).map(|value| value.to_string())
}

/// A stored table configuration as a canonical JSON value, for comparing: re-serialized when it
/// reads as a [`TableSpec`], else the JSON as it is, else the text as a JSON string.
pub fn canonical_spec_value(spec_json: &str) -> serde_json::Value {
    serde_json::from_str::<TableSpec>(spec_json)
        .ok()
        .and_then(|spec| serde_json::to_value(spec).ok())
        .or_else(|| serde_json::from_str(spec_json).ok())
        .unwrap_or_else(|| serde_json::Value::String(spec_json.to_owned()))
}

impl Manifest {
    /// Parses and checks a manifest; on failure every problem found is listed.
    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let syntax = |line: usize, problem: String| {
            ManifestError::Invalid(vec![ManifestIssue {
                line,
                path: String::new(),
                problem,
                fix: "correct the YAML syntax at this line (indentation, quoting, `key: value`)"
                    .to_owned(),
            }])
        };
        let document: Value = serde_yaml_ng::from_str(text).map_err(|e| {
            syntax(
                e.location().map_or(1, |l| l.line()),
                format!("not valid YAML: {e}"),
            )
        })?;
        let index =
            YamlIndex::build(text).map_err(|YamlIndexError::Syntax { line, problem }| {
                syntax(line, format!("not valid YAML 1.2: {problem}"))
            })?;
        let mut checker = Checker {
            index,
            issues: Vec::new(),
        };
        let manifest = checker.manifest(document);
        let mut issues = checker.issues;
        match manifest {
            Some(manifest) if issues.is_empty() => Ok(manifest),
            _ => {
                issues.sort_by_key(|issue| issue.line);
                Err(ManifestError::Invalid(issues))
            }
        }
    }

    /// The manifest that describes `cadences` and `tables` as registered (YAML text): cadences by
    /// name, then tables by id, inactive ones included.
    pub fn export(
        cadences: &[CadenceSettings],
        tables: &[RegisteredTable],
    ) -> Result<String, ManifestError> {
        let unwritable = |e: serde_yaml_ng::Error| ManifestError::Unwritable(e.to_string());
        let mut cadence_entries = Mapping::new();
        let mut sorted_cadences: Vec<&CadenceSettings> = cadences.iter().collect();
        sorted_cadences.sort_by(|a, b| a.name.cmp(&b.name));
        for settings in sorted_cadences {
            cadence_entries.insert(
                Value::String(settings.name.clone()),
                serde_yaml_ng::to_value(CadenceEntry::from(settings)).map_err(unwritable)?,
            );
        }
        let mut sorted_tables: Vec<&RegisteredTable> = tables.iter().collect();
        sorted_tables.sort_by(|a, b| a.table_id.cmp(&b.table_id));
        let mut table_entries = Vec::with_capacity(sorted_tables.len());
        for table in sorted_tables {
            let spec: TableSpec = serde_json::from_str(&table.spec_json).map_err(|e| {
                ManifestError::UnreadableRegistration {
                    table_id: table.table_id.clone(),
                    problem: e.to_string(),
                }
            })?;
            let mut entry = Mapping::new();
            entry.insert(
                CADENCE_FIELD.into(),
                Value::String(table.refresh_cadence.clone()),
            );
            entry.insert(ACTIVE_FIELD.into(), Value::Bool(table.active));
            if let Value::Mapping(fields) =
                without_nulls(serde_yaml_ng::to_value(&spec).map_err(unwritable)?)
            {
                entry.extend(fields);
            }
            table_entries.push(Value::Mapping(entry));
        }
        let mut document = Mapping::new();
        document.insert("cadences".into(), Value::Mapping(cadence_entries));
        document.insert("tables".into(), Value::Sequence(table_entries));
        serde_yaml_ng::to_string(&document).map_err(unwritable)
    }
}

/// `value` without its null mapping entries (an absent optional field reads back the same).
fn without_nulls(value: Value) -> Value {
    match value {
        Value::Mapping(mapping) => Value::Mapping(
            mapping
                .into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        Value::Sequence(items) => Value::Sequence(items.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

/// What could be read of one table entry. A part is `None` when it has a problem (reported
/// already); the whole-manifest checks use the parts that are there.
struct ParsedTable {
    path: YamlPath,
    cadence: Option<String>,
    active: Option<bool>,
    source: Option<SourceSpec>,
    target: Option<TargetSpec>,
    spec: Option<TableSpec>,
}

/// Collects the issues of one manifest.
struct Checker {
    index: YamlIndex,
    issues: Vec<ManifestIssue>,
}

impl Checker {
    fn issue(&mut self, path: &YamlPath, problem: impl Into<String>, fix: impl Into<String>) {
        self.issues.push(ManifestIssue {
            line: self.index.line(path),
            path: path.to_string(),
            problem: problem.into(),
            fix: fix.into(),
        });
    }

    /// Deserializes `value` found at `path`; a failure becomes an issue located at the field
    /// that failed.
    fn deserialize<T: DeserializeOwned>(&mut self, path: &YamlPath, value: Value) -> Option<T> {
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(parsed) => Some(parsed),
            Err(error) => {
                let at = error
                    .path()
                    .iter()
                    .fold(path.clone(), |at, segment| match segment {
                        serde_path_to_error::Segment::Seq { index } => at.index(*index),
                        serde_path_to_error::Segment::Map { key } => at.key(key.as_str()),
                        serde_path_to_error::Segment::Enum { variant } => at.key(variant.as_str()),
                        serde_path_to_error::Segment::Unknown => at,
                    });
                let message = error.inner().to_string();
                let fix = schema_fix(&message, &at);
                self.issue(&at, message, fix);
                None
            }
        }
    }

    fn manifest(&mut self, document: Value) -> Option<Manifest> {
        let root = YamlPath::root();
        if document.is_null() {
            self.issue(
                &root,
                "the manifest is empty",
                "declare `cadences:` and `tables:` (see examples/tributary.yaml)",
            );
            return None;
        }
        let document: Document = self.deserialize(&root, document)?;
        let cadences = self.cadences(document.cadences);
        let tables_path = root.key("tables");
        let parsed: Vec<ParsedTable> = document
            .tables
            .into_iter()
            .enumerate()
            .filter_map(|(i, value)| self.table(tables_path.index(i), value))
            .collect();
        self.check_cadences_exist(&cadences, &parsed);
        self.check_unique(&parsed);
        let tables = parsed
            .into_iter()
            .filter_map(|table| self.finish_table(table))
            .collect();
        Some(Manifest { cadences, tables })
    }

    fn cadences(&mut self, entries: Mapping) -> Vec<CadenceSettings> {
        let path = YamlPath::root().key("cadences");
        let mut cadences = Vec::new();
        for (key, value) in entries {
            let name = match key {
                Value::String(name) => name,
                Value::Number(number) => number.to_string(),
                other => {
                    self.issue(
                        &path,
                        format!("cadence name {other:?} is not text"),
                        "name cadences like `10min`, `hourly` or `daily`",
                    );
                    continue;
                }
            };
            let at = path.key(name.as_str());
            if !valid_cadence_name(&name) {
                self.issue(
                    &at,
                    format!("cadence name `{name}` is not a valid name"),
                    format!(
                        "use 1-{MAX_CADENCE_NAME} characters from [a-z0-9_-], starting with a letter or digit (the stack's cadence names)"
                    ),
                );
            }
            let Some(entry) = self.deserialize::<CadenceEntry>(&at, value) else {
                continue;
            };
            if let Some(schedule) = &entry.schedule
                && let Err(problem) = check_schedule(schedule)
            {
                self.issue(
                    &at.key("schedule"),
                    problem,
                    "write rate(N minutes|hours|days) (singular unit when N is 1, e.g. rate(1 hour)) or cron(minutes hours day-of-month month day-of-week year) with `?` in exactly one of the day fields, e.g. cron(0 3 * * ? *)",
                );
            }
            let settings = entry.settings(&name);
            for problem in settings.problems() {
                let crate::ports::table_registry::CadenceSettingsError::OutOfRange {
                    field,
                    max,
                    ..
                } = &problem;
                let fix = format!("set {field} to a value between 1 and {max}");
                self.issue(&at.key(*field), problem.to_string(), fix);
            }
            cadences.push(settings);
        }
        cadences.sort_by(|a, b| a.name.cmp(&b.name));
        cadences
    }

    /// Reads one table entry: its `cadence`, `active` and specification (and, when the
    /// specification has problems, whatever of its `source` and `target` reads).
    fn table(&mut self, path: YamlPath, value: Value) -> Option<ParsedTable> {
        let Value::Mapping(mut fields) = value else {
            self.issue(
                &path,
                "a table entry is not a mapping of fields",
                "write the table as `- cadence: …` followed by its fields, one per line",
            );
            return None;
        };
        let cadence = match fields.shift_remove(CADENCE_FIELD) {
            Some(value) => self.deserialize::<String>(&path.key(CADENCE_FIELD), value),
            None => {
                self.issue(
                    &path,
                    "missing field `cadence`",
                    "add `cadence: <name>` naming one of the cadences defined under `cadences`",
                );
                None
            }
        };
        let active = match fields.shift_remove(ACTIVE_FIELD) {
            Some(value) => self.deserialize::<bool>(&path.key(ACTIVE_FIELD), value),
            None => Some(true),
        };
        let quietly = |name: &str| fields.get(name).cloned();
        let (source, target) = (quietly("source"), quietly("target"));
        let spec = self.deserialize::<TableSpec>(&path, Value::Mapping(fields));
        let (source, target) = match &spec {
            Some(spec) => (Some(spec.source.clone()), Some(spec.target.clone())),
            None => (
                source.and_then(|v| serde_yaml_ng::from_value(v).ok()),
                target.and_then(|v| serde_yaml_ng::from_value(v).ok()),
            ),
        };
        Some(ParsedTable {
            path,
            cadence,
            active,
            source,
            target,
            spec,
        })
    }

    fn check_cadences_exist(&mut self, cadences: &[CadenceSettings], tables: &[ParsedTable]) {
        let names: Vec<&str> = cadences.iter().map(|c| c.name.as_str()).collect();
        for table in tables {
            let Some(cadence) = &table.cadence else {
                continue;
            };
            if !names.contains(&cadence.as_str()) {
                let fix = if names.is_empty() {
                    format!("define cadence `{cadence}` under `cadences`")
                } else {
                    format!(
                        "use one of the cadences defined under `cadences` ({}), or define `{cadence}` there",
                        names.join(", ")
                    )
                };
                self.issue(
                    &table.path.key(CADENCE_FIELD),
                    format!("cadence `{cadence}` is not defined"),
                    fix,
                );
            }
        }
    }

    /// Table ids, Glue tables and lake locations must each belong to one table; a location may
    /// not lie inside another table's either (its files would be taken for the other table's).
    fn check_unique(&mut self, tables: &[ParsedTable]) {
        let mut ids: BTreeMap<String, usize> = BTreeMap::new();
        let mut targets: BTreeMap<String, usize> = BTreeMap::new();
        let mut locations: Vec<(Vec<&str>, usize, &str)> = Vec::new();
        for table in tables {
            if let Some(source) = &table.source {
                let id = source.table_id();
                let here = table.path.key("source");
                if let Some(first) = ids.get(&id) {
                    let problem = format!("table `{id}` is already defined on line {first}");
                    self.issue(
                        &here,
                        problem,
                        "define each source table once (remove or merge the duplicate entry)",
                    );
                } else {
                    ids.insert(id, self.index.line(&here));
                }
            }
            let Some(target) = &table.target else {
                continue;
            };
            let glue = format!("{}.{}", target.database, target.table);
            let here = table.path.key("target").key("table");
            if let Some(first) = targets.get(&glue) {
                let problem = format!(
                    "Glue table `{glue}` is already the target of the table on line {first}"
                );
                self.issue(&here, problem, "give each table its own target.table");
            } else {
                targets.insert(glue, self.index.line(&here));
            }
            let location = target.location.as_str();
            let segments: Vec<&str> = location.split('/').filter(|s| !s.is_empty()).collect();
            let here = table.path.key("target").key("location");
            let clash = locations.iter().find(|(other, _, _)| {
                let shorter = other.len().min(segments.len());
                other[..shorter] == segments[..shorter]
            });
            if let Some((other, first, other_location)) = clash {
                let problem = if *other == segments {
                    format!("location `{location}` is already used by the table on line {first}")
                } else {
                    format!(
                        "location `{location}` overlaps `{other_location}` of the table on line {first} (one contains the other)"
                    )
                };
                self.issue(
                    &here,
                    problem,
                    "give each table its own target.location, outside every other table's",
                );
            } else {
                locations.push((segments, self.index.line(&here), location));
            }
        }
    }

    /// Validates the specification (everything [`TableConfig`] checks) and builds the entry.
    fn finish_table(&mut self, table: ParsedTable) -> Option<ManifestTable> {
        let (Some(cadence), Some(active), Some(spec)) = (table.cadence, table.active, table.spec)
        else {
            return None;
        };
        let config = match TableConfig::try_from(spec.clone()) {
            Ok(config) => config,
            Err(TableConfigError::Invalid {
                field,
                problem,
                fix,
            }) => {
                self.issue(&table.path.join_dotted(&field), problem, fix);
                return None;
            }
            Err(TableConfigError::Unreadable(problem)) => {
                self.issue(&table.path, problem, "correct the table's fields");
                return None;
            }
        };
        let spec_json = match canonical_spec_json(&spec) {
            Ok(json) => json,
            Err(e) => {
                self.issue(
                    &table.path,
                    format!("the configuration cannot be stored as JSON: {e}"),
                    "correct the table's fields",
                );
                return None;
            }
        };
        Some(ManifestTable {
            table_id: config.table_id(),
            cadence,
            active,
            spec,
            spec_json,
        })
    }
}

/// How to fix a deserialization error, from serde's message.
fn schema_fix(message: &str, at: &YamlPath) -> String {
    let quoted = |rest: &str| rest.split('`').nth(1).unwrap_or_default().to_owned();
    if let Some(rest) = message.strip_prefix("unknown field") {
        let table_entry = matches!(at.parent(), Some(parent) if is_table_entry(&parent));
        let extra = if table_entry {
            " (a table entry also takes `cadence` and `active`)"
        } else {
            ""
        };
        format!(
            "remove `{}` or correct its spelling to one of the fields listed{extra}",
            quoted(rest)
        )
    } else if let Some(rest) = message.strip_prefix("missing field") {
        format!("add the field `{}`", quoted(rest))
    } else if message.starts_with("unknown variant") {
        "use one of the values listed".to_owned()
    } else if let Some((_, expected)) = message.split_once(", expected ") {
        format!("write {}", plain_expectation(expected))
    } else {
        "correct the value".to_owned()
    }
}

/// serde's name of an expected type, in the manifest's terms.
fn plain_expectation(expected: &str) -> String {
    match expected {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number (0 or more)".to_owned(),
        "a sequence" => "a list (`[a, b]` or one `- item` per line)".to_owned(),
        "a map" | "struct TableSpec" | "struct Document" => {
            "a mapping of fields (`key: value`)".to_owned()
        }
        other if other.starts_with("struct ") => "a mapping of fields (`key: value`)".to_owned(),
        other => other.to_owned(),
    }
}

/// Whether `path` is `tables[i]`.
fn is_table_entry(path: &YamlPath) -> bool {
    matches!(path.last(), Some(Segment::Index(_)))
        && path.parent() == Some(YamlPath::root().key("tables"))
}

/// Cadence names as the stack accepts them: `[a-z0-9][a-z0-9_-]{0,31}`.
fn valid_cadence_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && name.len() <= MAX_CADENCE_NAME
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Checks the shape of an EventBridge schedule expression: `rate(N unit)` or `cron(` six fields
/// `)`; the message says what is wrong.
fn check_schedule(expression: &str) -> Result<(), String> {
    let inner = |prefix: &str| {
        expression
            .trim()
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(')'))
    };
    if let Some(rate) = inner("rate(") {
        let parts: Vec<&str> = rate.split_whitespace().collect();
        let [value, unit] = parts.as_slice() else {
            return Err(format!("{expression:?} is not rate(<number> <unit>)"));
        };
        let Ok(value) = value.parse::<u32>() else {
            return Err(format!("{expression:?}: {value:?} is not a whole number"));
        };
        let singular = ["minute", "hour", "day"];
        let fits = if value == 1 {
            singular.contains(unit)
        } else {
            value > 1 && singular.iter().any(|s| unit.strip_suffix('s') == Some(*s))
        };
        if fits {
            Ok(())
        } else {
            Err(format!(
                "{expression:?}: `{value} {unit}` is not a positive number of minutes, hours or days"
            ))
        }
    } else if let Some(cron) = inner("cron(") {
        let fields: Vec<&str> = cron.split_whitespace().collect();
        if fields.len() != 6 {
            return Err(format!(
                "{expression:?} has {} fields; EventBridge cron expressions have 6",
                fields.len()
            ));
        }
        if (fields[2] == "?") == (fields[4] == "?") {
            return Err(format!(
                "{expression:?}: exactly one of day-of-month ({}) and day-of-week ({}) must be `?`",
                fields[2], fields[4]
            ));
        }
        Ok(())
    } else {
        Err(format!(
            "{expression:?} is not an EventBridge schedule expression"
        ))
    }
}

#[cfg(test)]
#[path = "manifest_test.rs"]
mod tests;
