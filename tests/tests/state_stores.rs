//! The processor's state stores against the local AWS emulator, through the real SDK clients:
//! leases and fencing (processing tracker), the file backlog and its summary (file tracker),
//! refresh history and last outcomes, the table registry and cadences.
//!
//! Test names state the invariant they prove (docs/DESIGN.md §2 and §11).
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a failed step stops the test

use chrono::{DateTime, Duration, TimeZone, Utc};
use tributary_shared::adapters::dynamodb_file_tracker::{
    DynamoDbFileTracker, attr as file_attr, file_sort_key,
};
use tributary_shared::adapters::dynamodb_processing_tracker::{
    DynamoDbProcessingTracker, MAX_HISTORY_FILES, TABLE_RECORD, TableState, attr as lease_attr,
};
use tributary_shared::adapters::dynamodb_table_registry::DynamoDbTableRegistry;
use tributary_shared::domain::dms_layout::StagingLayout;
use tributary_shared::domain::object_key::ObjectKey;
use tributary_shared::domain::s3_events::{EventKey, ObjectCreated};
use tributary_shared::ports::file_tracker::{
    Arrival, BacklogLimit, BacklogOverview, BacklogSummary, FailureFingerprint, FileAttempt,
    FileBacklog, FileFailure, FileStatus, FileTracker, LandedFile, RecordOutcome, SupersededFile,
};
use tributary_shared::ports::processing_tracker::{
    LastOutcomes, Lease, LeaseGrant, ProcessingTracker, RefreshOutcomeKind, RefreshRecord,
    RefreshTotals,
};
use tributary_shared::ports::state_store::StoreError;
use tributary_shared::ports::table_registry::{
    CadenceRegistry, CadenceSettings, CadenceTable, RegisteredTable, TableOrder, TableRegistry,
};
use tributary_tests::{Item, LocalAws, register_table, string_attr, unique_name};

const BUCKET: &str = "acme-dms-staging";
const TABLE_ID: &str = "sales.orders";
const NO_LIMIT: BacklogLimit = BacklogLimit {
    max_files: usize::MAX,
    max_bytes: u64::MAX,
};

/// A fresh file tracker and processing tracker, the file tracker fencing by the latter's leases.
struct Stores {
    aws: LocalAws,
    tracker_table: String,
    lease_table: String,
    files: DynamoDbFileTracker,
    leases: DynamoDbProcessingTracker,
}

impl Stores {
    async fn new() -> Self {
        let aws = LocalAws::connect().await;
        let tracker_table = aws.new_tracker_table().await;
        let lease_table = unique_name("processing");
        DynamoDbProcessingTracker::create_table(&aws.dynamodb(), &lease_table)
            .await
            .expect("create the processing-tracker table");
        let files =
            DynamoDbFileTracker::new(aws.dynamodb(), &tracker_table).with_lease_table(&lease_table);
        let leases = DynamoDbProcessingTracker::new(aws.dynamodb(), &lease_table);
        Self {
            aws,
            tracker_table,
            lease_table,
            files,
            leases,
        }
    }

    /// Records CDC files `0..count` of [`TABLE_ID`] (named by second, in table order), each of
    /// `size` bytes, in the order `order` gives; returns their ids in table order.
    async fn land(&self, count: usize, size: u64, order: impl Fn(usize) -> usize) -> Vec<String> {
        let files: Vec<LandedFile> = (0..count).map(|i| landed(i, size)).collect();
        for i in 0..count {
            let outcome = self
                .files
                .record(&Arrival::Landed(files[order(i)].clone()))
                .await
                .expect("record a landed file");
            assert_eq!(outcome, RecordOutcome::Recorded);
        }
        files.iter().map(file_sort_key).collect()
    }

    /// Takes the lease of [`TABLE_ID`] for `owner` at `now` for a minute; panics when busy.
    async fn lease(&self, owner: &str, now: DateTime<Utc>) -> (Lease, Option<String>) {
        match self
            .leases
            .acquire(TABLE_ID, owner, now, now + Duration::minutes(1))
            .await
            .expect("acquire")
        {
            LeaseGrant::Acquired {
                lease,
                took_over_from,
            } => (lease, took_over_from),
            busy => panic!("expected the lease, got {busy:?}"),
        }
    }

    /// Quarantines file `id` under `lease`, keeping it pending (blocking) or not.
    async fn quarantine(&self, lease: &Lease, id: &str, keep_pending: bool) {
        self.files
            .record_failure(
                lease,
                &failure(id, FileStatus::Quarantined, keep_pending),
                t0(),
            )
            .await
            .expect("quarantine");
    }

