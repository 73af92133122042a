//! The processor against the local AWS emulator: leases, refreshes, the Glue catalog, bad files,
//! deadlines and garbage collection (docs/DESIGN.md §11).
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a failed step stops the test

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{Duration, Utc};
use futures::TryStreamExt;
use futures::future::BoxFuture;
use object_store::ObjectStore;
use object_store::path::Path;
use serde_json::{Value, json};
use tributary_shared::adapters::dynamodb_file_tracker::DynamoDbFileTracker;
use tributary_shared::adapters::dynamodb_processing_tracker::DynamoDbProcessingTracker;
use tributary_shared::adapters::dynamodb_table_registry::DynamoDbTableRegistry;
use tributary_shared::adapters::glue_catalog::GlueCatalog;
use tributary_shared::bootstrap::config::vars;
use tributary_shared::bootstrap::metrics::emf_documents;
use tributary_shared::contract::{BatchSummary, TableSummary};
use tributary_shared::lake::refresh::LakeStores;
use tributary_shared::ports::catalog::{PARQUET_INPUT_FORMAT, PARQUET_SERDE};
use tributary_shared::ports::clock::Clock;
use tributary_shared::ports::file_tracker::{BacklogFile, FileBacklog, FileStatus};
use tributary_shared::ports::processing_tracker::{
    LeaseGrant, ProcessingTracker, RefreshOutcomeKind,
};
use tributary_shared::services::processor::{InvocationError, Processor};
use tributary_tests::hooked_ports::{Hooked, PortHooks};
use tributary_tests::hooked_store::{Call, HookedStore, Operation, StoreHooks};
use tributary_tests::pipeline::Pipeline;
use tributary_tests::string_attr;

const ORDERS: &str = "sales.orders";

fn orders_spec(table: &str, on_bad_file: &str) -> Value {
    json!({
        "source": {"schema": "sales", "table": table},
        "target": {"database": "replaced", "table": table, "location": format!("sales/{table}")},
        "primary_key": ["id"],
        "ordering": {"commit_timestamp_column": "ts"},
        "partition_by": ["identity(region)"],
        "on_bad_file": on_bad_file,
        "input": {"columns": [
            {"name": "id", "type": "bigint"},
            {"name": "region", "type": "string"},
            {"name": "amount", "type": "decimal(10,2)"},
            {"name": "ts", "type": "timestamp"}
        ]}
    })
}

/// `id|region|amount` of each lake row, sorted.
fn id_region_amount(rows: &[String]) -> Vec<String> {
    let mut out: Vec<String> = rows
        .iter()
        .map(|row| {
            let field = |name: &str| {
                row.split(',')
                    .find_map(|cell| cell.strip_prefix(&format!("{name}=")))
                    .unwrap_or("?")
                    .to_owned()
            };
            format!("{}|{}|{}", field("id"), field("region"), field("amount"))
        })
        .collect();
    out.sort();
    out
}

fn table<'a>(summary: &'a BatchSummary, id: &str) -> &'a TableSummary {
    summary
        .tables
        .iter()
        .find(|t| t.table == id)
        .expect("the table is in the summary")
}

const FULL_LOAD: &str = "1,eu,10.00,2024-01-01 00:00:01\n\
                         2,eu,20.00,2024-01-01 00:00:01\n\
                         3,us,30.00,2024-01-01 00:00:01\n";

async fn loaded_pipeline() -> Pipeline {
    let pipeline = Pipeline::new(&[]).await;
    pipeline
        .register(&orders_spec("orders", "stop"), true)
        .await;
    pipeline.stage(ORDERS, "LOAD00000001.csv", FULL_LOAD).await;
    pipeline
}

/// The loaded table with its full load applied and the CDC file `20240102-000000000.csv` of
/// `changes` staged.
async fn applied_with_changes_staged(changes: &str) -> Pipeline {
    let pipeline = loaded_pipeline().await;
    pipeline.run(&[ORDERS]).await;
    pipeline
        .stage(ORDERS, "20240102-000000000.csv", changes)
        .await;
    pipeline
}

#[tokio::test]
async fn first_full_load_publishes_the_table_its_partitions_and_records_everything() {
    let pipeline = loaded_pipeline().await;
    pipeline
        .stage(
            ORDERS,
            "LOAD00000002.csv",
            "4,apac,40.00,2024-01-01 00:00:01\n",
        )
        .await;
    let summary = pipeline.run(&[ORDERS]).await;
    let orders = table(&summary, ORDERS);
    assert_eq!(orders.outcome, RefreshOutcomeKind::Completed, "{orders:?}");
    assert_eq!((orders.totals.files, orders.totals.inserted), (2, 4));
    assert_eq!(summary.failed, 0);
    assert_eq!(
        id_region_amount(&pipeline.lake_rows("orders").await),
        ["1|eu|10.00", "2|eu|20.00", "3|us|30.00", "4|apac|40.00"]
    );
    let glue = pipeline.glue_table("orders").await.expect("the Glue table");
    assert_eq!(glue.serde, PARQUET_SERDE);
    assert_eq!(glue.input_format, PARQUET_INPUT_FORMAT);
    assert_eq!(
        glue.partition_keys
            .iter()
            .map(|c| format!("{} {}", c.name, c.hive_type))
            .collect::<Vec<_>>(),
        ["region string"]
    );
    assert_eq!(
        glue.columns
            .iter()
            .map(|c| format!("{} {}", c.name, c.hive_type))
            .collect::<Vec<_>>(),
        [
            "id bigint",
            "amount decimal(10,2)",
            "ts timestamp",
            "cdc_order string"
        ]
    );
    assert_eq!(
        glue.parameters.get("classification").map(String::as_str),
        Some("parquet")
    );

    let items = pipeline.tracker_items().await;
    assert_eq!(items.len(), 2);
    for item in &items {
        assert_eq!(string_attr(item, "status"), FileStatus::Processed.as_str());
        assert!(item.contains_key("expires_at"), "processed files get a TTL");
    }
    assert!(pipeline.pending_items(ORDERS).await.is_empty());
    let history = pipeline.history(ORDERS).await;
    let completed: Vec<_> = history
        .iter()
        .filter(|r| r.outcome == RefreshOutcomeKind::Completed)
        .collect();
    assert_eq!(completed.len(), 1);
    assert_eq!(completed[0].files.len(), 2);
    assert_eq!(completed[0].totals.inserted, 4);
    let state = pipeline.table_state(ORDERS).await.expect("a state item");
    assert_eq!(state.lease_owner, None, "the lease is released");
}

#[tokio::test]
async fn incremental_refresh_applies_updates_deletes_and_partition_moves() {
    let pipeline = applied_with_changes_staged(
        "U,1,us,11.00,2024-01-02 00:00:01\n\
         D,2,NULL,NULL,2024-01-02 00:00:02\n\
         I,5,eu,50.00,2024-01-02 00:00:03\n",
    )
    .await;
    let summary = pipeline.run(&[ORDERS]).await;
    let orders = table(&summary, ORDERS);
    assert_eq!(
        (
            orders.totals.inserted,
            orders.totals.updated,
            orders.totals.deleted
        ),
        (1, 1, 1),
        "{orders:?}"
    );
    assert_eq!(
        id_region_amount(&pipeline.lake_rows("orders").await),
        ["1|us|11.00", "3|us|30.00", "5|eu|50.00"]
    );
    // Nothing pending: a third run finds no files.
    let idle = pipeline.run(&[ORDERS]).await;
    assert_eq!(table(&idle, ORDERS).outcome, RefreshOutcomeKind::NoFiles);
}

