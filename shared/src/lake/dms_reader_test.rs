//! Unit tests of `dms_reader`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;

use arrow::array::{
    BinaryArray, BooleanArray, Date32Array, Decimal128Array, DictionaryArray, Int32Array,
    Int64Array, LargeStringArray, TimestampMicrosecondArray, TimestampMillisecondArray,
    TimestampNanosecondArray,
};
use arrow::datatypes::Int32Type;
use chrono::NaiveDate;
use object_store::memory::InMemory;
use object_store::{ObjectStoreExt, PutPayload};
use parquet::arrow::ArrowWriter;

use super::*;
use crate::lake::table_config::parse_hive_type;

/// The input format of a headerless CDC CSV file with an Op column and `columns`.
pub(super) fn input(columns: &[(&str, &str)]) -> InputFormat {
    InputFormat {
        csv_delimiter: b',',
        csv_null_string: "NULL".to_owned(),
        csv_header: false,
        cdc_op_column: true,
        full_load_op_column: false,
        op_column_name: "Op".to_owned(),
        columns: columns
            .iter()
            .map(|(name, hive)| Field::new(*name, parse_hive_type(hive).expect(hive), true))
            .collect(),
    }
}

async fn read(
    contents: Option<Vec<u8>>,
    key: &str,
    kind: FileKind,
    format: FileFormat,
    input: &InputFormat,
) -> Result<FileChanges, ReadError> {
    let store = InMemory::new();
    let path = Path::from(key);
    if let Some(contents) = contents {
        store
            .put(&path, PutPayload::from(contents))
            .await
            .expect("put");
    }
    let file = ChangeFileRef {
        path: &path,
        kind,
        format,
        version: &RecordedVersion::Current,
        max_bytes: u64::MAX,
    };
    read_change_file(&store, &file, input).await
}

async fn read_csv_text(
    text: &str,
    kind: FileKind,
    input: &InputFormat,
) -> Result<FileChanges, ReadError> {
    read(
        Some(text.as_bytes().to_vec()),
        "dms/sales/orders/20240105-101112123.csv",
        kind,
        FileFormat::Csv,
        input,
    )
    .await
}

fn micros(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, us: u32) -> i64 {
    NaiveDate::from_ymd_opt(y, mo, d)
        .unwrap()
        .and_hms_micro_opt(h, mi, s, us)
        .unwrap()
        .and_utc()
        .timestamp_micros()
}

fn days(y: i32, mo: u32, d: u32) -> i32 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    i32::try_from((NaiveDate::from_ymd_opt(y, mo, d).unwrap() - epoch).num_days()).unwrap()
}