    /// Every item of `table`, sorted by its sort key `sort_key`.
    async fn items(&self, table: &str, sort_key: &str) -> Vec<Item> {
        let mut items = self.aws.tracker_items(table).await;
        items.sort_by(|a, b| string_attr(a, sort_key).cmp(string_attr(b, sort_key)));
        items
    }

    /// Both tables' items.
    async fn snapshot(&self) -> (Vec<Item>, Vec<Item>) {
        (
            self.items(&self.tracker_table, file_attr::FILE_SK).await,
            self.items(&self.lease_table, lease_attr::RECORD).await,
        )
    }

    /// The tracker item of file `id`.
    async fn file_item(&self, id: &str) -> Item {
        self.aws
            .dynamodb()
            .get_item()
            .table_name(&self.tracker_table)
            .key(file_attr::TABLE_ID, string(TABLE_ID))
            .key(file_attr::FILE_SK, string(id))
            .consistent_read(true)
            .send()
            .await
            .expect("get a file item")
            .item
            .expect("the file item exists")
    }

    /// The lease and last outcome of [`TABLE_ID`].
    async fn state(&self) -> TableState {
        self.leases
            .table_state(TABLE_ID)
            .await
            .expect("read the state")
            .expect("the state item exists")
    }

    /// Ids of the files the adapter reads as pending, in the order it returns them.
    async fn pending_ids(&self, limit: BacklogLimit) -> Vec<String> {
        self.files
            .pending(TABLE_ID, limit)
            .await
            .expect("read the backlog")
            .into_iter()
            .map(|file| file.id)
            .collect()
    }
}

fn string(value: &str) -> aws_sdk_dynamodb::types::AttributeValue {
    aws_sdk_dynamodb::types::AttributeValue::S(value.to_owned())
}

/// A number attribute of an item, parsed.
fn number_attr(item: &Item, name: &str) -> Option<i64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
}

/// Ten o'clock on the day the fixtures' files landed.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 1, 10, 0, 0)
        .single()
        .expect("a valid time")
}

/// CDC file number `i` of [`TABLE_ID`] (its name is second `i` after ten o'clock).
fn landed(i: usize, size: u64) -> LandedFile {
    let encoded_key = format!(
        "dms/sales/orders/20240301-10{:02}{:02}000.csv",
        i / 60,
        i % 60
    );
    let key = ObjectKey::from_event_encoding(&encoded_key).expect("a valid key");
    let file = StagingLayout::new(BUCKET, "dms", None)
        .expect("a valid layout")
        .classify(BUCKET, &key)
        .expect("a DMS file");
    let object = ObjectCreated {
        bucket: BUCKET.to_owned(),
        key: EventKey::FormEncoded(encoded_key),
        size: Some(size),
        etag: Some(format!("etag-{i}")),
        version_id: None,
        sequencer: None,
        event_time: Some(t0()),
    };
    LandedFile::new(&object, key, file, t0()).expect("an identifiable object")
}

fn record(refresh_id: &str, started_at: DateTime<Utc>, files: Vec<String>) -> RefreshRecord {
    RefreshRecord {
        table_id: TABLE_ID.to_owned(),
        refresh_id: refresh_id.to_owned(),
        owner: "owner-a".to_owned(),
        started_at,
        finished_at: started_at + Duration::milliseconds(1_500),
        outcome: RefreshOutcomeKind::Completed,
        error: None,
        totals: RefreshTotals {
            files: files.len() as u64,
            inserted: 11,
            updated: 7,
            deleted: 5,
            ignored: 9,
            superseded: 6,
            files_superseded: 4,
            bytes_read: 1_000,
            bytes_written: 2_000,
            partitions_rewritten: 3,
        },
        files,
        snapshot_version: Some(7),
        expires_at: t0() + Duration::days(30),
    }
}

fn failure(file_id: &str, status: FileStatus, keep_pending: bool) -> FileFailure {
    FileFailure {
        file_id: file_id.to_owned(),
        failures: 3,
        error: "column `id` is missing".to_owned(),
        fingerprint: Some(FailureFingerprint::new("merge/missing_column")),
        status,
        keep_pending,
    }
}

fn superseded(file_id: &str) -> SupersededFile {
    SupersededFile {
        file_id: file_id.to_owned(),
        reason: "a newer version of the key is tracked".to_owned(),
    }
}

fn assert_lease_lost<T: std::fmt::Debug>(result: Result<T, StoreError>, lease: &Lease) {
    assert_eq!(
        result.expect_err("a write by a lost lease must fail"),
        StoreError::LeaseLost {
            table_id: lease.table_id.clone(),
            token: lease.token,
        }
    );
}

