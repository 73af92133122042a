//! The batch-manager against the local AWS emulator, on tables created from the stack template's
//! own definitions (docs/DESIGN.md §12): cadence settings and table registrations in the config
//! table, backlogs in the file tracker, last outcomes in the processing tracker.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a failed step stops the test

use chrono::{Duration, Utc};
use serde_json::json;
use tributary_shared::adapters::dynamodb_table_registry::DynamoDbTableRegistry;
use tributary_shared::bootstrap::aws::{self, AwsBatchManager};
use tributary_shared::bootstrap::config::{BatchManagerConfig, vars};
use tributary_shared::contract::{BatchPlan, PlanCounts};
use tributary_shared::ports::processing_tracker::{
    LeaseGrant, ProcessingTracker, RefreshOutcomeKind, RefreshRecord, RefreshTotals,
};
use tributary_shared::ports::table_registry::{CadenceSettings, TableOrder};
use tributary_shared::services::batch_manager::PlanError;
use tributary_tests::pipeline::{CADENCE, Pipeline};
use tributary_tests::register_table;

/// The batch-manager wired like the Lambda function, on the pipeline's tables.
fn batch_manager(pipeline: &Pipeline) -> AwsBatchManager {
    let env = [
        (vars::CONFIG_TABLE, pipeline.config.config_table.clone()),
        (
            vars::FILE_TRACKER_TABLE,
            pipeline.config.file_tracker_table.clone(),
        ),
        (
            vars::PROCESSING_TABLE,
            pipeline.config.processing_table.clone(),
        ),
    ];
    let config = BatchManagerConfig::from_lookup(|name| {
        env.iter()
            .find(|(var, _)| *var == name)
            .map(|(_, value)| value.clone())
    })
    .expect("valid batch-manager config");
    aws::batch_manager(&config, &pipeline.aws.sdk)
}

async fn put_cadence(registry: &DynamoDbTableRegistry, batch_size: u32, order: TableOrder) {
    registry
        .put_cadence(&CadenceSettings {
            name: CADENCE.to_owned(),
            schedule: None,
            batch_size,
            max_concurrency: 4,
            table_order: order,
            skip_idle: true,
        })
        .await
        .expect("put cadence");
}

async fn plan(pipeline: &Pipeline, input: serde_json::Value) -> Result<BatchPlan, PlanError> {
    batch_manager(pipeline).plan(&input).await
}

/// Leaves `table_id`'s last refresh outcome as `outcome`, as a processor's release does.
async fn last_refresh(pipeline: &Pipeline, table_id: &str, outcome: RefreshOutcomeKind) {
    let tracker = pipeline.processing();
    let now = Utc::now();
    let grant = tracker
        .acquire(table_id, "test", now, now + Duration::minutes(5))
        .await
        .expect("acquire");
    let LeaseGrant::Acquired { lease, .. } = grant else {
        panic!("{table_id} is busy");
    };
    let record = RefreshRecord {
        table_id: table_id.to_owned(),
        refresh_id: "r1".to_owned(),
        owner: "test".to_owned(),
        started_at: now,
        finished_at: now,
        outcome,
        error: (outcome == RefreshOutcomeKind::Failed).then(|| "boom".to_owned()),
        files: Vec::new(),
        totals: RefreshTotals::default(),
        snapshot_version: None,
        expires_at: now + Duration::days(1),
    };
    tracker.release(&lease, &record).await.expect("release");
}