fn column<'a, T: 'static>(changes: &'a FileChanges, name: &str) -> &'a T {
    changes
        .columns
        .column_by_name(name)
        .unwrap_or_else(|| panic!("column {name}"))
        .as_any()
        .downcast_ref::<T>()
        .unwrap_or_else(|| panic!("column {name} has type {}", std::any::type_name::<T>()))
}

fn names(changes: &FileChanges) -> Vec<String> {
    changes
        .columns
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
}

fn strings(array: &StringArray) -> Vec<Option<&str>> {
    array.iter().collect()
}

fn orders_columns() -> InputFormat {
    input(&[
        ("id", "int"),
        ("name", "string"),
        ("amount", "decimal(10,2)"),
        ("updated", "timestamp"),
        ("day", "date"),
        ("flag", "boolean"),
    ])
}

// ------------------------------------------------------------------------------------------- CSV

#[tokio::test]
async fn headerless_cdc_csv_reads_ops_nulls_quotes_and_types() {
    let text = "I,1,\"Smith, John\",123.45,2024-01-05 10:11:12.123456,2024-01-05,true\n\
                U,2,NULL,NULL,NULL,NULL,1\n\
                D,3,,0.10,2024-01-05 10:11:12,2024-02-29,false\n\
                I,4,\"line1\nline2 \"\"q\"\"\",-5,2024-01-05 00:00:00.5,1999-12-31,0\n";
    let changes = read_csv_text(text, FileKind::Cdc, &orders_columns())
        .await
        .unwrap();

    assert_eq!(
        changes.ops,
        [
            ChangeOp::Insert,
            ChangeOp::Update,
            ChangeOp::Delete,
            ChangeOp::Insert
        ]
    );
    assert_eq!(
        names(&changes),
        ["id", "name", "amount", "updated", "day", "flag"]
    );
    assert!(
        changes
            .columns
            .schema()
            .fields()
            .iter()
            .all(|f| f.is_nullable())
    );
    assert_eq!(
        column::<Int32Array>(&changes, "id").values().to_vec(),
        [1, 2, 3, 4]
    );
    assert_eq!(
        strings(column::<StringArray>(&changes, "name")),
        [
            Some("Smith, John"),
            None,
            Some(""),
            Some("line1\nline2 \"q\"")
        ]
    );
    let amount = column::<Decimal128Array>(&changes, "amount");
    assert_eq!(amount.data_type(), &DataType::Decimal128(10, 2));
    assert_eq!(
        amount.iter().collect::<Vec<_>>(),
        [Some(12345), None, Some(10), Some(-500)]
    );
    let updated = column::<TimestampMicrosecondArray>(&changes, "updated");
    assert_eq!(
        updated.data_type(),
        &DataType::Timestamp(TimeUnit::Microsecond, None)
    );
    assert_eq!(
        updated.iter().collect::<Vec<_>>(),
        [
            Some(micros(2024, 1, 5, 10, 11, 12, 123_456)),
            None,
            Some(micros(2024, 1, 5, 10, 11, 12, 0)),
            Some(micros(2024, 1, 5, 0, 0, 0, 500_000)),
        ]
    );
    assert_eq!(
        column::<Date32Array>(&changes, "day")
            .iter()
            .collect::<Vec<_>>(),
        [
            Some(days(2024, 1, 5)),
            None,
            Some(days(2024, 2, 29)),
            Some(days(1999, 12, 31))
        ]
    );
    assert_eq!(
        column::<BooleanArray>(&changes, "flag")
            .iter()
            .collect::<Vec<_>>(),
        [Some(true), Some(true), Some(false), Some(false)]
    );
}

#[tokio::test]
async fn crlf_rows_custom_delimiter_and_custom_null_string() {
    let mut input = input(&[("id", "bigint"), ("note", "string"), ("score", "double")]);
    input.csv_delimiter = b'|';
    input.csv_null_string = "\\N".to_owned();
    let text = "I|1|a,b|1.5\r\nU|2|\\N|\\N\r\nD|3||NULL\r\n";
    let err = read_csv_text(text, FileKind::Cdc, &input)
        .await
        .unwrap_err();
    // "NULL" is not the null string here, so it must be a value, and not a double.
    assert!(matches!(
        &err,
        ReadError::Unparsable { row: 3, column, value, .. } if column == "score" && value == "NULL"
    ));

    let text = "I|1|a,b|1.5\r\nU|2|\\N|\\N\r\nD|3|NULL|\r\n";
    input.columns[2] = Field::new("score", DataType::Utf8, true);
    let changes = read_csv_text(text, FileKind::Cdc, &input).await.unwrap();
    assert_eq!(
        column::<Int64Array>(&changes, "id").values().to_vec(),
        [1, 2, 3]
    );
    assert_eq!(
        strings(column::<StringArray>(&changes, "note")),
        [Some("a,b"), None, Some("NULL")]
    );
    assert_eq!(
        strings(column::<StringArray>(&changes, "score")),
        [Some("1.5"), None, Some("")]
    );
}

#[tokio::test]
async fn empty_null_string_makes_empty_fields_null() {
    let mut input = input(&[("id", "int"), ("note", "string")]);
    input.csv_null_string = String::new();
    let changes = read_csv_text("I,1,\nI,2,NULL\n", FileKind::Cdc, &input)
        .await
        .unwrap();
    assert_eq!(
        strings(column::<StringArray>(&changes, "note")),
        [None, Some("NULL")]
    );
}

#[tokio::test]
async fn full_load_csv_without_op_column_is_load() {
    let input = input(&[("id", "int"), ("name", "string")]);
    let changes = read_csv_text("1,a\n2,NULL\n", FileKind::FullLoad, &input)
        .await
        .unwrap();
    assert_eq!(changes.ops, [ChangeOp::Load, ChangeOp::Load]);
    assert_eq!(
        column::<Int32Array>(&changes, "id").values().to_vec(),
        [1, 2]
    );
    assert_eq!(
        strings(column::<StringArray>(&changes, "name")),
        [Some("a"), None]
    );
}

#[tokio::test]
async fn full_load_csv_with_op_column() {
    let mut input = input(&[("id", "int"), ("name", "string")]);
    input.full_load_op_column = true;
    let changes = read_csv_text("I,1,a\nI,2,b\n", FileKind::FullLoad, &input)
        .await
        .unwrap();
    assert_eq!(changes.ops, [ChangeOp::Insert, ChangeOp::Insert]);
    assert_eq!(names(&changes), ["id", "name"]);
    assert_eq!(
        strings(column::<StringArray>(&changes, "name")),
        [Some("a"), Some("b")]
    );
}

#[tokio::test]
async fn cdc_csv_without_op_column_is_insert() {
    let mut input = input(&[("id", "int")]);
    input.cdc_op_column = false;
    let changes = read_csv_text("7\n8\n", FileKind::Cdc, &input)
        .await
        .unwrap();
    assert_eq!(changes.ops, [ChangeOp::Insert, ChangeOp::Insert]);
    assert_eq!(
        column::<Int32Array>(&changes, "id").values().to_vec(),
        [7, 8]
    );
}

#[tokio::test]
async fn empty_csv_file_has_no_rows() {
    let input = input(&[("id", "int"), ("name", "string")]);
    let changes = read_csv_text("", FileKind::Cdc, &input).await.unwrap();
    assert_eq!(changes.columns.num_rows(), 0);
    assert_eq!(names(&changes), ["id", "name"]);
    assert!(changes.ops.is_empty());

    let mut with_header = input.clone();
    with_header.csv_header = true;
    let changes = read_csv_text("", FileKind::Cdc, &with_header)
        .await
        .unwrap();
    assert_eq!(changes.columns.num_rows(), 0);
    assert_eq!(names(&changes), ["id", "name"]);
}

#[tokio::test]
async fn header_csv_follows_header_order_with_declared_types() {
    let mut input = input(&[
        ("id", "int"),
        ("name", "string"),
        ("amount", "decimal(5,1)"),
    ]);
    input.csv_header = true;
    let text = "name,Op,ID\n\"x,y\",I,1\nNULL,D,2\n";
    let changes = read_csv_text(text, FileKind::Cdc, &input).await.unwrap();
    assert_eq!(changes.ops, [ChangeOp::Insert, ChangeOp::Delete]);
    // Output follows the header; the case-insensitive match uses the declared name.
    assert_eq!(names(&changes), ["name", "id"]);
    assert_eq!(
        strings(column::<StringArray>(&changes, "name")),
        [Some("x,y"), None]
    );
    assert_eq!(
        column::<Int32Array>(&changes, "id").values().to_vec(),
        [1, 2]
    );

    // Rows are counted without the header.
    let err = read_csv_text("Op,id\nI,1\nU,one\n", FileKind::Cdc, &input)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ReadError::Unparsable { row: 2, column, value, .. } if column == "id" && value == "one"),
        "{err}"
    );
    let err = read_csv_text("Op,id\nI,1\nU,2,3\n", FileKind::Cdc, &input)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            ReadError::ColumnCount {
                row: 2,
                expected: 2,
                found: 3,
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn header_csv_errors_name_the_column() {
    let mut input = input(&[("id", "int")]);
    input.csv_header = true;

    let err = read_csv_text("Op,id,extra\nI,1,x\n", FileKind::Cdc, &input)
        .await
        .unwrap_err();
    assert!(matches!(&err, ReadError::UnknownHeaderColumn { column, .. } if column == "extra"));
    assert!(err.to_string().contains("`extra`"));
    assert!(
        err.to_string()
            .contains("declare the column in input.columns")
    );

    let err = read_csv_text("id\n1\n", FileKind::Cdc, &input)
        .await
        .unwrap_err();
    assert!(matches!(&err, ReadError::MissingOpColumn { column, .. } if column == "Op"));

    let err = read_csv_text("Op,id,id\nI,1,1\n", FileKind::Cdc, &input)
        .await
        .unwrap_err();
    assert!(matches!(&err, ReadError::DuplicateHeaderColumn { column, .. } if column == "id"));

    // Without an expected Op column, an Op header is an undeclared column.
    let err = read_csv_text("Op,id\nI,1\n", FileKind::FullLoad, &input)
        .await
        .unwrap_err();
    assert!(matches!(&err, ReadError::UnknownHeaderColumn { column, .. } if column == "Op"));
}

#[tokio::test]
async fn gzip_csv_is_decompressed() {
    let input = input(&[("id", "int"), ("name", "string")]);
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(b"I,1,a\nD,2,NULL\n").unwrap();
    let gz = encoder.finish().unwrap();
    let changes = read(
        Some(gz),
        "sales/orders/20240105-101112123.csv.gz",
        FileKind::Cdc,
        FileFormat::CsvGzip,
        &input,
    )
    .await
    .unwrap();
    assert_eq!(changes.ops, [ChangeOp::Insert, ChangeOp::Delete]);
    assert_eq!(
        strings(column::<StringArray>(&changes, "name")),
        [Some("a"), None]
    );

    let err = read(
        Some(b"I,1,a\n".to_vec()),
        "sales/orders/x.csv.gz",
        FileKind::Cdc,
        FileFormat::CsvGzip,
        &input,
    )
    .await
    .unwrap_err();
    assert!(matches!(&err, ReadError::NotGzip { file, .. } if file == "sales/orders/x.csv.gz"));
}

#[tokio::test]
async fn csv_needs_declared_columns() {
    let err = read_csv_text("I,1\n", FileKind::Cdc, &input(&[]))
        .await
        .unwrap_err();
    assert!(matches!(err, ReadError::ColumnsNotDeclared { .. }));
    assert!(err.to_string().contains("declare input.columns"));
    assert_eq!(err.file(), "dms/sales/orders/20240105-101112123.csv");
}

#[tokio::test]
async fn wrong_column_count_names_the_row() {
    let input = input(&[("id", "int"), ("name", "string")]);
    // Rows 1 and 2 have a quoted delimiter and a quoted newline; row 3 lacks a field.
    let text = "I,1,\"a,b\"\nU,2,\"multi\nline\"\nD,3\nI,4,x\n";
    let err = read_csv_text(text, FileKind::Cdc, &input)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            ReadError::ColumnCount {
                row: 3,
                expected: 3,
                found: 2,
                ..
            }
        ),
        "{err}"
    );
    let message = err.to_string();
    assert!(message.contains("dms/sales/orders/20240105-101112123.csv"));
    assert!(
        message.contains("row 3 has 2 fields, expected 3"),
        "{message}"
    );

    // Too many fields, in the last row and in a middle row.
    for (text, row) in [("I,1,a\nI,2,b,c,d\n", 2), ("I,1,a,\"x,y\",z\nI,2,b\n", 1)] {
        let err = read_csv_text(text, FileKind::Cdc, &input)
            .await
            .unwrap_err();
        assert!(
            matches!(
                &err,
                ReadError::ColumnCount { row: r, expected: 3, found: 5, .. } if *r == row
            ),
            "{text:?}: {err}"
        );
    }
}