#[tokio::test]
async fn the_first_lease_gets_token_1_and_a_second_owner_is_busy_until_it_expires() {
    let stores = Stores::new().await;
    let (lease, took_over_from) = stores.lease("owner-a", t0()).await;
    assert_eq!(lease.token, 1);
    assert_eq!(lease.owner, "owner-a");
    assert_eq!(took_over_from, None);

    let second = stores
        .leases
        .acquire(
            TABLE_ID,
            "owner-b",
            t0() + Duration::seconds(59),
            t0() + Duration::minutes(2),
        )
        .await
        .expect("acquire");
    assert_eq!(
        second,
        LeaseGrant::Busy {
            owner: "owner-a".to_owned(),
            expires_at: t0() + Duration::minutes(1),
        }
    );
    let state = stores.state().await;
    assert_eq!(state.lease_owner.as_deref(), Some("owner-a"));
    assert_eq!(state.fencing_token, 1);
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_with_the_next_token() {
    let stores = Stores::new().await;
    let (first, _) = stores.lease("owner-a", t0()).await;
    let (second, took_over_from) = stores.lease("owner-b", t0() + Duration::minutes(2)).await;
    assert_eq!(second.token, first.token + 1);
    assert_eq!(second.token, 2);
    assert_eq!(took_over_from.as_deref(), Some("owner-a"));
}

#[tokio::test]
async fn a_taken_over_owner_writes_nothing() {
    let stores = Stores::new().await;
    let ids = stores.land(2, 10, |i| i).await;
    let (stale, _) = stores.lease("owner-a", t0()).await;
    stores.lease("owner-b", t0() + Duration::minutes(2)).await;
    let before = stores.snapshot().await;

    let later = t0() + Duration::minutes(3);
    assert_lease_lost(stores.leases.confirm(&stale, later).await, &stale);
    assert_lease_lost(
        stores
            .leases
            .record_refresh(Some(&stale), &record("r-stale", t0(), ids.clone()))
            .await,
        &stale,
    );
    assert_lease_lost(
        stores
            .files
            .mark_processed(&stale, &ids, "r-stale", later, later + Duration::days(7))
            .await,
        &stale,
    );
    assert_lease_lost(
        stores
            .files
            .record_failure(
                &stale,
                &failure(&ids[0], FileStatus::Quarantined, false),
                later,
            )
            .await,
        &stale,
    );
    assert_lease_lost(
        stores
            .files
            .start_attempt(&stale, &ids, "r-stale", later)
            .await,
        &stale,
    );
    assert_lease_lost(stores.files.end_attempt(&stale, &ids).await, &stale);
    assert_lease_lost(
        stores
            .files
            .mark_superseded(&stale, &superseded(&ids[0]), later, later)
            .await,
        &stale,
    );
    assert_lease_lost(
        stores
            .leases
            .release(&stale, &record("r-stale", t0(), ids.clone()))
            .await,
        &stale,
    );

    assert_eq!(stores.snapshot().await, before, "no item changed");
    let state = stores.state().await;
    assert_eq!(state.lease_owner.as_deref(), Some("owner-b"));
    assert_eq!(state.fencing_token, 2);
}

#[tokio::test]
async fn confirm_extends_the_held_lease() {
    let stores = Stores::new().await;
    let (lease, _) = stores.lease("owner-a", t0()).await;
    stores
        .leases
        .confirm(&lease, t0() + Duration::minutes(5))
        .await
        .expect("the holder confirms");
    let grant = stores
        .leases
        .acquire(
            TABLE_ID,
            "owner-b",
            t0() + Duration::minutes(2),
            t0() + Duration::minutes(3),
        )
        .await
        .expect("acquire");
    assert_eq!(
        grant,
        LeaseGrant::Busy {
            owner: "owner-a".to_owned(),
            expires_at: t0() + Duration::minutes(5),
        },
        "the confirmed lease outlives its first expiry"
    );
}

#[tokio::test]
async fn release_frees_the_lease_and_stores_the_last_outcome() {
    let stores = Stores::new().await;
    stores.lease("owner-a", t0()).await;
    let (holder, _) = stores.lease("owner-b", t0() + Duration::minutes(2)).await;
    let mut last = record("r-2", t0() + Duration::minutes(2), Vec::new());
    last.outcome = RefreshOutcomeKind::Failed;
    last.error = Some("the lake refused the commit".to_owned());
    stores
        .leases
        .release(&holder, &last)
        .await
        .expect("the holder releases");

    let state = stores.state().await;
    assert_eq!(state.lease_owner, None);
    assert_eq!(state.lease_expires_at, None);
    assert_eq!(state.last_outcome, Some(RefreshOutcomeKind::Failed));
    assert_eq!(
        state.last_error.as_deref(),
        Some("the lake refused the commit")
    );
    assert_eq!(state.last_refresh_id.as_deref(), Some("r-2"));

    // Well before the released lease would have lapsed, a third owner gets it at once.
    let (next, took_over_from) = stores
        .lease(
            "owner-c",
            t0() + Duration::minutes(2) + Duration::seconds(1),
        )
        .await;
    assert_eq!(next.token, 3);
    assert_eq!(took_over_from, None, "a released lease is not taken over");

    // A successful release clears the previous error.
    stores
        .leases
        .release(
            &next,
            &record("r-3", t0() + Duration::minutes(3), Vec::new()),
        )
        .await
        .expect("release");
    let state = stores.state().await;
    assert_eq!(state.last_outcome, Some(RefreshOutcomeKind::Completed));
    assert_eq!(state.last_error, None);
}

#[tokio::test]
async fn fenced_writes_without_a_lease_table_are_refused() {
    let stores = Stores::new().await;
    let ids = stores.land(1, 10, |i| i).await;
    let (lease, _) = stores.lease("owner-a", t0()).await;
    let unfenced = DynamoDbFileTracker::new(stores.aws.dynamodb(), &stores.tracker_table);
    let refused = |result: Result<(), StoreError>| matches!(&result, Err(StoreError::Refused { code, .. }) if code == "NoLeaseTable");
    assert!(refused(
        unfenced
            .mark_processed(&lease, &ids, "r-1", t0(), t0() + Duration::days(7))
            .await
    ));
    assert!(refused(
        unfenced
            .record_failure(&lease, &failure(&ids[0], FileStatus::Landed, true), t0())
            .await
    ));
    assert_eq!(stores.pending_ids(NO_LIMIT).await, ids, "nothing changed");
}

#[tokio::test]
async fn pending_returns_files_in_table_order_whatever_order_they_landed_in() {
    let stores = Stores::new().await;
    // Landing order 0, 7, 14, … (7 is coprime with 20): a permutation of the table order.
    let ids = stores.land(20, 10, |i| (i * 7) % 20).await;
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "ids are built in table order");

    let pending = stores
        .files
        .pending(TABLE_ID, NO_LIMIT)
        .await
        .expect("read the backlog");
    assert_eq!(
        pending.iter().map(|f| f.id.clone()).collect::<Vec<_>>(),
        ids
    );
    let first = &pending[0];
    assert_eq!(first.bucket, BUCKET);
    assert_eq!(first.key, "dms/sales/orders/20240301-100000000.csv");
    assert_eq!(first.size, Some(10));
    assert_eq!(first.status, FileStatus::Landed);
    assert_eq!(first.failures, 0);
    assert_eq!(first.last_error, None);
    assert_eq!(first.landed_at, t0());
    assert!(
        stores
            .files
            .pending("sales.other", NO_LIMIT)
            .await
            .expect("read the backlog")
            .is_empty(),
        "another table's backlog is empty"
    );
}

