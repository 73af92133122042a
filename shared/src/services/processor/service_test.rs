//! Unit tests of the processor's decisions over the in-memory ports (no emulator): the merge
//! engine runs for real over in-memory buckets; the trackers, registry and catalog are
//! `ports::memory`. A bad file is quarantined after three failures of the same fingerprint
//! (whatever the texts say), a lost lease is `busy`, a held one too, and the deadline defers
//! tables and stops a table between chunks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use chrono::TimeZone;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde_json::json;

use super::*;
use crate::ports::file_tracker::{FailureFingerprint, FileStatus};
use crate::ports::memory::catalog::MemoryCatalog;
use crate::ports::memory::clock::ManualClock;
use crate::ports::memory::file_tracker::{MemoryFileTracker, TrackedItem, landed_file};
use crate::ports::memory::processing_tracker::MemoryProcessingTracker;
use crate::ports::memory::registry::MemoryRegistry;

const ORDERS: &str = "sales.orders";
const ITEMS: &str = "sales.items";
/// A row of `sales.orders` or `sales.items`.
const GOOD_ROW: &str = "I,1,1.00,2024-01-01 00:00:01\n";
/// A row whose key is not a number.
const BAD_ROW: &str = "I,x,1.00,2024-01-01 00:00:01\n";
/// What the engine's failure on [`BAD_ROW`] is.
const BAD_ROW_FINGERPRINT: &str = "merge/bad_file/unparsable";

type MemoryProcessor =
    Processor<MemoryRegistry, MemoryProcessingTracker, MemoryFileTracker, MemoryCatalog>;

/// The configuration of `schema.table`.
fn spec(table_id: &str) -> String {
    let (schema, table) = table_id.split_once('.').unwrap();
    json!({
        "source": {"schema": schema, "table": table},
        "target": {"database": "lake", "table": table, "location": format!("lake/{table}")},
        "primary_key": ["id"],
        "ordering": {"commit_timestamp_column": "ts"},
        "input": {"columns": [
            {"name": "id", "type": "bigint"},
            {"name": "amount", "type": "decimal(10,2)"},
            {"name": "ts", "type": "timestamp"}
        ]},
    })
    .to_string()
}

fn settings(max_files: usize) -> ProcessorSettings {
    ProcessorSettings {
        lake_url: "s3://lake".to_owned(),
        backlog_limit: BacklogLimit {
            max_files,
            max_bytes: 1 << 20,
        },
        quarantine_after: 3,
        deadline_margin: Duration::from_secs(60),
        lease_slack: Duration::from_secs(30),
        gc_grace: Duration::from_secs(600),
        processed_file_ttl: Duration::from_secs(7 * 86_400),
        history_ttl: Duration::from_secs(30 * 86_400),
    }
}

/// A processor over in-memory ports with `sales.orders` and `sales.items` registered.
struct Fixture {
    processor: MemoryProcessor,
    tracker: MemoryProcessingTracker,
    files: MemoryFileTracker,
    staging: Arc<InMemory>,
    clock: ManualClock,
    invocations: AtomicU32,
}

impl Fixture {
    fn new(max_files: usize, clock: ManualClock) -> Fixture {
        let mut registry = MemoryRegistry::default();
        for table_id in [ORDERS, ITEMS] {
            registry.register(table_id, "10min", true, &spec(table_id));
        }
        let tracker = MemoryProcessingTracker::default();
        let files = MemoryFileTracker::fenced_by(&tracker);
        let staging = Arc::new(InMemory::new());
        let stores = LakeStores {
            staging: Arc::clone(&staging) as Arc<dyn ObjectStore>,
            lake: Arc::new(InMemory::new()),
        };
        let ports = (
            registry,
            tracker.clone(),
            files.clone(),
            MemoryCatalog::default(),
        );
        let processor = Processor::new(settings(max_files), stores, ports, Arc::new(clock.clone()));
        Fixture {
            processor,
            tracker,
            files,
            staging,
            clock,
            invocations: AtomicU32::new(0),
        }
    }

    fn started() -> Fixture {
        Fixture::new(10, ManualClock::at(start()))
    }

    /// Stages DMS file `name` of `table_id` and lands it in the table's backlog; returns its
    /// tracker id.
    async fn stage(&self, table_id: &str, name: &str, contents: &str) -> String {
        let key = format!("dms/{}/{name}", table_id.replace('.', "/"));
        let payload = PutPayload::from(contents.as_bytes().to_vec());
        self.staging
            .put(&Path::parse(&key).unwrap(), payload)
            .await
            .unwrap();
        let file = landed_file(name, &key, contents.len() as u64, start());
        let id = file.id.clone();
        self.files.land(table_id, file);
        id
    }

