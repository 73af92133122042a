//! Unit tests of `plan`: a manifest compared with the registry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;

use super::*;
use crate::ports::table_registry::TableOrder;

const MANIFEST: &str = "\
cadences:
  10min: {schedule: rate(10 minutes), batch_size: 5, max_concurrency: 4}
  hourly: {batch_size: 10, max_concurrency: 2}
tables:
  - cadence: 10min
    source: {schema: sales, table: orders}
    target: {database: lake, table: orders, location: sales/orders}
    primary_key: [order_id]
    input:
      columns:
        - {name: order_id, type: bigint}
        - {name: amount, type: string}
  - cadence: hourly
    source: {schema: sales, table: items}
    target: {database: lake, table: items, location: sales/items}
    primary_key: [item_id]
";

fn manifest(text: &str) -> Manifest {
    Manifest::parse(text).unwrap()
}

/// The registry after applying `manifest` to an empty one.
fn applied(manifest: &Manifest) -> (Vec<CadenceSettings>, Vec<RegisteredTable>) {
    let plan = ConfigPlan::compute(manifest, &[], &[]);
    (
        plan.cadence_writes().cloned().collect(),
        plan.table_writes().cloned().collect(),
    )
}

fn table<'a>(plan: &'a ConfigPlan, id: &str) -> &'a TablePlan {
    plan.tables.iter().find(|t| t.table_id == id).unwrap()
}

fn cadence<'a>(plan: &'a ConfigPlan, name: &str) -> &'a CadencePlan {
    plan.cadences.iter().find(|c| c.name == name).unwrap()
}

fn change(field: &str, old: Option<Value>, new: Option<Value>) -> FieldChange {
    FieldChange {
        field: field.to_owned(),
        old,
        new,
    }
}

#[test]
fn against_an_empty_registry_everything_is_added() {
    let manifest = manifest(MANIFEST);
    let plan = ConfigPlan::compute(&manifest, &[], &[]);
    assert!(plan.cadences.iter().all(|c| c.action == Action::Add));
    assert!(plan.tables.iter().all(|t| t.action == Action::Add));
    assert_eq!(
        cadence(&plan, "hourly").changes,
        vec![
            change("batch_size", None, Some(json!(10))),
            change("max_concurrency", None, Some(json!(2))),
            change("skip_idle", None, Some(json!(true))),
            change("table_order", None, Some(json!("largest_first"))),
        ],
        "an added cadence shows every setting"
    );
    assert_eq!(
        table(&plan, "sales.orders").changes,
        vec![
            change("cadence", None, Some(json!("10min"))),
            change("active", None, Some(json!(true))),
        ]
    );
    assert_eq!(
        table(&plan, "sales.orders").write,
        Some(manifest.tables[0].registration())
    );
    let summary = plan.summary();
    assert_eq!(summary.cadences.add, 2);
    assert_eq!(summary.tables.add, 2);
    assert_eq!(summary.writes, 4);
}

#[test]
fn applying_the_same_manifest_again_writes_nothing() {
    let manifest = manifest(MANIFEST);
    let (cadences, tables) = applied(&manifest);
    let plan = ConfigPlan::compute(&manifest, &cadences, &tables);
    assert!(plan.cadences.iter().all(|c| c.action == Action::Unchanged));
    assert!(plan.tables.iter().all(|t| t.action == Action::Unchanged));
    assert!(plan.cadences.iter().all(|c| c.changes.is_empty()));
    assert!(plan.tables.iter().all(|t| t.changes.is_empty()));
    assert_eq!(plan.summary().writes, 0);
}

#[test]
fn a_stored_configuration_equal_in_meaning_is_unchanged() {
    let manifest = manifest(MANIFEST);
    let (cadences, mut tables) = applied(&manifest);
    tables[0].spec_json = r#"{"source":{"schema":"sales","table":"items"},
        "target":{"database":"lake","table":"items","location":"sales/items"},
        "primary_key":["item_id"]}"#
        .to_owned();
    assert_eq!(tables[0].table_id, "sales.items");
    let plan = ConfigPlan::compute(&manifest, &cadences, &tables);
    assert_eq!(table(&plan, "sales.items").action, Action::Unchanged);
    assert_eq!(plan.summary().writes, 0);
}

