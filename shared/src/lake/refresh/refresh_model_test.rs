#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Property tests: whatever the arrival order, grouping, re-deliveries and crashes, the lake holds
//! exactly what a naive in-memory model of the total order derives from the changes applied so
//! far, in each storage mode. The order is (ts, file order key, row position); full-load rows
//! have no ordering value and precede every CDC change (refresh/input.rs `change_batch`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use object_store::{ObjectStoreExt, PutPayload};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::lake::paths::{DATA_DIR, TOMBSTONE_DIR, TableRoot};
use crate::lake::refresh::{PendingFile, RefreshCounts};
use crate::lake::test_support::Lake;

/// CDC files a scenario may split its changes into.
const MAX_CDC_FILES: usize = 5;
/// CDC files plus the optional full load.
const MAX_FILES: usize = MAX_CDC_FILES + 1;
/// Arrival slot of the full-load file.
const LOAD_SLOT: usize = MAX_CDC_FILES;

/// The ORDERS table of refresh_test.rs with a bigint amount, in storage mode `mode`, with row
/// groups of `row_group_rows` rows (tiny ones make key lookups select among row groups).
fn config(mode: &str, row_group_rows: usize) -> String {
    format!(
        r#"{{
  "source": {{"schema": "sales", "table": "orders"}},
  "target": {{"database": "lake", "table": "orders", "location": "lake/orders"}},
  "primary_key": ["id"],
  "ordering": {{"commit_timestamp_column": "ts"}},
  "storage_mode": "{mode}",
  "partition_by": ["identity(region)"],
  "output": {{"row_group_rows": {row_group_rows}}},
  "input": {{"columns": [
    {{"name": "id", "type": "bigint"}},
    {{"name": "region", "type": "string"}},
    {{"name": "amount", "type": "bigint"}},
    {{"name": "ts", "type": "timestamp"}}
  ]}}
}}"#
    )
}

/// Operation of a generated CDC change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Insert,
    Update,
    /// A delete carrying the row's values.
    Delete,
    /// A delete carrying only the key and the commit time (`D,3,NULL,NULL,<ts>`).
    DeleteKeyOnly,
}

/// One generated CDC change; `file` picks its CDC file (modulo the file count).
#[derive(Debug, Clone)]
struct Change {
    op: Op,
    id: u8,
    region: Option<&'static str>,
    amount: i64,
    /// Seconds after 2024-01-01 00:00:00; a small range, so ties are frequent.
    ts: u8,
    file: usize,
}

/// One generated full-load row (its key is the map key).
#[derive(Debug, Clone)]
struct LoadRow {
    region: Option<&'static str>,
    amount: i64,
    ts: u8,
}

/// What one refresh does besides applying its new files.
#[derive(Debug, Clone)]
struct RefreshPlan {
    /// First run the refresh and lose its commit (the snapshot is deleted, its data files stay).
    crash_before_commit: bool,
    /// Leave junk in an uncommitted partition version and tombstone file first.
    junk: bool,
    /// After the commit, run it again with the same files (must change nothing).
    retry_after_commit: bool,
    /// Bit mask over the files applied earlier: re-deliver those with the new ones.
    redeliver: u8,
    /// List the first new file twice.
    duplicate: bool,
}

/// A generated history, its split into files and its delivery.
#[derive(Debug, Clone)]
struct Scenario {
    full_load: Option<BTreeMap<u8, LoadRow>>,
    changes: Vec<Change>,
    cdc_files: usize,
    /// CDC file `i` is named after `name_ranks[i]` (a permutation).
    name_ranks: Vec<usize>,
    /// Files arrive in name order (full load first) instead of in `arrival` order.
    arrive_in_name_order: bool,
    /// Arrival rank of each file slot (CDC files `0..MAX_CDC_FILES`, then the full load).
    arrival: Vec<usize>,
    /// A refresh ends after the file at this arrival position (and after the last one).
    cuts: Vec<bool>,
    refreshes: Vec<RefreshPlan>,
    /// Rows per Parquet row group of the lake files.
    row_group_rows: usize,
}

/// A DMS file of a scenario, before staging.
#[derive(Debug, Clone)]
struct DmsFile {
    slot: usize,
    name: String,
    contents: String,
    rows: Vec<ModelRow>,
}

/// A change's place in the total order: ordering value (none for full-load rows, which precede
/// every CDC change), file order key, row position.
type Order = (Option<u8>, String, usize);

/// A change as the model sees it.
#[derive(Debug, Clone)]
struct ModelRow {
    /// `I`, `U`, `D`, or `L` for full-load rows.
    op: &'static str,
    id: u8,
    region: Option<&'static str>,
    amount: Option<i64>,
    ts: u8,
    /// Its place in the total order (the file order key is filled in once staged).
    order: Order,
}

