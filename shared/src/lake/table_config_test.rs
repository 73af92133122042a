//! Unit tests of `table_config`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};

use super::*;

/// A valid configuration using every option.
fn full() -> Value {
    json!({
        "source": { "schema": "sales", "table": "orders" },
        "target": {
            "database": "lake", "table": "orders_v2", "location": "/sales/orders/",
            "format": "iceberg"
        },
        "primary_key": ["order_id", "line"],
        "ordering": { "sequence_column": "seq", "commit_timestamp_column": "commit_ts" },
        "storage_mode": "scd2",
        "partition_by": ["identity(region)", "day(created_at)"],
        "date_partition_style": "dt",
        "input": {
            "csv_delimiter": "|",
            "csv_null_string": "\\N",
            "csv_header": true,
            "cdc_op_column": false,
            "full_load_op_column": true,
            "op_column_name": "operation",
            "columns": [
                { "name": "order_id", "type": "bigint" },
                { "name": "line", "type": "INT" },
                { "name": "seq", "type": "string" },
                { "name": "commit_ts", "type": "timestamp" },
                { "name": "region", "type": "varchar(16)" },
                { "name": "created_at", "type": "date" },
                { "name": "amount", "type": "decimal(12,2)" },
                { "name": "paid", "type": "boolean" }
            ]
        },
        "output": {
            "target_file_size_bytes": 67_108_864,
            "row_group_rows": 65_536,
            "compression": "snappy"
        },
        "tombstone_retention_days": 30,
        "time_travel_days": 3
    })
}

/// The smallest valid configuration.
fn minimal() -> Value {
    json!({
        "source": { "schema": "sales", "table": "orders" },
        "target": { "database": "lake", "table": "orders", "location": "sales/orders" },
        "primary_key": ["id"]
    })
}

fn parse(value: &Value) -> Result<TableConfig, TableConfigError> {
    TableConfig::from_json(&value.to_string())
}

/// Applies `edit` to `base`, parses it, and returns the invalid field with problem and fix.
fn invalid_field(mut base: Value, edit: impl FnOnce(&mut Value)) -> (String, String, String) {
    edit(&mut base);
    match parse(&base) {
        Err(TableConfigError::Invalid {
            field,
            problem,
            fix,
        }) => {
            assert!(!problem.trim().is_empty(), "empty problem for {field}");
            assert!(!fix.trim().is_empty(), "empty fix for {field}");
            (field, problem, fix)
        }
        other => panic!("expected an Invalid error for {base}, got {other:?}"),
    }
}

fn assert_invalid(
    base: Value,
    edit: impl FnOnce(&mut Value),
    field: &str,
    problem_mentions: &str,
    fix_mentions: &str,
) {
    let (f, problem, fix) = invalid_field(base, edit);
    assert_eq!(f, field, "problem: {problem}");
    assert!(
        problem.contains(problem_mentions),
        "{problem_mentions:?} not in problem {problem:?}"
    );
    assert!(
        fix.contains(fix_mentions),
        "{fix_mentions:?} not in fix {fix:?}"
    );
}

fn timestamp(name: &str) -> Value {
    json!({ "name": name, "type": "timestamp" })
}

// ---- valid configurations ----------------------------------------------------------------------