#[tokio::test]
async fn unparsable_values_name_row_column_and_value() {
    let cases = [
        ("int", "12x", "int"),
        ("decimal(10,2)", "12.3.4", "decimal(10,2)"),
        ("decimal(4,2)", "123.45", "decimal(4,2)"),
        (
            "timestamp",
            "2024-13-05 10:11:12",
            "timestamp (yyyy-mm-dd hh:mm:ss[.ffffff])",
        ),
        ("date", "05/01/2024", "date (yyyy-mm-dd)"),
        ("boolean", "maybe", "boolean (true/false or 1/0)"),
    ];
    for (hive, bad, expected_type) in cases {
        let input = input(&[("id", "int"), ("v", hive)]);
        let text = format!("I,1,NULL\nU,2,{bad}\n");
        let err = read_csv_text(&text, FileKind::Cdc, &input)
            .await
            .unwrap_err();
        match &err {
            ReadError::Unparsable {
                file,
                row,
                column,
                value,
                expected,
            } => {
                assert_eq!(file, "dms/sales/orders/20240105-101112123.csv");
                assert_eq!(*row, 2, "{hive}");
                assert_eq!(column, "v");
                assert_eq!(value, bad);
                assert_eq!(expected, expected_type);
            }
            other => panic!("{hive}: expected Unparsable, got {other}"),
        }
        let message = err.to_string();
        assert!(message.contains("row 2, column `v`"), "{message}");
        assert!(message.contains(&format!("{bad:?}")), "{message}");
        assert!(message.contains("declare the column"), "{message}");
    }
}

