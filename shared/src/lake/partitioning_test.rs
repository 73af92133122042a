//! Unit tests of `partitioning`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use arrow::array::{
    BooleanArray, Date32Array, Decimal128Array, DictionaryArray, Float64Array, Int32Array,
    Int64Array, StringArray, TimestampMicrosecondArray, TimestampMillisecondArray,
    TimestampNanosecondArray, TimestampSecondArray,
};
use arrow::datatypes::{Field, Schema};
use proptest::prelude::*;

use super::*;

fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    RecordBatch::try_from_iter(columns).unwrap()
}

fn field(column: &str, transform: PartitionTransform) -> PartitionField {
    PartitionField {
        column: column.to_owned(),
        transform,
        name: None,
    }
}

fn pv(pairs: &[(&str, Option<&str>)]) -> PartitionValues {
    PartitionValues(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.map(str::to_owned)))
            .collect(),
    )
}

/// The partition path of every row.
fn row_paths(assignment: &PartitionAssignment) -> Vec<String> {
    assignment
        .row_partition
        .iter()
        .map(|i| assignment.partitions[*i as usize].path())
        .collect()
}

/// Days since the epoch of a calendar date.
fn days(y: i32, m: u32, d: u32) -> i32 {
    let date = chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap();
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    i32::try_from((date - epoch).num_days()).unwrap()
}

/// Microseconds since the epoch of a UTC date-time.
fn micros(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, us: u32) -> i64 {
    chrono::NaiveDate::from_ymd_opt(y, mo, d)
        .unwrap()
        .and_hms_micro_opt(h, mi, s, us)
        .unwrap()
        .and_utc()
        .timestamp_micros()
}

// ---- escaping ----------------------------------------------------------------------------------

#[test]
fn every_special_character_is_escaped_in_uppercase_hex() {
    let cases = [
        ("\"", "%22"),
        ("#", "%23"),
        ("%", "%25"),
        ("'", "%27"),
        ("*", "%2A"),
        ("/", "%2F"),
        (":", "%3A"),
        ("=", "%3D"),
        ("?", "%3F"),
        ("\\", "%5C"),
        ("{", "%7B"),
        ("[", "%5B"),
        ("]", "%5D"),
        ("^", "%5E"),
        ("\u{0}", "%00"),
        ("\n", "%0A"),
        ("\u{1f}", "%1F"),
        ("\u{7f}", "%7F"),
    ];
    for (raw, escaped) in cases {
        assert_eq!(escape_partition_value(raw), escaped, "escaping {raw:?}");
        assert_eq!(unescape_partition_value(escaped).as_deref(), Some(raw));
    }
}

#[test]
fn ordinary_and_non_ascii_characters_are_unchanged() {
    let text = "abc XYZ 019 -_.,;!@$&()+<>|}~` é 日本 🚀";
    assert_eq!(escape_partition_value(text), text);
    assert_eq!(
        escape_partition_value("2024-01-05 10:11:12"),
        "2024-01-05 10%3A11%3A12"
    );
    assert_eq!(escape_partition_value("a/b=c"), "a%2Fb%3Dc");
}

#[test]
fn unescape_accepts_lowercase_hex_and_rejects_malformed_escapes() {
    assert_eq!(unescape_partition_value("a%2fb").as_deref(), Some("a/b"));
    assert_eq!(unescape_partition_value("%C3%A9").as_deref(), Some("é"));
    for bad in ["%", "%2", "a%G0", "%%", "%zz", "%FF"] {
        assert_eq!(unescape_partition_value(bad), None, "{bad:?}");
    }
}

proptest! {
    #[test]
    fn escaping_round_trips(text in any::<String>()) {
        let escaped = escape_partition_value(&text);
        prop_assert!(!escaped.contains(['/', '=', '\n']));
        prop_assert_eq!(unescape_partition_value(&escaped), Some(text));
    }

    #[test]
    fn paths_round_trip(pairs in proptest::collection::vec(
        ("[^\u{0}]{1,8}", proptest::option::of(any::<String>())), 0..4)
    ) {
        let values = PartitionValues(pairs);
        prop_assume!(values.0.iter().all(|(_, v)| v.as_deref() != Some(HIVE_DEFAULT_PARTITION)));
        prop_assert_eq!(PartitionValues::parse(&values.path()).unwrap(), values);
    }
}

// ---- paths -------------------------------------------------------------------------------------