#[test]
fn a_full_configuration_parses_to_the_expected_values() {
    let config = parse(&full()).unwrap();
    assert_eq!(
        config.source,
        SourceTable {
            schema: "sales".to_owned(),
            table: "orders".to_owned()
        }
    );
    assert_eq!(config.table_id(), "sales.orders");
    assert_eq!(config.target_database, "lake");
    assert_eq!(config.target_table, "orders_v2");
    assert_eq!(config.location, Path::from("sales/orders"));
    assert_eq!(config.format, TableFormat::Iceberg);
    assert_eq!(config.primary_key, vec!["order_id", "line"]);
    assert_eq!(config.sequence_column.as_deref(), Some("seq"));
    assert_eq!(config.commit_timestamp_column.as_deref(), Some("commit_ts"));
    assert_eq!(config.mode, StorageMode::Scd2);
    assert_eq!(
        config.partition_fields,
        vec![
            PartitionField {
                column: "region".to_owned(),
                transform: PartitionTransform::Identity,
                name: None,
            },
            PartitionField {
                column: "created_at".to_owned(),
                transform: PartitionTransform::Day,
                name: None,
            },
        ]
    );
    assert_eq!(config.date_partition_style, DatePartitionStyle::Dt);
    assert_eq!(
        partition_key_names(&config.partition_fields, config.date_partition_style),
        vec!["region", "dt"]
    );
    assert_eq!(
        config.input,
        InputFormat {
            csv_delimiter: b'|',
            csv_null_string: "\\N".to_owned(),
            csv_header: true,
            cdc_op_column: false,
            full_load_op_column: true,
            op_column_name: "operation".to_owned(),
            columns: vec![
                Field::new("order_id", DataType::Int64, true),
                Field::new("line", DataType::Int32, true),
                Field::new("seq", DataType::Utf8, true),
                Field::new(
                    "commit_ts",
                    DataType::Timestamp(TimeUnit::Microsecond, None),
                    true
                ),
                Field::new("region", DataType::Utf8, true),
                Field::new("created_at", DataType::Date32, true),
                Field::new("amount", DataType::Decimal128(12, 2), true),
                Field::new("paid", DataType::Boolean, true),
            ],
        }
    );
    assert_eq!(
        config.output,
        OutputOptions {
            target_file_size_bytes: 67_108_864,
            row_group_rows: 65_536,
            compression: OutputCompression::Snappy,
        }
    );
    assert_eq!(config.tombstone_retention, Duration::from_secs(30 * 86_400));
    assert_eq!(config.time_travel, Duration::from_secs(3 * 86_400));
    assert_eq!(
        config.declared_type("amount"),
        Some(&DataType::Decimal128(12, 2))
    );
    assert_eq!(config.declared_type("missing"), None);
}

#[test]
fn a_minimal_configuration_gets_the_defaults() {
    let config = parse(&minimal()).unwrap();
    assert_eq!(config.format, DEFAULT_TABLE_FORMAT);
    assert_eq!(config.mode, StorageMode::Current);
    assert_eq!(config.sequence_column, None);
    assert_eq!(config.commit_timestamp_column, None);
    assert!(config.partition_fields.is_empty());
    assert_eq!(config.date_partition_style, DatePartitionStyle::Nested);
    assert_eq!(
        config.input,
        InputFormat {
            csv_delimiter: b',',
            csv_null_string: "NULL".to_owned(),
            csv_header: false,
            cdc_op_column: true,
            full_load_op_column: false,
            op_column_name: "Op".to_owned(),
            columns: Vec::new(),
        }
    );
    assert_eq!(
        config.output,
        OutputOptions {
            target_file_size_bytes: 128 * 1024 * 1024,
            row_group_rows: 131_072,
            compression: OutputCompression::Zstd,
        }
    );
    assert_eq!(config.tombstone_retention, Duration::from_secs(7 * 86_400));
    assert_eq!(config.time_travel, Duration::from_secs(7 * 86_400));
    // Without declared columns every name is accepted (Parquet files carry their schema).
    assert_eq!(config.declared_type("id"), None);
}

#[test]
fn undeclared_columns_are_accepted_when_files_carry_their_schema() {
    let mut value = minimal();
    value["partition_by"] = json!(["identity(country)", "hour(updated_at)"]);
    value["ordering"] = json!({ "commit_timestamp_column": "ts" });
    value["storage_mode"] = json!("scd2");
    let config = parse(&value).unwrap();
    assert_eq!(
        partition_key_names(&config.partition_fields, config.date_partition_style),
        vec!["country", "year", "month", "day", "hour"]
    );
}

