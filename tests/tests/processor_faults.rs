//! Crash safety (docs/DESIGN.md §11): a fault at any step boundary of a refresh — a crash (every
//! later call fails too, as in a killed process) or a transient error (that call only) — followed
//! by reruns must leave the lake, the catalog and the file tracker exactly as one clean run does.
//!
//! Each scenario strikes one fault point in a table of every storage mode — `current`, `history`
//! (every change is a row, so a file applied twice or lost shows up as a row difference) and
//! `scd2` — once as a crash and once as a transient error: six tables, each refreshed by its own
//! faulty processor, concurrently. Every table goes through a full load over 110 partitions (two
//! catalog batches) and a CDC round with updates, partition moves, deletes and inserts into new
//! partitions, with the fault in one of the rounds, and is compared row by row with the clean
//! run's table of its mode. `a_lost_commit_race_is_a_conflict_and_publishes_nothing` races two
//! real refreshes of one table to its create-only snapshot put.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a failed step stops the test

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use chrono::Duration;
use futures::future::{BoxFuture, join_all};
use object_store::ObjectStore;
use serde_json::{Value, json};
use tokio::sync::{Notify, OnceCell};
use tributary_shared::lake::refresh::LakeStores;
use tributary_shared::ports::catalog::Catalog;
use tributary_shared::ports::file_tracker::FileBacklog;
use tributary_shared::ports::processing_tracker::{ProcessingTracker, RefreshOutcomeKind};
use tributary_shared::services::processor::Processor;
use tributary_tests::hooked_ports::{Hooked, PortHooks};
use tributary_tests::hooked_store::{Answered, Call, HookedStore, Operation, StoreHooks};
use tributary_tests::pipeline::Pipeline;

/// The storage modes every fault point strikes.
const MODES: [&str; 3] = ["current", "history", "scd2"];

/// The table of storage `mode` for `role` (`clean`, `crash`, `transient`): `sales.<mode>_<role>`.
fn table_id(mode: &str, role: &str) -> String {
    format!("sales.{mode}_{role}")
}

fn spec(table_id: &str, mode: &str) -> Value {
    let table = table_id.trim_start_matches("sales.");
    json!({
        "source": {"schema": "sales", "table": table},
        "target": {"database": "replaced", "table": table, "location": format!("sales/{table}")},
        "primary_key": ["id"],
        "ordering": {"commit_timestamp_column": "ts"},
        "storage_mode": mode,
        "partition_by": ["identity(store)"],
        "input": {"columns": [
            {"name": "id", "type": "bigint"},
            {"name": "store", "type": "string"},
            {"name": "amount", "type": "decimal(10,2)"},
            {"name": "ts", "type": "timestamp"}
        ]}
    })
}

/// Stores, the partitions of a full load: more than one catalog batch (100), few enough to keep
/// the suite fast.
const STORES: u32 = 110;

/// Round 1: a full load of 300 rows over [`STORES`] stores, in two files.
fn full_load() -> Vec<(String, String)> {
    let rows = |ids: std::ops::RangeInclusive<u32>| {
        ids.map(|id| format!("{id},s{:03},{id}.00,2024-01-01 00:00:00\n", id % STORES))
            .collect::<String>()
    };
    vec![
        ("LOAD00000001.csv".into(), rows(1..=150)),
        ("LOAD00000002.csv".into(), rows(151..=300)),
    ]
}