#[test]
fn path_renders_nulls_as_the_hive_default_partition() {
    let values = pv(&[("country", Some("a/b")), ("region", None)]);
    assert_eq!(
        values.path(),
        "country=a%2Fb/region=__HIVE_DEFAULT_PARTITION__"
    );
    assert_eq!(PartitionValues::parse(&values.path()).unwrap(), values);
    assert_eq!(values.get("region"), Some(&None));
    assert_eq!(values.get("missing"), None);
}

#[test]
fn unpartitioned_path_is_empty() {
    assert_eq!(PartitionValues::default().path(), "");
    assert_eq!(
        PartitionValues::parse("").unwrap(),
        PartitionValues::default()
    );
}

#[test]
fn malformed_paths_are_rejected() {
    for bad in ["novalue", "=x", "a=1//b=2", "a=%4", "a=1/b"] {
        let err = PartitionValues::parse(bad).unwrap_err();
        assert!(
            matches!(err, PartitionError::MalformedPath { .. }),
            "{bad:?}: {err}"
        );
    }
}

// ---- assignment: identity ----------------------------------------------------------------------

#[test]
fn identity_groups_rows_in_first_appearance_order() {
    let b = batch(vec![
        (
            "country",
            Arc::new(StringArray::from(vec![
                Some("de"),
                Some("fr"),
                Some("de"),
                None,
            ])) as _,
        ),
        ("id", Arc::new(Int32Array::from(vec![1, 2, 3, 4])) as _),
    ]);
    let a = assign_partitions(
        &b,
        &[field("country", PartitionTransform::Identity)],
        DatePartitionStyle::Nested,
    )
    .unwrap();
    assert_eq!(
        a.partitions,
        vec![
            pv(&[("country", Some("de"))]),
            pv(&[("country", Some("fr"))]),
            pv(&[("country", None)]),
        ]
    );
    assert_eq!(a.row_partition, vec![0, 1, 0, 2]);
    assert_eq!(a.partitions[2].path(), "country=__HIVE_DEFAULT_PARTITION__");
}

#[test]
fn empty_strings_share_the_default_partition_with_nulls() {
    let b = batch(vec![(
        "c",
        Arc::new(StringArray::from(vec![Some(""), None, Some("x"), Some("")])) as _,
    )]);
    let a = assign_partitions(
        &b,
        &[field("c", PartitionTransform::Identity)],
        DatePartitionStyle::Nested,
    )
    .unwrap();
    assert_eq!(
        a.partitions,
        vec![pv(&[("c", None)]), pv(&[("c", Some("x"))])]
    );
    assert_eq!(a.row_partition, vec![0, 0, 1, 0]);
}

#[test]
fn a_literal_default_partition_value_is_null() {
    let b = batch(vec![(
        "c",
        Arc::new(StringArray::from(vec![Some(HIVE_DEFAULT_PARTITION), None])) as _,
    )]);
    let a = assign_partitions(
        &b,
        &[field("c", PartitionTransform::Identity)],
        DatePartitionStyle::Nested,
    )
    .unwrap();
    assert_eq!(a.partitions, vec![pv(&[("c", None)])]);
    assert_eq!(a.row_partition, vec![0, 0]);
}

#[test]
fn dictionary_columns_partition_by_value() {
    let dict: DictionaryArray<Int32Type> = vec!["x", "y", "x"].into_iter().collect();
    let b = batch(vec![("c", Arc::new(dict) as _)]);
    let a = assign_partitions(
        &b,
        &[field("c", PartitionTransform::Identity)],
        DatePartitionStyle::Nested,
    )
    .unwrap();
    assert_eq!(row_paths(&a), vec!["c=x", "c=y", "c=x"]);
}

#[test]
fn keys_and_values_are_escaped_in_paths() {
    let b = batch(vec![(
        "a=b",
        Arc::new(StringArray::from(vec!["100%/x"])) as _,
    )]);
    let a = assign_partitions(
        &b,
        &[field("a=b", PartitionTransform::Identity)],
        DatePartitionStyle::Nested,
    )
    .unwrap();
    assert_eq!(a.partitions[0].path(), "a%3Db=100%25%2Fx");
    assert_eq!(
        PartitionValues::parse("a%3Db=100%25%2Fx").unwrap(),
        a.partitions[0]
    );
}

