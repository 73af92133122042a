use std::collections::HashMap;

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::ports::memory::file_tracker::{MemoryFileTracker, landed_file};
use crate::ports::memory::processing_tracker::MemoryProcessingTracker;
use crate::ports::memory::registry::MemoryRegistry;
use crate::ports::table_registry::CadenceSettings;

fn sized(table_id: &str, pending_bytes: u64) -> SizedTable {
    SizedTable {
        table_id: table_id.to_owned(),
        pending_bytes,
    }
}

fn batch_lengths(batches: &[Vec<String>]) -> Vec<usize> {
    batches.iter().map(Vec::len).collect()
}

#[test]
fn tables_of_unknown_size_fill_batches_one_after_another() {
    let tables = (0..18).map(|i| sized(&format!("s.t{i:02}"), 0)).collect();
    let batches = pack_batches(tables, 5, TableOrder::LargestFirst);
    assert_eq!(batch_lengths(&batches), vec![5, 5, 5, 3]);
}

#[test]
fn a_huge_table_shares_its_batch_with_as_few_tables_as_the_batch_count_allows() {
    let mut tables = vec![sized("s.huge", 10_000_000_000)];
    tables.extend((0..17).map(|i| sized(&format!("s.small{i:02}"), 1_000_000 + i)));
    let batches = pack_batches(tables, 5, TableOrder::LargestFirst);
    assert_eq!(batches.len(), 4, "the fewest batches that hold 18 tables");
    assert_eq!(batches[0][0], "s.huge", "the heaviest batch comes first");
    // 17 small tables fill the three other batches (15) before any joins the huge one.
    assert_eq!(batches[0].len(), 3, "{batches:?}");
    assert_eq!(batch_lengths(&batches[1..]), vec![5, 5, 5]);
}

#[test]
fn balanced_batches_split_the_bytes_evenly() {
    // Sizes 8,7,6,5,4,3,2,1 in batches of 4 → two batches of 18 bytes each.
    let tables = (1..=8).map(|i| sized(&format!("s.t{i}"), i)).collect();
    let batches = pack_batches(tables, 4, TableOrder::LargestFirst);
    let size = |id: &String| id[3..].parse::<u64>().unwrap_or(0);
    let totals: Vec<u64> = batches.iter().map(|b| b.iter().map(size).sum()).collect();
    assert_eq!(totals, vec![18, 18]);
}

#[test]
fn table_id_order_cuts_consecutive_batches_in_id_order() {
    let tables = vec![sized("s.c", 1), sized("s.a", 100), sized("s.b", 50)];
    let batches = pack_batches(tables, 2, TableOrder::TableId);
    assert_eq!(batches, vec![vec!["s.a", "s.b"], vec!["s.c"]]);
}

proptest! {
    #[test]
    fn every_table_lands_in_exactly_one_batch_of_at_most_batch_size(
        sizes in proptest::collection::vec(0u64..1_000_000, 0..120),
        batch_size in 1usize..12,
        by_id in any::<bool>(),
    ) {
        let order = if by_id { TableOrder::TableId } else { TableOrder::LargestFirst };
        let tables: Vec<SizedTable> = sizes
            .iter()
            .enumerate()
            .map(|(i, bytes)| sized(&format!("s.t{i:03}"), *bytes))
            .collect();
        let batches = pack_batches(tables, batch_size, order);
        prop_assert_eq!(batches.len(), sizes.len().div_ceil(batch_size));
        prop_assert!(batches.iter().all(|b| !b.is_empty() && b.len() <= batch_size));
        let mut ids: Vec<String> = batches.into_iter().flatten().collect();
        ids.sort();
        let expected: Vec<String> = (0..sizes.len()).map(|i| format!("s.t{i:03}")).collect();
        prop_assert_eq!(ids, expected);
    }

    #[test]
    fn largest_first_keeps_the_heaviest_batch_within_the_average_plus_the_largest_table(
        sizes in proptest::collection::vec(0u64..1_000_000, 1..120),
        batch_size in 1usize..12,
    ) {
        let tables: Vec<SizedTable> = sizes
            .iter()
            .enumerate()
            .map(|(i, bytes)| sized(&format!("s.t{i:03}"), *bytes))
            .collect();
        let by_id: HashMap<String, u64> =
            tables.iter().map(|t| (t.table_id.clone(), t.pending_bytes)).collect();
        let batches = pack_batches(tables, batch_size, TableOrder::LargestFirst);
        let totals: Vec<u64> = batches
            .iter()
            .map(|b| b.iter().map(|id| by_id[id]).sum())
            .collect();
        let average = sizes.iter().sum::<u64>() / batches.len() as u64;
        let largest = sizes.iter().copied().max().unwrap_or(0);
        prop_assert!(totals.windows(2).all(|w| w[0] >= w[1]), "heaviest first: {totals:?}");
        prop_assert!(totals[0] <= average + largest, "{totals:?} avg {average} max {largest}");
    }
}