/// Round 2: updates in place, partition moves, deletes (PK-only before images), inserts into new
/// partitions and into existing ones (whose stored files are then copied, not rewritten), and a
/// delete followed by a re-insert — in two CDC files.
fn cdc() -> Vec<(String, String)> {
    let mut first = String::new();
    for id in 1..=30u32 {
        first.push_str(&format!(
            "U,{id},s{:03},{id}.50,2024-01-02 00:00:01\n",
            id % STORES
        ));
    }
    for id in 31..=40u32 {
        first.push_str(&format!(
            "U,{id},s{:03},{id}.75,2024-01-02 00:00:02\n",
            (id + 7) % STORES
        ));
    }
    for id in 41..=50u32 {
        first.push_str(&format!("D,{id},NULL,NULL,2024-01-02 00:00:03\n"));
    }
    let mut second = String::new();
    for id in 301..=320u32 {
        second.push_str(&format!(
            "I,{id},s{},{id}.00,2024-01-03 00:00:01\n",
            STORES + id % 20
        ));
    }
    for id in 321..=325u32 {
        second.push_str(&format!(
            "I,{id},s{:03},{id}.00,2024-01-03 00:00:01\n",
            id % STORES
        ));
    }
    second.push_str("D,60,NULL,NULL,2024-01-03 00:00:02\n");
    second.push_str("I,60,s999,60.60,2024-01-03 00:00:03\n");
    vec![
        ("20240102-000000000.csv".into(), first),
        ("20240103-000000000.csv".into(), second),
    ]
}

/// The lake, catalog and tracker state of one table.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    rows: Vec<String>,
    columns: Vec<String>,
    partitions: Vec<String>,
    pending: usize,
    processed: usize,
}

async fn outcome(pipeline: &Pipeline, table_id: &str) -> Outcome {
    let name = table_id.trim_start_matches("sales.");
    let glue = pipeline.glue_table(name).await.expect("the Glue table");
    Outcome {
        rows: pipeline.lake_rows(name).await,
        columns: glue
            .columns
            .iter()
            .chain(&glue.partition_keys)
            .map(|c| format!("{} {}", c.name, c.hive_type))
            .collect(),
        partitions: pipeline
            .catalog_partitions(name)
            .await
            .into_iter()
            .map(|p| p.values.join("/"))
            .collect(),
        pending: pipeline.pending_items(table_id).await.len(),
        processed: pipeline
            .tracker_items()
            .await
            .iter()
            .filter(|item| {
                tributary_tests::string_attr(item, "table_id") == table_id
                    && tributary_tests::string_attr(item, "status") == "processed"
            })
            .count(),
    }
}

/// A pipeline with `tables` registered, each as `(table id, storage mode)`.
async fn new_pipeline(tables: &[(String, &str)]) -> Pipeline {
    let pipeline = Pipeline::new(&[]).await;
    for (table_id, mode) in tables {
        pipeline.register(&spec(table_id, mode), true).await;
    }
    pipeline
}

async fn stage(pipeline: &Pipeline, tables: &[(String, &str)], files: &[(String, String)]) {
    for (table_id, _) in tables {
        for (name, contents) in files {
            pipeline.stage(table_id, name, contents.as_str()).await;
        }
    }
}

fn ids<'a>(tables: &'a [(String, &str)]) -> Vec<&'a str> {
    tables.iter().map(|(id, _)| id.as_str()).collect()
}

/// The outcomes of the scenario without faults, per storage mode, after round 1 and after round
/// 2 (computed once).
async fn clean_outcomes() -> &'static [HashMap<&'static str, Outcome>; 2] {
    static CLEAN: OnceCell<[HashMap<&'static str, Outcome>; 2]> = OnceCell::const_new();
    CLEAN
        .get_or_init(|| async {
            let tables: Vec<(String, &str)> = MODES
                .iter()
                .map(|mode| (table_id(mode, "clean"), *mode))
                .collect();
            let pipeline = new_pipeline(&tables).await;
            let mut rounds = Vec::new();
            for files in [full_load(), cdc()] {
                stage(&pipeline, &tables, &files).await;
                pipeline.run(&ids(&tables)).await;
                let mut outcomes = HashMap::new();
                for (table_id, mode) in &tables {
                    outcomes.insert(*mode, outcome(&pipeline, table_id).await);
                }
                rounds.push(outcomes);
            }
            let [loaded, clean]: [HashMap<&str, Outcome>; 2] =
                rounds.try_into().expect("two rounds");
            assert_eq!(loaded["current"].rows.len(), 300);
            assert_eq!(
                clean["current"].rows.len(),
                300 - 10 + 25,
                "current: loads − deletes + inserts"
            );
            assert_eq!(
                clean["history"].rows.len(),
                300 + 40 + 10 + 25 + 2,
                "history: every change"
            );
            assert_eq!(
                clean["scd2"].rows.len(),
                300 + 40 + 10 + 25 + 2,
                "scd2: a version per change"
            );
            for mode in MODES {
                assert!(
                    loaded[mode].partitions.len() > 100,
                    "{mode}: more than one catalog batch"
                );
                assert_eq!((clean[mode].pending, clean[mode].processed), (0, 4));
            }
            [loaded, clean]
        })
        .await
}

/// How a fault behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The process dies: this call and every later one fail.
    Crash,
    /// Only this call fails (throttling, a lost response); the processor goes on.
    Transient,
}