#[test]
fn partition_key_names_follow_the_style_and_depth() {
    let field = |transform| PartitionField {
        column: "ts".to_owned(),
        transform,
        name: None,
    };
    let nested = |t| partition_key_names(&[field(t)], DatePartitionStyle::Nested);
    assert_eq!(nested(PartitionTransform::Year), vec!["year"]);
    assert_eq!(nested(PartitionTransform::Month), vec!["year", "month"]);
    assert_eq!(
        nested(PartitionTransform::Day),
        vec!["year", "month", "day"]
    );
    assert_eq!(
        nested(PartitionTransform::Hour),
        vec!["year", "month", "day", "hour"]
    );
    assert_eq!(nested(PartitionTransform::Identity), vec!["ts"]);
    assert_eq!(
        partition_key_names(&[field(PartitionTransform::Hour)], DatePartitionStyle::Dt),
        vec!["dt"]
    );
}

// ---- one test per validation error -------------------------------------------------------------

#[test]
fn unknown_fields_and_bad_syntax_are_unreadable() {
    let mut value = minimal();
    value["partition_spec"] = json!([]);
    let err = parse(&value).unwrap_err();
    assert!(
        matches!(&err, TableConfigError::Unreadable(m) if m.contains("partition_spec")),
        "{err}"
    );
    let mut value = minimal();
    value["output"] = json!({ "compression": "gzip" });
    assert!(matches!(
        parse(&value),
        Err(TableConfigError::Unreadable(_))
    ));
    let mut value = minimal();
    value.as_object_mut().unwrap().remove("primary_key");
    assert!(matches!(
        parse(&value),
        Err(TableConfigError::Unreadable(_))
    ));
    assert!(matches!(
        TableConfig::from_json("{"),
        Err(TableConfigError::Unreadable(_))
    ));
    assert!(matches!(
        TableConfig::from_json(&format!("{} {{}}", minimal())),
        Err(TableConfigError::Unreadable(_))
    ));
}

#[test]
fn a_table_format_is_iceberg_or_hive_and_anything_else_is_refused_naming_the_field() {
    for (written, format) in [
        ("iceberg", TableFormat::Iceberg),
        ("hive", TableFormat::Hive),
    ] {
        let mut value = minimal();
        value["target"]["format"] = json!(written);
        assert_eq!(parse(&value).unwrap().format, format);
        assert_eq!(format.as_str(), written);
    }
    for refused in [json!("delta"), json!("Iceberg"), json!(1)] {
        let mut value = minimal();
        value["target"]["format"] = refused.clone();
        let error = parse(&value).unwrap_err();
        let TableConfigError::Unreadable(message) = &error else {
            panic!("{refused} should be unreadable, got {error:?}");
        };
        assert!(message.starts_with("target.format: "), "{message}");
        if refused.is_string() {
            assert!(message.contains("`iceberg` or `hive`"), "{message}");
        }
    }
}

#[test]
fn the_readme_states_the_default_table_format() {
    let readme = include_str!("../../../README.md");
    let row = format!("| `target.format` | `{}` |", DEFAULT_TABLE_FORMAT.as_str());
    assert!(
        readme.contains(&row),
        "README.md's configuration table gives target.format the default {row:?}"
    );
}

#[test]
fn source_names_must_be_dms_folders() {
    assert_invalid(
        minimal(),
        |v| v["source"]["schema"] = json!("a/b"),
        "source.schema",
        "a/b",
        "folder",
    );
    assert_invalid(
        minimal(),
        |v| v["source"]["table"] = json!("  "),
        "source.table",
        "not a DMS folder name",
        "folder",
    );
}

#[test]
fn target_table_with_uppercase_is_rejected() {
    assert_invalid(
        minimal(),
        |v| v["target"]["table"] = json!("Orders"),
        "target.table",
        "Orders",
        "[a-z0-9_]",
    );
    assert_invalid(
        minimal(),
        |v| v["target"]["database"] = json!("my-lake"),
        "target.database",
        "my-lake",
        "[a-z0-9_]",
    );
}

#[test]
fn target_location_must_be_a_relative_prefix() {
    assert_invalid(
        minimal(),
        |v| v["target"]["location"] = json!("s3://x"),
        "target.location",
        "s3://x",
        "relative prefix",
    );
    assert_invalid(
        minimal(),
        |v| v["target"]["location"] = json!("//"),
        "target.location",
        "not a prefix",
        "relative prefix",
    );
}