// ---- the service, over in-memory ports ----

fn settings(name: &str, batch_size: u32) -> CadenceSettings {
    CadenceSettings {
        name: name.to_owned(),
        schedule: None,
        batch_size,
        max_concurrency: 3,
        table_order: TableOrder::LargestFirst,
        skip_idle: true,
    }
}

/// Lands `files` pending files of `table_id` of `bytes` bytes in all.
fn land(backlog: &MemoryFileTracker, table_id: &str, files: u64, bytes: u64) {
    let landed_at = chrono::DateTime::UNIX_EPOCH;
    for n in 0..files {
        let order_key = format!("k{n}");
        let key = format!("dms/{table_id}/{n}.csv");
        backlog.land(
            table_id,
            landed_file(&order_key, &key, bytes / files, landed_at),
        );
    }
}

/// Cadence `10min` (batches of 2): a, b, c pending; d idle; e idle but last failed; f inactive;
/// and `x` in another cadence.
fn fixture() -> BatchManager<MemoryRegistry, MemoryFileTracker, MemoryProcessingTracker> {
    let mut registry = MemoryRegistry::default();
    registry
        .cadences
        .insert("10min".to_owned(), settings("10min", 2));
    for (id, active) in [
        ("s.a", true),
        ("s.b", true),
        ("s.c", true),
        ("s.d", true),
        ("s.e", true),
        ("s.f", false),
    ] {
        registry.register(id, "10min", active, "{}");
    }
    registry.register("s.x", "daily", true, "{}");
    let backlog = MemoryFileTracker::default();
    for (table_id, files, bytes) in [
        ("s.a", 3, 300),
        ("s.b", 1, 100),
        ("s.c", 2, 250),
        ("s.f", 9, 900),
    ] {
        land(&backlog, table_id, files, bytes);
    }
    let outcomes = MemoryProcessingTracker::default();
    outcomes.set_last_outcome("s.d", RefreshOutcomeKind::Completed);
    outcomes.set_last_outcome("s.e", RefreshOutcomeKind::Failed);
    BatchManager::new(registry, backlog, outcomes, 4)
}