#[test]
fn identity_values_render_by_type() {
    let b = batch(vec![
        ("s", Arc::new(StringArray::from(vec!["a:b"])) as _),
        ("i", Arc::new(Int64Array::from(vec![-42])) as _),
        ("b", Arc::new(BooleanArray::from(vec![true])) as _),
        (
            "d",
            Arc::new(Date32Array::from(vec![days(2024, 1, 5)])) as _,
        ),
        (
            "t",
            Arc::new(TimestampMicrosecondArray::from(vec![micros(
                2024, 1, 5, 10, 11, 12, 123_456,
            )])) as _,
        ),
        (
            "t0",
            Arc::new(TimestampMicrosecondArray::from(vec![micros(
                2024, 1, 5, 10, 11, 12, 0,
            )])) as _,
        ),
        (
            "n",
            Arc::new(
                Decimal128Array::from(vec![1250])
                    .with_precision_and_scale(10, 2)
                    .unwrap(),
            ) as _,
        ),
        (
            "neg",
            Arc::new(
                Decimal128Array::from(vec![-5])
                    .with_precision_and_scale(10, 2)
                    .unwrap(),
            ) as _,
        ),
    ]);
    let fields: Vec<_> = ["s", "i", "b", "d", "t", "t0", "n", "neg"]
        .iter()
        .map(|c| field(c, PartitionTransform::Identity))
        .collect();
    let a = assign_partitions(&b, &fields, DatePartitionStyle::Nested).unwrap();
    assert_eq!(
        a.partitions,
        vec![pv(&[
            ("s", Some("a:b")),
            ("i", Some("-42")),
            ("b", Some("true")),
            ("d", Some("2024-01-05")),
            ("t", Some("2024-01-05 10:11:12.123456")),
            ("t0", Some("2024-01-05 10:11:12")),
            ("n", Some("12.50")),
            ("neg", Some("-0.05")),
        ])]
    );
    assert_eq!(
        a.partitions[0].path(),
        "s=a%3Ab/i=-42/b=true/d=2024-01-05/t=2024-01-05 10%3A11%3A12.123456/\
         t0=2024-01-05 10%3A11%3A12/n=12.50/neg=-0.05"
    );
}

#[test]
fn multi_field_specs_combine_identity_and_date_keys() {
    let b = batch(vec![
        (
            "region",
            Arc::new(StringArray::from(vec!["eu", "us", "eu", "eu"])) as _,
        ),
        (
            "created",
            Arc::new(Date32Array::from(vec![
                days(2024, 1, 5),
                days(2024, 1, 5),
                days(2024, 2, 1),
                days(2024, 1, 5),
            ])) as _,
        ),
    ]);
    let fields = [
        field("region", PartitionTransform::Identity),
        field("created", PartitionTransform::Month),
    ];
    let a = assign_partitions(&b, &fields, DatePartitionStyle::Nested).unwrap();
    assert_eq!(
        row_paths(&a),
        vec![
            "region=eu/year=2024/month=01",
            "region=us/year=2024/month=01",
            "region=eu/year=2024/month=02",
            "region=eu/year=2024/month=01",
        ]
    );
    assert_eq!(a.partitions.len(), 3);
    let a = assign_partitions(&b, &fields, DatePartitionStyle::Dt).unwrap();
    assert_eq!(
        row_paths(&a),
        vec![
            "region=eu/dt=2024-01",
            "region=us/dt=2024-01",
            "region=eu/dt=2024-02",
            "region=eu/dt=2024-01",
        ]
    );
}

// ---- assignment: date transforms ---------------------------------------------------------------

fn one_timestamp_paths(column: ArrayRef, style: DatePartitionStyle) -> Vec<String> {
    let b = batch(vec![("ts", column)]);
    [
        PartitionTransform::Year,
        PartitionTransform::Month,
        PartitionTransform::Day,
        PartitionTransform::Hour,
    ]
    .into_iter()
    .map(|t| {
        let a = assign_partitions(&b, &[field("ts", t)], style).unwrap();
        assert_eq!(a.row_partition, vec![0]);
        a.partitions[0].path()
    })
    .collect()
}

#[test]
fn all_four_transforms_in_both_styles() {
    let ts: ArrayRef = Arc::new(TimestampMicrosecondArray::from(vec![micros(
        2024, 1, 5, 7, 59, 59, 999_999,
    )]));
    assert_eq!(
        one_timestamp_paths(ts.clone(), DatePartitionStyle::Nested),
        vec![
            "year=2024",
            "year=2024/month=01",
            "year=2024/month=01/day=05",
            "year=2024/month=01/day=05/hour=07",
        ]
    );
    assert_eq!(
        one_timestamp_paths(ts, DatePartitionStyle::Dt),
        vec!["dt=2024", "dt=2024-01", "dt=2024-01-05", "dt=2024-01-05-07"]
    );
}