/// Where a fault strikes: the `nth` call of operation `op` in round `round`, before the call
/// reaches AWS or after it succeeded (its response is lost).
#[derive(Debug, Clone, Copy)]
struct Point {
    round: u8,
    op: &'static str,
    nth: u32,
    after: bool,
}

/// Fault state shared by every wrapped port of one processor.
#[derive(Debug)]
struct Faults {
    point: Point,
    kind: Kind,
    counts: Mutex<HashMap<&'static str, u32>>,
    tripped: AtomicBool,
}

impl Faults {
    fn new(point: Point, kind: Kind) -> Arc<Faults> {
        Arc::new(Faults {
            point,
            kind,
            counts: Mutex::new(HashMap::new()),
            tripped: AtomicBool::new(false),
        })
    }

    fn dead(&self) -> bool {
        self.kind == Kind::Crash && self.tripped.load(Ordering::SeqCst)
    }

    /// Before a call: fails when the process is dead or this is the fault's call.
    fn check_before(&self, op: &'static str) -> Result<u32, String> {
        if self.dead() {
            return Err(format!("injected crash: {op} after the process died"));
        }
        let mut counts = self.counts.lock().expect("fault counts");
        let n = counts.entry(op).or_insert(0);
        *n += 1;
        if self.strikes(op, *n, false) {
            return Err(format!("injected fault before {op} #{n}"));
        }
        Ok(*n)
    }

    /// After a successful call: fails when this is the fault's call (the response is lost).
    fn check_after(&self, op: &'static str, n: u32) -> Result<(), String> {
        if self.strikes(op, n, true) {
            return Err(format!("injected fault after {op} #{n} (response lost)"));
        }
        Ok(())
    }

    fn strikes(&self, op: &str, n: u32, after: bool) -> bool {
        let hit = self.point.op == op && self.point.nth == n && self.point.after == after;
        if hit {
            self.tripped.store(true, Ordering::SeqCst);
        }
        hit
    }

    fn fired(&self) -> bool {
        self.tripped.load(Ordering::SeqCst)
    }
}

/// Every port call is an operation named after its method.
impl PortHooks for Faults {
    fn before(&self, operation: &'static str) -> BoxFuture<'_, Result<u32, String>> {
        Box::pin(std::future::ready(Faults::check_before(self, operation)))
    }

    fn after(&self, operation: &'static str, n: u32) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(std::future::ready(Faults::check_after(self, operation, n)))
    }
}

/// Hooks injecting faults into a bucket's calls; operations are named `<bucket role>.<operation>`,
/// and lake puts are told apart by what they write (`data`, `snapshot`, `tombstone`).
#[derive(Debug)]
struct FaultyStore {
    faults: Arc<Faults>,
    role: &'static str,
}

impl FaultyStore {
    fn op(&self, call: Call<'_>) -> &'static str {
        let operation = match call.operation {
            Operation::Put | Operation::PutMultipart => "put",
            Operation::Get => "get",
            Operation::Copy => "copy",
            Operation::Delete => return "lake.delete",
            Operation::List | Operation::ListWithDelimiter => return "list_with_delimiter",
        };
        let what = if call.key().contains("_tributary/snapshots") {
            "snapshot"
        } else if call.key().contains("_tributary/tombstones") {
            "tombstone"
        } else {
            "data"
        };
        let name = format!("{}.{operation}.{what}", self.role);
        // Operation names are few and fixed; leaking them keeps the counter map simple.
        Box::leak(name.into_boxed_str())
    }

    fn error(detail: String) -> object_store::Error {
        object_store::Error::Generic {
            store: "fault injection",
            source: detail.into(),
        }
    }
}

impl StoreHooks for FaultyStore {
    fn before<'a>(&'a self, call: Call<'a>) -> BoxFuture<'a, object_store::Result<u32>> {
        let checked = self.faults.check_before(self.op(call)).map_err(Self::error);
        Box::pin(std::future::ready(checked))
    }