#[test]
fn an_empty_primary_key_is_rejected() {
    assert_invalid(
        minimal(),
        |v| v["primary_key"] = json!([]),
        "primary_key",
        "no primary-key column",
        "primary-key columns",
    );
}

#[test]
fn primary_key_columns_must_be_unique_declared_and_of_a_key_type() {
    assert_invalid(
        full(),
        |v| v["primary_key"] = json!(["order_id", "order_id"]),
        "primary_key[1]",
        "listed twice",
        "once",
    );
    assert_invalid(
        full(),
        |v| v["primary_key"] = json!(["order_id", "nope"]),
        "primary_key[1]",
        "`nope`",
        "input.columns",
    );
    assert_invalid(
        full(),
        |v| {
            v["input"]["columns"][0] = json!({ "name": "order_id", "type": "double" });
        },
        "primary_key[0]",
        "Float64",
        "integer, decimal, string",
    );
}

#[test]
fn ordering_columns_must_be_declared_and_of_a_type_that_orders() {
    assert_invalid(
        full(),
        |v| v["ordering"]["sequence_column"] = json!("nope"),
        "ordering.sequence_column",
        "`nope`",
        "input.columns",
    );
    assert_invalid(
        full(),
        |v| v["ordering"]["commit_timestamp_column"] = json!("amount"),
        "ordering.commit_timestamp_column",
        "not a timestamp, date or timestamp text",
        "timestamp or string",
    );
}

#[test]
fn a_string_commit_timestamp_column_is_accepted_as_dms_writes_it() {
    // DMS writes TimestampColumnName as a string in Parquet; a refresh orders by it.
    let mut spec = full();
    spec["input"]["columns"][3] = json!({ "name": "commit_ts", "type": "string" });
    let config = parse(&spec).unwrap();
    assert_eq!(config.commit_timestamp_column.as_deref(), Some("commit_ts"));
    spec["ordering"] = json!({ "commit_timestamp_column": "commit_ts" });
    assert!(parse(&spec).is_ok(), "alone, as most tasks order");
}

#[test]
fn a_sequence_column_must_be_a_type_a_refresh_orders_as_a_number() {
    for refused in ["double", "decimal(12,2)", "timestamp", "boolean", "date"] {
        assert_invalid(
            full(),
            |v| v["input"]["columns"][2] = json!({ "name": "seq", "type": refused }),
            "ordering.sequence_column",
            "cannot order changes as a sequence",
            "decimal(p,0)",
        );
    }
    for accepted in ["bigint", "int", "decimal(38,0)", "string", "varchar(40)"] {
        let mut spec = full();
        spec["input"]["columns"][2] = json!({ "name": "seq", "type": accepted });
        assert!(parse(&spec).is_ok(), "{accepted}");
    }
}

#[test]
fn scd2_needs_a_commit_timestamp_column() {
    assert_invalid(
        full(),
        |v| {
            v["ordering"]
                .as_object_mut()
                .unwrap()
                .remove("commit_timestamp_column");
        },
        "ordering.commit_timestamp_column",
        "scd2",
        "TimestampColumnName",
    );
}

#[test]
fn partition_fields_must_use_a_known_transform() {
    assert_invalid(
        full(),
        |v| v["partition_by"] = json!(["week(created_at)"]),
        "partition_by[0]",
        "week(created_at)",
        "day(col)",
    );
    assert_invalid(
        full(),
        |v| v["partition_by"] = json!(["identity(region)", "day()"]),
        "partition_by[1]",
        "not a partition field",
        "identity(col)",
    );
    assert_invalid(
        full(),
        |v| v["partition_by"] = json!(["region"]),
        "partition_by[0]",
        "not a partition field",
        "identity(col)",
    );
}

#[test]
fn partition_fields_must_name_declared_columns_once() {
    assert_invalid(
        full(),
        |v| v["partition_by"] = json!(["identity(nope)"]),
        "partition_by[0]",
        "`nope`",
        "input.columns",
    );
    assert_invalid(
        full(),
        |v| v["partition_by"] = json!(["identity(region)", " identity(region) "]),
        "partition_by[1]",
        "listed twice",
        "once",
    );
}

