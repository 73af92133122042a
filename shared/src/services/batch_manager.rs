//! The batch-manager: plans one scheduled run of a refresh cadence.
//!
//! It reads the cadence's batch settings and its tables (one Query of the cadence index), keeps the
//! active ones, by default leaves out idle tables (nothing pending and a last refresh that did not
//! fail), and cuts the rest into batches of table ids for the state machine's Map state. Batches
//! carry ids only, never configurations, so a run of thousands of tables stays far below the
//! 256 KB state payload. With the default [`TableOrder::LargestFirst`] the batches are balanced by
//! pending bytes (docs/DESIGN.md §12).

use std::collections::{BTreeMap, HashSet};

use futures::{StreamExt, TryStreamExt, stream};
use serde::Deserialize;
use serde_json::Value;
use thiserror::Error;
use tracing::info;

use crate::contract::{BatchInput, BatchPlan, PlanCounts, RunRequest};
use crate::ports::file_tracker::{BacklogOverview, BacklogSummary};
use crate::ports::processing_tracker::{LastOutcomes, RefreshOutcomeKind};
use crate::ports::state_store::StoreError;
use crate::ports::table_registry::{CadenceRegistry, CadenceTable, TableOrder};

/// A run cannot be planned. Every variant fails the execution: a run never silently does nothing.
#[derive(Debug, Error)]
pub enum PlanError {
    /// The input is not a run request.
    #[error(
        "the batch-manager input is not a run request: {0}; expected {{\"refresh_cadence\": \"10min\"}} with optional \"tables\": [\"schema.table\", …] and \"include_idle\": true|false"
    )]
    BadInput(String),
    /// No batch settings exist for the cadence.
    #[error(
        "no cadence {0:?} is configured: the config table has no batch settings for it; define the cadence (batch_size, max_concurrency) in the manifest and run `tributary config apply`, or fix the schedule's input"
    )]
    UnknownCadence(String),
    /// The cadence's batch settings are unusable.
    #[error("the batch settings are invalid: {0}")]
    InvalidCadence(String),
    /// The run's table filter names tables the cadence cannot refresh.
    #[error("cadence {cadence} cannot refresh {}", .problems.join("; "))]
    UnrunnableTables {
        /// The cadence.
        cadence: String,
        /// One entry per table: its id and why.
        problems: Vec<String>,
    },
    /// A configuration or tracker read failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl PlanError {
    /// A short error type for the Lambda error response (the state machine retries
    /// `StoreUnavailable` and fails on the others).
    pub fn kind(&self) -> &'static str {
        match self {
            PlanError::BadInput(_) => "BadInput",
            PlanError::UnknownCadence(_) => "UnknownCadence",
            PlanError::InvalidCadence(_) => "InvalidCadence",
            PlanError::UnrunnableTables { .. } => "UnrunnableTables",
            PlanError::Store(e) if e.is_retryable() => "StoreUnavailable",
            PlanError::Store(_) => "StoreError",
        }
    }
}

/// A table to be batched and the bytes it has pending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SizedTable {
    /// `schema.table`.
    pub table_id: String,
    /// Pending bytes (0 when unknown).
    pub pending_bytes: u64,
}