fn scheduled(plan: &BatchPlan) -> Vec<String> {
    let mut ids: Vec<String> = plan.batches.iter().flat_map(|b| b.tables.clone()).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn a_run_schedules_active_tables_with_work_and_leaves_out_inactive_and_idle_ones() {
    let manager = fixture();
    let plan = manager
        .plan(&json!({"refresh_cadence": "10min"}))
        .await
        .map_err(|e| e.to_string());
    let Ok(plan) = plan else {
        panic!("plan failed: {plan:?}");
    };
    assert_eq!(scheduled(&plan), vec!["s.a", "s.b", "s.c", "s.e"]);
    assert_eq!(
        plan.tables,
        PlanCounts {
            registered: 6,
            inactive: 1,
            idle: 1,
            scheduled: 4,
            pending_files: 6,
            pending_bytes: 650,
        }
    );
    assert_eq!(plan.max_concurrency, 3);
    // Balanced by bytes: a (300) + e (0) against c (250) + b (100).
    let batches: Vec<(u32, Vec<String>)> = plan
        .batches
        .iter()
        .map(|b| (b.batch, b.tables.clone()))
        .collect();
    assert_eq!(
        batches,
        vec![
            (0, vec!["s.c".to_owned(), "s.b".to_owned()]),
            (1, vec!["s.a".to_owned(), "s.e".to_owned()]),
        ]
    );
    assert!(plan.batches.iter().all(|b| b.refresh_cadence == "10min"));
    // The inactive table's backlog is never read; last outcomes only for tables with no files.
    assert!(!manager.backlog.summary_reads().contains(&"s.f".to_owned()));
    let mut outcome_reads = manager.outcomes.outcome_reads();
    outcome_reads.sort();
    assert_eq!(outcome_reads, vec!["s.d", "s.e"]);
}

#[tokio::test]
async fn the_plan_serialises_to_map_items_the_processor_accepts() {
    let plan = fixture()
        .plan(&json!({"refresh_cadence": "10min"}))
        .await
        .map_err(|e| e.to_string());
    let value = plan.map(|p| serde_json::to_value(&p).unwrap_or_default());
    let Ok(value) = value else {
        panic!("plan failed: {value:?}");
    };
    assert_eq!(value["max_concurrency"], json!(3));
    let Some(items) = value["batches"].as_array() else {
        panic!("no batches in {value}");
    };
    for item in items {
        let parsed = BatchInput::deserialize(item);
        assert!(parsed.is_ok(), "processor rejects {item}: {parsed:?}");
    }
}

#[tokio::test]
async fn include_idle_schedules_idle_tables_too() {
    let plan = fixture()
        .plan(&json!({"refresh_cadence": "10min", "include_idle": true}))
        .await
        .map_err(|e| e.to_string());
    assert_eq!(
        plan.map(|p| (scheduled(&p), p.tables.idle)),
        Ok((
            vec![
                "s.a".to_owned(),
                "s.b".to_owned(),
                "s.c".to_owned(),
                "s.d".to_owned(),
                "s.e".to_owned()
            ],
            0
        ))
    );
}

#[tokio::test]
async fn a_cadence_that_does_not_skip_idle_tables_schedules_them() {
    let mut manager = fixture();
    if let Some(s) = manager.registry.cadences.get_mut("10min") {
        s.skip_idle = false;
    }
    let plan = manager
        .plan(&json!({"refresh_cadence": "10min"}))
        .await
        .map_err(|e| e.to_string());
    assert_eq!(plan.map(|p| p.tables.scheduled), Ok(5));
}

#[tokio::test]
async fn a_table_filter_runs_exactly_those_tables_idle_or_not() {
    let plan = fixture()
        .plan(&json!({"refresh_cadence": "10min", "tables": ["s.d", "s.a", "s.d"]}))
        .await
        .map_err(|e| e.to_string());
    assert_eq!(
        plan.map(|p| (scheduled(&p), p.tables.registered)),
        Ok((vec!["s.a".to_owned(), "s.d".to_owned()], 2))
    );
}

#[tokio::test]
async fn a_table_filter_naming_an_inactive_or_foreign_table_is_refused() {
    let error = fixture()
        .plan(&json!({"refresh_cadence": "10min", "tables": ["s.a", "s.f", "s.x"]}))
        .await
        .map(|p| p.batches.len());
    let Err(error) = error else {
        panic!("a filter with unrunnable tables was planned: {error:?}");
    };
    assert_eq!(error.kind(), "UnrunnableTables");
    let message = error.to_string();
    assert!(message.contains("s.f (inactive"), "{message}");
    assert!(
        message.contains("s.x (not registered with this cadence"),
        "{message}"
    );
}

#[tokio::test]
async fn an_unknown_cadence_fails_the_run_with_a_clear_error() {
    let error = fixture()
        .plan(&json!({"refresh_cadence": "5min"}))
        .await
        .map(|p| p.batches.len());
    let Err(error) = error else {
        panic!("an unknown cadence was planned: {error:?}");
    };
    assert_eq!(error.kind(), "UnknownCadence");
    assert!(
        error
            .to_string()
            .contains("no cadence \"5min\" is configured")
    );
}

#[tokio::test]
async fn invalid_batch_settings_fail_the_run_naming_the_field() {
    let mut manager = fixture();
    if let Some(s) = manager.registry.cadences.get_mut("10min") {
        s.max_concurrency = 41;
    }
    let error = manager
        .plan(&json!({"refresh_cadence": "10min"}))
        .await
        .map(|p| p.batches.len());
    let Err(error) = error else {
        panic!("invalid settings were used: {error:?}");
    };
    assert_eq!(error.kind(), "InvalidCadence");
    assert!(
        error
            .to_string()
            .contains("max_concurrency is 41; it must be between 1 and 40"),
        "{error}"
    );
}

#[tokio::test]
async fn input_that_is_not_a_run_request_is_refused() {
    let manager = fixture();
    for input in [
        json!({}),
        json!({"refresh_cadence": ""}),
        json!({"refresh_cadence": "10min", "tabels": ["s.a"]}),
        json!("10min"),
    ] {
        let result = manager.plan(&input).await.map(|p| p.batches.len());
        assert!(
            matches!(result, Err(PlanError::BadInput(_))),
            "{input} gave {result:?}"
        );
    }
}

#[tokio::test]
async fn a_store_outage_is_reported_as_retryable() {
    let manager = fixture();
    manager.backlog.set_unreachable();
    let error = manager
        .plan(&json!({"refresh_cadence": "10min"}))
        .await
        .map(|p| p.batches.len());
    assert!(
        matches!(&error, Err(e) if e.kind() == "StoreUnavailable"),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_cadence_with_nothing_to_do_plans_an_empty_run() {
    let manager = fixture();
    manager.backlog.clear();
    manager.outcomes.forget_last_outcomes();
    let plan = manager
        .plan(&json!({"refresh_cadence": "10min"}))
        .await
        .map_err(|e| e.to_string());
    assert_eq!(plan.map(|p| (p.batches.len(), p.tables.idle)), Ok((0, 5)));
}