#[tokio::test]
async fn unknown_op_names_the_row() {
    let input = input(&[("id", "int")]);
    for (text, value) in [
        ("I,1\nX,2\n", "X"),
        ("I,1\n,2\n", ""),
        ("I,1\ni,2\n", "i"),
        ("I,1\n\" I\",2\n", " I"),
    ] {
        let err = read_csv_text(text, FileKind::Cdc, &input)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ReadError::UnknownOp { row: 2, value: v, .. } if v == value),
            "{text:?}: {err}"
        );
        assert!(err.to_string().contains("row 2"));
    }
}

#[test]
fn field_count_message_and_field_counter() {
    assert_eq!(
        parse_field_count_message("incorrect number of fields for line 3, expected 4 got 2"),
        Some((3, 4, 2, false))
    );
    assert_eq!(
        parse_field_count_message(
            "incorrect number of fields for line 7, expected 4 got more than 4"
        ),
        Some((7, 4, 4, true))
    );
    assert_eq!(parse_field_count_message("something else"), None);

    let data = b"a,\"b,c\"\n\"x\ny\",2,3\r\n\n4,5,6,7";
    assert_eq!(count_fields(data, b',', 1), Some(2));
    assert_eq!(count_fields(data, b',', 2), Some(3));
    assert_eq!(count_fields(data, b',', 3), Some(4));
    assert_eq!(count_fields(data, b',', 4), None);
}

