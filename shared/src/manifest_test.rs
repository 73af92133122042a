//! Unit tests of `manifest`: parsing, every kind of problem with its line and fix, the canonical
//! configuration, export, and the example manifest.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use super::*;
use crate::lake::table_config::{DEFAULT_TABLE_FORMAT, StorageMode, TableFormat};

/// A valid manifest; line numbers below refer to it.
const VALID: &str = "\
cadences:
  10min:
    schedule: rate(10 minutes)
    batch_size: 5
    max_concurrency: 4
  hourly:
    batch_size: 10
    max_concurrency: 2
    table_order: table_id
    skip_idle: false
tables:
  - cadence: 10min
    source: {schema: sales, table: orders}
    target: {database: lake, table: orders, location: sales/orders}
    primary_key: [order_id]
    partition_by: [\"month(order_date)\"]
    input:
      columns:
        - {name: order_id, type: bigint}
        - {name: order_date, type: date}
  - cadence: hourly
    active: false
    source: {schema: sales, table: items}
    target: {database: lake, table: items, location: sales/items}
    primary_key: [item_id]
    storage_mode: history
";

/// The problems of `text`, which must not parse.
fn issues(text: &str) -> Vec<ManifestIssue> {
    match Manifest::parse(text) {
        Err(ManifestError::Invalid(issues)) => issues,
        other => panic!("expected problems, got {other:?}"),
    }
}

/// The one problem of `text` at `path`.
fn issue_at(text: &str, path: &str) -> ManifestIssue {
    let all = issues(text);
    let found: Vec<&ManifestIssue> = all.iter().filter(|i| i.path == path).collect();
    assert_eq!(found.len(), 1, "one problem at {path} in {all:#?}");
    found[0].clone()
}

/// `VALID` with `from` replaced by `to` (which must occur once).
fn edited(from: &str, to: &str) -> String {
    assert_eq!(VALID.matches(from).count(), 1, "{from:?} occurs once");
    VALID.replace(from, to)
}

#[test]
fn a_valid_manifest_parses_with_its_defaults() {
    let manifest = Manifest::parse(VALID).unwrap();
    assert_eq!(
        manifest.cadences,
        vec![
            CadenceSettings {
                name: "10min".to_owned(),
                schedule: Some("rate(10 minutes)".to_owned()),
                batch_size: 5,
                max_concurrency: 4,
                table_order: TableOrder::LargestFirst,
                skip_idle: true,
            },
            CadenceSettings {
                name: "hourly".to_owned(),
                schedule: None,
                batch_size: 10,
                max_concurrency: 2,
                table_order: TableOrder::TableId,
                skip_idle: false,
            },
        ]
    );
    let ids: Vec<(&str, &str, bool)> = manifest
        .tables
        .iter()
        .map(|t| (t.table_id.as_str(), t.cadence.as_str(), t.active))
        .collect();
    assert_eq!(
        ids,
        [
            ("sales.orders", "10min", true),
            ("sales.items", "hourly", false)
        ]
    );
    assert_eq!(manifest.tables[1].spec.storage_mode, StorageMode::History);
}

#[test]
fn the_stored_configuration_is_canonical_json_with_every_default_explicit() {
    let manifest = Manifest::parse(VALID).unwrap();
    let stored: serde_json::Value = serde_json::from_str(&manifest.tables[1].spec_json).unwrap();
    assert_eq!(stored["storage_mode"], "history");
    assert_eq!(stored["on_bad_file"], "stop", "a default written out");
    assert_eq!(stored["target"]["format"], DEFAULT_TABLE_FORMAT.as_str());
    assert_eq!(stored["input"]["csv_null_string"], "NULL");
    assert_eq!(stored["output"]["row_group_rows"], 131_072);
    assert_eq!(stored["time_travel_days"], 7);
    assert_eq!(
        TableConfig::from_json(&manifest.tables[1].spec_json)
            .unwrap()
            .table_id(),
        "sales.items",
        "the processor reads what is stored"
    );
}

#[test]
fn equal_configurations_written_differently_store_the_same_text() {
    let explicit = edited(
        "    storage_mode: history\n",
        "    storage_mode: history\n    on_bad_file: stop\n    tombstone_retention_days: 7\n    \
         output: {compression: zstd}\n",
    );
    let reordered = edited(
        "    source: {schema: sales, table: items}\n    target: {database: lake, table: items, location: sales/items}\n",
        "    target: {location: sales/items, table: items, database: lake}\n    source: {table: items, schema: sales}\n",
    );
    let json = |text: &str| Manifest::parse(text).unwrap().tables[1].spec_json.clone();
    assert_eq!(json(&explicit), json(VALID));
    assert_eq!(json(&reordered), json(VALID));
}

#[test]
fn a_stored_configuration_compares_by_meaning() {
    let manifest = Manifest::parse(VALID).unwrap();
    let sparse = r#"{"primary_key":["item_id"],"storage_mode":"history",
        "source":{"schema":"sales","table":"items"},
        "target":{"database":"lake","table":"items","location":"sales/items"}}"#;
    assert_eq!(
        canonical_spec_value(sparse),
        serde_json::from_str::<serde_json::Value>(&manifest.tables[1].spec_json).unwrap()
    );
    assert_eq!(
        canonical_spec_value("not json"),
        serde_json::Value::String("not json".to_owned())
    );
    assert_eq!(
        canonical_spec_value(r#"{"unknown": 1}"#),
        serde_json::json!({"unknown": 1})
    );
}

#[test]
fn a_syntax_error_reports_its_line() {
    let issue = issue_at(&edited("    batch_size: 10\n", "    batch_size: [10\n"), "");
    assert_eq!(issue.line, 8, "{issue:?}");
    assert!(issue.problem.starts_with("not valid YAML"), "{issue:?}");
    assert!(issue.fix.contains("YAML syntax"), "{issue:?}");
}

#[test]
fn an_empty_manifest_is_refused() {
    let issue = issue_at("# nothing\n", "");
    assert_eq!(issue.problem, "the manifest is empty");
    assert!(issue.fix.contains("examples/tributary.yaml"));
}

#[test]
fn an_unknown_top_level_key_is_reported_on_its_line() {
    let issue = issue_at(&format!("{VALID}extras: 1\n"), "extras");
    assert_eq!(issue.line, 27);
    assert!(
        issue.problem.starts_with("unknown field `extras`"),
        "{issue:?}"
    );
    assert!(issue.fix.contains("remove `extras`"), "{issue:?}");
}

#[test]
fn an_unknown_table_field_is_reported_on_its_line_with_the_extra_fields_named() {
    let issue = issue_at(
        &edited("    storage_mode: history\n", "    storage_mod: history\n"),
        "tables[1].storage_mod",
    );
    assert_eq!(issue.line, 26);
    assert!(issue.fix.contains("`cadence` and `active`"), "{issue:?}");
}

#[test]
fn an_unknown_nested_field_is_reported_on_its_line() {
    let issue = issue_at(
        &edited(
            "        - {name: order_date, type: date}\n",
            "        - {name: order_date, typ: date}\n",
        ),
        "tables[0].input.columns[1].typ",
    );
    assert_eq!(issue.line, 20);
    assert!(issue.problem.contains("unknown field `typ`"), "{issue:?}");
}

#[test]
fn a_missing_field_is_reported_on_the_line_of_its_mapping() {
    let issue = issue_at(
        &edited(
            "    target: {database: lake, table: items, location: sales/items}\n",
            "    target: {database: lake, table: items}\n",
        ),
        "tables[1].target",
    );
    assert_eq!(issue.line, 24);
    assert_eq!(issue.problem, "missing field `location`");
    assert_eq!(issue.fix, "add the field `location`");
}

#[test]
fn a_missing_primary_key_is_reported_on_the_line_of_the_table() {
    let issue = issue_at(&edited("    primary_key: [item_id]\n", ""), "tables[1]");
    assert_eq!(issue.line, 21);
    assert_eq!(issue.problem, "missing field `primary_key`");
}

#[test]
fn an_empty_primary_key_is_refused_by_the_table_configuration() {
    let issue = issue_at(
        &edited("    primary_key: [item_id]\n", "    primary_key: []\n"),
        "tables[1].primary_key",
    );
    assert_eq!(issue.line, 25);
    assert!(issue.fix.contains("primary-key columns"), "{issue:?}");
}

#[test]
fn a_wrong_type_is_reported_on_its_line_in_plain_terms() {
    let issue = issue_at(
        &edited("    batch_size: 10\n", "    batch_size: ten\n"),
        "cadences.hourly.batch_size",
    );
    assert_eq!(issue.line, 7);
    assert!(issue.problem.contains("invalid type"), "{issue:?}");
    assert_eq!(issue.fix, "write a whole number (0 or more)");
}

#[test]
fn an_unknown_value_lists_the_allowed_ones() {
    let issue = issue_at(
        &edited("    storage_mode: history\n", "    storage_mode: latest\n"),
        "tables[1].storage_mode",
    );
    assert_eq!(issue.line, 26);
    assert!(
        issue.problem.contains("`current`, `history`, `scd2`"),
        "{issue:?}"
    );
    assert_eq!(issue.fix, "use one of the values listed");

    let issue = issue_at(
        &edited("    table_order: table_id\n", "    table_order: random\n"),
        "cadences.hourly.table_order",
    );
    assert_eq!(issue.line, 9);
}

#[test]
fn an_unknown_table_format_is_reported_on_its_line_with_the_allowed_values() {
    let issue = issue_at(
        &edited(
            "location: sales/items}",
            "location: sales/items, format: delta}",
        ),
        "tables[1].target.format",
    );
    assert_eq!(issue.line, 24);
    assert!(
        issue
            .problem
            .contains("unknown variant `delta`, expected `iceberg` or `hive`"),
        "{issue:?}"
    );
    assert_eq!(issue.fix, "use one of the values listed");
}

#[test]
fn the_format_round_trips_through_config_export() {
    let text = edited(
        "location: sales/orders}",
        "location: sales/orders, format: iceberg}",
    );
    let manifest = Manifest::parse(&text).unwrap();
    let formats: Vec<TableFormat> = manifest
        .tables
        .iter()
        .map(|t| t.spec.target.format)
        .collect();
    assert_eq!(formats, [TableFormat::Iceberg, DEFAULT_TABLE_FORMAT]);
    let registered: Vec<RegisteredTable> = manifest
        .tables
        .iter()
        .map(ManifestTable::registration)
        .collect();
    let exported = Manifest::export(&manifest.cadences, &registered).unwrap();
    // Like every defaulted field, an omitted format is exported explicitly.
    let document: serde_json::Value = serde_yaml_ng::from_str(&exported).unwrap();
    let exported_formats: Vec<(&str, &str)> = document["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["source"]["table"].as_str().unwrap(),
                t["target"]["format"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        exported_formats,
        [
            ("items", DEFAULT_TABLE_FORMAT.as_str()),
            ("orders", "iceberg")
        ]
    );
    let again = Manifest::parse(&exported).unwrap();
    for table in &manifest.tables {
        assert!(
            again.tables.contains(table),
            "{} round-trips",
            table.table_id
        );
    }
}

#[test]
fn an_active_flag_that_is_not_a_boolean_is_reported_on_its_line() {
    let issue = issue_at(
        &edited("    active: false\n", "    active: sometimes\n"),
        "tables[1].active",
    );
    assert_eq!(issue.line, 22);
    assert_eq!(issue.fix, "write a boolean");
}

#[test]
fn a_table_entry_without_cadence_is_reported_on_its_line() {
    let issue = issue_at(
        &edited(
            "  - cadence: hourly\n    active: false\n",
            "  - active: false\n",
        ),
        "tables[1]",
    );
    assert_eq!(issue.line, 21);
    assert_eq!(issue.problem, "missing field `cadence`");
    assert!(issue.fix.contains("cadence: <name>"));
}

#[test]
fn a_table_entry_that_is_not_a_mapping_is_reported_on_its_line() {
    let issue = issue_at(&format!("{VALID}  - sales.refunds\n"), "tables[2]");
    assert_eq!(issue.line, 27);
    assert!(issue.problem.contains("not a mapping"));
}

#[test]
fn an_undefined_cadence_is_reported_with_the_defined_ones() {
    let issue = issue_at(
        &edited("  - cadence: hourly\n", "  - cadence: weekly\n"),
        "tables[1].cadence",
    );
    assert_eq!(issue.line, 21);
    assert_eq!(issue.problem, "cadence `weekly` is not defined");
    assert_eq!(
        issue.fix,
        "use one of the cadences defined under `cadences` (10min, hourly), or define `weekly` there"
    );
}

#[test]
fn cadence_settings_out_of_range_are_each_reported_on_their_line() {
    let text = edited(
        "    batch_size: 10\n    max_concurrency: 2\n",
        "    batch_size: 0\n    max_concurrency: 41\n",
    );
    let batch = issue_at(&text, "cadences.hourly.batch_size");
    assert_eq!(batch.line, 7);
    assert_eq!(
        batch.problem,
        "cadence hourly: batch_size is 0; it must be between 1 and 100"
    );
    assert_eq!(batch.fix, "set batch_size to a value between 1 and 100");
    let concurrency = issue_at(&text, "cadences.hourly.max_concurrency");
    assert_eq!(concurrency.line, 8);
    assert_eq!(
        concurrency.fix,
        "set max_concurrency to a value between 1 and 40"
    );
}

#[test]
fn a_bad_cadence_name_is_reported_on_its_line() {
    let issue = issue_at(
        &edited("  hourly:\n", "  Hourly Runs:\n")
            .replace("cadence: hourly", "cadence: Hourly Runs"),
        "cadences.Hourly Runs",
    );
    assert_eq!(issue.line, 6);
    assert!(issue.fix.contains("[a-z0-9_-]"), "{issue:?}");
}

#[test]
fn a_malformed_schedule_is_reported_on_its_line() {
    let issue = issue_at(
        &edited("rate(10 minutes)", "rate(10 minute)"),
        "cadences.10min.schedule",
    );
    assert_eq!(issue.line, 3);
    assert!(issue.problem.contains("`10 minute`"), "{issue:?}");
    assert!(
        issue.fix.contains("rate(N minutes|hours|days)"),
        "{issue:?}"
    );
}

#[test]
fn schedule_expressions_are_checked_for_shape() {
    for good in [
        "rate(10 minutes)",
        "rate(1 minute)",
        "rate(1 hour)",
        "rate(2 days)",
        "cron(0 3 * * ? *)",
        "cron(0/15 8-17 ? * MON-FRI *)",
    ] {
        assert_eq!(check_schedule(good), Ok(()), "{good}");
    }
    for bad in [
        "rate(1 minutes)",
        "rate(5 minute)",
        "rate(0 minutes)",
        "rate(five minutes)",
        "rate(10 weeks)",
        "rate(10)",
        "cron(0 3 * * *)",
        "cron(0 3 1 * MON *)",
        "cron(0 3 ? * ? *)",
        "every 10 minutes",
        "rate(10 minutes",
    ] {
        let refusal = check_schedule(bad);
        assert!(
            matches!(&refusal, Err(message) if message.starts_with(&format!("{bad:?}"))),
            "{bad} should be refused, naming the expression: {refusal:?}"
        );
    }
}

#[test]
fn everything_the_table_configuration_refuses_is_reported_on_the_field_line() {
    let issue = issue_at(
        &edited("[\"month(order_date)\"]", "[\"month(ordered_on)\"]"),
        "tables[0].partition_by[0]",
    );
    assert_eq!(issue.line, 16);
    assert_eq!(
        issue.problem,
        "column `ordered_on` is not among input.columns"
    );
    assert_eq!(
        issue.fix,
        "declare the column in input.columns or fix the name"
    );

    let issue = issue_at(
        &edited(
            "{name: order_date, type: date}",
            "{name: order_date, type: datetime}",
        ),
        "tables[0].input.columns[1].type",
    );
    assert_eq!(issue.line, 20);
}

/// `VALID`'s first table ordered by `dms_ts` (declared `column_type`), with a `year` column and
/// `partition_by`.
fn ordered_by(ordering: &str, column_type: &str, partition_by: &str) -> String {
    edited(
        "    partition_by: [\"month(order_date)\"]\n    input:\n      columns:\n",
        &format!(
            "    ordering: {{{ordering}: dms_ts}}\n    partition_by: [{partition_by}]\n    input:\n      columns:\n        - {{name: dms_ts, type: {column_type}}}\n        - {{name: year, type: int}}\n"
        ),
    )
}

#[test]
fn validate_accepts_what_a_refresh_accepts_and_refuses_what_it_refuses() {
    let named = "\"month(order_date) as order_month\"";
    // DMS writes its TimestampColumnName as a string: a refresh orders by it.
    let text = ordered_by("commit_timestamp_column", "string", named);
    assert!(Manifest::parse(&text).is_ok(), "{text}");
    // A floating-point sequence cannot order changes; a refresh would refuse every file.
    let issue = issue_at(
        &ordered_by("sequence_column", "double", named),
        "tables[0].ordering.sequence_column",
    );
    assert_eq!(issue.line, 16, "the ordering's line");
    assert!(issue.fix.contains("decimal(p,0)"), "{}", issue.fix);
    // The nested key `year` would be both a column and a partition key; naming the key works.
    let issue = issue_at(
        &ordered_by("commit_timestamp_column", "string", "\"month(order_date)\""),
        "tables[0].partition_by",
    );
    assert!(
        issue
            .fix
            .contains("`month(order_date) as order_date_month`"),
        "{}",
        issue.fix
    );
}

#[test]
fn a_named_date_transform_is_stored_as_written_and_round_trips() {
    let text = ordered_by(
        "commit_timestamp_column",
        "string",
        "\"month(order_date) as order_date_month\"",
    );
    let manifest = Manifest::parse(&text).unwrap();
    let table = &manifest.tables[0];
    assert_eq!(
        table.spec.partition_by,
        vec!["month(order_date) as order_date_month"]
    );
    assert!(
        table
            .spec_json
            .contains("\"month(order_date) as order_date_month\""),
        "{}",
        table.spec_json
    );
    let exported = Manifest::export(&manifest.cadences, &[table.registration()]).unwrap();
    assert_eq!(Manifest::parse(&exported).unwrap().tables[0], *table);
}

#[test]
fn a_check_on_an_absent_field_is_reported_on_the_nearest_line() {
    let issue = issue_at(
        &edited("    storage_mode: history\n", "    storage_mode: scd2\n"),
        "tables[1].ordering.commit_timestamp_column",
    );
    assert_eq!(issue.line, 21, "the table entry's line");
    assert!(issue.problem.contains("scd2"));
}

#[test]
fn duplicate_table_ids_targets_and_locations_are_reported_on_the_second_entry() {
    let copy = "  - cadence: hourly\n    source: {schema: sales, table: orders}\n    \
                target: {database: lake, table: orders, location: sales/orders/}\n    \
                primary_key: [order_id]\n";
    let text = format!("{VALID}{copy}");
    let id = issue_at(&text, "tables[2].source");
    assert_eq!(id.line, 28);
    assert_eq!(
        id.problem,
        "table `sales.orders` is already defined on line 13"
    );
    let target = issue_at(&text, "tables[2].target.table");
    assert_eq!(target.line, 29);
    assert_eq!(
        target.problem,
        "Glue table `lake.orders` is already the target of the table on line 14"
    );
    let location = issue_at(&text, "tables[2].target.location");
    assert_eq!(
        location.problem,
        "location `sales/orders/` is already used by the table on line 14"
    );
}

#[test]
fn a_location_inside_another_tables_is_reported() {
    let nested = "  - cadence: hourly\n    source: {schema: sales, table: refunds}\n    \
                  target: {database: lake, table: refunds, location: sales/orders/refunds}\n    \
                  primary_key: [refund_id]\n";
    let issue = issue_at(&format!("{VALID}{nested}"), "tables[2].target.location");
    assert_eq!(issue.line, 29);
    assert!(
        issue.problem.contains("overlaps `sales/orders`"),
        "{issue:?}"
    );
    let sibling = nested.replace("sales/orders/refunds", "sales/orders_refunds");
    assert!(Manifest::parse(&format!("{VALID}{sibling}")).is_ok());
}

#[test]
fn every_problem_is_reported_in_line_order() {
    let text = edited("    batch_size: 10\n", "    batch_size: 0\n")
        .replace("  - cadence: hourly\n", "  - cadence: weekly\n")
        .replace("[\"month(order_date)\"]", "[\"month(nowhere)\"]");
    let lines: Vec<(usize, String)> = issues(&text)
        .into_iter()
        .map(|i| (i.line, i.path))
        .collect();
    assert_eq!(
        lines,
        [
            (7, "cadences.hourly.batch_size".to_owned()),
            (16, "tables[0].partition_by[0]".to_owned()),
            (21, "tables[1].cadence".to_owned()),
        ]
    );
}

#[test]
fn an_issue_prints_as_file_line_path_problem_and_fix() {
    let issue = issue_at(
        &edited("  - cadence: hourly\n", "  - cadence: weekly\n"),
        "tables[1].cadence",
    );
    assert_eq!(
        issue.located("prod.yaml"),
        "prod.yaml:21: tables[1].cadence: cadence `weekly` is not defined; fix: use one of the \
         cadences defined under `cadences` (10min, hourly), or define `weekly` there"
    );
}

#[test]
fn export_round_trips_and_lists_inactive_tables_sorted_by_id() {
    let manifest = Manifest::parse(VALID).unwrap();
    let registered: Vec<RegisteredTable> = manifest
        .tables
        .iter()
        .map(ManifestTable::registration)
        .collect();
    let text = Manifest::export(&manifest.cadences, &registered).unwrap();
    let again = Manifest::parse(&text).unwrap();
    assert_eq!(again.cadences, manifest.cadences);
    let ids: Vec<&str> = again.tables.iter().map(|t| t.table_id.as_str()).collect();
    assert_eq!(ids, ["sales.items", "sales.orders"]);
    for table in &manifest.tables {
        let exported = again
            .tables
            .iter()
            .find(|t| t.table_id == table.table_id)
            .unwrap();
        assert_eq!(exported, table);
    }
    assert!(text.contains("active: false"), "{text}");
    assert!(
        !text.contains(": null"),
        "absent options are left out: {text}"
    );
}

#[test]
fn export_refuses_a_registration_that_is_not_a_table_configuration() {
    let broken = RegisteredTable {
        table_id: "sales.broken".to_owned(),
        refresh_cadence: "10min".to_owned(),
        active: true,
        spec_json: "{}".to_owned(),
    };
    let error = Manifest::export(&[], &[broken]).unwrap_err();
    assert!(
        matches!(&error, ManifestError::UnreadableRegistration { table_id, .. } if table_id == "sales.broken"),
        "{error:?}"
    );
}

/// The example manifest, as shipped.
const EXAMPLE: &str = include_str!("../../examples/tributary.yaml");

/// Dotted key paths of every mapping key in `value` (list items as `[]`).
fn key_paths(prefix: &str, value: &serde_json::Value, paths: &mut BTreeSet<String>) {
    match value {
        serde_json::Value::Object(fields) => {
            for (key, value) in fields {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                paths.insert(path.clone());
                key_paths(&path, value, paths);
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                key_paths(&format!("{prefix}[]"), item, paths);
            }
        }
        _ => {}
    }
}

#[test]
fn the_example_manifest_is_valid() {
    let manifest = Manifest::parse(EXAMPLE).unwrap();
    assert!(manifest.tables.len() >= 3);
}

#[test]
fn the_example_manifest_shows_every_field_and_every_choice() {
    let document: serde_json::Value = serde_yaml_ng::from_str(EXAMPLE).unwrap();
    let mut shown = BTreeSet::new();
    for table in document["tables"].as_array().unwrap() {
        key_paths("", table, &mut shown);
    }
    // Every field a table configuration serializes (serialization writes them all).
    let spec: TableSpec = serde_json::from_value(serde_json::json!({
        "source": {"schema": "s", "table": "t"},
        "target": {"database": "d", "table": "t", "location": "l"},
        "primary_key": ["id"],
        "input": {"columns": [{"name": "id", "type": "int"}]}
    }))
    .unwrap();
    let mut fields = BTreeSet::from([CADENCE_FIELD.to_owned(), ACTIVE_FIELD.to_owned()]);
    key_paths("", &serde_json::to_value(&spec).unwrap(), &mut fields);
    let missing: Vec<&String> = fields.difference(&shown).collect();
    assert!(
        missing.is_empty(),
        "examples/tributary.yaml does not show {missing:?}"
    );

    let mut cadence_shown = BTreeSet::new();
    for cadence in document["cadences"].as_object().unwrap().values() {
        key_paths("", cadence, &mut cadence_shown);
    }
    let full_cadence = CadenceEntry {
        schedule: Some("rate(1 hour)".to_owned()),
        batch_size: 1,
        max_concurrency: 1,
        table_order: TableOrder::TableId,
        skip_idle: false,
    };
    let mut cadence_fields = BTreeSet::new();
    key_paths(
        "",
        &serde_json::to_value(full_cadence).unwrap(),
        &mut cadence_fields,
    );
    assert_eq!(cadence_fields.difference(&cadence_shown).count(), 0);

    let manifest = Manifest::parse(EXAMPLE).unwrap();
    let modes: BTreeSet<&str> = manifest
        .tables
        .iter()
        .map(|t| t.spec.storage_mode.as_str())
        .collect();
    assert_eq!(modes, BTreeSet::from(["current", "history", "scd2"]));
    assert!(
        manifest.tables.iter().any(|t| !t.active),
        "an inactive table"
    );
    let transforms: BTreeSet<&str> = manifest
        .tables
        .iter()
        .flat_map(|t| &t.spec.partition_by)
        .filter_map(|p| p.split('(').next())
        .collect();
    assert_eq!(
        transforms,
        BTreeSet::from(["identity", "year", "month", "day", "hour"])
    );
    assert!(
        manifest
            .tables
            .iter()
            .flat_map(|t| &t.spec.partition_by)
            .any(|p| p.contains(") as ")),
        "the example names a date transform"
    );
    for (name, values) in [
        ("date_partition_style", ["nested", "dt"]),
        ("on_bad_file", ["stop", "skip"]),
        ("compression", ["zstd", "snappy"]),
        ("format", ["iceberg", "hive"]),
    ] {
        for value in values {
            assert!(
                EXAMPLE.contains(&format!("{name}: {value}")),
                "the example shows {name}: {value}"
            );
        }
    }
    let orders: Vec<TableOrder> = manifest.cadences.iter().map(|c| c.table_order).collect();
    assert!(orders.contains(&TableOrder::LargestFirst) && orders.contains(&TableOrder::TableId));
}

#[test]
fn a_table_with_a_field_problem_still_gets_the_whole_manifest_checks() {
    let copy = "  - cadence: weekly\n    source: {schema: sales, table: orders}\n    \
                target: {database: lake, table: orders, location: elsewhere}\n    \
                primary_key: [order_id]\n    storage_mode: latest\n";
    let paths: Vec<String> = issues(&format!("{VALID}{copy}"))
        .into_iter()
        .map(|i| i.path)
        .collect();
    assert_eq!(
        paths,
        [
            "tables[2].cadence",
            "tables[2].source",
            "tables[2].target.table",
            "tables[2].storage_mode",
        ]
    );
}
