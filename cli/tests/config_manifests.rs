//! `tributary config` end to end: the built CLI against the local AWS emulator, on a config table
//! created from the stack template for a prefix of its own (docs/DESIGN.md, "Configuration
//! manifests"): validation with located problems, plans, idempotent applies, deactivation
//! instead of deletion, and export round trips.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a failed step stops the test

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};
use tempfile::TempDir;
use tributary_shared::adapters::dynamodb_table_registry::{DynamoDbTableRegistry, attr};
use tributary_shared::bootstrap::stack_template::StackTemplate;
use tributary_shared::lake::table_config::{DEFAULT_TABLE_FORMAT, TableFormat};
use tributary_shared::manifest::Manifest;
use tributary_shared::ports::table_registry::{RegisteredTable, TableRegistry};
use tributary_tests::cli::{Cli, CliRun};
use tributary_tests::{LocalAws, unique_name};

/// The binary under test, built by cargo for this test target.
const TRIBUTARY: &str = env!("CARGO_BIN_EXE_tributary");

/// The example manifest shipped with the repository.
fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/tributary.yaml")
}

fn example() -> String {
    std::fs::read_to_string(example_path()).expect("read examples/tributary.yaml")
}

/// A stack prefix of its own: the CLI, its config table and a directory for manifests.
struct Stack {
    aws: LocalAws,
    cli: Cli,
    config_table: String,
    registry: DynamoDbTableRegistry,
    dir: TempDir,
}

