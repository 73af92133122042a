//! The processor service: refreshes each table of a Step Functions Map item, one after another,
//! and publishes the results (docs/DESIGN.md §11).
//!
//! One table (`table`): its configuration → its lease (`lease`) → chunks under the lease (`run`)
//! until nothing is pending, a chunk fails or the deadline is near → the lease released with the
//! last outcome. One chunk (`chunk`): pending files (bounded, table order) → one version per key
//! → suspects of a crash → attempts with fewer files until every failure is attributed
//! (`quarantine` counts a file's failures) → `apply`: attempt recorded, merge and commit (the
//! commit point is the lake snapshot, guarded by the lease), publish to the catalog, record the
//! files, collect garbage. What a table's summary and history become from what happened are
//! pure rules (`outcome`) over typed failures (`failure`) and their fingerprints
//! (`fingerprint`). A table's failure is recorded and the next table runs; only an unreadable
//! input fails the invocation.

mod apply;
mod chunk;
mod failure;
mod fingerprint;
mod lease;
mod outcome;
mod quarantine;
mod run;
mod table;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use thiserror::Error;
use tracing::info;

use crate::contract::{BatchInput, BatchSummary, TableSummary};
use crate::lake::refresh::LakeStores;
use crate::ports::catalog::Catalog;
use crate::ports::clock::Clock;
use crate::ports::file_tracker::{BacklogLimit, FileBacklog};
use crate::ports::processing_tracker::{ProcessingTracker, RefreshOutcomeKind};
use crate::ports::table_registry::TableRegistry;

use failure::NotRun;
use outcome::{not_run_summary, too_late};

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

impl<R: TableRegistry, T: ProcessingTracker, B: FileBacklog, C: Catalog> Processor<R, T, B, C> {
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
                not_run_summary(table_id, &NotRun::ListedTwice)
            } else if self.too_late(invocation, slowest_chunk) {
                TableSummary::new(table_id, RefreshOutcomeKind::Deferred)
            } else {
                let started = self.clock.now();
                // Boxed: one table's refresh is a deep chain of futures (engine, catalog, state
                // stores); boxing it here keeps the callers' futures shallow enough for the
                // compiler's default layout depth.
                let refresh = self.refresh_table(table_id, invocation, &mut slowest_chunk);
                let mut summary = Box::pin(refresh).await;
                summary.duration_ms = elapsed_ms(started, self.clock.now());
                summary
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

    /// Whether too little time is left to start a table or a chunk (see [`too_late`]).
    fn too_late(&self, invocation: &Invocation, slowest_chunk: Duration) -> bool {
        too_late(
            self.clock.now(),
            invocation.deadline,
            self.settings.deadline_margin + slowest_chunk,
        )
    }
}

/// Milliseconds from `start` to `end` (0 when the clock went back).
fn elapsed_ms(start: DateTime<Utc>, end: DateTime<Utc>) -> u64 {
    (end - start).num_milliseconds().try_into().unwrap_or(0)
}

/// `duration` as a chrono duration (the longest one when it does not fit).
fn chrono_duration(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
#[path = "input_test.rs"]
mod tests;

#[cfg(test)]
#[path = "service_test.rs"]
mod service_tests;