#[tokio::test]
async fn pending_respects_max_files_and_max_bytes_and_takes_an_oversize_file_alone() {
    let stores = Stores::new().await;
    let ids = stores.land(5, 100, |i| i).await;
    let limit = |max_files, max_bytes| BacklogLimit {
        max_files,
        max_bytes,
    };
    assert_eq!(stores.pending_ids(limit(3, u64::MAX)).await, ids[..3]);
    assert_eq!(stores.pending_ids(limit(10, 250)).await, ids[..2]);
    assert_eq!(stores.pending_ids(limit(10, 300)).await, ids[..3]);
    assert_eq!(stores.pending_ids(limit(1, u64::MAX)).await, ids[..1]);
    assert_eq!(
        stores.pending_ids(limit(10, 10)).await,
        ids[..1],
        "a file larger than max_bytes is taken alone"
    );
}

#[tokio::test]
async fn mark_processed_marks_files_across_transactions_and_removes_them_from_the_backlog() {
    let stores = Stores::new().await;
    let ids = stores.land(152, 10, |i| i).await;
    let (lease, _) = stores.lease("owner-a", t0()).await;
    let done = &ids[..150];
    let processed_at = t0() + Duration::seconds(30);
    let expires_at = t0() + Duration::days(7);
    stores
        .files
        .mark_processed(&lease, done, "r-1", processed_at, expires_at)
        .await
        .expect("mark 150 files processed");

    assert_eq!(
        stores.pending_ids(NO_LIMIT).await,
        ids[150..],
        "processed files leave the backlog"
    );
    assert_eq!(
        stores
            .aws
            .pending_items(&stores.tracker_table, TABLE_ID)
            .await
            .len(),
        2,
        "and the pending index"
    );
    let items = stores
        .items(&stores.tracker_table, file_attr::FILE_SK)
        .await;
    for item in &items[..150] {
        assert_eq!(string_attr(item, file_attr::STATUS), "processed");
        assert_eq!(string_attr(item, file_attr::REFRESH_ID), "r-1");
        assert_eq!(
            string_attr(item, file_attr::PROCESSED_AT),
            "2024-03-01T10:00:30.000Z"
        );
        assert_eq!(
            number_attr(item, file_attr::EXPIRES_AT),
            Some(expires_at.timestamp())
        );
        assert!(!item.contains_key(file_attr::PENDING_TABLE_ID));
    }
    for item in &items[150..] {
        assert_eq!(string_attr(item, file_attr::STATUS), "landed");
        assert!(!item.contains_key(file_attr::EXPIRES_AT));
    }

    stores
        .files
        .mark_processed(&lease, done, "r-1", processed_at, expires_at)
        .await
        .expect("a repeated call succeeds");
    assert_eq!(
        stores
            .items(&stores.tracker_table, file_attr::FILE_SK)
            .await,
        items,
        "and changes nothing"
    );
}

