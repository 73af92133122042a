//! file-manager against the local AWS emulator, through the real SDK clients.
//!
//! Test names state the invariant they prove (docs/DESIGN.md, "File tracker").

use std::collections::{BTreeMap, BTreeSet};

use futures::{StreamExt, stream};
use serde_json::Value;
use tributary_shared::adapters::dynamodb_file_tracker::{DynamoDbFileTracker, attr};
use tributary_shared::dms_layout::{DateDelimiter, DatePartitioning, DateSequence, StagingLayout};
use tributary_shared::file_manager::{FileManager, FileManagerError, FileManagerResponse, Tally};
use tributary_shared::file_tracker::{FileTracker, LandedFile, RecordOutcome};
use tributary_shared::state_store::StoreError;
use tributary_tests::{
    LocalAws, Route, eventbridge_object_created, items_for_key, s3_notification, sqs_batch,
    sqs_event_from, string_attr, unique_name,
};

const BUCKET: &str = "acme-dms-staging";

fn manager(
    client: aws_sdk_dynamodb::Client,
    table: &str,
    layout: StagingLayout,
) -> FileManager<DynamoDbFileTracker> {
    FileManager::new(layout, DynamoDbFileTracker::new(client, table), 8)
}

fn dms_layout(bucket: &str) -> StagingLayout {
    StagingLayout::new(bucket, "dms", None).expect("valid layout")
}

/// The emulator, a fresh tracker table, and a file-manager writing to it (bucket folder `dms`).
async fn tracked_manager() -> (LocalAws, String, FileManager<DynamoDbFileTracker>) {
    let aws = LocalAws::connect().await;
    let table = aws.new_tracker_table().await;
    let manager = manager(aws.dynamodb(), &table, dms_layout(BUCKET));
    (aws, table, manager)
}

fn summary(response: Result<FileManagerResponse, FileManagerError>) -> Tally {
    match response {
        Ok(FileManagerResponse::Summary(tally)) => tally,
        other => panic!("expected a direct-invocation summary, got {other:?}"),
    }
}

fn failures(response: Result<FileManagerResponse, FileManagerError>) -> Vec<String> {
    match response {
        Ok(FileManagerResponse::Batch(batch)) => batch
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect(),
        other => panic!("expected a batch response, got {other:?}"),
    }
}

#[tokio::test]
async fn duplicate_deliveries_of_one_object_leave_one_item() {
    let (aws, table, manager) = tracked_manager().await;
    let key = "dms/sales/orders/LOAD00000001.csv";
    let etag = "d41d8cd98f00b204e9800998ecf8427e";
    let event = s3_notification(BUCKET, key, etag, 1024);

    let mut recorded = 0;
    let mut duplicates = 0;
    for delivery in [
        event.clone(),
        event.clone(),
        event.clone(),
        eventbridge_object_created(BUCKET, key, etag, 1024),
    ] {
        let tally = summary(manager.handle(&delivery).await);
        recorded += tally.recorded;
        duplicates += tally.duplicates;
    }
    let via_queue = sqs_batch(&[("m-1", event.to_string())]);
    assert!(failures(manager.handle(&via_queue).await).is_empty());

    assert_eq!((recorded, duplicates), (1, 3));
    let items = aws.tracker_items(&table).await;
    assert_eq!(items.len(), 1, "five deliveries of one object → one item");
    let item = items[0].clone();
    assert_eq!(string_attr(&item, attr::TABLE_ID), "sales.orders");
    assert_eq!(string_attr(&item, attr::STATUS), "landed");
    assert_eq!(string_attr(&item, attr::KIND), "full_load");
    assert_eq!(string_attr(&item, attr::FORMAT), "csv");
    assert_eq!(string_attr(&item, attr::BUCKET), BUCKET);
    assert_eq!(string_attr(&item, attr::ETAG), etag);
    assert_eq!(
        string_attr(&item, attr::LANDED_AT),
        "2024-03-01T10:15:30.123Z"
    );
    assert_eq!(
        item.get(attr::SIZE)
            .and_then(|v| v.as_n().ok())
            .map(String::as_str),
        Some("1024")
    );
}