/// Cuts `tables` into batches of at most `batch_size` ids (`batch_size` ≥ 1).
///
/// [`TableOrder::TableId`]: id order, consecutive batches. [`TableOrder::LargestFirst`]: the
/// fewest batches that hold every table, filled largest table first, each into the batch with the
/// fewest pending bytes that has room (among equal batches the fullest, so tables of unknown size
/// fill batches one after another: 18 tables by 5 → 5, 5, 5, 3); batches are returned heaviest
/// first so the longest invocations start first.
pub fn pack_batches(
    mut tables: Vec<SizedTable>,
    batch_size: usize,
    order: TableOrder,
) -> Vec<Vec<String>> {
    let batch_size = batch_size.max(1);
    match order {
        TableOrder::TableId => {
            tables.sort_by(|a, b| a.table_id.cmp(&b.table_id));
            tables
                .chunks(batch_size)
                .map(|chunk| chunk.iter().map(|t| t.table_id.clone()).collect())
                .collect()
        }
        TableOrder::LargestFirst => {
            tables.sort_by(|a, b| {
                b.pending_bytes
                    .cmp(&a.pending_bytes)
                    .then_with(|| a.table_id.cmp(&b.table_id))
            });
            let mut bins: Vec<(u64, Vec<String>)> =
                vec![(0, Vec::new()); tables.len().div_ceil(batch_size)];
            for table in tables {
                // `bins` always has room: it holds exactly enough slots for every table.
                if let Some(bin) = bins
                    .iter_mut()
                    .filter(|(_, ids)| ids.len() < batch_size)
                    .min_by_key(|(bytes, ids)| (*bytes, std::cmp::Reverse(ids.len())))
                {
                    bin.0 = bin.0.saturating_add(table.pending_bytes);
                    bin.1.push(table.table_id);
                }
            }
            // Stable: equal batches keep their fill order.
            bins.sort_by_key(|(bytes, _)| std::cmp::Reverse(*bytes));
            bins.into_iter().map(|(_, ids)| ids).collect()
        }
    }
}

/// The batch-manager service over its three ports.
pub struct BatchManager<R, B, O> {
    registry: R,
    backlog: B,
    outcomes: O,
    lookup_concurrency: usize,
}

impl<R: CadenceRegistry, B: BacklogOverview, O: LastOutcomes> BatchManager<R, B, O> {
    /// A batch-manager reading cadences from `registry`, backlogs from `backlog` and last
    /// outcomes from `outcomes`, with at most `lookup_concurrency` backlog reads in flight.
    pub fn new(registry: R, backlog: B, outcomes: O, lookup_concurrency: usize) -> Self {
        Self {
            registry,
            backlog,
            outcomes,
            lookup_concurrency: lookup_concurrency.max(1),
        }
    }

    /// Plans the run `input` asks for.
    pub async fn plan(&self, input: &Value) -> Result<BatchPlan, PlanError> {
        let request =
            RunRequest::deserialize(input).map_err(|e| PlanError::BadInput(e.to_string()))?;
        let cadence = request.refresh_cadence.as_str();
        if cadence.trim().is_empty() {
            return Err(PlanError::BadInput("refresh_cadence is empty".to_owned()));
        }
        let settings = self
            .registry
            .cadence(cadence)
            .await?
            .ok_or_else(|| PlanError::UnknownCadence(cadence.to_owned()))?;
        settings.validate().map_err(PlanError::InvalidCadence)?;
        let registered = self.registry.cadence_tables(cadence).await?;
        let registered = match &request.tables {
            Some(wanted) => select_tables(cadence, registered, wanted)?,
            None => registered,
        };
        let include_idle = request
            .include_idle
            .unwrap_or(request.tables.is_some() || !settings.skip_idle);

        let mut counts = PlanCounts {
            registered: registered.len(),
            ..PlanCounts::default()
        };
        let active: Vec<String> = registered
            .into_iter()
            .filter_map(|t| t.active.then_some(t.table_id))
            .collect();
        counts.inactive = counts.registered - active.len();
        let backlogs = self.backlogs(active).await?;
        let unfinished = if include_idle {
            HashSet::new()
        } else {
            self.unfinished_among_empty(&backlogs).await?
        };
        let scheduled = schedule(
            backlogs,
            |table_id, summary| include_idle || summary.files > 0 || unfinished.contains(table_id),
            &mut counts,
        );

        let batches = pack_batches(
            scheduled,
            settings.batch_size as usize,
            settings.table_order,
        )
        .into_iter()
        .enumerate()
        .map(|(number, tables)| BatchInput {
            refresh_cadence: cadence.to_owned(),
            batch: number as u32,
            tables,
        })
        .collect::<Vec<_>>();
        info!(
            cadence,
            batches = batches.len(),
            registered = counts.registered,
            inactive = counts.inactive,
            idle = counts.idle,
            scheduled = counts.scheduled,
            pending_files = counts.pending_files,
            pending_bytes = counts.pending_bytes,
            "run planned"
        );
        Ok(BatchPlan {
            refresh_cadence: cadence.to_owned(),
            max_concurrency: settings.max_concurrency,
            batches,
            tables: counts,
        })
    }