#[tokio::test]
async fn record_failure_keeps_the_file_pending_with_its_count_and_error() {
    let stores = Stores::new().await;
    let ids = stores.land(2, 10, |i| i).await;
    let (lease, _) = stores.lease("owner-a", t0()).await;
    stores
        .files
        .record_failure(&lease, &failure(&ids[0], FileStatus::Landed, true), t0())
        .await
        .expect("record the failure");

    let pending = stores
        .files
        .pending(TABLE_ID, NO_LIMIT)
        .await
        .expect("read the backlog");
    assert_eq!(pending.len(), 2);
    assert_eq!(pending[0].id, ids[0]);
    assert_eq!(pending[0].failures, 3);
    assert_eq!(
        pending[0].last_error.as_deref(),
        Some("column `id` is missing")
    );
    assert_eq!(pending[0].status, FileStatus::Landed);
    assert_eq!(
        string_attr(&stores.file_item(&ids[0]).await, file_attr::LAST_FAILED_AT),
        "2024-03-01T10:00:00.000Z"
    );

    // Processing the file afterwards clears the failure.
    stores
        .files
        .mark_processed(&lease, &ids[..1], "r-2", t0(), t0() + Duration::days(7))
        .await
        .expect("mark processed");
    let item = stores.file_item(&ids[0]).await;
    assert!(!item.contains_key(file_attr::FAILURES));
    assert!(!item.contains_key(file_attr::LAST_ERROR));
}

#[tokio::test]
async fn a_failure_fingerprint_is_stored_beside_the_error_and_kept_when_recorded_without_one() {
    let stores = Stores::new().await;
    let ids = stores.land(1, 10, |i| i).await;
    let (lease, _) = stores.lease("owner-a", t0()).await;
    let pending = stores.files.pending(TABLE_ID, NO_LIMIT).await;
    assert_eq!(
        pending.expect("read the backlog")[0].last_fingerprint,
        None,
        "a file never failed has none"
    );

    let counted = failure(&ids[0], FileStatus::Landed, true);
    stores
        .files
        .record_failure(&lease, &counted, t0())
        .await
        .expect("record the failure");
    let set_aside = FileFailure {
        fingerprint: None,
        ..failure(&ids[0], FileStatus::Quarantined, true)
    };
    stores
        .files
        .record_failure(&lease, &set_aside, t0())
        .await
        .expect("record it again without a fingerprint");
    let pending = stores.files.pending(TABLE_ID, NO_LIMIT).await;
    assert_eq!(
        pending.expect("read the backlog")[0].last_fingerprint,
        Some(FailureFingerprint::new("merge/missing_column"))
    );
    assert_eq!(
        string_attr(
            &stores.file_item(&ids[0]).await,
            file_attr::LAST_ERROR_FINGERPRINT
        ),
        "merge/missing_column"
    );

    stores
        .files
        .mark_processed(&lease, &ids, "r-2", t0(), t0() + Duration::days(7))
        .await
        .expect("mark processed");
    let item = stores.file_item(&ids[0]).await;
    assert!(!item.contains_key(file_attr::LAST_ERROR_FINGERPRINT));
}

#[tokio::test]
async fn a_quarantined_file_not_kept_pending_leaves_the_backlog_but_stays_quarantined() {
    let stores = Stores::new().await;
    let ids = stores.land(2, 10, |i| i).await;
    let (lease, _) = stores.lease("owner-a", t0()).await;
    stores.quarantine(&lease, &ids[1], true).await;
    let pending = stores
        .files
        .pending(TABLE_ID, NO_LIMIT)
        .await
        .expect("read the backlog");
    assert_eq!(pending[1].status, FileStatus::Quarantined, "still blocking");

    stores.quarantine(&lease, &ids[1], false).await;
    assert_eq!(stores.pending_ids(NO_LIMIT).await, ids[..1]);
    let item = stores.file_item(&ids[1]).await;
    assert_eq!(string_attr(&item, file_attr::STATUS), "quarantined");
    assert!(!item.contains_key(file_attr::PENDING_TABLE_ID));
    assert!(
        !item.contains_key(file_attr::EXPIRES_AT),
        "a quarantined file does not expire"
    );
}