#[test]
fn a_date_transform_on_a_string_column_is_rejected() {
    assert_invalid(
        full(),
        |v| v["partition_by"] = json!(["day(region)"]),
        "partition_by[0]",
        "not a date or timestamp",
        "date or timestamp",
    );
}

#[test]
fn identity_partitions_on_floating_point_columns_are_rejected() {
    assert_invalid(
        full(),
        |v| {
            v["input"]["columns"][7] = json!({ "name": "paid", "type": "float" });
            v["partition_by"] = json!(["identity(paid)"]);
        },
        "partition_by[0]",
        "unstable partition values",
        "string, integer",
    );
}

#[test]
fn two_date_transforms_in_dt_style_produce_the_same_key() {
    assert_invalid(
        full(),
        |v| {
            v["input"]["columns"]
                .as_array_mut()
                .unwrap()
                .push(timestamp("updated_at"));
            v["partition_by"] = json!(["day(created_at)", "hour(updated_at)"]);
        },
        "partition_by",
        "`dt`",
        "one date transform",
    );
}

#[test]
fn a_date_transform_key_colliding_with_a_source_column_is_rejected() {
    assert_invalid(
        full(),
        |v| {
            v["input"]["columns"]
                .as_array_mut()
                .unwrap()
                .push(json!({ "name": "year", "type": "int" }));
            v["date_partition_style"] = json!("nested");
        },
        "partition_by",
        "`year`",
        "date_partition_style",
    );
}

#[test]
fn a_date_transform_key_colliding_with_a_differently_cased_column_is_rejected() {
    // Athena lowercases names, so `Year` and the partition key `year` are the same column.
    assert_invalid(
        full(),
        |v| {
            v["input"]["columns"]
                .as_array_mut()
                .unwrap()
                .push(json!({ "name": "Year", "type": "int" }));
            v["date_partition_style"] = json!("nested");
        },
        "partition_by",
        "`year`",
        "date_partition_style",
    );
}

#[test]
fn a_date_transform_key_colliding_with_a_source_column_suggests_naming_the_key() {
    let (_, problem, fix) = invalid_field(full(), |v| {
        v["input"]["columns"]
            .as_array_mut()
            .unwrap()
            .push(json!({ "name": "month", "type": "int" }));
        v["date_partition_style"] = json!("nested");
    });
    assert_eq!(
        problem,
        "the partition key `month` of day(created_at) is also the source column `month`"
    );
    assert!(fix.contains("`day(created_at) as created_at_day`"), "{fix}");
    assert!(fix.contains("date_partition_style dt"), "{fix}");
    // A named key that clashes: the style does not help, another name does.
    let (_, _, fix) = invalid_field(
        with_year_and_month_columns(json!(["day(Created-At) as year"])),
        |v| {
            v["input"]["columns"][5] = json!({ "name": "Created-At", "type": "date" });
        },
    );
    assert_eq!(
        fix,
        "name the partition key: `day(Created-At) as created_at_day` (or rename the source column)"
    );
}

/// `full()` with `year` and `month` source columns, nested date partitions and `partition_by`.
fn with_year_and_month_columns(partition_by: Value) -> Value {
    let mut spec = full();
    let columns = spec["input"]["columns"].as_array_mut().unwrap();
    columns.push(json!({ "name": "year", "type": "int" }));
    columns.push(json!({ "name": "month", "type": "int" }));
    spec["date_partition_style"] = json!("nested");
    spec["partition_by"] = partition_by;
    spec
}

#[test]
fn a_named_date_transform_has_one_partition_key_of_its_name() {
    let config = parse(&with_year_and_month_columns(json!([
        "identity(region)",
        "  day(created_at)   AS  created_day ",
        "month(commit_ts) as commit_month"
    ])))
    .unwrap();
    assert_eq!(
        config.partition_fields[1],
        PartitionField {
            column: "created_at".to_owned(),
            transform: PartitionTransform::Day,
            name: Some("created_day".to_owned()),
        }
    );
    assert_eq!(
        partition_key_names(&config.partition_fields, config.date_partition_style),
        vec!["region", "created_day", "commit_month"]
    );
}

