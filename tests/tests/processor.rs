//! The processor against the local AWS emulator: leases, refreshes, the Glue catalog, bad files,
//! deadlines and garbage collection (docs/DESIGN.md §11).

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use futures::TryStreamExt;
use object_store::ObjectStore;
use object_store::path::Path;
use serde_json::{Value, json};
use tributary_shared::catalog::{PARQUET_INPUT_FORMAT, PARQUET_SERDE};
use tributary_shared::config::vars;
use tributary_shared::file_tracker::{
    BacklogFile, BacklogLimit, FileBacklog, FileFailure, FileStatus,
};
use tributary_shared::processing_tracker::{
    Lease, LeaseGrant, ProcessingTracker, RefreshOutcomeKind,
};
use tributary_shared::processor::{BatchSummary, Clock, Processor, TableSummary};
use tributary_shared::state_store::StoreError;
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

    let items = pipeline
        .aws
        .tracker_items(&pipeline.config.file_tracker_table)
        .await;
    assert_eq!(items.len(), 2);
    for item in &items {
        assert_eq!(string_attr(item, "status"), FileStatus::Processed.as_str());
        assert!(item.contains_key("expires_at"), "processed files get a TTL");
    }
    assert!(
        pipeline
            .aws
            .pending_items(&pipeline.config.file_tracker_table, ORDERS)
            .await
            .is_empty()
    );
    let history = pipeline
        .processing()
        .history(ORDERS)
        .await
        .expect("history");
    let completed: Vec<_> = history
        .iter()
        .filter(|r| r.outcome == RefreshOutcomeKind::Completed)
        .collect();
    assert_eq!(completed.len(), 1);
    assert_eq!(completed[0].files.len(), 2);
    assert_eq!(completed[0].totals.inserted, 4);
    let state = pipeline
        .processing()
        .table_state(ORDERS)
        .await
        .expect("state")
        .expect("a state item");
    assert_eq!(state.lease_owner, None, "the lease is released");
}

#[tokio::test]
async fn incremental_refresh_applies_updates_deletes_and_partition_moves() {
    let pipeline = loaded_pipeline().await;
    pipeline.run(&[ORDERS]).await;
    pipeline
        .stage(
            ORDERS,
            "20240102-000000000.csv",
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

#[tokio::test]
async fn two_processors_racing_on_one_table_one_refreshes_the_other_reports_busy() {
    let pipeline = loaded_pipeline().await;
    let (first, second) = (pipeline.processor(), pipeline.processor());
    let (a, b) = tokio::join!(
        pipeline.run_with(&first, &[ORDERS]),
        pipeline.run_with(&second, &[ORDERS])
    );
    let mut outcomes = vec![table(&a, ORDERS).outcome, table(&b, ORDERS).outcome];
    outcomes.sort_by_key(|o| o.as_str());
    assert_eq!(
        outcomes,
        [RefreshOutcomeKind::Busy, RefreshOutcomeKind::Completed]
    );
    assert_eq!(
        id_region_amount(&pipeline.lake_rows("orders").await),
        ["1|eu|10.00", "2|eu|20.00", "3|us|30.00"]
    );
    let history = pipeline
        .processing()
        .history(ORDERS)
        .await
        .expect("history");
    assert!(
        history
            .iter()
            .any(|r| r.outcome == RefreshOutcomeKind::Busy)
    );
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
    let state = pipeline
        .processing()
        .table_state(ORDERS)
        .await
        .expect("state")
        .expect("a state item");
    assert_eq!(state.fencing_token, 2, "the takeover got a new token");
}

#[tokio::test]
async fn a_stale_holder_commits_nothing_after_its_lease_is_taken_over() {
    let pipeline = Arc::new(loaded_pipeline().await);
    // The stale processor reads its pending files; then (it stalls) its lease expires, another
    // processor takes the table over and refreshes it; then the stale one merges and tries to
    // commit with its old token.
    let competitor = Arc::clone(&pipeline);
    let takeover = async move {
        competitor.clock.advance(Duration::minutes(20));
        let summary = competitor.run(&[ORDERS]).await;
        assert_eq!(
            table(&summary, ORDERS).outcome,
            RefreshOutcomeKind::Completed
        );
    };
    let (registry, tracker, backlog, catalog) = pipeline.ports();
    let stale = Processor::new(
        pipeline.config.settings.clone(),
        pipeline.stores(),
        (
            registry,
            tracker,
            StallingBacklog::new(backlog, takeover),
            catalog,
        ),
        pipeline.clock.clone(),
    );
    let summary = pipeline.run_with(&stale, &[ORDERS]).await;
    let orders = table(&summary, ORDERS);
    assert_eq!(orders.outcome, RefreshOutcomeKind::Failed);
    let error = orders.error.as_deref().unwrap_or_default();
    assert!(error.contains("no longer held"), "{error}");
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
    let state = pipeline
        .processing()
        .table_state(ORDERS)
        .await
        .expect("state")
        .expect("a state item");
    assert_eq!(state.fencing_token, 2);
    assert_eq!(
        state.lease_owner, None,
        "the stale holder did not release the new lease"
    );
    let history = pipeline
        .processing()
        .history(ORDERS)
        .await
        .expect("history");
    assert!(
        history.iter().all(|r| r.owner != "request-1"),
        "the stale holder could not write history: {history:?}"
    );
}

/// A file backlog whose first `pending` call runs `stall` after reading the backlog, as if the
/// processor stalled there while something else happened.
struct StallingBacklog<B> {
    inner: B,
    stall: std::sync::Mutex<Option<futures::future::BoxFuture<'static, ()>>>,
}

impl<B> StallingBacklog<B> {
    fn new(inner: B, stall: impl std::future::Future<Output = ()> + Send + 'static) -> Self {
        StallingBacklog {
            inner,
            stall: std::sync::Mutex::new(Some(Box::pin(stall))),
        }
    }
}

impl<B: FileBacklog> FileBacklog for StallingBacklog<B> {
    async fn pending(
        &self,
        table_id: &str,
        limit: BacklogLimit,
    ) -> Result<Vec<BacklogFile>, StoreError> {
        let pending = self.inner.pending(table_id, limit).await?;
        let stall = self.stall.lock().expect("stall lock").take();
        if let Some(stall) = stall {
            stall.await;
        }
        Ok(pending)
    }

    async fn mark_processed(
        &self,
        lease: &Lease,
        file_ids: &[String],
        refresh_id: &str,
        processed_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.inner
            .mark_processed(lease, file_ids, refresh_id, processed_at, expires_at)
            .await
    }

    async fn record_failure(
        &self,
        lease: &Lease,
        failure: &FileFailure,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.inner.record_failure(lease, failure, at).await
    }
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
    let items = pipeline
        .aws
        .tracker_items(&pipeline.config.file_tracker_table)
        .await;
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
        pipeline
            .aws
            .pending_items(&pipeline.config.file_tracker_table, ORDERS)
            .await
            .is_empty(),
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
    assert!(result.is_err());
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
    let state = pipeline
        .processing()
        .table_state(ORDERS)
        .await
        .expect("state");
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
    let pipeline = loaded_pipeline().await;
    pipeline.run(&[ORDERS]).await;
    pipeline
        .stage(
            ORDERS,
            "20240102-000000000.csv",
            "U,1,us,11.00,2024-01-02 00:00:01\n",
        )
        .await;
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