#[tokio::test]
async fn an_attempt_is_recorded_on_the_files_and_every_outcome_clears_it() {
    let stores = Stores::new().await;
    let ids = stores.land(4, 10, |i| i).await;
    let (lease, _) = stores.lease("owner-a", t0()).await;
    stores
        .files
        .start_attempt(&lease, &ids, "r-1", t0())
        .await
        .expect("record the attempt");
    let pending = stores
        .files
        .pending(TABLE_ID, NO_LIMIT)
        .await
        .expect("read the backlog");
    for file in &pending {
        assert_eq!(
            file.attempt,
            Some(FileAttempt {
                refresh_id: "r-1".to_owned(),
                token: lease.token,
                files: 4,
            }),
            "{}",
            file.id
        );
    }

    let later = t0() + Duration::seconds(5);
    stores
        .files
        .mark_processed(&lease, &ids[..1], "r-1", later, later + Duration::days(7))
        .await
        .expect("mark processed");
    stores
        .files
        .record_failure(&lease, &failure(&ids[1], FileStatus::Landed, true), later)
        .await
        .expect("record a failure");
    stores
        .files
        .end_attempt(&lease, &ids[2..3])
        .await
        .expect("end the attempt");
    stores
        .files
        .mark_superseded(
            &lease,
            &superseded(&ids[3]),
            later,
            later + Duration::days(7),
        )
        .await
        .expect("mark superseded");
    for id in &ids {
        let item = stores.file_item(id).await;
        for name in [
            file_attr::ATTEMPT_REFRESH_ID,
            file_attr::ATTEMPT_TOKEN,
            file_attr::ATTEMPT_FILES,
            file_attr::ATTEMPTED_AT,
        ] {
            assert!(!item.contains_key(name), "{id}: {name} is left: {item:?}");
        }
    }
}

#[tokio::test]
async fn a_superseded_file_leaves_the_backlog_with_its_reason_and_a_ttl() {
    let stores = Stores::new().await;
    let ids = stores.land(2, 10, |i| i).await;
    let (lease, _) = stores.lease("owner-a", t0()).await;
    let expires = t0() + Duration::days(30);
    stores
        .files
        .mark_superseded(&lease, &superseded(&ids[0]), t0(), expires)
        .await
        .expect("mark superseded");
    assert_eq!(stores.pending_ids(NO_LIMIT).await, ids[1..]);
    let item = stores.file_item(&ids[0]).await;
    assert_eq!(string_attr(&item, file_attr::STATUS), "superseded");
    assert_eq!(
        string_attr(&item, file_attr::SUPERSEDED_BY),
        "a newer version of the key is tracked"
    );
    assert_eq!(
        number_attr(&item, file_attr::EXPIRES_AT),
        Some(expires.timestamp())
    );
    let listed = stores
        .files
        .tracked_files(TABLE_ID, Some(FileStatus::Superseded))
        .await
        .expect("list superseded files");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].file.id, ids[0]);
    assert!(!listed[0].pending);
    assert_eq!(
        listed[0].superseded_by.as_deref(),
        Some("a newer version of the key is tracked")
    );
}

#[tokio::test]
async fn key_versions_lists_every_version_of_the_asked_keys_and_no_other_key() {
    let stores = Stores::new().await;
    let ids = stores.land(4, 10, |i| i).await;
    let mut rewritten = landed(1, 10);
    rewritten.etag = Some("etag-1-rewritten".to_owned());
    rewritten.sequencer = Some("00AB".to_owned());
    stores
        .files
        .record(&Arrival::Landed(rewritten.clone()))
        .await
        .expect("record the new version");
    let (lease, _) = stores.lease("owner-a", t0()).await;
    stores
        .files
        .mark_processed(&lease, &ids[1..2], "r-1", t0(), t0() + Duration::days(7))
        .await
        .expect("mark processed");

    let order_keys = [
        landed(1, 10).order_key.to_string(),
        landed(3, 10).order_key.to_string(),
    ];
    let asked: Vec<&str> = order_keys.iter().map(String::as_str).collect();
    let mut versions = stores
        .files
        .key_versions(TABLE_ID, &asked)
        .await
        .expect("read the versions");
    versions.sort_by(|a, b| a.id.cmp(&b.id));
    let found: Vec<(&str, FileStatus, Option<&str>)> = versions
        .iter()
        .map(|v| (v.id.as_str(), v.status, v.sequencer.as_deref()))
        .collect();
    let rewritten_id = file_sort_key(&rewritten);
    let mut expected = vec![
        (ids[1].as_str(), FileStatus::Processed, None),
        (rewritten_id.as_str(), FileStatus::Landed, Some("00AB")),
        (ids[3].as_str(), FileStatus::Landed, None),
    ];
    expected.sort_by(|a, b| a.0.cmp(b.0));
    assert_eq!(
        found, expected,
        "file 2 lies between them but is not asked for"
    );
    assert!(versions.iter().all(|v| v.landed_at == t0()));
    assert!(
        stores
            .files
            .key_versions(TABLE_ID, &[])
            .await
            .expect("no keys")
            .is_empty()
    );
}

