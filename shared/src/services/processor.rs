//! The processor service: refreshes each table of a Step Functions Map item, one after another,
//! and publishes the results (docs/DESIGN.md §11).
//!
//! One table refresh: lease → pending files (bounded chunk, table order) → merge and commit
//! (the commit point is the lake snapshot, guarded by the lease) → publish to the catalog →
//! mark the files processed → history item → garbage collection; repeated while files remain and
//! the deadline allows, then the lease is released. A table's failure is recorded and the next
//! table runs; only an unreadable input fails the invocation.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::Value;
use thiserror::Error;
use tracing::{info, warn};

use crate::contract::{BatchInput, BatchSummary, TableSummary};
use crate::lake::engine::{CommitGuard, LakeStores};
use crate::lake::table_config::TableConfig;
use crate::ports::catalog::Catalog;
use crate::ports::clock::Clock;
use crate::ports::file_tracker::{BacklogLimit, FileBacklog};
use crate::ports::processing_tracker::{
    Lease, LeaseGrant, ProcessingTracker, RefreshOutcomeKind, RefreshRecord, RefreshTotals,
};
use crate::ports::state_store::StoreError;
use crate::ports::table_registry::TableRegistry;

#[path = "processor_chunk.rs"]
mod chunk;

use chunk::ChunkRun;

/// Longest error message a summary or history item carries.
const MAX_ERROR_CHARS: usize = 1_000;
/// Most quarantined files a table summary lists.
const MAX_LISTED_QUARANTINED: usize = 20;

/// Tunables of the processor (read once from the environment by the function).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessorSettings {
    /// URL of the lake bucket, e.g. `s3://my-lake`; catalog locations start with it.
    pub lake_url: String,
    /// Most files and bytes one refresh applies.
    pub backlog_limit: BacklogLimit,
    /// A file failing the same way this many times is quarantined.
    pub quarantine_after: u32,
    /// No table or chunk is started with less time than this (plus the slowest chunk so far)
    /// left before the invocation's deadline.
    pub deadline_margin: Duration,
    /// A lease lasts until the invocation's deadline plus this, so it outlives its holder.
    pub lease_slack: Duration,
    /// Minimum age of a partition version before it is garbage-collected.
    pub gc_grace: Duration,
    /// How long processed files stay in the tracker as history.
    pub processed_file_ttl: Duration,
    /// How long processing-history items are kept.
    pub history_ttl: Duration,
}

/// The invocation's identity and time limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The Lambda request id; it owns the leases the invocation takes.
    pub request_id: String,
    /// When the invocation is killed.
    pub deadline: DateTime<Utc>,
}

impl TableSummary {
    fn new(table: &str, outcome: RefreshOutcomeKind) -> Self {
        TableSummary {
            table: table.to_owned(),
            outcome,
            refreshes: 0,
            totals: RefreshTotals::default(),
            more_pending: false,
            lag_seconds: None,
            quarantined: Vec::new(),
            error: None,
            duration_ms: 0,
        }
    }

    fn fail(mut self, error: impl std::fmt::Display) -> Self {
        self.mark_failed(error);
        self
    }

    fn mark_failed(&mut self, error: impl std::fmt::Display) {
        self.outcome = RefreshOutcomeKind::Failed;
        self.error = Some(truncate(&error.to_string()));
    }
}

/// The invocation itself could not run (as opposed to a table failing).
#[derive(Debug, Error)]
pub enum InvocationError {
    /// The input is not a batch.
    #[error(
        "the processor input is not a batch: {0}; expected {{\"refresh_cadence\": \"10min\", \"batch\": 0, \"tables\": [\"schema.table\", …]}}"
    )]
    BadInput(String),
}

impl InvocationError {
    /// A short error type for the Lambda error response.
    pub fn kind(&self) -> &'static str {
        match self {
            InvocationError::BadInput(_) => "BadInput",
        }
    }
}

