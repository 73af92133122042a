//! Unit tests of `file_manager`: what each notice becomes, with in-memory ports (the DynamoDB
//! semantics are tested against the emulator in tests/tests/file_manager.rs).

use std::sync::Mutex;

use serde_json::json;

use super::*;
use crate::ports::table_registry::RegisteredTable;

/// Records every arrival it is given; knows nothing else.
#[derive(Default)]
struct MemoryTracker {
    arrivals: Mutex<Vec<Arrival>>,
    forgotten: Mutex<Vec<String>>,
}

impl FileTracker for MemoryTracker {
    async fn record(&self, arrival: &Arrival) -> Result<RecordOutcome, StoreError> {
        self.arrivals
            .lock()
            .map_err(|_| StoreError::Unreachable {
                store: "memory",
                detail: "poisoned".into(),
            })?
            .push(arrival.clone());
        Ok(RecordOutcome::Recorded)
    }

    async fn forget_unrecognized(&self, object: &UnrecognizedObject) -> Result<(), StoreError> {
        if let Ok(mut forgotten) = self.forgotten.lock() {
            forgotten.push(object.object.key.clone());
        }
        Ok(())
    }
}

/// Registers the listed table ids; `None` is an unreachable registry.
struct MemoryRegistry(Option<Vec<&'static str>>);

impl TableRegistry for MemoryRegistry {
    async fn table(&self, table_id: &str) -> Result<Option<RegisteredTable>, StoreError> {
        let Some(ids) = &self.0 else {
            return Err(StoreError::Unreachable {
                store: "the table registry",
                detail: "connection refused".into(),
            });
        };
        Ok(ids.contains(&table_id).then(|| RegisteredTable {
            table_id: table_id.to_owned(),
            refresh_cadence: "10min".into(),
            active: true,
            spec_json: "{}".into(),
        }))
    }
}

fn manager(registered: Option<Vec<&'static str>>) -> FileManager<MemoryTracker, MemoryRegistry> {
    let layout = StagingLayout::new("staging", "dms", None).expect("valid layout");
    FileManager::new(
        layout,
        MemoryTracker::default(),
        MemoryRegistry(registered),
        4,
    )
}

fn s3_record(key: &str) -> Value {
    json!({
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": "staging"}, "object": {"key": key, "eTag": "e1", "size": 3}}
    })
}

fn eventbridge(key: &str) -> Value {
    json!({
        "source": "aws.s3",
        "detail-type": "Object Created",
        "detail": {"bucket": {"name": "staging"}, "object": {"key": key, "etag": "e1", "size": 3}}
    })
}

fn arrivals(manager: &FileManager<MemoryTracker, MemoryRegistry>) -> Vec<(FileStatus, String)> {
    let arrivals = manager.tracker.arrivals.lock().expect("lock");
    let mut found: Vec<(FileStatus, String)> = arrivals
        .iter()
        .map(|a| {
            let key = match a {
                Arrival::Landed(f) | Arrival::Unregistered(f) => f.key.as_str().to_owned(),
                Arrival::Unrecognized(o) => o.object.key.clone(),
            };
            (a.status(), key)
        })
        .collect();
    found.sort_by(|a, b| a.1.cmp(&b.1));
    found
}

#[tokio::test]
async fn every_object_under_the_staging_prefix_is_recorded_with_its_status() {
    let manager = manager(Some(vec!["sales.orders"]));
    let payload = json!({"Records": [
        s3_record("dms/sales/orders/LOAD00000001.csv"),
        s3_record("dms/sales/returns/LOAD00000001.csv"),
        s3_record("dms/sales/orders/notes.json"),
        s3_record("dms/CDC_TXN-20240301-101530123.csv"),
        s3_record("dms/sales/orders/a/b/c/LOAD00000001.csv"),
        s3_record("dms/sales/..%2Fetc/LOAD00000001.csv"),
        s3_record("dms/sales/orders/"),
        s3_record("exports/report.csv"),
    ]});
    let handled = manager.handle(&payload).await.expect("handled");
    assert_eq!(
        arrivals(&manager),
        [
            (
                FileStatus::Unrecognized,
                "dms/CDC_TXN-20240301-101530123.csv".into()
            ),
            (
                FileStatus::Unrecognized,
                "dms/sales/../etc/LOAD00000001.csv".into()
            ),
            (
                FileStatus::Landed,
                "dms/sales/orders/LOAD00000001.csv".into()
            ),
            (
                FileStatus::Unrecognized,
                "dms/sales/orders/a/b/c/LOAD00000001.csv".into()
            ),
            (
                FileStatus::Unrecognized,
                "dms/sales/orders/notes.json".into()
            ),
            (
                FileStatus::Unregistered,
                "dms/sales/returns/LOAD00000001.csv".into()
            ),
        ]
    );
    let tally = handled.report.tally;
    assert_eq!(
        (
            tally.recorded,
            tally.unregistered,
            tally.unrecognized,
            tally.ignored
        ),
        (1, 1, 4, 2)
    );
    let note = |key: &str| {
        handled
            .report
            .notes
            .iter()
            .find(|n| n.key == key)
            .map(|n| (n.disposition, n.reason.clone()))
    };
    let (disposition, reason) = note("dms/CDC_TXN-20240301-101530123.csv").expect("noted");
    assert_eq!(disposition, "unrecognized");
    assert!(reason.contains("PreserveTransactions"), "{reason}");
    assert_eq!(
        note("exports/report.csv").map(|n| n.0),
        Some("ignored"),
        "outside the staging prefix: a no-op, but reported"
    );
}

#[tokio::test]
async fn keys_are_decoded_by_the_rule_of_their_envelope() {
    let manager = manager(Some(vec!["t.x y", "t.p%252Fq"]));
    let notification = json!({"Records": [s3_record("dms/t/x+y/LOAD00000001.csv")]});
    manager.handle(&notification).await.expect("handled");
    manager
        .handle(&eventbridge("dms/t/x+y/LOAD00000002.csv"))
        .await
        .expect("handled");
    manager
        .handle(&eventbridge("dms/t/p%2Fq/LOAD00000003.csv"))
        .await
        .expect("handled");
    let tables: Vec<(String, FileStatus)> = manager
        .tracker
        .arrivals
        .lock()
        .expect("lock")
        .iter()
        .map(|a| match a {
            Arrival::Landed(f) | Arrival::Unregistered(f) => (f.table.table.clone(), a.status()),
            Arrival::Unrecognized(o) => (o.object.key.clone(), a.status()),
        })
        .collect();
    assert_eq!(
        tables,
        [
            ("x y".to_owned(), FileStatus::Landed),
            ("x+y".to_owned(), FileStatus::Unregistered),
            ("p%2Fq".to_owned(), FileStatus::Landed),
        ]
    );
}

#[tokio::test]
async fn one_unreadable_record_keeps_its_message_and_loses_none_of_the_others() {
    let manager = manager(Some(vec!["sales.orders"]));
    let body = json!({"Records": [
        s3_record("dms/sales/orders/LOAD00000001.csv"),
        {"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {"bucket": {}}},
        s3_record("dms/sales/orders/LOAD00000002.csv"),
    ]});
    let batch = json!({"Records": [
        {"messageId": "m1", "eventSource": "aws:sqs", "body": body.to_string()},
        {"messageId": "m2", "eventSource": "aws:sqs", "body": "not json"},
    ]});
    let handled = manager.handle(&batch).await.expect("handled");
    assert_eq!(
        arrivals(&manager).len(),
        2,
        "both good records are recorded"
    );
    let FileManagerResponse::Batch(response) = handled.response else {
        panic!("a batch response");
    };
    let retried: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(retried, ["m1", "m2"], "kept for redelivery and the DLQ");
    assert_eq!(handled.report.tally.unreadable, 2);
}

#[tokio::test]
async fn sns_delivered_straight_to_the_function_is_read() {
    let manager = manager(Some(vec!["sales.orders"]));
    let notification = json!({"Records": [s3_record("dms/sales/orders/LOAD00000001.csv")]});
    let payload = json!({"Records": [{
        "EventSource": "aws:sns",
        "Sns": {"Type": "Notification", "Message": notification.to_string()}
    }]});
    manager.handle(&payload).await.expect("handled");
    assert_eq!(
        arrivals(&manager),
        [(
            FileStatus::Landed,
            "dms/sales/orders/LOAD00000001.csv".into()
        )]
    );
}

#[tokio::test]
async fn a_registry_outage_fails_the_notice_so_it_is_retried() {
    let manager = manager(None);
    let payload = json!({"Records": [s3_record("dms/sales/orders/LOAD00000001.csv")]});
    let error = manager.handle(&payload).await.expect_err("not recorded");
    assert!(matches!(error, FileManagerError::NotRecorded { failed: 1 }));
    assert!(arrivals(&manager).is_empty());
}

#[tokio::test]
async fn a_reexamined_object_recorded_as_a_dms_file_forgets_its_unrecognized_record() {
    let manager = manager(Some(vec!["sales.orders"]));
    let request = crate::domain::s3_events::StagedObject {
        bucket: "staging".into(),
        key: "dms/sales/orders/LOAD00000001.csv".into(),
        size: Some(3),
        etag: Some("e1".into()),
        version_id: None,
        sequencer: None,
        landed_at: DateTime::UNIX_EPOCH,
    };
    let payload: Value = serde_json::from_str(&request.message_body()).expect("json");
    manager.handle(&payload).await.expect("handled");
    assert_eq!(
        arrivals(&manager),
        [(
            FileStatus::Landed,
            "dms/sales/orders/LOAD00000001.csv".into()
        )]
    );
    assert_eq!(
        *manager.tracker.forgotten.lock().expect("lock"),
        ["dms/sales/orders/LOAD00000001.csv"]
    );
}