#[test]
fn change_op_codes() {
    assert_eq!(
        [
            ChangeOp::Insert,
            ChangeOp::Update,
            ChangeOp::Delete,
            ChangeOp::Load
        ]
        .map(ChangeOp::as_str),
        ["I", "U", "D", "L"]
    );
    assert!(ChangeOp::Delete.is_delete());
    assert!(!ChangeOp::Update.is_delete());
    assert!(!ChangeOp::Load.is_delete());
}

// --------------------------------------------------------------------------------------- Parquet

fn parquet_bytes(batch: &RecordBatch) -> Vec<u8> {
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
    out
}

fn cdc_parquet_batch() -> RecordBatch {
    let ms = |y, mo, d, h, mi, s, milli: u32| micros(y, mo, d, h, mi, s, milli * 1000) / 1000;
    let schema = Arc::new(Schema::new(vec![
        Field::new("Op", DataType::Utf8, true),
        Field::new("id", DataType::Int64, false),
        Field::new(
            "changed_at",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            true,
        ),
        Field::new("name", DataType::LargeUtf8, true),
        Field::new(
            "status",
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            true,
        ),
        Field::new("blob", DataType::LargeBinary, true),
        Field::new("price", DataType::Decimal128(12, 3), true),
    ]));
    let status: DictionaryArray<Int32Type> = vec![Some("open"), None, Some("closed")]
        .into_iter()
        .collect();
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(vec!["I", "U", "D"])),
            Arc::new(Int64Array::from(vec![1, 2, 3])),
            Arc::new(
                TimestampMillisecondArray::from(vec![
                    Some(ms(2024, 1, 5, 10, 11, 12, 123)),
                    None,
                    Some(ms(1969, 12, 31, 23, 59, 59, 999)),
                ])
                .with_timezone("UTC"),
            ),
            Arc::new(LargeStringArray::from(vec![Some("a"), None, Some("")])),
            Arc::new(status),
            Arc::new(arrow::array::LargeBinaryArray::from(vec![
                Some(&b"\x00\x01"[..]),
                None,
                Some(&b""[..]),
            ])),
            Arc::new(
                Decimal128Array::from(vec![Some(1_500), None, Some(-1)])
                    .with_precision_and_scale(12, 3)
                    .unwrap(),
            ),
        ],
    )
    .unwrap()
}

