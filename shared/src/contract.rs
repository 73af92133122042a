//! The wire contract between the steps of the state machine: what a scheduled (or manual) run
//! asks for ([`RunRequest`]), the batch-manager's plan ([`BatchPlan`], one [`BatchInput`] per
//! Map item) and each processor invocation's result ([`BatchSummary`]). Both sides of every step
//! import these types from here; the CLI builds its requests from them.

use serde::{Deserialize, Serialize};

use crate::ports::processing_tracker::{RefreshOutcomeKind, RefreshTotals};

/// The input of one run: what the cadence's schedule sends, plus optional overrides for manual
/// runs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// The cadence to run, e.g. `10min`.
    pub refresh_cadence: String,
    /// Only these tables (each must be an active table of the cadence). A filtered run includes
    /// idle tables unless `include_idle` says otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tables: Option<Vec<String>>,
    /// Overrides the cadence's `skip_idle` for this run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_idle: Option<bool>,
}

impl RunRequest {
    /// What a cadence's schedule sends: the whole cadence, with its own `skip_idle`.
    pub fn for_cadence(refresh_cadence: impl Into<String>) -> RunRequest {
        RunRequest {
            refresh_cadence: refresh_cadence.into(),
            tables: None,
            include_idle: None,
        }
    }
}

/// How many tables the run saw and why some were left out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PlanCounts {
    /// Tables registered with the cadence (after the run's table filter).
    pub registered: usize,
    /// Left out: inactive.
    pub inactive: usize,
    /// Left out: nothing pending and nothing unfinished.
    pub idle: usize,
    /// In the batches.
    pub scheduled: usize,
    /// Pending files of the scheduled tables.
    pub pending_files: u64,
    /// Pending bytes of the scheduled tables.
    pub pending_bytes: u64,
}

/// The batch-manager's output, the input of the Map state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchPlan {
    /// The cadence.
    pub refresh_cadence: String,
    /// How many batches run at once (the Map state reads it through `MaxConcurrencyPath`).
    pub max_concurrency: u32,
    /// One item per processor invocation.
    pub batches: Vec<BatchInput>,
    /// What the run saw.
    pub tables: PlanCounts,
}

/// The input of one invocation (one Map item of the state machine).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BatchInput {
    /// The cadence whose schedule started the execution, e.g. `10min`.
    pub refresh_cadence: String,
    /// The batch number within the execution.
    #[serde(default)]
    pub batch: u32,
    /// Table ids (`schema.table`), processed in this order.
    pub tables: Vec<String>,
}

/// What happened to one table of the batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableSummary {
    /// The table id.
    pub table: String,
    /// How its refresh ended.
    pub outcome: RefreshOutcomeKind,
    /// Refreshes (chunks) committed or published.
    pub refreshes: u32,
    /// Counts over those refreshes.
    #[serde(flatten)]
    pub totals: RefreshTotals,
    /// Files are still pending (the chunk limit or the deadline stopped the table).
    pub more_pending: bool,
    /// Seconds since the oldest pending file landed, when files were pending.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lag_seconds: Option<i64>,
    /// Files quarantined by this invocation (keys).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub quarantined: Vec<String>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Wall time spent on the table.
    pub duration_ms: u64,
}

/// The invocation's result: one summary per table, in input order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchSummary {
    /// The cadence.
    pub refresh_cadence: String,
    /// The batch number.
    pub batch: u32,
    /// Tables that failed (the state machine fails the execution when any did).
    pub failed: usize,
    /// Per-table summaries.
    pub tables: Vec<TableSummary>,
}