// Two processors on one table. Each interleaving is driven explicitly: a scripted port runs a
// step of the test (typically the other processor's whole run) at a chosen point of the first
// processor's calls, so no outcome depends on timing or on the emulator serialising concurrent
// conditional writes (moto does not: docs/DESIGN.md §11).

#[tokio::test]
async fn two_processors_racing_on_one_table_one_refreshes_the_other_reports_busy() {
    let pipeline = Arc::new(loaded_pipeline().await);
    // The second processor runs while the first holds the lease.
    let script = Script::new();
    let second = Arc::clone(&pipeline);
    let (second_summary, second_done) = tokio::sync::oneshot::channel();
    script.at(Point::AfterAcquire, async move {
        let summary = second.run(&[ORDERS]).await;
        second_summary.send(summary).expect("send the summary");
    });
    let first = pipeline
        .run_with(&scripted(&pipeline, &script), &[ORDERS])
        .await;
    let second = second_done.await.expect("the second processor ran");
    assert_eq!(table(&first, ORDERS).outcome, RefreshOutcomeKind::Completed);
    assert_eq!(table(&second, ORDERS).outcome, RefreshOutcomeKind::Busy);
    assert_eq!((first.failed, second.failed), (0, 0));
    assert_eq!(
        id_region_amount(&pipeline.lake_rows("orders").await),
        ["1|eu|10.00", "2|eu|20.00", "3|us|30.00"]
    );
    let history = pipeline.history(ORDERS).await;
    assert!(
        history
            .iter()
            .any(|r| r.outcome == RefreshOutcomeKind::Busy)
    );
    // Once the first released the table, the second finds nothing left to do.
    let after = pipeline.run(&[ORDERS]).await;
    assert_eq!(table(&after, ORDERS).outcome, RefreshOutcomeKind::NoFiles);
}

#[tokio::test]
async fn a_processor_that_finds_its_files_already_applied_reconciles_them_and_fails_nothing() {
    let pipeline = loaded_pipeline().await;
    // The second processor's backlog read lags behind the first's marking (the pending index
    // is eventually consistent): it sees the files the first one just applied.
    let (_, _, backlog, _) = pipeline.ports();
    let stale = backlog
        .pending(ORDERS, pipeline.config.settings.backlog_limit)
        .await
        .expect("read the backlog");
    assert_eq!(stale.len(), 1);
    let first = pipeline.run(&[ORDERS]).await;
    assert_eq!(table(&first, ORDERS).outcome, RefreshOutcomeKind::Completed);
    let script = Script::new();
    script.replace_pending(stale);
    let second = pipeline
        .run_with(&scripted(&pipeline, &script), &[ORDERS])
        .await;
    let orders = table(&second, ORDERS);
    assert!(
        matches!(
            orders.outcome,
            RefreshOutcomeKind::Completed | RefreshOutcomeKind::NoFiles
        ),
        "{orders:?}"
    );
    assert_eq!((orders.totals.files, orders.totals.inserted), (0, 0));
    assert_eq!(second.failed, 0);
    assert_eq!(pipeline.lake_rows("orders").await.len(), 3);
    assert_no_file_failures(&pipeline).await;
}

#[tokio::test]
async fn a_processor_fenced_out_at_its_commit_point_reports_busy_and_counts_no_failure() {
    // Right before the first processor commits, its lease expires and a second one takes the
    // table over and refreshes it.
    let (pipeline, _) = lose_the_table_at(Point::BeforeConfirm).await;
    assert_only_the_new_holder_committed(&pipeline).await;
    assert_no_file_failures(&pipeline).await;
}

#[tokio::test]
async fn a_processor_fenced_out_after_committing_reports_busy_and_the_new_holder_reconciles() {
    // The first processor commits and publishes; before it marks its files, its lease expires
    // and a second one takes over, finds the files in the lake snapshot and records them.
    let (pipeline, _) = lose_the_table_at(Point::BeforeMarkProcessed).await;
    assert_eq!(
        id_region_amount(&pipeline.lake_rows("orders").await),
        ["1|eu|10.00", "2|eu|20.00", "3|us|30.00"],
        "applied once"
    );
    assert!(pipeline.pending_items(ORDERS).await.is_empty());
    assert_no_file_failures(&pipeline).await;
}

#[tokio::test]
async fn a_stale_holder_commits_nothing_after_its_lease_is_taken_over() {
    // The stale processor reads its pending files; then (it stalls) its lease expires, another
    // processor takes the table over and refreshes it; then the stale one goes on with its old
    // token.
    let (pipeline, summary) = lose_the_table_at(Point::AfterPending).await;
    let error = table(&summary, ORDERS).error.clone().unwrap_or_default();
    assert!(error.contains("no longer held"), "{error}");
    assert_only_the_new_holder_committed(&pipeline).await;
    let state = pipeline.table_state(ORDERS).await.expect("a state item");
    assert_eq!(state.fencing_token, 2);
    assert_eq!(
        state.lease_owner, None,
        "the stale holder did not release the new lease"
    );
    let history = pipeline.history(ORDERS).await;
    assert!(
        history.iter().all(|r| r.owner != "request-1"),
        "the stale holder could not write history: {history:?}"
    );
}

/// Runs a processor on the loaded table that loses it at `point`, where its lease expires and
/// another processor takes the table over ([`take_over`]); checks that it reports losing the
/// table ([`assert_lost_the_table`]) and returns its summary.
async fn lose_the_table_at(point: Point) -> (Arc<Pipeline>, BatchSummary) {
    let pipeline = Arc::new(loaded_pipeline().await);
    let script = Script::new();
    script.at(point, take_over(&pipeline));
    let stale = pipeline
        .run_with(&scripted(&pipeline, &script), &[ORDERS])
        .await;
    assert_lost_the_table(&stale);
    (pipeline, stale)
}

/// Only the processor that took the table over committed: one snapshot, the full load's rows.
async fn assert_only_the_new_holder_committed(pipeline: &Pipeline) {
    let snapshots: Vec<_> = pipeline
        .lake_store()
        .list(Some(&Path::from("sales/orders/_tributary/snapshots")))
        .try_collect()
        .await
        .expect("list snapshots");
    assert_eq!(snapshots.len(), 1, "only the new holder committed");
    assert_eq!(
        id_region_amount(&pipeline.lake_rows("orders").await),
        ["1|eu|10.00", "2|eu|20.00", "3|us|30.00"]
    );
}

/// A step that lets the running processor's lease expire and refreshes the table with another
/// processor, which must complete.
fn take_over(pipeline: &Arc<Pipeline>) -> impl std::future::Future<Output = ()> + Send + 'static {
    let pipeline = Arc::clone(pipeline);
    async move {
        pipeline.clock.advance(Duration::minutes(20));
        let summary = pipeline.run(&[ORDERS]).await;
        assert_eq!(
            table(&summary, ORDERS).outcome,
            RefreshOutcomeKind::Completed,
            "{summary:?}"
        );
    }
}

