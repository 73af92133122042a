//! `tributary config`: the configuration manager. `validate` checks a manifest without AWS,
//! `diff` shows what applying it would change in the registry, `apply` writes that change (only
//! what differs: a second apply writes nothing), `export` prints the registry as a manifest.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::Value;
use tributary_shared::adapters::dynamodb_table_registry::DynamoDbTableRegistry;
use tributary_shared::manifest::plan::{
    Action, ActionCounts, ConfigPlan, FieldChange, PlanSummary,
};
use tributary_shared::manifest::{Manifest, ManifestError, ManifestIssue};
use tributary_shared::ports::table_registry::{CadenceSettings, RegisteredTable};

use crate::connection::Connection;
use crate::output::{Output, TextTable};

/// The subcommands of `tributary config`.
#[derive(clap::Subcommand)]
pub enum ConfigCommand {
    /// Check a manifest: YAML, fields, every table configuration, cadences, schedules and
    /// duplicates. Needs no AWS access.
    ///
    /// Every problem is printed as FILE:LINE with its fix; exits with status 1 if there is any.
    Validate {
        /// The manifest (YAML).
        file: PathBuf,
    },
    /// Show what `apply` would change in the registry: cadences and tables added, changed (field
    /// by field, old → new), re-activated, deactivated or unchanged.
    ///
    /// Exits with status 1, without reading the registry, if the manifest has problems.
    Diff {
        /// The manifest (YAML).
        file: PathBuf,
    },
    /// Validate, show the plan and write it: new and changed cadences and tables, and registered
    /// tables absent from the manifest deactivated (never deleted). Unchanged items are not
    /// rewritten, so applying the same manifest twice writes nothing the second time.
    Apply {
        /// The manifest (YAML).
        file: PathBuf,
        /// Show the plan only; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print the registry as a manifest (YAML, also with --json): cadences by name, then tables
    /// by id, inactive ones included.
    Export {
        /// Write the manifest to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

/// Runs a `tributary config` subcommand.
pub async fn run(
    connection: &Connection,
    output: &Output,
    command: ConfigCommand,
) -> Result<ExitCode> {
    match command {
        ConfigCommand::Validate { file } => validate(output, &file),
        ConfigCommand::Diff { file } => plan(connection, output, &file, Mode::Diff).await,
        ConfigCommand::Apply { file, dry_run } => {
            let mode = if dry_run { Mode::DryRun } else { Mode::Apply };
            plan(connection, output, &file, mode).await
        }
        ConfigCommand::Export { output: path } => export(connection, output, path.as_deref()).await,
    }
}

/// The outcome of checking a manifest, as printed.
#[derive(Serialize)]
struct Validation<'a> {
    file: String,
    valid: bool,
    cadences: usize,
    tables: usize,
    inactive_tables: usize,
    problems: &'a [ManifestIssue],
}

/// Reads and checks `file`; when it has problems, prints them and returns `None`.
fn load(output: &Output, file: &Path) -> Result<Option<Manifest>> {
    let text =
        fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    match Manifest::parse(&text) {
        Ok(manifest) => Ok(Some(manifest)),
        Err(ManifestError::Invalid(problems)) => {
            report_problems(output, file, &problems);
            Ok(None)
        }
        Err(other) => Err(other.into()),
    }
}

/// Prints the problems of `file`.
fn report_problems(output: &Output, file: &Path, problems: &[ManifestIssue]) {
    let report = Validation {
        file: file.display().to_string(),
        valid: false,
        cadences: 0,
        tables: 0,
        inactive_tables: 0,
        problems,
    };
    output.emit(&report, |report| {
        let mut text: String = report
            .problems
            .iter()
            .map(|problem| format!("{}\n", problem.located(&report.file)))
            .collect();
        text.push_str(&format!(
            "{} problem(s) in {}\n",
            report.problems.len(),
            report.file
        ));
        text
    });
}

fn validate(output: &Output, file: &Path) -> Result<ExitCode> {
    let Some(manifest) = load(output, file)? else {
        return Ok(ExitCode::FAILURE);
    };
    let report = Validation {
        file: file.display().to_string(),
        valid: true,
        cadences: manifest.cadences.len(),
        tables: manifest.tables.len(),
        inactive_tables: manifest.tables.iter().filter(|t| !t.active).count(),
        problems: &[],
    };
    output.emit(&report, |report| {
        format!(
            "{}: valid ({} cadences, {} tables, {} inactive)\n",
            report.file, report.cadences, report.tables, report.inactive_tables
        )
    });
    Ok(ExitCode::SUCCESS)
}

/// What `plan` does with the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Mode {
    /// Print it.
    Diff,
    /// Print it, as `apply` would, without writing.
    DryRun,
    /// Print and write it.
    Apply,
}

/// A plan as printed.
#[derive(Serialize)]
struct PlanReport<'a> {
    file: String,
    mode: Mode,
    config_table: &'a str,
    plan: &'a ConfigPlan,
    summary: PlanSummary,
    /// Items written (0 unless applied).
    written: usize,
}