    /// One invocation over `tables` with `left` before its deadline.
    async fn run(&self, tables: &[&str], left: chrono::Duration) -> BatchSummary {
        let invocation = Invocation {
            request_id: format!(
                "request-{}",
                self.invocations.fetch_add(1, Ordering::SeqCst)
            ),
            deadline: self.clock.now() + left,
        };
        let input = json!({"refresh_cadence": "10min", "batch": 0, "tables": tables});
        self.processor.handle(&input, &invocation).await.unwrap()
    }

    /// One invocation over `sales.orders` with 15 minutes before its deadline, a minute later.
    async fn run_orders(&self) -> TableSummary {
        self.clock.advance(Duration::from_secs(60));
        let mut batch = self.run(&[ORDERS], chrono::Duration::minutes(15)).await;
        batch.tables.remove(0)
    }

    fn item(&self, file_id: &str) -> TrackedItem {
        self.files.item(ORDERS, file_id).unwrap()
    }
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 1, 10, 0, 0).unwrap()
}

#[tokio::test]
async fn a_table_applies_its_files_publishes_them_and_releases_its_lease() {
    let fixture = Fixture::started();
    let file = fixture.stage(ORDERS, "001.csv", GOOD_ROW).await;
    let summary = fixture.run_orders().await;
    assert_eq!(
        summary.outcome,
        RefreshOutcomeKind::Completed,
        "{summary:?}"
    );
    assert_eq!((summary.refreshes, summary.totals.inserted), (1, 1));
    assert_eq!(fixture.item(&file).file.status, FileStatus::Processed);
    assert!(
        fixture
            .processor
            .catalog
            .table_of("lake", "orders")
            .is_some()
    );
    let lease = fixture.tracker.lease_of(ORDERS);
    assert_eq!(lease.owner, None, "released");
    assert_eq!(lease.last_outcome, Some(RefreshOutcomeKind::Completed));
}

#[tokio::test]
async fn a_bad_file_is_quarantined_after_three_failures_of_the_same_fingerprint() {
    let fixture = Fixture::started();
    let good = fixture.stage(ORDERS, "001.csv", GOOD_ROW).await;
    let bad = fixture.stage(ORDERS, "002.csv", BAD_ROW).await;
    for failure in 1..=2 {
        let summary = fixture.run_orders().await;
        assert_eq!(summary.outcome, RefreshOutcomeKind::Failed);
        let error = summary.error.unwrap_or_default();
        assert!(
            error.ends_with(&format!("(failure {failure} of 3 before quarantine)")),
            "{error}"
        );
        let item = fixture.item(&bad);
        assert_eq!(
            (item.file.status, item.file.failures),
            (FileStatus::Landed, failure)
        );
        assert_eq!(
            item.file.last_fingerprint,
            Some(FailureFingerprint::new(BAD_ROW_FINGERPRINT))
        );
    }
    assert_eq!(
        fixture.item(&good).file.status,
        FileStatus::Processed,
        "the file before the bad one was applied"
    );
    let summary = fixture.run_orders().await;
    assert_eq!(summary.outcome, RefreshOutcomeKind::Failed);
    assert_eq!(summary.quarantined, [fixture.item(&bad).file.key]);
    let item = fixture.item(&bad);
    assert_eq!(
        (item.file.status, item.file.failures),
        (FileStatus::Quarantined, 3)
    );
}

#[tokio::test]
async fn the_same_fingerprint_counts_as_the_same_failure_whatever_its_recorded_text() {
    let fixture = Fixture::started();
    let bad = fixture.stage(ORDERS, "002.csv", BAD_ROW).await;
    let mut file = fixture.item(&bad).file;
    file.failures = 2;
    file.last_error = Some("the text an older release wrote for this failure".to_owned());
    file.last_fingerprint = Some(FailureFingerprint::new(BAD_ROW_FINGERPRINT));
    fixture.files.land(ORDERS, file);
    let summary = fixture.run_orders().await;
    assert_eq!(summary.quarantined.len(), 1, "{summary:?}");
    assert_eq!(fixture.item(&bad).file.failures, 3);
}

#[tokio::test]
async fn a_failure_with_the_same_text_but_no_fingerprint_counts_from_one() {
    let fixture = Fixture::started();
    let bad = fixture.stage(ORDERS, "002.csv", BAD_ROW).await;
    fixture.run_orders().await;
    // As an item written before fingerprints: the same text, two failures, no fingerprint.
    let mut file = fixture.item(&bad).file;
    file.failures = 2;
    file.last_fingerprint = None;
    fixture.files.land(ORDERS, file);
    let summary = fixture.run_orders().await;
    assert!(summary.quarantined.is_empty(), "{summary:?}");
    assert_eq!(fixture.item(&bad).file.failures, 1);
}