async fn read_parquet_file(
    contents: Vec<u8>,
    kind: FileKind,
    input: &InputFormat,
) -> Result<FileChanges, ReadError> {
    read(
        Some(contents),
        "dms/sales/orders/20240105-101112123.parquet",
        kind,
        FileFormat::Parquet,
        input,
    )
    .await
}

#[tokio::test]
async fn parquet_cdc_reads_ops_and_normalises_types() {
    let changes = read_parquet_file(
        parquet_bytes(&cdc_parquet_batch()),
        FileKind::Cdc,
        &input(&[]),
    )
    .await
    .unwrap();
    assert_eq!(
        changes.ops,
        [ChangeOp::Insert, ChangeOp::Update, ChangeOp::Delete]
    );
    let schema = changes.columns.schema();
    let fields: Vec<(&str, &DataType, bool)> = schema
        .fields()
        .iter()
        .map(|f| (f.name().as_str(), f.data_type(), f.is_nullable()))
        .collect();
    assert_eq!(
        fields,
        [
            ("id", &DataType::Int64, true),
            (
                "changed_at",
                &DataType::Timestamp(TimeUnit::Microsecond, None),
                true
            ),
            ("name", &DataType::Utf8, true),
            ("status", &DataType::Utf8, true),
            ("blob", &DataType::Binary, true),
            ("price", &DataType::Decimal128(12, 3), true),
        ]
    );
    assert_eq!(
        column::<Int64Array>(&changes, "id").values().to_vec(),
        [1, 2, 3]
    );
    assert_eq!(
        column::<TimestampMicrosecondArray>(&changes, "changed_at")
            .iter()
            .collect::<Vec<_>>(),
        [
            Some(micros(2024, 1, 5, 10, 11, 12, 123_000)),
            None,
            Some(micros(1969, 12, 31, 23, 59, 59, 999_000)),
        ]
    );
    assert_eq!(
        strings(column::<StringArray>(&changes, "name")),
        [Some("a"), None, Some("")]
    );
    assert_eq!(
        strings(column::<StringArray>(&changes, "status")),
        [Some("open"), None, Some("closed")]
    );
    assert_eq!(
        column::<BinaryArray>(&changes, "blob")
            .iter()
            .collect::<Vec<_>>(),
        [Some(&b"\x00\x01"[..]), None, Some(&b""[..])]
    );
    assert_eq!(
        column::<Decimal128Array>(&changes, "price")
            .iter()
            .collect::<Vec<_>>(),
        [Some(1_500), None, Some(-1)]
    );
}