#[tokio::test]
async fn eighteen_active_tables_in_batches_of_five_run_as_five_five_five_three_without_inactive_or_idle_ones()
 {
    let pipeline = Pipeline::new(&[]).await;
    let registry = pipeline.registry();
    put_cadence(&registry, 5, TableOrder::TableId).await;
    let active: Vec<String> = (1..=18).map(|i| format!("sales.t{i:02}")).collect();
    for table_id in &active {
        register_table(&registry, table_id, CADENCE, true).await;
        pipeline
            .stage(table_id, "20240101-000000001.csv", "I,1,a\n")
            .await;
    }
    for table_id in ["sales.off1", "sales.off2"] {
        register_table(&registry, table_id, CADENCE, false).await;
        pipeline
            .stage(table_id, "20240101-000000001.csv", "I,1,a\n")
            .await;
    }
    for table_id in ["sales.idle1", "sales.idle2"] {
        register_table(&registry, table_id, CADENCE, true).await;
    }
    last_refresh(&pipeline, "sales.idle2", RefreshOutcomeKind::Completed).await;
    register_table(&registry, "sales.hourly", "hourly", true).await;
    pipeline
        .stage("sales.hourly", "20240101-000000001.csv", "I,1,a\n")
        .await;

    let plan = plan(&pipeline, json!({"refresh_cadence": CADENCE}))
        .await
        .expect("planned");

    let lengths: Vec<usize> = plan.batches.iter().map(|b| b.tables.len()).collect();
    assert_eq!(lengths, vec![5, 5, 5, 3]);
    let ids: Vec<String> = plan.batches.iter().flat_map(|b| b.tables.clone()).collect();
    assert_eq!(
        ids, active,
        "every active table with work, once, in id order"
    );
    let numbers: Vec<u32> = plan.batches.iter().map(|b| b.batch).collect();
    assert_eq!(numbers, vec![0, 1, 2, 3]);
    assert_eq!(plan.max_concurrency, 4);
    assert_eq!(
        plan.tables,
        PlanCounts {
            registered: 22,
            inactive: 2,
            idle: 2,
            scheduled: 18,
            pending_files: 18,
            pending_bytes: 18 * 6,
        }
    );
}

#[tokio::test]
async fn largest_first_batches_keep_the_biggest_backlog_with_the_fewest_companions() {
    let pipeline = Pipeline::new(&[]).await;
    let registry = pipeline.registry();
    put_cadence(&registry, 5, TableOrder::LargestFirst).await;
    register_table(&registry, "sales.huge", CADENCE, true).await;
    pipeline
        .stage(
            "sales.huge",
            "20240101-000000001.csv",
            vec![b'x'; 64 * 1024],
        )
        .await;
    for i in 1..=17 {
        let table_id = format!("sales.small{i:02}");
        register_table(&registry, &table_id, CADENCE, true).await;
        pipeline
            .stage(&table_id, "20240101-000000001.csv", vec![b'x'; 1000 + i])
            .await;
    }

    let plan = plan(&pipeline, json!({"refresh_cadence": CADENCE}))
        .await
        .expect("planned");

    let lengths: Vec<usize> = plan.batches.iter().map(|b| b.tables.len()).collect();
    assert_eq!(lengths, vec![3, 5, 5, 5], "{plan:?}");
    assert_eq!(plan.batches[0].tables[0], "sales.huge");
    assert_eq!(plan.tables.scheduled, 18);
}

#[tokio::test]
async fn an_idle_table_whose_last_refresh_failed_is_run_again() {
    let pipeline = Pipeline::new(&[]).await;
    let registry = pipeline.registry();
    put_cadence(&registry, 5, TableOrder::LargestFirst).await;
    for table_id in ["sales.ok", "sales.broken"] {
        register_table(&registry, table_id, CADENCE, true).await;
    }
    last_refresh(&pipeline, "sales.ok", RefreshOutcomeKind::Completed).await;
    last_refresh(&pipeline, "sales.broken", RefreshOutcomeKind::Failed).await;

    let plan = plan(&pipeline, json!({"refresh_cadence": CADENCE}))
        .await
        .expect("planned");
    let ids: Vec<String> = plan.batches.iter().flat_map(|b| b.tables.clone()).collect();
    assert_eq!(ids, vec!["sales.broken"]);
    assert_eq!(plan.tables.idle, 1);

    let forced = self::plan(
        &pipeline,
        json!({"refresh_cadence": CADENCE, "tables": ["sales.ok"]}),
    )
    .await
    .expect("planned");
    assert_eq!(
        forced.batches.len(),
        1,
        "a filtered run includes idle tables"
    );
}

#[tokio::test]
async fn an_unknown_cadence_is_an_error_naming_it_not_an_empty_run() {
    let pipeline = Pipeline::new(&[]).await;
    register_table(&pipeline.registry(), "sales.t01", "5min", true).await;
    let error = plan(&pipeline, json!({"refresh_cadence": "5min"}))
        .await
        .map(|p| p.batches.len());
    let Err(error) = error else {
        panic!("a cadence without batch settings was planned: {error:?}");
    };
    assert_eq!(error.kind(), "UnknownCadence");
    assert!(error.to_string().contains("\"5min\""), "{error}");
}