#[tokio::test]
async fn a_processor_that_loses_its_lease_at_the_commit_point_is_busy_and_counts_no_failure() {
    let fixture = Fixture::started();
    let file = fixture.stage(ORDERS, "001.csv", GOOD_ROW).await;
    fixture
        .tracker
        .take_over_at_next_confirm(ORDERS, "request-other");
    let batch = fixture.run(&[ORDERS], chrono::Duration::minutes(15)).await;
    assert_eq!(batch.failed, 0);
    let summary = &batch.tables[0];
    assert_eq!(summary.outcome, RefreshOutcomeKind::Busy);
    assert!(!summary.more_pending);
    let error = summary.error.clone().unwrap_or_default();
    assert!(
        error.starts_with("lost the table to another processor: the refresh was not committed"),
        "{error}"
    );
    let item = fixture.item(&file);
    assert_eq!(
        (item.file.status, item.file.failures),
        (FileStatus::Landed, 0)
    );
    assert!(
        fixture.tracker.history().is_empty(),
        "it writes nothing more"
    );
    assert_eq!(
        fixture.tracker.lease_of(ORDERS).owner.as_deref(),
        Some("request-other"),
        "not released"
    );
}

#[tokio::test]
async fn a_table_whose_lease_another_processor_holds_is_busy_and_recorded() {
    let fixture = Fixture::started();
    fixture.stage(ORDERS, "001.csv", GOOD_ROW).await;
    let until = start() + chrono::Duration::hours(1);
    fixture.tracker.take_over(ORDERS, "request-other", until);
    let summary = fixture.run_orders().await;
    assert_eq!(
        (summary.outcome, summary.error),
        (RefreshOutcomeKind::Busy, None)
    );
    let history = fixture.tracker.history();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].outcome, RefreshOutcomeKind::Busy);
    assert_eq!(
        history[0].error.as_deref(),
        Some(format!("lease held by request-other until {until}").as_str())
    );
}

#[tokio::test]
async fn near_the_deadline_a_table_stops_between_chunks_and_later_tables_are_deferred() {
    // Each reading of the clock takes ten seconds; one file per chunk.
    let clock = ManualClock::at(start()).stepping(Duration::from_secs(10));
    let fixture = Fixture::new(1, clock);
    let first = fixture.stage(ORDERS, "001.csv", GOOD_ROW).await;
    let second = fixture.stage(ORDERS, "002.csv", GOOD_ROW).await;
    fixture.stage(ITEMS, "001.csv", GOOD_ROW).await;
    // Enough time for the margin (60 s) when the batch starts, not after a chunk.
    let batch = fixture
        .run(&[ORDERS, ITEMS], chrono::Duration::seconds(75))
        .await;
    let orders = &batch.tables[0];
    assert_eq!(orders.outcome, RefreshOutcomeKind::Completed, "{orders:?}");
    assert!(orders.more_pending);
    assert_eq!(orders.refreshes, 1);
    assert_eq!(fixture.item(&first).file.status, FileStatus::Processed);
    assert_eq!(fixture.item(&second).file.status, FileStatus::Landed);
    assert_eq!(batch.tables[1].outcome, RefreshOutcomeKind::Deferred);
    assert_eq!(batch.failed, 0);

    let batch = fixture.run(&[ORDERS], chrono::Duration::seconds(59)).await;
    assert_eq!(batch.tables[0].outcome, RefreshOutcomeKind::Deferred);
}

#[tokio::test]
async fn a_table_configured_in_another_format_than_its_snapshots_stops_with_the_fix_and_blames_no_file()
 {
    let mut fixture = Fixture::started();
    fixture.stage(ORDERS, "001.csv", GOOD_ROW).await;
    assert_eq!(
        fixture.run_orders().await.outcome,
        RefreshOutcomeKind::Completed
    );
    let mut iceberg: serde_json::Value = serde_json::from_str(&spec(ORDERS)).unwrap();
    iceberg["target"]["format"] = json!("iceberg");
    fixture
        .processor
        .registry
        .register(ORDERS, "10min", true, &iceberg.to_string());
    let file = fixture.stage(ORDERS, "002.csv", GOOD_ROW).await;
    for _ in 0..3 {
        let summary = fixture.run_orders().await;
        assert_eq!(summary.outcome, RefreshOutcomeKind::Failed, "{summary:?}");
        let error = summary.error.unwrap_or_default();
        assert!(
            error.starts_with(
                "table sales.orders is stored as hive (snapshot 1) but configured as iceberg; fix: set target.format back to hive"
            ),
            "{error}"
        );
        assert!(summary.quarantined.is_empty());
        let item = fixture.item(&file);
        assert_eq!(
            (item.file.status, item.file.failures),
            (FileStatus::Landed, 0),
            "no file is blamed, however often it fails"
        );
    }
}