/// `2024-01-01 00:00:0s` as written in DMS CSV files.
fn csv_time(ts: u8) -> String {
    format!("2024-01-01 00:00:{ts:02}")
}

/// A timestamp as arrow displays it (what `Lake::rows` shows).
fn shown_time(ts: u8) -> String {
    format!("2024-01-01T00:00:{ts:02}")
}

/// A CSV field, `NULL` for null.
fn csv_value<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "NULL".to_owned(), |v| v.to_string())
}

/// A value as `Lake::rows` shows it, `null` for null.
fn shown_value<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "null".to_owned(), |v| v.to_string())
}

impl Scenario {
    /// The scenario's non-empty DMS files, by slot.
    fn files(&self) -> Vec<DmsFile> {
        let mut files = Vec::new();
        for slot in 0..self.cdc_files {
            let changes: Vec<&Change> = self
                .changes
                .iter()
                .filter(|c| c.file % self.cdc_files == slot)
                .collect();
            if changes.is_empty() {
                continue;
            }
            let mut contents = String::new();
            let mut rows = Vec::new();
            for (position, change) in changes.iter().enumerate() {
                let (op, region, amount) = match change.op {
                    Op::Insert => ("I", change.region, Some(change.amount)),
                    Op::Update => ("U", change.region, Some(change.amount)),
                    Op::Delete => ("D", change.region, Some(change.amount)),
                    Op::DeleteKeyOnly => ("D", None, None),
                };
                let _ = writeln!(
                    contents,
                    "{op},{},{},{},{}",
                    change.id,
                    csv_value(region),
                    csv_value(amount),
                    csv_time(change.ts)
                );
                rows.push(ModelRow {
                    op,
                    id: change.id,
                    region,
                    amount,
                    ts: change.ts,
                    order: (Some(change.ts), String::new(), position),
                });
            }
            let rank = self.name_ranks.get(slot).copied().unwrap_or(slot);
            files.push(DmsFile {
                slot,
                name: format!("20240101-0000{rank:02}000.csv"),
                contents,
                rows,
            });
        }
        if let Some(load) = &self.full_load {
            let mut contents = String::new();
            let mut rows = Vec::new();
            for (position, (id, row)) in load.iter().enumerate() {
                let _ = writeln!(
                    contents,
                    "{id},{},{},{}",
                    csv_value(row.region),
                    row.amount,
                    csv_time(row.ts)
                );
                rows.push(ModelRow {
                    op: "L",
                    id: *id,
                    region: row.region,
                    amount: Some(row.amount),
                    ts: row.ts,
                    order: (None, String::new(), position),
                });
            }
            files.push(DmsFile {
                slot: LOAD_SLOT,
                name: "LOAD00000001.csv".to_owned(),
                contents,
                rows,
            });
        }
        files
    }

    /// Indices into `files` grouped by refresh, in arrival order.
    fn groups(&self, files: &[DmsFile]) -> Vec<Vec<usize>> {
        let mut order: Vec<usize> = (0..files.len()).collect();
        if self.arrive_in_name_order {
            order.sort_by_key(|i| (files[*i].slot != LOAD_SLOT, files[*i].name.clone()));
        } else {
            order.sort_by_key(|i| self.arrival.get(files[*i].slot).copied().unwrap_or(0));
        }
        let mut groups = vec![Vec::new()];
        for (position, index) in order.iter().enumerate() {
            groups.last_mut().unwrap().push(*index);
            if self.cuts.get(position).copied().unwrap_or(false) && position + 1 < order.len() {
                groups.push(Vec::new());
            }
        }
        groups
    }

    /// The files, their contents and the refreshes, for failure messages.
    fn describe(&self) -> String {
        let files = self.files();
        let mut text = format!("row groups of {} rows; files:\n", self.row_group_rows);
        for file in &files {
            let _ = writeln!(
                text,
                "  {}:\n    {}",
                file.name,
                file.contents.trim_end().replace('\n', "\n    ")
            );
        }
        text.push_str("refreshes:\n");
        for (group, indices) in self.groups(&files).iter().enumerate() {
            let names: Vec<&str> = indices.iter().map(|i| files[*i].name.as_str()).collect();
            let _ = writeln!(text, "  {names:?} {:?}", self.refreshes.get(group));
        }
        text
    }
}

/// `col=value` pairs rendered like `Lake::rows`: sorted, joined by `,`.
fn render_row(mut parts: Vec<String>) -> String {
    parts.sort();
    parts.join(",")
}