#[tokio::test]
async fn concurrent_duplicate_deliveries_leave_one_item() {
    // The interleaving is explicit: all three deliveries decide to write before any of them
    // writes, then their conditional writes reach the table one after another (as DynamoDB
    // serialises conditional writes of one item; the emulator does not promise to).
    let aws = LocalAws::connect().await;
    let table = aws.new_tracker_table().await;
    let tracker = Turnstile {
        inner: DynamoDbFileTracker::new(aws.dynamodb(), &table),
        arrived: tokio::sync::Barrier::new(3),
        one_at_a_time: tokio::sync::Mutex::new(()),
    };
    let manager = FileManager::new(dms_layout(BUCKET), tracker, 8);
    let event = s3_notification(
        BUCKET,
        "dms/hr/people/20240301-101530123.parquet",
        "abc123",
        77,
    );
    let tallies: Vec<Tally> = stream::iter(0..3)
        .map(|_| async { summary(manager.handle(&event).await) })
        .buffer_unordered(3)
        .collect()
        .await;
    let recorded: usize = tallies.iter().map(|t| t.recorded).sum();
    let duplicates: usize = tallies.iter().map(|t| t.duplicates).sum();
    assert_eq!((recorded, duplicates), (1, 2), "exactly one delivery wins");
    assert_eq!(aws.tracker_items(&table).await.len(), 1);
}

/// A tracker whose writes wait until every expected delivery is about to write, then go
/// through one at a time.
struct Turnstile<T> {
    inner: T,
    arrived: tokio::sync::Barrier,
    one_at_a_time: tokio::sync::Mutex<()>,
}

impl<T: FileTracker> FileTracker for Turnstile<T> {
    async fn record_landed(&self, file: &LandedFile) -> Result<RecordOutcome, StoreError> {
        self.arrived.wait().await;
        let _turn = self.one_at_a_time.lock().await;
        self.inner.record_landed(file).await
    }
}

#[tokio::test]
async fn a_rewritten_object_is_a_new_file_not_a_duplicate() {
    let (aws, table, manager) = tracked_manager().await;
    let key = "dms/sales/orders/LOAD00000001.csv";
    for etag in ["first-etag", "second-etag", "first-etag"] {
        summary(
            manager
                .handle(&s3_notification(BUCKET, key, etag, 10))
                .await,
        );
    }
    let items = aws.tracker_items(&table).await;
    let versions: BTreeSet<&str> = items_for_key(&items, key)
        .iter()
        .map(|item| string_attr(item, attr::OBJECT_VERSION))
        .collect();
    assert_eq!(versions, BTreeSet::from(["first-etag", "second-etag"]));
}

/// The mixed fixture: two good messages, a test event, two unreadable bodies, a delete event, a
/// folder marker, a metadata file and a path-trick key.
fn mixed_batch() -> Value {
    serde_json::from_str(include_str!("../../events/sqs-mixed-batch.json")).expect("fixture")
}

#[tokio::test]
async fn mixed_batch_reports_only_the_message_that_failed_retryably() {
    let aws = LocalAws::connect().await;
    let table = aws.new_tracker_table().await;
    let cdc_key = "dms/sales/orders/20240301-101530123.csv";
    // DynamoDB answers the write of `cdc_key` with ThrottlingException (after having applied it:
    // the harder case, a lost response), everything else normally.
    let throttled = manager(
        aws.throttled_dynamodb(&["20240301-101530123.csv"]),
        &table,
        dms_layout(BUCKET),
    );
    let failed = failures(throttled.handle(&mixed_batch()).await);
    assert_eq!(failed, vec!["msg-good-cdc".to_owned()]);

    let items = aws.tracker_items(&table).await;
    assert_eq!(
        items_for_key(&items, "dms/sales/orders/LOAD00000002.csv").len(),
        1
    );
    for skipped in ["dms/sales/orders/", "dms/sales/orders/orders.json"] {
        assert!(
            items_for_key(&items, skipped).is_empty(),
            "{skipped} must not be tracked"
        );
    }

    // SQS redelivers the failed message; now DynamoDB answers normally.
    let healthy = manager(aws.dynamodb(), &table, dms_layout(BUCKET));
    let redelivery = match &mixed_batch()["Records"] {
        Value::Array(records) => records
            .iter()
            .filter(|r| r["messageId"] == "msg-good-cdc")
            .cloned()
            .collect::<Vec<_>>(),
        other => panic!("unexpected fixture {other}"),
    };
    let redelivered = serde_json::json!({ "Records": redelivery });
    assert!(failures(healthy.handle(&redelivered).await).is_empty());
    let items = aws.tracker_items(&table).await;
    assert_eq!(
        items_for_key(&items, cdc_key).len(),
        1,
        "no second item after the retry"
    );
    assert_eq!(items.len(), 2);
}

