//! file-manager against the local AWS emulator, through the real SDK clients.
//!
//! Test names state the invariant they prove (docs/DESIGN.md, "File tracker").
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a failed step stops the test

use std::collections::{BTreeMap, BTreeSet};

use futures::{StreamExt, stream};
use serde_json::Value;
use tributary_shared::adapters::dynamodb_file_tracker::{DynamoDbFileTracker, attr};
use tributary_shared::adapters::dynamodb_table_registry::DynamoDbTableRegistry;
use tributary_shared::domain::dms_layout::StagingLayout;
use tributary_shared::ports::file_tracker::{
    Arrival, FileTracker, RecordOutcome, UnrecognizedObject,
};
use tributary_shared::ports::state_store::StoreError;
use tributary_shared::services::file_manager::{
    FileManager, FileManagerError, FileManagerResponse, Handled, Tally,
};
use tributary_tests::{
    LocalAws, Route, eventbridge_object_created, items_for_key, s3_notification, sqs_batch,
    sqs_event_from, string_attr, unique_name,
};

const BUCKET: &str = "acme-dms-staging";

type Manager = FileManager<DynamoDbFileTracker, DynamoDbTableRegistry>;

fn manager(
    client: aws_sdk_dynamodb::Client,
    table: &str,
    registry: &DynamoDbTableRegistry,
    layout: StagingLayout,
) -> Manager {
    FileManager::new(
        layout,
        DynamoDbFileTracker::new(client, table),
        registry.clone(),
        8,
    )
}

fn dms_layout(bucket: &str) -> StagingLayout {
    StagingLayout::new(bucket, "dms", None).expect("valid layout")
}

/// The tables most tests register.
const REGISTERED: [&str; 2] = ["sales.orders", "hr.people"];

/// The emulator, a fresh tracker table, and a file-manager writing to it (bucket folder `dms`,
/// tables [`REGISTERED`]).
async fn tracked_manager() -> (LocalAws, String, Manager) {
    let aws = LocalAws::connect().await;
    let table = aws.new_tracker_table().await;
    let registry = aws.new_registry(&REGISTERED).await;
    let manager = manager(aws.dynamodb(), &table, &registry, dms_layout(BUCKET));
    (aws, table, manager)
}

fn summary(response: Result<Handled, FileManagerError>) -> Tally {
    match response {
        Ok(Handled {
            response: FileManagerResponse::Summary(report),
            ..
        }) => report.tally,
        other => panic!("expected a direct-invocation summary, got {other:?}"),
    }
}