#[tokio::test]
async fn an_unreadable_pending_item_is_reported_as_corrupt_naming_it() {
    let stores = Stores::new().await;
    let ids = stores.land(1, 10, |i| i).await;
    stores
        .aws
        .dynamodb()
        .update_item()
        .table_name(&stores.tracker_table)
        .key(file_attr::TABLE_ID, string(TABLE_ID))
        .key(file_attr::FILE_SK, string(&ids[0]))
        .update_expression("SET #kind = :kind")
        .expression_attribute_names("#kind", file_attr::KIND)
        .expression_attribute_values(":kind", string("snapshot"))
        .send()
        .await
        .expect("spoil the item");
    match stores.files.pending(TABLE_ID, NO_LIMIT).await {
        Err(StoreError::Corrupt { item, problem, .. }) => {
            assert!(item.contains(&ids[0]), "{item} names the file");
            assert!(problem.contains("kind"), "{problem} names the attribute");
        }
        other => panic!("expected a corrupt item, got {other:?}"),
    }
}

#[tokio::test]
async fn history_lists_refreshes_in_time_order_with_their_counts() {
    let stores = Stores::new().await;
    let (lease, _) = stores.lease("owner-a", t0()).await;
    let second = record("r-2", t0() + Duration::minutes(10), vec!["f-3".to_owned()]);
    let mut first = record(
        "r-1",
        t0() + Duration::milliseconds(123),
        vec!["f-1".to_owned(), "f-2".to_owned()],
    );
    first.snapshot_version = None;
    let mut busy = record("r-3", t0() + Duration::minutes(20), Vec::new());
    busy.outcome = RefreshOutcomeKind::Busy;
    busy.error = Some("owner-b holds the lease".to_owned());
    busy.totals = RefreshTotals::default();

    for (lease, record) in [
        (Some(&lease), &second),
        (None, &busy),
        (Some(&lease), &first),
    ] {
        stores
            .leases
            .record_refresh(lease, record)
            .await
            .expect("record a refresh");
    }
    let history = stores.leases.history(TABLE_ID).await.expect("read history");
    assert_eq!(history, vec![first, second, busy]);
}

#[tokio::test]
async fn history_keeps_at_most_1000_file_ids_and_flags_the_cut() {
    let stores = Stores::new().await;
    let (lease, _) = stores.lease("owner-a", t0()).await;
    let files: Vec<String> = (0..1_200).map(|i| format!("file-{i:04}")).collect();
    let big = record("r-big", t0(), files.clone());
    stores
        .leases
        .record_refresh(Some(&lease), &big)
        .await
        .expect("record a refresh");

    let history = stores.leases.history(TABLE_ID).await.expect("read history");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].files, files[..MAX_HISTORY_FILES]);
    assert_eq!(history[0].totals.files, 1_200);
    let items = stores.items(&stores.lease_table, lease_attr::RECORD).await;
    let item = items
        .iter()
        .find(|item| string_attr(item, lease_attr::RECORD) != TABLE_RECORD)
        .expect("the history item");
    assert_eq!(
        item.get(lease_attr::FILES_TRUNCATED)
            .and_then(|v| v.as_bool().ok()),
        Some(&true)
    );
    assert_eq!(number_attr(item, lease_attr::FILE_COUNT), Some(1_200));

    let small = record("r-small", t0() + Duration::minutes(1), files[..2].to_vec());
    stores
        .leases
        .record_refresh(Some(&lease), &small)
        .await
        .expect("record a refresh");
    let items = stores.items(&stores.lease_table, lease_attr::RECORD).await;
    let small_item = items
        .iter()
        .find(|item| string_attr(item, lease_attr::REFRESH_ID) == "r-small")
        .expect("the small history item");
    assert!(!small_item.contains_key(lease_attr::FILES_TRUNCATED));
}