/// The summary of a processor that lost its table to another: `busy`, no failure, no alarm.
fn assert_lost_the_table(summary: &BatchSummary) {
    let orders = table(summary, ORDERS);
    assert_eq!(orders.outcome, RefreshOutcomeKind::Busy, "{orders:?}");
    assert_eq!(summary.failed, 0);
    let error = orders.error.as_deref().unwrap_or_default();
    assert!(error.contains("lost the table"), "{error}");
    for document in emf_documents(summary, Utc::now()) {
        assert_eq!(
            document["RefreshFailures"].as_f64(),
            Some(0.0),
            "{document}"
        );
    }
}

/// No tracker item of the pipeline carries a failure count.
async fn assert_no_file_failures(pipeline: &Pipeline) {
    let items = pipeline.tracker_items().await;
    for item in &items {
        assert!(!item.contains_key("failures"), "{item:?}");
        assert_eq!(string_attr(item, "status"), "processed", "{item:?}");
    }
}

/// Where a scripted port runs a test's step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Point {
    /// Right after the lease was acquired.
    AfterAcquire,
    /// Right after the backlog was read.
    AfterPending,
    /// Right before the lease is confirmed for the commit.
    BeforeConfirm,
    /// Right before files are marked processed.
    BeforeMarkProcessed,
}

/// Steps a test runs at points of a processor's port calls, each at most once.
#[derive(Default)]
struct Script {
    steps: std::sync::Mutex<HashMap<Point, BoxFuture<'static, ()>>>,
    pending: std::sync::Mutex<Option<Vec<BacklogFile>>>,
}

impl Script {
    fn new() -> Arc<Script> {
        Arc::new(Script::default())
    }

    /// Runs `step` the first time a call reaches `point`.
    fn at(&self, point: Point, step: impl std::future::Future<Output = ()> + Send + 'static) {
        self.steps
            .lock()
            .expect("script lock")
            .insert(point, Box::pin(step));
    }

    /// The next backlog read returns `files` instead of what the tracker holds.
    fn replace_pending(&self, files: Vec<BacklogFile>) {
        *self.pending.lock().expect("script lock") = Some(files);
    }

    /// Runs the step at `point`, if the script has one there, then answers `value`.
    fn reach<T: Send + 'static>(
        &self,
        point: Option<Point>,
        value: T,
    ) -> BoxFuture<'_, Result<T, String>> {
        let step = point.and_then(|point| self.steps.lock().expect("script lock").remove(&point));
        Box::pin(async move {
            if let Some(step) = step {
                step.await;
            }
            Ok(value)
        })
    }
}