    fn after(&self, call: Call<'_>, answered: Answered<'_>) -> object_store::Result<()> {
        match answered.error {
            Some(_) => Ok(()),
            None => (self.faults)
                .check_after(self.op(call), answered.ticket)
                .map_err(Self::error),
        }
    }

    fn admit(&self, call: Call<'_>) -> object_store::Result<()> {
        match call.operation {
            Operation::Delete => self.faults.check_before(self.op(call)).map(|_| ()),
            _ if self.faults.dead() => Err("injected crash: list".to_owned()),
            _ => Ok(()),
        }
        .map_err(Self::error)
    }
}

/// A processor of `pipeline` whose ports and buckets all go through `faults`.
fn faulty_processor(
    pipeline: &Pipeline,
    faults: &Arc<Faults>,
) -> Processor<
    impl tributary_shared::ports::table_registry::TableRegistry,
    impl ProcessingTracker,
    impl FileBacklog,
    impl Catalog,
> {
    let (registry, tracker, backlog, catalog) = pipeline.ports();
    let stores = pipeline.stores();
    let wrap = |inner: Arc<dyn ObjectStore>, role| -> Arc<dyn ObjectStore> {
        let faults = Arc::clone(faults);
        Arc::new(HookedStore::new(inner, FaultyStore { faults, role }))
    };
    Processor::new(
        pipeline.config.settings.clone(),
        LakeStores {
            staging: wrap(stores.staging, "staging"),
            lake: wrap(stores.lake, "lake"),
        },
        (
            registry,
            Hooked::new(tracker, Arc::clone(faults)),
            Hooked::new(backlog, Arc::clone(faults)),
            Hooked::new(catalog, Arc::clone(faults)),
        ),
        pipeline.clock.clone(),
    )
}

/// Strikes `point` in a table of every storage mode, once as a crash and once as a transient
/// error (each table refreshed by its own faulty processor, all at once), reruns until the
/// backlog is empty, and compares each table with the clean run's table of its mode, right after
/// the faulty round (so a later round cannot mask a wrong state) and at the end.
async fn scenario(point: Point) {
    let expected = clean_outcomes().await;
    let cases: Vec<(Kind, &str, String)> = [Kind::Crash, Kind::Transient]
        .into_iter()
        .flat_map(|kind| {
            MODES.map(|mode| {
                let role = if kind == Kind::Crash {
                    "crash"
                } else {
                    "transient"
                };
                (kind, mode, table_id(mode, role))
            })
        })
        .collect();
    let tables: Vec<(String, &str)> = cases
        .iter()
        .map(|(_, mode, table_id)| (table_id.clone(), *mode))
        .collect();
    let pipeline = &new_pipeline(&tables).await;
    for (round, files) in [(1u8, full_load()), (2, cdc())] {
        stage(pipeline, &tables, &files).await;
        if round != point.round {
            pipeline.run(&ids(&tables)).await;
            continue;
        }
        let faults: Vec<Arc<Faults>> = cases
            .iter()
            .map(|(kind, _, _)| Faults::new(point, *kind))
            .collect();
        let processors: Vec<_> = faults
            .iter()
            .map(|faults| faulty_processor(pipeline, faults))
            .collect();
        join_all(
            processors
                .iter()
                .zip(&cases)
                .map(|(processor, (_, _, table_id))| async move {
                    pipeline.run_with(processor, &[table_id.as_str()]).await
                }),
        )
        .await;
        for ((kind, mode, _), faults) in cases.iter().zip(&faults) {
            assert!(
                faults.fired(),
                "{point:?} {kind:?} in the {mode} table: the fault never struck; the scenario \
                 proves nothing"
            );
        }
        // Reruns, after any lease the crashed runs left behind has expired, until one finds
        // nothing to do.
        for _ in 0..3 {
            pipeline.clock.advance(Duration::minutes(20));
            let summary = pipeline.run(&ids(&tables)).await;
            assert!(
                summary.tables.iter().all(|t| matches!(
                    t.outcome,
                    RefreshOutcomeKind::Completed | RefreshOutcomeKind::NoFiles
                )),
                "{point:?}: a rerun failed: {summary:?}"
            );
            if summary
                .tables
                .iter()
                .all(|t| t.outcome == RefreshOutcomeKind::NoFiles)
            {
                break;
            }
        }
        assert_like_the_clean_run(pipeline, &cases, &expected[usize::from(round) - 1], point).await;
    }
    assert_like_the_clean_run(pipeline, &cases, &expected[1], point).await;
}

async fn assert_like_the_clean_run(
    pipeline: &Pipeline,
    cases: &[(Kind, &str, String)],
    expected: &HashMap<&str, Outcome>,
    point: Point,
) {
    for (kind, mode, table_id) in cases {
        assert_eq!(
            &outcome(pipeline, table_id).await,
            &expected[mode],
            "{point:?} {kind:?} in the {mode} table: the lake differs from the clean run's"
        );
    }
}

macro_rules! fault_tests {
    ($($name:ident: $round:expr, $op:expr, $nth:expr, $after:expr;)*) => {
        $(
            #[tokio::test]
            async fn $name() {
                scenario(Point { round: $round, op: $op, nth: $nth, after: $after }).await;
            }
        )*
    };
}

fault_tests! {
    after_lease_before_reading_the_backlog: 2, "pending", 1, false;
    while_reading_dms_files: 2, "staging.get.data", 1, false;
    after_some_partition_files_were_written: 1, "lake.put.data", 3, false;
    after_unaffected_files_were_copied: 2, "lake.copy.data", 2, false;
    at_the_lease_check_before_the_commit: 2, "confirm", 1, false;
    when_the_snapshot_put_fails: 2, "lake.put.snapshot", 1, false;
    after_the_snapshot_was_committed_response_lost: 2, "lake.put.snapshot", 1, true;
    after_the_commit_before_the_catalog: 1, "ensure_database", 1, false;
    after_the_table_was_created_before_its_partitions: 1, "create_partitions", 1, false;
    after_some_partitions_were_published_before_others: 1, "create_partitions", 2, false;
    after_new_partitions_before_moved_ones: 2, "update_partitions", 1, false;
    after_publishing_before_marking_files: 2, "mark_processed", 1, false;
    after_marking_files_response_lost: 2, "mark_processed", 1, true;
    before_the_history_item: 2, "record_refresh", 1, false;
    before_releasing_the_lease: 2, "release", 1, false;
    during_garbage_collection: 2, "lake.delete", 1, false;
}

/// Hooks of the lake bucket of a processor that stops at its commit point: its snapshot put
/// waits until the test releases it. Records the keys written through it and how the snapshot
/// put ended.
#[derive(Debug, Default)]
struct GatedLake {
    at_commit: Notify,
    release: Notify,
    written: Mutex<Vec<String>>,
    snapshot_refused: AtomicBool,
}

impl StoreHooks for GatedLake {
    fn before<'a>(&'a self, call: Call<'a>) -> BoxFuture<'a, object_store::Result<u32>> {
        Box::pin(async move {
            let writes = [Operation::Put, Operation::PutMultipart, Operation::Copy];
            if writes.contains(&call.operation) {
                let mut written = self.written.lock().expect("written keys");
                written.push(call.key().to_owned());
            }
            if is_snapshot_put(call) {
                self.at_commit.notify_one();
                self.release.notified().await;
            }
            Ok(0)
        })
    }