    /// Each table's backlog summary, looked up with bounded concurrency, in table order.
    async fn backlogs(
        &self,
        tables: Vec<String>,
    ) -> Result<Vec<(String, BacklogSummary)>, StoreError> {
        stream::iter(tables)
            .map(|table_id| async move {
                let summary = self.backlog.backlog_summary(&table_id).await?;
                Ok::<_, StoreError>((table_id, summary))
            })
            .buffered(self.lookup_concurrency)
            .try_collect()
            .await
    }

    /// The tables with nothing pending whose last refresh failed (they run again so the failure
    /// is retried and stays visible).
    async fn unfinished_among_empty(
        &self,
        backlogs: &[(String, BacklogSummary)],
    ) -> Result<HashSet<String>, StoreError> {
        let empty: Vec<String> = backlogs
            .iter()
            .filter(|(_, summary)| summary.files == 0)
            .map(|(table_id, _)| table_id.clone())
            .collect();
        if empty.is_empty() {
            return Ok(HashSet::new());
        }
        Ok(self
            .outcomes
            .last_outcomes(&empty)
            .await?
            .into_iter()
            .filter(|(_, outcome)| *outcome == RefreshOutcomeKind::Failed)
            .map(|(table_id, _)| table_id)
            .collect())
    }
}

/// The registered tables a filtered run asks for, in the filter's order without repeats; every
/// wanted table must be an active table of the cadence.
fn select_tables(
    cadence: &str,
    registered: Vec<CadenceTable>,
    wanted: &[String],
) -> Result<Vec<CadenceTable>, PlanError> {
    let mut by_id: BTreeMap<String, CadenceTable> = registered
        .into_iter()
        .map(|t| (t.table_id.clone(), t))
        .collect();
    let mut selected = Vec::with_capacity(wanted.len());
    let mut problems = Vec::new();
    let mut seen = HashSet::new();
    for table_id in wanted {
        if !seen.insert(table_id.as_str()) {
            continue;
        }
        match by_id.remove(table_id) {
            Some(table) if table.active => selected.push(table),
            Some(_) => problems.push(format!(
                "{table_id} (inactive; activate it in the manifest first)"
            )),
            None => problems.push(format!(
                "{table_id} (not registered with this cadence; check its refresh_cadence)"
            )),
        }
    }
    if problems.is_empty() {
        Ok(selected)
    } else {
        Err(PlanError::UnrunnableTables {
            cadence: cadence.to_owned(),
            problems,
        })
    }
}

/// The tables `runs` keeps, with their pending bytes; `counts` gains their pending files and
/// bytes, the number scheduled and the number left out as idle.
fn schedule(
    backlogs: Vec<(String, BacklogSummary)>,
    runs: impl Fn(&str, &BacklogSummary) -> bool,
    counts: &mut PlanCounts,
) -> Vec<SizedTable> {
    let mut scheduled = Vec::with_capacity(backlogs.len());
    for (table_id, summary) in backlogs {
        if runs(&table_id, &summary) {
            counts.pending_files += summary.files;
            counts.pending_bytes = counts.pending_bytes.saturating_add(summary.bytes);
            scheduled.push(SizedTable {
                table_id,
                pending_bytes: summary.bytes,
            });
        } else {
            counts.idle += 1;
        }
    }
    counts.scheduled = scheduled.len();
    scheduled
}

#[cfg(test)]
#[path = "batch_manager_test.rs"]
mod tests;