#[test]
fn a_named_date_transform_gives_one_key_with_the_dt_value_in_either_style() {
    let ts: ArrayRef = Arc::new(TimestampMicrosecondArray::from(vec![
        Some(micros(2013, 1, 5, 7, 0, 0, 0)),
        None,
    ]));
    let b = batch(vec![("time_hour", ts)]);
    for style in [DatePartitionStyle::Nested, DatePartitionStyle::Dt] {
        for (transform, value) in [
            (PartitionTransform::Year, "2013"),
            (PartitionTransform::Month, "2013-01"),
            (PartitionTransform::Day, "2013-01-05"),
            (PartitionTransform::Hour, "2013-01-05-07"),
        ] {
            let named = PartitionField {
                name: Some("time_hour_part".to_owned()),
                ..field("time_hour", transform)
            };
            let a = assign_partitions(&b, &[named], style).unwrap();
            assert_eq!(
                row_paths(&a),
                vec![
                    format!("time_hour_part={value}"),
                    format!("time_hour_part={HIVE_DEFAULT_PARTITION}")
                ]
            );
        }
    }
}

#[test]
fn the_glue_limit_counts_utf16_code_units_and_lets_nulls_pass() {
    let at_limit = "g".repeat(GLUE_MAX_PARTITION_VALUE_CHARS);
    assert_eq!(
        pv(&[("k", Some(&at_limit)), ("n", None)]).check_glue_limit(),
        Ok(())
    );
    // An emoji is one character but two UTF-16 code units, as AWS counts.
    let emoji = format!(
        "{}\u{1F600}",
        "g".repeat(GLUE_MAX_PARTITION_VALUE_CHARS - 1)
    );
    assert_eq!(
        pv(&[("k", Some("short")), ("e", Some(&emoji))]).check_glue_limit(),
        Err(PartitionLimitError::GlueValueTooLong {
            key: "e".to_owned(),
            value_prefix: "g".repeat(40),
            length: GLUE_MAX_PARTITION_VALUE_CHARS + 1,
        })
    );
}

#[test]
fn date_columns_use_hour_zero() {
    let d: ArrayRef = Arc::new(Date32Array::from(vec![days(1999, 12, 31)]));
    assert_eq!(
        one_timestamp_paths(d, DatePartitionStyle::Dt),
        vec!["dt=1999", "dt=1999-12", "dt=1999-12-31", "dt=1999-12-31-00"]
    );
}

#[test]
fn every_timestamp_unit_and_utc_zone_give_the_same_partition() {
    let us = micros(2023, 12, 31, 23, 30, 0, 0);
    let expected = vec!["dt=2023", "dt=2023-12", "dt=2023-12-31", "dt=2023-12-31-23"];
    let columns: Vec<ArrayRef> = vec![
        Arc::new(TimestampSecondArray::from(vec![us / 1_000_000])),
        Arc::new(TimestampMillisecondArray::from(vec![us / 1_000])),
        Arc::new(TimestampMicrosecondArray::from(vec![us])),
        Arc::new(TimestampNanosecondArray::from(vec![us * 1_000])),
        Arc::new(TimestampMicrosecondArray::from(vec![us]).with_timezone("UTC")),
        Arc::new(TimestampMicrosecondArray::from(vec![us]).with_timezone("+00:00")),
    ];
    for column in columns {
        let data_type = column.data_type().clone();
        assert_eq!(
            one_timestamp_paths(column, DatePartitionStyle::Dt),
            expected,
            "{data_type}"
        );
    }
}

#[test]
fn timestamps_before_the_epoch_floor_to_the_right_hour() {
    let ts: ArrayRef = Arc::new(TimestampMicrosecondArray::from(vec![micros(
        1969, 12, 31, 23, 59, 59, 999_999,
    )]));
    assert_eq!(
        one_timestamp_paths(ts, DatePartitionStyle::Nested)[3],
        "year=1969/month=12/day=31/hour=23"
    );
}

