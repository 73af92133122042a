//! Unit tests of `dms_layout`.

use super::*;

fn layout(folder: &str, dates: Option<DatePartitioning>) -> StagingLayout {
    StagingLayout::new("staging", folder, dates).expect("valid layout")
}

fn classify(layout: &StagingLayout, key: &str) -> Result<DmsFile, NotDmsData> {
    let key = ObjectKey::new(key.to_owned()).expect("valid key");
    layout.classify("staging", &key)
}

fn expect_file(layout: &StagingLayout, key: &str) -> DmsFile {
    match classify(layout, key) {
        Ok(file) => file,
        Err(e) => panic!("{key}: expected a DMS file, got {e}"),
    }
}

#[test]
fn full_load_and_cdc_names_in_every_bucket_folder_depth() {
    let cases: [(&str, &str); 3] = [("", ""), ("dms", "dms/"), ("a/b/c", "a/b/c/")];
    for (folder, prefix) in cases {
        let layout = layout(folder, None);
        let table = [
            (
                format!("{prefix}sales/orders/LOAD00000001.csv"),
                FileKind::FullLoad,
                FileFormat::Csv,
            ),
            (
                format!("{prefix}sales/orders/LOAD0000000A.csv.gz"),
                FileKind::FullLoad,
                FileFormat::CsvGzip,
            ),
            (
                format!("{prefix}sales/orders/SEGMENT2_LOAD00000003.parquet"),
                FileKind::FullLoad,
                FileFormat::Parquet,
            ),
            (
                format!("{prefix}sales/orders/partA/LOAD00000001.parquet"),
                FileKind::FullLoad,
                FileFormat::Parquet,
            ),
            (
                format!("{prefix}sales/orders/20230818-023428241.csv"),
                FileKind::Cdc,
                FileFormat::Csv,
            ),
            (
                format!("{prefix}sales/orders/20230818-023428241.csv.gz"),
                FileKind::Cdc,
                FileFormat::CsvGzip,
            ),
            (
                format!("{prefix}sales/orders/20230818-023428241.parquet"),
                FileKind::Cdc,
                FileFormat::Parquet,
            ),
        ];
        for (key, kind, format) in table {
            let file = expect_file(&layout, &key);
            assert_eq!(file.table.id(), "sales.orders", "{key}");
            assert_eq!(file.kind, kind, "{key}");
            assert_eq!(file.format, format, "{key}");
        }
    }
}

#[test]
fn table_location_comes_from_the_configured_folder_not_the_depth() {
    // The same key read with two bucket-folder settings gives two different tables; a depth
    // heuristic would give one answer for both.
    let key = "lake/raw/sales/orders/LOAD00000001.csv";
    assert_eq!(
        expect_file(&layout("lake/raw", None), key).table.id(),
        "sales.orders"
    );
    assert_eq!(
        expect_file(&layout("lake", None), key).table.id(),
        "raw.sales"
    );
}

#[test]
fn cdc_under_every_documented_date_partition_scheme() {
    for sequence in DateSequence::ALL {
        for delimiter in DateDelimiter::ALL {
            let scheme = DatePartitioning {
                sequence,
                delimiter,
            };
            let layout = layout("dms", Some(scheme));
            let key = format!("dms/hr/people/{}/20230818-023428241.csv", scheme.example());
            let file = expect_file(&layout, &key);
            assert_eq!(file.kind, FileKind::Cdc, "{key}");
            assert_eq!(file.table.id(), "hr.people", "{key}");
            // Without date folders (files written before partitioning was enabled) is an
            // unknown layout only if folders are present; the bare file is fine.
            let flat = expect_file(&layout, "dms/hr/people/20230818-023428241.csv");
            assert_eq!(flat.kind, FileKind::Cdc);
        }
    }
}

#[test]
fn date_folders_of_another_scheme_or_invalid_dates_are_unknown_layouts() {
    let ymd_slash = DatePartitioning {
        sequence: DateSequence::YearMonthDay,
        delimiter: DateDelimiter::Slash,
    };
    let layout = layout("", Some(ymd_slash));
    for key in [
        "hr/people/2023-08-18/20230818-023428241.csv",
        "hr/people/2023/13/18/20230818-023428241.csv",
        "hr/people/2023/02/30/20230818-023428241.csv",
        "hr/people/2023/08/20230818-023428241.csv",
        "hr/people/2023/08/18/02/20230818-023428241.csv",
        "hr/people/18/08/2023/20230818-023428241.csv",
    ] {
        assert!(
            matches!(
                classify(&layout, key),
                Err(NotDmsData::UnknownLayout { .. })
            ),
            "{key} -> {:?}",
            classify(&layout, key)
        );
    }
    let hourly = layout_with(DateSequence::YearMonthDayHour, DateDelimiter::Dash);
    assert!(matches!(
        classify(&hourly, "hr/people/2023-08-18-24/20230818-023428241.csv"),
        Err(NotDmsData::UnknownLayout { .. })
    ));
}