/// The ports and settings the processor runs with.
pub struct Processor<R, T, B, C> {
    settings: ProcessorSettings,
    stores: LakeStores,
    registry: R,
    tracker: T,
    backlog: B,
    catalog: C,
    clock: Arc<dyn Clock>,
}

/// What a chunk did to the table's files.
#[derive(Debug, Default)]
struct Done {
    totals: RefreshTotals,
    /// Tracker ids of the files now processed.
    files: Vec<String>,
    /// Tracker ids of the files now superseded.
    superseded: Vec<String>,
    /// The snapshot published.
    snapshot_version: Option<u64>,
}

impl Done {
    /// Adds what `other` did.
    fn absorb(&mut self, other: Done) {
        self.totals.add(&other.totals);
        self.files.extend(other.files);
        self.superseded.extend(other.superseded);
        self.snapshot_version = other.snapshot_version.or(self.snapshot_version);
    }

    /// Whether any file was applied or set aside.
    fn progressed(&self) -> bool {
        !self.files.is_empty() || !self.superseded.is_empty()
    }
}

/// How a chunk ended.
enum Chunk {
    /// Nothing pending.
    Empty,
    /// Files were applied (or found applied) or superseded.
    Applied(Done),
    /// A file was quarantined and left aside (`on_bad_file: skip`), after the files before it
    /// were applied; go on.
    SkippedBadFile { done: Done, key: String },
    /// The table cannot go on in this invocation (after the files before a bad one were
    /// applied).
    Failed {
        done: Done,
        error: String,
        quarantined: Option<String>,
    },
    /// Another processor took the lease over: this one lost the table (not a failure).
    LostLease { done: Done, error: String },
}

impl Chunk {
    fn failed(error: String) -> Chunk {
        Chunk::Failed {
            done: Done::default(),
            error,
            quarantined: None,
        }
    }

    /// What the chunk leaves to record; a quarantined file is listed in `summary`.
    fn end(self, summary: &mut TableSummary) -> ChunkEnd {
        let (done, error, skipped) = match self {
            Chunk::Empty => (Done::default(), None, false),
            Chunk::Applied(done) => (done, None, false),
            Chunk::SkippedBadFile { done, key } => {
                push_quarantined(summary, key);
                (done, None, true)
            }
            Chunk::Failed {
                done,
                error,
                quarantined,
            } => {
                if let Some(key) = quarantined {
                    push_quarantined(summary, key);
                }
                (done, Some(error), false)
            }
            Chunk::LostLease { done, error } => (done, Some(error), false),
        };
        ChunkEnd {
            moved: skipped || done.progressed(),
            done,
            error,
        }
    }
}

/// What a chunk leaves to record.
struct ChunkEnd {
    done: Done,
    error: Option<String>,
    /// Whether the backlog moved: files applied, superseded or set aside.
    moved: bool,
}

/// A chunk as its history item records it.
struct ChunkReport {
    refresh_id: String,
    started_at: DateTime<Utc>,
    done: Done,
    error: Option<String>,
}

/// Confirms the lease right before the lake commit point, remembering when it was lost.
struct LeaseGuard<'a, T> {
    tracker: &'a T,
    lease: &'a Lease,
    expires_at: DateTime<Utc>,
    lost: AtomicBool,
}

impl<T: ProcessingTracker> CommitGuard for LeaseGuard<'_, T> {
    fn confirm(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            self.tracker
                .confirm(self.lease, self.expires_at)
                .await
                .map_err(|e| {
                    if matches!(e, StoreError::LeaseLost { .. }) {
                        self.lost.store(true, Ordering::SeqCst);
                    }
                    e.to_string()
                })
        })
    }
}