/// The source columns of a change.
fn source_parts(row: &ModelRow) -> Vec<String> {
    vec![
        format!("amount={}", shown_value(row.amount)),
        format!("id={}", row.id),
        format!("region={}", shown_value(row.region)),
        format!("ts={}", shown_time(row.ts)),
    ]
}

/// Current mode: per key, the newest change of all applied changes, if it is not a delete.
fn current_state(model: &[ModelRow]) -> BTreeMap<u8, &ModelRow> {
    let mut newest: BTreeMap<u8, &ModelRow> = BTreeMap::new();
    for row in model {
        let entry = newest.entry(row.id).or_insert(row);
        if row.order > entry.order {
            *entry = row;
        }
    }
    newest.retain(|_, row| row.op != "D");
    newest
}

/// SCD2 mode: per key, the changes in total order (equal orders once), each a version
/// `(change, valid_to, is_current)`.
fn scd2_versions(model: &[ModelRow]) -> Vec<(&ModelRow, Option<u8>, bool)> {
    let mut chains: BTreeMap<u8, Vec<&ModelRow>> = BTreeMap::new();
    for row in model {
        chains.entry(row.id).or_default().push(row);
    }
    let mut versions = Vec::new();
    for chain in chains.values_mut() {
        chain.sort_by(|a, b| a.order.cmp(&b.order));
        chain.dedup_by(|later, earlier| later.order == earlier.order);
        for (position, row) in chain.iter().enumerate() {
            let next = chain.get(position + 1);
            versions.push((*row, next.map(|n| n.ts), next.is_none()));
        }
    }
    versions
}

/// The rows `Lake::rows` must show after applying `model`, sorted.
fn expected_rows(mode: &str, model: &[ModelRow]) -> Vec<String> {
    let mut rows: Vec<String> = match mode {
        "current" => current_state(model)
            .values()
            .map(|row| render_row(source_parts(row)))
            .collect(),
        "history" => model
            .iter()
            .map(|row| {
                let mut parts = source_parts(row);
                parts.push(format!("cdc_op={}", row.op));
                render_row(parts)
            })
            .collect(),
        "scd2" => scd2_versions(model)
            .into_iter()
            .map(|(row, valid_to, is_current)| {
                let mut parts = source_parts(row);
                parts.push(format!("valid_from={}", shown_time(row.ts)));
                parts.push(format!(
                    "valid_to={}",
                    shown_value(valid_to.map(shown_time))
                ));
                parts.push(format!("is_current={is_current}"));
                parts.push(format!("is_deleted={}", row.op == "D"));
                render_row(parts)
            })
            .collect(),
        other => panic!("unknown mode {other}"),
    };
    rows.sort();
    rows
}

/// The counts a refresh applying `new` on top of `before` must report.
fn check_counts(
    mode: &str,
    before: &[ModelRow],
    after: &[ModelRow],
    new: u64,
    counts: RefreshCounts,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(counts.changes_read, new, "changes_read");
    match mode {
        "current" => {
            let old = current_state(before);
            let now = current_state(after);
            let keys: BTreeSet<u8> = old.keys().chain(now.keys()).copied().collect();
            let mut expected = RefreshCounts {
                changes_read: new,
                ..RefreshCounts::default()
            };
            for key in keys {
                match (old.get(&key), now.get(&key)) {
                    (Some(_), None) => expected.deleted += 1,
                    (None, Some(_)) => expected.inserted += 1,
                    (Some(a), Some(b)) if a.order != b.order => expected.updated += 1,
                    _ => {}
                }
            }
            prop_assert_eq!(
                (counts.inserted, counts.updated, counts.deleted),
                (expected.inserted, expected.updated, expected.deleted),
                "current-mode effects (inserted, updated, deleted)"
            );
            prop_assert_eq!(
                counts.inserted
                    + counts.updated
                    + counts.deleted
                    + counts.ignored
                    + counts.superseded,
                new,
                "changes_read = effects + ignored + superseded: {:?}",
                counts
            );
        }
        "history" => {
            prop_assert_eq!(
                counts,
                RefreshCounts {
                    changes_read: new,
                    inserted: new,
                    ..RefreshCounts::default()
                }
            );
        }
        _ => {
            let links = |model: &[ModelRow]| -> BTreeMap<Order, (Option<u8>, bool)> {
                scd2_versions(model)
                    .into_iter()
                    .map(|(row, to, current)| (row.order.clone(), (to, current)))
                    .collect()
            };
            let old = links(before);
            let now = links(after);
            let relinked = old
                .iter()
                .filter(|(order, link)| now.get(*order).is_some_and(|l| l != *link))
                .count() as u64;
            let added = (now.len() - old.len()) as u64;
            prop_assert_eq!(
                (
                    counts.inserted,
                    counts.updated,
                    counts.inserted + counts.ignored
                ),
                (added, relinked, new),
                "scd2 counts (inserted, updated, inserted + ignored): {:?}",
                counts
            );
        }
    }
    Ok(())
}