fn layout_with(sequence: DateSequence, delimiter: DateDelimiter) -> StagingLayout {
    layout(
        "",
        Some(DatePartitioning {
            sequence,
            delimiter,
        }),
    )
}

#[test]
fn cdc_date_folders_are_recognised_from_the_key_without_a_setting() {
    let unconfigured = layout("dms", None);
    let timestamp = "20230818-023428241";
    for scheme in DatePartitioning::all() {
        let key = format!("dms/hr/people/{}/{timestamp}.csv", scheme.example());
        let file = expect_file(&unconfigured, &key);
        assert_eq!(
            (file.kind, file.table.id()),
            (FileKind::Cdc, "hr.people".to_owned()),
            "{key}"
        );
    }
    // A file closed just after midnight in the previous day's folder, or a folder named in a
    // time zone ahead of UTC, is still that file's date.
    expect_file(
        &unconfigured,
        "dms/hr/people/2023/08/17/20230818-000001000.csv",
    );
    expect_file(
        &unconfigured,
        "dms/hr/people/2023/08/19/20230818-230000000.csv",
    );
}

#[test]
fn folders_that_do_not_spell_the_files_date_are_an_unknown_layout_that_says_so() {
    let unconfigured = layout("", None);
    for key in [
        "hr/people/2023/07/18/20230818-023428241.csv",
        "hr/people/2023/08/25/20230818-023428241.csv",
        "hr/people/archive/20230818-023428241.csv",
        "hr/people/2023/08/18/extra/20230818-023428241.csv",
        "hr/people/2023/02/30/20230818-023428241.csv",
    ] {
        match classify(&unconfigured, key) {
            Err(NotDmsData::UnknownLayout { detail }) => assert!(
                detail.contains("not a DMS date partition") && detail.contains("2023-08-18"),
                "{key}: {detail}"
            ),
            other => panic!("{key}: expected an unknown layout, got {other:?}"),
        }
    }
}

#[test]
fn a_configured_scheme_is_an_optional_check_that_narrows_recognition() {
    let monthly = layout_with(DateSequence::YearMonth, DateDelimiter::Slash);
    expect_file(&monthly, "hr/people/2023/08/20230818-023428241.csv");
    match classify(&monthly, "hr/people/2023/08/18/20230818-023428241.csv") {
        Err(NotDmsData::UnknownLayout { detail }) => {
            assert!(detail.contains("configured scheme"), "{detail}")
        }
        other => panic!("expected an unknown layout, got {other:?}"),
    }
}

#[test]
fn full_load_may_sit_under_date_folders_and_one_partition_folder() {
    let layout = layout_with(DateSequence::YearMonthDay, DateDelimiter::Slash);
    for key in [
        "hr/people/2023/08/18/LOAD00000001.csv",
        "hr/people/2023/08/18/part_1/LOAD00000001.csv",
        "hr/people/part_1/LOAD00000001.csv",
    ] {
        assert_eq!(expect_file(&layout, key).kind, FileKind::FullLoad, "{key}");
    }
    assert!(matches!(
        classify(&layout, "hr/people/a/b/LOAD00000001.csv"),
        Err(NotDmsData::UnknownLayout { .. })
    ));
}

#[test]
fn objects_that_are_not_dms_data_are_skipped_with_a_reason() {
    fn variant(e: &NotDmsData) -> &'static str {
        match e {
            NotDmsData::OtherBucket { .. } => "other bucket",
            NotDmsData::OutsideBucketFolder { .. } => "outside folder",
            NotDmsData::FolderMarker => "folder marker",
            NotDmsData::NotADataFile { .. } => "not a data file",
            NotDmsData::TransactionalCdc { .. } => "transactional",
            NotDmsData::UnknownLayout { .. } => "unknown layout",
        }
    }
    let layout = layout("dms", None);
    let cases = [
        ("dms/sales/orders/", "folder marker"),
        ("dms/sales/orders/table.json", "not a data file"),
        ("dms/sales/orders/LOAD00000001.txt", "not a data file"),
        ("dms/sales/orders/LOADXYZ.csv", "not a data file"),
        ("dms/sales/orders/20231318-023428241.csv", "not a data file"),
        ("dms/sales/orders/2023081-0234282411.csv", "not a data file"),
        ("other/sales/orders/LOAD00000001.csv", "outside folder"),
        ("dms/LOAD00000001.csv", "unknown layout"),
        ("dms/sales/LOAD00000001.csv", "unknown layout"),
        ("dms/cdc/CDC_TXN-20230818-023428241.csv", "transactional"),
    ];
    for (key, expected) in cases {
        let result = classify(&layout, key);
        assert_eq!(
            result.as_ref().map_err(variant).err(),
            Some(expected),
            "{key}: {result:?}"
        );
    }
    let key = ObjectKey::new("dms/sales/orders/LOAD00000001.csv".into()).expect("valid");
    assert!(matches!(
        layout.classify("another-bucket", &key),
        Err(NotDmsData::OtherBucket { .. })
    ));
}