#[test]
fn changed_fields_are_listed_by_dotted_path() {
    let (cadences, tables) = applied(&manifest(MANIFEST));
    let edited = MANIFEST
        .replace("{name: amount, type: string}", "{name: amount, type: \"decimal(12,2)\"}")
        .replace(
            "    primary_key: [item_id]\n",
            "    primary_key: [item_id]\n    storage_mode: history\n    output: {compression: snappy}\n",
        );
    let plan = ConfigPlan::compute(&manifest(&edited), &cadences, &tables);
    let orders = table(&plan, "sales.orders");
    assert_eq!(orders.action, Action::Change);
    assert_eq!(
        orders.changes,
        vec![change(
            "input.columns[1].type",
            Some(json!("string")),
            Some(json!("decimal(12,2)"))
        )]
    );
    let items = table(&plan, "sales.items");
    assert_eq!(items.action, Action::Change);
    assert_eq!(
        items.changes,
        vec![
            change(
                "output.compression",
                Some(json!("zstd")),
                Some(json!("snappy"))
            ),
            change(
                "storage_mode",
                Some(json!("current")),
                Some(json!("history"))
            ),
        ]
    );
    assert_eq!(plan.summary().writes, 2);
}

#[test]
fn lists_of_another_length_change_as_a_whole() {
    let (cadences, tables) = applied(&manifest(MANIFEST));
    let edited = MANIFEST.replace(
        "        - {name: amount, type: string}\n",
        "        - {name: amount, type: string}\n        - {name: note, type: string}\n",
    );
    let plan = ConfigPlan::compute(&manifest(&edited), &cadences, &tables);
    let changes = &table(&plan, "sales.orders").changes;
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].field, "input.columns");
}

#[test]
fn a_cadence_change_is_listed_field_by_field_and_cadences_not_named_are_kept() {
    let (mut cadences, tables) = applied(&manifest(MANIFEST));
    cadences.push(CadenceSettings {
        name: "daily".to_owned(),
        schedule: None,
        batch_size: 1,
        max_concurrency: 1,
        table_order: TableOrder::TableId,
        skip_idle: true,
    });
    let edited = MANIFEST.replace(
        "10min: {schedule: rate(10 minutes), batch_size: 5, max_concurrency: 4}",
        "10min: {schedule: rate(15 minutes), batch_size: 8, max_concurrency: 4, table_order: table_id}",
    );
    let plan = ConfigPlan::compute(&manifest(&edited), &cadences, &tables);
    let ten = cadence(&plan, "10min");
    assert_eq!(ten.action, Action::Change);
    assert_eq!(
        ten.changes,
        vec![
            change("batch_size", Some(json!(5)), Some(json!(8))),
            change(
                "schedule",
                Some(json!("rate(10 minutes)")),
                Some(json!("rate(15 minutes)"))
            ),
            change(
                "table_order",
                Some(json!("largest_first")),
                Some(json!("table_id"))
            ),
        ]
    );
    assert_eq!(ten.write.as_ref().map(|s| s.batch_size), Some(8));
    let daily = cadence(&plan, "daily");
    assert_eq!(
        (daily.action, daily.in_manifest),
        (Action::Unchanged, false)
    );
    assert_eq!(daily.write, None);
    assert_eq!(plan.summary().writes, 1);
}

#[test]
fn moving_a_table_to_another_cadence_is_a_change() {
    let (cadences, tables) = applied(&manifest(MANIFEST));
    let edited = MANIFEST.replace("  - cadence: hourly\n", "  - cadence: 10min\n");
    let plan = ConfigPlan::compute(&manifest(&edited), &cadences, &tables);
    let items = table(&plan, "sales.items");
    assert_eq!(items.action, Action::Change);
    assert_eq!(
        items.changes,
        vec![change(
            "cadence",
            Some(json!("hourly")),
            Some(json!("10min"))
        )]
    );
    assert_eq!(
        items.write.as_ref().map(|t| t.refresh_cadence.as_str()),
        Some("10min")
    );
}