#[tokio::test]
async fn parquet_nanosecond_timestamps_with_offset_zone_become_utc_micros() {
    let utc = micros(2024, 6, 1, 8, 0, 0, 1);
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Nanosecond, Some("+02:00".into())),
            true,
        )])),
        vec![Arc::new(
            TimestampNanosecondArray::from(vec![utc * 1000 + 999]).with_timezone("+02:00"),
        )],
    )
    .unwrap();
    let mut input = input(&[]);
    input.cdc_op_column = false;
    let changes = read_parquet_file(parquet_bytes(&batch), FileKind::Cdc, &input)
        .await
        .unwrap();
    assert_eq!(changes.ops, [ChangeOp::Insert]);
    assert_eq!(
        column::<TimestampMicrosecondArray>(&changes, "ts")
            .values()
            .to_vec(),
        [utc]
    );
}

#[tokio::test]
async fn parquet_full_load_without_op_is_load() {
    let batch = cdc_parquet_batch();
    let without_op = batch.project(&[1, 3]).unwrap();
    let changes = read_parquet_file(parquet_bytes(&without_op), FileKind::FullLoad, &input(&[]))
        .await
        .unwrap();
    assert_eq!(changes.ops, [ChangeOp::Load; 3]);
    assert_eq!(names(&changes), ["id", "name"]);
    assert_eq!(
        strings(column::<StringArray>(&changes, "name")),
        [Some("a"), None, Some("")]
    );

    // With IncludeOpForFullLoad the Op column is read and dropped from the columns.
    let mut input = input(&[]);
    input.full_load_op_column = true;
    let changes = read_parquet_file(parquet_bytes(&batch), FileKind::FullLoad, &input)
        .await
        .unwrap();
    assert_eq!(
        changes.ops,
        [ChangeOp::Insert, ChangeOp::Update, ChangeOp::Delete]
    );
    assert_eq!(changes.columns.num_columns(), 6);
}

#[tokio::test]
async fn parquet_missing_op_column_names_file_and_column() {
    let without_op = cdc_parquet_batch().project(&[1, 3]).unwrap();
    let err = read_parquet_file(parquet_bytes(&without_op), FileKind::Cdc, &input(&[]))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ReadError::MissingOpColumn { file, column }
            if file == "dms/sales/orders/20240105-101112123.parquet" && column == "Op"),
        "{err}"
    );
    let message = err.to_string();
    assert!(message.contains("dms/sales/orders/20240105-101112123.parquet"));
    assert!(message.contains("`Op`"));
}

#[tokio::test]
async fn parquet_unknown_and_null_ops_name_the_row() {
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("Op", DataType::Utf8, true),
            Field::new("id", DataType::Int32, true),
        ])),
        vec![
            Arc::new(StringArray::from(vec![Some("I"), Some("X")])),
            Arc::new(Int32Array::from(vec![1, 2])),
        ],
    )
    .unwrap();
    let err = read_parquet_file(parquet_bytes(&batch), FileKind::Cdc, &input(&[]))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ReadError::UnknownOp { row: 2, value, .. } if value == "X"),
        "{err}"
    );

    let batch = RecordBatch::try_new(
        batch.schema(),
        vec![
            Arc::new(StringArray::from(vec![None, Some("I")])),
            Arc::new(Int32Array::from(vec![1, 2])),
        ],
    )
    .unwrap();
    let err = read_parquet_file(parquet_bytes(&batch), FileKind::Cdc, &input(&[]))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ReadError::UnknownOp { row: 1, value, .. } if value == NULL_OP_TEXT),
        "{err}"
    );
}