impl<R, T, B, C> Processor<R, T, B, C>
where
    R: TableRegistry,
    T: ProcessingTracker,
    B: FileBacklog,
    C: Catalog,
{
    /// A processor over these ports.
    pub fn new(
        settings: ProcessorSettings,
        stores: LakeStores,
        ports: (R, T, B, C),
        clock: Arc<dyn Clock>,
    ) -> Self {
        let (registry, tracker, backlog, catalog) = ports;
        Processor {
            settings,
            stores,
            registry,
            tracker,
            backlog,
            catalog,
            clock,
        }
    }

    /// Handles one invocation: each table of the batch in order.
    pub async fn handle(
        &self,
        input: &Value,
        invocation: &Invocation,
    ) -> Result<BatchSummary, InvocationError> {
        let batch =
            BatchInput::deserialize(input).map_err(|e| InvocationError::BadInput(e.to_string()))?;
        let mut seen = HashSet::new();
        let mut slowest_chunk = Duration::ZERO;
        let mut tables = Vec::with_capacity(batch.tables.len());
        for table_id in &batch.tables {
            let summary = if !seen.insert(table_id.as_str()) {
                TableSummary::new(table_id, RefreshOutcomeKind::Failed)
                    .fail("listed twice in one batch; it was refreshed once")
            } else if self.too_late(invocation, slowest_chunk) {
                TableSummary::new(table_id, RefreshOutcomeKind::Deferred)
            } else {
                // Boxed: one table's refresh is a deep chain of futures (engine, catalog, state
                // stores); boxing it here keeps the callers' futures shallow enough for the
                // compiler's default layout depth.
                Box::pin(self.run_table(table_id, invocation, &mut slowest_chunk)).await
            };
            info!(table_id = %summary.table, outcome = summary.outcome.as_str(),
                refreshes = summary.refreshes, files = summary.totals.files,
                inserted = summary.totals.inserted, updated = summary.totals.updated,
                deleted = summary.totals.deleted, more_pending = summary.more_pending,
                error = summary.error.as_deref().unwrap_or(""), "table done");
            tables.push(summary);
        }
        Ok(BatchSummary {
            failed: tables
                .iter()
                .filter(|t| t.outcome == RefreshOutcomeKind::Failed)
                .count(),
            refresh_cadence: batch.refresh_cadence,
            batch: batch.batch,
            tables,
        })
    }

    /// Whether too little time is left to start a table or a chunk.
    fn too_late(&self, invocation: &Invocation, slowest_chunk: Duration) -> bool {
        let needed = self.settings.deadline_margin + slowest_chunk;
        let left = (invocation.deadline - self.clock.now())
            .to_std()
            .unwrap_or(Duration::ZERO);
        left < needed
    }

    async fn run_table(
        &self,
        table_id: &str,
        invocation: &Invocation,
        slowest_chunk: &mut Duration,
    ) -> TableSummary {
        let started = self.clock.now();
        let mut summary = self
            .refresh_table(table_id, invocation, slowest_chunk)
            .await;
        summary.duration_ms = (self.clock.now() - started)
            .num_milliseconds()
            .try_into()
            .unwrap_or(0);
        summary
    }

    async fn refresh_table(
        &self,
        table_id: &str,
        invocation: &Invocation,
        slowest_chunk: &mut Duration,
    ) -> TableSummary {
        let started = self.clock.now();
        let config = match self.load_config(table_id).await {
            Ok(config) => config,
            Err((outcome, message)) => {
                let summary = TableSummary::new(table_id, outcome);
                let summary = if outcome == RefreshOutcomeKind::Failed {
                    summary.fail(&message)
                } else {
                    summary
                };
                self.record_unleased(table_id, invocation, started, outcome, &message)
                    .await;
                return summary;
            }
        };
        let expires_at = invocation.deadline
            + chrono::Duration::from_std(self.settings.lease_slack)
                .unwrap_or(chrono::Duration::zero());
        match self
            .take_lease(table_id, invocation, started, expires_at)
            .await
        {
            Ok(lease) => {
                self.refresh_leased(&config, &lease, expires_at, invocation, slowest_chunk)
                    .await
            }
            Err(summary) => summary,
        }
    }

    /// The table's lease, or the summary of a table that is busy or whose lease could not be
    /// asked for.
    async fn take_lease(
        &self,
        table_id: &str,
        invocation: &Invocation,
        started: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Lease, TableSummary> {
        match self
            .tracker
            .acquire(table_id, &invocation.request_id, started, expires_at)
            .await
        {
            Ok(LeaseGrant::Acquired {
                lease,
                took_over_from,
            }) => {
                if let Some(previous) = took_over_from {
                    warn!(table_id, previous_owner = %previous, token = lease.token,
                        "took over an expired lease; its holder crashed or timed out");
                }
                Ok(lease)
            }
            Ok(LeaseGrant::Busy { owner, expires_at }) => {
                let message = format!("lease held by {owner} until {expires_at}");
                info!(table_id, holder = %owner, %expires_at, "table busy; skipped");
                self.record_unleased(
                    table_id,
                    invocation,
                    started,
                    RefreshOutcomeKind::Busy,
                    &message,
                )
                .await;
                Err(TableSummary::new(table_id, RefreshOutcomeKind::Busy))
            }
            Err(e) => Err(TableSummary::new(table_id, RefreshOutcomeKind::Failed)
                .fail(format!("could not take the table's lease: {e}"))),
        }
    }

    /// The table's chunks under its lease until nothing is pending, a chunk fails or the
    /// deadline is near; then the lease is released with the last outcome.
    async fn refresh_leased(
        &self,
        config: &TableConfig,
        lease: &Lease,
        expires_at: DateTime<Utc>,
        invocation: &Invocation,
        slowest_chunk: &mut Duration,
    ) -> TableSummary {
        let mut summary = TableSummary::new(&lease.table_id, RefreshOutcomeKind::NoFiles);
        let mut applied_here: HashSet<String> = HashSet::new();
        let mut last: Option<RefreshRecord> = None;
        let mut chunk_number = 0u32;
        loop {
            if chunk_number > 0 && self.too_late(invocation, *slowest_chunk) {
                summary.more_pending = true;
                break;
            }
            chunk_number += 1;
            let chunk_started = self.clock.now();
            let refresh_id = format!(
                "{}-t{}-c{chunk_number}",
                chunk_started.format("%Y%m%dT%H%M%SZ"),
                lease.token
            );
            let run = ChunkRun {
                config,
                lease,
                refresh_id: &refresh_id,
                expires_at,
            };
            let chunk = self.run_chunk(&run, &applied_here, &mut summary).await;
            let elapsed = (self.clock.now() - chunk_started)
                .to_std()
                .unwrap_or(Duration::ZERO);
            *slowest_chunk = (*slowest_chunk).max(elapsed);
            let end = match chunk {
                Chunk::Empty if last.is_some() => break,
                Chunk::LostLease { done, error } => return lost_table(summary, &done, &error),
                chunk => chunk.end(&mut summary),
            };
            applied_here.extend(end.done.files.iter().chain(&end.done.superseded).cloned());
            let report = ChunkReport {
                refresh_id,
                started_at: chunk_started,
                done: end.done,
                error: end.error,
            };
            let record = self
                .record_chunk(lease, &mut summary, last.is_some(), report)
                .await;
            let outcome = record.outcome;
            last = Some(record);
            if outcome != RefreshOutcomeKind::Completed {
                break;
            }
            if !end.moved {
                // Nothing moved (e.g. the backlog still shows files this run recorded): the next
                // run goes on.
                summary.more_pending = true;
                break;
            }
        }
        if let Some(last) = &last
            && let Err(e) = self.tracker.release(lease, last).await
        {
            warn!(table_id = %lease.table_id, error = %e,
                "could not release the lease; it lapses at its expiry");
        }
        summary
    }

    /// Adds a chunk to the table's summary and writes its history item; returns the item.
    async fn record_chunk(
        &self,
        lease: &Lease,
        summary: &mut TableSummary,
        earlier_chunks: bool,
        report: ChunkReport,
    ) -> RefreshRecord {
        let ChunkReport {
            refresh_id,
            started_at,
            done,
            error,
        } = report;
        let outcome = if error.is_some() {
            RefreshOutcomeKind::Failed
        } else if !done.progressed() && !earlier_chunks && summary.quarantined.is_empty() {
            RefreshOutcomeKind::NoFiles
        } else {
            RefreshOutcomeKind::Completed
        };
        if !done.files.is_empty() {
            summary.refreshes += 1;
        }
        summary.totals.add(&done.totals);
        summary.outcome = outcome;
        if let Some(error) = &error {
            summary.mark_failed(error);
            summary.more_pending = true;
        }
        let now = self.clock.now();
        let record = RefreshRecord {
            table_id: lease.table_id.clone(),
            refresh_id,
            owner: lease.owner.clone(),
            started_at,
            finished_at: now,
            outcome,
            error,
            files: done.files,
            totals: done.totals,
            snapshot_version: done.snapshot_version,
            expires_at: now + chrono_duration(self.settings.history_ttl),
        };
        if let Err(e) = self.tracker.record_refresh(Some(lease), &record).await {
            warn!(table_id = %lease.table_id, error = %e,
                "could not write the processing-history item");
        }
        record
    }

    /// The table's validated configuration, or the outcome and message to report.
    async fn load_config(
        &self,
        table_id: &str,
    ) -> Result<TableConfig, (RefreshOutcomeKind, String)> {
        let failed = |message: String| (RefreshOutcomeKind::Failed, message);
        let registered = match self.registry.table(table_id).await {
            Ok(Some(registered)) => registered,
            Ok(None) => {
                return Err(failed(format!(
                    "table {table_id} is not registered; fix: add it to the manifest and run `tributary config apply`"
                )));
            }
            Err(e) => return Err(failed(format!("could not read the table registry: {e}"))),
        };
        if !registered.active {
            return Err((
                RefreshOutcomeKind::Inactive,
                format!("table {table_id} is inactive"),
            ));
        }
        let config = TableConfig::from_json(&registered.spec_json)
            .map_err(|e| failed(format!("invalid configuration of {table_id}: {e}")))?;
        if config.table_id() != table_id {
            return Err(failed(format!(
                "the configuration registered as {table_id} describes source {}; fix the manifest",
                config.table_id()
            )));
        }
        Ok(config)
    }

    /// Records an outcome reached without a lease (busy, inactive, bad configuration).
    async fn record_unleased(
        &self,
        table_id: &str,
        invocation: &Invocation,
        started: DateTime<Utc>,
        outcome: RefreshOutcomeKind,
        message: &str,
    ) {
        let now = self.clock.now();
        let record = RefreshRecord {
            table_id: table_id.to_owned(),
            refresh_id: format!("{}-{}", started.format("%Y%m%dT%H%M%SZ"), outcome.as_str()),
            owner: invocation.request_id.clone(),
            started_at: started,
            finished_at: now,
            outcome,
            error: Some(truncate(message)),
            files: Vec::new(),
            totals: RefreshTotals::default(),
            snapshot_version: None,
            expires_at: now + chrono_duration(self.settings.history_ttl),
        };
        if let Err(e) = self.tracker.record_refresh(None, &record).await {
            warn!(table_id, error = %e, "could not write the processing-history item");
        }
    }
}

/// The summary of a table whose lease another processor took over during the refresh: it lost
/// the table (`busy`); nothing is counted as a failure, and the new holder finishes the work.
fn lost_table(mut summary: TableSummary, done: &Done, error: &str) -> TableSummary {
    warn!(table_id = %summary.table, error, "lost the table's lease to another processor");
    summary.totals.add(&done.totals);
    summary.outcome = RefreshOutcomeKind::Busy;
    summary.more_pending = false;
    summary.error = Some(truncate(&format!(
        "lost the table to another processor: {error}"
    )));
    summary
}

fn push_quarantined(summary: &mut TableSummary, key: String) {
    if summary.quarantined.len() < MAX_LISTED_QUARANTINED {
        summary.quarantined.push(key);
    }
}

fn chrono_duration(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

/// `text` cut to [`MAX_ERROR_CHARS`] characters.
fn truncate(text: &str) -> String {
    match text.char_indices().nth(MAX_ERROR_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
#[path = "processor_test.rs"]
mod tests;