#[tokio::test]
async fn a_registered_table_reads_back_and_an_unknown_one_is_none() {
    let aws = LocalAws::connect().await;
    let name = unique_name("registry");
    DynamoDbTableRegistry::create_table(&aws.dynamodb(), &name)
        .await
        .expect("create the registry table");
    let registry = DynamoDbTableRegistry::new(aws.dynamodb(), &name);
    let table = RegisteredTable {
        table_id: TABLE_ID.to_owned(),
        refresh_cadence: "10min".to_owned(),
        active: false,
        spec_json: r#"{"mode":"current","keys":["id"]}"#.to_owned(),
    };
    registry.put_table(&table).await.expect("register");
    assert_eq!(
        registry.table(TABLE_ID).await.expect("read"),
        Some(table.clone())
    );

    let updated = RegisteredTable {
        active: true,
        ..table
    };
    registry.put_table(&updated).await.expect("re-register");
    assert_eq!(registry.table(TABLE_ID).await.expect("read"), Some(updated));
    assert_eq!(registry.table("sales.unknown").await.expect("read"), None);
}

#[tokio::test]
async fn a_backlog_summary_counts_pending_files_bytes_quarantined_and_the_oldest_landing() {
    let stores = Stores::new().await;
    assert_eq!(
        stores.files.backlog_summary(TABLE_ID).await,
        Ok(BacklogSummary::default()),
        "an empty backlog"
    );
    // 1,200 files: more than one page of the pending index.
    let ids = stores.land(1200, 10, |i| i).await;
    let (lease, _) = stores.lease("owner-a", t0()).await;
    stores.quarantine(&lease, &ids[7], true).await;
    stores
        .files
        .mark_processed(&lease, &ids[..2], "r-1", t0(), t0() + Duration::days(1))
        .await
        .expect("mark two processed");

    assert_eq!(
        stores.files.backlog_summary(TABLE_ID).await,
        Ok(BacklogSummary {
            files: 1198,
            bytes: 11_980,
            quarantined: 1,
            oldest_landed_at: Some(t0()),
        })
    );
}

#[tokio::test]
async fn last_outcomes_are_read_in_bulk_and_tables_never_refreshed_are_absent() {
    let stores = Stores::new().await;
    // 230 tables: three BatchGetItem requests of at most 100 keys.
    let tables: Vec<String> = (0..230).map(|i| format!("sales.t{i:03}")).collect();
    let mut expected = std::collections::HashMap::new();
    for (i, table_id) in tables.iter().enumerate().filter(|(i, _)| i % 3 != 0) {
        let outcome = if i % 2 == 0 {
            RefreshOutcomeKind::Failed
        } else {
            RefreshOutcomeKind::Completed
        };
        let grant = stores
            .leases
            .acquire(table_id, "owner-a", t0(), t0() + Duration::minutes(1))
            .await
            .expect("acquire");
        let LeaseGrant::Acquired { lease, .. } = grant else {
            panic!("{table_id} busy");
        };
        let mut last = record("r-1", t0(), Vec::new());
        last.table_id = table_id.clone();
        last.outcome = outcome;
        stores.leases.release(&lease, &last).await.expect("release");
        expected.insert(table_id.clone(), outcome);
    }

    assert_eq!(stores.leases.last_outcomes(&tables).await, Ok(expected));
}

#[tokio::test]
async fn a_cadence_reads_back_with_its_tables_from_the_cadence_index() {
    let aws = LocalAws::connect().await;
    let name = unique_name("registry");
    DynamoDbTableRegistry::create_table(&aws.dynamodb(), &name)
        .await
        .expect("create the registry table");
    let registry = DynamoDbTableRegistry::new(aws.dynamodb(), &name);
    assert_eq!(registry.cadence("10min").await, Ok(None));
    let settings = CadenceSettings {
        name: "10min".to_owned(),
        schedule: Some("rate(10 minutes)".to_owned()),
        batch_size: 5,
        max_concurrency: 8,
        table_order: TableOrder::TableId,
        skip_idle: false,
    };
    registry.put_cadence(&settings).await.expect("put cadence");
    assert_eq!(registry.cadence("10min").await, Ok(Some(settings)));

    for (table_id, cadence, active) in [
        ("sales.b", "10min", true),
        ("sales.a", "10min", false),
        ("sales.c", "hourly", true),
    ] {
        register_table(&registry, table_id, cadence, active).await;
    }
    let table = |id: &str, active| CadenceTable {
        table_id: id.to_owned(),
        active,
    };
    assert_eq!(
        registry.cadence_tables("10min").await,
        Ok(vec![table("sales.a", false), table("sales.b", true)]),
        "the cadence's tables in id order, the cadence item itself not among them"
    );
    assert_eq!(registry.cadence_tables("daily").await, Ok(vec![]));
}