#[test]
fn null_dates_give_null_in_every_produced_key() {
    let b = batch(vec![(
        "ts",
        Arc::new(TimestampMicrosecondArray::from(vec![
            None,
            Some(micros(2024, 3, 1, 0, 0, 0, 0)),
        ])) as _,
    )]);
    let a = assign_partitions(
        &b,
        &[field("ts", PartitionTransform::Day)],
        DatePartitionStyle::Nested,
    )
    .unwrap();
    assert_eq!(
        a.partitions,
        vec![
            pv(&[("year", None), ("month", None), ("day", None)]),
            pv(&[
                ("year", Some("2024")),
                ("month", Some("03")),
                ("day", Some("01"))
            ]),
        ]
    );
    assert_eq!(
        a.partitions[0].path(),
        "year=__HIVE_DEFAULT_PARTITION__/month=__HIVE_DEFAULT_PARTITION__/day=__HIVE_DEFAULT_PARTITION__"
    );
    let a = assign_partitions(
        &b,
        &[field("ts", PartitionTransform::Hour)],
        DatePartitionStyle::Dt,
    )
    .unwrap();
    assert_eq!(a.partitions[0], pv(&[("dt", None)]));
}

#[test]
fn unsupported_types_and_missing_columns_are_errors_naming_the_column() {
    let b = batch(vec![
        ("name", Arc::new(StringArray::from(vec!["x"])) as _),
        ("price", Arc::new(Float64Array::from(vec![1.5])) as _),
        (
            "berlin",
            Arc::new(TimestampMicrosecondArray::from(vec![0]).with_timezone("Europe/Berlin")) as _,
        ),
    ]);
    let cases = [
        (field("name", PartitionTransform::Day), "name", "Utf8"),
        (
            field("price", PartitionTransform::Identity),
            "price",
            "Float64",
        ),
        (
            field("berlin", PartitionTransform::Hour),
            "berlin",
            "Europe/Berlin",
        ),
    ];
    for (f, column, type_text) in cases {
        let err = assign_partitions(&b, &[f], DatePartitionStyle::Nested).unwrap_err();
        assert!(
            matches!(err, PartitionError::UnsupportedType { .. }),
            "{err}"
        );
        let message = err.to_string();
        assert!(message.contains(column), "{message}");
        assert!(message.contains(type_text), "{message}");
    }
    let err = assign_partitions(
        &b,
        &[field("missing", PartitionTransform::Identity)],
        DatePartitionStyle::Nested,
    )
    .unwrap_err();
    assert!(matches!(err, PartitionError::MissingColumn { ref column } if column == "missing"));
    assert!(err.to_string().contains("`missing`"));
}

#[test]
fn unpartitioned_and_empty_batches() {
    let b = batch(vec![("id", Arc::new(Int32Array::from(vec![1, 2, 3])) as _)]);
    let a = assign_partitions(&b, &[], DatePartitionStyle::Nested).unwrap();
    assert_eq!(a.partitions, vec![PartitionValues::default()]);
    assert_eq!(a.row_partition, vec![0, 0, 0]);
    let empty = b.slice(0, 0);
    let a = assign_partitions(
        &empty,
        &[field("id", PartitionTransform::Identity)],
        DatePartitionStyle::Nested,
    )
    .unwrap();
    assert!(a.partitions.is_empty() && a.row_partition.is_empty());
}

#[test]
fn a_million_rows_assign() {
    const ROWS: usize = 1_000_000;
    let start = micros(2024, 1, 1, 0, 0, 0, 0);
    let ts = TimestampMicrosecondArray::from_iter_values(
        (0..ROWS as i64).map(|i| start + (i % 2_000) * 3_600_000_000),
    );
    let region = StringArray::from_iter_values((0..ROWS).map(|i| ["eu", "us", "ap"][i % 3]));
    let b = batch(vec![
        ("region", Arc::new(region) as _),
        ("ts", Arc::new(ts) as _),
    ]);
    let fields = [
        field("region", PartitionTransform::Identity),
        field("ts", PartitionTransform::Day),
    ];
    let a = assign_partitions(&b, &fields, DatePartitionStyle::Nested).unwrap();
    assert_eq!(a.row_partition.len(), ROWS);
    // 2000 hours span 84 days; 3 regions.
    assert_eq!(a.partitions.len(), 3 * 84);
    assert_eq!(
        a.partitions[0].path(),
        "region=eu/year=2024/month=01/day=01"
    );
}

// ---- identity_column ---------------------------------------------------------------------------