#[test]
fn a_partition_name_must_be_a_glue_name_unique_unreserved_and_on_a_date_transform() {
    let named = |text: &str| with_year_and_month_columns(json!(["identity(region)", text]));
    for (text, problem, fix) in [
        ("day(created_at) as Created", "Created", "[a-z0-9_]"),
        ("day(created_at) as created-day", "created-day", "[a-z0-9_]"),
        (
            "day(created_at) as valid_from",
            "reserved",
            "created_at_day",
        ),
        (
            "identity(paid) as paid_flag",
            "identity partition",
            "identity(paid)",
        ),
    ] {
        assert_invalid(named(text), |_| {}, "partition_by[1]", problem, fix);
    }
    for text in [
        "day(created_at) as",
        "day(created_at) created_day",
        "day(created_at)x",
    ] {
        assert_invalid(
            named(text),
            |_| {},
            "partition_by[1]",
            "not a partition field",
            "as col_month",
        );
    }
    for (text, problem) in [
        ("day(created_at) as region", "`region`"),
        ("day(created_at) as year", "`year`"),
    ] {
        assert_invalid(named(text), |_| {}, "partition_by", problem, "");
    }
}

#[test]
fn a_location_too_long_for_s3_keys_is_rejected_with_the_room_left() {
    let longest_fitting =
        "l".repeat(S3_MAX_KEY_BYTES - (longest_key_bytes(&Path::from("l"), "") - 1));
    let mut spec = minimal();
    spec["target"]["location"] = json!(longest_fitting);
    assert!(parse(&spec).is_ok());
    assert_invalid(
        minimal(),
        |v| v["target"]["location"] = json!(format!("{longest_fitting}l")),
        "target.location",
        "S3 accepts at most 1024",
        &format!("at most {} bytes", longest_fitting.len()),
    );
}

#[test]
fn reserved_column_names_are_rejected() {
    for (i, name) in ["cdc_order", "CDC_OP", "valid_from", "Is_Current"]
        .into_iter()
        .enumerate()
    {
        assert_invalid(
            full(),
            |v| {
                v["input"]["columns"][i] = json!({ "name": name, "type": "string" });
            },
            &format!("input.columns[{i}]"),
            "reserved",
            "DMS transformation",
        );
    }
}

#[test]
fn columns_need_unique_names() {
    assert_invalid(
        full(),
        |v| v["input"]["columns"][1] = json!({ "name": "ORDER_ID", "type": "int" }),
        "input.columns[1]",
        "declared twice",
        "once",
    );
    assert_invalid(
        full(),
        |v| v["input"]["columns"][1] = json!({ "name": " ", "type": "int" }),
        "input.columns[1]",
        "no name",
        "name every column",
    );
}

#[test]
fn an_unsupported_hive_type_is_rejected() {
    assert_invalid(
        full(),
        |v| v["input"]["columns"][6] = json!({ "name": "amount", "type": "money" }),
        "input.columns[6].type",
        "money",
        "decimal(p,s)",
    );
}

#[test]
fn the_csv_delimiter_must_be_one_ascii_character() {
    for bad in ["ab", "", "\"", "\n", "é"] {
        assert_invalid(
            full(),
            |v| v["input"]["csv_delimiter"] = json!(bad),
            "input.csv_delimiter",
            "single ASCII character",
            "CsvDelimiter",
        );
    }
}

#[test]
fn the_null_string_and_op_column_name_are_checked() {
    assert_invalid(
        full(),
        |v| v["input"]["csv_null_string"] = json!("N|A"),
        "input.csv_null_string",
        "delimiter",
        "CsvNullValue",
    );
    assert_invalid(
        full(),
        |v| v["input"]["op_column_name"] = json!(" "),
        "input.op_column_name",
        "no name",
        "Op",
    );
}