/// The points a script's steps run at, by port method.
impl PortHooks for Script {
    fn before(&self, operation: &'static str) -> BoxFuture<'_, Result<u32, String>> {
        let point = match operation {
            "confirm" => Some(Point::BeforeConfirm),
            "mark_processed" => Some(Point::BeforeMarkProcessed),
            _ => None,
        };
        self.reach(point, 0)
    }

    fn after(&self, operation: &'static str, _: u32) -> BoxFuture<'_, Result<(), String>> {
        let point = match operation {
            "acquire" => Some(Point::AfterAcquire),
            "pending" => Some(Point::AfterPending),
            _ => None,
        };
        self.reach(point, ())
    }

    fn replaced_pending(&self) -> Option<Vec<BacklogFile>> {
        self.pending.lock().expect("script lock").take()
    }
}

/// The pipeline's processor with its tracker and backlog following `script`.
fn scripted(
    pipeline: &Pipeline,
    script: &Arc<Script>,
) -> Processor<
    DynamoDbTableRegistry,
    Hooked<DynamoDbProcessingTracker, Script>,
    Hooked<DynamoDbFileTracker, Script>,
    GlueCatalog,
> {
    let (registry, tracker, backlog, catalog) = pipeline.ports();
    Processor::new(
        pipeline.config.settings.clone(),
        pipeline.stores(),
        (
            registry,
            Hooked::new(tracker, Arc::clone(script)),
            Hooked::new(backlog, Arc::clone(script)),
            catalog,
        ),
        pipeline.clock.clone(),
    )
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_and_a_live_one_is_not() {
    let pipeline = loaded_pipeline().await;
    let now = pipeline.clock.now();
    let grant = pipeline
        .processing()
        .acquire(
            ORDERS,
            "crashed-invocation",
            now,
            now + Duration::minutes(5),
        )
        .await
        .expect("acquire");
    assert!(matches!(grant, LeaseGrant::Acquired { .. }));
    let busy = pipeline.run(&[ORDERS]).await;
    assert_eq!(table(&busy, ORDERS).outcome, RefreshOutcomeKind::Busy);
    assert!(pipeline.lake_rows("orders").await.is_empty());

    pipeline.clock.advance(Duration::minutes(6));
    let taken = pipeline.run(&[ORDERS]).await;
    assert_eq!(table(&taken, ORDERS).outcome, RefreshOutcomeKind::Completed);
    assert_eq!(pipeline.lake_rows("orders").await.len(), 3);
    let state = pipeline.table_state(ORDERS).await.expect("a state item");
    assert_eq!(state.fencing_token, 2, "the takeover got a new token");
}

#[tokio::test]
async fn a_bad_file_fails_its_table_only_keeps_earlier_files_and_is_quarantined_after_three_failures()
 {
    let pipeline = Pipeline::new(&[]).await;
    pipeline
        .register(&orders_spec("orders", "stop"), true)
        .await;
    pipeline.register(&orders_spec("items", "stop"), true).await;
    pipeline.stage(ORDERS, "LOAD00000001.csv", FULL_LOAD).await;
    pipeline
        .stage(
            ORDERS,
            "20240102-000000000.csv",
            "I,7,eu,70.00,2024-01-02 00:00:01\n",
        )
        .await;
    pipeline
        .stage(
            ORDERS,
            "20240103-000000000.csv",
            "I,8,eu,not-a-number,2024-01-03 00:00:01\n",
        )
        .await;
    pipeline
        .stage(
            ORDERS,
            "20240104-000000000.csv",
            "I,9,eu,90.00,2024-01-04 00:00:01\n",
        )
        .await;
    pipeline
        .stage("sales.items", "LOAD00000001.csv", FULL_LOAD)
        .await;

    let first = pipeline.run(&[ORDERS, "sales.items"]).await;
    let orders = table(&first, ORDERS);
    assert_eq!(orders.outcome, RefreshOutcomeKind::Failed);
    let error = orders.error.as_deref().unwrap_or_default();
    assert!(error.contains("20240103-000000000.csv"), "{error}");
    assert!(
        error.contains("amount"),
        "the error names the column: {error}"
    );
    assert_eq!(first.failed, 1);
    assert_eq!(
        table(&first, "sales.items").outcome,
        RefreshOutcomeKind::Completed
    );
    assert_eq!(pipeline.lake_rows("items").await.len(), 3);
    // The files before the bad one are applied; the bad one and later ones are not.
    assert_eq!(
        id_region_amount(&pipeline.lake_rows("orders").await),
        ["1|eu|10.00", "2|eu|20.00", "3|us|30.00", "7|eu|70.00"]
    );

    pipeline.run(&[ORDERS]).await;
    let third = pipeline.run(&[ORDERS]).await;
    assert_eq!(table(&third, ORDERS).quarantined.len(), 1);
    let blocked = pipeline.run(&[ORDERS]).await;
    let error = table(&blocked, ORDERS).error.clone().unwrap_or_default();
    assert!(error.contains("blocked by quarantined file"), "{error}");
    let items = pipeline.tracker_items().await;
    let bad = items
        .iter()
        .find(|i| string_attr(i, "key").ends_with("20240103-000000000.csv"))
        .expect("the bad file's item");
    assert_eq!(string_attr(bad, "status"), "quarantined");
    assert!(string_attr(bad, "last_error").contains("amount"));
    assert_eq!(
        pipeline.lake_rows("orders").await.len(),
        4,
        "id 9 waits behind the bad file"
    );
}

#[tokio::test]
async fn with_on_bad_file_skip_later_files_are_applied_after_the_quarantine() {
    let pipeline = Pipeline::new(&[(vars::QUARANTINE_AFTER, "1")]).await;
    pipeline
        .register(&orders_spec("orders", "skip"), true)
        .await;
    pipeline.stage(ORDERS, "LOAD00000001.csv", FULL_LOAD).await;
    pipeline
        .stage(
            ORDERS,
            "20240103-000000000.csv",
            "X,8,eu,80.00,2024-01-03 00:00:01\n",
        )
        .await;
    pipeline
        .stage(
            ORDERS,
            "20240104-000000000.csv",
            "I,9,eu,90.00,2024-01-04 00:00:01\n",
        )
        .await;
    let summary = pipeline.run(&[ORDERS]).await;
    let orders = table(&summary, ORDERS);
    assert_eq!(orders.outcome, RefreshOutcomeKind::Completed, "{orders:?}");
    assert_eq!(orders.quarantined.len(), 1);
    assert_eq!(
        id_region_amount(&pipeline.lake_rows("orders").await),
        ["1|eu|10.00", "2|eu|20.00", "3|us|30.00", "9|eu|90.00"]
    );
    assert!(
        pipeline.pending_items(ORDERS).await.is_empty(),
        "a skipped quarantined file leaves the pending index"
    );
}

#[tokio::test]
async fn unknown_and_inactive_tables_are_reported_and_do_not_stop_the_batch() {
    let pipeline = loaded_pipeline().await;
    pipeline
        .register(&orders_spec("paused", "stop"), false)
        .await;
    let summary = pipeline
        .run(&["sales.nosuch", "sales.paused", ORDERS])
        .await;
    let unknown = table(&summary, "sales.nosuch");
    assert_eq!(unknown.outcome, RefreshOutcomeKind::Failed);
    assert!(
        unknown
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("not registered")
    );
    assert_eq!(
        table(&summary, "sales.paused").outcome,
        RefreshOutcomeKind::Inactive
    );
    assert_eq!(
        table(&summary, ORDERS).outcome,
        RefreshOutcomeKind::Completed
    );
}

#[tokio::test]
async fn a_batch_that_is_not_a_batch_fails_the_invocation() {
    let pipeline = Pipeline::new(&[]).await;
    let result = pipeline
        .processor()
        .handle(&json!({"tables": "sales.orders"}), &pipeline.invocation())
        .await;
    assert!(
        matches!(&result, Err(InvocationError::BadInput(reason)) if reason.contains("invalid type")),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_big_backlog_is_applied_in_bounded_chunks_in_order() {
    let pipeline = Pipeline::new(&[(vars::MAX_FILES_PER_REFRESH, "2")]).await;
    pipeline
        .register(&orders_spec("orders", "stop"), true)
        .await;
    pipeline.stage(ORDERS, "LOAD00000001.csv", FULL_LOAD).await;
    for (n, amount) in [(2, "11.00"), (3, "12.00"), (4, "13.00"), (5, "14.00")] {
        pipeline
            .stage(
                ORDERS,
                &format!("2024010{n}-000000000.csv"),
                format!("U,1,eu,{amount},2024-01-0{n} 00:00:01\n"),
            )
            .await;
    }
    let summary = pipeline.run(&[ORDERS]).await;
    let orders = table(&summary, ORDERS);
    assert_eq!(orders.refreshes, 3, "5 files, 2 per refresh: {orders:?}");
    assert_eq!(orders.totals.files, 5);
    assert!(!orders.more_pending);
    assert_eq!(
        id_region_amount(&pipeline.lake_rows("orders").await),
        ["1|eu|14.00", "2|eu|20.00", "3|us|30.00"]
    );
    // The row values alone cannot show the order (the latest commit time wins whatever the
    // order the files are applied in): each chunk's history record names its files.
    let history = pipeline.history(ORDERS).await;
    let chunks: Vec<(RefreshOutcomeKind, Vec<&str>)> = history
        .iter()
        .map(|r| {
            (
                r.outcome,
                r.files.iter().map(|id| staged_name(id)).collect(),
            )
        })
        .collect();
    assert_eq!(
        chunks,
        [
            (
                RefreshOutcomeKind::Completed,
                vec!["LOAD00000001.csv", "20240102-000000000.csv"]
            ),
            (
                RefreshOutcomeKind::Completed,
                vec!["20240103-000000000.csv", "20240104-000000000.csv"]
            ),
            (
                RefreshOutcomeKind::Completed,
                vec!["20240105-000000000.csv"]
            ),
        ],
        "{history:?}"
    );
}

/// The staged file name a tracker id (`<order key>#<object version>`, the order key ending
/// with the file's path under its table folder) names.
fn staged_name(file_id: &str) -> &str {
    let order_key = file_id.split('#').next().unwrap_or(file_id);
    order_key.rsplit(['|', '/']).next().unwrap_or(order_key)
}

#[tokio::test]
async fn tables_are_deferred_when_the_deadline_is_too_close() {
    let pipeline = loaded_pipeline().await;
    let mut invocation = pipeline.invocation();
    invocation.deadline = pipeline.clock.now() + Duration::seconds(30);
    let summary = pipeline
        .processor()
        .handle(
            &json!({"refresh_cadence": "10min", "tables": [ORDERS]}),
            &invocation,
        )
        .await
        .expect("the invocation runs");
    assert_eq!(
        table(&summary, ORDERS).outcome,
        RefreshOutcomeKind::Deferred
    );
    assert!(pipeline.lake_rows("orders").await.is_empty());
    let state = pipeline.table_state(ORDERS).await;
    assert!(
        state.and_then(|s| s.lease_owner).is_none(),
        "a deferred table was never leased"
    );
}

#[tokio::test]
async fn glue_definitions_follow_schema_evolution() {
    let pipeline = Pipeline::new(&[]).await;
    let spec = json!({
        "source": {"schema": "sales", "table": "events"},
        "target": {"database": "replaced", "table": "events", "location": "sales/events"},
        "primary_key": ["id"],
        "ordering": {"commit_timestamp_column": "ts"},
        "partition_by": ["day(ts)"],
        "date_partition_style": "dt"
    });
    pipeline.register(&spec, true).await;
    let load = tributary_tests::parquet_file(&[
        ("id", "int", &["1", "2"]),
        (
            "ts",
            "timestamp",
            &["2024-01-01T00:00:01", "2024-01-02T00:00:01"],
        ),
    ]);
    pipeline
        .stage("sales.events", "LOAD00000001.parquet", load)
        .await;
    pipeline.run(&["sales.events"]).await;
    let before = pipeline.glue_table("events").await.expect("table");
    assert_eq!(
        before
            .columns
            .iter()
            .map(|c| format!("{} {}", c.name, c.hive_type))
            .collect::<Vec<_>>(),
        ["id int", "ts timestamp", "cdc_order string"]
    );
    assert_eq!(before.partition_keys[0].name, "dt");

    let cdc = tributary_tests::parquet_file(&[
        ("Op", "string", &["I"]),
        ("id", "bigint", &["3"]),
        ("ts", "timestamp", &["2024-01-02T00:00:02"]),
        ("note", "string", &["new column"]),
    ]);
    pipeline
        .stage("sales.events", "20240102-000000000.parquet", cdc)
        .await;
    let summary = pipeline.run(&["sales.events"]).await;
    assert_eq!(
        table(&summary, "sales.events").outcome,
        RefreshOutcomeKind::Completed,
        "{summary:?}"
    );
    let after = pipeline.glue_table("events").await.expect("table");
    assert_eq!(
        after
            .columns
            .iter()
            .map(|c| format!("{} {}", c.name, c.hive_type))
            .collect::<Vec<_>>(),
        [
            "id bigint",
            "ts timestamp",
            "note string",
            "cdc_order string"
        ]
    );
    let partitions = pipeline.catalog_partitions("events").await;
    assert_eq!(
        partitions
            .iter()
            .map(|p| p.values.join("/"))
            .collect::<Vec<_>>(),
        ["2024-01-01", "2024-01-02"]
    );
    for partition in &partitions {
        assert!(partition.location.ends_with('/'));
        assert!(
            partition
                .location
                .contains(&format!("/sales/events/data/dt={}/v", partition.values[0]))
        );
    }
    let rows = pipeline.lake_rows("events").await;
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().any(|r| r.contains("note=new column")));
    assert!(rows.iter().filter(|r| r.contains("note=NULL")).count() == 2);
}

#[tokio::test]
async fn replaced_partition_versions_are_collected_after_the_grace_period_never_while_referenced() {
    let pipeline = loaded_pipeline().await;
    pipeline.run(&[ORDERS]).await;
    let lake = pipeline.lake_store();
    let first_folders = folders(&*lake).await;
    pipeline
        .stage(
            ORDERS,
            "20240102-000000000.csv",
            "U,1,eu,11.00,2024-01-02 00:00:01\n",
        )
        .await;
    pipeline.run(&[ORDERS]).await;
    let after_update = folders(&*lake).await;
    assert!(
        first_folders.iter().all(|f| after_update.contains(f)),
        "replaced versions survive within the grace period"
    );
    assert!(after_update.len() > first_folders.len());

    pipeline.clock.advance(Duration::minutes(11));
    pipeline
        .stage(
            ORDERS,
            "20240103-000000000.csv",
            "U,3,us,31.00,2024-01-03 00:00:01\n",
        )
        .await;
    pipeline.run(&[ORDERS]).await;
    let collected = folders(&*lake).await;
    let referenced: Vec<String> = pipeline
        .catalog_partitions("orders")
        .await
        .iter()
        .map(|p| p.location.clone())
        .collect();
    assert_eq!(referenced.len(), 2);
    for location in &referenced {
        assert!(
            collected
                .iter()
                .any(|f| location.ends_with(&format!("{f}/"))),
            "{location} is still in the lake: {collected:?}"
        );
    }
    assert_eq!(
        collected.len(),
        2,
        "only the referenced versions remain: {collected:?}"
    );
    assert_eq!(
        id_region_amount(&pipeline.lake_rows("orders").await),
        ["1|eu|11.00", "2|eu|20.00", "3|us|31.00"]
    );
}

/// The partition-version folders under the lake's `data/` directories.
async fn folders(store: &dyn ObjectStore) -> Vec<String> {
    let objects: Vec<_> = store
        .list(Some(&Path::from("sales")))
        .try_collect()
        .await
        .expect("list the lake");
    let mut folders: Vec<String> = objects
        .iter()
        .map(|o| o.location.to_string())
        .filter(|p| p.contains("/data/"))
        .filter_map(|p| p.rsplit_once('/').map(|(folder, _)| folder.to_owned()))
        .collect();
    folders.sort();
    folders.dedup();
    folders
}

#[tokio::test]
async fn duckdb_reads_the_published_partitions_like_our_reader() {
    let pipeline = applied_with_changes_staged("U,1,us,11.00,2024-01-02 00:00:01\n").await;
    pipeline.run(&[ORDERS]).await;
    let export = tempfile::tempdir().expect("temp dir");
    pipeline.export_partitions("orders", export.path()).await;
    let answer = tributary_tests::python(&format!(
        "import duckdb\n\
         rows = duckdb.sql(\"select id, region, amount from read_parquet('{}/**/*.parquet', hive_partitioning=true) order by id\").fetchall()\n\
         print(';'.join(f'{{i}}|{{r}}|{{a:.2f}}' for i, r, a in rows))",
        export.path().display()
    ));
    let mut duckdb_rows: Vec<String> = answer.trim().split(';').map(str::to_owned).collect();
    duckdb_rows.sort();
    assert_eq!(
        duckdb_rows,
        id_region_amount(&pipeline.lake_rows("orders").await)
    );
    assert_eq!(duckdb_rows, ["1|us|11.00", "2|eu|20.00", "3|us|30.00"]);
}

// ---------------------------------------------------------------------------------------------
// Failures are attributed to the file that caused them (docs/DESIGN.md §11).

/// A DMS Parquet CDC file inserting `ids` of region `eu` with `amount` of Hive type `amount_type`.
fn parquet_inserts(ids: &[&str], amount_type: &str, amount: &str) -> Vec<u8> {
    let ops = vec!["I"; ids.len()];
    let regions = vec!["eu"; ids.len()];
    let amounts = vec![amount; ids.len()];
    let times = vec!["2024-01-02T00:00:01"; ids.len()];
    tributary_tests::parquet_file(&[
        ("Op", "string", &ops),
        ("id", "bigint", ids),
        ("region", "string", &regions),
        ("amount", amount_type, &amounts),
        ("ts", "timestamp", &times),
    ])
}

/// The ids of the lake rows, sorted (repeated ids stay repeated).
fn ids(rows: &[String]) -> Vec<String> {
    id_region_amount(rows)
        .iter()
        .filter_map(|row| row.split('|').next().map(str::to_owned))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The tracker item of the file whose key ends with `name`.
async fn file_item(pipeline: &Pipeline, name: &str) -> tributary_tests::Item {
    pipeline
        .tracker_items()
        .await
        .into_iter()
        .find(|item| string_attr(item, "key").ends_with(name))
        .unwrap_or_else(|| panic!("no tracker item for {name}"))
}

fn number(item: &tributary_tests::Item, name: &str) -> Option<u64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

/// A Parquet table whose full load and five CDC files hold an incompatible type (file 3) right
/// before a truncated file (file 4): the refresh fails first on file 4 (reading), then its
/// prefix on file 3 (schema). File 3 must be the one counted and quarantined.
async fn incompatible_then_truncated(on_bad_file: &str) -> Pipeline {
    let pipeline = Pipeline::new(&[]).await;
    let mut spec = orders_spec("events", on_bad_file);
    spec["input"] = json!({});
    pipeline.register(&spec, true).await;
    let table_id = "sales.events";
    let load = tributary_tests::parquet_file(&[
        ("id", "bigint", &["1", "2"]),
        ("region", "string", &["eu", "eu"]),
        ("amount", "double", &["1.5", "2.5"]),
        (
            "ts",
            "timestamp",
            &["2024-01-01T00:00:01", "2024-01-01T00:00:01"],
        ),
    ]);
    pipeline.stage(table_id, "LOAD00000001.parquet", load).await;
    let good = parquet_inserts(&["3"], "double", "3.5");
    pipeline
        .stage(table_id, "20240102-000000000.parquet", good)
        .await;
    let incompatible = parquet_inserts(&["4"], "string", "four");
    pipeline
        .stage(table_id, "20240103-000000000.parquet", incompatible)
        .await;
    let whole = parquet_inserts(&["5"], "double", "5.5");
    let truncated = whole[..whole.len() / 2].to_vec();
    pipeline
        .stage(table_id, "20240104-000000000.parquet", truncated)
        .await;
    for (name, id) in [
        ("20240105-000000000.parquet", "6"),
        ("20240106-000000000.parquet", "7"),
    ] {
        pipeline
            .stage(table_id, name, parquet_inserts(&[id], "double", "6.5"))
            .await;
    }
    pipeline
}

#[tokio::test]
async fn a_file_failing_before_the_one_the_error_names_is_counted_and_quarantined_stop() {
    let pipeline = incompatible_then_truncated("stop").await;
    for round in 1..=3 {
        let summary = pipeline.run(&["sales.events"]).await;
        let events = table(&summary, "sales.events");
        assert_eq!(events.outcome, RefreshOutcomeKind::Failed, "round {round}");
        let error = events.error.as_deref().unwrap_or_default();
        assert!(
            error.contains("20240103-000000000.parquet") && error.contains("amount"),
            "round {round}: the failure is the incompatible file's: {error}"
        );
        let item = file_item(&pipeline, "20240103-000000000.parquet").await;
        assert_eq!(number(&item, "failures"), Some(round), "round {round}");
    }
    let item = file_item(&pipeline, "20240103-000000000.parquet").await;
    assert_eq!(string_attr(&item, "status"), "quarantined");
    let blocked = pipeline.run(&["sales.events"]).await;
    let error = table(&blocked, "sales.events")
        .error
        .clone()
        .unwrap_or_default();
    assert!(error.contains("blocked by quarantined file"), "{error}");
    assert_eq!(
        ids(&pipeline.lake_rows("events").await),
        ["1", "2", "3"],
        "the good files before the culprit are applied"
    );
    let truncated = file_item(&pipeline, "20240104-000000000.parquet").await;
    assert_eq!(
        number(&truncated, "failures"),
        None,
        "not its failure (yet)"
    );
}

#[tokio::test]
async fn a_file_failing_before_the_one_the_error_names_is_counted_and_quarantined_skip() {
    let pipeline = incompatible_then_truncated("skip").await;
    let mut quarantined = Vec::new();
    let mut last = None;
    for _ in 0..8 {
        let summary = pipeline.run(&["sales.events"]).await;
        let events = table(&summary, "sales.events").clone();
        quarantined.extend(events.quarantined.clone());
        let idle = events.outcome == RefreshOutcomeKind::NoFiles;
        last = Some(events);
        if idle {
            break;
        }
    }
    let last = last.expect("a run");
    assert_eq!(last.outcome, RefreshOutcomeKind::NoFiles, "{last:?}");
    assert_eq!(
        quarantined,
        [
            "dms/sales/events/20240103-000000000.parquet",
            "dms/sales/events/20240104-000000000.parquet"
        ]
    );
    let truncated = file_item(&pipeline, "20240104-000000000.parquet").await;
    assert!(
        string_attr(&truncated, "last_error").contains("not a readable Parquet file"),
        "{truncated:?}"
    );
    assert_eq!(
        ids(&pipeline.lake_rows("events").await),
        ["1", "2", "3", "6", "7"],
        "the good files before and after both culprits are applied"
    );
}

// ---------------------------------------------------------------------------------------------
// A refresh's memory follows what its files decompress to; a file that kills the processor is
// counted (docs/DESIGN.md §11).

fn gzip(text: &str) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(text.as_bytes()).expect("compress");
    encoder.finish().expect("compress")
}

#[tokio::test]
async fn a_gzip_bomb_is_quarantined_naming_the_limit_and_the_other_files_still_apply() {
    let pipeline = Pipeline::new(&[
        (vars::QUARANTINE_AFTER, "1"),
        (vars::MAX_BYTES_PER_REFRESH, "1000000"),
    ])
    .await;
    pipeline
        .register(&orders_spec("orders", "skip"), true)
        .await;
    pipeline.stage(ORDERS, "LOAD00000001.csv", FULL_LOAD).await;
    // 8 MB of valid rows in a few kilobytes: small to fetch, far too big to hold.
    let bomb = gzip(&"I,7,eu,70.00,2024-01-02 00:00:01\n".repeat(250_000));
    assert!(bomb.len() < 100_000, "{} compressed bytes", bomb.len());
    pipeline
        .stage(ORDERS, "20240102-000000000.csv.gz", bomb)
        .await;
    pipeline
        .stage(
            ORDERS,
            "20240103-000000000.csv",
            "I,9,eu,90.00,2024-01-03 00:00:01\n",
        )
        .await;
    let summary = pipeline.run(&[ORDERS]).await;
    let orders = table(&summary, ORDERS);
    assert_eq!(orders.outcome, RefreshOutcomeKind::Completed, "{orders:?}");
    assert_eq!(
        orders.quarantined,
        ["dms/sales/orders/20240102-000000000.csv.gz"]
    );
    let bomb = file_item(&pipeline, "20240102-000000000.csv.gz").await;
    assert_eq!(string_attr(&bomb, "status"), "quarantined");
    let error = string_attr(&bomb, "last_error");
    assert!(
        error.contains("1000000") && error.contains("TRIBUTARY_MAX_BYTES_PER_REFRESH"),
        "{error}"
    );
    assert_eq!(
        id_region_amount(&pipeline.lake_rows("orders").await),
        ["1|eu|10.00", "2|eu|20.00", "3|us|30.00", "9|eu|90.00"]
    );
}

#[tokio::test]
async fn a_refresh_reads_files_while_their_decompressed_size_fits_and_leaves_the_rest_pending() {
    // Each file decompresses to about 66 KB and decodes to more than a third of the budget:
    // one file fits a refresh, two do not.
    let pipeline = Pipeline::new(&[(vars::MAX_BYTES_PER_REFRESH, "100000")]).await;
    pipeline
        .register(&orders_spec("orders", "stop"), true)
        .await;
    for file in 0..3u32 {
        let rows: String = (0..2_000u32)
            .map(|row| format!("I,{},eu,1.00,2024-01-02 00:00:01\n", file * 10_000 + row))
            .collect();
        let compressed = gzip(&rows);
        assert!(compressed.len() < 30_000, "{}", compressed.len());
        pipeline
            .stage(
                ORDERS,
                &format!("2024010{}-000000000.csv.gz", file + 2),
                compressed,
            )
            .await;
    }
    let summary = pipeline.run(&[ORDERS]).await;
    let orders = table(&summary, ORDERS);
    assert_eq!(orders.outcome, RefreshOutcomeKind::Completed, "{orders:?}");
    assert_eq!(orders.refreshes, 3, "one file per refresh: {orders:?}");
    assert_eq!(orders.totals.inserted, 6_000);
    assert!(orders.quarantined.is_empty());
    assert_eq!(pipeline.lake_rows("orders").await.len(), 6_000);
}

#[tokio::test]
async fn a_processor_dying_while_applying_counts_an_attempt_and_repeated_deaths_quarantine_the_file()
 {
    let pipeline = Pipeline::new(&[(vars::QUARANTINE_AFTER, "2")]).await;
    pipeline
        .register(&orders_spec("orders", "skip"), true)
        .await;
    pipeline.stage(ORDERS, "LOAD00000001.csv", FULL_LOAD).await;
    for (name, row) in [
        (
            "20240102-000000000.csv",
            "I,7,eu,70.00,2024-01-02 00:00:01\n",
        ),
        (
            "20240103-000000000.csv",
            "I,8,eu,80.00,2024-01-03 00:00:01\n",
        ),
        (
            "20240104-000000000.csv",
            "I,9,eu,90.00,2024-01-04 00:00:01\n",
        ),
    ] {
        pipeline.stage(ORDERS, name, row).await;
    }
    // Reading file 3 kills the processor (as an out-of-memory would): its run is dropped there.
    let deadly = Hanging::store(pipeline.staging_store(), "20240103-000000000.csv");
    let processor = Processor::new(
        pipeline.config.settings.clone(),
        LakeStores {
            staging: Arc::clone(&deadly) as Arc<dyn ObjectStore>,
            lake: pipeline.lake_store(),
        },
        pipeline.ports(),
        pipeline.clock.clone(),
    );
    let run = || async {
        let summary = tokio::select! {
            summary = pipeline.run_with(&processor, &[ORDERS]) => Some(summary),
            () = deadly.hooks().reached.notified() => None,
        };
        // The next processor may take the table once the dead one's lease expired.
        pipeline.clock.advance(Duration::minutes(20));
        summary
    };
    assert!(run().await.is_none(), "the whole chunk died");
    let item = file_item(&pipeline, "20240103-000000000.csv").await;
    assert_eq!(
        number(&item, "attempt_files"),
        Some(4),
        "the attempt on the chunk's files outlives the processor: {item:?}"
    );
    assert!(
        run().await.is_none(),
        "the suspects alone: the deadly one dies again"
    );
    assert_eq!(
        ids(&pipeline.lake_rows("orders").await),
        ["1", "2", "3", "7"],
        "the files before it were applied one at a time"
    );
    assert!(run().await.is_none(), "the first death alone is counted");
    let item = file_item(&pipeline, "20240103-000000000.csv").await;
    assert_eq!(number(&item, "failures"), Some(1));
    let summary = run().await.expect("the second death quarantines the file");
    let orders = table(&summary, ORDERS);
    assert_eq!(orders.outcome, RefreshOutcomeKind::Completed, "{orders:?}");
    assert_eq!(
        orders.quarantined,
        ["dms/sales/orders/20240103-000000000.csv"]
    );
    let item = file_item(&pipeline, "20240103-000000000.csv").await;
    assert_eq!(string_attr(&item, "status"), "quarantined");
    assert!(
        string_attr(&item, "last_error").contains("the processor died"),
        "{item:?}"
    );
    assert_eq!(
        ids(&pipeline.lake_rows("orders").await),
        ["1", "2", "3", "7", "9"],
        "the files after it go on (on_bad_file: skip)"
    );
}

/// Hooks of the staging bucket under which reading the object whose key ends with `deadly`
/// never returns, as if the processor died there; `reached` is notified when it happens.
#[derive(Debug)]
struct Hanging {
    deadly: &'static str,
    reached: tokio::sync::Notify,
}

impl Hanging {
    fn store(inner: Arc<dyn ObjectStore>, deadly: &'static str) -> Arc<HookedStore<Hanging>> {
        let hooks = Hanging {
            deadly,
            reached: tokio::sync::Notify::new(),
        };
        Arc::new(HookedStore::new(inner, hooks))
    }
}

impl StoreHooks for Hanging {
    fn before<'a>(&'a self, call: Call<'a>) -> BoxFuture<'a, object_store::Result<u32>> {
        Box::pin(async move {
            if call.operation == Operation::Get && call.key().ends_with(self.deadly) {
                self.reached.notify_one();
                std::future::pending::<()>().await;
            }
            Ok(0)
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Each tracker item is read at exactly the object version it recorded (docs/DESIGN.md §2, §7).

fn history_spec() -> Value {
    let mut spec = orders_spec("orders", "stop");
    spec["storage_mode"] = json!("history");
    spec
}

/// How many history rows each id has, as `id×count`, sorted.
fn row_counts(rows: &[String]) -> Vec<String> {
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for row in id_region_amount(rows) {
        let id = row.split('|').next().unwrap_or_default().to_owned();
        *counts.entry(id).or_default() += 1;
    }
    counts.iter().map(|(id, n)| format!("{id}×{n}")).collect()
}

/// A history table whose CDC file is quarantined, then fixed by uploading it again under the
/// same key, then retried: every row must be applied exactly once.
async fn fix_the_file_then_retry(versioned: bool) {
    let settings = [(vars::QUARANTINE_AFTER, "1")];
    let pipeline = if versioned {
        Pipeline::new(&settings).await
    } else {
        Pipeline::with_unversioned_staging(&settings).await
    };
    pipeline.register(&history_spec(), true).await;
    let load = pipeline.upload(ORDERS, "LOAD00000001.csv", FULL_LOAD).await;
    pipeline.notify(&load, Some("10")).await;
    let name = "20240102-000000000.csv";
    let bad = pipeline
        .upload(ORDERS, name, "I,7,eu,not-a-number,2024-01-02 00:00:01\n")
        .await;
    assert_eq!(bad.version_id.is_some(), versioned);
    pipeline.notify(&bad, Some("20")).await;
    let first = pipeline.run(&[ORDERS]).await;
    assert_eq!(
        table(&first, ORDERS).quarantined,
        std::slice::from_ref(&bad.key)
    );

    let fixed = pipeline
        .upload(
            ORDERS,
            name,
            "I,7,eu,70.00,2024-01-02 00:00:01\nI,8,eu,80.00,2024-01-02 00:00:02\n",
        )
        .await;
    pipeline.notify(&fixed, Some("30")).await;
    pipeline.run(&[ORDERS]).await;
    let (_, _, tracker, _) = pipeline.ports();
    let quarantined = tracker
        .tracked_files(ORDERS, Some(FileStatus::Quarantined))
        .await
        .expect("list quarantined files");
    assert_eq!(quarantined.len(), 1);
    assert!(
        tracker
            .requeue_quarantined(ORDERS, &quarantined[0].file.id)
            .await
            .expect("retry")
    );
    for _ in 0..3 {
        pipeline.run(&[ORDERS]).await;
    }
    assert_eq!(
        row_counts(&pipeline.lake_rows("orders").await),
        ["1×1", "2×1", "3×1", "7×1", "8×1"],
        "each row exactly once"
    );
    let superseded = tracker
        .tracked_files(ORDERS, Some(FileStatus::Superseded))
        .await
        .expect("list superseded files");
    assert_eq!(superseded.len(), 1, "{superseded:?}");
    assert_eq!(superseded[0].file.id, quarantined[0].file.id);
    assert!(!superseded[0].pending);
    let reason = superseded[0].superseded_by.clone().unwrap_or_default();
    assert!(reason.contains("newer version"), "{reason}");
    assert!(pipeline.pending_items(ORDERS).await.is_empty());
    let history = pipeline.history(ORDERS).await;
    assert_eq!(
        history
            .iter()
            .map(|r| r.totals.files_superseded)
            .sum::<u64>(),
        1
    );
}

#[tokio::test]
async fn history_fix_the_file_then_retry_applies_each_row_once_in_an_unversioned_bucket() {
    fix_the_file_then_retry(false).await;
}

#[tokio::test]
async fn history_fix_the_file_then_retry_applies_each_row_once_in_a_versioned_bucket() {
    fix_the_file_then_retry(true).await;
}

#[tokio::test]
async fn an_object_overwritten_before_it_was_applied_is_superseded_and_only_its_new_version_applies()
 {
    // Unversioned: the overwrite destroys the version the tracker recorded.
    let pipeline = Pipeline::with_unversioned_staging(&[]).await;
    pipeline.register(&history_spec(), true).await;
    let name = "20240102-000000000.csv";
    let first = pipeline
        .upload(ORDERS, name, "I,7,eu,70.00,2024-01-02 00:00:01\n")
        .await;
    pipeline.notify(&first, Some("10")).await;
    // Overwritten before anything read it; its event is late.
    let second = pipeline
        .upload(ORDERS, name, "I,7,eu,71.00,2024-01-02 00:00:01\n")
        .await;
    let summary = pipeline.run(&[ORDERS]).await;
    let orders = table(&summary, ORDERS);
    assert_eq!(summary.failed, 0, "{orders:?}");
    assert_eq!(
        (orders.totals.files, orders.totals.files_superseded),
        (0, 1)
    );
    let item = file_item(&pipeline, name).await;
    assert_eq!(string_attr(&item, "status"), "superseded");
    assert!(
        string_attr(&item, "superseded_by").contains("no longer exists"),
        "{item:?}"
    );
    assert!(
        pipeline.lake_rows("orders").await.is_empty(),
        "nothing applied"
    );

    pipeline.notify(&second, Some("20")).await;
    pipeline.run(&[ORDERS]).await;
    assert_eq!(
        id_region_amount(&pipeline.lake_rows("orders").await),
        ["7|eu|71.00"],
        "only the version that exists, once"
    );
}

#[tokio::test]
async fn a_versioned_file_is_read_at_its_recorded_version_not_the_latest() {
    let pipeline = Pipeline::new(&[]).await;
    pipeline
        .register(&orders_spec("orders", "stop"), true)
        .await;
    let name = "20240102-000000000.csv";
    let recorded = pipeline
        .upload(ORDERS, name, "I,7,eu,70.00,2024-01-02 00:00:01\n")
        .await;
    pipeline.notify(&recorded, Some("10")).await;
    // A newer version exists, but its event has not arrived: the tracker item still means the
    // version it recorded.
    pipeline
        .upload(ORDERS, name, "I,7,eu,99.00,2024-01-02 00:00:01\n")
        .await;
    pipeline.run(&[ORDERS]).await;
    assert_eq!(
        id_region_amount(&pipeline.lake_rows("orders").await),
        ["7|eu|70.00"]
    );
}

#[tokio::test]
async fn a_new_version_of_an_applied_file_in_a_history_table_is_refused_never_duplicated() {
    let pipeline = Pipeline::new(&[(vars::QUARANTINE_AFTER, "1")]).await;
    pipeline.register(&history_spec(), true).await;
    let name = "20240102-000000000.csv";
    let original = pipeline
        .upload(ORDERS, name, "I,7,eu,70.00,2024-01-02 00:00:01\n")
        .await;
    pipeline.notify(&original, Some("10")).await;
    pipeline.run(&[ORDERS]).await;
    let again = pipeline
        .upload(
            ORDERS,
            name,
            "I,7,eu,70.00,2024-01-02 00:00:01\nI,8,eu,80.00,2024-01-02 00:00:02\n",
        )
        .await;
    pipeline.notify(&again, Some("20")).await;
    let summary = pipeline.run(&[ORDERS]).await;
    let orders = table(&summary, ORDERS);
    assert_eq!(orders.outcome, RefreshOutcomeKind::Failed);
    let error = orders.error.as_deref().unwrap_or_default();
    assert!(
        error.contains("already applied") && error.contains("a second time"),
        "{error}"
    );
    assert_eq!(orders.quarantined, std::slice::from_ref(&again.key));
    assert_eq!(
        row_counts(&pipeline.lake_rows("orders").await),
        ["7×1"],
        "no row applied twice"
    );
}

#[tokio::test]
async fn changes_overtaken_in_their_refresh_are_counted_superseded_apart_from_ignored() {
    let pipeline = applied_with_changes_staged(
        "U,1,eu,11.00,2024-01-02 00:00:01\n\
         U,1,eu,12.00,2024-01-02 00:00:02\n\
         D,99,NULL,NULL,2024-01-02 00:00:03\n",
    )
    .await;
    let summary = pipeline.run(&[ORDERS]).await;
    let orders = table(&summary, ORDERS);
    // Id 1's first update is overtaken by its second; id 99 is not in the table.
    assert_eq!(
        (
            orders.totals.updated,
            orders.totals.superseded,
            orders.totals.ignored
        ),
        (1, 1, 1),
        "{orders:?}"
    );
    let json = serde_json::to_value(orders).expect("a summary serialises");
    assert_eq!(
        (json["superseded"].as_u64(), json["ignored"].as_u64()),
        (Some(1), Some(1))
    );
    let history = pipeline.history(ORDERS).await;
    let last = history.last().expect("a history item");
    assert_eq!((last.totals.superseded, last.totals.ignored), (1, 1));
    let document = &emf_documents(&summary, Utc::now())[0];
    assert_eq!(document["RowsSuperseded"].as_f64(), Some(1.0));
    assert_eq!(document["RowsIgnored"].as_f64(), Some(1.0));
}