/// Partitions `column` by identity, then re-creates it from the partition values alone.
fn round_trip(column: ArrayRef) {
    let schema_field = Field::new("c", column.data_type().clone(), true);
    let b = batch(vec![("c", column.clone())]);
    let a = assign_partitions(
        &b,
        &[field("c", PartitionTransform::Identity)],
        DatePartitionStyle::Nested,
    )
    .unwrap();
    // Through the path, as a reader would see it.
    for (row, partition) in a.row_partition.iter().enumerate() {
        let parsed = PartitionValues::parse(&a.partitions[*partition as usize].path()).unwrap();
        let rebuilt = identity_column(&parsed, &schema_field, 3).unwrap();
        assert_eq!(rebuilt.len(), 3);
        let expected = column.slice(row, 1);
        for i in 0..3 {
            assert_eq!(
                rebuilt.slice(i, 1).to_data(),
                expected.to_data(),
                "{} row {row}",
                column.data_type()
            );
        }
    }
}

#[test]
fn identity_column_round_trips_every_supported_type() {
    round_trip(Arc::new(StringArray::from(vec![
        Some("plain"),
        Some("a/b=c%d"),
        Some("é日本"),
        None,
    ])));
    round_trip(Arc::new(Int32Array::from(vec![
        Some(0),
        Some(-7),
        Some(i32::MAX),
        None,
    ])));
    round_trip(Arc::new(Int64Array::from(vec![i64::MIN, 123_456_789_012])));
    round_trip(Arc::new(BooleanArray::from(vec![
        Some(true),
        Some(false),
        None,
    ])));
    round_trip(Arc::new(Date32Array::from(vec![
        Some(days(2024, 1, 5)),
        Some(days(1900, 2, 28)),
        None,
    ])));
    round_trip(Arc::new(TimestampMicrosecondArray::from(vec![
        Some(micros(2024, 1, 5, 10, 11, 12, 123_456)),
        Some(micros(2024, 1, 5, 10, 11, 12, 120_000)),
        Some(micros(2024, 1, 5, 10, 11, 12, 0)),
        Some(micros(1960, 6, 1, 0, 0, 0, 1)),
        None,
    ])));
    round_trip(Arc::new(
        TimestampMicrosecondArray::from(vec![Some(micros(2024, 1, 5, 10, 11, 12, 5)), None])
            .with_timezone("UTC"),
    ));
    round_trip(Arc::new(TimestampMillisecondArray::from(vec![
        micros(2024, 1, 5, 10, 11, 12, 7_000) / 1_000,
    ])));
    round_trip(Arc::new(TimestampNanosecondArray::from(vec![
        micros(2024, 1, 5, 10, 11, 12, 7) * 1_000 + 9,
    ])));
    round_trip(Arc::new(
        Decimal128Array::from(vec![Some(1250), Some(-5), Some(0), Some(99_999_999), None])
            .with_precision_and_scale(10, 2)
            .unwrap(),
    ));
    round_trip(Arc::new(
        Decimal128Array::from(vec![Some(i128::from(i64::MAX) * 1_000), Some(-1)])
            .with_precision_and_scale(38, 10)
            .unwrap(),
    ));
}

#[test]
fn identity_column_of_a_null_partition_is_all_null() {
    let f = Field::new("c", DataType::Int32, true);
    for values in [
        pv(&[("c", None)]),
        pv(&[("c", Some(HIVE_DEFAULT_PARTITION))]),
    ] {
        let column = identity_column(&values, &f, 4).unwrap();
        assert_eq!(column.data_type(), &DataType::Int32);
        assert_eq!(column.len(), 4);
        assert_eq!(column.null_count(), 4);
    }
}

#[test]
fn identity_column_errors() {
    let f = Field::new("c", DataType::Int32, true);
    let err = identity_column(&pv(&[("other", Some("1"))]), &f, 1).unwrap_err();
    assert!(matches!(err, PartitionError::MissingKey { ref key, .. } if key == "c"));
    let err = identity_column(&pv(&[("c", Some("x1"))]), &f, 1).unwrap_err();
    assert!(matches!(err, PartitionError::InvalidValue { .. }), "{err}");
    assert!(err.to_string().contains("\"x1\""));
}

#[test]
fn schema_of_a_rebuilt_batch_matches() {
    // The re-created column can be put back into a batch of the declared schema.
    let f = Field::new("d", DataType::Date32, true);
    let column = identity_column(&pv(&[("d", Some("2024-01-05"))]), &f, 2).unwrap();
    let b = RecordBatch::try_new(Arc::new(Schema::new(vec![f])), vec![column]).unwrap();
    assert_eq!(
        b.column(0).as_primitive::<Date32Type>().value(1),
        days(2024, 1, 5)
    );
}