#[test]
fn tombstone_retention_must_be_positive_and_bounded() {
    assert_invalid(
        minimal(),
        |v| v["tombstone_retention_days"] = json!(0),
        "tombstone_retention_days",
        "outside 1..=3650",
        "delay",
    );
    assert_invalid(
        minimal(),
        |v| v["tombstone_retention_days"] = json!(3651),
        "tombstone_retention_days",
        "3651",
        "delay",
    );
}

#[test]
fn time_travel_may_be_zero_days_but_is_bounded() {
    let mut zero = minimal();
    zero["time_travel_days"] = json!(0);
    assert_eq!(parse(&zero).unwrap().time_travel, Duration::ZERO);
    assert_invalid(
        minimal(),
        |v| v["time_travel_days"] = json!(3651),
        "time_travel_days",
        "3651 is outside 0..=3650",
        "travel back",
    );
}

#[test]
fn row_group_rows_must_be_positive_and_bounded() {
    assert_invalid(
        minimal(),
        |v| v["output"] = json!({ "row_group_rows": 0 }),
        "output.row_group_rows",
        "outside 1..=",
        "131072",
    );
    assert_invalid(
        minimal(),
        |v| v["output"] = json!({ "row_group_rows": 16 * 1024 * 1024 + 1 }),
        "output.row_group_rows",
        "outside 1..=",
        "131072",
    );
}

#[test]
fn target_file_size_must_be_within_bounds() {
    assert_invalid(
        minimal(),
        |v| v["output"] = json!({ "target_file_size_bytes": 10 }),
        "output.target_file_size_bytes",
        "10 is outside",
        "134217728",
    );
    assert_invalid(
        minimal(),
        |v| v["output"] = json!({ "target_file_size_bytes": 3_u64 * 1024 * 1024 * 1024 }),
        "output.target_file_size_bytes",
        "outside",
        "134217728",
    );
}

#[test]
fn errors_render_field_problem_and_fix() {
    let mut value = minimal();
    value["primary_key"] = json!([]);
    let message = parse(&value).unwrap_err().to_string();
    assert!(message.starts_with("table configuration field `primary_key`: "));
    assert!(message.contains("; fix: "));
}

// ---- parse_hive_type ---------------------------------------------------------------------------

#[test]
fn hive_types_map_to_arrow_types() {
    let cases = [
        ("boolean", Some(DataType::Boolean)),
        ("tinyint", Some(DataType::Int8)),
        ("smallint", Some(DataType::Int16)),
        ("int", Some(DataType::Int32)),
        ("integer", Some(DataType::Int32)),
        ("bigint", Some(DataType::Int64)),
        ("float", Some(DataType::Float32)),
        ("real", Some(DataType::Float32)),
        ("double", Some(DataType::Float64)),
        ("string", Some(DataType::Utf8)),
        ("binary", Some(DataType::Binary)),
        ("date", Some(DataType::Date32)),
        (
            "timestamp",
            Some(DataType::Timestamp(TimeUnit::Microsecond, None)),
        ),
        (" BIGINT ", Some(DataType::Int64)),
        ("varchar(10)", Some(DataType::Utf8)),
        ("char(1)", Some(DataType::Utf8)),
        ("VARCHAR( 255 )", Some(DataType::Utf8)),
        ("decimal(38,10)", Some(DataType::Decimal128(38, 10))),
        ("decimal(10, 2)", Some(DataType::Decimal128(10, 2))),
        ("decimal(1,0)", Some(DataType::Decimal128(1, 0))),
        ("decimal(5,5)", Some(DataType::Decimal128(5, 5))),
        ("decimal(39,0)", None),
        ("decimal(0,0)", None),
        ("decimal(5,6)", None),
        ("decimal(10,-1)", None),
        ("decimal(10)", None),
        ("decimal(a,b)", None),
        ("varchar(0)", None),
        ("varchar()", None),
        ("varchar", None),
        ("money", None),
        ("", None),
        ("array<int>", None),
    ];
    for (text, expected) in cases {
        assert_eq!(parse_hive_type(text), expected, "{text:?}");
    }
}