async fn plan(
    connection: &Connection,
    output: &Output,
    file: &Path,
    mode: Mode,
) -> Result<ExitCode> {
    let Some(manifest) = load(output, file)? else {
        return Ok(ExitCode::FAILURE);
    };
    let session = connection.session().await?;
    let registry = session.registry();
    let (cadences, tables) = read_registry(&registry, &session.names.config_table).await?;
    let plan = ConfigPlan::compute(&manifest, &cadences, &tables);
    let written = if mode == Mode::Apply {
        write(&registry, &plan).await?
    } else {
        0
    };
    let report = PlanReport {
        file: file.display().to_string(),
        mode,
        config_table: &session.names.config_table,
        plan: &plan,
        summary: plan.summary(),
        written,
    };
    output.emit(&report, render_plan);
    Ok(ExitCode::SUCCESS)
}

/// Every registered cadence and table.
async fn read_registry(
    registry: &DynamoDbTableRegistry,
    config_table: &str,
) -> Result<(Vec<CadenceSettings>, Vec<RegisteredTable>)> {
    let context = || format!("cannot read the registry (DynamoDB table {config_table})");
    let cadences = registry.all_cadences().await.with_context(context)?;
    let tables = registry.all_tables().await.with_context(context)?;
    Ok((cadences, tables))
}

/// Writes the plan: cadences first (tables name them), then tables. Returns the items written.
async fn write(registry: &DynamoDbTableRegistry, plan: &ConfigPlan) -> Result<usize> {
    let total = plan.summary().writes;
    let mut written = 0;
    let failed = |written: usize| {
        format!(
            "the registry write failed after {written} of {total} writes; applying the manifest again completes it"
        )
    };
    for settings in plan.cadence_writes() {
        registry
            .put_cadence(settings)
            .await
            .with_context(|| failed(written))?;
        written += 1;
    }
    for table in plan.table_writes() {
        registry
            .put_table(table)
            .await
            .with_context(|| failed(written))?;
        written += 1;
    }
    Ok(written)
}

/// A changed value as printed: compact JSON, `-` when absent.
fn shown(value: Option<&Value>) -> String {
    value.map_or_else(|| "-".to_owned(), Value::to_string)
}

/// The rows of one item: one per changed field (the item named on the first), or one row.
fn item_rows(table: &mut TextTable, action: Action, item: String, changes: &[FieldChange]) {
    if changes.is_empty() {
        table.row(vec![action.as_str().to_owned(), item]);
        return;
    }
    for (i, change) in changes.iter().enumerate() {
        let (action, item) = if i == 0 {
            (action.as_str().to_owned(), item.clone())
        } else {
            (String::new(), String::new())
        };
        table.row(vec![
            action,
            item,
            change.field.clone(),
            shown(change.old.as_ref()),
            shown(change.new.as_ref()),
        ]);
    }
}

fn render_plan(report: &PlanReport<'_>) -> String {
    let mut table = TextTable::new(&["ACTION", "ITEM", "FIELD", "OLD", "NEW"]);
    let unmanaged = |in_manifest: bool| {
        if in_manifest {
            ""
        } else {
            " (not in the manifest)"
        }
    };
    for cadence in &report.plan.cadences {
        let item = format!("cadence {}{}", cadence.name, unmanaged(cadence.in_manifest));
        item_rows(&mut table, cadence.action, item, &cadence.changes);
    }
    for entry in &report.plan.tables {
        let item = format!("table {}{}", entry.table_id, unmanaged(entry.in_manifest));
        item_rows(&mut table, entry.action, item, &entry.changes);
    }
    let counts = |c: &ActionCounts, tables: bool| {
        let mut parts = vec![
            format!("{} to add", c.add),
            format!("{} to change", c.change),
        ];
        if tables {
            parts.push(format!("{} to reactivate", c.reactivate));
            parts.push(format!("{} to deactivate", c.deactivate));
        }
        parts.push(format!("{} unchanged", c.unchanged));
        parts.join(", ")
    };
    let summary = &report.summary;
    let mut text = table.render();
    text.push_str(&format!(
        "\n{} against {}: cadences {}; tables {}.\n",
        report.file,
        report.config_table,
        counts(&summary.cadences, false),
        counts(&summary.tables, true)
    ));
    text.push_str(&match (report.mode, summary.writes) {
        (_, 0) => {
            "Nothing to apply: the registry already matches the manifest (0 writes).\n".to_owned()
        }
        (Mode::Diff, writes) => format!("`tributary config apply` would make {writes} writes.\n"),
        (Mode::DryRun, writes) => format!("Dry run: {writes} writes planned, nothing written.\n"),
        (Mode::Apply, _) => format!("Applied: {} writes.\n", report.written),
    });
    text
}

async fn export(connection: &Connection, output: &Output, path: Option<&Path>) -> Result<ExitCode> {
    let session = connection.session().await?;
    let config_table = &session.names.config_table;
    let (cadences, tables) = read_registry(&session.registry(), config_table).await?;
    let manifest = Manifest::export(&cadences, &tables)?;
    let text = format!(
        "# Tributary manifest exported from {config_table} by `tributary config export`.\n{manifest}"
    );
    match path {
        Some(path) => {
            fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
            output.note(format!(
                "wrote {} cadences and {} tables to {}",
                cadences.len(),
                tables.len(),
                path.display()
            ));
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}