#[test]
fn a_registered_table_absent_from_the_manifest_is_deactivated_with_its_configuration_kept() {
    let (cadences, mut tables) = applied(&manifest(MANIFEST));
    tables.push(RegisteredTable {
        table_id: "old.gone".to_owned(),
        refresh_cadence: "weekly".to_owned(),
        active: true,
        spec_json: "{\"kept\": \"verbatim\"}".to_owned(),
    });
    let plan = ConfigPlan::compute(&manifest(MANIFEST), &cadences, &tables);
    let gone = table(&plan, "old.gone");
    assert_eq!((gone.action, gone.in_manifest), (Action::Deactivate, false));
    assert_eq!(
        gone.changes,
        vec![change("active", Some(json!(true)), Some(json!(false)))]
    );
    assert_eq!(
        gone.write,
        Some(RegisteredTable {
            active: false,
            ..tables[2].clone()
        })
    );
    assert_eq!(plan.summary().writes, 1);

    let deactivated: Vec<RegisteredTable> = plan.table_writes().cloned().collect();
    let mut after = tables.clone();
    after[2] = deactivated[0].clone();
    let again = ConfigPlan::compute(&manifest(MANIFEST), &cadences, &after);
    let gone = table(&again, "old.gone");
    assert_eq!(
        (gone.action, gone.write.as_ref()),
        (Action::Unchanged, None),
        "an inactive table absent from the manifest stays as it is"
    );
}

#[test]
fn active_false_deactivates_and_active_again_reactivates() {
    let (cadences, tables) = applied(&manifest(MANIFEST));
    let inactive = MANIFEST.replace(
        "  - cadence: hourly\n",
        "  - cadence: hourly\n    active: false\n",
    );
    let plan = ConfigPlan::compute(&manifest(&inactive), &cadences, &tables);
    let items = table(&plan, "sales.items");
    assert_eq!(
        (items.action, items.in_manifest),
        (Action::Deactivate, true)
    );
    let written: Vec<RegisteredTable> = plan.table_writes().cloned().collect();
    assert_eq!(written.len(), 1);
    assert!(!written[0].active);

    let after: Vec<RegisteredTable> = tables
        .iter()
        .map(|t| {
            if t.table_id == "sales.items" {
                written[0].clone()
            } else {
                t.clone()
            }
        })
        .collect();
    let plan = ConfigPlan::compute(&manifest(MANIFEST), &cadences, &after);
    let items = table(&plan, "sales.items");
    assert_eq!(items.action, Action::Reactivate);
    assert_eq!(
        items.changes,
        vec![change("active", Some(json!(false)), Some(json!(true)))]
    );
    assert_eq!(items.write.as_ref().map(|t| t.active), Some(true));
    assert_eq!(plan.summary().tables.reactivate, 1);
}

#[test]
fn a_stored_configuration_that_is_not_json_changes_as_a_whole() {
    let manifest = manifest(MANIFEST);
    let (cadences, mut tables) = applied(&manifest);
    tables[0].spec_json = "garbage".to_owned();
    let plan = ConfigPlan::compute(&manifest, &cadences, &tables);
    let items = table(&plan, "sales.items");
    assert_eq!(items.action, Action::Change);
    assert_eq!(items.changes.len(), 1);
    assert_eq!(items.changes[0].field, "(all)");
    assert_eq!(items.changes[0].old, Some(json!("garbage")));
}

#[test]
fn the_plan_serializes_without_the_writes() {
    let plan = ConfigPlan::compute(&manifest(MANIFEST), &[], &[]);
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(json["tables"][0]["table_id"], "sales.items");
    assert_eq!(json["tables"][0]["action"], "add");
    assert!(json["tables"][0].get("write").is_none());
}