    fn after(&self, call: Call<'_>, answered: Answered<'_>) -> object_store::Result<()> {
        if is_snapshot_put(call)
            && matches!(
                answered.error,
                Some(
                    object_store::Error::AlreadyExists { .. }
                        | object_store::Error::Precondition { .. }
                )
            )
        {
            self.snapshot_refused.store(true, Ordering::SeqCst);
        }
        Ok(())
    }
}

fn is_snapshot_put(call: Call<'_>) -> bool {
    call.operation == Operation::Put && call.key().contains("_tributary/snapshots")
}

#[tokio::test]
async fn a_lost_commit_race_is_a_conflict_and_publishes_nothing() {
    let expected = clean_outcomes().await;
    let table = table_id("history", "race");
    let tables = vec![(table.clone(), "history")];
    let pipeline = new_pipeline(&tables).await;
    stage(&pipeline, &tables, &full_load()).await;
    pipeline.run(&[&table]).await;
    stage(&pipeline, &tables, &cdc()).await;

    let lake = Arc::new(HookedStore::new(
        pipeline.lake_store(),
        GatedLake::default(),
    ));
    let gate = lake.hooks();
    let (registry, tracker, backlog, catalog) = pipeline.ports();
    let loser = Processor::new(
        pipeline.config.settings.clone(),
        LakeStores {
            staging: pipeline.staging_store(),
            lake: Arc::clone(&lake) as Arc<dyn ObjectStore>,
        },
        (registry, tracker, backlog, catalog),
        pipeline.clock.clone(),
    );
    let winner = async {
        // The loser stands at its commit point with its lease confirmed and its partition
        // versions written. Its lease lapses (its Lambda would have been stopped) and another
        // processor takes the table over and refreshes it to the end, committing version 2.
        gate.at_commit.notified().await;
        pipeline.clock.advance(Duration::minutes(20));
        let summary = pipeline.run(&[&table]).await;
        gate.release.notify_one();
        summary
    };
    let tables = [table.as_str()];
    let (lost, won) = tokio::join!(pipeline.run_with(&loser, &tables), winner);
    let (lost, won) = (&lost.tables[0], &won.tables[0]);
    assert_eq!(
        (won.outcome, won.totals.files),
        (RefreshOutcomeKind::Completed, 2),
        "{won:?}"
    );
    assert!(
        gate.snapshot_refused.load(Ordering::SeqCst),
        "the loser's create-only put of snapshot 2 met the winner's: {lost:?}"
    );
    assert!(
        lost.outcome != RefreshOutcomeKind::Completed && lost.refreshes == 0,
        "the loser committed nothing: {lost:?}"
    );

    let name = table.trim_start_matches("sales.");
    let lake_prefix = format!("s3://{}/", pipeline.config.lake_bucket);
    let loser_data: Vec<String> = gate
        .written
        .lock()
        .expect("written keys")
        .iter()
        .filter(|key| key.contains("/data/"))
        .cloned()
        .collect();
    assert!(!loser_data.is_empty(), "the loser wrote partition versions");
    let partitions = pipeline.catalog_partitions(name).await;
    assert!(!partitions.is_empty());
    for location in partitions.iter().map(|p| &p.location) {
        let folder = location.trim_start_matches(&lake_prefix);
        assert!(
            !loser_data.iter().any(|key| key.starts_with(folder)),
            "the catalog points at the loser's folder {location}"
        );
    }
    assert_eq!(
        &outcome(&pipeline, &table).await,
        &expected[1]["history"],
        "the winner's state is intact: the table equals one clean run's, row by row"
    );
}