#[tokio::test]
async fn parquet_non_text_op_column_is_rejected() {
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("Op", DataType::Int32, true)])),
        vec![Arc::new(Int32Array::from(vec![1]))],
    )
    .unwrap();
    let err = read_parquet_file(parquet_bytes(&batch), FileKind::Cdc, &input(&[]))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ReadError::OpColumnType { column, data_type, .. }
            if column == "Op" && data_type == "Int32"),
        "{err}"
    );
}

#[tokio::test]
async fn truncated_parquet_is_not_parquet() {
    let bytes = parquet_bytes(&cdc_parquet_batch());
    for cut in [bytes.len() / 2, 0, 7, bytes.len() - 1] {
        let truncated = bytes.get(..cut).unwrap().to_vec();
        let err = read_parquet_file(truncated, FileKind::Cdc, &input(&[]))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ReadError::NotParquet { file, .. }
                if file == "dms/sales/orders/20240105-101112123.parquet"),
            "cut {cut}: {err}"
        );
        assert!(err.to_string().contains("not a readable Parquet file"));
    }
}

#[tokio::test]
async fn missing_object_is_a_storage_error() {
    for format in [FileFormat::Csv, FileFormat::CsvGzip, FileFormat::Parquet] {
        let err = read(
            None,
            "sales/orders/LOAD00000001.csv",
            FileKind::FullLoad,
            format,
            &input(&[("id", "int")]),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(
                &err,
                ReadError::Storage {
                    file,
                    source: object_store::Error::NotFound { .. }
                } if file == "sales/orders/LOAD00000001.csv"
            ),
            "{err}"
        );
        assert_eq!(err.file(), "sales/orders/LOAD00000001.csv");
        assert!(err.to_string().contains("check that the object exists"));
    }
}

#[tokio::test]
async fn blank_lines_are_not_rows() {
    let input = input(&[("id", "int")]);
    let changes = read_csv_text("I,1\n\nU,2\n\n", FileKind::Cdc, &input)
        .await
        .unwrap();
    assert_eq!(changes.ops, [ChangeOp::Insert, ChangeOp::Update]);
    // Row numbers count records, so a blank line does not shift them.
    let err = read_csv_text("I,1\n\nU\n", FileKind::Cdc, &input)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            ReadError::ColumnCount {
                row: 2,
                expected: 2,
                found: 1,
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn accepted_text_forms_of_booleans_timestamps_and_decimals() {
    let input = input(&[("b", "boolean"), ("t", "timestamp"), ("d", "decimal(10,2)")]);
    let text = "I,t,2024-01-05T10:11:12Z,1.239\n\
                I,yes,2024-01-05 10:11:12.1234567,-0.5\n\
                I,TRUE,2024-01-05,42\n\
                I,off,2024-01-05 10:11:00,100\n";
    let changes = read_csv_text(text, FileKind::Cdc, &input).await.unwrap();
    assert_eq!(
        column::<BooleanArray>(&changes, "b")
            .iter()
            .collect::<Vec<_>>(),
        [Some(true), Some(true), Some(true), Some(false)]
    );
    assert_eq!(
        column::<TimestampMicrosecondArray>(&changes, "t")
            .values()
            .to_vec(),
        [
            micros(2024, 1, 5, 10, 11, 12, 0),
            // Sub-microsecond digits (SQL Server datetime2(7)) are truncated.
            micros(2024, 1, 5, 10, 11, 12, 123_456),
            micros(2024, 1, 5, 0, 0, 0, 0),
            micros(2024, 1, 5, 10, 11, 0, 0),
        ]
    );
    // Extra fractional digits are rounded to the declared scale (as Hive does).
    assert_eq!(
        column::<Decimal128Array>(&changes, "d").values().to_vec(),
        [124, -50, 4200, 10000]
    );
}