impl Stack {
    async fn new() -> Stack {
        let aws = LocalAws::connect().await;
        let endpoint = std::env::var("AWS_ENDPOINT_URL").expect("the emulator's endpoint");
        let prefix = unique_name("cfg");
        let config_table = StackTemplate::bundled()
            .expect("the bundled template")
            .resource_name(
                DynamoDbTableRegistry::STACK_RESOURCE,
                "AWS::DynamoDB::Table",
                "TableName",
                &BTreeMap::from([("NamePrefix".to_owned(), prefix.clone())]),
            )
            .expect("the config table's name");
        DynamoDbTableRegistry::create_table(&aws.dynamodb(), &config_table)
            .await
            .expect("create the config table");
        let registry = DynamoDbTableRegistry::new(aws.dynamodb(), &config_table);
        Stack {
            cli: Cli::new(TRIBUTARY, endpoint, prefix),
            config_table,
            registry,
            aws,
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// Writes `text` as manifest `name` and returns its path.
    fn manifest(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write manifest");
        path.display().to_string()
    }

    fn run(&self, args: &[&str]) -> CliRun {
        self.cli.run(args)
    }

    /// Runs a command that must succeed.
    fn ok(&self, args: &[&str]) -> CliRun {
        let run = self.run(args);
        assert_eq!(run.code, Some(0), "tributary {args:?} failed: {run:#?}");
        run
    }

    /// The registration of `table_id`, which must exist.
    async fn table(&self, table_id: &str) -> RegisteredTable {
        self.registry
            .table(table_id)
            .await
            .expect("read the registry")
            .unwrap_or_else(|| panic!("{table_id} is registered"))
    }

    async fn tables(&self) -> Vec<RegisteredTable> {
        self.registry.all_tables().await.expect("list tables")
    }

    /// `updated_at` of every item of the config table.
    async fn updated_at(&self) -> BTreeMap<String, String> {
        let items = self
            .aws
            .dynamodb()
            .scan()
            .table_name(&self.config_table)
            .send()
            .await
            .expect("scan the config table")
            .items
            .unwrap_or_default();
        items
            .iter()
            .map(|item| {
                let text = |name: &str| {
                    item.get(name)
                        .and_then(|v| v.as_s().ok())
                        .cloned()
                        .unwrap_or_default()
                };
                (text(attr::CONFIG_ID), text(attr::UPDATED_AT))
            })
            .collect()
    }
}

/// The example without its `sales.order_events` table, with `sales.orders` in history mode, an
/// added `sales.refunds` table and cadence `10min` at batch size 8.
fn edited_example() -> String {
    let text = example();
    let start = text
        .find("  # Every change kept (history)")
        .expect("the order_events entry");
    let end = text
        .find("  # Slowly changing dimension")
        .expect("the entry after it");
    let refunds = "  - cadence: hourly\n    source: {schema: sales, table: refunds}\n    \
                   target: {database: tributary_lake, table: sales_refunds, location: sales/refunds}\n    \
                   primary_key: [refund_id]\n\n";
    let text = format!("{}{refunds}{}", &text[..start], &text[end..]);
    let replace_once = |text: &str, from: &str, to: &str| {
        assert_eq!(text.matches(from).count(), 1, "{from:?} occurs once");
        text.replace(from, to)
    };
    let text = replace_once(&text, "    batch_size: 5\n", "    batch_size: 8\n");
    replace_once(
        &text,
        "    storage_mode: current # current (default) | history | scd2\n",
        "    storage_mode: history\n",
    )
}

/// The (action, in_manifest) of every item of a JSON plan, by name.
fn actions(plan: &Value, kind: &str, key: &str) -> BTreeMap<String, (String, bool)> {
    plan["plan"][kind]
        .as_array()
        .expect("plan items")
        .iter()
        .map(|item| {
            (
                item[key].as_str().expect("name").to_owned(),
                (
                    item["action"].as_str().expect("action").to_owned(),
                    item["in_manifest"].as_bool().expect("in_manifest"),
                ),
            )
        })
        .collect()
}

/// The changes of item `name` in a JSON plan.
fn changes(plan: &Value, kind: &str, key: &str, name: &str) -> Value {
    plan["plan"][kind]
        .as_array()
        .expect("plan items")
        .iter()
        .find(|item| item[key] == name)
        .unwrap_or_else(|| panic!("{name} in the plan"))["changes"]
        .clone()
}

fn owned(pairs: &[(&str, &str, bool)]) -> BTreeMap<String, (String, bool)> {
    pairs
        .iter()
        .map(|(name, action, in_manifest)| {
            ((*name).to_owned(), ((*action).to_owned(), *in_manifest))
        })
        .collect()
}

#[tokio::test]
async fn validate_accepts_the_example_manifest() {
    let stack = Stack::new().await;
    let run = stack.ok(&["config", "validate", &example_path().display().to_string()]);
    assert!(
        run.stdout
            .contains("valid (3 cadences, 4 tables, 1 inactive)"),
        "{run:#?}"
    );
}

#[tokio::test]
async fn validate_reports_every_problem_with_file_and_line_and_fails() {
    let stack = Stack::new().await;
    let bad = example()
        .replace("    batch_size: 10\n", "    batch_size: 0\n")
        .replace("  - cadence: daily\n", "  - cadence: weekly\n")
        .replace("[\"month(order_date)\"]", "[\"month(order_day)\"]");
    let file = stack.manifest("bad.yaml", &bad);
    let line_of = |needle: &str| {
        bad.lines()
            .position(|line| line.contains(needle))
            .map(|i| i + 1)
            .expect("needle in the manifest")
    };
    let run = stack.run(&["config", "validate", &file]);
    assert_eq!(run.code, Some(1), "{run:#?}");
    let expected = [
        format!(
            "{file}:{}: cadences.hourly.batch_size: cadence hourly: batch_size is 0; it must be between 1 and 100; fix: set batch_size to a value between 1 and 100",
            line_of("batch_size: 0")
        ),
        format!(
            "{file}:{}: tables[0].partition_by[0]: column `order_day` is not among input.columns; fix: declare the column in input.columns or fix the name",
            line_of("month(order_day)")
        ),
        format!(
            "{file}:{}: tables[3].cadence: cadence `weekly` is not defined; fix: use one of the cadences defined under `cadences` (10min, daily, hourly), or define `weekly` there",
            line_of("cadence: weekly")
        ),
        format!("3 problem(s) in {file}"),
    ];
    assert_eq!(run.stdout.lines().collect::<Vec<_>>(), expected);

    let run = stack.run(&["--json", "config", "validate", &file]);
    assert_eq!(run.code, Some(1));
    let report = run.json();
    assert_eq!(report["valid"], false);
    assert_eq!(report["problems"].as_array().map(Vec::len), Some(3));
    assert_eq!(report["problems"][0]["line"], line_of("batch_size: 0"));
}

#[tokio::test]
async fn diff_and_apply_of_an_invalid_manifest_fail_without_reading_the_registry() {
    let stack = Stack::new().await;
    let file = stack.manifest(
        "bad.yaml",
        &example().replace("  - cadence: daily\n", "  - cadence: weekly\n"),
    );
    // Nothing listens there: reaching for the registry would fail with a connection error.
    let unreachable = Cli::new(TRIBUTARY, "http://127.0.0.1:9", "no-such-stack");
    for command in ["diff", "apply"] {
        let run = unreachable.run(&["config", command, &file]);
        assert_eq!(run.code, Some(1), "{run:#?}");
        assert!(
            run.stdout.contains("cadence `weekly` is not defined"),
            "{run:#?}"
        );
        assert!(
            run.stderr.is_empty(),
            "no registry access was attempted: {run:#?}"
        );
    }
}

#[tokio::test]
async fn apply_then_export_round_trips() {
    let stack = Stack::new().await;
    let file = stack.manifest("example.yaml", &example());
    let run = stack.ok(&["config", "apply", &file]);
    assert!(run.stdout.contains("Applied: 7 writes."), "{run:#?}");

    let exported = stack.dir.path().join("exported.yaml");
    let exported = exported.display().to_string();
    stack.ok(&["config", "export", "--output", &exported]);
    let text = std::fs::read_to_string(&exported).expect("read the export");
    let original = Manifest::parse(&example()).expect("the example parses");
    let again = Manifest::parse(&text).expect("the export parses");
    assert_eq!(again.cadences, original.cadences);
    let by_id = |manifest: &Manifest| {
        manifest
            .tables
            .iter()
            .map(|t| (t.table_id.clone(), t.clone()))
            .collect::<BTreeMap<_, _>>()
    };
    assert_eq!(
        by_id(&again),
        by_id(&original),
        "same tables, same canonical specs"
    );
    let formats = |manifest: &Manifest| {
        manifest
            .tables
            .iter()
            .map(|t| (t.table_id.clone(), t.spec.target.format))
            .collect::<BTreeMap<_, _>>()
    };
    assert_eq!(
        formats(&again),
        BTreeMap::from([
            ("crm.customers".to_owned(), TableFormat::Iceberg),
            ("legacy.invoices".to_owned(), DEFAULT_TABLE_FORMAT),
            ("sales.order_events".to_owned(), DEFAULT_TABLE_FORMAT),
            ("sales.orders".to_owned(), TableFormat::Hive),
        ])
    );
    assert_eq!(
        text.matches("format: ").count(),
        4,
        "every table's format is written out, a defaulted one too (like every default): {text}"
    );

    stack.ok(&["config", "validate", &exported]);
    let run = stack.ok(&["config", "apply", &exported]);
    assert!(
        run.stdout
            .contains("Nothing to apply: the registry already matches the manifest (0 writes)."),
        "applying the export changes nothing: {run:#?}"
    );
    let stdout = stack.ok(&["config", "export"]).stdout;
    assert_eq!(stdout, text, "export to stdout prints the same manifest");
}

#[tokio::test]
async fn a_second_apply_writes_nothing() {
    let stack = Stack::new().await;
    let file = stack.manifest("example.yaml", &example());
    stack.ok(&["config", "apply", &file]);
    let before = stack.updated_at().await;
    assert_eq!(before.len(), 7);

    let run = stack.ok(&["--json", "config", "apply", &file]);
    let report = run.json();
    assert_eq!(report["summary"]["writes"], 0);
    assert_eq!(report["written"], 0);
    assert_eq!(stack.updated_at().await, before, "no item was rewritten");
    let run = stack.ok(&["config", "apply", &file]);
    assert!(run.stdout.contains("(0 writes)"), "{run:#?}");
}

#[tokio::test]
async fn diff_shows_exactly_what_an_edited_manifest_changes() {
    let stack = Stack::new().await;
    stack.ok(&[
        "config",
        "apply",
        &stack.manifest("example.yaml", &example()),
    ]);
    let before = stack.tables().await;
    let edited = stack.manifest("edited.yaml", &edited_example());

    let plan = stack.ok(&["--json", "config", "diff", &edited]).json();
    assert_eq!(
        actions(&plan, "cadences", "name"),
        owned(&[
            ("10min", "change", true),
            ("daily", "unchanged", true),
            ("hourly", "unchanged", true),
        ])
    );
    assert_eq!(
        changes(&plan, "cadences", "name", "10min"),
        json!([{"field": "batch_size", "old": 5, "new": 8}])
    );
    assert_eq!(
        actions(&plan, "tables", "table_id"),
        owned(&[
            ("crm.customers", "unchanged", true),
            ("legacy.invoices", "unchanged", true),
            ("sales.order_events", "deactivate", false),
            ("sales.orders", "change", true),
            ("sales.refunds", "add", true),
        ])
    );
    assert_eq!(
        changes(&plan, "tables", "table_id", "sales.orders"),
        json!([{"field": "storage_mode", "old": "current", "new": "history"}])
    );
    assert_eq!(
        changes(&plan, "tables", "table_id", "sales.order_events"),
        json!([{"field": "active", "old": true, "new": false}])
    );
    assert_eq!(plan["summary"]["writes"], 4);

    let text = stack.ok(&["config", "diff", &edited]).stdout;
    let row = |needle: &str| {
        text.lines()
            .find(|line| line.contains(needle))
            .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|| panic!("{needle} in {text}"))
    };
    assert_eq!(row("cadence 10min"), "change cadence 10min batch_size 5 8");
    assert_eq!(
        row("table sales.orders"),
        "change table sales.orders storage_mode \"current\" \"history\""
    );
    assert_eq!(
        row("table sales.order_events"),
        "deactivate table sales.order_events (not in the manifest) active true false"
    );
    assert!(row("table sales.refunds").starts_with("add table sales.refunds cadence - \"hourly\""));
    assert!(
        text.contains("`tributary config apply` would make 4 writes."),
        "{text}"
    );
    assert_eq!(stack.tables().await, before, "diff writes nothing");
}

#[tokio::test]
async fn a_dry_run_writes_nothing() {
    let stack = Stack::new().await;
    let file = stack.manifest("example.yaml", &example());
    let run = stack.ok(&["config", "apply", "--dry-run", &file]);
    assert!(
        run.stdout
            .contains("Dry run: 7 writes planned, nothing written."),
        "{run:#?}"
    );
    assert!(
        stack.updated_at().await.is_empty(),
        "the config table is still empty"
    );
}

#[tokio::test]
async fn a_removed_table_is_deactivated_with_its_spec_kept_and_re_adding_it_reactivates_it() {
    let stack = Stack::new().await;
    let example_file = stack.manifest("example.yaml", &example());
    stack.ok(&["config", "apply", &example_file]);
    let registered = stack.table("sales.order_events").await;
    assert!(registered.active);

    stack.ok(&[
        "config",
        "apply",
        &stack.manifest("edited.yaml", &edited_example()),
    ]);
    let deactivated = stack.table("sales.order_events").await;
    assert_eq!(
        deactivated,
        RegisteredTable {
            active: false,
            ..registered.clone()
        },
        "deactivated, its cadence and configuration kept"
    );
    let item = stack
        .aws
        .dynamodb()
        .get_item()
        .table_name(&stack.config_table)
        .key(
            attr::CONFIG_ID,
            AttributeValue::S("table#sales.order_events".to_owned()),
        )
        .send()
        .await
        .expect("get item")
        .item
        .expect("the item");
    assert_eq!(item.get(attr::ACTIVE), Some(&AttributeValue::Bool(false)));

    let plan = stack
        .ok(&["--json", "config", "apply", &example_file])
        .json();
    assert_eq!(
        actions(&plan, "tables", "table_id")["sales.order_events"],
        ("reactivate".to_owned(), true)
    );
    assert_eq!(stack.table("sales.order_events").await, registered);
}