#[test]
fn order_puts_full_load_before_cdc_and_counters_numerically() {
    let layout = layout("dms", None);
    let keys = [
        "dms/s/t/20230101-000000000.csv",
        "dms/s/t/LOAD00000010.csv",
        "dms/s/t/LOAD00000009.csv",
        "dms/s/t/LOAD0000000A.csv",
        "dms/s/t/20221231-235959999.csv",
        "dms/s/t/LOAD000000001.csv",
    ];
    let mut ordered: Vec<(OrderKey, &str)> = keys
        .iter()
        .map(|k| (expect_file(&layout, k).order_key, *k))
        .collect();
    ordered.sort();
    let names: Vec<&str> = ordered
        .iter()
        .map(|(_, k)| k.rsplit('/').next().unwrap_or(k))
        .collect();
    assert_eq!(
        names,
        [
            "LOAD000000001.csv",
            "LOAD00000009.csv",
            "LOAD0000000A.csv",
            "LOAD00000010.csv",
            "20221231-235959999.csv",
            "20230101-000000000.csv",
        ]
    );
}

#[test]
fn cdc_order_follows_the_file_timestamp_whatever_the_date_folder() {
    // Date folders follow the DMS time zone setting; the file name is what orders.
    let layout = layout_with(DateSequence::DayMonthYear, DateDelimiter::Slash);
    let later = expect_file(&layout, "s/t/17/08/2023/20230818-000000001.csv");
    let earlier = expect_file(&layout, "s/t/18/08/2023/20230818-000000000.csv");
    assert!(earlier.order_key < later.order_key);
}

#[test]
fn same_timestamp_in_two_places_gets_distinct_deterministic_order() {
    let layout = layout_with(DateSequence::YearMonthDay, DateDelimiter::None);
    let a = expect_file(&layout, "s/t/20230817/20230818-000000000.csv");
    let b = expect_file(&layout, "s/t/20230818/20230818-000000000.csv");
    assert_ne!(a.order_key, b.order_key);
    assert!(a.order_key < b.order_key);
}

#[test]
fn invalid_bucket_folder_settings_are_refused() {
    assert_eq!(
        StagingLayout::new("", "", None),
        Err(LayoutConfigError::EmptyBucket)
    );
    assert!(matches!(
        StagingLayout::new("b", "dms//x", None),
        Err(LayoutConfigError::InvalidBucketFolder(_))
    ));
    assert!(matches!(
        StagingLayout::new("b", "dms/../x", None),
        Err(LayoutConfigError::InvalidBucketFolder(_))
    ));
    assert_eq!(
        StagingLayout::new("b", "/dms/prod/", None).map(|l| l.bucket_folder),
        Ok(vec!["dms".to_owned(), "prod".to_owned()])
    );
}

#[test]
fn table_ids_name_exactly_one_schema_and_table() {
    let source = |schema: &str, table: &str| SourceTable {
        schema: schema.to_owned(),
        table: table.to_owned(),
    };
    // The dotted names that used to collide get distinct ids.
    assert_eq!(source("t.x", "y").id(), "t%2Ex.y");
    assert_eq!(source("t", "x.y").id(), "t.x%2Ey");
    assert_ne!(source("a.b", "c").id(), source("a", "b.c").id());
    assert_eq!(source("sales", "orders").id(), "sales.orders");
    assert_eq!(source("50%", "off").id(), "50%25.off");
    for pair in [("t.x", "y"), ("t", "x.y"), ("50%", "o.f%2E"), ("é", "ü")] {
        let table = source(pair.0, pair.1);
        assert_eq!(SourceTable::from_id(&table.id()), Ok(table.clone()));
    }
}

#[test]
fn text_that_could_name_two_tables_is_not_a_table_id() {
    let two_dots = "it has more than one `.`; a `.` inside a name is written `%2E`";
    let no_dot = "there is no `.` between schema and table";
    let bad_part = "a `%` is not part of `%25` or `%2E`, or a name is empty";
    for (bad, reason) in [
        ("t.x.y", two_dots),
        ("orders", no_dot),
        (".orders", bad_part),
        ("sales.", bad_part),
        ("a%2e.b", bad_part),
        ("a%2F.b", bad_part),
        ("a%.b", bad_part),
    ] {
        assert_eq!(
            SourceTable::from_id(bad),
            Err(TableIdError {
                id: bad.to_owned(),
                reason
            }),
            "{bad}"
        );
    }
}

#[test]
fn keys_of_dotted_folders_classify_into_distinct_tables() {
    let layout = layout("dms", None);
    let dotted_schema = expect_file(&layout, "dms/t.x/y/LOAD00000001.csv");
    let dotted_table = expect_file(&layout, "dms/t/x.y/LOAD00000001.csv");
    assert_eq!(
        dotted_schema.table,
        SourceTable::from_id("t%2Ex.y").expect("id")
    );
    assert_ne!(dotted_schema.table.id(), dotted_table.table.id());
}