#[tokio::test]
async fn tracker_outage_keeps_every_message_that_carries_a_file() {
    let aws = LocalAws::connect().await;
    // No table of that name: DynamoDB answers ResourceNotFoundException to every write.
    let manager = manager(aws.dynamodb(), &unique_name("missing"), dms_layout(BUCKET));
    let mut failed = failures(manager.handle(&mixed_batch()).await);
    failed.sort();
    assert_eq!(
        failed,
        vec!["msg-good-cdc".to_owned(), "msg-good-load".to_owned()]
    );
}

#[tokio::test]
async fn direct_invocation_fails_when_a_file_cannot_be_recorded() {
    let aws = LocalAws::connect().await;
    let manager = manager(aws.dynamodb(), &unique_name("missing"), dms_layout(BUCKET));
    let event = s3_notification(BUCKET, "dms/sales/orders/LOAD00000001.csv", "e", 1);
    match manager.handle(&event).await {
        Err(FileManagerError::NotRecorded { failed: 1 }) => {}
        other => panic!("expected NotRecorded, got {other:?}"),
    }
}

/// The files of one table in the load test: what was written and what the tracker must say.
struct ExpectedFile {
    key: String,
    kind: &'static str,
    format: &'static str,
}

fn table_files(schema: &str, table: &str) -> Vec<ExpectedFile> {
    let base = format!("dms/prod/{schema}/{table}");
    let mut files = Vec::new();
    let formats = [("csv", "csv"), ("csv.gz", "csv.gz"), ("parquet", "parquet")];
    for n in 1..=4u32 {
        let (ext, format) = formats[n as usize % 3];
        files.push(ExpectedFile {
            key: format!("{base}/LOAD{n:08X}.{ext}"),
            kind: "full_load",
            format,
        });
    }
    files.push(ExpectedFile {
        key: format!("{base}/SEGMENT2_LOAD00000001.csv"),
        kind: "full_load",
        format: "csv",
    });
    for n in 0..45u32 {
        let (ext, format) = formats[n as usize % 3];
        let day = 1 + n / 20;
        let name = format!("202403{day:02}-10{:02}{:02}{:03}", n % 60, (n * 7) % 60, n);
        // Some CDC files predate date partitioning and sit directly in the table folder.
        let folder = if n % 9 == 0 {
            String::new()
        } else {
            format!("2024/03/{day:02}/")
        };
        files.push(ExpectedFile {
            key: format!("{base}/{folder}{name}.{ext}"),
            kind: "cdc",
            format,
        });
    }
    files
}

async fn drain_queue(
    aws: &LocalAws,
    queue_url: &str,
    manager: &FileManager<DynamoDbFileTracker>,
) -> usize {
    let mut empty_receives = 0;
    let mut messages_handled = 0;
    while empty_receives < 2 {
        let messages = aws.receive_batch(queue_url).await;
        if messages.is_empty() {
            empty_receives += 1;
            continue;
        }
        empty_receives = 0;
        messages_handled += messages.len();
        let failed = failures(manager.handle(&sqs_event_from(&messages)).await);
        assert!(failed.is_empty(), "no message should fail: {failed:?}");
        aws.delete_messages(queue_url, &messages, &failed).await;
    }
    messages_handled
}