/// Writes junk where a crashed refresh of the next version would have left files: a partition
/// version folder and a tombstone file that no snapshot references.
async fn leave_junk(lake: &Lake, refresh: usize) {
    let next = lake.snapshot().await.version + 1;
    let region = ["eu", "us", "__HIVE_DEFAULT_PARTITION__"][refresh % 3];
    let junk: Vec<u8> = b"PAR1"
        .iter()
        .copied()
        .chain((0..200u32).map(|i| (i * 37 + refresh as u32) as u8))
        .collect();
    let root = TableRoot::new(&lake.config.location);
    let data = root.join(&format!(
        "{DATA_DIR}/region={region}/v{next:010}-crashed{refresh}/part-{next:010}-00000.parquet"
    ));
    let tombstone = root.join(&format!(
        "{TOMBSTONE_DIR}/v{next:010}-crashed{refresh}-00000.parquet"
    ));
    for path in [data, tombstone] {
        lake.stores
            .lake
            .put(&path, PutPayload::from(junk.clone()))
            .await
            .unwrap();
    }
}

/// A test failure naming what failed.
fn failed(context: &str, error: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(format!("{context}: {error}"))
}

/// Plays the scenario against a fresh lake in `mode`, comparing the lake with the model after
/// every refresh, every lost commit and every retry.
async fn play(mode: &str, scenario: &Scenario) -> Result<(), TestCaseError> {
    let described = scenario.describe();
    let mut lake = Lake::new(&config(mode, scenario.row_group_rows));
    let mut files: Vec<(PendingFile, DmsFile)> = Vec::new();
    for mut file in scenario.files() {
        let pending = lake.stage(&file.name, file.contents.clone()).await;
        for row in &mut file.rows {
            row.order.1.clone_from(&pending.order_key);
        }
        files.push((pending, file));
    }
    let groups = scenario.groups(&files.iter().map(|(_, f)| f.clone()).collect::<Vec<_>>());
    let mut applied: Vec<usize> = Vec::new();
    let mut model: Vec<ModelRow> = Vec::new();
    let mut expected = expected_rows(mode, &model);
    for (number, group) in groups.iter().enumerate() {
        let plan = scenario
            .refreshes
            .get(number)
            .cloned()
            .unwrap_or(RefreshPlan {
                crash_before_commit: false,
                junk: false,
                retry_after_commit: false,
                redeliver: 0,
                duplicate: false,
            });
        let redelivered: Vec<usize> = applied
            .iter()
            .enumerate()
            .filter(|(bit, _)| plan.redeliver & (1 << bit) != 0)
            .map(|(_, i)| *i)
            .collect();
        let mut pending: Vec<PendingFile> = group
            .iter()
            .chain(&redelivered)
            .map(|i| files[*i].0.clone())
            .collect();
        if plan.duplicate {
            pending.push(files[group[0]].0.clone());
        }
        pending.sort_by(|a, b| a.order_key.cmp(&b.order_key));
        let step = format!("refresh {number} of {}\n{described}", groups.len());

        if plan.junk {
            leave_junk(&lake, number).await;
        }
        if plan.crash_before_commit {
            let lost = lake
                .refresh(&pending)
                .await
                .map_err(|e| failed("refresh before the crash", e))?;
            let version = lost
                .commit
                .map(|c| c.version)
                .ok_or_else(|| failed("refresh before the crash", "nothing committed"))?;
            lake.stores
                .lake
                .delete(&TableRoot::new(&lake.config.location).snapshot(version))
                .await
                .unwrap();
            prop_assert_eq!(
                lake.rows().await,
                expected.clone(),
                "after a lost commit, {}",
                step
            );
        }

        let outcome = lake.refresh(&pending).await.map_err(|e| failed(&step, e))?;
        let before = model.clone();
        let mut new_rows = 0;
        for index in group {
            new_rows += files[*index].1.rows.len() as u64;
            model.extend(files[*index].1.rows.iter().cloned());
            applied.push(*index);
        }
        expected = expected_rows(mode, &model);
        prop_assert!(outcome.commit.is_some(), "nothing committed, {}", step);
        let already: BTreeSet<String> = outcome.already_applied.iter().cloned().collect();
        let redelivered_ids: BTreeSet<String> =
            redelivered.iter().map(|i| files[*i].0.id.clone()).collect();
        prop_assert_eq!(already, redelivered_ids, "already applied, {}", step);
        check_counts(mode, &before, &model, new_rows, outcome.counts)
            .map_err(|e| failed(&step, e))?;
        prop_assert_eq!(lake.rows().await, expected.clone(), "{}", step);

        if plan.retry_after_commit {
            let again = lake.refresh(&pending).await.map_err(|e| failed(&step, e))?;
            prop_assert!(
                again.commit.is_none(),
                "a retry after the commit committed again, {}",
                step
            );
            let already: BTreeSet<String> = again.already_applied.iter().cloned().collect();
            let all: BTreeSet<String> = pending.iter().map(|f| f.id.clone()).collect();
            prop_assert_eq!(already, all, "retry after the commit, {}", step);
            prop_assert_eq!(
                again.counts,
                RefreshCounts::default(),
                "retry after the commit, {}",
                step
            );
            prop_assert_eq!(
                lake.rows().await,
                expected.clone(),
                "after a retry, {}",
                step
            );
        }
    }
    Ok(())
}