fn failures(response: Result<Handled, FileManagerError>) -> Vec<String> {
    match response {
        Ok(Handled {
            response: FileManagerResponse::Batch(batch),
            ..
        }) => batch
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
    let registry = aws.new_registry(&REGISTERED).await;
    let manager = FileManager::new(dms_layout(BUCKET), tracker, registry, 8);
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
    async fn record(&self, arrival: &Arrival) -> Result<RecordOutcome, StoreError> {
        self.arrived.wait().await;
        let _turn = self.one_at_a_time.lock().await;
        self.inner.record(arrival).await
    }

    async fn forget_unrecognized(&self, object: &UnrecognizedObject) -> Result<(), StoreError> {
        self.inner.forget_unrecognized(object).await
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
    let registry = aws.new_registry(&REGISTERED).await;
    let throttled = manager(
        aws.throttled_dynamodb(&["20240301-101530123.csv"]),
        &table,
        &registry,
        dms_layout(BUCKET),
    );
    let failed = failures(throttled.handle(&mixed_batch()).await);
    // The throttled write, and the two unreadable bodies: kept, so they end in the DLQ.
    assert_eq!(
        failed,
        ["msg-good-cdc", "msg-not-json", "msg-unknown-shape"]
    );

    let items = aws.tracker_items(&table).await;
    assert_eq!(
        items_for_key(&items, "dms/sales/orders/LOAD00000002.csv").len(),
        1
    );
    assert!(
        items_for_key(&items, "dms/sales/orders/").is_empty(),
        "a folder marker is not an object"
    );
    let metadata = items_for_key(&items, "dms/sales/orders/orders.json");
    assert_eq!(
        metadata.len(),
        1,
        "a metadata file is recorded, not dropped"
    );
    assert_eq!(string_attr(metadata[0], attr::STATUS), "unrecognized");

    // SQS redelivers the failed message; now DynamoDB answers normally.
    let healthy = manager(aws.dynamodb(), &table, &registry, dms_layout(BUCKET));
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
    // Two DMS files, the metadata file and the path-trick key (both unrecognized).
    assert_eq!(items.len(), 4);
}

/// A file-manager of the registered tables whose tracker table does not exist: DynamoDB answers
/// ResourceNotFoundException to every write.
async fn manager_without_tracker(aws: &LocalAws) -> Manager {
    let registry = aws.new_registry(&REGISTERED).await;
    manager(
        aws.dynamodb(),
        &unique_name("missing"),
        &registry,
        dms_layout(BUCKET),
    )
}

#[tokio::test]
async fn tracker_outage_keeps_every_message_that_carries_a_file() {
    let aws = LocalAws::connect().await;
    let manager = manager_without_tracker(&aws).await;
    let mut failed = failures(manager.handle(&mixed_batch()).await);
    failed.sort();
    assert_eq!(
        failed,
        [
            "msg-good-cdc",
            "msg-good-load",
            "msg-metadata",
            "msg-not-json",
            "msg-path-trick",
            "msg-unknown-shape"
        ]
    );
}

#[tokio::test]
async fn direct_invocation_fails_when_a_file_cannot_be_recorded() {
    let aws = LocalAws::connect().await;
    let manager = manager_without_tracker(&aws).await;
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

async fn drain_queue(aws: &LocalAws, queue_url: &str, manager: &Manager) -> usize {
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
    // No date-partition setting: the date folders are recognised from the keys themselves.
    let layout = StagingLayout::new(&route.bucket, "dms/prod", None).expect("valid layout");
    let tables: Vec<(String, String)> = (0..20)
        .map(|n| (format!("schema_{}", n % 4), format!("table {n:02}")))
        .collect();
    let ids: Vec<String> = tables.iter().map(|(s, t)| format!("{s}.{t}")).collect();
    let registry = aws
        .new_registry(&ids.iter().map(String::as_str).collect::<Vec<_>>())
        .await;
    let manager = manager(aws.dynamodb(), &tracker, &registry, layout);
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
    let items = aws.tracker_items(&tracker).await;
    let unrecognized = items_for_key(&items, "dms/prod/schema_0/table 00/table.json");
    assert_eq!(
        unrecognized.len(),
        1,
        "an object under the staging prefix that is not DMS data is recorded once"
    );
    assert_eq!(string_attr(unrecognized[0], attr::STATUS), "unrecognized");
    assert_eq!(
        items.len(),
        1001,
        "the folder marker and the object outside the prefix are not"
    );
}

#[tokio::test]
async fn eventbridge_route_records_each_file_once() {
    let aws = LocalAws::connect().await;
    let tracker = aws.new_tracker_table().await;
    let route = aws.staging_route(Route::EventBridge).await;
    let layout = StagingLayout::new(&route.bucket, "", None).expect("valid layout");
    let registry = aws
        .new_registry(&["crm.accounts", "crm.account notes"])
        .await;
    let manager = manager(aws.dynamodb(), &tracker, &registry, layout);
    let keys = [
        "crm/accounts/LOAD00000001.parquet",
        "crm/accounts/20240301-101530123.parquet",
        "crm/account notes/20240301-101530124.csv",
    ];
    for key in keys {
        aws.put(&route.bucket, key, b"x").await;
    }
    drain_queue(&aws, &route.queue_url, &manager).await;
    let items = aws.tracker_items(&tracker).await;
    for key in keys {
        assert_eq!(items_for_key(&items, key).len(), 1, "{key}");
    }
    assert_eq!(items.len(), 3);
}

/// Puts `keys` into the route's bucket, drains the queue through `manager`, returns every item.
async fn land_and_record(
    aws: &LocalAws,
    route: &tributary_tests::StagingRoute,
    tracker: &str,
    manager: &Manager,
    keys: &[&str],
) -> Vec<tributary_tests::Item> {
    for key in keys {
        aws.put(&route.bucket, key, b"1,a\n").await;
    }
    drain_queue(aws, &route.queue_url, manager).await;
    aws.tracker_items(tracker).await
}

#[tokio::test]
async fn dotted_folder_names_are_distinct_tables_never_another_tables_files() {
    let aws = LocalAws::connect().await;
    let tracker = aws.new_tracker_table().await;
    let route = aws.staging_route(Route::S3Notification).await;
    // Registered: schema `t`, table `x.y`; and both `a.b`/`c` and `a`/`b.c`.
    let registry = aws.new_registry(&["t.x%2Ey", "a%2Eb.c", "a.b%2Ec"]).await;
    let layout = StagingLayout::new(&route.bucket, "dms", None).expect("valid layout");
    let manager = manager(aws.dynamodb(), &tracker, &registry, layout);
    let items = land_and_record(
        &aws,
        &route,
        &tracker,
        &manager,
        &[
            "dms/t.x/y/LOAD00000001.csv",
            "dms/a.b/c/LOAD00000001.csv",
            "dms/a/b.c/LOAD00000001.csv",
        ],
    )
    .await;
    assert_eq!(items.len(), 3, "no file is taken for another's duplicate");
    assert!(
        aws.pending_items(&tracker, "t.x%2Ey").await.is_empty(),
        "schema `t.x`, table `y` is not the registered `t`/`x.y`"
    );
    let foreign = items_for_key(&items, "dms/t.x/y/LOAD00000001.csv");
    assert_eq!(string_attr(foreign[0], attr::STATUS), "unregistered");
    assert_eq!(string_attr(foreign[0], attr::TABLE_ID), "t%2Ex.y");
    for (table_id, key) in [
        ("a%2Eb.c", "dms/a.b/c/LOAD00000001.csv"),
        ("a.b%2Ec", "dms/a/b.c/LOAD00000001.csv"),
    ] {
        let pending = aws.pending_items(&tracker, table_id).await;
        assert_eq!(pending.len(), 1, "{table_id}");
        assert_eq!(string_attr(&pending[0], attr::KEY), key);
    }
}

#[tokio::test]
async fn keys_with_plus_percent_spaces_and_non_ascii_keep_their_table_through_both_routes() {
    let aws = LocalAws::connect().await;
    // (table folder, table id): `+` and `%2F` are characters of the name, not encodings.
    let tables = [
        ("x+y", "t.x+y"),
        ("p%2Fq", "t.p%252Fq"),
        ("a b", "t.a b"),
        ("é ü", "t.é ü"),
    ];
    let ids: Vec<&str> = tables.iter().map(|(_, id)| *id).collect();
    for route_kind in [Route::S3Notification, Route::EventBridge] {
        let tracker = aws.new_tracker_table().await;
        let route = aws.staging_route(route_kind).await;
        let registry = aws.new_registry(&ids).await;
        let layout = StagingLayout::new(&route.bucket, "dms", None).expect("valid layout");
        let manager = manager(aws.dynamodb(), &tracker, &registry, layout);
        let keys: Vec<String> = tables
            .iter()
            .map(|(folder, _)| format!("dms/t/{folder}/LOAD00000001.csv"))
            .collect();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let items = land_and_record(&aws, &route, &tracker, &manager, &keys).await;
        assert_eq!(items.len(), tables.len(), "{route_kind:?}");
        for ((folder, table_id), key) in tables.iter().zip(&keys) {
            let pending = aws.pending_items(&tracker, table_id).await;
            assert_eq!(pending.len(), 1, "{route_kind:?}: {folder} → {table_id}");
            assert_eq!(string_attr(&pending[0], attr::KEY), *key, "{route_kind:?}");
        }
    }
}

#[tokio::test]
async fn every_object_under_the_staging_prefix_is_recorded_once_with_its_status_and_reason() {
    let aws = LocalAws::connect().await;
    let tracker_table = aws.new_tracker_table().await;
    let route = aws.staging_route(Route::EventBridge).await;
    let registry = aws.new_registry(&["sales.orders"]).await;
    let layout = StagingLayout::new(&route.bucket, "dms", None).expect("valid layout");
    let manager = manager(aws.dynamodb(), &tracker_table, &registry, layout);
    let long_key = format!("dms/sales/orders/{}/LOAD00000001.csv", "p".repeat(990));
    let keys = [
        "dms/sales/orders/LOAD00000001.csv",
        "dms/sales/returns/LOAD00000001.csv",
        "dms/CDC_TXN-20240301-101530123.csv",
        "dms/sales/orders/2024/02/11/20240301-101530123.csv",
        "dms/sales/orders/orders.json",
        long_key.as_str(),
        "dms/sales/orders/",
        "elsewhere/report.csv",
    ];
    for key in keys {
        aws.put(&route.bucket, key, b"1,a\n").await;
    }
    // Every notification is delivered twice: the second delivery changes nothing.
    let mut messages = Vec::new();
    loop {
        let batch = aws.receive_batch(&route.queue_url).await;
        if batch.is_empty() {
            break;
        }
        messages.extend(batch);
    }
    for chunk in messages.chunks(10) {
        for delivery in ["first", "again"] {
            let failed = failures(manager.handle(&sqs_event_from(chunk)).await);
            assert!(failed.is_empty(), "{delivery}: {failed:?}");
        }
    }

    let tracker = DynamoDbFileTracker::new(aws.dynamodb(), &tracker_table);
    let unrouted = tracker.unrouted().await.expect("list");
    let found: Vec<(&str, &str, Option<&str>)> = unrouted
        .iter()
        .map(|r| (r.status.as_str(), r.key.as_str(), r.table_id.as_deref()))
        .collect();
    let mut expected = vec![
        ("unrecognized", "dms/CDC_TXN-20240301-101530123.csv", None),
        (
            "unrecognized",
            "dms/sales/orders/2024/02/11/20240301-101530123.csv",
            None,
        ),
        ("unrecognized", "dms/sales/orders/orders.json", None),
        ("unrecognized", long_key.as_str(), None),
        (
            "unregistered",
            "dms/sales/returns/LOAD00000001.csv",
            Some("sales.returns"),
        ),
    ];
    expected.sort_by(|a, b| (a.2, a.1).cmp(&(b.2, b.1)));
    assert_eq!(
        found, expected,
        "one record per object version, with its status"
    );
    let reason = |key: &str| {
        unrouted
            .iter()
            .find(|r| r.key == key)
            .map(|r| r.reason.clone())
            .unwrap_or_default()
    };
    assert!(reason("dms/CDC_TXN-20240301-101530123.csv").contains("PreserveTransactions"));
    assert!(
        reason(&long_key).contains("too long"),
        "{}",
        reason(&long_key)
    );
    assert!(
        reason("dms/sales/orders/2024/02/11/20240301-101530123.csv").contains("date partition"),
        "{}",
        reason("dms/sales/orders/2024/02/11/20240301-101530123.csv")
    );
    let pending = aws.pending_items(&tracker_table, "sales.orders").await;
    assert_eq!(
        pending.len(),
        1,
        "only the registered table's DMS file is pending"
    );
}

#[tokio::test]
async fn a_reexamination_after_a_configuration_change_records_the_file_and_forgets_the_old_record()
{
    let aws = LocalAws::connect().await;
    let tracker_table = aws.new_tracker_table().await;
    let route = aws.staging_route(Route::S3Notification).await;
    let registry = aws.new_registry(&["sales.orders"]).await;
    let monthly = Some(tributary_shared::domain::dms_layout::DatePartitioning {
        sequence: tributary_shared::domain::dms_layout::DateSequence::YearMonth,
        delimiter: tributary_shared::domain::dms_layout::DateDelimiter::Slash,
    });
    let strict = StagingLayout::new(&route.bucket, "dms", monthly).expect("valid layout");
    let key = "dms/sales/orders/2024/03/01/20240301-101530123.csv";
    let before = manager(aws.dynamodb(), &tracker_table, &registry, strict);
    land_and_record(&aws, &route, &tracker_table, &before, &[key]).await;
    let tracker = DynamoDbFileTracker::new(aws.dynamodb(), &tracker_table);
    let unrouted = tracker.unrouted().await.expect("list");
    assert_eq!(unrouted.len(), 1);
    assert_eq!(unrouted[0].status.as_str(), "unrecognized");

    // The setting is removed (any DMS date scheme is recognised); `retry` asks again.
    let after = manager(
        aws.dynamodb(),
        &tracker_table,
        &registry,
        StagingLayout::new(&route.bucket, "dms", None).expect("valid layout"),
    );
    let request = tributary_shared::domain::s3_events::StagedObject {
        bucket: unrouted[0].bucket.clone(),
        key: unrouted[0].key.clone(),
        size: unrouted[0].size,
        etag: unrouted[0].etag.clone(),
        version_id: unrouted[0].version_id.clone(),
        sequencer: unrouted[0].sequencer.clone(),
        landed_at: unrouted[0].landed_at,
    };
    let batch = sqs_batch(&[("retry-1", request.message_body())]);
    assert!(failures(after.handle(&batch).await).is_empty());
    assert!(tracker.unrouted().await.expect("list").is_empty());
    let pending = aws.pending_items(&tracker_table, "sales.orders").await;
    assert_eq!(pending.len(), 1);
    assert_eq!(string_attr(&pending[0], attr::KEY), key);
}