#[tokio::test]
async fn thousand_events_for_twenty_tables_land_classified_in_table_order() {
    let aws = LocalAws::connect().await;
    let tracker = aws.new_tracker_table().await;
    let route = aws.staging_route(Route::S3Notification).await;
    let layout = StagingLayout::new(
        &route.bucket,
        "dms/prod",
        Some(DatePartitioning {
            sequence: DateSequence::YearMonthDay,
            delimiter: DateDelimiter::Slash,
        }),
    )
    .expect("valid layout");
    let manager = manager(aws.dynamodb(), &tracker, layout);

    let tables: Vec<(String, String)> = (0..20)
        .map(|n| (format!("schema_{}", n % 4), format!("table {n:02}")))
        .collect();
    let expected: BTreeMap<String, Vec<ExpectedFile>> = tables
        .iter()
        .map(|(schema, table)| (format!("{schema}.{table}"), table_files(schema, table)))
        .collect();
    let mut keys: Vec<&str> = expected
        .values()
        .flat_map(|files| files.iter().map(|f| f.key.as_str()))
        .collect();
    assert_eq!(keys.len(), 1000);
    // Noise that must be skipped: metadata, folder markers, another folder.
    keys.extend([
        "dms/prod/schema_0/table 00/",
        "dms/prod/schema_0/table 00/table.json",
        "exports/report.csv",
    ]);

    let s3 = aws.s3();
    stream::iter(keys.iter().enumerate())
        .for_each_concurrent(16, |(n, key)| {
            let s3 = s3.clone();
            let bucket = route.bucket.clone();
            async move {
                s3.put_object()
                    .bucket(bucket)
                    .key(*key)
                    .body(format!("row {n}").into_bytes().into())
                    .send()
                    .await
                    .expect("put object");
            }
        })
        .await;

    let handled = drain_queue(&aws, &route.queue_url, &manager).await;
    assert!(
        handled >= 1003,
        "every put was announced ({handled} messages)"
    );

    for (table_id, files) in &expected {
        // The processor's access path: the pending index, in table order, no Scan.
        let items = aws.pending_items(&tracker, table_id).await;
        assert_eq!(items.len(), files.len(), "{table_id}");
        for file in files {
            let found = items_for_key(&items, &file.key);
            assert_eq!(found.len(), 1, "{} tracked once", file.key);
            assert_eq!(string_attr(found[0], attr::KIND), file.kind, "{}", file.key);
            assert_eq!(
                string_attr(found[0], attr::FORMAT),
                file.format,
                "{}",
                file.key
            );
        }
        // Table order: every full-load file before every CDC file; CDC by file timestamp.
        let kinds: Vec<&str> = items.iter().map(|i| string_attr(i, attr::KIND)).collect();
        let first_cdc = kinds
            .iter()
            .position(|k| *k == "cdc")
            .unwrap_or(kinds.len());
        assert!(
            kinds[first_cdc..].iter().all(|k| *k == "cdc"),
            "{table_id}: {kinds:?}"
        );
        let cdc_names: Vec<&str> = items[first_cdc..]
            .iter()
            .map(|i| {
                string_attr(i, attr::KEY)
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
            })
            .collect();
        let mut sorted = cdc_names.clone();
        sorted.sort();
        assert_eq!(
            cdc_names, sorted,
            "{table_id}: CDC files in timestamp order"
        );
    }
    assert_eq!(
        aws.tracker_items(&tracker).await.len(),
        1000,
        "noise is not tracked"
    );
}

#[tokio::test]
async fn eventbridge_route_records_each_file_once() {
    let aws = LocalAws::connect().await;
    let tracker = aws.new_tracker_table().await;
    let route = aws.staging_route(Route::EventBridge).await;
    let layout = StagingLayout::new(&route.bucket, "", None).expect("valid layout");
    let manager = manager(aws.dynamodb(), &tracker, layout);
    let keys = [
        "crm/accounts/LOAD00000001.parquet",
        "crm/accounts/20240301-101530123.parquet",
        "crm/account notes/20240301-101530124.csv",
    ];
    for key in keys {
        aws.s3()
            .put_object()
            .bucket(&route.bucket)
            .key(key)
            .body(b"x".to_vec().into())
            .send()
            .await
            .expect("put object");
    }
    drain_queue(&aws, &route.queue_url, &manager).await;
    let items = aws.tracker_items(&tracker).await;
    for key in keys {
        assert_eq!(items_for_key(&items, key).len(), 1, "{key}");
    }
    assert_eq!(items.len(), 3);
}