/// Runs `play` on a single-threaded runtime (proptest bodies are synchronous).
fn block_on(mode: &str, scenario: &Scenario) -> Result<(), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(play(mode, scenario))
}

/// `eu`, `us` or null.
fn region() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![Just(Some("eu")), Just(Some("us")), Just(None)]
}

/// A change with a small key and time range, so that keys repeat and times tie often.
fn change() -> impl Strategy<Value = Change> {
    let op = prop_oneof![3 => Just(Op::Insert), 3 => Just(Op::Update), 2 => Just(Op::Delete), 2 => Just(Op::DeleteKeyOnly)];
    (op, 1..=6u8, region(), 0..100i64, 0..=5u8, 0..MAX_CDC_FILES).prop_map(
        |(op, id, region, amount, ts, file)| Change {
            op,
            id,
            region,
            amount,
            ts,
            file,
        },
    )
}

/// Crashes, junk, retries and re-deliveries of one refresh.
fn refresh_plan() -> impl Strategy<Value = RefreshPlan> {
    (
        prop::bool::weighted(0.25),
        prop::bool::weighted(0.3),
        prop::bool::weighted(0.25),
        any::<u8>(),
        prop::bool::weighted(0.15),
    )
        .prop_map(
            |(crash_before_commit, junk, retry_after_commit, redeliver, duplicate)| RefreshPlan {
                crash_before_commit,
                junk,
                retry_after_commit,
                redeliver,
                duplicate,
            },
        )
}

/// A whole scenario: history, files, arrival, grouping and lake row-group size.
fn scenario() -> impl Strategy<Value = Scenario> {
    let load_row = (region(), 0..100i64, 0..=5u8).prop_map(|(region, amount, ts)| LoadRow {
        region,
        amount,
        ts,
    });
    (
        prop::option::weighted(0.4, prop::collection::btree_map(1..=6u8, load_row, 1..=4)),
        prop::collection::vec(change(), 1..=24),
        1..=MAX_CDC_FILES,
        Just((0..MAX_CDC_FILES).collect::<Vec<_>>()).prop_shuffle(),
        prop::bool::weighted(0.3),
        Just((0..MAX_FILES).collect::<Vec<_>>()).prop_shuffle(),
        prop::collection::vec(prop::bool::weighted(0.7), MAX_FILES),
        prop::collection::vec(refresh_plan(), MAX_FILES),
        prop_oneof![Just(1usize), Just(2), Just(3), Just(131_072)],
    )
        .prop_map(
            |(
                full_load,
                changes,
                cdc_files,
                name_ranks,
                arrive_in_name_order,
                arrival,
                cuts,
                refreshes,
                row_group_rows,
            )| Scenario {
                full_load,
                changes,
                cdc_files,
                name_ranks,
                arrive_in_name_order,
                arrival,
                cuts,
                refreshes,
                row_group_rows,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, .. ProptestConfig::default() })]

    #[test]
    fn current_mode_lake_equals_model_under_any_arrival_order_and_retries(scenario in scenario()) {
        block_on("current", &scenario)?;
    }

    #[test]
    fn history_mode_lake_holds_every_change_once_under_any_arrival_order_and_retries(scenario in scenario()) {
        block_on("history", &scenario)?;
    }

    #[test]
    fn scd2_mode_lake_equals_model_versions_under_any_arrival_order_and_retries(scenario in scenario()) {
        block_on("scd2", &scenario)?;
    }
}
